/* The user-space forwarder's per-frame work. */
#include "fwd/xdp/xdp_fwd.h"

#include <errno.h>
#include <string.h>

int nsxdp_meta_get(const uint8_t *frame, uint32_t room, struct netserv_xdp_meta *ret)
{
	struct netserv_xdp_meta m;

	if (room < sizeof(m))
		return -ENODATA;
	memcpy(&m, frame - sizeof(m), sizeof(m));
	if (m.magic != NETSERV_XDP_META_MAGIC || (m.family != 4 && m.family != 6) ||
	    m.l3_off != 14 || m.ifindex == 0)
		return -ENODATA;
	*ret = m;
	return 0;
}

int nsxdp_forward_frame(uint8_t *frame, uint32_t len, const struct netserv_xdp_meta *m)
{
	if (len < 14 || m->l3_off != 14)
		return -EINVAL;
	uint16_t type = (uint16_t)(frame[12] << 8 | frame[13]);
	uint8_t *ip = frame + 14;
	if (m->family == 4) {
		if (type != 0x0800 || len < 14 + 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5)
			return -EINVAL;
		if (ip[8] <= 1)
			return -ETIMEDOUT;
		/* RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m'), m the 16-bit word
		 * of TTL and protocol. */
		uint32_t old = (uint32_t)(ip[8] << 8 | ip[9]);
		ip[8]--;
		uint32_t now = (uint32_t)(ip[8] << 8 | ip[9]);
		uint32_t hc = (uint32_t)(ip[10] << 8 | ip[11]);
		uint32_t sum = (~hc & 0xffff) + (~old & 0xffff) + now;
		sum = (sum & 0xffff) + (sum >> 16);
		sum = (sum & 0xffff) + (sum >> 16);
		sum = ~sum & 0xffff;
		ip[10] = (uint8_t)(sum >> 8);
		ip[11] = (uint8_t)sum;
	} else if (m->family == 6) {
		if (type != 0x86dd || len < 14 + 40 || ip[0] >> 4 != 6)
			return -EINVAL;
		if (ip[7] <= 1)
			return -ETIMEDOUT;
		ip[7]--;
	} else {
		return -EINVAL;
	}
	memcpy(frame, m->dmac, 6);
	memcpy(frame + 6, m->smac, 6);
	return 0;
}
