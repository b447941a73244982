/*
 * poll.c: --poll. One process, one event loop, every socket non-blocking.
 * Each connection is a struct pump driven by the same pump_advance() that
 * pump_run() uses for one; this file only decides when to call it. With
 * -e, the command runs in a child watched through a pidfd, and the loop
 * stays single-threaded.
 *
 * The connections' descriptors live in an epoll set, so a round costs what
 * is ready, not how many are connected: 10,000 idle clients cost nothing.
 * Each connection remembers what it registered and changes it only when
 * its pump wants something else. The server's own few descriptors (stop,
 * wake, listener, hub, broker) go to poll(2) with the epoll descriptor
 * among them, as srv_wait_turn does. A descriptor epoll refuses (a regular
 * file or /dev/null, which are always ready; stdout registered by another
 * connection) makes its connection "busy": it runs every round while it
 * waits on that descriptor, and the round does not sleep. An -e command
 * without a pidfd (EMFILE, an old kernel) is looked at every round, and
 * rounds then sleep at most PIDLESS_MS.
 */
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "nsock.h"

#define FDS_PER_CONN	4	/* pump_events: stdin, socket, stdout, stop */
#define PIDLESS_MS	100	/* how often a command with no pidfd is
				 * looked at, at the least */
#define EVENTS_MAX	256	/* per epoll_wait; level-triggered, so the
				 * rest are seen next round */

struct watch {
	int		 fd;		/* registered (or refused), or -1 */
	uint32_t	 events;
	bool		 refused;	/* epoll cannot watch it for us */
};

struct pconn {
	struct conn	 c;
	struct pump	 p;
	size_t		 index;		/* in loop.conn */
	struct watch	 w[FDS_PER_CONN];
	bool		 busy;		/* waits on a refused descriptor */
	bool		 pidless;	/* -e without a pidfd: waitpid polls */
	uint64_t	 round;		/* last round it ran in */
	pid_t		 pid;		/* -e: the command, else 0 */
	int		 pidfd;
};

struct loop {
	struct server	*srv;
	int		 epfd;
	struct pconn	**conn;
	size_t		 n;
	size_t		 cap;
	size_t		 nbusy;
	size_t		 npidless;
	struct pconn	**ready;	/* this round's, each once */
	uint64_t	 round;
	int64_t		 next_sweep;	/* -w: earliest idle deadline, or -1 */
	struct pollfd	*pfd;
	size_t		 pfd_cap;
};

static uint32_t
epoll_bits(short events)
{
	return (events & POLLIN ? EPOLLIN : 0) |
	    (events & POLLOUT ? EPOLLOUT : 0);
}

/* Make one slot of the epoll set say what pfd says now. */
static void
watch_set(struct loop *l, struct pconn *pc, struct watch *w,
    const struct pollfd *pfd)
{
	struct epoll_event ev = { .events = epoll_bits(pfd->events),
	    .data.ptr = pc };

	if (w->fd == pfd->fd && w->events == ev.events)
		return;
	if (w->fd != -1 && !w->refused && w->fd != pfd->fd)
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (pfd->fd == -1)
		w->refused = false;
	else if (w->fd == pfd->fd && !w->refused)
		w->refused = epoll_ctl(l->epfd, EPOLL_CTL_MOD, pfd->fd,
		    &ev) == -1;
	else
		w->refused = epoll_ctl(l->epfd, EPOLL_CTL_ADD, pfd->fd,
		    &ev) == -1;
	w->fd = pfd->fd;
	w->events = ev.events;
}

/* Register what the connection waits for now; note if it is busy. */
static void
conn_watch(struct loop *l, struct pconn *pc)
{
	struct pollfd pfd[FDS_PER_CONN];
	bool busy = false;
	int i;

	if (pc->pid == 0)
		(void)pump_events(&pc->p, pfd);
	else {
		for (i = 0; i < FDS_PER_CONN; i++) {
			pfd[i].fd = -1;
			pfd[i].events = 0;	/* watch_set compares them */
		}
		pfd[0].fd = pc->pidfd;
		pfd[0].events = POLLIN;
	}
	for (i = 0; i < FDS_PER_CONN; i++) {
		watch_set(l, pc, &pc->w[i], &pfd[i]);
		busy = busy || pc->w[i].refused;
	}
	if (busy != pc->busy)
		l->nbusy += busy ? 1 : (size_t)-1;
	pc->busy = busy;
}

