/* dropper: drops packets. Without properties it drops every packet; with them
 * it drops only the packets that match them all and accepts the others:
 *   drop_proto  udp, tcp, icmp, icmpv6, sctp, or a protocol number 0..255
 *   drop_port   a destination port 1..65535 (TCP, UDP, UDP-Lite, SCTP)
 * A property that is not valid refuses the install (ns_init fails).
 * Counters: dropped, accepted. */
#include <netserv.h>

static int32_t proto = -1; /* -1: any */
static int32_t port = -1;  /* -1: any */
static int32_t c_dropped, c_accepted;

static int32_t parse_proto(char *s)
{
	for (char *c = s; *c; c++) {
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	}
	static const struct {
		const char *name;
		uint8_t proto;
	} names[] = {
	        {"udp", NS_IPPROTO_UDP},       {"tcp", NS_IPPROTO_TCP},   {"icmp", NS_IPPROTO_ICMP},
	        {"icmpv6", NS_IPPROTO_ICMPV6}, {"sctp", NS_IPPROTO_SCTP},
	};
	for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (ns_streq(s, names[i].name))
			return names[i].proto;
	}
	uint32_t v = ns_prop_u32("drop_proto", 256);
	return v <= 255 ? (int32_t)v : -1;
}

int32_t ns_init(void)
{
	char buf[16];
	c_dropped = ns_counter_id("dropped");
	c_accepted = ns_counter_id("accepted");
	if (ns_prop_get("drop_proto", buf, sizeof(buf)) >= 0) {
		proto = parse_proto(buf);
		if (proto < 0) {
			ns_logf(NS_LOG_ERR, "dropper: bad drop_proto '%s'", buf);
			return -NS_EINVAL;
		}
	}
	if (ns_prop_get("drop_port", buf, sizeof(buf)) >= 0) {
		uint32_t v = ns_prop_u32("drop_port", 0);
		if (v < 1 || v > 65535) {
			ns_logf(NS_LOG_ERR, "dropper: bad drop_port '%s'", buf);
			return -NS_EINVAL;
		}
		port = (int32_t)v;
	}
	return 0;
}

static bool matches(uint32_t len)
{
	if (proto < 0 && port < 0)
		return true;
	const uint8_t *pkt = ns_pkt_data();
	struct ns_ip ip;
	if (ns_ip_parse(pkt, len, &ip) < 0)
		return false;
	if (proto >= 0 && ip.proto != proto)
		return false;
	if (port >= 0) {
		uint16_t sport, dport;
		if (ns_l4_ports(pkt, &ip, &sport, &dport) < 0 || dport != port)
			return false;
	}
	return true;
}

int32_t ns_packet(uint32_t len)
{
	if (matches(len)) {
		ns_counter_add(c_dropped, 1);
		return NS_DROP;
	}
	ns_counter_add(c_accepted, 1);
	return NS_ACCEPT;
}
