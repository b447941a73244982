/*
 * nsock.h: the types and functions that nsock.c and the modes share.
 *
 * Errors: below the mode entry points, functions return -1 with errno set
 * and never print; the entry points and main() report through die() and
 * report(), which emit one line "nsock: WHAT: WHY" with one write(2).
 */
#ifndef NSOCK_H
#define NSOCK_H

#include <sys/types.h>
#include <sys/socket.h>

#include <poll.h>
#include <signal.h>

#include <stdbool.h>
#include <stdint.h>

#define EXIT_OK		0
#define EXIT_RUNTIME	1
#define EXIT_USAGE	2

#define IO_AGAIN	(-2)		/* "would block": arm poll and return */
#define PUMP_BUFSIZE	(256 * 1024)	/* per direction; bounds memory */
#define UDP_MAXDGRAM	65536		/* the largest datagram we move */
#define UDP_RCVBUF	(4 * 1024 * 1024)	/* asked for; see net.c */
#define ADDR_STRLEN	112		/* "ADDRESS port PORT", a Unix path */
#define ERR_STRLEN	256		/* "WHAT: WHY" from net.c */

enum role {
	ROLE_CLIENT,
	ROLE_SERVER,
	ROLE_PROBE,
};

/* How a TCP server serves its clients. */
enum model {
	MODEL_ONCE,		/* -l alone: one client, then exit */
	MODEL_ITERATIVE,	/* -k: one after another */
	MODEL_FORK,		/* --fork: a process each */
	MODEL_THREADS,		/* --threads: a thread each */
	MODEL_POLL,		/* --poll: one process, one event loop */
};

enum direction_mode {
	DIR_BOTH,
	DIR_SEND_ONLY,
	DIR_RECV_ONLY,
};

/* One --allow or --deny rule: a network, compared bit by bit. */
struct access_rule {
	const char	*spec;		/* as given, for messages */
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network byte order */
	unsigned	 prefix;	/* how many leading bits must match */
	bool		 deny;
};

/* Every --allow and --deny, in the order given. */
struct access_list {
	struct access_rule *rules;
	size_t		 n;
	bool		 has_allow;	/* then a peer must match an --allow */
};

/* Everything the command line says; checked once, then read-only. */
struct config {
	enum role	 role;
	int		 socktype;	/* SOCK_STREAM or SOCK_DGRAM */
	int		 family;	/* AF_UNSPEC, AF_INET or AF_INET6 */
	const char	*host;		/* client HOST, server ADDRESS or NULL */
	const char	*port;		/* service: number or name */
	const char	*unix_path;	/* -U: PATH or @NAME; NULL when unset */
	const char	*source_host;	/* -s; NULL when unset */
	const char	*source_port;	/* -p; NULL when unset */
	struct access_list access;	/* --allow, --deny */
	unsigned	 port_lo;	/* -z range */
	unsigned	 port_hi;
	int		 timeout_ms;	/* -w; -1 when unset */
	int		 retry_ms;	/* --retry; 0 when unset */
	const char	*port_file;
	long		 count;		/* --count; 0 when unset */
	long		 max_conns;	/* --max-conns; 0 when unset */
	enum model	 model;
	const char	*exec_cmd;	/* -e */
	enum direction_mode dirs;
	bool		 echo;
	bool		 broker;
	bool		 no_shutdown;
	bool		 verbose;
	bool		 stats;		/* --stats */
	bool		 progress;	/* --progress */
};

/* One direction of a pump: bytes from -> buf[off .. off+len) -> to. */
/* How a direction moves bytes: kernel-side where Linux can (zcopy.c). */
enum dir_path {
	PATH_COPY,	/* read into buf, write from it */
	PATH_SENDFILE,	/* regular file -> socket: nothing held here */
	PATH_SPLICE,	/* pipe -> socket, socket -> pipe: nothing held */
	PATH_VIA_PIPE,	/* socket -> our pipe -> file or /dev/null: the
			 * len bytes held are in pipe[], not in buf */
};

