/*
 * epoll_echo.c: the reference for the connection benchmarks. A bare
 * single-threaded epoll echo server on 127.0.0.1, port 0; the port goes to
 * PORTFILE once it listens. Each connection costs a small struct; bytes the
 * peer does not take at once wait in a heap buffer, and reading stops until
 * they are gone. After the client's EOF, once all is echoed, it half-closes
 * and closes. Runs until killed.
 *
 *   epoll_echo PORTFILE
 */
#define _GNU_SOURCE		/* accept4 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ec {
	int		 fd;
	int		 eof;
	uint32_t	 events;	/* what epoll waits for now */
	char		*buf;		/* what the peer has not taken yet */
	size_t		 off, len;
};

static int epfd;
static char rbuf[65536];

/* Wait for what is next: room for the pending bytes, or more to read. */
static void
arm(struct ec *e, int op)
{
	struct epoll_event ev = { .data.ptr = e };

	ev.events = e->len > 0 ? EPOLLOUT : EPOLLIN;
	if (op == EPOLL_CTL_MOD && ev.events == e->events)
		return;
	e->events = ev.events;
	epoll_ctl(epfd, op, e->fd, &ev);
}

static void
drop(struct ec *e)
{
	close(e->fd);
	free(e->buf);
	free(e);
}

/* Send what the socket takes now: bytes sent, or -1 if it broke. */
static ssize_t
send_some(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno == EAGAIN ? (ssize_t)done : -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Echo what is there: 1 once EOF is echoed and half-closed, -1: broken. */
static int
serve(struct ec *e)
{
	ssize_t n, m;

	if (e->len > 0) {
		if ((m = send_some(e->fd, e->buf + e->off, e->len)) == -1)
			return -1;
		e->off += (size_t)m;
		e->len -= (size_t)m;
	}
	while (e->len == 0 && !e->eof) {
		n = recv(e->fd, rbuf, sizeof(rbuf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1)
			return -1;
		if (n == 0)
			e->eof = 1;
		else if ((m = send_some(e->fd, rbuf, (size_t)n)) == -1)
			return -1;
		else if (m < n) {		/* keep the rest for EPOLLOUT */
			free(e->buf);
			if ((e->buf = malloc((size_t)(n - m))) == NULL)
				return -1;
			memcpy(e->buf, rbuf + m, (size_t)(n - m));
			e->off = 0;
			e->len = (size_t)(n - m);
		}
	}
	if (e->len == 0 && e->eof) {
		shutdown(e->fd, SHUT_WR);
		return 1;
	}
	arm(e, EPOLL_CTL_MOD);
	return 0;
}

/* Listen on 127.0.0.1, any port; say which in portfile, atomically. */
static int
listen_on(const char *portfile)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	char tmp[4096];
	FILE *f;
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	snprintf(tmp, sizeof(tmp), "%s.tmp", portfile);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, SOMAXCONN) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (f = fopen(tmp, "w")) == NULL ||
	    fprintf(f, "%u\n", ntohs(sin.sin_port)) < 0 || fclose(f) == EOF ||
	    rename(tmp, portfile) == -1) {
		perror("epoll_echo");
		exit(1);
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256], ev = { .events = EPOLLIN };
	struct rlimit rl;
	struct ec *e;
	int lfd, fd, n, i;

	if (argc != 2) {
		fprintf(stderr, "usage: epoll_echo PORTFILE\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	epfd = epoll_create1(0);
	lfd = listen_on(argv[1]);
	ev.data.ptr = NULL;			/* NULL: the listener */
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		n = epoll_wait(epfd, evs, 256, -1);
		for (i = 0; i < n; i++) {
			if ((e = evs[i].data.ptr) != NULL) {
				if (serve(e) != 0)
					drop(e);
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL,
			    SOCK_NONBLOCK)) != -1) {
				if ((e = calloc(1, sizeof(*e))) == NULL) {
					close(fd);
					continue;
				}
				e->fd = fd;
				arm(e, EPOLL_CTL_ADD);
			}
		}
	}
}
