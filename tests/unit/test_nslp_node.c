/* Unit tests of the NetServ NSLP's node logic (src/nslp/nslp_node.c) and the
 * publisher's end (src/client/client_core.c) over the in-process GIST fake
 * (tests/nslp/fake_gist.c) and fake controllers: hop-by-hop responses and
 * the stack in path order, refusals reported in the stack, TRIGGER's reverse
 * leg, timeouts, malformed requests, repeats, and "no NetServ node". The real
 * GIST is exercised by tests/daemon/test_signaling.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../nslp/fake_gist.h"
#include "client/client_core.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "nslp/nslp.h"
#include "nslp/nslp_node.h"

/* ---- A fake controller ---------------------------------------------------------------- */

struct pending {
	struct pending *next;
	struct fake_ctl *c;
	struct evloop_timer *t;
	nslp_answer_fn *answer;
	void *actx;
	struct ncm_msg *resp;
};

struct fake_ctl {
	const char *node;
	struct evloop *loop;
	int setup_code; /* answer to SETUP (200 by default) */
	bool never;     /* never answers */
	int big;        /* PROBE answers carry this many 300-byte headers */
	uint32_t delay_ms;
	int n_setup, n_remove, n_probe;
	uint8_t last_dst[16]; /* the MRI destination of the last request */
	struct pending *p;
};

static void pend_unlink(struct fake_ctl *c, struct pending *p)
{
	for (struct pending **pp = &c->p; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			return;
		}
}

static void on_pending(struct evloop *loop, void *ctx)
{
	struct pending *p = ctx;
	pend_unlink(p->c, p);
	p->answer(p->actx, p->resp);
	free(p);
}

static void ctl_submit(void *ctl, const struct ncm_msg *req, const struct gist_flow *flow,
                       nslp_answer_fn *answer, void *actx)
{
	struct fake_ctl *c = ctl;
	struct ncm_msg *r;
	memcpy(c->last_dst, flow->dst, sizeof(c->last_dst));
	switch (req->method) {
	case NCM_METHOD_SETUP:
		c->n_setup++;
		r = ncm_response_new(c->setup_code ? c->setup_code : 200,
		                     c->setup_code && c->setup_code != 200 ? "refused by policy"
		                                                           : NULL);
		ncm_add(r, "node", c->node);
		ncm_add(r, "module", req->target);
		ncm_add(r, "state", c->setup_code && c->setup_code != 200 ? "failed" : "active");
		if (c->setup_code && c->setup_code != 200)
			ncm_add(r, "reason", "filter outside the user's prefixes");
		break;
	case NCM_METHOD_REMOVE:
		c->n_remove++;
		r = ncm_response_new(200, NULL);
		ncm_add(r, "node", c->node);
		ncm_add(r, "state", "removed");
		break;
	default:
		c->n_probe++;
		r = ncm_response_new(200, NULL);
		ncm_add(r, "node", c->node);
		ncm_add(r, "modules", "0");
		for (int i = 0; i < c->big; i++) {
			char v[301];
			memset(v, 'a' + i % 26, 300);
			v[300] = '\0';
			ncm_add(r, "counter", v);
		}
		break;
	}
	if (c->never) {
		ncm_free(r);
		struct pending *p = calloc(1, sizeof(*p));
		p->c = c;
		p->actx = actx;
		p->next = c->p;
		c->p = p;
		return;
	}
	if (!c->delay_ms) {
		answer(actx, r); /* synchronously, as the real controller may */
		return;
	}
	struct pending *p = calloc(1, sizeof(*p));
	p->c = c;
	p->answer = answer;
	p->actx = actx;
	p->resp = r;
	p->t = evloop_timer_add(c->loop, c->delay_ms, on_pending, p);
	p->next = c->p;
	c->p = p;
}

static void ctl_forget(void *ctl, void *actx)
{
	struct fake_ctl *c = ctl;
	for (struct pending *p = c->p, *next; p; p = next) {
		next = p->next;
		if (p->actx == actx) {
			pend_unlink(c, p);
			evloop_timer_cancel(c->loop, p->t);
			ncm_free(p->resp);
			free(p);
		}
	}
}

