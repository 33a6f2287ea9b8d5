/* GIST object bodies (RFC 5971 A.3, A.4.1): Network-Layer-Information,
 * Stack-Proposal, Stack-Configuration-Data, NAT-Traversal and the Error
 * object. The MRI is in gist_mri.c; the objects that are bare bytes or one
 * word (Session ID, cookies, NSLP-Data, Hello-ID) are handled in
 * gist_wire.c. Every decoder consumes exactly the object's length: anything
 * left over, or missing, is an Object Value Error "Incorrect Length".
 */
#include <errno.h>
#include <string.h>

#include "gist/gist_int.h"

/* ---- Network-Layer-Information ---------------------------------------------------
 *   PI-Length (8) | IP-TTL (8) | IP-Ver (4) | 12 reserved
 *   routing state validity time (32, ms)
 *   Peer Identity (PI-Length bytes, padded to 32 bits)
 *   interface address (4 or 16 bytes)
 */

int gw_nli_dec(const uint8_t *body, size_t len, struct gist_nli *nli, struct gw_prob *pb)
{
	struct gw_rd r = gw_rd_init(body, len);
	uint8_t pi_len;
	size_t alen;

	memset(nli, 0, sizeof(*nli));
	if (len < 8)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "NLI shorter than 8 bytes");
	pi_len = gw_u8(&r);
	nli->ip_ttl = gw_u8(&r);
	nli->ipver = (uint8_t)(gw_u16(&r) >> 12);
	nli->rs_validity = gw_u32(&r);
	alen = gw_addr_len(nli->ipver);
	if (alen == 0)
		return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, 2,
		               "NLI IP version neither 4 nor 6");
	if (len != 8 + gw_pad4(pi_len) + alen)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0,
		               "NLI length does not match its peer identity and address");
	nli->pi = gw_bytes(&r, pi_len);
	gw_copy(&r, NULL, gw_pad4(pi_len) - pi_len);
	gw_copy(&r, nli->if_addr.b, alen);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "NLI truncated");
	return 0;
}

int gw_nli_enc(struct gw_wr *w, const struct gist_nli *nli, const char **why)
{
	size_t alen = gw_addr_len(nli->ipver);
	size_t start = w->pos;

	if (alen == 0) {
		*why = "NLI IP version neither 4 nor 6";
		return -EINVAL;
	}
	if (nli->pi.len > 255 || (nli->pi.len && !nli->pi.p)) {
		*why = "NLI peer identity longer than 255 bytes";
		return -EINVAL;
	}
	gw_w8(w, (uint8_t)nli->pi.len);
	gw_w8(w, nli->ip_ttl);
	gw_w16(w, (uint16_t)(nli->ipver << 12));
	gw_w32(w, nli->rs_validity);
	gw_put(w, nli->pi.p, nli->pi.len);
	gw_pad(w, start);
	gw_put(w, nli->if_addr.b, alen);
	return 0;
}

/* ---- Stack-Proposal -----------------------------------------------------------------
 *   Prof-Count (8) | 24 reserved
 *   each profile: count (8) | MA-Protocol-IDs (8 each) | padding to 32 bits
 */

int gw_sp_dec(const uint8_t *body, size_t len, struct gist_sp *sp, struct gw_prob *pb)
{
	struct gw_rd r = gw_rd_init(body, len);

	memset(sp, 0, sizeof(*sp));
	sp->n = gw_u8(&r);
	gw_copy(&r, NULL, 3);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "Stack-Proposal truncated");
	if (sp->n == 0)
		return gw_prob(pb, GIST_SE_EMPTY_LIST, 0, "Stack-Proposal without profiles");
	if (sp->n > GIST_MAX_PROFILES)
		return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, 0,
		               "too many Stack-Proposal profiles");
	for (unsigned i = 0; i < sp->n; i++) {
		struct gist_profile *pr = &sp->prof[i];
		size_t at = r.pos;

		pr->n = gw_u8(&r);
		if (r.bad)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, at,
			               "Stack-Proposal truncated");
		if (pr->n == 0)
			return gw_prob(pb, GIST_SE_EMPTY_LIST, at, "empty Stack-Proposal profile");
		if (pr->n > GIST_MAX_LAYERS)
			return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, at,
			               "too many layers in a Stack-Proposal profile");
		gw_copy(&r, pr->proto, pr->n);
		gw_copy(&r, NULL, gw_pad4(1u + pr->n) - (1u + pr->n));
		if (r.bad)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, at,
			               "Stack-Proposal truncated");
	}
	if (gw_rd_left(&r))
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, r.pos,
		               "bytes after the last Stack-Proposal profile");
	return 0;
}

