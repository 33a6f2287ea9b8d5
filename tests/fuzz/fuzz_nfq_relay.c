/* libFuzzer target: nfq_relay_check(), netservd's check of the verdict
 * datagrams a container sends. The first two bytes choose the queue, the rest
 * is the datagram. */
#include <stddef.h>
#include <stdint.h>

#include "fwd/nfq_relay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[160];
	if (size < 2)
		return 0;
	uint16_t queue = (uint16_t)(data[0] << 8 | data[1]);
	(void)nfq_relay_check(data + 2, size - 2, queue, err, sizeof(err));
	return 0;
}