static const struct nslp_ctl_ops ctl_ops = {.submit = ctl_submit, .forget = ctl_forget};

/* ---- The path ------------------------------------------------------------------------------- */

#define MAX_NODES 6

struct net {
	struct evloop *loop;
	struct gist_node *pub_gist;
	struct nsc *pub;
	int n;
	struct gist_node *gist[MAX_NODES];
	struct nslp_node *nslp[MAX_NODES]; /* NULL: a plain router (GIST, no NetServ) */
	struct fake_ctl ctl[MAX_NODES];
	/* the outcome */
	bool done;
	int r;
	struct nslp_msg *resp;
	char why[256];
	uint32_t elapsed;
};

static const char *const names[MAX_NODES] = {"router-a", "router-b", "router-c",
                                             "router-d", "router-e", "router-f"};

/* spec: one letter per router: N = NetServ, P = plain. */
static void net_up(struct net *net, const char *spec, uint32_t timeout_ms)
{
	memset(net, 0, sizeof(*net));
	fake_gist_reset();
	assert_int_equal(evloop_new(&net->loop), 0);
	struct gist_config gc;
	gist_config_defaults(&gc);
	gc.node_id = "publisher";
	gc.querier_only = true;
	assert_int_equal(gist_node_new(net->loop, &gc, &net->pub_gist, NULL, 0), 0);
	assert_int_equal(nsc_new(net->loop, net->pub_gist, 0, &net->pub, NULL, 0), 0);
	net->n = (int)strlen(spec);
	for (int i = 0; i < net->n; i++) {
		gist_config_defaults(&gc);
		gc.node_id = names[i];
		assert_int_equal(gist_node_new(net->loop, &gc, &net->gist[i], NULL, 0), 0);
		net->ctl[i].node = names[i];
		net->ctl[i].loop = net->loop;
		if (spec[i] != 'N')
			continue;
		struct nslp_node_config nc = {
		        .node_id = names[i], .response_timeout_ms = timeout_ms, .linger_ms = 50};
		char err[256];
		int r = nslp_node_new(net->loop, net->gist[i], &nc, &ctl_ops, &net->ctl[i],
		                      &net->nslp[i], err, sizeof(err));
		assert_int_equal(r, 0);
	}
}

static void net_down(struct net *net)
{
	nslp_msg_free(net->resp);
	gist_node_free(net->pub_gist);
	nsc_free(net->pub);
	for (int i = 0; i < net->n; i++) {
		gist_node_free(net->gist[i]);
		nslp_node_free(net->nslp[i]);
		while (net->ctl[i].p) {
			struct pending *p = net->ctl[i].p;
			net->ctl[i].p = p->next;
			evloop_timer_cancel(net->loop, p->t);
			ncm_free(p->resp);
			free(p);
		}
	}
	evloop_free(net->loop);
}

static void on_done(void *ctx, int r, struct nslp_msg *resp, const char *why, uint32_t elapsed)
{
	struct net *net = ctx;
	net->done = true;
	net->r = r;
	net->resp = resp;
	snprintf(net->why, sizeof(net->why), "%s", why);
	net->elapsed = elapsed;
	evloop_stop(net->loop);
}

static void on_guard(struct evloop *loop, void *ctx)
{
	evloop_stop(loop);
}

/* Sends the NCM text as a request (or wrapped in a TRIGGER) and runs the loop
 * until the answer. */
