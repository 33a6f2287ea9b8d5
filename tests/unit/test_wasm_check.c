/* Unit tests: the wasm validator. Modules come from tests/unit/wat (.wat
 * files assembled by wat2wasm at build time into TEST_WASM_DIR), from a clang
 * build in the fuzz corpus, and from byte arrays for what wat2wasm will not
 * write (malformed binaries, shared or 64-bit memory...). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/util.h"
#include "runtime/wasm_check.h"

static const struct wasm_check_limits lim16 = {.max_memory_pages = 16};

static uint8_t *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static uint8_t *load_wasm(const char *name, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s.wasm", TEST_WASM_DIR, name);
	return load(path, len);
}

/* Every message is one printable line. */
static void assert_one_line(const char *err)
{
	assert_true(strlen(err) > 0);
	for (const char *p = err; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			fail_msg("non-printable byte 0x%02x in \"%s\"", (uint8_t)*p, err);
}

static bool known_code(int r)
{
	return r == 0 || r == -EMSGSIZE || r == -EBADMSG || r == -ENOTSUP || r == -EPERM ||
	       r == -EFBIG || r == -EINVAL;
}

/* Checks buf and expects `code`; with a message containing `want` if given. */
static void expect_buf(const uint8_t *buf, size_t len, const struct wasm_check_limits *lim,
                       int code, const char *want)
{
	struct wasm_check_result res, before;
	char err[WASM_CHECK_ERR_LEN];
	int r;

	memset(&res, 0xaa, sizeof(res));
	before = res;
	r = wasm_check(buf, len, lim, &res, err, sizeof(err));
	if (r != code)
		fail_msg("expected %d, got %d: %s", code, r, err);
	if (code < 0) {
		assert_one_line(err);
		/* Outputs stay untouched on failure. */
		assert_memory_equal(&res, &before, sizeof(res));
	}
	if (want && !strstr(err, want))
		fail_msg("message \"%s\" lacks \"%s\"", err, want);
}

static void expect_file(const char *name, int code, const char *want)
{
	size_t len;
	uint8_t *buf = load_wasm(name, &len);

	expect_buf(buf, len, &lim16, code, want);
	free(buf);
}

/* ---- accepted modules ---- */

static void test_ok_min(void **state)
{
	struct wasm_check_result res;
	char err[WASM_CHECK_ERR_LEN];
	size_t len;
	uint8_t *buf = load_wasm("ok_min", &len);

	assert_int_equal(wasm_check(buf, len, &lim16, &res, err, sizeof(err)), 0);
	assert_int_equal(res.exports, WASM_BIT(WASM_EXPORT_ns_abi_version));
	assert_int_equal(res.imports, 0);
	assert_int_equal(res.n_imports, 0);
	assert_int_equal(res.n_functions, 1);
	assert_int_equal(res.memory_initial, 1);
	assert_int_equal(res.memory_max, 1);
	assert_false(res.has_start);
	/* NULL result and error buffer are allowed. */
	assert_int_equal(wasm_check(buf, len, &lim16, NULL, NULL, 0), 0);
	free(buf);
}

static void test_ok_full(void **state)
{
	struct wasm_check_result res;
	char err[WASM_CHECK_ERR_LEN];
	size_t len;
	uint8_t *buf = load_wasm("ok_full", &len);

	assert_int_equal(wasm_check(buf, len, &lim16, &res, err, sizeof(err)), 0);
	assert_int_equal(res.exports, WASM_BIT(WASM_EXPORT_COUNT) - 1);
	assert_int_equal(res.imports, WASM_BIT(WASM_IMPORT_COUNT) - 1);
	assert_int_equal(res.n_imports, WASM_IMPORT_COUNT);
	assert_int_equal(res.n_functions, 10);
	assert_int_equal(res.n_tables, 1);
	assert_int_equal(res.n_globals, 3);
	assert_int_equal(res.n_exports, 11);
	assert_int_equal(res.memory_initial, 2);
	assert_int_equal(res.memory_max, 16);
	assert_true(res.has_start);

	/* The limit is inclusive. */
	struct wasm_check_limits lim15 = {.max_memory_pages = 15};
	expect_buf(buf, len, &lim15, -EFBIG, "16 pages (1024 KiB) exceeds this node's limit of 15");
	free(buf);
}

static void test_ok_others(void **state)
{
	struct wasm_check_result res;
	size_t len;
	uint8_t *buf = load_wasm("ok_noimport", &len);

	assert_int_equal(wasm_check(buf, len, &lim16, &res, NULL, 0), 0);
	assert_true(res.has_start);
	assert_int_equal(res.n_imports, 0);
	free(buf);

	buf = load_wasm("ok_packet", &len);
	assert_int_equal(wasm_check(buf, len, &lim16, &res, NULL, 0), 0);
	assert_int_equal(res.imports,
	                 WASM_BIT(WASM_IMPORT_ns_log) | WASM_BIT(WASM_IMPORT_ns_counter_add));
	assert_true(res.exports & WASM_BIT(WASM_EXPORT_ns_packet));
	free(buf);

	/* Code bodies are wasm2c's business. */
	expect_file("nocheck_bad_body", 0, NULL);
}

/* What clang --target=wasm32 writes (name and producers sections, a table,
 * __stack_pointer, data): kept in the fuzz corpus. */
static void test_ok_clang(void **state)
{
	struct wasm_check_result res;
	char err[WASM_CHECK_ERR_LEN];
	size_t len;
	uint8_t *buf = load(SOURCE_DIR "/tests/fuzz/corpus/wasm/clang_counter.wasm", &len);

	assert_int_equal(wasm_check(buf, len, &lim16, &res, err, sizeof(err)), 0);
	assert_true(res.exports & WASM_BIT(WASM_EXPORT_ns_packet));
	assert_int_equal(res.memory_max, 16);
	free(buf);
}

/* ---- the import rules ---- */

static void test_imports(void **state)
{
	expect_file("bad_import_unknown", -EPERM,
	            "module imports netserv.ns_bogus, which this node does not provide");
	expect_file("bad_import_env", -EPERM,
	            "module imports env.foo: only module \"netserv\" is available");
	expect_file("bad_import_wasi", -EPERM, "wasi_snapshot_preview1.fd_write: only module");
	expect_file("bad_import_sig", -EINVAL,
	            "netserv.ns_log has type (i32)->i32, expected (i32,i32,i32)->()");
	expect_file("nocheck_log_sig", -EINVAL, "netserv.ns_log has type");
	expect_file("bad_import_memory", -EPERM, "module imports a memory (env.memory)");
	expect_file("bad_import_global", -EPERM, "module imports a global (netserv.g)");
	expect_file("bad_import_table", -EPERM, "module imports a table (netserv.t)");
}

/* ---- memory, tables, exports ---- */

static void test_memory(void **state)
{
	expect_file("bad_mem_nomax", -EINVAL,
	            "memory has no maximum size: build the module with "
	            "-Wl,--max-memory=BYTES (at most 16 pages");
	expect_file("bad_mem_big", -EFBIG, "memory maximum of 65536 pages");
	expect_file("bad_mem_none", -EINVAL, "module has no memory");
	expect_file("bad_mem_unexported", -EINVAL, "does not export its memory as \"memory\"");
	expect_file("bad_mem_name", -EINVAL, "does not export its memory as \"memory\"");
	expect_file("bad_mem_as_func", -EINVAL, "export \"memory\" is a function");
	expect_file("bad_table_big", -EFBIG, "table 0: size 100000 exceeds");
}

static void test_exports(void **state)
{
	expect_file("bad_export_sig", -EINVAL,
	            "export ns_packet has type (i64)->i32, expected (i32)->i32");
	expect_file("bad_export_kind", -EINVAL, "export ns_init is a global");
	expect_file("bad_no_abi", -EINVAL, "module does not export ns_abi_version (required)");
	expect_file("bad_packet_nobuf", -EINVAL,
	            "module exports ns_packet but not ns_packet_buffer");
}

static void test_limits_arg(void **state)
{
	struct wasm_check_limits bad = {0};
	char err[WASM_CHECK_ERR_LEN];
	size_t len;
	uint8_t *buf = load_wasm("ok_min", &len);

	assert_int_equal(wasm_check(buf, len, &bad, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(wasm_check(buf, len, NULL, NULL, err, sizeof(err)), -EINVAL);
	bad.max_memory_pages = 65537;
	assert_int_equal(wasm_check(buf, len, &bad, NULL, err, sizeof(err)), -EINVAL);
	/* A tiny error buffer is still NUL-terminated. */
	assert_int_equal(wasm_check(buf, 5, &lim16, NULL, err, 4), -EMSGSIZE);
	assert_int_equal(strlen(err), 3);
	free(buf);
}

/* ---- hand-made binaries ---- */

#define HDR    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00
#define S_TYPE 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f /* () -> i32 */
#define S_FUNC 0x03, 0x02, 0x01, 0x00
#define S_MEM  0x05, 0x04, 0x01, 0x01, 0x01, 0x01 /* min 1, max 1 */
#define S_EXPORT                                                                                   \
	0x07, 0x1b, 0x02, 0x06, 'm', 'e', 'm', 'o', 'r', 'y', 0x02, 0x00, 0x0e, 'n', 's', '_',     \
	        'a', 'b', 'i', '_', 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x00, 0x00
#define S_CODE 0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x01, 0x0b

#define BYTES(...) ((const uint8_t[]){__VA_ARGS__}), sizeof((const uint8_t[]){__VA_ARGS__})

static void test_bytes_valid(void **state)
{
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, S_EXPORT, S_CODE), &lim16, 0, NULL);
	/* Custom sections anywhere, LEB128 with redundant bytes. */
	expect_buf(BYTES(HDR, 0x00, 0x03, 0x01, 'x', 0xff, S_TYPE, S_FUNC, 0x00, 0x01, 0x00, S_MEM,
	                 S_EXPORT, S_CODE, 0x00, 0x02, 0x01, 'y'),
	           &lim16, 0, NULL);
	expect_buf(BYTES(HDR, 0x01, 0x85, 0x80, 0x00, 0x01, 0x60, 0x00, 0x01, 0x7f, S_FUNC, S_MEM,
	                 S_EXPORT, S_CODE),
	           &lim16, 0, NULL);
	/* Memory limits with a multi-byte LEB128 maximum (16 = 0x90 0x00). */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x05, 0x01, 0x01, 0x01, 0x90, 0x00, S_EXPORT,
	                 S_CODE),
	           &lim16, 0, NULL);
}