static void
conn_unwatch(struct loop *l, struct pconn *pc)
{
	struct pollfd none = { .fd = -1 };
	int i;

	for (i = 0; i < FDS_PER_CONN; i++)
		watch_set(l, pc, &pc->w[i], &none);
	if (pc->busy)
		l->nbusy--;
	pc->busy = false;
}

/* Take a new client into the loop; false if it could not be. */
static bool
loop_add(struct loop *l, struct pconn *pc)
{
	const struct config *cfg = l->srv->cfg;
	struct pconn **conn;
	size_t cap;
	int i;

	if (l->n == l->cap) {
		cap = l->cap ? 2 * l->cap : 64;
		if ((conn = realloc(l->conn, cap * sizeof(*conn))) == NULL)
			return false;
		l->conn = conn;
		if ((conn = realloc(l->ready, cap * sizeof(*conn))) == NULL)
			return false;
		l->ready = conn;
		l->cap = cap;
	}
	for (i = 0; i < FDS_PER_CONN; i++)
		pc->w[i].fd = -1;
	pc->pidfd = -1;
	pc->c.stop_fd = -1;	/* the loop itself watches for a stop */
	if (cfg->exec_cmd != NULL) {
		if ((pc->pid = spawn_command(cfg, &pc->c)) == -1)
			return false;
		pc->pidfd = (int)syscall(SYS_pidfd_open, pc->pid, 0);
		pc->pidless = pc->pidfd == -1;
		l->npidless += pc->pidless;
		close(pc->c.sock);	/* the command has the connection */
		pc->c.sock = -1;
	} else {
		pump_init(&pc->p, cfg, &pc->c);
		if (cfg->timeout_ms >= 0 && l->next_sweep < 0)
			l->next_sweep = pc->p.last + cfg->timeout_ms;
	}
	pc->index = l->n;
	l->conn[l->n++] = pc;
	conn_watch(l, pc);
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

static void
conn_end(struct loop *l, struct pconn *pc, int status)
{
	conn_unwatch(l, pc);
	l->npidless -= pc->pidless;
	if (pc->pid != 0) {
		if (pc->pidfd != -1)
			close(pc->pidfd);
	} else {
		pump_stats(&pc->p);
		pump_free(&pc->p);
	}
	srv_finished(l->srv, &pc->c, status);
	l->conn[pc->index] = l->conn[--l->n];
	l->conn[pc->index]->index = pc->index;
	free(pc);
}

/* Move what is ready on one connection; end it if it is over. */
static void
conn_run(struct loop *l, struct pconn *pc)
{
	pid_t reaped;
	int status;

	if (pc->pid != 0) {
		/* Ready: the pidfd says the command has ended (or, with no
		 * pidfd, this is the round's look). */
		while ((reaped = waitpid(pc->pid, NULL, WNOHANG)) == -1 &&
		    errno == EINTR)
			;
		if (reaped == pc->pid || (reaped == -1 && errno == ECHILD))
			conn_end(l, pc, EXIT_OK);
		return;
	}
	if ((status = pump_advance(&pc->p)) != PUMP_RUNNING)
		conn_end(l, pc, status);
	else
		conn_watch(l, pc);
}

/* The connections epoll says are ready, and the busy ones, each once. */
static size_t
collect_ready(struct loop *l, bool epoll_ready)
{
	struct epoll_event ev[EVENTS_MAX];
	struct pconn *pc;
	size_t i, k = 0;
	int n = 0;

	l->round++;
	if (epoll_ready &&
	    (n = epoll_wait(l->epfd, ev, EVENTS_MAX, 0)) == -1)
		n = 0;			/* EINTR: next round */
	for (i = 0; i < (size_t)n; i++) {
		pc = ev[i].data.ptr;
		if (pc->round != l->round) {
			pc->round = l->round;
			l->ready[k++] = pc;
		}
	}
	for (i = 0; l->nbusy + l->npidless > 0 && i < l->n; i++) {
		pc = l->conn[i];
		if ((pc->busy || pc->pidless) && pc->round != l->round) {
			pc->round = l->round;
			l->ready[k++] = pc;
		}
	}
	return k;
}

/* -w: end the connections idle too long; find the next deadline. Idle
 * deadlines only move later, so nothing ends before l->next_sweep. */
static void
sweep_idle(struct loop *l)
{
	int64_t now = now_ms(), deadline, timeout = l->srv->cfg->timeout_ms;
	size_t i;

	if (timeout < 0 || l->next_sweep < 0 || now < l->next_sweep)
		return;
	l->next_sweep = -1;
	for (i = l->n; i-- > 0;) {
		struct pconn *pc = l->conn[i];

		if (pc->pid != 0)
			continue;
		if ((deadline = pc->p.last + timeout) <= now)
			conn_end(l, pc, pump_timed_out(&pc->p));
		else if (l->next_sweep < 0 || deadline < l->next_sweep)
			l->next_sweep = deadline;
	}
}

/* How long the round may sleep: -1 for as long as it takes. */
static int
round_wait(const struct loop *l)
{
	int64_t now = now_ms();
	int wait = srv_backoff_ms(l->srv), sweep;

	if (l->nbusy > 0)
		return 0;
	if (l->npidless > 0 && (wait < 0 || wait > PIDLESS_MS))
		wait = PIDLESS_MS;
	if (l->next_sweep >= 0) {
		sweep = l->next_sweep > now ? (int)(l->next_sweep - now) : 0;
		if (wait < 0 || sweep < wait)
			wait = sweep;
	}
	return wait;
}

/* One round: wait for the server's descriptors and the epoll set, then
 * serve what is ready. */
static void
loop_round(struct loop *l)
{
	struct pollfd *pfd;
	size_t i, k, want = srv_events_max(l->srv) + 1;
	int nsrv;

	if (want > l->pfd_cap) {
		if ((pfd = realloc(l->pfd, 2 * want * sizeof(*pfd))) == NULL)
			die(EXIT_RUNTIME, "poll set:");
		l->pfd = pfd;
		l->pfd_cap = 2 * want;
	}
	nsrv = srv_events(l->srv, l->pfd);
	l->pfd[nsrv].fd = l->epfd;
	l->pfd[nsrv].events = POLLIN;
	l->pfd[nsrv].revents = 0;
	if (poll(l->pfd, (nfds_t)nsrv + 1, round_wait(l)) == -1 &&
	    errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	if (srv_after_poll(l->srv, l->pfd))
		accept_all(l);
	k = collect_ready(l, l->pfd[nsrv].revents != 0);
	for (i = 0; i < k; i++)
		conn_run(l, l->ready[i]);
	sweep_idle(l);
}

/* Stopping: SIGTERM every command at once, so they share one grace
 * period, then end every connection. */
static void
loop_stop(struct loop *l)
{
	int64_t deadline = now_ms() + COMMAND_GRACE_MS;
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->conn[i]->pid != 0)
			signal_command(l->conn[i]->pid, SIGTERM);
	while (l->n > 0) {
		struct pconn *pc = l->conn[l->n - 1];

		if (pc->pid != 0)
			end_command(pc->pid, pc->pidfd, deadline);
		conn_end(l, pc, EXIT_OK);
	}
}

int
serve_poll(struct server *srv)
{
	struct loop l = { .srv = srv, .next_sweep = -1 };

	if ((l.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die(EXIT_RUNTIME, "epoll:");
	while (!srv_done(srv))
		loop_round(&l);
	loop_stop(&l);
	close(l.epfd);
	free(l.conn);
	free(l.ready);
	free(l.pfd);
	return srv_close(srv);
}
