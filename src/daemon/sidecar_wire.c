/* The sidecar group channel's codec (sidecar_wire.h). */
#include "daemon/sidecar_wire.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "lib/errbuf.h"

#define HDR_LEN 24

_Static_assert(SG_KEY_LEN == crypto_auth_KEYBYTES, "group key length");
_Static_assert(SG_MAC_LEN == crypto_auth_BYTES, "group MAC length");

/* ---- bounded writer and reader ------------------------------------------------ */

struct wr {
	uint8_t *p;
	size_t len, cap;
	bool full;
};

static void put(struct wr *w, const void *v, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (n)
		memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void put_be(struct wr *w, uint64_t v, unsigned bytes)
{
	uint8_t b[8];
	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	put(w, b, bytes);
}

struct rd {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *q = r->p + r->off;
	r->off += n;
	return q;
}

static uint64_t get_be(struct rd *r, unsigned bytes)
{
	const uint8_t *q = take(r, bytes);
	uint64_t v = 0;
	for (unsigned i = 0; q && i < bytes; i++)
		v = v << 8 | q[i];
	return v;
}

/* A length-prefixed name into dst (cap bytes with the NUL); false if bad. */
static bool get_str(struct rd *r, char *dst, size_t cap, bool name)
{
	size_t n = (size_t)get_be(r, 1);
	const uint8_t *q = take(r, n);
	if (!q || n >= cap || memchr(q, 0, n))
		return false;
	memcpy(dst, q, n);
	dst[n] = '\0';
	if (name)
		return sg_name_ok(dst);
	for (size_t i = 0; i < n; i++)
		if (q[i] < 0x20 || q[i] > 0x7e)
			return false;
	return true;
}

/* ---- names ----------------------------------------------------------------- */

bool sg_name_ok(const char *n)
{
	size_t len = strlen(n);
	if (len == 0 || len > SG_MAX_NAME)
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		      (*n >= '0' && *n <= '9') || *n == '.' || *n == '_' || *n == '-'))
			return false;
	return true;
}

const char *sg_type_name(uint8_t type)
{
	switch (type) {
	case SG_HEARTBEAT:
		return "HEARTBEAT";
	case SG_REQUEST:
		return "REQUEST";
	case SG_ANSWER:
		return "ANSWER";
	}
	return "?";
}

/* ---- encoder --------------------------------------------------------------- */

int sg_encode(const struct sg_msg *m, const uint8_t key[SG_KEY_LEN], uint8_t *buf, size_t cap,
              char *err, size_t errlen)
{
	if (!sg_name_ok(m->group) || !sg_name_ok(m->sender))
		return err_set(err, errlen, -EINVAL,
		               "group and node names are 1..%d of "
		               "[A-Za-z0-9._-]",
		               SG_MAX_NAME);
	if (cap > SG_MAX_MSG)
		cap = SG_MAX_MSG;
	struct wr w = {.p = buf, .cap = cap};
	size_t gl = strlen(m->group), sl = strlen(m->sender);
	put(&w, "NSG", 3);
	put_be(&w, SG_VERSION, 1);
	put_be(&w, m->type, 1);
	put_be(&w, m->flags, 1);
	size_t body_len_at = w.len;
	put_be(&w, 0, 2);
	put_be(&w, m->seq, 8);
	put_be(&w, m->time_ms, 8);
	put_be(&w, gl, 1);
	put(&w, m->group, gl);
	put_be(&w, sl, 1);
	put(&w, m->sender, sl);
	size_t body_at = w.len;
	switch (m->type) {
	case SG_HEARTBEAT:
		put_be(&w, m->version, 8);
		break;
	case SG_REQUEST:
		if (m->ncm_len == 0 || m->ncm_len > SG_MAX_NCM || !m->ncm)
			return err_set(err, errlen, m->ncm_len > SG_MAX_NCM ? -EMSGSIZE : -EINVAL,
			               "a REQUEST carries 1..%d bytes of NCM (%zu)", SG_MAX_NCM,
			               m->ncm_len);
		if (m->dst_family != 0 && m->dst_family != 4 && m->dst_family != 6)
			return err_set(err, errlen, -EINVAL, "destination family %u",
			               m->dst_family);
		if (m->dst_len > (m->dst_family == 4 ? 32 : m->dst_family == 6 ? 128 : 0))
			return err_set(err, errlen, -EINVAL, "prefix length %u", m->dst_len);
		put_be(&w, m->id, 4);
		put_be(&w, m->entry_version, 8);
		put_be(&w, m->expires_ms, 8);
		put_be(&w, m->dst_family, 1);
		put_be(&w, m->dst_len, 1);
		put(&w, m->dst_addr, 16);
		put_be(&w, m->ncm_len, 2);
		put(&w, m->ncm, m->ncm_len);
		break;
	case SG_ANSWER: {
		size_t rl = strnlen(m->reason, SG_MAX_REASON);
		put_be(&w, m->id, 4);
		put_be(&w, m->status, 2);
		put_be(&w, rl, 1);
		put(&w, m->reason, rl);
		break;
	}
	default:
		return err_set(err, errlen, -EINVAL, "unknown message type %u", m->type);
	}
	size_t body_len = w.len - body_at;
	put(&w, (uint8_t[SG_MAC_LEN]){0}, SG_MAC_LEN);
	if (w.full)
		return err_set(err, errlen, -EMSGSIZE, "a %s does not fit in %zu bytes",
		               sg_type_name(m->type), cap);
	buf[body_len_at] = (uint8_t)(body_len >> 8);
	buf[body_len_at + 1] = (uint8_t)body_len;
	size_t mac_at = w.len - SG_MAC_LEN;
	crypto_auth(buf + mac_at, buf, mac_at, key);
	return (int)w.len;
}

