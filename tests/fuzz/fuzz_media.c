/* libFuzzer target: media/1's host_media_overlay() on arbitrary bytes (the
 * corpus starts from a real segment, tests/fuzz/corpus/media). Bounded: the
 * input is cut at 256 KiB, the output at 4 MiB, and the call itself stops
 * after HOST_MEDIA_TIME_MS. Any result but a crash, a leak or a hang is
 * fine; the errors must be those host_media.h lists. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "container/host_media.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	if (!inited) {
		host_media_init();
		inited = 1;
	}
	if (size > (256u << 10))
		size = 256u << 10;
	struct host_media_text t = {"fuzz \xc3\xa9", 7, 4, 4, 0};
	uint8_t *out = NULL;
	int64_t n = host_media_overlay(data, size, &t, 4u << 20, HOST_MEDIA_TIME_MS, &out);
	if (n < 0 && n != -EINVAL && n != -ENOTSUP && n != -EFBIG && n != -ETIME && n != -ENOMEM &&
	    n != -ENOENT)
		abort(); /* an error host_media.h does not list */
	if (n >= 0 && !out)
		abort();
	free(out);
	return 0;
}
