/*
 * server.c: -l [ADDRESS] PORT over TCP, serving one client. Listen (and
 * write --port-file), accept one connection, stop listening so that later
 * clients are refused rather than left waiting, and pump it to its end.
 */
#include <unistd.h>

#include "nsock.h"

int
run_server(const struct config *cfg)
{
	struct conn c;
	char local[ADDR_STRLEN], err[ERR_STRLEN];
	int lfd, status;

	if ((lfd = net_listen(cfg, local, err)) == -1)
		die(EXIT_RUNTIME, "%s", err);
	verbose(cfg, "listening on %s", local);
	if (net_accept(lfd, &c) == -1)
		die(EXIT_RUNTIME, "accept on %s:", local);
	close(lfd);
	verbose(cfg, "connection from %s", c.peer);
	if (io_stdio_nonblock(&c.in, &c.out) == -1)
		die(EXIT_RUNTIME, "standard input or output:");
	status = pump_run(cfg, &c);
	close(c.sock);
	return status;
}
