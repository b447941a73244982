/*
 * server.c: -l over TCP. What every server model shares, once: listening
 * and --port-file, how stdin and stdout are shared among clients, waiting
 * for a turn (--count, --max-conns, EMFILE back-off, SIGINT/SIGTERM),
 * accepting, the handler each connection gets (serve_conn), and stopping:
 * children ended and reaped, threads ended.
 *
 * The models (iterative.c, fork.c, threads.c, poll.c) are loops around
 * these; -l alone is the iterative loop with one client, which stops
 * listening as soon as it has it, so later clients are refused.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define EMFILE_BACKOFF_MS	100	/* out of descriptors: wait, retry */
#define EXEC_CHECK_MS		100	/* no pidfd: look at -e's child again */

static int (*const models[])(struct server *) = {
	[MODEL_ONCE] = serve_iterative,
	[MODEL_ITERATIVE] = serve_iterative,
	[MODEL_FORK] = serve_fork,
	[MODEL_THREADS] = serve_threads,
	[MODEL_POLL] = serve_poll,
};

int
run_server(const struct config *cfg)
{
	struct server srv;
	int status;

	if ((status = srv_open(&srv, cfg)) != -1)
		return status;
	return models[cfg->model](&srv);
}

static bool
shares_clients(const struct config *cfg)
{
	return cfg->model == MODEL_FORK || cfg->model == MODEL_THREADS ||
	    cfg->model == MODEL_POLL;
}

/* stdin and stdout for many clients: replayed file, hub, shared lock. */
static int
share_stdio(struct server *srv)
{
	struct stat st;

	if (io_stdio_nonblock(&srv->in, &srv->out, true) == -1)
		return -1;
	srv->in_file = srv->cfg->model != MODEL_ONCE &&
	    fstat(srv->in, &st) == 0 && S_ISREG(st.st_mode);
	if (srv->cfg->exec_cmd != NULL || srv->cfg->echo)
		return 0;	/* stdin unused: never read it (a terminal
				 * would stop a background server) */
	if (srv->cfg->broker)	/* stdin and stdout are not used */
		return (srv->broker = broker_new(srv->cfg)) == NULL ? -1 : 0;
	if (!shares_clients(srv->cfg))
		return 0;
	if (!srv->in_file && (srv->hub = hub_new(srv->cfg, srv->in)) == NULL)
		return -1;
	/* One process has one writer; threads and children need the lock. */
	return srv->cfg->model == MODEL_POLL ? 0 : io_share_stdout();
}

/* Thousands of clients need thousands of descriptors: take what the hard
 * limit allows. (Past it, accept backs off; see srv_accept.) */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
