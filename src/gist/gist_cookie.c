/* The Responder-Cookie (RFC 5971 8.5): the responder keeps no state for a
 * Query; it puts what it needs into the cookie of its Response and checks
 * the cookie when the Confirm echoes it.
 *
 * Layout (32 bytes, whole words; NSIS-ka's is 28: generation | interface |
 * NAT length | SHA-1):
 *
 *   generation (4) | incoming ifindex (2) | Query's UDP source port (2)
 *   Query's GIST hops (1) | Query's IP TTL (1) | reserved (2)
 *   MAC (20): keyed BLAKE2b (libsodium crypto_generichash) under the secret
 *             of that generation, over the 12 bytes above, the NSLPID, the
 *             Session ID, the Query's MRI (canonical bytes), and the
 *             querier's NLI: IP version, interface address, Peer Identity
 *             without trailing NUL bytes (a relay that re-pads the Peer
 *             Identity to 4 bytes, as NSIS-ka does, changes only those:
 *             "nsq" in the Confirm, "nsq\0" in the Query we answered).
 *
 * Two secrets are valid at a time: the current one and the one before;
 * they rotate every period_ms (GIST_COOKIE_PERIOD), so a Confirm has at
 * least that long to come back. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "gist/gist_node_int.h"

#define MAC_LEN  20
#define HEAD_LEN 12

static void rotate(struct gist_cookie_ctx *c, uint64_t now)
{
	if (now - c->rotated_at < c->period_ms)
		return;
	/* Long idle: both secrets are stale; one new one is enough (the older
	 * generation's secret is never used again after two rotations). */
	if (now - c->rotated_at >= 2ull * c->period_ms) {
		c->gen++;
		randombytes_buf(c->secret[c->gen & 1], sizeof(c->secret[0]));
	}
	c->gen++;
	randombytes_buf(c->secret[c->gen & 1], sizeof(c->secret[0]));
	c->rotated_at = now;
}

void gist_cookie_init(struct gist_cookie_ctx *c, uint32_t period_ms, uint64_t now)
{
	memset(c, 0, sizeof(*c));
	c->period_ms = period_ms ? period_ms : GIST_COOKIE_PERIOD;
	c->gen = randombytes_uniform(0x7fffffff);
	randombytes_buf(c->secret[0], sizeof(c->secret[0]));
	randombytes_buf(c->secret[1], sizeof(c->secret[1]));
	c->rotated_at = now;
}

static void mac(const uint8_t secret[32], const uint8_t head[HEAD_LEN],
                const struct gist_cookie_in *in, uint8_t out[MAC_LEN])
{
	crypto_generichash_state st;
	uint8_t mri[GIST_MRI_MAX_LEN], b[4];
	ssize_t mlen = gist_mri_encode(in->mri, mri, sizeof(mri));
	size_t alen = in->nli->ipver == 6 ? 16 : 4;

	if (mlen < 0)
		mlen = 0; /* an MRI that does not encode was refused before */
	crypto_generichash_init(&st, secret, 32, MAC_LEN);
	crypto_generichash_update(&st, head, HEAD_LEN);
	b[0] = (uint8_t)(in->nslpid >> 8);
	b[1] = (uint8_t)in->nslpid;
	b[2] = (uint8_t)mlen;
	b[3] = in->nli->ipver;
	crypto_generichash_update(&st, b, 4);
	crypto_generichash_update(&st, in->sid, GIST_SID_LEN);
	crypto_generichash_update(&st, mri, (size_t)mlen);
	crypto_generichash_update(&st, in->nli->if_addr.b, alen);
	size_t pil = in->nli->pi.p ? in->nli->pi.len : 0;
	while (pil && in->nli->pi.p[pil - 1] == 0)
		pil--;
	b[0] = (uint8_t)pil;
	crypto_generichash_update(&st, b, 1);
	if (pil)
		crypto_generichash_update(&st, in->nli->pi.p, pil);
	crypto_generichash_final(&st, out, MAC_LEN);
}

static void head_put(uint8_t h[HEAD_LEN], uint32_t gen, const struct gist_cookie_in *in)
{
	h[0] = (uint8_t)(gen >> 24);
	h[1] = (uint8_t)(gen >> 16);
	h[2] = (uint8_t)(gen >> 8);
	h[3] = (uint8_t)gen;
	h[4] = (uint8_t)(in->ifindex >> 8);
	h[5] = (uint8_t)in->ifindex;
	h[6] = (uint8_t)(in->port >> 8);
	h[7] = (uint8_t)in->port;
	h[8] = in->hops;
	h[9] = in->ttl;
	h[10] = 0;
	h[11] = 0;
}

void gist_cookie_make(struct gist_cookie_ctx *c, uint64_t now, const struct gist_cookie_in *in,
                      uint8_t out[GIST_RCOOKIE_LEN])
{
	rotate(c, now);
	head_put(out, c->gen, in);
	mac(c->secret[c->gen & 1], out, in, out + HEAD_LEN);
}

int gist_cookie_check(struct gist_cookie_ctx *c, uint64_t now, struct gist_cookie_in *in,
                      const uint8_t *cookie, size_t len)
{
	uint8_t want[MAC_LEN];
	uint32_t gen;

	if (len != GIST_RCOOKIE_LEN)
		return -EBADMSG;
	rotate(c, now);
	gen = (uint32_t)cookie[0] << 24 | (uint32_t)cookie[1] << 16 | (uint32_t)cookie[2] << 8 |
	      cookie[3];
	if (gen != c->gen && gen != c->gen - 1)
		return -ESTALE;
	mac(c->secret[gen & 1], cookie, in, want);
	if (sodium_memcmp(want, cookie + HEAD_LEN, MAC_LEN) != 0)
		return -EBADMSG;
	in->ifindex = (uint16_t)(cookie[4] << 8 | cookie[5]);
	in->port = (uint16_t)(cookie[6] << 8 | cookie[7]);
	in->hops = cookie[8];
	in->ttl = cookie[9];
	return 0;
}
