/*
 * fault.c: an LD_PRELOAD library that makes nsock's system calls misbehave
 * the way POSIX allows them to, so the paths that handle it are run for
 * real. On loopback the kernel almost never returns a short count or
 * EINTR; here they happen on every few calls.
 *
 * Driven by the environment (probabilities from 0 to 1, default 0):
 *   NSOCK_FAULT_SEED    the seed (default 1); each thread mixes in its id
 *   NSOCK_FAULT_SHORT   a transfer moves only a prefix, down to 1 byte
 *   NSOCK_FAULT_SHORT_READ  the same for reads alone (default: as SHORT);
 *                       0 where a test counts on what one read returns
 *   NSOCK_FAULT_EINTR   a call fails with EINTR and does nothing
 *   NSOCK_FAULT_EAGAIN  a call on a non-blocking descriptor fails with
 *                       EAGAIN and does nothing
 *   NSOCK_FAULT_CONNECT_EINTR  connect says EINTR (default: as EINTR)
 *   NSOCK_FAULT_NO_PIDFD  pidfd_open fails with EMFILE, as at the
 *                       descriptor limit (set: always)
 *   NSOCK_FAULT_NO_EPOLL  epoll_create1 and epoll_create fail with ENOSYS,
 *                       as under a seccomp filter or a kernel built
 *                       without epoll (set: always), so --poll runs on
 *                       its poll(2) fallback
 *   NSOCK_FAULT_STATS   a file: at exit, append one line of counts
 *
 * Only what is legal is injected, so a failure is nsock's bug, never the
 * harness's: no short count on a datagram or seqpacket socket (that would
 * be a lost or cut message, not partial I/O) nor on a pipe write of up to
 * PIPE_BUF bytes (atomic by POSIX); EAGAIN only where the descriptor is
 * O_NONBLOCK or the call says MSG_DONTWAIT or SPLICE_F_NONBLOCK, and not
 * on a pipe write of up to PIPE_BUF bytes: there EAGAIN means the pipe is
 * full, so a wake-up byte need not be sent again (one is waiting); EINTR on
 * connect only after the connect was really started, as POSIX describes it
 * (the connection goes on asynchronously). A short read reads less; a short
 * write writes less: no byte is ever lost or invented.
 *
 * Wrappers may run in signal handlers and in many threads: the random
 * state is per thread, counters are atomic, the real functions are looked
 * up once, in the constructor. The constructor removes LD_PRELOAD from the
 * environment, so what nsock runs (-e) is not injected.
 */
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum fault { F_NONE, F_SHORT, F_EINTR, F_EAGAIN };
enum { S_SHORT, S_EINTR, S_EAGAIN, S_CONNECT, S_CALLS, S_N };

static uint32_t p_short, p_short_read, p_eintr, p_eagain, p_connect;
static uint64_t seed = 1;
static const char *stats_path;
static bool no_pidfd, no_epoll;
static unsigned long stats[S_N];

/* Per thread; initial-exec, so no allocation on first use in a thread. */
static __thread uint64_t rng __attribute__((tls_model("initial-exec")));

#define REAL(name) static __typeof__(name) *real_##name
REAL(read); REAL(write); REAL(readv); REAL(writev); REAL(pread);
REAL(pwrite); REAL(send); REAL(recv); REAL(sendto); REAL(recvfrom);
REAL(splice); REAL(sendfile); REAL(accept); REAL(accept4); REAL(connect);
REAL(syscall); REAL(epoll_create1); REAL(epoll_create);

static void
count(int what)
{
	__atomic_add_fetch(&stats[what], 1, __ATOMIC_RELAXED);
}

