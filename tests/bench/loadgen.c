/*
 * loadgen.c: connection-rate load for an echo server. Keeps C connections
 * in flight (one epoll loop, every socket non-blocking), N in all; each
 * connects, sends BYTES bytes of its own pattern, half-closes, reads to EOF
 * and checks that what came back is what it sent. Prints one line:
 *
 *   conns_per_s=R p50_ms=A p99_ms=B failures=F
 *
 * latency running from connect() to EOF. A connection idle for -t SECS
 * (default 10) counts as failed, so a server that hangs still gets a line.
 * -H: no half-close; a connection ends, and the client closes, once all
 * BYTES are back (for servers that end a session at the client's EOF).
 * Exit status: 0 if every connection echoed, 1 if any failed, 2 on usage.
 *
 *   loadgen HOST PORT -c C -n N [-s BYTES] [-t SECS] [-H]
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK		65536

enum state { IDLE, CONNECTING, SENDING, RECEIVING };
enum reason { OK = -1, R_CONNECT, R_SEND, R_RECV, R_MISMATCH, R_SHORT,
    R_TIMEOUT, MAX_REASONS };

struct slot {
	int		 fd;
	enum state	 st;
	uint32_t	 id;		/* which connection, for its pattern */
	uint64_t	 sent;
	uint64_t	 got;
	int64_t		 start;		/* ns */
	int64_t		 last;		/* ns, last progress */
};

static const char *const reason_names[MAX_REASONS] = {
	"connect", "send", "recv", "mismatch", "short", "timeout"
};

static struct sockaddr_in addr;
static uint64_t bytes = 64;
static int64_t idle_ns = 10 * 1000000000LL;
static int epfd;
static uint32_t next_id, total, done;
static int half_close = 1;		/* -H: off */
static uint64_t failures, reasons[MAX_REASONS];
static int first_errno[MAX_REASONS];	/* of the first of each, or 0 */
static int64_t *lat;
static size_t nlat;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Byte i of connection id's request: differs between connections. */
static unsigned char
pattern(uint32_t id, uint64_t i)
{
	uint32_t x = id * 2654435761u ^ (uint32_t)i * 40503u ^
	    (uint32_t)(i >> 16) * 97u;

	x ^= x >> 15;
	x *= 2246822519u;
	return (unsigned char)(x ^ x >> 13);
}

static void
fill(uint32_t id, uint64_t from, unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(id, from + i);
}

static void
arm(struct slot *s, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	if (epoll_ctl(epfd, op, s->fd, &ev) == -1) {
		perror("loadgen: epoll_ctl");
		exit(1);
	}
}

static void start(struct slot *);

/* Count a failure; err is its errno, or 0. */
static void
failed(enum reason r, int err)
{
	failures++;
	if (reasons[r]++ == 0)
		first_errno[r] = err;
}

/* The connection is over: count it, start the next in this slot. */
static void
finish(struct slot *s, enum reason r, int err)
{
	if (r == OK)
		lat[nlat++] = now_ns() - s->start;
	else
		failed(r, err);
	close(s->fd);	/* also leaves the epoll set */
	s->fd = -1;
	s->st = IDLE;
	done++;
	start(s);
}

/* Open the next connection in this slot, if any are left. */
static void
start(struct slot *s)
{
	int one = 1;

	while (next_id < total) {
		s->id = next_id++;
		s->sent = s->got = 0;
		s->start = s->last = now_ns();
		s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (s->fd == -1) {
			perror("loadgen: socket");
			exit(1);
		}
		setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->st = CONNECTING;
		if (connect(s->fd, (struct sockaddr *)&addr,
		    sizeof(addr)) == 0 || errno == EINPROGRESS) {
			arm(s, EPOLLOUT, EPOLL_CTL_ADD);
			return;
		}
		failed(R_CONNECT, errno);	/* at once: count, go on */
		close(s->fd);
		s->fd = -1;
		s->st = IDLE;
		done++;
	}
}

/* Send what the socket takes; half-close once all is sent (unless -H).
 * OK while it goes on, else why it failed, errno set. */
