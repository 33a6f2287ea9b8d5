/* libFuzzer target: the AF_XDP forwarder's frame handling (src/fwd/xdp/
 * xdp_fwd.c) on arbitrary bytes. The first 32 bytes are the headroom where
 * the XDP program's metadata would be, the rest is the frame; the metadata
 * is taken as it is (nsxdp_meta_get) or, when it is not valid, made valid
 * with the family of the first byte, so that both the checks and the rewrite
 * are reached. Checks what a successful forward promises: TTL/hop limit one
 * less, the MACs from the metadata, the rest of the frame unchanged, and an
 * IPv4 header checksum that was right stays right. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/xdp/xdp_fwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t sum16(const uint8_t *p, size_t n)
{
	uint32_t s = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netserv_xdp_meta m;
	const size_t room = sizeof(m);

	if (size < room || size - room > 65536)
		return 0;
	size_t len = size - room;
	/* The frame in a buffer of its own size, with the metadata before it. */
	uint8_t *buf = malloc(size), *before = malloc(size);
	if (!buf || !before) {
		free(buf);
		free(before);
		return 0;
	}
	memcpy(buf, data, size);
	uint8_t *frame = buf + room;
	if (nsxdp_meta_get(frame, (uint32_t)room, &m) < 0) {
		memset(&m, 0, sizeof(m));
		m.magic = NETSERV_XDP_META_MAGIC;
		m.ifindex = 1;
		m.l3_off = 14;
		m.family = data[0] & 1 ? 6 : 4;
		memcpy(m.dmac, data + 1, 6);
		memcpy(m.smac, data + 7, 6);
	}
	memcpy(before, buf, size);
	int ok4 =
	        m.family == 4 && len >= 34 && sum16(frame + 14, 20) == 0 && (frame[14] & 0x0f) == 5;
	if (nsxdp_forward_frame(frame, (uint32_t)len, &m) == 0) {
		const uint8_t *old = before + room;
		size_t ttl = m.family == 4 ? 14 + 8 : 14 + 7;
		if (len <= ttl || frame[ttl] != (uint8_t)(old[ttl] - 1) || old[ttl] <= 1)
			abort();
		if (memcmp(frame, m.dmac, 6) || memcmp(frame + 6, m.smac, 6))
			abort();
		for (size_t i = 12; i < len; i++)
			if (frame[i] != old[i] && i != ttl &&
			    !(m.family == 4 && (i == 14 + 10 || i == 14 + 11)))
				abort();
		if (ok4 && sum16(frame + 14, 20) != 0)
			abort();
	}
	free(buf);
	free(before);
	return 0;
}
