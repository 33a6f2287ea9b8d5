/* The NetServ NSLP codec: binary TLV messages <-> struct nslp_msg <-> NCM. */
#include "nslp/nslp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "lib/errbuf.h"
#include "lib/util.h"

/* ---- Names ----------------------------------------------------------------- */

const char *nslp_type_name(unsigned type)
{
	static const char *const names[] = {
	        [NSLP_SETUP] = "SETUP",     [NSLP_REMOVE] = "REMOVE",     [NSLP_PROBE] = "PROBE",
	        [NSLP_TRIGGER] = "TRIGGER", [NSLP_RESPONSE] = "RESPONSE",
	};
	return type < ARRAY_SIZE(names) ? names[type] : NULL;
}

enum ncm_method nslp_type_method(enum nslp_type t)
{
	switch (t) {
	case NSLP_SETUP:
		return NCM_METHOD_SETUP;
	case NSLP_REMOVE:
		return NCM_METHOD_REMOVE;
	case NSLP_PROBE:
		return NCM_METHOD_PROBE;
	case NSLP_TRIGGER:
		return NCM_METHOD_TRIGGER;
	case NSLP_RESPONSE:
		break;
	}
	return NCM_METHOD_NONE;
}

enum nslp_type nslp_method_type(enum ncm_method m)
{
	switch (m) {
	case NCM_METHOD_SETUP:
		return NSLP_SETUP;
	case NCM_METHOD_REMOVE:
		return NSLP_REMOVE;
	case NCM_METHOD_PROBE:
		return NSLP_PROBE;
	case NCM_METHOD_TRIGGER:
		return NSLP_TRIGGER;
	case NCM_METHOD_STATUS:
	case NCM_METHOD_NONE:
		break;
	}
	return 0;
}

static bool is_plain_request(unsigned t)
{
	return t == NSLP_SETUP || t == NSLP_REMOVE || t == NSLP_PROBE;
}

/* ---- Typed header objects ---------------------------------------------------- */

enum vkind {
	V_STRING, /* the value's bytes */
	V_U32,    /* 32 bits; text: decimal, no leading zeros */
	V_U64,    /* 64 bits; text: decimal, no leading zeros */
	V_HASH,   /* algorithm (8) = 1 (SHA-256), 0 (24), 32 bytes; text: sha256:<lower hex> */
	V_PORTS,  /* low (16), high (16); text: "N" (low = high) or "N-M" (N < M) */
};

struct typed {
	uint16_t type;
	const char *name;
	enum vkind kind;
};

/* docs/protocol.md lists the same table; the numbers are wire format. */
static const struct typed typed[] = {
        {0x100, "user", V_STRING},
        {0x101, "url", V_STRING},
        {0x102, "module-hash", V_HASH},
        {0x103, "ttl", V_U32},
        {0x104, "signature", V_STRING},
        {0x105, "timestamp", V_U64},
        {0x106, "nonce", V_STRING},
        {0x107, "probe", V_STRING},
        {0x108, "filter-proto", V_STRING},
        {0x109, "filter-port", V_PORTS},
        {0x10a, "filter-src", V_STRING},
        {0x10b, "filter-dst", V_STRING},
        {0x10c, "properties", V_STRING},
        {0x10d, "dependencies", V_STRING},
        {0x10e, "notification", V_STRING},
        {0x10f, "trigger", V_STRING},
        {0x120, "node", V_STRING},
        {0x121, "module", V_STRING},
        {0x122, "state", V_STRING},
        {0x123, "reason", V_STRING},
        {0x124, "node-version", V_STRING},
        {0x125, "capabilities", V_STRING},
        {0x126, "building-blocks", V_STRING},
        {0x127, "modules", V_U32},
        {0x128, "content-type", V_STRING},
};

static const struct typed *typed_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(typed); i++)
		if (strcmp(typed[i].name, name) == 0)
			return &typed[i];
	return NULL;
}

static const struct typed *typed_by_type(unsigned type)
{
	for (size_t i = 0; i < ARRAY_SIZE(typed); i++)
		if (typed[i].type == type)
			return &typed[i];
	return NULL;
}

/* Parses canonical decimal (no sign, no leading zero unless "0"). */
static bool parse_dec(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ret = v;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is not canonical */
}

/* Turns a header value into a typed object value (buf, at least 36 bytes) when
 * the text is canonical for the kind. Returns the value length or -1. */
static int typed_value(enum vkind kind, const char *v, uint8_t *buf)
{
	uint64_t a, b;

	switch (kind) {
	case V_STRING:
		return -1; /* handled by the caller */
	case V_U32:
		if (!parse_dec(v, UINT32_MAX, &a))
			return -1;
		for (int i = 0; i < 4; i++)
			buf[i] = (uint8_t)(a >> (24 - 8 * i));
		return 4;
	case V_U64:
		if (!parse_dec(v, UINT64_MAX, &a))
			return -1;
		for (int i = 0; i < 8; i++)
			buf[i] = (uint8_t)(a >> (56 - 8 * i));
		return 8;
	case V_HASH:
		if (strncmp(v, "sha256:", 7) != 0 || strlen(v) != 7 + 64)
			return -1;
		buf[0] = 1;
		buf[1] = buf[2] = buf[3] = 0;
		for (int i = 0; i < 32; i++) {
			int hi = hexval(v[7 + 2 * i]), lo = hexval(v[8 + 2 * i]);
			if (hi < 0 || lo < 0)
				return -1;
			buf[4 + i] = (uint8_t)(hi << 4 | lo);
		}
		return 36;
	case V_PORTS: {
		char tmp[16];
		const char *dash = strchr(v, '-');
		if (strlen(v) >= sizeof(tmp))
			return -1;
		if (dash) {
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(dash - v), v);
			if (!parse_dec(tmp, 65535, &a) || !parse_dec(dash + 1, 65535, &b) || a >= b)
				return -1;
		} else {
			if (!parse_dec(v, 65535, &a))
				return -1;
			b = a;
		}
		buf[0] = (uint8_t)(a >> 8);
		buf[1] = (uint8_t)a;
		buf[2] = (uint8_t)(b >> 8);
		buf[3] = (uint8_t)b;
		return 4;
	}
	}
	return -1;
}

