/* bad_loop: a misbehaving test module that never returns. Where it spins is
 * chosen by the property loop_in:
 *   packet (default)  in ns_packet, on the Nth packet (property loop_after,
 *                     default 1) of an instance
 *   init              in ns_init
 *   timer             in ns_timer, when timer 1 fires (armed by ns_init to
 *                     fire after 10 ms)
 * The node must stop it with its per-call time budget.
 * Counter: packets (packets seen). */
#include <netserv.h>

static uint32_t seen, loop_after;
static bool loop_in_packet;
static int32_t c_packets;
static volatile uint32_t spins; /* volatile: the loop is not optimized away */

static void spin(void)
{
	for (;;)
		spins++;
}

int32_t ns_init(void)
{
	seen = 0;
	loop_after = ns_prop_u32("loop_after", 1);
	c_packets = ns_counter_id("packets");
	if (ns_prop_is("loop_in", "init"))
		spin();
	if (ns_prop_is("loop_in", "timer"))
		return ns_timer_set(1, 10, false);
	loop_in_packet = true;
	return 0;
}

void ns_timer(uint32_t id)
{
	(void)id;
	spin();
}

int32_t ns_packet(uint32_t len)
{
	(void)len;
	ns_counter_add(c_packets, 1);
	if (loop_in_packet && ++seen >= loop_after)
		spin();
	return NS_ACCEPT;
}
