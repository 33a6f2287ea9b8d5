/* Internals of the GIST codec shared by gist_wire.c, gist_obj.c and
 * gist_mri.c: bounded big-endian readers and writers, and the object body
 * codecs. Not an API. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gist/gist_wire.h"

/* ---- Reader: every read checks the bounds; a short read sets `bad`, returns 0
 * and leaves pos at the end, so that a sequence of reads needs one check. ---- */

struct gw_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool bad;
};

static inline struct gw_rd gw_rd_init(const uint8_t *p, size_t len)
{
	return (struct gw_rd){.p = p, .len = len, .pos = 0, .bad = false};
}

static inline size_t gw_rd_left(const struct gw_rd *r)
{
	return r->len - r->pos;
}

static inline bool gw_rd_need(struct gw_rd *r, size_t n)
{
	if (r->bad || gw_rd_left(r) < n) {
		r->bad = true;
		r->pos = r->len;
		return false;
	}
	return true;
}

static inline uint8_t gw_u8(struct gw_rd *r)
{
	if (!gw_rd_need(r, 1))
		return 0;
	return r->p[r->pos++];
}

static inline uint16_t gw_u16(struct gw_rd *r)
{
	uint16_t v;

	if (!gw_rd_need(r, 2))
		return 0;
	v = (uint16_t)((uint16_t)r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return v;
}

static inline uint32_t gw_u32(struct gw_rd *r)
{
	uint32_t v;

	if (!gw_rd_need(r, 4))
		return 0;
	v = (uint32_t)r->p[r->pos] << 24 | (uint32_t)r->p[r->pos + 1] << 16 |
	    (uint32_t)r->p[r->pos + 2] << 8 | r->p[r->pos + 3];
	r->pos += 4;
	return v;
}

/* Copies n bytes out (dst may be NULL to skip). */
static inline void gw_copy(struct gw_rd *r, void *dst, size_t n)
{
	if (!gw_rd_need(r, n)) {
		if (dst)
			memset(dst, 0, n);
		return;
	}
	if (dst)
		memcpy(dst, r->p + r->pos, n);
	r->pos += n;
}

/* Points at n bytes in place. */
static inline struct gist_bytes gw_bytes(struct gw_rd *r, size_t n)
{
	struct gist_bytes b = {NULL, 0};

	if (!gw_rd_need(r, n))
		return b;
	b.p = r->p + r->pos;
	b.len = n;
	r->pos += n;
	return b;
}

/* ---- Writer: with p NULL it only counts. Writes past size are dropped and set
 * `overflow`; pos always advances, so it ends at the length needed. ---- */

struct gw_wr {
	uint8_t *p;
	size_t size;
	size_t pos;
	bool overflow;
};

static inline void gw_put(struct gw_wr *w, const void *src, size_t n)
{
	if (w->p && !w->overflow && w->pos <= w->size && w->size - w->pos >= n) {
		if (n)
			memcpy(w->p + w->pos, src, n);
	} else if (w->p) {
		w->overflow = true;
	}
	w->pos += n;
}

static inline void gw_w8(struct gw_wr *w, uint8_t v)
{
	gw_put(w, &v, 1);
}

static inline void gw_w16(struct gw_wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	gw_put(w, b, 2);
}

static inline void gw_w32(struct gw_wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	gw_put(w, b, 4);
}

static inline void gw_zero(struct gw_wr *w, size_t n)
{
	static const uint8_t z[4];

	while (n > 0) {
		size_t k = n < sizeof(z) ? n : sizeof(z);

		gw_put(w, z, k);
		n -= k;
	}
}

/* Pads with zero bytes to the next multiple of 4. */
static inline void gw_pad(struct gw_wr *w, size_t from)
{
	gw_zero(w, (4 - ((w->pos - from) & 3)) & 3);
}

/* Overwrites a 16-bit field written earlier at offset at. */
static inline void gw_patch16(struct gw_wr *w, size_t at, uint16_t v)
{
	if (w->p && !w->overflow && at + 2 <= w->size) {
		w->p[at] = (uint8_t)(v >> 8);
		w->p[at + 1] = (uint8_t)v;
	}
}

static inline size_t gw_pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static inline size_t gw_addr_len(uint8_t ipver)
{
	return ipver == 4 ? 4 : ipver == 6 ? 16 : 0;
}

/* ---- Object body codecs --------------------------------------------------------- */

/* A problem found in an object body: an Object Value Error subcode, the byte
 * offset of the bad field from the start of the body, and why. */
struct gw_prob {
	uint8_t subcode;
	uint16_t offset;
	const char *why;
};

/* Decoders: body is the object without its header; they return 0 or -EBADMSG
 * with *pb filled. Encoders: return 0 or -EINVAL with *why set; the writer's
 * overflow is the caller's to check. */
int gw_mri_dec(const uint8_t *body, size_t len, struct gist_mri *mri, struct gw_prob *pb);
int gw_mri_enc(struct gw_wr *w, const struct gist_mri *mri, const char **why);

int gw_nli_dec(const uint8_t *body, size_t len, struct gist_nli *nli, struct gw_prob *pb);
int gw_nli_enc(struct gw_wr *w, const struct gist_nli *nli, const char **why);
int gw_sp_dec(const uint8_t *body, size_t len, struct gist_sp *sp, struct gw_prob *pb);
int gw_sp_enc(struct gw_wr *w, const struct gist_sp *sp, const char **why);
int gw_scd_dec(const uint8_t *body, size_t len, struct gist_scd *scd, struct gw_prob *pb);
int gw_scd_enc(struct gw_wr *w, const struct gist_scd *scd, const char **why);
int gw_nat_dec(const uint8_t *body, size_t len, struct gist_nat *nat, struct gw_prob *pb);
int gw_nat_enc(struct gw_wr *w, const struct gist_nat *nat, const char **why);
int gw_errobj_dec(const uint8_t *body, size_t len, struct gist_error_obj *eo, struct gw_prob *pb);
int gw_errobj_enc(struct gw_wr *w, const struct gist_error_obj *eo, const char **why);

static inline int gw_prob(struct gw_prob *pb, uint8_t subcode, size_t offset, const char *why)
{
	pb->subcode = subcode;
	pb->offset = (uint16_t)(offset > 0xffff ? 0xffff : offset);
	pb->why = why;
	return -EBADMSG;
}
