/* OpenFlow 1.3 messages (spec 1.3.5, section 7): the header, stream framing
 * and the body of each message type this codec handles. The objects inside
 * (match, actions, instructions) are in of_obj.c.
 *
 * Header: version (8) | type (8) | length (16, whole message) | xid (32)
 */
#include <stdio.h>

#include "fwd/of_int.h"
#include "lib/errbuf.h"

#define OFPHET_VERSIONBITMAP 1
#define FEATURES_LEN         32 /* whole messages, header included */
#define SWITCH_CONFIG_LEN    12
#define FLOW_MOD_FIXED       48 /* up to the match */
#define GROUP_MOD_FIXED      16
#define BUCKET_FIXED         16
#define PACKET_IN_FIXED      24
#define PACKET_OUT_FIXED     24
#define MULTIPART_FIXED      16
#define FLOW_STATS_REQ_FIXED 32 /* request body (after the multipart header) up to the match */
#define FLOW_STATS_FIXED     48 /* reply entry up to the match */
#define PORT_STATUS_LEN      80
#define FLOW_REMOVED_FIXED   48
#define ERROR_DATA_MAX       64

/* ---- Names ---------------------------------------------------------------------- */

const char *of_type_name(unsigned type)
{
	static const char *const names[] = {"HELLO",
	                                    "ERROR",
	                                    "ECHO_REQUEST",
	                                    "ECHO_REPLY",
	                                    "EXPERIMENTER",
	                                    "FEATURES_REQUEST",
	                                    "FEATURES_REPLY",
	                                    "GET_CONFIG_REQUEST",
	                                    "GET_CONFIG_REPLY",
	                                    "SET_CONFIG",
	                                    "PACKET_IN",
	                                    "FLOW_REMOVED",
	                                    "PORT_STATUS",
	                                    "PACKET_OUT",
	                                    "FLOW_MOD",
	                                    "GROUP_MOD",
	                                    "PORT_MOD",
	                                    "TABLE_MOD",
	                                    "MULTIPART_REQUEST",
	                                    "MULTIPART_REPLY",
	                                    "BARRIER_REQUEST",
	                                    "BARRIER_REPLY"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

/* ---- Framing -------------------------------------------------------------------- */

int of_hdr_decode(const uint8_t *buf, size_t len, struct of_hdr *hdr)
{
	struct of_rd r = of_rd_init(buf, buf ? len : 0);

	hdr->version = of_r8(&r);
	hdr->type = of_r8(&r);
	hdr->length = of_r16(&r);
	hdr->xid = of_r32(&r);
	return r.bad ? -EMSGSIZE : 0;
}

long of_frame_length(const uint8_t *buf, size_t len, size_t max)
{
	size_t mlen;

	if (len < 4)
		return 0;
	mlen = (size_t)buf[2] << 8 | buf[3];
	if (mlen < OF_HDR_LEN)
		return -EBADMSG;
	if (max == 0 || max > OF_MAX_MSG)
		max = OF_MAX_MSG;
	if (mlen > max)
		return -EMSGSIZE;
	return len >= mlen ? (long)mlen : 0;
}

void of_rx_reset(struct of_rx *rx, size_t max)
{
	rx->len = 0;
	rx->start = 0;
	rx->max = max == 0 || max > OF_MAX_MSG ? OF_MAX_MSG : max;
}

uint8_t *of_rx_space(struct of_rx *rx, size_t *room)
{
	if (rx->start > 0) {
		memmove(rx->buf, rx->buf + rx->start, rx->len - rx->start);
		rx->len -= rx->start;
		rx->start = 0;
	}
	*room = sizeof(rx->buf) - rx->len;
	return rx->buf + rx->len;
}

void of_rx_commit(struct of_rx *rx, size_t n)
{
	if (n > sizeof(rx->buf) - rx->len)
		n = sizeof(rx->buf) - rx->len;
	rx->len += n;
}

long of_rx_next(struct of_rx *rx, const uint8_t **msg, char *err, size_t errlen)
{
	const uint8_t *p = rx->buf + rx->start;
	size_t have = rx->len - rx->start;
	long n = of_frame_length(p, have, rx->max);

	if (n == -EBADMSG)
		return err_set(err, errlen, -EBADMSG, "message length %u below the header's 8",
		               (unsigned)(p[2] << 8 | p[3]));
	if (n == -EMSGSIZE)
		return err_set(err, errlen, -EMSGSIZE, "message length %u above the cap %zu",
		               (unsigned)(p[2] << 8 | p[3]), rx->max);
	if (n == 0) {
		if (have == 0)
			rx->start = rx->len = 0;
		return 0;
	}
	*msg = p;
	rx->start += (size_t)n;
	return n;
}

/* ---- Init ----------------------------------------------------------------------- */

void of_msg_init(struct of_msg *m, enum of_type type, uint32_t xid)
{
	memset(m, 0, sizeof(*m));
	m->hdr.version = OF_VERSION;
	m->hdr.type = (uint8_t)type;
	m->hdr.xid = xid;
	switch (type) {
	case OFPT_HELLO:
		m->hello.has_bitmap = true;
		m->hello.bitmap = 1u << OF_VERSION;
		break;
	case OFPT_FLOW_MOD:
		m->flow_mod.buffer_id = OFP_NO_BUFFER;
		m->flow_mod.out_port = OFPP_ANY;
		m->flow_mod.out_group = OFPG_ANY;
		break;
	case OFPT_PACKET_IN:
		m->packet_in.buffer_id = OFP_NO_BUFFER;
		break;
	case OFPT_PACKET_OUT:
		m->packet_out.buffer_id = OFP_NO_BUFFER;
		m->packet_out.in_port = OFPP_CONTROLLER;
		break;
	case OFPT_MULTIPART_REQUEST:
	case OFPT_MULTIPART_REPLY:
		m->multipart.type = OFPMP_FLOW;
		m->multipart.table_id = OFPTT_ALL;
		m->multipart.out_port = OFPP_ANY;
		m->multipart.out_group = OFPG_ANY;
		break;
	default:
		break;
	}
}

void of_error_about(struct of_msg *m, uint16_t type, uint16_t code, const uint8_t *bad,
                    size_t badlen)
{
	struct of_hdr h = {0};

	if (bad && of_hdr_decode(bad, badlen, &h) < 0)
		h.xid = 0;
	of_msg_init(m, OFPT_ERROR, h.xid);
	m->error.type = type;
	m->error.code = code;
	m->error.data.p = bad;
	m->error.data.len = bad ? (badlen < ERROR_DATA_MAX ? badlen : ERROR_DATA_MAX) : 0;
}

/* ---- Decoding ------------------------------------------------------------------- */

/* A fixed-size body: exactly `want` bytes in all. */
static int need_len(const struct of_hdr *h, size_t want, char *err, size_t errlen)
{
	if (h->length != want)
		return err_set(err, errlen, -EMSGSIZE, "%s: length %u, expected %zu",
		               of_type_name(h->type), h->length, want);
	return 0;
}

static int need_min(const struct of_hdr *h, size_t want, char *err, size_t errlen)
{
	if (h->length < want)
		return err_set(err, errlen, -EMSGSIZE, "%s: length %u below %zu",
		               of_type_name(h->type), h->length, want);
	return 0;
}

static int dec_hello(struct of_rd *r, struct of_hello *h, char *err, size_t errlen)
{
	/* Elements: type (16) | length (16, without padding) | body | pad to 8. */
	while (of_rd_left(r) >= 4) {
		uint16_t type = of_r16(r), len = of_r16(r);
		struct of_rd b;

		if (len < 4)
			return err_set(err, errlen, -EBADMSG, "HELLO: element length %u", len);
		b = of_rsub(r, (size_t)len - 4);
		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "HELLO: element past the message");
		/* The last element's padding may be missing (OpenFlow 1.3.1+ says
		 * it is there; be lenient as OVS is). */
		of_rskip(r,
		         of_rd_left(r) < of_pad8(len) - len ? of_rd_left(r) : of_pad8(len) - len);
		if (type == OFPHET_VERSIONBITMAP && !h->has_bitmap) {
			if (b.len < 4 || b.len % 4)
				return err_set(err, errlen, -EBADMSG, "HELLO: bitmap length %zu",
				               b.len);
			h->has_bitmap = true;
			h->bitmap = of_r32(&b);
		}
	}
	if (of_rd_left(r) > 0)
		return err_set(err, errlen, -EMSGSIZE, "HELLO: %zu stray bytes", of_rd_left(r));
	return 0;
}

static int dec_buckets(struct of_rd *r, struct of_group_mod *g, char *err, size_t errlen)
{
	while (of_rd_left(r) > 0) {
		uint16_t len = of_r16(r);
		struct of_bucket *b;
		struct of_rd body;
		int e;

		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "bucket: truncated");
		if (len < BUCKET_FIXED || len % 8)
			return err_set(err, errlen, -EBADMSG, "bucket: length %u", len);
		body = of_rsub(r, (size_t)len - 2);
		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "bucket: length %u past the message",
			               len);
		if (g->n_buckets == OF_MAX_BUCKETS)
			return err_set(err, errlen, -E2BIG, "more than %d buckets", OF_MAX_BUCKETS);
		b = &g->buckets[g->n_buckets];
		b->weight = of_r16(&body);
		b->watch_port = of_r32(&body);
		b->watch_group = of_r32(&body);
		of_rskip(&body, 4);
		e = of_actions_decode(&body, &b->actions, err, errlen);
		if (e < 0)
			return e;
		g->n_buckets++;
	}
	return 0;
}

