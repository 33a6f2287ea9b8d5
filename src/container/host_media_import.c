/* media/1: the import (abi/host_api.h) over host_media.c. Every pointer and
 * length is checked against the module's memory (a bad one traps). The work
 * runs in the container's only thread, bounded by host_media.h's limits
 * instead of the module's time budget: the time spent in media calls, at
 * most NS_MEDIA_TIME_MS per module call in all, does not count against the
 * budget; the module's own time does. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "container/host_media.h"
#include "container/modhost_internal.h"
#include "lib/errbuf.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_MEDIA(DECLARE_IMPORT)

/* host_media_overlay() of the loaded netserv-media.so, or NULL (the
 * publisher has no media/1: its policy's `media` is no). */
static host_media_overlay_fn *g_overlay;

void modhost_media_use(host_media_overlay_fn *fn)
{
	g_overlay = fn;
}

/* Here rather than in modhost.c: the container calls it, which links the
 * import (a static library's object nobody calls would be left out). */
int modhost_media_load(char *err, size_t errlen)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return err_set(err, errlen, -errno, "media/1: /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(path, sizeof(path), "%s/netserv-media.so", slash ? exe : ".");
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl)
		return err_set(err, errlen, -ENOENT, "media/1: %s", dlerror());
	host_media_overlay_fn *fn = (host_media_overlay_fn *)dlsym(dl, "host_media_overlay");
	void (*init)(void) = (void (*)(void))dlsym(dl, "host_media_init");
	if (!fn || !init) {
		dlclose(dl);
		return err_set(err, errlen, -ENOENT, "media/1: %s lacks host_media_overlay", path);
	}
	init();
	g_overlay = fn; /* kept loaded for the container's life */
	return 0;
}

/* The media time the current module call has used (a call may spend at
 * most NS_MEDIA_TIME_MS in media calls, all together). */
static uint32_t g_seq;
static uint64_t g_used_ns;

u32 Z_netservZ_ns_media_overlay_text(struct Z_netserv_instance_t *ctx, u32 in, u32 in_len, u32 out,
                                     u32 out_cap, u32 text, u32 text_len, u32 x, u32 y, u32 size)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *pin = mem_at(m, in, in_len);
	uint8_t *pout = mem_at(m, out, out_cap);
	const char *ptext = (const char *)mem_at(m, text, text_len);
	struct host_media_text t = {ptext, text_len, x, y, size};
	if (modhost_call_seq() != g_seq) {
		g_seq = modhost_call_seq();
		g_used_ns = 0;
	}
	uint8_t *res = NULL;
	int64_t n = -ETIME; /* this module call has used its media time */
	uint64_t spent = 0;
	if (!g_overlay) {
		n = -EPERM; /* the publisher has no media/1 */
	} else if (g_used_ns / 1000000u < NS_MEDIA_TIME_MS) {
		uint32_t left_ms = NS_MEDIA_TIME_MS - (uint32_t)(g_used_ns / 1000000u);
		uint32_t ticks = modhost_budget_pause();
		modhost_busy_media(true);
		uint64_t t0 = modhost_now_ns();
		n = g_overlay(pin, in_len, &t, out_cap, left_ms, &res);
		spent = modhost_now_ns() - t0;
		modhost_busy_media(false);
		modhost_budget_resume(ticks);
	}
	g_used_ns += spent;
	m->media_ms += spent / 1000000u;
	m->media_calls++;
	if (n >= 0)
		memcpy(pout, res, (size_t)n);
	else
		m->media_failures++;
	free(res);
	IMPORT_RETURN((int32_t)n);
}
