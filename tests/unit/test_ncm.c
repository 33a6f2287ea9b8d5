/* Unit tests of the NCM codec (src/ncm/): framing, parsing, building,
 * serializing, the canonical form and every request field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ncm/ncm.h"

/* Figure 3 of the 2011 paper, as printed (the signature is not real base64). */
static const char paper[] = "SETUP NetServ.apps.NetMonitor_1.0.0 NETSERV/0.1\n"
                            "dependencies:\n"
                            "filter-port:5060\n"
                            "filter-PROTO:udp\n"
                            "notification:\n"
                            "properties:visualizer_ip=1.2.3.4,visualizer_port=5678\n"
                            "ttl:3600\n"
                            "user:janedoe\n"
                            "url:http://content-publisher.com/modules/netmonitor.jar\n"
                            "signature:4Z+HvDEm2WhHJrg9UKovwmMutxGibsA71FTMFykVa0Y\\xGc1G8o=\n"
                            "\n";

static const char paper_canonical[] = "SETUP NetServ.apps.NetMonitor_1.0.0 NETSERV/0.1\n"
                                      "filter-port:5060\n"
                                      "filter-proto:udp\n"
                                      "properties:visualizer_ip=1.2.3.4,visualizer_port=5678\n"
                                      "ttl:3600\n"
                                      "url:http://content-publisher.com/modules/netmonitor.jar\n"
                                      "user:janedoe\n"
                                      "\n";

#define SETUP_HEAD "SETUP mod NETSERV/0.1\nuser:alice\nurl:http://example.com/m.wasm\n"

/* ---- Helpers ----------------------------------------------------------------- */

static struct ncm_msg *parse_ok(const char *s, size_t len)
{
	struct ncm_msg *m = NULL;
	char err[NCM_ERR_LEN] = "";
	int r = ncm_parse(s, len, &m, err, sizeof(err));

	if (r != 0)
		print_message("unexpected parse error %d: %s\n", r, err);
	assert_int_equal(r, 0);
	assert_non_null(m);
	return m;
}

static struct ncm_msg *parse_str(const char *s)
{
	return parse_ok(s, strlen(s));
}

/* Parses input that must fail with `want`; checks *ret stays untouched and the
 * error text contains `part` (if not NULL). */
static void parse_fails_len(const char *s, size_t len, int want, const char *part)
{
	struct ncm_msg *sentinel = (struct ncm_msg *)(uintptr_t)0x1234, *m = sentinel;
	char err[NCM_ERR_LEN] = "";
	int r = ncm_parse(s, len, &m, err, sizeof(err));

	if (r != want)
		print_message("parse returned %d (%s), want %d\n", r, err, want);
	assert_int_equal(r, want);
	assert_ptr_equal(m, sentinel);
	assert_true(err[0] != '\0');
	if (part && !strstr(err, part)) {
		print_message("error '%s' does not contain '%s'\n", err, part);
		fail();
	}
	/* NULL err buffers are allowed. */
	assert_int_equal(ncm_parse(s, len, &m, NULL, 0), want);
	assert_ptr_equal(m, sentinel);
}

static void parse_fails(const char *s, int want, const char *part)
{
	parse_fails_len(s, strlen(s), want, part);
}

static void decode_str(const char *s, struct ncm_request *q)
{
	struct ncm_msg *m = parse_str(s);
	char err[NCM_ERR_LEN] = "";
	int r = ncm_request_decode(m, q, err, sizeof(err));

	if (r != 0)
		print_message("unexpected decode error %d: %s\n", r, err);
	assert_int_equal(r, 0);
	ncm_free(m);
}

/* Decodes a SETUP with user, url and the extra header lines `extra`. */
static void decode_setup(const char *extra, struct ncm_request *q)
{
	char *s;

	assert_true(asprintf(&s, SETUP_HEAD "%s%s\n", extra, *extra ? "\n" : "") > 0);
	decode_str(s, q);
	free(s);
}

static void decode_str_fails(const char *s, const char *part)
{
	struct ncm_msg *m = parse_str(s);
	struct ncm_request q, zero = {0};
	char err[NCM_ERR_LEN] = "";
	int r;

	memset(&q, 0xa5, sizeof(q));
	r = ncm_request_decode(m, &q, err, sizeof(err));
	if (r != -EBADMSG)
		print_message("decode returned %d (%s) for:\n%s", r, err, s);
	assert_int_equal(r, -EBADMSG);
	assert_memory_equal(&q, &zero, sizeof(q));
	if (!strstr(err, part)) {
		print_message("error '%s' does not contain '%s'\n", err, part);
		fail();
	}
	assert_int_equal(ncm_request_decode(m, &q, NULL, 0), -EBADMSG);
	ncm_free(m);
}

/* A SETUP whose extra header lines must fail; the error must name `part`. */
static void decode_setup_fails(const char *extra, const char *part)
{
	char *s;

	assert_true(asprintf(&s, SETUP_HEAD "%s%s\n", extra, *extra ? "\n" : "") > 0);
	decode_str_fails(s, part);
	free(s);
}

static char *serialize(const struct ncm_msg *m, size_t *len)
{
	char *s = NULL;

	assert_int_equal(ncm_serialize(m, &s, len), 0);
	assert_non_null(s);
	assert_int_equal(s[*len], '\0');
	return s;
}

static char *canonical(const char *in)
{
	struct ncm_msg *m = parse_str(in);
	char *c = NULL;
	size_t n;

	assert_int_equal(ncm_canonical(m, &c, &n), 0);
	assert_int_equal(strlen(c), n);
	ncm_free(m);
	return c;
}

/* A string of n copies of c. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- Names ------------------------------------------------------------------- */

static void test_names(void **state)
{
	assert_string_equal(ncm_method_name(NCM_METHOD_SETUP), "SETUP");
	assert_string_equal(ncm_method_name(NCM_METHOD_REMOVE), "REMOVE");
	assert_string_equal(ncm_method_name(NCM_METHOD_PROBE), "PROBE");
	assert_string_equal(ncm_method_name(NCM_METHOD_TRIGGER), "TRIGGER");
	assert_string_equal(ncm_method_name(NCM_METHOD_STATUS), "STATUS");
	assert_null(ncm_method_name(NCM_METHOD_NONE));
	assert_null(ncm_method_name((enum ncm_method)99));

	assert_string_equal(ncm_status_reason(NCM_OK), "OK");
	assert_string_equal(ncm_status_reason(NCM_BAD_REQUEST), "Bad Request");
	assert_string_equal(ncm_status_reason(NCM_UNAUTHORIZED), "Unauthorized");
	assert_string_equal(ncm_status_reason(NCM_METHOD_NOT_ALLOWED), "Method Not Allowed");
	assert_string_equal(ncm_status_reason(NCM_CONFLICT), "Conflict");
	assert_string_equal(ncm_status_reason(NCM_BAD_GATEWAY), "Bad Gateway");
	assert_string_equal(ncm_status_reason(NCM_GATEWAY_TIMEOUT), "Gateway Timeout");
	assert_string_equal(ncm_status_reason(NCM_VERSION_NOT_SUPPORTED), "Version Not Supported");
	assert_string_equal(ncm_status_reason(299), "Unknown");

	assert_string_equal(ncm_proto_name(NCM_PROTO_UDP), "udp");
	assert_string_equal(ncm_proto_name(NCM_PROTO_TCP), "tcp");
	assert_string_equal(ncm_proto_name(NCM_PROTO_ICMP), "icmp");
	assert_string_equal(ncm_proto_name(NCM_PROTO_ICMPV6), "icmpv6");
	assert_string_equal(ncm_proto_name(NCM_PROTO_SCTP), "sctp");
	assert_string_equal(ncm_proto_name(NCM_PROTO_ANY), "any");
	assert_null(ncm_proto_name(47));
}

/* ---- The paper's example ----------------------------------------------------- */