/* One flow-stats entry from r (which holds the rest of the reply body). */
static int dec_flow_stats(struct of_rd *r, struct of_flow_stats *fs, char *err, size_t errlen)
{
	uint16_t len = of_r16(r);
	struct of_rd e;
	int ret;

	if (r->bad)
		return err_set(err, errlen, -EMSGSIZE, "flow stats: truncated");
	if (len < FLOW_STATS_FIXED + 8 || len % 8)
		return err_set(err, errlen, -EBADMSG, "flow stats: entry length %u", len);
	e = of_rsub(r, (size_t)len - 2);
	if (r->bad)
		return err_set(err, errlen, -EMSGSIZE, "flow stats: entry past the message");
	memset(fs, 0, sizeof(*fs));
	fs->table_id = of_r8(&e);
	of_rskip(&e, 1);
	fs->duration_sec = of_r32(&e);
	fs->duration_nsec = of_r32(&e);
	fs->priority = of_r16(&e);
	fs->idle_timeout = of_r16(&e);
	fs->hard_timeout = of_r16(&e);
	fs->flags = of_r16(&e);
	of_rskip(&e, 4);
	fs->cookie = of_r64(&e);
	fs->packet_count = of_r64(&e);
	fs->byte_count = of_r64(&e);
	ret = of_match_decode(&e, &fs->match, err, errlen);
	if (ret < 0)
		return ret;
	return of_instrs_decode(&e, &fs->instrs, err, errlen);
}

