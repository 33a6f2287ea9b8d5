/* Tests and benchmarks: run an event loop until a condition holds or a
 * deadline passes (never sleep, then assert). Header-only; the caller links
 * lib/evloop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lib/evloop.h"

struct loop_wait {
	bool (*pred)(void *);
	void *ctx;
	uint64_t deadline_ms;
	bool ok;
};

static inline void loop_wait_tick(struct evloop *loop, void *arg)
{
	struct loop_wait *w = arg;

	if (w->pred(w->ctx)) {
		w->ok = true;
		evloop_stop(loop);
	} else if (evloop_now_ms() >= w->deadline_ms) {
		evloop_stop(loop);
	} else if (!evloop_timer_add(loop, 2, loop_wait_tick, w)) {
		evloop_stop(loop);
	}
}

/* Runs loop until pred(ctx) holds (checked every 2 ms) or ms pass. Returns
 * whether it held. */
static inline bool loop_wait_until(struct evloop *loop, bool (*pred)(void *), void *ctx,
                                   unsigned ms)
{
	struct loop_wait w = {.pred = pred, .ctx = ctx, .deadline_ms = evloop_now_ms() + ms};

	if (!evloop_timer_add(loop, 0, loop_wait_tick, &w))
		return pred(ctx);
	evloop_run(loop);
	return w.ok || pred(ctx);
}

static inline bool loop_wait_flag_is_set(void *flag)
{
	return *(const bool *)flag;
}

/* Runs loop until *flag is true or ms pass. Returns *flag. */
static inline bool loop_wait_flag(struct evloop *loop, const bool *flag, unsigned ms)
{
	return loop_wait_until(loop, loop_wait_flag_is_set, (void *)flag, ms);
}
