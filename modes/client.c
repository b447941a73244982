/*
 * client.c: -c HOST PORT over TCP. Connect, then pump stdin and stdout
 * through the connection until the session ends (SPEC.md item 2).
 */
#include <unistd.h>

#include "nsock.h"

int
run_client(const struct config *cfg)
{
	struct conn c = { .stop_fd = -1 };
	char err[ERR_STRLEN];
	int status;

	if ((c.sock = net_connect(cfg, c.peer, err)) == -1)
		die(EXIT_RUNTIME, "%s", err);
	verbose(cfg, "connected to %s", c.peer);
	if (io_stdio_nonblock(&c.in, &c.out, true) == -1)
		die(EXIT_RUNTIME, "standard input or output:");
	status = pump_run(cfg, &c);
	close(c.sock);
	return status;
}