int of_flow_stats_next(const struct of_multipart *mp, size_t *pos, struct of_flow_stats *fs,
                       char *err, size_t errlen)
{
	struct of_rd r;
	int e;

	if (!mp->body.p || *pos >= mp->body.len)
		return 0;
	r = of_rd_init(mp->body.p + *pos, mp->body.len - *pos);
	e = dec_flow_stats(&r, fs, err, errlen);
	if (e < 0)
		return e;
	*pos += r.pos;
	return 1;
}

static int dec_multipart(struct of_rd *r, const struct of_hdr *h, struct of_multipart *mp,
                         char *err, size_t errlen)
{
	struct of_rd entries;

	mp->type = of_r16(r);
	mp->flags = of_r16(r);
	of_rskip(r, 4);
	if (mp->type != OFPMP_FLOW)
		return err_set(err, errlen, -EOPNOTSUPP, "%s: multipart type %u not supported",
		               of_type_name(h->type), mp->type);
	if (h->type == OFPT_MULTIPART_REQUEST) {
		if (of_rd_left(r) < FLOW_STATS_REQ_FIXED + 8)
			return err_set(err, errlen, -EMSGSIZE, "flow stats request: truncated");
		mp->table_id = of_r8(r);
		of_rskip(r, 3);
		mp->out_port = of_r32(r);
		mp->out_group = of_r32(r);
		of_rskip(r, 4);
		mp->cookie = of_r64(r);
		mp->cookie_mask = of_r64(r);
		return of_match_decode(r, &mp->match, err, errlen);
	}
	mp->body = of_rrest(r);
	entries = of_rd_init(mp->body.p, mp->body.len);
	while (of_rd_left(&entries) > 0) {
		struct of_flow_stats fs;
		int e = dec_flow_stats(&entries, &fs, err, errlen);

		if (e < 0)
			return e;
		mp->n_stats++;
	}
	return 0;
}

