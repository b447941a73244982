/*
 * udp.c: -u, client and server (SPEC.md item 3). Datagrams keep their
 * boundaries: one read from stdin is one datagram, one datagram received
 * is one write to stdout. No stream buffers here, only whole datagrams.
 *
 * UDP has no end-of-stream, so silence ends a session normally: a client
 * whose stdin has ended waits until no reply has come for the -w time
 * (1 s unset); with -w, that much silence also ends a server (exit 0).
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define UDP_PAYLOAD_MAX	65507	/* the largest UDP payload over IPv4 */
#define UDP_LINGER_MS	1000	/* client wait after stdin EOF, no -w */

struct udp {
	const struct config *cfg;
	int		 sock;
	int		 in;
	int		 out;
	bool		 in_eof;
	char		*buf;			/* one datagram */
	struct sockaddr_storage peer;		/* server: heard from last */
	socklen_t	 peerlen;		/* 0 until someone is heard */
	char		 name[ADDR_STRLEN];	/* the peer, for messages */
	long		 received;
	int64_t		 last;			/* when a datagram last moved */
};

/* Send one datagram whole, waiting if the socket buffer is full. */
static int
send_datagram(struct udp *u, const char *buf, size_t len)
{
	struct pollfd pfd = { .fd = u->sock, .events = POLLOUT };
	const struct sockaddr *sa = NULL;
	socklen_t salen = 0;
	ssize_t n;

	if (u->cfg->role == ROLE_SERVER) {
		sa = (const struct sockaddr *)&u->peer;
		salen = u->peerlen;
	}
	while ((n = io_sendto(u->sock, buf, len, sa, salen)) == IO_AGAIN)
		(void)poll(&pfd, 1, -1);
	if (n == -1)
		return -1;
	u->last = now_ms();
	return 0;
}

/* Errors that one vanished peer causes, which a server outlives. */
static bool
soft_error(void)
{
	return errno == ECONNREFUSED || errno == EHOSTUNREACH ||
	    errno == ENETUNREACH || errno == EPERM;
}

/* One read from stdin, sent as one datagram; at EOF only note it. */
static int
stdin_to_peer(struct udp *u)
{
	ssize_t n = io_read(u->in, u->buf, UDP_PAYLOAD_MAX);

	if (n == IO_AGAIN)
		return 0;
	if (n == -1)
		die(EXIT_RUNTIME, "read from stdin:");
	if (n == 0) {
		u->in_eof = true;
		u->last = now_ms();
		return 0;
	}
	return send_datagram(u, u->buf, (size_t)n);
}

/* Receive what is queued, each datagram one write to stdout. */
static int
peer_to_stdout(struct udp *u)
{
	struct sockaddr_storage from;
	socklen_t fromlen;
	ssize_t n;

	for (;;) {
		fromlen = sizeof(from);
		n = io_recvfrom(u->sock, u->buf, UDP_MAXDGRAM,
		    (struct sockaddr *)&from, &fromlen);
		if (n == IO_AGAIN)
			return 0;
		if (n == -1 && u->cfg->role == ROLE_SERVER && soft_error())
			continue;	/* one peer's ICMP; serve the others */
		if (n == -1)
			return -1;
		if (!access_check(u->cfg, (struct sockaddr *)&from, fromlen,
		    "dropped datagram from"))
			continue;	/* --allow, --deny: as if never sent */
		u->last = now_ms();
		if (io_write_all(u->out, u->buf, (size_t)n) == -1)
			die(EXIT_RUNTIME, "write to stdout:");
		if (u->cfg->role == ROLE_SERVER &&
		    (fromlen != u->peerlen || memcmp(&from, &u->peer,
		    fromlen) != 0)) {
			memcpy(&u->peer, &from, fromlen);
			u->peerlen = fromlen;
			net_format((struct sockaddr *)&from, fromlen, u->name);
			verbose(u->cfg, "datagram from %s", u->name);
		}
		if (u->cfg->echo && send_datagram(u, u->buf, (size_t)n) == -1)
			verbose(u->cfg, "echo to %s:", u->name);
		if (++u->received == u->cfg->count)
			return 1;
	}
}

/* How long silence may last now; -1 for no bound. */
static int
quiet_ms(const struct udp *u)
{
	if (u->cfg->role == ROLE_CLIENT && u->in_eof)
		return u->cfg->timeout_ms >= 0 ? u->cfg->timeout_ms :
		    UDP_LINGER_MS;
	return u->cfg->timeout_ms;
}

/* Wait for stdin or the socket; 1 when silence (or a stop) ends it. */
static int
udp_wait(struct udp *u, const sigset_t *waitmask, struct pollfd pfd[2])
{
	struct timespec ts, *tsp = NULL;
	int quiet = quiet_ms(u), left, r;

	pfd[0].fd = u->sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = u->in;
	pfd[1].events = POLLIN;
	/* A server has nobody to send stdin to until it hears someone. */
	if (u->in_eof || (u->cfg->role == ROLE_SERVER && u->peerlen == 0))
		pfd[1].fd = -1;
	if (quiet >= 0) {
		left = (int)(u->last + quiet - now_ms());
		if (left <= 0)
			return 1;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		tsp = &ts;
	}
	r = ppoll(pfd, 2, tsp, waitmask);
	if (r == -1 && errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	if (r == -1)
		pfd[0].revents = pfd[1].revents = 0;
	return sig_stopping() ? 1 : 0;
}

static int
udp_loop(struct udp *u, const sigset_t *waitmask)
{
	struct pollfd pfd[2];
	int r;

	u->last = now_ms();
	while (udp_wait(u, waitmask, pfd) == 0) {
		if (pfd[0].revents != 0) {
			if ((r = peer_to_stdout(u)) == 1)
				return EXIT_OK;
			if (r == -1)
				die(EXIT_RUNTIME, "connection to %s:", u->name);
		}
		if (pfd[1].revents == 0 || stdin_to_peer(u) == 0)
			continue;
		if (u->cfg->role == ROLE_CLIENT || !soft_error())
			die(EXIT_RUNTIME, "send to %s:", u->name);
		verbose(u->cfg, "send to %s:", u->name);
	}
	return EXIT_OK;
}

static int
udp_run(struct udp *u, const sigset_t *waitmask)
{
	int status;

	if (io_stdio_nonblock(&u->in, &u->out) == -1)
		die(EXIT_RUNTIME, "standard input or output:");
	if ((u->buf = malloc(UDP_MAXDGRAM)) == NULL)
		die(EXIT_RUNTIME, "datagram buffer:");
	status = udp_loop(u, waitmask);
	free(u->buf);
	close(u->sock);
	return status;
}

int
run_udp_client(const struct config *cfg)
{
	struct udp u = { .cfg = cfg };
	char err[ERR_STRLEN];
	sigset_t waitmask;

	/* connect(2) on UDP: replies only from the server, and ICMP "port
	 * unreachable" comes back as ECONNREFUSED: nobody listening is an
	 * error, not silence. */
	if ((u.sock = net_connect(cfg, u.name, err)) == -1)
		die(EXIT_RUNTIME, "%s", err);
	sigprocmask(SIG_SETMASK, NULL, &waitmask);
	return udp_run(&u, &waitmask);
}

int
run_udp_server(const struct config *cfg)
{
	struct udp u = { .cfg = cfg };
	char err[ERR_STRLEN];
	sigset_t waitmask;

	sig_catch_stop(&waitmask);
	if ((u.sock = net_listen(cfg, u.name, err)) == -1)
		die(EXIT_RUNTIME, "%s", err);
	verbose(cfg, "listening on %s", u.name);
	return udp_run(&u, &waitmask);
}