srv_open(struct server *srv, const struct config *cfg)
{
	char err[ERR_STRLEN];

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->stop[0] = srv->stop[1] = srv->wake[0] = srv->wake[1] = -1;
	srv->spare[0] = srv->spare[1] = -1;
	if ((srv->lfd = net_listen(cfg, srv->local, err)) == -1)
		die(EXIT_RUNTIME, "%s", err);
	verbose(cfg, "listening on %s", srv->local);
	raise_fd_limit();
	if (share_stdio(srv) == -1)
		die(EXIT_RUNTIME, "standard input or output:");
	/* -l alone: a signal ends it as any command, unless a command
	 * runs for it, which must end with it (SPEC.md item 6). */
	if (cfg->model == MODEL_ONCE && cfg->exec_cmd == NULL)
		return -1;
	if (pipe2(srv->stop, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(srv->wake, O_CLOEXEC | O_NONBLOCK) == -1)
		die(EXIT_RUNTIME, "pipe:");
	sig_notify(srv->stop[1], srv->wake[1]);
	return -1;
}

bool
srv_stopping(const struct server *srv)
{
	return srv->stop[0] != -1 && sig_stopping();
}

/* A child has been reaped: forget it. */
static void
forget_kid(struct server *srv, pid_t pid)
{
	size_t i;

	for (i = 0; i < srv->nkids; i++)
		if (srv->kids[i] == pid) {
			srv->kids[i] = srv->kids[--srv->nkids];
			__atomic_sub_fetch(&srv->active, 1, __ATOMIC_SEQ_CST);
			return;
		}
}

/* Reap what has ended. (Only --fork has children of its own here: the -e
 * paths wait for theirs themselves.) waitpid(-1) walks every child in the
 * kernel, which with 10,000 idle ones costs about 0.3 ms a call; a pidfd
 * per child in an epoll set avoided that but made --fork slower (962 ->
 * 626 connections/s with 3,000 held): every fork copied, and every child's
 * exit closed, the thousands of pidfds in the parent's descriptor table. */
static void
reap(struct server *srv)
{
	pid_t pid;

	while (srv->nkids > 0 && (pid = waitpid(-1, NULL, WNOHANG)) > 0)
		forget_kid(srv, pid);
}

static long
active(const struct server *srv)
{
	return __atomic_load_n(&srv->active, __ATOMIC_SEQ_CST);
}

/* May a client be accepted now? */
static bool
may_accept(const struct server *srv)
{
	const struct config *cfg = srv->cfg;

	return srv->lfd != -1 && now_ms() >= srv->retry_at &&
	    (cfg->max_conns == 0 || active(srv) < cfg->max_conns);
}

size_t
srv_events_max(const struct server *srv)
{
	return 3 + (srv->hub != NULL ? hub_size(srv->hub) : 0) +
	    (srv->broker != NULL ? broker_size(srv->broker) : 0);
}

int
srv_events(const struct server *srv, struct pollfd *pfd)
{
	int k = 0;

	pfd[k].fd = srv->stop[0];
	pfd[k++].events = POLLIN;
	pfd[k].fd = srv->wake[0];
	pfd[k++].events = POLLIN;
	pfd[k].fd = may_accept(srv) ? srv->lfd : -1;
	pfd[k++].events = POLLIN;
	if (srv->hub != NULL)
		k += hub_events(srv->hub, pfd + k);
	if (srv->broker != NULL)
		k += broker_events(srv->broker, pfd + k);
	return k;
}

static void
drain(int fd)
{
	char sink[64];

	while (fd != -1 && io_read(fd, sink, sizeof(sink)) > 0)
		;
}

bool
srv_after_poll(struct server *srv, const struct pollfd *pfd)
{
	drain(srv->wake[0]);
	reap(srv);
	if (srv->hub != NULL)
		hub_step(srv->hub);
	if (srv->broker != NULL)
		broker_step(srv->broker);
	return pfd[2].fd != -1 && pfd[2].revents != 0;
}

bool
srv_done(const struct server *srv)
{
	return srv_stopping(srv) || (srv->lfd == -1 && active(srv) == 0);
}

int
srv_backoff_ms(const struct server *srv)
{
	int64_t now = now_ms();
	int ms = now < srv->retry_at ? (int)(srv->retry_at - now) : -1;
	int stall = srv->broker != NULL ? broker_timeout_ms(srv->broker) :
	    srv->hub != NULL ? hub_timeout_ms(srv->hub) : -1;

	return stall >= 0 && (ms < 0 || stall < ms) ? stall : ms;
}

int
srv_wait_turn(struct server *srv)
{
	struct pollfd *pfd;
	size_t want;
	int n;

	while (!srv_done(srv)) {	/* stopped, or --count all served */
		if ((want = srv_events_max(srv)) > srv->pfd_cap) {
			if ((pfd = realloc(srv->pfd, 2 * want *
			    sizeof(*pfd))) == NULL)
				die(EXIT_RUNTIME, "poll set:");
			srv->pfd = pfd;
			srv->pfd_cap = 2 * want;
		}
		n = srv_events(srv, srv->pfd);
		if (poll(srv->pfd, (nfds_t)n, srv_backoff_ms(srv)) == -1 &&
		    errno != EINTR)
			die(EXIT_RUNTIME, "poll:");
		if (srv_after_poll(srv, srv->pfd))
			return 0;
	}
	return -1;
}

/* The pipe (hub) or socketpair (broker) the next client will need, made
 * before it is accepted: out of descriptors, that client waits in the
 * backlog as it would for accept itself, never taken and served nothing. */
static int
reserve_pair(struct server *srv)
{
	if (srv->spare[0] != -1 || (srv->broker == NULL &&
	    (srv->hub == NULL || !hub_open(srv->hub))))
		return 0;
	if (srv->broker != NULL)
		return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, srv->spare);
	return pipe2(srv->spare, O_CLOEXEC | O_NONBLOCK);
}

static void
close_spare(struct server *srv)
{
	if (srv->spare[0] != -1) {
		close(srv->spare[0]);
		close(srv->spare[1]);
	}
	srv->spare[0] = srv->spare[1] = -1;
}

/* The stdin this client reads: the file at its own offset, a pipe from
 * the hub (none once stdin has ended), or stdin itself (one at a time). */
static int
conn_stdin(struct server *srv, struct conn *c)
{
	c->in = srv->in;
	c->in_positional = srv->in_file;
	if (srv->hub == NULL)
		return 0;
	c->in = -1;
	if (!hub_open(srv->hub))
		return 0;
	if (hub_join(srv->hub, c->peer, srv->spare[1]) == -1)
		return -1;
	c->in = srv->spare[0];
	c->in_owned = true;
	srv->spare[0] = srv->spare[1] = -1;	/* the hub's and c's now */
	return 0;
}