static void dec_port(struct of_rd *r, struct of_port *p)
{
	p->port_no = of_r32(r);
	of_rskip(r, 4);
	of_rcopy(r, p->hw_addr, 6);
	of_rskip(r, 2);
	of_rcopy(r, p->name, 16);
	p->name[15] = '\0';
	p->config = of_r32(r);
	p->state = of_r32(r);
	p->curr = of_r32(r);
	p->advertised = of_r32(r);
	p->supported = of_r32(r);
	p->peer = of_r32(r);
	p->curr_speed = of_r32(r);
	p->max_speed = of_r32(r);
}

/* The body of a message whose header is h; r holds the body only. */
static int dec_body(struct of_rd *r, const struct of_hdr *h, struct of_msg *m, char *err,
                    size_t errlen)
{
	int e;

	switch (h->type) {
	case OFPT_HELLO:
		return dec_hello(r, &m->hello, err, errlen);
	case OFPT_ERROR:
		if ((e = need_min(h, OF_HDR_LEN + 4, err, errlen)) < 0)
			return e;
		m->error.type = of_r16(r);
		m->error.code = of_r16(r);
		m->error.data = of_rrest(r);
		return 0;
	case OFPT_ECHO_REQUEST:
	case OFPT_ECHO_REPLY:
		m->echo = of_rrest(r);
		return 0;
	case OFPT_FEATURES_REQUEST:
	case OFPT_BARRIER_REQUEST:
	case OFPT_BARRIER_REPLY:
		return need_len(h, OF_HDR_LEN, err, errlen);
	case OFPT_FEATURES_REPLY:
		if ((e = need_len(h, FEATURES_LEN, err, errlen)) < 0)
			return e;
		m->features.datapath_id = of_r64(r);
		m->features.n_buffers = of_r32(r);
		m->features.n_tables = of_r8(r);
		m->features.auxiliary_id = of_r8(r);
		of_rskip(r, 2);
		m->features.capabilities = of_r32(r);
		of_rskip(r, 4); /* reserved */
		return 0;
	case OFPT_SET_CONFIG:
		if ((e = need_len(h, SWITCH_CONFIG_LEN, err, errlen)) < 0)
			return e;
		m->config.flags = of_r16(r);
		m->config.miss_send_len = of_r16(r);
		return 0;
	case OFPT_FLOW_MOD: {
		struct of_flow_mod *f = &m->flow_mod;

		if ((e = need_min(h, FLOW_MOD_FIXED + 8, err, errlen)) < 0)
			return e;
		f->cookie = of_r64(r);
		f->cookie_mask = of_r64(r);
		f->table_id = of_r8(r);
		f->command = of_r8(r);
		f->idle_timeout = of_r16(r);
		f->hard_timeout = of_r16(r);
		f->priority = of_r16(r);
		f->buffer_id = of_r32(r);
		f->out_port = of_r32(r);
		f->out_group = of_r32(r);
		f->flags = of_r16(r);
		of_rskip(r, 2);
		if (f->command > OFPFC_DELETE_STRICT)
			return err_set(err, errlen, -EBADMSG, "FLOW_MOD: command %u", f->command);
		if ((e = of_match_decode(r, &f->match, err, errlen)) < 0)
			return e;
		return of_instrs_decode(r, &f->instrs, err, errlen);
	}
	case OFPT_GROUP_MOD: {
		struct of_group_mod *g = &m->group_mod;

		if ((e = need_min(h, GROUP_MOD_FIXED, err, errlen)) < 0)
			return e;
		g->command = of_r16(r);
		g->type = of_r8(r);
		of_rskip(r, 1);
		g->group_id = of_r32(r);
		if (g->command > OFPGC_DELETE)
			return err_set(err, errlen, -EBADMSG, "GROUP_MOD: command %u", g->command);
		if (g->type > OFPGT_FF)
			return err_set(err, errlen, -EBADMSG, "GROUP_MOD: type %u", g->type);
		return dec_buckets(r, g, err, errlen);
	}
	case OFPT_PACKET_IN: {
		struct of_packet_in *p = &m->packet_in;

		if ((e = need_min(h, PACKET_IN_FIXED + 8 + 2, err, errlen)) < 0)
			return e;
		p->buffer_id = of_r32(r);
		p->total_len = of_r16(r);
		p->reason = of_r8(r);
		p->table_id = of_r8(r);
		p->cookie = of_r64(r);
		if ((e = of_match_decode(r, &p->match, err, errlen)) < 0)
			return e;
		of_rskip(r, 2);
		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE, "PACKET_IN: truncated after match");
		p->data = of_rrest(r);
		return 0;
	}
	case OFPT_PACKET_OUT: {
		struct of_packet_out *p = &m->packet_out;
		uint16_t alen;
		struct of_rd acts;

		if ((e = need_min(h, PACKET_OUT_FIXED, err, errlen)) < 0)
			return e;
		p->buffer_id = of_r32(r);
		p->in_port = of_r32(r);
		alen = of_r16(r);
		of_rskip(r, 6);
		acts = of_rsub(r, alen);
		if (r->bad)
			return err_set(err, errlen, -EMSGSIZE,
			               "PACKET_OUT: actions length %u past "
			               "the message",
			               alen);
		if ((e = of_actions_decode(&acts, &p->actions, err, errlen)) < 0)
			return e;
		p->data = of_rrest(r);
		return 0;
	}
	case OFPT_MULTIPART_REQUEST:
	case OFPT_MULTIPART_REPLY:
		if ((e = need_min(h, MULTIPART_FIXED, err, errlen)) < 0)
			return e;
		return dec_multipart(r, h, &m->multipart, err, errlen);
	case OFPT_PORT_STATUS:
		if ((e = need_len(h, PORT_STATUS_LEN, err, errlen)) < 0)
			return e;
		m->port_status.reason = of_r8(r);
		of_rskip(r, 7);
		dec_port(r, &m->port_status.desc);
		return 0;
	case OFPT_FLOW_REMOVED: {
		struct of_flow_removed *f = &m->flow_removed;

		if ((e = need_min(h, FLOW_REMOVED_FIXED + 8, err, errlen)) < 0)
			return e;
		f->cookie = of_r64(r);
		f->priority = of_r16(r);
		f->reason = of_r8(r);
		f->table_id = of_r8(r);
		f->duration_sec = of_r32(r);
		f->duration_nsec = of_r32(r);
		f->idle_timeout = of_r16(r);
		f->hard_timeout = of_r16(r);
		f->packet_count = of_r64(r);
		f->byte_count = of_r64(r);
		return of_match_decode(r, &f->match, err, errlen);
	}
	default:
		return err_set(err, errlen, -EOPNOTSUPP, "message type %u (%s) not supported",
		               h->type, of_type_name(h->type));
	}
}

