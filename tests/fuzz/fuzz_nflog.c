/* libFuzzer target: nflog_parse(), the container's reader of the NFLOG
 * datagrams of its sample channel. Every sample it reports must lie inside
 * the input and carry a NUL-terminated prefix. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/nflog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct span {
	const uint8_t *p;
	size_t n;
};

static void check(void *ctx, const struct nflog_sample *s)
{
	const struct span *in = ctx;
	if (s->data < in->p || s->data + s->len > in->p + in->n ||
	    memchr(s->prefix, '\0', sizeof(s->prefix)) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in = {data, size};
	(void)nflog_parse(data, size, check, &in);
	return 0;
}
