/* libFuzzer target for the wasm validator (runtime/wasm_check.c).
 *
 * Checks the input under two limits and asserts what must hold whatever the
 * input: only the documented error codes, a one-line printable message on
 * failure, a result consistent with the limits on success, a required export
 * present, and agreement between the two limits (a module accepted under the
 * small limit is accepted under the large one, with the same result). Any
 * disagreement aborts, so that the fuzzer reports it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/wasm_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_wasm: %s\n", what);
		abort();
	}
}

static int run(const uint8_t *data, size_t size, uint32_t pages, struct wasm_check_result *res)
{
	const struct wasm_check_limits lim = {.max_memory_pages = pages, .max_table_elems = 1024};
	char err[WASM_CHECK_ERR_LEN];
	int r;

	memset(err, 'x', sizeof(err));
	r = wasm_check(data, size, &lim, res, err, sizeof(err));
	check(r == 0 || r == -EMSGSIZE || r == -EBADMSG || r == -ENOTSUP || r == -EPERM ||
	              r == -EFBIG || r == -EINVAL || r == -ENOMEM,
	      "unexpected error code");
	check(memchr(err, '\0', sizeof(err)) != NULL, "message not terminated");
	if (r < 0) {
		check(err[0] != '\0', "failure without a message");
		for (const char *p = err; *p; p++)
			check(*p >= 0x20 && *p < 0x7f, "message not one printable line");
		return r;
	}
	check(err[0] == '\0', "message on success");
	check(res->memory_initial <= res->memory_max, "initial above max");
	check(res->memory_max <= pages, "max above the limit");
	check(res->exports & WASM_BIT(WASM_EXPORT_ns_abi_version), "required export missing");
	check(!(res->exports & WASM_BIT(WASM_EXPORT_ns_packet)) ||
	              (res->exports & WASM_BIT(WASM_EXPORT_ns_packet_buffer)),
	      "ns_packet without ns_packet_buffer");
	check(res->n_exports >= 2, "fewer exports than memory + ns_abi_version");
	check(__builtin_popcount(res->imports) <= (int)res->n_imports, "import bits");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wasm_check_result small, large;
	int rs = run(data, size, 16, &small);
	int rl = run(data, size, 65536, &large);

	if (rs == 0) {
		check(rl == 0, "accepted under a small limit, refused under a large one");
		check(small.exports == large.exports && small.imports == large.imports &&
		              small.memory_initial == large.memory_initial &&
		              small.memory_max == large.memory_max &&
		              small.n_functions == large.n_functions &&
		              small.n_exports == large.n_exports &&
		              small.has_start == large.has_start,
		      "results differ with the limit");
	}
	if (rl == 0 && rs < 0)
		check(rs == -EFBIG, "a larger limit changed more than the memory verdict");
	return 0;
}