/* Formats a typed object value as header text into out (at least 80 bytes).
 * Returns 0 or -EBADMSG. */
static int typed_text(enum vkind kind, const uint8_t *p, size_t len, char *out, size_t outlen)
{
	uint64_t v = 0;

	switch (kind) {
	case V_STRING:
		return -EBADMSG;
	case V_U32:
	case V_U64:
		if (len != (kind == V_U32 ? 4u : 8u))
			return -EBADMSG;
		for (size_t i = 0; i < len; i++)
			v = v << 8 | p[i];
		snprintf(out, outlen, "%llu", (unsigned long long)v);
		return 0;
	case V_HASH:
		if (len != 36 || p[0] != 1 || p[1] || p[2] || p[3])
			return -EBADMSG;
		memcpy(out, "sha256:", 7);
		for (int i = 0; i < 32; i++)
			snprintf(out + 7 + 2 * i, 3, "%02x", p[4 + i]);
		return 0;
	case V_PORTS: {
		if (len != 4)
			return -EBADMSG;
		unsigned lo = (unsigned)p[0] << 8 | p[1], hi = (unsigned)p[2] << 8 | p[3];
		if (lo == hi)
			snprintf(out, outlen, "%u", lo);
		else
			snprintf(out, outlen, "%u-%u", lo, hi);
		return 0;
	}
	}
	return -EBADMSG;
}

/* ---- Output buffer ------------------------------------------------------------ */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err; /* first error: -ENOMEM or -EMSGSIZE */
};

static void wb_reserve(struct wbuf *w, size_t n)
{
	if (w->err)
		return;
	if (w->len + n > NSLP_MAX_MSG) {
		w->err = -EMSGSIZE;
		return;
	}
	if (w->len + n <= w->cap)
		return;
	size_t cap = w->cap ? w->cap : 256;
	while (cap < w->len + n)
		cap *= 2;
	uint8_t *np = realloc(w->p, cap);
	if (!np) {
		w->err = -ENOMEM;
		return;
	}
	w->p = np;
	w->cap = cap;
}

static void wb_put(struct wbuf *w, const void *data, size_t n)
{
	wb_reserve(w, n);
	if (w->err)
		return;
	if (n)
		memcpy(w->p + w->len, data, n);
	w->len += n;
}

static void wb_u8(struct wbuf *w, uint8_t v)
{
	wb_put(w, &v, 1);
}

static void wb_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	wb_put(w, b, 2);
}

static void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wb_put(w, b, 4);
}

static void wb_set_u16(struct wbuf *w, size_t at, uint16_t v)
{
	if (w->err)
		return;
	w->p[at] = (uint8_t)(v >> 8);
	w->p[at + 1] = (uint8_t)v;
}

static void wb_set_u32(struct wbuf *w, size_t at, uint32_t v)
{
	if (w->err)
		return;
	for (int i = 0; i < 4; i++)
		w->p[at + (size_t)i] = (uint8_t)(v >> (24 - 8 * i));
}

static void wb_pad(struct wbuf *w)
{
	static const uint8_t zero[3];
	if (w->len % 4)
		wb_put(w, zero, 4 - w->len % 4);
}

/* Starts an object; returns where its header is (for obj_end). */
static size_t obj_begin(struct wbuf *w, uint16_t type)
{
	size_t at = w->len;
	wb_u16(w, type & 0x0fff); /* A/B = 0: every object we send is mandatory */
	wb_u16(w, 0);
	return at;
}

/* Ends an object: sets its length and pads it. */
static void obj_end(struct wbuf *w, size_t at)
{
	if (w->err)
		return;
	size_t n = w->len - at - NSLP_OBJ_HDR_LEN;
	if (n > 0xffff) {
		w->err = -EMSGSIZE;
		return;
	}
	wb_set_u16(w, at + 2, (uint16_t)n);
	wb_pad(w);
}

static void obj_bytes(struct wbuf *w, uint16_t type, const void *data, size_t n)
{
	size_t at = obj_begin(w, type);
	wb_put(w, data, n);
	obj_end(w, at);
}

static void obj_str(struct wbuf *w, uint16_t type, const char *s)
{
	obj_bytes(w, type, s, strlen(s));
}

/* One NCM header: typed when the name is known and the value canonical. */
static void put_header_obj(struct wbuf *w, const char *name, const char *value)
{
	const struct typed *t = typed_by_name(name);
	uint8_t buf[40];
	int n;

	if (t && t->kind == V_STRING) {
		obj_str(w, t->type, value);
		return;
	}
	if (t && (n = typed_value(t->kind, value, buf)) >= 0) {
		obj_bytes(w, t->type, buf, (size_t)n);
		return;
	}
	size_t nl = strlen(name);
	size_t at = obj_begin(w, NSLP_OBJ_HEADER);
	wb_u8(w, (uint8_t)nl);
	wb_put(w, name, nl);
	wb_put(w, value, strlen(value));
	obj_end(w, at);
}

