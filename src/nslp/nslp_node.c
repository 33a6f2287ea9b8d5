/* The NetServ NSLP on a node: sessions, forwarding, hop-by-hop responses,
 * TRIGGER's reverse leg (see nslp_node.h). */
#include "nslp/nslp_node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gist/gist_api.h"
#include "gist/gist_wire.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "nslp/nslp.h"

#define GERR_LEN 256 /* for gist_send() reasons */

struct session {
	struct nslp_node *n;
	struct session *next;
	uint8_t sid[16];
	struct gist_flow flow; /* as the request travelled (downstream) */
	enum nslp_type type;   /* of the request */
	struct nslp_msg *req;  /* decoded */
	uint8_t *raw;          /* the request's bytes, forwarded unchanged */
	size_t raw_len;
	uint64_t t0; /* arrival, ms */

	/* TRIGGER: the reverse leg this node started as the last node, and
	 * for that leg, the TRIGGER session it answers. */
	struct session *reverse;
	struct session *parent;

	/* This node's own part: its controller's answer. */
	bool want_own, own_pending, own_done;
	struct nslp_entry own;

	/* The next node's part. */
	bool fwd_pending; /* gist_send() done, no outcome yet */
	uint32_t fwd_handle;
	bool fwd_done;         /* next node's response, last node, or failure */
	char *last_how;        /* this node is the last: how GIST found out */
	struct nslp_msg *down; /* the next node's response */
	char *down_error;      /* why there is none */
	int down_code;         /* the overall code to report for down_error */

	bool answered;
	uint32_t up_handle;
	struct evloop_timer *timer; /* response timeout, then linger */
};

struct nslp_node {
	struct evloop *loop;
	struct gist_node *gist;
	struct nslp_node_config cfg;
	char *node_id;
	const struct nslp_ctl_ops *ops;
	void *ctl;
	struct session *sessions;
	struct session *sending; /* gist_send() in progress: a synchronous status */
	struct nslp_node_stats st;
};

static void maybe_finish(struct session *s);
static void start_reverse(struct session *s);

/* ---- Sessions ---------------------------------------------------------------------- */

static struct session *session_find(struct nslp_node *n, const uint8_t sid[16])
{
	for (struct session *s = n->sessions; s; s = s->next)
		if (memcmp(s->sid, sid, 16) == 0)
			return s;
	return NULL;
}

static void session_free(struct session *s)
{
	struct nslp_node *n = s->n;
	for (struct session **pp = &n->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	n->st.sessions--;
	if (s->own_pending)
		n->ops->forget(n->ctl, s);
	evloop_timer_cancel(n->loop, s->timer);
	if (s->reverse)
		s->reverse->parent = NULL;
	if (s->parent)
		s->parent->reverse = NULL;
	if (n->sending == s)
		n->sending = NULL;
	nslp_msg_free(s->req);
	nslp_msg_free(s->down);
	nslp_entry_done(&s->own);
	free(s->raw);
	free(s->last_how);
	free(s->down_error);
	free(s);
}

static void on_linger(struct evloop *loop, void *ctx)
{
	struct session *s = ctx;
	s->timer = NULL;
	session_free(s);
}

static void on_timeout(struct evloop *loop, void *ctx)
{
	struct session *s = ctx;
	struct nslp_node *n = s->n;
	char why[128];

	s->timer = NULL;
	n->st.timeouts++;
	if (s->own_pending) {
		n->ops->forget(n->ctl, s);
		s->own_pending = false;
		s->own.answer = ncm_response_new(NCM_GATEWAY_TIMEOUT, NULL);
		if (s->own.answer)
			ncm_add(s->own.answer, "reason", "the controller did not answer in time");
		s->own.elapsed_ms = (uint32_t)(evloop_now_ms() - s->t0);
		s->own_done = true;
	}
	if (!s->fwd_done) {
		snprintf(why, sizeof(why), "no answer from the next NetServ node within %u ms",
		         n->cfg.response_timeout_ms);
		s->down_error = strdup(why);
		s->down_code = NCM_GATEWAY_TIMEOUT;
		s->fwd_done = true;
		s->fwd_pending = false;
		if (s->reverse) {
			/* The reverse leg gives up with the TRIGGER. */
			s->reverse->parent = NULL;
			session_free(s->reverse);
			s->reverse = NULL;
		}
	}
	maybe_finish(s);
}

/* The node's address on the path: the source it would use toward `to`. */
static void local_addr_toward(int family, const uint8_t *to, int *ret_family, uint8_t *ret_addr)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	*ret_family = 0;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(9);
		memcpy(&a->sin_addr, to, 4);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(9);
		memcpy(&a->sin6_addr, to, 16);
		sl = sizeof(*a);
	}
	if (connect(fd, (struct sockaddr *)&ss, sl) == 0) {
		sl = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
			*ret_family = family;
			if (family == AF_INET)
				memcpy(ret_addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
			else
				memcpy(ret_addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		}
	}
	close(fd);
}

