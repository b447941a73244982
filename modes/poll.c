/*
 * poll.c: --poll. One process, one event loop, every socket non-blocking.
 * Each connection is a struct pump driven by the same pump_advance() that
 * pump_run() uses for one; this file only decides when to call it. With
 * -e, the command runs in a child watched through a pidfd, and the loop
 * stays single-threaded.
 */
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "nsock.h"

#define FDS_PER_CONN	4	/* pump_events: stdin, socket, stdout, stop */

struct pconn {
	struct conn	 c;
	struct pump	 p;
	size_t		 first;		/* its entries in the poll set */
	size_t		 nfds;
	pid_t		 pid;		/* -e: the command, else 0 */
	int		 pidfd;
};

struct loop {
	struct server	*srv;
	struct pconn	**conn;
	size_t		 n;
	size_t		 cap;
	struct pollfd	*pfd;
	size_t		 pfd_cap;
};

/* Take a new client into the loop; false if it could not be. */
static bool
loop_add(struct loop *l, struct pconn *pc)
{
	struct pconn **conn;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? 2 * l->cap : 64;
		if ((conn = realloc(l->conn, cap * sizeof(*conn))) == NULL)
			return false;
		l->conn = conn;
		l->cap = cap;
	}
	pc->pidfd = -1;
	pc->c.stop_fd = -1;	/* the loop itself watches for a stop */
	if (l->srv->cfg->exec_cmd != NULL) {
		if ((pc->pid = spawn_command(l->srv->cfg, &pc->c)) == -1)
			return false;
		pc->pidfd = (int)syscall(SYS_pidfd_open, pc->pid, 0);
		close(pc->c.sock);	/* the command has the connection */
		pc->c.sock = -1;
	} else if (pump_init(&pc->p, l->srv->cfg, &pc->c) == -1)
		return false;
	l->conn[l->n++] = pc;
	return true;
}

static void
accept_all(struct loop *l)
{
	struct pconn *pc;

	while ((pc = calloc(1, sizeof(*pc))) != NULL) {
		if (srv_accept(l->srv, &pc->c) == -1)
			break;
		if (!loop_add(l, pc)) {
			report("serve %s:", pc->c.peer);
			srv_finished(l->srv, &pc->c, EXIT_RUNTIME);
			free(pc);
		}
		if (l->srv->lfd == -1)
			return;
	}
	free(pc);
}

/* Append the connection's live descriptors to the poll set at *k (poll
 * fails with EINVAL past RLIMIT_NOFILE entries, so none are -1); its idle
 * deadline, or -1. */
static int64_t
conn_events(struct pconn *pc, struct pollfd *set, size_t *k)
{
	struct pollfd pfd[FDS_PER_CONN];
	int64_t deadline = -1;
	int i;

	if (pc->pid == 0)
		deadline = pump_events(&pc->p, pfd);
	else {
		for (i = 0; i < FDS_PER_CONN; i++)
			pfd[i].fd = -1;
		pfd[0].fd = pc->pidfd;
		pfd[0].events = POLLIN;
	}
	pc->first = *k;
	for (i = 0; i < FDS_PER_CONN; i++)
		if (pfd[i].fd != -1) {
			set[*k] = pfd[i];
			set[(*k)++].revents = 0;
		}
	pc->nfds = *k - pc->first;
	return deadline;
}

/* Move what is ready on one connection; true once it is over. */
static bool
conn_run(struct pconn *pc, const struct pollfd *set, int64_t deadline,
    int *status)
{
	size_t i;
	int ready = 0;

	for (i = pc->first; i < pc->first + pc->nfds; i++)
		ready |= set[i].revents;
	if (pc->pid != 0) {
		if (!ready && pc->pidfd != -1)
			return false;
		*status = EXIT_OK;
		return waitpid(pc->pid, NULL, WNOHANG) != 0;
	}
	if (ready)
		*status = pump_advance(&pc->p);
	else if (deadline >= 0 && now_ms() >= deadline)
		*status = pump_timed_out(&pc->p);
	else
		return false;
	return *status != PUMP_RUNNING;
}

static void
conn_end(struct loop *l, size_t i, int status, bool stopping)
{
	struct pconn *pc = l->conn[i];

	if (pc->pid != 0) {
		if (stopping) {		/* the command is still running */
			kill(pc->pid, SIGTERM);
			waitpid(pc->pid, NULL, 0);
		}
		if (pc->pidfd != -1)
			close(pc->pidfd);
	} else
		pump_free(&pc->p);
	srv_finished(l->srv, &pc->c, status);
	free(pc);
	l->conn[i] = l->conn[--l->n];
}

/* One round: poll everything, then serve what is ready. */
static void
loop_round(struct loop *l)
{
	struct pollfd *pfd;
	int64_t deadline, first = -1;
	size_t i, k, want;
	int status, wait, nsrv;

	want = srv_events_max(l->srv) + l->n * FDS_PER_CONN;
	if (want > l->pfd_cap) {
		if ((pfd = realloc(l->pfd, 2 * want * sizeof(*pfd))) == NULL)
			die(EXIT_RUNTIME, "poll set:");
		l->pfd = pfd;
		l->pfd_cap = 2 * want;
	}
	nsrv = srv_events(l->srv, l->pfd);
	for (k = 0; k < (size_t)nsrv; k++)
		if (l->pfd[k].fd == -1)
			l->pfd[k].events = 0;	/* kept: srv_after_poll reads
						 * the listener at index 2 */
	for (i = 0; i < l->n; i++) {
		deadline = conn_events(l->conn[i], l->pfd, &k);
		if (deadline >= 0 && (first < 0 || deadline < first))
			first = deadline;
	}
	wait = srv_backoff_ms(l->srv);
	if (first >= 0 && (wait < 0 || first - now_ms() < wait))
		wait = first > now_ms() ? (int)(first - now_ms()) : 0;
	if (poll(l->pfd, k, wait) == -1 && errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	if (srv_after_poll(l->srv, l->pfd))
		accept_all(l);
	for (i = l->n; i-- > 0;) {
		struct pconn *pc = l->conn[i];

		deadline = pc->pid != 0 || l->srv->cfg->timeout_ms < 0 ? -1 :
		    pc->p.last + l->srv->cfg->timeout_ms;
		if (conn_run(pc, l->pfd, deadline, &status))
			conn_end(l, i, status, false);
	}
}

int
serve_poll(struct server *srv)
{
	struct loop l = { .srv = srv };

	while (!srv_done(srv))
		loop_round(&l);
	while (l.n > 0)			/* stopping: end what is left */
		conn_end(&l, l.n - 1, EXIT_OK, true);
	free(l.conn);
	free(l.pfd);
	return srv_close(srv);
}
