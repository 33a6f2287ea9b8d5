/* The XDP program (src/fwd/xdp/netserv_xdp.bpf.c) on crafted frames, with
 * BPF_PROG_TEST_RUN: no device, no traffic. Each case checks the action and
 * which counter the frame landed in. Then its tc twin, netserv_tc: on crafted
 * skbs, and attached to loopback in a network namespace of its own with real
 * datagrams. Needs root (loading BPF). */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/popen_count.h"
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>

#include "fwd/xdp/xdp_prog.h"
#include "fwd/xdp/xdp_rule.h"
#include "fwd/xdp/xdp_sample.h"

static struct nsxdp_prog *prog;

/* A frame under construction. */
struct frame {
	uint8_t b[256];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void eth(struct frame *f, uint16_t type)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->b, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	put16(f->b + 12, type);
	f->len = 14;
}

/* IPv4 + a transport header of 8 bytes (UDP) or 20 (TCP) + payload. */
static void ip4(struct frame *f, uint8_t proto, const char *src, const char *dst, uint16_t dport,
                uint32_t payload)
{
	eth(f, 0x0800);
	uint8_t *ip = f->b + 14;
	uint32_t l4 = proto == 6 ? 20 : 8;
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4 + payload));
	ip[8] = 64;
	ip[9] = proto;
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	put16(ip + 20, 40000);
	put16(ip + 22, dport);
	if (proto == 17)
		put16(ip + 24, (uint16_t)(8 + payload));
	if (proto == 6)
		ip[20 + 12] = 0x50;
	f->len = 14 + 20 + l4 + payload;
}

static void ip6(struct frame *f, uint8_t nh, const char *src, const char *dst, uint16_t dport,
                uint32_t payload)
{
	eth(f, 0x86dd);
	uint8_t *ip = f->b + 14;
	uint32_t l4 = nh == 6 ? 20 : 8;
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)(l4 + payload));
	ip[6] = nh;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	put16(ip + 40, 40000);
	put16(ip + 42, dport);
	if (nh == 17)
		put16(ip + 44, (uint16_t)(8 + payload));
	f->len = 14 + 40 + l4 + payload;
}

static struct ncm_filter filter(uint8_t proto, uint16_t lo, uint16_t hi, const char *src,
                                const char *dst)
{
	struct ncm_filter f = {.proto = proto, .port_lo = lo, .port_hi = hi};
	if (src)
		assert_int_equal(ncm_prefix_parse(src, &f.src), 0);
	if (dst)
		assert_int_equal(ncm_prefix_parse(dst, &f.dst), 0);
	return f;
}

static void set_filters(const struct ncm_filter *f, size_t n)
{
	struct netserv_xdp_rule r[8];
	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(nsxdp_rule_from_filter(&f[i], (uint32_t)i, 1, &r[i]), 0);
	assert_int_equal(nsxdp_set_rules(prog, r, n), 0);
}

/* Runs the frame; checks the action is XDP_PASS (no socket, no route in a
 * test run) and that the frame was counted in exactly `where` (and, if it
 * matched, also in `matched`). */
static void expect(const struct frame *f, enum netserv_xdp_counter where)
{
	uint64_t c[NETSERV_XDP_N_COUNTERS];
	assert_int_equal(nsxdp_counters_reset(prog), 0);
	int act = nsxdp_test_run(prog, f->b, f->len, 0, 0);
	assert_int_equal(act, XDP_PASS);
	assert_int_equal(nsxdp_counters(prog, c), 0);
	assert_int_equal(c[NETSERV_XDP_RX], 1);
	for (unsigned i = NETSERV_XDP_MATCHED; i < NETSERV_XDP_N_COUNTERS; i++) {
		uint64_t want = i == where;
		if (i == NETSERV_XDP_MATCHED && where == NETSERV_XDP_NOT_FWD)
			want = 1;
		if (c[i] != want)
			fail_msg("counter %s = %llu, want %llu", nsxdp_counter_name(i),
			         (unsigned long long)c[i], (unsigned long long)want);
	}
}