/* ncm_dup(): the same message, byte for byte, and independent of the original. */
static void test_dup(void **state)
{
	static const char text[] = "SETUP m NETSERV/0.1\nuser:a\nx-b:two words\n"
	                           "content-length:5\n\nab\0de";
	struct ncm_msg *m = parse_ok(text, sizeof(text) - 1), *c = NULL, *r = NULL;
	char *t1 = NULL, *t2 = NULL;
	size_t n1, n2;

	assert_int_equal(ncm_dup(m, &c), 0);
	assert_int_equal(ncm_serialize(m, &t1, &n1), 0);
	assert_int_equal(ncm_serialize(c, &t2, &n2), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(t1, t2, n1);
	assert_int_equal(c->body_len, 5);
	assert_ptr_not_equal(c->headers, m->headers);
	assert_int_equal(ncm_add(c, "x-more", "1"), 0); /* grows like a parsed one */
	ncm_free(m);
	assert_string_equal(ncm_get(c, "x-b"), "two words");
	free(t1);
	free(t2);
	ncm_free(c);

	r = ncm_response_new(404, NULL);
	assert_int_equal(ncm_dup(r, &c), 0);
	assert_int_equal(c->code, 404);
	assert_string_equal(c->reason, r->reason);
	assert_null(c->body);
	ncm_free(r);
	ncm_free(c);
}

static void test_paper_example(void **state)
{
	struct ncm_msg *m = parse_str(paper);
	struct ncm_request q;
	char err[NCM_ERR_LEN];
	char *c;
	size_t n;

	assert_int_equal(m->method, NCM_METHOD_SETUP);
	assert_string_equal(m->target, "NetServ.apps.NetMonitor_1.0.0");
	assert_int_equal(m->n_headers, 9);
	assert_string_equal(m->headers[2].name, "filter-proto");
	assert_string_equal(ncm_get(m, "FILTER-proto"), "udp");
	assert_string_equal(ncm_get(m, "dependencies"), "");
	assert_null(m->body);
	assert_int_equal(m->body_len, 0);

	assert_int_equal(ncm_request_decode(m, &q, err, sizeof(err)), 0);
	assert_int_equal(q.method, NCM_METHOD_SETUP);
	assert_string_equal(q.target, "NetServ.apps.NetMonitor_1.0.0");
	assert_string_equal(q.user, "janedoe");
	assert_string_equal(q.url, "http://content-publisher.com/modules/netmonitor.jar");
	assert_true(q.has_ttl);
	assert_int_equal(q.ttl, 3600);
	assert_false(q.has_hash);
	assert_int_equal(q.n_dependencies, 0);
	assert_true(q.n_filters);
	assert_int_equal(q.filters[0].proto, NCM_PROTO_UDP);
	assert_int_equal(q.filters[0].port_lo, 5060);
	assert_int_equal(q.filters[0].port_hi, 5060);
	assert_int_equal(q.filters[0].src.family, 0);
	assert_int_equal(q.filters[0].dst.family, 0);
	assert_null(q.notification);
	assert_int_equal(q.n_properties, 2);
	assert_string_equal(ncm_request_property(&q, "visualizer_ip"), "1.2.3.4");
	assert_string_equal(ncm_request_property(&q, "visualizer_port"), "5678");
	assert_null(ncm_request_property(&q, "visualizer"));
	assert_string_equal(q.signature, "4Z+HvDEm2WhHJrg9UKovwmMutxGibsA71FTMFykVa0Y\\xGc1G8o=");
	assert_false(q.has_timestamp);
	assert_null(q.nonce);
	assert_null(q.probe);
	ncm_request_done(&q);
	assert_null(q.user);
	assert_int_equal(q.n_properties, 0);

	assert_int_equal(ncm_canonical(m, &c, &n), 0);
	assert_int_equal(n, strlen(paper_canonical));
	assert_string_equal(c, paper_canonical);
	free(c);
	ncm_free(m);
}

/* ---- Fields ------------------------------------------------------------------ */

static void test_field_user(void **state)
{
	struct ncm_request q;
	char *u32 = repeat('u', 32), *u33 = repeat('u', 33), *s;

	decode_setup("", &q);
	assert_string_equal(q.user, "alice");
	ncm_request_done(&q);

	decode_str("SETUP m NETSERV/0.1\nuser:_a-b_9\nurl:http://x\n\n", &q);
	assert_string_equal(q.user, "_a-b_9");
	ncm_request_done(&q);

	assert_true(asprintf(&s, "REMOVE m NETSERV/0.1\nuser:%s\n\n", u32) > 0);
	decode_str(s, &q);
	assert_string_equal(q.user, u32);
	ncm_request_done(&q);
	free(s);

	decode_str_fails("SETUP m NETSERV/0.1\nuser:Jane\nurl:http://x\n\n", "'user'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:9abc\nurl:http://x\n\n", "'user'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:-ab\nurl:http://x\n\n", "'user'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a b\nurl:http://x\n\n", "'user'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a.b\nurl:http://x\n\n", "'user'");
	assert_true(asprintf(&s, "REMOVE m NETSERV/0.1\nuser:%s\n\n", u33) > 0);
	decode_str_fails(s, "'user'");
	free(s);
	free(u32);
	free(u33);
}

static void test_field_url(void **state)
{
	struct ncm_request q;
	char *path = repeat('p', 2048 - strlen("http://h/")), *s;

	decode_str("SETUP m NETSERV/0.1\nuser:a\nurl:https://h.example/x.wasm?v=1\n\n", &q);
	assert_string_equal(q.url, "https://h.example/x.wasm?v=1");
	ncm_request_done(&q);
	decode_str("SETUP m NETSERV/0.1\nuser:a\nurl:file:///srv/m.wasm\n\n", &q);
	assert_string_equal(q.url, "file:///srv/m.wasm");
	ncm_request_done(&q);

	assert_true(asprintf(&s, "SETUP m NETSERV/0.1\nuser:a\nurl:http://h/%s\n\n", path) > 0);
	decode_str(s, &q);
	assert_int_equal(strlen(q.url), 2048);
	ncm_request_done(&q);
	free(s);
	assert_true(asprintf(&s, "SETUP m NETSERV/0.1\nuser:a\nurl:http://h/%sp\n\n", path) > 0);
	decode_str_fails(s, "'url'");
	free(s);
	free(path);

	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:ftp://h/x\n\n", "'url'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:http://\n\n", "'url'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:HTTP://h/x\n\n", "'url'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:http://h/a b\n\n", "'url'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:http://h/a\tb\n\n", "'url'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:/srv/m.wasm\n\n", "'url'");
}

static void test_field_module_hash(void **state)
{
	static const uint8_t want[32] = {
	        0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea,
	        0xa0, 0xc5, 0x5a, 0xd0, 0x15, 0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b,
	        0x82, 0x2c, 0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08,
	};
	static const char lower[] =
	        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	struct ncm_request q;
	char buf[80], small[10];

	decode_setup("module-hash:sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b"
	             "0f00a08",
	             &q);
	assert_true(q.has_hash);
	assert_memory_equal(q.hash, want, 32);
	assert_string_equal(ncm_hash_format(q.hash, buf, sizeof(buf)), lower);
	assert_string_equal(ncm_hash_format(q.hash, small, sizeof(small)), "sha256:9f");
	ncm_request_done(&q);

	decode_setup("module-hash:sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B"
	             "0F00A08",
	             &q);
	assert_true(q.has_hash);
	assert_memory_equal(q.hash, want, 32);
	ncm_request_done(&q);

	decode_setup("", &q);
	assert_false(q.has_hash);
	ncm_request_done(&q);

	/* 'g' is not hex; 63 and 65 digits; other algorithms; no prefix. */
	decode_setup_fails("module-hash:sha256:"
	                   "9g86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	                   "'module-hash'");
	decode_setup_fails("module-hash:sha256:"
	                   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0",
	                   "'module-hash'");
	decode_setup_fails("module-hash:sha256:"
	                   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a088",
	                   "'module-hash'");
	decode_setup_fails("module-hash:sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
	                   "'module-hash'");
	decode_setup_fails("module-hash:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b"
	                   "0f00a08",
	                   "'module-hash'");
}

static void test_field_ttl(void **state)
{
	struct ncm_request q;
	char *s;

	decode_setup("ttl:1", &q);
	assert_true(q.has_ttl);
	assert_int_equal(q.ttl, 1);
	ncm_request_done(&q);
	assert_true(asprintf(&s, "ttl:%u", NCM_MAX_TTL) > 0);
	decode_setup(s, &q);
	assert_int_equal(q.ttl, NCM_MAX_TTL);
	ncm_request_done(&q);
	free(s);
	decode_setup("", &q);
	assert_false(q.has_ttl);
	assert_int_equal(q.ttl, 0);
	ncm_request_done(&q);

	decode_setup_fails("ttl:0", "'ttl'");
	assert_true(asprintf(&s, "ttl:%u", NCM_MAX_TTL + 1) > 0);
	decode_setup_fails(s, "'ttl'");
	free(s);
	decode_setup_fails("ttl:abc", "'ttl'");
	decode_setup_fails("ttl:-5", "'ttl'");
	decode_setup_fails("ttl:+5", "'ttl'");
	decode_setup_fails("ttl:12x", "'ttl'");
	decode_setup_fails("ttl:3 600", "'ttl'");
	decode_setup_fails("ttl:99999999999999999999999", "'ttl'");
}

static void test_field_dependencies(void **state)
{
	struct ncm_request q;
	char s[512];

	decode_setup("dependencies:NetServ.lib.core_1.0, lib2 ,x:y+z", &q);
	assert_int_equal(q.n_dependencies, 3);
	assert_string_equal(q.dependencies[0], "NetServ.lib.core_1.0");
	assert_string_equal(q.dependencies[1], "lib2");
	assert_string_equal(q.dependencies[2], "x:y+z");
	ncm_request_done(&q);
	assert_null(q.dependencies);

	/* building blocks: name/version */
	decode_setup("dependencies:storage/1,crypto/1", &q);
	assert_int_equal(q.n_dependencies, 2);
	assert_string_equal(q.dependencies[0], "storage/1");
	assert_string_equal(q.dependencies[1], "crypto/1");
	ncm_request_done(&q);

	decode_setup("dependencies:", &q);
	assert_int_equal(q.n_dependencies, 0);
	ncm_request_done(&q);

	strcpy(s, "dependencies:d0");
	for (int i = 1; i < NCM_MAX_DEPENDENCIES; i++)
		sprintf(s + strlen(s), ",d%d", i);
	decode_setup(s, &q);
	assert_int_equal(q.n_dependencies, NCM_MAX_DEPENDENCIES);
	assert_string_equal(q.dependencies[15], "d15");
	ncm_request_done(&q);
	strcat(s, ",d16");
	decode_setup_fails(s, "'dependencies'");

	decode_setup_fails("dependencies:a,,b", "'dependencies'");
	decode_setup_fails("dependencies:a,", "'dependencies'");
	decode_setup_fails("dependencies:a\\b", "'dependencies'");
	/* building blocks are named NAME/VERSION */
	decode_setup("dependencies:http/1,socket/1", &q);
	assert_int_equal(q.n_dependencies, 2);
	assert_string_equal(q.dependencies[0], "http/1");
	ncm_request_done(&q);
	decode_setup_fails("dependencies:a b", "'dependencies'");
}

static void test_field_filter_proto(void **state)
{
	static const struct {
		const char *v;
		uint8_t proto;
	} ok[] = {
	        {"udp", 17},   {"UDP", 17}, {"tcp", 6}, {"icmp", 1}, {"icmpv6", 58},
	        {"sctp", 132}, {"any", 0},  {"0", 0},   {"47", 47},  {"255", 255},
	};
	struct ncm_request q;
	char s[64];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(s, sizeof(s), "filter-proto:%s", ok[i].v);
		decode_setup(s, &q);
		assert_true(q.n_filters);
		assert_int_equal(q.filters[0].proto, ok[i].proto);
		ncm_request_done(&q);
	}
	decode_setup("", &q);
	assert_false(q.n_filters);
	ncm_request_done(&q);

	decode_setup_fails("filter-proto:256", "'filter-proto'");
	decode_setup_fails("filter-proto:-1", "'filter-proto'");
	decode_setup_fails("filter-proto:foo", "'filter-proto'");
	decode_setup_fails("filter-proto:udp,tcp", "'filter-proto'");
}

static void test_field_filter_port(void **state)
{
	struct ncm_request q;

	decode_setup("filter-port:5060", &q);
	assert_true(q.n_filters);
	assert_int_equal(q.filters[0].port_lo, 5060);
	assert_int_equal(q.filters[0].port_hi, 5060);
	assert_int_equal(q.filters[0].proto, 0);
	ncm_request_done(&q);

	decode_setup("filter-port:5060-5070", &q);
	assert_int_equal(q.filters[0].port_lo, 5060);
	assert_int_equal(q.filters[0].port_hi, 5070);
	ncm_request_done(&q);

	decode_setup("filter-port:1-65535", &q);
	assert_int_equal(q.filters[0].port_lo, 1);
	assert_int_equal(q.filters[0].port_hi, 65535);
	ncm_request_done(&q);

	decode_setup("filter-port:80-80", &q);
	assert_int_equal(q.filters[0].port_lo, 80);
	assert_int_equal(q.filters[0].port_hi, 80);
	ncm_request_done(&q);

	decode_setup_fails("filter-port:0", "'filter-port'");
	decode_setup_fails("filter-port:65536", "'filter-port'");
	decode_setup_fails("filter-port:5070-5060", "'filter-port'");
	decode_setup_fails("filter-port:5060-", "'filter-port'");
	decode_setup_fails("filter-port:-5060", "'filter-port'");
	decode_setup_fails("filter-port:5060-5070-5080", "'filter-port'");
	decode_setup_fails("filter-port:sip", "'filter-port'");
	decode_setup_fails("filter-port:5060 - 5070", "'filter-port'");
}

static void test_field_filter_prefixes(void **state)
{
	struct ncm_request q;
	char buf[64];

	decode_setup("filter-src:10.0.0.0/8\nfilter-dst:192.0.2.1", &q);
	assert_true(q.n_filters);
	assert_int_equal(q.filters[0].src.family, AF_INET);
	assert_int_equal(q.filters[0].src.len, 8);
	assert_memory_equal(q.filters[0].src.addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(q.filters[0].dst.family, AF_INET);
	assert_int_equal(q.filters[0].dst.len, 32);
	assert_memory_equal(q.filters[0].dst.addr, "\xc0\x00\x02\x01", 4);
	assert_string_equal(ncm_prefix_format(&q.filters[0].src, buf, sizeof(buf)), "10.0.0.0/8");
	assert_string_equal(ncm_prefix_format(&q.filters[0].dst, buf, sizeof(buf)), "192.0.2.1/32");
	ncm_request_done(&q);

	decode_setup("filter-src:2001:db8::/32\nfilter-dst:2001:db8:0:1::5", &q);
	assert_int_equal(q.filters[0].src.family, AF_INET6);
	assert_int_equal(q.filters[0].src.len, 32);
	assert_memory_equal(q.filters[0].src.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	assert_int_equal(q.filters[0].dst.family, AF_INET6);
	assert_int_equal(q.filters[0].dst.len, 128);
	assert_string_equal(ncm_prefix_format(&q.filters[0].src, buf, sizeof(buf)),
	                    "2001:db8::/32");
	assert_string_equal(ncm_prefix_format(&q.filters[0].dst, buf, sizeof(buf)),
	                    "2001:db8:0:1::5/128");
	ncm_request_done(&q);

	decode_setup("filter-dst:0.0.0.0/0", &q);
	assert_int_equal(q.filters[0].dst.family, AF_INET);
	assert_int_equal(q.filters[0].dst.len, 0);
	assert_int_equal(q.filters[0].src.family, 0);
	ncm_request_done(&q);

	decode_setup_fails("filter-src:10.0.0.1/8", "'filter-src'");
	decode_setup_fails("filter-dst:2001:db8::1/32", "'filter-dst'");
	decode_setup_fails("filter-dst:10.0.0.0/33", "'filter-dst'");
	decode_setup_fails("filter-dst:::/129", "'filter-dst'");
	decode_setup_fails("filter-src:10.0.0.0/", "'filter-src'");
	decode_setup_fails("filter-src:1.2.3", "'filter-src'");
	decode_setup_fails("filter-src:example.com", "'filter-src'");
	decode_setup_fails("filter-src:10.0.0.0/8\nfilter-dst:2001:db8::/32", "'filter-dst'");
}

static void test_field_sample(void **state)
{
	struct ncm_request q;
	(void)state;

	/* Absent: not sampled. */
	decode_setup("filter-proto:udp", &q);
	assert_int_equal(q.sample_every, 0);
	assert_int_equal(q.sample_bytes, 0);
	ncm_request_done(&q);
	/* 1/N with the default snapshot, or the one asked for. */
	decode_setup("filter-proto:udp\nsample:1/100", &q);
	assert_int_equal(q.sample_every, 100);
	assert_int_equal(q.sample_bytes, NCM_SAMPLE_BYTES_DEFAULT);
	ncm_request_done(&q);
	decode_setup("filter-proto:udp\nSample:1/1\nsample-bytes:65535", &q);
	assert_int_equal(q.sample_every, 1);
	assert_int_equal(q.sample_bytes, NCM_SAMPLE_BYTES_MAX);
	ncm_request_done(&q);
	decode_setup("filter-proto:udp\nsample:1/1000000\nsample-bytes:1", &q);
	assert_int_equal(q.sample_every, NCM_SAMPLE_EVERY_MAX);
	assert_int_equal(q.sample_bytes, 1);
	ncm_request_done(&q);

	/* Bad values, each named. */
	static const char *const bad[] = {
	        "sample:0",     "sample:1/0",       "sample:1/",
	        "sample:2/10",  "sample:1/1000001", "sample:1/99999999999999999999",
	        "sample:1/010", "sample:10",        "sample:1/-5",
	        "sample:1/ten", "sample:1/10x",     "sample:0.1",
	        "sample:1//10",
	};
	char text[128];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "filter-proto:udp\n%s", bad[i]);
		decode_setup_fails(text, "header 'sample': want 1/N");
	}
	decode_setup_fails("filter-proto:udp\nsample:1/10\nsample-bytes:0",
	                   "header 'sample-bytes': want bytes");
	decode_setup_fails("filter-proto:udp\nsample:1/10\nsample-bytes:65536",
	                   "header 'sample-bytes'");
	decode_setup_fails("filter-proto:udp\nsample:1/10\nsample-bytes:lots",
	                   "header 'sample-bytes'");
	decode_setup_fails("filter-proto:udp\nsample-bytes:64", "'sample-bytes' without 'sample'");
	decode_setup_fails("sample:1/10", "a sampled module needs a filter");
	decode_setup_fails("filter-proto:udp\nsample:1/10\nsample:1/20",
	                   "repeated header 'sample'");
}

static void test_field_filter_list(void **state)
{
	struct ncm_request q;
	char buf[64];

	/* One filter: the headers of before, unchanged. */
	decode_setup("filter-proto:udp\nfilter-dst:10.0.2.2", &q);
	assert_int_equal(q.n_filters, 1);
	ncm_request_done(&q);
	decode_setup("", &q);
	assert_int_equal(q.n_filters, 0);
	ncm_request_done(&q);

	/* Both directions of a SIP server, in any order and case; the numbers
	 * say which filter a header belongs to. */
	decode_setup("FILTER-2-SRC:10.0.2.2\nfilter-proto:udp\nfilter-port:5060\n"
	             "filter-2-proto:UDP\nfilter-dst:10.0.2.2\nfilter-2-port:5060",
	             &q);
	assert_int_equal(q.n_filters, 2);
	assert_int_equal(q.filters[0].proto, NCM_PROTO_UDP);
	assert_int_equal(q.filters[0].port_lo, 5060);
	assert_string_equal(ncm_prefix_format(&q.filters[0].dst, buf, sizeof(buf)), "10.0.2.2/32");
	assert_int_equal(q.filters[0].src.family, 0);
	assert_int_equal(q.filters[1].proto, NCM_PROTO_UDP);
	assert_int_equal(q.filters[1].port_lo, 5060);
	assert_string_equal(ncm_prefix_format(&q.filters[1].src, buf, sizeof(buf)), "10.0.2.2/32");
	assert_int_equal(q.filters[1].dst.family, 0);
	ncm_request_done(&q);

	/* The most, each field of its own filter; IPv4 and IPv6 filters mix. */
	decode_setup("filter-dst:10.0.0.1\nfilter-2-dst:10.0.0.2\nfilter-3-dst:10.0.0.3\n"
	             "filter-4-dst:10.0.0.4\nfilter-5-dst:10.0.0.5\nfilter-6-dst:10.0.0.6\n"
	             "filter-7-dst:10.0.0.7\nfilter-8-src:2001:db8::8\nfilter-8-port:8-88\n"
	             "filter-8-proto:tcp",
	             &q);
	assert_int_equal(q.n_filters, NCM_MAX_FILTERS);
	for (int i = 0; i < 7; i++)
		assert_int_equal(q.filters[i].dst.addr[3], i + 1);
	assert_int_equal(q.filters[7].src.family, AF_INET6);
	assert_int_equal(q.filters[7].port_lo, 8);
	assert_int_equal(q.filters[7].port_hi, 88);
	assert_int_equal(q.filters[7].proto, NCM_PROTO_TCP);
	ncm_request_done(&q);

	/* Empty values are absent: an empty filter-2-* makes no filter 2. */
	decode_setup("filter-proto:udp\nfilter-2-src:", &q);
	assert_int_equal(q.n_filters, 1);
	ncm_request_done(&q);
	/* Other names are unknown headers, ignored as before. */
	decode_setup("filter-proto:udp\nfilter-2-sport:5060\nfilter-x-src:1.2.3.4\n"
	             "filter-2src:1.2.3.4",
	             &q);
	assert_int_equal(q.n_filters, 1);
	ncm_request_done(&q);

	/* Above the limit: a clear 400. */
	decode_setup_fails("filter-proto:udp\nfilter-9-proto:udp", "more than 8 filters");
	decode_setup_fails("filter-proto:udp\nfilter-10-dst:10.0.0.1", "'filter-10-dst'");
	decode_setup_fails("filter-proto:udp\nfilter-99999999999999999999-dst:10.0.0.1",
	                   "more than 8 filters");
	/* Bad numbers: filter 1 has no number, no 0, no leading zero. */
	decode_setup_fails("filter-1-proto:udp", "bad filter number");
	decode_setup_fails("filter-proto:udp\nfilter-0-proto:udp", "'filter-0-proto': bad");
	decode_setup_fails("filter-proto:udp\nfilter-02-proto:udp", "'filter-02-proto': bad");
	/* Gaps. */
	decode_setup_fails("filter-2-proto:udp", "filter 2 without filter 1");
	decode_setup_fails("filter-proto:udp\nfilter-3-dst:10.0.0.1",
	                   "filter 3 without filter 2 (no filter-2-* header)");
	decode_setup_fails("filter-proto:udp\nfilter-2-proto:\nfilter-3-dst:10.0.0.1",
	                   "filter 3 without filter 2");
	/* Each filter's values and families are checked, the header named. */
	decode_setup_fails("filter-proto:udp\nfilter-2-port:0", "header 'filter-2-port': want");
	decode_setup_fails("filter-proto:udp\nfilter-3-proto:foo\nfilter-2-proto:udp",
	                   "header 'filter-3-proto'");
	decode_setup_fails("filter-proto:udp\nfilter-2-src:10.0.0.1/8", "'filter-2-src'");
	decode_setup_fails("filter-proto:udp\nfilter-2-src:10.0.0.0/8\n"
	                   "filter-2-dst:2001:db8::/32",
	                   "header 'filter-2-dst': address family differs from filter-2-src");
	/* Repeats, whatever the case; the same field of two filters is no repeat. */
	decode_setup_fails("filter-proto:udp\nfilter-2-dst:10.0.0.1\nFILTER-2-DST:10.0.0.2",
	                   "repeated header 'filter-2-dst'");
	decode_setup_fails("filter-proto:udp\nfilter-2-dst:\nfilter-2-dst:10.0.0.2",
	                   "repeated header");
	(void)state;
}

static void test_prefix_api(void **state)
{
	struct ncm_prefix p;
	char buf[64], tiny[4];

	assert_int_equal(ncm_prefix_parse("192.168.0.0/16", &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 16);
	assert_string_equal(ncm_prefix_format(&p, buf, sizeof(buf)), "192.168.0.0/16");
	assert_string_equal(ncm_prefix_format(&p, tiny, sizeof(tiny)), "192");

	assert_int_equal(ncm_prefix_parse("::/0", &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_int_equal(p.len, 0);
	assert_string_equal(ncm_prefix_format(&p, buf, sizeof(buf)), "::/0");

	assert_int_equal(ncm_prefix_parse("fe80::1", &p), 0);
	assert_int_equal(p.len, 128);
	assert_int_equal(ncm_prefix_parse("any", &p), 0);
	assert_int_equal(p.family, 0);
	assert_string_equal(ncm_prefix_format(&p, buf, sizeof(buf)), "any");

	assert_int_equal(ncm_prefix_parse("10.1.0.0/15", &p), -EINVAL);
	assert_int_equal(ncm_prefix_parse("10.0.0.0/8x", &p), -EINVAL);
	assert_int_equal(ncm_prefix_parse("10.0.0.0/-1", &p), -EINVAL);
	assert_int_equal(ncm_prefix_parse("/8", &p), -EINVAL);
	assert_int_equal(ncm_prefix_parse("", &p), -EINVAL);
	assert_int_equal(ncm_prefix_parse("256.0.0.0", &p), -EINVAL);
	assert_int_equal(ncm_prefix_parse(NULL, &p), -EINVAL);
}

/* The escapes of property values: \, \\ and \xHH; a comma after a backslash
 * does not separate; anything else after a backslash is refused. */
static void test_property_escapes(void **state)
{
	struct ncm_request q;

	decode_setup("properties:list=a\\,b\\,c, path=C:\\\\x\\\\ ,nl=1\\x0a2,"
	             "sp=\\x20pad\\x09,pct=100%,hex=\\x41\\x7e,z=\\,",
	             &q);
	assert_int_equal(q.n_properties, 7);
	assert_string_equal(ncm_request_property(&q, "list"), "a,b,c");
	assert_string_equal(ncm_request_property(&q, "path"), "C:\\x\\");
	assert_string_equal(ncm_request_property(&q, "nl"), "1\n2");
	assert_string_equal(ncm_request_property(&q, "sp"), " pad\t");
	assert_string_equal(ncm_request_property(&q, "pct"), "100%");
	assert_string_equal(ncm_request_property(&q, "hex"), "A~");
	assert_string_equal(ncm_request_property(&q, "z"), ",");
	ncm_request_done(&q);

	/* an escaped backslash before a comma: the comma separates */
	decode_setup("properties:a=x\\\\,b=y", &q);
	assert_int_equal(q.n_properties, 2);
	assert_string_equal(ncm_request_property(&q, "a"), "x\\");
	assert_string_equal(ncm_request_property(&q, "b"), "y");
	ncm_request_done(&q);

	decode_setup_fails("properties:a=x\\", "'properties'");
	decode_setup_fails("properties:a=x\\y", "'properties'");
	decode_setup_fails("properties:a=\\x0", "'properties'");
	decode_setup_fails("properties:a=\\xg0", "'properties'");
	decode_setup_fails("properties:a=\\x00", "'properties'");
	decode_setup_fails("properties:a=\\=", "'properties'");
	decode_setup_fails("properties:a\\,b=1", "'properties'"); /* keys carry no escapes */
}

/* ncm_prop_escape() and the decoder agree on every byte but NUL. */
static void test_property_escape_roundtrip(void **state)
{
	char value[300], esc[1300], *back, line[1400];
	size_t n = 0;
	struct ncm_request q;

	for (int c = 1; c < 256; c++)
		value[n++] = (char)c;
	value[n] = '\0';
	int len = ncm_prop_escape(value, esc, sizeof(esc));
	assert_int_equal(len, (int)strlen(esc));
	for (int i = 0; esc[i]; i++) /* no control byte, no unescaped comma */
		assert_true((unsigned char)esc[i] >= 0x20 && esc[i] != 0x7f &&
		            (esc[i] != ',' || esc[i - 1] == '\\'));
	assert_int_equal(ncm_prop_unescape(esc, strlen(esc), &back), 0);
	assert_string_equal(back, value);
	free(back);
	snprintf(line, sizeof(line), "properties:all=%s", esc);
	decode_setup(line, &q);
	assert_string_equal(ncm_request_property(&q, "all"), value);
	ncm_request_done(&q);
	/* through a whole SETUP, blanks at both ends kept */
	assert_true(ncm_prop_escape(" a,b\\c ", esc, sizeof(esc)) > 0);
	assert_string_equal(esc, "\\x20a\\,b\\\\c\\x20");
	snprintf(line, sizeof(line), "properties:v=%s,w=1", esc);
	decode_setup(line, &q);
	assert_string_equal(ncm_request_property(&q, "v"), " a,b\\c ");
	assert_string_equal(ncm_request_property(&q, "w"), "1");
	ncm_request_done(&q);
	/* too small a buffer */
	assert_int_equal(ncm_prop_escape("a,b", esc, 4), -ENOSPC);
	assert_int_equal(ncm_prop_escape("a,b", esc, 5), 4);
	assert_int_equal(ncm_prop_escape("", esc, 1), 0);
	assert_int_equal(ncm_prop_escape("x", esc, 1), -ENOSPC);
}

static void test_field_notification(void **state)
{
	struct ncm_request q;

	decode_setup("notification:udp:198.51.100.7:9999", &q);
	assert_string_equal(q.notification, "udp:198.51.100.7:9999");
	ncm_request_done(&q);
	decode_setup("notification:", &q);
	assert_null(q.notification);
	ncm_request_done(&q);
}

static void test_field_properties(void **state)
{
	struct ncm_request q;
	char s[1024];

	decode_setup("properties: a=1 , b= ,c.d-e_f=x=y,visualizer_ip=1.2.3.4", &q);
	assert_int_equal(q.n_properties, 4);
	assert_string_equal(q.properties[0].key, "a");
	assert_string_equal(q.properties[0].value, "1");
	assert_string_equal(ncm_request_property(&q, "b"), "");
	assert_string_equal(ncm_request_property(&q, "c.d-e_f"), "x=y");
	assert_string_equal(ncm_request_property(&q, "visualizer_ip"), "1.2.3.4");
	assert_null(ncm_request_property(&q, "A"));
	ncm_request_done(&q);

	strcpy(s, "properties:k0=0");
	for (int i = 1; i < NCM_MAX_PROPERTIES; i++)
		sprintf(s + strlen(s), ",k%d=%d", i, i);
	decode_setup(s, &q);
	assert_int_equal(q.n_properties, NCM_MAX_PROPERTIES);
	assert_string_equal(ncm_request_property(&q, "k31"), "31");
	ncm_request_done(&q);
	strcat(s, ",k32=32");
	decode_setup_fails(s, "'properties'");

	decode_setup_fails("properties:novalue", "'properties'");
	decode_setup_fails("properties:=x", "'properties'");
	decode_setup_fails("properties:a=1,a=2", "'properties'");
	decode_setup_fails("properties:a b=1", "'properties'");
	decode_setup_fails("properties:a=1,,b=2", "'properties'");
	decode_setup_fails("properties:k/x=1", "'properties'");
}

static void test_field_timestamp_nonce_signature(void **state)
{
	struct ncm_request q;
	char *nonce, *s;

	decode_setup("timestamp:1700000000\nnonce:q1w2e3r4\nsignature:c2ln+/bmF0dXJl==", &q);
	assert_true(q.has_timestamp);
	assert_int_equal(q.timestamp, 1700000000);
	assert_string_equal(q.nonce, "q1w2e3r4");
	assert_string_equal(q.signature, "c2ln+/bmF0dXJl==");
	ncm_request_done(&q);

	nonce = repeat('a', 64);
	memcpy(nonce, "Az09+/=_-", 9);
	assert_true(asprintf(&s, "timestamp:9223372036854775807\nnonce:%s", nonce) > 0);
	decode_setup(s, &q);
	assert_int_equal(q.timestamp, INT64_MAX);
	assert_string_equal(q.nonce, nonce);
	ncm_request_done(&q);
	free(s);
	assert_true(asprintf(&s, "nonce:%sa", nonce) > 0);
	decode_setup_fails(s, "'nonce'");
	free(s);
	free(nonce);

	decode_setup_fails("timestamp:9223372036854775808", "'timestamp'");
	decode_setup_fails("timestamp:-1", "'timestamp'");
	decode_setup_fails("timestamp:2024-01-01", "'timestamp'");
	decode_setup_fails("nonce:1234567", "'nonce'");
	decode_setup_fails("nonce:abcd$efgh", "'nonce'");
	decode_setup_fails("signature:abc def", "'signature'");
}

static void test_field_probe(void **state)
{
	struct ncm_request q;

	decode_str("PROBE * NETSERV/0.1\nprobe:modules, status,node.load\n\n", &q);
	assert_int_equal(q.method, NCM_METHOD_PROBE);
	assert_string_equal(q.target, "*");
	assert_string_equal(q.probe, "modules, status,node.load");
	assert_null(q.user);
	assert_false(q.n_filters);
	ncm_request_done(&q);

	decode_str_fails("PROBE * NETSERV/0.1\nprobe:modules,,status\n\n", "'probe'");
	decode_str_fails("PROBE * NETSERV/0.1\nprobe:a=b\n\n", "'probe'");
}

static void test_decode_rules(void **state)
{
	struct ncm_request q;
	struct ncm_msg *m;
	char err[NCM_ERR_LEN];

	/* Required headers. */
	decode_str_fails("SETUP m NETSERV/0.1\nurl:http://x\n\n", "'user'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\n\n", "'url'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:\nurl:http://x\n\n", "'user'");
	decode_str_fails("REMOVE m NETSERV/0.1\n\n", "'user'");
	decode_str("REMOVE m NETSERV/0.1\nuser:a\n\n", &q);
	assert_int_equal(q.method, NCM_METHOD_REMOVE);
	assert_null(q.url);
	ncm_request_done(&q);
	decode_str("STATUS node NETSERV/0.1\n\n", &q);
	assert_int_equal(q.method, NCM_METHOD_STATUS);
	ncm_request_done(&q);
	decode_str("TRIGGER m NETSERV/0.1\nuser:a\n\n", &q);
	assert_int_equal(q.method, NCM_METHOD_TRIGGER);
	ncm_request_done(&q);

	/* A known header may not repeat, in any case; the error names it. */
	decode_setup_fails("ttl:5\nTTL:6", "repeated header 'ttl'");
	decode_setup_fails("ttl:\nttl:6", "repeated header 'ttl'");
	decode_setup_fails("signature:a\nsignature:b", "repeated header 'signature'");
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:http://x\nuser:b\n\n",
	                 "repeated header 'user'");

	/* Unknown headers are ignored, repeated or not. */
	decode_setup("x-future:1\nx-future:2\nvia:node1", &q);
	assert_string_equal(q.user, "alice");
	ncm_request_done(&q);

	/* Not a request; a request with a body. */
	m = parse_str("NETSERV/0.1 200 OK\n\n");
	memset(&q, 0x5a, sizeof(q));
	assert_int_equal(ncm_request_decode(m, &q, err, sizeof(err)), -EBADMSG);
	assert_null(q.target);
	ncm_free(m);
	decode_str_fails("SETUP m NETSERV/0.1\nuser:a\nurl:http://x\ncontent-length:2\n\nhi",
	                 "body");
}

/* ---- Canonical form ---------------------------------------------------------- */

static void test_canonical_exact(void **state)
{
	char *c = canonical("REMOVE NetServ.apps.X_1 NETSERV/0.1\n"
	                    "user:bob\n"
	                    "timestamp:1700000000\n"
	                    "signature:AAAA\n"
	                    "nonce:abcdefgh\n"
	                    "x-b:2\n"
	                    "X-A:z\n"
	                    "x-b:1\n"
	                    "notification:\n"
	                    "\n");

	assert_string_equal(c, "REMOVE NetServ.apps.X_1 NETSERV/0.1\n"
	                       "nonce:abcdefgh\n"
	                       "timestamp:1700000000\n"
	                       "user:bob\n"
	                       "x-a:z\n"
	                       "x-b:2\n"
	                       "x-b:1\n"
	                       "\n");
	free(c);
}

static void test_canonical_independence(void **state)
{
	char *a = canonical(paper);
	char *b = canonical("SETUP NetServ.apps.NetMonitor_1.0.0 NETSERV/0.1\r\n"
	                    "URL:  http://content-publisher.com/modules/netmonitor.jar \r\n"
	                    "Ttl:3600\r\n"
	                    "User:\tjanedoe\r\n"
	                    "properties:visualizer_ip=1.2.3.4,visualizer_port=5678\r\n"
	                    "filter-proto: udp\r\n"
	                    "Filter-Port:5060\r\n"
	                    "signature:something-else\r\n"
	                    "\r\n");
	char *c = canonical("SETUP NetServ.apps.NetMonitor_1.0.0 NETSERV/0.1\n"
	                    "user:janedoe\n"
	                    "url:http://content-publisher.com/modules/netmonitor.jar\n"
	                    "ttl:3600\n"
	                    "filter-port:5060\n"
	                    "filter-proto:udp\n"
	                    "properties:visualizer_ip=1.2.3.4,visualizer_port=5678\n"
	                    "\n");
	char *d = canonical("SETUP NetServ.apps.NetMonitor_1.0.0 NETSERV/0.1\n"
	                    "user:janedoe\n"
	                    "url:http://content-publisher.com/modules/netmonitor.jar\n"
	                    "ttl:3601\n"
	                    "filter-port:5060\n"
	                    "filter-proto:udp\n"
	                    "properties:visualizer_ip=1.2.3.4,visualizer_port=5678\n"
	                    "\n");

	assert_string_equal(a, paper_canonical);
	assert_string_equal(b, paper_canonical);
	assert_string_equal(c, paper_canonical);
	/* A changed value changes it. */
	assert_string_not_equal(d, paper_canonical);
	free(a);
	free(b);
	free(c);
	free(d);
}

static void test_canonical_built(void **state)
{
	struct ncm_msg *m = ncm_request_new(NCM_METHOD_SETUP, "mod");
	char *c;
	size_t n;

	assert_non_null(m);
	assert_int_equal(ncm_add(m, "url", "http://x"), 0);
	assert_int_equal(ncm_add(m, "User", "a"), 0);
	assert_int_equal(ncm_add(m, "signature", "sig"), 0);
	assert_int_equal(ncm_add(m, "dependencies", ""), 0);
	assert_int_equal(ncm_canonical(m, &c, &n), 0);
	assert_string_equal(c, "SETUP mod NETSERV/0.1\nurl:http://x\nuser:a\n\n");
	assert_int_equal(n, strlen(c));
	free(c);
	/* The signature is not covered: changing it changes nothing. */
	assert_int_equal(ncm_set(m, "signature", "other"), 0);
	assert_int_equal(ncm_canonical(m, &c, &n), 0);
	assert_string_equal(c, "SETUP mod NETSERV/0.1\nurl:http://x\nuser:a\n\n");
	free(c);
	assert_int_equal(ncm_canonical(NULL, &c, &n), -EINVAL);
	ncm_free(m);
}

/* ---- Round trips --------------------------------------------------------------- */

static void test_round_trip_paper(void **state)
{
	struct ncm_msg *m = parse_str(paper), *m2;
	char *s, *s2;
	size_t n, n2;

	s = serialize(m, &n);
	/* Names lower-cased; everything else as it was. */
	assert_int_equal(n, strlen(paper));
	assert_non_null(strstr(s, "\nfilter-proto:udp\n"));
	assert_null(strstr(s, "PROTO"));
	assert_memory_equal(s, paper, 60);
	m2 = parse_ok(s, n);
	assert_int_equal(m2->n_headers, m->n_headers);
	for (size_t i = 0; i < m->n_headers; i++) {
		assert_string_equal(m2->headers[i].name, m->headers[i].name);
		assert_string_equal(m2->headers[i].value, m->headers[i].value);
	}
	s2 = serialize(m2, &n2);
	assert_int_equal(n2, n);
	assert_memory_equal(s2, s, n);
	free(s);
	free(s2);
	ncm_free(m);
	ncm_free(m2);
}

static void test_round_trip_crlf(void **state)
{
	static const char in[] = "PROBE 2001:db8::1 NETSERV/0.1\r\n"
	                         "Probe : x\r\n"
	                         "\r\n";
	static const char in2[] = "PROBE 2001:db8::1 NETSERV/0.1\r\n"
	                          "Probe:  modules\t\r\n"
	                          "X-Empty:\r\n"
	                          "\r\n";
	struct ncm_msg *m;
	char *s;
	size_t n;

	/* A blank before the colon makes a bad name. */
	parse_fails(in, -EBADMSG, "header name");

	m = parse_str(in2);
	assert_string_equal(m->target, "2001:db8::1");
	assert_string_equal(ncm_get(m, "probe"), "modules");
	assert_string_equal(ncm_get(m, "x-empty"), "");
	s = serialize(m, &n);
	assert_string_equal(s, "PROBE 2001:db8::1 NETSERV/0.1\nprobe:modules\nx-empty:\n\n");
	free(s);
	ncm_free(m);
}

static void test_response_body(void **state)
{
	static const char json[] = "{\"modules\":[],\"uptime\":42}";
	struct ncm_msg *m = ncm_response_new(NCM_OK, NULL), *m2;
	char *s, want[256];
	size_t n;

	assert_non_null(m);
	assert_int_equal(m->method, NCM_METHOD_NONE);
	assert_int_equal(m->code, 200);
	assert_string_equal(m->reason, "OK");
	assert_int_equal(ncm_add(m, "content-type", "application/json"), 0);
	assert_int_equal(ncm_set_body(m, json, strlen(json)), 0);
	assert_string_equal(ncm_get(m, "Content-Length"), "26");
	assert_string_equal(m->body, json);

	s = serialize(m, &n);
	snprintf(want, sizeof(want),
	         "NETSERV/0.1 200 OK\ncontent-type:application/json\ncontent-length:26\n\n%s",
	         json);
	assert_string_equal(s, want);
	assert_int_equal(ncm_frame_length(s, n, NULL, 0), (long)n);

	m2 = parse_ok(s, n);
	assert_int_equal(m2->code, 200);
	assert_string_equal(m2->reason, "OK");
	assert_int_equal(m2->body_len, 26);
	assert_memory_equal(m2->body, json, 26);
	assert_int_equal(m2->body[26], '\0');
	ncm_free(m2);
	free(s);

	/* Replacing the body updates the length; no second content-length. */
	assert_int_equal(ncm_set_body(m, "x", 1), 0);
	s = serialize(m, &n);
	assert_string_equal(
	        s, "NETSERV/0.1 200 OK\ncontent-type:application/json\ncontent-length:1\n\nx");
	free(s);
	/* Removing it. */
	assert_int_equal(ncm_set_body(m, NULL, 0), 0);
	assert_null(ncm_get(m, "content-length"));
	s = serialize(m, &n);
	assert_string_equal(s, "NETSERV/0.1 200 OK\ncontent-type:application/json\n\n");
	free(s);
	assert_int_equal(ncm_set_body(m, NULL, 3), -EINVAL);
	ncm_free(m);
}

static void test_response_parse(void **state)
{
	static const char in[] = "NETSERV/0.1 422 Unprocessable Content\r\n"
	                         "Content-Length: 5\r\n"
	                         "\r\n"
	                         "ab\0cd";
	struct ncm_msg *m = parse_ok(in, sizeof(in) - 1);
	char *s;
	size_t n;

	assert_int_equal(m->method, NCM_METHOD_NONE);
	assert_null(m->target);
	assert_int_equal(m->code, 422);
	assert_string_equal(m->reason, "Unprocessable Content");
	assert_int_equal(m->body_len, 5);
	assert_memory_equal(m->body, "ab\0cd", 6);
	s = serialize(m, &n);
	assert_int_equal(n,
	                 strlen("NETSERV/0.1 422 Unprocessable Content\ncontent-length:5\n\n") + 5);
	assert_memory_equal(s, "NETSERV/0.1 422 Unprocessable Content\ncontent-length:5\n\nab\0cd",
	                    n);
	free(s);
	ncm_free(m);

	/* No reason; an empty body; leading zeros in content-length normalized. */
	m = parse_str("NETSERV/0.1 404\n\n");
	assert_int_equal(m->code, 404);
	assert_string_equal(m->reason, "");
	s = serialize(m, &n);
	assert_string_equal(s, "NETSERV/0.1 404\n\n");
	free(s);
	ncm_free(m);
	m = parse_str("NETSERV/0.1 503 Service Unavailable\ncontent-length:000\n\n");
	assert_int_equal(m->body_len, 0);
	assert_non_null(m->body);
	assert_string_equal(ncm_get(m, "content-length"), "0");
	s = serialize(m, &n);
	assert_string_equal(s, "NETSERV/0.1 503 Service Unavailable\ncontent-length:0\n\n");
	free(s);
	ncm_free(m);
	m = parse_str("NETSERV/0.1 200 OK\ncontent-length:02\n\nhi");
	assert_string_equal(ncm_get(m, "content-length"), "2");
	ncm_free(m);

	/* A custom reason. */
	m = ncm_response_new(NCM_CONFLICT, " module held by bob ");
	assert_non_null(m);
	s = serialize(m, &n);
	assert_string_equal(s, "NETSERV/0.1 409 module held by bob\n\n");
	free(s);
	ncm_free(m);
	assert_null(ncm_response_new(99, NULL));
	assert_null(ncm_response_new(600, NULL));
	assert_null(ncm_response_new(200, "bad\nreason"));
}

/* ---- Building ------------------------------------------------------------------ */

static void test_build_headers(void **state)
{
	struct ncm_msg *m = ncm_request_new(NCM_METHOD_REMOVE, "mod.a");
	char *s, *big;
	size_t n;

	assert_non_null(m);
	assert_null(ncm_request_new(NCM_METHOD_NONE, "x"));
	assert_null(ncm_request_new(NCM_METHOD_SETUP, "bad target"));
	assert_null(ncm_request_new(NCM_METHOD_SETUP, ""));
	assert_null(ncm_request_new(NCM_METHOD_SETUP, NULL));

	assert_int_equal(ncm_add(m, "User", "  bob\t"), 0);
	assert_string_equal(m->headers[0].name, "user");
	assert_string_equal(m->headers[0].value, "bob");
	assert_int_equal(ncm_addf(m, "ttl", "%d", 60), 0);
	assert_int_equal(ncm_add(m, "x", "1"), 0);
	assert_int_equal(ncm_add(m, "X", "2"), 0);
	assert_string_equal(ncm_get(m, "x"), "1");
	assert_null(ncm_get(m, "y"));

	assert_int_equal(ncm_add(m, "bad name", "v"), -EINVAL);
	assert_int_equal(ncm_add(m, "bad:name", "v"), -EINVAL);
	assert_int_equal(ncm_add(m, "", "v"), -EINVAL);
	assert_int_equal(ncm_add(m, "n", "line\nbreak"), -EINVAL);
	assert_int_equal(ncm_add(m, "n", "cr\r"), -EINVAL);
	assert_int_equal(ncm_add(m, "n", "del\x7f"), -EINVAL);
	assert_int_equal(ncm_add(m, "n", NULL), -EINVAL);
	assert_int_equal(ncm_add(m, "content-length", "5"), -EINVAL);
	big = repeat('v', NCM_MAX_LINE);
	assert_int_equal(ncm_add(m, "n", big), -EINVAL);
	free(big);
	big = repeat('n', NCM_MAX_NAME + 1);
	assert_int_equal(ncm_add(m, big, "v"), -EINVAL);
	free(big);
	assert_int_equal(m->n_headers, 4);

	s = serialize(m, &n);
	assert_string_equal(s, "REMOVE mod.a NETSERV/0.1\nuser:bob\nttl:60\nx:1\nx:2\n\n");
	free(s);

	assert_int_equal(ncm_set(m, "X", "3"), 0);
	assert_int_equal(ncm_set(m, "nonce", "abcdefgh"), 0);
	s = serialize(m, &n);
	assert_string_equal(s,
	                    "REMOVE mod.a NETSERV/0.1\nuser:bob\nttl:60\nx:3\nnonce:abcdefgh\n\n");
	free(s);

	assert_int_equal(ncm_del(m, "TTL"), 1);
	assert_int_equal(ncm_del(m, "ttl"), 0);
	assert_int_equal(ncm_add(m, "x", "4"), 0);
	assert_int_equal(ncm_del(m, "x"), 2);
	s = serialize(m, &n);
	assert_string_equal(s, "REMOVE mod.a NETSERV/0.1\nuser:bob\nnonce:abcdefgh\n\n");
	free(s);
	ncm_free(m);
	assert_null(ncm_free(NULL));
}

static void test_build_limits(void **state)
{
	struct ncm_msg *m = ncm_request_new(NCM_METHOD_PROBE, "x");
	char *v = repeat('v', 2000), *s;
	size_t n;
	int r = 0, i;

	/* At most NCM_MAX_HEADERS header lines, content-length included. */
	for (i = 0; i < NCM_MAX_HEADERS - 1; i++)
		assert_int_equal(ncm_addf(m, "h", "%d", i), 0);
	assert_int_equal(ncm_set_body(m, "b", 1), 0);
	assert_int_equal(ncm_add(m, "h", "one too many"), -EMSGSIZE);
	assert_int_equal(ncm_set_body(m, "bb", 2), 0);
	assert_int_equal(m->n_headers, NCM_MAX_HEADERS);
	ncm_free(m);
	m = ncm_request_new(NCM_METHOD_PROBE, "x");
	for (i = 0; i < NCM_MAX_HEADERS; i++)
		assert_int_equal(ncm_addf(m, "h", "%d", i), 0);
	assert_int_equal(ncm_add(m, "h", "one too many"), -EMSGSIZE);
	assert_int_equal(ncm_set_body(m, "b", 1), -EMSGSIZE);
	assert_null(m->body);
	assert_null(ncm_get(m, "content-length"));
	ncm_free(m);

	/* At most NCM_MAX_MESSAGE bytes of head. */
	m = ncm_request_new(NCM_METHOD_PROBE, "x");
	for (i = 0; i < NCM_MAX_HEADERS && (r = ncm_add(m, "h", v)) == 0; i++)
		;
	assert_int_equal(r, -EMSGSIZE);
	assert_int_equal(i, NCM_MAX_MESSAGE / 2003);
	assert_int_equal(ncm_serialize(m, &s, &n), 0);
	assert_true(n <= NCM_MAX_MESSAGE);
	assert_int_equal(ncm_frame_length(s, n, NULL, 0), (long)n);
	free(s);
	ncm_free(m);
	free(v);

	m = ncm_response_new(200, NULL);
	assert_int_equal(ncm_set_body(m, "x", NCM_MAX_BODY + 1), -EMSGSIZE);
	ncm_free(m);
}

/* ---- Framing ------------------------------------------------------------------- */

static void test_frame_complete_and_partial(void **state)
{
	static const char resp[] = "NETSERV/0.1 200 OK\r\ncontent-length:4\r\n\r\nbody";
	char err[NCM_ERR_LEN];
	size_t plen = strlen(paper), rlen = strlen(resp);
	char *two;

	assert_int_equal(ncm_frame_length(paper, plen, err, sizeof(err)), (long)plen);
	assert_int_equal(ncm_frame_length(resp, rlen, err, sizeof(err)), (long)rlen);
	/* Every proper prefix needs more bytes. */
	for (size_t i = 0; i < plen; i++)
		assert_int_equal(ncm_frame_length(paper, i, err, sizeof(err)), 0);
	for (size_t i = 0; i < rlen; i++)
		assert_int_equal(ncm_frame_length(resp, i, err, sizeof(err)), 0);
	assert_int_equal(ncm_frame_length(NULL, 0, NULL, 0), 0);

	/* The first of two messages in a stream. */
	assert_true(asprintf(&two, "%s%s", resp, paper) > 0);
	assert_int_equal(ncm_frame_length(two, strlen(two), NULL, 0), (long)rlen);
	assert_int_equal(ncm_frame_length(two + rlen, plen, NULL, 0), (long)plen);
	free(two);
}

#define FRAME(s) ncm_frame_length(s, strlen(s), err, sizeof(err))

static void test_frame_garbage(void **state)
{
	char err[NCM_ERR_LEN];
	char *s;

	assert_int_equal(ncm_frame_length("\0\1\2\3", 4, err, sizeof(err)), -EBADMSG);
	assert_int_equal(FRAME("hello"), -EBADMSG);
	assert_int_equal(FRAME("\x16\x03\x01\x02"), -EBADMSG);
	assert_int_equal(FRAME("GET / HTTP/1.1\r\n"), -EBADMSG);
	assert_int_equal(FRAME("\n\n"), -EBADMSG);
	assert_int_equal(FRAME("SETUP x NETSERV/0.1\nno colon\n"), -EBADMSG);
	assert_int_equal(FRAME("SETUP x NETSERV/0.1\rX"), -EBADMSG);
	assert_int_equal(FRAME("SETUP x NETSERV/0.1\nbad name:v"), -EBADMSG);
	/* A wrong version still frames (the caller answers 505). */
	assert_int_equal(FRAME("SETUP x NETSERV/9.9\n\n"), 21);

	/* Limits are seen before the end of the message. */
	s = repeat('A', NCM_MAX_LINE + 1);
	assert_int_equal(ncm_frame_length(s, NCM_MAX_LINE, err, sizeof(err)), 0);
	assert_int_equal(ncm_frame_length(s, NCM_MAX_LINE + 1, err, sizeof(err)), -EMSGSIZE);
	free(s);
	assert_int_equal(FRAME("NETSERV/0.1 200 OK\ncontent-length:4194305\n"), -EMSGSIZE);
	assert_non_null(strstr(err, "content-length"));
	assert_int_equal(FRAME("NETSERV/0.1 200 OK\ncontent-length:4194304\n\n"), 0);
	assert_int_equal(FRAME("NETSERV/0.1 200 OK\ncontent-length:x\n"), -EBADMSG);
}

static void test_frame_head_limit(void **state)
{
	size_t cap = NCM_MAX_MESSAGE + 4096, n = 0;
	char *s = malloc(cap), err[NCM_ERR_LEN];
	int lines = 0;

	/* Long header lines, not too many of them, until the head is too big. */
	n += (size_t)sprintf(s, "PROBE x NETSERV/0.1\n");
	while (n + 4000 < cap - 1 && lines < 20) {
		memcpy(s + n, "h:", 2);
		memset(s + n + 2, 'v', 3997);
		s[n + 3999] = '\n';
		n += 4000;
		lines++;
	}
	assert_true(n > NCM_MAX_MESSAGE);
	assert_int_equal(ncm_frame_length(s, n, err, sizeof(err)), -EMSGSIZE);
	assert_non_null(strstr(err, "head"));
	parse_fails_len(s, n, -EMSGSIZE, "head");
	free(s);
}

/* ---- Malformed input ----------------------------------------------------------- */

static void test_bad_start_line(void **state)
{
	parse_fails("", -EBADMSG, "truncated");
	parse_fails("\n\n", -EBADMSG, "start line");
	parse_fails("SETUP\n\n", -EBADMSG, "start line");
	parse_fails("SETUP x\n\n", -EBADMSG, "start line");
	parse_fails("SETUP x NETSERV/0.1 extra\n\n", -EBADMSG, "start line");
	parse_fails("SETUP  x NETSERV/0.1\n\n", -EBADMSG, "start line");
	parse_fails("SETUP  NETSERV/0.1\n\n", -EBADMSG, "empty target");
	parse_fails("SETUP x NETSERV/0.1 \n\n", -EBADMSG, "start line");
	parse_fails("setup x NETSERV/0.1\n\n", -EBADMSG, "start line");
	parse_fails("FETCH x NETSERV/0.1\n\n", -EBADMSG, "unknown method 'FETCH'");
	parse_fails("SETUP x/y NETSERV/0.1\n\n", -EBADMSG, "target");
	parse_fails("SETUP x netserv\n\n", -EBADMSG, "version");
	parse_fails("NETSERV/0.1 20 OK\n\n", -EBADMSG, "status code");
	parse_fails("NETSERV/0.1 2000 OK\n\n", -EBADMSG, "status code");
	parse_fails("NETSERV/0.1 600 OK\n\n", -EBADMSG, "status code");
	parse_fails("NETSERV/0.1 OK\n\n", -EBADMSG, "status code");
	parse_fails("NETSERV/0.1\n\n", -EBADMSG, "start line");
}

static void test_bad_version(void **state)
{
	parse_fails("SETUP x NETSERV/0.2\nuser:a\n\n", -EPROTO, "NETSERV/0.2");
	parse_fails("SETUP x NETSERV/1.0\n\n", -EPROTO, "version");
	parse_fails("NETSERV/1.0 200 OK\n\n", -EPROTO, "version");
	parse_fails("HTTP/1.1 200 OK\r\n\r\n", -EPROTO, "HTTP/1.1");
	/* The version is reported even when later lines are bad. */
	parse_fails("SETUP x NETSERV/0.2\nno colon\n\n", -EPROTO, "version");
}

static void test_bad_headers(void **state)
{
	char *name = repeat('n', NCM_MAX_NAME + 1), *s;
	struct ncm_msg *m;

	parse_fails("SETUP x NETSERV/0.1\nuser janedoe\n\n", -EBADMSG,
	            "line 2: header without ':'");
	parse_fails("SETUP x NETSERV/0.1\n:value\n\n", -EBADMSG, "empty header name");
	parse_fails("SETUP x NETSERV/0.1\nus_er:a\n\n", -EBADMSG, "header name");
	parse_fails("SETUP x NETSERV/0.1\n user:a\n\n", -EBADMSG, "header name");
	assert_true(asprintf(&s, "SETUP x NETSERV/0.1\n%s:v\n\n", name) > 0);
	parse_fails(s, -EMSGSIZE, "header name");
	free(s);
	name[NCM_MAX_NAME] = '\0';
	assert_true(asprintf(&s, "SETUP x NETSERV/0.1\n%s:v\n\n", name) > 0);
	m = parse_str(s);
	assert_string_equal(m->headers[0].name, name);
	ncm_free(m);
	free(s);
	free(name);

	/* A value may contain colons and 8-bit bytes. */
	m = parse_str("SETUP x NETSERV/0.1\nurl:http://h:80/x\nnote:caf\xc3\xa9\n\n");
	assert_string_equal(ncm_get(m, "url"), "http://h:80/x");
	assert_string_equal(ncm_get(m, "note"), "caf\xc3\xa9");
	ncm_free(m);
}

static void test_control_chars(void **state)
{
	static const char nul[] = "SETUP x NETSERV/0.1\nuser:a\0b\n\n";
	struct ncm_msg *m;

	parse_fails("SETUP x NETSERV/0.1\nuser:a\x01\n\n", -EBADMSG, "control character 0x01");
	parse_fails("SETUP x NETSERV/0.1\nuser:a\x7f\n\n", -EBADMSG, "control character 0x7f");
	parse_fails("SETUP x NETSERV/0.1\nuser:a\x1b[31m\n\n", -EBADMSG, "control character");
	parse_fails("SETUP x NETSERV/0.1\nuser:a\rb\n\n", -EBADMSG, "CR");
	parse_fails("SETUP x\x01 NETSERV/0.1\n\n", -EBADMSG, "line 1: control character");
	parse_fails_len(nul, sizeof(nul) - 1, -EBADMSG, "control character 0x00");
	/* A tab is allowed inside a value. */
	m = parse_str("SETUP x NETSERV/0.1\nnote:a\tb\n\n");
	assert_string_equal(ncm_get(m, "note"), "a\tb");
	ncm_free(m);
}

static void test_size_limits(void **state)
{
	char *target = repeat('t', NCM_MAX_TARGET + 1), *val = repeat('v', NCM_MAX_LINE), *s;
	struct ncm_msg *m;

	assert_true(asprintf(&s, "SETUP %s NETSERV/0.1\n\n", target) > 0);
	parse_fails(s, -EMSGSIZE, "target");
	free(s);
	target[NCM_MAX_TARGET] = '\0';
	assert_true(asprintf(&s, "SETUP %s NETSERV/0.1\n\n", target) > 0);
	m = parse_str(s);
	assert_string_equal(m->target, target);
	ncm_free(m);
	free(s);
	free(target);

	/* A line of exactly NCM_MAX_LINE bytes is fine, CRLF or not; one more is not. */
	memcpy(val, "h:", 2);
	assert_true(asprintf(&s, "SETUP x NETSERV/0.1\n%s\r\n\r\n", val) > 0);
	m = parse_str(s);
	assert_int_equal(strlen(ncm_get(m, "h")), NCM_MAX_LINE - 2);
	ncm_free(m);
	free(s);
	assert_true(asprintf(&s, "SETUP x NETSERV/0.1\n%sv\n\n", val) > 0);
	parse_fails(s, -EMSGSIZE, "line 2 longer");
	free(s);
	free(val);
}

static void test_too_many_headers(void **state)
{
	char s[2048];
	struct ncm_msg *m;
	size_t n = 0;

	n += (size_t)snprintf(s, sizeof(s), "PROBE x NETSERV/0.1\n");
	for (int i = 0; i < NCM_MAX_HEADERS; i++)
		n += (size_t)snprintf(s + n, sizeof(s) - n, "h%d:%d\n", i, i);
	assert_true(n < sizeof(s) - 16);
	strcpy(s + n, "\n");
	m = parse_str(s);
	assert_int_equal(m->n_headers, NCM_MAX_HEADERS);
	ncm_free(m);
	strcpy(s + n, "one:more\n\n");
	parse_fails(s, -EMSGSIZE, "headers");
	assert_int_equal(ncm_frame_length(s, strlen(s), NULL, 0), -EMSGSIZE);
}

static void test_body_rules(void **state)
{
	static const char nul_body[] = "NETSERV/0.1 200 OK\ncontent-length:3\n\n\0\0\0";
	struct ncm_msg *m;

	parse_fails("NETSERV/0.1 200 OK\n\nbody", -EBADMSG, "without content-length");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:10\n\nshort", -EBADMSG,
	            "truncated body: 5 of 10");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:2\n\nlonger", -EBADMSG, "after the body");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:2\ncontent-length:2\n\nhi", -EBADMSG,
	            "repeated content-length");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:-2\n\n", -EBADMSG, "content-length");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:0x10\n\n", -EBADMSG, "content-length");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:\n\n", -EBADMSG, "content-length");
	parse_fails("NETSERV/0.1 200 OK\ncontent-length:99999999999999999999999\n\n", -EMSGSIZE,
	            "content-length");
	parse_fails("SETUP x NETSERV/0.1\n\nSETUP y NETSERV/0.1\n\n", -EBADMSG,
	            "without content-length");

	m = parse_ok(nul_body, sizeof(nul_body) - 1);
	assert_int_equal(m->body_len, 3);
	assert_memory_equal(m->body, "\0\0\0", 4);
	ncm_free(m);
}

