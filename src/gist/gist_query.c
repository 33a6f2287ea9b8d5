/* The querying side of the handshake: discovery with Queries retransmitted
 * on a doubling back-off (T1, doubling up to T2, then no peer), the Confirm,
 * messages queued until a peer is known, C-mode when a message needs it, and
 * gist_send() (RFC 5971 appendix B SendMessage). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gist/gist_node_int.h"
#include "lib/evloop.h"

/* ---- querying ----------------------------------------------------------------- */

int gist_rs_send_query(struct gist_rs *rs)
{
	struct gist_node *n = rs->node;
	struct sockaddr_storage to;
	struct gist_msg m;
	uint8_t *qc;
	int r;

	gist_sa_set(&to, rs->mri.ipver == 6 ? AF_INET6 : AF_INET, rs->mri.dst.b, GIST_PORT);
	gist_msg_init(&m, GIST_QUERY, rs->nslpid);
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	            GIST_BIT(GIST_OBJ_QCOOKIE);
	m.mri = rs->mri;
	memcpy(m.sid, rs->sid, GIST_SID_LEN);
	r = gist_nli_toward(n, &to, GIST_NLI_TTL, &m.nli);
	if (r < 0)
		return r;
	/* A new cookie for every transmission (NSIS-ka); a Response may echo
	 * any of the last GIST_MAX_QCOOKIES. */
	qc = rs->qc[rs->n_qc % GIST_MAX_QCOOKIES];
	randombytes_buf(qc, GIST_QCOOKIE_LEN);
	rs->n_qc++;
	m.qcookie.p = qc;
	m.qcookie.len = GIST_QCOOKIE_LEN;
	if (rs->cmode) {
		/* Stack-Proposal {TCP}; Stack-Configuration-Data: the MA hold
		 * time and an option without data (NSIS-ka's form). */
		m.present |= GIST_BIT(GIST_OBJ_SP) | GIST_BIT(GIST_OBJ_SCD);
		m.sp.n = 1;
		m.sp.prof[0].n = 1;
		m.sp.prof[0].proto[0] = GIST_MA_TCP;
		m.scd.n = 1;
		m.scd.ma_hold = n->cfg.ma_hold_ms;
		m.scd.mpo[0].proto = GIST_MA_TCP;
		m.scd.mpo[0].profile = 1;
	}
	r = gist_udp_send(n, &to, &m,
	                  rs->mri.ipver == 6 ? n->cfg.router_alert6 : n->cfg.router_alert);
	if (r < 0)
		return r;
	n->st.queries_sent++;
	return 0;
}

void gist_rs_query_start(struct gist_rs *rs)
{
	struct gist_node *n = rs->node;
	int r;

	rs->querying = true;
	rs->n_qc = 0;
	rs->retx_ms = n->cfg.t1_ms;
	rs->retx_at = evloop_now_ms() + rs->retx_ms;
	r = gist_rs_send_query(rs);
	if (r < 0) {
		char how[64];
		snprintf(how, sizeof(how), "cannot send a Query: %s", strerror(-r));
		gist_rs_failed(rs, how);
		return;
	}
	gist_rs_arm(rs);
}

bool gist_rs_qcookie_ok(const struct gist_rs *rs, struct gist_bytes c)
{
	unsigned n = rs->n_qc < GIST_MAX_QCOOKIES ? rs->n_qc : GIST_MAX_QCOOKIES;

	if (!rs->querying || c.len != GIST_QCOOKIE_LEN)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (sodium_memcmp(rs->qc[i], c.p, GIST_QCOOKIE_LEN) == 0)
			return true;
	return false;
}

void gist_rs_last_node(struct gist_rs *rs, const char *how, enum gist_ln_why why)
{
	struct gist_node *n = rs->node;

	rs->querying = false;
	gist_rs_down_drop(rs);
	/* Remembered for a refresh period: sends in the meantime get
	 * GIST_LAST_NODE at once. */
	rs->down_state = GIST_DOWN_LAST;
	rs->down_until = evloop_now_ms() + n->cfg.refresh_ms;
	if (why == GIST_LN_ICMP)
		n->st.last_node_icmp++;
	else if (why == GIST_LN_TIMEOUT)
		n->st.last_node_timeout++;
	gist_rs_queue_fail(rs, GIST_LAST_NODE, how);
	gist_rs_arm(rs);
}

