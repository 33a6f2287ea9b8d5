/* SETUP filters as XDP rules. */
#include "fwd/xdp/xdp_rule.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* The prefix's family (0, 4, 6), network and mask; -EINVAL if bad. */
static int prefix_rule(const struct ncm_prefix *p, __u8 *family, __u32 net[4], __u32 mask[4])
{
	uint8_t m[16] = {0}, a[16] = {0};
	unsigned max;

	if (p->family == 0) {
		*family = 0;
		return 0;
	}
	if (p->family == AF_INET) {
		*family = 4;
		max = 32;
	} else if (p->family == AF_INET6) {
		*family = 6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (p->len > max)
		return -EINVAL;
	for (unsigned b = 0; b < p->len; b++)
		m[b / 8] |= (uint8_t)(0x80 >> (b % 8));
	for (unsigned i = 0; i < 16; i++)
		a[i] = p->addr[i] & m[i];
	memcpy(net, a, 16);
	memcpy(mask, m, 16);
	return 0;
}

/* The match part of a rule. */
static int match_rule(const struct ncm_filter *f, struct netserv_xdp_rule *ret)
{
	struct netserv_xdp_rule r;

	memset(&r, 0, sizeof(r));
	if (f->port_lo && f->port_hi < f->port_lo)
		return -EINVAL;
	if (prefix_rule(&f->src, &r.src_family, r.src_net, r.src_mask) < 0 ||
	    prefix_rule(&f->dst, &r.dst_family, r.dst_net, r.dst_mask) < 0)
		return -EINVAL;
	r.proto = f->proto;
	if (f->port_lo) {
		r.has_ports = 1;
		r.port_lo = f->port_lo;
		r.port_hi = f->port_hi;
	}
	*ret = r;
	return 0;
}

int nsxdp_rule_from_filter(const struct ncm_filter *f, uint32_t xsk_base, uint32_t queues,
                           struct netserv_xdp_rule *ret)
{
	struct netserv_xdp_rule r;

	if (queues == 0 || xsk_base >= NETSERV_XDP_MAX_XSKS ||
	    queues > NETSERV_XDP_MAX_XSKS - xsk_base)
		return -EINVAL;
	if (match_rule(f, &r) < 0)
		return -EINVAL;
	r.xsk_base = xsk_base;
	r.xsk_queues = queues;
	*ret = r;
	return 0;
}

int nsxdp_rule_sampling(const struct ncm_filter *f, uint32_t n, uint32_t snap,
                        struct netserv_xdp_rule *ret)
{
	struct netserv_xdp_rule r;

	if (n == 0 || snap == 0 || snap > NETSERV_XDP_SNAP_MAX)
		return -EINVAL;
	if (match_rule(f, &r) < 0)
		return -EINVAL;
	r.sample_n = n;
	r.snap = snap;
	*ret = r;
	return 0;
}
