/* Unit tests of the SDK's helpers (sdk/src/netserv_util.c, netserv_util.h),
 * compiled natively against a fake host (sdk_fake_host.c): the text toolkit
 * (split, trim, case, numbers: empty, overlong, non-digits, overflow),
 * addresses against inet_pton/inet_ntop and malformed text, the internet
 * checksum against published values and an independent sum, whole packets
 * and replies (IPv4 and IPv6, UDP and TCP), and the typed property reads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <netserv.h>

#include "sdk_fake_host.h"

static struct ns_str S(const char *s) {
	return ns_str_c(s);
}

/* --- text ------------------------------------------------------------------- */

static void
test_str_split_trim(void **state)
{
	(void)state;
	struct ns_str rest = S(" a ,b,, c "), t;
	const char *want[] = {"a", "b", "", "c"};
	for (int i = 0; i < 4; i++) {
		assert_true(ns_str_split(&rest, ',', &t));
		assert_true(ns_str_eq(ns_str_trim(t), S(want[i])));
	}
	assert_false(ns_str_split(&rest, ',', &t));
	assert_int_equal(t.len, 0);
	/* a trailing separator gives a last empty token */
	rest = S("x,");
	assert_true(ns_str_split(&rest, ',', &t) && ns_str_eq(t, S("x")));
	assert_true(ns_str_split(&rest, ',', &t) && t.len == 0);
	assert_false(ns_str_split(&rest, ',', &t));
	/* an empty string gives one empty token; a NULL view none */
	rest = S("");
	assert_true(ns_str_split(&rest, ',', &t) && t.len == 0);
	assert_false(ns_str_split(&rest, ',', &t));
	rest = (struct ns_str){NULL, 0};
	assert_false(ns_str_split(&rest, ',', &t));
	/* trim */
	assert_int_equal(ns_str_trim(S(" \t\r\n")).len, 0);
	assert_int_equal(ns_str_trim(S("")).len, 0);
	assert_true(ns_str_eq(ns_str_trim(S("\t x y \n")), S("x y")));
}

static void test_str_case(void **state)
{
	(void)state;
	assert_true(ns_str_ieq(S("Keep-Alive"), "keep-ALIVE"));
	assert_false(ns_str_ieq(S("keep"), "keep-alive"));
	assert_false(ns_str_ieq(S("keep-alive"), "keep"));
	assert_true(ns_str_ieq(S(""), ""));
	assert_false(ns_str_ieq((struct ns_str){"a\0b", 3}, "a"));
	assert_true(ns_str_istarts(S("NOTIFY sip:x"), "notify "));
	assert_false(ns_str_istarts(S("NOT"), "notify"));
	assert_true(ns_str_istarts(S(""), ""));
	assert_true(ns_str_eq(S(""), (struct ns_str){NULL, 0}));
	assert_false(ns_str_eq(S("ab"), S("aB")));
}

