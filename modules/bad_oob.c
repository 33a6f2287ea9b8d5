/* bad_oob: a misbehaving test module. It accepts packets until the Nth one
 * of an instance (property oob_after, default 1), then accesses memory far
 * outside its linear memory: a wasm out-of-bounds trap. With oob_write=1 the
 * access is a store instead of a load. The node must contain the trap: the
 * packet gets the default verdict, the module is re-instantiated (which
 * restarts the count) and the trap is counted and reported.
 * Counter: packets (packets seen, the trapping one included). */
#include <netserv.h>

static uint32_t seen, oob_after;
static bool oob_write;
static int32_t c_packets;

int32_t ns_init(void)
{
	seen = 0;
	oob_after = ns_prop_u32("oob_after", 1);
	oob_write = ns_prop_u32("oob_write", 0) != 0;
	c_packets = ns_counter_id("packets");
	return 0;
}

int32_t ns_packet(uint32_t len)
{
	(void)len;
	ns_counter_add(c_packets, 1);
	if (++seen < oob_after)
		return NS_ACCEPT;
	/* Near the top of the 32-bit address space: beyond any memory. */
	volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)0xfffffff0u;
	if (oob_write) {
		*p = 0xdeadbeef;
		return NS_ACCEPT;
	}
	return (int32_t)(*p & 0) + NS_ACCEPT;
}
