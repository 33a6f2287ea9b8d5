/* Leveled logging to stderr (and syslog when asked). The daemon logs at its
 * boundaries; library code returns errors instead of logging them. */
#pragma once

#include <stdbool.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_NOTICE,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Sets the program name, the threshold and whether messages also go to syslog. */
void log_setup(const char *ident, enum log_level level, bool use_syslog);

/* Parses "err", "warn", "notice", "info" or "debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *ret);

/* Returns whether a message at `level` would be written. */
bool log_enabled(enum log_level level);

/* Writes one message at `level` (a trailing newline is added). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((__format__(printf, 2, 3)));

#define log_err(...)    log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)