static struct session *session_new(struct nslp_node *n, const uint8_t sid[16],
                                   const struct gist_flow *flow, struct nslp_msg *req,
                                   const uint8_t *raw, size_t raw_len)
{
	struct session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->raw = malloc(raw_len);
	if (!s->raw) {
		free(s);
		return NULL;
	}
	memcpy(s->raw, raw, raw_len);
	s->raw_len = raw_len;
	s->n = n;
	memcpy(s->sid, sid, 16);
	s->flow = *flow;
	s->flow.upstream = false;
	s->req = req;
	s->type = req->type;
	s->t0 = evloop_now_ms();
	s->down_code = NCM_BAD_GATEWAY;
	s->timer = evloop_timer_add(n->loop, n->cfg.response_timeout_ms, on_timeout, s);
	if (!s->timer) {
		free(s->raw);
		free(s);
		return NULL;
	}
	s->next = n->sessions;
	n->sessions = s;
	n->st.sessions++;
	return s;
}

/* ---- Own part: the controller ----------------------------------------------------- */

static void on_answer(void *actx, struct ncm_msg *response)
{
	struct session *s = actx;
	struct nslp_node *n = s->n;

	s->own_pending = false;
	if (!response)
		response = ncm_response_new(NCM_INTERNAL_ERROR, "no memory for the answer");
	s->own.answer = response;
	s->own.elapsed_ms = (uint32_t)(evloop_now_ms() - s->t0);
	s->own_done = true;
	if (response)
		log_debug("signaling: %s %s: controller answered %d in %u ms",
		          nslp_type_name(s->type), s->req->req->target, response->code,
		          s->own.elapsed_ms);
	(void)n;
	maybe_finish(s);
}

static void own_start(struct session *s, const struct ncm_msg *req)
{
	struct nslp_node *n = s->n;
	struct nslp_entry *e = &s->own;

	e->node_id = strdup(n->node_id);
	local_addr_toward(s->flow.family, s->flow.src, &e->family, e->addr);
	e->method = nslp_method_type(req->method);
	e->target = strdup(req->target);
	const char *probe = ncm_get(req, "probe");
	if (probe)
		e->probed = strdup(probe);
	s->want_own = true;
	s->own_pending = true;
	n->ops->submit(n->ctl, req, &s->flow, on_answer, s);
}

/* ---- The next node ------------------------------------------------------------------- */

static void forward(struct session *s)
{
	struct nslp_node *n = s->n;
	char err[GERR_LEN];
	uint32_t h = 0;

	n->sending = s;
	s->fwd_pending = true;
	int r = gist_send(n->gist, n->cfg.nslpid, s->sid, &s->flow, s->raw, s->raw_len, &h, err,
	                  sizeof(err));
	if (n->sending != s) /* freed or finished synchronously */
		return;
	n->sending = NULL;
	if (r < 0) {
		s->fwd_pending = false;
		s->fwd_done = true;
		char why[GERR_LEN + 32];
		snprintf(why, sizeof(why), "cannot forward: %s", err);
		s->down_error = strdup(why);
		return;
	}
	if (s->fwd_pending) {
		s->fwd_handle = h;
		n->st.forwarded++;
	}
}

static struct session *session_by_handle(struct nslp_node *n, uint32_t handle)
{
	for (struct session *s = n->sessions; s; s = s->next)
		if (s->fwd_pending && s->fwd_handle == handle)
			return s;
	return NULL;
}

