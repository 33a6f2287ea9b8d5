/* The OpenFlow driver's own logic, without a switch (fwd_openflow.h): how
 * filters become flows (families, port ranges, prefixes, ICMP, what is
 * refused), rule ids (replace, remove, local-only ones), the membership
 * (set_nodes, drain, fail-open) and the node-list parser. The flows on a
 * real switch: tests/daemon/test_sidecar.sh, test_sidecar_spread.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fwd/fwd_openflow.h"
#include "lib/evloop.h"
#include "ncm/ncm.h"

static struct evloop *loop;
static struct fwd_openflow *f;

/* A stand-in local driver that records what it was given. */
static int local_adds, local_removes;
static int local_add(void *fwd, const char *rule_id, const struct ncm_filter *filters, size_t n,
                     unsigned queue, char *err, size_t errlen)
{
	local_adds++;
	return 0;
}
static int local_remove(void *fwd, const char *rule_id)
{
	local_removes++;
	return 0;
}
static int local_flush(void *fwd, char *err, size_t errlen)
{
	return 0;
}
static const struct fwd_ops local_ops = {.name = "stub",
                                         .filter_add = local_add,
                                         .filter_remove = local_remove,
                                         .flush = local_flush};

static void start(bool with_local)
{
	struct fwd_of_node nodes[3];
	size_t n = 0;
	char err[256] = "";
	assert_int_equal(fwd_openflow_parse_nodes("n1:3:02:77:00:00:00:11, n2:4, n3:5", nodes, 3,
	                                          &n, err, sizeof(err)),
	                 0);
	struct fwd_openflow_config cfg = {
	        .listen = "127.0.0.1:0",
	        .signaling_port = 3,
	        .nodes = nodes,
	        .n_nodes = n,
	        .local_ops = with_local ? &local_ops : NULL,
	};
	local_adds = local_removes = 0;
	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(fwd_openflow_new(loop, &cfg, &f, err, sizeof(err)), 0);
}

static void stop(void)
{
	f = fwd_openflow_free(f);
	evloop_free(loop);
}

static size_t flows_of(const char *id)
{
	size_t flows;
	const char *r;
	for (size_t i = 0; (r = fwd_openflow_rule(f, i, &flows)); i++)
		if (strcmp(r, id) == 0)
			return flows;
	return 0;
}

static int add(const char *id, const struct ncm_filter *fl, size_t n, char *err)
{
	return fwd_openflow_ops.filter_add(f, id, fl, n, 1000, err, 256);
}

