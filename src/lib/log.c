/* Leveled logging to stderr and, optionally, syslog. When stderr is the
 * journal (systemd sets $JOURNAL_STREAM to its device:inode), each line
 * starts with its syslog priority, "<3>" ... "<7>", and carries no
 * timestamp: journald keeps the priority (journalctl -p works) and stamps
 * the time itself. */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static const char *log_ident = "netserv";
static enum log_level log_threshold = LOG_LVL_INFO;
static bool log_syslog;
static bool log_journal; /* stderr is the journal: "<N>" prefixes */

static const char *const level_names[] = {
        [LOG_LVL_ERR] = "err",   [LOG_LVL_WARN] = "warn",   [LOG_LVL_NOTICE] = "notice",
        [LOG_LVL_INFO] = "info", [LOG_LVL_DEBUG] = "debug",
};

static const int level_syslog[] = {
        [LOG_LVL_ERR] = LOG_ERR,   [LOG_LVL_WARN] = LOG_WARNING, [LOG_LVL_NOTICE] = LOG_NOTICE,
        [LOG_LVL_INFO] = LOG_INFO, [LOG_LVL_DEBUG] = LOG_DEBUG,
};

void log_setup(const char *ident, enum log_level level, bool use_syslog)
{
	if (log_syslog)
		closelog();
	log_ident = ident;
	log_threshold = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_journal = false;
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		log_journal = true;
}

int log_level_parse(const char *s, enum log_level *ret)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

/* One line: stderr (timestamp, ident, level) and syslog if asked. */
static void log_text(enum log_level level, const char *text)
{
	struct timespec ts;
	struct tm tm;
	if (log_journal) {
		fprintf(stderr, "<%d>%s: %s\n", level_syslog[level], level_names[level], text);
		if (log_syslog)
			syslog(level_syslog[level], "%s", text);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
	        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
	        log_ident, level_names[level], text);
	if (log_syslog)
		syslog(level_syslog[level], "%s", text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;

	int saved_errno = errno;
	char text[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_text(level, text);
	errno = saved_errno;
}

void log_ratelimited(struct ratelimit *rl, enum log_level level, const char *fmt, ...)
{
	uint64_t suppressed = 0;

	if (!log_enabled(level))
		return;
	if (!ratelimit_check(rl, ratelimit_now_ms(), &suppressed))
		return;

	int saved_errno = errno;
	char text[2048];
	if (suppressed) {
		snprintf(text, sizeof(text),
		         "rate limit: %llu messages like the next one suppressed (at most %u per "
		         "%llu ms)",
		         (unsigned long long)suppressed, rl->burst,
		         (unsigned long long)rl->interval_ms);
		log_text(level, text);
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_text(level, text);
	errno = saved_errno;
}
