/* Unit tests of the security layer: key files, NCM signatures (policy/auth.h),
 * per-publisher policy (policy/policy.h), the nonce table and its schema
 * migration (ctl/store.h), the guard's authentication and authorization
 * (ctl/guard.h), and the security keys of the configuration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "policy/auth.h"
#include "ctl/guard.h"
#include "policy/policy.h"
#include "proto/sandbox_config.h"
#include "ctl/store.h"
#include "daemon/config.h"
#include "lib/evloop.h"

static char tmpdir[64];

static int group_setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/netserv-auth.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	assert_int_equal(auth_init(), 0);
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ncm_msg *parse(const char *text)
{
	struct ncm_msg *m = NULL;
	char err[NCM_ERR_LEN];
	if (ncm_parse(text, strlen(text), &m, err, sizeof(err)) < 0)
		fail_msg("parse: %s", err);
	return m;
}

static const char setup_text[] = "SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\n"
                                 "user:janedoe\n"
                                 "url:http://192.0.2.1/counter.wasm\n"
                                 "filter-proto:udp\n"
                                 "filter-port:5060\n"
                                 "filter-dst:192.0.2.10\n"
                                 "\n";

/* ---- keys and signatures ------------------------------------------------------ */

static void test_key_files(void **state)
{
	uint8_t pk[AUTH_PUBLIC_LEN], sk[AUTH_SECRET_LEN], pk2[AUTH_PUBLIC_LEN],
	        sk2[AUTH_SECRET_LEN];
	char text[AUTH_KEY_TEXT], err[NCM_ERR_LEN], path[128];
	assert_int_equal(auth_keygen(pk, sk), 0);
	assert_true(auth_format_public(pk, "jane's key", text, sizeof(text)) > 0);
	assert_non_null(strstr(text, AUTH_PUBLIC_TAG " "));
	assert_int_equal(auth_parse_public(text, pk2, err, sizeof(err)), 0);
	assert_memory_equal(pk, pk2, sizeof(pk));
	/* Comments and blank lines before the key are skipped. */
	char text2[AUTH_KEY_TEXT + 32];
	snprintf(text2, sizeof(text2), "# a comment\n\n%s", text);
	assert_int_equal(auth_parse_public(text2, pk2, err, sizeof(err)), 0);
	/* A secret key is not a public key, and truncation is caught. */
	assert_true(auth_format_secret(sk, text, sizeof(text)) > 0);
	assert_int_equal(auth_parse_public(text, pk2, err, sizeof(err)), -EINVAL);
	assert_int_equal(auth_parse_secret(text, sk2, err, sizeof(err)), 0);
	assert_memory_equal(sk, sk2, sizeof(sk));
	assert_int_equal(auth_parse_public(AUTH_PUBLIC_TAG " AAAA\n", pk2, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(auth_format_public(pk, "bad\ncomment", text, sizeof(text)), -EINVAL);

	/* A secret key file readable by others is refused; 0600 is fine. */
	snprintf(path, sizeof(path), "%s/loose.key", tmpdir);
	assert_int_equal(auth_write_file(path, text, 0644, err, sizeof(err)), 0);
	assert_int_equal(auth_load_secret(path, sk2, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(auth_write_file(path, text, 0600, err, sizeof(err)), -EEXIST);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(auth_load_secret(path, sk2, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/absent.pub", tmpdir);
	assert_int_equal(auth_load_public(path, pk2, err, sizeof(err)), -ENOENT);
}

static void test_sign_verify(void **state)
{
	uint8_t pk[AUTH_PUBLIC_LEN], sk[AUTH_SECRET_LEN], opk[AUTH_PUBLIC_LEN],
	        osk[AUTH_SECRET_LEN];
	char err[NCM_ERR_LEN];
	assert_int_equal(auth_keygen(pk, sk), 0);
	assert_int_equal(auth_keygen(opk, osk), 0);
	struct ncm_msg *m = parse(setup_text);
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), -ENOKEY);
	assert_int_equal(auth_sign(m, sk, NULL, 1700000000, "nonce-0001", err, sizeof(err)), 0);
	assert_string_equal(ncm_get(m, "timestamp"), "1700000000");
	assert_string_equal(ncm_get(m, "nonce"), "nonce-0001");
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), 0);
	/* Another publisher's key does not verify it. */
	assert_int_equal(auth_verify(m, opk, err, sizeof(err)), -EACCES);

	/* The signature covers the canonical form: header order, name case, CRLF
	 * and blanks around values do not matter; any change of a value does. */
	char *wire;
	size_t len;
	assert_int_equal(ncm_serialize(m, &wire, &len), 0);
	char reordered[2048];
	const char *sig = ncm_get(m, "signature");
	snprintf(reordered, sizeof(reordered),
	         "SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\r\n"
	         "Signature: %s\r\nNONCE:nonce-0001\r\nfilter-dst:  192.0.2.10\r\n"
	         "Filter-Port:5060\r\nfilter-proto:udp\r\nuser:janedoe\r\n"
	         "url:http://192.0.2.1/counter.wasm\r\ntimestamp:1700000000\r\nx-empty:\r\n\r\n",
	         sig);
	struct ncm_msg *r = parse(reordered);
	assert_int_equal(auth_verify(r, pk, err, sizeof(err)), 0);
	ncm_free(r);
	static const char *const changes[][2] = {
	        {"filter-dst", "0.0.0.0/0"},
	        {"url", "http://evil.example/x.wasm"},
	        {"user", "bob"},
	        {"timestamp", "1700000001"},
	        {"nonce", "nonce-0002"},
	        {"x-new", "an unknown header is signed too"},
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		r = parse(wire);
		assert_int_equal(ncm_set(r, changes[i][0], changes[i][1]), 0);
		assert_int_equal(auth_verify(r, pk, err, sizeof(err)), -EACCES);
		ncm_free(r);
	}
	/* The method and target are signed too: the same headers as a REMOVE. */
	r = parse(wire);
	r->method = NCM_METHOD_REMOVE;
	assert_int_equal(auth_verify(r, pk, err, sizeof(err)), -EACCES);
	ncm_free(r);
	free(wire);
	/* Malformed signatures. */
	assert_int_equal(ncm_set(m, "signature", "not-base64!"), 0);
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), -EBADMSG);
	assert_int_equal(ncm_set(m, "signature", "AAAA"), 0);
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), -EBADMSG);
	/* Signing again replaces timestamp, nonce and signature. */
	assert_int_equal(auth_sign(m, sk, NULL, -1, NULL, err, sizeof(err)), 0);
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), 0);
	assert_int_equal(strlen(ncm_get(m, "nonce")), AUTH_NONCE_LEN);
	size_t n_sig = 0;
	for (size_t i = 0; i < m->n_headers; i++)
		n_sig += strcmp(m->headers[i].name, "signature") == 0;
	assert_int_equal(n_sig, 1);
	/* The signed message is a valid request for the codec. */
	struct ncm_request req;
	assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
	assert_true(req.has_timestamp);
	assert_non_null(req.signature);
	ncm_request_done(&req);
	ncm_free(m);
}

/* ---- policy ------------------------------------------------------------------ */