static void signal_run(struct net *net, const char *ncm_text, bool trigger)
{
	struct ncm_msg *ncm = NULL;
	assert_int_equal(ncm_parse(ncm_text, strlen(ncm_text), &ncm, NULL, 0), 0);
	struct nslp_msg *m = NULL;
	assert_int_equal(nslp_from_ncm(ncm, &m, NULL, 0), 0);
	if (trigger)
		m->type = NSLP_TRIGGER;
	struct gist_flow f = {.family = AF_INET, .src_prefix = 32, .dst_prefix = 32};
	fake_gist_addr(net->pub_gist, f.src);
	fake_gist_user_addr(f.dst);
	char err[256] = "";
	int r = nsc_send(net->pub, &f, m, 5000, on_done, net, err, sizeof(err));
	if (r < 0)
		print_message("nsc_send: %s\n", err);
	assert_int_equal(r, 0);
	struct evloop_timer *guard = evloop_timer_add(net->loop, 10000, on_guard, NULL);
	evloop_run(net->loop);
	evloop_timer_cancel(net->loop, guard);
	assert_true(net->done);
	nslp_msg_free(m);
	ncm_free(ncm);
}

/* Runs the loop a little longer (lingering sessions, late messages). */
static void settle(struct net *net, uint32_t ms)
{
	evloop_timer_add(net->loop, ms, on_guard, NULL);
	evloop_run(net->loop);
}

static const char probe_text[] = "PROBE * NETSERV/0.1\nprobe:node,modules\n\n";
static const char setup_text[] = "SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\n"
                                 "user:janedoe\nurl:http://10.0.0.1/c.wasm\nttl:60\n\n";

static void assert_entry(const struct nslp_entry *e, const char *node, int code, bool last)
{
	assert_string_equal(e->node_id, node);
	assert_non_null(e->answer);
	assert_int_equal(e->answer->code, code);
	assert_string_equal(ncm_get(e->answer, "node"), node);
	if (last)
		assert_non_null(e->last_node);
	else
		assert_null(e->last_node);
}

/* ---- Tests --------------------------------------------------------------------------------- */

static void test_probe_stack_in_path_order(void **state)
{
	struct net net;
	net_up(&net, "NPNPN", 2000);
	signal_run(&net, probe_text, false);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->answers, NSLP_PROBE);
	assert_int_equal(net.resp->code, 200);
	assert_int_equal(net.resp->n_entries, 3);
	assert_entry(&net.resp->entries[0], "router-a", 200, false);
	assert_entry(&net.resp->entries[1], "router-c", 200, false);
	assert_entry(&net.resp->entries[2], "router-e", 200, true);
	assert_string_equal(net.resp->entries[2].last_node, "icmp port unreachable");
	assert_string_equal(net.resp->entries[0].probed, "node,modules");
	assert_int_equal(net.resp->entries[0].method, NSLP_PROBE);
	/* Only the NetServ nodes were asked, each once. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(net.ctl[i].n_probe, i % 2 == 0 ? 1 : 0);
	struct nslp_node_stats st;
	nslp_node_get_stats(net.nslp[0], &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.forwarded, 1);
	assert_int_equal(st.responses, 1);
	nslp_node_get_stats(net.nslp[4], &st);
	assert_int_equal(st.last_node, 1);
	settle(&net, 100);
	nslp_node_get_stats(net.nslp[0], &st);
	assert_int_equal(st.sessions, 0); /* lingered, then gone */
	net_down(&net);
}

static void test_setup_refused_is_reported(void **state)
{
	struct net net;
	net_up(&net, "NNN", 2000);
	net.ctl[1].setup_code = 403;
	net.ctl[2].delay_ms = 30; /* the last node answers later than the others */
	signal_run(&net, setup_text, false);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->n_entries, 3);
	assert_entry(&net.resp->entries[0], "router-a", 200, false);
	assert_entry(&net.resp->entries[1], "router-b", 403, false);
	assert_entry(&net.resp->entries[2], "router-c", 200, true);
	assert_int_equal(net.resp->code, 403);
	assert_string_equal(net.resp->reason, "router-b: filter outside the user's prefixes");
	/* The refusal did not stop the request: every node got it, with the
	 * MRI it travelled on (the user's address: what a signature binds). */
	uint8_t user[16];
	fake_gist_user_addr(user);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(net.ctl[i].n_setup, 1);
		assert_memory_equal(net.ctl[i].last_dst, user, 4);
	}
	net_down(&net);
}

