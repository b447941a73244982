/*
 * threads.c: --threads. A detached thread for each client, on a small
 * stack (the pump's buffers are on the heap). A thread that ends counts
 * itself out and wakes the main loop; on a stop, every pump sees the stop
 * pipe and ends, and srv_close waits for the count to reach zero.
 */
#include <pthread.h>
#include <stdlib.h>

#include "nsock.h"

#define THREAD_STACK	(256 * 1024)

struct job {
	struct server	*srv;
	struct conn	 c;
};

static void *
serve_job(void *arg)
{
	struct job *job = arg;

	srv_finished(job->srv, &job->c, serve_conn(job->srv, &job->c));
	free(job);
	return NULL;
}

int
serve_threads(struct server *srv)
{
	pthread_attr_t attr;
	pthread_t tid;
	struct job *job;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (srv_wait_turn(srv) == 0) {
		if ((job = malloc(sizeof(*job))) == NULL)
			die(EXIT_RUNTIME, "thread:");
		job->srv = srv;
		if (srv_accept(srv, &job->c) == -1) {
			free(job);
			continue;
		}
		if (pthread_create(&tid, &attr, serve_job, job) != 0) {
			report("thread for %s: cannot start", job->c.peer);
			srv_finished(srv, &job->c, EXIT_RUNTIME);
			free(job);
		}
	}
	pthread_attr_destroy(&attr);
	return srv_close(srv);
}