/* A match goes to the FIB, which in a test run has no ingress device: the
 * frame is counted as matched and "not forwarded", and passed. */
#define MATCH   NETSERV_XDP_NOT_FWD
#define NOMATCH NETSERV_XDP_PASSED

static void test_ipv4_udp_port(void **state)
{
	struct ncm_filter fl = filter(17, 7000, 7000, NULL, NULL);
	struct frame f;
	set_filters(&fl, 1);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	expect(&f, MATCH);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7001, 10);
	expect(&f, NOMATCH);
	ip4(&f, 6, "10.1.0.1", "10.2.0.2", 7000, 10); /* TCP to the UDP port */
	expect(&f, NOMATCH);
	ip6(&f, 17, "fd00:1::1", "fd00:2::2", 7000, 10);
	expect(&f, MATCH);
	ip6(&f, 17, "fd00:1::1", "fd00:2::2", 6999, 10);
	expect(&f, NOMATCH);
}

static void test_prefixes_and_ranges(void **state)
{
	struct ncm_filter fl[3] = {
	        filter(6, 80, 90, "10.1.0.0/16", "10.2.0.0/24"),
	        filter(0, 0, 0, NULL, "fd00:2::/64"), /* anything to that IPv6 prefix */
	        filter(1, 0, 0, NULL, "10.9.0.7"),    /* ICMP to one host */
	};
	struct frame f;
	set_filters(fl, 3);
	ip4(&f, 6, "10.1.200.3", "10.2.0.9", 85, 0);
	expect(&f, MATCH);
	ip4(&f, 6, "10.3.0.3", "10.2.0.9", 85, 0); /* source outside */
	expect(&f, NOMATCH);
	ip4(&f, 6, "10.1.0.3", "10.2.1.9", 85, 0); /* destination outside */
	expect(&f, NOMATCH);
	ip4(&f, 6, "10.1.0.3", "10.2.0.9", 91, 0); /* above the range */
	expect(&f, NOMATCH);
	ip6(&f, 6, "fd00:1::1", "fd00:2::99", 1, 0);
	expect(&f, MATCH);
	ip6(&f, 6, "fd00:1::1", "fd00:3::99", 1, 0);
	expect(&f, NOMATCH);
	ip4(&f, 1, "10.1.0.1", "10.9.0.7", 0, 8);
	expect(&f, MATCH);
	ip4(&f, 1, "10.1.0.1", "10.9.0.8", 0, 8);
	expect(&f, NOMATCH);
}

static void test_malformed(void **state)
{
	struct ncm_filter fl = filter(17, 7000, 7000, NULL, NULL);
	struct frame f;
	set_filters(&fl, 1);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.len = 14 + 19; /* truncated IPv4 header */
	expect(&f, NETSERV_XDP_MALFORMED);
	/* A frame shorter than an Ethernet header never reaches XDP: the
	 * kernel's test run refuses it as drivers do. */
	assert_int_equal(nsxdp_test_run(prog, f.b, 10, 0, 0), -EINVAL);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14] = 0x44; /* IHL 4 */
	expect(&f, NETSERV_XDP_MALFORMED);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14] = 0x4f; /* IHL 15: longer than the total length */
	expect(&f, NETSERV_XDP_MALFORMED);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14] = 0x55; /* version 5 */
	expect(&f, NETSERV_XDP_MALFORMED);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.len -= 1; /* total length past the frame */
	expect(&f, NETSERV_XDP_MALFORMED);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 0);
	put16(f.b + 16, 22); /* total length ends inside the UDP ports */
	f.len = 14 + 22;
	expect(&f, NETSERV_XDP_MALFORMED);
	ip6(&f, 17, "fd00:1::1", "fd00:2::2", 7000, 10);
	f.len = 14 + 39; /* truncated IPv6 header */
	expect(&f, NETSERV_XDP_MALFORMED);
	ip6(&f, 17, "fd00:1::1", "fd00:2::2", 7000, 10);
	put16(f.b + 18, 200); /* payload length past the frame */
	expect(&f, NETSERV_XDP_MALFORMED);
}