static void put_status(struct wbuf *w, enum nslp_type method, int code, const char *reason)
{
	size_t at = obj_begin(w, NSLP_OBJ_STATUS);
	wb_u8(w, (uint8_t)method);
	wb_u8(w, (uint8_t)(code / 100));
	wb_u8(w, (uint8_t)(code % 100));
	wb_u8(w, 0);
	/* The standard phrase travels as nothing. */
	if (reason && strcmp(reason, ncm_status_reason(code)) != 0)
		wb_put(w, reason, strlen(reason));
	obj_end(w, at);
}

static bool name_is(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static int put_request(struct wbuf *w, enum nslp_type type, const struct ncm_msg *req, char *err,
                       size_t errlen)
{
	if (!req || !req->target || nslp_method_type(req->method) != type)
		return err_set(err, errlen, -EINVAL, "%s: no request or wrong method",
		               nslp_type_name(type));
	for (size_t i = 0; i < req->n_headers; i++)
		if (name_is(req->headers[i].name, "content-length"))
			return err_set(err, errlen, -EINVAL, "a request carries no body");
	size_t hdr = w->len;
	wb_u8(w, NSLP_VERSION);
	wb_u8(w, (uint8_t)type);
	wb_u16(w, 0);
	wb_u32(w, 0);
	obj_str(w, NSLP_OBJ_TARGET, req->target);
	for (size_t i = 0; i < req->n_headers; i++)
		put_header_obj(w, req->headers[i].name, req->headers[i].value);
	wb_set_u32(w, hdr + 4, (uint32_t)(w->len - hdr));
	return 0;
}

static void put_entry(struct wbuf *w, const struct nslp_entry *e)
{
	size_t at = obj_begin(w, NSLP_OBJ_ENTRY);
	const struct ncm_msg *a = e->answer;

	obj_str(w, NSLP_OBJ_NODE_ID, e->node_id ? e->node_id : "");
	if (e->family == AF_INET || e->family == AF_INET6) {
		size_t o = obj_begin(w, NSLP_OBJ_NODE_ADDR);
		wb_u8(w, e->family == AF_INET ? 4 : 6);
		wb_u8(w, 0);
		wb_u16(w, 0);
		wb_put(w, e->addr, e->family == AF_INET ? 4 : 16);
		obj_end(w, o);
	}
	put_status(w, e->method, a ? a->code : 500, a ? a->reason : NULL);
	if (e->target)
		obj_str(w, NSLP_OBJ_TARGET, e->target);
	if (e->probed)
		obj_str(w, NSLP_OBJ_PROBED, e->probed);
	{
		size_t o = obj_begin(w, NSLP_OBJ_ELAPSED);
		wb_u32(w, e->elapsed_ms);
		obj_end(w, o);
	}
	if (e->last_node)
		obj_str(w, NSLP_OBJ_LAST_NODE, e->last_node);
	if (a) {
		for (size_t i = 0; i < a->n_headers; i++)
			if (!name_is(a->headers[i].name, "content-length"))
				put_header_obj(w, a->headers[i].name, a->headers[i].value);
		if (a->body_len > 0)
			obj_bytes(w, NSLP_OBJ_BODY, a->body, a->body_len);
	}
	obj_end(w, at);
}

int nslp_encode(const struct nslp_msg *m, uint8_t **ret, size_t *ret_len, char *err, size_t errlen)
{
	struct wbuf w = {0};
	int r = 0;

	if (!m || !ret || !ret_len)
		return err_set(err, errlen, -EINVAL, "no message");
	switch (m->type) {
	case NSLP_SETUP:
	case NSLP_REMOVE:
	case NSLP_PROBE:
		r = put_request(&w, m->type, m->req, err, errlen);
		break;
	case NSLP_TRIGGER: {
		if (!m->req || !is_plain_request(nslp_method_type(m->req->method))) {
			r = err_set(err, errlen, -EINVAL, "TRIGGER wraps a SETUP, REMOVE or PROBE");
			break;
		}
		wb_u8(&w, NSLP_VERSION);
		wb_u8(&w, NSLP_TRIGGER);
		wb_u16(&w, 0);
		wb_u32(&w, 0);
		size_t at = obj_begin(&w, NSLP_OBJ_WRAPPED);
		r = put_request(&w, nslp_method_type(m->req->method), m->req, err, errlen);
		obj_end(&w, at);
		wb_set_u32(&w, 4, (uint32_t)w.len);
		break;
	}
	case NSLP_RESPONSE:
		if (m->code < 100 || m->code > 599 || !nslp_type_name(m->answers) ||
		    m->answers == NSLP_RESPONSE || m->n_entries > NSLP_MAX_ENTRIES) {
			r = err_set(err, errlen, -EINVAL, "bad response status or stack");
			break;
		}
		wb_u8(&w, NSLP_VERSION);
		wb_u8(&w, NSLP_RESPONSE);
		wb_u16(&w, 0);
		wb_u32(&w, 0);
		put_status(&w, m->answers, m->code, m->reason);
		for (size_t i = 0; i < m->n_entries; i++) {
			const struct nslp_entry *e = &m->entries[i];
			if (!is_plain_request(e->method) ||
			    (e->answer && (e->answer->code < 100 || e->answer->code > 599))) {
				r = err_set(err, errlen, -EINVAL, "entry %zu: bad method or code",
				            i + 1);
				break;
			}
			put_entry(&w, e);
		}
		wb_set_u32(&w, 4, (uint32_t)w.len);
		break;
	default:
		r = err_set(err, errlen, -EINVAL, "unknown message type %u", (unsigned)m->type);
	}
	if (r == 0 && w.err)
		r = err_set(err, errlen, w.err,
		            w.err == -ENOMEM ? "out of memory"
		                             : "message or object larger than the format allows");
	if (r < 0) {
		free(w.p);
		return r;
	}
	*ret = w.p;
	*ret_len = w.len;
	return 0;
}

/* ---- Decoding ------------------------------------------------------------------ */

struct obj {
	uint16_t type; /* 12 bits */
	uint8_t ab;
	const uint8_t *v;
	size_t len;
};

struct rbuf {
	const uint8_t *p;
	size_t len, pos;
};

/* Reads the next object. Returns 1, 0 at the end, or a negative errno. */
static int next_obj(struct rbuf *b, struct obj *o, char *err, size_t errlen)
{
	if (b->pos == b->len)
		return 0;
	if (b->len - b->pos < NSLP_OBJ_HDR_LEN)
		return err_set(err, errlen, -EMSGSIZE, "truncated object header at byte %zu",
		               b->pos);
	const uint8_t *h = b->p + b->pos;
	o->ab = h[0] >> 6;
	o->type = (uint16_t)((h[0] & 0x0f) << 8 | h[1]);
	o->len = (size_t)h[2] << 8 | h[3];
	size_t padded = (o->len + 3) & ~(size_t)3;
	if (o->ab == 3)
		return err_set(err, errlen, -EBADMSG, "object 0x%03x: invalid A/B flags", o->type);
	if (b->len - b->pos - NSLP_OBJ_HDR_LEN < padded)
		return err_set(err, errlen, -EMSGSIZE,
		               "object 0x%03x at byte %zu: length %zu runs past the end", o->type,
		               b->pos, o->len);
	o->v = h + NSLP_OBJ_HDR_LEN;
	for (size_t i = o->len; i < padded; i++)
		if (o->v[i])
			return err_set(err, errlen, -EBADMSG, "object 0x%03x: padding not zero",
			               o->type);
	b->pos += NSLP_OBJ_HDR_LEN + padded;
	return 1;
}

/* Header value text as the NCM codec accepts it: no control characters but
 * tab, no NUL, no blanks at either end. */
static bool text_ok(const uint8_t *p, size_t n, size_t max)
{
	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
			return false;
	return n == 0 || (p[0] != ' ' && p[0] != '\t' && p[n - 1] != ' ' && p[n - 1] != '\t');
}

static int dup_text(const struct obj *o, size_t max, char **ret, const char *what, char *err,
                    size_t errlen)
{
	if (!text_ok(o->v, o->len, max))
		return err_set(err, errlen, -EBADMSG, "%s: not valid text", what);
	char *s = strndup((const char *)o->v, o->len);
	if (!s)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	*ret = s;
	return 0;
}

/* An unknown or misplaced object: error if mandatory or known, else skipped. */
static int other_obj(const struct obj *o, const char *where, char *err, size_t errlen)
{
	bool known = o->type <= NSLP_OBJ_BODY ||
	             (o->type >= NSLP_OBJ_NODE_ID && o->type <= NSLP_OBJ_LAST_NODE) ||
	             typed_by_type(o->type);
	if (known)
		return err_set(err, errlen, -EBADMSG, "object 0x%03x not allowed in %s", o->type,
		               where);
	if (o->ab == NSLP_AB_MANDATORY)
		return err_set(err, errlen, -EBADMSG, "unknown mandatory object 0x%03x in %s",
		               o->type, where);
	return 0;
}

/* Adds a header from a HEADER or typed object to m, if o is one. Returns 1 if
 * it was, 0 if o is another object, or a negative errno. */
static int take_header(struct ncm_msg *m, const struct obj *o, char *err, size_t errlen)
{
	char name[NCM_MAX_NAME + 1], text[80];
	_cleanup_free_ char *value = NULL;
	const struct typed *t = typed_by_type(o->type);
	int r;

	if (o->type == NSLP_OBJ_HEADER) {
		if (o->len < 1 || o->v[0] < 1 || o->v[0] > NCM_MAX_NAME || o->len < 1u + o->v[0])
			return err_set(err, errlen, -EBADMSG, "HEADER object: bad name length");
		size_t nl = o->v[0];
		for (size_t i = 0; i < nl; i++) {
			char c = (char)o->v[1 + i];
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
				return err_set(err, errlen, -EBADMSG,
				               "HEADER object: bad character in name");
			name[i] = c;
		}
		name[nl] = '\0';
		if (strcmp(name, "content-length") == 0)
			return err_set(err, errlen, -EBADMSG,
			               "HEADER object: content-length is not a header here");
		struct obj vo = {.v = o->v + 1 + nl, .len = o->len - 1 - nl};
		r = dup_text(&vo, NCM_MAX_LINE, &value, name, err, errlen);
		if (r < 0)
			return r;
	} else if (t) {
		snprintf(name, sizeof(name), "%s", t->name);
		if (t->kind == V_STRING) {
			r = dup_text(o, NCM_MAX_LINE, &value, name, err, errlen);
			if (r < 0)
				return r;
		} else {
			if (typed_text(t->kind, o->v, o->len, text, sizeof(text)) < 0)
				return err_set(err, errlen, -EBADMSG, "object %s: bad value",
				               t->name);
			value = strdup(text);
			if (!value)
				return err_set(err, errlen, -ENOMEM, "out of memory");
		}
	} else {
		return 0;
	}
	r = ncm_add(m, name, value);
	if (r == -EMSGSIZE)
		return err_set(err, errlen, r, "too many or too long headers");
	if (r < 0)
		return err_set(err, errlen, r == -ENOMEM ? r : -EBADMSG,
		               "header %s: not valid in an NCM", name);
	return 1;
}

/* The NCM built from binary must be what ncm_parse() makes of its text. */
static int check_ncm(const struct ncm_msg *m, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	struct ncm_msg *back = NULL;
	char e[NCM_ERR_LEN];

	int r = ncm_serialize(m, &text, &len);
	if (r < 0)
		return err_set(err, errlen, r == -ENOMEM ? r : -EBADMSG, "not a valid NCM");
	r = ncm_parse(text, len, &back, e, sizeof(e));
	ncm_free(back);
	if (r < 0)
		return err_set(err, errlen, r == -ENOMEM ? r : -EBADMSG, "not a valid NCM: %s", e);
	return 0;
}

static int decode_request(const uint8_t *buf, size_t len, enum nslp_type type, struct ncm_msg **ret,
                          char *err, size_t errlen)
{
	struct rbuf b = {.p = buf, .len = len, .pos = NSLP_HDR_LEN};
	struct obj o;
	struct ncm_msg *m = NULL;
	size_t n = 0;
	int r;

	while ((r = next_obj(&b, &o, err, errlen)) > 0) {
		if (++n > NSLP_MAX_OBJECTS) {
			r = err_set(err, errlen, -EMSGSIZE, "too many objects");
			break;
		}
		if (o.type == NSLP_OBJ_TARGET) {
			if (m) {
				r = err_set(err, errlen, -EBADMSG, "TARGET twice");
				break;
			}
			_cleanup_free_ char *t = NULL;
			r = dup_text(&o, NCM_MAX_TARGET, &t, "TARGET", err, errlen);
			if (r < 0)
				break;
			m = ncm_request_new(nslp_type_method(type), t);
			if (!m) {
				r = err_set(err, errlen, errno == ENOMEM ? -ENOMEM : -EBADMSG,
				            "TARGET: not a valid target");
				break;
			}
			continue;
		}
		if (!m) {
			r = err_set(err, errlen, -EBADMSG, "%s: TARGET must come first",
			            nslp_type_name(type));
			break;
		}
		r = take_header(m, &o, err, errlen);
		if (r < 0)
			break;
		if (r == 0) {
			r = other_obj(&o, nslp_type_name(type), err, errlen);
			if (r < 0)
				break;
		}
	}
	if (r == 0 && !m)
		r = err_set(err, errlen, -EBADMSG, "%s without TARGET", nslp_type_name(type));
	if (r == 0)
		r = check_ncm(m, err, errlen);
	if (r < 0) {
		ncm_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

static int decode_status(const struct obj *o, enum nslp_type *method, int *code, char **reason,
                         char *err, size_t errlen)
{
	if (o->len < 4)
		return err_set(err, errlen, -EBADMSG, "STATUS: too short");
	unsigned cls = o->v[1], c = o->v[2];
	if (o->v[0] < NSLP_SETUP || o->v[0] > NSLP_TRIGGER)
		return err_set(err, errlen, -EBADMSG, "STATUS: unknown method %u", o->v[0]);
	if (cls < 1 || cls > 5 || c > 99)
		return err_set(err, errlen, -EBADMSG, "STATUS: bad class %u or code %u", cls, c);
	struct obj ro = {.v = o->v + 4, .len = o->len - 4};
	char *rs = NULL;
	if (ro.len > 0) {
		int r = dup_text(&ro, NCM_MAX_LINE - 32, &rs, "STATUS reason", err, errlen);
		if (r < 0)
			return r;
	}
	*method = o->v[0];
	*code = (int)(cls * 100 + c);
	*reason = rs;
	return 0;
}

static int decode_entry(const struct obj *eo, struct nslp_entry *e, char *err, size_t errlen)
{
	struct rbuf b = {.p = eo->v, .len = eo->len, .pos = 0};
	struct obj o;
	_cleanup_free_ char *reason = NULL;
	struct ncm_msg *hdrs = NULL; /* collects the answer's headers */
	const struct obj *body = NULL;
	struct obj body_obj;
	bool has_status = false, has_addr = false, has_elapsed = false;
	int code = 0, r;
	size_t n = 0;

	memset(e, 0, sizeof(*e));
	hdrs = ncm_response_new(200, NULL);
	if (!hdrs)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	while ((r = next_obj(&b, &o, err, errlen)) > 0) {
		if (++n > NSLP_MAX_OBJECTS) {
			r = err_set(err, errlen, -EMSGSIZE, "entry: too many objects");
			break;
		}
		char **str = NULL;
		const char *what = NULL;
		size_t max = NCM_MAX_LINE;
		switch (o.type) {
		case NSLP_OBJ_NODE_ID:
			str = &e->node_id, what = "NODE-ID", max = 255;
			break;
		case NSLP_OBJ_TARGET:
			str = &e->target, what = "TARGET", max = NCM_MAX_TARGET;
			break;
		case NSLP_OBJ_PROBED:
			str = &e->probed, what = "PROBED";
			break;
		case NSLP_OBJ_LAST_NODE:
			str = &e->last_node, what = "LAST-NODE", max = 255;
			break;
		case NSLP_OBJ_NODE_ADDR:
			if (has_addr || o.len < 4 || (o.v[0] != 4 && o.v[0] != 6) ||
			    o.len != (o.v[0] == 4 ? 8u : 20u)) {
				r = err_set(err, errlen, -EBADMSG, "entry: bad NODE-ADDR");
				goto out;
			}
			has_addr = true;
			e->family = o.v[0] == 4 ? AF_INET : AF_INET6;
			memcpy(e->addr, o.v + 4, o.len - 4);
			continue;
		case NSLP_OBJ_ELAPSED:
			if (has_elapsed || o.len != 4) {
				r = err_set(err, errlen, -EBADMSG, "entry: bad ELAPSED");
				goto out;
			}
			has_elapsed = true;
			e->elapsed_ms = (uint32_t)o.v[0] << 24 | (uint32_t)o.v[1] << 16 |
			                (uint32_t)o.v[2] << 8 | o.v[3];
			continue;
		case NSLP_OBJ_STATUS: {
			enum nslp_type mt;
			if (has_status) {
				r = err_set(err, errlen, -EBADMSG, "entry: STATUS twice");
				goto out;
			}
			r = decode_status(&o, &mt, &code, &reason, err, errlen);
			if (r < 0)
				goto out;
			if (!is_plain_request(mt)) {
				r = err_set(err, errlen, -EBADMSG, "entry: STATUS of a %s",
				            nslp_type_name(mt));
				goto out;
			}
			e->method = mt;
			has_status = true;
			continue;
		}
		case NSLP_OBJ_BODY:
			if (body) {
				r = err_set(err, errlen, -EBADMSG, "entry: BODY twice");
				goto out;
			}
			body_obj = o;
			body = &body_obj;
			continue;
		default:
			r = take_header(hdrs, &o, err, errlen);
			if (r < 0)
				goto out;
			if (r == 0 && (r = other_obj(&o, "ENTRY", err, errlen)) < 0)
				goto out;
			continue;
		}
		if (*str) {
			r = err_set(err, errlen, -EBADMSG, "entry: %s twice", what);
			goto out;
		}
		r = dup_text(&o, max, str, what, err, errlen);
		if (r < 0)
			goto out;
	}
	if (r < 0)
		goto out;
	if (!e->node_id || !has_status) {
		r = err_set(err, errlen, -EBADMSG, "entry without NODE-ID or STATUS");
		goto out;
	}
	/* The answer: status line from STATUS, the headers in order, the body. */
	e->answer = ncm_response_new(code, reason);
	if (!e->answer) {
		r = err_set(err, errlen, errno == ENOMEM ? -ENOMEM : -EBADMSG,
		            "entry: bad STATUS reason");
		goto out;
	}
	e->answer->headers = TAKE_PTR(hdrs->headers);
	e->answer->n_headers = hdrs->n_headers;
	hdrs->n_headers = 0;
	if (body && ncm_set_body(e->answer, (const char *)body->v, body->len) < 0) {
		r = err_set(err, errlen, -EMSGSIZE, "entry: BODY too large");
		goto out;
	}
	r = check_ncm(e->answer, err, errlen);
out:
	ncm_free(hdrs);
	if (r < 0)
		nslp_entry_done(e);
	return r < 0 ? r : 0;
}

int nslp_peek(const uint8_t *buf, size_t len, enum nslp_type *ret_type, size_t *ret_len)
{
	if (!buf || len < NSLP_HDR_LEN)
		return -EMSGSIZE;
	if (buf[0] != NSLP_VERSION)
		return -EPROTO;
	size_t total = (size_t)buf[4] << 24 | (size_t)buf[5] << 16 | (size_t)buf[6] << 8 | buf[7];
	if (total < NSLP_HDR_LEN || total % 4 || total > NSLP_MAX_MSG)
		return -EBADMSG;
	if (total > len)
		return -EMSGSIZE;
	if (ret_type)
		*ret_type = buf[1];
	if (ret_len)
		*ret_len = total;
	return 0;
}

static int decode_msg(const uint8_t *buf, size_t len, bool wrapped, struct nslp_msg **ret,
                      char *err, size_t errlen)
{
	enum nslp_type type;
	size_t total;
	int r = nslp_peek(buf, len, &type, &total);

	switch (r) {
	case 0:
		break;
	case -EPROTO:
		return err_set(err, errlen, r, "NSLP version %u, not %u", buf[0], NSLP_VERSION);
	case -EMSGSIZE:
		return err_set(err, errlen, r, "truncated: %zu bytes", len);
	default:
		return err_set(err, errlen, r, "bad message length");
	}
	/* GIST pads NSLP-Data to 32 bits; a wrapped message fills its object. */
	if (wrapped ? total != len : len - total > 3)
		return err_set(err, errlen, -EBADMSG, "%zu bytes after the message", len - total);
	for (size_t i = total; i < len; i++)
		if (buf[i])
			return err_set(err, errlen, -EBADMSG, "bytes after the message");
	if (!nslp_type_name(type))
		return err_set(err, errlen, -EBADMSG, "unknown message type %u", (unsigned)type);
	if (wrapped && !is_plain_request(type))
		return err_set(err, errlen, -EBADMSG, "TRIGGER wraps a %s", nslp_type_name(type));

	struct nslp_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	m->type = type;
	m->flags = 0; /* reserved: ignored on receipt */
	struct rbuf b = {.p = buf, .len = total, .pos = NSLP_HDR_LEN};
	struct obj o;
	size_t n = 0;

	switch (type) {
	case NSLP_SETUP:
	case NSLP_REMOVE:
	case NSLP_PROBE:
		r = decode_request(buf, total, type, &m->req, err, errlen);
		break;
	case NSLP_TRIGGER:
		while ((r = next_obj(&b, &o, err, errlen)) > 0) {
			if (o.type == NSLP_OBJ_WRAPPED) {
				if (m->req) {
					r = err_set(err, errlen, -EBADMSG, "WRAPPED twice");
					break;
				}
				struct nslp_msg *in = NULL;
				r = decode_msg(o.v, o.len, true, &in, err, errlen);
				if (r < 0)
					break;
				m->req = TAKE_PTR(in->req);
				nslp_msg_free(in);
			} else if ((r = other_obj(&o, "TRIGGER", err, errlen)) < 0) {
				break;
			}
		}
		if (r == 0 && !m->req)
			r = err_set(err, errlen, -EBADMSG, "TRIGGER without WRAPPED");
		/* In the NCM form the TRIGGER's own `trigger` header names the
		 * wrapped method: a wrapped request with a header of that name
		 * would not survive the round trip (found by fuzz_nslp). */
		if (r == 0 && ncm_get(m->req, "trigger"))
			r = err_set(err, errlen, -EBADMSG,
			            "the request a TRIGGER wraps carries a trigger header");
		break;
	case NSLP_RESPONSE: {
		bool has_status = false;
		while ((r = next_obj(&b, &o, err, errlen)) > 0) {
			if (++n > NSLP_MAX_OBJECTS) {
				r = err_set(err, errlen, -EMSGSIZE, "too many objects");
				break;
			}
			if (o.type == NSLP_OBJ_STATUS) {
				if (has_status) {
					r = err_set(err, errlen, -EBADMSG, "STATUS twice");
					break;
				}
				_cleanup_free_ char *reason = NULL;
				r = decode_status(&o, &m->answers, &m->code, &reason, err, errlen);
				if (r < 0)
					break;
				m->reason = strdup(reason ? reason : ncm_status_reason(m->code));
				if (!m->reason) {
					r = err_set(err, errlen, -ENOMEM, "out of memory");
					break;
				}
				has_status = true;
			} else if (o.type == NSLP_OBJ_ENTRY) {
				if (!has_status) {
					r = err_set(err, errlen, -EBADMSG,
					            "RESPONSE: STATUS must come first");
					break;
				}
				if (m->n_entries >= NSLP_MAX_ENTRIES) {
					r = err_set(err, errlen, -EMSGSIZE, "more than %d entries",
					            NSLP_MAX_ENTRIES);
					break;
				}
				struct nslp_entry *a =
				        realloc(m->entries, (m->n_entries + 1) * sizeof(*a));
				if (!a) {
					r = err_set(err, errlen, -ENOMEM, "out of memory");
					break;
				}
				m->entries = a;
				r = decode_entry(&o, &m->entries[m->n_entries], err, errlen);
				if (r < 0)
					break;
				m->n_entries++;
			} else if ((r = other_obj(&o, "RESPONSE", err, errlen)) < 0) {
				break;
			}
		}
		if (r == 0 && !has_status)
			r = err_set(err, errlen, -EBADMSG, "RESPONSE without STATUS");
		break;
	}
	}
	if (r < 0) {
		nslp_msg_free(m);
		return r;
	}
	*ret = m;
	return 0;
}

int nslp_decode(const uint8_t *buf, size_t len, struct nslp_msg **ret, char *err, size_t errlen)
{
	if (!buf || !ret)
		return err_set(err, errlen, -EINVAL, "no buffer");
	return decode_msg(buf, len, false, ret, err, errlen);
}

/* ---- Messages and entries ------------------------------------------------------ */

void nslp_entry_done(struct nslp_entry *e)
{
	if (!e)
		return;
	free(e->node_id);
	free(e->target);
	free(e->probed);
	free(e->last_node);
	ncm_free(e->answer);
	memset(e, 0, sizeof(*e));
}

struct nslp_msg *nslp_msg_free(struct nslp_msg *m)
{
	if (!m)
		return NULL;
	ncm_free(m->req);
	free(m->reason);
	for (size_t i = 0; i < m->n_entries; i++)
		nslp_entry_done(&m->entries[i]);
	free(m->entries);
	free(m);
	return NULL;
}

/* Copies an NCM exactly; NULL when out of memory. */
static struct ncm_msg *ncm_copy(const struct ncm_msg *m)
{
	struct ncm_msg *c = NULL;

	return ncm_dup(m, &c) < 0 ? NULL : c;
}

static int strdup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src && !(*dst = strdup(src)))
		return -ENOMEM;
	return 0;
}

int nslp_entry_copy(struct nslp_entry *dst, const struct nslp_entry *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->family = src->family;
	memcpy(dst->addr, src->addr, sizeof(dst->addr));
	dst->method = src->method;
	dst->elapsed_ms = src->elapsed_ms;
	if (strdup_opt(&dst->node_id, src->node_id) < 0 ||
	    strdup_opt(&dst->target, src->target) < 0 ||
	    strdup_opt(&dst->probed, src->probed) < 0 ||
	    strdup_opt(&dst->last_node, src->last_node) < 0 ||
	    (src->answer && !(dst->answer = ncm_copy(src->answer)))) {
		nslp_entry_done(dst);
		return -ENOMEM;
	}
	return 0;
}

struct nslp_msg *nslp_response_new(enum nslp_type answers, int code, const char *reason)
{
	if (code < 100 || code > 599 || answers < NSLP_SETUP || answers > NSLP_TRIGGER)
		return NULL;
	struct nslp_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->type = NSLP_RESPONSE;
	m->answers = answers;
	m->code = code;
	m->reason = strdup(reason ? reason : ncm_status_reason(code));
	if (!m->reason)
		return nslp_msg_free(m);
	return m;
}

int nslp_response_add(struct nslp_msg *resp, const struct nslp_entry *e)
{
	if (resp->n_entries >= NSLP_MAX_ENTRIES)
		return -EMSGSIZE;
	struct nslp_entry *a = realloc(resp->entries, (resp->n_entries + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	resp->entries = a;
	int r = nslp_entry_copy(&a[resp->n_entries], e);
	if (r < 0)
		return r;
	resp->n_entries++;
	return 0;
}

int nslp_response_summarize(struct nslp_msg *resp)
{
	if (resp->n_entries == 0)
		return 0;
	int code = 200;
	char reason[NCM_MAX_LINE / 2];
	snprintf(reason, sizeof(reason), "%s", ncm_status_reason(200));
	for (size_t i = 0; i < resp->n_entries; i++) {
		const struct nslp_entry *e = &resp->entries[i];
		int c = e->answer ? e->answer->code : 500;
		if (c >= 200 && c < 300)
			continue;
		const char *why = e->answer ? ncm_get(e->answer, "reason") : NULL;
		if (!why)
			why = e->answer && e->answer->reason ? e->answer->reason
			                                     : ncm_status_reason(c);
		code = c;
		snprintf(reason, sizeof(reason), "%s: %.1000s", e->node_id ? e->node_id : "?", why);
		break;
	}
	char *nr = strdup(reason);
	if (!nr)
		return -ENOMEM;
	free(resp->reason);
	resp->reason = nr;
	resp->code = code;
	return 0;
}

/* ---- NCM mapping ------------------------------------------------------------------ */

int nslp_from_ncm(const struct ncm_msg *ncm, struct nslp_msg **ret, char *err, size_t errlen)
{
	if (!ncm || !ret)
		return err_set(err, errlen, -EINVAL, "no NCM");
	enum nslp_type type = nslp_method_type(ncm->method);
	if (!type)
		return err_set(err, errlen, -EINVAL, "%s is not a signaling request",
		               ncm->method == NCM_METHOD_NONE ? "a response"
		                                              : ncm_method_name(ncm->method));
	for (size_t i = 0; i < ncm->n_headers; i++)
		if (name_is(ncm->headers[i].name, "content-length"))
			return err_set(err, errlen, -EINVAL, "a request carries no body");
	struct nslp_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	m->type = type;
	if (type != NSLP_TRIGGER) {
		m->req = ncm_copy(ncm);
		if (!m->req) {
			nslp_msg_free(m);
			return err_set(err, errlen, -EINVAL, "not a valid NCM");
		}
		*ret = m;
		return 0;
	}
	/* TRIGGER: the `trigger` header names the wrapped method; once. */
	const char *inner = ncm_get(ncm, "trigger");
	unsigned triggers = 0;
	for (size_t i = 0; i < ncm->n_headers; i++)
		triggers += name_is(ncm->headers[i].name, "trigger");
	if (triggers > 1) {
		nslp_msg_free(m);
		return err_set(err, errlen, -EINVAL, "TRIGGER with more than one trigger header");
	}
	enum ncm_method im = NCM_METHOD_NONE;
	if (inner && strcasecmp(inner, "setup") == 0)
		im = NCM_METHOD_SETUP;
	else if (inner && strcasecmp(inner, "remove") == 0)
		im = NCM_METHOD_REMOVE;
	else if (inner && strcasecmp(inner, "probe") == 0)
		im = NCM_METHOD_PROBE;
	if (im == NCM_METHOD_NONE) {
		nslp_msg_free(m);
		return err_set(err, errlen, -EINVAL,
		               "TRIGGER needs a header trigger: setup, remove or probe");
	}
	m->req = ncm_request_new(im, ncm->target);
	int r = m->req ? 0 : -ENOMEM;
	for (size_t i = 0; r == 0 && i < ncm->n_headers; i++)
		if (!name_is(ncm->headers[i].name, "trigger"))
			r = ncm_add(m->req, ncm->headers[i].name, ncm->headers[i].value);
	if (r < 0) {
		nslp_msg_free(m);
		return err_set(err, errlen, r == -ENOMEM ? r : -EINVAL, "not a valid NCM");
	}
	*ret = m;
	return 0;
}

int nslp_to_ncm(const struct nslp_msg *m, struct ncm_msg **ret, char *err, size_t errlen)
{
	if (!m || !m->req || !ret)
		return err_set(err, errlen, -EINVAL, "not a request");
	if (m->type != NSLP_TRIGGER) {
		struct ncm_msg *c = ncm_copy(m->req);
		if (!c)
			return err_set(err, errlen, -ENOMEM, "out of memory");
		*ret = c;
		return 0;
	}
	struct ncm_msg *c = ncm_request_new(NCM_METHOD_TRIGGER, m->req->target);
	int r = c ? 0 : -ENOMEM;
	if (r == 0) {
		char low[16];
		snprintf(low, sizeof(low), "%s", ncm_method_name(m->req->method));
		for (char *p = low; *p; p++)
			*p = (char)(*p - 'A' + 'a');
		r = ncm_add(c, "trigger", low);
	}
	for (size_t i = 0; r == 0 && i < m->req->n_headers; i++)
		r = ncm_add(c, m->req->headers[i].name, m->req->headers[i].value);
	if (r < 0) {
		ncm_free(c);
		return err_set(err, errlen, r, "cannot build the TRIGGER NCM");
	}
	*ret = c;
	return 0;
}
