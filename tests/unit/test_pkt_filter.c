/* Unit tests: per-module packet filters (container/pkt_filter.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "container/pkt_filter.h"
#include "proto/filter_json.h"

static struct ncm_filter filter(const char *proto, uint16_t lo, uint16_t hi, const char *src,
                                const char *dst)
{
	struct ncm_filter f = {0};
	f.proto = proto ? (strcmp(proto, "udp") == 0 ? 17 : 6) : 0;
	f.port_lo = lo;
	f.port_hi = hi;
	if (src)
		assert_int_equal(ncm_prefix_parse(src, &f.src), 0);
	if (dst)
		assert_int_equal(ncm_prefix_parse(dst, &f.dst), 0);
	return f;
}

static uint32_t udp4(uint8_t *p, const char *src, const char *dst, uint16_t dport, bool frag)
{
	memset(p, 0, 28);
	p[0] = 0x45;
	p[3] = 28;
	p[9] = 17;
	if (frag)
		p[7] = 10; /* fragment offset 80 bytes */
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	return 28;
}

/* IPv6 with a hop-by-hop header, then optionally a fragment header, then UDP. */
static uint32_t udp6(uint8_t *p, uint16_t dport, bool frag_later)
{
	memset(p, 0, 80);
	p[0] = 0x60;
	p[6] = 0; /* hop-by-hop */
	inet_pton(AF_INET6, "fd00:1::1", p + 8);
	inet_pton(AF_INET6, "fd00:2::2", p + 24);
	uint32_t off = 40;
	p[off] = 44; /* next: fragment */
	p[off + 1] = 0;
	off += 8;
	p[off] = 17;
	if (frag_later)
		p[off + 3] = 0x08; /* offset 1 (8 bytes) */
	off += 8;
	p[off + 2] = (uint8_t)(dport >> 8);
	p[off + 3] = (uint8_t)dport;
	return off + 8;
}

static void test_ipv4(void **state)
{
	uint8_t p[128];
	uint32_t n = udp4(p, "10.0.0.1", "10.0.0.2", 5060, false);
	struct ncm_filter any = {0};
	assert_true(pkt_filter_match(&any, p, n));
	struct ncm_filter f = filter("udp", 5060, 5060, NULL, NULL);
	assert_true(pkt_filter_match(&f, p, n));
	f = filter("udp", 5061, 5070, NULL, NULL);
	assert_false(pkt_filter_match(&f, p, n));
	f = filter("tcp", 0, 0, NULL, NULL);
	assert_false(pkt_filter_match(&f, p, n));
	f = filter(NULL, 0, 0, "10.0.0.0/24", "10.0.0.2");
	assert_true(pkt_filter_match(&f, p, n));
	f = filter(NULL, 0, 0, "10.0.1.0/24", NULL);
	assert_false(pkt_filter_match(&f, p, n));
	f = filter(NULL, 0, 0, "fd00::/8", NULL);
	assert_false(pkt_filter_match(&f, p, n)); /* wrong family */
	/* A later fragment has no ports: never matches a port filter. */
	n = udp4(p, "10.0.0.1", "10.0.0.2", 5060, true);
	f = filter("udp", 5060, 5060, NULL, NULL);
	assert_false(pkt_filter_match(&f, p, n));
	f = filter("udp", 0, 0, NULL, NULL);
	assert_true(pkt_filter_match(&f, p, n));
}

/* A SETUP's filters: a packet matches the list when it matches one (both
 * directions of a server: to it by destination, from it by source). */
static void test_list(void **state)
{
	uint8_t p[128];
	struct ncm_filter v[2] = {filter("udp", 5060, 5060, NULL, "10.0.2.2"),
	                          filter("udp", 5060, 5060, "10.0.2.2", NULL)};
	uint32_t n = udp4(p, "10.0.1.1", "10.0.2.2", 5060, false); /* to the server */
	assert_true(pkt_filters_match(v, 2, p, n));
	assert_true(pkt_filter_match(&v[0], p, n));
	assert_false(pkt_filter_match(&v[1], p, n));
	n = udp4(p, "10.0.2.2", "10.0.1.1", 5060, false); /* from it */
	assert_true(pkt_filters_match(v, 2, p, n));
	assert_false(pkt_filters_match(v, 1, p, n));      /* the first alone misses it */
	n = udp4(p, "10.0.1.1", "10.0.3.3", 5060, false); /* neither */
	assert_false(pkt_filters_match(v, 2, p, n));
	assert_false(pkt_filters_match(v, 0, p, n)); /* an empty list matches nothing */
	/* The list's JSON form (INSTALL) keeps every filter. */
	struct ncm_filter w[NCM_MAX_FILTERS];
	size_t nw = 0;
	json_t *j = proto_filters_to_json(v, 2);
	assert_int_equal(proto_filters_from_json(j, w, NCM_MAX_FILTERS, &nw), 0);
	assert_int_equal(nw, 2);
	assert_memory_equal(v, w, sizeof(v));
	assert_int_equal(proto_filters_from_json(j, w, 1, &nw), -EINVAL); /* over max */
	json_decref(j);
}

static void test_ipv6_extension_headers(void **state)
{
	uint8_t p[128];
	uint32_t n = udp6(p, 5060, false);
	struct ncm_filter f = filter("udp", 5060, 5060, "fd00:1::/64", "fd00:2::2");
	assert_true(pkt_filter_match(&f, p, n));
	f = filter("udp", 5061, 5061, NULL, NULL);
	assert_false(pkt_filter_match(&f, p, n));
	n = udp6(p, 5060, true);
	f = filter("udp", 5060, 5060, NULL, NULL);
	assert_false(pkt_filter_match(&f, p, n));
}

static void test_truncated_never_matches_ports(void **state)
{
	uint8_t p[128];
	uint32_t n = udp4(p, "10.0.0.1", "10.0.0.2", 5060, false);
	struct ncm_filter f = filter("udp", 5060, 5060, NULL, NULL);
	for (uint32_t len = 0; len < n - 4 + 4; len++)
		assert_int_equal(pkt_filter_match(&f, p, len), len >= 24);
	n = udp6(p, 5060, false);
	for (uint32_t len = 0; len < n; len++)
		assert_false(pkt_filter_match(&f, p, len) && len < n - 4);
}

static void test_json_round_trip(void **state)
{
	struct ncm_filter f = filter("udp", 5000, 6000, "10.0.0.0/8", "2001:db8::/32"), g;
	json_t *j = proto_filter_to_json(&f);
	assert_int_equal(proto_filter_from_json(j, &g), 0);
	assert_memory_equal(&f, &g, sizeof(f));
	json_object_set_new(j, "port_hi", json_integer(10));
	assert_int_equal(proto_filter_from_json(j, &g), -EINVAL);
	json_decref(j);
	j = json_pack("{s:i, s:i, s:i, s:s, s:s}", "proto", 17, "port_lo", 1, "port_hi", 2, "src",
	              "10.0.0.1/8", "dst", "any");
	assert_int_equal(proto_filter_from_json(j, &g), -EINVAL); /* host bits set */
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ipv4),
	        cmocka_unit_test(test_list),
	        cmocka_unit_test(test_ipv6_extension_headers),
	        cmocka_unit_test(test_truncated_never_matches_ports),
	        cmocka_unit_test(test_json_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
