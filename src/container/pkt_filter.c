/* Per-module packet filters in the container. */
#include "container/pkt_filter.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static bool prefix_match(const struct ncm_prefix *p, int family, const uint8_t *addr)
{
	if (p->family == 0)
		return true;
	if (p->family != family)
		return false;
	unsigned full = p->len / 8, rest = p->len % 8;
	if (memcmp(p->addr, addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((p->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

static bool has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132 || proto == 136;
}

bool pkt_filter_match(const struct ncm_filter *f, const uint8_t *pkt, uint32_t len)
{
	if (len < 1)
		return false;
	int family;
	uint8_t proto;
	const uint8_t *src, *dst;
	uint32_t l4;
	bool later_fragment = false;
	if (pkt[0] >> 4 == 4) {
		if (len < 20 || (pkt[0] & 0x0f) < 5)
			return false;
		family = AF_INET;
		proto = pkt[9];
		src = pkt + 12;
		dst = pkt + 16;
		l4 = (uint32_t)(pkt[0] & 0x0f) * 4;
		later_fragment = ((pkt[6] & 0x1f) | pkt[7]) != 0;
	} else if (pkt[0] >> 4 == 6) {
		if (len < 40)
			return false;
		family = AF_INET6;
		src = pkt + 8;
		dst = pkt + 24;
		proto = pkt[6];
		l4 = 40;
		/* Skip the usual extension headers to the transport header. */
		for (int i = 0; i < 8; i++) {
			if (proto == 0 || proto == 43 ||
			    proto == 60) { /* hop-by-hop, routing, dest */
				if (l4 + 2 > len)
					return false;
				uint8_t next = pkt[l4];
				l4 += 8u + 8u * pkt[l4 + 1];
				proto = next;
			} else if (proto == 44) { /* fragment */
				if (l4 + 8 > len)
					return false;
				later_fragment = ((pkt[l4 + 2] << 8 | pkt[l4 + 3]) & 0xfff8) != 0;
				proto = pkt[l4];
				l4 += 8;
			} else {
				break;
			}
		}
	} else {
		return false;
	}
	if (f->proto && f->proto != proto)
		return false;
	if (!prefix_match(&f->src, family, src) || !prefix_match(&f->dst, family, dst))
		return false;
	if (f->port_lo) {
		if (!has_ports(proto) || later_fragment || l4 + 4 > len)
			return false;
		uint16_t dport = (uint16_t)(pkt[l4 + 2] << 8 | pkt[l4 + 3]);
		if (dport < f->port_lo || dport > f->port_hi)
			return false;
	}
	return true;
}

bool pkt_filters_match(const struct ncm_filter *v, size_t n, const uint8_t *pkt, uint32_t len)
{
	for (size_t i = 0; i < n; i++)
		if (pkt_filter_match(&v[i], pkt, len))
			return true;
	return false;
}
