/*
 * zc_ref.c: the zero-copy reference for the throughput benchmark, a
 * one-way relay over 127.0.0.1 that moves bytes the way the kernel allows
 * it, and nothing else.
 *
 *   zc_ref -c PORT    client: stdin -> socket; then half-close and read
 *                     the socket to EOF (what arrives goes to stdout)
 *   zc_ref -l PORT    server: accept one connection; socket -> stdout
 *                     until EOF; then close
 *
 * How each copy is made (copy()):
 *   regular file -> socket   sendfile(2)
 *   pipe -> anything, anything -> pipe   splice(2), directly
 *   any other pair (socket -> file or /dev/null)   splice(2) into an
 *                     internal pipe (1 MiB), then splice(2) from it
 *   anything else, or EINVAL from the above   read/write, 256 KiB
 * A pipe on stdin or stdout is grown to CHUNK (F_SETPIPE_SZ), as nsock
 * does: at the default 64 KiB every other splice waits for the other end.
 * Socket buffer sizes are left to the kernel's autotuning; descriptors
 * stay blocking, so every call moves what it can and is repeated until
 * EOF (partial transfers) or retried (EINTR). Exit 0, or 1 with a message.
 */
#define _GNU_SOURCE		/* splice, F_SETPIPE_SZ */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK		(1 << 20)	/* bytes asked of one splice/sendfile */
#define RW_BUF		(256 * 1024)	/* the read/write fallback */

static void
die(const char *what)
{
	fprintf(stderr, "zc_ref: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
is(int fd, mode_t type)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

/* Write all of buf; -1 on error. */
static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
copy_rw(int in, int out)
{
	static char buf[RW_BUF];
	ssize_t n;

	for (;;) {
		n = read(in, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die("read");
		if (n == 0 || write_all(out, buf, (size_t)n) == -1) {
			if (n != 0)
				die("write");
			return;
		}
	}
}

/* One splice, EINTR retried: bytes moved, 0 at EOF, -1 with errno set. */
static ssize_t
splice1(int in, int out, size_t len)
{
	ssize_t n;

	do
		n = splice(in, NULL, out, NULL, len,
		    SPLICE_F_MOVE | SPLICE_F_MORE);
	while (n == -1 && errno == EINTR);
	return n;
}

/* in or out is a pipe: splice directly. 0 done, -1 if splice does not
 * apply (EINVAL on the first call: nothing moved yet). */
static int
copy_splice(int in, int out)
{
	ssize_t n;
	int first = 1;

	while ((n = splice1(in, out, CHUNK)) != 0) {
		if (n == -1 && first && errno == EINVAL)
			return -1;
		if (n == -1)
			die("splice");
		first = 0;
	}
	return 0;
}

/* Neither end is a pipe: through an internal one. Everything spliced in
 * is spliced out before the next read. -1 as for copy_splice. */
static int
copy_via_pipe(int in, int out)
{
	ssize_t n, m;
	int p[2], first = 1;

	if (pipe2(p, O_CLOEXEC) == -1)
		die("pipe");
	(void)fcntl(p[1], F_SETPIPE_SZ, CHUNK);	/* best effort */
	while ((n = splice1(in, p[1], CHUNK)) != 0) {
		if (n == -1 && first && errno == EINVAL)
			goto unsupported;
		if (n == -1)
			die("splice from socket");
		for (; n > 0; n -= m) {
			m = splice1(p[0], out, (size_t)n);
			if (m == -1 && first && errno == EINVAL)
				goto unsupported;	/* p holds n bytes */
			if (m <= 0)
				die("splice to stdout");
			first = 0;
		}
		first = 0;
	}
	close(p[0]);
	close(p[1]);
	return 0;
unsupported:
	/* out refuses splice: what is in p goes first, then the rest. */
	close(p[1]);
	copy_rw(p[0], out);
	close(p[0]);
	copy_rw(in, out);
	return 0;
}

static void
copy(int in, int out)
{
	ssize_t n;

	if (is(in, S_IFREG) && is(out, S_IFSOCK)) {
		do
			n = sendfile(out, in, NULL, CHUNK);
		while (n > 0 || (n == -1 && errno == EINTR));
		if (n == 0)
			return;
		if (errno != EINVAL)
			die("sendfile");
	} else if (is(in, S_IFIFO) || is(out, S_IFIFO)) {
		(void)fcntl(is(in, S_IFIFO) ? in : out, F_SETPIPE_SZ, CHUNK);
		if (copy_splice(in, out) == 0)
			return;
	} else if (copy_via_pipe(in, out) == 0) {
		return;
	}
	copy_rw(in, out);
}

static int
tcp_socket(struct sockaddr_in *sin, const char *port)
{
	int fd;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((unsigned short)atoi(port));
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket");
	return fd;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	int fd, lfd, one = 1;

	if (argc != 3 || (strcmp(argv[1], "-c") && strcmp(argv[1], "-l"))) {
		fprintf(stderr, "usage: zc_ref -c|-l PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	fd = tcp_socket(&sin, argv[2]);
	if (argv[1][1] == 'c') {
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
			die("connect");
		copy(0, fd);
		if (shutdown(fd, SHUT_WR) == -1)
			die("shutdown");
		copy(fd, 1);		/* to the server's EOF */
		return 0;
	}
	lfd = fd;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1) == -1)
		die("listen");
	while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		if (errno != EINTR)
			die("accept");
	close(lfd);
	copy(fd, 1);
	return close(fd) == -1;
}
