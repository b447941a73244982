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

#include <signal.h>

#include <stdbool.h>
#include <stdint.h>

#define EXIT_OK		0
#define EXIT_RUNTIME	1
#define EXIT_USAGE	2

#define IO_AGAIN	(-2)		/* "would block": arm poll and return */
#define PUMP_BUFSIZE	(256 * 1024)	/* per direction; bounds memory */
#define UDP_MAXDGRAM	65536		/* the largest datagram we move */
#define ADDR_STRLEN	96		/* "ADDRESS port PORT" */
#define ERR_STRLEN	256		/* "WHAT: WHY" from net.c */

enum role {
	ROLE_CLIENT,
	ROLE_SERVER,
	ROLE_PROBE,
};

enum direction_mode {
	DIR_BOTH,
	DIR_SEND_ONLY,
	DIR_RECV_ONLY,
};

/* Everything the command line says; checked once, then read-only. */
struct config {
	enum role	 role;
	int		 socktype;	/* SOCK_STREAM or SOCK_DGRAM */
	int		 family;	/* AF_UNSPEC, AF_INET or AF_INET6 */
	const char	*host;		/* client HOST, server ADDRESS or NULL */
	const char	*port;		/* service: number or name */
	unsigned	 port_lo;	/* -z range */
	unsigned	 port_hi;
	int		 timeout_ms;	/* -w; -1 when unset */
	int		 retry_ms;	/* --retry; 0 when unset */
	const char	*port_file;
	long		 count;		/* --count; 0 when unset */
	enum direction_mode dirs;
	bool		 echo;
	bool		 no_shutdown;
	bool		 verbose;
};

/* One direction of a pump: bytes from -> buf[off .. off+len) -> to. */
struct dir {
	int		 from;
	int		 to;
	char		*buf;
	size_t		 cap;
	size_t		 off;
	size_t		 len;
	bool		 eof;		/* from said EOF (or never to be read) */
	bool		 done;		/* drained and, for a socket, half-closed */
	int		 err;		/* errno of the failure that ended it */
	bool		 err_on_write;	/* the failure was on to, not from */
	uint64_t	 moved;		/* bytes written to `to` */
};

/* A connection: a socket and the local side it is paired with. */
struct conn {
	int		 sock;
	int		 in;		/* what is sent to the peer */
	int		 out;		/* where received bytes go */
	char		 peer[ADDR_STRLEN];
};

/* Result of one pump step: what the direction now waits for. */
enum step {
	STEP_WAIT,	/* would block: poll says when to go on */
	STEP_DONE,	/* drained after EOF */
	STEP_ERROR,	/* d->err says why */
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
/* Write all of buf, waiting in poll when fd would block; 0 or -1. */
int	io_write_all(int fd, const void *buf, size_t len);
/* Make stdin and stdout non-blocking without changing what other processes
 * share: sets *in and *out to descriptors to use in their place. 0 or -1. */
int	io_stdio_nonblock(int *in, int *out);
/* Put stdio flags back as they were: at exit, and before a deadly signal
 * (io_stdio_nonblock arranges both). Async-signal-safe. */
void	io_stdio_restore(void);

/* net.c: names, sockets, connect, listen, accept. */
/* "ADDRESS port PORT" for sa into buf (ADDR_STRLEN bytes). */
void	net_format(const struct sockaddr *sa, socklen_t salen, char *buf);
/* Connect to cfg->host/port, every address in turn, bounded by -w and
 * --retry. Returns a non-blocking socket or -1 with "WHAT: WHY" in err. */
int	net_connect(const struct config *cfg, char *peer, char *err);
/* Bind (and for TCP listen) on cfg->host/port; writes --port-file.
 * Returns a non-blocking socket or -1 with "WHAT: WHY" in err. */
int	net_listen(const struct config *cfg, char *local, char *err);
/* Accept one connection on lfd (blocking wait); fills c. 0 or -1. */
int	net_accept(int lfd, struct conn *c);
/* Set O_NONBLOCK; 0 or -1. */
int	net_nonblock(int fd);

/* pump.c: the byte pump. */
void	dir_init(struct dir *d, int from, int to, char *buf, size_t cap);
/* Move what can move now without blocking; at most a few rounds. */
enum step dir_step(struct dir *d);
/* Drive a TCP connection to its end by the rules of SPEC.md item 2;
 * returns an exit status, having reported any error. */
int	pump_run(const struct config *cfg, struct conn *c);

/* signals.c */
/* Ignore SIGPIPE: a closed peer or stdout is an error we report. */
void	sig_init(void);
/* Block SIGINT and SIGTERM and catch them; *waitmask is the mask to pass
 * to ppoll(2), where they are let in. */
void	sig_catch_stop(sigset_t *waitmask);
/* Where SIGINT, SIGTERM or SIGHUP would kill us, call undo first (it must
 * be async-signal-safe), then die of the signal as before. */
void	sig_undo_on_death(void (*undo)(void));
/* Has SIGINT or SIGTERM arrived? */
bool	sig_stopping(void);

/* modes: entry points, each returns an exit status. */
int	run_client(const struct config *cfg);
int	run_server(const struct config *cfg);
int	run_probe(const struct config *cfg);
int	run_udp_client(const struct config *cfg);
int	run_udp_server(const struct config *cfg);

/* Monotonic milliseconds, for timeouts. */
int64_t	now_ms(void);

#endif /* NSOCK_H */
