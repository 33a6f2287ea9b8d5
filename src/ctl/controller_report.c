/* The controller's answers to PROBE (NCM headers) and STATUS (JSON): what
 * the node, its modules and the runtime's statistics look like. */
#include <errno.h>
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

/* A module's recent log lines, for its own publisher only: the newest
 * PROBE_LOG_LINES of them, at most PROBE_LOG_BYTES per module (a PROBE's
 * answer travels back along the path with every node's entry). */
#define PROBE_LOG_LINES 16
#define PROBE_LOG_BYTES 2048

static void probe_logs(struct ncm_msg *r, const char *module, json_t *rt)
{
	json_t *logs = json_object_get(rt, "logs");
	size_t n = json_array_size(logs), first = n > PROBE_LOG_LINES ? n - PROBE_LOG_LINES : 0;
	size_t bytes = 0;
	/* Newest first within the budget, then written oldest first. */
	for (size_t i = n; i > first; i--) {
		const char *t =
		        json_string_value(json_object_get(json_array_get(logs, i - 1), "text"));
		bytes += t ? strlen(t) : 0;
		if (bytes > PROBE_LOG_BYTES) {
			first = i;
			break;
		}
	}
	for (size_t i = first; i < n; i++) {
		json_t *l = json_array_get(logs, i);
		const char *level = json_string_value(json_object_get(l, "level"));
		const char *text = json_string_value(json_object_get(l, "text"));
		if (level && text)
			ncm_addf(r, "module-log", "%s %s: %s", module, level, text);
	}
	json_int_t dropped = json_integer_value(json_object_get(rt, "logs_dropped"));
	if (dropped || first)
		ncm_addf(r, "module-logs-dropped", "%s %lld", module,
		         (long long)dropped + (long long)first);
}

static void probe_answer(struct controller *c, const struct ncm_request *req, bool by_user,
                         json_t *stats, ctl_reply_fn *reply, void *ctx)
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
			if (by_user && strcmp(m->req.user, req->user) == 0)
				probe_logs(r, mod_name(m), rt);
			ncm_addf(r, "module-stats", "%s packets=%lld dropped=%lld traps=%lld",
			         mod_name(m),
			         (long long)json_integer_value(json_object_get(rt, "packets")),
			         (long long)json_integer_value(json_object_get(rt, "dropped")),
			         (long long)json_integer_value(json_object_get(rt, "traps")));
			json_t *socks = json_object_get(rt, "sockets");
			if (socks) {
				/* a server module's ports and connections (socket/1) */
				char ports[256] = "";
				size_t used = 0, i;
				json_t *p;
				json_array_foreach(json_object_get(socks, "listening"), i, p)
				{
					int k = snprintf(ports + used, sizeof(ports) - used, "%s%s",
					                 used ? "," : "", json_string_value(p));
					if (k < 0 || (size_t)k >= sizeof(ports) - used)
						break;
					used += (size_t)k;
				}
				ncm_addf(r, "module-sockets", "%s listening=%s connections=%lld",
				         mod_name(m), used ? ports : "-",
				         (long long)json_integer_value(
				                 json_object_get(socks, "connections")));
			}
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
	if (c->group.probe)
		c->group.probe(c->group.hctx, r);
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

static void metrics_answer(struct controller *c, json_t *stats, ctl_metrics_fn *done, void *ctx);
static void status_text_answer(struct controller *c, json_t *stats, ctl_metrics_fn *done,
                               void *ctx);

static void on_stats(void *ctx, json_t *stats)
{
	struct stats_req *sr = ctx;
	stats_req_unlink(sr);
	if (sr->method == NCM_METHOD_NONE) {
		if (sr->metrics && sr->json)
			status_text_answer(sr->c, stats, sr->metrics, sr->ctx);
		else if (sr->metrics)
			metrics_answer(sr->c, stats, sr->metrics, sr->ctx);
	} else if (sr->reply) {
		if (sr->method == NCM_METHOD_PROBE)
			probe_answer(sr->c, &sr->req, sr->by_user, stats, sr->reply, sr->ctx);
		else
			status_answer(sr->c, stats, sr->reply, sr->ctx);
	}
	ncm_request_done(&sr->req);
	free(sr);
}