int gw_sp_enc(struct gw_wr *w, const struct gist_sp *sp, const char **why)
{
	if (sp->n == 0 || sp->n > GIST_MAX_PROFILES) {
		*why = "Stack-Proposal profile count out of range";
		return -EINVAL;
	}
	gw_w8(w, sp->n);
	gw_zero(w, 3);
	for (unsigned i = 0; i < sp->n; i++) {
		const struct gist_profile *pr = &sp->prof[i];
		size_t start = w->pos;

		if (pr->n == 0 || pr->n > GIST_MAX_LAYERS) {
			*why = "Stack-Proposal profile layer count out of range";
			return -EINVAL;
		}
		gw_w8(w, pr->n);
		gw_put(w, pr->proto, pr->n);
		gw_pad(w, start);
	}
	return 0;
}

/* ---- Stack-Configuration-Data -------------------------------------------------------
 *   MPO-Count (8) | 24 reserved
 *   MA-Hold-Time (32, ms)
 *   each MA-protocol-option:
 *     MA-Protocol-ID (8) | Profile (8) | Length (8) | D | 7 reserved
 *     option data (Length BYTES as NSIS-ka sends it, padded to 32 bits)
 */

int gw_scd_dec(const uint8_t *body, size_t len, struct gist_scd *scd, struct gw_prob *pb)
{
	struct gw_rd r = gw_rd_init(body, len);

	memset(scd, 0, sizeof(*scd));
	scd->n = gw_u8(&r);
	gw_copy(&r, NULL, 3);
	scd->ma_hold = gw_u32(&r);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0,
		               "Stack-Configuration-Data truncated");
	if (scd->n > GIST_MAX_MPO)
		return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, 0, "too many MA-protocol-options");
	for (unsigned i = 0; i < scd->n; i++) {
		struct gist_mpo *o = &scd->mpo[i];
		size_t at = r.pos;
		uint8_t olen;

		o->proto = gw_u8(&r);
		o->profile = gw_u8(&r);
		olen = gw_u8(&r);
		o->d = (gw_u8(&r) & 0x80) != 0;
		o->data = gw_bytes(&r, olen);
		gw_copy(&r, NULL, gw_pad4(olen) - olen);
		if (r.bad)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, at,
			               "MA-protocol-option longer than its object");
	}
	if (gw_rd_left(&r))
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, r.pos,
		               "bytes after the last MA-protocol-option");
	return 0;
}

int gw_scd_enc(struct gw_wr *w, const struct gist_scd *scd, const char **why)
{
	if (scd->n > GIST_MAX_MPO) {
		*why = "too many MA-protocol-options";
		return -EINVAL;
	}
	gw_w8(w, scd->n);
	gw_zero(w, 3);
	gw_w32(w, scd->ma_hold);
	for (unsigned i = 0; i < scd->n; i++) {
		const struct gist_mpo *o = &scd->mpo[i];
		size_t start;

		if (o->data.len > 255 || (o->data.len && !o->data.p)) {
			*why = "MA-protocol-option data longer than 255 bytes";
			return -EINVAL;
		}
		gw_w8(w, o->proto);
		gw_w8(w, o->profile);
		gw_w8(w, (uint8_t)o->data.len);
		gw_w8(w, o->d ? 0x80 : 0);
		start = w->pos;
		gw_put(w, o->data.p, o->data.len);
		gw_pad(w, start);
	}
	return 0;
}

