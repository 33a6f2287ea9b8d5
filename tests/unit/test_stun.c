/* Unit tests of modules/stun.h, the Media Relay's STUN/TURN codec,
 * compiled natively with the SDK and a fake host whose crypto/1 imports are
 * OpenSSL (sdk_fake_host.c): the RFC 5769 test vectors (FINGERPRINT,
 * short-term and long-term MESSAGE-INTEGRITY, XOR-MAPPED-ADDRESS over IPv4
 * and IPv6, the long-term request rebuilt byte for byte), TURN messages
 * built and parsed back (XOR addresses of both families, ERROR-CODE,
 * MESSAGE-INTEGRITY-SHA256), ChannelData in datagrams and streams, and
 * malformed input (every truncation, every single-byte change of the
 * vectors, attributes past the end, FINGERPRINT not last). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "stun.h"

/* RFC 5769 §2.1: a Binding request, short-term credentials. */
static const uint8_t req_st[] = "\x00\x01\x00\x58\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86"
                                "\xfa\x87\xdf\xae\x80\x22\x00\x10STUN test client"
                                "\x00\x24\x00\x04\x6e\x00\x01\xff\x80\x29\x00\x08\x93\x2f\xf9\xb1"
                                "\x51\x26\x3b\x36\x00\x06\x00\x09\x65\x76\x74\x6a\x3a\x68\x36\x76"
                                "\x59\x20\x20\x20\x00\x08\x00\x14\x9a\xea\xa7\x0c\xbf\xd8\xcb\x56"
                                "\x78\x1e\xf2\xb5\xb2\xd3\xf2\x49\xc1\xb5\x71\xa2\x80\x28\x00\x04"
                                "\xe5\x7a\x3b\xcf";
/* §2.2: its IPv4 success response. */
static const uint8_t resp_v4[] = "\x01\x01\x00\x3c\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86"
                                 "\xfa\x87\xdf\xae\x80\x22\x00\x0b\x74\x65\x73\x74\x20\x76\x65\x63"
                                 "\x74\x6f\x72\x20\x00\x20\x00\x08\x00\x01\xa1\x47\xe1\x12\xa6\x43"
                                 "\x00\x08\x00\x14\x2b\x91\xf5\x99\xfd\x9e\x90\xc3\x8c\x74\x89\xf9"
                                 "\x2a\xf9\xba\x53\xf0\x6b\xe7\xd7\x80\x28\x00\x04\xc0\x7d\x4c\x96";
/* §2.3: its IPv6 success response. */
static const uint8_t resp_v6[] = "\x01\x01\x00\x48\x21\x12\xa4\x42\xb7\xe7\xa7\x01\xbc\x34\xd6\x86"
                                 "\xfa\x87\xdf\xae\x80\x22\x00\x0b\x74\x65\x73\x74\x20\x76\x65\x63"
                                 "\x74\x6f\x72\x20\x00\x20\x00\x14\x00\x02\xa1\x47\x01\x13\xa9\xfa"
                                 "\xa5\xd3\xf1\x79\xbc\x25\xf4\xb5\xbe\xd2\xb9\xd9\x00\x08\x00\x14"
                                 "\xa3\x82\x95\x4e\x4b\xe6\x7b\xf1\x17\x84\xc9\x7c\x82\x92\xc2\x75"
                                 "\xbf\xe3\xed\x41\x80\x28\x00\x04\xc8\xfb\x0b\x4c";
/* §2.4: a request with long-term credentials. */
static const uint8_t req_lt[] = "\x00\x01\x00\x60\x21\x12\xa4\x42\x78\xad\x34\x33\xc6\xad\x72\xc0"
                                "\x29\xda\x41\x2e\x00\x06\x00\x12\xe3\x83\x9e\xe3\x83\x88\xe3\x83"
                                "\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9\x00\x00\x00\x15\x00\x1c"
                                "\x66\x2f\x2f\x34\x39\x39\x6b\x39\x35\x34\x64\x36\x4f\x4c\x33\x34"
                                "\x6f\x4c\x39\x46\x53\x54\x76\x79\x36\x34\x73\x41\x00\x14\x00\x0b"
                                "\x65\x78\x61\x6d\x70\x6c\x65\x2e\x6f\x72\x67\x00\x00\x08\x00\x14"
                                "\xf6\x70\x24\x65\x6d\xd6\x4a\x3e\x02\xb8\xe0\x71\x2e\x85\xc9\xa2"
                                "\x8c\xa8\x96\x66";