static void test_bytes_header(void **state)
{
	expect_buf(NULL, 0, &lim16, -EMSGSIZE, "truncated module");
	expect_buf(BYTES(0x00, 0x61), &lim16, -EMSGSIZE, "truncated module");
	expect_buf(BYTES(HDR), &lim16, -EINVAL, "no memory");
	expect_buf(BYTES(0x7f, 'E', 'L', 'F', 0x01, 0x00, 0x00, 0x00), &lim16, -EBADMSG,
	           "bad magic");
	expect_buf(BYTES(0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00), &lim16, -ENOTSUP,
	           "version 2");
	expect_buf(BYTES(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00), &lim16, -EMSGSIZE, "truncated");
}

static void test_bytes_sections(void **state)
{
	/* Order, repetition, unknown ids. */
	expect_buf(BYTES(HDR, S_MEM, S_TYPE), &lim16, -EBADMSG, "type section out of order");
	expect_buf(BYTES(HDR, S_TYPE, S_TYPE), &lim16, -EBADMSG, "out of order or repeated");
	expect_buf(BYTES(HDR, 0x0e, 0x00), &lim16, -EBADMSG, "unknown section id 14");
	/* A section longer than the input, bytes left over in a section. */
	expect_buf(BYTES(HDR, 0x01, 0x7f, 0x01), &lim16, -EMSGSIZE, "type section at offset 0x8");
	expect_buf(BYTES(HDR, 0x01, 0x06, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x00), &lim16, -EBADMSG,
	           "1 bytes left over at the end of the type section");
	/* LEB128: too long, too large. */
	expect_buf(BYTES(HDR, 0x01, 0x85, 0x80, 0x80, 0x80, 0x80, 0x00), &lim16, -EBADMSG,
	           "section size: LEB128");
	expect_buf(BYTES(HDR, 0x01, 0x85, 0x80, 0x80, 0x80, 0x10), &lim16, -EBADMSG,
	           "section size: LEB128");
	/* Types. */
	expect_buf(BYTES(HDR, 0x01, 0x05, 0x01, 0x61, 0x00, 0x01, 0x7f), &lim16, -EBADMSG,
	           "type 0 is not a function type");
	expect_buf(BYTES(HDR, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x40), &lim16, -EBADMSG,
	           "unknown value type 0x40");
	expect_buf(BYTES(HDR, 0x01, 0x02, 0x7f, 0x60), &lim16, -EMSGSIZE,
	           "type count of 127 at offset 0xa does not fit in the type section");
	/* Indexes. */
	expect_buf(BYTES(HDR, S_TYPE, 0x03, 0x02, 0x01, 0x05), &lim16, -EBADMSG,
	           "type index 5 out of range");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, 0x07, 0x12, 0x01, 0x0e, 'n', 's', '_', 'a',
	                 'b', 'i', '_', 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x00, 0x05),
	           &lim16, -EBADMSG, "function index 5 out of range");
	/* Function and code sections must agree. */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, S_EXPORT), &lim16, -EBADMSG,
	           "1 functions declared but no code section");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, S_EXPORT, 0x0a, 0x01, 0x00), &lim16, -EBADMSG,
	           "code section has 0 bodies for 1 functions");
	/* Data count without data. */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, S_EXPORT, 0x0c, 0x01, 0x02, S_CODE), &lim16,
	           -EBADMSG, "data count section says 2 segments");
	/* A custom section whose name runs past it. */
	expect_buf(BYTES(HDR, 0x00, 0x03, 0x05, 'a', 'b'), &lim16, -EMSGSIZE,
	           "custom section name");
	/* Exception tags. */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, 0x0d, 0x03, 0x01, 0x00, 0x00), &lim16,
	           -ENOTSUP, "tag section");
	/* Duplicate known export. */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, 0x07, 0x23, 0x02, 0x0e, 'n', 's', '_', 'a',
	                 'b', 'i', '_', 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x00, 0x00, 0x0e, 'n',
	                 's', '_', 'a', 'b', 'i', '_', 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x00,
	                 0x00),
	           &lim16, -EBADMSG, "duplicate export \"ns_abi_version\"");
	/* Start function of the wrong type. */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, S_EXPORT, 0x08, 0x01, 0x00, S_CODE), &lim16,
	           -EINVAL, "start function has type ()->i32, expected ()->()");
	/* A constant expression with an instruction it may not hold. */
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, S_MEM, 0x06, 0x07, 0x01, 0x7f, 0x00, 0x41, 0x01, 0x6a,
	                 0x0b),
	           &lim16, -EBADMSG, "unsupported instruction 0x6a");
	/* Names from the module are escaped in messages. */
	expect_buf(
	        BYTES(HDR, S_TYPE, 0x02, 0x09, 0x01, 0x02, 'a', '\n', 0x02, 'b', '"', 0x00, 0x00),
	        &lim16, -EPERM, "module imports a\\x0a.b\\x22: only module");
}