static void test_options_padding_ttl(void **state)
{
	struct ncm_filter fl = filter(17, 7000, 7000, NULL, NULL);
	struct frame f;
	set_filters(&fl, 1);
	/* IHL 6: one word of options before the UDP header. */
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	memmove(f.b + 14 + 24, f.b + 14 + 20, f.len - 34);
	memset(f.b + 14 + 20, 1, 4); /* NOPs */
	f.b[14] = 0x46;
	put16(f.b + 16, (uint16_t)(24 + 8 + 10));
	f.len += 4;
	expect(&f, MATCH);
	/* Ethernet padding after the datagram is not part of it. */
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 0);
	f.len = 60;
	expect(&f, MATCH);
	/* TTL 1: the kernel answers (time exceeded). */
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14 + 8] = 1;
	expect(&f, NETSERV_XDP_NOT_FWD);
}

static void test_fragments_and_exthdrs(void **state)
{
	struct ncm_filter fl = filter(17, 7000, 7000, NULL, NULL);
	struct frame f;
	set_filters(&fl, 1);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14 + 6] = 0x20; /* first fragment: MF */
	expect(&f, NETSERV_XDP_FRAGMENT);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14 + 7] = 0x10; /* a later fragment (offset 128) */
	expect(&f, NETSERV_XDP_FRAGMENT);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	f.b[14 + 6] = 0x40; /* DF alone is not a fragment */
	expect(&f, MATCH);
	ip6(&f, 0, "fd00:1::1", "fd00:2::2", 7000, 10); /* hop-by-hop first */
	expect(&f, NETSERV_XDP_EXTHDR);
	ip6(&f, 60, "fd00:1::1", "fd00:2::2", 7000, 10); /* destination options */
	expect(&f, NETSERV_XDP_EXTHDR);
	ip6(&f, 44, "fd00:1::1", "fd00:2::2", 7000, 10); /* fragment header */
	expect(&f, NETSERV_XDP_FRAGMENT);
}

static void test_other_frames(void **state)
{
	struct ncm_filter fl = filter(0, 0, 0, NULL, NULL); /* everything IP */
	struct frame f;
	set_filters(&fl, 1);
	eth(&f, 0x0806); /* ARP */
	f.len = 42;
	expect(&f, NETSERV_XDP_OTHER);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	put16(f.b + 12, 0x8100); /* VLAN-tagged: the kernel's */
	expect(&f, NETSERV_XDP_OTHER);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	expect(&f, MATCH);
	/* No rules: everything passes as unmatched. */
	assert_int_equal(nsxdp_set_rules(prog, NULL, 0), 0);
	expect(&f, NOMATCH);
}

/* Replacing the rules switches between the two sets: the new rules hold,
 * none of the old ones, also after several replacements of different sizes. */
static void test_replace_rules(void **state)
{
	struct ncm_filter a[2] = {filter(17, 7000, 7000, NULL, NULL),
	                          filter(17, 7100, 7100, NULL, NULL)};
	struct ncm_filter b = filter(17, 8000, 8000, NULL, NULL);
	struct frame f7, f71, f8;
	ip4(&f7, 17, "10.1.0.1", "10.2.0.2", 7000, 10);
	ip4(&f71, 17, "10.1.0.1", "10.2.0.2", 7100, 10);
	ip4(&f8, 17, "10.1.0.1", "10.2.0.2", 8000, 10);
	for (int round = 0; round < 3; round++) {
		set_filters(a, 2);
		expect(&f7, MATCH);
		expect(&f71, MATCH);
		expect(&f8, NOMATCH);
		set_filters(&b, 1);
		expect(&f7, NOMATCH);
		expect(&f71, NOMATCH);
		expect(&f8, MATCH);
	}
}