static const char st_pass[] = "VOkJxbRl1RmTxUk/WvJxBt";
static const char lt_user[] =
        "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";
static const char lt_realm[] = "example.org";
static const char lt_nonce[] = "f//499k954d6OL34oL9FSTvy64sA";
static const char lt_pass[] = "TheMatrIX"; /* SASLprep("The<U+00AD>M<U+00AA>tr<U+2168>") */

static uint8_t buf[4096];

static int parse_copy(const uint8_t *msg, size_t len, struct stun_msg *m)
{
	memcpy(buf, msg, len);
	return stun_parse(buf, (uint32_t)len, m);
}

static void test_rfc5769_request(void **state)
{
	(void)state;
	struct stun_msg m;
	struct stun_attr a;
	assert_int_equal(parse_copy(req_st, sizeof(req_st) - 1, &m), STUN_OK);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_REQUEST);
	assert_true(m.mi_off && m.fp_off && !m.mi256_off);
	assert_true(stun_check_fingerprint(&m));
	assert_true(stun_check_integrity(&m, st_pass, strlen(st_pass)));
	assert_false(stun_check_integrity(&m, "wrong", 5));
	assert_true(stun_find(&m, STUN_A_USERNAME, &a));
	assert_int_equal(a.len, 9);
	assert_memory_equal(a.val, "evtj:h6vY", 9);
	assert_true(stun_find(&m, STUN_A_SOFTWARE, &a));
	assert_int_equal(a.len, 16);
	/* the integrity check left the message as it was */
	assert_memory_equal(buf, req_st, sizeof(req_st) - 1);
	/* a changed transaction id: the fingerprint and the MAC fail */
	buf[27] = 23;
	assert_false(stun_check_fingerprint(&m));
	assert_false(stun_check_integrity(&m, st_pass, strlen(st_pass)));
}

static void check_response(const uint8_t *msg, size_t len, int family, const char *addr)
{
	struct stun_msg m;
	struct ns_sockaddr x;
	uint8_t want[16];
	assert_int_equal(parse_copy(msg, len, &m), STUN_OK);
	assert_int_equal(m.method, STUN_BINDING);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_true(stun_check_fingerprint(&m));
	assert_true(stun_check_integrity(&m, st_pass, strlen(st_pass)));
	assert_int_equal(stun_get_addr(&m, STUN_A_XOR_MAPPED_ADDRESS, &x), 0);
	assert_int_equal(x.family, family == AF_INET ? NS_IPV4 : NS_IPV6);
	assert_int_equal(x.port, 32853);
	assert_int_equal(inet_pton(family, addr, want), 1);
	assert_memory_equal(x.addr, want, family == AF_INET ? 4 : 16);
	buf[27] = 23;
	assert_false(stun_check_fingerprint(&m));
}

static void test_rfc5769_responses(void **state)
{
	(void)state;
	check_response(resp_v4, sizeof(resp_v4) - 1, AF_INET, "192.0.2.1");
	check_response(resp_v6, sizeof(resp_v6) - 1, AF_INET6,
	               "2001:db8:1234:5678:11:2233:4455:6677");
}

