/* netservd's signaling: GIST + the NetServ NSLP + the interception rule. */
#include "daemon/signaling.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gist/gist_api.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "nslp/nslp.h"
#include "nslp/nslp_node.h"

#define RULE_ID "gist"

struct signaling {
	struct gist_node *gist;
	struct nslp_node *nslp;
	const struct fwd_ops *fwd_ops;
	void *fwd;
	bool rule;
};

static void ctl_submit(void *ctl, const struct ncm_msg *req, const struct gist_flow *flow,
                       nslp_answer_fn *answer, void *actx)
{
	struct ncm_prefix dst = {.family = flow->family, .len = flow->dst_prefix};
	memcpy(dst.addr, flow->dst, sizeof(dst.addr));
	controller_submit(ctl, req, &dst, answer, actx);
}

static void ctl_forget(void *ctl, void *actx)
{
	controller_forget(ctl, actx);
}

static const struct nslp_ctl_ops ctl_ops = {.submit = ctl_submit, .forget = ctl_forget};

int signaling_start(struct evloop *loop, const struct ns_config *cfg, struct controller *ctl,
                    const struct fwd_ops *fwd_ops, void *fwd, struct signaling **ret, char *err,
                    size_t errlen)
{
	struct signaling *s = calloc(1, sizeof(*s));
	char why[256];
	int r;

	if (!s)
		return -ENOMEM;
	s->fwd_ops = fwd_ops;
	s->fwd = fwd;
	/* Queries are intercepted through an NFQUEUE queue: the driver decides
	 * whether it can steer udp/270 there (netfilter; openflow and xdp
	 * through the netfilter driver beside them) or says -ENOTSUP (then
	 * the node answers only Queries addressed to it). */
	bool intercept = fwd_ops != &fwd_none_ops;
	struct gist_config gc;
	gist_config_defaults(&gc);
	gc.node_id = cfg->node_id;
	gc.port = (uint16_t)cfg->sig_port;
	gc.intercept_queue = intercept ? (int)cfg->sig_queue : -1;
	gc.t1_ms = cfg->sig_t1_ms;
	gc.t2_ms = cfg->sig_t2_ms;
	gc.icmp_last_node = cfg->sig_icmp;
	gc.router_alert = cfg->sig_router_alert;
	gc.router_alert6 = cfg->sig_router_alert6;
	r = gist_node_new(loop, &gc, &s->gist, why, sizeof(why));
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "GIST: %s", why);
		goto fail;
	}
	struct nslp_node_config nc = {
	        .nslpid = (uint16_t)cfg->sig_nslpid,
	        .node_id = cfg->node_id,
	        .response_timeout_ms = cfg->sig_response_timeout_s * 1000,
	};
	r = nslp_node_new(loop, s->gist, &nc, &ctl_ops, ctl, &s->nslp, why, sizeof(why));
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "NetServ NSLP: %s", why);
		goto fail;
	}
	if (intercept) {
		struct ncm_filter f = {.proto = NCM_PROTO_UDP, .port_lo = 270, .port_hi = 270};
		r = fwd_ops->filter_add(fwd, RULE_ID, &f, 1, cfg->sig_queue, why, sizeof(why));
		if (r == -ENOTSUP) { /* e.g. openflow on a controller that is not a node */
			log_info("signaling: %s", why);
			intercept = false;
			r = 0;
		}
		if (r < 0) {
			snprintf(err, err ? errlen : 0,
			         "cannot intercept GIST Queries (udp/270 to queue %u): %s",
			         cfg->sig_queue, why);
			goto fail;
		}
		s->rule = intercept;
	}
	if (!intercept) {
		log_warn("signaling: forwarding driver %s cannot intercept GIST Queries; this "
		         "node answers only Queries addressed to it",
		         fwd_ops->name);
	}
	log_info("signaling: GIST on port %u, NetServ NSLPID %u, Queries from queue %d, "
	         "last node by %s",
	         cfg->sig_port, cfg->sig_nslpid, gc.intercept_queue,
	         cfg->sig_icmp ? "ICMP or back-off" : "back-off");
	*ret = s;
	return 0;
fail:
	signaling_stop(s);
	return r;
}