static void test_str_uint(void **state)
{
	(void)state;
	uint64_t v = 7;
	assert_int_equal(ns_str_uint(S("0"), 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ns_str_uint(S("65535"), 65535, &v), 0);
	assert_int_equal(v, 65535);
	v = 7;
	assert_int_equal(ns_str_uint(S("65536"), 65535, &v), -NS_ERANGE);
	assert_int_equal(v, 7); /* untouched on failure */
	assert_int_equal(ns_str_uint(S(""), 10, &v), -NS_EINVAL);
	assert_int_equal(ns_str_uint(S("-1"), 10, &v), -NS_EINVAL);
	assert_int_equal(ns_str_uint(S("+1"), 10, &v), -NS_EINVAL);
	assert_int_equal(ns_str_uint(S(" 1"), 10, &v), -NS_EINVAL);
	assert_int_equal(ns_str_uint(S("1x"), 10, &v), -NS_EINVAL);
	assert_int_equal(ns_str_uint(S("0x10"), 100, &v), -NS_EINVAL);
	assert_int_equal(ns_str_uint(S("18446744073709551615"), UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(ns_str_uint(S("18446744073709551616"), UINT64_MAX, &v), -NS_ERANGE);
	assert_int_equal(ns_str_uint(S("99999999999999999999999"), UINT64_MAX, &v), -NS_ERANGE);
	/* leading zeros are digits, not an overflow */
	assert_int_equal(ns_str_uint(S("000000000000000000000000042"), 100, &v), 0);
	assert_int_equal(v, 42);
}

/* --- addresses ---------------------------------------------------------------- */

static void test_hex(void **state)
{
	(void)state;
	char out[9] = "--------";
	const uint8_t in[4] = {0x00, 0x9f, 0xa0, 0xff};
	ns_hex(out, in, 4);
	assert_string_equal(out, "009fa0ff");
	ns_hex(out, in, 0); /* writes nothing */
	assert_string_equal(out, "009fa0ff");
}

static void test_addr_roundtrip(void **state)
{
	(void)state;
	static const char *const good[] = {"0.0.0.0",
	                                   "10.1.0.2",
	                                   "255.255.255.255",
	                                   "::",
	                                   "::1",
	                                   "1::",
	                                   "fd00:1::2",
	                                   "2001:db8::1:0:0:1",
	                                   "2001:db8:0:1:1:1:1:1",
	                                   "1:2:3:4:5:6:7:8",
	                                   "::ffff:10.0.0.1",
	                                   "fe80::1:2:3:4",
	                                   "2001:DB8::A",
	                                   "::1.2.3.4",
	                                   "1:2:3:4:5:6:1.2.3.4",
	                                   "0:0:1::"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint8_t a[16], b[16];
		char text[NS_IP_STRLEN], ref[INET6_ADDRSTRLEN];
		int v = ns_addr_parse(S(good[i]), a);
		int af = strchr(good[i], ':') ? AF_INET6 : AF_INET;
		assert_int_equal(v, af == AF_INET6 ? 6 : 4);
		assert_int_equal(inet_pton(af, good[i], b), 1);
		assert_memory_equal(a, b, v == 4 ? 4 : 16);
		/* text again: the same as inet_ntop (RFC 5952), and back */
		ns_fmt_ip(text, sizeof(text), (uint8_t)v, a);
		inet_ntop(af, b, ref, sizeof(ref));
		if (strcmp(good[i], "::1.2.3.4") !=
		    0) /* glibc writes ::1.2.3.4, RFC 5952 ::102:304 */
			assert_string_equal(text, ref);
		assert_int_equal(ns_addr_parse(S(text), b), v);
		assert_memory_equal(a, b, v == 4 ? 4 : 16);
	}
}

static void test_addr_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {"",
	                                  "1",
	                                  "1.2.3",
	                                  "1.2.3.4.5",
	                                  "256.1.1.1",
	                                  "1.2.3.4 ",
	                                  " 1.2.3.4",
	                                  "01234.1.1.1",
	                                  "1..2.3",
	                                  "1.2.3.",
	                                  "a.b.c.d",
	                                  ":",
	                                  ":::",
	                                  "1:::2",
	                                  "1::2::3",
	                                  ":1::",
	                                  "1:2:3:4:5:6:7:8:9",
	                                  "12345::",
	                                  "1:2:3:4:5:6:7",
	                                  "1::2:",
	                                  "fd00::1%eth0",
	                                  "[::1]",
	                                  "::ffff:1.2.3",
	                                  "1:2:3:4:5:6:7:1.2.3.4",
	                                  "g::1",
	                                  "1.2.3.4::",
	                                  "::1.2.3.4:5"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t a[16];
		if (ns_addr_parse(S(bad[i]), a) != 0)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	/* bounded: the view ends before the NUL */
	uint8_t a[16];
	assert_int_equal(ns_addr_parse((struct ns_str){"10.0.0.12", 8}, a), 4);
	assert_int_equal(a[3], 1);
	assert_int_equal(ns_addr_parse((struct ns_str){NULL, 0}, a), 0);
}

/* --- checksums ----------------------------------------------------------------- */

/* An independent one's complement sum, byte by byte (0xffff when correct). */
static uint16_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sum += i & 1 ? p[i] : (uint32_t)p[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void test_csum_known(void **state)
{
	(void)state;
	/* RFC 1071 section 3's example: the sum is 0xddf2, the checksum its complement */
	const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	assert_int_equal(ns_csum(rfc, sizeof(rfc)), 0x220d);
	/* a well-known IPv4 header (192.168.0.1 > 192.168.0.199, UDP) with checksum 0xb861 */
	uint8_t ip[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	                  0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	assert_int_equal(ns_csum(ip, sizeof(ip)), 0xb861);
	ip[10] = 0xb8;
	ip[11] = 0x61;
	assert_int_equal(ns_csum(ip, sizeof(ip)), 0);
	/* an odd length pads with a zero byte */
	const uint8_t odd[] = {0x12, 0x34, 0x56};
	assert_int_equal(ns_csum(odd, 3), (uint16_t) ~(0x1234 + 0x5600));
	assert_int_equal(ns_csum(odd, 0), 0xffff);
}

/* A UDP datagram as Linux 6.x sent it (captured with an AF_PACKET socket on
 * a veth with tx checksumming off, so the kernel computed both checksums in
 * software): 10.0.0.1:40000 > 10.0.0.2:7000, payload "hello". */
static const uint8_t linux_udp[] = {0x45, 0x00, 0x00, 0x21, 0x15, 0xa1, 0x40, 0x00, 0x40,
                                    0x11, 0x11, 0x29, 0x0a, 0x00, 0x00, 0x01, 0x0a, 0x00,
                                    0x00, 0x02, 0x9c, 0x40, 0x1b, 0x58, 0x00, 0x0d, 0xf0,
                                    0x66, 0x68, 0x65, 0x6c, 0x6c, 0x6f};

static void test_csum_linux(void **state)
{
	(void)state;
	uint8_t p[sizeof(linux_udp)];
	memcpy(p, linux_udp, sizeof(p));
	/* the captured checksums are right by the independent sum */
	assert_int_equal(sum16(0, p, 20), 0xffff);
	uint8_t pseudo[12] = {10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 13};
	assert_int_equal(sum16(sum16(0, pseudo, 12), p + 20, 13), 0xffff);
	/* and ours compute the same values with the fields zeroed */
	p[10] = p[11] = 0;
	assert_int_equal(ns_csum(p, 20), 0x1129);
	p[26] = p[27] = 0;
	assert_int_equal(ns_csum_l4(4, p + 12, p + 16, NS_IPPROTO_UDP, p + 20, 13), 0xf066);
	/* a flipped payload bit changes it */
	p[30] ^= 1;
	assert_int_not_equal(ns_csum_l4(4, p + 12, p + 16, NS_IPPROTO_UDP, p + 20, 13), 0xf066);
	/* the reply built to it, with the same payload the other way, is what
	 * Linux would send from 10.0.0.2:7000 (same checksum rules) */
	uint8_t out[64];
	int n = ns_reply_packet(out, sizeof(out), linux_udp, sizeof(linux_udp), "hello", 5);
	assert_int_equal(n, sizeof(linux_udp));
	assert_int_equal(sum16(0, out, 20), 0xffff);
	uint8_t pseudo2[12] = {10, 0, 0, 2, 10, 0, 0, 1, 0, 17, 0, 13};
	assert_int_equal(sum16(sum16(0, pseudo2, 12), out + 20, 13), 0xffff);
}

/* --- packets -------------------------------------------------------------------- */

/* Checks a built IPv4/IPv6 packet independently: lengths, IPv4 header
 * checksum, the transport checksum over the pseudo-header. */
static void check_packet(const uint8_t *p, int n, uint8_t proto)
{
	assert_true(n > 0);
	uint8_t pseudo[40] = {0};
	uint32_t off, alen;
	if (p[0] >> 4 == 4) {
		assert_int_equal(p[0], 0x45);
		assert_int_equal(p[2] << 8 | p[3], n);
		assert_int_equal(sum16(0, p, 20), 0xffff);
		assert_int_equal(p[9], proto);
		off = 20;
		alen = 4;
	} else {
		assert_int_equal(p[0], 0x60);
		assert_int_equal(p[4] << 8 | p[5], n - 40);
		assert_int_equal(p[6], proto);
		off = 40;
		alen = 16;
	}
	uint32_t l4len = (uint32_t)n - off;
	memcpy(pseudo, p + (alen == 4 ? 12 : 8), 2 * alen);
	pseudo[2 * alen + 1] = proto; /* zero, protocol, length (16-bit sums agree) */
	pseudo[2 * alen + 2] = (uint8_t)(l4len >> 8);
	pseudo[2 * alen + 3] = (uint8_t)l4len;
	assert_int_equal(sum16(sum16(0, pseudo, 2 * alen + 4), p + off, l4len), 0xffff);
	if (proto == NS_IPPROTO_UDP)
		assert_int_equal(p[off + 4] << 8 | p[off + 5], l4len);
}

static void test_reply_udp4(void **state)
{
	(void)state;
	uint8_t out[256];
	int n = ns_reply_packet(out, sizeof(out), linux_udp, sizeof(linux_udp), "pong!", 5);
	assert_int_equal(n, 20 + 8 + 5);
	check_packet(out, n, NS_IPPROTO_UDP);
	assert_memory_equal(out + 12, linux_udp + 16, 4); /* addresses swapped */
	assert_memory_equal(out + 16, linux_udp + 12, 4);
	assert_int_equal(out[20] << 8 | out[21], 7000); /* ports swapped */
	assert_int_equal(out[22] << 8 | out[23], 40000);
	assert_int_equal(out[8], 64);
	assert_int_equal(out[6], 0x40); /* DF */
	assert_memory_equal(out + 28, "pong!", 5);
	/* the payload may already sit where it goes */
	memcpy(out + 28, "again", 5);
	n = ns_reply_packet(out, sizeof(out), linux_udp, sizeof(linux_udp), out + 28, 5);
	assert_memory_equal(out + 28, "again", 5);
	check_packet(out, n, NS_IPPROTO_UDP);
	/* too small a buffer, a truncated or non-UDP/TCP packet */
	assert_int_equal(ns_reply_packet(out, 32, linux_udp, sizeof(linux_udp), "pong!", 5),
	                 -NS_EMSGSIZE);
	assert_int_equal(ns_reply_packet(out, sizeof(out), linux_udp, 24, "x", 1), -NS_EINVAL);
	uint8_t icmp[sizeof(linux_udp)];
	memcpy(icmp, linux_udp, sizeof(icmp));
	icmp[9] = NS_IPPROTO_ICMP;
	assert_int_equal(ns_reply_packet(out, sizeof(out), icmp, sizeof(icmp), "x", 1), -NS_EINVAL);
	/* a fragment */
	memcpy(icmp, linux_udp, sizeof(icmp));
	icmp[6] = 0x20; /* MF */
	assert_int_equal(ns_reply_packet(out, sizeof(out), icmp, sizeof(icmp), "x", 1), -NS_EINVAL);
}

static void test_build_udp6(void **state)
{
	(void)state;
	struct ns_flow f = {.version = 6, .proto = NS_IPPROTO_UDP, .sport = 5060, .dport = 5061};
	inet_pton(AF_INET6, "fd00:2::2", f.src);
	inet_pton(AF_INET6, "fd00:1::2", f.dst);
	uint8_t out[256], back[256];
	int n = ns_build_packet(out, sizeof(out), &f, "SIP/2.0 200 OK\r\n\r\n", 18);
	assert_int_equal(n, 40 + 8 + 18);
	check_packet(out, n, NS_IPPROTO_UDP);
	assert_int_equal(out[7], 64);
	/* the reply to it comes back the other way */
	int m = ns_reply_packet(back, sizeof(back), out, (uint32_t)n, "", 0);
	assert_int_equal(m, 48);
	check_packet(back, m, NS_IPPROTO_UDP);
	assert_memory_equal(back + 8, out + 24, 16);
	assert_memory_equal(back + 24, out + 8, 16);
	assert_int_equal(back[40] << 8 | back[41], 5061);
	/* bad version or protocol; too long for an IP packet */
	f.version = 5;
	assert_int_equal(ns_build_packet(out, sizeof(out), &f, "", 0), -NS_EINVAL);
	f.version = 6;
	f.proto = NS_IPPROTO_ICMPV6;
	assert_int_equal(ns_build_packet(out, sizeof(out), &f, "", 0), -NS_EINVAL);
	f.proto = NS_IPPROTO_UDP;
	static uint8_t big[70000];
	assert_int_equal(ns_build_packet(big, sizeof(big), &f, big + 100, 65535 - 7), -NS_EMSGSIZE);
	assert_int_equal(ns_build_packet(big, sizeof(big), &f, big + 100, 65535 - 8), 40 + 65535);
	f.version = 4;
	assert_int_equal(ns_build_packet(big, sizeof(big), &f, big + 100, 65535 - 28 + 1),
	                 -NS_EMSGSIZE);
}

/* A TCP segment: 10.0.0.1:40000 > 10.0.0.2:80, seq 1000, ack 5000, flags
 * PSH|ACK (or as given), 3 bytes of payload. */
static int tcp_segment(uint8_t *p, uint8_t version, uint8_t flags)
{
	struct ns_flow f = {.version = version,
	                    .proto = NS_IPPROTO_TCP,
	                    .sport = 40000,
	                    .dport = 80,
	                    .seq = 1000,
	                    .ack = 5000,
	                    .tcp_flags = flags,
	                    .window = 512};
	if (version == 4) {
		inet_pton(AF_INET, "10.0.0.1", f.src);
		inet_pton(AF_INET, "10.0.0.2", f.dst);
	} else {
		inet_pton(AF_INET6, "2001:db8::1", f.src);
		inet_pton(AF_INET6, "2001:db8::2", f.dst);
	}
	return ns_build_packet(p, 512, &f, "GET", 3);
}

static void test_reply_tcp(void **state)
{
	(void)state;
	for (uint8_t version = 4; version <= 6; version += 2) {
		uint8_t seg[512], out[512];
		uint32_t off = version == 4 ? 20 : 40;
		int n = tcp_segment(seg, version, NS_TCP_PSH | NS_TCP_ACK);
		assert_int_equal(n, (int)off + 20 + 3);
		check_packet(seg, n, NS_IPPROTO_TCP);
		assert_int_equal(seg[off + 12], 0x50);
		assert_int_equal(seg[off + 13], NS_TCP_PSH | NS_TCP_ACK);
		assert_int_equal(seg[off + 14] << 8 | seg[off + 15], 512);

		struct ns_flow f;
		assert_int_equal(ns_flow_reply(&f, seg, (uint32_t)n), 0);
		assert_int_equal(f.seq, 5000);
		assert_int_equal(f.ack, 1003); /* seq + 3 bytes */
		assert_int_equal(f.tcp_flags, NS_TCP_ACK);
		assert_int_equal(f.sport, 80);
		assert_int_equal(f.dport, 40000);
		f.tcp_flags = NS_TCP_RST | NS_TCP_ACK;
		int m = ns_build_packet(out, sizeof(out), &f, "", 0);
		assert_int_equal(m, (int)off + 20);
		check_packet(out, m, NS_IPPROTO_TCP);
		assert_int_equal(out[off + 13], NS_TCP_RST | NS_TCP_ACK);

		/* a SYN (no ACK) counts one: the reply acks seq + 1 and has seq 0 */
		n = tcp_segment(seg, version, NS_TCP_SYN);
		assert_int_equal(ns_flow_reply(&f, seg, (uint32_t)n), 0);
		assert_int_equal(f.ack, 1000 + 3 + 1);
		assert_int_equal(f.seq, 0);
		/* a FIN|ACK counts one as well */
		n = tcp_segment(seg, version, NS_TCP_FIN | NS_TCP_ACK);
		assert_int_equal(ns_flow_reply(&f, seg, (uint32_t)n), 0);
		assert_int_equal(f.ack, 1004);
		/* a bad data offset */
		seg[off + 12] = 0x40;
		assert_int_equal(ns_flow_reply(&f, seg, (uint32_t)n), -NS_EINVAL);
		seg[off + 12] = 0xf0;
		assert_int_equal(ns_flow_reply(&f, seg, (uint32_t)n), -NS_EINVAL);
	}
}

/* --- typed properties ----------------------------------------------------------- */

static void test_props(void **state)
{
	(void)state;
	static const char *const kv[] = {"port",  " 5060 ",
	                                 "big",   "70000",
	                                 "neg",   "-1",
	                                 "hex",   "0x10",
	                                 "on",    "Yes",
	                                 "off",   "0",
	                                 "maybe", "perhaps",
	                                 "v4",    "10.2.0.2",
	                                 "v6",    " fd00::2 ",
	                                 "bad",   "10.2.0",
	                                 "name",  "a,b\\c",
	                                 "empty", "",
	                                 "long",  "0123456789012345678901234567890123456789",
	                                 NULL};
	fake_host_props(kv);
	uint64_t v;
	assert_int_equal(ns_prop_uint("port", 1, 65535, 9, &v), 0);
	assert_int_equal(v, 5060);
	assert_int_equal(ns_prop_uint("missing", 1, 65535, 9, &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(ns_prop_uint("big", 1, 65535, 9, &v), -NS_ERANGE);
	assert_int_equal(v, 9);
	assert_int_equal(ns_prop_uint("port", 6000, 65535, 9, &v), -NS_ERANGE);
	assert_int_equal(ns_prop_uint("neg", 0, 65535, 9, &v), -NS_EINVAL);
	assert_int_equal(ns_prop_uint("hex", 0, 65535, 9, &v), -NS_EINVAL);
	assert_int_equal(ns_prop_uint("empty", 0, 65535, 9, &v), -NS_EINVAL);
	assert_int_equal(ns_prop_uint("long", 0, UINT64_MAX, 9, &v), -NS_EINVAL); /* 40 chars */
	assert_int_equal(v, 9);

	bool b;
	assert_int_equal(ns_prop_bool("on", false, &b), 0);
	assert_true(b);
	assert_int_equal(ns_prop_bool("off", true, &b), 0);
	assert_false(b);
	assert_int_equal(ns_prop_bool("missing", true, &b), 0);
	assert_true(b);
	assert_int_equal(ns_prop_bool("maybe", true, &b), -NS_EINVAL);
	assert_true(b);

	uint8_t a[16] = {0}, want[16];
	assert_int_equal(ns_prop_addr("v4", a), 4);
	static const uint8_t v4[4] = {10, 2, 0, 2};
	assert_memory_equal(a, v4, 4);
	assert_int_equal(ns_prop_addr("v6", a), 6);
	inet_pton(AF_INET6, "fd00::2", want);
	assert_memory_equal(a, want, 16);
	assert_int_equal(ns_prop_addr("missing", a), 0);
	assert_memory_equal(a, want, 16); /* untouched */
	assert_int_equal(ns_prop_addr("bad", a), -NS_EINVAL);
	assert_int_equal(ns_prop_addr("long", a), -NS_EINVAL);

	char buf[8];
	assert_int_equal(ns_prop_str("name", buf, sizeof(buf), "d"), 0);
	assert_string_equal(buf, "a,b\\c");
	assert_int_equal(ns_prop_str("missing", buf, sizeof(buf), "dflt"), 0);
	assert_string_equal(buf, "dflt");
	assert_int_equal(ns_prop_str("missing", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "");
	assert_int_equal(ns_prop_str("missing", buf, sizeof(buf), "toolongdefault"), -NS_ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(ns_prop_str("long", buf, sizeof(buf), "d"), -NS_ENOSPC);
	assert_string_equal(buf, "");
	assert_int_equal(ns_prop_str("v4", buf, 8, NULL), -NS_ENOSPC); /* 8 chars + NUL */
	assert_int_equal(ns_prop_str("v4", buf, 0, NULL), -NS_ENOSPC);
	fake_host_props(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_str_split_trim), cmocka_unit_test(test_str_case),
	        cmocka_unit_test(test_str_uint),       cmocka_unit_test(test_hex),
	        cmocka_unit_test(test_addr_roundtrip), cmocka_unit_test(test_addr_malformed),
	        cmocka_unit_test(test_csum_known),     cmocka_unit_test(test_csum_linux),
	        cmocka_unit_test(test_reply_udp4),     cmocka_unit_test(test_build_udp6),
	        cmocka_unit_test(test_reply_tcp),      cmocka_unit_test(test_props),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
