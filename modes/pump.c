/*
 * pump.c: the byte pump. Two directions, each a bounded buffer between a
 * descriptor it reads and one it writes, moved by steps that never block;
 * a connection's pump, which applies the rules of SPEC.md item 2 to what
 * the steps report; and pump_run(), the small poll loop that drives one
 * connection. poll.c drives many with the same pump_advance().
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

/* A direction's buffer exists only while it holds bytes: 10,000 idle
 * connections then cost no buffer memory (see dir_fill, dir_step). */
static void
dir_init(struct dir *d, int from, int to)
{
	memset(d, 0, sizeof(*d));
	d->from = from;
	d->to = to;
	d->cap = PUMP_BUFSIZE;
	d->pipe[0] = d->pipe[1] = -1;
}

static enum step
dir_fail(struct dir *d, bool on_write)
{
	d->err = errno;
	d->err_on_write = on_write;
	return STEP_ERROR;
}

/* Read into the free tail of the buffer (our pipe, on PATH_VIA_PIPE):
 * true if bytes came. */
static int
dir_fill(struct dir *d)
{
	ssize_t n;

	if (d->eof || d->off + d->len == d->cap || d->pipe_full)
		return 0;
	/* No descriptors left for our pipe (EMFILE, a process at its
	 * limit): nothing is held yet, and copying needs none. */
	if (d->path == PATH_VIA_PIPE && zc_pipe(d) == -1)
		d->path = PATH_COPY;
	if (d->path == PATH_VIA_PIPE)
		n = zc_fill(d);
	else if (d->buf == NULL && (d->buf = malloc(d->cap)) == NULL)
		return -1;
	else if (d->positional)
		n = io_pread(d->from, d->buf + d->off + d->len,
		    d->cap - d->off - d->len, d->pos);
	else
		n = io_read(d->from, d->buf + d->off + d->len,
		    d->cap - d->off - d->len);
	if (n > 0 && d->positional)
		d->pos += n;
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
	if (d->to < 0)
		n = (ssize_t)d->len;
	else if (d->path == PATH_VIA_PIPE) {
		n = zc_drain(d);
		if (n == -1 && errno == EINVAL && zc_unpipe(d) == 0)
			return dir_drain(d);	/* to refuses splice */
	} else if (d->whole_chunks)
		n = io_write_chunk(d->to, d->buf + d->off, d->len,
		    d->cancel_fd);
	else
		n = io_write(d->to, d->buf + d->off, d->len);
	if (n == -1)
		return -1;
	if (n <= 0)
		return 0;
	d->moved += (uint64_t)n;
	d->len -= (size_t)n;
	d->off = d->len == 0 || d->path == PATH_VIA_PIPE ? 0 :
	    d->off + (size_t)n;	/* empty: start again at the front */
	return 1;
}

/* Nothing held: give the memory back. */
static void
dir_release(struct dir *d)
{
	if (d->len == 0) {
		free(d->buf);
		d->buf = NULL;
	}
}

/* Read, then write, a few rounds while bytes move. */
static enum step
dir_copy(struct dir *d)
{
	enum step step = STEP_WAIT;
	int round, got, put;

	for (round = 0; round < STEP_ROUNDS; round++) {
		if ((got = dir_fill(d)) == -1)
			return dir_fail(d, false);
		if ((put = dir_drain(d)) == -1)
			return dir_fail(d, true);
		if (d->eof && d->len == 0) {
			step = STEP_DONE;
			break;
		}
		if (!got && !put)
			break;
	}
	dir_release(d);
	return step;
}

enum step
dir_step(struct dir *d)
{
	enum step step;

	if (d->path != PATH_SENDFILE && d->path != PATH_SPLICE)
		return dir_copy(d);
	if ((step = zc_move(d)) == STEP_AGAIN)	/* fell back to copying */
		return dir_copy(d);
	return step;
}

/* What a direction waits for: POLLIN on from, POLLOUT on to. */
static bool
holds_nothing(const struct dir *d)
{
	return d->path == PATH_SENDFILE || d->path == PATH_SPLICE;
}

static short
want_from(const struct dir *d)
{
	if (d->done || d->eof)
		return 0;
	if (holds_nothing(d))
		return d->wait_from ? POLLIN : 0;
	return d->off + d->len < d->cap && !d->pipe_full ? POLLIN : 0;
}

static short
want_to(const struct dir *d)
{
	if (d->done)
		return 0;
	if (holds_nothing(d))
		return d->wait_to && !d->eof ? POLLOUT : 0;
	return d->len > 0 ? POLLOUT : 0;
}

