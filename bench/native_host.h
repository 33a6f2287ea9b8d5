/* The native baseline of bench/module-call: a module's C (modules/NAME.c and the
 * SDK) compiled for the host as a shared object (bench/native_glue.c gives the
 * packet buffer's address), loaded with dlopen, its imports (ns_import_*)
 * defined by native_host.c in the benchmark executable. The counterpart of
 * the module host (container/modhost.h) without wasm, guards or dispatcher.
 *
 * The SDK's imports carry no context: the host acts for the module last given
 * to native_mod_select(). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct native_mod;

/* A module's packet entry: ns_packet(len) -> verdict. */
typedef int32_t native_packet_fn(uint32_t len);

/* Loads the shared object at path, selects it and calls its ns_init (if any).
 * Returns 0 or a negative errno with the reason in err; *ret is set on
 * success only. */
int native_mod_load(const char *path, struct native_mod **ret, char *err, size_t errlen);

/* Calls ns_fini (if any), unloads and frees; NULL allowed. Returns NULL. */
struct native_mod *native_mod_free(struct native_mod *m);

/* Makes the imports act for m (its counters, its packet length). */
void native_mod_select(struct native_mod *m);

/* The module's packet buffer (NS_PACKET_MAX bytes) and its ns_packet. */
uint8_t *native_mod_buffer(const struct native_mod *m);
native_packet_fn *native_mod_entry(const struct native_mod *m);

/* The value of the module's counter `name`, or -1 if it has none. */
int64_t native_mod_counter(const struct native_mod *m, const char *name);
