/* Unit tests of modules/sip.h, the SIP code of the keepalive and overload
 * modules, compiled natively: the parser on well-formed messages (long and
 * compact header names, any case, LF-only lines, folded lines, several Via
 * values), on malformed ones (each error), the answers (byte for byte),
 * received/rport, tags, Via parameters (RFC 7339 oc), addresses against
 * inet_pton/inet_ntop, the RFC 5626 keep-alives (the packets that carry the
 * answers are the SDK's: test_sdk_util.c), and a fuzz-like run: every truncation and many random
 * mutations of the sample messages, each in a buffer of its exact size (so
 * that ASan sees any read past it), with the answer to every message that
 * parses parsed again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

#define CRLF "\r\n"

static const char notify_msg[] =
        "NOTIFY sip:server@10.2.0.2:5060 SIP/2.0" CRLF
        "Via: SIP/2.0/UDP 10.1.0.2:5061;branch=z9hG4bK-1-0;rport" CRLF "Max-Forwards: 70" CRLF
        "From: <sip:alice@10.1.0.2:5061>;tag=1a" CRLF "To: <sip:server@10.2.0.2:5060>" CRLF
        "Call-ID: 1-123@10.1.0.2" CRLF "CSeq: 1 NOTIFY" CRLF
        "Contact: <sip:alice@10.1.0.2:5061>" CRLF "Event: keep-alive" CRLF
        "Content-Length: 0" CRLF CRLF;

/* compact and odd-case names, LF-only lines, a folded CSeq, two Via values
 * on one line and a third on another, a quoted comma and a URI tag in From */
static const char compact_msg[] = "NOTIFY sip:s@example.net SIP/2.0\n"
                                  "v: SIP/2.0/UDP client.example.com;branch=z9hG4bKa, SIP/2.0/UDP "
                                  "10.9.9.9:5070;branch=z9hG4bKb\n"
                                  "VIA: SIP / 2.0 / UDP proxy.example;branch=z9hG4bKc\n"
                                  "f: \"Alice, A.\" <sip:a@x;tag=no>;tag=ft\n"
                                  "t: sip:s@example.net\n"
                                  "i: abc\n"
                                  "CSEQ: 7\n"
                                  "  NOTIFY\n"
                                  "o: Keep-Alive;id=1\n"
                                  "l: 0\n"
                                  "\n";

static const char invite_msg[] =
        "INVITE sip:service@[fd00:2::2]:5060 SIP/2.0" CRLF
        "Via: SIP/2.0/UDP [fd00:1::2]:5061;branch=z9hG4bK-2-1" CRLF
        "From: sipp <sip:sipp@[fd00:1::2]:5061>;tag=2" CRLF
        "To: sut <sip:service@[fd00:2::2]:5060>" CRLF "Call-ID: 2-55@fd00:1::2" CRLF
        "CSeq: 1 INVITE" CRLF "Contact: sip:sipp@[fd00:1::2]:5061" CRLF
        "Content-Type: application/sdp" CRLF "Content-Length: 4" CRLF CRLF "v=0\n";

static const char response_msg[] =
        "SIP/2.0 200 OK" CRLF
        "Via: SIP/2.0/UDP 10.1.0.2:5061;branch=z9hG4bK-3;oc;oc-algo=\"loss\";oc=67;"
        "oc-algo=\"loss\";oc-validity=5000;oc-seq=1282321615.782" CRLF "From: <sip:a@x>;tag=1" CRLF
        "To: <sip:b@y>;tag=2" CRLF "Call-ID: c3" CRLF "CSeq: 1 INVITE" CRLF
        "Content-Length: 0" CRLF CRLF;

static const uint8_t client4[4] = {10, 1, 0, 2};

static int parse(const char *s, struct sip_msg *m)
{
	return sip_parse(s, (uint32_t)strlen(s), m);
}

static char *str(struct sip_str s)
{
	static char buf[8][512];
	static int k;
	char *b = buf[k++ & 7];
	snprintf(b, 512, "%.*s", (int)s.len, s.p);
	return b;
}