/* STATUS and PROBE: fetch the runtime's statistics, then answer. */
void ctl_report_request(struct controller *c, const struct ncm_msg *msg, struct ncm_request *req,
                        bool by_user, ctl_reply_fn *reply, void *ctx)
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
	sr->by_user = by_user && sr->req.user;
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
	/* "filter": the first (as before several); "filters": every one. */
	json_object_set_new(j, "filter",
	                    m->req.n_filters ? filter_json(&m->req.filters[0]) : json_null());
	json_t *filters = json_array();
	for (size_t i = 0; i < m->req.n_filters; i++)
		json_array_append_new(filters, filter_json(&m->req.filters[i]));
	json_object_set_new(j, "filters", filters);
	/* "sample": {"every": N, "bytes": B} for a sampled module, else null. */
	json_object_set_new(j, "sample",
	                    m->req.sample_every
	                            ? json_pack("{s:i, s:i}", "every", (int)m->req.sample_every,
	                                        "bytes", (int)m->req.sample_bytes)
	                            : json_null());
	json_t *props = json_object();
	for (size_t i = 0; i < m->req.n_properties; i++)
		json_object_set_new(props, m->req.properties[i].key,
		                    json_string(m->req.properties[i].value));
	json_object_set_new(j, "properties", props);
	json_t *deps = json_array();
	for (size_t i = 0; i < m->req.n_dependencies; i++)
		json_array_append_new(deps, json_string(m->req.dependencies[i]));
	json_object_set_new(j, "dependencies", deps);
	if (m->req.notification)
		json_object_set_new(j, "notifications",
		                    json_pack("{s:s, s:I, s:I, s:I}", "to", m->req.notification,
		                              "sent", (json_int_t)m->notify.sent, "dropped",
		                              (json_int_t)m->notify.dropped, "failed",
		                              (json_int_t)m->notify.failed));
	return j;
}

static json_t *status_json(struct controller *c, json_t *stats)
{
	char caps[256];
	capabilities(c, caps, sizeof(caps));
	int64_t now = now_unix_ms();
	json_t *node = json_pack(
	        "{s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "id", c->node_id, "version", NETSERV_VERSION,
	        "uptime_s", (json_int_t)((now - c->started_at) / 1000), "time_ms", (json_int_t)now,
	        "started_at_ms", (json_int_t)c->started_at, "capabilities", caps, "building_blocks",
	        c->rt_ops->building_blocks(c->rt));
	char plane[512] = "";
	if (c->fwd_ops->describe)
		c->fwd_ops->describe(c->fwd, plane, sizeof(plane));
	json_object_set_new(node, "forwarding",
	                    json_pack("{s:s, s:s}", "driver", c->fwd_ops->name, "state", plane));
	json_t *mods = json_array();
	for (struct module *m = c->modules; m; m = m->next)
		json_array_append_new(mods, module_json(m, stats));
	json_t *counters = json_pack(
	        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests", (json_int_t)c->counters.requests,
	        "setup", (json_int_t)c->counters.setup, "remove", (json_int_t)c->counters.remove,
	        "probe", (json_int_t)c->counters.probe, "status", (json_int_t)c->counters.status,
	        "errors", (json_int_t)c->counters.errors, "expired",
	        (json_int_t)c->counters.expired);
	/* The publishers' containers: the runtime's objects keyed "user". */
	json_t *containers = json_array();
	const char *user;
	json_t *o;
	json_object_foreach(stats, user, o)
	{
		if (strchr(user, '/') || !json_is_object(o))
			continue;
		json_t *ct = json_deep_copy(o);
		json_object_set_new(ct, "publisher", json_string(user));
		json_array_append_new(containers, ct);
	}
	json_t *status = json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}", "node", node, "modules", mods,
	                           "counters", counters, "containers", containers, "events",
	                           ctl_events_json(&c->events), "runtime_stats_up", stats != NULL);
	if (status && c->s.guard)
		json_object_set_new(status, "security", guard_status(c->s.guard));
	json_t *group = status && c->group.status ? c->group.status(c->group.hctx) : NULL;
	if (group)
		json_object_set_new(status, "group", group);
	return status;
}

