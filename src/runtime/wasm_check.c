/* The module validator: a hand-written, bounded reader of the WebAssembly
 * binary format (version 1), section by section, and the checks of the module
 * ABI (abi/host_api.h). Every read goes through the rd_* helpers, which
 * check the length first; a count read from the input is checked against the
 * bytes left before anything is allocated for it. */
#include "runtime/wasm_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errbuf.h"
#include "lib/util.h"

#define WASM_MAGIC     "\0asm"
#define WASM_VERSION   1
#define WASM_MAX_PAGES 65536u

enum {
	SEC_CUSTOM = 0,
	SEC_TYPE = 1,
	SEC_IMPORT = 2,
	SEC_FUNCTION = 3,
	SEC_TABLE = 4,
	SEC_MEMORY = 5,
	SEC_GLOBAL = 6,
	SEC_EXPORT = 7,
	SEC_START = 8,
	SEC_ELEMENT = 9,
	SEC_CODE = 10,
	SEC_DATA = 11,
	SEC_DATACOUNT = 12,
	SEC_TAG = 13,
};

static const char *const section_names[] = {
        [SEC_CUSTOM] = "custom section",
        [SEC_TYPE] = "type section",
        [SEC_IMPORT] = "import section",
        [SEC_FUNCTION] = "function section",
        [SEC_TABLE] = "table section",
        [SEC_MEMORY] = "memory section",
        [SEC_GLOBAL] = "global section",
        [SEC_EXPORT] = "export section",
        [SEC_START] = "start section",
        [SEC_ELEMENT] = "element section",
        [SEC_CODE] = "code section",
        [SEC_DATA] = "data section",
        [SEC_DATACOUNT] = "data count section",
        [SEC_TAG] = "tag section",
};

/* Position of each section id in the order the format requires (0: custom,
 * allowed anywhere). The tag and data count sections sit out of id order. */
static const uint8_t section_rank[] = {
        [SEC_CUSTOM] = 0, [SEC_TYPE] = 1,   [SEC_IMPORT] = 2,   [SEC_FUNCTION] = 3,
        [SEC_TABLE] = 4,  [SEC_MEMORY] = 5, [SEC_TAG] = 6,      [SEC_GLOBAL] = 7,
        [SEC_EXPORT] = 8, [SEC_START] = 9,  [SEC_ELEMENT] = 10, [SEC_DATACOUNT] = 11,
        [SEC_CODE] = 12,  [SEC_DATA] = 13,
};

/* Value types. */
#define VT_I32       0x7f
#define VT_I64       0x7e
#define VT_F32       0x7d
#define VT_F64       0x7c
#define VT_V128      0x7b
#define VT_FUNCREF   0x70
#define VT_EXTERNREF 0x6f

struct host_import {
	const char *name;
	const char *results;
	const char *params;
};

static const struct host_import host_imports[] = {
#define X(name, res, params, cres, cparams) {#name, res, params},
        NS_HOST_IMPORTS(X)
#undef X
};

struct module_export {
	const char *name;
	const char *results;
	const char *params;
	bool required;
};

static const struct module_export module_exports[] = {
#define X(name, res, params, req) {#name, res, params, req},
        NS_MODULE_EXPORTS(X)
#undef X
};

_Static_assert(WASM_EXPORT_COUNT <= 64, "exports bitmask is 64 bits");
_Static_assert(WASM_IMPORT_COUNT <= 64, "imports bitmask is 64 bits");

/* A bounded reader over [p, end); `what` names the region for messages. */
struct rd {
	const uint8_t *p;
	const uint8_t *end;
	const char *region;
};

struct ck {
	const uint8_t *base; /* start of the binary: offsets in messages */
	const struct wasm_check_limits *lim;
	uint32_t max_table;
	char *err;
	size_t errlen;

	const uint8_t **types; /* each type's parameter vector, already validated */
	uint32_t n_types;
	uint32_t *import_types; /* type index of each imported function */
	uint32_t n_imports;
	uint32_t *func_types; /* type index of each defined function */
	uint32_t n_functions;
	uint32_t n_tables;
	uint32_t n_memories;
	uint32_t n_globals;
	uint32_t n_exports;
	uint32_t n_code;
	uint32_t n_data;
	uint32_t data_count;
	bool has_data_count;
	bool has_data;
	bool has_start;
	bool memory_exported;
	uint32_t memory_initial;
	uint32_t memory_max;
	uint64_t exports; /* WASM_BIT(WASM_EXPORT_x) */
	uint64_t imports; /* WASM_BIT(WASM_IMPORT_x) */
};