static void test_parse_notify(void **state)
{
	struct sip_msg m;
	struct sip_str t = {0, 0};
	assert_int_equal(parse(notify_msg, &m), SIP_OK);
	assert_true(m.is_request);
	assert_string_equal(str(m.method), "NOTIFY");
	assert_string_equal(str(m.uri), "sip:server@10.2.0.2:5060");
	assert_int_equal(m.n_via, 1);
	assert_string_equal(str(m.call_id), "1-123@10.1.0.2");
	assert_int_equal(m.cseq_num, 1);
	assert_string_equal(str(m.cseq_method), "NOTIFY");
	assert_string_equal(str(m.event), "keep-alive");
	assert_true(m.has_content_length);
	assert_int_equal(m.content_length, 0);
	assert_int_equal(m.body_off, strlen(notify_msg));
	assert_int_equal(m.n_headers, 9);
	assert_true(sip_tag(m.from, &t));
	assert_string_equal(str(t), "1a");
	assert_false(sip_tag(m.to, &t));
}

static void test_parse_compact(void **state)
{
	struct sip_msg m;
	struct sip_str t = {0, 0};
	struct sip_via via;
	assert_int_equal(parse(compact_msg, &m), SIP_OK);
	assert_int_equal(m.n_via, 2);
	assert_string_equal(str(m.call_id), "abc");
	assert_int_equal(m.cseq_num, 7);
	assert_string_equal(str(m.cseq_method), "NOTIFY");
	assert_string_equal(str(m.event), "Keep-Alive;id=1");
	assert_true(sip_tag(m.from, &t));
	assert_string_equal(str(t), "ft");
	/* the first value of the first Via line, then the second line */
	assert_true(sip_via_parse(sip_via_first(m.via[0]), &via));
	assert_string_equal(str(via.host), "client.example.com");
	assert_int_equal(via.port, 0);
	assert_string_equal(str(via.transport), "UDP");
	assert_true(sip_via_parse(sip_via_first(m.via[1]), &via));
	assert_string_equal(str(via.host), "proxy.example");
	assert_int_equal(sip_param_get(via.params, "BRANCH", &t), 2);
	assert_string_equal(str(t), "z9hG4bKc");
}

static void test_parse_invite_v6(void **state)
{
	struct sip_msg m;
	struct sip_via via;
	uint8_t a[16], b[16];
	assert_int_equal(parse(invite_msg, &m), SIP_OK);
	assert_int_equal(m.body_len, 4);
	assert_true(sip_via_parse(sip_via_first(m.via[0]), &via));
	assert_string_equal(str(via.host), "fd00:1::2");
	assert_int_equal(via.port, 5061);
	assert_int_equal(sip_ip_parse(via.host, a), 6);
	inet_pton(AF_INET6, "fd00:1::2", b);
	assert_memory_equal(a, b, 16);
}

static void test_parse_response_oc(void **state)
{
	struct sip_msg m;
	struct sip_via via;
	struct sip_str v = {0, 0};
	assert_int_equal(parse(response_msg, &m), SIP_OK);
	assert_false(m.is_request);
	assert_int_equal(m.status, 200);
	assert_string_equal(str(m.reason), "OK");
	assert_true(sip_via_parse(sip_via_first(m.via[0]), &via));
	/* the bare oc the client added loses to the server's oc=67 */
	assert_int_equal(sip_param_get(via.params, "oc", &v), 2);
	assert_string_equal(str(v), "67");
	assert_int_equal(sip_param_get(via.params, "oc-algo", &v), 2);
	assert_string_equal(str(v), "loss");
	assert_int_equal(sip_param_get(via.params, "oc-validity", &v), 2);
	assert_string_equal(str(v), "5000");
	assert_int_equal(sip_param_get(via.params, "oc-seq", &v), 2);
	assert_string_equal(str(v), "1282321615.782");
	assert_int_equal(sip_param_get(via.params, "rport", &v), 0);
}

