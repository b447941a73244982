/*
 * udpbench.c: the two ends of the UDP benchmark (udp.sh). Every datagram
 * is DGRAM bytes (1200): "NSUD", a 64-bit sequence number, then bytes that
 * only that number yields, so the far end can tell a datagram that arrived
 * whole from one cut short, merged with others, damaged or repeated.
 *
 *   udpbench feed -n N [-s] [-w SECS] -- CMD [ARG...]
 *	Runs CMD with its stdin the read end of a pipe and writes the N
 *	datagrams into it, one write(2) each, as fast as the pipe takes them.
 *	The pipe is in packet mode (pipe2 O_DIRECT: each read returns at
 *	most one write) unless -s: then it is a plain pipe, as in a shell
 *	pipeline, where a read returns whatever is there. Then closes it,
 *	waits SECS (default 3) for CMD to exit, and ends it with SIGTERM.
 *   udpbench blast -n N [-r RATE] PORT
 *	Sends the N datagrams to 127.0.0.1:PORT with sendmmsg(2), as fast
 *	as it can (batches of 64) or RATE per second (in bursts of RATE /
 *	10000, 100 us apart); a send the kernel refuses (ENOBUFS,
 *	ECONNREFUSED) is counted and skipped.
 *   udpbench sink -n N [-p PORTFILE] [-i] [-t SECS]
 *	Counts what arrives: on a UDP socket on 127.0.0.1 (port in PORTFILE)
 *	or, with -i, on stdin as a byte stream (where the records follow each
 *	other; damage is skipped by looking for the next header). Ends once
 *	all N arrived intact, or SECS (default 1) after the last arrival
 *	(10 s for the first), or at EOF of stdin. Prints one line:
 *
 *   intact=I rate=R records=C rec_rate=Q loss_pct=L bad=B merged=M
 *   dups=D secs=S
 *
 *	I: distinct datagrams that arrived whole and alone; R: I over S, the
 *	time from the first arrival to the last; C, Q: the same counting the
 *	records inside merged datagrams too; L: N - C over N, in percent (the
 *	records that never arrived whole); B: datagrams (stream: damaged
 *	stretches) that were not whole records; M: datagrams that were
 *	several whole records (merged reads); D: repeats.
 */
#define _GNU_SOURCE		/* recvmmsg, sendmmsg, O_DIRECT */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DGRAM		1200
#define BATCH		64
#define MAXD		65536

static uint64_t n_total;
static unsigned char *seen;		/* one byte per sequence number */
static uint64_t intact, records, bad, merged, dups;
static int64_t first_ns, last_ns;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "udpbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Datagram seq: header, then 8-byte words of splitmix64 of seq and i. */
static void
make(uint64_t seq, unsigned char *d)
{
	uint64_t x, i;

	memcpy(d, "NSUD", 4);
	memcpy(d + 4, &seq, 8);
	for (i = 12; i + 8 <= DGRAM; i += 8) {
		x = seq * 0x9e3779b97f4a7c15ULL + i;
		x = (x ^ x >> 30) * 0xbf58476d1ce4e5b9ULL;
		x = (x ^ x >> 27) * 0x94d049bb133111ebULL;
		x ^= x >> 31;
		memcpy(d + i, &x, 8);
	}
	memset(d + i, 0xa5, DGRAM - i);
}

/* Is d[0..DGRAM) a whole, valid record? Its sequence number in *seq. */
static int
valid(const unsigned char *d, uint64_t *seq)
{
	unsigned char want[DGRAM];

	if (memcmp(d, "NSUD", 4) != 0)
		return 0;
	memcpy(seq, d + 4, 8);
	if (*seq >= n_total)
		return 0;
	make(*seq, want);
	return memcmp(d, want, DGRAM) == 0;
}

/* Record seq arrived whole, alone in its datagram or not. */
static void
count(uint64_t seq, int alone)
{
	if (seen[seq]) {
		dups++;
		return;
	}
	seen[seq] = 1;
	records++;
	intact += alone;
}