/* ---- messages ---- */

static size_t off(const struct ck *c, const uint8_t *p)
{
	return (size_t)(p - c->base);
}

static int truncated(struct ck *c, const struct rd *r, const char *what)
{
	return err_set(c->err, c->errlen, -EMSGSIZE,
	               "truncated module: unexpected end of the %s at offset 0x%zx (%s)", r->region,
	               off(c, r->p), what);
}

#define malformed(c, at, fmt, ...)                                                                 \
	err_set((c)->err, (c)->errlen, -EBADMSG, "malformed module at offset 0x%zx: " fmt,         \
	        off(c, at), ##__VA_ARGS__)

/* Writes a name from the module as printable ASCII: other bytes, '"' and '\'
 * as \xNN, at most 48 bytes of it, with "..." when shortened. */
static const char *fmt_name(char *dst, size_t cap, const uint8_t *s, uint32_t len)
{
	size_t o = 0;
	uint32_t i;

	for (i = 0; i < len && i < 48 && o + 5 < cap; i++) {
		uint8_t b = s[i];
		if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
			dst[o++] = (char)b;
		} else {
			snprintf(dst + o, cap - o, "\\x%02x", b);
			o += 4;
		}
	}
	if (i < len && o + 4 <= cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o < cap ? o : cap - 1] = '\0';
	return dst;
}

static const char *valtype_name(uint8_t t)
{
	switch (t) {
	case VT_I32:
		return "i32";
	case VT_I64:
		return "i64";
	case VT_F32:
		return "f32";
	case VT_F64:
		return "f64";
	case VT_V128:
		return "v128";
	case VT_FUNCREF:
		return "funcref";
	case VT_EXTERNREF:
		return "externref";
	default:
		return NULL;
	}
}

/* A bounded string builder: appends stop silently when full. */
struct sb {
	char *buf;
	size_t cap;
	size_t len;
};