void ctl_report_forget(struct controller *c, void *ctx)
{
	for (struct stats_req *sr = c->stats_reqs; sr; sr = sr->next) {
		if (sr->ctx == ctx) {
			sr->reply = NULL;
			sr->metrics = NULL;
		}
	}
}

/* ---- metrics (Prometheus text format) ------------------------------------ */

void controller_metrics(struct controller *c, ctl_metrics_fn *done, void *ctx)
{
	struct stats_req *sr = calloc(1, sizeof(*sr));
	if (!sr) {
		done(ctx, -ENOMEM, NULL, 0);
		return;
	}
	sr->c = c;
	sr->method = NCM_METHOD_NONE;
	sr->metrics = done;
	sr->ctx = ctx;
	sr->next = c->stats_reqs;
	c->stats_reqs = sr;
	c->rt_ops->stats(c->rt, on_stats, sr);
}

void controller_status(struct controller *c, ctl_metrics_fn *done, void *ctx)
{
	struct stats_req *sr = calloc(1, sizeof(*sr));
	if (!sr) {
		done(ctx, -ENOMEM, NULL, 0);
		return;
	}
	sr->c = c;
	sr->method = NCM_METHOD_NONE;
	sr->metrics = done;
	sr->json = true;
	sr->ctx = ctx;
	sr->next = c->stats_reqs;
	c->stats_reqs = sr;
	c->rt_ops->stats(c->rt, on_stats, sr);
}

static void status_text_answer(struct controller *c, json_t *stats, ctl_metrics_fn *done, void *ctx)
{
	json_t *j = status_json(c, stats);
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (!text) {
		done(ctx, -ENOMEM, NULL, 0);
		return;
	}
	done(ctx, 0, text, strlen(text));
}

/* A per-module number in the runtime's statistics (runtime.h). */
struct module_metric {
	const char *key;  /* in the module's object */
	const char *name; /* the metric */
	const char *type;
	uint64_t scale;
	const char *help;
};

static const struct module_metric module_metrics[] = {
        {"packets", "netserv_module_packets_total", "counter", 1,
         "Packets the module was called for."},
        {"accepted", "netserv_module_accepted_packets_total", "counter", 1,
         "Packets the module accepted unchanged."},
        {"dropped", "netserv_module_dropped_packets_total", "counter", 1,
         "Packets the module dropped."},
        {"modified", "netserv_module_modified_packets_total", "counter", 1,
         "Packets the module modified."},
        {"traps", "netserv_module_traps_total", "counter", 1,
         "Traps of the module (contained: the instance is replaced)."},
        {"timeouts", "netserv_module_timeouts_total", "counter", 1,
         "Calls into the module stopped for overrunning their time budget."},
        {"instantiations", "netserv_module_instantiations_total", "counter", 1,
         "Instances of the module created (1 plus one per trap)."},
        {"timer_calls", "netserv_module_timer_calls_total", "counter", 1,
         "Calls of the module's timer."},
        {"sends", "netserv_module_sent_packets_total", "counter", 1, "Packets the module sent."},
        {"sends_refused", "netserv_module_refused_sends_total", "counter", 1,
         "Sends of the module the node refused."},
        {"memory_pages", "netserv_module_memory_bytes", "gauge", 65536,
         "Linear memory of the module's instance."},
};

/* A per-publisher number: the container's object (key "user") in the
 * runtime's statistics; a dotted key is in its "queue" object. */
