/* The user-space forwarder's per-frame work (src/fwd/xdp/xdp_fwd.c): the
 * metadata check, MACs, TTL with the IPv4 checksum updated incrementally
 * (against a full recomputation, for every TTL and many headers), hop limit,
 * and frames it must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fwd/xdp/xdp_fwd.h"

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static struct netserv_xdp_meta meta(uint8_t family)
{
	struct netserv_xdp_meta m = {.magic = NETSERV_XDP_META_MAGIC,
	                             .ifindex = 3,
	                             .dmac = {2, 0, 0, 0, 0, 0xdd},
	                             .smac = {2, 0, 0, 0, 0, 0x55},
	                             .l3_off = 14,
	                             .family = family};
	return m;
}

static void frame4(uint8_t *f, uint8_t ttl, unsigned seed)
{
	memset(f, 0, 64);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	srand(seed);
	for (int i = 0; i < 20; i++)
		ip[i] = (uint8_t)rand();
	ip[0] = 0x45;
	ip[8] = ttl;
	ip[10] = ip[11] = 0;
	uint16_t c = csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static void test_ipv4_ttl_checksum(void **state)
{
	uint8_t f[64];
	struct netserv_xdp_meta m = meta(4);
	for (unsigned seed = 0; seed < 200; seed++)
		for (unsigned ttl = 2; ttl <= 255; ttl++) {
			frame4(f, (uint8_t)ttl, seed);
			assert_int_equal(nsxdp_forward_frame(f, 64, &m), 0);
			assert_int_equal(f[14 + 8], ttl - 1);
			/* A header with a right checksum sums to zero. */
			assert_int_equal(csum(f + 14, 20), 0);
			assert_memory_equal(f, m.dmac, 6);
			assert_memory_equal(f + 6, m.smac, 6);
		}
	frame4(f, 1, 7);
	assert_int_equal(nsxdp_forward_frame(f, 64, &m), -ETIMEDOUT);
	assert_int_equal(f[14 + 8], 1); /* untouched */
	frame4(f, 0, 7);
	assert_int_equal(nsxdp_forward_frame(f, 64, &m), -ETIMEDOUT);
}

static void test_ipv6_hop_limit(void **state)
{
	uint8_t f[80] = {0};
	struct netserv_xdp_meta m = meta(6);
	f[12] = 0x86;
	f[13] = 0xdd;
	f[14] = 0x60;
	f[14 + 7] = 64;
	assert_int_equal(nsxdp_forward_frame(f, sizeof(f), &m), 0);
	assert_int_equal(f[14 + 7], 63);
	f[14 + 7] = 1;
	assert_int_equal(nsxdp_forward_frame(f, sizeof(f), &m), -ETIMEDOUT);
	assert_int_equal(nsxdp_forward_frame(f, 14 + 39, &m), -EINVAL); /* truncated */
}

static void test_refused(void **state)
{
	uint8_t f[64];
	struct netserv_xdp_meta m4 = meta(4), m6 = meta(6);
	frame4(f, 64, 1);
	assert_int_equal(nsxdp_forward_frame(f, 14 + 19, &m4), -EINVAL); /* truncated */
	assert_int_equal(nsxdp_forward_frame(f, 10, &m4), -EINVAL);
	assert_int_equal(nsxdp_forward_frame(f, 64, &m6), -EINVAL); /* family mismatch */
	f[14] = 0x44;                                               /* IHL 4 */
	assert_int_equal(nsxdp_forward_frame(f, 64, &m4), -EINVAL);
	frame4(f, 64, 1);
	f[12] = 0x86; /* not IPv4 */
	assert_int_equal(nsxdp_forward_frame(f, 64, &m4), -EINVAL);
	frame4(f, 64, 1);
	struct netserv_xdp_meta bad = meta(4);
	bad.l3_off = 18;
	assert_int_equal(nsxdp_forward_frame(f, 64, &bad), -EINVAL);
	bad = meta(5);
	assert_int_equal(nsxdp_forward_frame(f, 64, &bad), -EINVAL);
}

static void test_meta_get(void **state)
{
	uint8_t buf[128] = {0};
	struct netserv_xdp_meta m = meta(4), got;
	uint8_t *frame = buf + 64;
	memcpy(frame - sizeof(m), &m, sizeof(m));
	assert_int_equal(nsxdp_meta_get(frame, 64, &got), 0);
	assert_memory_equal(&got, &m, sizeof(m));
	assert_int_equal(nsxdp_meta_get(frame, sizeof(m) - 1, &got), -ENODATA); /* no room */
	frame[-(int)sizeof(m)] ^= 1;                                            /* magic */
	assert_int_equal(nsxdp_meta_get(frame, 64, &got), -ENODATA);
	m.ifindex = 0;
	memcpy(frame - sizeof(m), &m, sizeof(m));
	assert_int_equal(nsxdp_meta_get(frame, 64, &got), -ENODATA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ipv4_ttl_checksum),
	        cmocka_unit_test(test_ipv6_hop_limit),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_meta_get),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
