/* libFuzzer target: pkt_filter_match() on arbitrary packets and filters. The
 * first bytes choose the filter, the rest is the packet. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "container/pkt_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	struct ncm_filter f = {0};
	f.proto = data[0];
	f.port_lo = (uint16_t)(data[1] << 8 | data[2]);
	f.port_hi = f.port_lo + data[3];
	if (f.port_hi < f.port_lo)
		f.port_hi = 0xffff;
	f.src.family = data[4] & 1 ? AF_INET : data[4] & 2 ? AF_INET6 : 0;
	f.src.len = (uint8_t)(data[5] % (f.src.family == AF_INET ? 33 : 129));
	f.dst.family = data[6] & 1 ? AF_INET : data[6] & 2 ? AF_INET6 : 0;
	f.dst.len = (uint8_t)(data[7] % (f.dst.family == AF_INET ? 33 : 129));
	(void)pkt_filter_match(&f, data + 8, (uint32_t)(size - 8));
	return 0;
}
