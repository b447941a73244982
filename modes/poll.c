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
	pid_t		 pid;		/* -e: the command, else 0 */
	int		 pidfd;
};

struct loop {
	struct server	*srv;
	struct pconn	**conn;
	size_t		 n;
	size_t		 cap;
	struct pollfd	*pfd;
};

/* Take a new client into the loop; false if it could not be. */
static bool
loop_add(struct loop *l, struct pconn *pc)
{
	struct pconn **conn;
	struct pollfd *pfd;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? 2 * l->cap : 64;
		if ((conn = realloc(l->conn, cap * sizeof(*conn))) == NULL)
			return false;
		l->conn = conn;
		pfd = realloc(l->pfd, (SRV_POLLFDS + cap * FDS_PER_CONN) *
		    sizeof(*pfd));
		if (pfd == NULL)
			return false;
		l->pfd = pfd;
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

/* The connection's part of the poll set; its idle deadline or -1. */
static int64_t
conn_events(const struct pconn *pc, struct pollfd *pfd)
{
	int i;

	if (pc->pid == 0)
		return pump_events(&pc->p, pfd);
	for (i = 0; i < FDS_PER_CONN; i++)
		pfd[i].fd = -1;
	pfd[0].fd = pc->pidfd;
	pfd[0].events = POLLIN;
	return -1;
}

/* Move what is ready on one connection; true once it is over. */
static bool
conn_run(struct pconn *pc, const struct pollfd *pfd, int64_t deadline,
    int *status)
{
	int i, ready = 0;

	for (i = 0; i < FDS_PER_CONN; i++)
		ready |= pfd[i].revents;
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
	int64_t deadline, first = -1;
	size_t i, nfds;
	int k, status, wait;

	k = srv_events(l->srv, l->pfd);
	for (i = 0; i < l->n; i++) {
		deadline = conn_events(l->conn[i],
		    l->pfd + SRV_POLLFDS + i * FDS_PER_CONN);
		if (deadline >= 0 && (first < 0 || deadline < first))
			first = deadline;
	}
	for (; k < SRV_POLLFDS; k++)
		l->pfd[k].fd = -1;
	nfds = SRV_POLLFDS + l->n * FDS_PER_CONN;
	wait = srv_backoff_ms(l->srv);
	if (first >= 0 && (wait < 0 || first - now_ms() < wait))
		wait = first > now_ms() ? (int)(first - now_ms()) : 0;
	if (poll(l->pfd, nfds, wait) == -1 && errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	if (srv_after_poll(l->srv, l->pfd))
		accept_all(l);
	for (i = l->n; i-- > 0;) {
		struct pollfd *pfd = l->pfd + SRV_POLLFDS + i * FDS_PER_CONN;

		deadline = l->conn[i]->pid != 0 ? -1 :
		    l->conn[i]->p.last + l->srv->cfg->timeout_ms;
		if (l->srv->cfg->timeout_ms < 0)
			deadline = -1;
		if (conn_run(l->conn[i], pfd, deadline, &status))
			conn_end(l, i, status, false);
	}
}

int
serve_poll(struct server *srv)
{
	struct loop l = { .srv = srv };

	if ((l.pfd = calloc(SRV_POLLFDS, sizeof(*l.pfd))) == NULL)
		die(EXIT_RUNTIME, "poll set:");
	while (!srv_done(srv))
		loop_round(&l);
	while (l.n > 0)			/* stopping: end what is left */
		conn_end(&l, l.n - 1, EXIT_OK, true);
	free(l.conn);
	free(l.pfd);
	return srv_close(srv);
}