static void on_status(void *ctx, uint32_t handle, enum gist_status status, const char *how)
{
	struct nslp_node *n = ctx;
	struct session *s = session_by_handle(n, handle);

	if (!s && n->sending && n->sending->fwd_pending)
		s = n->sending; /* reported from inside gist_send() */
	if (!s) {
		for (struct session *u = n->sessions; u; u = u->next)
			if (u->answered && u->up_handle == handle && status == GIST_FAILED)
				log_peer_warn("signaling: response upstream failed: %s",
				              how ? how : "?");
		return;
	}
	bool sync = s == n->sending;
	switch (status) {
	case GIST_SENT:
		log_debug("signaling: %s forwarded to the next node", nslp_type_name(s->type));
		return;
	case GIST_LAST_NODE:
		s->fwd_pending = false;
		s->last_how = strdup(how && *how ? how : "no further node");
		n->st.last_node++;
		log_info("signaling: %s %s: last NetServ node (%s) after %llu ms",
		         nslp_type_name(s->type), s->req->req->target, s->last_how,
		         (unsigned long long)(evloop_now_ms() - s->t0));
		if (s->type == NSLP_TRIGGER && !s->parent) {
			if (sync)
				n->sending = NULL;
			start_reverse(s);
			return;
		}
		s->fwd_done = true;
		break;
	case GIST_FAILED: {
		s->fwd_pending = false;
		s->fwd_done = true;
		char why[256];
		snprintf(why, sizeof(why), "forwarding failed: %s", how ? how : "?");
		s->down_error = strdup(why);
		break;
	}
	}
	if (sync)
		n->sending = NULL; /* forward() sees it was handled */
	maybe_finish(s);
}

/* ---- Answering ---------------------------------------------------------------------------- */

/* Keeps only the headers that say what happened, and notes how many went. */
static void prune_answer(struct ncm_msg *a)
{
	static const char *const keep[] = {"node", "user", "module", "state", "ttl", "reason"};
	size_t j = 0, dropped = 0;
	for (size_t i = 0; i < a->n_headers; i++) {
		bool k = false;
		for (size_t x = 0; x < ARRAY_SIZE(keep); x++)
			k |= strcmp(a->headers[i].name, keep[x]) == 0;
		if (k) {
			a->headers[j++] = a->headers[i];
		} else {
			free(a->headers[i].name);
			free(a->headers[i].value);
			dropped++;
		}
	}
	a->n_headers = j;
	free(a->body);
	a->body = NULL;
	a->body_len = 0;
	if (dropped)
		ncm_addf(a, "truncated", "%zu headers left out to fit the response", dropped);
}

/* Encodes a response within what one GIST NSLP-Data object carries: if it is
 * larger, the entries lose their details (from the last one on), then the
 * last entries go, and the reason says so. Returns 0 or a negative errno. */
static int encode_fitting(struct nslp_msg *resp, uint8_t **b, size_t *len, char *err, size_t errlen)
{
	int r = nslp_encode(resp, b, len, err, errlen);
	for (size_t i = resp->n_entries; r == 0 && *len > GIST_MAX_OBJ && i-- > 0;) {
		free(*b);
		if (resp->entries[i].answer)
			prune_answer(resp->entries[i].answer);
		r = nslp_encode(resp, b, len, err, errlen);
	}
	while (r == 0 && *len > GIST_MAX_OBJ && resp->n_entries > 1) {
		free(*b);
		nslp_entry_done(&resp->entries[--resp->n_entries]);
		char reason[256];
		snprintf(reason, sizeof(reason), "%.180s (stack cut to %zu entries to fit)",
		         resp->reason, resp->n_entries);
		free(resp->reason);
		resp->reason = strdup(reason);
		if (!resp->reason)
			return -ENOMEM;
		r = nslp_encode(resp, b, len, err, errlen);
	}
	return r;
}