static void test_policy_parse(void **state)
{
	struct policy_prefixes l;
	struct policy_ports p, t, u;
	char err[256], buf[POLICY_TEXT_LEN];
	assert_int_equal(
	        policy_parse_prefixes("192.0.2.0/24, 2001:db8::/32 10.1.2.3", &l, err, sizeof(err)),
	        0);
	assert_int_equal(l.n, 3);
	assert_string_equal(policy_format_prefixes(&l, buf, sizeof(buf)),
	                    "192.0.2.0/24,2001:db8::/32,10.1.2.3/32");
	assert_int_equal(policy_parse_prefixes("any", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(policy_parse_prefixes("none", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(policy_parse_prefixes("192.0.2.1/24", &l, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "192.0.2.1/24"));

	assert_int_equal(policy_parse_ports("5060, 8000-8100", &p, err, sizeof(err)), 0);
	assert_false(p.any);
	assert_true(policy_port_allowed(&p, 8050));
	assert_false(policy_port_allowed(&p, 5061));
	assert_int_equal(policy_parse_ports("any", &p, err, sizeof(err)), 0);
	assert_true(p.any);
	assert_int_equal(policy_parse_ports("0", &p, err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_parse_ports("10-5", &p, err, sizeof(err)), -EINVAL);

	assert_int_equal(
	        policy_parse_listen_ports("tcp:80, udp:5060-5061, 8080", &t, &u, err, sizeof(err)),
	        0);
	assert_true(policy_port_allowed(&t, 80));
	assert_false(policy_port_allowed(&u, 80));
	assert_true(policy_port_allowed(&u, 5061));
	assert_true(policy_port_allowed(&t, 8080) && policy_port_allowed(&u, 8080));
	assert_string_equal(policy_format_listen_ports(&t, &u, buf, sizeof(buf)),
	                    "tcp:80,tcp:8080,udp:5060-5061,udp:8080");
	assert_int_equal(policy_parse_listen_ports("sctp:80", &t, &u, err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_parse_listen_ports("any", &t, &u, err, sizeof(err)), -EINVAL);

	struct policy_listen v[POLICY_MAX_LISTEN];
	assert_int_equal(policy_parse_listen("tcp:80,udp:5060", v, err, sizeof(err)), 2);
	assert_int_equal(v[1].proto, NCM_PROTO_UDP);
	assert_int_equal(v[1].port, 5060);
	assert_int_equal(policy_parse_listen("tcp:80-81", v, err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_parse_listen("80", v, err, sizeof(err)), -EINVAL);

	struct ncm_prefix a, b;
	assert_int_equal(ncm_prefix_parse("192.0.2.0/25", &a), 0);
	assert_int_equal(ncm_prefix_parse("192.0.2.0/24", &b), 0);
	assert_true(policy_prefix_within(&a, &b));
	assert_false(policy_prefix_within(&b, &a));
	assert_int_equal(ncm_prefix_parse("192.0.3.0/25", &a), 0);
	assert_false(policy_prefix_within(&a, &b));
	assert_int_equal(ncm_prefix_parse("2001:db8::/33", &a), 0);
	assert_false(policy_prefix_within(&a, &b));
	uint8_t ip[4] = {192, 0, 2, 77}, other[4] = {198, 51, 100, 1};
	assert_int_equal(policy_parse_prefixes("192.0.2.0/24", &l, err, sizeof(err)), 0);
	assert_true(policy_addr_allowed(&l, AF_INET, ip));
	assert_false(policy_addr_allowed(&l, AF_INET, other));
}

static int check(const struct ns_policy *p, const char *text, const char *listen,
                 const char *proven, char *err, size_t errlen)
{
	struct ncm_msg *m = parse(text);
	struct ncm_request req;
	assert_int_equal(ncm_request_decode(m, &req, err, errlen), 0);
	struct policy_listen v[POLICY_MAX_LISTEN];
	int n = listen ? policy_parse_listen(listen, v, err, errlen) : 0;
	assert_true(n >= 0);
	struct ncm_prefix pr;
	if (proven)
		assert_int_equal(ncm_prefix_parse(proven, &pr), 0);
	int r = policy_check_setup(p, &req, v, (size_t)n, proven ? &pr : NULL, err, errlen);
	ncm_request_done(&req);
	ncm_free(m);
	return r;
}

#define SETUP_WITH(h) "SETUP m NETSERV/0.1\nuser:janedoe\nurl:http://x/m.wasm\n" h "\n"

/* Server modules' keys (socket/1): connect destinations default to the
 * prefixes, a socket limit by default, a byte rate with suffixes. */
static void test_policy_socket_keys(void **state)
{
	struct ns_policy p;
	char err[256];
	uint8_t a[4] = {192, 0, 2, 9}, b[4] = {198, 51, 100, 1};
	(void)state;
	policy_defaults(&p);
	assert_int_equal(p.max_sockets, POLICY_DEFAULT_MAX_SOCKETS);
	assert_int_equal(p.socket_bytes_per_s, 0);
	assert_int_equal(policy_set(&p, "prefixes", "192.0.2.0/24", err, sizeof(err)), 1);
	assert_true(policy_addr_allowed(policy_connect(&p), AF_INET, a));
	assert_false(policy_addr_allowed(policy_connect(&p), AF_INET, b));
	assert_int_equal(
	        policy_set(&p, "connect_destinations", "198.51.100.0/24", err, sizeof(err)), 1);
	assert_false(policy_addr_allowed(policy_connect(&p), AF_INET, a));
	assert_true(policy_addr_allowed(policy_connect(&p), AF_INET, b));
	assert_int_equal(policy_set(&p, "connect_destinations", "none", err, sizeof(err)), 1);
	assert_int_equal(policy_connect(&p)->n, 0);
	assert_int_equal(policy_set(&p, "max_sockets", "1000", err, sizeof(err)), 1);
	assert_int_equal(p.max_sockets, 1000);
	assert_int_equal(p.max_modules, POLICY_DEFAULT_MAX_MODULES);
	assert_int_equal(policy_set(&p, "max_sockets", "-1", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(&p, "socket_bytes", "10M", err, sizeof(err)), 1);
	assert_int_equal(p.socket_bytes_per_s, 10u * 1024 * 1024);
	assert_int_equal(p.send_bytes_per_s, POLICY_DEFAULT_SEND_BYTES);
	assert_int_equal(policy_set(&p, "socket_bytes", "fast", err, sizeof(err)), -EINVAL);
	/* fetch_stall: 1..3600 s, 30 by default, on to the container's sandbox */
	assert_int_equal(p.fetch_stall_s, POLICY_DEFAULT_FETCH_STALL_S);
	assert_int_equal(policy_set(&p, "fetch_stall", "5", err, sizeof(err)), 1);
	assert_int_equal(p.fetch_stall_s, 5);
	assert_int_equal(policy_set(&p, "fetch_stall", "0", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_set(&p, "fetch_stall", "3601", err, sizeof(err)), -EINVAL);
	struct sandbox_config sc = {.fetch_stall_s = 5}, back;
	json_t *j = sandbox_config_to_json(&sc);
	sandbox_config_from_json(j, &back);
	assert_int_equal(back.fetch_stall_s, 5);
	json_object_del(j, "fetch_stall_s"); /* an older node: the default */
	sandbox_config_from_json(j, &back);
	assert_int_equal(back.fetch_stall_s, POLICY_DEFAULT_FETCH_STALL_S);
	json_decref(j);
}

static void test_policy_check(void **state)
{
	struct ns_policy p;
	char err[256];
	policy_defaults(&p);
	/* A publisher cannot fill the node's module limit by default (#12). */
	assert_int_equal(p.max_modules, POLICY_DEFAULT_MAX_MODULES);
	assert_true(p.max_modules > 0);
	assert_int_equal(
	        policy_set(&p, "prefixes", "192.0.2.0/24, 2001:db8::/32", err, sizeof(err)), 1);
	assert_int_equal(policy_set(&p, "filter_protocols", "udp,tcp", err, sizeof(err)), 1);
	assert_int_equal(policy_set(&p, "filter_ports", "5060-5070, 80", err, sizeof(err)), 1);
	assert_int_equal(policy_set(&p, "listen_ports", "tcp:80", err, sizeof(err)), 1);
	assert_int_equal(policy_set(&p, "bogus", "1", err, sizeof(err)), 0);
	assert_int_equal(policy_set(&p, "prefixes", "nonsense", err, sizeof(err)), -EINVAL);
	assert_int_equal(policy_finish(&p, err, sizeof(err)), 0);

	/* No filter: nothing to check. */
	assert_int_equal(check(&p, SETUP_WITH(""), NULL, NULL, err, sizeof(err)), 0);
	/* A filter inside the prefixes, by destination or by source. */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:192.0.2.10\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 0);
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:tcp\nfilter-port:80\n"
	                                  "filter-src:2001:db8:1::/48\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 0);
	/* Outside them; or no address at all (everyone's traffic). */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:198.51.100.0/24\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "outside the prefixes authorized for janedoe"));
	assert_int_equal(check(&p, SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"), NULL, NULL,
	                       err, sizeof(err)),
	                 -EPERM);
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-dst:192.0.0.0/16\nfilter-port:5060\n"
	                                  "filter-proto:udp\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	/* Protocol and ports. */
	assert_int_equal(check(&p, SETUP_WITH("filter-proto:icmp\nfilter-dst:192.0.2.10\n"), NULL,
	                       NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "protocol"));
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060-5080\n"
	                                  "filter-dst:192.0.2.10\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(check(&p, SETUP_WITH("filter-proto:udp\nfilter-dst:192.0.2.10\n"), NULL,
	                       NULL, err, sizeof(err)),
	                 -EPERM);
	/* Several filters: each must pass. Both directions of a server inside
	 * the prefixes: to it (destination) and from it (source). */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:192.0.2.10\n"
	                                  "filter-2-proto:udp\nfilter-2-port:5060\n"
	                                  "filter-2-src:192.0.2.10\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 0);
	/* One filter outside: refused, and the reason names it. */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:192.0.2.10\n"
	                                  "filter-2-proto:udp\nfilter-2-port:5060\n"
	                                  "filter-2-src:192.0.2.10\n"
	                                  "filter-3-proto:udp\nfilter-3-port:5060\n"
	                                  "filter-3-src:198.51.100.7\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "filter 3 (src 198.51.100.7/32, dst any) is outside"));
	/* Any filter's protocol or port, too. */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:192.0.2.10\n"
	                                  "filter-2-proto:udp\nfilter-2-port:9999\n"
	                                  "filter-2-src:192.0.2.10\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "filter 2 port 9999-9999 is not allowed"));
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:192.0.2.10\n"
	                                  "filter-2-proto:icmp\nfilter-2-src:192.0.2.10\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "filter 2 protocol icmp"));
	/* A first filter on someone else's address is not rescued by a second. */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:198.51.100.7\n"
	                                  "filter-2-proto:udp\nfilter-2-port:5060\n"
	                                  "filter-2-src:192.0.2.10\n"),
	                       NULL, NULL, err, sizeof(err)),
	                 -EPERM);
	assert_non_null(strstr(err, "filter 1 (src any, dst 198.51.100.7/32) is outside"));
	/* Listening sockets. */
	assert_int_equal(check(&p, SETUP_WITH(""), "tcp:80", NULL, err, sizeof(err)), 0);
	assert_int_equal(check(&p, SETUP_WITH(""), "tcp:22", NULL, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "tcp:22"));
	assert_int_equal(check(&p, SETUP_WITH(""), "udp:80", NULL, err, sizeof(err)), -EPERM);
	/* Reserved property keys. */
	assert_int_equal(check(&p, SETUP_WITH("properties:netserv.listen=tcp:22\n"), NULL, NULL,
	                       err, sizeof(err)),
	                 -EPERM);
	/* An address proven by reverse routability. */
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:203.0.113.7\n"),
	                       NULL, "203.0.113.7", err, sizeof(err)),
	                 0);
	assert_int_equal(check(&p,
	                       SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"
	                                  "filter-dst:203.0.113.0/24\n"),
	                       NULL, "203.0.113.7", err, sizeof(err)),
	                 -EPERM);

	/* "any" authorizes filters without an address. */
	assert_int_equal(policy_set(&p, "prefixes", "any", err, sizeof(err)), 1);
	assert_int_equal(check(&p, SETUP_WITH("filter-proto:udp\nfilter-port:5060\n"), NULL, NULL,
	                       err, sizeof(err)),
	                 0);
	/* Source prefixes must lie inside the prefixes. */
	policy_defaults(&p);
	assert_int_equal(policy_set(&p, "prefixes", "192.0.2.0/24", err, sizeof(err)), 1);
	assert_int_equal(policy_set(&p, "source_prefixes", "192.0.2.8/29", err, sizeof(err)), 1);
	assert_int_equal(policy_finish(&p, err, sizeof(err)), 0);
	assert_int_equal(policy_source(&p)->n, 1);
	assert_int_equal(policy_set(&p, "source_prefixes", "198.51.100.1", err, sizeof(err)), 1);
	assert_int_equal(policy_finish(&p, err, sizeof(err)), -EINVAL);
}