struct dir {
	int		 from;
	int		 to;
	enum dir_path	 path;
	int		 pipe[2];	/* PATH_VIA_PIPE, once used; else -1 */
	bool		 pipe_full;	/* a fill found no room in pipe[] */
	bool		 wait_from;	/* SENDFILE, SPLICE: what the last */
	bool		 wait_to;	/* move found blocked */
	char		*buf;		/* NULL while empty: malloc'd on use */
	size_t		 cap;
	size_t		 off;
	size_t		 len;
	bool		 eof;		/* from said EOF (or never to be read) */
	bool		 done;		/* drained and, for a socket, half-closed */
	bool		 shut_to;	/* when done, shutdown(to, SHUT_WR) */
	bool		 positional;	/* read from at pos (pread): a file that
					 * every client gets whole */
	off_t		 pos;
	bool		 whole_chunks;	/* `to` is shared: io_write_chunk */
	int		 cancel_fd;	/* its wait ends when this is readable */
	int		 err;		/* errno of the failure that ended it */
	bool		 err_on_write;	/* the failure was on to, not from */
	uint64_t	 moved;		/* bytes written to `to` */
};

/* A connection: a socket and the local side it is paired with. */
struct conn {
	int		 sock;
	int		 in;		/* what is sent to the peer */
	int		 out;		/* where received bytes go */
	bool		 in_positional;	/* in is a file read at our own offset */
	bool		 in_owned;	/* in is ours to close (a hub pipe) */
	bool		 broker;	/* in and out: our end to the broker */
	bool		 out_shared;	/* out is shared: write chunks whole */
	bool		 quiet;		/* errors only under -v (a server's) */
	int		 stop_fd;	/* readable: end now (-1: none) */
	char		 peer[ADDR_STRLEN];
};

/* One TCP connection being pumped: pump_run drives one, poll.c many. */
struct pump {
	const struct config *cfg;
	const struct conn *c;
	struct dir	 up;		/* c->in -> c->sock */
	struct dir	 down;		/* c->sock -> c->out */
	bool		 tty_in;
	int64_t		 last;		/* when a byte last moved */
	int64_t		 start_us;	/* --stats: now_us() at the start */
	struct meter	*meter;		/* --progress (pump_run), or NULL */
	bool		 reads_wait;	/* zc_let_reads_wait done (pump_run) */
};
#define PUMP_RUNNING	(-1)		/* pump_advance: not over yet */

/* --progress: the meter on a terminal's stderr (stats.c). */
struct meter {
	bool		 on;		/* --progress, and stderr a terminal */
	bool		 drawn;		/* a meter line is on the terminal */
	int64_t		 start;		/* now_ms() times */
	int64_t		 next;		/* the next redraw */
	int64_t		 at;		/* the latest time it was told */
	int64_t		 total;		/* bytes stdin has to send, or -1 */
};

/* --stats: what one session moved (stats.c). */
struct tally {
	uint64_t	 sent;		/* bytes */
	uint64_t	 received;
	bool		 datagrams;	/* UDP: the counts below too */
	uint64_t	 sent_dgrams;
	uint64_t	 recv_dgrams;
	int64_t		 start_us;	/* now_us() when it began */
};

/* hub.c: a stream stdin, shared by the clients connected at the time. */
struct hub;

/* broker.c: --broker, what each client sends to every other one. */
struct broker;

