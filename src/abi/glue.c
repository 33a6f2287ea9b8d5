/* The glue compiled into every module's shared object, together with the
 * module's wasm2c output (wasm2c -n mod: header mod.h, symbols Z_mod*). It
 * exports one symbol, ns_glue_v1 (abi/glue.h), through which the
 * container reaches the module.
 *
 * Built by the AOT step (runtime/aot.c), never by the project's own build:
 *   cc -O2 -shared -fPIC -fvisibility=hidden -iquote WORKDIR -I RUNTIME_DIR \
 *      -I WASM_RT_DIR -DNS_HAS_IMPORTS=1 -DNS_HAS_ns_packet=1 ... mod.c glue.c
 * with one NS_HAS_<export>=1 for each export the validator found
 * (runtime/wasm_check.c) and NS_HAS_IMPORTS=1 when the module imports
 * anything (wasm2c then gives Z_mod_instantiate a host context argument).
 * A mismatch between these defines and the module fails the build.
 *
 * The imports (Z_netservZ_*) and the wasm runtime (wasm_rt_*) stay undefined
 * here: the container defines them and is linked with -rdynamic. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mod.h"

#include "glue.h"
#include "host_api.h"

#ifndef NS_HAS_IMPORTS
#define NS_HAS_IMPORTS 0
#endif
#ifndef NS_HAS_ns_abi_version
#define NS_HAS_ns_abi_version 0
#endif
#ifndef NS_HAS_ns_init
#define NS_HAS_ns_init 0
#endif
#ifndef NS_HAS_ns_fini
#define NS_HAS_ns_fini 0
#endif
#ifndef NS_HAS_ns_packet_buffer
#define NS_HAS_ns_packet_buffer 0
#endif
#ifndef NS_HAS_ns_packet
#define NS_HAS_ns_packet 0
#endif
#ifndef NS_HAS_ns_timer
#define NS_HAS_ns_timer 0
#endif
#ifndef NS_HAS_ns_socket
#define NS_HAS_ns_socket 0
#endif
#ifndef NS_HAS_ns_http
#define NS_HAS_ns_http 0
#endif

/* The host's prototypes, from the one list: if the module imports a function
 * with another signature, these conflict with mod.h and the build fails. */
#define NS_GLUE_IMPORT(name, res, params, cres, cparams) cres Z_netservZ_##name cparams;
NS_HOST_IMPORTS(NS_GLUE_IMPORT)
#undef NS_GLUE_IMPORT

/* This file wraps each entry of NS_MODULE_EXPORTS by hand: keep it in step. */
#define NS_GLUE_COUNT(name, res, params, req) +1
_Static_assert(0 NS_MODULE_EXPORTS(NS_GLUE_COUNT) == 8,
               "NS_MODULE_EXPORTS changed: update abi/glue.c");
#undef NS_GLUE_COUNT

static void glue_init_module(void)
{
	Z_mod_init_module();
}

static void glue_instantiate(void *inst, struct Z_netserv_instance_t *host)
{
#if NS_HAS_IMPORTS
	Z_mod_instantiate(inst, host);
#else
	(void)host;
	Z_mod_instantiate(inst);
#endif
}

static void glue_free(void *inst)
{
	Z_mod_free(inst);
}

static void *glue_memory(void *inst)
{
	return Z_modZ_memory(inst);
}

#if NS_HAS_ns_abi_version
static uint32_t glue_abi_version(void *inst)
{
	return Z_modZ_ns_abi_version(inst);
}
#else
#define glue_abi_version NULL
#endif

#if NS_HAS_ns_init
static uint32_t glue_init(void *inst)
{
	return Z_modZ_ns_init(inst);
}
#else
#define glue_init NULL
#endif

#if NS_HAS_ns_fini
static void glue_fini(void *inst)
{
	Z_modZ_ns_fini(inst);
}
#else
#define glue_fini NULL
#endif

#if NS_HAS_ns_packet_buffer
static uint32_t glue_packet_buffer(void *inst)
{
	return Z_modZ_ns_packet_buffer(inst);
}
#else
#define glue_packet_buffer NULL
#endif

#if NS_HAS_ns_packet
static uint32_t glue_packet(void *inst, uint32_t len)
{
	return Z_modZ_ns_packet(inst, len);
}
#else
#define glue_packet NULL
#endif

#if NS_HAS_ns_timer
static void glue_timer(void *inst, uint32_t id)
{
	Z_modZ_ns_timer(inst, id);
}
#else
#define glue_timer NULL
#endif

#if NS_HAS_ns_socket
static void glue_socket(void *inst, uint32_t id, uint32_t events)
{
	Z_modZ_ns_socket(inst, id, events);
}
#else
#define glue_socket NULL
#endif

#if NS_HAS_ns_http
static void glue_http(void *inst, uint32_t req, uint32_t event)
{
	Z_modZ_ns_http(inst, req, event);
}
#else
#define glue_http NULL
#endif

/* state.h: written by the AOT step from mod.h (the instance's fields as an
 * X-macro); absent, or a field it cannot carry, and there is no transfer. */
#if __has_include("state.h")
#include "state.h"
#endif
#if defined(NS_STATE_LAYOUT) && !defined(NS_STATE_UNSUPPORTED)
static int glue_state_memory(wasm_rt_memory_t *dst, const wasm_rt_memory_t *src)
{
	if (dst->pages < src->pages &&
	    wasm_rt_grow_memory(dst, src->pages - dst->pages) == (uint32_t)-1)
		return -1;
	if (dst->pages != src->pages || dst->size < src->size)
		return -1;
	memcpy(dst->data, src->data, src->size);
	return 0;
}

static int glue_transfer(void *dst_inst, const void *src_inst)
{
	Z_mod_instance_t *dst = dst_inst;
	const Z_mod_instance_t *src = src_inst;
#define NS_STATE_VALUE(n) dst->n = src->n;
#define NS_STATE_MEMORY(n)                                                                         \
	if (glue_state_memory(&dst->n, &src->n) < 0)                                               \
		return -1;
#define NS_STATE_TABLE(n)
#define NS_STATE_IMPORT(n)
	NS_STATE_FIELDS
#undef NS_STATE_VALUE
#undef NS_STATE_MEMORY
#undef NS_STATE_TABLE
#undef NS_STATE_IMPORT
	return 0;
}
#define GLUE_STATE_LAYOUT NS_STATE_LAYOUT
#else
#define glue_transfer     NULL
#define GLUE_STATE_LAYOUT 0
#endif

__attribute__((visibility("default"))) const struct ns_glue ns_glue_v1 = {
        .abi = NS_GLUE_ABI,
        .instance_size = sizeof(Z_mod_instance_t),
        .init_module = glue_init_module,
        .instantiate = glue_instantiate,
        .free_instance = glue_free,
        .memory = glue_memory,
        .abi_version = glue_abi_version,
        .init = glue_init,
        .fini = glue_fini,
        .packet_buffer = glue_packet_buffer,
        .packet = glue_packet,
        .timer = glue_timer,
        .socket = glue_socket,
        .http = glue_http,
        .state_layout = GLUE_STATE_LAYOUT,
        .transfer = glue_transfer,
};
