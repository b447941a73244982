/*
 * hub.c: a stream stdin (pipe, terminal) shared by a server's clients.
 *
 * SPEC.md item 4: what arrives on a stream stdin is sent to the clients
 * connected at that moment. The hub reads one chunk, hands it to every
 * client through a pipe of the client's own (the pump reads that pipe as
 * its stdin), and reads the next chunk only when every client has taken
 * this one: memory stays one chunk, and a slow client sets the pace. A
 * client that takes nothing for HUB_STALL_MS while others wait for it is
 * stalled, not slow: it is dropped (said under -v), as the broker drops
 * one, so that it never stops the others. A client that has gone (EPIPE)
 * is dropped quietly. A dropped client's pipe is closed: its sending side
 * ends. When stdin ends, every pipe is closed, and clients that come later
 * get no stdin at all. The hub lives in one thread of one process.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define HUB_CHUNK	65536	/* one pipe's worth */
#define HUB_STALL_MS	2000	/* taking nothing this long, others waiting */

struct taker {
	int		 fd;		/* its pipe, write end */
	size_t		 sent;		/* how much of the chunk it has taken */
	int64_t		 took_at;	/* when it last took a byte */
	char		 peer[ADDR_STRLEN];
};

struct hub {
	const struct config *cfg;
	int		 in;
	bool		 eof;
	size_t		 len;		/* bytes in chunk, 0: none pending */
	char		 chunk[HUB_CHUNK];
	struct taker	*t;
	size_t		 n;
	size_t		 cap;
};

struct hub *
hub_new(const struct config *cfg, int in)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (h != NULL) {
		h->cfg = cfg;
		h->in = in;
	}
	return h;
}

bool
hub_open(const struct hub *h)
{
	return !h->eof;
}

int
hub_join(struct hub *h, const char *peer, int pipe_w)
{
	struct taker *t;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 16;

		if ((t = realloc(h->t, cap * sizeof(*t))) == NULL)
			return -1;
		h->t = t;
		h->cap = cap;
	}
	t = &h->t[h->n++];
	t->fd = pipe_w;
	t->sent = h->len;	/* not the chunk already under way */
	t->took_at = now_ms();
	snprintf(t->peer, sizeof(t->peer), "%s", peer);
	return 0;
}

static void
drop(struct hub *h, size_t i)
{
	close(h->t[i].fd);
	h->t[i] = h->t[--h->n];
}

void
hub_forget(struct hub *h)
{
	while (h->n > 0)
		drop(h, h->n - 1);
}

void
hub_free(struct hub *h)
{
	hub_forget(h);
	free(h->t);
	free(h);
}

size_t
hub_size(const struct hub *h)
{
	return h->n + 1;
}

int
hub_events(const struct hub *h, struct pollfd *pfd)
{
	size_t i;
	int k = 0;

	if (h->len == 0 && !h->eof && h->n > 0) {
		pfd[k].fd = h->in;
		pfd[k++].events = POLLIN;
	}
	for (i = 0; i < h->n; i++)
		if (h->t[i].sent < h->len) {
			pfd[k].fd = h->t[i].fd;
			pfd[k++].events = POLLOUT;
		}
	return k;
}

/* Is anyone held back: has some client taken the whole chunk? */
static bool
someone_waits(const struct hub *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->t[i].sent == h->len)
			return true;
	return false;
}

int
hub_timeout_ms(const struct hub *h)
{
	int64_t first = -1, now;
	size_t i;

	if (h->len == 0 || !someone_waits(h))
		return -1;
	for (i = 0; i < h->n; i++)
		if (h->t[i].sent < h->len &&
		    (first == -1 || h->t[i].took_at < first))
			first = h->t[i].took_at;
	now = now_ms();
	return first + HUB_STALL_MS <= now ? 0 :
	    (int)(first + HUB_STALL_MS - now);
}

/* Hand the chunk on; drop clients gone or stalled. True once every client
 * left has all of it. */
static bool
hand_out(struct hub *h, int64_t now)
{
	bool waits = someone_waits(h);
	struct taker *t;
	size_t i = 0;
	ssize_t w;

	while (i < h->n) {
		t = &h->t[i];
		if (t->sent < h->len) {
			w = io_write(t->fd, h->chunk + t->sent,
			    h->len - t->sent);
			if (w == -1) {		/* the client has gone */
				drop(h, i);
				continue;
			}
			if (w > 0) {
				t->sent += (size_t)w;
				t->took_at = now;
			} else if (waits && now - t->took_at >= HUB_STALL_MS) {
				verbose(h->cfg, "stdin: dropped %s: it takes "
				    "nothing while others wait", t->peer);
				drop(h, i);
				continue;
			}
		}
		i++;
	}
	for (i = 0; i < h->n; i++)
		if (h->t[i].sent < h->len)
			return false;
	return true;
}

void
hub_step(struct hub *h)
{
	int64_t now = now_ms();
	ssize_t r;
	size_t i;

	if (h->len > 0 && hand_out(h, now))
		h->len = 0;
	if (h->len > 0 || h->eof || h->n == 0)
		return;
	r = io_read(h->in, h->chunk, sizeof(h->chunk));
	if (r == IO_AGAIN)
		return;
	if (r <= 0) {			/* EOF, or an error: the same to us */
		if (r == -1)
			report("read from stdin:");
		h->eof = true;
		hub_forget(h);
		return;
	}
	h->len = (size_t)r;
	for (i = 0; i < h->n; i++) {
		h->t[i].sent = 0;
		h->t[i].took_at = now;	/* a new chunk: the clock starts */
	}
	if (hand_out(h, now))
		h->len = 0;
}