static void test_trigger_reverse_leg(void **state)
{
	struct net net;
	net_up(&net, "NPN", 2000);
	signal_run(&net, setup_text, true);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->answers, NSLP_TRIGGER);
	assert_int_equal(net.resp->code, 200);
	/* The reverse path: router-c (the forward path's last node) first. */
	assert_int_equal(net.resp->n_entries, 2);
	assert_entry(&net.resp->entries[0], "router-c", 200, true);
	assert_entry(&net.resp->entries[1], "router-a", 200, true);
	assert_int_equal(net.resp->entries[0].method, NSLP_SETUP);
	assert_int_equal(net.ctl[0].n_setup, 1);
	assert_int_equal(net.ctl[2].n_setup, 1);
	struct nslp_node_stats st;
	nslp_node_get_stats(net.nslp[2], &st);
	assert_int_equal(st.triggers, 1);
	settle(&net, 100);
	net_down(&net);
}

static void test_trigger_probe_single_node(void **state)
{
	struct net net;
	net_up(&net, "PN", 2000);
	signal_run(&net, probe_text, true);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->n_entries, 1);
	assert_entry(&net.resp->entries[0], "router-b", 200, true);
	net_down(&net);
}

static void test_next_node_silent(void **state)
{
	struct net net;
	net_up(&net, "NN", 150);
	fake_gist_swallow(net.gist[1], true);
	signal_run(&net, setup_text, false);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->n_entries, 1);
	assert_entry(&net.resp->entries[0], "router-a", 200, false);
	assert_int_equal(net.resp->code, 504);
	assert_non_null(strstr(net.resp->reason, "router-a: no answer from the next"));
	assert_true(net.elapsed >= 150);
	net_down(&net);
}

static void test_controller_silent(void **state)
{
	struct net net;
	net_up(&net, "NN", 150);
	net.ctl[0].never = true;
	signal_run(&net, setup_text, false);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->n_entries, 2);
	assert_int_equal(net.resp->entries[0].answer->code, 504);
	assert_entry(&net.resp->entries[1], "router-b", 200, true);
	assert_int_equal(net.resp->code, 504);
	/* The controller's pending answer was forgotten. */
	assert_null(net.ctl[0].p);
	net_down(&net);
}

/* Three answers of 12 KB each do not fit one GIST object: details go. */
static void test_large_stack_fits(void **state)
{
	struct net net;
	net_up(&net, "NNN", 2000);
	for (int i = 0; i < 3; i++)
		net.ctl[i].big = 40;
	signal_run(&net, probe_text, false);
	assert_int_equal(net.r, 0);
	assert_int_equal(net.resp->code, 200);
	assert_int_equal(net.resp->n_entries, 3);
	size_t len;
	uint8_t *b;
	assert_int_equal(nslp_encode(net.resp, &b, &len, NULL, 0), 0);
	assert_true(len <= 4u * 0xfffu);
	free(b);
	int pruned = 0;
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(ncm_get(net.resp->entries[i].answer, "node"), names[i]);
		pruned += ncm_get(net.resp->entries[i].answer, "truncated") != NULL;
	}
	assert_true(pruned >= 2);
	assert_null(ncm_get(net.resp->entries[2].answer, "counter"));
	net_down(&net);
}

static void test_no_netserv_node(void **state)
{
	struct net net;
	net_up(&net, "PP", 2000);
	signal_run(&net, probe_text, false);
	assert_int_equal(net.r, -EHOSTUNREACH);
	assert_null(net.resp);
	assert_non_null(strstr(net.why, "no NetServ node"));
	net_down(&net);
}

/* A raw NSLP sender on the publisher's GIST node. */
struct raw {
	struct net *net;
	int got;
	struct nslp_msg *resp;
};

static void raw_recv(void *ctx, const struct gist_recv_info *info, const uint8_t *data, size_t len)
{
	struct raw *rw = ctx;
	rw->got++;
	nslp_msg_free(rw->resp);
	rw->resp = NULL;
	assert_int_equal(nslp_decode(data, len, &rw->resp, NULL, 0), 0);
	assert_true(info->flow.upstream);
}

