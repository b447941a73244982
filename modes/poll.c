/*
 * poll.c: --poll. One process, one event loop, every socket non-blocking.
 * Each connection is a struct pump driven by the same pump_advance() that
 * pump_run() uses for one; this file only decides when to call it. With
 * -e, the command runs in a child watched through a pidfd, and the loop
 * stays single-threaded.
 *
 * Each connection remembers, slot by slot, what it waits for, and changes
 * a slot only when its pump wants something else. The loop waits on one
 * of two backends; only watch_set, round_fill, collect_ready and
 * serve_poll know which:
 *
 * epoll(7), where it can be had: the connections' descriptors live in an
 * epoll set, so a round costs what is ready, not how many are connected:
 * 10,000 idle clients cost nothing. The server's own few descriptors
 * (stop, wake, listener, hub, broker) go to poll(2) with the epoll
 * descriptor among them, as srv_wait_turn does. A descriptor epoll
 * refuses (a regular file or /dev/null, which are always ready; stdout
 * registered by another connection) makes its connection "busy": it runs
 * every round while it waits on that descriptor, and the round does not
 * sleep.
 *
 * poll(2), when epoll_create1 fails (ENOSYS under a seccomp filter,
 * EMFILE, ENOMEM): each round's array is the server's descriptors and then
 * every connection's slots, and a round costs how many are connected.
 * poll(2) refuses nothing, so no connection is busy.
 *
 * An -e command without a pidfd (EMFILE, an old kernel) is looked at every
 * round, and rounds then sleep at most PIDLESS_MS.
 */
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define FDS_PER_CONN	4	/* pump_events: stdin, socket, stdout, stop */
#define PIDLESS_MS	100	/* how often a command with no pidfd is
				 * looked at, at the least */
#define EVENTS_MAX	256	/* per epoll_wait; level-triggered, so the
				 * rest are seen next round */

struct watch {
	int		 fd;		/* waited on, or -1 */
	short		 events;	/* POLLIN, POLLOUT */
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
	int		 epfd;		/* or -1: poll(2) */
	struct pconn	**conn;
	size_t		 n;
	size_t		 cap;
	size_t		 nbusy;
	size_t		 npidless;
	struct pconn	**ready;	/* this round's, each once */
	uint64_t	 round;
	int64_t		 next_sweep;	/* -w: earliest idle deadline, or -1 */
	struct pollfd	*pfd;		/* the round's poll array */
	struct pconn	**owner;	/* poll(2): whose pfd[i] is */
	size_t		 pfd_cap;
};

static uint32_t
epoll_bits(short events)
{
	return (events & POLLIN ? EPOLLIN : 0) |
	    (events & POLLOUT ? EPOLLOUT : 0);
}

/* Make the epoll set say what pfd says now instead of what w says. */
static void
epoll_change(struct loop *l, struct pconn *pc, struct watch *w,
    const struct pollfd *pfd)
{
	struct epoll_event ev = { .events = epoll_bits(pfd->events),
	    .data.ptr = pc };

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
}

/* Make one slot say what pfd says now. With poll(2), the next round's
 * array is built from the slots: nothing else to tell. */
static void
watch_set(struct loop *l, struct pconn *pc, struct watch *w,
    const struct pollfd *pfd)
{
	if (w->fd == pfd->fd && w->events == pfd->events)
		return;
	if (l->epfd != -1)
		epoll_change(l, pc, w, pfd);
	w->fd = pfd->fd;
	w->events = pfd->events;
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
		for (i = 0; i < FDS_PER_CONN; i++)
			pfd[i] = (struct pollfd){ .fd = -1 };
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
		/* ...but a chunk waiting on stdout must see it too. */
		pc->p.down.cancel_fd = l->srv->stop[0];
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

/* Put pc on this round's ready list, if it is not on it yet. */
static void
take(struct loop *l, struct pconn *pc, size_t *k)
{
	if (pc->round != l->round) {
		pc->round = l->round;
		l->ready[(*k)++] = pc;
	}
}

/* The connections the round's wait says are ready (epoll_wait's events,
 * or poll(2)'s entries past the server's nsrv), and the busy ones. */
static size_t
collect_ready(struct loop *l, size_t nsrv, size_t nfds)
{
	struct epoll_event ev[EVENTS_MAX];
	size_t i, k = 0;
	int n = 0;

	l->round++;
	if (l->epfd != -1 && l->pfd[nsrv].revents != 0 &&
	    (n = epoll_wait(l->epfd, ev, EVENTS_MAX, 0)) == -1)
		n = 0;			/* EINTR: next round */
	for (i = 0; i < (size_t)n; i++)
		take(l, ev[i].data.ptr, &k);
	for (i = nsrv; l->epfd == -1 && i < nfds; i++)
		if (l->pfd[i].revents != 0)
			take(l, l->owner[i], &k);
	for (i = 0; l->nbusy + l->npidless > 0 && i < l->n; i++)
		if (l->conn[i]->busy || l->conn[i]->pidless)
			take(l, l->conn[i], &k);
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

static void
pfd_set(struct loop *l, size_t i, int fd, short events, struct pconn *pc)
{
	l->pfd[i].fd = fd;
	l->pfd[i].events = events;
	l->pfd[i].revents = 0;
	l->owner[i] = pc;
}

/* Fill the round's poll array: the server's descriptors (*nsrv of them),
 * then the epoll descriptor, or with poll(2) every slot of every
 * connection. How many entries in all. */
static size_t
round_fill(struct loop *l, size_t *nsrv)
{
	size_t i, k, want = srv_events_max(l->srv) +
	    (l->epfd != -1 ? 1 : FDS_PER_CONN * l->n);
	struct pconn *pc;
	void *p;
	int j;

	if (want > l->pfd_cap) {
		if ((p = realloc(l->pfd, 2 * want * sizeof(*l->pfd))) == NULL)
			die(EXIT_RUNTIME, "poll set:");
		l->pfd = p;
		if ((p = realloc(l->owner, 2 * want * sizeof(*l->owner))) ==
		    NULL)
			die(EXIT_RUNTIME, "poll set:");
		l->owner = p;
		l->pfd_cap = 2 * want;
	}
	k = *nsrv = (size_t)srv_events(l->srv, l->pfd);
	if (l->epfd != -1)
		pfd_set(l, k++, l->epfd, POLLIN, NULL);
	for (i = 0; l->epfd == -1 && i < l->n; i++) {
		pc = l->conn[i];
		for (j = 0; j < FDS_PER_CONN; j++)
			if (pc->w[j].fd != -1)
				pfd_set(l, k++, pc->w[j].fd, pc->w[j].events,
				    pc);
	}
	return k;
}

/* One round: wait for the server's descriptors and the connections',
 * then serve what is ready. A client accepted meanwhile is not in the
 * array (it is added at the end of l->conn), and none ends before
 * collect_ready, so l->owner is still true there. */
static void
loop_round(struct loop *l)
{
	size_t i, k, nsrv, nfds = round_fill(l, &nsrv);

	if (poll(l->pfd, (nfds_t)nfds, round_wait(l)) == -1 &&
	    errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	if (srv_after_poll(l->srv, l->pfd))
		accept_all(l);
	k = collect_ready(l, nsrv, nfds);
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
		verbose(srv->cfg, "epoll: %s; using poll(2)", strerror(errno));
	while (!srv_done(srv))
		loop_round(&l);
	loop_stop(&l);
	if (l.epfd != -1)
		close(l.epfd);
	free(l.conn);
	free(l.ready);
	free(l.pfd);
	free(l.owner);
	return srv_close(srv);
}
