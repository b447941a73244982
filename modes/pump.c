/*
 * pump.c: the byte pump. Two directions, each a bounded buffer between a
 * descriptor it reads and one it writes, moved by steps that never block;
 * and pump_run(), the poll loop that drives one TCP connection to its end
 * by the rules of SPEC.md item 2.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

/* Rounds of read+write per step: enough to keep a fast pair busy, few
 * enough that one direction never starves the other. */
#define STEP_ROUNDS	4

void
dir_init(struct dir *d, int from, int to, char *buf, size_t cap)
{
	memset(d, 0, sizeof(*d));
	d->from = from;
	d->to = to;
	d->buf = buf;
	d->cap = cap;
}

static enum step
dir_fail(struct dir *d, bool on_write)
{
	d->err = errno;
	d->err_on_write = on_write;
	return STEP_ERROR;
}

/* Read into the free tail of the buffer: true if bytes came. */
static int
dir_fill(struct dir *d)
{
	ssize_t n;

	if (d->eof || d->off + d->len == d->cap)
		return 0;
	n = io_read(d->from, d->buf + d->off + d->len,
	    d->cap - d->off - d->len);
	if (n == 0)
		d->eof = true;
	if (n <= 0)
		return n == -1 ? -1 : 0;
	d->len += (size_t)n;
	return 1;
}

/* Write pending bytes (to < 0 discards them): true if bytes went. */
static int
dir_drain(struct dir *d)
{
	ssize_t n;

	if (d->len == 0)
		return 0;
	n = d->to < 0 ? (ssize_t)d->len :
	    io_write(d->to, d->buf + d->off, d->len);
	if (n == -1)
		return -1;
	if (n <= 0)
		return 0;
	d->moved += (uint64_t)n;
	d->off += (size_t)n;
	d->len -= (size_t)n;
	if (d->len == 0)
		d->off = 0;	/* empty: start again at the front */
	return 1;
}

enum step
dir_step(struct dir *d)
{
	int round, got, put;

	for (round = 0; round < STEP_ROUNDS; round++) {
		if ((got = dir_fill(d)) == -1)
			return dir_fail(d, false);
		if ((put = dir_drain(d)) == -1)
			return dir_fail(d, true);
		if (d->eof && d->len == 0)
			return STEP_DONE;
		if (!got && !put)
			break;
	}
	return STEP_WAIT;
}

/* What a direction waits for: POLLIN on from, POLLOUT on to. */
static short
want_from(const struct dir *d)
{
	return !d->done && !d->eof && d->off + d->len < d->cap ? POLLIN : 0;
}

static short
want_to(const struct dir *d)
{
	return !d->done && d->len > 0 ? POLLOUT : 0;
}

/* Poll the three descriptors of a connection until something is ready or
 * the idle bound passes; 0, or -1 with errno ETIMEDOUT. */
static int
pump_wait(const struct dir *up, const struct dir *down, int sock,
    int idle_ms, int64_t last)
{
	struct pollfd pfd[3];
	int i, wait, r;

	pfd[0].fd = up->from;
	pfd[0].events = want_from(up);
	pfd[1].fd = sock;
	pfd[1].events = want_to(up) | want_from(down);
	pfd[2].fd = down->to;
	pfd[2].events = want_to(down);
	for (i = 0; i < 3; i++)
		if (pfd[i].events == 0 || pfd[i].fd < 0)
			pfd[i].fd = -1;
	do {
		wait = -1;
		if (idle_ms >= 0) {
			wait = (int)(last + idle_ms - now_ms());
			if (wait <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
		}
		r = poll(pfd, 3, wait);
	} while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r == -1 ? -1 : 0;
}

/* After an error, hand stdout what was already received, as far as it
 * will take it: nothing that arrived is lost. */
static void
flush_received(struct dir *down)
{
	if (down->len > 0 && down->to >= 0 &&
	    io_write_all(down->to, down->buf + down->off, down->len) == 0)
		down->len = 0;
}

static const char *
conn_verb(const struct config *cfg)
{
	return cfg->role == ROLE_CLIENT ? "connection to" : "connection from";
}

/* Report why a direction failed; the exit status is always 1. */
static int
pump_failed(const struct config *cfg, const struct conn *c,
    const struct dir *d, bool upward)
{
	errno = d->err;
	if (upward && !d->err_on_write)
		report("read from stdin:");
	else if (!upward && d->err_on_write)
		report("write to stdout:");
	else if (upward && (d->err == EPIPE || d->err == ECONNRESET))
		report("%s %s: peer closed the connection before all of "
		    "stdin was sent", conn_verb(cfg), c->peer);
	else
		report("%s %s:", conn_verb(cfg), c->peer);
	return EXIT_RUNTIME;
}

/* One direction's step, and what its end means for the connection. */
static void
advance(const struct config *cfg, struct dir *d, int sock, bool upward)
{
	enum step s;

	if (d->done || d->err != 0)
		return;
	s = dir_step(d);
	if (s != STEP_DONE)
		return;
	d->done = true;
	if (upward && !cfg->no_shutdown)
		(void)shutdown(sock, SHUT_WR);	/* the peer sees our EOF */
}

/* Has the session ended (SPEC.md item 2)? */
static bool
session_over(const struct config *cfg, const struct dir *up,
    const struct dir *down, bool tty_in)
{
	if (up->done && down->done)
		return true;
	if (down->done && tty_in)	/* a person at a keyboard */
		return true;
	return up->done && cfg->dirs == DIR_SEND_ONLY;
}

static int
pump_loop(const struct config *cfg, const struct conn *c, struct dir *up,
    struct dir *down)
{
	bool tty_in = isatty(STDIN_FILENO);
	uint64_t before;
	int64_t last = now_ms();

	for (;;) {
		before = up->moved + down->moved;
		advance(cfg, up, c->sock, true);
		advance(cfg, down, c->sock, false);
		if (up->moved + down->moved != before)
			last = now_ms();
		if (down->err != 0) {
			if (!down->err_on_write)
				flush_received(down);
			return pump_failed(cfg, c, down, false);
		}
		if (up->err != 0) {
			/* A failed send means a dead connection: what it still
			 * holds for us is received first, then we report. */
			up->done = true;
			if (!up->err_on_write ||
			    session_over(cfg, up, down, tty_in)) {
				flush_received(down);
				return pump_failed(cfg, c, up, true);
			}
		}
		if (session_over(cfg, up, down, tty_in))
			return EXIT_OK;
		if (pump_wait(up, down, c->sock, cfg->timeout_ms, last) == -1) {
			flush_received(down);
			if (errno == ETIMEDOUT)
				report("%s %s: timed out after %.3g s without "
				    "data", conn_verb(cfg), c->peer,
				    cfg->timeout_ms / 1000.0);
			else
				report("poll:");
			return EXIT_RUNTIME;
		}
	}
}

int
pump_run(const struct config *cfg, struct conn *c)
{
	struct dir up, down;
	char *buf;
	int status;

	if ((buf = malloc(2 * PUMP_BUFSIZE)) == NULL) {
		report("pump buffers:");
		return EXIT_RUNTIME;
	}
	dir_init(&up, c->in, c->sock, buf, PUMP_BUFSIZE);
	dir_init(&down, c->sock, c->out, buf + PUMP_BUFSIZE, PUMP_BUFSIZE);
	if (cfg->dirs == DIR_RECV_ONLY)
		up.eof = true;		/* half-close at once */
	if (cfg->dirs == DIR_SEND_ONLY)
		down.to = -1;		/* read and discard, so no RST */
	status = pump_loop(cfg, c, &up, &down);
	free(buf);
	return status;
}