static enum reason
do_send(struct slot *s)
{
	unsigned char buf[CHUNK];
	size_t len;
	ssize_t n;

	while (s->sent < bytes) {
		len = bytes - s->sent < CHUNK ? bytes - s->sent : CHUNK;
		fill(s->id, s->sent, buf, len);
		n = send(s->fd, buf, len, MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return OK;
		if (n == -1)
			return R_SEND;
		s->sent += (uint64_t)n;
	}
	if (half_close)
		shutdown(s->fd, SHUT_WR);
	s->st = RECEIVING;
	arm(s, EPOLLIN, EPOLL_CTL_MOD);
	return OK;
}

/* Read and check what is there. *over once the connection is done: OK if
 * the echo was whole (EOF, or with -H all of it), else why not. */
static enum reason
do_recv(struct slot *s, int *over, int *err)
{
	unsigned char buf[CHUNK], want[CHUNK];
	ssize_t n;

	*over = 1;
	*err = 0;
	for (;;) {
		if (!half_close && s->got == bytes && s->st == RECEIVING)
			return OK;
		n = recv(s->fd, buf, sizeof(buf), 0);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return *over = 0, OK;
		if (n == -1)
			return *err = errno, R_RECV;
		if (n == 0)
			return s->got == bytes && s->st == RECEIVING ? OK :
			    R_SHORT;
		if (s->got + (uint64_t)n > bytes)
			return R_MISMATCH;
		fill(s->id, s->got, want, (size_t)n);
		if (memcmp(buf, want, (size_t)n) != 0)
			return R_MISMATCH;
		s->got += (uint64_t)n;
	}
}

static void
event(struct slot *s, uint32_t ev)
{
	int err = 0, over;
	socklen_t len = sizeof(err);
	enum reason r;

	s->last = now_ns();
	if (s->st == CONNECTING) {
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			finish(s, R_CONNECT, err);
			return;
		}
		s->st = SENDING;
		/* read while sending: a big echo must not fill both ways */
		arm(s, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
		ev = EPOLLOUT;
	}
	if (s->st == SENDING && (ev & (EPOLLOUT | EPOLLERR)) != 0 &&
	    (r = do_send(s)) != OK) {
		finish(s, r, errno);
		return;
	}
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0 ||
	    (s->st == RECEIVING && !half_close)) {
		r = do_recv(s, &over, &err);
		if (over)
			finish(s, r, err);
	}
}

static void
reap_idle(struct slot *slots, uint32_t c)
{
	int64_t t = now_ns();
	uint32_t i;

	for (i = 0; i < c; i++)
		if (slots[i].st != IDLE && t - slots[i].last > idle_ns)
			finish(&slots[i], R_TIMEOUT, 0);
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double
pct_ms(double p)
{
	size_t i;

	if (nlat == 0)
		return 0;
	i = (size_t)(p * (double)(nlat - 1) + 0.5);
	return (double)lat[i] / 1e6;
}

static void
report(int64_t elapsed)
{
	int i;

	qsort(lat, nlat, sizeof(*lat), cmp64);
	printf("conns_per_s=%.0f p50_ms=%.3f p99_ms=%.3f failures=%llu\n",
	    (double)total * 1e9 / (double)elapsed, pct_ms(0.50), pct_ms(0.99),
	    (unsigned long long)failures);
	for (i = 0; i < MAX_REASONS; i++)
		if (reasons[i] != 0)
			fprintf(stderr, "loadgen: %llu failed: %s (first: %s)\n",
			    (unsigned long long)reasons[i], reason_names[i],
			    first_errno[i] ? strerror(first_errno[i]) : "-");
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen HOST PORT -c C -n N [-s BYTES] "
	    "[-t SECS] [-H]\n");
	exit(2);
}

static void
parse(int argc, char **argv, uint32_t *c)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:n:s:t:H")) != -1)
		switch (ch) {
		case 'c': *c = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'n': total = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': bytes = strtoull(optarg, NULL, 10); break;
		case 't': idle_ns = (int64_t)(atof(optarg) * 1e9); break;
		case 'H': half_close = 0; break;
		default: usage();
		}
	if (argc - optind != 2 || *c == 0 || total == 0 || idle_ns <= 0)
		usage();
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)strtoul(argv[optind + 1], NULL, 10));
	if (inet_pton(AF_INET, argv[optind], &addr.sin_addr) != 1)
		usage();
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct slot *slots;
	struct rlimit rl;
	int64_t t0, tick;
	uint32_t c = 0, i;
	int n, k;

	parse(argc, argv, &c);
	if (c > total)
		c = total;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (slots = calloc(c, sizeof(*slots))) == NULL ||
	    (lat = calloc(total, sizeof(*lat))) == NULL) {
		perror("loadgen");
		return 1;
	}
	t0 = tick = now_ns();
	for (i = 0; i < c; i++)
		start(&slots[i]);
	while (done < total) {
		n = epoll_wait(epfd, evs, 256, 100);
		if (n == -1 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			return 1;
		}
		for (k = 0; k < n; k++)
			event(evs[k].data.ptr, evs[k].events);
		if (now_ns() - tick > 100000000LL) {
			reap_idle(slots, c);
			tick = now_ns();
		}
	}
	report(now_ns() - t0);
	return failures != 0;
}