static void test_parse_errors(void **state)
{
	struct sip_msg m;
	static const struct {
		const char *msg;
		int err;
	} cases[] = {
	        {"", SIP_E_NOT_SIP},
	        {"hello", SIP_E_NOT_SIP},
	        {"NOTIFY sip:x SIP/3.0\r\n\r\n", SIP_E_NOT_SIP},
	        {"NOTIFY  sip:x SIP/2.0\r\n\r\n", SIP_E_NOT_SIP},
	        {"NOTIFY sip:x SIP/2.0 \r\n\r\n", SIP_E_NOT_SIP},
	        {"SIP/2.0 20 OK\r\n\r\n", SIP_E_NOT_SIP},
	        {"SIP/2.0 099 Low\r\n\r\n", SIP_E_NOT_SIP},
	        {"NOTIFY sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n", SIP_E_TRUNCATED},
	        {"NOTIFY sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\rX\r\n\r\n", SIP_E_TRUNCATED},
	        {"NOTIFY sip:x SIP/2.0\r\nVia: SIP/2.0/UDP \x01h\r\n\r\n", SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\n folded\r\n\r\n", SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nNo colon\r\n\r\n", SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nv: a\r\nf: <sip:a>\r\nt: <sip:b>\r\ni: c\r\n"
	         "CSeq: 1 NOTIFY\r\nl: 10\r\n\r\nshort",
	         SIP_E_TRUNCATED},
	        {"NOTIFY sip:x SIP/2.0\r\nv: a\r\nf: <sip:a>\r\nf: <sip:a>\r\n\r\n",
	         SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nv: a\r\nf: <sip:a>\r\nt: <sip:b>\r\n"
	         "CSeq: 1 NOTIFY\r\n\r\n",
	         SIP_E_MISSING},
	        {"NOTIFY sip:x SIP/2.0\r\nv: a\r\nf: <sip:a>\r\nt: <sip:b>\r\ni: c\r\n"
	         "CSeq: 1 OPTIONS\r\n\r\n",
	         SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nv: a\r\nf: <sip:a>\r\nt: <sip:b>\r\ni: c\r\n"
	         "CSeq: NOTIFY\r\n\r\n",
	         SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nv: a\r\nf: <sip:a>\r\nt: <sip:b>\r\ni: c\r\n"
	         "CSeq: 99999999999 NOTIFY\r\n\r\n",
	         SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", SIP_E_MALFORMED},
	        {"NOTIFY sip:x SIP/2.0\r\nv:\r\n\r\n", SIP_E_MALFORMED},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse(cases[i].msg, &m);
		if (r != cases[i].err)
			print_message("case %zu: got %d, want %d\n", i, r, cases[i].err);
		assert_int_equal(r, cases[i].err);
	}
	/* the limits */
	char big[8192];
	int n = snprintf(big, sizeof(big), "NOTIFY sip:x SIP/2.0\r\n");
	for (int i = 0; i < SIP_MAX_VIA + 1; i++)
		n += snprintf(big + n, sizeof(big) - n, "v: SIP/2.0/UDP h%d\r\n", i);
	snprintf(big + n, sizeof(big) - n, "\r\n");
	assert_int_equal(parse(big, &m), SIP_E_LIMIT);
	n = snprintf(big, sizeof(big), "NOTIFY sip:x SIP/2.0\r\n");
	for (int i = 0; i < SIP_MAX_HEADERS + 1; i++)
		n += snprintf(big + n, sizeof(big) - n, "X: %d\r\n", i);
	snprintf(big + n, sizeof(big) - n, "\r\n");
	assert_int_equal(parse(big, &m), SIP_E_LIMIT);
	/* the method is case-sensitive, SIP/2.0 is not */
	assert_int_equal(parse("notify sip:x sip/2.0\r\nv: SIP/2.0/UDP h\r\nf: <sip:a>\r\n"
	                       "t: <sip:b>\r\ni: c\r\nCSeq: 1 notify\r\n\r\n",
	                       &m),
	                 SIP_OK);
	assert_false(sip_eq(m.method, "NOTIFY"));
	/* CRLFs before the start line are skipped (RFC 3261 §7.5) */
	assert_int_equal(parse("\r\n\r\nSIP/2.0 200 OK\r\nv: SIP/2.0/UDP h\r\nf: <sip:a>\r\n"
	                       "t: <sip:b>\r\ni: c\r\nCSeq: 1 X\r\n\r\n",
	                       &m),
	                 SIP_OK);
	assert_int_equal(m.status, 200);
}

static void test_answer_notify(void **state)
{
	struct sip_msg m;
	char out[2048], tag[48];
	struct sip_peer from = {4, client4, 5061};
	assert_int_equal(parse(notify_msg, &m), SIP_OK);
	sip_make_tag(tag, "nska", &m);
	assert_int_equal(strlen(tag), 12);
	assert_memory_equal(tag, "nska", 4);
	int n = sip_build_answer(out, sizeof(out), &m, &from, 200, "OK", tag, NULL);
	assert_true(n > 0);
	out[n] = 0;
	char want[2048];
	snprintf(want, sizeof(want),
	         "SIP/2.0 200 OK" CRLF "Via: SIP/2.0/UDP "
	         "10.1.0.2:5061;branch=z9hG4bK-1-0;rport=5061;received=10.1.0.2" CRLF
	         "From: <sip:alice@10.1.0.2:5061>;tag=1a" CRLF
	         "To: <sip:server@10.2.0.2:5060>;tag=%s" CRLF "Call-ID: 1-123@10.1.0.2" CRLF
	         "CSeq: 1 NOTIFY" CRLF "Content-Length: 0" CRLF CRLF,
	         tag);
	assert_string_equal(out, want);
	assert_int_equal(sip_response_port(&m, &from), 5061);
	/* the same request gets the same tag; the answer does not fit in less */
	char tag2[48];
	sip_make_tag(tag2, "nska", &m);
	assert_string_equal(tag, tag2);
	assert_int_equal(sip_build_answer(out, (uint32_t)n - 1, &m, &from, 200, "OK", tag, NULL),
	                 -1);
	assert_int_equal(sip_build_answer(out, (uint32_t)n, &m, &from, 200, "OK", tag, NULL), n);
}

static void test_answer_compact(void **state)
{
	struct sip_msg m;
	char out[2048];
	struct sip_peer from = {4, client4, 40000};
	assert_int_equal(parse(compact_msg, &m), SIP_OK);
	int n = sip_build_answer(out, sizeof(out), &m, &from, 503, "Service Unavailable", "t1",
	                         "Retry-After: 5\r\n");
	assert_true(n > 0);
	out[n] = 0;
	assert_string_equal(
	        out, "SIP/2.0 503 Service Unavailable" CRLF
	             "Via: SIP/2.0/UDP client.example.com;branch=z9hG4bKa;received=10.1.0.2,"
	             " SIP/2.0/UDP 10.9.9.9:5070;branch=z9hG4bKb" CRLF
	             "Via: SIP / 2.0 / UDP proxy.example;branch=z9hG4bKc" CRLF
	             "From: \"Alice, A.\" <sip:a@x;tag=no>;tag=ft" CRLF
	             "To: sip:s@example.net;tag=t1" CRLF "Call-ID: abc" CRLF "CSeq: 7 NOTIFY" CRLF
	             "Retry-After: 5" CRLF "Content-Length: 0" CRLF CRLF);
	/* no rport, no port in sent-by: the server answers at 5060 */
	assert_int_equal(sip_response_port(&m, &from), 5060);
	/* To with a tag keeps it */
	assert_int_equal(parse(response_msg, &m), SIP_OK);
	n = sip_build_answer(out, sizeof(out), &m, &from, 200, "OK", "zz", NULL);
	out[n] = 0;
	assert_non_null(strstr(out, "To: <sip:b@y>;tag=2\r\n"));
	assert_null(strstr(out, "zz"));
}

static void test_answer_received(void **state)
{
	struct sip_msg m;
	char out[2048];
	uint8_t v6[16];
	inet_pton(AF_INET6, "fd00:1::2", v6);
	/* sent-by is the source: no received; written in another form: none */
	struct sip_peer from = {6, v6, 5061};
	assert_int_equal(parse(invite_msg, &m), SIP_OK);
	int n = sip_build_answer(out, sizeof(out), &m, &from, 100, "Trying", NULL, NULL);
	out[n] = 0;
	assert_non_null(strstr(out, "Via: SIP/2.0/UDP [fd00:1::2]:5061;branch=z9hG4bK-2-1\r\n"));
	assert_non_null(strstr(out, "To: sut <sip:service@[fd00:2::2]:5060>\r\n"));
	/* another source: received in RFC 5952 form */
	uint8_t other[16];
	inet_pton(AF_INET6, "2001:db8:0:0:1:0:0:1", other);
	from.addr = other;
	n = sip_build_answer(out, sizeof(out), &m, &from, 100, "Trying", NULL, NULL);
	out[n] = 0;
	assert_non_null(strstr(out, ";branch=z9hG4bK-2-1;received=2001:db8::1:0:0:1\r\n"));
	assert_int_equal(sip_response_port(&m, &from), 5061);
}

static void test_via_insert(void **state)
{
	char buf[2048];
	struct sip_msg m;
	struct sip_via via;
	struct sip_str v = {0, 0};
	size_t len = strlen(compact_msg);
	memcpy(buf, compact_msg, len);
	assert_int_equal(sip_parse(buf, (uint32_t)len, &m), SIP_OK);
	int n = sip_via_insert(buf, (uint32_t)len, sizeof(buf), &m, ";oc;oc-algo=\"loss\"");
	assert_int_equal(n, (int)len + 18);
	assert_int_equal(sip_parse(buf, (uint32_t)n, &m), SIP_OK);
	assert_int_equal(m.n_via, 2);
	assert_true(sip_via_parse(sip_via_first(m.via[0]), &via));
	assert_int_equal(sip_param_get(via.params, "oc", &v), 1);
	assert_int_equal(sip_param_get(via.params, "oc-algo", &v), 2);
	assert_string_equal(str(v), "loss");
	assert_non_null(strstr(str(m.via[0]), "branch=z9hG4bKa;oc;oc-algo=\"loss\", SIP/2.0/UDP"));
	assert_int_equal(sip_via_insert(buf, (uint32_t)n, (uint32_t)n + 3, &m, "1234"), -1);
}

static void test_ip(void **state)
{
	static const char *good[] = {"0.0.0.0",
	                             "255.255.255.255",
	                             "10.1.0.2",
	                             "::",
	                             "::1",
	                             "1::",
	                             "fd00:2::2",
	                             "2001:db8::1:0:0:1",
	                             "::ffff:1.2.3.4",
	                             "1:2:3:4:5:6:7:8",
	                             "1:2:3:4:5:6:1.2.3.4",
	                             "FD00:0:0::A"};
	static const char *bad[] = {
	        "",          "1.2.3", "1.2.3.4.5",         "256.1.1.1",
	        "1.2.3.04x", ":::",   "1:2:3:4:5:6:7:8:9", "1::2::3",
	        ":1::",      "1:",    "12345::",           "::g",
	        "1.2.3.4:5", "a",     "::1.2.3",           "1:2:3:4:5:6:7:1.2.3.4"};
	uint8_t a[16], b[16];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct sip_str s = {good[i], (uint32_t)strlen(good[i])};
		int v = sip_ip_parse(s, a);
		int want = strchr(good[i], ':') ? 6 : 4;
		if (v != want)
			print_message("%s: %d\n", good[i], v);
		assert_int_equal(v, want);
		assert_int_equal(inet_pton(v == 4 ? AF_INET : AF_INET6, good[i], b), 1);
		assert_memory_equal(a, b, v == 4 ? 4 : 16);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int v = sip_ip_parse((struct sip_str){bad[i], (uint32_t)strlen(bad[i])}, a);
		if (v)
			print_message("%s parsed as %d\n", bad[i], v);
		assert_int_equal(v, 0);
	}
	/* formatting: RFC 5952 as inet_ntop writes it, and back */
	srand(7);
	for (int i = 0; i < 20000; i++) {
		for (int k = 0; k < 16; k++)
			a[k] = (rand() & 3) ? 0 : (uint8_t)rand();
		a[0] |= 0x20; /* not the IPv4-mapped/compatible forms inet_ntop writes apart */
		char text[64], want[64];
		struct sip_out o = {text, sizeof(text) - 1, 0, false};
		sip_put_ip(&o, 6, a);
		text[o.len] = 0;
		inet_ntop(AF_INET6, a, want, sizeof(want));
		assert_string_equal(text, want);
		assert_int_equal(sip_ip_parse((struct sip_str){text, o.len}, b), 6);
		assert_memory_equal(a, b, 16);
	}
}

