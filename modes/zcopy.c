/*
 * zcopy.c: the kernel-side paths of a direction, so bytes need not be
 * copied into nsock and out again. zc_choose picks one from what the two
 * descriptors are:
 *
 *   regular file -> socket     sendfile(2)           PATH_SENDFILE
 *   pipe -> socket             splice(2)             PATH_SPLICE
 *   socket -> pipe             splice(2)             PATH_SPLICE
 *   socket -> file, /dev/null  splice(2) twice,      PATH_VIA_PIPE
 *                              through a pipe of ours
 *   anything else              read(2) and write(2)  PATH_COPY
 *
 * The first two hold nothing: a move goes from one descriptor straight to
 * the other, and when it would block, a zero-timeout poll says which side
 * to wait for. PATH_VIA_PIPE holds bytes as PATH_COPY does, in the pipe
 * instead of a buffer, so pump.c's fill and drain steps drive it. Where
 * the kernel refuses a path (EINVAL: a file system without splice, an
 * O_APPEND file), or no descriptor is left for our pipe (pump.c), the
 * direction falls back to copying, losing nothing.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "nsock.h"

#define MOVE_MAX	(1024 * 1024)	/* per sendfile or splice call; our pipe */
#define READ_WAIT_MS	50		/* zc_let_reads_wait: at most, a call */

static bool
is_dev_null(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == makedev(1, 3);
}

/* Can to take splice(2) from our pipe? Files opened O_APPEND cannot. */
static bool
takes_splice(int to, const struct stat *st)
{
	int flags = fcntl(to, F_GETFL);

	return (S_ISREG(st->st_mode) && flags != -1 &&
	    (flags & O_APPEND) == 0) || is_dev_null(st);
}

void
zc_choose(struct dir *d)
{
	struct stat from, to;

	d->path = PATH_COPY;
	if (d->whole_chunks || d->eof || d->from < 0 || d->to < 0 ||
	    fstat(d->from, &from) == -1 || fstat(d->to, &to) == -1)
		return;
	if (S_ISREG(from.st_mode) && S_ISSOCK(to.st_mode))
		d->path = PATH_SENDFILE;
	else if ((S_ISFIFO(from.st_mode) && S_ISSOCK(to.st_mode)) ||
	    (S_ISSOCK(from.st_mode) && S_ISFIFO(to.st_mode)))
		d->path = PATH_SPLICE;
	else if (S_ISSOCK(from.st_mode) && takes_splice(d->to, &to))
		d->path = PATH_VIA_PIPE;
	d->wait_from = d->wait_to = true;	/* until a move says */
}

/* A move would block: find which side, so that poll waits for it. */
static void
find_blocked(struct dir *d)
{
	struct pollfd pfd[2] = {
		{ .fd = d->from, .events = POLLIN },
		{ .fd = d->to, .events = POLLOUT },
	};

	d->wait_from = false;
	d->wait_to = true;
	if (d->path == PATH_SENDFILE)	/* a file is always readable */
		return;
	(void)poll(pfd, 2, 0);
	d->wait_from = pfd[0].revents == 0;
	d->wait_to = pfd[1].revents == 0;
	if (!d->wait_from && !d->wait_to)	/* both ready now: poll will
						 * not sleep */
		d->wait_from = d->wait_to = true;
}

/* Which side failed: a pipe or socket we write to says EPIPE; a socket we
 * read from says ECONNRESET and the like; a file we read says EIO; else
 * the socket we send to (pipes we read from do not fail). */
static bool
failed_on_write(const struct dir *d, int err)
{
	struct stat st;

	if (err == EPIPE)
		return true;
	if (d->path == PATH_SENDFILE)	/* the file fails only to read */
		return err != EIO && err != EOVERFLOW;
	return !(fstat(d->from, &st) == 0 && S_ISSOCK(st.st_mode));
}

