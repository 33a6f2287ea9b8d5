/* GIST Message-Routing-Information (RFC 5971 A.3.1): the path-coupled MRM
 * (0) and the loose-end MRM (1).
 *
 * Path-coupled:
 *   MRM-ID (8) | N | 7 reserved | IP-Ver (4) | P T F S A B D | 5 reserved
 *   source address, destination address (4 or 16 bytes each)
 *   source prefix (8) | destination prefix (8) | protocol (8) | DS (6) | 2 rsv
 *   [F] 12 reserved | flow label (20)
 *   [S] SPI (32)
 *   [A or B] source port (16) | destination port (16)
 * Loose-end:
 *   MRM-ID (8) | N | 7 reserved | IP-Ver (4) | D | 11 reserved
 *   source address, destination address
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gist/gist_int.h"

/* Byte offsets in the body, for Object Value Info. */
#define OFF_MRM   0
#define OFF_FLAGS 2
#define OFF_ADDRS 4

static int mri_pc_dec(struct gw_rd *r, struct gist_mri *mri, struct gw_prob *pb)
{
	size_t alen = gw_addr_len(mri->ipver);
	size_t want = 4 + 2 * alen + 4;
	size_t pfx_off = 4 + 2 * alen;
	uint8_t maxbits = (uint8_t)(alen * 8);
	uint16_t fl = mri->flags;

	if (fl & GIST_MRI_F)
		want += 4;
	if (fl & GIST_MRI_S)
		want += 4;
	if (fl & (GIST_MRI_A | GIST_MRI_B))
		want += 4;
	if (r->len != want)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0,
		               "path-coupled MRI length does not match its flags");
	if ((fl & GIST_MRI_F) && mri->ipver == 4)
		return gw_prob(pb, GIST_SE_INVALID_FLAGS, OFF_FLAGS, "flow label with IPv4");
	if ((fl & (GIST_MRI_S | GIST_MRI_A | GIST_MRI_B)) && !(fl & GIST_MRI_P))
		return gw_prob(pb, GIST_SE_INVALID_FLAGS, OFF_FLAGS,
		               "SPI or ports without a protocol (P flag)");

	gw_copy(r, mri->src.b, alen);
	gw_copy(r, mri->dst.b, alen);
	mri->src_prefix = gw_u8(r);
	mri->dst_prefix = gw_u8(r);
	mri->protocol = gw_u8(r);
	mri->dscp = gw_u8(r) >> 2;
	if (mri->src_prefix > maxbits || mri->dst_prefix > maxbits)
		return gw_prob(pb, GIST_SE_INVALID_FLAGS, pfx_off,
		               "prefix longer than the address");
	if (fl & GIST_MRI_F)
		mri->flow_label = gw_u32(r) & 0xfffff;
	if (fl & GIST_MRI_S)
		mri->spi = gw_u32(r);
	if (fl & (GIST_MRI_A | GIST_MRI_B)) {
		uint16_t sp = gw_u16(r), dp = gw_u16(r);

		/* A port whose flag is clear is a wildcard: sent as 0. */
		mri->src_port = (fl & GIST_MRI_A) ? sp : 0;
		mri->dst_port = (fl & GIST_MRI_B) ? dp : 0;
	}
	if (r->bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "path-coupled MRI truncated");
	return 0;
}

int gw_mri_dec(const uint8_t *body, size_t len, struct gist_mri *mri, struct gw_prob *pb)
{
	struct gw_rd r = gw_rd_init(body, len);
	uint16_t w;
	size_t alen;

	memset(mri, 0, sizeof(*mri));
	if (len < 4)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "MRI shorter than 4 bytes");
	mri->mrm = gw_u8(&r);
	mri->nat = (gw_u8(&r) & 0x80) != 0;
	w = gw_u16(&r);
	mri->ipver = (uint8_t)(w >> 12);
	alen = gw_addr_len(mri->ipver);
	if (mri->mrm != GIST_MRM_PATH_COUPLED && mri->mrm != GIST_MRM_LOOSE_END)
		return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, OFF_MRM,
		               "message routing method not supported");
	if (alen == 0)
		return gw_prob(pb, GIST_SE_VALUE_NOT_SUPPORTED, OFF_FLAGS,
		               "MRI IP version neither 4 nor 6");

	if (mri->mrm == GIST_MRM_PATH_COUPLED) {
		mri->flags = w & GIST_MRI_FLAGS_MASK;
		return mri_pc_dec(&r, mri, pb);
	}

	/* Loose-end: D is the bit after the IP version. */
	mri->flags = (w & 0x0800) ? GIST_MRI_D : 0;
	if (len != 4 + 2 * alen)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, 0, "loose-end MRI length");
	gw_copy(&r, mri->src.b, alen);
	gw_copy(&r, mri->dst.b, alen);
	if (r.bad)
		return gw_prob(pb, GIST_SE_INCORRECT_LENGTH, OFF_ADDRS, "loose-end MRI truncated");
	return 0;
}

