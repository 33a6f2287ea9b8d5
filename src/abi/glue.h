/* The interface between a compiled module (.so) and the container that loads
 * it. Each module is translated by wasm2c with the name "mod" and compiled
 * together with abi/glue.c, which exports one symbol, ns_glue_v1, of this
 * type. The container dlopen()s the .so, checks `abi`, and uses only these
 * pointers. Entries the module does not export are NULL. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define NS_GLUE_ABI 3

struct Z_netserv_instance_t; /* the host's per-instance context (container) */

struct ns_glue {
	uint32_t abi;              /* NS_GLUE_ABI */
	size_t instance_size;      /* bytes to allocate for one instance */
	void (*init_module)(void); /* once per loaded .so, after wasm_rt_init() */
	/* Instantiates into `inst` (instance_size bytes, zeroed); may trap. */
	void (*instantiate)(void *inst, struct Z_netserv_instance_t *host);
	void (*free_instance)(void *inst);
	/* The module's linear memory (a wasm_rt_memory_t *). */
	void *(*memory)(void *inst);
	/* Exports; NULL when the module does not have them. */
	uint32_t (*abi_version)(void *inst);
	uint32_t (*init)(void *inst);
	void (*fini)(void *inst);
	uint32_t (*packet_buffer)(void *inst);
	uint32_t (*packet)(void *inst, uint32_t len);
	void (*timer)(void *inst, uint32_t id);
	void (*socket)(void *inst, uint32_t id, uint32_t events); /* since glue ABI 2 */
	void (*http)(void *inst, uint32_t req, uint32_t event);   /* since glue ABI 2 */
	/* Since glue ABI 3: a hash of the instance struct's layout (wasm2c's
	 * text of it), and the state transfer for a hot swap between two builds
	 * of the same module (say -O0, then -O2): copies into `dst`, a fresh
	 * instance of this build, the state of `src`, an instance of a build
	 * with the same state_layout: the globals and the linear memory's pages
	 * and bytes (tables stay as `dst`'s element segments made them: a module
	 * that changes its table at run time would lose that). Returns 0, or -1
	 * if dst's memory cannot grow to src's size. NULL (state_layout 0) when
	 * the instance holds something it cannot carry over. */
	uint64_t state_layout;
	int (*transfer)(void *dst, const void *src);
};

/* The symbol every compiled module exports. */
#define NS_GLUE_SYMBOL "ns_glue_v1"

/* The node keeps compiled modules as <sha256>" NS_GLUE_SO_SUFFIX: a module
 * compiled with older glue is compiled again, never loaded. */
#define NS_GLUE_SO_SUFFIX "-g3.so"