struct got_samples {
	int n;
	struct netserv_xdp_sample s[8];
};

static void on_sample(void *ctx, const struct netserv_xdp_sample *s)
{
	struct got_samples *g = ctx;
	if (g->n < 8)
		g->s[g->n] = *s;
	g->n++;
}

/* A sampling rule: one in 4 matching frames copied (its first 64 bytes, or
 * all of a shorter one) to the samples ring, every frame passed on. */
static void test_sampling(void **state)
{
	struct ncm_filter fl[2] = {filter(17, 7000, 7000, NULL, NULL),
	                           filter(17, 5060, 5060, NULL, NULL)};
	struct netserv_xdp_rule r[2];
	struct got_samples got = {0};
	struct nsxdp_sampler *sm;
	uint64_t c[NETSERV_XDP_N_COUNTERS], hits;
	struct frame f, small;

	/* The turns are counted per CPU: stay on one for exact counts. */
	cpu_set_t old, one;
	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(nsxdp_rule_sampling(&fl[0], 0, 64, &r[0]), -EINVAL);
	assert_int_equal(nsxdp_rule_sampling(&fl[0], 4, 0, &r[0]), -EINVAL);
	assert_int_equal(nsxdp_rule_sampling(&fl[0], 4, NETSERV_XDP_SNAP_MAX + 1, &r[0]), -EINVAL);
	assert_int_equal(nsxdp_rule_from_filter(&fl[0], 0, 1, &r[0]), 0);
	assert_int_equal(nsxdp_rule_sampling(&fl[1], 4, 64, &r[1]), 0);
	assert_int_equal(nsxdp_set_rules(prog, r, 2), 0);
	assert_int_equal(nsxdp_sampler_open(prog, on_sample, &got, &sm), 0);
	assert_int_equal(nsxdp_counters_reset(prog), 0);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 5060, 100);
	for (int i = 0; i < 8; i++) {
		f.b[14 + 28 + 99] = (uint8_t)i; /* the last byte: not in the snap */
		assert_int_equal(nsxdp_test_run(prog, f.b, f.len, 0, 0), XDP_PASS);
	}
	ip4(&small, 17, "10.1.0.1", "10.2.0.2", 5060, 2); /* 44 bytes < 64 */
	for (int i = 0; i < 4; i++)
		assert_int_equal(nsxdp_test_run(prog, small.b, small.len, 0, 0), XDP_PASS);
	assert_int_equal(nsxdp_counters(prog, c), 0);
	assert_int_equal(c[NETSERV_XDP_MATCHED], 12);
	assert_int_equal(c[NETSERV_XDP_SAMPLED], 3);
	assert_int_equal(c[NETSERV_XDP_UNSAMPLED], 9);
	assert_int_equal(c[NETSERV_XDP_NOT_FWD] + c[NETSERV_XDP_REDIRECTED], 0);
	assert_int_equal(nsxdp_rule_hits(prog, 1, &hits), 0);
	assert_int_equal(hits, 12);
	assert_int_equal(nsxdp_rule_hits(prog, 0, &hits), 0);
	assert_int_equal(hits, 0);
	assert_int_equal(nsxdp_sampler_poll(sm, 0), 3);
	assert_int_equal(got.n, 3);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(got.s[i].rule, 1);
		assert_int_equal(got.s[i].len, f.len);
		assert_int_equal(got.s[i].caplen, 64);
		assert_memory_equal(got.s[i].data, f.b, 64);
	}
	assert_int_equal(got.s[2].len, small.len);
	assert_int_equal(got.s[2].caplen, small.len);
	assert_memory_equal(got.s[2].data, small.b, small.len);

	/* A sampling rule does not end the scan: with a redirecting rule on the
	 * same filter after it, each frame is sampled (1 in 2) and then matches
	 * the redirecting rule too (in a test run the FIB has no ingress
	 * device: not_forwarded stands for the redirect). */
	struct netserv_xdp_rule both[2];
	assert_int_equal(nsxdp_rule_sampling(&fl[1], 2, 64, &both[0]), 0);
	assert_int_equal(nsxdp_rule_from_filter(&fl[1], 0, 1, &both[1]), 0);
	assert_int_equal(nsxdp_set_rules(prog, both, 2), 0);
	assert_int_equal(nsxdp_counters_reset(prog), 0);
	got.n = 0;
	for (int i = 0; i < 4; i++)
		assert_int_equal(nsxdp_test_run(prog, f.b, f.len, 0, 0), XDP_PASS);
	assert_int_equal(nsxdp_counters(prog, c), 0);
	assert_int_equal(c[NETSERV_XDP_SAMPLED], 2);
	assert_int_equal(c[NETSERV_XDP_UNSAMPLED], 2);
	assert_int_equal(c[NETSERV_XDP_MATCHED], 8); /* each rule's match */
	assert_int_equal(c[NETSERV_XDP_NOT_FWD], 4);
	assert_int_equal(c[NETSERV_XDP_PASSED], 0);
	assert_int_equal(nsxdp_rule_hits(prog, 1, &hits), 0);
	assert_int_equal(hits, 4);
	assert_int_equal(nsxdp_sampler_poll(sm, 0), 2);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.s[0].rule, 0);
	nsxdp_sampler_close(sm);
	sched_setaffinity(0, sizeof(old), &old);
}