enum step
zc_move(struct dir *d)
{
	ssize_t n;
	int round;

	for (round = 0; round < 4; round++) {
		if (d->path == PATH_SENDFILE)
			n = io_sendfile(d->to, d->from,
			    d->positional ? &d->pos : NULL, MOVE_MAX);
		else
			n = io_splice(d->from, d->to, MOVE_MAX);
		if (n == 0) {
			d->eof = true;
			return STEP_DONE;
		}
		if (n == IO_AGAIN) {
			find_blocked(d);
			return STEP_WAIT;
		}
		if (n == -1 && (errno == EINVAL || errno == ENOSYS ||
		    errno == EOPNOTSUPP)) {
			d->path = PATH_COPY;	/* nothing held: just switch */
			return STEP_AGAIN;
		}
		if (n == -1) {
			d->err = errno;
			d->err_on_write = failed_on_write(d, errno);
			return STEP_ERROR;
		}
		d->moved += (uint64_t)n;
	}
	d->wait_from = d->wait_to = true;	/* busy: come back soon */
	return STEP_WAIT;
}

/*
 * A splice from a non-blocking TCP socket returns after one pass over
 * what has queued; from a blocking one it goes on, taking in what arrives
 * meanwhile, until its length is met. Where the socket is all the pump
 * reads, that was most of the gap between nsock and the splice reference
 * receiving a piped transfer on loopback: 1.6 GB/s became 2.3 (the
 * reference: 2.6), and the sender's CPU time halved (tests/bench).
 * Each wait is bounded by SO_RCVTIMEO, so -w, the stop pipe and signals
 * are seen as before; our pipe and stdout stay non-blocking, so a full
 * one ends the call. Best effort: on a failure the socket stays as it
 * was.
 */
void
zc_let_reads_wait(struct dir *d)
{
	struct timeval tv = { .tv_usec = READ_WAIT_MS * 1000 };
	int flags = fcntl(d->from, F_GETFL);

	if (flags != -1 && setsockopt(d->from, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof(tv)) == 0)
		(void)fcntl(d->from, F_SETFL, flags & ~O_NONBLOCK);
}

/* Our pipe: 1 MiB, what one splice call moves. */
int
zc_pipe(struct dir *d)
{
	int size;

	if (d->pipe[0] != -1)
		return 0;
	if (pipe2(d->pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	(void)fcntl(d->pipe[1], F_SETPIPE_SZ, MOVE_MAX);
	if ((size = fcntl(d->pipe[1], F_GETPIPE_SZ)) > 0)
		d->cap = (size_t)size;
	return 0;
}

ssize_t
zc_fill(struct dir *d)
{
	ssize_t n;

	if (zc_pipe(d) == -1)
		return -1;
	n = io_splice(d->from, d->pipe[1], d->cap - d->len);
	/* Bytes held, yet no room: the pipe counts pages, not bytes. */
	if (n == IO_AGAIN && d->len > 0)
		d->pipe_full = true;
	return n;
}

ssize_t
zc_drain(struct dir *d)
{
	ssize_t n = io_splice(d->pipe[0], d->to, d->len);

	if (n > 0)
		d->pipe_full = false;
	return n;
}

int
zc_unpipe(struct dir *d)
{
	size_t got = 0;
	ssize_t n;

	d->cap = d->len > PUMP_BUFSIZE ? d->len : PUMP_BUFSIZE;
	if (d->len > 0 && (d->buf = malloc(d->cap)) == NULL)
		return -1;
	while (got < d->len) {		/* all there: the pipe is ours */
		if ((n = io_read(d->pipe[0], d->buf + got, d->len - got)) <= 0)
			return -1;
		got += (size_t)n;
	}
	zc_free(d);
	d->path = PATH_COPY;
	d->off = 0;
	d->pipe_full = false;
	return 0;
}

int
zc_flush(struct dir *d)
{
	struct pollfd pfd = { .fd = d->to, .events = POLLOUT };
	ssize_t n;

	while (d->len > 0) {
		if ((n = zc_drain(d)) == IO_AGAIN) {
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		d->len -= (size_t)n;
	}
	return 0;
}

void
zc_free(struct dir *d)
{
	if (d->pipe[0] != -1) {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
}