static void send_upstream(struct session *s, struct nslp_msg *resp)
{
	struct nslp_node *n = s->n;
	uint8_t *b = NULL;
	size_t len;
	char err[NSLP_ERR_LEN];
	struct gist_flow up = s->flow;

	if (encode_fitting(resp, &b, &len, err, sizeof(err)) < 0) {
		log_err("signaling: cannot encode a response: %s", err);
		return;
	}
	up.upstream = true;
	char gerr[GERR_LEN];
	int r = gist_send(n->gist, n->cfg.nslpid, s->sid, &up, b, len, &s->up_handle, gerr,
	                  sizeof(gerr));
	free(b);
	if (r < 0) {
		log_peer_warn("signaling: cannot send the %s response upstream: %s",
		              nslp_type_name(s->type), gerr);
		return;
	}
	n->st.responses++;
}

static struct nslp_msg *build_response(struct session *s)
{
	struct nslp_node *n = s->n;
	enum nslp_type answers = s->type;
	struct nslp_msg *resp = nslp_response_new(answers, NCM_OK, NULL);
	if (!resp)
		return NULL;
	if (s->want_own) {
		if (!s->own.answer)
			s->own.answer = ncm_response_new(NCM_INTERNAL_ERROR, NULL);
		free(s->own.last_node);
		s->own.last_node = NULL;
		char last[160];
		if (s->last_how)
			snprintf(last, sizeof(last), "%s", s->last_how);
		else if (s->parent && s->parent->last_how)
			snprintf(last, sizeof(last),
			         "last on the forward path (%.80s); sent it back",
			         s->parent->last_how);
		else
			last[0] = '\0';
		if (last[0])
			s->own.last_node = strdup(last);
		if (nslp_response_add(resp, &s->own) < 0)
			return nslp_msg_free(resp);
	}
	if (s->down)
		for (size_t i = 0; i < s->down->n_entries; i++)
			if (nslp_response_add(resp, &s->down->entries[i]) < 0)
				break;
	nslp_response_summarize(resp);
	if (resp->code >= 200 && resp->code < 300) {
		char reason[512];
		if (s->down_error) {
			snprintf(reason, sizeof(reason), "%s: %s", n->node_id, s->down_error);
			resp->code = s->down_code;
			free(resp->reason);
			resp->reason = strdup(reason);
		} else if (s->down && (s->down->code < 200 || s->down->code >= 300)) {
			/* The next node's overall status (e.g. its own timeout). */
			resp->code = s->down->code;
			free(resp->reason);
			resp->reason = strdup(s->down->reason);
		}
		if (!resp->reason)
			return nslp_msg_free(resp);
	}
	return resp;
}

static void maybe_finish(struct session *s)
{
	struct nslp_node *n = s->n;

	if (s->answered || (s->want_own && !s->own_done) || !s->fwd_done)
		return;
	s->answered = true;
	evloop_timer_cancel(n->loop, s->timer);
	s->timer = NULL;
	struct nslp_msg *resp = build_response(s);
	if (s->parent) {
		/* The reverse leg of a TRIGGER is done: its stack answers it. */
		struct session *p = s->parent;
		p->reverse = NULL;
		s->parent = NULL;
		p->down = resp;
		if (!resp) {
			p->down_error = strdup("out of memory");
			p->down_code = NCM_INTERNAL_ERROR;
		}
		p->fwd_done = true;
		session_free(s);
		maybe_finish(p);
		return;
	}
	if (resp) {
		log_info("signaling: %s %s: answering %d (%zu node%s) after %llu ms",
		         nslp_type_name(s->type), s->req->req->target, resp->code, resp->n_entries,
		         resp->n_entries == 1 ? "" : "s",
		         (unsigned long long)(evloop_now_ms() - s->t0));
		send_upstream(s, resp);
		nslp_msg_free(resp);
	}
	/* Linger a while, so that a repeat of the request is dropped. */
	s->timer = evloop_timer_add(n->loop, n->cfg.linger_ms, on_linger, s);
	if (!s->timer)
		session_free(s);
}

/* ---- TRIGGER: the reverse leg --------------------------------------------------------------- */

