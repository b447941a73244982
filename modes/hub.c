/*
 * hub.c: a stream stdin (pipe, terminal) shared by a server's clients.
 *
 * SPEC.md item 4: what arrives on a stream stdin is sent to the clients
 * connected at that moment. The hub reads one chunk, hands it to every
 * client through a pipe of the client's own (the pump reads that pipe as
 * its stdin), and reads the next chunk only when every client has taken
 * this one: the slowest client sets the pace, and memory stays one chunk.
 * A client that has gone (EPIPE) is dropped quietly. When stdin ends, every
 * pipe is closed, so each client's sending side ends, and clients that come
 * later get no stdin at all. The hub lives in one thread of one process.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "nsock.h"

#define HUB_CHUNK	65536	/* one pipe's worth */

struct hub {
	int		 in;
	bool		 eof;
	size_t		 len;		/* bytes in chunk, 0: none pending */
	char		 chunk[HUB_CHUNK];
	int		*fd;		/* each client's pipe, write end */
	size_t		*sent;		/* how much of chunk it has taken */
	size_t		 n;
	size_t		 cap;
};

struct hub *
hub_new(int in)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (h != NULL)
		h->in = in;
	return h;
}

int
hub_join(struct hub *h)
{
	int p[2];
	size_t cap;

	errno = 0;
	if (h->eof)
		return -1;
	if (h->n == h->cap) {
		cap = h->cap ? 2 * h->cap : 16;
		int *fd = realloc(h->fd, cap * sizeof(*fd));
		if (fd != NULL)
			h->fd = fd;
		size_t *sent = realloc(h->sent, cap * sizeof(*sent));
		if (sent != NULL)
			h->sent = sent;
		if (fd == NULL || sent == NULL)
			return -1;
		h->cap = cap;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	h->fd[h->n] = p[1];
	h->sent[h->n] = h->len;	/* not the chunk already under way */
	h->n++;
	return p[0];
}

static void
drop(struct hub *h, size_t i)
{
	close(h->fd[i]);
	h->n--;
	h->fd[i] = h->fd[h->n];
	h->sent[i] = h->sent[h->n];
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
	free(h->fd);
	free(h->sent);
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
		if (h->sent[i] < h->len) {
			pfd[k].fd = h->fd[i];
			pfd[k++].events = POLLOUT;
		}
	return k;
}

/* Hand the chunk on; true once every client has all of it. */
static bool
hand_out(struct hub *h)
{
	size_t i = 0;
	ssize_t w;
	bool all = true;

	while (i < h->n) {
		if (h->sent[i] < h->len) {
			w = io_write(h->fd[i], h->chunk + h->sent[i],
			    h->len - h->sent[i]);
			if (w == -1) {		/* the client has gone */
				drop(h, i);
				continue;
			}
			if (w > 0)
				h->sent[i] += (size_t)w;
		}
		all = all && h->sent[i] == h->len;
		i++;
	}
	return all;
}

void
hub_step(struct hub *h)
{
	ssize_t r;
	size_t i;

	if (h->len > 0 && hand_out(h))
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
	for (i = 0; i < h->n; i++)
		h->sent[i] = 0;
	if (hand_out(h))
		h->len = 0;
}
