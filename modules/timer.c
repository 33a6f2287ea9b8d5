/* timer: a timer test module. ns_init arms the periodic timer 1 to fire
 * every period_ms (property, default 100); each tick adds 1 to the counter
 * "ticks". With max_ticks (property) > 0, the timer is cancelled after that
 * many ticks and the counter "cancelled" becomes 1. With oneshot_ms
 * (property) > 0, the one-shot timer 2 fires once after that delay and adds
 * 1 to the counter "oneshot". It has no ns_packet: it is not a packet
 * module. */
#include <netserv.h>

enum { TIMER_TICK = 1, TIMER_ONESHOT = 2 };

static uint32_t ticks, max_ticks;
static int32_t c_ticks, c_cancelled, c_oneshot;

int32_t ns_init(void)
{
	uint32_t period = ns_prop_u32("period_ms", 100);
	uint32_t oneshot = ns_prop_u32("oneshot_ms", 0);
	if (period == 0) {
		ns_logs(NS_LOG_ERR, "timer: period_ms must be at least 1");
		return -NS_EINVAL;
	}
	ticks = 0;
	max_ticks = ns_prop_u32("max_ticks", 0);
	c_ticks = ns_counter_id("ticks");
	c_cancelled = ns_counter_id("cancelled");
	c_oneshot = ns_counter_id("oneshot");
	int32_t r = ns_timer_set(TIMER_TICK, period, true);
	if (r < 0) {
		ns_logf(NS_LOG_ERR, "timer: ns_timer_set failed: %d", (int)r);
		return r;
	}
	if (oneshot > 0) {
		r = ns_timer_set(TIMER_ONESHOT, oneshot, false);
		if (r < 0)
			return r;
	}
	return 0;
}

void ns_timer(uint32_t id)
{
	if (id == TIMER_ONESHOT) {
		ns_counter_add(c_oneshot, 1);
		return;
	}
	if (id != TIMER_TICK)
		return;
	ns_counter_add(c_ticks, 1);
	if (max_ticks && ++ticks >= max_ticks) {
		if (ns_timer_cancel(TIMER_TICK) == 0)
			ns_counter_add(c_cancelled, 1);
	}
}
