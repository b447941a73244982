/*
 * stats.c: --stats and --progress. The summary line a session ends with,
 * and the one-line meter redrawn on a terminal's stderr while bytes move.
 * Neither costs the bulk path anything: the pump hands them its counters
 * and the time it already took, and the meter is drawn only when poll(2)
 * wakes anyway or its timeout (see pump_wait) says a redraw is due.
 */
#include <sys/stat.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nsock.h"

#define METER_EVERY_MS	250	/* a few redraws a second */

/* The meter whose line is on the terminal: report.c erases it before any
 * message, so that message starts at column 0. One session a process has
 * a meter (--progress is refused where sessions run side by side). */
static struct meter *on_screen;

int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
stats_report(const char *what, const struct tally *t)
{
	int64_t us = now_us() - t->start_us;
	double secs = (us > 0 ? us : 1) / 1e6;
	double rate = (double)(t->sent + t->received) / secs / 1e6;
	char sent[48] = "", received[48] = "";

	if (t->datagrams) {
		snprintf(sent, sizeof(sent), " (%" PRIu64 " datagrams)",
		    t->sent_dgrams);
		snprintf(received, sizeof(received), " (%" PRIu64
		    " datagrams)", t->recv_dgrams);
	}
	report("%s: sent %" PRIu64 " bytes%s, received %" PRIu64
	    " bytes%s in %.3f s (%.1f MB/s)", what, t->sent, sent,
	    t->received, received, secs, rate);
}

void
meter_init(struct meter *m, const struct config *cfg, int in)
{
	struct stat st;
	off_t at;

	m->on = cfg->progress && isatty(STDERR_FILENO);
	m->drawn = false;
	m->start = m->at = now_ms();
	m->next = m->start + METER_EVERY_MS;
	m->total = -1;
	/* A regular file has a known size: what is left of it from where
	 * its offset stands (a shell may have read some already). */
	if (m->on && cfg->dirs != DIR_RECV_ONLY && in >= 0 &&
	    fstat(in, &st) == 0 && S_ISREG(st.st_mode) &&
	    (at = lseek(in, 0, SEEK_CUR)) != -1 && st.st_size > at)
		m->total = st.st_size - at;
}

int64_t
meter_due(const struct meter *m)
{
	return m != NULL && m->on ? m->next : -1;
}

int64_t
meter_clock(const struct meter *m, int64_t last)
{
	return last > m->at ? last : m->at;
}

/* n bytes as "1.5 MB": decimal units, as the rate. */
static void
human(char *buf, size_t size, double n)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	size_t i = 0;

	while (n >= 1000 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		n /= 1000;
		i++;
	}
	snprintf(buf, size, i == 0 ? "%.0f %s" : "%.1f %s", n, unit[i]);
}

/* secs as "M:SS", or "H:MM:SS" from an hour. */
static void
clock_face(char *buf, size_t size, int64_t secs)
{
	if (secs >= 3600)
		snprintf(buf, size, "%" PRId64 ":%02d:%02d", secs / 3600,
		    (int)(secs / 60 % 60), (int)(secs % 60));
	else
		snprintf(buf, size, "%d:%02d", (int)(secs / 60),
		    (int)(secs % 60));
}

/* " (45%), ... ETA 0:04" parts, when the size is known. */
static void
meter_share(const struct meter *m, uint64_t sent, int64_t ms, char *pct,
    char *eta, size_t size)
{
	double left;

	pct[0] = eta[0] = '\0';
	if (m->total < 0)
		return;
	snprintf(pct, size, " (%d%%)", sent >= (uint64_t)m->total ? 100 :
	    (int)(sent * 100 / (uint64_t)m->total));
	if (sent == 0 || sent >= (uint64_t)m->total)
		return;
	left = (double)((uint64_t)m->total - sent) * (double)ms / (double)sent;
	clock_face(eta + 6, size - 6, (int64_t)(left / 1000 + 0.5));
	memcpy(eta, ", ETA ", 6);
}

void
meter_tick(struct meter *m, uint64_t sent, uint64_t received, int64_t now)
{
	char line[200], s[16], r[16], rate[16], el[32], pct[16], eta[48];
	int64_t ms = now - m->start;
	int n;

	m->at = now;
	if (!m->on || now < m->next)
		return;
	m->next = now + METER_EVERY_MS;
	human(s, sizeof(s), (double)sent);
	human(r, sizeof(r), (double)received);
	human(rate, sizeof(rate), ms > 0 ?
	    (double)(sent + received) * 1000 / (double)ms : 0);
	clock_face(el, sizeof(el), ms / 1000);
	meter_share(m, sent, ms, pct, eta, sizeof(eta));
	/* \r, the line, and the rest of the old one cleared: one write. */
	n = snprintf(line, sizeof(line), "\rsent %s%s, received %s, %s/s, "
	    "%s%s\033[K", s, pct, r, rate, el, eta);
	if (n > 0)
		(void)io_write_all(STDERR_FILENO, line, (size_t)n <
		    sizeof(line) ? (size_t)n : sizeof(line) - 1);
	m->drawn = true;
	on_screen = m;
}

void
meter_erase(struct meter *m)
{
	if (m == NULL || !m->drawn)
		return;
	(void)io_write_all(STDERR_FILENO, "\r\033[K", 4);
	m->drawn = false;
	on_screen = NULL;
}

void
meter_erase_shown(void)
{
	meter_erase(on_screen);
}
