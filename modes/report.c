/*
 * report.c: the one place that writes messages to stderr.
 *
 * Every message is one line "nsock: WHAT: WHY", built in a buffer and sent
 * with a single write(2) so that children and threads never interleave.
 * A format ending in ':' gets ' ' and strerror(errno) appended.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nsock.h"

static void
vemit(const char *fmt, va_list ap, const char *tail)
{
	char line[1024];
	int saved = errno;
	size_t n, flen = strlen(fmt);
	int r;

	n = (size_t)snprintf(line, sizeof(line), "nsock: ");
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = r < 0 ? n : n + (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (flen > 0 && fmt[flen - 1] == ':') {
		r = snprintf(line + n, sizeof(line) - n, " %s", strerror(saved));
		n += r < 0 ? 0 : (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	if (tail != NULL) {
		r = snprintf(line + n, sizeof(line) - n, "%s", tail);
		n += r < 0 ? 0 : (size_t)r;
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	meter_erase_shown();	/* --progress: start at column 0 */
	(void)io_write_all(STDERR_FILENO, line, n);
	errno = saved;
}

void
report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(fmt, ap, NULL);
	va_end(ap);
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(fmt, ap, NULL);
	va_end(ap);
	exit(status);
}

void
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vemit(fmt, ap, "\nTry 'nsock --help' for more information.");
	va_end(ap);
	exit(EXIT_USAGE);
}

void
verbose(const struct config *cfg, const char *fmt, ...)
{
	va_list ap;

	if (!cfg->verbose)
		return;
	va_start(ap, fmt);
	vemit(fmt, ap, NULL);
	va_end(ap);
}

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
