/*
 * udp.c: -u, client and server (SPEC.md item 3). Datagrams keep their
 * boundaries: one read from stdin is one datagram, one datagram received
 * is one write to stdout. No stream buffers here, only whole datagrams.
 * They move in batches (sendmmsg, recvmmsg): up to UDP_BATCH reads from
 * stdin, each a datagram of its own, go out in one call, and one call
 * takes what has queued; a batch costs one poll, not one per datagram.
 *
 * UDP has no end-of-stream, so silence ends a session normally: a client
 * whose stdin has ended waits until no reply has come for the -w time
 * (1 s unset); with -w, that much silence also ends a server (exit 0).
 * A Unix datagram socket (-u -U) works the same: the client binds an
 * autobind name so that the server's replies have somewhere to go.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define UDP_PAYLOAD_MAX	65507	/* the largest UDP payload over IPv4 */
#define UDP_LINGER_MS	1000	/* client wait after stdin EOF, no -w */
#define UDP_BATCH	16	/* datagrams per sendmmsg or recvmmsg */

struct udp {
	const struct config *cfg;
	int		 sock;
	int		 in;
	int		 out;
	bool		 in_eof;
	char		*buf;			/* UDP_BATCH datagrams */
	struct mmsghdr	 msg[UDP_BATCH];
	struct iovec	 iov[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	struct sockaddr_storage peer;		/* server: heard from last */
	socklen_t	 peerlen;		/* 0 until someone is heard */
	char		 name[ADDR_STRLEN];	/* the peer, for messages */
	long		 received;
	int64_t		 last;			/* when a datagram last moved */
	struct tally	 tally;			/* --stats */
	struct meter	 meter;			/* --progress */
};

/* --stats: the run under way. die() ends a UDP run from deep in the loop,
 * and the line must still follow its error line: exit(3) prints it then;
 * a run that returns prints its own. */
static struct udp *stats_run;

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
	u->tally.sent += (uint64_t)n;
	u->tally.sent_dgrams++;
	u->last = now_ms();
	return 0;
}

/* Errors that one vanished peer causes, which a server outlives. */
static bool
soft_error(void)
{
	return errno == ECONNREFUSED || errno == EHOSTUNREACH ||
	    errno == ENETUNREACH || errno == EPERM ||
	    errno == ENOENT;	/* a Unix datagram peer's file is gone */
}

static char *
slot(const struct udp *u, unsigned i)
{
	return u->buf + (size_t)i * UDP_MAXDGRAM;
}

/* The first k datagrams read, in one sendmmsg where the socket takes
 * them; a server drops one that its peer's ICMP refuses, and goes on. */
