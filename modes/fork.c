/*
 * fork.c: --fork. A child process for each client; the parent only accepts,
 * runs the stdin hub and reaps (SIGCHLD wakes it through a pipe, so no
 * child is left a zombie). With -e the child becomes the command itself.
 */
#include <unistd.h>

#include "nsock.h"

int
serve_fork(struct server *srv)
{
	struct conn c;
	pid_t pid;

	while (srv_wait_turn(srv) == 0) {	/* also waits for --max-conns */
		if (srv_accept(srv, &c) == -1)
			continue;
		if ((pid = srv_spawn(srv, &c)) == 0) {
			if (srv->cfg->exec_cmd != NULL)
				exec_command(srv->cfg, &c);
			_exit(serve_conn(srv, &c));
		}
		if (pid == -1) {
			report("fork for %s:", c.peer);
			srv_finished(srv, &c, EXIT_RUNTIME);
			continue;
		}
		conn_close(&c);			/* the parent keeps no copy */
	}
	return srv_close(srv);			/* stop children, reap */
}
