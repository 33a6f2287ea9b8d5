/* What arrives at a GIST node: the responding side of the handshake (a
 * stateless Response with a Responder-Cookie; routing state only at the
 * Confirm), Data, Errors, MA-Hellos, and ICMP port unreachable about our
 * own Queries (last-node detection). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gist/gist_node_int.h"
#include "lib/evloop.h"

static void error_reply(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx,
                        const struct sockaddr_storage *to, uint8_t eclass, uint16_t code,
                        uint8_t subcode)
{
	struct gist_err ge;

	gist_err_from_msg(&ge, m, rx->transport, eclass, code, subcode);
	gist_send_error(n, rx, to, &ge);
}

/* The querier's D-mode address: its NLI interface address and the Query's
 * UDP source port. */
static void nli_addr(const struct gist_nli *nli, uint16_t port, struct sockaddr_storage *ss)
{
	gist_sa_set(ss, nli->ipver == 6 ? AF_INET6 : AF_INET, nli->if_addr.b, port);
}

void gist_deliver(struct gist_node *n, struct gist_rs *rs, const struct gist_msg *m,
                  const struct gist_rx *rx, const struct gist_peer *peer, bool first)
{
	struct gist_reg *reg = gist_reg_find(n, m->hdr.nslpid);
	struct gist_recv_info info;

	if (!reg || !(m->present & GIST_BIT(GIST_OBJ_NSLP)) || !m->nslp.len)
		return;
	memset(&info, 0, sizeof(info));
	info.nslpid = m->hdr.nslpid;
	memcpy(info.sid, m->sid, GIST_SID_LEN);
	gist_mri_to_flow(&m->mri, &info.flow);
	if (peer && peer->valid) {
		info.peer = peer->addr;
		info.peer_id_len =
		        peer->id_len < sizeof(info.peer_id) ? peer->id_len : sizeof(info.peer_id);
		memcpy(info.peer_id, peer->id, info.peer_id_len);
	} else {
		info.peer = rx->ma ? *gist_ma_peer(rx->ma) : rx->src;
	}
	if (m->present & GIST_BIT(GIST_OBJ_NLI)) {
		info.peer_id_len =
		        m->nli.pi.len < sizeof(info.peer_id) ? m->nli.pi.len : sizeof(info.peer_id);
		memcpy(info.peer_id, m->nli.pi.p, info.peer_id_len);
	}
	info.ip_ttl = rx->ttl;
	info.gist_hops = m->hdr.hops;
	info.first = first;
	if (first && rs && m->hdr.type != GIST_QUERY) {
		/* The session's first message: report the discovering Query's. */
		info.ip_ttl = rs->q_ttl;
		info.gist_hops = rs->q_hops;
	}
	if (rs)
		rs->last_used = evloop_now_ms();
	n->st.data_received++;
	reg->recv(reg->ctx, &info, m->nslp.p, m->nslp.len);
}

/* ---- the responding side ------------------------------------------------------ */

