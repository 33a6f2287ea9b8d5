/* stun.h: the STUN (RFC 8489) and TURN (RFC 8656, RFC 5766) codec of the
 * Media Relay module (modules/turn.c).
 *
 *   - stun_frame_len: where a STUN message or a ChannelData frame ends, in a
 *     datagram or a byte stream (TCP: RFC 8656 §12.5, ChannelData padded);
 *   - stun_parse: a bounded reader of a whole message: header, magic cookie,
 *     attributes (each inside the message, padded to 4 bytes), where
 *     MESSAGE-INTEGRITY, MESSAGE-INTEGRITY-SHA256 and FINGERPRINT sit (the
 *     attributes after MESSAGE-INTEGRITY but these two are ignored, as RFC
 *     8489 §14.5 says; FINGERPRINT must be last);
 *   - attribute readers: (XOR-)addresses, 32-bit values, ERROR-CODE;
 *   - a builder: header, attributes, XOR addresses, ERROR-CODE,
 *     MESSAGE-INTEGRITY(-SHA256) computed over the prefix with the length
 *     field covering the attribute, FINGERPRINT (CRC-32 ^ 0x5354554e);
 *   - checks of MESSAGE-INTEGRITY(-SHA256) (constant-time) and FINGERPRINT;
 *   - ChannelData (RFC 8656 §12.4).
 *
 * Header-only and freestanding (no libc): the module includes it and
 * tests/unit/test_stun.c compiles the same code natively with the SDK (and
 * a native HMAC standing in for the node's crypto/1 imports). Nothing
 * allocates; nothing reads outside the lengths given, whatever the bytes.
 * Addresses are the SDK's struct ns_sockaddr (family NS_IPV4/NS_IPV6, port
 * in host order, address bytes in network order). */
#ifndef NETSERV_MODULES_STUN_H
#define NETSERV_MODULES_STUN_H

#include <netserv.h>

#define STUN_MAGIC     0x2112a442u
#define STUN_HDR       20
#define STUN_TID_LEN   12
#define STUN_FP_XOR    0x5354554eu
#define STUN_MI_LEN    20 /* HMAC-SHA1 */
#define STUN_MI256_LEN 32 /* HMAC-SHA256 (RFC 8489 allows 16..32, multiples of 4) */
#define STUN_MAX_ATTRS 64 /* attributes in one message (more: malformed) */
#define STUN_CD_HDR    4  /* ChannelData header */
#define STUN_CHAN_MIN  0x4000
#define STUN_CHAN_MAX                                                                              \
	0x7fff /* RFC 5766 (RFC 8656 narrowed it to 0x4fff; coturn uses the old range) */

/* Classes and methods. */
enum stun_class {
	STUN_REQUEST = 0,
	STUN_INDICATION = 1,
	STUN_SUCCESS = 2,
	STUN_ERROR = 3,
};

enum stun_method {
	STUN_BINDING = 0x001,
	TURN_ALLOCATE = 0x003,
	TURN_REFRESH = 0x004,
	TURN_SEND = 0x006,
	TURN_DATA = 0x007,
	TURN_CREATE_PERMISSION = 0x008,
	TURN_CHANNEL_BIND = 0x009,
};

/* Attribute types (RFC 8489 §18.3, RFC 8656 §18). Below 0x8000:
 * comprehension-required. */