int64_t
pump_events(const struct pump *p, struct pollfd pfd[4])
{
	int i;

	pfd[0].fd = p->up.from;
	pfd[0].events = want_from(&p->up);
	pfd[1].fd = p->c->sock;
	pfd[1].events = want_to(&p->up) | want_from(&p->down);
	pfd[2].fd = p->down.to;
	pfd[2].events = want_to(&p->down);
	if (p->down.to == p->c->sock) {		/* --echo */
		pfd[1].events |= pfd[2].events;
		pfd[2].events = 0;
	}
	if (p->down.to == p->up.from) {		/* --broker: one socketpair
						 * end; epoll takes an fd once */
		pfd[0].events |= pfd[2].events;
		pfd[2].events = 0;
	}
	pfd[3].fd = p->c->stop_fd;
	pfd[3].events = POLLIN;
	for (i = 0; i < 4; i++)
		if (pfd[i].events == 0 || pfd[i].fd < 0)
			pfd[i].fd = -1;
	return p->cfg->timeout_ms < 0 ? -1 : p->last + p->cfg->timeout_ms;
}

/* After an error, hand stdout what was already received, as far as it
 * will take it: nothing that arrived is lost. */
static void
flush_received(struct dir *down)
{
	if (down->len == 0 || down->to < 0 || down->shut_to)
		return;
	if (down->path == PATH_VIA_PIPE && zc_flush(down) == -1 &&
	    (errno != EINVAL || zc_unpipe(down) == -1))
		return;
	if (down->len > 0 && (down->whole_chunks ?
	    io_write_chunk(down->to, down->buf + down->off, down->len,
	    down->cancel_fd) != -1 :
	    io_write_all(down->to, down->buf + down->off, down->len) == 0)) {
		down->moved += down->len;
		down->len = 0;
	}
}

static const char *
conn_verb(const struct config *cfg)
{
	return cfg->role == ROLE_CLIENT ? "connection to" : "connection from";
}

/* A server's client errors are its own business: said only under -v. */
#define pump_report(p, ...) do {					\
	if (!(p)->c->quiet)						\
		report(__VA_ARGS__);					\
	else								\
		verbose((p)->cfg, __VA_ARGS__);				\
} while (0)

/* Report why a direction failed; the exit status is always 1. */
static int
pump_failed(struct pump *p, const struct dir *d)
{
	bool upward = d == &p->up;

	flush_received(&p->down);
	errno = d->err;
	if (upward && !d->err_on_write)
		pump_report(p, "read from stdin:");
	else if (!upward && d->err_on_write && !d->shut_to)
		pump_report(p, "write to stdout:");
	else if (upward && (d->err == EPIPE || d->err == ECONNRESET))
		pump_report(p, "%s %s: peer closed the connection before all "
		    "of stdin was sent", conn_verb(p->cfg), p->c->peer);
	else
		pump_report(p, "%s %s:", conn_verb(p->cfg), p->c->peer);
	return EXIT_RUNTIME;
}

int
pump_timed_out(struct pump *p)
{
	flush_received(&p->down);
	pump_report(p, "%s %s: timed out after %.3g s without data",
	    conn_verb(p->cfg), p->c->peer, p->cfg->timeout_ms / 1000.0);
	return EXIT_RUNTIME;
}

/* One direction's step, and what its end means for the connection. */
static void
advance(struct dir *d)
{
	if (d->done || d->err != 0 || dir_step(d) != STEP_DONE)
		return;
	d->done = true;
	if (d->shut_to)
		(void)shutdown(d->to, SHUT_WR);	/* the peer sees our EOF */
}

/* Has the session ended (SPEC.md item 2)? */
static bool
session_over(const struct pump *p)
{
	if (p->up.done && p->down.done)
		return true;
	if (p->down.done && p->tty_in)	/* a person at a keyboard */
		return true;
	return p->up.done && p->cfg->dirs == DIR_SEND_ONLY;
}

int
pump_advance(struct pump *p)
{
	uint64_t before = p->up.moved + p->down.moved;

	advance(&p->up);
	advance(&p->down);
	if (p->up.moved + p->down.moved != before)
		p->last = now_ms();
	if (p->down.err != 0)
		return pump_failed(p, &p->down);
	if (p->up.err != 0) {
		/* A failed send means a dead connection: what it still holds
		 * for us is received first, then we report. */
		p->up.done = true;
		if (!p->up.err_on_write || session_over(p))
			return pump_failed(p, &p->up);
	}
	return session_over(p) ? EXIT_OK : PUMP_RUNNING;
}

