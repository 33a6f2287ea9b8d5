/* A validator for the module binaries publishers send: the structure of a
 * WebAssembly binary (sections, vectors, LEB128, bounded reads) and the module
 * ABI of abi/host_api.h. It does not look inside code bodies; wasm2c
 * validates those when the node compiles the module.
 *
 * Rules, beyond a well-formed binary (version 1):
 *   - every import is a function of module "netserv" whose name and wasm
 *     signature are in NS_HOST_IMPORTS (no imported memory, table or global);
 *   - exactly one memory, defined by the module, exported as "memory", with a
 *     declared maximum of at most `max_memory_pages` and initial <= maximum
 *     (no shared or 64-bit memory);
 *   - tables: initial size and maximum (if any) at most `max_table_elems`;
 *   - every export named in NS_MODULE_EXPORTS is a function of the signature
 *     listed there; the required ones are present; ns_packet comes with
 *     ns_packet_buffer; other exports are allowed and ignored;
 *   - a start function is allowed (it must be of type () -> ()).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/host_api.h"

/* A buffer of this size holds any message wasm_check() writes. */
#define WASM_CHECK_ERR_LEN 256

/* Used for max_table_elems when the caller leaves it 0. */
#define WASM_CHECK_DEFAULT_MAX_TABLE 65536

/* Bit numbers of the known exports (NS_MODULE_EXPORTS order). */
enum wasm_export_id {
#define WASM_CHECK_X(name, res, params, req) WASM_EXPORT_##name,
	NS_MODULE_EXPORTS(WASM_CHECK_X)
#undef WASM_CHECK_X
	        WASM_EXPORT_COUNT
};

/* Bit numbers of the host imports (NS_HOST_IMPORTS order). */
enum wasm_import_id {
#define WASM_CHECK_X(name, res, params, cres, cparams) WASM_IMPORT_##name,
	NS_HOST_IMPORTS(WASM_CHECK_X)
#undef WASM_CHECK_X
	        WASM_IMPORT_COUNT
};

#define WASM_BIT(id) (UINT64_C(1) << (id))

struct wasm_check_limits {
	uint32_t max_memory_pages; /* largest declared memory maximum (64 KiB pages), >= 1 */
	uint32_t max_table_elems;  /* largest table size; 0: WASM_CHECK_DEFAULT_MAX_TABLE */
};

struct wasm_check_result {
	uint64_t exports;        /* WASM_BIT(WASM_EXPORT_x) for each known export present */
	uint64_t imports;        /* WASM_BIT(WASM_IMPORT_x) for each host function imported */
	uint32_t memory_initial; /* pages */
	uint32_t memory_max;     /* pages (declared maximum) */
	uint32_t n_types;
	uint32_t n_imports;   /* imported functions (the only imports allowed) */
	uint32_t n_functions; /* functions defined by the module */
	uint32_t n_tables;
	uint32_t n_globals;
	uint32_t n_exports; /* all exports, known or not */
	bool has_start;
};

/* Checks the wasm binary buf[0..len) against the structure rules and the
 * module ABI, with the limits in `lim`. Returns 0 and fills *ret, or a
 * negative errno with a one-line, printable reason in err (when err is not
 * NULL; names from the module are escaped and shortened); *ret is then
 * untouched:
 *   -EMSGSIZE  truncated: a read past the end of the input or of a section
 *   -EBADMSG   malformed: bad magic, LEB128, section order, type, index...
 *   -ENOTSUP   well-formed but not supported here (version, shared or 64-bit
 *              memory, several memories, exception tags)
 *   -EPERM     an import the node does not provide
 *   -EFBIG     memory or table over the limits
 *   -EINVAL    not the module ABI: signatures, exports, memory rules; or an
 *              invalid `lim`
 *   -ENOMEM    out of memory */
int wasm_check(const uint8_t *buf, size_t len, const struct wasm_check_limits *lim,
               struct wasm_check_result *ret, char *err, size_t errlen);

/* Returns the name of known export `id` ("ns_packet"), or NULL if out of range. */
const char *wasm_check_export_name(unsigned id);

/* Returns the name of host import `id` ("ns_log"), or NULL if out of range. */
const char *wasm_check_import_name(unsigned id);
