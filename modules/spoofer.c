/* spoofer: a test module for the node's send policy. For every packet it
 * sees it crafts one IPv4 UDP packet from `src` to `dst` (properties,
 * dotted quads; `dport` default 9, discard) and sends it with ns_send_packet.
 * A node lets a publisher's crafted packets carry only source addresses
 * inside its authorized prefixes: with a foreign `src` every send is refused
 * (and the node counts it as sends_refused).
 * Counters: sent, refused (sends the node refused), failed (other errors).
 * Every packet is accepted unchanged. */
#include <netserv.h>

static uint8_t src[4], dst[4];
static uint16_t dport;
static bool configured;
static int32_t c_sent, c_refused, c_failed;

int32_t ns_init(void)
{
	c_sent = ns_counter_id("sent");
	c_refused = ns_counter_id("refused");
	c_failed = ns_counter_id("failed");
	dport = (uint16_t)ns_prop_u32("dport", 9);
	int a = ns_prop_addr("src", src), b = ns_prop_addr("dst", dst);
	configured = a != 0 && b != 0;
	if (a < 0 || b < 0 || (configured && (a != 4 || b != 4))) {
		ns_logs(NS_LOG_ERR, "spoofer: src and dst must be IPv4 addresses");
		return -1;
	}
	return 0;
}

int32_t ns_packet(uint32_t len)
{
	(void)len;
	if (!configured)
		return NS_ACCEPT;
	static const char payload[] = "netserv spoofer";
	struct ns_flow f = {.version = 4, .proto = NS_IPPROTO_UDP, .sport = 40000, .dport = dport};
	ns_memcpy(f.src, src, 4);
	ns_memcpy(f.dst, dst, 4);
	uint8_t pkt[28 + sizeof(payload) - 1];
	ns_build_packet(pkt, sizeof(pkt), &f, payload, sizeof(payload) - 1);
	int32_t r = ns_send_packet(pkt, sizeof(pkt));
	if (r == 0)
		ns_counter_add(c_sent, 1);
	else if (r == -NS_EPERM)
		ns_counter_add(c_refused, 1);
	else
		ns_counter_add(c_failed, 1);
	return NS_ACCEPT;
}