enum stun_attr_type {
	STUN_A_MAPPED_ADDRESS = 0x0001,
	STUN_A_USERNAME = 0x0006,
	STUN_A_MESSAGE_INTEGRITY = 0x0008,
	STUN_A_ERROR_CODE = 0x0009,
	STUN_A_UNKNOWN_ATTRIBUTES = 0x000a,
	STUN_A_CHANNEL_NUMBER = 0x000c,
	STUN_A_LIFETIME = 0x000d,
	STUN_A_XOR_PEER_ADDRESS = 0x0012,
	STUN_A_DATA = 0x0013,
	STUN_A_REALM = 0x0014,
	STUN_A_NONCE = 0x0015,
	STUN_A_XOR_RELAYED_ADDRESS = 0x0016,
	STUN_A_REQUESTED_ADDRESS_FAMILY = 0x0017,
	STUN_A_EVEN_PORT = 0x0018,
	STUN_A_REQUESTED_TRANSPORT = 0x0019,
	STUN_A_DONT_FRAGMENT = 0x001a,
	STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001c,
	STUN_A_PASSWORD_ALGORITHM = 0x001d,
	STUN_A_USERHASH = 0x001e,
	STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
	STUN_A_RESERVATION_TOKEN = 0x0022,
	STUN_A_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	STUN_A_ADDRESS_ERROR_CODE = 0x8001,
	STUN_A_PASSWORD_ALGORITHMS = 0x8002,
	STUN_A_SOFTWARE = 0x8022,
	STUN_A_ALTERNATE_SERVER = 0x8023,
	STUN_A_FINGERPRINT = 0x8028,
	STUN_A_RESPONSE_ORIGIN = 0x802b,
	STUN_A_OTHER_ADDRESS = 0x802c,
};

/* Results of stun_parse (0 is success). */
enum stun_err {
	STUN_OK = 0,
	STUN_E_NOT_STUN = -1,    /* too short, top bits set, no magic cookie */
	STUN_E_LENGTH = -2,      /* the length field disagrees with the bytes */
	STUN_E_ATTR = -3,        /* an attribute runs past the end, or too many */
	STUN_E_INTEGRITY = -4,   /* MESSAGE-INTEGRITY(-SHA256) of a wrong size */
	STUN_E_FINGERPRINT = -5, /* FINGERPRINT of a wrong size or not last */
};

/* One attribute: its value is len bytes at val (padding not included);
 * off is the offset of its 4-byte header in the message. */
struct stun_attr {
	uint16_t type;
	uint16_t len;
	uint32_t off;
	const uint8_t *val;
};

/* A parsed message; pointers into the caller's buffer. */
struct stun_msg {
	uint8_t *buf;
	uint32_t len; /* 20 + the length field */
	uint16_t method;
	uint8_t cls; /* enum stun_class */
	const uint8_t *tid;
	uint32_t attrs_end; /* the attributes that count end here (MESSAGE-INTEGRITY or the end) */
	uint32_t mi_off, mi256_off, fp_off; /* offsets of those attributes, 0 if absent */
	uint16_t mi256_len;
};

/* --- message type ---------------------------------------------------------- */

static inline uint16_t stun_type(uint16_t method, uint8_t cls)
{
	return (uint16_t)((method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) |
	                  ((cls & 1) << 4) | ((cls & 2) << 7));
}

static inline uint16_t stun_type_method(uint16_t type)
{
	return (uint16_t)((type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2));
}

static inline uint8_t stun_type_class(uint16_t type)
{
	return (uint8_t)(((type >> 4) & 1) | ((type >> 7) & 2));
}

static inline uint32_t stun_pad4(uint32_t n)
{
	return (n + 3u) & ~3u;
}

/* --- framing --------------------------------------------------------------- */

/* The length of the STUN message or ChannelData frame at the start of buf
 * (avail bytes there so far). Over a stream (TCP) a ChannelData frame is
 * padded to 4 bytes (RFC 8656 §12.5); in a datagram the frame's length is
 * its header's (padding may follow). Returns the length (it may exceed
 * avail: wait for more), 0 when fewer than 4 bytes are there, or -1 when the
 * bytes are neither STUN nor ChannelData (a stream must then be closed). */
static inline int32_t stun_frame_len(const uint8_t *buf, uint32_t avail, bool stream)
{
	if (avail < 4)
		return 0;
	uint32_t n = ns_get_be16(buf + 2);
	switch (buf[0] >> 6) {
	case 0: /* STUN */
		if (n % 4)
			return -1;
		return (int32_t)(STUN_HDR + n);
	case 1: /* ChannelData */
		if (ns_get_be16(buf) > STUN_CHAN_MAX)
			return -1;
		return (int32_t)(STUN_CD_HDR + (stream ? stun_pad4(n) : n));
	default:
		return -1;
	}
}