/* The tc program: sampling rules only (a redirecting rule is off), every
 * frame passed on (TC_ACT_OK), the same parse as the XDP program's. */
static void test_tc_program(void **state)
{
	char err[256] = "";
	struct nsxdp_prog *tc;
	struct ncm_filter fl = filter(17, 5060, 5060, NULL, NULL);
	struct netserv_xdp_rule r[2];
	struct got_samples got = {0};
	struct nsxdp_sampler *sm;
	uint64_t c[NETSERV_XDP_N_COUNTERS];
	struct frame f;

	cpu_set_t old, one;
	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(nsxdp_open_tc(NETSERV_XDP_OBJ, &tc, err, sizeof(err)), 0);
	assert_int_equal(nsxdp_load(tc, err, sizeof(err)), 0);
	assert_string_equal(nsxdp_mode(tc), "none");
	assert_int_equal(nsxdp_rule_from_filter(&fl, 0, 1, &r[0]), 0);
	assert_int_equal(nsxdp_rule_sampling(&fl, 2, 64, &r[1]), 0);
	assert_int_equal(nsxdp_set_rules(tc, r, 2), 0);
	assert_int_equal(nsxdp_sampler_open(tc, on_sample, &got, &sm), 0);
	assert_int_equal(nsxdp_counters_reset(tc), 0);
	/* Matching: IPv4, IPv6, then 3 IPv4: the 2nd and the 4th sampled. */
	for (int i = 0; i < 5; i++) {
		if (i == 1)
			ip6(&f, 17, "fd00:1::1", "fd00:2::2", 5060, 10);
		else
			ip4(&f, 17, "10.1.0.1", "10.2.0.2", 5060, 100);
		assert_int_equal(nsxdp_test_run(tc, f.b, f.len, 1, 0), TC_ACT_OK);
	}
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 5061, 100); /* not the filter's */
	assert_int_equal(nsxdp_test_run(tc, f.b, f.len, 1, 0), TC_ACT_OK);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 5060, 100);
	f.len -= 1; /* total length past the frame */
	assert_int_equal(nsxdp_test_run(tc, f.b, f.len, 1, 0), TC_ACT_OK);
	assert_int_equal(nsxdp_counters(tc, c), 0);
	assert_int_equal(c[NETSERV_XDP_RX], 7);
	assert_int_equal(c[NETSERV_XDP_MATCHED], 5); /* the sampling rule's, not the other's */
	assert_int_equal(c[NETSERV_XDP_SAMPLED], 2);
	assert_int_equal(c[NETSERV_XDP_UNSAMPLED], 3);
	assert_int_equal(c[NETSERV_XDP_PASSED], 1);
	assert_int_equal(c[NETSERV_XDP_MALFORMED], 1);
	assert_int_equal(c[NETSERV_XDP_REDIRECTED] + c[NETSERV_XDP_NOT_FWD], 0);
	assert_int_equal(nsxdp_sampler_poll(sm, 0), 2);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.s[0].rule, 1);
	assert_int_equal(got.s[0].len, 14 + 40 + 8 + 10); /* the IPv6 one */
	assert_int_equal(got.s[0].caplen, 64);
	ip4(&f, 17, "10.1.0.1", "10.2.0.2", 5060, 100);
	assert_int_equal(got.s[1].len, f.len);
	assert_int_equal(got.s[1].caplen, 64);
	assert_int_equal(got.s[1].ifindex, 1);
	assert_memory_equal(got.s[1].data, f.b, 64);
	nsxdp_sampler_close(sm);
	assert_int_equal(nsxdp_close(tc), 0);
	sched_setaffinity(0, sizeof(old), &old);
}

