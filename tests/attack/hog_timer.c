/* hog_timer (attack module, tests/daemon/test_hog.sh): a periodic timer whose
 * callback runs longer than its period: busy for busy_ms (property, default
 * 12) every period_ms (default 10), as a legitimate module can under load.
 * Counts its ticks ("ticks") and the packets it sees ("packets"); accepts
 * every packet. The container must keep reading its queue and answering the
 * supervisor between two ticks. */
#include <netserv.h>

static uint32_t busy_ms;
static int32_t c_ticks, c_packets;

int32_t ns_init(void)
{
	busy_ms = ns_prop_u32("busy_ms", 12);
	c_ticks = ns_counter_id("ticks");
	c_packets = ns_counter_id("packets");
	return ns_timer_set(1, ns_prop_u32("period_ms", 10), true);
}

void ns_timer(uint32_t id)
{
	uint64_t end = ns_clock_ns() + (uint64_t)busy_ms * 1000000u;
	ns_counter_add(c_ticks, 1 + 0 * id);
	while (ns_clock_ns() < end)
		;
}

int32_t ns_packet(uint32_t len)
{
	ns_counter_add(c_packets, 1 + 0 * len);
	return NS_ACCEPT;
}
