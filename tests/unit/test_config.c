/* Unit tests: netservd configuration parsing. */
#include <errno.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "fwd/fwd_openflow.h"

static char *many_publishers(const char *head, int n);

static void test_defaults(void **state)
{
	struct ns_config c;
	config_defaults(&c);
	assert_true(c.node_id[0] != '\0');
	assert_int_equal(c.default_ttl, 3600);
	assert_int_equal(c.fetch_timeout_s, 30);
	assert_int_equal(c.fetch_max_size, 16u << 20);
	assert_string_equal(c.fetch_protocols, "http,https");
	assert_true(c.require_hash);
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	assert_false(c.sig_router_alert);
	assert_true(c.sig_router_alert6); /* NSIS-ka needs it (docs/gist.md) */
}

static void test_full_file(void **state)
{
	static const char text[] = "; a comment\n"
	                           "[node]\n"
	                           "id = router-a\n"
	                           "state_dir = /tmp/ns-state\n"
	                           "admin_socket = /tmp/ns.sock\n"
	                           "[log]\n"
	                           "level = debug\n"
	                           "syslog = yes\n"
	                           "[fetch]\n"
	                           "timeout = 5\n"
	                           "max_size = 512K\n"
	                           "protocols = http,https,file\n"
	                           "[modules]\n"
	                           "default_ttl = 60\n"
	                           "max_ttl = 600\n"
	                           "max_modules = 10\n"
	                           "require_hash = no\n"
	                           "[signaling]\n"
	                           "router_alert = yes\n"
	                           "router_alert6 = no\n";
	struct ns_config c;
	char err[256];
	config_defaults(&c);
	assert_int_equal(config_load_string(&c, "t.conf", text, err, sizeof(err)), 0);
	assert_string_equal(c.node_id, "router-a");
	assert_string_equal(c.state_dir, "/tmp/ns-state");
	assert_string_equal(c.admin_socket, "/tmp/ns.sock");
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_true(c.log_syslog);
	assert_int_equal(c.fetch_timeout_s, 5);
	assert_int_equal(c.fetch_max_size, 512 * 1024);
	assert_string_equal(c.fetch_protocols, "http,https,file");
	assert_int_equal(c.default_ttl, 60);
	assert_int_equal(c.max_ttl, 600);
	assert_int_equal(c.max_modules, 10);
	assert_false(c.require_hash);
	assert_true(c.sig_router_alert);
	assert_false(c.sig_router_alert6);
	config_free(&c);
}

static void test_many_publishers(void **state)
{
	/* 4096 publishers (the limit), the last queue 65535 exactly */
	char *text = many_publishers("[containers]\nqueue_base = 61440\nuid_base = 100000\n", 4096);
	struct ns_config c;
	char err[256] = "";
	config_defaults(&c);
	int r = config_load_string(&c, "many.conf", text, err, sizeof(err));
	if (r < 0)
		fail_msg("%s", err);
	assert_int_equal(c.n_publishers, 4096);
	assert_string_equal(c.publishers[4095].ct.user, "p4095");
	assert_int_equal(c.publishers[4095].ct.uid, 100000 + 4095);
	assert_int_equal(c.publishers[4095].ct.nice, 5);
	assert_false(c.security.netns[4095]);
	/* a config moved into another leaves the first empty */
	struct ns_config d;
	config_defaults(&d);
	config_move(&d, &c);
	assert_int_equal(c.n_publishers, 0);
	assert_null(c.publishers);
	assert_int_equal(d.n_publishers, 4096);
	config_free(&d);
	config_free(&c);
	free(text);
}

static void expect_error(const char *text, const char *needle)
{
	struct ns_config c;
	char err[256] = "";
	config_defaults(&c);
	assert_true(config_load_string(&c, "bad.conf", text, err, sizeof(err)) < 0);
	config_free(&c);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
}

/* n publishers p0 .. p(n-1), one key each, after `head`; the caller frees. */
static char *many_publishers(const char *head, int n)
{
	size_t len = strlen(head) + (size_t)n * 32 + 1;
	char *text = malloc(len), *p = text;
	assert_non_null(text);
	p += sprintf(p, "%s", head);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "[publisher p%d]\nnice = 5\n", i);
	return text;
}