static void start_reverse(struct session *s)
{
	struct nslp_node *n = s->n;
	struct nslp_msg inner = {.type = nslp_method_type(s->req->req->method), .req = s->req->req};
	uint8_t *raw = NULL;
	size_t len;
	char err[NSLP_ERR_LEN];

	if (nslp_encode(&inner, &raw, &len, err, sizeof(err)) < 0) {
		s->down_error = strdup(err);
		s->down_code = NCM_INTERNAL_ERROR;
		s->fwd_done = true;
		maybe_finish(s);
		return;
	}
	/* The reverse flow: from the user back to the sender. */
	struct gist_flow f = s->flow;
	memcpy(f.src, s->flow.dst, 16);
	memcpy(f.dst, s->flow.src, 16);
	f.src_prefix = s->flow.dst_prefix;
	f.dst_prefix = s->flow.src_prefix;
	f.src_port = s->flow.dst_port;
	f.dst_port = s->flow.src_port;
	f.upstream = false;
	uint8_t sid[16];
	gist_new_sid(sid);
	struct nslp_msg *req = calloc(1, sizeof(*req));
	struct ncm_msg *copy = NULL;
	if (req)
		nslp_to_ncm(&inner, &copy, NULL, 0);
	struct session *r = NULL;
	if (req && copy) {
		req->type = inner.type;
		req->req = copy;
		r = session_new(n, sid, &f, req, raw, len);
	}
	free(raw);
	if (!r) {
		if (req)
			nslp_msg_free(req);
		else
			ncm_free(copy);
		s->down_error = strdup("out of memory");
		s->down_code = NCM_INTERNAL_ERROR;
		s->fwd_done = true;
		maybe_finish(s);
		return;
	}
	/* The reverse leg may be as slow as the TRIGGER itself. */
	evloop_timer_cancel(n->loop, r->timer);
	r->timer = NULL;
	r->parent = s;
	s->reverse = r;
	n->st.triggers++;
	log_info("signaling: TRIGGER %s: last node; %s on the reverse flow", copy->target,
	         nslp_type_name(r->type));
	own_start(r, r->req->req);
	if (r->answered || !s->reverse)
		return;
	forward(r);
	if (s->reverse == r)
		maybe_finish(r);
}

/* ---- Receiving ----------------------------------------------------------------------------- */

static void peer_name(const struct gist_recv_info *info, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	if (info->peer.ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)&info->peer)->sin_addr, a,
		          sizeof(a));
	else if (info->peer.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&info->peer)->sin6_addr, a,
		          sizeof(a));
	snprintf(buf, len, "%s", a);
}

/* Answers a request that could not be decoded (or taken) at once. */
static void answer_error(struct nslp_node *n, const struct gist_recv_info *info,
                         enum nslp_type type, int code, const char *why)
{
	if (type < NSLP_SETUP || type > NSLP_TRIGGER)
		return;
	char reason[NSLP_ERR_LEN + 80];
	snprintf(reason, sizeof(reason), "%s: %s", n->node_id, why);
	struct nslp_msg *resp = nslp_response_new(type, code, reason);
	uint8_t *b = NULL;
	size_t len;
	if (!resp || nslp_encode(resp, &b, &len, NULL, 0) < 0) {
		nslp_msg_free(resp);
		return;
	}
	struct gist_flow up = info->flow;
	up.upstream = true;
	uint32_t h;
	if (gist_send(n->gist, n->cfg.nslpid, info->sid, &up, b, len, &h, NULL, 0) == 0)
		n->st.responses++;
	free(b);
	nslp_msg_free(resp);
}

