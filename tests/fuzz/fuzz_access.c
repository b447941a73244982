/*
 * fuzz_access.c: a libFuzzer target for --allow and --deny
 * (modes/access.c; make fuzz).
 *
 * The input is a peer and rules: one byte, its family (even: IPv4, odd:
 * IPv6), 16 bytes, its address (IPv4 takes the first 4), then the rules
 * split on NUL bytes, each an --allow SPEC, or a --deny SPEC when it
 * starts with '!'. Each rule goes through access_add as the command line
 * gives it, then the peer through access_check as each accept and datagram
 * does, with -v so that a refusal is formatted too. One property is
 * checked beside the sanitizers: a rule that access_add takes without a
 * /PREFIX names one address, and matches a peer with that address,
 * IPv4-mapped IPv6 included (else abort(), a finding).
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "nsock.h"

#define PEER_BYTES	17	/* family, address */

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A rule of one address comes to the peer with that address as deny
 * says: refused for --deny, let in for --allow. */
static void
check_one_address(const char *spec, bool deny)
{
	struct config cfg = { 0 };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	char why[ERR_STRLEN];
	bool in;

	if (strchr(spec, '/') != NULL ||
	    access_add(&cfg.access, spec, deny, why) == -1)
		return;
	if (inet_pton(AF_INET, spec, &s4.sin_addr) == 1)
		in = access_check(&cfg, (struct sockaddr *)&s4, sizeof(s4),
		    "refused");
	else if (inet_pton(AF_INET6, spec, &s6.sin6_addr) == 1)
		in = access_check(&cfg, (struct sockaddr *)&s6, sizeof(s6),
		    "refused");
	else
		abort();	/* taken, yet no address */
	if (in == deny)
		abort();
	free(cfg.access.rules);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg = { .verbose = true };
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	char *buf, *spec, why[ERR_STRLEN];
	size_t i;
	bool deny;

	if (size < PEER_BYTES || (buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(&s4.sin_addr, data + 1, 4);
	memcpy(&s6.sin6_addr, data + 1, 16);
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = PEER_BYTES; i < size; i += strlen(buf + i) + 1) {
		spec = buf + i;
		if ((deny = spec[0] == '!'))
			spec++;
		(void)access_add(&cfg.access, spec, deny, why);
		check_one_address(spec, deny);
	}
	if (data[0] % 2 == 0)
		(void)access_check(&cfg, (struct sockaddr *)&s4, sizeof(s4),
		    "refused");
	else
		(void)access_check(&cfg, (struct sockaddr *)&s6, sizeof(s6),
		    "refused");
	free(cfg.access.rules);
	free(buf);
	return 0;
}