static void raw_status(void *ctx, uint32_t handle, enum gist_status st, const char *how)
{
}

static void test_malformed_and_repeats(void **state)
{
	struct net net;
	net_up(&net, "PN", 2000);
	/* router-a (plain here) plays the sender: a raw NSLP on its GIST node. */
	struct raw rw = {.net = &net};
	assert_int_equal(gist_register(net.gist[0], NSLP_ID_NETSERV, raw_recv, raw_status, &rw), 0);
	struct gist_flow f = {.family = AF_INET, .src_prefix = 32, .dst_prefix = 32};
	fake_gist_addr(net.gist[0], f.src);
	fake_gist_user_addr(f.dst);
	uint8_t sid[16];
	uint32_t h;
	/* A SETUP whose TARGET is bad. */
	static const uint8_t bad[] = {1, 1, 0, 0, 0, 0, 0, 16, 0, 1, 0, 1, ' ', 0, 0, 0};
	gist_new_sid(sid);
	assert_int_equal(
	        gist_send(net.gist[0], NSLP_ID_NETSERV, sid, &f, bad, sizeof(bad), &h, NULL, 0), 0);
	settle(&net, 30);
	assert_int_equal(rw.got, 1);
	assert_int_equal(rw.resp->code, 400);
	assert_int_equal(rw.resp->answers, NSLP_SETUP);
	assert_non_null(strstr(rw.resp->reason, "router-b: malformed request"));
	assert_int_equal(net.ctl[1].n_setup, 0);
	/* A good SETUP sent twice on one session is done once. */
	struct ncm_msg *ncm = NULL;
	assert_int_equal(ncm_parse(setup_text, strlen(setup_text), &ncm, NULL, 0), 0);
	struct nslp_msg *m = NULL;
	assert_int_equal(nslp_from_ncm(ncm, &m, NULL, 0), 0);
	uint8_t *b;
	size_t len;
	assert_int_equal(nslp_encode(m, &b, &len, NULL, 0), 0);
	gist_new_sid(sid);
	gist_send(net.gist[0], NSLP_ID_NETSERV, sid, &f, b, len, &h, NULL, 0);
	gist_send(net.gist[0], NSLP_ID_NETSERV, sid, &f, b, len, &h, NULL, 0);
	settle(&net, 30);
	assert_int_equal(net.ctl[1].n_setup, 1);
	assert_int_equal(rw.got, 2);
	assert_int_equal(rw.resp->code, 200);
	/* Data that is not NetServ NSLP at all is dropped. */
	gist_new_sid(sid);
	gist_send(net.gist[0], NSLP_ID_NETSERV, sid, &f, (const uint8_t *)"GET / HTTP/1.0\r\n", 16,
	          &h, NULL, 0);
	settle(&net, 30);
	assert_int_equal(rw.got, 2);
	struct nslp_node_stats st;
	nslp_node_get_stats(net.nslp[1], &st);
	assert_int_equal(st.malformed, 2);
	free(b);
	nslp_msg_free(m);
	ncm_free(ncm);
	nslp_msg_free(rw.resp);
	net_down(&net);
}

/* ---- A flood of malformed input: the log stays bounded ---------------------------------- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

/* Counts the lines the NSLP node writes while it takes `count` requests that
 * are not NetServ NSLP and `count` malformed SETUPs (each on its own
 * session), until it has answered the SETUPs. A summary line counts 1000. */