static bool installed_x(void *ctx, const char *name)
{
	return strcmp(name, "NetServ.lib.X_1") == 0;
}

static void test_dependencies(void **state)
{
	char err[256];
	struct ncm_msg *m =
	        parse(SETUP_WITH("dependencies:ns_log, ns_send_packet,NetServ.lib.X_1\n"));
	struct ncm_request req;
	assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
	const char *bb = "ns_log,ns_clock_ns,ns_send_udp,ns_send_packet";
	assert_int_equal(policy_check_dependencies(&req, bb, installed_x, NULL, err, sizeof(err)),
	                 0);
	assert_int_equal(policy_check_dependencies(&req, bb, NULL, NULL, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "'NetServ.lib.X_1'"));
	ncm_request_done(&req);
	ncm_free(m);
	m = parse(SETUP_WITH("dependencies:ns_log,ns_socket\n"));
	assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
	assert_int_equal(policy_check_dependencies(&req, bb, NULL, NULL, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "missing dependency 'ns_socket'"));
	ncm_request_done(&req);
	ncm_free(m);
}

/* ---- nonces in the store ------------------------------------------------------- */

static int sql_int(const char *db, const char *sql)
{
	sqlite3 *h;
	sqlite3_stmt *s;
	int v = -1;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

static void test_nonces(void **state)
{
	char dir[128], err[256];
	snprintf(dir, sizeof(dir), "%s/nonces", tmpdir);
	struct store *st = NULL;
	assert_int_equal(store_open(dir, &st, err, sizeof(err)), 0);
	assert_int_equal(store_nonce_use(st, "janedoe", "n1", 1000, 500, false, err, sizeof(err)),
	                 0);
	assert_int_equal(store_nonce_use(st, "janedoe", "n1", 1000, 600, false, err, sizeof(err)),
	                 -EEXIST);
	/* Nonces are per publisher. */
	assert_int_equal(store_nonce_use(st, "bob", "n1", 1000, 600, false, err, sizeof(err)), 0);
	store_close(st);
	/* Remembered across a restart ... */
	assert_int_equal(store_open(dir, &st, err, sizeof(err)), 0);
	assert_int_equal(store_nonce_use(st, "janedoe", "n1", 1000, 700, false, err, sizeof(err)),
	                 -EEXIST);
	/* ... until their time is up; then forgotten (the window refuses them). */
	assert_int_equal(store_nonce_use(st, "janedoe", "n2", 2000, 1000, false, err, sizeof(err)),
	                 0);
	assert_int_equal(store_nonce_use(st, "janedoe", "n1", 2000, 1000, false, err, sizeof(err)),
	                 0);
	store_close(st);
	char db[160];
	snprintf(db, sizeof(db), "%s/netserv.db", dir);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM nonces WHERE user = 'bob'"), 0);
}

static void test_schema_migration(void **state)
{
	char dir[128], db[160], err[256];
	snprintf(dir, sizeof(dir), "%s/v1", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(db, sizeof(db), "%s/netserv.db", dir);
	/* A database as version 1 left it, with a module in it. */
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	const char *v1 =
	        "CREATE TABLE modules (user TEXT NOT NULL, module_id TEXT NOT NULL, url TEXT,"
	        " hash TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,"
	        " state TEXT NOT NULL, reason TEXT, has_filter INTEGER NOT NULL,"
	        " proto INTEGER NOT NULL, port_lo INTEGER NOT NULL, port_hi INTEGER NOT NULL,"
	        " src_family INTEGER NOT NULL, src_addr BLOB NOT NULL, src_len INTEGER NOT NULL,"
	        " dst_family INTEGER NOT NULL, dst_addr BLOB NOT NULL, dst_len INTEGER NOT NULL,"
	        " request TEXT, PRIMARY KEY (user, module_id));"
	        "CREATE INDEX modules_expires_at ON modules (expires_at);"
	        "INSERT INTO modules VALUES ('janedoe', 'm', 'file:///m', '', 1, 9999999999999,"
	        " 'active', NULL, 0, 0, 0, 0, 0, zeroblob(16), 0, 0, zeroblob(16), 0, NULL);"
	        "PRAGMA user_version = 1;";
	assert_int_equal(sqlite3_exec(h, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	struct store *st = NULL;
	assert_int_equal(store_open(dir, &st, err, sizeof(err)), 0);
	assert_int_equal(store_nonce_use(st, "janedoe", "n", 10, 1, false, err, sizeof(err)), 0);
	struct store_module *rows;
	size_t n;
	assert_int_equal(store_module_list(st, &rows, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	store_module_list_free(rows, n);
	store_close(st);
	assert_int_equal(sql_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(sql_int(db, "SELECT count(*) FROM nonces"), 1);
}

/* ---- the guard ------------------------------------------------------------------- */

struct gfix {
	struct evloop *loop;
	struct store *st;
	struct guard *g;
	uint8_t sk[AUTH_SECRET_LEN], bob_sk[AUTH_SECRET_LEN];
	struct ns_policy pol[2];
	const struct ncm_prefix *path_dst; /* the MRI destination (NULL: admin socket) */
};

static bool gfix_accept_unbound; /* [security] accept_unbound_signatures */
static bool auth_replayed;       /* auth_text() with guard_authenticate_replayed() */

static void gfix_open(struct gfix *f, bool require)
{
	char dir[128], keys[160], path[200], text[AUTH_KEY_TEXT], err[256];
	uint8_t pk[AUTH_PUBLIC_LEN];
	memset(f, 0, sizeof(*f));
	snprintf(dir, sizeof(dir), "%s/guard-%d", tmpdir, require);
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	mkdir(dir, 0700);
	mkdir(keys, 0700);
	assert_int_equal(auth_keygen(pk, f->sk), 0);
	auth_format_public(pk, NULL, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/janedoe.pub", keys);
	unlink(path);
	assert_int_equal(auth_write_file(path, text, 0644, err, sizeof(err)), 0);
	assert_int_equal(auth_keygen(pk, f->bob_sk), 0); /* bob has no key on the node */
	assert_int_equal(evloop_new(&f->loop), 0);
	assert_int_equal(store_open(dir, &f->st, err, sizeof(err)), 0);
	policy_defaults(&f->pol[0]);
	policy_defaults(&f->pol[1]);
	assert_int_equal(policy_set(&f->pol[0], "prefixes", "192.0.2.0/24", err, sizeof(err)), 1);
	assert_int_equal(policy_set(&f->pol[0], "max_modules", "2", err, sizeof(err)), 1);
	struct guard_publisher pubs[2] = {{"janedoe", &f->pol[0]}, {"bob", &f->pol[1]}};
	struct guard_config cfg = {.require_signatures = require,
	                           .accept_unbound = gfix_accept_unbound,
	                           .keys_dir = keys,
	                           .window_s = 60,
	                           .publishers = pubs,
	                           .n_publishers = 2};
	assert_int_equal(guard_new(f->loop, &cfg, f->st, &f->g, err, sizeof(err)), 0);
}

static void gfix_close(struct gfix *f)
{
	guard_free(f->g);
	store_close(f->st);
	evloop_free(f->loop);
}

/* Authenticates text after signing it with sk (NULL: unsigned) at ts. */
static int auth_text(struct gfix *f, const char *text, const uint8_t *sk, int64_t ts,
                     const char *nonce, char *err, size_t errlen)
{
	struct ncm_msg *m = parse(text);
	if (sk)
		assert_int_equal(auth_sign(m, sk, NULL, ts, nonce, err, errlen), 0);
	struct ncm_request req;
	int r = ncm_request_decode(m, &req, err, errlen);
	if (r == 0) {
		r = auth_replayed
		            ? guard_authenticate_replayed(f->g, m, &req, f->path_dst, err, errlen)
		            : guard_authenticate(f->g, m, &req, f->path_dst, err, errlen);
		ncm_request_done(&req);
	} else {
		r = NCM_BAD_REQUEST; /* what controller_submit() answers */
	}
	ncm_free(m);
	return r;
}

static void test_guard_authenticate(void **state)
{
	struct gfix f;
	char err[NCM_ERR_LEN];
	int64_t now = (int64_t)time(NULL);
	gfix_open(&f, true);
	assert_int_equal(auth_text(&f, setup_text, NULL, 0, NULL, err, sizeof(err)), 401);
	assert_non_null(strstr(err, "not signed"));
	assert_int_equal(auth_text(&f, setup_text, f.sk, now, "nonce-a1", err, sizeof(err)), 0);
	/* The same request again: a replay. */
	assert_int_equal(auth_text(&f, setup_text, f.sk, now, "nonce-a1", err, sizeof(err)), 401);
	assert_non_null(strstr(err, "replayed"));
	/* Stale, or from the future. */
	assert_int_equal(auth_text(&f, setup_text, f.sk, now - 120, NULL, err, sizeof(err)), 401);
	assert_non_null(strstr(err, "stale"));
	assert_int_equal(auth_text(&f, setup_text, f.sk, now + 120, NULL, err, sizeof(err)), 401);
	assert_non_null(strstr(err, "future"));
	/* Signed by someone else (bob's key on a request of janedoe). */
	assert_int_equal(auth_text(&f, setup_text, f.bob_sk, now, NULL, err, sizeof(err)), 401);
	assert_non_null(strstr(err, "does not verify"));
	/* bob is a publisher without a key here; mallory is no publisher. */
	static const char bob[] = "REMOVE m NETSERV/0.1\nuser:bob\n\n";
	assert_int_equal(auth_text(&f, bob, f.bob_sk, now, NULL, err, sizeof(err)), 401);
	assert_non_null(strstr(err, "no public key for bob"));
	static const char mallory[] = "REMOVE m NETSERV/0.1\nuser:mallory\n\n";
	assert_int_equal(auth_text(&f, mallory, f.sk, now, NULL, err, sizeof(err)), 403);
	/* TRIGGER is verified too; PROBE is not. */
	static const char trigger[] = "TRIGGER m NETSERV/0.1\n\n";
	assert_int_equal(auth_text(&f, trigger, NULL, 0, NULL, err, sizeof(err)), 401);
	static const char probe[] = "PROBE * NETSERV/0.1\n\n";
	assert_int_equal(auth_text(&f, probe, NULL, 0, NULL, err, sizeof(err)), 0);
	/* A malformed field is a 400. */
	static const char bad[] = "SETUP m NETSERV/0.1\nuser:janedoe\nurl:http://x/\nttl:x\n\n";
	assert_int_equal(auth_text(&f, bad, NULL, 0, NULL, err, sizeof(err)), 400);
	json_t *s = guard_status(f.g);
	json_t *c = json_object_get(s, "counters");
	assert_int_equal(json_integer_value(json_object_get(c, "replayed")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "stale")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "authenticated")), 1);
	json_decref(s);
	gfix_close(&f);

	/* Signatures not required: unsigned passes, a bad signature still fails. */
	gfix_open(&f, false);
	assert_int_equal(auth_text(&f, setup_text, NULL, 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(auth_text(&f, setup_text, f.bob_sk, now, NULL, err, sizeof(err)), 401);
	assert_int_equal(auth_text(&f, mallory, NULL, 0, NULL, err, sizeof(err)), 403);
	gfix_close(&f);
}

/* A sidecar group member's replay (guard_authenticate_replayed()): the
 * request's own life instead of the window, a seen nonce is no refusal, the
 * signature as always. */
static void test_guard_replayed(void **state)
{
	struct gfix f;
	char err[NCM_ERR_LEN];
	int64_t now = (int64_t)time(NULL);
	static const char ttl_setup[] = "SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\n"
	                                "user:janedoe\n"
	                                "url:http://192.0.2.1/counter.wasm\n"
	                                "filter-proto:udp\n"
	                                "filter-port:5060\n"
	                                "ttl:3600\n\n";
	static const char remove[] = "REMOVE m NETSERV/0.1\nuser:janedoe\n\n";
	(void)state;
	gfix_open(&f, true);
	/* 20 minutes old, ttl 1 h: stale for a request, alive for a replay. */
	assert_int_equal(auth_text(&f, ttl_setup, f.sk, now - 1200, "nonce-r1", err, sizeof(err)),
	                 401);
	auth_replayed = true;
	assert_int_equal(auth_text(&f, ttl_setup, f.sk, now - 1200, "nonce-r1", err, sizeof(err)),
	                 0);
	/* the same nonce again (the node applied it before a restart) */
	assert_int_equal(auth_text(&f, ttl_setup, f.sk, now - 1200, "nonce-r1", err, sizeof(err)),
	                 0);
	/* past its ttl; no ttl: the window; a REMOVE at any age */
	assert_int_equal(auth_text(&f, ttl_setup, f.sk, now - 3700, "nonce-r2", err, sizeof(err)),
	                 401);
	assert_non_null(strstr(err, "stale"));
	assert_int_equal(auth_text(&f, setup_text, f.sk, now - 120, "nonce-r3", err, sizeof(err)),
	                 401);
	assert_int_equal(auth_text(&f, remove, f.sk, now - 86400, "nonce-r4", err, sizeof(err)), 0);
	/* still from the future, still the publisher's key */
	assert_int_equal(auth_text(&f, ttl_setup, f.sk, now + 120, "nonce-r5", err, sizeof(err)),
	                 401);
	assert_int_equal(auth_text(&f, ttl_setup, f.bob_sk, now, "nonce-r6", err, sizeof(err)),
	                 401);
	assert_non_null(strstr(err, "does not verify"));
	auth_replayed = false;
	gfix_close(&f);
}

/* auth_check_binding(): where a signed request may act. */
static void test_auth_binding(void **state)
{
	char err[NCM_ERR_LEN];
	struct ncm_prefix user, other, user6, wide;
	assert_int_equal(ncm_prefix_parse("192.0.2.7", &user), 0);
	assert_int_equal(ncm_prefix_parse("198.51.100.9", &other), 0);
	assert_int_equal(ncm_prefix_parse("2001:db8::7", &user6), 0);
	assert_int_equal(ncm_prefix_parse("192.0.2.0/24", &wide), 0);
	struct ncm_msg *m = parse("SETUP m NETSERV/0.1\nuser:janedoe\nsignal-to:192.0.2.7\n\n");
	assert_int_equal(auth_check_binding(m, NULL, err, sizeof(err)), 0); /* no path */
	assert_int_equal(auth_check_binding(m, &user, err, sizeof(err)), 0);
	assert_int_equal(auth_check_binding(m, &other, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "arrived on a path toward 198.51.100.9"));
	assert_int_equal(auth_check_binding(m, &user6, err, sizeof(err)), -EPERM);
	/* A path toward the whole /24 is not inside one address. */
	assert_int_equal(auth_check_binding(m, &wide, err, sizeof(err)), -EPERM);
	ncm_free(m);
	m = parse("SETUP m NETSERV/0.1\nuser:janedoe\nsignal-to:192.0.2.0/24\n\n");
	assert_int_equal(auth_check_binding(m, &user, err, sizeof(err)), 0);
	assert_int_equal(auth_check_binding(m, &wide, err, sizeof(err)), 0);
	assert_int_equal(auth_check_binding(m, &other, err, sizeof(err)), -EPERM);
	ncm_free(m);
	m = parse("SETUP m NETSERV/0.1\nuser:janedoe\n\n");
	assert_int_equal(auth_check_binding(m, &user, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "not bound"));
	ncm_free(m);
	m = parse("SETUP m NETSERV/0.1\nuser:janedoe\nsignal-to:any\n\n");
	assert_int_equal(auth_check_binding(m, &user, err, sizeof(err)), -EINVAL);
	ncm_free(m);
	m = parse("SETUP m NETSERV/0.1\nuser:janedoe\nsignal-to:192.0.2.7/33\n\n");
	assert_int_equal(auth_check_binding(m, &user, err, sizeof(err)), -EINVAL);
	ncm_free(m);

	/* auth_sign binds: `to` becomes signal-to, covered by the signature; a
	 * request that names one keeps it; `to` must be an address or prefix. */
	uint8_t pk[AUTH_PUBLIC_LEN], sk[AUTH_SECRET_LEN];
	assert_int_equal(auth_keygen(pk, sk), 0);
	m = parse("SETUP m NETSERV/0.1\nuser:janedoe\n\n");
	assert_int_equal(auth_sign(m, sk, "192.0.2.7", -1, NULL, err, sizeof(err)), 0);
	assert_string_equal(ncm_get(m, AUTH_BINDING_HEADER), "192.0.2.7");
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), 0);
	assert_int_equal(auth_check_binding(m, &user, err, sizeof(err)), 0);
	assert_int_equal(auth_check_binding(m, &other, err, sizeof(err)), -EPERM);
	assert_int_equal(ncm_set(m, AUTH_BINDING_HEADER, "198.51.100.9"), 0);
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), -EACCES);
	ncm_free(m);
	m = parse("SETUP m NETSERV/0.1\nuser:janedoe\nsignal-to:192.0.2.0/24\n\n");
	assert_int_equal(auth_sign(m, sk, "198.51.100.9", -1, NULL, err, sizeof(err)), 0);
	assert_string_equal(ncm_get(m, AUTH_BINDING_HEADER), "192.0.2.0/24");
	ncm_free(m);
	static const char *const bad_to[] = {"any", "", "192.0.2.7/33", "bogus", "192.0.2.1/24"};
	for (size_t i = 0; i < sizeof(bad_to) / sizeof(bad_to[0]); i++) {
		m = parse("SETUP m NETSERV/0.1\nuser:janedoe\n\n");
		assert_int_equal(auth_sign(m, sk, bad_to[i], -1, NULL, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, AUTH_BINDING_HEADER));
		assert_null(ncm_get(m, "signature"));
		ncm_free(m);
	}
}

/* The guard: a signed request that came by GIST acts only where it was
 * signed for; the binding is covered by the signature. */
static void test_guard_binding(void **state)
{
	struct gfix f;
	char err[NCM_ERR_LEN];
	int64_t now = (int64_t)time(NULL);
	struct ncm_prefix user, other;
	assert_int_equal(ncm_prefix_parse("192.0.2.7", &user), 0);
	assert_int_equal(ncm_prefix_parse("198.51.100.9", &other), 0);
	static const char bound[] = "SETUP NetServ.apps.Counter_1.0 NETSERV/0.1\nuser:janedoe\n"
	                            "url:http://192.0.2.1/c.wasm\nsignal-to:192.0.2.7\n\n";
	gfix_open(&f, true);
	f.path_dst = &user;
	assert_int_equal(auth_text(&f, bound, f.sk, now, "nonce-b1", err, sizeof(err)), 0);
	/* The same bytes again on the same path: a replay (401). */
	assert_int_equal(auth_text(&f, bound, f.sk, now, "nonce-b1", err, sizeof(err)), 401);
	assert_non_null(strstr(err, "replayed"));
	/* Re-aimed at another user: 403, and its nonce is not spent. */
	f.path_dst = &other;
	assert_int_equal(auth_text(&f, bound, f.sk, now, "nonce-b2", err, sizeof(err)), 403);
	assert_non_null(strstr(err, "signal-to toward 192.0.2.7"));
	f.path_dst = &user;
	assert_int_equal(auth_text(&f, bound, f.sk, now, "nonce-b2", err, sizeof(err)), 0);
	/* Unbound: refused by GIST, accepted from the admin socket. */
	assert_int_equal(auth_text(&f, setup_text, f.sk, now, NULL, err, sizeof(err)), 403);
	assert_non_null(strstr(err, "refuses unbound signatures"));
	f.path_dst = NULL;
	assert_int_equal(auth_text(&f, setup_text, f.sk, now, NULL, err, sizeof(err)), 0);
	/* signal-to is signed: changing it breaks the signature. */
	struct ncm_msg *m = parse(bound);
	assert_int_equal(auth_sign(m, f.sk, NULL, now, "nonce-b3", err, sizeof(err)), 0);
	assert_int_equal(ncm_set(m, "signal-to", "198.51.100.9"), 0);
	uint8_t pk[AUTH_PUBLIC_LEN];
	crypto_sign_ed25519_sk_to_pk(pk, f.sk);
	assert_int_equal(auth_verify(m, pk, err, sizeof(err)), -EACCES);
	ncm_free(m);
	json_t *s = guard_status(f.g);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(s, "counters"), "misdirected")),
	        2);
	json_decref(s);
	gfix_close(&f);

	/* accept_unbound_signatures = yes: an unbound one passes by GIST. */
	gfix_accept_unbound = true;
	gfix_open(&f, true);
	gfix_accept_unbound = false;
	f.path_dst = &other;
	assert_int_equal(auth_text(&f, setup_text, f.sk, now, NULL, err, sizeof(err)), 0);
	assert_int_equal(auth_text(&f, bound, f.sk, now, NULL, err, sizeof(err)), 403);
	gfix_close(&f);
}

static void done_never(void *ctx, int status, const char *reason)
{
	fail_msg("no check should be pending");
}

static int authorize(struct gfix *f, const char *text, unsigned user_modules, const char *blocks,
                     char *err, size_t errlen)
{
	struct ncm_msg *m = parse(text);
	struct ncm_request req;
	assert_int_equal(ncm_request_decode(m, &req, err, errlen), 0);
	struct guard_setup gs = {
	        .msg = m, .req = &req, .user_modules = user_modules, .building_blocks = blocks};
	int r = guard_authorize_setup(f->g, &gs, done_never, NULL, err, errlen);
	ncm_request_done(&req);
	ncm_free(m);
	return r;
}

static void test_guard_authorize(void **state)
{
	struct gfix f;
	char err[NCM_ERR_LEN];
	gfix_open(&f, true);
	assert_int_equal(authorize(&f, setup_text, 0, "", err, sizeof(err)), 0);
	assert_int_equal(authorize(&f, setup_text, 2, "", err, sizeof(err)), 403);
	assert_non_null(strstr(err, "limit"));
	assert_int_equal(authorize(&f, SETUP_WITH("filter-proto:udp\nfilter-dst:198.51.100.1\n"), 0,
	                           "", err, sizeof(err)),
	                 403);
	/* The reverse-routability headers: refused when the publisher may not
	 * use them (no network traffic happens). */
	assert_int_equal(authorize(&f,
	                           SETUP_WITH("filter-dst:198.51.100.1\nrrc-address:198.51.100.1\n"
	                                      "rrc-password:0123456789abcdef\n"),
	                           0, "", err, sizeof(err)),
	                 403);
	assert_non_null(strstr(err, "reverse routability"));
	assert_int_equal(
	        authorize(&f, SETUP_WITH("rrc-address:198.51.100.1\n"), 0, "", err, sizeof(err)),
	        400);
	assert_int_equal(authorize(&f, SETUP_WITH("dependencies:ns_log,ns_magic\n"), 0, "ns_log",
	                           err, sizeof(err)),
	                 422);
	assert_non_null(strstr(err, "ns_magic"));
	/* media/1 only for a publisher whose policy grants it (default no) */
	assert_int_equal(
	        authorize(&f, SETUP_WITH("dependencies:media/1\n"), 0, "media/1", err, sizeof(err)),
	        403);
	assert_non_null(strstr(err, "media = yes"));
	assert_int_equal(authorize(&f, SETUP_WITH("listen:tcp:80\n"), 0, "", err, sizeof(err)),
	                 403);
	assert_int_equal(authorize(&f, SETUP_WITH("listen:ftp:21\n"), 0, "", err, sizeof(err)),
	                 400);
	/* Restart: a stored SETUP is checked against the policy of now. */
	struct ncm_msg *m = parse(SETUP_WITH("filter-proto:udp\nfilter-dst:198.51.100.1\n"));
	struct ncm_request req;
	assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
	assert_int_equal(guard_recheck(f.g, m, &req, err, sizeof(err)), 403);
	ncm_request_done(&req);
	ncm_free(m);
	/* Which filters are held by their destination (they take precedence
	 * over overlapping ones held only by a source, docs/security.md). */
	static const char *const by_dst[][2] = {
	        {SETUP_WITH("filter-dst:192.0.2.10\n"), "1"},
	        {SETUP_WITH("filter-dst:192.0.2.0/24\nfilter-src:10.0.0.1\n"), "1"},
	        {SETUP_WITH("filter-src:192.0.2.10\n"), "0"},
	        {SETUP_WITH("filter-src:192.0.2.10\nfilter-dst:10.0.0.0/8\n"), "0"},
	        {SETUP_WITH("filter-dst:192.0.0.0/16\n"), "0"},
	        {SETUP_WITH("filter-proto:udp\n"), "0"},
	        {SETUP_WITH("listen:tcp:80\n"), "0"},
	};
	for (size_t i = 0; i < sizeof(by_dst) / sizeof(by_dst[0]); i++) {
		m = parse(by_dst[i][0]);
		assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
		assert_int_equal(guard_filter_by_destination(f.g, m, &req, 0),
		                 by_dst[i][1][0] == '1');
		ncm_request_done(&req);
		ncm_free(m);
	}
	/* Several filters: each one is held by its own destination or not. */
	m = parse(SETUP_WITH("filter-proto:udp\nfilter-dst:192.0.2.10\n"
	                     "filter-2-proto:udp\nfilter-2-src:192.0.2.10\n"));
	assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
	assert_true(guard_filter_by_destination(f.g, m, &req, 0));
	assert_false(guard_filter_by_destination(f.g, m, &req, 1));
	assert_false(guard_filter_by_destination(f.g, m, &req, 2));
	ncm_request_done(&req);
	ncm_free(m);
	gfix_close(&f);
}

/* ---- overlapping filters (issue #12) --------------------------------------------- */

/* The filter of a SETUP with these headers (one per line). */
static struct ncm_filter filt(const char *headers)
{
	char text[512], err[256];
	snprintf(text, sizeof(text),
	         "SETUP m NETSERV/0.1\nuser:janedoe\nurl:http://x/m.wasm\n%s\n\n", headers);
	struct ncm_msg *m = parse(text);
	struct ncm_request req;
	assert_int_equal(ncm_request_decode(m, &req, err, sizeof(err)), 0);
	assert_int_equal(req.n_filters, 1);
	struct ncm_filter f = req.filters[0];
	ncm_request_done(&req);
	ncm_free(m);
	return f;
}

static bool overlap(const char *a, const char *b)
{
	struct ncm_filter fa = filt(a), fb = filt(b);
	bool r = policy_filters_overlap(&fa, &fb);
	/* The relation is symmetric. */
	assert_true(r == policy_filters_overlap(&fb, &fa));
	return r;
}

static void test_filters_overlap(void **state)
{
	/* The attack: a source-only filter (any destination) meets a filter on
	 * the destination, and the other way round. */
	assert_true(overlap("filter-proto:udp\nfilter-port:7000\nfilter-src:10.0.1.0/24",
	                    "filter-proto:udp\nfilter-port:7000\nfilter-dst:10.0.2.1"));
	/* Prefixes: nested meet, disjoint do not; host prefixes. */
	assert_true(overlap("filter-dst:10.0.0.0/8", "filter-dst:10.1.2.0/24"));
	assert_false(overlap("filter-dst:10.0.0.0/9", "filter-dst:10.128.0.0/9"));
	assert_false(overlap("filter-dst:10.0.2.1", "filter-dst:10.0.2.2"));
	assert_true(overlap("filter-dst:10.0.2.1", "filter-dst:10.0.2.1/32"));
	assert_false(overlap("filter-src:10.0.1.0/24\nfilter-dst:10.0.2.1",
	                     "filter-src:10.0.3.0/24\nfilter-dst:10.0.2.1"));
	assert_false(overlap("filter-src:10.0.1.0/24", "filter-dst:10.0.2.1\nfilter-src:10.0.5.5"));
	assert_true(overlap("filter-src:0.0.0.0/0", "filter-src:10.0.3.0/24"));
	/* IPv6, and IPv4 never meets IPv6. */
	assert_true(overlap("filter-dst:2001:db8::/32", "filter-dst:2001:db8:1::1"));
	assert_false(overlap("filter-dst:2001:db8::/32", "filter-dst:2001:db9::/32"));
	assert_false(overlap("filter-dst:2001:db8::1", "filter-dst:10.0.2.1"));
	assert_false(overlap("filter-src:2001:db8::1", "filter-dst:10.0.2.1"));
	assert_true(overlap("filter-src:2001:db8::1", "filter-dst:2001:db8::2"));
	assert_false(overlap("filter-dst:::/0", "filter-dst:0.0.0.0/0"));
	/* A filter without addresses matches both families. */
	assert_true(overlap("filter-proto:udp", "filter-dst:2001:db8::1"));
	assert_true(overlap("filter-proto:udp", "filter-dst:10.0.2.1"));
	/* Protocols: any meets all; ICMP is IPv4, ICMPv6 is IPv6. */
	assert_true(overlap("filter-dst:10.0.2.1", "filter-proto:tcp\nfilter-dst:10.0.2.1"));
	assert_false(overlap("filter-proto:udp\nfilter-dst:10.0.2.1",
	                     "filter-proto:tcp\nfilter-dst:10.0.2.1"));
	assert_false(overlap("filter-proto:icmp", "filter-proto:icmpv6"));
	assert_false(overlap("filter-proto:icmp", "filter-dst:2001:db8::1"));
	assert_true(overlap("filter-proto:icmpv6", "filter-dst:2001:db8::1"));
	assert_false(overlap("filter-proto:icmpv6", "filter-src:10.0.0.0/8"));
	/* Ports: ranges meet when they share one port; no port = every port;
	 * any protocol (no port) meets a port of any protocol. */
	assert_true(overlap("filter-proto:udp\nfilter-port:5060-5070",
	                    "filter-proto:udp\nfilter-port:5070-5080"));
	assert_false(overlap("filter-proto:udp\nfilter-port:5060-5069",
	                     "filter-proto:udp\nfilter-port:5070-5080"));
	assert_true(overlap("filter-proto:udp\nfilter-port:5065",
	                    "filter-proto:udp\nfilter-port:5060-5070"));
	assert_false(overlap("filter-proto:udp\nfilter-port:5059",
	                     "filter-proto:udp\nfilter-port:5060-5070"));
	assert_true(overlap("filter-proto:udp", "filter-proto:udp\nfilter-port:5060"));
	assert_true(overlap("filter-dst:10.0.2.1", "filter-proto:udp\nfilter-port:5060"));
	assert_true(overlap("filter-proto:tcp\nfilter-port:1-65535",
	                    "filter-proto:tcp\nfilter-port:65535"));
	(void)state;
}

/* Whether some filter of SETUP a overlaps some filter of SETUP b (headers
 * one per line); the first overlapping pair in *ia, *ib. */
static bool lists_overlap(const char *a, const char *b, size_t *ia, size_t *ib)
{
	char ta[1024], tb[1024], err[256];
	struct ncm_request ra, rb;
	snprintf(ta, sizeof(ta), "SETUP m NETSERV/0.1\nuser:a\nurl:http://x/m.wasm\n%s%s\n", a,
	         *a ? "\n" : "");
	snprintf(tb, sizeof(tb), "SETUP m NETSERV/0.1\nuser:b\nurl:http://x/m.wasm\n%s%s\n", b,
	         *b ? "\n" : "");
	struct ncm_msg *ma = parse(ta), *mb = parse(tb);
	assert_int_equal(ncm_request_decode(ma, &ra, err, sizeof(err)), 0);
	assert_int_equal(ncm_request_decode(mb, &rb, err, sizeof(err)), 0);
	bool r = policy_filter_lists_overlap(ra.filters, ra.n_filters, rb.filters, rb.n_filters, ia,
	                                     ib);
	assert_true(r == policy_filter_lists_overlap(rb.filters, rb.n_filters, ra.filters,
	                                             ra.n_filters, NULL, NULL));
	ncm_request_done(&ra);
	ncm_request_done(&rb);
	ncm_free(ma);
	ncm_free(mb);
	return r;
}

static void test_filter_lists_overlap(void **state)
{
	static const char sip_both[] = "filter-proto:udp\nfilter-port:5060\nfilter-dst:10.0.2.2\n"
	                               "filter-2-proto:udp\nfilter-2-port:5060\n"
	                               "filter-2-src:10.0.2.2";
	size_t ia = 99, ib = 99;
	/* The second filter of a list overlaps: found, and named. */
	assert_true(lists_overlap(sip_both,
	                          "filter-proto:udp\nfilter-port:5060\nfilter-src:10.0.2.0/24\n"
	                          "filter-dst:10.0.1.0/24",
	                          &ia, &ib));
	assert_int_equal(ia, 1);
	assert_int_equal(ib, 0);
	assert_true(lists_overlap("filter-dst:10.9.9.9\nfilter-2-dst:10.8.8.8\n"
	                          "filter-3-proto:tcp\nfilter-3-dst:10.0.2.2",
	                          "filter-dst:10.7.7.7\nfilter-2-proto:tcp\n"
	                          "filter-2-port:80\nfilter-2-dst:10.0.2.0/24",
	                          &ia, &ib));
	assert_int_equal(ia, 2);
	assert_int_equal(ib, 1);
	/* No pair meets: different ports, protocols, addresses. */
	assert_false(lists_overlap(sip_both,
	                           "filter-proto:udp\nfilter-port:5061\nfilter-dst:10.0.2.2\n"
	                           "filter-2-proto:tcp\nfilter-2-src:10.0.2.2\n"
	                           "filter-3-proto:udp\nfilter-3-dst:10.0.3.0/24\n"
	                           "filter-3-src:10.0.4.0/24",
	                           NULL, NULL));
	/* Empty lists overlap nothing. */
	assert_false(lists_overlap("", sip_both, NULL, NULL));
	assert_false(lists_overlap("", "", NULL, NULL));
	(void)state;
}

/* ---- configuration ------------------------------------------------------------- */

static int load(struct ns_config *c, const char *text, char *err, size_t errlen)
{
	config_free(c);
	config_defaults(c);
	return config_load_string(c, "t.conf", text, err, errlen);
}

static void test_config(void **state)
{
	struct ns_config *c = malloc(sizeof(*c));
	char err[512];
	assert_non_null(c);
	config_defaults(c);
	assert_true(c->security.require_signatures);
	assert_int_equal(c->security.timestamp_window_s, 300);
	assert_true(c->security.seccomp && c->security.landlock);
	assert_int_equal(load(c,
	                      "[node]\nstate_dir = /var/lib/x\n"
	                      "[security]\nrequire_signatures = no\nkeys_dir = /etc/k\n"
	                      "timestamp_window = 60\nrrc_port = 8080\n"
	                      "[containers]\ncgroup = ns\nseccomp = no\n"
	                      "[publisher jane]\nprefixes = 192.0.2.0/24\n"
	                      "source_prefixes = 192.0.2.10\nfilter_protocols = udp\n"
	                      "filter_ports = 5060\nlisten_ports = tcp:80, udp:5060\n"
	                      "max_modules = 3\nrequire_hash = yes\nrrc = yes\nnetns = yes\n"
	                      "media = yes\n"
	                      "netns_address = 10.77.1.2/24\nnetns_gateway = 10.77.1.1\n",
	                      err, sizeof(err)),
	                 0);
	assert_false(c->security.require_signatures);
	assert_string_equal(c->security.keys_dir, "/etc/k");
	assert_int_equal(c->security.rrc_port, 8080);
	assert_int_equal(c->n_publishers, 1);
	assert_int_equal(c->policies[0].max_modules, 3);
	assert_true(c->policies[0].rrc);
	const struct sandbox_config *sb = &c->publishers[0].ct.sandbox;
	assert_true(sb->no_seccomp);
	assert_false(sb->no_landlock);
	assert_string_equal(sb->dir, "/var/lib/x/containers/jane");
	assert_string_equal(sb->netns, "ns-jane");
	assert_string_equal(sb->source_prefixes, "192.0.2.10/32");
	assert_string_equal(sb->listen_ports, "tcp:80,udp:5060");
	assert_true(c->policies[0].media && sb->media); /* media/1 granted */
	/* Without source_prefixes, crafted packets may use the prefixes. */
	assert_int_equal(load(c, "[publisher jane]\nprefixes = 192.0.2.0/24\n", err, sizeof(err)),
	                 0);
	assert_false(c->publishers[0].ct.sandbox.media); /* media/1: default no */
	assert_string_equal(c->publishers[0].ct.sandbox.source_prefixes, "192.0.2.0/24");
	assert_string_equal(c->publishers[0].ct.sandbox.netns, "");
	/* Errors name the file, line and key. */
	assert_int_equal(load(c, "[publisher jane]\nprefixes = 192.0.2.1/24\n", err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "t.conf:2: [publisher jane] prefixes"));
	assert_int_equal(load(c,
	                      "[publisher jane]\nprefixes = 192.0.2.0/24\n"
	                      "source_prefixes = 198.51.100.0/24\n",
	                      err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "not inside"));
	assert_int_equal(load(c, "[publisher jane]\nnetns = yes\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "netns_address"));
	assert_int_equal(load(c, "[publisher jane]\nnetns_address = 10.77.1.2\n", err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(load(c, "[security]\ntimestamp_window = 1\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(load(c, "[security]\nbogus = 1\n", err, sizeof(err)), -EINVAL);
	config_free(c);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_key_files),
	        cmocka_unit_test(test_sign_verify),
	        cmocka_unit_test(test_policy_parse),
	        cmocka_unit_test(test_policy_check),
	        cmocka_unit_test(test_policy_socket_keys),
	        cmocka_unit_test(test_dependencies),
	        cmocka_unit_test(test_nonces),
	        cmocka_unit_test(test_schema_migration),
	        cmocka_unit_test(test_guard_authenticate),
	        cmocka_unit_test(test_guard_replayed),
	        cmocka_unit_test(test_auth_binding),
	        cmocka_unit_test(test_guard_binding),
	        cmocka_unit_test(test_guard_authorize),
	        cmocka_unit_test(test_config),
	        cmocka_unit_test(test_filters_overlap),
	        cmocka_unit_test(test_filter_lists_overlap),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