int gist_mpo_port(const struct gist_mpo *mpo)
{
	if ((mpo->proto != GIST_MA_TCP && mpo->proto != GIST_MA_TLS) || mpo->data.len < 2 ||
	    !mpo->data.p)
		return -ENOENT;
	return mpo->data.p[0] << 8 | mpo->data.p[1];
}

int gist_scd_choose(const struct gist_sp *sp, const struct gist_scd *scd, const uint8_t *stack,
                    size_t nstack, uint16_t *port)
{
	if (!sp || !scd || !stack || !nstack)
		return -ENOENT;
	for (unsigned i = 0; i < sp->n && i < GIST_MAX_PROFILES; i++) {
		const struct gist_profile *pr = &sp->prof[i];

		if (pr->n != nstack || memcmp(pr->proto, stack, nstack) != 0)
			continue;
		for (unsigned k = 0; k < scd->n && k < GIST_MAX_MPO; k++) {
			const struct gist_mpo *o = &scd->mpo[k];
			int p;

			if (o->profile != 0 && o->profile != i + 1)
				continue;
			if (o->proto != stack[nstack - 1] || o->d)
				continue;
			p = gist_mpo_port(o);
			if (p <= 0)
				continue;
			if (port)
				*port = (uint16_t)p;
			return (int)i + 1;
		}
	}
	return -ENOENT;
}

/* ---- NAT-Traversal ------------------------------------------------------------------
 *   MRI-Length (8, words) | Type-Count (8) | NAT-Count (8) | 8 reserved
 *   original MRI (body only)
 *   list of translated objects: Type-Count 16-bit entries, padded to 32 bits
 *   information replaced by each NAT (opaque here)
 */

int gw_nat_dec(const uint8_t *body, size_t len, struct gist_nat *nat, struct gw_prob *pb)
{
	struct gw_rd r = gw_rd_init(body, len);
	uint8_t mri_len;

	memset(nat, 0, sizeof(*nat));
	mri_len = gw_u8(&r);
	nat->type_count = gw_u8(&r);
	nat->nat_count = gw_u8(&r);
	gw_u8(&r);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "NAT-Traversal truncated");
	nat->mri = gw_bytes(&r, 4u * mri_len);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0,
		               "NAT-Traversal MRI longer than its object");
	nat->types = gw_bytes(&r, gw_pad4(2u * nat->type_count));
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 1,
		               "NAT-Traversal type list longer than its object");
	nat->info = gw_bytes(&r, gw_rd_left(&r));
	return 0;
}

int gw_nat_enc(struct gw_wr *w, const struct gist_nat *nat, const char **why)
{
	if ((nat->mri.len & 3) || nat->mri.len > 4 * 255 ||
	    nat->types.len != gw_pad4(2u * nat->type_count) || (nat->info.len & 3)) {
		*why = "NAT-Traversal field lengths inconsistent";
		return -EINVAL;
	}
	gw_w8(w, (uint8_t)(nat->mri.len / 4));
	gw_w8(w, nat->type_count);
	gw_w8(w, nat->nat_count);
	gw_w8(w, 0);
	gw_put(w, nat->mri.p, nat->mri.len);
	gw_put(w, nat->types.p, nat->types.len);
	gw_put(w, nat->info.p, nat->info.len);
	return 0;
}

/* ---- Error object (A.4.1) -----------------------------------------------------------
 *   Error Class (8) | Error Code (16) | Error Subcode (8)
 *   S M C D Q | 3 reserved | 8 reserved | MRI Length (8, words) | Info Count (8)
 *   common header of the original message (8 bytes)
 *   [S] Session ID (16 bytes, no object header)
 *   [M] MRI (MRI Length words, no object header)
 *   additional information fields: AI-Type (16) | AI-Length (16, words) | value
 *   [C] debugging comment: NUL-terminated UTF-8, NUL-padded to 32 bits
 */