static void on_query(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx)
{
	struct sockaddr_storage to;
	struct gist_msg r;
	uint8_t cookie[GIST_RCOOKIE_LEN], port_b[2];
	struct gist_cookie_in ci;

	if (n->cfg.querier_only)
		return;
	if (m->nli.pi.len == n->pi_len && memcmp(m->nli.pi.p, n->pi, n->pi_len) == 0) {
		/* Our own Query came to our own socket: this node is the flow's
		 * destination, there is nobody further. */
		struct gist_rs *rs = gist_rs_find(n, m->hdr.nslpid, m->sid, &m->mri);
		if (rs && gist_rs_qcookie_ok(rs, m->qcookie))
			gist_rs_last_node(rs, "this node is the flow destination", GIST_LN_ERROR);
		return;
	}
	if (m->hdr.hops == 0) {
		error_reply(n, m, rx, NULL, GIST_EC_PERMANENT, GIST_E_HOP_LIMIT, 0);
		return;
	}
	if (!gist_reg_find(n, m->hdr.nslpid)) {
		/* Addressed to us (not intercepted): the Query reached the flow's
		 * end without finding the NSLP. */
		error_reply(n, m, rx, NULL, GIST_EC_PERMANENT, GIST_E_ENDPOINT_FOUND, 0);
		return;
	}
	if (m->mri.mrm != GIST_MRM_PATH_COUPLED || (m->mri.flags & GIST_MRI_D))
		return; /* upstream Queries and loose-end MRIs: not supported */
	n->st.queries_received++;
	nli_addr(&m->nli, gist_sa_port(&rx->src), &to);

	gist_msg_init(&r, GIST_RESPONSE, m->hdr.nslpid);
	r.hdr.flags = GIST_F_S | GIST_F_R; /* always ask for a Confirm (NSIS-ka) */
	r.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	            GIST_BIT(GIST_OBJ_QCOOKIE) | GIST_BIT(GIST_OBJ_RCOOKIE);
	r.mri = m->mri;
	gist_mri_invert(&r.mri);
	memcpy(r.sid, m->sid, GIST_SID_LEN);
	if (gist_nli_toward(n, &to, 0, &r.nli) < 0) /* IP-TTL 0 in a Response (NSIS-ka) */
		return;
	r.qcookie = m->qcookie;
	memset(&ci, 0, sizeof(ci));
	ci.nslpid = m->hdr.nslpid;
	ci.sid = m->sid;
	ci.mri = &m->mri;
	ci.nli = &m->nli;
	ci.ifindex = (uint16_t)rx->ifindex;
	ci.port = gist_sa_port(&rx->src);
	ci.hops = m->hdr.hops;
	ci.ttl = rx->ttl;
	gist_cookie_make(&n->cookie, evloop_now_ms(), &ci, cookie);
	r.rcookie.p = cookie;
	r.rcookie.len = sizeof(cookie);

	/* C-mode: offer our TCP port if the querier proposed a profile of TCP
	 * alone (TLS is not implemented). */
	bool tcp = false;
	for (unsigned i = 0; (m->present & GIST_BIT(GIST_OBJ_SP)) && i < m->sp.n; i++)
		tcp |= m->sp.prof[i].n == 1 && m->sp.prof[i].proto[0] == GIST_MA_TCP;
	if (tcp && (n->tcp4 >= 0 || n->tcp6 >= 0)) {
		port_b[0] = (uint8_t)(n->port >> 8);
		port_b[1] = (uint8_t)n->port;
		r.present |= GIST_BIT(GIST_OBJ_SP) | GIST_BIT(GIST_OBJ_SCD);
		r.sp.n = 1;
		r.sp.prof[0].n = 1;
		r.sp.prof[0].proto[0] = GIST_MA_TCP;
		r.scd.n = 1;
		r.scd.ma_hold = n->cfg.ma_hold_ms;
		r.scd.mpo[0].proto = GIST_MA_TCP;
		r.scd.mpo[0].profile = 1;
		r.scd.mpo[0].data.p = port_b;
		r.scd.mpo[0].data.len = 2;
	}
	if (gist_udp_send(n, &to, &r, false) < 0)
		return;
	/* NSLP data in a Query (allowed, not what we send): delivered without
	 * routing state; an answer upstream has to wait for the Confirm. */
	if (m->present & GIST_BIT(GIST_OBJ_NSLP)) {
		struct gist_peer p = {.valid = true, .addr = to};
		p.id_len = (uint8_t)m->nli.pi.len;
		memcpy(p.id, m->nli.pi.p, m->nli.pi.len);
		gist_deliver(n, NULL, m, rx, &p, true);
	}
}

