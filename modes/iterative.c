/*
 * iterative.c: -k (--iterative), and -l alone. One client at a time, in the
 * process itself: accept, serve, close, and the next.
 */
#include "nsock.h"

int
serve_iterative(struct server *srv)
{
	struct conn c;

	while (srv_wait_turn(srv) == 0)		/* --count, SIGTERM */
		if (srv_accept(srv, &c) == 0)	/* EMFILE backs off inside */
			srv_finished(srv, &c, serve_conn(srv, &c));
	return srv_close(srv);
}