/* Whether a datagram looks like STUN (first two bits 0 and the cookie). */
static inline bool stun_is_stun(const uint8_t *buf, uint32_t len)
{
	return len >= STUN_HDR && (buf[0] & 0xc0) == 0 && ns_get_be32(buf + 4) == STUN_MAGIC;
}

/* ChannelData: the channel number and the data (in a datagram of len
 * bytes, or a frame cut by stun_frame_len). Returns 0, or -1 if it is not
 * a ChannelData message (bad channel, length past the end). */
static inline int stun_cd_parse(const uint8_t *buf, uint32_t len, uint16_t *chan,
                                const uint8_t **data, uint16_t *dlen)
{
	if (len < STUN_CD_HDR)
		return -1;
	uint16_t c = ns_get_be16(buf), n = ns_get_be16(buf + 2);
	if (c < STUN_CHAN_MIN || c > STUN_CHAN_MAX || (uint32_t)n + STUN_CD_HDR > len)
		return -1;
	*chan = c;
	*data = buf + STUN_CD_HDR;
	*dlen = n;
	return 0;
}

/* Writes a ChannelData header for dlen bytes of data at out + 4 (out has cap
 * bytes). With pad (a stream), zero bytes up to a multiple of 4 follow.
 * Returns the frame's length or -1 when it does not fit. */
static inline int32_t stun_cd_build(uint8_t *out, uint32_t cap, uint16_t chan, uint32_t dlen,
                                    bool pad)
{
	uint32_t total = STUN_CD_HDR + (pad ? stun_pad4(dlen) : dlen);
	if (dlen > 0xffff || total > cap)
		return -1;
	ns_put_be16(out, chan);
	ns_put_be16(out + 2, (uint16_t)dlen);
	for (uint32_t i = STUN_CD_HDR + dlen; i < total; i++)
		out[i] = 0;
	return (int32_t)total;
}

/* --- parsing --------------------------------------------------------------- */

/* Parses the whole STUN message buf[0..len) (len: exactly 20 + its length
 * field; see stun_frame_len). The buffer is writable because the integrity
 * checks patch the length field for a moment (and put it back). */
static inline int stun_parse(uint8_t *buf, uint32_t len, struct stun_msg *m)
{
	if (len < STUN_HDR || (buf[0] & 0xc0) || ns_get_be32(buf + 4) != STUN_MAGIC)
		return STUN_E_NOT_STUN;
	uint32_t body = ns_get_be16(buf + 2);
	if (body % 4 || STUN_HDR + body != len)
		return STUN_E_LENGTH;
	uint16_t type = ns_get_be16(buf);
	m->buf = buf;
	m->len = len;
	m->method = stun_type_method(type);
	m->cls = stun_type_class(type);
	m->tid = buf + 8;
	m->attrs_end = len;
	m->mi_off = m->mi256_off = m->fp_off = 0;
	m->mi256_len = 0;
	uint32_t off = STUN_HDR, n = 0;
	while (off < len) {
		if (off + 4 > len || ++n > STUN_MAX_ATTRS)
			return STUN_E_ATTR;
		uint16_t at = ns_get_be16(buf + off), al = ns_get_be16(buf + off + 2);
		if (al > len - off - 4 || stun_pad4(al) > len - off - 4)
			return STUN_E_ATTR;
		if (m->fp_off)
			return STUN_E_FINGERPRINT; /* something after FINGERPRINT */
		if (at == STUN_A_MESSAGE_INTEGRITY && !m->mi_off && !m->mi256_off) {
			if (al != STUN_MI_LEN)
				return STUN_E_INTEGRITY;
			m->mi_off = off;
			m->attrs_end = off;
		} else if (at == STUN_A_MESSAGE_INTEGRITY_SHA256 && !m->mi256_off) {
			if (al < 16 || al > STUN_MI256_LEN || al % 4)
				return STUN_E_INTEGRITY;
			m->mi256_off = off;
			m->mi256_len = al;
			if (!m->mi_off)
				m->attrs_end = off;
		} else if (at == STUN_A_FINGERPRINT) {
			if (al != 4)
				return STUN_E_FINGERPRINT;
			m->fp_off = off;
			if (!m->mi_off && !m->mi256_off)
				m->attrs_end = off;
		}
		off += 4 + stun_pad4(al);
	}
	return STUN_OK;
}

