/*
 * probe.c: -z HOST PORT[-PORT]. Which ports accept a TCP connection?
 *
 * Non-blocking connects run side by side, up to PROBE_BATCH at once, each
 * bounded by -w (PROBE_WAIT_MS unset); every address of HOST is tried for
 * a port until one accepts. No byte is sent. The open ports are printed on
 * stdout in ascending order, one number a line.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define PROBE_BATCH	128
#define PROBE_WAIT_MS	2000

struct slot {
	int			 fd;	/* -1: free */
	unsigned		 port;
	const struct addrinfo	*ai;	/* the address being tried */
	int64_t			 deadline;
};

struct probe {
	const struct config	*cfg;
	struct addrinfo		*addrs;
	bool			*open;	/* by port - port_lo */
	struct slot		 slot[PROBE_BATCH];
	int			 wait_ms;
	int			 last_err;
	char			 last_addr[ADDR_STRLEN];
};

static void
set_port(struct sockaddr *sa, unsigned port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

static void
slot_result(struct probe *p, struct slot *s, int err)
{
	struct sockaddr_storage ss;

	close(s->fd);
	s->fd = -1;
	if (err == 0) {
		p->open[s->port - p->cfg->port_lo] = true;
		return;
	}
	memcpy(&ss, s->ai->ai_addr, s->ai->ai_addrlen);
	set_port((struct sockaddr *)&ss, s->port);
	net_format((struct sockaddr *)&ss, s->ai->ai_addrlen, p->last_addr);
	p->last_err = err;
	verbose(p->cfg, "connect to %s: %s", p->last_addr, strerror(err));
}

/* Start connecting s to its port on ai and the addresses after it;
 * those that fail at once are passed over. */
static void
slot_start(struct probe *p, struct slot *s, const struct addrinfo *ai)
{
	struct sockaddr_storage ss;

	for (; ai != NULL; ai = ai->ai_next) {
		s->ai = ai;
		s->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (s->fd == -1)
			die(EXIT_RUNTIME, "socket:");
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		set_port((struct sockaddr *)&ss, s->port);
		/* EINTR: the connect goes on, as for EINPROGRESS (POSIX). */
		if (connect(s->fd, (struct sockaddr *)&ss, ai->ai_addrlen) == 0 ||
		    errno == EINPROGRESS || errno == EINTR) {
			s->deadline = now_ms() + p->wait_ms;
			return;
		}
		slot_result(p, s, errno);
		if (ai->ai_next == NULL)
			return;
	}
}

/* A connect ended (err 0: it was accepted) or timed out: record it and
 * go on with the port's next address, if any. */
static void
slot_finish(struct probe *p, struct slot *s, int err)
{
	const struct addrinfo *next = s->ai->ai_next;

	slot_result(p, s, err);
	if (err != 0 && next != NULL)
		slot_start(p, s, next);
}

static int
probe_poll(struct probe *p, int active)
{
	struct pollfd pfd[PROBE_BATCH];
	int i, wait = p->wait_ms, err;
	int64_t now = now_ms();
	socklen_t len;

	for (i = 0; i < active; i++) {
		pfd[i].fd = p->slot[i].fd;
		pfd[i].events = POLLOUT;
		if (p->slot[i].fd != -1 && p->slot[i].deadline - now < wait)
			wait = (int)(p->slot[i].deadline - now);
	}
	if (poll(pfd, (nfds_t)active, wait < 0 ? 0 : wait) == -1 &&
	    errno != EINTR)
		die(EXIT_RUNTIME, "poll:");
	now = now_ms();
	for (i = 0; i < active; i++) {
		struct slot *s = &p->slot[i];

		if (s->fd == -1)
			continue;
		len = sizeof(err);
		if (pfd[i].revents != 0) {
			if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == -1)
				err = errno;
			slot_finish(p, s, err);
		} else if (now >= s->deadline)
			slot_finish(p, s, ETIMEDOUT);
	}
	return 0;
}

/* Keep up to PROBE_BATCH connects in flight until every port is done. */
static void
probe_all(struct probe *p)
{
	unsigned next = p->cfg->port_lo;
	int i, busy;

	for (i = 0; i < PROBE_BATCH; i++)
		p->slot[i].fd = -1;
	for (;;) {
		busy = 0;
		for (i = 0; i < PROBE_BATCH; i++) {
			if (p->slot[i].fd == -1 && next <= p->cfg->port_hi) {
				p->slot[i].port = next++;
				slot_start(p, &p->slot[i], p->addrs);
			}
			busy += p->slot[i].fd != -1;
		}
		if (busy == 0 && next > p->cfg->port_hi)
			return;
		probe_poll(p, PROBE_BATCH);
	}
}

static int
probe_report(const struct probe *p)
{
	const struct config *cfg = p->cfg;
	unsigned port;
	int found = 0;

	for (port = cfg->port_lo; port <= cfg->port_hi; port++)
		if (p->open[port - cfg->port_lo]) {
			printf("%u\n", port);
			found++;
		}
	if (fflush(stdout) == EOF)
		die(EXIT_RUNTIME, "write to stdout:");
	if (found > 0)
		return EXIT_OK;
	if (cfg->port_lo == cfg->port_hi)
		report("connect to %s: %s", p->last_addr,
		    strerror(p->last_err));
	else
		report("%s ports %u-%u: none open", cfg->host, cfg->port_lo,
		    cfg->port_hi);
	return EXIT_RUNTIME;
}

int
run_probe(const struct config *cfg)
{
	struct probe p = { .cfg = cfg };
	struct addrinfo hints = { .ai_family = cfg->family,
	    .ai_socktype = SOCK_STREAM };
	int rc, status;

	if ((rc = getaddrinfo(cfg->host, NULL, &hints, &p.addrs)) != 0)
		die(EXIT_RUNTIME, "resolve %s: %s", cfg->host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	p.wait_ms = cfg->timeout_ms >= 0 ? cfg->timeout_ms : PROBE_WAIT_MS;
	if ((p.open = calloc(cfg->port_hi - cfg->port_lo + 1, 1)) == NULL)
		die(EXIT_RUNTIME, "port table:");
	probe_all(&p);
	status = probe_report(&p);
	free(p.open);
	freeaddrinfo(p.addrs);
	return status;
}
