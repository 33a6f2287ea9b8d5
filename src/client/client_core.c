/* The publisher's end of the NetServ NSLP (client_core.h). */
#include "client/client_core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/util.h"

struct op {
	struct nsc *c;
	struct op *next;
	uint8_t sid[16];
	uint32_t handle;
	bool handle_set;
	uint64_t t0;
	nsc_done_fn *done;
	void *ctx;
	struct evloop_timer *timer; /* timeout, or a deferred completion */
	int r;                      /* deferred completion: its result */
	char why[256];
	struct nslp_msg *resp;
};

struct nsc {
	struct evloop *loop;
	struct gist_node *gist;
	uint16_t nslpid;
	struct op *ops;
	struct op *sending;
};

static void op_free(struct op *o)
{
	struct nsc *c = o->c;
	for (struct op **pp = &c->ops; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			break;
		}
	if (c->sending == o)
		c->sending = NULL;
	evloop_timer_cancel(c->loop, o->timer);
	nslp_msg_free(o->resp);
	free(o);
}

static void op_complete(struct op *o, int r, struct nslp_msg *resp, const char *why)
{
	nsc_done_fn *done = o->done;
	void *ctx = o->ctx;
	uint32_t elapsed = (uint32_t)(evloop_now_ms() - o->t0);
	char w[sizeof(o->why)];
	snprintf(w, sizeof(w), "%s", why ? why : "");
	op_free(o);
	done(ctx, r, resp, w, elapsed);
}

static void on_deferred(struct evloop *loop, void *ctx)
{
	struct op *o = ctx;
	o->timer = NULL;
	struct nslp_msg *resp = TAKE_PTR(o->resp);
	op_complete(o, o->r, resp, o->why);
}

/* Completes from the loop, never from inside nsc_send(). */
static void op_defer(struct op *o, int r, const char *why)
{
	evloop_timer_cancel(o->c->loop, o->timer);
	o->r = r;
	snprintf(o->why, sizeof(o->why), "%s", why);
	o->timer = evloop_timer_add(o->c->loop, 0, on_deferred, o);
}

static void on_timeout(struct evloop *loop, void *ctx)
{
	struct op *o = ctx;
	o->timer = NULL;
	op_complete(o, -ETIMEDOUT, NULL, "no response in time");
}

static void on_recv(void *ctx, const struct gist_recv_info *info, const uint8_t *data, size_t len)
{
	struct nsc *c = ctx;
	struct op *o = NULL;
	for (struct op *x = c->ops; x; x = x->next)
		if (memcmp(x->sid, info->sid, 16) == 0)
			o = x;
	if (!o || o->resp || !info->flow.upstream)
		return;
	struct nslp_msg *m = NULL;
	char err[NSLP_ERR_LEN], why[NSLP_ERR_LEN + 40];
	int r = nslp_decode(data, len, &m, err, sizeof(err));
	if (r == 0 && m->type != NSLP_RESPONSE) {
		snprintf(err, sizeof(err), "a %s instead of a response", nslp_type_name(m->type));
		m = nslp_msg_free(m);
		r = -EBADMSG;
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "malformed response: %s", err);
		op_complete(o, -EPROTO, NULL, why);
		return;
	}
	op_complete(o, 0, m, NULL);
}

static void on_status(void *ctx, uint32_t handle, enum gist_status status, const char *how)
{
	struct nsc *c = ctx;
	struct op *o = NULL;
	for (struct op *x = c->ops; x; x = x->next)
		if (x->handle_set && x->handle == handle)
			o = x;
	if (!o)
		o = c->sending;
	if (!o || o->resp)
		return;
	char why[300];
	switch (status) {
	case GIST_SENT:
		return;
	case GIST_LAST_NODE:
		snprintf(why, sizeof(why), "no NetServ node on the path (%s)", how ? how : "");
		op_defer(o, -EHOSTUNREACH, why);
		return;
	case GIST_FAILED:
		snprintf(why, sizeof(why), "GIST could not send: %s", how ? how : "");
		op_defer(o, -EIO, why);
		return;
	}
}

int nsc_new(struct evloop *loop, struct gist_node *gist, uint16_t nslpid, struct nsc **ret,
            char *err, size_t errlen)
{
	struct nsc *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->gist = gist;
	c->nslpid = nslpid ? nslpid : NSLP_ID_NETSERV;
	int r = gist_register(gist, c->nslpid, on_recv, on_status, c);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "cannot register NSLPID %u: %s", c->nslpid,
		         strerror(-r));
		free(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct nsc *nsc_free(struct nsc *c)
{
	if (!c)
		return NULL;
	while (c->ops)
		op_free(c->ops);
	free(c);
	return NULL;
}

int nsc_send(struct nsc *c, const struct gist_flow *flow, const struct nslp_msg *req,
             uint32_t timeout_ms, nsc_done_fn *done, void *ctx, char *err, size_t errlen)
{
	uint8_t *b = NULL;
	size_t len;
	int r = nslp_encode(req, &b, &len, err, errlen);
	if (r < 0)
		return r;
	struct op *o = calloc(1, sizeof(*o));
	if (!o) {
		free(b);
		return -ENOMEM;
	}
	o->c = c;
	o->done = done;
	o->ctx = ctx;
	o->t0 = evloop_now_ms();
	gist_new_sid(o->sid);
	o->timer = evloop_timer_add(c->loop, timeout_ms ? timeout_ms : 30000, on_timeout, o);
	if (!o->timer) {
		free(o);
		free(b);
		return -ENOMEM;
	}
	o->next = c->ops;
	c->ops = o;
	struct gist_flow f = *flow;
	f.upstream = false;
	c->sending = o;
	uint32_t h = 0;
	r = gist_send(c->gist, c->nslpid, o->sid, &f, b, len, &h, err, errlen);
	free(b);
	if (c->sending == o)
		c->sending = NULL;
	if (r < 0) {
		op_free(o);
		return r;
	}
	o->handle = h;
	o->handle_set = true;
	return 0;
}

int nsc_flow(const char *to, const char *from, struct gist_flow *flow, char *err, size_t errlen)
{
	memset(flow, 0, sizeof(*flow));
	if (inet_pton(AF_INET, to, flow->dst) == 1)
		flow->family = AF_INET;
	else if (inet_pton(AF_INET6, to, flow->dst) == 1)
		flow->family = AF_INET6;
	else {
		snprintf(err, err ? errlen : 0, "'%s' is not an IPv4 or IPv6 address", to);
		return -EINVAL;
	}
	int fam = flow->family;
	flow->src_prefix = flow->dst_prefix = fam == AF_INET ? 32 : 128;
	if (from) {
		if (inet_pton(fam, from, flow->src) != 1) {
			snprintf(err, err ? errlen : 0,
			         "'%s' is not an address of the family of '%s'", from, to);
			return -EINVAL;
		}
		return 0;
	}
	/* The local address the kernel would use toward `to`. */
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(270);
		memcpy(&a->sin_addr, flow->dst, 4);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(270);
		memcpy(&a->sin6_addr, flow->dst, 16);
		sl = sizeof(*a);
	}
	_cleanup_close_ int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &(socklen_t){sizeof(ss)}) < 0) {
		snprintf(err, err ? errlen : 0, "no route toward %s: %s", to, strerror(errno));
		return -EHOSTUNREACH;
	}
	if (fam == AF_INET)
		memcpy(flow->src, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(flow->src, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	return 0;
}