int of_decode(const uint8_t *buf, size_t len, struct of_msg *m, char *err, size_t errlen)
{
	struct of_msg tmp;
	struct of_rd r;
	int e;

	if (!buf || !m)
		return err_set(err, errlen, -EINVAL, "no buffer");
	memset(&tmp, 0, sizeof(tmp));
	if (of_hdr_decode(buf, len, &tmp.hdr) < 0)
		return err_set(err, errlen, -EMSGSIZE, "%zu bytes: shorter than a header", len);
	if (tmp.hdr.length != len)
		return err_set(err, errlen, -EMSGSIZE, "%s: header length %u, have %zu bytes",
		               of_type_name(tmp.hdr.type), tmp.hdr.length, len);
	if (tmp.hdr.version != OF_VERSION && tmp.hdr.type != OFPT_HELLO) {
		m->hdr = tmp.hdr;
		return err_set(err, errlen, -EPROTO, "version 0x%02x, not 0x04 (OpenFlow 1.3)",
		               tmp.hdr.version);
	}
	r = of_rd_init(buf + OF_HDR_LEN, len - OF_HDR_LEN);
	e = dec_body(&r, &tmp.hdr, &tmp, err, errlen);
	if (e == -EOPNOTSUPP)
		m->hdr = tmp.hdr;
	if (e < 0)
		return e;
	if (r.bad)
		return err_set(err, errlen, -EMSGSIZE, "%s: truncated", of_type_name(tmp.hdr.type));
	if (of_rd_left(&r) > 0)
		return err_set(err, errlen, -EMSGSIZE, "%s: %zu bytes after the body",
		               of_type_name(tmp.hdr.type), of_rd_left(&r));
	*m = tmp;
	return 0;
}