static int
send_batch(struct udp *u, unsigned k)
{
	struct pollfd pfd = { .fd = u->sock, .events = POLLOUT };
	bool server = u->cfg->role == ROLE_SERVER;
	unsigned i, sent = 0;
	int n;

	if (k == 0)
		return 0;
	for (i = 0; i < k; i++) {
		memset(&u->msg[i].msg_hdr, 0, sizeof(u->msg[i].msg_hdr));
		u->msg[i].msg_hdr.msg_name = server ? &u->peer : NULL;
		u->msg[i].msg_hdr.msg_namelen = server ? u->peerlen : 0;
		u->msg[i].msg_hdr.msg_iov = &u->iov[i];
		u->msg[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < k) {
		n = io_sendmmsg(u->sock, u->msg + sent, k - sent);
		if (n == IO_AGAIN)
			(void)poll(&pfd, 1, -1);
		else if (n == -1 && server && soft_error()) {
			verbose(u->cfg, "send to %s:", u->name);
			sent++;
		} else if (n == -1)
			return -1;
		else {
			for (i = sent; i < sent + (unsigned)n; i++)
				u->tally.sent += u->iov[i].iov_len;
			u->tally.sent_dgrams += (unsigned)n;
			sent += (unsigned)n;
		}
	}
	u->last = now_ms();
	return 0;
}

/* Read stdin until it would block, ends or fills the batch, each read one
 * datagram, and send them; at EOF only note it. */
static int
stdin_to_peer(struct udp *u)
{
	unsigned k = 0;
	ssize_t n = 0;

	while (k < UDP_BATCH && !u->in_eof) {
		n = io_read(u->in, slot(u, k), UDP_PAYLOAD_MAX);
		if (n == IO_AGAIN || n == -1)
			break;
		if (n == 0) {
			u->in_eof = true;
			u->last = now_ms();
			break;
		}
		u->iov[k].iov_base = slot(u, k);
		u->iov[k++].iov_len = (size_t)n;
	}
	if (send_batch(u, k) == -1)
		return -1;
	if (n == -1)	/* what was read before the error went first */
		die(EXIT_RUNTIME, "read from stdin:");
	return 0;
}

/* Can a reply reach the sender? Not a Unix datagram socket that never
 * bound a name (socat's UNIX-SENDTO, for one): recvmmsg gives it no
 * address at all (length 0), where every IP sender has one. */
static bool
answerable(socklen_t salen)
{
	return salen > sizeof(sa_family_t);
}

/* One datagram received from sa: to stdout, echoed; 1 once --count is
 * reached. */
static int
take_datagram(struct udp *u, const char *buf, size_t len,
    const struct sockaddr *sa, socklen_t salen)
{
	if (!access_check(u->cfg, sa, salen, "dropped datagram from"))
		return 0;	/* --allow, --deny: as if never sent */
	u->last = now_ms();
	u->tally.received += len;
	u->tally.recv_dgrams++;
	if (io_write_all(u->out, buf, len) == -1)
		die(EXIT_RUNTIME, "write to stdout:");
	if (u->cfg->role == ROLE_SERVER && !answerable(salen)) {
		verbose(u->cfg, "datagram from an unnamed unix socket: "
		    "no reply can reach it");
		return ++u->received == u->cfg->count;
	}
	if (u->cfg->role == ROLE_SERVER &&
	    (salen != u->peerlen || memcmp(sa, &u->peer, salen) != 0)) {
		memcpy(&u->peer, sa, salen);
		u->peerlen = salen;
		net_format(sa, salen, u->name);
		verbose(u->cfg, "datagram from %s", u->name);
	}
	if (u->cfg->echo && send_datagram(u, buf, len) == -1)
		verbose(u->cfg, "echo to %s:", u->name);
	return ++u->received == u->cfg->count;
}

/* Receive what is queued, a batch at a time, each datagram one write to
 * stdout. */
static int
peer_to_stdout(struct udp *u)
{
	unsigned i;
	int n;

	for (;;) {
		for (i = 0; i < UDP_BATCH; i++) {
			u->iov[i].iov_base = slot(u, i);
			u->iov[i].iov_len = UDP_MAXDGRAM;
			memset(&u->msg[i].msg_hdr, 0,
			    sizeof(u->msg[i].msg_hdr));
			u->msg[i].msg_hdr.msg_name = &u->from[i];
			u->msg[i].msg_hdr.msg_namelen = sizeof(u->from[i]);
			u->msg[i].msg_hdr.msg_iov = &u->iov[i];
			u->msg[i].msg_hdr.msg_iovlen = 1;
		}
		n = io_recvmmsg(u->sock, u->msg, UDP_BATCH);
		if (n == IO_AGAIN)
			return 0;
		if (n == -1 && u->cfg->role == ROLE_SERVER && soft_error())
			continue;	/* one peer's ICMP; serve the others */
		if (n == -1)
			return -1;
		for (i = 0; i < (unsigned)n; i++)
			if (take_datagram(u, slot(u, i), u->msg[i].msg_len,
			    (struct sockaddr *)&u->from[i],
			    u->msg[i].msg_hdr.msg_namelen))
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

/* Wait for stdin or the socket; 1 when silence (or a stop) ends it. A
 * --progress meter due sooner than the silence bound wakes it to redraw. */
static int
udp_wait(struct udp *u, const sigset_t *waitmask, struct pollfd pfd[2])
{
	struct timespec ts, *tsp = NULL;
	int quiet = quiet_ms(u), left, r;
	int64_t now = now_ms(), redraw = meter_due(&u->meter);

	pfd[0].fd = u->sock;
	pfd[0].events = POLLIN;
	pfd[1].fd = u->in;
	pfd[1].events = POLLIN;
	/* A server has nobody to send stdin to until it hears someone. */
	if (u->in_eof || (u->cfg->role == ROLE_SERVER && u->peerlen == 0))
		pfd[1].fd = -1;
	if (quiet >= 0 && u->last + quiet <= now)
		return 1;
	if (quiet >= 0 || redraw >= 0) {
		left = quiet >= 0 ? (int)(u->last + quiet - now) : INT_MAX;
		if (redraw >= 0 && redraw - now < left)
			left = redraw > now ? (int)(redraw - now) : 0;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		tsp = &ts;
	}
	r = ppoll(pfd, 2, tsp, waitmask);
	if (r == -1 && errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	if (r == -1)
		pfd[0].revents = pfd[1].revents = 0;
	if (u->meter.on)
		meter_tick(&u->meter, u->tally.sent, u->tally.received,
		    now_ms());
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

static void
print_stats(void)
{
	if (stats_run != NULL)
		stats_report(stats_run->name, &stats_run->tally);
	stats_run = NULL;
}

static int
udp_run(struct udp *u, const sigset_t *waitmask)
{
	int status;

	if (io_stdio_nonblock(&u->in, &u->out, false) == -1)
		die(EXIT_RUNTIME, "standard input or output:");
	if ((u->buf = malloc((size_t)UDP_BATCH * UDP_MAXDGRAM)) == NULL)
		die(EXIT_RUNTIME, "datagram buffer:");
	u->tally.datagrams = true;
	u->tally.start_us = now_us();
	meter_init(&u->meter, u->cfg, u->in);
	if (u->cfg->stats) {
		stats_run = u;
		atexit(print_stats);
	}
	status = udp_loop(u, waitmask);
	meter_erase(&u->meter);
	print_stats();
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
