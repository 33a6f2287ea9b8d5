/* A bounded ring of a module's recent log lines, for its publisher (issue
 * #20): the last LOGRING_LINES lines, each cut to LOGRING_LINE_MAX bytes (a longer one
 * ends with "...") of
 * printable ASCII (anything else becomes '?', so a line always renders in
 * JSON and in an NCM header), and a count of the lines that did not make it:
 * those the rate limit suppressed (logring_suppress()) and those pushed out
 * of the ring by newer ones. Fixed size, never allocates, never fails. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define LOGRING_LINES    32
#define LOGRING_LINE_MAX 200

struct logring_line {
	int64_t time_ms;                 /* wall clock, ms since the epoch */
	uint8_t level;                   /* 0 err, 1 warn, 2 info, 3 debug */
	char text[LOGRING_LINE_MAX + 1]; /* a cut line ends with "..." */
};

struct logring {
	struct logring_line v[LOGRING_LINES];
	uint32_t n;           /* lines held, <= LOGRING_LINES */
	uint32_t next;        /* slot of the next line */
	uint64_t suppressed;  /* refused by the rate limit */
	uint64_t overwritten; /* pushed out by newer lines */
};

/* Empties the ring and its counts. */
void logring_init(struct logring *r);

/* Keeps one line of len bytes (not necessarily terminated); the oldest goes
 * when full. Levels above 3 are kept as 3. */
void logring_add(struct logring *r, int64_t time_ms, unsigned level, const char *text, size_t len);

/* Counts one line that the rate limit refused. */
void logring_suppress(struct logring *r);

/* The i-th line held, 0 the oldest; NULL past the end. */
const struct logring_line *logring_get(const struct logring *r, uint32_t i);

/* The newest line's text, NULL when empty. */
const char *logring_last(const struct logring *r);

/* Lines that are not in the ring: suppressed + overwritten. */
uint64_t logring_dropped(const struct logring *r);

/* The name of a level: "err", "warn", "info", "debug". */
const char *logring_level_name(unsigned level);
