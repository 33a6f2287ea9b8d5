/* rewrite: a packet-modifying test module. For each UDP packet it XORs one
 * payload byte, optionally grows or shrinks the payload, rewrites the IP and
 * UDP lengths and checksums (ns_pkt_fixup) and returns NS_MODIFIED; other
 * packets (and fragments) are accepted unchanged. Properties:
 *   offset  the payload byte to change, default 0 (none if the payload is
 *           shorter)
 *   xor     the value XORed into it, default 0x20 (ASCII case: "hello" ->
 *           "Hello")
 *   resize  bytes to append (> 0, each set to `fill`) or to cut (< 0) at the
 *           end of the payload, default 0; a cut stops at an empty payload
 *   fill    the value of appended bytes, default 0x2e ('.')
 * Counters: modified, skipped. */
#include <netserv.h>

static uint32_t offset;
static uint8_t xor_value, fill;
static int32_t resize;
static int32_t c_modified, c_skipped;

int32_t ns_init(void)
{
	offset = ns_prop_u32("offset", 0);
	xor_value = (uint8_t)ns_prop_u32("xor", 0x20);
	fill = (uint8_t)ns_prop_u32("fill", '.');
	resize = ns_prop_i32("resize", 0);
	c_modified = ns_counter_id("modified");
	c_skipped = ns_counter_id("skipped");
	return 0;
}

int32_t ns_packet(uint32_t len)
{
	uint8_t *pkt = ns_pkt_data();
	struct ns_ip ip;
	struct ns_udp udp;
	if (ns_ip_parse(pkt, len, &ip) < 0 || ip.is_fragment || ns_udp_parse(pkt, &ip, &udp) < 0) {
		ns_counter_add(c_skipped, 1);
		return NS_ACCEPT;
	}
	if (offset < udp.payload_len)
		pkt[udp.payload_off + offset] ^= xor_value;

	/* The new end of the payload (and of the packet: anything after the UDP
	 * datagram, such as link padding, is cut). */
	int64_t end = (int64_t)udp.payload_off + udp.payload_len;
	int64_t new_end = end + resize;
	if (new_end < udp.payload_off)
		new_end = udp.payload_off;
	if (new_end > NS_PACKET_MAX)
		new_end = NS_PACKET_MAX;
	if (new_end > end)
		ns_memset(pkt + end, fill, (size_t)(new_end - end));

	if (ns_pkt_fixup(pkt, (uint32_t)new_end) < 0 ||
	    ((uint32_t)new_end != len && ns_pkt_set_len((uint32_t)new_end) < 0)) {
		ns_counter_add(c_skipped, 1);
		return NS_ACCEPT; /* the node passes the packet on as received */
	}
	ns_counter_add(c_modified, 1);
	return NS_MODIFIED;
}