/* A TCP server: what every model shares (server.c). */
struct server {
	const struct config *cfg;
	int		 lfd;		/* -1 once no more clients are taken */
	char		 local[ADDR_STRLEN];
	int		 in;		/* stdin, non-blocking */
	int		 out;		/* stdout, non-blocking */
	bool		 in_file;	/* stdin a regular file: each gets it */
	struct hub	*hub;		/* stdin a stream, several at once */
	struct broker	*broker;	/* --broker */
	struct pollfd	*pfd;		/* srv_wait_turn's poll set */
	size_t		 pfd_cap;
	long		 accepted;
	long		 active;	/* connections being served */
	int		 last_status;	/* of the last session (-l alone) */
	int64_t		 retry_at;	/* EMFILE: accept again then */
	int		 stop[2];	/* readable once stopping (signal) */
	int		 wake[2];	/* a worker ended, or SIGCHLD */
	int		 spare[2];	/* the next client's hub pipe or broker
					 * socketpair, made before its accept */
	pid_t		*kids;		/* --fork: the children alive */
	size_t		 nkids;
};

/* Result of one pump step: what the direction now waits for. */
enum step {
	STEP_WAIT,	/* would block: poll says when to go on */
	STEP_DONE,	/* drained after EOF */
	STEP_ERROR,	/* d->err says why */
	STEP_AGAIN,	/* zc_move fell back to copying: step again */
};