static void test_rfc5769_long_term(void **state)
{
	(void)state;
	struct stun_msg m;
	struct stun_attr a;
	uint8_t key[16], out[512];
	assert_int_equal(stun_long_term_key(lt_user, strlen(lt_user), lt_realm, strlen(lt_realm),
	                                    lt_pass, strlen(lt_pass), key),
	                 16);
	assert_int_equal(parse_copy(req_lt, sizeof(req_lt) - 1, &m), STUN_OK);
	assert_false(m.fp_off);
	assert_true(stun_check_fingerprint(&m)); /* none: nothing to check */
	assert_true(stun_check_integrity(&m, key, 16));
	assert_true(stun_find(&m, STUN_A_NONCE, &a));
	assert_int_equal(a.len, strlen(lt_nonce));
	assert_memory_equal(a.val, lt_nonce, a.len);
	assert_true(stun_find(&m, STUN_A_REALM, &a));
	assert_memory_equal(a.val, lt_realm, a.len);
	/* built again from its parts: the very same bytes */
	struct stun_builder b;
	stun_begin(&b, out, sizeof(out), STUN_BINDING, STUN_REQUEST, req_lt + 8);
	stun_put(&b, STUN_A_USERNAME, lt_user, strlen(lt_user));
	stun_put(&b, STUN_A_NONCE, lt_nonce, strlen(lt_nonce));
	stun_put(&b, STUN_A_REALM, lt_realm, strlen(lt_realm));
	stun_put_integrity(&b, key, 16);
	assert_int_equal(stun_end(&b), sizeof(req_lt) - 1);
	assert_memory_equal(out, req_lt, sizeof(req_lt) - 1);
	/* a changed byte before the MAC */
	buf[32] = 10;
	assert_false(stun_check_integrity(&m, key, 16));
}

/* Every truncation of every vector fails to parse; every single-byte change
 * either fails or fails the fingerprint/MAC check, never crashes. */
static void test_malformed_vectors(void **state)
{
	(void)state;
	const uint8_t *v[] = {req_st, resp_v4, resp_v6, req_lt};
	size_t n[] = {sizeof(req_st) - 1, sizeof(resp_v4) - 1, sizeof(resp_v6) - 1,
	              sizeof(req_lt) - 1};
	struct stun_msg m;
	for (int i = 0; i < 4; i++) {
		for (size_t l = 0; l < n[i]; l++)
			assert_int_not_equal(parse_copy(v[i], l, &m), STUN_OK);
		for (size_t off = 0; off < n[i]; off++) {
			for (int x = 1; x < 256; x <<= 1) {
				memcpy(buf, v[i], n[i]);
				buf[off] ^= (uint8_t)x;
				if (stun_parse(buf, (uint32_t)n[i], &m) != STUN_OK)
					continue;
				if (i == 3) { /* no fingerprint: the MAC catches it */
					uint8_t key[16];
					stun_long_term_key(lt_user, strlen(lt_user), lt_realm,
					                   strlen(lt_realm), lt_pass,
					                   strlen(lt_pass), key);
					/* the MAC covers every byte, padding included */
					assert_false(stun_check_integrity(&m, key, 16));
				} else {
					/* (a change of FINGERPRINT's type leaves a message
					 * without one, which MESSAGE-INTEGRITY still covers) */
					assert_false(
					        m.fp_off && stun_check_fingerprint(&m) &&
					        stun_check_integrity(&m, st_pass, strlen(st_pass)));
				}
			}
		}
	}
}