static void test_errors(void **state)
{
	expect_error("[node]\nbogus = 1\n", "bad.conf:2: unknown key 'bogus' in section [node]");
	expect_error("[nowhere]\nid = x\n", "unknown section [nowhere]");
	expect_error("id = x\n", "outside of any section");
	expect_error("[fetch]\ntimeout = 0\n", "not a number in 1..3600");
	expect_error("[fetch]\ntimeout = -5\n", "not a number");
	expect_error("[fetch]\ntimeout = 12abc\n", "not a number");
	expect_error("[fetch]\nmax_size = 12Q\n", "not a size");
	expect_error("[log]\nlevel = loud\n", "not one of err");
	expect_error("[log]\nsyslog = maybe\n", "not yes or no");
	expect_error("[modules]\ndefault_ttl = 100\nmax_ttl = 50\n", "larger than max_ttl");
	expect_error("[node]\nstate_dir =\n", "must not be empty");
	expect_error("[node\nid = x\n", "bad.conf:1:");
	{ /* the 4097th publisher */
		char *text = many_publishers("", 4097);
		expect_error(text,
		             "[publisher p4096]: more than 4096 publishers (the node's limit)");
		free(text);
	}
	{ /* NFQUEUE numbers past 65535 */
		char *text = many_publishers("[containers]\nqueue_base = 65000\n", 537);
		expect_error(text,
		             "[containers] queue_base 65000 with 537 publishers needs NFQUEUE "
		             "numbers up to 65536, past 65535: lower queue_base to at most "
		             "64999");
		free(text);
	}
	expect_error("[metrics]\nlisten = 127.0.0.1\n", "bad.conf:2: [metrics] listen: "
	                                                "'127.0.0.1' is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = localhost:9473\n", "is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = 127.0.0.1:0\n", "is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = 127.0.0.1:65536\n", "is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = 127.0.0.1:-1\n", "is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = ::1:9473\n", "is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = [127.0.0.1]:9473\n", "is not ADDRESS:PORT");
	expect_error("[metrics]\nlisten = [::1]\n", "is not ADDRESS:PORT");
	char longval[400];
	memset(longval, 'a', sizeof(longval));
	memcpy(longval, "[node]\nid = ", 12);
	longval[sizeof(longval) - 2] = '\n';
	longval[sizeof(longval) - 1] = '\0';
	expect_error(longval, "value longer than 63 bytes");
}