/* Iterates the attributes that count (before MESSAGE-INTEGRITY): *pos
 * starts at 0. Returns false after the last. */
static inline bool stun_next(const struct stun_msg *m, uint32_t *pos, struct stun_attr *a)
{
	uint32_t off = *pos ? *pos : STUN_HDR;
	if (off + 4 > m->attrs_end)
		return false;
	a->type = ns_get_be16(m->buf + off);
	a->len = ns_get_be16(m->buf + off + 2);
	a->off = off;
	a->val = m->buf + off + 4;
	*pos = off + 4 + stun_pad4(a->len);
	return true;
}

/* The first attribute of a type (among those that count). */
static inline bool stun_find(const struct stun_msg *m, uint16_t type, struct stun_attr *a)
{
	uint32_t pos = 0;
	while (stun_next(m, &pos, a))
		if (a->type == type)
			return true;
	return false;
}

/* A 32-bit attribute (LIFETIME, REQUESTED-TRANSPORT's protocol in its
 * first byte, CHANNEL-NUMBER's number in its first two). */
static inline bool stun_get_u32(const struct stun_msg *m, uint16_t type, uint32_t *v)
{
	struct stun_attr a;
	if (!stun_find(m, type, &a) || a.len != 4)
		return false;
	*v = ns_get_be32(a.val);
	return true;
}

/* Decodes an address attribute's value (XORed with the cookie and the
 * transaction id if xor). Returns 0 or -1 (bad family or length). */
static inline int stun_addr_decode(const struct stun_attr *a, const uint8_t *tid, bool xor,
                                   struct ns_sockaddr *out)
{
	if (a->len < 4)
		return -1;
	uint8_t fam = a->val[1];
	uint32_t alen = fam == 1 ? 4 : fam == 2 ? 16 : 0;
	if (!alen || a->len != 4 + alen)
		return -1;
	uint8_t x[16];
	ns_put_be32(x, xor? STUN_MAGIC : 0);
	for (int i = 0; i < 12; i++)
		x[4 + i] = xor? tid[i] : 0;
	ns_memset(out, 0, sizeof(*out));
	out->family = fam == 1 ? NS_IPV4 : NS_IPV6;
	out->port = ns_get_be16(a->val + 2) ^ (xor? (STUN_MAGIC >> 16) : 0);
	for (uint32_t i = 0; i < alen; i++)
		out->addr[i] = a->val[4 + i] ^ x[i];
	return 0;
}

/* The first address attribute of a type, XORed ones decoded. */
static inline int stun_get_addr(const struct stun_msg *m, uint16_t type, struct ns_sockaddr *out)
{
	struct stun_attr a;
	if (!stun_find(m, type, &a))
		return -1;
	bool xor = type == STUN_A_XOR_MAPPED_ADDRESS || type == STUN_A_XOR_PEER_ADDRESS ||
	           type == STUN_A_XOR_RELAYED_ADDRESS;
	return stun_addr_decode(&a, m->tid, xor, out);
}

/* ERROR-CODE: the code (300..699) or -1. */
static inline int stun_get_error(const struct stun_msg *m)
{
	struct stun_attr a;
	if (!stun_find(m, STUN_A_ERROR_CODE, &a) || a.len < 4)
		return -1;
	int code = (a.val[2] & 7) * 100 + a.val[3];
	return code >= 300 && code <= 699 && a.val[3] < 100 ? code : -1;
}

/* --- integrity and fingerprint ---------------------------------------------- */

/* HMAC over buf[0..off) with the length field set as if the message ended
 * after the attribute at off (value vlen bytes), into out. */
static inline int32_t stun_hmac_prefix(uint8_t *buf, uint32_t off, uint32_t vlen,
                                       enum ns_hash_alg alg, const void *key, uint32_t key_len,
                                       uint8_t *out)
{
	uint16_t saved = ns_get_be16(buf + 2);
	ns_put_be16(buf + 2, (uint16_t)(off + 4 + vlen - STUN_HDR));
	int32_t r = ns_hmac(alg, key, key_len, buf, off, out);
	ns_put_be16(buf + 2, saved);
	return r;
}

