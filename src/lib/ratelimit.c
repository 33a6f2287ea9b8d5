/* Rate limits for peer-caused log lines (see ratelimit.h). */
#include "lib/ratelimit.h"

#include <time.h>

static uint64_t (*test_clock)(void);

bool ratelimit_check(struct ratelimit *rl, uint64_t now_ms, uint64_t *suppressed)
{
	if (rl->interval_ms == 0)
		goto admit;
	/* A clock that went backwards (a test's, or a bug) opens a new window
	 * rather than keeping this one shut. */
	if (!rl->started || now_ms < rl->begin_ms || now_ms - rl->begin_ms >= rl->interval_ms) {
		rl->started = true;
		rl->begin_ms = now_ms;
		rl->admitted = 0;
	}
	if (rl->admitted >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->admitted++;
admit:
	if (suppressed)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

uint64_t ratelimit_now_ms(void)
{
	struct timespec ts;

	if (test_clock)
		return test_clock();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ratelimit_set_clock(uint64_t (*now)(void))
{
	test_clock = now;
}