#define EO_FIXED 16 /* up to and including the original common header */

static int ai_dec(struct gw_rd *r, struct gist_ai *ai, struct gw_prob *pb)
{
	size_t at = r->pos;
	uint16_t words;
	struct gw_rd v;

	memset(ai, 0, sizeof(*ai));
	ai->type = gw_u16(r);
	words = gw_u16(r);
	if (ai->type == GIST_AI_OBJ_VALUE && !r->bad && 4u * words > gw_rd_left(r)) {
		/* NSIS-ka writes this AI-Length as the object's byte length + 1, which
		 * overruns: delimit by the embedded object's own header instead. The
		 * field is re-encoded the RFC way. */
		struct gw_rd k = *r;
		size_t obj_at;
		uint16_t olen;

		ai->real_len = gw_u16(&k) & 0x0fff;
		ai->offset = gw_u16(&k);
		obj_at = k.pos;
		gw_u16(&k);
		olen = gw_u16(&k) & 0x0fff;
		k.pos = k.bad ? k.len : obj_at;
		ai->data = gw_bytes(&k, GIST_OBJ_HDR_LEN + 4u * olen);
		if (!k.bad) {
			*r = k;
			return 0;
		}
	}
	ai->data = gw_bytes(r, 4u * words);
	if (r->bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, at,
		               "error information field longer than its object");
	v = gw_rd_init(ai->data.p, ai->data.len);
	switch (ai->type) {
	case GIST_AI_MSG_LENGTH:
	case GIST_AI_MTU:
	case GIST_AI_OBJ_TYPE:
		if (words != 1)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, at,
			               "error information field of the wrong length");
		ai->value = gw_u16(&v);
		ai->data = (struct gist_bytes){NULL, 0};
		break;
	case GIST_AI_OBJ_VALUE:
		if (words < 1)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, at, "empty Object Value Info");
		ai->real_len = gw_u16(&v) & 0x0fff;
		ai->offset = gw_u16(&v);
		ai->data = gw_bytes(&v, gw_rd_left(&v));
		break;
	default:
		break;
	}
	return 0;
}

int gw_errobj_dec(const uint8_t *body, size_t len, struct gist_error_obj *eo, struct gw_prob *pb)
{
	struct gw_rd r = gw_rd_init(body, len);
	uint8_t mri_len, n_ai;
	int ret;

	memset(eo, 0, sizeof(*eo));
	eo->eclass = gw_u8(&r);
	eo->code = gw_u16(&r);
	eo->subcode = gw_u8(&r);
	eo->flags = gw_u8(&r) & (GIST_EF_S | GIST_EF_M | GIST_EF_C | GIST_EF_D | GIST_EF_Q);
	gw_u8(&r);
	mri_len = gw_u8(&r);
	n_ai = gw_u8(&r);
	gw_copy(&r, eo->orig, GIST_HDR_LEN);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "Error object truncated");
	if (eo->flags & GIST_EF_S) {
		eo->has_sid = true;
		gw_copy(&r, eo->sid, GIST_SID_LEN);
		if (r.bad)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, EO_FIXED,
			               "Error object Session ID truncated");
	}
	if (eo->flags & GIST_EF_M) {
		size_t at = r.pos;
		struct gist_bytes mb = gw_bytes(&r, 4u * mri_len);

		if (r.bad)
			return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 6,
			               "Error object MRI longer than the object");
		ret = gw_mri_dec(mb.p, mb.len, &eo->mri, pb);
		if (ret < 0) {
			pb->offset = (uint16_t)(pb->offset + at);
			return ret;
		}
		eo->has_mri = true;
	}
	if (n_ai > GIST_MAX_AI)
		return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, 7,
		               "too many error information fields");
	for (unsigned i = 0; i < n_ai; i++) {
		ret = ai_dec(&r, &eo->ai[i], pb);
		if (ret < 0)
			return ret;
	}
	eo->n_ai = n_ai;
	if (eo->flags & GIST_EF_C) {
		eo->comment = gw_bytes(&r, gw_rd_left(&r));
		if (eo->comment.len == 0) {
			eo->comment.p = NULL;
			eo->flags &= (uint8_t)~GIST_EF_C;
		}
	} else if (gw_rd_left(&r)) {
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, r.pos,
		               "bytes after the Error object's information fields");
	}
	return 0;
}