/* ---- Encoding ------------------------------------------------------------------- */

static int enc_buckets(struct of_wr *w, const struct of_group_mod *g, char *err, size_t errlen)
{
	if (g->n_buckets > OF_MAX_BUCKETS)
		return err_set(err, errlen, -E2BIG, "more than %d buckets", OF_MAX_BUCKETS);
	for (size_t i = 0; i < g->n_buckets; i++) {
		const struct of_bucket *b = &g->buckets[i];
		size_t start = w->pos;
		int e;

		of_w16(w, 0);
		of_w16(w, b->weight);
		of_w32(w, b->watch_port);
		of_w32(w, b->watch_group);
		of_wzero(w, 4);
		if ((e = of_actions_encode(w, &b->actions, err, errlen)) < 0)
			return e;
		if (w->pos - start > 0xffff)
			return err_set(err, errlen, -EMSGSIZE, "bucket too long");
		of_patch16(w, start, (uint16_t)(w->pos - start));
	}
	return 0;
}

static int enc_flow_stats(struct of_wr *w, const struct of_flow_stats *fs, char *err, size_t errlen)
{
	size_t start = w->pos;
	int e;

	of_w16(w, 0);
	of_w8(w, fs->table_id);
	of_w8(w, 0);
	of_w32(w, fs->duration_sec);
	of_w32(w, fs->duration_nsec);
	of_w16(w, fs->priority);
	of_w16(w, fs->idle_timeout);
	of_w16(w, fs->hard_timeout);
	of_w16(w, fs->flags);
	of_wzero(w, 4);
	of_w64(w, fs->cookie);
	of_w64(w, fs->packet_count);
	of_w64(w, fs->byte_count);
	if ((e = of_match_encode(w, &fs->match, err, errlen)) < 0)
		return e;
	if ((e = of_instrs_encode(w, &fs->instrs, err, errlen)) < 0)
		return e;
	if (w->pos - start > 0xffff)
		return err_set(err, errlen, -EMSGSIZE, "flow stats entry too long");
	of_patch16(w, start, (uint16_t)(w->pos - start));
	return 0;
}

