/*
 * net.c: names and sockets. Resolve, connect (from -s and -p, bounded by -w,
 * repeated for --retry), bind and listen (writing --port-file), accept.
 *
 * Nothing here prints: failures return -1 and leave "WHAT: WHY" in the
 * caller's err buffer (ERR_STRLEN bytes), ready for die("%s", err).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define SUN_OFF		offsetof(struct sockaddr_un, sun_path)

/* The socket file this process bound (-U), for net_unlink. */
static struct {
	char	path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t	dev;
	ino_t	ino;
	pid_t	owner;		/* 0: nothing to remove */
} bound_file;

/* PATH, or @NAME in the abstract namespace, into sun; its exact length
 * (an abstract name is the bytes after the '@', no NUL padding). main
 * has checked that it fits. */
static socklen_t
unix_addr(const char *path, struct sockaddr_un *sun)
{
	size_t len = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len);
	if (path[0] != '@')
		return (socklen_t)(SUN_OFF + len + 1);
	sun->sun_path[0] = '\0';
	return (socklen_t)(SUN_OFF + len);
}

/* A Unix socket's name: its path, @NAME (unprintable bytes as '?'), or
 * "unnamed unix socket". */
static void
format_unix(const struct sockaddr_un *sun, socklen_t salen, char *buf)
{
	size_t n = salen > SUN_OFF ? salen - SUN_OFF : 0, i;

	if (n == 0)
		snprintf(buf, ADDR_STRLEN, "unnamed unix socket");
	else if (sun->sun_path[0] != '\0')
		snprintf(buf, ADDR_STRLEN, "%.*s",
		    (int)strnlen(sun->sun_path, n), sun->sun_path);
	else {
		buf[0] = '@';
		for (i = 1; i < n && i < ADDR_STRLEN - 1; i++)
			buf[i] = isprint((unsigned char)sun->sun_path[i]) ?
			    sun->sun_path[i] : '?';
		buf[i] = '\0';
	}
}

void
net_format(const struct sockaddr *sa, socklen_t salen, char *buf)
{
	char host[64], serv[8];	/* numeric: an IPv6 address with scope fits */

	if (sa->sa_family == AF_UNIX) {
		format_unix((const struct sockaddr_un *)sa, salen, buf);
		return;
	}
	if (getnameinfo(sa, salen, host, sizeof(host), serv, sizeof(serv),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, ADDR_STRLEN, "(unknown address)");
	else
		snprintf(buf, ADDR_STRLEN, "%s port %s", host, serv);
}

int
net_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

/* A new socket for type, non-blocking. UDP gets a receive buffer of
 * UDP_RCVBUF (as far as net.core.rmem_max allows): the default 208 KiB
 * holds 170 datagrams of 1200 bytes, and a fast sender on loopback loses
 * what does not fit while we write the last batch to stdout. */
static int
new_socket(int family, int type, int protocol)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
	int size = UDP_RCVBUF;

	if (fd != -1 && type == SOCK_DGRAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof(size));
	return fd;
}

static bool
all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* getaddrinfo with our hints; returns 0 or a gai error code. */
static int
resolve(const struct config *cfg, const char *host, const char *port,
    int flags, struct addrinfo **res)
{
	struct addrinfo hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = cfg->family;
	hints.ai_socktype = cfg->socktype;
	hints.ai_flags = flags;
	if (all_digits(port))
		hints.ai_flags |= AI_NUMERICSERV;
	return getaddrinfo(host, port, &hints, res);
}