/* report.c */
void	report(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	die(int status, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
void	usage_error(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	verbose(const struct config *cfg, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* io.c: the only read/write/send/recv calls. */
/* Bytes read (0 at EOF), IO_AGAIN, or -1 with errno set; EINTR retried. */
ssize_t	io_read(int fd, void *buf, size_t len);
/* Bytes written, IO_AGAIN, or -1 with errno set; EINTR retried. */
ssize_t	io_write(int fd, const void *buf, size_t len);
/* One datagram in or out; same returns as io_read/io_write. */
ssize_t	io_recvfrom(int fd, void *buf, size_t len, struct sockaddr *sa,
	    socklen_t *salen);
ssize_t	io_sendto(int fd, const void *buf, size_t len,
	    const struct sockaddr *sa, socklen_t salen);
/* Several datagrams in or out at once: how many, IO_AGAIN, or -1. */
int	io_sendmmsg(int fd, struct mmsghdr *msg, unsigned n);
int	io_recvmmsg(int fd, struct mmsghdr *msg, unsigned n);
/* Read at pos without moving the file offset; as io_read. */
ssize_t	io_pread(int fd, void *buf, size_t len, off_t pos);
/* Move up to len bytes kernel-side, from or to being a pipe (splice), or
 * from a regular file to a socket at *pos, NULL for its offset (sendfile);
 * as io_read, with EINVAL where the descriptors do not support it. */
ssize_t	io_splice(int from, int to, size_t len);
ssize_t	io_sendfile(int to, int from, off_t *pos, size_t len);
/* Write all of buf, waiting in poll when fd would block; 0 or -1. */
int	io_write_all(int fd, const void *buf, size_t len);
/* Make stdin and stdout non-blocking without changing what other processes
 * share: sets *in and *out to descriptors to use in their place; a pipe
 * among them grown to 1 MiB if grow_pipes (TCP, not UDP). 0 or -1. */
int	io_stdio_nonblock(int *in, int *out, bool grow_pipes);
/* From now on io_write_chunk writes each chunk whole under a lock that
 * threads and forked children share. 0 or -1. */
int	io_share_stdout(void);
/* Write all of buf to fd, no other chunk in between; len or -1. A reader
 * of fd who never reads cannot hold the server: once cancel_fd (the stop
 * pipe; -1: none) is readable, it gives up with ECANCELED. */
ssize_t	io_write_chunk(int fd, const void *buf, size_t len, int cancel_fd);
/* Put stdio flags back as they were: at exit, and before a deadly signal
 * (io_stdio_nonblock arranges both). Async-signal-safe. */
void	io_stdio_restore(void);

/* net.c: names, sockets, connect, listen, accept. */
/* "ADDRESS port PORT" for sa into buf (ADDR_STRLEN bytes). */
void	net_format(const struct sockaddr *sa, socklen_t salen, char *buf);
/* Connect to cfg->unix_path (a datagram socket autobound first, so that
 * replies can come back), or to cfg->host/port, every address in turn, bounded by -w and
 * --retry, from -s and -p if given (addresses of another family than
 * theirs are skipped). Returns a non-blocking socket or -1 with "WHAT: WHY" in err. */
int	net_connect(const struct config *cfg, char *peer, char *err);
/* Bind (and for a stream listen) on cfg->unix_path, replacing a stale
 * socket file there (nobody listening), or on cfg->host/port, writing
 * --port-file.
 * Returns a non-blocking socket or -1 with "WHAT: WHY" in err. */
int	net_listen(const struct config *cfg, char *local, char *err);
/* The socket file that net_listen bound for -U, removed if this process
 * created it and it is still that file (never in a forked child, never
 * a file put there since); later calls do nothing. Async-signal-safe:
 * run at exit, on a deadly signal, and when a server stops listening. */
void	net_unlink(void);
/* Accept one pending connection on lfd into c->sock and c->peer; 0, or
 * -1 (errno EAGAIN: none pending; EMFILE...). Never waits. */
int	net_accept(int lfd, struct conn *c);
/* Set O_NONBLOCK; 0 or -1. */
int	net_nonblock(int fd);

/* zcopy.c: the kernel-side paths of a direction. */
/* Choose d's path from what from and to are. */
void	zc_choose(struct dir *d);
/* SENDFILE, SPLICE: move what can move now; STEP_AGAIN if the path had to
 * fall back to PATH_COPY (try that). */
enum step zc_move(struct dir *d);
/* PATH_VIA_PIPE: our pipe, made when first needed; 0, or -1 with errno
 * set (EMFILE...). */
int	zc_pipe(struct dir *d);
/* PATH_VIA_PIPE: fill pipe[] from from, drain it to to; as io_read. */
ssize_t	zc_fill(struct dir *d);
ssize_t	zc_drain(struct dir *d);
/* PATH_VIA_PIPE: to cannot take a splice: the held bytes go to a buffer
 * and the path becomes PATH_COPY; 0 or -1. */
int	zc_unpipe(struct dir *d);
/* Write what pipe[] holds to to, waiting as needed; 0 or -1. */
int	zc_flush(struct dir *d);
/* Let d's splices from its socket wait up to READ_WAIT_MS in the kernel
 * for more: only once nothing more is sent on that socket, and only where
 * the connection has its process or thread to itself (pump_run). */
void	zc_let_reads_wait(struct dir *d);
void	zc_free(struct dir *d);

/* access.c: --allow and --deny. */
/* Add the rule SPEC (ADDRESS or ADDRESS/PREFIX, numeric) to list; 0, or -1
 * with errno ENOMEM, or EINVAL and why SPEC is no rule in why
 * (ERR_STRLEN bytes). */
int	access_add(struct access_list *list, const char *spec, bool deny,
	    char *why);
/* May the peer at sa come in? If not, say so under -v, as "WHAT ADDRESS:
 * which rule". An IPv4-mapped IPv6 peer is an IPv4 one. */
bool	access_check(const struct config *cfg, const struct sockaddr *sa,
	    socklen_t salen, const char *what);
/* As net_accept, but a peer the rules refuse is reset at once (and said
 * under -v) and the next one taken: 0, or -1 as net_accept. */
int	access_accept(const struct config *cfg, int lfd, struct conn *c);

/* pump.c: the byte pump. */
/* Move what can move now without blocking; at most a few rounds. */
enum step dir_step(struct dir *d);
/* Set p up for c (relay, or --echo). */
void	pump_init(struct pump *p, const struct config *cfg,
	    const struct conn *c);
void	pump_free(struct pump *p);
/* Move what can move; PUMP_RUNNING, or the exit status once the session
 * is over (SPEC.md item 2), any error reported. */
int	pump_advance(struct pump *p);
/* The descriptors and events p waits for, in pfd[0..3]; returns the idle
 * deadline in now_ms() time, or -1 for none. */
int64_t	pump_events(const struct pump *p, struct pollfd pfd[4]);
/* Report the end of an idle session; the exit status. */
int	pump_timed_out(struct pump *p);
/* Drive c to its end: init, advance, wait, in a loop; an exit status.
 * Draws --progress, and prints --stats at the end. */
int	pump_run(const struct config *cfg, const struct conn *c);
/* The --stats line for p's session (after any error line), if --stats. */
void	pump_stats(const struct pump *p);

/* stats.c: --stats and --progress. */
/* Monotonic microseconds, for a session's duration. */
int64_t	now_us(void);
/* The --stats line: "nsock: WHAT: sent N bytes, received N bytes in S s
 * (R MB/s)", with " (N datagrams)" after each count for UDP. */
void	stats_report(const char *what, const struct tally *t);
/* Set m up: on with --progress when stderr is a terminal; a total when in
 * is a regular file (not with --recv-only). */
void	meter_init(struct meter *m, const struct config *cfg, int in);
/* When the next redraw is due (now_ms() time), or -1 (m NULL or off). */
int64_t	meter_due(const struct meter *m);
/* Now, near enough, without asking the clock: the later of last (when
 * bytes last moved) and the latest time m was told. */
int64_t	meter_clock(const struct meter *m, int64_t last);
/* The time is now: redraw if a redraw is due. */
void	meter_tick(struct meter *m, uint64_t sent, uint64_t received,
	    int64_t now);
/* Clear the meter line if one is drawn (m may be NULL). */
void	meter_erase(struct meter *m);
/* Clear whichever meter line is drawn: report.c, before a message. */
void	meter_erase_shown(void);

/* signals.c */
/* Ignore SIGPIPE: a closed peer or stdout is an error we report. */
void	sig_init(void);
/* Block SIGINT and SIGTERM and catch them; *waitmask is the mask to pass
 * to ppoll(2), where they are let in. */
void	sig_catch_stop(sigset_t *waitmask);
/* Where SIGINT, SIGTERM or SIGHUP would kill us, call undo first (it must
 * be async-signal-safe), then die of the signal as before. Up to
 * DEATH_HOOKS functions, each called once per death, in the order given. */
#define DEATH_HOOKS	2
void	sig_undo_on_death(void (*undo)(void));
/* Catch SIGINT and SIGTERM (a byte to stop_fd) and SIGCHLD (a byte to
 * child_fd): for pollers in any thread. */
void	sig_notify(int stop_fd, int child_fd);
/* In a forked child: every signal as it was before nsock (SIGPIPE aside). */
void	sig_default(void);
/* Has SIGINT or SIGTERM arrived? */
bool	sig_stopping(void);

/* hub.c */
/* A hub for stream stdin in, or NULL with errno set. */
struct hub *hub_new(const struct config *cfg, int in);
/* Has stdin not ended yet: do new clients get it? */
bool	hub_open(const struct hub *h);
/* Hand the stream to peer through pipe_w, the write end of a non-blocking
 * pipe (the hub closes it when done); 0, or -1 (ENOMEM, pipe_w untouched). */
int	hub_join(struct hub *h, const char *peer, int pipe_w);
/* How long poll may sleep before a stalled client is to be dropped; -1:
 * no bound. */
int	hub_timeout_ms(const struct hub *h);
/* How many descriptors hub_events may fill. */
size_t	hub_size(const struct hub *h);
/* The descriptors the hub waits for, into pfd; how many. */
int	hub_events(const struct hub *h, struct pollfd *pfd);
/* Read stdin when every client took the last chunk; hand it out. */
void	hub_step(struct hub *h);
/* In a forked child: close the hub's pipes, which are not ours. */
void	hub_forget(struct hub *h);
/* Close every client's pipe and free h. */
void	hub_free(struct hub *h);

/* broker.c */
struct broker *broker_new(const struct config *cfg);
/* A new member: fd, the broker's end of its socketpair; 0 or -1. */
int	broker_join(struct broker *b, int fd, const char *peer);
size_t	broker_size(const struct broker *b);
/* The members' descriptors into pfd; how many (broker_size). */
int	broker_events(const struct broker *b, struct pollfd *pfd);
/* When the broker must next look at a stalled member (ms), or -1. */
int	broker_timeout_ms(const struct broker *b);
/* Relay what members sent; flush queues; drop the gone and the slow. */
void	broker_step(struct broker *b);
/* In a forked child: close the broker's ends, which are not ours. */
void	broker_forget(struct broker *b);
/* Close every member's end and free b. */
void	broker_free(struct broker *b);

/* server.c: what the TCP server models share. */
/* Listen, write --port-file, set up stdio and signals. An exit status on
 * failure (reported), or -1 when srv is ready. */
int	srv_open(struct server *srv, const struct config *cfg);
/* Wait until a client can be taken: 0; -1 when the server is done
 * (stopped, or --count served and finished). Runs the hub, reaps. */
int	srv_wait_turn(struct server *srv);
/* The pieces of srv_wait_turn, for poll.c's own loop: how many entries
 * srv_events may fill; the server's descriptors into pfd (pfd[2] is the
 * listener), how many; after poll, what they said (true: a client waits);
 * is it over; how long poll may sleep, for the EMFILE back-off or a
 * stalled broker member (-1: no bound). */
size_t	srv_events_max(const struct server *srv);
int	srv_events(const struct server *srv, struct pollfd *pfd);
bool	srv_after_poll(struct server *srv, const struct pollfd *pfd);
bool	srv_done(const struct server *srv);
int	srv_backoff_ms(const struct server *srv);
/* Accept one client into c, set up for this model; 0 or -1 (nothing to
 * take now, or --max-conns are being served; EMFILE backs off inside). */
int	srv_accept(struct server *srv, struct conn *c);
/* -e in a child that the caller watches (poll.c): its pid, or -1. */
pid_t	spawn_command(const struct config *cfg, const struct conn *c);
/* Stop -e's command: SIGTERM, then SIGKILL if it is still running at
 * deadline (now_ms time; pidfd -1: at once); reaped on return. A stopping
 * server gives commands COMMAND_GRACE_MS, and still exits within 1 s. */
#define COMMAND_GRACE_MS	500
void	end_command(pid_t pid, int pidfd, int64_t deadline);
/* Signal -e's command and everything in its process group (with a server
 * model each command leads one; -l alone leaves it in ours, so a Ctrl-C
 * at the terminal reaches it as it reaches us). */
void	signal_command(pid_t pid, int sig);
/* Serve c with the handler the options choose; an exit status. */
int	serve_conn(const struct server *srv, const struct conn *c);
/* The session on c is over (status); close it and count it. */
void	srv_finished(struct server *srv, struct conn *c, int status);
/* A child process for c: 0 in the child, its pid in the parent, -1. */
pid_t	srv_spawn(struct server *srv, struct conn *c);
/* Become -e's command, the connection as stdin and stdout; no return. */
void	exec_command(const struct config *cfg, const struct conn *c)
	    __attribute__((noreturn));
/* Stop taking clients, end those still served, release; exit status. */
int	srv_close(struct server *srv);
/* Is the server stopping (SIGINT, SIGTERM)? */
bool	srv_stopping(const struct server *srv);
/* The connection's own descriptors, closed. */
void	conn_close(struct conn *c);

/* The TCP server models: each a loop around serve_conn. */
int	serve_iterative(struct server *srv);
int	serve_fork(struct server *srv);
int	serve_threads(struct server *srv);
int	serve_poll(struct server *srv);

/* modes: entry points, each returns an exit status. */
int	run_client(const struct config *cfg);
int	run_server(const struct config *cfg);
int	run_probe(const struct config *cfg);
int	run_udp_client(const struct config *cfg);
int	run_udp_server(const struct config *cfg);

/* Monotonic milliseconds, for timeouts. */
int64_t	now_ms(void);

#endif /* NSOCK_H */