/* One datagram received on the socket. */
static void
datagram(const unsigned char *d, size_t len)
{
	uint64_t seq;
	size_t i;

	if (len == DGRAM && valid(d, &seq)) {
		count(seq, 1);
		return;
	}
	for (i = 0; len > DGRAM && len % DGRAM == 0 && i < len; i += DGRAM)
		if (!valid(d + i, &seq))
			break;
	if (len > DGRAM && i == len) {
		merged++;
		for (i = 0; i < len; i += DGRAM) {
			memcpy(&seq, d + i + 4, 8);	/* valid, as seen */
			count(seq, 0);
		}
	} else {
		bad++;
	}
}

/* The stream in buf[0..len): count whole records, skip damage. Returns
 * the bytes used; the rest (a record's start) waits for more. */
static size_t
stream(const unsigned char *buf, size_t len, int eof)
{
	uint64_t seq;
	size_t off = 0;
	int damaged = 0;

	while (len - off >= DGRAM || (eof && off < len)) {
		if (len - off >= DGRAM && valid(buf + off, &seq)) {
			count(seq, 1);
			off += DGRAM;
			damaged = 0;
			continue;
		}
		if (!damaged++)
			bad++;
		off++;
		while (off < len && buf[off] != 'N')
			off++;
	}
	return off;
}

static int
sink_socket(const char *portfile)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, size = 32 << 20;
	char tmp[4096];
	FILE *f;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	/* As large as allowed: the sink must not be what loses datagrams. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%u\n", ntohs(sin.sin_port)) < 0 || fclose(f) == EOF ||
	    rename(tmp, portfile) == -1)
		die("sink");
	return fd;
}

/* Receive from fd (a socket, or with in_stream stdin) until done. */
static void
sink_loop(int fd, int in_stream, int64_t idle_ns)
{
	static unsigned char bufs[BATCH][MAXD];
	static unsigned char sbuf[1 << 20];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t have = 0, used;
	int64_t wait_ns;
	ssize_t r;
	int i, n;

	for (i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ bufs[i], MAXD };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i],
		    .msg_iovlen = 1 };
	}
	while (records < n_total) {
		wait_ns = last_ns ? last_ns + idle_ns - now_ns() : 10000000000LL;
		if (wait_ns <= 0 || poll(&pfd, 1, (int)(wait_ns / 1000000) + 1) == 0)
			break;
		if (in_stream) {
			r = read(fd, sbuf + have, sizeof(sbuf) - have);
			if (r <= 0 && !(r == -1 && errno == EINTR)) {
				stream(sbuf, have, 1);
				break;
			}
			last_ns = now_ns();
			first_ns = first_ns ? first_ns : last_ns;
			have += (size_t)(r > 0 ? r : 0);
			used = stream(sbuf, have, 0);
			memmove(sbuf, sbuf + used, have - used);
			have -= used;
			continue;
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == -1)
			die("recvmmsg");
		last_ns = now_ns();
		first_ns = first_ns ? first_ns : last_ns;
		for (i = 0; i < n; i++)
			datagram(bufs[i], msgs[i].msg_len);
	}
}

static int
sink(int argc, char **argv)
{
	const char *portfile = NULL;
	double secs = 1, span;
	int ch, in_stream = 0;

	while ((ch = getopt(argc, argv, "n:p:it:")) != -1)
		switch (ch) {
		case 'n': n_total = strtoull(optarg, NULL, 10); break;
		case 'p': portfile = optarg; break;
		case 'i': in_stream = 1; break;
		case 't': secs = atof(optarg); break;
		default: return 2;
		}
	if (n_total == 0 || (portfile == NULL) == !in_stream ||
	    (seen = calloc(n_total, 1)) == NULL)
		return 2;
	sink_loop(in_stream ? 0 : sink_socket(portfile), in_stream,
	    (int64_t)(secs * 1e9));
	span = (double)(last_ns - first_ns) / 1e9;
	printf("intact=%llu rate=%.0f records=%llu rec_rate=%.0f "
	    "loss_pct=%.2f bad=%llu merged=%llu dups=%llu secs=%.3f\n",
	    (unsigned long long)intact, span > 0 ? (double)intact / span : 0,
	    (unsigned long long)records, span > 0 ? (double)records / span : 0,
	    100.0 * (double)(n_total - records) / (double)n_total,
	    (unsigned long long)bad, (unsigned long long)merged,
	    (unsigned long long)dups, span);
	return 0;
}