static void on_confirm(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx)
{
	struct gist_cookie_in ci;
	struct sockaddr_storage addr;
	struct gist_rs *rs;
	int r;

	if (n->cfg.querier_only)
		return;
	if (!gist_reg_find(n, m->hdr.nslpid)) {
		error_reply(n, m, rx, NULL, GIST_EC_PERMANENT, GIST_E_UNKNOWN_NSLPID, 0);
		return;
	}
	if (!(m->present & GIST_BIT(GIST_OBJ_RCOOKIE))) {
		error_reply(n, m, rx, NULL, GIST_EC_PROTOCOL, GIST_E_OBJ_TYPE, GIST_SE_MISSING);
		return;
	}
	memset(&ci, 0, sizeof(ci));
	ci.nslpid = m->hdr.nslpid;
	ci.sid = m->sid;
	ci.mri = &m->mri;
	ci.nli = &m->nli;
	r = gist_cookie_check(&n->cookie, evloop_now_ms(), &ci, m->rcookie.p, m->rcookie.len);
	if (r < 0) {
		struct gist_err ge;
		gist_err_from_msg(&ge, m, rx->transport, GIST_EC_PROTOCOL, GIST_E_OBJ_VALUE,
		                  GIST_SE_INVALID_COOKIE);
		ge.has_obj_type = true;
		ge.obj_type = GIST_OBJ_RCOOKIE;
		gist_send_error(n, rx, NULL, &ge);
		return;
	}
	rs = gist_rs_get(n, m->hdr.nslpid, m->sid, &m->mri);
	if (!rs)
		return;
	n->st.confirms++;
	nli_addr(&m->nli, rx->ma ? ci.port : gist_sa_port(&rx->src), &addr);
	bool same = rs->up.valid && gist_sa_equal(&rs->up.addr, &addr) &&
	            rs->up.id_len == m->nli.pi.len &&
	            memcmp(rs->up.id, m->nli.pi.p, m->nli.pi.len) == 0;
	if (!same) {
		gist_peer_clear(&rs->up);
		rs->up.valid = true;
		rs->up.addr = addr;
		rs->up.id_len = (uint8_t)m->nli.pi.len;
		memcpy(rs->up.id, m->nli.pi.p, m->nli.pi.len);
		rs->up_first = true;
		rs->q_hops = ci.hops;
		rs->q_ttl = ci.ttl;
	}
	rs->up.rs_validity = m->nli.rs_validity;
	uint32_t v =
	        m->nli.rs_validity > GIST_MIN_VALIDITY ? m->nli.rs_validity : GIST_MIN_VALIDITY;
	rs->up.expires = evloop_now_ms() + v;
	if (rx->ma) {
		gist_peer_set_ma(&rs->up, rx->ma);
		if (m->present & GIST_BIT(GIST_OBJ_SCD))
			gist_ma_peer_info(rx->ma, m->scd.ma_hold);
	}
	gist_rs_arm(rs);
	if (m->present & GIST_BIT(GIST_OBJ_NSLP)) {
		bool first = rs->up_first;
		rs->up_first = false;
		gist_deliver(n, rs, m, rx, &rs->up, first);
	}
}

/* ---- the querying side -------------------------------------------------------- */

static void on_response(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx)
{
	struct gist_rs *rs = gist_rs_find(n, m->hdr.nslpid, m->sid, &m->mri);

	if (!rs || !(m->mri.flags & GIST_MRI_D) || !gist_rs_qcookie_ok(rs, m->qcookie))
		return; /* not an answer to a Query of ours that is still out */
	gist_rs_response(rs, m, &rx->src, rx->ma);
	if (m->present & GIST_BIT(GIST_OBJ_NSLP))
		gist_deliver(n, rs, m, rx, &rs->down, false);
}

static void on_data(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx)
{
	struct gist_rs *rs;
	bool from_down = (m->mri.flags & GIST_MRI_D) != 0;

	if (!gist_reg_find(n, m->hdr.nslpid)) {
		error_reply(n, m, rx, NULL, GIST_EC_PERMANENT, GIST_E_UNKNOWN_NSLPID, 0);
		return;
	}
	rs = gist_rs_find(n, m->hdr.nslpid, m->sid, &m->mri);
	if (!rs || !(from_down ? rs->down.valid : rs->up.valid)) {
		/* Routing state is required (the node restarted, or the state
		 * expired): the sender rediscovers. */
		error_reply(n, m, rx, NULL, GIST_EC_PROTOCOL, GIST_E_NO_ROUTING_STATE, 0);
		return;
	}
	if (from_down) {
		gist_deliver(n, rs, m, rx, &rs->down, false);
	} else {
		bool first = rs->up_first;
		rs->up_first = false;
		gist_deliver(n, rs, m, rx, &rs->up, first);
	}
}

