/* libnetserv-client (netserv_client.h): a blocking call over client_core on
 * a loop and a querier-only GIST node of its own. */
#include "client/netserv_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "client/client_core.h"
#include "lib/evloop.h"
#include "lib/util.h"
#include "nslp/nslp.h"

struct call {
	struct evloop *loop;
	bool done;
	int r;
	struct nslp_msg *resp;
	char why[256];
	uint32_t elapsed;
};

static void on_done(void *ctx, int r, struct nslp_msg *resp, const char *why, uint32_t elapsed)
{
	struct call *c = ctx;
	c->done = true;
	c->r = r;
	c->resp = resp;
	c->elapsed = elapsed;
	snprintf(c->why, sizeof(c->why), "%s", why ? why : "");
	evloop_stop(c->loop);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

struct netserv_result *netserv_result_free(struct netserv_result *r)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_nodes; i++) {
		struct netserv_node_answer *a = (struct netserv_node_answer *)&r->nodes[i];
		free((char *)a->node);
		free((char *)a->address);
		free((char *)a->method);
		free((char *)a->target);
		free((char *)a->probed);
		free((char *)a->reason);
		free((char *)a->last_node);
		for (size_t j = 0; j < a->n_headers; j++) {
			free((char *)a->names[j]);
			free((char *)a->values[j]);
		}
		free((void *)a->names);
		free((void *)a->values);
		free((char *)a->body);
	}
	free((void *)r->nodes);
	free((char *)r->method);
	free((char *)r->target);
	free((char *)r->to);
	free((char *)r->reason);
	free(r);
	return NULL;
}

static int fill_answer(struct netserv_node_answer *a, const struct nslp_entry *e)
{
	char addr[INET6_ADDRSTRLEN] = "";
	const struct ncm_msg *m = e->answer;

	if (e->family)
		inet_ntop(e->family, e->addr, addr, sizeof(addr));
	a->node = strdup(e->node_id ? e->node_id : "");
	a->address = strdup(addr);
	a->method = strdup(nslp_type_name(e->method) ? nslp_type_name(e->method) : "?");
	a->target = dup_or_null(e->target);
	a->probed = dup_or_null(e->probed);
	a->code = m ? m->code : 500;
	a->reason = strdup(m && m->reason ? m->reason : ncm_status_reason(a->code));
	a->elapsed_ms = e->elapsed_ms;
	a->last_node = dup_or_null(e->last_node);
	if (!a->node || !a->address || !a->method || !a->reason)
		return -ENOMEM;
	if (!m)
		return 0;
	const char **names = calloc(m->n_headers + 1, sizeof(*names));
	const char **values = calloc(m->n_headers + 1, sizeof(*values));
	a->names = names;
	a->values = values;
	if (!names || !values)
		return -ENOMEM;
	for (size_t j = 0; j < m->n_headers; j++) {
		if (strcmp(m->headers[j].name, "content-length") == 0)
			continue;
		names[a->n_headers] = strdup(m->headers[j].name);
		values[a->n_headers] = strdup(m->headers[j].value);
		a->n_headers++;
		if (!names[a->n_headers - 1] || !values[a->n_headers - 1])
			return -ENOMEM;
	}
	if (m->body_len > 0) {
		char *b = malloc(m->body_len + 1);
		if (!b)
			return -ENOMEM;
		memcpy(b, m->body, m->body_len);
		b[m->body_len] = '\0';
		a->body = b;
		a->body_len = m->body_len;
	}
	return 0;
}

