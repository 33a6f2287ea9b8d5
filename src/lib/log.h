/* Leveled logging to stderr (and syslog when asked). The daemon logs at its
 * boundaries; library code returns errors instead of logging them. */
#pragma once

#include <stdbool.h>

#include "lib/ratelimit.h"

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

/* Lines whose cause is a peer's input (a malformed or unexpected message from
 * the network): at most LOG_PEER_BURST lines per LOG_PEER_INTERVAL_MS from
 * each call site (the kernel's net_ratelimit() defaults), so that a peer
 * cannot flood the log. When a site's window reopens after it refused lines,
 * its next line is preceded by one summary line at the same level:
 *   "rate limit: N messages like the next one suppressed (at most B per I ms)"
 * Lines below the threshold are not counted. Never blocks (ratelimit.h). */
#define LOG_PEER_INTERVAL_MS 5000
#define LOG_PEER_BURST       10

/* Writes one message at `level` if rl admits it (see above); log_peer() gives
 * each call site its own rl. */
void log_ratelimited(struct ratelimit *rl, enum log_level level, const char *fmt, ...)
        __attribute__((__format__(printf, 3, 4)));

#define log_peer(level, ...)                                                                       \
	do {                                                                                       \
		static struct ratelimit log_peer_rl_ =                                             \
		        RATELIMIT_INIT(LOG_PEER_INTERVAL_MS, LOG_PEER_BURST);                      \
		log_ratelimited(&log_peer_rl_, (level), __VA_ARGS__);                              \
	} while (0)

#define log_peer_warn(...)   log_peer(LOG_LVL_WARN, __VA_ARGS__)
#define log_peer_notice(...) log_peer(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_peer_info(...)   log_peer(LOG_LVL_INFO, __VA_ARGS__)
#define log_peer_debug(...)  log_peer(LOG_LVL_DEBUG, __VA_ARGS__)
