/* Routing state per (MRI, NSLPID, SID): the table, the timer of each state
 * (retransmission, refresh, expiry), and peers going away. The querying
 * side is in gist_query.c, the responding side in gist_input.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gist/gist_node_int.h"
#include "lib/evloop.h"

/* ---- the table ---------------------------------------------------------------- */

int gist_rs_key(const struct gist_mri *mri, uint8_t key[GIST_MRI_MAX_LEN], uint8_t *key_len)
{
	struct gist_mri m = *mri;
	ssize_t len;

	m.flags &= (uint16_t)~GIST_MRI_D;
	len = gist_mri_encode(&m, key, GIST_MRI_MAX_LEN);
	if (len < 0)
		return (int)len;
	*key_len = (uint8_t)len;
	return 0;
}

static uint32_t hash_of(uint16_t nslpid, const uint8_t sid[16], const uint8_t *key, size_t klen)
{
	uint32_t h = 2166136261u ^ nslpid;

	for (size_t i = 0; i < GIST_SID_LEN; i++)
		h = (h ^ sid[i]) * 16777619u;
	for (size_t i = 0; i < klen; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

struct gist_rs *gist_rs_find(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
                             const struct gist_mri *mri)
{
	uint8_t key[GIST_MRI_MAX_LEN], klen = 0;
	uint32_t h;

	if (gist_rs_key(mri, key, &klen) < 0)
		return NULL;
	h = hash_of(nslpid, sid, key, klen);
	for (struct gist_rs *rs = n->rs[h % GIST_RS_BUCKETS]; rs; rs = rs->next)
		if (rs->hash == h && rs->nslpid == nslpid && rs->key_len == klen &&
		    memcmp(rs->sid, sid, GIST_SID_LEN) == 0 && memcmp(rs->key, key, klen) == 0)
			return rs;
	return NULL;
}

struct gist_rs *gist_rs_get(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
                            const struct gist_mri *mri)
{
	struct gist_rs *rs = gist_rs_find(n, nslpid, sid, mri);

	if (rs)
		return rs;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return NULL;
	if (gist_rs_key(mri, rs->key, &rs->key_len) < 0) {
		free(rs);
		return NULL;
	}
	rs->node = n;
	rs->nslpid = nslpid;
	memcpy(rs->sid, sid, GIST_SID_LEN);
	rs->mri = *mri;
	rs->mri.flags &= (uint16_t)~GIST_MRI_D;
	rs->hash = hash_of(nslpid, sid, rs->key, rs->key_len);
	rs->queue_tail = &rs->queue;
	rs->next = n->rs[rs->hash % GIST_RS_BUCKETS];
	n->rs[rs->hash % GIST_RS_BUCKETS] = rs;
	n->st.routing_states++;
	return rs;
}

struct gist_rs *gist_rs_find_up(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16])
{
	for (size_t b = 0; b < GIST_RS_BUCKETS; b++)
		for (struct gist_rs *rs = n->rs[b]; rs; rs = rs->next)
			if (rs->nslpid == nslpid && rs->up.valid &&
			    memcmp(rs->sid, sid, GIST_SID_LEN) == 0)
				return rs;
	return NULL;
}

void gist_rs_foreach(struct gist_node *n, void (*fn)(struct gist_rs *rs, void *ctx), void *ctx)
{
	for (size_t b = 0; b < GIST_RS_BUCKETS; b++)
		for (struct gist_rs *rs = n->rs[b]; rs; rs = rs->next)
			fn(rs, ctx);
}

void gist_peer_set_ma(struct gist_peer *p, struct gist_ma *ma)
{
	if (p->ma == ma)
		return;
	if (ma)
		gist_ma_ref(ma);
	if (p->ma)
		gist_ma_unref(p->ma);
	p->ma = ma;
}

void gist_peer_clear(struct gist_peer *p)
{
	gist_peer_set_ma(p, NULL);
	memset(p, 0, sizeof(*p));
}

void gist_rs_queue_fail(struct gist_rs *rs, enum gist_status st, const char *how)
{
	while (rs->queue) {
		struct gist_qmsg *q = rs->queue;
		rs->queue = q->next;
		gist_status_push(rs->node, rs->nslpid, q->handle, st, how);
		free(q);
	}
	rs->queue_tail = &rs->queue;
	rs->n_queue = 0;
	rs->queue_bytes = 0;
}

static void rs_free(struct gist_rs *rs)
{
	struct gist_node *n = rs->node;
	struct gist_rs **pp = &n->rs[rs->hash % GIST_RS_BUCKETS];

	while (*pp && *pp != rs)
		pp = &(*pp)->next;
	if (*pp)
		*pp = rs->next;
	rs->timer = evloop_timer_cancel(n->loop, rs->timer);
	gist_rs_queue_fail(rs, GIST_FAILED, "node shut down");
	gist_peer_clear(&rs->up);
	gist_peer_clear(&rs->down);
	n->st.routing_states--;
	free(rs);
}

void gist_rs_free_all(struct gist_node *n)
{
	for (size_t b = 0; b < GIST_RS_BUCKETS; b++)
		while (n->rs[b])
			rs_free(n->rs[b]);
}

static bool rs_empty(const struct gist_rs *rs)
{
	return !rs->up.valid && rs->down_state == GIST_DOWN_NONE && !rs->querying && !rs->queue;
}

/* ---- timers ------------------------------------------------------------------- */

static void rs_timer(struct evloop *loop, void *ctx);

void gist_rs_down_drop(struct gist_rs *rs)
{
	gist_peer_clear(&rs->down);
	rs->down_state = GIST_DOWN_NONE;
}

uint32_t gist_rs_refresh_period(const struct gist_rs *rs)
{
	uint32_t p = rs->node->cfg.refresh_ms;

	if (rs->down.rs_validity && rs->down.rs_validity < p)
		p = rs->down.rs_validity;
	/* Refresh at half the validity, with up to 1/8 of jitter. */
	return p / 2 + randombytes_uniform(p / 8 + 1);
}

void gist_rs_arm(struct gist_rs *rs)
{
	struct gist_node *n = rs->node;
	uint64_t at = UINT64_MAX, now = evloop_now_ms();

	if (rs_empty(rs)) {
		at = now; /* free it from the timer, never under a caller's feet */
	} else {
		if (rs->querying && rs->retx_at < at)
			at = rs->retx_at;
		if (rs->down_state == GIST_DOWN_ESTABLISHED && !rs->querying && rs->refresh_at < at)
			at = rs->refresh_at;
		if (rs->down_state == GIST_DOWN_LAST && rs->down_until < at)
			at = rs->down_until;
		if (rs->up.valid && rs->up.expires < at)
			at = rs->up.expires;
	}
	if (rs->timer && rs->timer_at == at)
		return;
	rs->timer = evloop_timer_cancel(n->loop, rs->timer);
	if (at == UINT64_MAX)
		return;
	rs->timer_at = at;
	rs->timer = evloop_timer_add(n->loop, at > now ? at - now : 0, rs_timer, rs);
}

static void rs_timer(struct evloop *loop, void *ctx)
{
	struct gist_rs *rs = ctx;
	struct gist_node *n = rs->node;
	uint64_t now = evloop_now_ms();

	rs->timer = NULL;
	if (rs->querying && now >= rs->retx_at) {
		if (rs->retx_ms >= n->cfg.t2_ms) {
			gist_rs_query_timeout(rs);
		} else {
			int r;
			rs->retx_ms *= 2;
			if (rs->retx_ms > n->cfg.t2_ms)
				rs->retx_ms = n->cfg.t2_ms;
			rs->retx_at = now + rs->retx_ms;
			n->st.retransmissions++;
			r = gist_rs_send_query(rs);
			if (r < 0) {
				char how[64];
				snprintf(how, sizeof(how), "cannot send a Query: %s", strerror(-r));
				gist_rs_failed(rs, how);
			}
		}
	}
	if (rs->down_state == GIST_DOWN_ESTABLISHED && !rs->querying && now >= rs->refresh_at) {
		if (now - rs->last_used > (uint64_t)GIST_IDLE_REFRESH * n->cfg.refresh_ms) {
			gist_rs_down_drop(rs); /* nobody uses it: let it lapse */
		} else {
			rs->cmode = rs->down.ma != NULL;
			gist_rs_query_start(rs);
		}
	}
	if (rs->down_state == GIST_DOWN_LAST && now >= rs->down_until)
		rs->down_state = GIST_DOWN_NONE;
	if (rs->up.valid && now >= rs->up.expires)
		gist_peer_clear(&rs->up);
	if (rs_empty(rs)) {
		rs_free(rs);
		return;
	}
	gist_rs_arm(rs);
}

/* ---- peers going away --------------------------------------------------------- */

void gist_rs_ma_gone(struct gist_node *n, struct gist_ma *ma, bool failed_new)
{
	for (size_t b = 0; b < GIST_RS_BUCKETS; b++)
		for (struct gist_rs *rs = n->rs[b]; rs; rs = rs->next) {
			if (rs->up.ma == ma)
				gist_peer_set_ma(&rs->up, NULL);
			if (rs->down.ma != ma)
				continue;
			gist_peer_set_ma(&rs->down, NULL);
			if (failed_new && !rs->querying) {
				/* The Confirm went down with it: the responder has no
				 * state for us; the next send discovers again. */
				gist_rs_down_drop(rs);
				gist_rs_arm(rs);
			}
		}
}

void gist_rs_peer_gone(struct gist_node *n, const struct sockaddr_storage *addr)
{
	for (size_t b = 0; b < GIST_RS_BUCKETS; b++)
		for (struct gist_rs *rs = n->rs[b]; rs; rs = rs->next) {
			if (rs->down.valid && !rs->down.ma && gist_sa_equal(&rs->down.addr, addr) &&
			    !rs->querying) {
				gist_rs_down_drop(rs);
				gist_rs_arm(rs);
			}
			if (rs->up.valid && !rs->up.ma && gist_sa_equal(&rs->up.addr, addr)) {
				gist_peer_clear(&rs->up);
				gist_rs_arm(rs);
			}
		}
}