static int make_result(const struct nslp_msg *resp, const struct nslp_msg *req, const char *to,
                       uint32_t elapsed, struct netserv_result **ret)
{
	struct netserv_result *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->method = strdup(nslp_type_name(req->type));
	r->target = strdup(req->req->target);
	r->to = strdup(to);
	r->code = resp->code;
	r->reason = strdup(resp->reason ? resp->reason : ncm_status_reason(resp->code));
	r->elapsed_ms = elapsed;
	struct netserv_node_answer *nodes = calloc(resp->n_entries + 1, sizeof(*nodes));
	r->nodes = nodes;
	if (!r->method || !r->target || !r->to || !r->reason || !nodes) {
		netserv_result_free(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < resp->n_entries; i++) {
		r->n_nodes++;
		if (fill_answer(&nodes[i], &resp->entries[i]) < 0) {
			netserv_result_free(r);
			return -ENOMEM;
		}
	}
	*ret = r;
	return 0;
}

int netserv_client_send(const struct netserv_client_options *opts, const char *ncm, size_t len,
                        struct netserv_result **ret, char *err, size_t errlen)
{
	struct ncm_msg *msg = NULL;
	struct nslp_msg *req = NULL;
	struct evloop *loop = NULL;
	struct gist_node *gist = NULL;
	struct nsc *client = NULL;
	struct gist_flow flow;
	struct call call = {0};
	char why[NCM_ERR_LEN];
	int r;

	if (!opts || !opts->to || !ncm || !ret) {
		snprintf(err, err ? errlen : 0, "no destination or no request");
		return -EINVAL;
	}
	r = ncm_parse(ncm, len, &msg, why, sizeof(why));
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "the request is not a valid NCM: %s", why);
		return r == -ENOMEM ? r : -EINVAL;
	}
	r = nslp_from_ncm(msg, &req, why, sizeof(why));
	ncm_free(msg);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "%s", why);
		return r;
	}
	if (opts->trigger)
		req->type = NSLP_TRIGGER;
	r = nsc_flow(opts->to, opts->from, &flow, err, errlen);
	if (r < 0)
		goto out;
	r = evloop_new(&loop);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "cannot create an event loop: %s", strerror(-r));
		goto out;
	}
	call.loop = loop;
	struct gist_config gc;
	gist_config_defaults(&gc);
	gc.node_id = "netserv-client";
	gc.querier_only = true;
	gc.intercept_queue = -1;
	if (opts->t1_ms)
		gc.t1_ms = opts->t1_ms;
	if (opts->t2_ms)
		gc.t2_ms = opts->t2_ms;
	r = gist_node_new(loop, &gc, &gist, why, sizeof(why));
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "GIST: %s", why);
		goto out;
	}
	r = nsc_new(loop, gist, opts->nslpid, &client, err, errlen);
	if (r < 0)
		goto out;
	r = nsc_send(client, &flow, req, opts->timeout_ms ? opts->timeout_ms : 30000, on_done,
	             &call, err, errlen);
	if (r < 0)
		goto out;
	r = evloop_run(loop);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "event loop: %s", strerror(-r));
		goto out;
	}
	if (!call.done) {
		r = -EIO;
		snprintf(err, err ? errlen : 0, "stopped without an answer");
		goto out;
	}
	if (call.r < 0) {
		r = call.r;
		snprintf(err, err ? errlen : 0, "%s toward %s: %s", nslp_type_name(req->type),
		         opts->to, call.why);
		goto out;
	}
	r = make_result(call.resp, req, opts->to, call.elapsed, ret);
	if (r < 0)
		snprintf(err, err ? errlen : 0, "out of memory");
out:
	nslp_msg_free(call.resp);
	gist_node_free(gist);
	nsc_free(client);
	evloop_free(loop);
	nslp_msg_free(req);
	return r;
}

/* ---- JSON ------------------------------------------------------------------------ */

/* A JSON string; text that is not UTF-8 has its high bytes replaced by '?'. */
static json_t *jstrn(const char *s, size_t n)
{
	if (!s)
		return json_null();
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	char *c = malloc(n + 1);
	if (!c)
		return json_null();
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)s[i] >= 0x80 || !s[i] ? '?' : s[i];
	j = json_stringn(c, n);
	free(c);
	return j ? j : json_null();
}

static json_t *jstr(const char *s)
{
	return jstrn(s, s ? strlen(s) : 0);
}

char *netserv_result_json(const struct netserv_result *r)
{
	json_t *nodes = json_array();
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct netserv_node_answer *a = &r->nodes[i];
		json_t *h = json_array();
		for (size_t j = 0; j < a->n_headers; j++)
			json_array_append_new(
			        h, json_pack("[o,o]", jstr(a->names[j]), jstr(a->values[j])));
		json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:I, s:o, s:o, s:o}",
		                      "node", jstr(a->node), "address", jstr(a->address), "method",
		                      jstr(a->method), "target", jstr(a->target), "probed",
		                      jstr(a->probed), "code", a->code, "reason", jstr(a->reason),
		                      "elapsed_ms", (json_int_t)a->elapsed_ms, "last_node",
		                      jstr(a->last_node), "headers", h, "body",
		                      jstrn(a->body, a->body_len));
		json_array_append_new(nodes, o);
	}
	json_t *root =
	        json_pack("{s:o, s:o, s:o, s:i, s:o, s:I, s:o}", "method", jstr(r->method),
	                  "target", jstr(r->target), "to", jstr(r->to), "code", r->code, "reason",
	                  jstr(r->reason), "elapsed_ms", (json_int_t)r->elapsed_ms, "nodes", nodes);
	if (!root)
		return NULL;
	char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}