void
pump_init(struct pump *p, const struct config *cfg, const struct conn *c)
{
	memset(p, 0, sizeof(*p));
	p->cfg = cfg;
	p->c = c;
	p->tty_in = isatty(STDIN_FILENO);
	p->last = now_ms();
	p->start_us = cfg->stats ? now_us() : 0;
	dir_init(&p->up, c->in, c->sock);
	dir_init(&p->down, c->sock, c->out);
	p->up.shut_to = !cfg->no_shutdown;
	p->up.positional = c->in_positional;
	p->down.whole_chunks = c->out_shared;
	p->down.cancel_fd = c->stop_fd;
	if (cfg->echo) {		/* the peer's bytes go back to it */
		p->up.eof = p->up.done = true;
		p->down.to = c->sock;
		p->down.shut_to = true;
		p->down.whole_chunks = false;
	}
	if (c->broker)		/* the client's EOF tells the broker */
		p->down.shut_to = true;
	if (cfg->dirs == DIR_RECV_ONLY || c->in < 0)
		p->up.eof = true;	/* half-close at once */
	if (cfg->dirs == DIR_SEND_ONLY)
		p->down.to = -1;	/* read and discard, so no RST */
	zc_choose(&p->up);
	zc_choose(&p->down);
}

void
pump_free(struct pump *p)
{
	free(p->up.buf);
	free(p->down.buf);
	zc_free(&p->up);
	zc_free(&p->down);
	p->up.buf = p->down.buf = NULL;
}

/* When poll must return: the idle deadline (-w) or the meter's next
 * redraw, whichever comes first; -1 for neither. */
static int64_t
wake_at(const struct pump *p, int64_t idle)
{
	int64_t redraw = meter_due(p->meter);

	return redraw < 0 || (idle >= 0 && idle <= redraw) ? idle : redraw;
}

/* Wait for what p waits for; PUMP_RUNNING, or a status when it ends. */
static int
pump_wait(struct pump *p)
{
	struct pollfd pfd[4];
	int64_t idle = pump_events(p, pfd), wake = wake_at(p, idle), now;
	int r, wait;

	do {
		wait = -1;
		if (wake >= 0) {
			/* -w reads the clock; the meter alone makes do with
			 * the time bytes last moved: no call per chunk. */
			now = idle >= 0 ? now_ms() :
			    meter_clock(p->meter, p->last);
			if (idle >= 0 && idle <= now)
				return pump_timed_out(p);
			wait = wake > now ? (int)(wake - now) : 0;
		}
		r = poll(pfd, 4, wait);
	} while (r == -1 && errno == EINTR);
	if (r == -1) {
		report("poll:");
		return EXIT_RUNTIME;
	}
	if (r == 0 && meter_due(p->meter) >= 0)	/* nothing moved: redraw */
		meter_tick(p->meter, p->up.moved, p->down.moved, now_ms());
	if (pfd[3].revents != 0)
		return EXIT_OK;		/* the server is stopping */
	return PUMP_RUNNING;
}

void
pump_stats(const struct pump *p)
{
	struct tally t = { .sent = p->up.moved, .received = p->down.moved +
	    p->down.len, .start_us = p->start_us };

	if (!p->cfg->stats)
		return;
	if (p->cfg->echo)	/* what came back went out again */
		t.sent = p->down.moved;
	stats_report(p->c->peer, &t);
}

/* Once nothing more is sent, the socket's splices may wait in the kernel
 * for more (zcopy.c): this loop has nothing else to do meanwhile. Never in
 * poll.c, where one wait would hold up every connection. */
static void
let_reads_wait(struct pump *p)
{
	if (p->reads_wait || !p->up.done || p->down.done ||
	    (p->down.path != PATH_SPLICE && p->down.path != PATH_VIA_PIPE))
		return;
	zc_let_reads_wait(&p->down);
	p->reads_wait = true;
}

int
pump_run(const struct config *cfg, const struct conn *c)
{
	struct pump p;
	struct meter m;
	int status;

	pump_init(&p, cfg, c);
	meter_init(&m, cfg, c->in);
	p.meter = &m;
	while ((status = pump_advance(&p)) == PUMP_RUNNING) {
		if (m.on && p.last >= m.next)	/* bytes moved just now */
			meter_tick(&m, p.up.moved, p.down.moved, p.last);
		let_reads_wait(&p);
		if ((status = pump_wait(&p)) != PUMP_RUNNING)
			break;
	}
	meter_erase(&m);
	pump_stats(&p);
	pump_free(&p);
	return status;
}