int gw_mri_enc(struct gw_wr *w, const struct gist_mri *mri, const char **why)
{
	size_t alen = gw_addr_len(mri->ipver);
	uint16_t fl = mri->flags;

	if (alen == 0) {
		*why = "MRI IP version neither 4 nor 6";
		return -EINVAL;
	}
	if (mri->mrm == GIST_MRM_LOOSE_END) {
		if (fl & ~GIST_MRI_D) {
			*why = "loose-end MRI with flags other than D";
			return -EINVAL;
		}
		gw_w8(w, mri->mrm);
		gw_w8(w, mri->nat ? 0x80 : 0);
		gw_w16(w, (uint16_t)(mri->ipver << 12 | ((fl & GIST_MRI_D) ? 0x0800 : 0)));
		gw_put(w, mri->src.b, alen);
		gw_put(w, mri->dst.b, alen);
		return 0;
	}
	if (mri->mrm != GIST_MRM_PATH_COUPLED) {
		*why = "message routing method not supported";
		return -EINVAL;
	}
	if (fl & ~GIST_MRI_FLAGS_MASK) {
		*why = "unknown MRI flags";
		return -EINVAL;
	}
	if ((fl & GIST_MRI_F) && mri->ipver == 4) {
		*why = "flow label with IPv4";
		return -EINVAL;
	}
	if ((fl & (GIST_MRI_S | GIST_MRI_A | GIST_MRI_B)) && !(fl & GIST_MRI_P)) {
		*why = "SPI or ports without a protocol (P flag)";
		return -EINVAL;
	}
	if (mri->src_prefix > alen * 8 || mri->dst_prefix > alen * 8) {
		*why = "prefix longer than the address";
		return -EINVAL;
	}
	if (mri->dscp > 63 || mri->flow_label > 0xfffff) {
		*why = "DS field or flow label out of range";
		return -EINVAL;
	}
	gw_w8(w, mri->mrm);
	gw_w8(w, mri->nat ? 0x80 : 0);
	gw_w16(w, (uint16_t)(mri->ipver << 12 | fl));
	gw_put(w, mri->src.b, alen);
	gw_put(w, mri->dst.b, alen);
	gw_w8(w, mri->src_prefix);
	gw_w8(w, mri->dst_prefix);
	gw_w8(w, mri->protocol);
	gw_w8(w, (uint8_t)(mri->dscp << 2));
	if (fl & GIST_MRI_F)
		gw_w32(w, mri->flow_label);
	if (fl & GIST_MRI_S)
		gw_w32(w, mri->spi);
	if (fl & (GIST_MRI_A | GIST_MRI_B)) {
		gw_w16(w, (fl & GIST_MRI_A) ? mri->src_port : 0);
		gw_w16(w, (fl & GIST_MRI_B) ? mri->dst_port : 0);
	}
	return 0;
}

int gist_mri_decode(const uint8_t *body, size_t len, struct gist_mri *mri, uint8_t *subcode,
                    char *err, size_t errlen)
{
	struct gist_mri tmp;
	struct gw_prob pb = {0};
	int r = gw_mri_dec(body, len, &tmp, &pb);

	if (r < 0) {
		if (subcode)
			*subcode = pb.subcode;
		if (err && errlen)
			snprintf(err, errlen, "%s", pb.why);
		return r;
	}
	*mri = tmp;
	return 0;
}

ssize_t gist_mri_encode(const struct gist_mri *mri, uint8_t *buf, size_t size)
{
	struct gw_wr w = {.p = buf, .size = size};
	const char *why = NULL;
	int r = gw_mri_enc(&w, mri, &why);

	if (r < 0)
		return r;
	if (w.overflow)
		return -ENOSPC;
	return (ssize_t)w.pos;
}

void gist_mri_invert(struct gist_mri *mri)
{
	mri->flags ^= GIST_MRI_D;
}

bool gist_mri_equal(const struct gist_mri *a, const struct gist_mri *b)
{
	uint8_t ea[GIST_MRI_MAX_LEN], eb[GIST_MRI_MAX_LEN];
	ssize_t la = gist_mri_encode(a, ea, sizeof(ea));
	ssize_t lb = gist_mri_encode(b, eb, sizeof(eb));

	return la > 0 && la == lb && memcmp(ea, eb, (size_t)la) == 0;
}