static void sb_add(struct sb *b, const char *s)
{
	size_t n = strlen(s);

	if (b->len + n + 1 > b->cap)
		n = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

/* Appends "(t,t,...)" for a vector of value type bytes. Up to 8 are named. */
static void sb_types(struct sb *b, const uint8_t *v, uint32_t n, bool parens_for_one)
{
	bool parens = parens_for_one || n != 1;

	if (parens)
		sb_add(b, "(");
	for (uint32_t i = 0; i < n && i < 8; i++) {
		if (i)
			sb_add(b, ",");
		sb_add(b, valtype_name(v[i]));
	}
	if (n > 8)
		sb_add(b, ",...");
	if (parens)
		sb_add(b, ")");
}

/* Decodes a LEB128 u32 that rd_u32() already validated. */
static uint32_t leb_validated(const uint8_t **pp)
{
	const uint8_t *p = *pp;
	uint32_t v = 0;

	for (unsigned sh = 0; sh < 35; sh += 7) {
		v |= (uint32_t)(*p & 0x7f) << sh;
		if (!(*p++ & 0x80))
			break;
	}
	*pp = p;
	return v;
}

/* Formats the signature of validated type `t`: "(i32,i32)->i32", "()->()". */
static const char *fmt_type(const struct ck *c, uint32_t t, char *dst, size_t cap)
{
	struct sb b = {dst, cap, 0};
	const uint8_t *p = c->types[t];
	uint32_t n;

	dst[0] = '\0';
	n = leb_validated(&p);
	sb_types(&b, p, n, true);
	p += n;
	n = leb_validated(&p);
	sb_add(&b, "->");
	sb_types(&b, p, n, false);
	return dst;
}

/* Formats an expected signature from host_api.h strings ('i' i32, 'I' i64). */
static const char *fmt_sig(const char *params, const char *results, char *dst, size_t cap)
{
	uint8_t v[16];
	struct sb b = {dst, cap, 0};
	size_t n;

	dst[0] = '\0';
	n = strlen(params);
	for (size_t i = 0; i < n && i < sizeof(v); i++)
		v[i] = params[i] == 'I' ? VT_I64 : VT_I32;
	sb_types(&b, v, (uint32_t)n, true);
	sb_add(&b, "->");
	n = strlen(results);
	for (size_t i = 0; i < n && i < sizeof(v); i++)
		v[i] = results[i] == 'I' ? VT_I64 : VT_I32;
	sb_types(&b, v, (uint32_t)n, false);
	return dst;
}

/* ---- bounded reads ---- */

/* The readers set their outputs (to 0 or NULL on failure) on every path. */
static int rd_byte(struct ck *c, struct rd *r, uint8_t *v, const char *what)
{
	*v = 0;
	if (r->p >= r->end)
		return truncated(c, r, what);
	*v = *r->p++;
	return 0;
}

static int rd_u32(struct ck *c, struct rd *r, uint32_t *v, const char *what)
{
	uint32_t x = 0;

	*v = 0;
	for (unsigned i = 0; i < 5; i++) {
		if (r->p >= r->end)
			return truncated(c, r, what);
		uint8_t b = *r->p++;
		if (i == 4 && (b & 0xf0))
			return malformed(c, r->p - 1, "%s: LEB128 integer too large or too long",
			                 what);
		x |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return malformed(c, r->p - 1, "%s: LEB128 integer too long", what); /* not reached */
}

/* Skips a signed LEB128 of `bits` (32 or 64) bits, checking its encoding. */
static int rd_skip_sleb(struct ck *c, struct rd *r, unsigned bits, const char *what)
{
	unsigned maxb = (bits + 6) / 7;

	for (unsigned i = 0; i < maxb; i++) {
		uint8_t b;
		int e = rd_byte(c, r, &b, what);
		if (e < 0)
			return e;
		if (i == maxb - 1) {
			/* The last byte: no continuation, unused bits = sign bit. */
			unsigned used = bits - 7 * i;
			uint8_t mask = (uint8_t)(0x7f & ~((1u << (used - 1)) - 1));
			if ((b & 0x80) || ((b & mask) != 0 && (b & mask) != mask))
				return malformed(c, r->p - 1, "%s: bad signed LEB128 integer",
				                 what);
			return 0;
		}
		if (!(b & 0x80))
			return 0;
	}
	return 0;
}

static int rd_bytes(struct ck *c, struct rd *r, uint32_t n, const uint8_t **v, const char *what)
{
	if (v)
		*v = NULL;
	if ((size_t)(r->end - r->p) < n)
		return truncated(c, r, what);
	if (v)
		*v = r->p;
	r->p += n;
	return 0;
}

static int rd_name(struct ck *c, struct rd *r, const uint8_t **s, uint32_t *len, const char *what)
{
	int e = rd_u32(c, r, len, what);
	return e < 0 ? e : rd_bytes(c, r, *len, s, what);
}

/* Reads a vector count and checks that `min_size` bytes per element fit. */
static int rd_count(struct ck *c, struct rd *r, uint32_t *n, size_t min_size, const char *what)
{
	const uint8_t *at = r->p;
	int e = rd_u32(c, r, n, what);

	if (e < 0)
		return e;
	if ((size_t)*n > (size_t)(r->end - r->p) / min_size)
		return err_set(c->err, c->errlen, -EMSGSIZE,
		               "truncated module: %s of %u at offset 0x%zx does not fit in the %s",
		               what, *n, off(c, at), r->region);
	return 0;
}

static int rd_valtype(struct ck *c, struct rd *r, uint8_t *v, const char *what)
{
	int e = rd_byte(c, r, v, what);

	if (e < 0)
		return e;
	if (!valtype_name(*v))
		return malformed(c, r->p - 1, "%s: unknown value type 0x%02x", what, *v);
	return 0;
}

/* ---- types ---- */

static bool type_is(const struct ck *c, uint32_t t, const char *params, const char *results)
{
	const uint8_t *p = c->types[t];
	const char *want[2] = {params, results};

	for (int v = 0; v < 2; v++) {
		size_t n = strlen(want[v]);
		if (leb_validated(&p) != n)
			return false;
		for (size_t i = 0; i < n; i++, p++)
			if (*p != (want[v][i] == 'I' ? VT_I64 : VT_I32))
				return false;
	}
	return true;
}

static uint32_t func_type(const struct ck *c, uint32_t f)
{
	return f < c->n_imports ? c->import_types[f] : c->func_types[f - c->n_imports];
}

static int rd_typeidx(struct ck *c, struct rd *r, uint32_t *t, const char *what)
{
	const uint8_t *at = r->p;
	int e = rd_u32(c, r, t, what);

	if (e < 0)
		return e;
	if (*t >= c->n_types)
		return malformed(c, at, "%s: type index %u out of range (%u types)", what, *t,
		                 c->n_types);
	return 0;
}

static int rd_limits(struct ck *c, struct rd *r, uint8_t *flags, uint32_t *min, uint32_t *max,
                     const char *what)
{
	int e = rd_byte(c, r, flags, what);

	*min = 0;
	*max = UINT32_MAX;
	if (e < 0)
		return e;
	if (*flags > 1)
		return 1; /* the caller decides: shared or 64-bit memory, or bad */
	e = rd_u32(c, r, min, what);
	if (e < 0)
		return e;
	*max = UINT32_MAX;
	if (*flags == 1) {
		e = rd_u32(c, r, max, what);
		if (e < 0)
			return e;
	}
	return 0;
}

/* Skips a constant expression up to and including its `end`. */
static int rd_const_expr(struct ck *c, struct rd *r, const char *what)
{
	for (;;) {
		uint8_t op;
		uint32_t u;
		int e = rd_byte(c, r, &op, what);
		if (e < 0)
			return e;
		switch (op) {
		case 0x0b: /* end */
			return 0;
		case 0x41: /* i32.const */
			e = rd_skip_sleb(c, r, 32, what);
			break;
		case 0x42: /* i64.const */
			e = rd_skip_sleb(c, r, 64, what);
			break;
		case 0x43: /* f32.const */
			e = rd_bytes(c, r, 4, NULL, what);
			break;
		case 0x44: /* f64.const */
			e = rd_bytes(c, r, 8, NULL, what);
			break;
		case 0x23: /* global.get */
		case 0xd2: /* ref.func */
			e = rd_u32(c, r, &u, what);
			break;
		case 0xd0: /* ref.null t */
			e = rd_byte(c, r, &op, what);
			break;
		case 0xfd: /* v128.const */
			e = rd_u32(c, r, &u, what);
			if (e == 0 && u != 12)
				return malformed(
				        c, r->p - 1,
				        "%s: unsupported instruction 0xfd %u in a constant "
				        "expression",
				        what, u);
			if (e == 0)
				e = rd_bytes(c, r, 16, NULL, what);
			break;
		default:
			return malformed(
			        c, r->p - 1,
			        "%s: unsupported instruction 0x%02x in a constant expression", what,
			        op);
		}
		if (e < 0)
			return e;
	}
}

/* ---- sections ---- */

static int sec_type(struct ck *c, struct rd *r)
{
	uint32_t n;
	int e = rd_count(c, r, &n, 3, "type count");

	if (e < 0)
		return e;
	c->types = calloc(n ? n : 1, sizeof(*c->types));
	if (!c->types)
		return err_set(c->err, c->errlen, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		uint8_t form, vt;
		uint32_t np, nr;
		if ((e = rd_byte(c, r, &form, "type form")) < 0)
			return e;
		if (form != 0x60)
			return malformed(c, r->p - 1, "type %u is not a function type (0x%02x)", i,
			                 form);
		c->types[i] = r->p;
		if ((e = rd_count(c, r, &np, 1, "parameter count")) < 0)
			return e;
		for (uint32_t j = 0; j < np; j++)
			if ((e = rd_valtype(c, r, &vt, "parameter type")) < 0)
				return e;
		if ((e = rd_count(c, r, &nr, 1, "result count")) < 0)
			return e;
		for (uint32_t j = 0; j < nr; j++)
			if ((e = rd_valtype(c, r, &vt, "result type")) < 0)
				return e;
	}
	c->n_types = n;
	return 0;
}

static const char *const import_kinds[] = {"function", "table", "memory", "global"};

static int sec_import(struct ck *c, struct rd *r)
{
	uint32_t n;
	int e = rd_count(c, r, &n, 4, "import count");

	if (e < 0)
		return e;
	c->import_types = calloc(n ? n : 1, sizeof(*c->import_types));
	if (!c->import_types)
		return err_set(c->err, c->errlen, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *mod, *name;
		uint32_t mlen, nlen, t;
		uint8_t kind;
		char m[256], f[256], have[128], want[128];
		size_t h;

		if ((e = rd_name(c, r, &mod, &mlen, "import module name")) < 0 ||
		    (e = rd_name(c, r, &name, &nlen, "import name")) < 0 ||
		    (e = rd_byte(c, r, &kind, "import kind")) < 0)
			return e;
		fmt_name(m, sizeof(m), mod, mlen);
		fmt_name(f, sizeof(f), name, nlen);
		if (kind > 3)
			return malformed(c, r->p - 1, "import %s.%s: unknown kind 0x%02x", m, f,
			                 kind);
		if (kind != 0)
			return err_set(
			        c->err, c->errlen, -EPERM,
			        "module imports a %s (%s.%s): a module defines its own memory, "
			        "tables and globals and imports only functions of module "
			        "\"netserv\"",
			        import_kinds[kind], m, f);
		if ((e = rd_typeidx(c, r, &t, "import type")) < 0)
			return e;
		if (mlen != 7 || memcmp(mod, "netserv", 7) != 0)
			return err_set(c->err, c->errlen, -EPERM,
			               "module imports %s.%s: only module \"netserv\" is available",
			               m, f);
		for (h = 0; h < ARRAY_SIZE(host_imports); h++)
			if (strlen(host_imports[h].name) == nlen &&
			    memcmp(host_imports[h].name, name, nlen) == 0)
				break;
		if (h == ARRAY_SIZE(host_imports))
			return err_set(
			        c->err, c->errlen, -EPERM,
			        "module imports netserv.%s, which this node does not provide", f);
		if (!type_is(c, t, host_imports[h].params, host_imports[h].results))
			return err_set(c->err, c->errlen, -EINVAL,
			               "netserv.%s has type %s, expected %s", f,
			               fmt_type(c, t, have, sizeof(have)),
			               fmt_sig(host_imports[h].params, host_imports[h].results,
			                       want, sizeof(want)));
		c->imports |= WASM_BIT(h);
		c->import_types[i] = t;
	}
	c->n_imports = n;
	return 0;
}

static int sec_function(struct ck *c, struct rd *r)
{
	uint32_t n;
	int e = rd_count(c, r, &n, 1, "function count");

	if (e < 0)
		return e;
	if ((uint64_t)n + c->n_imports > UINT32_MAX)
		return malformed(c, r->p, "too many functions");
	c->func_types = calloc(n ? n : 1, sizeof(*c->func_types));
	if (!c->func_types)
		return err_set(c->err, c->errlen, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n; i++)
		if ((e = rd_typeidx(c, r, &c->func_types[i], "function type")) < 0)
			return e;
	c->n_functions = n;
	return 0;
}

static int sec_table(struct ck *c, struct rd *r)
{
	uint32_t n, min, max;
	int e = rd_count(c, r, &n, 3, "table count");

	if (e < 0)
		return e;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t t, flags;
		const uint8_t *at;
		if ((e = rd_byte(c, r, &t, "table element type")) < 0)
			return e;
		if (t != VT_FUNCREF && t != VT_EXTERNREF)
			return malformed(c, r->p - 1, "table %u: bad element type 0x%02x", i, t);
		at = r->p;
		if ((e = rd_limits(c, r, &flags, &min, &max, "table limits")) < 0)
			return e;
		if (e > 0)
			return malformed(c, at, "table %u: bad limits flags 0x%02x", i, flags);
		if (min > max)
			return malformed(c, at, "table %u: initial size %u above its maximum %u", i,
			                 min, max);
		if (min > c->max_table || (max != UINT32_MAX && max > c->max_table))
			return err_set(c->err, c->errlen, -EFBIG,
			               "table %u: size %u exceeds this node's limit of %u elements",
			               i, min > c->max_table ? min : max, c->max_table);
	}
	c->n_tables = n;
	return 0;
}

static int sec_memory(struct ck *c, struct rd *r)
{
	uint32_t n, min, max, lim = c->lim->max_memory_pages;
	uint8_t flags;
	const uint8_t *at;
	int e = rd_count(c, r, &n, 2, "memory count");

	if (e < 0)
		return e;
	if (n == 0)
		return 0;
	if (n > 1)
		return err_set(c->err, c->errlen, -ENOTSUP,
		               "module defines %u memories; only one is supported", n);
	at = r->p;
	if ((e = rd_limits(c, r, &flags, &min, &max, "memory limits")) < 0)
		return e;
	if (e > 0) {
		if (flags == 2 || flags == 3)
			return err_set(c->err, c->errlen, -ENOTSUP,
			               "shared memory is not supported");
		if (flags >= 4 && flags <= 7)
			return err_set(c->err, c->errlen, -ENOTSUP,
			               "64-bit memory is not supported");
		return malformed(c, at, "memory: bad limits flags 0x%02x", flags);
	}
	if (min > WASM_MAX_PAGES || (flags == 1 && max > WASM_MAX_PAGES))
		return malformed(c, at, "memory size above %u pages", WASM_MAX_PAGES);
	if (flags == 1 && min > max)
		return malformed(c, at, "memory initial size %u pages above its maximum %u", min,
		                 max);
	if (flags == 0)
		return err_set(c->err, c->errlen, -EINVAL,
		               "memory has no maximum size: build the module with "
		               "-Wl,--max-memory=BYTES (at most %u pages = %u KiB on this node)",
		               lim, lim * 64);
	if (max > lim)
		return err_set(
		        c->err, c->errlen, -EFBIG,
		        "memory maximum of %u pages (%u KiB) exceeds this node's limit of %u "
		        "pages (%u KiB)",
		        max, max * 64, lim, lim * 64);
	c->n_memories = 1;
	c->memory_initial = min;
	c->memory_max = max;
	return 0;
}

static int sec_global(struct ck *c, struct rd *r)
{
	uint32_t n;
	int e = rd_count(c, r, &n, 3, "global count");

	if (e < 0)
		return e;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t vt, mut;
		if ((e = rd_valtype(c, r, &vt, "global type")) < 0 ||
		    (e = rd_byte(c, r, &mut, "global mutability")) < 0)
			return e;
		if (mut > 1)
			return malformed(c, r->p - 1, "global %u: bad mutability 0x%02x", i, mut);
		if ((e = rd_const_expr(c, r, "global initializer")) < 0)
			return e;
	}
	c->n_globals = n;
	return 0;
}