/* --broker: the client's worker talks to the broker over a socketpair. */
static int
conn_broker(struct server *srv, struct conn *c)
{
	if (broker_join(srv->broker, srv->spare[0], c->peer) == -1)
		return -1;
	c->in = c->out = srv->spare[1];
	c->in_owned = c->broker = true;
	srv->spare[0] = srv->spare[1] = -1;	/* the broker's and c's now */
	return 0;
}

/* Out of descriptors or memory: accept nothing for a while. */
static void
back_off(struct server *srv, const char *what)
{
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		verbose(srv->cfg, "%s on %s:", what, srv->local);
		srv->retry_at = now_ms() + EMFILE_BACKOFF_MS;
	}
}

/* Close the listener; a -U socket file names nothing any more: remove it. */
static void
stop_listening(struct server *srv)
{
	close(srv->lfd);
	srv->lfd = -1;
	net_unlink();
}

int
srv_accept(struct server *srv, struct conn *c)
{
	const struct config *cfg = srv->cfg;

	memset(c, 0, sizeof(*c));
	if (!may_accept(srv)) {	/* --max-conns: poll.c accepts in a loop */
		errno = EAGAIN;
		return -1;
	}
	if (reserve_pair(srv) == -1) {
		back_off(srv, srv->broker != NULL ? "socketpair for the next "
		    "client" : "pipe for the next client");
		return -1;
	}
	if (access_accept(cfg, srv->lfd, c) == -1) {
		back_off(srv, "accept");
		return -1;
	}
	verbose(cfg, "connection from %s", c->peer);
	if (cfg->model == MODEL_ONCE ||
	    (cfg->count > 0 && ++srv->accepted >= cfg->count)) {
		stop_listening(srv);	/* no more clients: refuse them */
	}
	c->out = srv->out;
	c->out_shared = shares_clients(cfg);
	if ((srv->broker == NULL ? conn_stdin(srv, c) :
	    conn_broker(srv, c)) == -1) {
		verbose(cfg, "%s for %s:", srv->broker != NULL ? "broker" :
		    "stdin", c->peer);
		close(c->sock);
		return -1;
	}
	c->out_shared = c->out_shared && !c->broker;
	c->quiet = cfg->model != MODEL_ONCE;
	c->stop_fd = srv->stop[0];
	__atomic_add_fetch(&srv->active, 1, __ATOMIC_SEQ_CST);
	return 0;
}

void
conn_close(struct conn *c)
{
	close(c->sock);
	if (c->in_owned)
		close(c->in);
	c->sock = c->in = -1;
}

void
srv_finished(struct server *srv, struct conn *c, int status)
{
	conn_close(c);
	if (srv->cfg->model == MODEL_ONCE)
		srv->last_status = status;
	__atomic_sub_fetch(&srv->active, 1, __ATOMIC_SEQ_CST);
	/* io_write retries EINTR: a lost wake-up would leave the main loop
	 * asleep after the last client (--count) for good. */
	if (srv->wake[1] != -1)
		(void)io_write(srv->wake[1], "", 1);
}

/* In the process that becomes -e's command: the connection as its stdin
 * and stdout (blocking, as programs expect), stderr as ours, and nothing
 * else: ours are O_CLOEXEC, and what we inherited ourselves is closed
 * too, so the command holds no descriptor it was not meant to. */
void
exec_command(const struct config *cfg, const struct conn *c)
{
	int flags = fcntl(c->sock, F_GETFL);

	sig_default();
	if (cfg->model != MODEL_ONCE)
		(void)setpgid(0, 0);	/* its group is ended with it */
	if (flags == -1 || fcntl(c->sock, F_SETFL, flags & ~O_NONBLOCK) == -1 ||
	    dup2(c->sock, STDIN_FILENO) == -1 ||
	    dup2(c->sock, STDOUT_FILENO) == -1)
		die(EXIT_RUNTIME, "-e for %s:", c->peer);
	(void)close_range(STDERR_FILENO + 1, ~0U, 0);
	execl("/bin/sh", "sh", "-c", cfg->exec_cmd, (char *)NULL);
	report("exec /bin/sh for %s:", c->peer);
	_exit(127);
}

pid_t
spawn_command(const struct config *cfg, const struct conn *c)
{
	pid_t pid = fork();

	if (pid == 0)
		exec_command(cfg, c);
	if (pid == -1)
		report("fork for %s:", c->peer);
	else if (cfg->model != MODEL_ONCE)
		(void)setpgid(pid, pid);	/* as the child does: no race */
	return pid;
}

void
signal_command(pid_t pid, int sig)
{
	if (kill(-pid, sig) == -1)	/* not yet its own group leader */
		(void)kill(pid, sig);
}