void gist_rs_failed(struct gist_rs *rs, const char *how)
{
	rs->querying = false;
	gist_rs_down_drop(rs);
	gist_rs_queue_fail(rs, GIST_FAILED, how);
	gist_rs_arm(rs);
}

static int send_data(struct gist_rs *rs, struct gist_peer *p, bool upstream, const uint8_t *data,
                     size_t len, uint32_t handle, char *err, size_t errlen)
{
	struct gist_node *n = rs->node;
	struct gist_msg m;
	bool tcp = p->ma && gist_ma_usable(p->ma);
	int r;

	gist_msg_init(&m, GIST_DATA, rs->nslpid);
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NSLP);
	m.mri = rs->mri;
	if (upstream)
		m.mri.flags |= GIST_MRI_D;
	memcpy(m.sid, rs->sid, GIST_SID_LEN);
	m.nslp.p = data;
	m.nslp.len = len;
	if (!tcp) {
		/* D-mode Data carries our NLI; over TCP it does not (NSIS-ka). */
		r = gist_nli_toward(n, &p->addr, GIST_NLI_TTL, &m.nli);
		if (r < 0)
			return err_set(err, errlen, r, "no route to the peer: %s", strerror(-r));
		m.present |= GIST_BIT(GIST_OBJ_NLI);
	}
	r = gist_peer_send(n, p, &m, rs->nslpid, handle, err, errlen);
	if (r < 0)
		return r;
	n->st.data_sent++;
	return 0;
}

/* Sends what waited for the discovery. */
static void queue_flush(struct gist_rs *rs)
{
	struct gist_node *n = rs->node;
	struct gist_qmsg *keep = NULL, **keep_tail = &keep;
	char err[GIST_ERR_LEN];

	while (rs->queue) {
		struct gist_qmsg *q = rs->queue;
		rs->queue = q->next;
		q->next = NULL;
		bool big = q->len > n->cfg.datagram_max;
		if (big && !(rs->down.ma && gist_ma_usable(rs->down.ma)) && rs->need_cmode) {
			*keep_tail = q; /* wait for the C-mode Query */
			keep_tail = &q->next;
			continue;
		}
		/* Large and the peer offers no MA: one datagram all the same
		 * (IP fragments it), rather than nothing. */
		if (send_data(rs, &rs->down, false, q->data, q->len, q->handle, err, sizeof(err)) <
		    0) {
			gist_status_push(n, rs->nslpid, q->handle, GIST_FAILED, err);
		}
		rs->n_queue--;
		rs->queue_bytes -= q->len;
		free(q);
	}
	rs->queue = keep;
	rs->queue_tail = keep ? keep_tail : &rs->queue;
}