static void test_bytes_memory(void **state)
{
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x04, 0x01, 0x03, 0x01, 0x01, S_EXPORT, S_CODE),
	           &lim16, -ENOTSUP, "shared memory");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x04, 0x01, 0x05, 0x01, 0x01, S_EXPORT, S_CODE),
	           &lim16, -ENOTSUP, "64-bit memory");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x04, 0x01, 0x09, 0x01, 0x01, S_EXPORT, S_CODE),
	           &lim16, -EBADMSG, "bad limits flags 0x09");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x04, 0x01, 0x01, 0x02, 0x01, S_EXPORT, S_CODE),
	           &lim16, -EBADMSG, "memory initial size 2 pages above its maximum 1");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x07, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
	                 S_EXPORT, S_CODE),
	           &lim16, -ENOTSUP, "defines 2 memories");
	expect_buf(BYTES(HDR, S_TYPE, S_FUNC, 0x05, 0x06, 0x01, 0x01, 0x01, 0x80, 0x80, 0x08,
	                 S_EXPORT, S_CODE),
	           &lim16, -EBADMSG, "memory size above 65536 pages");
}

/* Every strict prefix of a module that ends with its code section is
 * refused, without a crash (ASan and UBSan watch the reads). */
static void test_truncations(void **state)
{
	const char *names[] = {"ok_full", "ok_min", "ok_noimport"};

	for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
		size_t len;
		uint8_t *buf = load_wasm(names[n], &len);
		for (size_t cut = 0; cut < len; cut++) {
			/* An exact-size copy, so that ASan sees any read past it. */
			uint8_t *p = malloc(cut ? cut : 1);
			char err[WASM_CHECK_ERR_LEN];
			int r;
			memcpy(p, buf, cut);
			r = wasm_check(p, cut, &lim16, NULL, err, sizeof(err));
			if (r >= 0)
				fail_msg("%s cut at %zu of %zu accepted", names[n], cut, len);
			assert_true(known_code(r));
			assert_one_line(err);
			free(p);
		}
		free(buf);
	}
}