static void on_error(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx)
{
	const struct gist_error_obj *e = &m->error;
	uint16_t nslpid = (uint16_t)(e->orig[4] << 8 | e->orig[5]);
	uint8_t type = e->orig[6] & 0x7f;
	struct gist_rs *rs;
	char how[64];

	n->st.errors_received++;
	if (!e->has_sid || !e->has_mri)
		return;
	rs = gist_rs_find(n, nslpid, e->sid, &e->mri);
	if (!rs)
		return;
	if (type == GIST_QUERY && rs->querying) {
		if (e->code == GIST_E_ENDPOINT_FOUND || e->code == GIST_E_UNKNOWN_NSLPID) {
			gist_rs_last_node(rs,
			                  e->code == GIST_E_ENDPOINT_FOUND ? "endpoint found"
			                                                   : "unknown nslpid",
			                  GIST_LN_ERROR);
		} else {
			snprintf(how, sizeof(how), "error from the network: %s",
			         gist_err_code_name(e->code));
			gist_rs_failed(rs, how);
		}
		return;
	}
	if (e->code == GIST_E_NO_ROUTING_STATE || e->code == GIST_E_UNKNOWN_NSLPID) {
		/* Our Data reached a peer that lost its state: forget that peer,
		 * the next send discovers again. */
		struct sockaddr_storage from = rx->ma ? *gist_ma_peer(rx->ma) : rx->src;
		if (rs->down.valid && !rs->querying && gist_sa_same_addr(&rs->down.addr, &from)) {
			gist_peer_clear(&rs->down);
			rs->down_state = GIST_DOWN_NONE;
		}
		if (rs->up.valid && gist_sa_same_addr(&rs->up.addr, &from))
			gist_peer_clear(&rs->up);
		gist_rs_arm(rs);
	}
}

static void on_hello(struct gist_node *n, const struct gist_msg *m, const struct gist_rx *rx)
{
	struct gist_msg h;

	if (!rx->ma || !(m->hdr.flags & GIST_F_R))
		return;
	gist_msg_init(&h, GIST_MA_HELLO, 0);
	h.present = GIST_BIT(GIST_OBJ_HELLO);
	h.hello_id = m->hello_id;
	gist_ma_send(rx->ma, &h, 0, 0, NULL, 0);
}

void gist_input(struct gist_node *n, const uint8_t *buf, size_t len, const struct gist_rx *rx)
{
	struct gist_msg m;
	struct gist_err ge;

	if (gist_decode(buf, len, rx->transport, &m, &ge, NULL, 0) < 0) {
		if (ge.answer && ge.code != GIST_E_NONE)
			gist_send_error(n, rx, NULL, &ge);
		return;
	}
	if (m.hdr.type < GIST_STATS_TYPES)
		n->st.received[m.hdr.type]++;
	switch (m.hdr.type) {
	case GIST_QUERY:
		on_query(n, &m, rx);
		break;
	case GIST_RESPONSE:
		on_response(n, &m, rx);
		break;
	case GIST_CONFIRM:
		on_confirm(n, &m, rx);
		break;
	case GIST_DATA:
		on_data(n, &m, rx);
		break;
	case GIST_ERROR:
		on_error(n, &m, rx);
		break;
	case GIST_MA_HELLO:
		on_hello(n, &m, rx);
		break;
	}
}

/* ---- ICMP --------------------------------------------------------------------- */

void gist_icmp_unreachable(struct gist_node *n, const struct sockaddr_storage *dst,
                           const struct sockaddr_storage *offender, const uint8_t *payload,
                           size_t len)
{
	struct gist_hdr hdr;
	struct gist_mri mri;
	uint8_t sid[GIST_SID_LEN];
	struct gist_bytes qc = {0};
	uint32_t found = 0;
	struct gist_rs *rs;

	if (gist_quoted_query(payload, len, &hdr, &mri, sid, &qc, &found) < 0)
		return;
	if (hdr.type != GIST_QUERY) {
		/* D-mode to a peer whose GIST went away. */
		gist_rs_peer_gone(n, dst);
		return;
	}
	/* Last node: the flow's destination itself says that nobody listens on
	 * port 270. From anyone else it means nothing to us. */
	if (!(found & GIST_BIT(GIST_OBJ_MRI)) || !(found & GIST_BIT(GIST_OBJ_SID)))
		return;
	if (offender->ss_family != dst->ss_family || !gist_sa_same_addr(offender, dst))
		return;
	rs = gist_rs_find(n, hdr.nslpid, sid, &mri);
	if (!rs || !rs->querying)
		return;
	if ((found & GIST_BIT(GIST_OBJ_QCOOKIE)) && !gist_rs_qcookie_ok(rs, qc))
		return;
	gist_rs_last_node(rs, "icmp port unreachable", GIST_LN_ICMP);
}
