/* hog_packet (attack module, tests/daemon/test_hog.sh): a packet handler that
 * runs busy_ms (property, default 90) per packet, under the node's 100 ms
 * budget, so it never traps; at a few tens of packets per second it keeps
 * its container from answering the supervisor. Counts "packets"; accepts
 * every packet. */
#include <netserv.h>

static uint32_t busy_ms;
static int32_t c_packets;

int32_t ns_init(void)
{
	busy_ms = ns_prop_u32("busy_ms", 90);
	c_packets = ns_counter_id("packets");
	return 0;
}

int32_t ns_packet(uint32_t len)
{
	uint64_t end = ns_clock_ns() + (uint64_t)busy_ms * 1000000u;
	ns_counter_add(c_packets, 1 + 0 * len);
	while (ns_clock_ns() < end)
		;
	return NS_ACCEPT;
}