static void test_filters_to_flows(void **state)
{
	struct fwd_openflow_state st;
	char err[256] = "";
	start(false);
	fwd_openflow_state(f, &st);
	/* from 3 node ports, udp/270 v4 + v6, NORMAL below */
	assert_int_equal(st.n_flows, 6);
	assert_false(st.connected);

	struct ncm_filter fl = {.proto = NCM_PROTO_UDP, .port_lo = 5060, .port_hi = 5062};
	assert_int_equal(add("u/a", &fl, 1, err), 0); /* 3 ports x 2 families */
	assert_int_equal(flows_of("u/a"), 6);
	assert_int_equal(ncm_prefix_parse("192.0.2.0/24", &fl.dst), 0);
	assert_int_equal(add("u/a", &fl, 1, err), 0); /* replaced: IPv4 only */
	assert_int_equal(flows_of("u/a"), 3);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_rules, 1);
	assert_int_equal(st.n_flows, 6 + 3);
	/* A replacement that fails leaves the rule as it was. */
	struct ncm_filter wide = {.proto = NCM_PROTO_UDP, .port_lo = 1, .port_hi = 99};
	assert_int_equal(add("u/a", &wide, 1, err), -ENOTSUP);
	assert_int_equal(flows_of("u/a"), 3);

	struct ncm_filter two[2] = {{.proto = NCM_PROTO_ICMP}, {.proto = NCM_PROTO_TCP}};
	assert_int_equal(add("u/b", two, 2, err), 0); /* icmp: v4; tcp: both */
	assert_int_equal(flows_of("u/b"), 3);
	assert_int_equal(ncm_prefix_parse("2001:db8::/32", &two[1].src), 0);
	assert_int_equal(add("u/b", two, 2, err), 0);
	assert_int_equal(flows_of("u/b"), 2);

	struct ncm_filter bad = {.proto = NCM_PROTO_UDP, .port_lo = 1000, .port_hi = 1016};
	assert_int_equal(add("u/c", &bad, 1, err), -ENOTSUP);
	assert_non_null(strstr(err, "more than 16 ports"));
	bad = (struct ncm_filter){.proto = NCM_PROTO_SCTP, .port_lo = 9, .port_hi = 9};
	assert_int_equal(add("u/c", &bad, 1, err), -ENOTSUP);
	assert_non_null(strstr(err, "TCP and UDP ports only"));
	bad = (struct ncm_filter){.proto = NCM_PROTO_ICMPV6};
	assert_int_equal(ncm_prefix_parse("192.0.2.1/32", &bad.dst), 0);
	assert_int_equal(add("u/c", &bad, 1, err), -EINVAL); /* icmpv6 to an IPv4 prefix */
	assert_non_null(strstr(err, "other IP version"));
	assert_int_equal(flows_of("u/c"), 0); /* nothing kept of a refused rule */
	bad.dst.family = 0;
	assert_int_equal(add("u/c", &bad, 1, err), 0);
	assert_int_equal(flows_of("u/c"), 1); /* one IPv6 flow */

	/* The table's cap (4096 messages): the rule that passes it is refused
	 * and nothing of it is kept (rolled back). */
	struct ncm_filter big[NCM_MAX_FILTERS];
	for (size_t i = 0; i < NCM_MAX_FILTERS; i++)
		big[i] = (struct ncm_filter){.proto = NCM_PROTO_UDP,
		                             .port_lo = (uint16_t)(10000 + 100 * i),
		                             .port_hi = (uint16_t)(10015 + 100 * i)};
	int r = 0, added = 0;
	char id[32];
	while (r == 0 && added < 40) {
		snprintf(id, sizeof(id), "u/big%d", added);
		r = add(id, big, NCM_MAX_FILTERS, err);
		added += r == 0;
	}
	assert_int_equal(r, -E2BIG);
	assert_int_equal(added, 15); /* 15 x 256 flows + the others fit, 16 do not */
	assert_int_equal(flows_of(id), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_rules, 3 + 15); /* u/a, u/b, u/c and the 15 */
	snprintf(id, sizeof(id), "u/big%d", 0);
	assert_int_equal(add(id, big, 1, err), 0); /* a replacement that fits */
	assert_int_equal(flows_of(id), 32);

	/* A local-only rule (no '/') without a local driver is refused. */
	assert_int_equal(add("gist", &fl, 1, err), -ENOTSUP);
	assert_int_equal(fwd_openflow_ops.filter_remove(f, "u/a"), 0);
	assert_int_equal(fwd_openflow_ops.filter_remove(f, "u/a"), -ENOENT);
	assert_int_equal(flows_of("u/a"), 0);
	assert_int_equal(fwd_openflow_ops.flush(f, err, sizeof(err)), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_rules, 0);
	assert_int_equal(st.n_flows, 6);
	stop();
}

static void test_local_composition(void **state)
{
	char err[256] = "";
	struct ncm_filter fl = {.proto = NCM_PROTO_UDP, .port_lo = 270, .port_hi = 270};
	start(true);
	assert_int_equal(add("gist", &fl, 1, err), 0); /* local only */
	assert_int_equal(local_adds, 1);
	assert_int_equal(flows_of("gist"), 0);
	assert_int_equal(add("u/a", &fl, 1, err), 0); /* both */
	assert_int_equal(local_adds, 2);
	assert_int_equal(flows_of("u/a"), 2);
	assert_int_equal(fwd_openflow_ops.filter_remove(f, "u/a"), 0);
	assert_int_equal(fwd_openflow_ops.filter_remove(f, "gist"), 0);
	assert_int_equal(local_removes, 2);
	/* A filter the switch cannot take is not given to the local driver. */
	struct ncm_filter bad = {.proto = NCM_PROTO_UDP, .port_lo = 1, .port_hi = 100};
	assert_int_equal(add("u/b", &bad, 1, err), -ENOTSUP);
	assert_int_equal(local_adds, 2);
	stop();
}

