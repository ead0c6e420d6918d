/*
 * The logger: one line per message on stderr, "LEVEL component message k=v",
 * level checked before formatting. Thread-safe (one fprintf per line).
 * COMPTOIR_LOG_MS=1 starts each line with the UTC time to the millisecond.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"

static enum cfg_log_level s_level = LOG_LEVEL_INFO;
static const char *const s_names[] = {"error", "warn", "info", "debug"};
/* Under systemd, journald reads a "<N>" prefix as the syslog priority. */
static const char *const s_prio[] = {"<3>", "<4>", "<6>", "<7>"};
static int s_journal = -1;
/* COMPTOIR_LOG_MS=1: each line starts with the UTC time to the ms, to order
 * the logs of several sites (tests/sim). journald stamps lines itself. */
static int s_stamp = -1;

void
log_set_level(enum cfg_log_level level)
{
	s_level = level;
}

int
log_enabled(enum cfg_log_level level)
{
	return level <= s_level;
}

static void
s_vlog(enum cfg_log_level level, const char *component, const char *fmt, va_list ap)
{
	char line[2048];
	int n;

	char stamp[64] = "";

	if (s_journal < 0)
		s_journal = getenv("JOURNAL_STREAM") != NULL;
	if (s_stamp < 0) {
		const char *v = getenv("COMPTOIR_LOG_MS");
		s_stamp = v != NULL && strcmp(v, "1") == 0;
	}
	if (s_stamp && !s_journal) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
		         (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		         tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);
	}
	n = snprintf(line, sizeof(line), "%s%s%s %s ", s_journal ? s_prio[level] : "", stamp,
	             s_names[level], component);

	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void
log_msg(enum cfg_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	s_vlog(level, component, fmt, ap);
	va_end(ap);
}

void
fatalx(const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s_vlog(LOG_LEVEL_ERROR, component, fmt, ap);
	va_end(ap);
	exit(1);
}
