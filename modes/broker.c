/*
 * broker.c: --broker. What each client sends reaches every other client
 * connected at the time (a chat), never its sender.
 *
 * Each client's worker (thread, child, or pump in the poll loop) relays
 * between its socket and its end of a socketpair; the broker, in the
 * server's main loop, holds the other ends. It reads a chunk from one
 * member and appends it whole to the queue of every other member, so no
 * chunk is split by another. Queues are bounded: the broker reads from a
 * member only while every other one has room for a chunk, so a fast sender
 * goes at the pace of the readers; and a member whose queue stays above
 * half the bound for BROKER_STALL_MS is dropped (said under -v), so one
 * stalled client neither holds the others hostage nor makes the server
 * buffer without limit.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define BROKER_CHUNK		65536
#define BROKER_QUEUE_MAX	(256 * 1024)
#define BROKER_STALL_MS		2000

struct member {
	int		 fd;
	char		*q;		/* bytes for it: q[off .. off+len) */
	size_t		 off;
	size_t		 len;
	int64_t		 full_since;	/* 0, or since its queue is full */
	char		 peer[ADDR_STRLEN];
};

struct broker {
	const struct config *cfg;
	struct member	*m;
	size_t		 n;
	size_t		 cap;
	char		 chunk[BROKER_CHUNK];
};

struct broker *
broker_new(const struct config *cfg)
{
	struct broker *b = calloc(1, sizeof(*b));

	if (b != NULL)
		b->cfg = cfg;
	return b;
}

size_t
broker_size(const struct broker *b)
{
	return b->n;
}

int
broker_join(struct broker *b, int fd, const char *peer)
{
	struct member *m;
	size_t cap;

	if (b->n == b->cap) {
		cap = b->cap ? 2 * b->cap : 16;
		if ((m = realloc(b->m, cap * sizeof(*m))) == NULL)
			return -1;
		b->m = m;
		b->cap = cap;
	}
	m = &b->m[b->n++];
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	memcpy(m->peer, peer, sizeof(m->peer));
	return 0;
}

static void
leave(struct broker *b, size_t i)
{
	close(b->m[i].fd);	/* its worker sees EOF, ends the session */
	free(b->m[i].q);
	b->m[i] = b->m[--b->n];
}

void
broker_forget(struct broker *b)
{
	while (b->n > 0)
		leave(b, b->n - 1);
}

void
broker_free(struct broker *b)
{
	broker_forget(b);
	free(b->m);
	free(b);
}

static bool
has_room(const struct member *m)
{
	return m->len + BROKER_CHUNK <= BROKER_QUEUE_MAX;
}

/* May member i be read: has every other one room for what it sends? */
static bool
may_read(const struct broker *b, size_t i)
{
	size_t j;

	for (j = 0; j < b->n; j++)
		if (j != i && !has_room(&b->m[j]))
			return false;
	return true;
}

int
broker_events(const struct broker *b, struct pollfd *pfd)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		pfd[i].fd = b->m[i].fd;
		pfd[i].events = (may_read(b, i) ? POLLIN : 0) |
		    (b->m[i].len > 0 ? POLLOUT : 0);
	}
	return (int)b->n;
}

int
broker_timeout_ms(const struct broker *b)
{
	int64_t left, least = -1;
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->m[i].full_since != 0) {
			left = b->m[i].full_since + BROKER_STALL_MS - now_ms();
			if (least < 0 || left < least)
				least = left > 0 ? left : 0;
		}
	return (int)least;
}

/* Queue len bytes for m (may_read saw to its room); false if out of
 * memory. */
static bool
enqueue(struct member *m, const char *buf, size_t len)
{
	char *q;

	if (m->off > 0) {		/* room at the front: use it first */
		memmove(m->q, m->q + m->off, m->len);
		m->off = 0;
	}
	if ((q = realloc(m->q, m->len + len)) == NULL)
		return false;
	m->q = q;
	memcpy(m->q + m->len, buf, len);
	m->len += len;
	return true;
}

/* Send what m's socket takes now; false if m has gone. */
static bool
flush(struct member *m)
{
	ssize_t n;

	if (m->len == 0)
		return true;
	n = io_write(m->fd, m->q + m->off, m->len);
	if (n == -1)
		return false;
	if (n > 0) {
		m->off += (size_t)n;
		m->len -= (size_t)n;
	}
	if (m->len == 0)
		m->off = 0;
	return true;
}

/* One chunk from member i to every other one; false if i has left. */
static bool
relay_from(struct broker *b, size_t i)
{
	ssize_t n = io_read(b->m[i].fd, b->chunk, sizeof(b->chunk));
	size_t j;

	if (n == IO_AGAIN)
		return true;
	if (n <= 0)
		return false;
	for (j = 0; j < b->n; j++)
		if (j != i && !enqueue(&b->m[j], b->chunk, (size_t)n))
			shutdown(b->m[j].fd, SHUT_RDWR);	/* no memory */
	return true;
}

/* Is member m stalled: its queue above half the bound for too long? */
static bool
stalled(struct member *m, int64_t now)
{
	if (m->len <= BROKER_QUEUE_MAX / 2) {
		m->full_since = 0;
		return false;
	}
	if (m->full_since == 0)
		m->full_since = now;
	return now - m->full_since >= BROKER_STALL_MS;
}

void
broker_step(struct broker *b)
{
	int64_t now = now_ms();
	size_t i;

	for (i = b->n; i-- > 0;)
		if (may_read(b, i) && !relay_from(b, i))
			leave(b, i);
	for (i = b->n; i-- > 0;) {
		if (!flush(&b->m[i]))
			leave(b, i);
		else if (stalled(&b->m[i], now)) {
			verbose(b->cfg, "broker: dropped %s: it reads too "
			    "slowly", b->m[i].peer);
			leave(b, i);
		}
	}
}