static void on_request(struct nslp_node *n, const struct gist_recv_info *info, enum nslp_type type,
                       const uint8_t *data, size_t len)
{
	char peer[INET6_ADDRSTRLEN], err[NSLP_ERR_LEN];
	struct nslp_msg *m = NULL;

	n->st.requests++;
	peer_name(info, peer, sizeof(peer));
	if (info->flow.upstream) {
		n->st.malformed++;
		log_peer_warn("signaling: %s from %s travels upstream; dropped",
		              nslp_type_name(type), peer);
		return;
	}
	if (session_find(n, info->sid)) {
		log_peer_debug("signaling: repeated %s from %s dropped", nslp_type_name(type),
		               peer);
		return;
	}
	int r = nslp_decode(data, len, &m, err, sizeof(err));
	if (r < 0) {
		n->st.malformed++;
		log_peer_warn("signaling: malformed %s from %s: %s", nslp_type_name(type), peer,
		              err);
		char why[NSLP_ERR_LEN + 32];
		snprintf(why, sizeof(why), "malformed request: %s", err);
		answer_error(n, info, type,
		             r == -EPROTO ? NCM_VERSION_NOT_SUPPORTED : NCM_BAD_REQUEST, why);
		return;
	}
	if (n->st.sessions >= n->cfg.max_sessions) {
		nslp_msg_free(m);
		answer_error(n, info, type, NCM_UNAVAILABLE, "too many signaling sessions");
		return;
	}
	struct session *s = session_new(n, info->sid, &info->flow, m, data, len);
	if (!s) {
		nslp_msg_free(m);
		answer_error(n, info, type, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	log_info("signaling: %s %s from %s (gist hops left %u)", nslp_type_name(type),
	         m->req->target, peer, info->gist_hops);
	/* Act and forward at once: the nodes install in parallel. */
	if (type != NSLP_TRIGGER)
		own_start(s, m->req);
	if (s->answered)
		return;
	forward(s);
	if (session_find(n, info->sid) == s)
		maybe_finish(s);
}

static void on_response(struct nslp_node *n, const struct gist_recv_info *info, const uint8_t *data,
                        size_t len)
{
	char peer[INET6_ADDRSTRLEN], err[NSLP_ERR_LEN];
	struct session *s = session_find(n, info->sid);
	struct nslp_msg *m = NULL;

	peer_name(info, peer, sizeof(peer));
	if (!s || s->answered || s->fwd_done || !info->flow.upstream) {
		log_peer_debug("signaling: response from %s for no waiting session; dropped", peer);
		return;
	}
	int r = nslp_decode(data, len, &m, err, sizeof(err));
	s->fwd_pending = false;
	s->fwd_done = true;
	if (r < 0) {
		n->st.malformed++;
		log_peer_warn("signaling: malformed response from %s: %s", peer, err);
		char why[NSLP_ERR_LEN + 48];
		snprintf(why, sizeof(why), "malformed response from the next node: %s", err);
		s->down_error = strdup(why);
	} else {
		s->down = m;
	}
	maybe_finish(s);
}

static void on_recv(void *ctx, const struct gist_recv_info *info, const uint8_t *data, size_t len)
{
	struct nslp_node *n = ctx;
	enum nslp_type type = 0;

	if (nslp_peek(data, len, &type, NULL) < 0 || !nslp_type_name(type)) {
		n->st.malformed++;
		log_peer_warn("signaling: %zu bytes of NSLP data that are not a NetServ message",
		              len);
		return;
	}
	if (type == NSLP_RESPONSE)
		on_response(n, info, data, len);
	else
		on_request(n, info, type, data, len);
}

/* ---- Life ------------------------------------------------------------------------------------ */

int nslp_node_new(struct evloop *loop, struct gist_node *gist, const struct nslp_node_config *cfg,
                  const struct nslp_ctl_ops *ops, void *ctl, struct nslp_node **ret, char *err,
                  size_t errlen)
{
	struct nslp_node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->loop = loop;
	n->gist = gist;
	n->cfg = *cfg;
	if (!n->cfg.nslpid)
		n->cfg.nslpid = NSLP_ID_NETSERV;
	if (!n->cfg.response_timeout_ms)
		n->cfg.response_timeout_ms = 60000;
	if (!n->cfg.linger_ms)
		n->cfg.linger_ms = 5000;
	if (!n->cfg.max_sessions)
		n->cfg.max_sessions = 1024;
	n->ops = ops;
	n->ctl = ctl;
	n->node_id = strdup(cfg->node_id ? cfg->node_id : "netserv");
	if (!n->node_id) {
		free(n);
		return -ENOMEM;
	}
	n->cfg.node_id = n->node_id;
	int r = gist_register(gist, n->cfg.nslpid, on_recv, on_status, n);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "cannot register NSLPID %u with GIST: %s",
		         n->cfg.nslpid, strerror(-r));
		free(n->node_id);
		free(n);
		return r;
	}
	*ret = n;
	return 0;
}

struct nslp_node *nslp_node_free(struct nslp_node *n)
{
	if (!n)
		return NULL;
	while (n->sessions)
		session_free(n->sessions);
	free(n->node_id);
	free(n);
	return NULL;
}

void nslp_node_get_stats(const struct nslp_node *n, struct nslp_node_stats *ret)
{
	*ret = n->st;
}