/* How many tc filters loopback's ingress has (via tc(8)), or -1. */
static int lo_filters(void)
{
	return popen_count("tc filter show dev lo ingress 2>/dev/null | grep -c 'name netserv_tc'");
}

static int lo_has_clsact(void)
{
	return popen_count("tc qdisc show dev lo | grep -c clsact");
}

/* Attached for real, in a network namespace of this process's own (the last
 * test: the process stays in it): datagrams to 127.0.0.1:5060 on loopback
 * are sampled 1 in 2; a second instance replaces the first instead of
 * doubling it; closing takes the filter and the clsact qdisc made here. */
static void test_tc_attached(void **state)
{
	char err[256] = "";
	struct nsxdp_prog *a, *b;
	struct ncm_filter fl = filter(17, 5060, 5060, NULL, NULL);
	struct netserv_xdp_rule r;
	struct got_samples got = {0};
	struct nsxdp_sampler *sm;

	assert_int_equal(unshare(CLONE_NEWNET), 0);
	assert_int_equal(system("ip link set lo up"), 0);
	int lo = (int)if_nametoindex("lo");
	assert_true(lo > 0);
	assert_int_equal(lo_has_clsact(), 0);
	assert_int_equal(nsxdp_open_tc(NETSERV_XDP_OBJ, &a, err, sizeof(err)), 0);
	if (nsxdp_attach(a, lo, 0, err, sizeof(err)) != 0)
		fail_msg("attach: %s", err);
	assert_string_equal(nsxdp_mode(a), "tc");
	assert_int_equal(lo_has_clsact(), 1);
	assert_int_equal(lo_filters(), 1);
	assert_int_equal(nsxdp_open_tc(NETSERV_XDP_OBJ, &b, err, sizeof(err)), 0);
	if (nsxdp_attach(b, lo, 0, err, sizeof(err)) != 0)
		fail_msg("attach again: %s", err);
	assert_int_equal(lo_filters(), 1); /* replaced, not doubled */
	assert_int_equal(nsxdp_rule_sampling(&fl, 2, 64, &r), 0);
	assert_int_equal(nsxdp_set_rules(b, &r, 1), 0);
	assert_int_equal(nsxdp_sampler_open(b, on_sample, &got, &sm), 0);

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(5060)};
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 6; i++)
		assert_int_equal(sendto(fd, "INVITE", 6, 0, (struct sockaddr *)&to, sizeof(to)), 6);
	to.sin_port = htons(5061);
	assert_int_equal(sendto(fd, "OTHER!", 6, 0, (struct sockaddr *)&to, sizeof(to)), 6);
	close(fd);
	/* Fewer than a batch do not wake the reader: read until all 3 came,
	 * with a deadline. */
	for (int i = 0; i < 50 && got.n < 3; i++)
		if (nsxdp_sampler_poll(sm, 0) == 0)
			usleep(20000);
	assert_int_equal(got.n, 3);
	assert_int_equal(got.s[0].len, 14 + 20 + 8 + 6);
	assert_int_equal(got.s[0].ifindex, lo);
	assert_memory_equal(got.s[0].data + 14 + 28, "INVITE", 6);
	nsxdp_sampler_close(sm);
	/* a's filter was replaced by b's: closing a (which made the qdisc)
	 * leaves b's filter and the qdisc in place; closing b takes its
	 * filter, and leaves the qdisc it did not make. */
	assert_int_equal(nsxdp_close(a), 0);
	assert_int_equal(lo_filters(), 1);
	assert_int_equal(lo_has_clsact(), 1);
	assert_int_equal(nsxdp_close(b), 0);
	assert_int_equal(lo_filters(), 0);
	assert_int_equal(lo_has_clsact(), 1);
	/* One instance alone takes the qdisc it made with it. */
	assert_int_equal(system("tc qdisc del dev lo clsact"), 0);
	assert_int_equal(nsxdp_open_tc(NETSERV_XDP_OBJ, &a, err, sizeof(err)), 0);
	assert_int_equal(nsxdp_attach(a, lo, 0, err, sizeof(err)), 0);
	assert_int_equal(lo_has_clsact(), 1);
	assert_int_equal(nsxdp_close(a), 0);
	assert_int_equal(lo_has_clsact(), 0);
}