/* Whether the message has a MESSAGE-INTEGRITY that key (the long-term key
 * MD5(user:realm:pass), or the short-term password) verifies. */
static inline bool stun_check_integrity(const struct stun_msg *m, const void *key, uint32_t key_len)
{
	uint8_t mac[NS_HASH_MAX];
	if (!m->mi_off || stun_hmac_prefix(m->buf, m->mi_off, STUN_MI_LEN, NS_SHA1, key, key_len,
	                                   mac) != STUN_MI_LEN)
		return false;
	return ns_ct_equal(mac, m->buf + m->mi_off + 4, STUN_MI_LEN);
}

/* The same for MESSAGE-INTEGRITY-SHA256 (its first mi256_len bytes). */
static inline bool stun_check_integrity_sha256(const struct stun_msg *m, const void *key,
                                               uint32_t key_len)
{
	uint8_t mac[NS_HASH_MAX];
	if (!m->mi256_off || stun_hmac_prefix(m->buf, m->mi256_off, m->mi256_len, NS_SHA256, key,
	                                      key_len, mac) != NS_SHA256_LEN)
		return false;
	return ns_ct_equal(mac, m->buf + m->mi256_off + 4, m->mi256_len);
}

/* Whether the FINGERPRINT, if any, is right (true without one). */
static inline bool stun_check_fingerprint(const struct stun_msg *m)
{
	if (!m->fp_off)
		return true;
	uint32_t crc = ns_crc32(0, m->buf, m->fp_off) ^ STUN_FP_XOR;
	return crc == ns_get_be32(m->buf + m->fp_off + 4);
}

/* The long-term credential key: MD5(user ":" realm ":" pass) into key (16
 * bytes). Returns 16, or -1 if the text does not fit the scratch buffer. */
static inline int32_t stun_long_term_key(const char *user, uint32_t ulen, const char *realm,
                                         uint32_t rlen, const char *pass, uint32_t plen,
                                         uint8_t key[NS_MD5_LEN])
{
	uint8_t s[800];
	if (ulen > 256 || rlen > 256 || plen > 256)
		return -1;
	uint32_t n = 0;
	ns_memcpy(s, user, ulen);
	n += ulen;
	s[n++] = ':';
	ns_memcpy(s + n, realm, rlen);
	n += rlen;
	s[n++] = ':';
	ns_memcpy(s + n, pass, plen);
	n += plen;
	return ns_hash(NS_MD5, s, n, key) == NS_MD5_LEN ? NS_MD5_LEN : -1;
}

/* --- building --------------------------------------------------------------- */

struct stun_builder {
	uint8_t *buf;
	uint32_t cap;
	uint32_t len;
	bool err; /* something did not fit: stun_end fails */
};

/* Starts a message of method/class with the transaction id tid (12 bytes). */
static inline void stun_begin(struct stun_builder *b, uint8_t *buf, uint32_t cap, uint16_t method,
                              uint8_t cls, const uint8_t *tid)
{
	b->buf = buf;
	b->cap = cap;
	b->len = STUN_HDR;
	b->err = cap < STUN_HDR;
	if (b->err)
		return;
	ns_put_be16(buf, stun_type(method, cls));
	ns_put_be16(buf + 2, 0);
	ns_put_be32(buf + 4, STUN_MAGIC);
	ns_memmove(buf + 8, tid, STUN_TID_LEN);
}

/* Reserves an attribute of vlen bytes (zero padding written) and sets the
 * length field; returns where its value goes, or NULL. */
static inline uint8_t *stun_reserve(struct stun_builder *b, uint16_t type, uint32_t vlen)
{
	uint32_t total = 4 + stun_pad4(vlen);
	if (b->err || vlen > 0xffff || total > b->cap - b->len ||
	    b->len + total - STUN_HDR > 0xffff) {
		b->err = true;
		return 0;
	}
	uint8_t *p = b->buf + b->len;
	ns_put_be16(p, type);
	ns_put_be16(p + 2, (uint16_t)vlen);
	for (uint32_t i = 4 + vlen; i < total; i++)
		p[i] = 0;
	b->len += total;
	ns_put_be16(b->buf + 2, (uint16_t)(b->len - STUN_HDR));
	return p + 4;
}