/* ---- decoder --------------------------------------------------------------- */

int sg_decode(const uint8_t *buf, size_t len, const uint8_t key[SG_KEY_LEN], struct sg_msg *m,
              char *err, size_t errlen)
{
	if (len < HDR_LEN + 2 + 2 + SG_MAC_LEN)
		return err_set(err, errlen, -EMSGSIZE, "%zu bytes: too short", len);
	if (len > SG_MAX_MSG)
		return err_set(err, errlen, -EMSGSIZE, "%zu bytes: longer than %d", len,
		               SG_MAX_MSG);
	if (memcmp(buf, "NSG", 3) != 0)
		return err_set(err, errlen, -EPROTO, "not a group message (bad magic)");
	if (buf[3] != SG_VERSION)
		return err_set(err, errlen, -EPROTO, "version %u (this node speaks %d)", buf[3],
		               SG_VERSION);
	/* The MAC first: nothing of an unauthenticated message is trusted. */
	size_t mac_at = len - SG_MAC_LEN;
	if (key && crypto_auth_verify(buf + mac_at, buf, mac_at, key) != 0)
		return err_set(err, errlen, -EACCES, "bad MAC (not this group's key)");
	*m = (struct sg_msg){0};
	struct rd r = {.p = buf, .len = mac_at, .off = 4};
	m->type = (uint8_t)get_be(&r, 1);
	m->flags = (uint8_t)get_be(&r, 1);
	size_t body_len = (size_t)get_be(&r, 2);
	m->seq = get_be(&r, 8);
	m->time_ms = get_be(&r, 8);
	if (!get_str(&r, m->group, sizeof(m->group), true) ||
	    !get_str(&r, m->sender, sizeof(m->sender), true))
		return err_set(err, errlen, -EBADMSG, "bad group or sender name");
	if (body_len != r.len - r.off)
		return err_set(err, errlen, -EBADMSG, "body length %zu, %zu bytes there", body_len,
		               r.len - r.off);
	switch (m->type) {
	case SG_HEARTBEAT:
		m->version = get_be(&r, 8);
		break;
	case SG_REQUEST: {
		m->id = (uint32_t)get_be(&r, 4);
		m->entry_version = get_be(&r, 8);
		m->expires_ms = get_be(&r, 8);
		m->dst_family = (uint8_t)get_be(&r, 1);
		m->dst_len = (uint8_t)get_be(&r, 1);
		const uint8_t *a = take(&r, 16);
		if (a)
			memcpy(m->dst_addr, a, 16);
		m->ncm_len = (size_t)get_be(&r, 2);
		m->ncm = take(&r, m->ncm_len);
		if (r.bad)
			return err_set(err, errlen, -EBADMSG, "truncated REQUEST");
		if (m->dst_family != 0 && m->dst_family != 4 && m->dst_family != 6)
			return err_set(err, errlen, -EBADMSG, "destination family %u",
			               m->dst_family);
		if (m->dst_len > (m->dst_family == 4 ? 32 : m->dst_family == 6 ? 128 : 0))
			return err_set(err, errlen, -EBADMSG, "prefix length %u", m->dst_len);
		if (m->ncm_len == 0)
			return err_set(err, errlen, -EBADMSG, "empty REQUEST");
		break;
	}
	case SG_ANSWER:
		m->id = (uint32_t)get_be(&r, 4);
		m->status = (uint16_t)get_be(&r, 2);
		if (!get_str(&r, m->reason, sizeof(m->reason), false))
			return err_set(err, errlen, -EBADMSG, "bad ANSWER reason");
		break;
	default:
		return err_set(err, errlen, -EBADMSG, "unknown message type %u", m->type);
	}
	if (r.bad || r.off != r.len)
		return err_set(err, errlen, -EBADMSG, "malformed %s (%zu bytes)",
		               sg_type_name(m->type), len);
	return 0;
}
