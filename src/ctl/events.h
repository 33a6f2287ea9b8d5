/* The controller's recent events: a bounded ring of what happened to the
 * node's modules and containers (installs, failures, traps, restarts,
 * refusals...), newest overwriting oldest, for the STATUS JSON ("events")
 * and the dashboard. Each event has a sequence number (1, 2, ... for the
 * node's life), so that a reader tells the new ones from those it has seen.
 *
 * Strings are copied, cut to a bound (at a UTF-8 character boundary) and
 * made valid UTF-8 (an invalid byte becomes '?'): they come from
 * publishers and must always render as JSON. Nothing here allocates after
 * ctl_events_init(). */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_EVENTS_DEFAULT 200

#define CTL_EVENT_PUBLISHER_LEN 64
#define CTL_EVENT_MODULE_LEN    160
#define CTL_EVENT_WHAT_LEN      24
#define CTL_EVENT_REASON_LEN    320

struct ctl_event {
	uint64_t seq;
	int64_t at_ms;                           /* wall clock, ms since the epoch */
	char publisher[CTL_EVENT_PUBLISHER_LEN]; /* "" when none */
	char module[CTL_EVENT_MODULE_LEN];       /* "" when none (a container's) */
	char what[CTL_EVENT_WHAT_LEN];           /* "setup", "active", "trap", ... */
	char reason[CTL_EVENT_REASON_LEN];       /* "" when none */
};

struct ctl_events {
	struct ctl_event *ring;
	size_t cap;
	size_t n;     /* events held, <= cap */
	size_t next;  /* slot of the next event */
	uint64_t seq; /* events ever added */
};

/* Allocates room for cap (> 0) events. Returns 0 or -ENOMEM / -EINVAL. */
int ctl_events_init(struct ctl_events *e, size_t cap);

/* Frees the ring; the struct may be initialized again. */
void ctl_events_done(struct ctl_events *e);

/* Records one event (any string may be NULL); the oldest goes when full. */
void ctl_events_add(struct ctl_events *e, int64_t at_ms, const char *publisher, const char *module,
                    const char *what, const char *reason);

/* The i-th event held, 0 the oldest; NULL past the end. */
const struct ctl_event *ctl_events_get(const struct ctl_events *e, size_t i);

/* The events as a JSON array, oldest first: objects {seq, time_ms,
 * publisher, module, what, reason}, empty strings as null. NULL on
 * allocation failure. */
json_t *ctl_events_json(const struct ctl_events *e);