static void test_keepalives(void **state)
{
	assert_int_equal(sip_crlf_keepalive((const uint8_t *)"\r\n\r\n", 4), 2);
	assert_int_equal(sip_crlf_keepalive((const uint8_t *)"\r\n", 2), 1);
	assert_int_equal(sip_crlf_keepalive((const uint8_t *)"\n\r\n\r\n", 5), 2);
	assert_int_equal(sip_crlf_keepalive((const uint8_t *)"\r\nx", 3), 0);
	assert_int_equal(sip_crlf_keepalive((const uint8_t *)"", 0), 0);
	uint8_t req[28] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1,  2,
	                   3,    4,    5,    6,    7,    8,    9,    10,   11, 12,
	                   0x80, 0x22, 0,    4,    'a',  'b',  'c',  'd'};
	assert_true(stun_is_binding_request(req, 28));
	assert_false(stun_is_binding_request(req, 27));
	req[4] = 0;
	assert_false(stun_is_binding_request(req, 28));
	req[4] = 0x21;
	uint8_t out[64];
	struct sip_peer from = {4, client4, 5061};
	int n = stun_binding_success(out, sizeof(out), req, &from);
	assert_int_equal(n, 32);
	assert_int_equal(out[0] << 8 | out[1], 0x0101);
	assert_int_equal(out[2] << 8 | out[3], 12);
	assert_memory_equal(out + 4, req + 4, 16);
	assert_int_equal(out[20] << 8 | out[21], 0x0020);
	assert_int_equal((out[26] << 8 | out[27]) ^ 0x2112, 5061);
	for (int i = 0; i < 4; i++)
		assert_int_equal(out[28 + i] ^ req[4 + i], client4[i]);
	uint8_t v6[16];
	inet_pton(AF_INET6, "fd00:1::2", v6);
	from = (struct sip_peer){6, v6, 1};
	assert_int_equal(stun_binding_success(out, 43, req, &from), -1);
	assert_int_equal(stun_binding_success(out, sizeof(out), req, &from), 44);
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[28 + i] ^ req[4 + i], v6[i]);
}

