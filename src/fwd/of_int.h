/* Inside the OpenFlow codec: the bounded reader and writer, and the object
 * codecs (of_obj.c) that the message codec (of_wire.c) uses. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fwd/of_wire.h"

/* A bounded reader: a read past the end sets `bad` and yields zeros. */
struct of_rd {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static inline struct of_rd of_rd_init(const uint8_t *p, size_t len)
{
	return (struct of_rd){.p = p, .len = len};
}

static inline size_t of_rd_left(const struct of_rd *r)
{
	return r->bad ? 0 : r->len - r->pos;
}

static inline bool of_rd_need(struct of_rd *r, size_t n)
{
	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		return false;
	}
	return true;
}

static inline uint8_t of_r8(struct of_rd *r)
{
	if (!of_rd_need(r, 1))
		return 0;
	return r->p[r->pos++];
}

static inline uint16_t of_r16(struct of_rd *r)
{
	uint16_t v;

	if (!of_rd_need(r, 2))
		return 0;
	v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
	r->pos += 2;
	return v;
}

static inline uint32_t of_r32(struct of_rd *r)
{
	uint32_t v;

	if (!of_rd_need(r, 4))
		return 0;
	v = (uint32_t)r->p[r->pos] << 24 | (uint32_t)r->p[r->pos + 1] << 16 |
	    (uint32_t)r->p[r->pos + 2] << 8 | r->p[r->pos + 3];
	r->pos += 4;
	return v;
}

static inline uint64_t of_r64(struct of_rd *r)
{
	uint64_t hi = of_r32(r);

	return hi << 32 | of_r32(r);
}

static inline void of_rcopy(struct of_rd *r, void *dst, size_t n)
{
	if (!of_rd_need(r, n)) {
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, r->p + r->pos, n);
	r->pos += n;
}

static inline void of_rskip(struct of_rd *r, size_t n)
{
	if (of_rd_need(r, n))
		r->pos += n;
}

/* Takes the rest of r as bytes. */
static inline struct of_bytes of_rrest(struct of_rd *r)
{
	struct of_bytes b = {.p = r->p + r->pos, .len = of_rd_left(r)};

	r->pos += b.len;
	return b;
}

/* Takes n bytes as a sub-reader. */
static inline struct of_rd of_rsub(struct of_rd *r, size_t n)
{
	struct of_rd s = {.p = NULL, .len = 0, .pos = 0, .bad = true};

	if (of_rd_need(r, n)) {
		s = of_rd_init(r->p + r->pos, n);
		r->pos += n;
	}
	return s;
}

/* A bounded writer: counts every byte, stores those that fit. */
struct of_wr {
	uint8_t *p;
	size_t cap, pos;
};

static inline void of_put(struct of_wr *w, const void *src, size_t n)
{
	if (w->p && w->pos <= w->cap && w->cap - w->pos >= n)
		memcpy(w->p + w->pos, src, n);
	w->pos += n;
}

static inline void of_w8(struct of_wr *w, uint8_t v)
{
	of_put(w, &v, 1);
}

static inline void of_w16(struct of_wr *w, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	of_put(w, b, 2);
}

static inline void of_w32(struct of_wr *w, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};

	of_put(w, b, 4);
}

static inline void of_w64(struct of_wr *w, uint64_t v)
{
	of_w32(w, (uint32_t)(v >> 32));
	of_w32(w, (uint32_t)v);
}

static inline void of_wzero(struct of_wr *w, size_t n)
{
	static const uint8_t z[8];

	while (n > 0) {
		size_t k = n < sizeof(z) ? n : sizeof(z);

		of_put(w, z, k);
		n -= k;
	}
}

/* Overwrites 16 bits already counted at `at` (if they were stored). */
static inline void of_patch16(struct of_wr *w, size_t at, uint16_t v)
{
	if (w->p && at + 2 <= w->cap) {
		w->p[at] = (uint8_t)(v >> 8);
		w->p[at + 1] = (uint8_t)v;
	}
}

static inline size_t of_pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* ---- Objects (of_obj.c) --------------------------------------------------------- */

/* Decodes an ofp_match (type OXM, its length, the OXM fields, the padding to
 * 8) from r. Returns 0 or a negative errno with the reason in err. */
int of_match_decode(struct of_rd *r, struct of_match *m, char *err, size_t errlen);

/* Encodes *m as an ofp_match with its padding. Returns 0 or -EINVAL (a
 * missing prerequisite, an unknown field bit). */
int of_match_encode(struct of_wr *w, const struct of_match *m, char *err, size_t errlen);

/* Decodes the action list that fills r. Returns 0 or a negative errno. */
int of_actions_decode(struct of_rd *r, struct of_actions *a, char *err, size_t errlen);

/* Encodes an action list. Returns 0, -E2BIG or -EINVAL. */
int of_actions_encode(struct of_wr *w, const struct of_actions *a, char *err, size_t errlen);

/* Decodes the instruction list that fills r. Returns 0 or a negative errno. */
int of_instrs_decode(struct of_rd *r, struct of_instrs *in, char *err, size_t errlen);

/* Encodes an instruction list. Returns 0, -E2BIG or -EINVAL. */
int of_instrs_encode(struct of_wr *w, const struct of_instrs *in, char *err, size_t errlen);