static inline void stun_put(struct stun_builder *b, uint16_t type, const void *val, uint32_t len)
{
	uint8_t *p = stun_reserve(b, type, len);
	if (p && len)
		ns_memmove(p, val, len);
}

static inline void stun_put_u32(struct stun_builder *b, uint16_t type, uint32_t v)
{
	uint8_t *p = stun_reserve(b, type, 4);
	if (p)
		ns_put_be32(p, v);
}

/* An address attribute (XORed with the cookie and the message's
 * transaction id if xor). */
static inline void stun_put_addr(struct stun_builder *b, uint16_t type, const struct ns_sockaddr *a,
                                 bool xor)
{
	uint32_t alen = a->family == NS_IPV6 ? 16 : 4;
	uint8_t *p = stun_reserve(b, type, 4 + alen);
	if (!p)
		return;
	uint8_t x[16];
	ns_put_be32(x, xor? STUN_MAGIC : 0);
	for (int i = 0; i < 12; i++)
		x[4 + i] = xor? b->buf[8 + i] : 0;
	p[0] = 0;
	p[1] = a->family == NS_IPV6 ? 2 : 1;
	ns_put_be16(p + 2, (uint16_t)(a->port ^ (xor? (STUN_MAGIC >> 16) : 0)));
	for (uint32_t i = 0; i < alen; i++)
		p[4 + i] = a->addr[i] ^ x[i];
}

/* ERROR-CODE with a reason phrase (a C string). */
static inline void stun_put_error(struct stun_builder *b, int code, const char *reason)
{
	uint32_t rlen = ns_strlen(reason);
	uint8_t *p = stun_reserve(b, STUN_A_ERROR_CODE, 4 + rlen);
	if (!p)
		return;
	p[0] = p[1] = 0;
	p[2] = (uint8_t)(code / 100);
	p[3] = (uint8_t)(code % 100);
	ns_memcpy(p + 4, reason, rlen);
}

/* MESSAGE-INTEGRITY (HMAC-SHA1 with key) over what is built so far. */
static inline void stun_put_integrity(struct stun_builder *b, const void *key, uint32_t key_len)
{
	uint32_t off = b->len;
	uint8_t *p = stun_reserve(b, STUN_A_MESSAGE_INTEGRITY, STUN_MI_LEN);
	uint8_t mac[NS_HASH_MAX];
	if (!p || ns_hmac(NS_SHA1, key, key_len, b->buf, off, mac) != STUN_MI_LEN) {
		b->err = true;
		return;
	}
	ns_memcpy(p, mac, STUN_MI_LEN);
}

/* MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256, 32 bytes) over what is built. */
static inline void stun_put_integrity_sha256(struct stun_builder *b, const void *key,
                                             uint32_t key_len)
{
	uint32_t off = b->len;
	uint8_t *p = stun_reserve(b, STUN_A_MESSAGE_INTEGRITY_SHA256, STUN_MI256_LEN);
	uint8_t mac[NS_HASH_MAX];
	if (!p || ns_hmac(NS_SHA256, key, key_len, b->buf, off, mac) != STUN_MI256_LEN) {
		b->err = true;
		return;
	}
	ns_memcpy(p, mac, STUN_MI256_LEN);
}

/* FINGERPRINT: the last attribute. */
static inline void stun_put_fingerprint(struct stun_builder *b)
{
	uint32_t off = b->len;
	uint8_t *p = stun_reserve(b, STUN_A_FINGERPRINT, 4);
	if (p)
		ns_put_be32(p, ns_crc32(0, b->buf, off) ^ STUN_FP_XOR);
}

/* The message's length, or -1 if something did not fit. */
static inline int32_t stun_end(const struct stun_builder *b)
{
	return b->err ? -1 : (int32_t)b->len;
}

#endif /* NETSERV_MODULES_STUN_H */
