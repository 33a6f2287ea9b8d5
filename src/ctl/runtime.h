/* The controller's interface toward the module runtime: the AOT compiler and
 * the per-publisher service containers that run modules. The controller only
 * sees these operations; an implementation registers a `struct runtime_ops`.
 *
 * Until a real runtime exists, runtime_none (runtime_none.c) refuses every
 * install with -ENOTSUP, and the controller keeps such modules in the
 * "no-runtime" state. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

/* What the runtime needs to know about one module. */
struct runtime_module {
	const char *user;                  /* publisher: picks the container */
	const char *module_id;             /* NCM target */
	const char *wasm_path;             /* verified module binary in the node's cache */
	const uint8_t *sha256;             /* its hash (32 bytes) */
	const struct ncm_request *request; /* properties, filter, dependencies */
};

/* Reports the end of an asynchronous install: status 0 when the module is
 * active, else an NCM status code with a one-line reason. */
typedef void runtime_done_fn(void *ctx, int status, const char *reason);

struct runtime_ops {
	const char *name; /* reported as capability "runtime:<name>" */

	/* Starts compiling and installing a module. Returns 0 when `done` will be
	 * called later, or a negative errno (-ENOTSUP: no runtime) with the
	 * reason in err, in which case `done` is never called. */
	int (*install)(void *rt, const struct runtime_module *m, runtime_done_fn *done, void *ctx,
	               char *err, size_t errlen);

	/* Uninstalls a module (also cancels an install in progress: its `done`
	 * is not called). Returns 0 or -ENOENT. */
	int (*remove)(void *rt, const char *user, const char *module_id);

	/* Returns the comma-separated building blocks modules may import. */
	const char *(*building_blocks)(void *rt);
};

/* The stand-in used until a runtime exists: installs nothing. */
extern const struct runtime_ops runtime_none_ops;