static int ai_enc(struct gw_wr *w, const struct gist_ai *ai, const char **why)
{
	switch (ai->type) {
	case GIST_AI_MSG_LENGTH:
	case GIST_AI_MTU:
	case GIST_AI_OBJ_TYPE:
		gw_w16(w, ai->type);
		gw_w16(w, 1);
		gw_w16(w, ai->value);
		gw_w16(w, 0);
		return 0;
	case GIST_AI_OBJ_VALUE:
		if ((ai->data.len & 3) || ai->data.len > 4u * 0xfffe || ai->real_len > 0xfff) {
			*why = "Object Value Info: object not whole words";
			return -EINVAL;
		}
		gw_w16(w, ai->type);
		gw_w16(w, (uint16_t)(1 + ai->data.len / 4));
		gw_w16(w, ai->real_len);
		gw_w16(w, ai->offset);
		gw_put(w, ai->data.p, ai->data.len);
		return 0;
	default:
		if ((ai->data.len & 3) || ai->data.len > 4u * 0xffff) {
			*why = "error information field not whole words";
			return -EINVAL;
		}
		gw_w16(w, ai->type);
		gw_w16(w, (uint16_t)(ai->data.len / 4));
		gw_put(w, ai->data.p, ai->data.len);
		return 0;
	}
}

int gw_errobj_enc(struct gw_wr *w, const struct gist_error_obj *eo, const char **why)
{
	uint8_t flags = eo->flags & (GIST_EF_D | GIST_EF_Q);
	uint8_t mri[GIST_MRI_MAX_LEN];
	ssize_t mri_len = 0;
	int ret;

	if (eo->n_ai > GIST_MAX_AI) {
		*why = "too many error information fields";
		return -EINVAL;
	}
	if (eo->has_mri) {
		mri_len = gist_mri_encode(&eo->mri, mri, sizeof(mri));
		if (mri_len < 0) {
			*why = "Error object MRI invalid";
			return -EINVAL;
		}
	}
	if (eo->has_sid)
		flags |= GIST_EF_S;
	if (eo->has_mri)
		flags |= GIST_EF_M;
	if (eo->comment.len) {
		if (!eo->comment.p) {
			*why = "Error object comment without bytes";
			return -EINVAL;
		}
		flags |= GIST_EF_C;
	}
	gw_w8(w, eo->eclass);
	gw_w16(w, eo->code);
	gw_w8(w, eo->subcode);
	gw_w8(w, flags);
	gw_w8(w, 0);
	gw_w8(w, (uint8_t)(mri_len / 4));
	gw_w8(w, eo->n_ai);
	gw_put(w, eo->orig, GIST_HDR_LEN);
	if (eo->has_sid)
		gw_put(w, eo->sid, GIST_SID_LEN);
	if (eo->has_mri)
		gw_put(w, mri, (size_t)mri_len);
	for (unsigned i = 0; i < eo->n_ai; i++) {
		ret = ai_enc(w, &eo->ai[i], why);
		if (ret < 0)
			return ret;
	}
	if (eo->comment.len) {
		size_t start = w->pos;

		gw_put(w, eo->comment.p, eo->comment.len);
		/* NUL-terminated, then NUL-padded to a word. */
		if (eo->comment.p[eo->comment.len - 1] != 0)
			gw_w8(w, 0);
		gw_pad(w, start);
	}
	return 0;
}