static void test_rule_from_filter(void **state)
{
	struct netserv_xdp_rule r;
	struct ncm_filter f = filter(17, 9, 8, NULL, NULL);
	assert_int_equal(nsxdp_rule_from_filter(&f, 0, 1, &r), -EINVAL); /* inverted range */
	f = filter(17, 7, 7, "10.0.0.0/8", NULL);
	assert_int_equal(nsxdp_rule_from_filter(&f, NETSERV_XDP_MAX_XSKS, 1, &r), -EINVAL);
	assert_int_equal(nsxdp_rule_from_filter(&f, 0, 0, &r), -EINVAL);
	f.src.len = 33;
	assert_int_equal(nsxdp_rule_from_filter(&f, 0, 1, &r), -EINVAL);
	f.src.len = 8;
	assert_int_equal(nsxdp_rule_from_filter(&f, 3, 2, &r), 0);
	assert_int_equal(r.src_family, 4);
	assert_int_equal(r.src_mask[0], htonl(0xff000000));
	assert_int_equal(r.xsk_base, 3);
	assert_int_equal(r.xsk_queues, 2);
	struct netserv_xdp_rule many[NETSERV_XDP_MAX_RULES + 1] = {0};
	assert_int_equal(nsxdp_set_rules(prog, many, NETSERV_XDP_MAX_RULES + 1), -E2BIG);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP loading BPF needs root\n");
		return 0;
	}
	char err[256] = "";
	int r = nsxdp_open(NETSERV_XDP_OBJ, &prog, err, sizeof(err));
	if (r == 0)
		r = nsxdp_load(prog, err, sizeof(err));
	if (r < 0) {
		printf("1..1\nnot ok 1 - loading %s: %s\n", NETSERV_XDP_OBJ, err);
		return 1;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ipv4_udp_port),
	        cmocka_unit_test(test_prefixes_and_ranges),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_options_padding_ttl),
	        cmocka_unit_test(test_fragments_and_exthdrs),
	        cmocka_unit_test(test_other_frames),
	        cmocka_unit_test(test_replace_rules),
	        cmocka_unit_test(test_sampling),
	        cmocka_unit_test(test_rule_from_filter),
	        cmocka_unit_test(test_tc_program),
	        cmocka_unit_test(test_tc_attached), /* last: it leaves the namespace */
	};
	r = cmocka_run_group_tests(tests, NULL, NULL);
	nsxdp_close(prog);
	return r;
}