/* Checks everything the modules do with one message; buf is exactly len
 * bytes long (malloc'd), so that ASan reports any read past it. */
static void exercise(const char *buf, uint32_t len)
{
	struct sip_msg m;
	if (sip_parse(buf, len, &m) != SIP_OK)
		return;
	/* every piece lies inside the buffer */
	const struct sip_str *parts[] = {&m.from, &m.to, &m.call_id, &m.cseq, &m.cseq_method};
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		assert_true(parts[i]->p >= buf);
		assert_true(parts[i]->p + parts[i]->len <= buf + len);
	}
	assert_true(m.body_off + m.body_len <= len);
	struct sip_str t = {0, 0}, v = {0, 0};
	struct sip_via via;
	sip_tag(m.from, &t);
	sip_tag(m.to, &t);
	for (uint32_t i = 0; i < m.n_via; i++) {
		assert_true(m.via[i].p >= buf && m.via[i].p + m.via[i].len <= buf + len);
		if (sip_via_parse(sip_via_first(m.via[i]), &via)) {
			sip_param_get(via.params, "oc", &v);
			sip_param_get(via.params, "oc-seq", &v);
			uint8_t a[16];
			sip_ip_parse(via.host, a);
		}
	}
	char tag[48], out[8192];
	sip_make_tag(tag, "nska", &m);
	struct sip_peer from = {4, client4, 5061};
	int n = sip_build_answer(out, sizeof(out), &m, &from, 200, "OK", tag, NULL);
	assert_true(n > 0);
	/* the answer is a SIP response to the same request */
	struct sip_msg a;
	char *copy = malloc((size_t)n);
	memcpy(copy, out, (size_t)n);
	int r = sip_parse(copy, (uint32_t)n, &a);
	if (r != SIP_OK) {
		print_message("the answer does not parse (%d):\n%.*s\nto:\n%.*s\n", r, n, out,
		              (int)len, buf);
		fail();
	}
	assert_false(a.is_request);
	assert_int_equal(a.n_via, m.n_via);
	assert_int_equal(a.cseq_num, m.cseq_num);
	if (!sip_tag(a.to, &t)) {
		print_message("no To tag in the answer:\n%.*s\nto:\n%.*s\n", n, out, (int)len, buf);
		fail();
	}
	free(copy);
	char ins[9000];
	memcpy(ins, buf, len);
	sip_via_insert(ins, len, sizeof(ins), &m, ";oc");
	sip_response_port(&m, &from);
}