/* Every byte of a module replaced by a few values: no crash, known codes,
 * one-line messages. */
static void test_mutations(void **state)
{
	const char *names[] = {"ok_full", "ok_packet"};
	const uint8_t vals[] = {0x00, 0x01, 0x7f, 0x80, 0xff};

	for (size_t n = 0; n < ARRAY_SIZE(names); n++) {
		size_t len;
		uint8_t *buf = load_wasm(names[n], &len);
		for (size_t i = 0; i < len; i++) {
			uint8_t saved = buf[i];
			for (size_t v = 0; v < ARRAY_SIZE(vals) + 1; v++) {
				struct wasm_check_result res;
				char err[WASM_CHECK_ERR_LEN];
				int r;
				buf[i] = v < ARRAY_SIZE(vals) ? vals[v] : (uint8_t)(saved ^ 0x40);
				r = wasm_check(buf, len, &lim16, &res, err, sizeof(err));
				assert_true(known_code(r));
				if (r < 0)
					assert_one_line(err);
				else
					assert_true(res.memory_initial <= res.memory_max &&
					            res.memory_max <= 16);
			}
			buf[i] = saved;
		}
		free(buf);
	}
}

static void test_names(void **state)
{
	assert_string_equal(wasm_check_export_name(WASM_EXPORT_ns_packet), "ns_packet");
	assert_null(wasm_check_export_name(WASM_EXPORT_COUNT));
	assert_string_equal(wasm_check_import_name(WASM_IMPORT_ns_log), "ns_log");
	assert_null(wasm_check_import_name(WASM_IMPORT_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_ok_min),         cmocka_unit_test(test_ok_full),
	        cmocka_unit_test(test_ok_others),      cmocka_unit_test(test_ok_clang),
	        cmocka_unit_test(test_imports),        cmocka_unit_test(test_memory),
	        cmocka_unit_test(test_exports),        cmocka_unit_test(test_limits_arg),
	        cmocka_unit_test(test_bytes_valid),    cmocka_unit_test(test_bytes_header),
	        cmocka_unit_test(test_bytes_sections), cmocka_unit_test(test_bytes_memory),
	        cmocka_unit_test(test_truncations),    cmocka_unit_test(test_mutations),
	        cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
