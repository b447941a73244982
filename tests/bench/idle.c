/*
 * idle.c: hold K idle connections to an echo server, so a script can
 * measure what they cost it. Opens them at most -c at a time (default 200);
 * on each, sends one byte and waits for its echo, which proves the server
 * is serving that connection (its process, thread or state exists). Then
 * prints "ready HELD FAILED" and holds them until stdin reaches EOF.
 * Exit status: 0 if all K were held, 1 if not, 2 on usage.
 *
 *   idle HOST PORT [-k K] [-c C] [-t SECS]
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct hold {
	int	fd;
	int	connected;
	time_t	start;
};

static struct sockaddr_in addr;
static int epfd;
static long held, failed, next, k = 10000;

static void
fail(struct hold *h)
{
	close(h->fd);
	h->fd = -1;
	failed++;
}

static void
open_one(struct hold *h)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = h };

	next++;
	h->start = time(NULL);
	h->connected = 0;
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd == -1) {
		perror("idle: socket");	/* out of descriptors: stop here */
		failed += k - next + 1;
		next = k;
		return;
	}
	if ((connect(h->fd, (struct sockaddr *)&addr, sizeof(addr)) == -1 &&
	    errno != EINPROGRESS) ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, h->fd, &ev) == -1)
		fail(h);
}

/* Connected: send the probe byte. Echoed: held, out of the epoll set. */
static void
step(struct hold *h)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = h };
	int err = 0;
	socklen_t len = sizeof(err);
	char b = 'x';

	if (!h->connected) {
		if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) ||
		    err != 0 || send(h->fd, &b, 1, MSG_NOSIGNAL) != 1 ||
		    epoll_ctl(epfd, EPOLL_CTL_MOD, h->fd, &ev) == -1) {
			fail(h);
			return;
		}
		h->connected = 1;
		return;
	}
	if (recv(h->fd, &b, 1, 0) != 1 || b != 'x') {
		fail(h);
		return;
	}
	epoll_ctl(epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->fd = -1;		/* still open: leaked on purpose, held */
	held++;
}

static void
parse(int argc, char **argv, long *c, long *secs)
{
	int ch;

	while ((ch = getopt(argc, argv, "k:c:t:")) != -1)
		switch (ch) {
		case 'k': k = strtol(optarg, NULL, 10); break;
		case 'c': *c = strtol(optarg, NULL, 10); break;
		case 't': *secs = strtol(optarg, NULL, 10); break;
		default: goto usage;
		}
	addr.sin_family = AF_INET;
	if (argc - optind == 2 && k > 0 && *c > 0 && *secs > 0 &&
	    inet_pton(AF_INET, argv[optind], &addr.sin_addr) == 1) {
		addr.sin_port = htons((uint16_t)atoi(argv[optind + 1]));
		return;
	}
usage:
	fprintf(stderr, "usage: idle HOST PORT [-k K] [-c C] [-t SECS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct hold *slots, *h;
	struct rlimit rl;
	long c = 200, secs = 60, i;
	char buf[256];
	int n;

	parse(argc, argv, &c, &secs);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (slots = calloc((size_t)c, sizeof(*slots))) == NULL) {
		perror("idle");
		return 1;
	}
	for (i = 0; i < c; i++)
		slots[i].fd = -1;
	while (held + failed < k) {
		for (i = 0; i < c && next < k; i++)
			if (slots[i].fd == -1)
				open_one(&slots[i]);
		n = epoll_wait(epfd, evs, 256, 100);
		for (i = 0; i < n; i++)
			step(evs[i].data.ptr);
		for (i = 0; i < c; i++) {
			h = &slots[i];
			if (h->fd != -1 && time(NULL) - h->start > secs)
				fail(h);
		}
	}
	printf("ready %ld %ld\n", held, failed);
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return failed != 0;
}