/* splitmix64: small, good enough, and nothing to lock. */
static uint64_t
next(void)
{
	uint64_t z;

	if (rng == 0)
		rng = seed * 0x9e3779b97f4a7c15ULL ^
		    ((uint64_t)syscall(SYS_gettid) << 17) ^ 0x5851f42d4c957f2dULL;
	z = (rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A forked child is a new stream of faults, not a copy of its parent's. */
static void
after_fork(void)
{
	rng = 0;
}

/* Which fault, if any, this call gets. Probabilities are out of 2^32. */
static enum fault
pick(bool writing)
{
	uint32_t r = (uint32_t)next();

	count(S_CALLS);
	if (r < p_eintr)
		return F_EINTR;
	r -= p_eintr;
	if (r < p_eagain)
		return F_EAGAIN;
	r -= p_eagain;
	return r < (writing ? p_short : p_short_read) ? F_SHORT : F_NONE;
}

/* A length in [1, len): often tiny, so 1-byte paths run too. */
static size_t
shorter(size_t len)
{
	uint64_t r = next();

	count(S_SHORT);
	if (r % 4 == 0)
		return 1 + (r >> 8) % (len < 16 ? len - 1 : 15);
	return 1 + (r >> 8) % (len - 1);
}

/* EAGAIN is legal only where the call may not block. */
static bool
may_again(int fd, size_t len, bool writing, bool dontwait)
{
	struct stat st;
	int flags;

	if (dontwait)
		return true;
	/* A regular file never blocks, O_NONBLOCK or not; a small pipe
	 * write fails only on a full pipe. */
	if (fstat(fd, &st) == -1 || S_ISREG(st.st_mode) ||
	    (S_ISFIFO(st.st_mode) && writing && len <= PIPE_BUF))
		return false;
	flags = fcntl(fd, F_GETFL);
	return flags != -1 && (flags & O_NONBLOCK);
}

/* May a transfer of len bytes on fd legally move fewer? */
static bool
may_shorten(int fd, size_t len, bool writing)
{
	struct stat st;
	int type;
	socklen_t tlen = sizeof(type);

	if (len < 2 || fstat(fd, &st) == -1)
		return false;
	if (S_ISSOCK(st.st_mode))	/* a message is whole or not at all */
		return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 &&
		    type == SOCK_STREAM;
	if (S_ISFIFO(st.st_mode) && writing)
		return len > PIPE_BUF;
	return true;
}

/*
 * The decision for one call on fd moving *len bytes: -1 with errno set
 * (EINTR, EAGAIN: fail without doing the call), or 0 to do it, *len
 * perhaps shortened.
 */
static int
decide(int fd, size_t *len, bool writing, bool dontwait)
{
	switch (pick(writing)) {
	case F_EINTR:
		count(S_EINTR);
		errno = EINTR;
		return -1;
	case F_EAGAIN:
		if (!may_again(fd, *len, writing, dontwait))
			return 0;
		count(S_EAGAIN);
		errno = EAGAIN;
		return -1;
	case F_SHORT:
		if (may_shorten(fd, *len, writing))
			*len = shorter(*len);
		return 0;
	default:
		return 0;
	}
}

/* A vector cut down to at most want bytes, in iov[0..IOV_CUT). */
#define IOV_CUT 16
static int
cut_iov(const struct iovec *iov, int n, size_t want, struct iovec *out)
{
	int i;

	for (i = 0; i < n && i < IOV_CUT && want > 0; i++) {
		out[i] = iov[i];
		if (out[i].iov_len > want)
			out[i].iov_len = want;
		want -= out[i].iov_len;
	}
	return i;
}

static size_t
iov_total(const struct iovec *iov, int n)
{
	size_t t = 0;
	int i;

	for (i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

static void
resolve(void)
{
#define LOOKUP(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)
	LOOKUP(read); LOOKUP(write); LOOKUP(readv); LOOKUP(writev);
	LOOKUP(pread); LOOKUP(pwrite); LOOKUP(send); LOOKUP(recv);
	LOOKUP(sendto); LOOKUP(recvfrom); LOOKUP(splice); LOOKUP(sendfile);
	LOOKUP(accept); LOOKUP(accept4); LOOKUP(connect); LOOKUP(syscall);
	LOOKUP(epoll_create1); LOOKUP(epoll_create);
#undef LOOKUP
}

/* Before our constructor has run (another library's constructor). */
#define READY() do { if (real_connect == NULL) resolve(); } while (0)

static uint32_t
probability(const char *name, uint32_t unset)
{
	const char *v = getenv(name);
	double p = v != NULL ? strtod(v, NULL) : 0;

	if (v == NULL || *v == '\0')
		return unset;
	if (!(p > 0))
		return 0;
	return p >= 1 ? UINT32_MAX : (uint32_t)(p * 4294967296.0);
}

__attribute__((constructor)) static void
fault_init(void)
{
	const char *s = getenv("NSOCK_FAULT_SEED");

	resolve();
	if (s != NULL)
		seed = strtoull(s, NULL, 0);
	p_short = probability("NSOCK_FAULT_SHORT", 0);
	p_short_read = probability("NSOCK_FAULT_SHORT_READ", p_short);
	p_eintr = probability("NSOCK_FAULT_EINTR", 0);
	p_eagain = probability("NSOCK_FAULT_EAGAIN", 0);
	p_connect = probability("NSOCK_FAULT_CONNECT_EINTR", p_eintr);
	/* Past 1, every call would fail and nothing would ever move. */
	if ((uint64_t)p_eintr + p_eagain >= UINT32_MAX) {
		fprintf(stderr, "fault.so: NSOCK_FAULT_EINTR + "
		    "NSOCK_FAULT_EAGAIN must be below 1\n");
		_exit(99);
	}
	stats_path = getenv("NSOCK_FAULT_STATS");
	no_pidfd = getenv("NSOCK_FAULT_NO_PIDFD") != NULL;
	no_epoll = getenv("NSOCK_FAULT_NO_EPOLL") != NULL;
	pthread_atfork(NULL, NULL, after_fork);
	unsetenv("LD_PRELOAD");		/* -e's command runs undisturbed */
}

/* One line per process that exits through exit(3): "short=N eintr=N ...".
 * Children that leave by _exit(2) say nothing; the parent's count shows. */
__attribute__((destructor)) static void
fault_stats(void)
{
	char line[160];
	int fd, n;

	if (stats_path == NULL || *stats_path == '\0')
		return;
	n = snprintf(line, sizeof(line), "pid=%ld calls=%lu short=%lu "
	    "eintr=%lu eagain=%lu connect_eintr=%lu\n", (long)getpid(),
	    stats[S_CALLS], stats[S_SHORT], stats[S_EINTR], stats[S_EAGAIN],
	    stats[S_CONNECT]);
	fd = open(stats_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	(void)real_write(fd, line, (size_t)n);	/* O_APPEND: one line whole */
	close(fd);
}

ssize_t
read(int fd, void *buf, size_t len)
{
	READY();
	if (decide(fd, &len, false, false) == -1)
		return -1;
	return real_read(fd, buf, len);
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	READY();
	if (decide(fd, &len, true, false) == -1)
		return -1;
	return real_write(fd, buf, len);
}

ssize_t
pread(int fd, void *buf, size_t len, off_t pos)
{
	READY();
	if (decide(fd, &len, false, false) == -1)
		return -1;
	return real_pread(fd, buf, len, pos);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t pos)
{
	READY();
	if (decide(fd, &len, true, false) == -1)
		return -1;
	return real_pwrite(fd, buf, len, pos);
}

static ssize_t
vector(int fd, const struct iovec *iov, int n, bool writing)
{
	struct iovec cut[IOV_CUT];
	size_t len, total = iov_total(iov, n);
	int k;

	READY();
	len = total;
	if (decide(fd, &len, writing, false) == -1)
		return -1;
	/* Empty leading buffers could cut it to 0 bytes: a false EOF. */
	if (len < total && (k = cut_iov(iov, n, len, cut)) > 0 &&
	    iov_total(cut, k) > 0) {
		iov = cut;
		n = k;
	}
	return writing ? real_writev(fd, iov, n) : real_readv(fd, iov, n);
}

ssize_t
readv(int fd, const struct iovec *iov, int n)
{
	return vector(fd, iov, n, false);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	return vector(fd, iov, n, true);
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	READY();
	if (decide(fd, &len, true, flags & MSG_DONTWAIT) == -1)
		return -1;
	return real_send(fd, buf, len, flags);
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	READY();
	if (decide(fd, &len, false, flags & MSG_DONTWAIT) == -1)
		return -1;
	return real_recv(fd, buf, len, flags);
}

ssize_t
sendto(int fd, const void *buf, size_t len, int flags,
    const struct sockaddr *sa, socklen_t salen)
{
	READY();
	if (decide(fd, &len, true, flags & MSG_DONTWAIT) == -1)
		return -1;
	return real_sendto(fd, buf, len, flags, sa, salen);
}

ssize_t
recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
    socklen_t *salen)
{
	READY();
	if (decide(fd, &len, false, flags & MSG_DONTWAIT) == -1)
		return -1;
	return real_recvfrom(fd, buf, len, flags, sa, salen);
}

ssize_t
splice(int in, loff_t *inpos, int out, loff_t *outpos, size_t len,
    unsigned int flags)
{
	size_t inlen = len;

	READY();
	/* Both ends must allow a short count; EAGAIN as splice(2) says. */
	if (decide(out, &len, true, (flags & SPLICE_F_NONBLOCK) ||
	    may_again(in, len, false, false)) == -1)
		return -1;
	if (len < inlen && !may_shorten(in, inlen, false))
		len = inlen;
	return real_splice(in, inpos, out, outpos, len, flags);
}

ssize_t
sendfile(int out, int in, off_t *pos, size_t len)
{
	READY();
	if (decide(out, &len, true, false) == -1)
		return -1;
	return real_sendfile(out, in, pos, len);
}

int
accept(int fd, struct sockaddr *sa, socklen_t *salen)
{
	size_t none = 0;

	READY();
	if (decide(fd, &none, false, false) == -1)
		return -1;
	return real_accept(fd, sa, salen);
}

int
accept4(int fd, struct sockaddr *sa, socklen_t *salen, int flags)
{
	size_t none = 0;

	READY();
	if (decide(fd, &none, false, false) == -1)
		return -1;
	return real_accept4(fd, sa, salen, flags);
}

/*
 * connect: EINTR only on a stream socket and only once the connect has
 * really started (or finished): POSIX says an interrupted connect goes on
 * asynchronously, to be waited for with poll and SO_ERROR. No EAGAIN:
 * for TCP it would mean "no local port left", not "try again later".
 */
int
connect(int fd, const struct sockaddr *sa, socklen_t salen)
{
	int r, type, saved;
	socklen_t tlen = sizeof(type);

	READY();
	r = real_connect(fd, sa, salen);
	saved = errno;
	count(S_CALLS);
	if ((uint32_t)next() >= p_connect ||
	    (r == -1 && saved != EINPROGRESS) || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == -1 ||
	    type != SOCK_STREAM) {
		errno = saved;
		return r;
	}
	count(S_CONNECT);
	errno = EINTR;
	return -1;
}

/*
 * syscall(2), for pidfd_open, which glibc reaches only this way. Six
 * arguments are passed on whatever the call takes, as glibc's own
 * syscall() does: the kernel reads only those it needs.
 */
long
syscall(long nr, ...)
{
	va_list ap;
	long a[6];
	int i;

	READY();
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_pidfd_open && no_pidfd) {
		errno = EMFILE;
		return -1;
	}
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* NSOCK_FAULT_NO_EPOLL: both ways to make an epoll set fail, before the
 * kernel is asked, so strace shows no epoll call at all. */
static int
enosys(void)
{
	errno = ENOSYS;
	return -1;
}

int
epoll_create1(int flags)
{
	READY();
	return no_epoll ? enosys() : real_epoll_create1(flags);
}

int
epoll_create(int size)
{
	READY();
	return no_epoll ? enosys() : real_epoll_create(size);
}