static void test_turn_roundtrip(void **state)
{
	(void)state;
	static const uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
	struct ns_sockaddr relay = {NS_IPV6, 49152, {0}}, mapped = {NS_IPV4, 40000, {10, 0, 0, 2}},
	                   got;
	inet_pton(AF_INET6, "2001:db8::1", relay.addr);
	uint8_t key[16];
	memset(key, 7, sizeof(key));
	struct stun_builder b;
	uint8_t out[512];
	stun_begin(&b, out, sizeof(out), TURN_ALLOCATE, STUN_SUCCESS, tid);
	stun_put_addr(&b, STUN_A_XOR_RELAYED_ADDRESS, &relay, true);
	stun_put_addr(&b, STUN_A_XOR_MAPPED_ADDRESS, &mapped, true);
	stun_put_u32(&b, STUN_A_LIFETIME, 600);
	stun_put(&b, STUN_A_SOFTWARE, "netserv", 7);
	stun_put_integrity(&b, key, 16);
	stun_put_integrity_sha256(&b, key, 16);
	stun_put_fingerprint(&b);
	int32_t len = stun_end(&b);
	assert_true(len > 0);
	assert_int_equal(stun_frame_len(out, (uint32_t)len, true), len);
	struct stun_msg m;
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_OK);
	assert_int_equal(m.method, TURN_ALLOCATE);
	assert_int_equal(m.cls, STUN_SUCCESS);
	assert_memory_equal(m.tid, tid, 12);
	assert_true(stun_check_integrity(&m, key, 16));
	assert_true(stun_check_integrity_sha256(&m, key, 16));
	assert_false(stun_check_integrity_sha256(&m, "x", 1));
	assert_true(stun_check_fingerprint(&m));
	assert_int_equal(stun_get_addr(&m, STUN_A_XOR_RELAYED_ADDRESS, &got), 0);
	assert_memory_equal(&got, &relay, sizeof(got));
	assert_int_equal(stun_get_addr(&m, STUN_A_XOR_MAPPED_ADDRESS, &got), 0);
	assert_memory_equal(&got, &mapped, sizeof(got));
	uint32_t v;
	assert_true(stun_get_u32(&m, STUN_A_LIFETIME, &v) && v == 600);
	/* the XOR really happened: the port on the wire is not 49152 */
	struct stun_attr a = {0};
	assert_true(stun_find(&m, STUN_A_XOR_RELAYED_ADDRESS, &a));
	assert_int_equal(ns_get_be16(a.val + 2), 49152 ^ 0x2112);

	/* an error response */
	stun_begin(&b, out, sizeof(out), TURN_ALLOCATE, STUN_ERROR, tid);
	stun_put_error(&b, 438, "Stale Nonce");
	stun_put(&b, STUN_A_NONCE, "abc", 3);
	len = stun_end(&b);
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_OK);
	assert_int_equal(m.cls, STUN_ERROR);
	assert_int_equal(stun_get_error(&m), 438);
	assert_true(stun_find(&m, STUN_A_NONCE, &a) && a.len == 3);
	assert_int_equal(out[len - 1], 0); /* zero padding */

	/* too small a buffer: the builder says so */
	stun_begin(&b, out, 40, TURN_ALLOCATE, STUN_SUCCESS, tid);
	stun_put(&b, STUN_A_SOFTWARE, "0123456789abcdef0123", 20);
	assert_int_equal(stun_end(&b), -1);
}

static void test_types(void **state)
{
	(void)state;
	/* RFC 8656 §17: Allocate request 0x0003, success 0x0103, error 0x0113;
	 * Send indication 0x0016, Data indication 0x0017, ChannelBind 0x0009 */
	assert_int_equal(stun_type(TURN_ALLOCATE, STUN_SUCCESS), 0x0103);
	assert_int_equal(stun_type(TURN_ALLOCATE, STUN_ERROR), 0x0113);
	assert_int_equal(stun_type(TURN_SEND, STUN_INDICATION), 0x0016);
	assert_int_equal(stun_type(TURN_DATA, STUN_INDICATION), 0x0017);
	for (uint16_t method = 0; method < 0x1000; method++)
		for (uint8_t c = 0; c < 4; c++) {
			uint16_t t = stun_type(method, c);
			assert_true(t < 0x4000);
			assert_int_equal(stun_type_method(t), method);
			assert_int_equal(stun_type_class(t), c);
		}
}

