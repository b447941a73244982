/*
 * signals.c: SIGPIPE ignored for good, and the stop request (SIGINT,
 * SIGTERM) that servers wait for together with I/O. The UDP server keeps
 * the signals blocked except inside ppoll(2), so a stop cannot slip in
 * between checking the flag and going to sleep; a TCP server, whose
 * threads and pumps poll on their own, gets a self-pipe instead. And the last word before a deadly
 * signal kills us: undoing what we changed in descriptors we share.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <unistd.h>

#include "nsock.h"

static volatile sig_atomic_t stop_signal;
static int stop_note = -1;	/* written on a stop, so pollers see it */
static int child_note = -1;	/* written on SIGCHLD */

static void
note(int fd)
{
	int saved = errno;

	if (fd != -1)			/* io_write: EINTR retried */
		(void)io_write(fd, "", 1);
	errno = saved;
}

static void
on_stop(int sig)
{
	stop_signal = sig;
	note(stop_note);
}

static void
on_child(int sig)
{
	(void)sig;
	note(child_note);
}

void
sig_notify(int stop_fd, int child_fd)
{
	struct sigaction sa = { .sa_handler = on_stop };

	stop_note = stop_fd;
	child_note = child_fd;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A hang-up (the terminal closed) ends us too: through the same
	 * stop, so -e commands in their own process groups end with us. */
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	sigaction(SIGCHLD, &sa, NULL);
}

void
sig_default(void)
{
	sigset_t none;

	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void
sig_init(void)
{
	signal(SIGPIPE, SIG_IGN);
}

void
sig_catch_stop(sigset_t *waitmask)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void (*on_death[DEATH_HOOKS])(void);
static volatile sig_atomic_t n_on_death;

static void
undo_and_die(int sig)
{
	sig_atomic_t i;

	for (i = 0; i < n_on_death; i++)
		on_death[i]();	/* async-signal-safe: fcntl(2), unlink(2) */
	signal(sig, SIG_DFL);
	raise(sig);
}

void
sig_undo_on_death(void (*undo)(void))
{
	static const int deadly[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = undo_and_die }, old;
	size_t i;

	for (i = 0; i < (size_t)n_on_death; i++)
		if (on_death[i] == undo)
			return;
	if (n_on_death == DEATH_HOOKS)
		return;
	on_death[n_on_death] = undo;	/* in place before it is counted */
	n_on_death++;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(deadly) / sizeof(deadly[0]); i++)
		if (sigaction(deadly[i], NULL, &old) == 0 &&
		    old.sa_handler == SIG_DFL)
			sigaction(deadly[i], &sa, NULL);
}

bool
sig_stopping(void)
{
	return stop_signal != 0;
}