static void test_membership(void **state)
{
	struct fwd_openflow_state st;
	char err[256] = "";
	struct ncm_filter fl = {.proto = NCM_PROTO_UDP, .port_lo = 7000, .port_hi = 7000};
	start(false);
	assert_int_equal(add("u/a", &fl, 1, err), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_up, 3);
	assert_int_equal(fwd_openflow_set_node_up(f, "n9", false), -ENOENT);
	assert_int_equal(fwd_openflow_set_node_up(f, "n2", false), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_up, 2);
	assert_false(fwd_openflow_node(f, 1)->up);
	assert_true(fwd_openflow_node(f, 0)->up);
	assert_null(fwd_openflow_node(f, 3));
	/* Drained, then dead and alive again (the group's health): it stays out
	 * until the operator undrains it; undrained while dead, it stays out
	 * until it is alive. */
	assert_int_equal(fwd_openflow_set_node_alive(f, "n9", false), -ENOENT);
	assert_int_equal(fwd_openflow_set_node_alive(f, "n2", false), 0);
	assert_int_equal(fwd_openflow_set_node_alive(f, "n2", true), 0);
	assert_false(fwd_openflow_node(f, 1)->up);
	assert_true(fwd_openflow_node(f, 1)->drained);
	assert_int_equal(fwd_openflow_set_node_alive(f, "n2", false), 0);
	assert_int_equal(fwd_openflow_set_node_up(f, "n2", true), 0);
	assert_false(fwd_openflow_node(f, 1)->up);
	assert_true(fwd_openflow_node(f, 1)->dead);
	assert_int_equal(fwd_openflow_set_node_alive(f, "n2", true), 0);
	assert_true(fwd_openflow_node(f, 1)->up);
	assert_int_equal(fwd_openflow_set_node_up(f, "n2", false), 0);
	/* Every node down: fail-open keeps the same flows (pointing NORMAL). */
	assert_int_equal(fwd_openflow_set_node_up(f, "n1", false), 0);
	assert_int_equal(fwd_openflow_set_node_up(f, "n3", false), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_up, 0);
	assert_int_equal(st.n_flows, 6 + 2);
	/* The membership API: two nodes, one up. */
	struct fwd_of_node nodes[2] = {{.name = "a", .of_port = 7, .up = true},
	                               {.name = "b", .of_port = 8}};
	assert_int_equal(fwd_openflow_set_nodes(f, nodes, 2), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_nodes, 2);
	assert_int_equal(st.n_up, 1);
	nodes[1].of_port = 0;
	assert_int_equal(fwd_openflow_set_nodes(f, nodes, 2), -EINVAL);
	nodes[1].of_port = 0xffffff01u;
	assert_int_equal(fwd_openflow_set_nodes(f, nodes, 2), -EINVAL);
	assert_int_equal(fwd_openflow_set_nodes(f, nodes, FWD_OF_MAX_NODES + 1), -EINVAL);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_nodes, 2); /* refused changes change nothing */
	assert_int_equal(fwd_openflow_set_nodes(f, NULL, 0), 0);
	fwd_openflow_state(f, &st);
	assert_int_equal(st.n_nodes, 0);
	stop();
}

static void test_config_errors(void **state)
{
	char err[256] = "";
	struct fwd_of_node nodes[2] = {{.name = "a", .of_port = 1}};
	struct fwd_openflow_config cfg = {.listen = "127.0.0.1:0", .signaling_port = 0};
	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(fwd_openflow_new(loop, &cfg, &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "signaling port 0"));
	cfg.signaling_port = 1;
	cfg.nodes = nodes;
	cfg.n_nodes = 2; /* the second has port 0 */
	assert_int_equal(fwd_openflow_new(loop, &cfg, &f, err, sizeof(err)), -EINVAL);
	cfg.n_nodes = 1;
	cfg.listen = "not an address";
	assert_true(fwd_openflow_new(loop, &cfg, &f, err, sizeof(err)) < 0);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_filters_to_flows),
	        cmocka_unit_test(test_local_composition),
	        cmocka_unit_test(test_membership),
	        cmocka_unit_test(test_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