static void test_attrs_after_integrity(void **state)
{
	(void)state;
	static const uint8_t tid[12] = {0};
	uint8_t out[256];
	struct stun_builder b;
	struct stun_msg m;
	struct stun_attr a;
	stun_begin(&b, out, sizeof(out), TURN_REFRESH, STUN_REQUEST, tid);
	stun_put_u32(&b, STUN_A_LIFETIME, 0);
	stun_put_integrity(&b, "k", 1);
	stun_put(&b, STUN_A_USERNAME, "late", 4); /* ignored (RFC 8489 §14.5) */
	int32_t len = stun_end(&b);
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_OK);
	assert_true(stun_check_integrity(&m, "k", 1));
	assert_false(stun_find(&m, STUN_A_USERNAME, &a));
	assert_true(stun_find(&m, STUN_A_LIFETIME, &a));
	/* FINGERPRINT then something: malformed */
	stun_begin(&b, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put_fingerprint(&b);
	stun_put(&b, STUN_A_SOFTWARE, "x", 1);
	len = stun_end(&b);
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_E_FINGERPRINT);
	/* an attribute whose length runs past the end */
	stun_begin(&b, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&b, STUN_A_SOFTWARE, "abcd", 4);
	len = stun_end(&b);
	ns_put_be16(out + 22, 5);
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_E_ATTR);
	/* a MESSAGE-INTEGRITY of 19 bytes */
	stun_begin(&b, out, sizeof(out), STUN_BINDING, STUN_REQUEST, tid);
	stun_put(&b, STUN_A_MESSAGE_INTEGRITY, "0123456789012345678", 19);
	len = stun_end(&b);
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_E_INTEGRITY);
	/* a bad address family */
	stun_begin(&b, out, sizeof(out), TURN_SEND, STUN_INDICATION, tid);
	stun_put(&b, STUN_A_XOR_PEER_ADDRESS, "\x00\x03\x00\x01\x01\x02\x03\x04", 8);
	len = stun_end(&b);
	struct ns_sockaddr x;
	assert_int_equal(stun_parse(out, (uint32_t)len, &m), STUN_OK);
	assert_int_equal(stun_get_addr(&m, STUN_A_XOR_PEER_ADDRESS, &x), -1);
}

static void test_channel_data(void **state)
{
	(void)state;
	uint8_t f[64];
	memcpy(f + 4, "hello", 5);
	assert_int_equal(stun_cd_build(f, sizeof(f), 0x4001, 5, false), 9);
	uint16_t chan, dlen;
	const uint8_t *d;
	assert_int_equal(stun_cd_parse(f, 9, &chan, &d, &dlen), 0);
	assert_int_equal(chan, 0x4001);
	assert_int_equal(dlen, 5);
	assert_memory_equal(d, "hello", 5);
	assert_int_equal(stun_frame_len(f, 9, false), 9);
	assert_int_equal(stun_frame_len(f, 2, false), 0);
	/* over a stream: padded to 8 */
	assert_int_equal(stun_cd_build(f, sizeof(f), 0x4001, 5, true), 12);
	assert_int_equal(stun_frame_len(f, 4, true), 12);
	assert_int_equal(f[9] | f[10] | f[11], 0);
	/* length past the datagram, channels out of range */
	assert_int_equal(stun_cd_parse(f, 8, &chan, &d, &dlen), -1);
	ns_put_be16(f, 0x3fff);
	assert_int_equal(stun_cd_parse(f, 9, &chan, &d, &dlen), -1);
	ns_put_be16(f, 0x7fff); /* RFC 5766's range, as coturn uses it */
	assert_int_equal(stun_cd_parse(f, 9, &chan, &d, &dlen), 0);
	ns_put_be16(f, 0x8000);
	assert_int_equal(stun_cd_parse(f, 9, &chan, &d, &dlen), -1);
	f[0] = 0x80; /* neither STUN nor ChannelData */
	assert_int_equal(stun_frame_len(f, 9, true), -1);
	/* STUN over a stream: the length of a partial header's message */
	assert_int_equal(stun_frame_len(req_st, 4, true), 20 + 0x58);
	assert_int_equal(stun_cd_build(f, 8, 0x4001, 5, false), -1);
	assert_true(stun_is_stun(req_st, sizeof(req_st) - 1));
	assert_false(stun_is_stun(f, 9));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rfc5769_request),
	        cmocka_unit_test(test_rfc5769_responses),
	        cmocka_unit_test(test_rfc5769_long_term),
	        cmocka_unit_test(test_malformed_vectors),
	        cmocka_unit_test(test_turn_roundtrip),
	        cmocka_unit_test(test_types),
	        cmocka_unit_test(test_attrs_after_integrity),
	        cmocka_unit_test(test_channel_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