static void put_bytes(struct of_wr *w, const struct of_bytes *b)
{
	if (b->p && b->len)
		of_put(w, b->p, b->len);
}

static int enc_body(struct of_wr *w, const struct of_msg *m, char *err, size_t errlen)
{
	int e;

	switch (m->hdr.type) {
	case OFPT_HELLO:
		if (m->hello.has_bitmap) {
			of_w16(w, OFPHET_VERSIONBITMAP);
			of_w16(w, 8);
			of_w32(w, m->hello.bitmap);
		}
		return 0;
	case OFPT_ERROR:
		of_w16(w, m->error.type);
		of_w16(w, m->error.code);
		put_bytes(w, &m->error.data);
		return 0;
	case OFPT_ECHO_REQUEST:
	case OFPT_ECHO_REPLY:
		put_bytes(w, &m->echo);
		return 0;
	case OFPT_FEATURES_REQUEST:
	case OFPT_BARRIER_REQUEST:
	case OFPT_BARRIER_REPLY:
		return 0;
	case OFPT_FEATURES_REPLY:
		of_w64(w, m->features.datapath_id);
		of_w32(w, m->features.n_buffers);
		of_w8(w, m->features.n_tables);
		of_w8(w, m->features.auxiliary_id);
		of_wzero(w, 2);
		of_w32(w, m->features.capabilities);
		of_w32(w, 0);
		return 0;
	case OFPT_SET_CONFIG:
		of_w16(w, m->config.flags);
		of_w16(w, m->config.miss_send_len);
		return 0;
	case OFPT_FLOW_MOD: {
		const struct of_flow_mod *f = &m->flow_mod;

		if (f->command > OFPFC_DELETE_STRICT)
			return err_set(err, errlen, -EINVAL, "FLOW_MOD: command %u", f->command);
		of_w64(w, f->cookie);
		of_w64(w, f->cookie_mask);
		of_w8(w, f->table_id);
		of_w8(w, f->command);
		of_w16(w, f->idle_timeout);
		of_w16(w, f->hard_timeout);
		of_w16(w, f->priority);
		of_w32(w, f->buffer_id);
		of_w32(w, f->out_port);
		of_w32(w, f->out_group);
		of_w16(w, f->flags);
		of_wzero(w, 2);
		if ((e = of_match_encode(w, &f->match, err, errlen)) < 0)
			return e;
		return of_instrs_encode(w, &f->instrs, err, errlen);
	}
	case OFPT_GROUP_MOD: {
		const struct of_group_mod *g = &m->group_mod;

		if (g->command > OFPGC_DELETE || g->type > OFPGT_FF)
			return err_set(err, errlen, -EINVAL, "GROUP_MOD: command %u type %u",
			               g->command, g->type);
		of_w16(w, g->command);
		of_w8(w, g->type);
		of_w8(w, 0);
		of_w32(w, g->group_id);
		return enc_buckets(w, g, err, errlen);
	}
	case OFPT_PACKET_IN: {
		const struct of_packet_in *p = &m->packet_in;

		of_w32(w, p->buffer_id);
		of_w16(w, p->total_len);
		of_w8(w, p->reason);
		of_w8(w, p->table_id);
		of_w64(w, p->cookie);
		if ((e = of_match_encode(w, &p->match, err, errlen)) < 0)
			return e;
		of_wzero(w, 2);
		put_bytes(w, &p->data);
		return 0;
	}
	case OFPT_PACKET_OUT: {
		const struct of_packet_out *p = &m->packet_out;
		size_t at;

		of_w32(w, p->buffer_id);
		of_w32(w, p->in_port);
		at = w->pos;
		of_w16(w, 0);
		of_wzero(w, 6);
		if ((e = of_actions_encode(w, &p->actions, err, errlen)) < 0)
			return e;
		of_patch16(w, at, (uint16_t)(w->pos - at - 8));
		put_bytes(w, &p->data);
		return 0;
	}
	case OFPT_MULTIPART_REQUEST:
	case OFPT_MULTIPART_REPLY: {
		const struct of_multipart *mp = &m->multipart;

		if (mp->type != OFPMP_FLOW)
			return err_set(err, errlen, -EINVAL, "multipart type %u not supported",
			               mp->type);
		of_w16(w, mp->type);
		of_w16(w, mp->flags);
		of_wzero(w, 4);
		if (m->hdr.type == OFPT_MULTIPART_REQUEST) {
			of_w8(w, mp->table_id);
			of_wzero(w, 3);
			of_w32(w, mp->out_port);
			of_w32(w, mp->out_group);
			of_wzero(w, 4);
			of_w64(w, mp->cookie);
			of_w64(w, mp->cookie_mask);
			return of_match_encode(w, &mp->match, err, errlen);
		}
		if (mp->n_stats > 0 && !mp->stats)
			return err_set(err, errlen, -EINVAL, "flow stats reply: no entries given");
		for (size_t i = 0; i < mp->n_stats; i++)
			if ((e = enc_flow_stats(w, &mp->stats[i], err, errlen)) < 0)
				return e;
		return 0;
	}
	case OFPT_PORT_STATUS: {
		const struct of_port *p = &m->port_status.desc;
		char name[16] = {0};

		of_w8(w, m->port_status.reason);
		of_wzero(w, 7);
		of_w32(w, p->port_no);
		of_wzero(w, 4);
		of_put(w, p->hw_addr, 6);
		of_wzero(w, 2);
		memcpy(name, p->name, strnlen(p->name, 15));
		of_put(w, name, 16);
		of_w32(w, p->config);
		of_w32(w, p->state);
		of_w32(w, p->curr);
		of_w32(w, p->advertised);
		of_w32(w, p->supported);
		of_w32(w, p->peer);
		of_w32(w, p->curr_speed);
		of_w32(w, p->max_speed);
		return 0;
	}
	case OFPT_FLOW_REMOVED: {
		const struct of_flow_removed *f = &m->flow_removed;

		of_w64(w, f->cookie);
		of_w16(w, f->priority);
		of_w8(w, f->reason);
		of_w8(w, f->table_id);
		of_w32(w, f->duration_sec);
		of_w32(w, f->duration_nsec);
		of_w16(w, f->idle_timeout);
		of_w16(w, f->hard_timeout);
		of_w64(w, f->packet_count);
		of_w64(w, f->byte_count);
		return of_match_encode(w, &f->match, err, errlen);
	}
	default:
		return err_set(err, errlen, -EINVAL, "message type %u (%s) not supported",
		               m->hdr.type, of_type_name(m->hdr.type));
	}
}

ssize_t of_encode(const struct of_msg *m, uint8_t *buf, size_t size, char *err, size_t errlen)
{
	struct of_wr w = {.p = buf, .cap = buf ? size : 0, .pos = 0};
	int e;

	if (!m)
		return err_set(err, errlen, -EINVAL, "no message");
	of_w8(&w, m->hdr.version ? m->hdr.version : OF_VERSION);
	of_w8(&w, m->hdr.type);
	of_w16(&w, 0); /* patched below */
	of_w32(&w, m->hdr.xid);
	if ((e = enc_body(&w, m, err, errlen)) < 0)
		return e;
	if (w.pos > OF_MAX_MSG)
		return err_set(err, errlen, -EMSGSIZE, "%s: %zu bytes, above %d",
		               of_type_name(m->hdr.type), w.pos, OF_MAX_MSG);
	if (buf && w.pos > size)
		return err_set(err, errlen, -ENOSPC, "%s: %zu bytes, buffer %zu",
		               of_type_name(m->hdr.type), w.pos, size);
	of_patch16(&w, 2, (uint16_t)w.pos);
	return (ssize_t)w.pos;
}
