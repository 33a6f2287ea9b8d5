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

/* Parses a dotted quad; returns whether it is one. */
static bool parse_ipv4(const char *s, uint8_t out[4])
{
	uint32_t part = 0, n = 0, digits = 0;
	for (;; s++) {
		if (*s >= '0' && *s <= '9') {
			part = part * 10 + (uint32_t)(*s - '0');
			if (++digits > 3 || part > 255)
				return false;
		} else if (*s == '.' || *s == '\0') {
			if (!digits || n >= 4)
				return false;
			out[n++] = (uint8_t)part;
			part = digits = 0;
			if (*s == '\0')
				break;
		} else {
			return false;
		}
	}
	return n == 4;
}

int32_t ns_init(void)
{
	char a[32], b[32];
	c_sent = ns_counter_id("sent");
	c_refused = ns_counter_id("refused");
	c_failed = ns_counter_id("failed");
	dport = (uint16_t)ns_prop_u32("dport", 9);
	configured = ns_prop_get("src", a, sizeof(a) - 1) > 0 &&
	             ns_prop_get("dst", b, sizeof(b) - 1) > 0;
	if (!configured)
		return 0;
	int32_t la = ns_prop_get("src", a, sizeof(a) - 1),
	        lb = ns_prop_get("dst", b, sizeof(b) - 1);
	a[la] = '\0';
	b[lb] = '\0';
	if (!parse_ipv4(a, src) || !parse_ipv4(b, dst)) {
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
	uint8_t pkt[28 + sizeof(payload) - 1];
	ns_memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x45;
	pkt[8] = 64;
	pkt[9] = NS_IPPROTO_UDP;
	ns_memcpy(pkt + 12, src, 4);
	ns_memcpy(pkt + 16, dst, 4);
	ns_put_be16(pkt + 20, 40000);
	ns_put_be16(pkt + 22, dport);
	ns_memcpy(pkt + 28, payload, sizeof(payload) - 1);
	ns_pkt_fixup(pkt, sizeof(pkt));
	int32_t r = ns_send_packet(pkt, sizeof(pkt));
	if (r == 0)
		ns_counter_add(c_sent, 1);
	else if (r == -NS_EPERM)
		ns_counter_add(c_refused, 1);
	else
		ns_counter_add(c_failed, 1);
	return NS_ACCEPT;
}
