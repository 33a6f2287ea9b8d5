/* The WebAssembly module runtime behind ctl/runtime.h: validate the module
 * (wasm_check), compile it ahead of time (aot), and install it in its
 * publisher's container (supervisor). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/runtime.h"
#include "runtime/aot.h"
#include "runtime/supervisor.h"

struct evloop;

struct runtime_wasm_config {
	struct aot_config aot;
	/* The tiered compile: with quick.cache_dir set (another directory than
	 * aot's), a module whose full build is not cached is compiled with
	 * `quick` first (say -O0) and installed; its full build follows in the
	 * background and replaces it in the container with its state
	 * (supervisor_swap). A quick build that fails to compile or load falls
	 * back to the full one. */
	struct aot_config quick;
	struct sup_config sup;
	uint64_t max_module_size; /* bytes of wasm read for validation */
	const struct sup_publisher *publishers;
	size_t n_publishers;
	/* give each container a queue number (an NFQUEUE queue, or on the
	 * AF_XDP plane, sup.xdp, the XSKMAP slot number - queue_base) ... */
	bool queues;
	uint16_t queue_base; /* ... publisher i reads queue_base + i */
};

/* Creates the runtime (compiler, supervisor, one container per publisher).
 * Stores an opaque handle for runtime_wasm_ops in *ret. Returns 0 or a
 * negative errno with the reason in err. */
int runtime_wasm_new(struct evloop *loop, const struct runtime_wasm_config *cfg, void **ret,
                     char *err, size_t errlen);

/* Stops every container and frees the runtime; NULL allowed. */
void runtime_wasm_free(void *rt);

/* Adds a publisher after the start (a configuration reload): it gets a
 * container, and the first NFQUEUE number from queue_base on that no other
 * publisher reads. Returns 0 or a negative errno with the reason in err. */
int runtime_wasm_add_publisher(void *rt, const struct sup_publisher *p, char *err, size_t errlen);

/* Removes a publisher (a configuration reload): its container stops, its
 * modules go with it (the controller removes them first: installs in
 * progress are cancelled there). Returns 0 or -ENOENT. */
int runtime_wasm_remove_publisher(void *rt, const char *user);

/* Returns the supervisor (for tests and status). */
struct supervisor *runtime_wasm_supervisor(void *rt);

extern const struct runtime_ops runtime_wasm_ops;
