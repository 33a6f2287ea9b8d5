/* The controller's answers to PROBE (NCM headers) and STATUS (JSON): what
 * the node, its modules and the runtime's statistics look like. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/controller_int.h"
#include "ctl/guard.h"
#include "paths.h"

static bool probe_wants(const char *probe, const char *what)
{
	if (!probe || !*probe)
		return true;
	size_t n = strlen(what);
	for (const char *p = probe; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && t[-1] == ' ')
			t--;
		if ((size_t)(t - p) == n && strncmp(p, what, n) == 0)
			return true;
		if (t - p == 3 && strncmp(p, "all", 3) == 0)
			return true;
		p = e;
	}
	return false;
}

static void capabilities(const struct controller *c, char *buf, size_t len)
{
	snprintf(buf, len, "ncm/0.1,runtime:%s,fwd:%s", c->rt_ops->name, c->fwd_ops->name);
}

static json_t *status_json(struct controller *c, json_t *stats);

static void probe_answer(struct controller *c, const struct ncm_request *req, json_t *stats,
                         ctl_reply_fn *reply, void *ctx)
{
	struct ncm_msg *r = ncm_response_new(NCM_OK, NULL);
	if (!r) {
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	ncm_add(r, "node", c->node_id);
	if (probe_wants(req->probe, "node"))
		ncm_add(r, "node-version", "netservd/" NETSERV_VERSION);
	if (probe_wants(req->probe, "capabilities")) {
		char caps[256];
		capabilities(c, caps, sizeof(caps));
		ncm_add(r, "capabilities", caps);
	}
	if (probe_wants(req->probe, "building-blocks"))
		ncm_add(r, "building-blocks", c->rt_ops->building_blocks(c->rt));
	if (probe_wants(req->probe, "modules")) {
		/* Target "*" or "node" asks about every module, else about one id. */
		bool all = strcmp(req->target, "*") == 0 || strcmp(req->target, "node") == 0;
		unsigned found = 0;
		for (struct module *m = c->modules; m; m = m->next) {
			if (!all && strcmp(mod_name(m), req->target) != 0)
				continue;
			found++;
			char key[NCM_MAX_USER + NCM_MAX_TARGET + 2];
			snprintf(key, sizeof(key), "%s/%s", m->req.user, mod_name(m));
			json_t *rt = stats ? json_object_get(stats, key) : NULL;
			ncm_addf(r, "module", "%s user=%s state=%s ttl=%u%s%s", mod_name(m),
			         m->req.user, ctl_state_name(m->state), ttl_remaining_s(m),
			         m->hash[0] ? " hash=" : "", m->hash);
			/* Why it failed (a trap limit, a hogged or crashed container...),
			 * so that the publisher learns it. */
			if (m->state == MOD_FAILED && m->reason)
				ncm_addf(r, "module-reason", "%s %s", mod_name(m), m->reason);
			if (!rt)
				continue;
			ncm_addf(r, "module-stats", "%s packets=%lld dropped=%lld traps=%lld",
			         mod_name(m),
			         (long long)json_integer_value(json_object_get(rt, "packets")),
			         (long long)json_integer_value(json_object_get(rt, "dropped")),
			         (long long)json_integer_value(json_object_get(rt, "traps")));
			const char *name;
			json_t *v;
			unsigned n = 0;
			json_object_foreach(json_object_get(rt, "counters"), name, v)
			{
				if (n++ >= 32)
					break; /* the rest is in the status JSON */
				ncm_addf(r, "counter", "%s %s=%lld", mod_name(m), name,
				         (long long)json_integer_value(v));
			}
		}
		ncm_addf(r, "modules", "%u", found);
	}
	reply(ctx, r);
}

static void status_answer(struct controller *c, json_t *stats, ctl_reply_fn *reply, void *ctx)
{
	struct ncm_msg *r = ncm_response_new(NCM_OK, NULL);
	json_t *j = status_json(c, stats);
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!r || !text || ncm_add(r, "content-type", "application/json") < 0 ||
	    ncm_set_body(r, text, strlen(text)) < 0) {
		free(text);
		ncm_free(r);
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	free(text);
	reply(ctx, r);
}

static void stats_req_unlink(struct stats_req *sr)
{
	for (struct stats_req **pp = &sr->c->stats_reqs; *pp; pp = &(*pp)->next) {
		if (*pp == sr) {
			*pp = sr->next;
			return;
		}
	}
}

static void on_stats(void *ctx, json_t *stats)
{
	struct stats_req *sr = ctx;
	stats_req_unlink(sr);
	if (sr->reply) {
		if (sr->method == NCM_METHOD_PROBE)
			probe_answer(sr->c, &sr->req, stats, sr->reply, sr->ctx);
		else
			status_answer(sr->c, stats, sr->reply, sr->ctx);
	}
	ncm_request_done(&sr->req);
	free(sr);
}

