/*
 * io.c: the only read, write, send, recv, splice and sendfile calls, and the set-up that makes
 * stdin and stdout safe to use without blocking.
 *
 * Every call retries EINTR where it is made and turns EAGAIN into IO_AGAIN,
 * so callers see three outcomes: bytes, "would block", or an error.
 */
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "nsock.h"

ssize_t
io_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

ssize_t
io_write(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = write(fd, buf, len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

ssize_t
io_pread(int fd, void *buf, size_t len, off_t pos)
{
	ssize_t n;

	do
		n = pread(fd, buf, len, pos);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

ssize_t
io_recvfrom(int fd, void *buf, size_t len, struct sockaddr *sa,
    socklen_t *salen)
{
	ssize_t n;

	do
		n = recvfrom(fd, buf, len, MSG_DONTWAIT, sa, salen);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

ssize_t
io_sendto(int fd, const void *buf, size_t len, const struct sockaddr *sa,
    socklen_t salen)
{
	ssize_t n;

	do
		n = sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL, sa,
		    salen);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

ssize_t
io_splice(int from, int to, size_t len)
{
	ssize_t n;

	do
		n = splice(from, NULL, to, NULL, len,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

ssize_t
io_sendfile(int to, int from, off_t *pos, size_t len)
{
	ssize_t n;

	do
		n = sendfile(to, from, pos, len);
	while (n == -1 && errno == EINTR);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return n;
}

int
io_sendmmsg(int fd, struct mmsghdr *msg, unsigned n)
{
	int r;

	do
		r = sendmmsg(fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return r;
}

int
io_recvmmsg(int fd, struct mmsghdr *msg, unsigned n)
{
	int r;

	do
		r = recvmmsg(fd, msg, n, MSG_DONTWAIT, NULL);
	while (r == -1 && errno == EINTR);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return IO_AGAIN;
	return r;
}

/* io_write_all, giving up (ECANCELED) once cancel_fd is readable. */
static int
write_all_until(int fd, const void *buf, size_t len, int cancel_fd)
{
	const char *p = buf;
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLOUT },
	    { .fd = cancel_fd, .events = POLLIN } };
	ssize_t n;

	while (len > 0) {
		n = io_write(fd, p, len);
		if (n == IO_AGAIN) {
			if (poll(pfd, 2, -1) == -1 && errno != EINTR)
				return -1;
			if (pfd[1].revents != 0) {
				errno = ECANCELED;
				return -1;
			}
			continue;
		}
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
io_write_all(int fd, const void *buf, size_t len)
{
	return write_all_until(fd, buf, len, -1);
}

/*
 * Clients of one server share stdout, and a chunk from one must never be
 * split by a chunk from another, whatever the model: threads, or forked
 * children. One mutex in shared memory serves both; it is robust, so a
 * child killed in the middle of a write cannot leave it locked for good.
 */
static pthread_mutex_t *stdout_lock;

int
io_share_stdout(void)
{
	pthread_mutexattr_t attr;
	void *mem;

	mem = mmap(NULL, sizeof(*stdout_lock), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(mem, &attr);
	pthread_mutexattr_destroy(&attr);
	stdout_lock = mem;
	return 0;
}

ssize_t
io_write_chunk(int fd, const void *buf, size_t len, int cancel_fd)
{
	int r;

	if (stdout_lock != NULL &&
	    pthread_mutex_lock(stdout_lock) == EOWNERDEAD)
		pthread_mutex_consistent(stdout_lock);	/* a child died */
	r = write_all_until(fd, buf, len, cancel_fd);
	if (stdout_lock != NULL)
		pthread_mutex_unlock(stdout_lock);
	return r == -1 ? -1 : (ssize_t)len;
}

/*
 * O_NONBLOCK is a flag of the open file description, which stdin and stdout
 * share with the shell and with every other process that inherited them:
 * setting it there would make their reads fail with EAGAIN, even after we
 * exit. So for pipes, FIFOs, terminals and devices we open /proc/self/fd/N
 * again, which gives a description of our own. Regular files never block and
 * are used as they are. Only where that is impossible (a socket) do we set
 * the flag on the shared description, and put it back at exit.
 */
static int saved_flags[2] = { -1, -1 };

/* A pipe on stdin or stdout, grown to 1 MiB (never shrunk): at the default
 * 64 KiB each splice moved 64 KiB and the next found the pipe empty or
 * full, a wake-up each way; at 1 MiB the writer runs ahead, context
 * switches fall fivefold and a piped transfer runs 1.5x as fast
 * (tests/bench/throughput.sh). Best effort: past pipe-max-size or the
 * user's pipe quota the pipe stays as it is. Not for UDP: there a plain
 * pipe's writer running further ahead means more writes merged into one
 * read, one datagram (tests/bench/udp.sh: 71% of records lost, not 0). */
#define USER_PIPE_SIZE	(1024 * 1024)

static void
grow_pipe(int fd)
{
	int size = fcntl(fd, F_GETPIPE_SZ);

	if (size != -1 && size < USER_PIPE_SIZE)
		(void)fcntl(fd, F_SETPIPE_SZ, USER_PIPE_SIZE);
}

static int
private_nonblock(int fd, int oflag, bool grow_pipes)
{
	struct stat st;
	char path[32];
	int nfd, flags;

	if (fstat(fd, &st) == -1 || (flags = fcntl(fd, F_GETFL)) == -1)
		return -1;
	/* A file never blocks; a descriptor open the wrong way (the closed
	 * stdout that main() filled read-only) must keep failing as it is. */
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
	    S_ISDIR(st.st_mode) || (flags & O_ACCMODE) ==
	    (oflag == O_RDONLY ? O_WRONLY : O_RDONLY))
		return fd;
	if (S_ISFIFO(st.st_mode) && grow_pipes)
		grow_pipe(fd);
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		nfd = open(path, oflag | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (nfd != -1)
			return nfd;
	}
	if ((flags & O_NONBLOCK) == 0) {
		saved_flags[fd] = flags;
		sig_undo_on_death(io_stdio_restore);
		if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
			return -1;
	}
	return fd;
}

int
io_stdio_nonblock(int *in, int *out, bool grow_pipes)
{
	if ((*in = private_nonblock(STDIN_FILENO, O_RDONLY, grow_pipes)) == -1)
		return -1;
	if ((*out = private_nonblock(STDOUT_FILENO, O_WRONLY, grow_pipes)) ==
	    -1)
		return -1;
	return 0;
}

void
io_stdio_restore(void)
{
	int fd;

	for (fd = 0; fd < 2; fd++)
		if (saved_flags[fd] != -1)
			(void)fcntl(fd, F_SETFL, saved_flags[fd]);
}