static void test_truncated(void **state)
{
	static const char resp[] = "NETSERV/0.1 200 OK\r\ncontent-length:4\r\n\r\nbody";
	size_t plen = strlen(paper);

	/* Every proper prefix fails cleanly (and within bounds: see ASan). */
	for (size_t i = 0; i < plen; i++) {
		char *copy = malloc(i + 1);

		memcpy(copy, paper, i);
		parse_fails_len(copy, i, -EBADMSG, "truncated");
		free(copy);
	}
	for (size_t i = 0; i < sizeof(resp) - 1; i++) {
		char *copy = malloc(i + 1);

		memcpy(copy, resp, i);
		parse_fails_len(copy, i, -EBADMSG, "truncated");
		free(copy);
	}
}

static void test_serialize_checks(void **state)
{
	struct ncm_msg *m = ncm_request_new(NCM_METHOD_SETUP, "m");
	char *s = NULL, *saved;
	size_t n;

	assert_int_equal(ncm_serialize(NULL, &s, &n), -EINVAL);
	/* Fields a caller broke by hand are refused, not written. */
	saved = m->target;
	m->target = "bad target";
	assert_int_equal(ncm_serialize(m, &s, &n), -EINVAL);
	assert_null(s);
	m->target = saved;
	m->method = (enum ncm_method)42;
	assert_int_equal(ncm_serialize(m, &s, &n), -EINVAL);
	m->method = NCM_METHOD_SETUP;
	s = serialize(m, &n);
	assert_string_equal(s, "SETUP m NETSERV/0.1\n\n");
	free(s);
	ncm_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_names),
	        cmocka_unit_test(test_paper_example),
	        cmocka_unit_test(test_field_user),
	        cmocka_unit_test(test_field_url),
	        cmocka_unit_test(test_field_module_hash),
	        cmocka_unit_test(test_field_ttl),
	        cmocka_unit_test(test_field_dependencies),
	        cmocka_unit_test(test_field_filter_proto),
	        cmocka_unit_test(test_field_filter_port),
	        cmocka_unit_test(test_field_filter_prefixes),
	        cmocka_unit_test(test_field_filter_list),
	        cmocka_unit_test(test_field_sample),
	        cmocka_unit_test(test_prefix_api),
	        cmocka_unit_test(test_field_notification),
	        cmocka_unit_test(test_field_properties),
	        cmocka_unit_test(test_property_escapes),
	        cmocka_unit_test(test_property_escape_roundtrip),
	        cmocka_unit_test(test_field_timestamp_nonce_signature),
	        cmocka_unit_test(test_field_probe),
	        cmocka_unit_test(test_decode_rules),
	        cmocka_unit_test(test_canonical_exact),
	        cmocka_unit_test(test_canonical_independence),
	        cmocka_unit_test(test_canonical_built),
	        cmocka_unit_test(test_round_trip_paper),
	        cmocka_unit_test(test_round_trip_crlf),
	        cmocka_unit_test(test_response_body),
	        cmocka_unit_test(test_response_parse),
	        cmocka_unit_test(test_build_headers),
	        cmocka_unit_test(test_build_limits),
	        cmocka_unit_test(test_frame_complete_and_partial),
	        cmocka_unit_test(test_frame_garbage),
	        cmocka_unit_test(test_frame_head_limit),
	        cmocka_unit_test(test_bad_start_line),
	        cmocka_unit_test(test_bad_version),
	        cmocka_unit_test(test_bad_headers),
	        cmocka_unit_test(test_control_chars),
	        cmocka_unit_test(test_size_limits),
	        cmocka_unit_test(test_too_many_headers),
	        cmocka_unit_test(test_body_rules),
	        cmocka_unit_test(test_truncated),
	        cmocka_unit_test(test_serialize_checks),
	        cmocka_unit_test(test_dup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