void
end_command(pid_t pid, int pidfd, int64_t deadline)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
	int64_t left;

	signal_command(pid, SIGTERM);
	while (pidfd != -1 && (left = deadline - now_ms()) > 0 &&
	    poll(&pfd, 1, (int)left) == -1 && errno == EINTR)
		;
	/* What ignored SIGTERM, the command or what it started, goes now:
	 * the server must end with nothing of its own left running. Before
	 * the reaping: until then the pid (and its group) cannot be reused. */
	signal_command(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}

/* Wait until -e's child pid ends (false) or the server stops (true).
 * Without a pidfd (EMFILE, a kernel before 5.3, valgrind) the stop pipe
 * is still watched, and the child looked at again every EXEC_CHECK_MS:
 * blocking in waitpid would leave the server deaf to SIGTERM. */
static bool
exec_wait(pid_t pid, int pidfd, int stop_fd)
{
	struct pollfd pfd[2] = {
		{ .fd = pidfd, .events = POLLIN },
		{ .fd = stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (pidfd == -1 && waitpid(pid, NULL, WNOHANG) != 0)
			return false;	/* reaped (or gone): ECHILD below */
		if (poll(pfd, 2, pidfd == -1 ? EXEC_CHECK_MS : -1) == -1 &&
		    errno != EINTR)
			return false;
		if (pfd[1].revents != 0)
			return true;
		if (pfd[0].revents != 0)
			return false;
	}
}

/* -e where the server goes on: the command in a child, watched together
 * with the stop pipe, ended if the server stops. */
static int
serve_exec(const struct server *srv, const struct conn *c)
{
	pid_t pid;
	int pidfd;

	if ((pid = spawn_command(srv->cfg, c)) == -1)
		return EXIT_RUNTIME;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (exec_wait(pid, pidfd, c->stop_fd))	/* the server is stopping */
		end_command(pid, pidfd, now_ms() + COMMAND_GRACE_MS);
	else
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
	if (pidfd != -1)
		close(pidfd);
	return EXIT_OK;
}

int
serve_conn(const struct server *srv, const struct conn *c)
{
	if (srv->cfg->exec_cmd != NULL)
		return serve_exec(srv, c);
	return pump_run(srv->cfg, c);
}

pid_t
srv_spawn(struct server *srv, struct conn *c)
{
	pid_t pid, *kids;

	kids = realloc(srv->kids, (srv->nkids + 1) * sizeof(*kids));
	if (kids == NULL)
		return -1;
	srv->kids = kids;
	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		/* The child serves c alone: nothing of the parent's is ours,
		 * and SIGTERM from the parent simply ends us. */
		sig_default();
		close(srv->lfd);
		close_spare(srv);
		if (srv->hub != NULL)
			hub_forget(srv->hub);
		if (srv->broker != NULL)
			broker_forget(srv->broker);
		c->stop_fd = -1;
		return 0;
	}
	srv->kids[srv->nkids++] = pid;
	return pid;
}

/* Wait up to ms (< 0: no bound) for every connection to end; true if
 * they have. */
static bool
wait_all(struct server *srv, int ms)
{
	struct pollfd pfd = { .fd = srv->wake[0], .events = POLLIN };
	int64_t deadline = now_ms() + ms;

	for (;;) {
		reap(srv);
		if (active(srv) == 0)
			return true;
		if ((ms >= 0 && now_ms() >= deadline) || srv->wake[0] == -1)
			return false;
		(void)poll(&pfd, 1, 50);
		drain(srv->wake[0]);
	}
}

static void
signal_kids(const struct server *srv, int sig)
{
	size_t i;

	for (i = 0; i < srv->nkids; i++)
		if (srv->cfg->exec_cmd != NULL)
			signal_command(srv->kids[i], sig);
		else
			kill(srv->kids[i], sig);
}

int
srv_close(struct server *srv)
{
	if (srv->lfd != -1)
		stop_listening(srv);
	if (srv_stopping(srv)) {
		/* Threads and pumps saw the stop pipe; children get told. */
		signal_kids(srv, SIGTERM);
		if (!wait_all(srv, 600)) {
			signal_kids(srv, SIGKILL);
			(void)wait_all(srv, 200);
		}
		verbose(srv->cfg, "stopped by a signal");
	} else
		(void)wait_all(srv, -1);
	close_spare(srv);
	/* Only this thread ever touches the hub and the broker. */
	if (srv->hub != NULL)
		hub_free(srv->hub);
	if (srv->broker != NULL)
		broker_free(srv->broker);
	srv->hub = NULL;
	srv->broker = NULL;
	free(srv->kids);
	free(srv->pfd);
	return srv->cfg->model == MODEL_ONCE ? srv->last_status : EXIT_OK;
}