/* Wait up to secs for pid; then SIGTERM, and SIGKILL a second later. */
static void
reap(pid_t pid, double secs)
{
	int64_t end = now_ns() + (int64_t)(secs * 1e9);
	struct timespec ms = { 0, 10000000 };
	int sig = SIGTERM;

	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (now_ns() > end) {
			kill(pid, sig);
			sig = SIGKILL;
			end = now_ns() + 1000000000LL;
		}
		nanosleep(&ms, NULL);
	}
}

static int
feed(int argc, char **argv)
{
	unsigned char d[DGRAM];
	double secs = 3;
	uint64_t seq;
	int ch, p[2], flags = O_DIRECT;
	pid_t pid;

	while ((ch = getopt(argc, argv, "+n:sw:")) != -1)
		switch (ch) {
		case 'n': n_total = strtoull(optarg, NULL, 10); break;
		case 's': flags = 0; break;
		case 'w': secs = atof(optarg); break;
		default: return 2;
		}
	if (n_total == 0 || optind >= argc)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(p, flags) == -1)
		die("pipe");
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		execvp(argv[optind], argv + optind);
		die(argv[optind]);
	}
	close(p[0]);
	for (seq = 0; seq < n_total; seq++) {
		make(seq, d);
		if (write(p[1], d, DGRAM) != DGRAM) {	/* pipes: all or error */
			if (errno == EINTR) {
				seq--;
				continue;
			}
			perror("udpbench: write");
			break;
		}
	}
	close(p[1]);
	reap(pid, secs);
	return 0;
}

/* Sleep until t0 + at (ns, CLOCK_MONOTONIC). */
static void
pace(int64_t t0, int64_t at)
{
	struct timespec ts;

	ts.tv_sec = (t0 + at) / 1000000000LL;
	ts.tv_nsec = (t0 + at) % 1000000000LL;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static int
blast(int argc, char **argv)
{
	static unsigned char bufs[BATCH][DGRAM];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	double rate = 0;
	uint64_t seq = 0, refused = 0;
	int64_t t0;
	int ch, fd, k, n, burst = BATCH;

	while ((ch = getopt(argc, argv, "n:r:")) != -1)
		switch (ch) {
		case 'n': n_total = strtoull(optarg, NULL, 10); break;
		case 'r': rate = atof(optarg); break;
		default: return 2;
		}
	if (n_total == 0 || optind != argc - 1)
		return 2;
	if (rate > 0) {		/* bursts 100 us apart */
		burst = (int)(rate / 10000);
		burst = burst < 1 ? 1 : burst > BATCH ? BATCH : burst;
		(void)prctl(PR_SET_TIMERSLACK, 1UL);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((unsigned short)atoi(argv[optind]));
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		die("socket");
	t0 = now_ns();
	while (seq < n_total) {
		if (rate > 0)
			pace(t0, (int64_t)((double)seq * 1e9 / rate));
		for (k = 0; k < burst && seq + k < n_total; k++) {
			make(seq + k, bufs[k]);
			iov[k] = (struct iovec){ bufs[k], DGRAM };
			msgs[k].msg_hdr = (struct msghdr){ .msg_iov = &iov[k],
			    .msg_iovlen = 1 };
		}
		n = sendmmsg(fd, msgs, (unsigned)k, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			refused++;	/* this one is lost; go on */
			n = 1;
		}
		seq += (uint64_t)n;
	}
	fprintf(stderr, "blast: sent %llu in %.3f s, %llu refused\n",
	    (unsigned long long)n_total, (double)(now_ns() - t0) / 1e9,
	    (unsigned long long)refused);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "feed") == 0)
		return feed(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "blast") == 0)
		return blast(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "sink") == 0)
		return sink(argc - 1, argv + 1);
	fprintf(stderr, "usage: udpbench feed -n N [-s] [-w SECS] -- CMD...\n"
	    "       udpbench blast -n N [-r RATE] PORT\n"
	    "       udpbench sink -n N (-p PORTFILE | -i) [-t SECS]\n");
	return 2;
}