/* STATUS and PROBE: fetch the runtime's statistics, then answer. */
void ctl_report_request(struct controller *c, const struct ncm_msg *msg, struct ncm_request *req,
                        ctl_reply_fn *reply, void *ctx)
{
	struct stats_req *sr = calloc(1, sizeof(*sr));
	if (!sr) {
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (req) {
		sr->req = *req;
		*req = (struct ncm_request){0};
	}
	sr->c = c;
	sr->method = msg->method;
	sr->reply = reply;
	sr->ctx = ctx;
	sr->next = c->stats_reqs;
	c->stats_reqs = sr;
	c->rt_ops->stats(c->rt, on_stats, sr);
}

static json_t *filter_json(const struct ncm_filter *f)
{
	char src[64], dst[64];
	const char *proto = ncm_proto_name(f->proto);
	json_t *j = json_object();
	if (proto)
		json_object_set_new(j, "proto", json_string(proto));
	else
		json_object_set_new(j, "proto", json_integer(f->proto));
	json_object_set_new(j, "port_lo", json_integer(f->port_lo));
	json_object_set_new(j, "port_hi", json_integer(f->port_hi));
	json_object_set_new(j, "src", json_string(ncm_prefix_format(&f->src, src, sizeof(src))));
	json_object_set_new(j, "dst", json_string(ncm_prefix_format(&f->dst, dst, sizeof(dst))));
	return j;
}

static json_t *module_json(const struct module *m, json_t *stats)
{
	char key[NCM_MAX_USER + NCM_MAX_TARGET + 2];
	snprintf(key, sizeof(key), "%s/%s", m->req.user, mod_name(m));
	json_t *rt = stats ? json_object_get(stats, key) : NULL;
	json_t *j = json_object();
	json_object_set_new(j, "runtime", rt ? json_incref(rt) : json_null());
	json_object_set_new(j, "user", json_string(m->req.user));
	json_object_set_new(j, "module", json_string(mod_name(m)));
	json_object_set_new(j, "state", json_string(ctl_state_name(m->state)));
	json_object_set_new(j, "reason", m->reason ? json_string(m->reason) : json_null());
	json_object_set_new(j, "url", json_string(m->req.url));
	json_object_set_new(j, "module_hash", m->hash[0] ? json_string(m->hash) : json_null());
	json_object_set_new(j, "ttl_remaining", json_integer(ttl_remaining_s(m)));
	json_object_set_new(j, "expires_at_ms", json_integer(m->expires_at));
	json_object_set_new(j, "created_at_ms", json_integer(m->created_at));
	json_object_set_new(j, "filter",
	                    m->req.has_filter ? filter_json(&m->req.filter) : json_null());
	json_t *props = json_object();
	for (size_t i = 0; i < m->req.n_properties; i++)
		json_object_set_new(props, m->req.properties[i].key,
		                    json_string(m->req.properties[i].value));
	json_object_set_new(j, "properties", props);
	json_t *deps = json_array();
	for (size_t i = 0; i < m->req.n_dependencies; i++)
		json_array_append_new(deps, json_string(m->req.dependencies[i]));
	json_object_set_new(j, "dependencies", deps);
	return j;
}

static json_t *status_json(struct controller *c, json_t *stats)
{
	char caps[256];
	capabilities(c, caps, sizeof(caps));
	json_t *node = json_pack(
	        "{s:s, s:s, s:I, s:s, s:s}", "id", c->node_id, "version", NETSERV_VERSION,
	        "uptime_s", (json_int_t)((now_unix_ms() - c->started_at) / 1000), "capabilities",
	        caps, "building_blocks", c->rt_ops->building_blocks(c->rt));
	json_t *mods = json_array();
	for (struct module *m = c->modules; m; m = m->next)
		json_array_append_new(mods, module_json(m, stats));
	json_t *counters = json_pack(
	        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests", (json_int_t)c->counters.requests,
	        "setup", (json_int_t)c->counters.setup, "remove", (json_int_t)c->counters.remove,
	        "probe", (json_int_t)c->counters.probe, "status", (json_int_t)c->counters.status,
	        "errors", (json_int_t)c->counters.errors, "expired",
	        (json_int_t)c->counters.expired);
	json_t *status =
	        json_pack("{s:o, s:o, s:o}", "node", node, "modules", mods, "counters", counters);
	if (status && c->s.guard)
		json_object_set_new(status, "security", guard_status(c->s.guard));
	return status;
}

void ctl_report_forget(struct controller *c, void *ctx)
{
	for (struct stats_req *sr = c->stats_reqs; sr; sr = sr->next)
		if (sr->ctx == ctx)
			sr->reply = NULL;
}

void ctl_report_free(struct controller *c)
{
	while (c->stats_reqs) {
		struct stats_req *sr = c->stats_reqs;
		c->stats_reqs = sr->next;
		c->rt_ops->forget(c->rt, sr);
		ncm_request_done(&sr->req);
		free(sr);
	}
}