struct signaling *signaling_stop(struct signaling *s)
{
	if (!s)
		return NULL;
	if (s->rule)
		s->fwd_ops->filter_remove(s->fwd, RULE_ID);
	/* GIST first: it has no way to unregister the NSLP. */
	gist_node_free(s->gist);
	nslp_node_free(s->nslp);
	free(s);
	return NULL;
}

/* ---- Metrics ------------------------------------------------------------------ */

static void counter(struct prom_buf *b, const char *name, const char *help, uint64_t v)
{
	prom_family(b, name, "counter", help);
	prom_sample_u64(b, name, NULL, 0, v);
}

void signaling_metrics(void *ctx, struct prom_buf *b)
{
	/* The wire's message types, in their order (gist_stats.sent[]). */
	static const char *const types[GIST_STATS_TYPES] = {"query", "response", "confirm",
	                                                    "data",  "error",    "ma_hello"};
	const struct signaling *s = ctx;
	struct gist_stats g;
	struct nslp_node_stats ns;
	gist_get_stats(s->gist, &g);
	nslp_node_get_stats(s->nslp, &ns);

	prom_family(b, "netserv_gist_messaging_associations", "gauge",
	            "GIST messaging associations (TCP, one per peer) now, by state.");
	struct prom_label l[] = {{"state", "connecting"}};
	prom_sample_u64(b, "netserv_gist_messaging_associations", l, 1, g.mas_connecting);
	l[0].value = "established";
	prom_sample_u64(b, "netserv_gist_messaging_associations", l, 1,
	                g.mas_open - g.mas_connecting);
	prom_family(b, "netserv_gist_routing_states", "gauge",
	            "GIST routing states (flow and session toward a peer) now.");
	prom_sample_u64(b, "netserv_gist_routing_states", NULL, 0, g.routing_states);
	prom_family(b, "netserv_gist_messages_sent_total", "counter",
	            "GIST messages sent (over UDP, or queued on a messaging association), by "
	            "type; type=\"error\" counts the GIST Errors this node sent.");
	for (size_t i = 0; i < GIST_STATS_TYPES; i++) {
		l[0] = (struct prom_label){"type", types[i]};
		prom_sample_u64(b, "netserv_gist_messages_sent_total", l, 1, g.sent[i]);
	}
	prom_family(b, "netserv_gist_messages_received_total", "counter",
	            "GIST messages received and decoded, by type.");
	for (size_t i = 0; i < GIST_STATS_TYPES; i++) {
		l[0] = (struct prom_label){"type", types[i]};
		prom_sample_u64(b, "netserv_gist_messages_received_total", l, 1, g.received[i]);
	}
	counter(b, "netserv_gist_retransmissions_total",
	        "GIST Query retransmissions (no Response within the back-off).", g.retransmissions);
	counter(b, "netserv_gist_queries_relayed_total",
	        "Intercepted GIST Queries of another NSLP passed on unchanged.", g.queries_relayed);
	prom_family(b, "netserv_gist_last_node_total", "counter",
	            "Times this node found it was the last GIST node toward a flow's "
	            "destination, by how.");
	l[0] = (struct prom_label){"by", "icmp"};
	prom_sample_u64(b, "netserv_gist_last_node_total", l, 1, g.last_node_icmp);
	l[0].value = "timeout";
	prom_sample_u64(b, "netserv_gist_last_node_total", l, 1, g.last_node_timeout);
	counter(b, "netserv_nslp_requests_total",
	        "NetServ NSLP requests received by signaling (SETUP, REMOVE, PROBE, TRIGGER).",
	        ns.requests);
	counter(b, "netserv_nslp_malformed_total", "NetServ NSLP messages that did not decode.",
	        ns.malformed);
	counter(b, "netserv_nslp_forwarded_total",
	        "NetServ NSLP requests passed on to the next node.", ns.forwarded);
	counter(b, "netserv_nslp_responses_total", "NetServ NSLP responses sent upstream.",
	        ns.responses);
	counter(b, "netserv_nslp_timeouts_total",
	        "NetServ NSLP answers sent without the next node's (response timeout).",
	        ns.timeouts);
	prom_family(b, "netserv_nslp_sessions", "gauge", "NetServ NSLP sessions now.");
	prom_sample_u64(b, "netserv_nslp_sessions", NULL, 0, ns.sessions);
}