static const struct module_metric publisher_metrics[] = {
        {"restarts", "netserv_container_restarts_total", "counter", 1,
         "Restarts of the publisher's container (after a crash or a missed heartbeat)."},
        {"rss_kb", "netserv_container_resident_memory_bytes", "gauge", 1024,
         "Resident memory of the publisher's container."},
        {"queue.packets", "netserv_queue_packets_total", "counter", 1,
         "Packets the container received from its NFQUEUE queue."},
        {"queue.bytes", "netserv_queue_bytes_total", "counter", 1,
         "Bytes of the packets received from the queue."},
        {"queue.accepted", "netserv_queue_accepted_packets_total", "counter", 1,
         "Queue verdicts: accepted unchanged."},
        {"queue.dropped", "netserv_queue_dropped_packets_total", "counter", 1,
         "Queue verdicts: dropped."},
        {"queue.modified", "netserv_queue_modified_packets_total", "counter", 1,
         "Queue verdicts: accepted with new contents."},
        {"queue.enobufs", "netserv_queue_overruns_total", "counter", 1,
         "Socket overruns of the queue the kernel reported (ENOBUFS)."},
        {"queue.missed", "netserv_queue_missed_packets_total", "counter", 1,
         "Packets the kernel numbered but the container never got (overruns; they go "
         "past the container, fail-open)."},
        {"queue.verdict_errors", "netserv_queue_verdict_errors_total", "counter", 1,
         "Verdicts the kernel refused."},
        {"verdicts_refused", "netserv_queue_refused_verdicts_total", "counter", 1,
         "Datagrams the container sent on its verdict channel that netservd refused (not "
         "verdicts for its own queue)."},
};

static json_t *json_path(json_t *obj, const char *key)
{
	const char *dot = strchr(key, '.');
	if (!dot)
		return json_object_get(obj, key);
	char head[32];
	snprintf(head, sizeof(head), "%.*s", (int)(dot - key), key);
	return json_object_get(json_object_get(obj, head), dot + 1);
}

static json_t *module_stats(json_t *stats, const struct module *m)
{
	char key[NCM_MAX_USER + NCM_MAX_TARGET + 2];
	snprintf(key, sizeof(key), "%s/%s", m->req.user, mod_name(m));
	return stats ? json_object_get(stats, key) : NULL;
}

static void lowercase(char *dst, size_t len, const char *src)
{
	size_t i = 0;
	for (; src[i] && i + 1 < len; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
	dst[i] = '\0';
}

static void render_requests(struct prom_buf *b, const struct controller *c)
{
	prom_family(b, "netserv_requests_total", "counter",
	            "NCM requests answered (admin socket and signaling), by method and response "
	            "code.");
	for (size_t i = 0; i < c->n_req_counts; i++) {
		const struct req_count *rc = &c->req_counts[i];
		char method[16], code[16];
		const char *name = ncm_method_name(rc->method);
		lowercase(method, sizeof(method), name ? name : "response");
		snprintf(code, sizeof(code), "%d", rc->code);
		struct prom_label l[] = {{"method", method}, {"code", code}};
		prom_sample_u64(b, "netserv_requests_total", l, 2, rc->n);
	}
	if (c->req_counts_other) {
		struct prom_label l[] = {{"method", "other"}, {"code", "other"}};
		prom_sample_u64(b, "netserv_requests_total", l, 2, c->req_counts_other);
	}
	prom_family(b, "netserv_modules_expired_total", "counter",
	            "Modules removed at the end of their TTL.");
	prom_sample_u64(b, "netserv_modules_expired_total", NULL, 0, c->counters.expired);
}

static void render_modules(struct prom_buf *b, const struct controller *c, json_t *stats)
{
	static const enum module_state states[] = {
	        MOD_REQUESTED, MOD_FETCHING,   MOD_COMPILING, MOD_INSTALLING,
	        MOD_ACTIVE,    MOD_NO_RUNTIME, MOD_REMOVING,  MOD_FAILED,
	};
	prom_family(b, "netserv_modules", "gauge", "Modules on the node, by state.");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		uint64_t n = 0;
		for (const struct module *m = c->modules; m; m = m->next)
			n += m->state == states[i];
		struct prom_label l[] = {{"state", ctl_state_name(states[i])}};
		prom_sample_u64(b, "netserv_modules", l, 1, n);
	}
	prom_family(b, "netserv_module_up", "gauge",
	            "Whether the module is active (1) or in another state (0).");
	for (const struct module *m = c->modules; m; m = m->next) {
		struct prom_label l[] = {{"publisher", m->req.user}, {"module", mod_name(m)}};
		prom_sample_u64(b, "netserv_module_up", l, 2, m->state == MOD_ACTIVE);
	}
	for (size_t i = 0; i < sizeof(module_metrics) / sizeof(module_metrics[0]); i++) {
		const struct module_metric *mm = &module_metrics[i];
		prom_family(b, mm->name, mm->type, mm->help);
		for (const struct module *m = c->modules; m; m = m->next) {
			json_t *v = json_object_get(module_stats(stats, m), mm->key);
			if (!json_is_integer(v))
				continue;
			struct prom_label l[] = {{"publisher", m->req.user},
			                         {"module", mod_name(m)}};
			prom_sample_u64(b, mm->name, l, 2,
			                (uint64_t)json_integer_value(v) * mm->scale);
		}
	}
	prom_family(b, "netserv_module_events_total", "counter",
	            "The module's own named counters (ns_counter_add).");
	for (const struct module *m = c->modules; m; m = m->next) {
		const char *name;
		json_t *v;
		json_object_foreach(json_object_get(module_stats(stats, m), "counters"), name, v)
		{
			struct prom_label l[] = {{"publisher", m->req.user},
			                         {"module", mod_name(m)},
			                         {"name", name}};
			prom_sample_u64(b, "netserv_module_events_total", l, 3,
			                (uint64_t)json_integer_value(v));
		}
	}
}

