/*
 * access.c: --allow and --deny, who may talk to a server. Rules are
 * numeric addresses or CIDR prefixes, IPv4 or IPv6; names are not taken,
 * since checking them would need DNS on every accept.
 *
 * The rule: a peer that matches any --deny is refused (deny wins); else,
 * if any --allow was given, it must match one; else it comes in. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, an IPv4 client of the
 * dual-stack listener, or such a rule with a prefix of 96 or more) is
 * taken as the IPv4 address it carries, so IPv4 rules hold for it.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsock.h"

#define V4_IN_V6	12	/* bytes before the IPv4 address in ::ffff:a.b.c.d */

static bool
is_v4_mapped(const unsigned char addr[16])
{
	static const unsigned char prefix[V4_IN_V6] = { [10] = 0xff, 0xff };

	return memcmp(addr, prefix, V4_IN_V6) == 0;
}

/* PREFIX after the '/': decimal digits, at most max; -1 if not. */
static int
parse_prefix(const char *s, unsigned max, unsigned *prefix)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 3)
			return -1;
		n = n * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 0 || n > max)
		return -1;
	*prefix = n;
	return 0;
}

/* SPEC into r; -1 with why filled in when it is not a rule. */
static int
parse_rule(const char *spec, struct access_rule *r, char *why)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(spec, '/');
	size_t len = slash != NULL ? (size_t)(slash - spec) : strlen(spec);
	unsigned max;

	if (len < sizeof(host)) {
		memcpy(host, spec, len);
		host[len] = '\0';
	}
	if (len < sizeof(host) && inet_pton(AF_INET, host, r->addr) == 1)
		r->family = AF_INET;
	else if (len < sizeof(host) && inet_pton(AF_INET6, host, r->addr) == 1)
		r->family = AF_INET6;
	else {
		snprintf(why, ERR_STRLEN, "not an IPv4 or IPv6 address, "
		    "nor ADDRESS/PREFIX (names are not taken)");
		return -1;
	}
	max = r->family == AF_INET ? 32 : 128;
	r->prefix = max;
	if (slash != NULL && parse_prefix(slash + 1, max, &r->prefix) == -1) {
		snprintf(why, ERR_STRLEN, "prefix not a number from 0 to %u",
		    max);
		return -1;
	}
	if (r->family == AF_INET6 && r->prefix >= 8 * V4_IN_V6 &&
	    is_v4_mapped(r->addr)) {
		memmove(r->addr, r->addr + V4_IN_V6, 4);
		r->family = AF_INET;
		r->prefix -= 8 * V4_IN_V6;
	}
	return 0;
}

int
access_add(struct access_list *list, const char *spec, bool deny,
    char *why)
{
	struct access_rule r = { .spec = spec, .deny = deny }, *rules;

	if (parse_rule(spec, &r, why) == -1) {
		errno = EINVAL;
		return -1;
	}
	rules = realloc(list->rules, (list->n + 1) * sizeof(*rules));
	if (rules == NULL)
		return -1;
	list->rules = rules;
	list->rules[list->n++] = r;
	list->has_allow = list->has_allow || !deny;
	return 0;
}

static bool
rule_matches(const struct access_rule *r, int family,
    const unsigned char *addr)
{
	unsigned whole = r->prefix / 8, bits = r->prefix % 8;
	unsigned char mask = (unsigned char)(0xff << (8 - bits));

	if (r->family != family || memcmp(r->addr, addr, whole) != 0)
		return false;
	return bits == 0 || ((r->addr[whole] ^ addr[whole]) & mask) == 0;
}

/* The peer's family and address bytes, IPv4-mapped taken as IPv4. */
static int
peer_address(const struct sockaddr *sa, unsigned char addr[16])
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	if (sa->sa_family == AF_INET) {
		memcpy(addr, &s4->sin_addr, 4);
		return AF_INET;
	}
	memcpy(addr, &s6->sin6_addr, 16);
	if (!is_v4_mapped(addr))
		return AF_INET6;
	memmove(addr, addr + V4_IN_V6, 4);
	return AF_INET;
}

/* NULL if the peer may come in, else why not into why. */
static const char *
refusal(const struct access_list *list, const struct sockaddr *sa,
    char *why)
{
	unsigned char addr[16];
	int family = peer_address(sa, addr);
	size_t i;
	bool allowed = !list->has_allow;

	for (i = 0; i < list->n; i++) {
		if (!rule_matches(&list->rules[i], family, addr))
			continue;
		if (list->rules[i].deny) {
			snprintf(why, ERR_STRLEN, "--deny %s matches",
			    list->rules[i].spec);
			return why;
		}
		allowed = true;
	}
	return allowed ? NULL : "no --allow matches";
}

bool
access_check(const struct config *cfg, const struct sockaddr *sa,
    socklen_t salen, const char *what)
{
	char why[ERR_STRLEN], peer[ADDR_STRLEN];
	const char *no;

	/* Rules are about IP addresses; another family has none to match. */
	if (cfg->access.n == 0 ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return true;
	if ((no = refusal(&cfg->access, sa, why)) == NULL)
		return true;
	if (cfg->verbose) {
		net_format(sa, salen, peer);
		report("%s %s: %s", what, peer, no);
	}
	return false;
}

/* Close with a reset, not an orderly end: the client learns at once that
 * it was turned away, rather than seeing an empty session that went well. */
static void
reset_close(int fd)
{
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	close(fd);
}

int
access_accept(const struct config *cfg, int lfd, struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	for (;;) {
		if (net_accept(lfd, c) == -1)
			return -1;
		if (cfg->access.n == 0)
			return 0;
		sslen = sizeof(ss);
		/* getpeername fails only for a peer that is already gone. */
		if (getpeername(c->sock, (struct sockaddr *)&ss, &sslen) == 0 &&
		    access_check(cfg, (struct sockaddr *)&ss, sslen, "refused"))
			return 0;
		reset_close(c->sock);
		c->sock = -1;
	}
}