static int export_known(struct ck *c, const uint8_t *name, uint32_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(module_exports); i++)
		if (strlen(module_exports[i].name) == len &&
		    memcmp(module_exports[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int sec_export(struct ck *c, struct rd *r)
{
	uint32_t n;
	int e = rd_count(c, r, &n, 3, "export count");

	if (e < 0)
		return e;
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *name, *at;
		uint32_t len, idx, limit;
		uint8_t kind;
		char f[256], have[128], want[128];
		int k;

		if ((e = rd_name(c, r, &name, &len, "export name")) < 0 ||
		    (e = rd_byte(c, r, &kind, "export kind")) < 0)
			return e;
		at = r->p;
		if ((e = rd_u32(c, r, &idx, "export index")) < 0)
			return e;
		fmt_name(f, sizeof(f), name, len);
		switch (kind) {
		case 0:
			limit = c->n_imports + c->n_functions;
			break;
		case 1:
			limit = c->n_tables;
			break;
		case 2:
			limit = c->n_memories;
			break;
		case 3:
			limit = c->n_globals;
			break;
		default:
			return malformed(c, at - 1, "export \"%s\": unknown kind 0x%02x", f, kind);
		}
		if (idx >= limit)
			return malformed(c, at, "export \"%s\": %s index %u out of range", f,
			                 import_kinds[kind], idx);
		if (len == 6 && memcmp(name, "memory", 6) == 0) {
			if (kind != 2)
				return err_set(c->err, c->errlen, -EINVAL,
				               "export \"memory\" is a %s; it must be the module's "
				               "memory",
				               import_kinds[kind]);
			if (c->memory_exported)
				return malformed(c, name, "duplicate export \"memory\"");
			c->memory_exported = true;
		}
		k = export_known(c, name, len);
		if (k >= 0) {
			const struct module_export *x = &module_exports[k];
			if (kind != 0)
				return err_set(c->err, c->errlen, -EINVAL,
				               "export %s is a %s; it must be a function", x->name,
				               import_kinds[kind]);
			if (c->exports & WASM_BIT(k))
				return malformed(c, name, "duplicate export \"%s\"", x->name);
			if (!type_is(c, func_type(c, idx), x->params, x->results))
				return err_set(c->err, c->errlen, -EINVAL,
				               "export %s has type %s, expected %s", x->name,
				               fmt_type(c, func_type(c, idx), have, sizeof(have)),
				               fmt_sig(x->params, x->results, want, sizeof(want)));
			c->exports |= WASM_BIT(k);
		}
	}
	c->n_exports = n;
	return 0;
}

static int sec_start(struct ck *c, struct rd *r)
{
	const uint8_t *at = r->p;
	uint32_t f;
	char have[128];
	int e = rd_u32(c, r, &f, "start function");

	if (e < 0)
		return e;
	if (f >= c->n_imports + c->n_functions)
		return malformed(c, at, "start function %u out of range", f);
	if (!type_is(c, func_type(c, f), "", ""))
		return err_set(c->err, c->errlen, -EINVAL,
		               "start function has type %s, expected ()->()",
		               fmt_type(c, func_type(c, f), have, sizeof(have)));
	c->has_start = true;
	return 0;
}

static int sec_code(struct ck *c, struct rd *r)
{
	const uint8_t *at = r->p;
	uint32_t n, size;
	int e = rd_count(c, r, &n, 2, "code count");

	if (e < 0)
		return e;
	if (n != c->n_functions)
		return malformed(c, at, "code section has %u bodies for %u functions", n,
		                 c->n_functions);
	for (uint32_t i = 0; i < n; i++) {
		at = r->p;
		if ((e = rd_u32(c, r, &size, "function body size")) < 0 ||
		    (e = rd_bytes(c, r, size, NULL, "function body")) < 0)
			return e;
		if (size == 0)
			return malformed(c, at, "function body %u is empty", i);
	}
	c->n_code = n;
	return 0;
}

static int sec_data(struct ck *c, struct rd *r)
{
	const uint8_t *at = r->p;
	int e = rd_count(c, r, &c->n_data, 2, "data segment count");

	if (e < 0)
		return e;
	if (c->has_data_count && c->n_data != c->data_count)
		return malformed(c, at, "data section has %u segments, data count section says %u",
		                 c->n_data, c->data_count);
	/* The segments themselves are left to wasm2c. */
	r->p = r->end;
	c->has_data = true;
	return 0;
}

static int sec_datacount(struct ck *c, struct rd *r)
{
	int e = rd_u32(c, r, &c->data_count, "data count");

	if (e == 0)
		c->has_data_count = true;
	return e;
}

static int sec_custom(struct ck *c, struct rd *r)
{
	const uint8_t *name;
	uint32_t len;
	int e = rd_name(c, r, &name, &len, "custom section name");

	if (e == 0)
		r->p = r->end;
	return e;
}

static int section(struct ck *c, uint8_t id, struct rd *r)
{
	switch (id) {
	case SEC_CUSTOM:
		return sec_custom(c, r);
	case SEC_TYPE:
		return sec_type(c, r);
	case SEC_IMPORT:
		return sec_import(c, r);
	case SEC_FUNCTION:
		return sec_function(c, r);
	case SEC_TABLE:
		return sec_table(c, r);
	case SEC_MEMORY:
		return sec_memory(c, r);
	case SEC_GLOBAL:
		return sec_global(c, r);
	case SEC_EXPORT:
		return sec_export(c, r);
	case SEC_START:
		return sec_start(c, r);
	case SEC_ELEMENT:
		r->p = r->end; /* left to wasm2c */
		return 0;
	case SEC_CODE:
		return sec_code(c, r);
	case SEC_DATA:
		return sec_data(c, r);
	case SEC_DATACOUNT:
		return sec_datacount(c, r);
	case SEC_TAG:
		return err_set(c->err, c->errlen, -ENOTSUP,
		               "exception handling (tag section) is not supported");
	default:
		return malformed(c, r->p, "unknown section id %u", id);
	}
}

static int check_module(struct ck *c, const uint8_t *buf, size_t len)
{
	struct rd r = {buf, buf + len, "module"};
	unsigned last_rank = 0;
	uint32_t version;

	if (len < 4 || memcmp(buf, WASM_MAGIC, 4) != 0) {
		if (len < 4 && memcmp(buf, WASM_MAGIC, len) == 0)
			return truncated(c, &(struct rd){buf + len, buf + len, "module"}, "magic");
		return err_set(c->err, c->errlen, -EBADMSG, "not a WebAssembly binary (bad magic)");
	}
	if (len < 8)
		return truncated(c, &(struct rd){buf + len, buf + len, "module"}, "version");
	version = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 |
	          (uint32_t)buf[7] << 24;
	if (version != WASM_VERSION)
		return err_set(c->err, c->errlen, -ENOTSUP,
		               "WebAssembly binary version %u is not supported (only 1)", version);
	r.p = buf + 8;

	while (r.p < r.end) {
		const uint8_t *start = r.p;
		uint8_t id;
		uint32_t size;
		int e;

		if ((e = rd_byte(c, &r, &id, "section id")) < 0)
			return e;
		if (id >= ARRAY_SIZE(section_names))
			return malformed(c, start, "unknown section id %u", id);
		if ((e = rd_u32(c, &r, &size, "section size")) < 0)
			return e;
		if (size > (size_t)(r.end - r.p))
			return err_set(
			        c->err, c->errlen, -EMSGSIZE,
			        "truncated module: the %s at offset 0x%zx is %u bytes, only %zu "
			        "left",
			        section_names[id], off(c, start), size, (size_t)(r.end - r.p));
		if (id != SEC_CUSTOM) {
			if (section_rank[id] <= last_rank)
				return malformed(c, start, "%s out of order or repeated",
				                 section_names[id]);
			last_rank = section_rank[id];
		}
		struct rd s = {r.p, r.p + size, section_names[id]};
		if ((e = section(c, id, &s)) < 0)
			return e;
		if (s.p != s.end)
			return malformed(c, s.p, "%zu bytes left over at the end of the %s",
			                 (size_t)(s.end - s.p), section_names[id]);
		r.p += size;
	}

	if (c->n_code != c->n_functions)
		return malformed(c, r.end, "%u functions declared but no code section",
		                 c->n_functions);
	if (c->has_data_count && !c->has_data && c->data_count != 0)
		return malformed(c, r.end, "data count section says %u segments, no data section",
		                 c->data_count);
	if (c->n_memories == 0)
		return err_set(c->err, c->errlen, -EINVAL,
		               "module has no memory: it must define one and export it as "
		               "\"memory\"");
	if (!c->memory_exported)
		return err_set(c->err, c->errlen, -EINVAL,
		               "module does not export its memory as \"memory\"");
	for (size_t i = 0; i < ARRAY_SIZE(module_exports); i++)
		if (module_exports[i].required && !(c->exports & WASM_BIT(i)))
			return err_set(c->err, c->errlen, -EINVAL,
			               "module does not export %s (required)",
			               module_exports[i].name);
	if ((c->exports & WASM_BIT(WASM_EXPORT_ns_packet)) &&
	    !(c->exports & WASM_BIT(WASM_EXPORT_ns_packet_buffer)))
		return err_set(c->err, c->errlen, -EINVAL,
		               "module exports ns_packet but not ns_packet_buffer");
	return 0;
}

int wasm_check(const uint8_t *buf, size_t len, const struct wasm_check_limits *lim,
               struct wasm_check_result *ret, char *err, size_t errlen)
{
	struct ck c = {.base = buf, .lim = lim, .err = err, .errlen = errlen};
	int r;

	if (err && errlen)
		err[0] = '\0';
	if (!lim || lim->max_memory_pages == 0 || lim->max_memory_pages > WASM_MAX_PAGES)
		return err_set(err, errlen, -EINVAL,
		               "invalid limits: max_memory_pages must be 1..%u", WASM_MAX_PAGES);
	if (!buf && len)
		return err_set(err, errlen, -EINVAL, "no input");
	if (!buf)
		buf = c.base = (const uint8_t *)"";
	c.max_table = lim->max_table_elems ? lim->max_table_elems : WASM_CHECK_DEFAULT_MAX_TABLE;

	r = check_module(&c, buf, len);
	if (r == 0 && ret) {
		*ret = (struct wasm_check_result){
		        .exports = c.exports,
		        .imports = c.imports,
		        .memory_initial = c.memory_initial,
		        .memory_max = c.memory_max,
		        .n_types = c.n_types,
		        .n_imports = c.n_imports,
		        .n_functions = c.n_functions,
		        .n_tables = c.n_tables,
		        .n_globals = c.n_globals,
		        .n_exports = c.n_exports,
		        .has_start = c.has_start,
		};
	}
	free(c.types);
	free(c.import_types);
	free(c.func_types);
	return r;
}

const char *wasm_check_export_name(unsigned id)
{
	return id < ARRAY_SIZE(module_exports) ? module_exports[id].name : NULL;
}

const char *wasm_check_import_name(unsigned id)
{
	return id < ARRAY_SIZE(host_imports) ? host_imports[id].name : NULL;
}
