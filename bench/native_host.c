/* The native module host of bench/module-call (see native_host.h). The
 * imports do what container/host_api.c does for a wasm module, minus the
 * checks of module pointers against linear memory (a native module has
 * none) and the import enter/leave marks: ns_counter_add, the only import on
 * the packet path of the benchmarked modules, is the same code in both. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netserv.h>

#include "native_host.h"

#define NATIVE_MAX_COUNTERS 256 /* as the container (MOD_MAX_COUNTERS) */
#define NATIVE_COUNTER_NAME 80

struct native_counter {
	char name[NATIVE_COUNTER_NAME];
	uint64_t value;
};

struct native_mod {
	void *dl;
	native_packet_fn *packet;
	int32_t (*init)(void);
	void (*fini)(void);
	uint8_t *buf;
	uint32_t cur_len;
	struct native_counter counters[NATIVE_MAX_COUNTERS];
	uint32_t n_counters;
	uint64_t log_lines;
};

static struct native_mod *g_cur;

/* ---- the imports (extern functions the module .so resolves here) ---------- */

void ns_import_log(uint32_t level, const char *msg, uint32_t len)
{
	(void)level;
	(void)msg;
	(void)len;
	g_cur->log_lines++;
}

uint64_t ns_import_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t ns_import_time_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int32_t ns_import_timer_set(uint32_t id, uint32_t delay_ms, uint32_t periodic)
{
	(void)id;
	(void)delay_ms;
	(void)periodic;
	return -ENOSYS;
}

int32_t ns_import_timer_cancel(uint32_t id)
{
	(void)id;
	return -ENOENT;
}

int32_t ns_import_prop_get(const char *key, uint32_t key_len, char *buf, uint32_t cap)
{
	(void)key;
	(void)key_len;
	(void)buf;
	(void)cap;
	return -ENOENT; /* the benchmark installs modules without properties */
}

int32_t ns_import_counter_id(const char *name, uint32_t len)
{
	struct native_mod *m = g_cur;
	if (len == 0 || len >= NATIVE_COUNTER_NAME)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_counters; i++)
		if (strlen(m->counters[i].name) == len &&
		    memcmp(m->counters[i].name, name, len) == 0)
			return (int32_t)i;
	if (m->n_counters >= NATIVE_MAX_COUNTERS)
		return -ENOSPC;
	struct native_counter *c = &m->counters[m->n_counters];
	for (uint32_t i = 0; i < len; i++)
		c->name[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
	c->name[len] = '\0';
	c->value = 0;
	return (int32_t)m->n_counters++;
}

void ns_import_counter_add(uint32_t id, uint64_t delta)
{
	struct native_mod *m = g_cur;
	if (id < m->n_counters)
		m->counters[id].value += delta;
}

int32_t ns_import_pkt_set_len(uint32_t len)
{
	if (len > NS_PACKET_MAX)
		return -EINVAL;
	g_cur->cur_len = len;
	return 0;
}

int32_t ns_import_pkt_meta(struct ns_pkt_meta *meta)
{
	memset(meta, 0, sizeof(*meta));
	return 0;
}

int32_t ns_import_send_udp(uint32_t family, const void *addr, uint32_t dport, uint32_t sport,
                           const void *data, uint32_t len)
{
	(void)family;
	(void)addr;
	(void)dport;
	(void)sport;
	(void)data;
	(void)len;
	return -EPERM;
}

int32_t ns_import_send_packet(const void *data, uint32_t len)
{
	(void)data;
	(void)len;
	return -EPERM;
}

/* ---- loading ---------------------------------------------------------------- */

int native_mod_load(const char *path, struct native_mod **ret, char *err, size_t errlen)
{
	struct native_mod *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!m->dl) {
		snprintf(err, errlen, "dlopen %s: %s", path, dlerror());
		free(m);
		return -ENOEXEC;
	}
	uint8_t *(*buffer)(void) = (uint8_t * (*)(void)) dlsym(m->dl, "ns_bench_packet_buffer");
	m->packet = (native_packet_fn *)dlsym(m->dl, "ns_packet");
	m->init = (int32_t(*)(void))dlsym(m->dl, "ns_init");
	m->fini = (void (*)(void))dlsym(m->dl, "ns_fini");
	if (!buffer || !m->packet) {
		snprintf(err, errlen, "%s: no ns_packet or ns_bench_packet_buffer", path);
		dlclose(m->dl);
		free(m);
		return -ENOEXEC;
	}
	m->buf = buffer();
	native_mod_select(m);
	if (m->init && m->init() != 0) {
		snprintf(err, errlen, "%s: ns_init() refused to start", path);
		dlclose(m->dl);
		free(m);
		return -ECANCELED;
	}
	*ret = m;
	return 0;
}

struct native_mod *native_mod_free(struct native_mod *m)
{
	if (!m)
		return NULL;
	native_mod_select(m);
	if (m->fini)
		m->fini();
	g_cur = NULL;
	dlclose(m->dl);
	free(m);
	return NULL;
}

void native_mod_select(struct native_mod *m)
{
	g_cur = m;
}

uint8_t *native_mod_buffer(const struct native_mod *m)
{
	return m->buf;
}

native_packet_fn *native_mod_entry(const struct native_mod *m)
{
	return m->packet;
}

int64_t native_mod_counter(const struct native_mod *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_counters; i++)
		if (strcmp(m->counters[i].name, name) == 0)
			return (int64_t)m->counters[i].value;
	return -1;
}