static unsigned flood(struct net *net, struct raw *rw, const struct gist_flow *f, int count)
{
	int got0 = rw->got;
	static const uint8_t bad[] = {1, 1, 0, 0, 0, 0, 0, 16, 0, 1, 0, 1, ' ', 0, 0, 0};
	uint8_t sid[16];
	uint32_t h;

	fflush(stderr);
	FILE *cap = tmpfile();
	assert_non_null(cap);
	int saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(cap), STDERR_FILENO) >= 0);
	for (int i = 0; i < count; i++) {
		gist_new_sid(sid);
		gist_send(net->gist[0], NSLP_ID_NETSERV, sid, f,
		          (const uint8_t *)"GET / HTTP/1.0\r\n", 16, &h, NULL, 0);
		gist_new_sid(sid);
		gist_send(net->gist[0], NSLP_ID_NETSERV, sid, f, bad, sizeof(bad), &h, NULL, 0);
	}
	/* Until every malformed SETUP is answered (10 s at most). */
	for (int i = 0; i < 200 && rw->got < got0 + count; i++)
		settle(net, 50);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	rewind(cap);
	unsigned lines = 0, summaries = 0;
	char line[4096];
	while (fgets(line, sizeof(line), cap)) {
		lines++;
		summaries += strstr(line, "test_nslp_node warn: rate limit: ") != NULL;
	}
	fclose(cap);
	return lines - summaries + 1000 * summaries;
}

static void test_malformed_flood_bounded(void **state)
{
	struct net net;
	net_up(&net, "PN", 2000);
	struct raw rw = {.net = &net};
	assert_int_equal(gist_register(net.gist[0], NSLP_ID_NETSERV, raw_recv, raw_status, &rw), 0);
	struct gist_flow f = {.family = AF_INET, .src_prefix = 32, .dst_prefix = 32};
	fake_gist_addr(net.gist[0], f.src);
	fake_gist_user_addr(f.dst);
	log_setup("test_nslp_node", LOG_LVL_WARN, false);
	/* Past any window the sites opened before (with the real clock), then
	 * still: the whole flood falls into one window. */
	fake_now = ratelimit_now_ms() + 1000000;
	ratelimit_set_clock(fake_clock);

	/* 2 x 2500 malformed messages: LOG_PEER_BURST lines from each of the
	 * two sites, no summary yet... */
	unsigned r = flood(&net, &rw, &f, 2500);
	assert_int_equal(r, 2 * LOG_PEER_BURST);
	struct nslp_node_stats st;
	nslp_node_get_stats(net.nslp[1], &st);
	assert_int_equal(st.malformed, 5000); /* all of them were seen */
	assert_int_equal(rw.got, 2500);       /* and the malformed SETUPs answered */
	/* ...which comes when the window reopens: one per site, then its line. */
	fake_now += LOG_PEER_INTERVAL_MS;
	r = flood(&net, &rw, &f, 1);
	assert_int_equal(r, 2 * 1000 + 2);

	ratelimit_set_clock(NULL);
	log_setup("test_nslp_node", LOG_LVL_ERR, false);
	nslp_msg_free(rw.resp);
	net_down(&net);
}

static void test_flow_from_address(void **state)
{
	struct gist_flow f;
	char err[256];
	assert_int_equal(nsc_flow("127.0.0.1", NULL, &f, err, sizeof(err)), 0);
	assert_int_equal(f.family, AF_INET);
	assert_int_equal(f.dst_prefix, 32);
	assert_int_equal(f.src[0], 127);
	assert_int_equal(nsc_flow("::1", "::1", &f, err, sizeof(err)), 0);
	assert_int_equal(f.family, AF_INET6);
	assert_int_equal(f.src_prefix, 128);
	assert_int_equal(nsc_flow("user.example", NULL, &f, err, sizeof(err)), -EINVAL);
	assert_int_equal(nsc_flow("10.0.0.1", "::1", &f, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	log_setup("test_nslp_node", LOG_LVL_ERR, false);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_probe_stack_in_path_order),
	        cmocka_unit_test(test_setup_refused_is_reported),
	        cmocka_unit_test(test_trigger_reverse_leg),
	        cmocka_unit_test(test_trigger_probe_single_node),
	        cmocka_unit_test(test_next_node_silent),
	        cmocka_unit_test(test_controller_silent),
	        cmocka_unit_test(test_large_stack_fits),
	        cmocka_unit_test(test_no_netserv_node),
	        cmocka_unit_test(test_malformed_and_repeats),
	        cmocka_unit_test(test_malformed_flood_bounded),
	        cmocka_unit_test(test_flow_from_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
