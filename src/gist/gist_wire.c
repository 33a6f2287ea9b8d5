/* GIST messages (RFC 5971 A.1, A.2, 5.2): the magic number, the common
 * header, the object TLVs and which objects each message type carries.
 *
 * Common header:
 *   Version (8) | GIST hops (8) | Message Length (16, words after the header)
 *   NSLPID (16) | C | Type (7) | S | R | E | 5 reserved
 * Object header:
 *   A | B | 2 reserved | Type (12) | 4 reserved | Length (12, words after it)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gist/gist_int.h"
#include "lib/errbuf.h"

/* ---- Names ---------------------------------------------------------------------- */

const char *gist_msg_type_name(unsigned type)
{
	static const char *const names[] = {"Query", "Response", "Confirm",
	                                    "Data",  "Error",    "MA-Hello"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

const char *gist_obj_type_name(unsigned type)
{
	static const char *const names[] = {"MRI",
	                                    "Session-ID",
	                                    "NLI",
	                                    "Stack-Proposal",
	                                    "Stack-Configuration-Data",
	                                    "Query-Cookie",
	                                    "Responder-Cookie",
	                                    "NAT-Traversal",
	                                    "NSLP-Data",
	                                    "Error",
	                                    "Hello-ID"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown object";
}

const char *gist_err_code_name(unsigned code)
{
	static const char *const names[] = {"No Error",
	                                    "Common Header Parse Error",
	                                    "Hop Limit Exceeded",
	                                    "Incorrect Encapsulation",
	                                    "Incorrectly Delivered Message",
	                                    "No Routing State",
	                                    "Unknown NSLPID",
	                                    "Endpoint Found",
	                                    "Message Too Large",
	                                    "Object Type Error",
	                                    "Object Value Error",
	                                    "Invalid IP TTL",
	                                    "MRI Validation Failure"};

	return code < sizeof(names) / sizeof(names[0]) ? names[code] : "?";
}

const char *gist_err_class_name(unsigned ecl)
{
	static const char *const names[] = {"Informational", "Success", "Protocol-Error",
	                                    "Transient-Failure", "Permanent-Failure"};

	return ecl < sizeof(names) / sizeof(names[0]) ? names[ecl] : "?";
}

/* ---- Message types: which objects they carry (RFC 5971 5.2) --------------------- */

#define B(o) GIST_BIT(GIST_OBJ_##o)

static const struct {
	uint32_t required;
	uint32_t allowed; /* required included */
} msg_objs[] = {
        [GIST_QUERY] = {B(MRI) | B(SID) | B(NLI) | B(QCOOKIE),
                        B(NAT) | B(MRI) | B(SID) | B(NLI) | B(QCOOKIE) | B(SP) | B(SCD) | B(NSLP)},
        [GIST_RESPONSE] = {B(MRI) | B(SID) | B(NLI) | B(QCOOKIE),
                           B(NAT) | B(MRI) | B(SID) | B(NLI) | B(QCOOKIE) | B(RCOOKIE) | B(SP) |
                                   B(SCD) | B(NSLP)},
        [GIST_CONFIRM] = {B(MRI) | B(SID) | B(NLI), B(NAT) | B(MRI) | B(SID) | B(NLI) | B(RCOOKIE) |
                                                            B(SP) | B(SCD) | B(NSLP)},
        [GIST_DATA] = {B(MRI) | B(SID) | B(NSLP), B(MRI) | B(SID) | B(NLI) | B(NSLP)},
        [GIST_ERROR] = {B(ERROR), B(NLI) | B(ERROR)},
        [GIST_MA_HELLO] = {B(HELLO), B(HELLO)},
};

/* The order objects are encoded in; every message type's order is a
 * subsequence of it. */
static const uint8_t obj_order[] = {GIST_OBJ_NAT,     GIST_OBJ_MRI,     GIST_OBJ_SID,  GIST_OBJ_NLI,
                                    GIST_OBJ_QCOOKIE, GIST_OBJ_RCOOKIE, GIST_OBJ_SP,   GIST_OBJ_SCD,
                                    GIST_OBJ_NSLP,    GIST_OBJ_ERROR,   GIST_OBJ_HELLO};

/* Checks the objects present against the message type: returns 0, or an Object
 * Type Error subcode + 1 with *obj the object concerned. */
static int check_objects(const struct gist_msg *m, uint16_t *obj)
{
	uint32_t have = m->present, req = msg_objs[m->hdr.type].required;
	uint32_t allowed = msg_objs[m->hdr.type].allowed;

	for (unsigned t = 0; t < GIST_OBJ_NKNOWN; t++) {
		if ((have & GIST_BIT(t)) && !(allowed & GIST_BIT(t))) {
			*obj = (uint16_t)t;
			return GIST_SE_INVALID_OBJECT + 1;
		}
	}
	for (unsigned t = 0; t < GIST_OBJ_NKNOWN; t++) {
		if ((req & GIST_BIT(t)) && !(have & GIST_BIT(t))) {
			*obj = (uint16_t)t;
			return GIST_SE_MISSING + 1;
		}
	}
	/* Query: [SP SCD]; Response, Confirm: [RC [SP [SCD]]]. */
	if (m->hdr.type == GIST_QUERY && (have & B(SP)) && !(have & B(SCD))) {
		*obj = GIST_OBJ_SCD;
		return GIST_SE_MISSING + 1;
	}
	if ((have & B(SCD)) && !(have & B(SP))) {
		*obj = GIST_OBJ_SP;
		return GIST_SE_MISSING + 1;
	}
	if (m->hdr.type != GIST_QUERY && (have & B(SP)) && !(have & B(RCOOKIE))) {
		*obj = GIST_OBJ_RCOOKIE;
		return GIST_SE_MISSING + 1;
	}
	return 0;
}

/* Returns the index of the first MA-protocol-option naming a profile the
 * Stack-Proposal does not have, or -1. Profile 0 means every profile (RFC
 * 5971 A.3.3). */
static int scd_mismatch(const struct gist_msg *m)
{
	if ((m->present & (B(SP) | B(SCD))) != (B(SP) | B(SCD)))
		return -1;
	for (unsigned i = 0; i < m->scd.n && i < GIST_MAX_MPO; i++)
		if (m->scd.mpo[i].profile > m->sp.n)
			return (int)i;
	return -1;
}

/* Returns a subcode + 1 of GIST_E_HDR_PARSE for flags the type does not allow,
 * or 0. */
static int check_flags(uint8_t type, uint8_t flags)
{
	if ((flags & GIST_F_R) && (type == GIST_CONFIRM || type == GIST_DATA || type == GIST_ERROR))
		return GIST_SE_INVALID_R + 1;
	if ((flags & GIST_F_E) && type != GIST_DATA && type != GIST_ERROR)
		return GIST_SE_INVALID_E + 1;
	return 0;
}

/* ---- Framing -------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int gist_hdr_decode(const uint8_t *buf, size_t len, enum gist_transport transport,
                    struct gist_hdr *hdr, bool *magic)
{
	size_t off = 0;
	struct gw_rd r;
	struct gist_hdr h;

	if (transport == GIST_TRANSPORT_UDP && len >= GIST_MAGIC_LEN && be32(buf) == GIST_MAGIC)
		off = GIST_MAGIC_LEN;
	r = gw_rd_init(buf + off, len - off);
	h.version = gw_u8(&r);
	h.hops = gw_u8(&r);
	h.length = gw_u16(&r);
	h.nslpid = gw_u16(&r);
	h.type = gw_u8(&r);
	h.flags = gw_u8(&r) & (GIST_F_S | GIST_F_R | GIST_F_E);
	if (r.bad)
		return -EMSGSIZE;
	h.c = (h.type & 0x80) != 0;
	h.type &= 0x7f;
	if (h.version != GIST_VERSION)
		return -EPROTO;
	if (h.c && (transport != GIST_TRANSPORT_UDP || off == 0))
		return -EPROTO;
	if (len - off < GIST_HDR_LEN + 4u * h.length)
		return -EMSGSIZE;
	if (hdr)
		*hdr = h;
	if (magic)
		*magic = off != 0;
	return (int)off;
}

long gist_frame_length(const uint8_t *buf, size_t len)
{
	size_t total;

	if (len >= 1 && buf[0] != GIST_VERSION)
		return -EPROTO;
	if (len < GIST_HDR_LEN)
		return 0;
	total = GIST_HDR_LEN + 4u * ((size_t)buf[2] << 8 | buf[3]);
	return len >= total ? (long)total : 0;
}

int gist_set_hops(uint8_t *buf, size_t len, enum gist_transport transport, uint8_t hops)
{
	int off = gist_hdr_decode(buf, len, transport, NULL, NULL);

	if (off < 0)
		return off;
	buf[off + 1] = hops;
	return 0;
}

/* ---- Decoding ------------------------------------------------------------------- */

struct dec {
	struct gist_err *ge;
	char *err;
	size_t errlen;
	const char *what; /* message type name, for reasons */
};

/* A decoding error: the GIST Error to reply with (class, code, subcode) in
 * *d->ge and the reason, after the message type's name, in d->err. Not
 * err_set: it sets the wire error and writes a prefix before the reason. */
static int fail(struct dec *d, int ret, uint8_t eclass, uint16_t code, uint8_t subcode,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int fail(struct dec *d, int ret, uint8_t eclass, uint16_t code, uint8_t subcode,
                const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	d->ge->eclass = eclass;
	d->ge->code = code;
	d->ge->subcode = subcode;
	if (d->err && d->errlen) {
		if (d->what)
			n = snprintf(d->err, d->errlen, "%s: ", d->what);
		if (n < 0 || (size_t)n >= d->errlen)
			n = 0;
		va_start(ap, fmt);
		vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return ret;
}

static int fail_length(struct dec *d, size_t calc_bytes, const char *why)
{
	d->ge->msg_len = (uint16_t)(calc_bytes / 4 > 0xffff ? 0xffff : calc_bytes / 4);
	return fail(d, -EMSGSIZE, GIST_EC_PROTOCOL, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH, "%s",
	            why);
}

static int fail_obj_type(struct dec *d, uint8_t subcode, uint16_t type, const char *why)
{
	d->ge->has_obj_type = true;
	d->ge->obj_type = type;
	return fail(d, -EBADMSG, GIST_EC_PROTOCOL, GIST_E_OBJ_TYPE, subcode, "%s %s (type %u)", why,
	            gist_obj_type_name(type), type);
}

static int fail_obj_value(struct dec *d, uint16_t type, struct gist_bytes obj,
                          const struct gw_prob *pb)
{
	d->ge->has_obj_type = true;
	d->ge->obj_type = type;
	d->ge->obj = obj;
	d->ge->obj_offset = (uint16_t)(pb->offset + GIST_OBJ_HDR_LEN);
	return fail(d, -EBADMSG, GIST_EC_PROTOCOL, GIST_E_OBJ_VALUE, pb->subcode, "%s: %s",
	            gist_obj_type_name(type), pb->why);
}

/* Decodes one known object's body into m. */
static int dec_object(struct dec *d, struct gist_msg *m, uint16_t type, struct gist_bytes obj,
                      struct gist_bytes body)
{
	struct gw_prob pb = {0};
	int r = 0;

	switch (type) {
	case GIST_OBJ_MRI:
		r = gw_mri_dec(body.p, body.len, &m->mri, &pb);
		if (r == 0) {
			d->ge->has_mri = true;
			d->ge->mri = m->mri;
		}
		break;
	case GIST_OBJ_SID:
		if (body.len != GIST_SID_LEN) {
			r = gw_prob(&pb, GIST_SE_INCORRECT_LENGTH, 0, "not 16 bytes");
			break;
		}
		memcpy(m->sid, body.p, GIST_SID_LEN);
		d->ge->has_sid = true;
		memcpy(d->ge->sid, body.p, GIST_SID_LEN);
		break;
	case GIST_OBJ_NLI:
		r = gw_nli_dec(body.p, body.len, &m->nli, &pb);
		break;
	case GIST_OBJ_SP:
		r = gw_sp_dec(body.p, body.len, &m->sp, &pb);
		break;
	case GIST_OBJ_SCD:
		r = gw_scd_dec(body.p, body.len, &m->scd, &pb);
		break;
	case GIST_OBJ_QCOOKIE:
	case GIST_OBJ_RCOOKIE:
		if (body.len == 0) {
			r = gw_prob(&pb, GIST_SE_INCORRECT_LENGTH, 0, "empty cookie");
			break;
		}
		if (type == GIST_OBJ_QCOOKIE)
			m->qcookie = body;
		else
			m->rcookie = body;
		break;
	case GIST_OBJ_NAT:
		r = gw_nat_dec(body.p, body.len, &m->nat, &pb);
		break;
	case GIST_OBJ_NSLP:
		m->nslp = body;
		break;
	case GIST_OBJ_ERROR:
		r = gw_errobj_dec(body.p, body.len, &m->error, &pb);
		break;
	case GIST_OBJ_HELLO:
		if (body.len != 4) {
			r = gw_prob(&pb, GIST_SE_INCORRECT_LENGTH, 0, "not 4 bytes");
			break;
		}
		m->hello_id = be32(body.p);
		break;
	}
	if (r < 0)
		return fail_obj_value(d, type, obj, &pb);
	return 0;
}

static int dec_objects(struct dec *d, const uint8_t *msg, size_t len, struct gist_msg *m)
{
	struct gw_rd r = gw_rd_init(msg, len);
	struct gist_bytes scd_obj = {NULL, 0};
	uint8_t n_known = 0;
	uint16_t obj;
	int sub, mpo;

	r.pos = GIST_HDR_LEN;
	while (gw_rd_left(&r) > 0) {
		size_t at = r.pos;
		uint16_t w0, w1, type;
		uint8_t ab;
		size_t olen;
		struct gist_bytes body, whole;
		int ret;

		if (gw_rd_left(&r) < GIST_OBJ_HDR_LEN)
			return fail_length(d, len - GIST_HDR_LEN + GIST_OBJ_HDR_LEN,
			                   "object header truncated");
		w0 = gw_u16(&r);
		w1 = gw_u16(&r);
		ab = (uint8_t)(w0 >> 14);
		type = w0 & 0x0fff;
		olen = 4u * (w1 & 0x0fff);
		if (olen > gw_rd_left(&r))
			return fail_length(d, at - GIST_HDR_LEN + GIST_OBJ_HDR_LEN + olen,
			                   "object longer than the message");
		body = gw_bytes(&r, olen);
		whole = (struct gist_bytes){msg + at, GIST_OBJ_HDR_LEN + olen};

		if (type >= GIST_OBJ_NKNOWN) {
			struct gist_unknown *u;

			if (ab == GIST_AB_MANDATORY)
				return fail_obj_type(d, GIST_SE_UNRECOGNISED, type,
				                     "mandatory object not understood:");
			if (ab == GIST_AB_INVALID)
				return fail_obj_type(d, GIST_SE_INVALID_AB, type,
				                     "extensibility flags 11 on");
			if (m->n_unknown >= GIST_MAX_UNKNOWN)
				return fail_obj_type(d, GIST_SE_UNRECOGNISED, type,
				                     "too many unknown objects, at");
			u = &m->unknown[m->n_unknown++];
			u->type = type;
			u->ab = ab;
			u->pos = n_known;
			u->body = body;
			continue;
		}
		if (m->present & GIST_BIT(type))
			return fail_obj_type(d, GIST_SE_DUPLICATE, type, "duplicate");
		if (!(msg_objs[m->hdr.type].allowed & GIST_BIT(type)))
			return fail_obj_type(d, GIST_SE_INVALID_OBJECT, type, "not allowed:");
		ret = dec_object(d, m, type, whole, body);
		if (ret < 0)
			return ret;
		m->present |= GIST_BIT(type);
		m->ab[type] = ab;
		n_known++;
		if (type == GIST_OBJ_SCD)
			scd_obj = whole;
	}

	sub = check_objects(m, &obj);
	if (sub)
		return fail_obj_type(d, (uint8_t)(sub - 1), obj,
		                     sub - 1 == GIST_SE_MISSING ? "missing" : "not allowed:");
	mpo = scd_mismatch(m);
	if (mpo >= 0) {
		struct gw_prob pb = {GIST_SE_SP_SCD_MISMATCH, 8,
		                     "MA-protocol-option names a profile not proposed"};

		for (int i = 0; i < mpo; i++)
			pb.offset = (uint16_t)(pb.offset + 4 + gw_pad4(m->scd.mpo[i].data.len));

		return fail_obj_value(d, GIST_OBJ_SCD, scd_obj, &pb);
	}
	return 0;
}

int gist_decode(const uint8_t *buf, size_t len, enum gist_transport transport, struct gist_msg *m,
                struct gist_err *ge, char *err, size_t errlen)
{
	struct gist_err ge_local;
	struct dec d = {.ge = ge ? ge : &ge_local, .err = err, .errlen = errlen};
	struct gist_msg tmp;
	const uint8_t *msg;
	size_t off = 0, mlen;
	struct gw_rd r;
	uint8_t tb;
	int sub, ret;

	memset(d.ge, 0, sizeof(*d.ge));
	d.ge->transport = transport;
	if (err && errlen)
		err[0] = '\0';
	memset(&tmp, 0, sizeof(tmp));

	if (!buf && len)
		return fail(&d, -EINVAL, 0, GIST_E_NONE, 0, "no buffer");
	if (transport == GIST_TRANSPORT_UDP && len >= GIST_MAGIC_LEN && be32(buf) == GIST_MAGIC) {
		off = GIST_MAGIC_LEN;
		tmp.magic = true;
	}
	msg = buf + off;
	mlen = len - off;
	if (mlen > GIST_HDR_LEN + GIST_MAX_BODY)
		return fail_length(&d, mlen - GIST_HDR_LEN, "longer than any GIST message");
	if (mlen < GIST_HDR_LEN)
		return fail(&d, -EMSGSIZE, GIST_EC_PROTOCOL, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH,
		            "%zu bytes, shorter than the common header", mlen);

	/* Common header. From here on the sender can be told what went wrong. */
	memcpy(d.ge->hdr, msg, GIST_HDR_LEN);
	d.ge->has_hdr = true;
	d.ge->answer = true;
	r = gw_rd_init(msg, GIST_HDR_LEN);
	tmp.hdr.version = gw_u8(&r);
	tmp.hdr.hops = gw_u8(&r);
	tmp.hdr.length = gw_u16(&r);
	tmp.hdr.nslpid = gw_u16(&r);
	tb = gw_u8(&r);
	tmp.hdr.flags = gw_u8(&r) & (GIST_F_S | GIST_F_R | GIST_F_E);
	tmp.hdr.c = (tb & 0x80) != 0;
	tmp.hdr.type = tb & 0x7f;
	d.ge->qmode = tmp.hdr.c;

	if (tmp.hdr.version != GIST_VERSION)
		return fail(&d, -EPROTO, GIST_EC_PROTOCOL, GIST_E_HDR_PARSE,
		            GIST_SE_UNKNOWN_VERSION, "GIST version %u", tmp.hdr.version);
	if (tmp.hdr.type > GIST_MA_HELLO)
		return fail(&d, -EBADMSG, GIST_EC_PROTOCOL, GIST_E_HDR_PARSE, GIST_SE_UNKNOWN_TYPE,
		            "unknown message type %u", tmp.hdr.type);
	d.what = gist_msg_type_name(tmp.hdr.type);
	if (tmp.hdr.type == GIST_ERROR)
		d.ge->answer = false; /* never an Error about an Error */
	if (GIST_HDR_LEN + 4u * tmp.hdr.length != mlen)
		return fail_length(&d, mlen - GIST_HDR_LEN,
		                   mlen < GIST_HDR_LEN + 4u * tmp.hdr.length
		                           ? "message length beyond the bytes received"
		                           : "bytes after the message length");
	sub = check_flags(tmp.hdr.type, tmp.hdr.flags);
	if (sub)
		return fail(&d, -EBADMSG, GIST_EC_PROTOCOL, GIST_E_HDR_PARSE, (uint8_t)(sub - 1),
		            "%s flag not allowed", sub - 1 == GIST_SE_INVALID_R ? "R" : "E");
	if (tmp.hdr.c && (transport != GIST_TRANSPORT_UDP || !tmp.magic))
		return fail(&d, -EBADMSG, GIST_EC_PROTOCOL, GIST_E_HDR_PARSE, GIST_SE_INVALID_C,
		            "C flag without the UDP magic number");
	if ((tmp.hdr.type == GIST_QUERY && !tmp.hdr.c) ||
	    (tmp.hdr.c && tmp.hdr.type != GIST_QUERY && tmp.hdr.type != GIST_DATA &&
	     tmp.hdr.type != GIST_ERROR) ||
	    (tmp.hdr.type == GIST_MA_HELLO && transport != GIST_TRANSPORT_TCP))
		return fail(&d, -EBADMSG, GIST_EC_PROTOCOL, GIST_E_ENCAPSULATION, 0,
		            "not allowed %s over %s", tmp.hdr.c ? "Q-mode" : "D-mode or C-mode",
		            transport == GIST_TRANSPORT_UDP ? "UDP" : "TCP");

	ret = dec_objects(&d, msg, mlen, &tmp);
	if (ret < 0)
		return ret;
	*m = tmp;
	return 0;
}

/* ---- Encoding ------------------------------------------------------------------- */

static int bytes_ok(struct gist_bytes b)
{
	return b.len == 0 || b.p != NULL;
}

/* Writes one object body. */
static int enc_body(struct gw_wr *w, const struct gist_msg *m, unsigned type, const char **why)
{
	switch (type) {
	case GIST_OBJ_MRI:
		return gw_mri_enc(w, &m->mri, why);
	case GIST_OBJ_SID:
		gw_put(w, m->sid, GIST_SID_LEN);
		return 0;
	case GIST_OBJ_NLI:
		return gw_nli_enc(w, &m->nli, why);
	case GIST_OBJ_SP:
		return gw_sp_enc(w, &m->sp, why);
	case GIST_OBJ_SCD:
		return gw_scd_enc(w, &m->scd, why);
	case GIST_OBJ_QCOOKIE:
	case GIST_OBJ_RCOOKIE: {
		struct gist_bytes c = type == GIST_OBJ_QCOOKIE ? m->qcookie : m->rcookie;

		if (c.len == 0 || (c.len & 3) || !bytes_ok(c)) {
			*why = "cookie empty or not whole words";
			return -EINVAL;
		}
		gw_put(w, c.p, c.len);
		return 0;
	}
	case GIST_OBJ_NAT:
		return gw_nat_enc(w, &m->nat, why);
	case GIST_OBJ_NSLP:
		if ((m->nslp.len & 3) || !bytes_ok(m->nslp)) {
			*why = "NSLP data not whole words";
			return -EINVAL;
		}
		gw_put(w, m->nslp.p, m->nslp.len);
		return 0;
	case GIST_OBJ_ERROR:
		return gw_errobj_enc(w, &m->error, why);
	case GIST_OBJ_HELLO:
		gw_w32(w, m->hello_id);
		return 0;
	}
	*why = "unknown object type";
	return -EINVAL;
}

/* Writes an object header, the body and patches the length. */
static int enc_object(struct gw_wr *w, const struct gist_msg *m, uint16_t type, uint8_t ab,
                      const struct gist_unknown *u, const char **why)
{
	size_t start = w->pos, blen;
	int r;

	gw_w16(w, (uint16_t)((ab & 3) << 14 | (type & 0x0fff)));
	gw_w16(w, 0);
	if (u) {
		if ((u->body.len & 3) || !bytes_ok(u->body)) {
			*why = "unknown object body not whole words";
			return -EINVAL;
		}
		gw_put(w, u->body.p, u->body.len);
	} else {
		r = enc_body(w, m, type, why);
		if (r < 0)
			return r;
	}
	blen = w->pos - start - GIST_OBJ_HDR_LEN;
	if (blen & 3) {
		*why = "object body not whole words";
		return -EINVAL;
	}
	if (blen > GIST_MAX_OBJ) {
		*why = "object longer than 4095 words";
		return -EMSGSIZE;
	}
	gw_patch16(w, start + 2, (uint16_t)(blen / 4));
	return 0;
}

static int enc_unknowns(struct gw_wr *w, const struct gist_msg *m, unsigned pos, bool at_end,
                        const char **why)
{
	for (unsigned i = 0; i < m->n_unknown && i < GIST_MAX_UNKNOWN; i++) {
		const struct gist_unknown *u = &m->unknown[i];
		int r;

		if (at_end ? u->pos < pos : u->pos != pos)
			continue;
		if (u->type < GIST_OBJ_NKNOWN || u->type > 0x0fff ||
		    (u->ab != GIST_AB_IGNORE && u->ab != GIST_AB_FORWARD)) {
			*why = "unknown object with a known type or flags other than "
			       "ignore/forward";
			return -EINVAL;
		}
		r = enc_object(w, m, u->type, u->ab, u, why);
		if (r < 0)
			return r;
	}
	return 0;
}

ssize_t gist_encode(const struct gist_msg *m, uint8_t *buf, size_t size, char *err, size_t errlen)
{
	struct gw_wr w = {.p = buf, .size = buf ? size : 0};
	const char *why = "invalid";
	const char *what;
	size_t hstart, blen;
	unsigned k = 0;
	uint16_t obj;
	int sub, r;

	if (err && errlen)
		err[0] = '\0';
	if (m->hdr.type > GIST_MA_HELLO)
		return err_set(err, errlen, -EINVAL, "unknown message type %u", m->hdr.type);
	what = gist_msg_type_name(m->hdr.type);
	if (m->hdr.flags & ~(GIST_F_S | GIST_F_R | GIST_F_E))
		return err_set(err, errlen, -EINVAL, "%s: reserved header flags set", what);
	sub = check_flags(m->hdr.type, m->hdr.flags);
	if (sub)
		return err_set(err, errlen, -EINVAL, "%s: %s flag not allowed", what,
		               sub - 1 == GIST_SE_INVALID_R ? "R" : "E");
	if (m->present & ~(GIST_BIT(GIST_OBJ_NKNOWN) - 1))
		return err_set(err, errlen, -EINVAL, "%s: unknown bits in present", what);
	sub = check_objects(m, &obj);
	if (sub)
		return err_set(err, errlen, -EINVAL, "%s: %s %s", what,
		               sub - 1 == GIST_SE_MISSING ? "missing" : "not allowed:",
		               gist_obj_type_name(obj));
	if (scd_mismatch(m) >= 0)
		return err_set(err, errlen, -EINVAL,
		               "%s: MA-protocol-option names a profile not proposed", what);
	if (m->n_unknown > GIST_MAX_UNKNOWN)
		return err_set(err, errlen, -EINVAL, "%s: too many unknown objects", what);

	if (m->magic)
		gw_w32(&w, GIST_MAGIC);
	hstart = w.pos;
	gw_w8(&w, GIST_VERSION);
	gw_w8(&w, m->hdr.hops);
	gw_w16(&w, 0);
	gw_w16(&w, m->hdr.nslpid);
	gw_w8(&w, (uint8_t)((m->hdr.c ? 0x80 : 0) | m->hdr.type));
	gw_w8(&w, m->hdr.flags);

	for (unsigned i = 0; i < sizeof(obj_order); i++) {
		unsigned t = obj_order[i];

		if (!(m->present & GIST_BIT(t)))
			continue;
		r = enc_unknowns(&w, m, k, false, &why);
		if (r == 0)
			r = enc_object(&w, m, (uint16_t)t, m->ab[t], NULL, &why);
		if (r < 0)
			return err_set(err, errlen, r, "%s: %s: %s", what, gist_obj_type_name(t),
			               why);
		k++;
	}
	r = enc_unknowns(&w, m, k, true, &why);
	if (r < 0)
		return err_set(err, errlen, r, "%s: %s", what, why);

	blen = w.pos - hstart - GIST_HDR_LEN;
	if (blen > GIST_MAX_BODY)
		return err_set(err, errlen, -EMSGSIZE, "%s: %zu bytes, longer than 65535 words",
		               what, blen);
	gw_patch16(&w, hstart + 2, (uint16_t)(blen / 4));
	if (w.overflow)
		return err_set(err, errlen, -ENOSPC, "%s: needs %zu bytes, buffer has %zu", what,
		               w.pos, size);
	return (ssize_t)w.pos;
}

/* ---- Building messages ------------------------------------------------------------ */

void gist_msg_init(struct gist_msg *m, enum gist_msg_type type, uint16_t nslpid)
{
	memset(m, 0, sizeof(*m));
	m->magic = type != GIST_MA_HELLO;
	m->hdr.version = GIST_VERSION;
	m->hdr.hops = type == GIST_QUERY ? 32 : 1;
	m->hdr.nslpid = nslpid;
	m->hdr.type = (uint8_t)type;
	m->hdr.c = type == GIST_QUERY;
	switch (type) {
	case GIST_QUERY:
		m->hdr.flags = GIST_F_S | GIST_F_R;
		break;
	case GIST_ERROR:
		m->hdr.flags = 0;
		break;
	default:
		m->hdr.flags = GIST_F_S;
		break;
	}
}

void gist_msg_strip_ignored(struct gist_msg *m)
{
	uint8_t n = 0;

	for (unsigned i = 0; i < m->n_unknown && i < GIST_MAX_UNKNOWN; i++)
		if (m->unknown[i].ab != GIST_AB_IGNORE)
			m->unknown[n++] = m->unknown[i];
	m->n_unknown = n;
}

void gist_err_from_msg(struct gist_err *ge, const struct gist_msg *m, enum gist_transport transport,
                       uint8_t eclass, uint16_t code, uint8_t subcode)
{
	memset(ge, 0, sizeof(*ge));
	ge->eclass = eclass;
	ge->code = code;
	ge->subcode = subcode;
	ge->transport = transport;
	ge->answer = m->hdr.type != GIST_ERROR;
	ge->qmode = m->hdr.c;
	ge->has_hdr = true;
	ge->hdr[0] = GIST_VERSION;
	ge->hdr[1] = m->hdr.hops;
	ge->hdr[2] = (uint8_t)(m->hdr.length >> 8);
	ge->hdr[3] = (uint8_t)m->hdr.length;
	ge->hdr[4] = (uint8_t)(m->hdr.nslpid >> 8);
	ge->hdr[5] = (uint8_t)m->hdr.nslpid;
	ge->hdr[6] = (uint8_t)((m->hdr.c ? 0x80 : 0) | (m->hdr.type & 0x7f));
	ge->hdr[7] = m->hdr.flags;
	if (m->present & GIST_BIT(GIST_OBJ_SID)) {
		ge->has_sid = true;
		memcpy(ge->sid, m->sid, GIST_SID_LEN);
	}
	if (m->present & GIST_BIT(GIST_OBJ_MRI)) {
		ge->has_mri = true;
		ge->mri = m->mri;
	}
}

int gist_error_msg(const struct gist_err *ge, const struct gist_nli *nli,
                   enum gist_transport transport, struct gist_msg *out)
{
	struct gist_error_obj *eo;

	if (ge->code == GIST_E_NONE)
		return -EINVAL;
	gist_msg_init(out, GIST_ERROR, 0);
	out->magic = transport == GIST_TRANSPORT_UDP;
	out->present = GIST_BIT(GIST_OBJ_ERROR);
	if (nli) {
		out->nli = *nli;
		out->present |= GIST_BIT(GIST_OBJ_NLI);
	}
	eo = &out->error;
	eo->eclass = ge->eclass;
	eo->code = ge->code;
	eo->subcode = ge->subcode;
	if (ge->transport == GIST_TRANSPORT_UDP) {
		eo->flags |= GIST_EF_D;
		if (ge->qmode)
			eo->flags |= GIST_EF_Q;
	}
	if (ge->has_hdr)
		memcpy(eo->orig, ge->hdr, GIST_HDR_LEN);
	/* A Common Header Parse Error carries neither Session ID nor MRI. */
	if (ge->code != GIST_E_HDR_PARSE) {
		if (ge->has_sid) {
			eo->has_sid = true;
			memcpy(eo->sid, ge->sid, GIST_SID_LEN);
		}
		if (ge->has_mri) {
			eo->has_mri = true;
			eo->mri = ge->mri;
		}
	}
	if (ge->code == GIST_E_HDR_PARSE && ge->subcode == GIST_SE_BAD_LENGTH)
		eo->ai[eo->n_ai++] =
		        (struct gist_ai){.type = GIST_AI_MSG_LENGTH, .value = ge->msg_len};
	if (ge->code == GIST_E_TOO_LARGE)
		eo->ai[eo->n_ai++] = (struct gist_ai){.type = GIST_AI_MTU, .value = ge->mtu};
	if (ge->code == GIST_E_OBJ_TYPE && ge->has_obj_type)
		eo->ai[eo->n_ai++] =
		        (struct gist_ai){.type = GIST_AI_OBJ_TYPE, .value = ge->obj_type};
	/* The object goes in whole if the Error object can still hold it (with its
	 * fixed part, SID, the largest MRI and the other information fields). */
	if ((ge->code == GIST_E_OBJ_VALUE || ge->code == GIST_E_MRI_VALIDATION) && ge->obj.p &&
	    ge->obj.len >= GIST_OBJ_HDR_LEN && !(ge->obj.len & 3) &&
	    ge->obj.len <= GIST_MAX_OBJ - 16 - GIST_SID_LEN - GIST_MRI_MAX_LEN - 3 * 8 - 8)
		eo->ai[eo->n_ai++] = (struct gist_ai){
		        .type = GIST_AI_OBJ_VALUE,
		        .real_len = (uint16_t)((ge->obj.len - GIST_OBJ_HDR_LEN) / 4),
		        .offset = ge->obj_offset,
		        .data = ge->obj,
		};
	return 0;
}