static void
gai_failure(char *err, const char *host, const char *port, int rc)
{
	/* A name can be any length; the reason must still fit the line. */
	snprintf(err, ERR_STRLEN, "resolve %.64s%s port %.16s: %s", host,
	    strlen(host) > 64 ? "..." : "", port,
	    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
}

/* Wait up to ms (-1: no bound) for a non-blocking connect to finish. */
static int
finish_connect(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int64_t deadline = ms < 0 ? 0 : now_ms() + ms;
	int r, soerr;
	socklen_t len = sizeof(soerr);

	for (;;) {
		int wait = ms < 0 ? -1 : (int)(deadline - now_ms());

		if (ms >= 0 && wait < 0)
			wait = 0;
		r = poll(&pfd, 1, wait);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
		return -1;
	if (soerr != 0) {
		errno = soerr;
		return -1;
	}
	return 0;
}

/* -s or -p cannot be resolved: say it is the source, and name only what
 * the user gave (no "port 0" for an -s alone). */
static void
source_failure(const struct config *cfg, char *err, int rc)
{
	const char *host = cfg->source_host != NULL ? cfg->source_host : "*";
	const char *sep = cfg->source_port != NULL ? " port " : "";
	const char *port = cfg->source_port != NULL ? cfg->source_port : "";

	if (rc == EAI_ADDRFAMILY && cfg->family != AF_UNSPEC)
		snprintf(err, ERR_STRLEN, "source %.64s has no %s address",
		    host, cfg->family == AF_INET6 ? "IPv6" : "IPv4");
	else
		snprintf(err, ERR_STRLEN, "source %.64s%s%s%.16s: %s", host,
		    strlen(host) > 64 ? "..." : "", sep, port,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
}

/* -s and -p: the local addresses a client may connect from, into *src
 * (NULL when neither is given); 0, or -1 with err filled in. */
static int
resolve_source(const struct config *cfg, struct addrinfo **src, char *err)
{
	const char *port = cfg->source_port != NULL ? cfg->source_port : "0";
	int rc;

	*src = NULL;
	if (cfg->source_host == NULL && cfg->source_port == NULL)
		return 0;
	if ((rc = resolve(cfg, cfg->source_host, port, AI_PASSIVE, src)) == 0)
		return 0;
	source_failure(cfg, err, rc);
	return -1;
}

/* A socket for ai, bound to the first of src (-s, -p) of its family when
 * src is not NULL; -1 with err filled in. */
static int
socket_from(const struct config *cfg, const struct addrinfo *ai,
    const struct addrinfo *src, const char *peer, char *err)
{
	char local[ADDR_STRLEN];
	int fd, one = 1;
	bool bound = src != NULL;

	while (src != NULL && src->ai_family != ai->ai_family)
		src = src->ai_next;
	if (bound && src == NULL) {
		snprintf(err, ERR_STRLEN, "connect to %s: source %.64s has no "
		    "%s address", peer, cfg->source_host != NULL ?
		    cfg->source_host : "*",
		    ai->ai_family == AF_INET6 ? "IPv6" : "IPv4");
		return -1;
	}
	fd = new_socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	if (fd == -1)
		snprintf(err, ERR_STRLEN, "connect to %s: %s", peer,
		    strerror(errno));
	if (fd == -1 || !bound)
		return fd;
	/* TCP: the same -p again at once, over the last run's TIME_WAIT
	 * (nc.openbsd does not set it, and fails there). Not UDP: there it
	 * would let two sockets share the port and split its replies. */
	if (ai->ai_socktype == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
	if (bind(fd, src->ai_addr, src->ai_addrlen) == 0)
		return fd;
	net_format(src->ai_addr, src->ai_addrlen, local);
	snprintf(err, ERR_STRLEN, "bind to %s: %s", local, strerror(errno));
	close(fd);
	return -1;
}

/* One attempt at one address: a connected non-blocking socket, or -1
 * with err filled in. */
static int
connect_one(const struct config *cfg, const struct addrinfo *ai,
    const struct addrinfo *src, const char *peer, char *err)
{
	int fd;

	if ((fd = socket_from(cfg, ai, src, peer, err)) == -1)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
	    ((errno == EINPROGRESS || errno == EINTR) &&
	    finish_connect(fd, cfg->timeout_ms) == 0))
		return fd;
	snprintf(err, ERR_STRLEN, "connect to %s: %s", peer, strerror(errno));
	close(fd);
	return -1;
}

/* Every resolved address in turn; the first that connects wins. */
static int
connect_any(const struct config *cfg, char *peer, char *err)
{
	struct addrinfo *res, *ai, *src;
	int fd = -1, rc;

	if (resolve_source(cfg, &src, err) == -1)
		return -1;
	if ((rc = resolve(cfg, cfg->host, cfg->port, 0, &res)) != 0) {
		gai_failure(err, cfg->host, cfg->port, rc);
		res = NULL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		net_format(ai->ai_addr, ai->ai_addrlen, peer);
		if ((fd = connect_one(cfg, ai, src, peer, err)) != -1)
			break;
		if (cfg->verbose && ai->ai_next != NULL)
			report("%s", err);
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (src != NULL)
		freeaddrinfo(src);
	return fd;
}

/* -U: connect to the path, blocking, so that a stream connect to a full
 * backlog waits (for at most -w, through SO_SNDTIMEO) where a non-blocking
 * one would fail with EAGAIN; then non-blocking like the rest. A datagram
 * socket binds an autobind name first (addrlen: the family alone), so
 * that the server has an address to reply to. */
/* connect(2), again after EINTR: a signal can cut the wait for room in
 * the backlog. If it came only after the connection was made, a peer name
 * says so; connecting again would look the path up first, and a server
 * that has just taken its last client has removed it (ENOENT). */
static int
connect_unix_again(int fd, const struct sockaddr_un *sun, socklen_t len)
{
	struct sockaddr_un peer;
	socklen_t peerlen;
	int r;

	while ((r = connect(fd, (const struct sockaddr *)sun, len)) == -1 &&
	    errno == EINTR) {
		peerlen = sizeof(peer);
		if (getpeername(fd, (struct sockaddr *)&peer, &peerlen) == 0)
			return 0;
	}
	return r == -1 && errno == EISCONN ? 0 : r;
}

static int
connect_unix(const struct config *cfg, char *peer, char *err)
{
	struct sockaddr_un sun, autobind = { .sun_family = AF_UNIX };
	socklen_t len = unix_addr(cfg->unix_path, &sun);
	struct timeval tv = { 0, 0 };
	int fd, saved;

	snprintf(peer, ADDR_STRLEN, "%s", cfg->unix_path);
	if (cfg->timeout_ms >= 0) {
		tv.tv_sec = cfg->timeout_ms / 1000;
		tv.tv_usec = (cfg->timeout_ms % 1000) * 1000;
	}
	fd = socket(AF_UNIX, cfg->socktype | SOCK_CLOEXEC, 0);
	if (fd != -1 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) == 0 && (cfg->socktype != SOCK_DGRAM ||
	    bind(fd, (struct sockaddr *)&autobind, sizeof(sa_family_t)) == 0) &&
	    connect_unix_again(fd, &sun, len) == 0 && net_nonblock(fd) == 0)
		return fd;
	if (errno == EAGAIN && cfg->timeout_ms >= 0)
		errno = ETIMEDOUT;	/* SO_SNDTIMEO ran out */
	saved = errno;
	snprintf(err, ERR_STRLEN, "connect to %s: %s", peer, strerror(saved));
	if (fd != -1)
		close(fd);
	return -1;
}

int
net_connect(const struct config *cfg, char *peer, char *err)
{
	int64_t deadline = now_ms() + cfg->retry_ms;
	int fd, pause = 50;

	for (;;) {
		fd = cfg->unix_path != NULL ? connect_unix(cfg, peer, err) :
		    connect_any(cfg, peer, err);
		if (fd != -1)
			return fd;
		if (cfg->retry_ms == 0 || now_ms() >= deadline)
			return -1;
		verbose(cfg, "%s (retrying)", err);
		/* The server may not be up yet: try again soon, then less
		 * often, but never past the --retry deadline. */
		if (pause > deadline - now_ms())
			pause = (int)(deadline - now_ms());
		(void)poll(NULL, 0, pause > 0 ? pause : 0);
		pause = pause * 2 > 500 ? 500 : pause * 2;
	}
}

/* Write "PORT\n" to path atomically: a temporary file, then rename(2). */
static int
write_port_file(const char *path, unsigned port)
{
	char tmp[PATH_MAX], line[16];
	int fd, n, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -1;
	n = snprintf(line, sizeof(line), "%u\n", port);
	if (io_write_all(fd, line, (size_t)n) == -1 ||
	    fchmod(fd, 0644) == -1 || close(fd) == -1 ||
	    rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* A socket bound to addr; for TCP also listening. -1 with errno set. */
static int
bind_one(const struct config *cfg, const struct sockaddr *sa,
    socklen_t salen, int v6only)
{
	int fd, one = 1, saved;

	fd = new_socket(sa->sa_family, cfg->socktype, 0);
	if (fd == -1)
		return -1;
	/* SO_REUSEADDR lets a TCP server restart at once over TIME_WAIT;
	 * for UDP it would let a second server share the port, so not there.
	 * Never SO_REUSEPORT: a busy port must fail with "address in use". */
	if (cfg->socktype == SOCK_STREAM)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
	if (sa->sa_family == AF_INET6 && v6only >= 0)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	if (bind(fd, sa, salen) == 0 && (cfg->socktype != SOCK_STREAM ||
	    listen(fd, SOMAXCONN) == 0))
		return fd;
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* No ADDRESS: one socket for every address, IPv6 dual-stack if we can. */
static int
bind_wildcard(const struct config *cfg, unsigned port, char *local)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	int fd = -1;

	s6.sin6_addr = in6addr_any;
	s6.sin6_port = htons((uint16_t)port);
	s4.sin_addr.s_addr = htonl(INADDR_ANY);
	s4.sin_port = htons((uint16_t)port);
	if (cfg->family != AF_INET) {
		net_format((struct sockaddr *)&s6, sizeof(s6), local);
		fd = bind_one(cfg, (struct sockaddr *)&s6, sizeof(s6),
		    cfg->family == AF_INET6);
		if (fd != -1 || cfg->family == AF_INET6 ||
		    errno != EAFNOSUPPORT)
			return fd;
	}
	net_format((struct sockaddr *)&s4, sizeof(s4), local);
	return bind_one(cfg, (struct sockaddr *)&s4, sizeof(s4), -1);
}

/* The port as a number, resolving a service name the way getaddrinfo does. */
static int
port_number(const struct config *cfg, unsigned *port, char *err)
{
	struct addrinfo *res;
	int rc;

	if ((rc = resolve(cfg, NULL, cfg->port, AI_PASSIVE, &res)) != 0) {
		gai_failure(err, "*", cfg->port, rc);
		return -1;
	}
	if (res->ai_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)res->ai_addr)->sin6_port);
	else
		*port = ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port);
	freeaddrinfo(res);
	return 0;
}

/* ADDRESS given: the first of its addresses that binds. */
static int
bind_named(const struct config *cfg, char *local, char *err)
{
	struct addrinfo *res, *ai;
	int fd = -1, rc;

	if ((rc = resolve(cfg, cfg->host, cfg->port, AI_PASSIVE, &res)) != 0) {
		gai_failure(err, cfg->host, cfg->port, rc);
		return -1;
	}
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		net_format(ai->ai_addr, ai->ai_addrlen, local);
		fd = bind_one(cfg, ai->ai_addr, ai->ai_addrlen,
		    ai->ai_family == AF_INET6 ? 1 : -1);
	}
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(err, ERR_STRLEN, "listen on %s: %s", local,
		    strerror(errno));
	return fd;
}

/* Does a socket still hold the file at sun? A datagram connect tells
 * without disturbing anyone: refused when nothing is bound to it, a wrong
 * type for a live stream socket, and it connects to a live datagram one
 * (which sees nothing). Anything but "refused" counts as held. */
static bool
unix_held(const struct sockaddr_un *sun, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool held;

	if (fd == -1)
		return true;
	held = connect(fd, (const struct sockaddr *)sun, len) == 0 ||
	    errno != ECONNREFUSED;
	close(fd);
	return held;
}

void
net_unlink(void)
{
	struct stat st;

	if (bound_file.owner != getpid())
		return;
	bound_file.owner = 0;
	if (lstat(bound_file.path, &st) == 0 && st.st_dev == bound_file.dev &&
	    st.st_ino == bound_file.ino)
		(void)unlink(bound_file.path);
}

/* Remember the file we bound, for net_unlink at exit or a deadly signal. */
static void
own_file(const char *path)
{
	static bool hooked;
	struct stat st;

	if (path[0] == '@' || lstat(path, &st) == -1)
		return;
	snprintf(bound_file.path, sizeof(bound_file.path), "%s", path);
	bound_file.dev = st.st_dev;
	bound_file.ino = st.st_ino;
	bound_file.owner = getpid();
	if (!hooked) {
		hooked = true;
		(void)atexit(net_unlink);
		sig_undo_on_death(net_unlink);
	}
}

/* -U: bind (and for a stream listen) on the path. A socket file that no
 * socket holds is stale (its server died without removing it): remove it
 * and bind again, as daemons do. Any other file is left as it is. */
static int
listen_unix(const struct config *cfg, char *local, char *err)
{
	struct sockaddr_un sun;
	socklen_t len = unix_addr(cfg->unix_path, &sun);
	struct stat st;
	bool other = false;
	sigset_t deadly, was;
	int fd;

	/* A SIGTERM between bind and own_file would leave the file behind:
	 * it waits until the file is ours to remove. */
	sigemptyset(&deadly);
	sigaddset(&deadly, SIGINT);
	sigaddset(&deadly, SIGTERM);
	sigaddset(&deadly, SIGHUP);
	sigprocmask(SIG_BLOCK, &deadly, &was);
	snprintf(local, ADDR_STRLEN, "%s", cfg->unix_path);
	fd = bind_one(cfg, (struct sockaddr *)&sun, len, -1);
	if (fd == -1 && errno == EADDRINUSE && cfg->unix_path[0] != '@' &&
	    lstat(cfg->unix_path, &st) == 0) {
		other = !S_ISSOCK(st.st_mode);
		if (!other && !unix_held(&sun, len) &&
		    unlink(cfg->unix_path) == 0)
			fd = bind_one(cfg, (struct sockaddr *)&sun, len, -1);
		else
			errno = EADDRINUSE;
	}
	if (fd == -1)
		snprintf(err, ERR_STRLEN, "listen on %s: %s%s", local,
		    strerror(errno), other ? " (not a socket: left as it is)" :
		    "");
	else
		own_file(cfg->unix_path);
	sigprocmask(SIG_SETMASK, &was, NULL);
	return fd;
}

int
net_listen(const struct config *cfg, char *local, char *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	unsigned port;
	int fd;

	if (cfg->unix_path != NULL)
		return listen_unix(cfg, local, err);
	if (cfg->host != NULL)
		fd = bind_named(cfg, local, err);
	else if (port_number(cfg, &port, err) == -1)
		return -1;
	else if ((fd = bind_wildcard(cfg, port, local)) == -1)
		snprintf(err, ERR_STRLEN, "listen on %s: %s", local,
		    strerror(errno));
	if (fd == -1)
		return -1;
	/* Port 0: the kernel chose; say which. */
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
		net_format((struct sockaddr *)&ss, sslen, local);
	port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	if (cfg->port_file != NULL && write_port_file(cfg->port_file,
	    port) == -1) {
		snprintf(err, ERR_STRLEN, "write port file %s: %s",
		    cfg->port_file, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* A Unix stream client has no name, as a rule: call it by its pid. */
static void
unix_client(int fd, char *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	    cred.pid > 0)
		snprintf(peer, ADDR_STRLEN, "unix client pid %ld",
		    (long)cred.pid);
	else
		snprintf(peer, ADDR_STRLEN, "unix client");
}

int
net_accept(int lfd, struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd;

	do
		fd = accept4(lfd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd == -1 && errno == EINTR);
	if (fd == -1)
		return -1;
	c->sock = fd;
	net_format((struct sockaddr *)&ss, sslen, c->peer);
	if (ss.ss_family == AF_UNIX && sslen <= SUN_OFF)
		unix_client(fd, c->peer);
	return 0;
}