static void run_one(const uint8_t *data, size_t len)
{
	char *b = malloc(len ? len : 1);
	memcpy(b, data, len);
	exercise(b, (uint32_t)len);
	free(b);
}

static void test_fuzzlike(void **state)
{
	static const char *seeds[] = {notify_msg, compact_msg, invite_msg, response_msg};
	static const char inject[] = "\r\n \t;:,=\"<>[]/\\@";
	unsigned long runs = 0;
	srand(42);
	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		size_t len = strlen(seeds[s]);
		for (size_t cut = 0; cut <= len; cut++, runs++)
			run_one((const uint8_t *)seeds[s], cut);
		uint8_t buf[4096];
		for (int i = 0; i < 25000; i++, runs++) {
			size_t n = len;
			memcpy(buf, seeds[s], n);
			int edits = 1 + rand() % 4;
			for (int e = 0; e < edits; e++) {
				size_t at = n ? (size_t)rand() % n : 0;
				switch (rand() % 5) {
				case 0: /* flip a byte */
					if (n)
						buf[at] = (uint8_t)rand();
					break;
				case 1: /* a structural character */
					if (n)
						buf[at] = (uint8_t)
						        inject[rand() % (sizeof(inject) - 1)];
					break;
				case 2: /* insert one */
					if (n + 1 < sizeof(buf)) {
						memmove(buf + at + 1, buf + at, n - at);
						buf[at] = (uint8_t)
						        inject[rand() % (sizeof(inject) - 1)];
						n++;
					}
					break;
				case 3: /* delete a run */
				{
					size_t k = (size_t)rand() % 8;
					if (at + k > n)
						k = n - at;
					memmove(buf + at, buf + at + k, n - at - k);
					n -= k;
					break;
				}
				default: /* truncate */
					n = at;
					break;
				}
			}
			run_one(buf, n);
		}
	}
	print_message("# %lu inputs\n", runs);
}

