/* Rate limits, for log lines whose cause is a peer's input: a peer on the
 * network must not be able to make the node write a line per packet it sends
 * (malformed GIST or NSLP messages, messages that arrive where they should
 * not, ...) and so flood the log. In the spirit of the kernel's
 * net_ratelimit() and systemd's log_ratelimit: at most `burst` events per
 * `interval_ms`, the others refused and counted, the count reported once
 * when the window reopens. log_peer() in lib/log.h puts one behind each log
 * site; the node's own errors (configuration, startup, its own resources)
 * are not rate-limited.
 *
 * Contract:
 *  - Windows: the first event opens a window of interval_ms; in it, the first
 *    `burst` events are admitted and the others refused. The first event at
 *    or after the window's end opens the next window (and is admitted).
 *    interval_ms == 0: no limit, every event is admitted.
 *  - It counts events (calls of ratelimit_check()), nothing else: not bytes,
 *    not peers. One struct per log site: a flood of one kind of message does
 *    not silence the others, and the whole log is bounded by (sites x burst)
 *    lines, plus one summary per site, per interval.
 *  - Suppressed: the events refused since the last admitted one. An admitted
 *    event hands that count to its caller (to write "N suppressed") and
 *    starts it again at 0; nothing is reported while nobody calls (no timer:
 *    the summary comes with the next admitted event).
 *  - Never blocks, sleeps, allocates or fails; a check is a few compares.
 *    The clock is the caller's (ratelimit_check() takes the time), so tests
 *    need no sleeps; ratelimit_now_ms() is CLOCK_MONOTONIC unless a test
 *    replaced it (ratelimit_set_clock()).
 *  - Not thread-safe: netservd logs from its event loop only. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t interval_ms; /* the window; 0 = no limit */
	unsigned burst;       /* events admitted per window */
	/* State, zero to start with (RATELIMIT_INIT): */
	bool started;        /* a window was opened */
	uint64_t begin_ms;   /* the current window opened then */
	unsigned admitted;   /* events admitted in the current window */
	uint64_t suppressed; /* refused since the last admitted event */
};

#define RATELIMIT_INIT(interval, n)                                                                \
	{                                                                                          \
		.interval_ms = (interval), .burst = (n)                                            \
	}

/* One event at now_ms (ms on a monotonic clock). Returns true if it is
 * admitted: then *suppressed (NULL allowed) is set to the number of events
 * refused since the last admitted one, and that count restarts. Returns
 * false if it is refused (and counted). */
bool ratelimit_check(struct ratelimit *rl, uint64_t now_ms, uint64_t *suppressed);

/* The clock log_peer() passes to ratelimit_check(): CLOCK_MONOTONIC in ms. */
uint64_t ratelimit_now_ms(void);

/* Tests only: makes ratelimit_now_ms() return now() instead; NULL restores
 * CLOCK_MONOTONIC. */
void ratelimit_set_clock(uint64_t (*now)(void));
