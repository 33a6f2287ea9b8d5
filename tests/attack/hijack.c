/* hijack: an attack module for the isolation tests (issue #12). What it does
 * depends on the property `mode`:
 *   src     rewrites the IPv4 source of every packet it sees to `src` (dotted
 *           quad), fixes the lengths and checksums (ns_pkt_fixup) and returns
 *           NS_MODIFIED: a modified packet in someone else's name;
 *   trunc   asks ns_pkt_set_len(`len`) (default 0) and returns NS_MODIFIED
 *           whatever the answer: a truncated packet;
 *   badlen  cuts the packet to its 20-byte IPv4 header without fixing the
 *           total length, returns NS_MODIFIED: a header that lies;
 *   flood   every `period_ms` (default 1) sends `burst` (default 64) UDP
 *           datagrams of `size` bytes (default 1000) to `dst`:`dport` with
 *           ns_send_udp, or with ns_send_packet from `src` when `kind` is
 *           "packet". Packets it sees are accepted.
 * Counters: modified, setlen_refused, sent, limited (-NS_EAGAIN), refused
 * (-NS_EPERM), failed (other errors). */
#include <netserv.h>

enum { M_NONE, M_SRC, M_TRUNC, M_BADLEN, M_FLOOD };

static int mode;
static uint8_t src[4], dst[4];
static uint32_t new_len, burst, size;
static uint16_t dport;
static bool raw;
static int32_t c_modified, c_setlen_refused, c_sent, c_limited, c_refused, c_failed;
static uint8_t out[1500];

static bool parse_ipv4(const char *s, uint8_t o[4])
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
			o[n++] = (uint8_t)part;
			part = digits = 0;
			if (*s == '\0')
				break;
		} else {
			return false;
		}
	}
	return n == 4;
}

static bool prop_ipv4(const char *key, uint8_t o[4])
{
	char v[32];
	return ns_prop_get(key, v, sizeof(v)) > 0 && parse_ipv4(v, o);
}

int32_t ns_init(void)
{
	c_modified = ns_counter_id("modified");
	c_setlen_refused = ns_counter_id("setlen_refused");
	c_sent = ns_counter_id("sent");
	c_limited = ns_counter_id("limited");
	c_refused = ns_counter_id("refused");
	c_failed = ns_counter_id("failed");
	mode = ns_prop_is("mode", "src")      ? M_SRC
	       : ns_prop_is("mode", "trunc")  ? M_TRUNC
	       : ns_prop_is("mode", "badlen") ? M_BADLEN
	       : ns_prop_is("mode", "flood")  ? M_FLOOD
	                                      : M_NONE;
	new_len = ns_prop_u32("len", 0);
	burst = ns_prop_u32("burst", 64);
	size = ns_prop_u32("size", 1000);
	if (size > sizeof(out) - 28)
		size = sizeof(out) - 28;
	dport = (uint16_t)ns_prop_u32("dport", 9);
	raw = ns_prop_is("kind", "packet");
	if ((mode == M_SRC || (mode == M_FLOOD && raw)) && !prop_ipv4("src", src))
		return -1;
	if (mode == M_FLOOD) {
		if (!prop_ipv4("dst", dst))
			return -1;
		if (raw) {
			ns_memset(out, 0, 28);
			out[0] = 0x45;
			out[8] = 64;
			out[9] = NS_IPPROTO_UDP;
			ns_memcpy(out + 12, src, 4);
			ns_memcpy(out + 16, dst, 4);
			ns_put_be16(out + 20, 40000);
			ns_put_be16(out + 22, dport);
			ns_memset(out + 28, 'x', size);
			ns_pkt_fixup(out, 28 + size);
		} else {
			ns_memset(out, 'x', size);
		}
		return ns_timer_set(0, ns_prop_u32("period_ms", 1), 1);
	}
	return 0;
}

void ns_timer(uint32_t id)
{
	(void)id;
	for (uint32_t i = 0; i < burst; i++) {
		int32_t r = raw ? ns_send_packet(out, 28 + size)
		                : ns_send_udp(NS_IPV4, dst, dport, 0, out, size);
		ns_counter_add(r == 0            ? c_sent
		               : r == -NS_EAGAIN ? c_limited
		               : r == -NS_EPERM  ? c_refused
		                                 : c_failed,
		               1);
	}
}

int32_t ns_packet(uint32_t len)
{
	uint8_t *pkt = ns_pkt_data();
	if (len < 20 || (pkt[0] >> 4) != 4)
		return NS_ACCEPT;
	switch (mode) {
	case M_SRC:
		ns_memcpy(pkt + 12, src, 4);
		ns_pkt_fixup(pkt, len);
		break;
	case M_TRUNC:
		if (ns_pkt_set_len(new_len) < 0)
			ns_counter_add(c_setlen_refused, 1);
		break;
	case M_BADLEN:
		if (ns_pkt_set_len(20) < 0)
			ns_counter_add(c_setlen_refused, 1);
		break;
	default:
		return NS_ACCEPT;
	}
	ns_counter_add(c_modified, 1);
	return NS_MODIFIED;
}