static void render_publishers(struct prom_buf *b, json_t *stats)
{
	for (size_t i = 0; i < sizeof(publisher_metrics) / sizeof(publisher_metrics[0]); i++) {
		const struct module_metric *pm = &publisher_metrics[i];
		prom_family(b, pm->name, pm->type, pm->help);
		const char *user;
		json_t *o;
		json_object_foreach(stats, user, o)
		{
			if (strchr(user, '/'))
				continue; /* a module's */
			json_t *v = json_path(o, pm->key);
			if (!json_is_integer(v))
				continue;
			struct prom_label l[] = {{"publisher", user}};
			prom_sample_u64(b, pm->name, l, 1,
			                (uint64_t)json_integer_value(v) * pm->scale);
		}
	}
}

static void metrics_answer(struct controller *c, json_t *stats, ctl_metrics_fn *done, void *ctx)
{
	struct prom_buf b = {0};
	prom_family(&b, "netserv_start_time_seconds", "gauge",
	            "When netservd started, in seconds since the epoch.");
	prom_sample_double(&b, "netserv_start_time_seconds", NULL, 0, (double)c->started_at / 1000);
	prom_family(&b, "netserv_runtime_stats_up", "gauge",
	            "Whether the runtime answered the statistics request.");
	prom_sample_u64(&b, "netserv_runtime_stats_up", NULL, 0, stats != NULL);
	render_requests(&b, c);
	render_modules(&b, c, stats);
	render_publishers(&b, stats);
	prom_family(&b, "netserv_module_fetch_duration_seconds", "histogram",
	            "Module downloads, from the start to the end of the transfer (failed ones "
	            "too).");
	prom_histogram_write(&b, "netserv_module_fetch_duration_seconds", NULL, 0,
	                     &c->fetch_seconds);
	prom_family(&b, "netserv_module_compile_duration_seconds", "histogram",
	            "Module validation and compilation, until the container gets it (a "
	            "compiled-module cache hit too).");
	prom_histogram_write(&b, "netserv_module_compile_duration_seconds", NULL, 0,
	                     &c->compile_seconds);
	char *text = NULL;
	size_t len = 0;
	int r = prom_buf_finish(&b, &text, &len);
	done(ctx, r, r < 0 ? NULL : text, r < 0 ? 0 : len);
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