/* [forwarding] driver = openflow and its [openflow] section. */
static void test_openflow(void **state)
{
#define OF_BASE "[forwarding]\ndriver = openflow\n[openflow]\nlisten = 127.0.0.1:6653\n"
	expect_error("[forwarding]\ndriver = ovs\n",
	             "[forwarding] driver 'ovs' is not netfilter, xdp, openflow or none");
	expect_error("[forwarding]\ndriver = openflow\n", "needs [openflow] listen");
	expect_error(OF_BASE, "and signaling_port");
	expect_error(OF_BASE "signaling_port = 0\n",
	             "[openflow] signaling_port: '0' is not a number");
	expect_error(OF_BASE "signaling_port = 4294967041\n", "is not a number in 1..4294967040");
	expect_error(OF_BASE "signaling_port = 3\nnodes = n1\n",
	             "[openflow] nodes: 'n1' is not NAME:PORT[:MAC]");
	expect_error(OF_BASE "signaling_port = 3\nnodes = n1:0\n",
	             "node n1: port '0' is not an OpenFlow port number");
	expect_error(OF_BASE "signaling_port = 3\nnodes = n1:3:02:00:00:00:00\n",
	             "node n1: '02:00:00:00:00' is not a MAC address");
	expect_error(OF_BASE "signaling_port = 3\nnodes = n1:3, n1:4\n",
	             "node n1: its name is also node n1's");
	expect_error(OF_BASE "signaling_port = 3\nnodes = n1:3, n2:3\n",
	             "node n2: its port is also node n1's");
	expect_error(OF_BASE "signaling_port = 3\nnodes = n1:3\nlocal_node = n2\n",
	             "[openflow] local_node 'n2' is not one of [openflow] nodes");
	expect_error(OF_BASE "signaling_port = 3\necho_interval_ms = 3000\n",
	             "echo_timeout_ms 3000 must be above echo_interval_ms 3000");

	struct ns_config cfg;
	char err[256] = "";
	config_defaults(&cfg);
	assert_int_equal(config_load_string(&cfg, "of.conf",
	                                    OF_BASE "signaling_port = 3\n"
	                                            "nodes = n1:3:02:77:00:00:00:11, n2:4 ,n3:5\n"
	                                            "local_node = n1\n",
	                                    err, sizeof(err)),
	                 0);
	assert_string_equal(cfg.fwd_driver, "openflow");
	assert_int_equal(cfg.of_signaling_port, 3);
	struct fwd_of_node nodes[4];
	size_t n = 0;
	assert_int_equal(fwd_openflow_parse_nodes(cfg.of_nodes, nodes, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(nodes[0].name, "n1");
	assert_int_equal(nodes[0].of_port, 3);
	assert_true(nodes[0].has_mac && nodes[0].up);
	assert_int_equal(nodes[0].mac[5], 0x11);
	assert_string_equal(nodes[1].name, "n2");
	assert_false(nodes[1].has_mac);
	assert_int_equal(nodes[2].of_port, 5);
	assert_int_equal(fwd_openflow_parse_nodes("a:1,b:2,c:3", nodes, 2, &n, err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "more than 2 nodes");
	config_free(&cfg);
#undef OF_BASE
}

static void test_metrics_listen(void **state)
{
	struct ns_config c;
	char err[256];
	config_defaults(&c);
	assert_string_equal(c.metrics_listen.text, ""); /* off by default */
	assert_int_equal(config_load_string(&c, "t", "[metrics]\nlisten = 127.0.0.1:9473\n", err,
	                                    sizeof(err)),
	                 0);
	const struct sockaddr_in *in4 = (const struct sockaddr_in *)&c.metrics_listen.addr;
	assert_int_equal(in4->sin_family, AF_INET);
	assert_int_equal(ntohs(in4->sin_port), 9473);
	assert_int_equal(ntohl(in4->sin_addr.s_addr), 0x7f000001);
	assert_string_equal(c.metrics_listen.text, "127.0.0.1:9473");
	assert_int_equal(
	        config_load_string(&c, "t", "[metrics]\nlisten = [::1]:80\n", err, sizeof(err)), 0);
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&c.metrics_listen.addr;
	assert_int_equal(in6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(in6->sin6_port), 80);
	assert_int_equal(c.metrics_listen.addr_len, sizeof(*in6));
	assert_int_equal(config_load_string(&c, "t", "[metrics]\nlisten =\n", err, sizeof(err)), 0);
	assert_string_equal(c.metrics_listen.text, "");
}

static void test_missing_file(void **state)
{
	struct ns_config c;
	char err[256];
	config_defaults(&c);
	assert_int_equal(config_load(&c, "/nonexistent/netservd.conf", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
}

static void test_sample_config_parses(void **state)
{
	/* The shipped sample must always be valid. */
	struct ns_config c;
	char err[256];
	config_defaults(&c);
	assert_int_equal(config_load(&c, SOURCE_DIR "/etc/netservd.conf", err, sizeof(err)), 0);
	config_free(&c);
}

static void test_publishers(void **state)
{
	static const char text[] = "[containers]\n"
	                           "uid_base = 30000\n"
	                           "[publisher janedoe]\n"
	                           "memory = 128M\n"
	                           "cpu = 50\n"
	                           "[publisher bob]\n"
	                           "uid = 4242\n"
	                           "budget_ms = 20\n";
	struct ns_config c;
	char err[256];
	config_defaults(&c);
	assert_int_equal(config_load_string(&c, "p.conf", text, err, sizeof(err)), 0);
	assert_int_equal(c.n_publishers, 2);
	assert_string_equal(c.publishers[0].ct.user, "janedoe");
	assert_int_equal(c.publishers[0].ct.uid, 30000);
	assert_int_equal(c.publishers[0].ct.gid, 30000);
	assert_int_equal(c.publishers[0].cgroup.memory_bytes, 128u << 20);
	assert_int_equal(c.publishers[0].cgroup.cpu_percent, 50);
	assert_int_equal(c.publishers[0].ct.budget_ms, 100);
	assert_string_equal(c.publishers[1].ct.user, "bob");
	assert_int_equal(c.publishers[1].ct.uid, 4242);
	assert_int_equal(c.publishers[1].ct.gid, 4242);
	assert_int_equal(c.publishers[1].ct.budget_ms, 20);
	config_free(&c);
	expect_error("[publisher Bad-Name]\nuid = 1\n", "not a valid user name");
	expect_error("[publisher x]\ncolour = red\n",
	             "unknown key 'colour' in section [publisher x]");
	expect_error("[publisher x]\nbudget_ms = 0\n", "not a number in 1..10000");
	expect_error("[modules]\nruntime = jvm\n", "is not wasm or none");
}

static void test_sizes_and_bools(void **state)
{
	uint64_t v;
	bool b;
	assert_int_equal(config_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("1G", &v), 0);
	assert_int_equal(v, 1u << 30);
	assert_int_equal(config_parse_size("3k", &v), 0);
	assert_int_equal(v, 3072);
	assert_int_equal(config_parse_size("", &v), -EINVAL);
	assert_int_equal(config_parse_size("-1", &v), -EINVAL);
	assert_int_equal(config_parse_size("1MB", &v), -EINVAL);
	assert_int_equal(config_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(config_parse_size("17179869184G", &v), -ERANGE);
	assert_int_equal(config_parse_bool("On", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("0", &b), 0);
	assert_false(b);
	assert_int_equal(config_parse_bool("nah", &b), -EINVAL);
}

/* [forwarding]: the driver's name, the sampler, and the interfaces of the
 * AF_XDP plane and of the tc sampler. */
static void test_forwarding(void **state)
{
	struct ns_config c;
	char err[256] = "", names[4][16];

	expect_error("[forwarding]\ndriver = ebpf\n",
	             "driver 'ebpf' is not netfilter, xdp, openflow or none");
	expect_error("[forwarding]\ndriver = xdp\n", "driver = xdp needs interfaces");
	expect_error("[forwarding]\ndriver = xdp\ninterfaces = a b c d e\n", "at most 4");
	expect_error("[forwarding]\ndriver = xdp\ninterfaces = eth0, averyveryverylongname\n",
	             "1..15 characters");
	expect_error("[forwarding]\ndriver = xdp\ninterfaces = ../x\n", "without '/'");
	expect_error("[forwarding]\nstall_ms = 5\n", "stall_ms");
	config_defaults(&c);
	assert_int_equal(c.xdp_stall_ms, 100);
	assert_int_equal(config_load_string(&c, "t",
	                                    "[forwarding]\ndriver = xdp\ninterfaces = eth0,  "
	                                    "eth1\nstall_ms = 20\n",
	                                    err, sizeof(err)),
	                 0);
	assert_string_equal(c.fwd_driver, "xdp");
	assert_int_equal(c.xdp_stall_ms, 20);
	assert_int_equal(config_interfaces(c.fwd_interfaces, names, 4), 2);
	assert_string_equal(names[0], "eth0");
	assert_string_equal(names[1], "eth1");
	config_free(&c);
	/* The interfaces matter only to the xdp driver and the tc sampler. */
	config_defaults(&c);
	assert_string_equal(c.fwd_sampler, "nflog");
	assert_int_equal(
	        config_load_string(&c, "t", "[forwarding]\ndriver = none\n", err, sizeof(err)), 0);
	config_free(&c);
	/* The netfilter plane's sampler: nflog (rules) or tc (its interfaces). */
	expect_error("[forwarding]\nsampler = bpf\n", "sampler 'bpf' is not nflog or tc");
	expect_error("[forwarding]\nsampler = tc\n", "sampler = tc needs interfaces");
	expect_error("[forwarding]\ndriver = xdp\nsampler = tc\ninterfaces = eth0\n",
	             "sampler = tc is for driver = netfilter");
	expect_error("[forwarding]\nsampler = tc\ninterfaces = a/b\n", "without '/'");
	config_defaults(&c);
	assert_int_equal(config_load_string(&c, "t",
	                                    "[forwarding]\nsampler = tc\ninterfaces = eth0 eth1\n",
	                                    err, sizeof(err)),
	                 0);
	assert_string_equal(c.fwd_sampler, "tc");
	assert_string_equal(c.fwd_driver, "netfilter");
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_full_file),
	        cmocka_unit_test(test_errors),          cmocka_unit_test(test_missing_file),
	        cmocka_unit_test(test_metrics_listen),  cmocka_unit_test(test_sample_config_parses),
	        cmocka_unit_test(test_sizes_and_bools), cmocka_unit_test(test_publishers),
	        cmocka_unit_test(test_many_publishers), cmocka_unit_test(test_forwarding),
	        cmocka_unit_test(test_openflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