void gist_rs_response(struct gist_rs *rs, const struct gist_msg *m,
                      const struct sockaddr_storage *from, struct gist_ma *ma)
{
	struct gist_node *n = rs->node;
	struct gist_peer *d = &rs->down;
	static const uint8_t tcp_only[] = {GIST_MA_TCP};
	uint16_t tcp_port = 0;
	bool changed;

	/* The MA: the port of the responder's {TCP} profile, by the options'
	 * Profile tags (never the port of another profile, e.g. its TLS one).
	 * TLS, once implemented, is chosen here the same way. */
	if ((m->present & GIST_BIT(GIST_OBJ_SP)) && (m->present & GIST_BIT(GIST_OBJ_SCD)) &&
	    gist_scd_choose(&m->sp, &m->scd, tcp_only, 1, &tcp_port) < 0)
		tcp_port = 0;

	struct sockaddr_storage addr;
	gist_sa_set(&addr, m->nli.ipver == 6 ? AF_INET6 : AF_INET, m->nli.if_addr.b,
	            ma ? (d->valid ? gist_sa_port(&d->addr) : GIST_PORT) : gist_sa_port(from));
	changed = !d->valid || !gist_sa_equal(&d->addr, &addr) || d->id_len != m->nli.pi.len ||
	          memcmp(d->id, m->nli.pi.p, m->nli.pi.len) != 0;
	if (changed)
		gist_peer_clear(d);
	d->valid = true;
	d->addr = addr;
	d->id_len = (uint8_t)m->nli.pi.len;
	memcpy(d->id, m->nli.pi.p, m->nli.pi.len);
	d->rs_validity = m->nli.rs_validity;
	if (tcp_port)
		d->tcp_port = tcp_port;
	if (ma)
		gist_peer_set_ma(d, ma);
	n->st.responses++;

	bool proposed = rs->cmode;
	rs->querying = false;
	rs->cmode = false;
	rs->down_state = GIST_DOWN_ESTABLISHED;
	rs->refresh_at = evloop_now_ms() + gist_rs_refresh_period(rs);

	/* C-mode if a waiting message needs it and the peer offers TCP. */
	bool need_c = false;
	for (struct gist_qmsg *q = rs->queue; q; q = q->next)
		need_c |= q->len > n->cfg.datagram_max;
	bool setup_ma = false;
	if (need_c && !(d->ma && gist_ma_usable(d->ma)) && d->tcp_port) {
		struct sockaddr_storage tp = d->addr;
		struct gist_ma *nma;
		gist_sa_set(&tp, gist_sa_family(&d->addr), gist_sa_addr(&d->addr), d->tcp_port);
		/* A port whose new MA was just reset: D-mode this time. */
		if (!gist_ma_bad(n, &tp) && gist_ma_open(n, &tp, &nma) == 0) {
			gist_peer_set_ma(d, nma);
			gist_ma_peer_info(nma,
			                  m->present & GIST_BIT(GIST_OBJ_SCD) ? m->scd.ma_hold : 0);
			setup_ma = true;
		}
	}
	rs->need_cmode = need_c && !(d->ma && gist_ma_usable(d->ma)) && !proposed;

	if (m->hdr.flags & GIST_F_R) {
		struct gist_msg c;
		gist_msg_init(&c, GIST_CONFIRM, rs->nslpid);
		c.present =
		        GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI);
		c.mri = rs->mri;
		memcpy(c.sid, rs->sid, GIST_SID_LEN);
		if (gist_nli_toward(n, &d->addr, GIST_NLI_TTL, &c.nli) == 0) {
			if (m->present & GIST_BIT(GIST_OBJ_RCOOKIE)) {
				c.present |= GIST_BIT(GIST_OBJ_RCOOKIE);
				c.rcookie = m->rcookie;
				/* Over a new MA: echo the Response's Stack-Proposal,
				 * SCD with no options and our hold time (NSIS-ka). */
				if (setup_ma && (m->present & GIST_BIT(GIST_OBJ_SP))) {
					c.present |= GIST_BIT(GIST_OBJ_SP) | GIST_BIT(GIST_OBJ_SCD);
					c.sp = m->sp;
					c.scd.n = 0;
					c.scd.ma_hold = n->cfg.ma_hold_ms;
				}
			}
			gist_peer_send(n, d, &c, rs->nslpid, 0, NULL, 0);
		}
	}
	queue_flush(rs);
	if (rs->need_cmode) {
		rs->cmode = true;
		gist_rs_query_start(rs);
		return;
	}
	gist_rs_arm(rs);
}

/* The back-off interval that just ended was the last one: no peer. */
void gist_rs_query_timeout(struct gist_rs *rs)
{
	if (rs->down_state == GIST_DOWN_ESTABLISHED && !rs->queue) {
		/* A refresh nobody answered: the peer is gone. */
		rs->querying = false;
		gist_rs_down_drop(rs);
		gist_rs_arm(rs);
		return;
	}
	gist_rs_last_node(rs, "timeout", GIST_LN_TIMEOUT);
}

/* ---- SendMessage -------------------------------------------------------------- */

static int enqueue(struct gist_rs *rs, const uint8_t *data, size_t len, uint32_t handle, char *err,
                   size_t errlen)
{
	struct gist_qmsg *q;

	if (rs->n_queue >= GIST_QUEUE_MAX || rs->queue_bytes + len > GIST_QUEUE_BYTES)
		return err_set(err, errlen, -ENOBUFS,
		               "too many messages waiting for the discovery of a peer");
	q = malloc(sizeof(*q) + len);
	if (!q)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	q->next = NULL;
	q->handle = handle;
	q->len = len;
	memcpy(q->data, data, len);
	*rs->queue_tail = q;
	rs->queue_tail = &q->next;
	rs->n_queue++;
	rs->queue_bytes += len;
	return 0;
}