/* The fast paths against their definitions: sip_is_token's bitmap for
 * every byte, and sip__line's eight-byte scan with each byte value at each
 * offset of a line (the word tests must stop at every control byte and DEL,
 * and at none of the others, bytes >= 0x80 included). */
static bool ref_token(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("-.!%*_+`'~", c));
}

static uint32_t ref_line(const char *b, uint32_t len, uint32_t off, uint32_t *eol, bool *bad)
{
	for (uint32_t i = off; i < len; i++) {
		uint8_t c = (uint8_t)b[i];
		if (c >= 0x20 && c != 0x7f)
			continue;
		if (c == '\n') {
			*eol = (i > off && b[i - 1] == '\r') ? i - 1 : i;
			return i + 1;
		}
		if (c == '\r') {
			if (i + 1 >= len || b[i + 1] != '\n')
				return 0;
		} else if (c != '\t' && bad) {
			*bad = true;
			return 0;
		}
	}
	return 0;
}

static void test_fast_paths(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++)
		assert_int_equal(sip_is_token((char)c), ref_token(c));
	char line[40];
	for (int c = 0; c < 256; c++)
		for (uint32_t at = 0; at < 24; at++)
			for (uint32_t off = 0; off < 3; off++) {
				memset(line, 'a', sizeof(line));
				line[at] = (char)c;
				memcpy(line + 30, "\r\n", 2);
				uint32_t e1 = 99, e2 = 99;
				bool b1 = false, b2 = false;
				uint32_t r1 = sip__line(line, 32, off, &e1, &b1);
				uint32_t r2 = ref_line(line, 32, off, &e2, &b2);
				assert_int_equal(r1, r2);
				assert_int_equal(b1, b2);
				if (r1)
					assert_int_equal(e1, e2);
			}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_notify),    cmocka_unit_test(test_parse_compact),
	        cmocka_unit_test(test_parse_invite_v6), cmocka_unit_test(test_parse_response_oc),
	        cmocka_unit_test(test_parse_errors),    cmocka_unit_test(test_answer_notify),
	        cmocka_unit_test(test_answer_compact),  cmocka_unit_test(test_answer_received),
	        cmocka_unit_test(test_via_insert),      cmocka_unit_test(test_ip),
	        cmocka_unit_test(test_keepalives),      cmocka_unit_test(test_fuzzlike),
	        cmocka_unit_test(test_fast_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
