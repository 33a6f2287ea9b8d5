/* media/1: the import (abi/host_api.h) over host_media.c. Every pointer and
 * length is checked against the module's memory (a bad one traps). The work
 * runs in the container's only thread, bounded by host_media.h's limits
 * instead of the module's time budget, which starts again afterwards. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "container/host_media.h"
#include "container/modhost_internal.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_MEDIA(DECLARE_IMPORT)

/* Here rather than in modhost.c: the container calls it, which links the
 * import (a static library's object nobody calls would be left out). */
void modhost_media_init(void)
{
	host_media_init();
}

u32 Z_netservZ_ns_media_overlay_text(struct Z_netserv_instance_t *ctx, u32 in, u32 in_len, u32 out,
                                     u32 out_cap, u32 text, u32 text_len, u32 x, u32 y, u32 size)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *pin = mem_at(m, in, in_len);
	uint8_t *pout = mem_at(m, out, out_cap);
	const char *ptext = (const char *)mem_at(m, text, text_len);
	struct host_media_text t = {ptext, text_len, x, y, size};
	uint8_t *res = NULL;
	uint64_t t0 = modhost_now_ns();
	int64_t n = host_media_overlay(pin, in_len, &t, out_cap, &res);
	m->media_ms += (modhost_now_ns() - t0) / 1000000u;
	if (n >= 0) {
		memcpy(pout, res, (size_t)n);
		m->media_calls++;
	} else {
		m->media_failures++;
	}
	free(res);
	modhost_budget_restart();
	IMPORT_RETURN((int32_t)n);
}