static int send_up(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
                   const struct gist_mri *mri, const uint8_t *data, size_t len, uint32_t handle,
                   char *err, size_t errlen)
{
	struct gist_rs *rs = gist_rs_find(n, nslpid, sid, mri);

	/* The state of the session's first message, even if the NSLP names
	 * the flow a little differently. */
	if (!rs || !rs->up.valid)
		rs = gist_rs_find_up(n, nslpid, sid);
	if (!rs)
		return err_set(err, errlen, -ENOENT, "no routing state upstream for this session");
	/* Only the querier opens MAs: a large message upstream without one
	 * goes as one (IP-fragmented) datagram. */
	rs->last_used = evloop_now_ms();
	return send_data(rs, &rs->up, true, data, len, handle, err, errlen);
}

int gist_send(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
              const struct gist_flow *flow, const uint8_t *data, size_t len, uint32_t *handle,
              char *err, size_t errlen)
{
	struct gist_mri mri;
	struct gist_rs *rs;
	uint32_t h;
	int r;

	if (!n || !sid || !flow || !data || !handle)
		return err_set(err, errlen, -EINVAL, "missing argument");
	if (!gist_reg_find(n, nslpid))
		return err_set(err, errlen, -ENOENT, "NSLPID %u is not registered", nslpid);
	if (len == 0 || len % 4)
		return err_set(err, errlen, -EINVAL,
		               "NSLP data must be a non-empty multiple of 4 bytes (%zu)", len);
	if (len > GIST_MAX_OBJ)
		return err_set(err, errlen, -EMSGSIZE,
		               "NSLP data of %zu bytes exceeds the %u of one GIST object", len,
		               GIST_MAX_OBJ);
	if (gist_flow_to_mri(flow, &mri) < 0)
		return err_set(err, errlen, -EINVAL,
		               "bad flow (family, prefix, or ports without protocol)");
	if ((mri.ipver == 6 ? n->udp6 : n->udp4) < 0)
		return err_set(err, errlen, -EAFNOSUPPORT, "no IPv%u socket", mri.ipver);
	h = gist_new_handle(n);
	if (flow->upstream) {
		r = send_up(n, nslpid, sid, &mri, data, len, h, err, errlen);
		if (r < 0)
			return r;
		*handle = h;
		return 0;
	}

	rs = gist_rs_get(n, nslpid, sid, &mri);
	if (!rs)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	rs->last_used = evloop_now_ms();
	bool big = len > n->cfg.datagram_max;
	switch (rs->down_state) {
	case GIST_DOWN_LAST:
		gist_status_push(n, nslpid, h, GIST_LAST_NODE, "last node (remembered)");
		break;
	case GIST_DOWN_ESTABLISHED:
		if (big && !(rs->down.ma && gist_ma_usable(rs->down.ma)) && rs->down.tcp_port) {
			struct sockaddr_storage tp;
			struct gist_ma *ma;
			gist_sa_set(&tp, gist_sa_family(&rs->down.addr),
			            gist_sa_addr(&rs->down.addr), rs->down.tcp_port);
			if (!gist_ma_bad(n, &tp) && gist_ma_open(n, &tp, &ma) == 0)
				gist_peer_set_ma(&rs->down, ma);
		}
		if (!big || (rs->down.ma && gist_ma_usable(rs->down.ma))) {
			r = send_data(rs, &rs->down, false, data, len, h, err, errlen);
			if (r < 0) {
				gist_rs_arm(rs);
				return r;
			}
			break;
		}
		/* Large and no MA: a Query proposing C-mode first. */
		r = enqueue(rs, data, len, h, err, errlen);
		if (r < 0)
			return r;
		if (!rs->querying) {
			rs->cmode = true;
			gist_rs_query_start(rs);
		} else if (!rs->cmode) {
			rs->need_cmode = true;
		}
		break;
	case GIST_DOWN_NONE:
		r = enqueue(rs, data, len, h, err, errlen);
		if (r < 0) {
			gist_rs_arm(rs);
			return r;
		}
		if (!rs->querying) {
			rs->cmode = big;
			gist_rs_query_start(rs);
		} else if (big && !rs->cmode) {
			rs->need_cmode = true;
		}
		break;
	}
	gist_rs_arm(rs);
	*handle = h;
	return 0;
}
