/* Unit tests of the GIST wire codec (src/gist/): golden tests against every
 * GIST message of the NSIS-ka captures (../shared/interop/ pcap files, as hex
 * fixtures in tests/gist/fixtures/), with their key fields checked against
 * the hand decode in gist-nsis-ka.txt, and round trips of our own messages.
 * Malformed input is in test_gist_malformed.c. */
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

#include "gist/gist_wire.h"
#include "../gist/gist_fixture.h"

/* Every GIST message in the two captures (38 + 10) and in the live captures
 * of ../shared/interop/live (199: a4 a6 b4 b6 c4 c6 d4 d6 d6-rao, a datagram
 * forwarded by the capturing node counted once). */
#define N_FIXTURES 247

/* ---- Helpers ------------------------------------------------------------------- */

static void load(const char *name, struct fixture *fx)
{
	assert_int_equal(fixture_load(name, fx), 0);
}

/* Decodes a fixture, which must succeed. */
static void decode_ok(const struct fixture *fx, struct gist_msg *m)
{
	char err[GIST_ERR_LEN] = "";
	struct gist_err ge;
	int r = gist_decode(fx->b, fx->len, fx->tp, m, &ge, err, sizeof(err));

	if (r != 0)
		print_message("%s: decode failed %d: %s\n", fx->name, r, err);
	assert_int_equal(r, 0);
}

static void load_decode(const char *name, struct fixture *fx, struct gist_msg *m)
{
	load(name, fx);
	decode_ok(fx, m);
}

/* Encodes, decodes again, encodes again: both encodings must agree. Returns the
 * length; the bytes are in out. */
static size_t round_trip(const struct gist_msg *m, enum gist_transport tp, uint8_t *out,
                         size_t size, struct gist_msg *back)
{
	uint8_t again[4096];
	char err[GIST_ERR_LEN] = "";
	ssize_t n = gist_encode(m, out, size, err, sizeof(err)), n2;
	int r;

	if (n < 0)
		print_message("encode failed %zd: %s\n", n, err);
	assert_true(n > 0);
	assert_int_equal(gist_encode(m, NULL, 0, NULL, 0), n); /* length only */
	r = gist_decode(out, (size_t)n, tp, back, NULL, err, sizeof(err));
	if (r != 0)
		print_message("decode of our own message failed %d: %s\n", r, err);
	assert_int_equal(r, 0);
	n2 = gist_encode(back, again, sizeof(again), err, sizeof(err));
	assert_int_equal(n2, n);
	assert_memory_equal(again, out, (size_t)n);
	return (size_t)n;
}

static const uint8_t ip_a[4] = {10, 77, 0, 1}, ip_b[4] = {10, 77, 0, 2};
static const uint8_t ip6_a[16] = {0xfd, 0x77, [15] = 1}, ip6_b[16] = {0xfd, 0x77, [15] = 2};

static void hex(const char *s, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;

		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

/* ---- Golden: every message of the captures ----------------------------------- */

/* Each fixture decodes, re-encodes to the same bytes, and frames right. */
static void test_golden_all(void **state)
{
	char **names = NULL;
	int n = fixture_list(&names);

	assert_int_equal(n, N_FIXTURES);
	for (int i = 0; i < n; i++) {
		struct fixture fx;
		struct gist_msg m;
		struct gist_hdr h;
		bool magic;
		uint8_t out[8192];
		char err[GIST_ERR_LEN] = "";
		ssize_t len;

		load(names[i], &fx);
		decode_ok(&fx, &m);
		/* UDP messages all carry the magic number (NSIS-ka), TCP ones never. */
		assert_int_equal(m.magic, fx.tp == GIST_TRANSPORT_UDP);
		len = gist_encode(&m, out, sizeof(out), err, sizeof(err));
		if (len != (ssize_t)fx.len || memcmp(out, fx.b, fx.len) != 0) {
			print_message("%s: re-encoding differs (%zd vs %zu bytes): %s\n", names[i],
			              len, fx.len, err);
			fail();
		}
		assert_int_equal(gist_hdr_decode(fx.b, fx.len, fx.tp, &h, &magic),
		                 fx.tp == GIST_TRANSPORT_UDP ? 4 : 0);
		assert_int_equal(h.type, m.hdr.type);
		assert_int_equal(h.nslpid, m.hdr.nslpid);
		assert_int_equal(h.length * 4 + 8, fx.len - (magic ? 4 : 0));
		if (fx.tp == GIST_TRANSPORT_TCP)
			assert_int_equal(gist_frame_length(fx.b, fx.len), (long)fx.len);
		free(names[i]);
	}
	free(names);
}

/* Frame 1: the D-mode Query of the hand decode. */
static void test_golden_query(void **state)
{
	struct fixture fx;
	struct gist_msg m;
	static const uint8_t pi[16] = {0x3f, 0xfc, 0x0e, 0x3d, 0x63, 0x2c, 0xce, 0xd2,
	                               0x2f, 0xfe, 0x6f, 0x1e, 0x4b, 0xc8, 0x8e, 0xe4};
	static const uint8_t qc[4] = {0x0a, 0xca, 0x6c, 0xf6}, zero[16] = {0};

	load_decode("gist-exchange-f01.hex", &fx, &m);
	assert_int_equal(fx.len, 92);
	assert_true(m.magic);
	assert_int_equal(m.hdr.version, 1);
	assert_int_equal(m.hdr.hops, 32);
	assert_int_equal(m.hdr.length, 20);
	assert_int_equal(m.hdr.nslpid, 42);
	assert_int_equal(m.hdr.type, GIST_QUERY);
	assert_true(m.hdr.c);
	assert_int_equal(m.hdr.flags, GIST_F_S | GIST_F_R);
	assert_int_equal(m.present, GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) |
	                                    GIST_BIT(GIST_OBJ_NLI) | GIST_BIT(GIST_OBJ_QCOOKIE));
	/* MRI: path-coupled, IPv4, no flags (downstream), 10.77.0.1/32 -> 10.77.0.2/32. */
	assert_int_equal(m.mri.mrm, GIST_MRM_PATH_COUPLED);
	assert_false(m.mri.nat);
	assert_int_equal(m.mri.ipver, 4);
	assert_int_equal(m.mri.flags, 0);
	assert_memory_equal(m.mri.src.b, ip_a, 4);
	assert_memory_equal(m.mri.dst.b, ip_b, 4);
	assert_int_equal(m.mri.src_prefix, 32);
	assert_int_equal(m.mri.dst_prefix, 32);
	assert_int_equal(m.mri.protocol, 0);
	assert_memory_equal(m.sid, zero, 16);
	/* NLI: PI 16 bytes, IP-TTL 64, IPv4, 30000 ms, interface 10.77.0.1. */
	assert_int_equal(m.nli.pi.len, 16);
	assert_memory_equal(m.nli.pi.p, pi, 16);
	assert_int_equal(m.nli.ip_ttl, 64);
	assert_int_equal(m.nli.ipver, 4);
	assert_int_equal(m.nli.rs_validity, 30000);
	assert_memory_equal(m.nli.if_addr.b, ip_a, 4);
	assert_int_equal(m.qcookie.len, 4);
	assert_memory_equal(m.qcookie.p, qc, 4);
	assert_ptr_equal(m.qcookie.p, fx.b + 88); /* points into the input */
	assert_int_equal(m.n_unknown, 0);
}

/* Frames 2-4: Response (D inverted, Responder-Cookie, R), Confirm, Data. */
static void test_golden_handshake(void **state)
{
	struct fixture fq, fr, fc, fd;
	struct gist_msg q, r, c, d;
	struct gist_mri inv;
	uint8_t rc_head[8];

	load_decode("gist-exchange-f01.hex", &fq, &q);
	load_decode("gist-exchange-f02.hex", &fr, &r);
	load_decode("gist-exchange-f03.hex", &fc, &c);
	load_decode("gist-exchange-f04.hex", &fd, &d);

	assert_int_equal(r.hdr.type, GIST_RESPONSE);
	assert_false(r.hdr.c);
	assert_true(r.magic); /* D-mode, yet the magic number */
	assert_int_equal(r.hdr.hops, 1);
	assert_int_equal(r.hdr.length, 28);
	assert_int_equal(r.hdr.flags, GIST_F_S | GIST_F_R); /* Confirm requested */
	assert_int_equal(r.mri.flags, GIST_MRI_D);
	inv = q.mri;
	gist_mri_invert(&inv);
	assert_true(gist_mri_equal(&inv, &r.mri));
	assert_false(gist_mri_equal(&q.mri, &r.mri));
	assert_int_equal(r.nli.ip_ttl, 0);
	assert_memory_equal(r.nli.if_addr.b, ip_b, 4);
	assert_int_equal(r.qcookie.len, q.qcookie.len);
	assert_memory_equal(r.qcookie.p, q.qcookie.p, q.qcookie.len);
	/* Responder-Cookie: generation | if-index | NAT length | SHA-1. */
	assert_int_equal(r.rcookie.len, 28);
	hex("7d459c8300050000", rc_head, 8);
	assert_memory_equal(r.rcookie.p, rc_head, 8);

	assert_int_equal(c.hdr.type, GIST_CONFIRM);
	assert_int_equal(c.hdr.flags, GIST_F_S);
	assert_true(gist_mri_equal(&c.mri, &q.mri));
	assert_false(c.present & GIST_BIT(GIST_OBJ_QCOOKIE));
	assert_int_equal(c.rcookie.len, r.rcookie.len);
	assert_memory_equal(c.rcookie.p, r.rcookie.p, r.rcookie.len);
	assert_int_equal(c.nli.ip_ttl, 64);

	assert_int_equal(d.hdr.type, GIST_DATA);
	assert_true(d.present & GIST_BIT(GIST_OBJ_NLI));
	assert_int_equal(d.nslp.len, 12);
	assert_memory_equal(d.nslp.p, "Hello World!", 12);
}

/* Frames 5, 6, 10, 12: C-mode set-up with Stack-Proposal and SCD. */
static void test_golden_cmode(void **state)
{
	struct fixture f5, f6, f10, f12;
	struct gist_msg q, r, c, d;

	load_decode("gist-exchange-f05.hex", &f5, &q);
	load_decode("gist-exchange-f06.hex", &f6, &r);
	load_decode("gist-exchange-f10.hex", &f10, &c);
	load_decode("gist-exchange-f12.hex", &f12, &d);

	/* SP: {TCP} and {TLS, TCP}. */
	assert_true(q.present & GIST_BIT(GIST_OBJ_SP));
	assert_int_equal(q.sp.n, 2);
	assert_int_equal(q.sp.prof[0].n, 1);
	assert_int_equal(q.sp.prof[0].proto[0], GIST_MA_TCP);
	assert_int_equal(q.sp.prof[1].n, 2);
	assert_int_equal(q.sp.prof[1].proto[0], GIST_MA_TLS);
	assert_int_equal(q.sp.prof[1].proto[1], GIST_MA_TCP);
	/* SCD in the Query: two options without data, hold time 180 s. */
	assert_int_equal(q.scd.n, 2);
	assert_int_equal(q.scd.ma_hold, 180000);
	assert_int_equal(q.scd.mpo[0].proto, GIST_MA_TCP);
	assert_int_equal(q.scd.mpo[0].profile, 1);
	assert_int_equal(q.scd.mpo[0].data.len, 0);
	assert_int_equal(q.scd.mpo[1].profile, 2);
	assert_int_equal(gist_mpo_port(&q.scd.mpo[0]), -ENOENT);

	/* SCD in the Response: the option length counts bytes (2), then padding. */
	assert_int_equal(r.scd.n, 2);
	assert_int_equal(r.scd.mpo[0].data.len, 2);
	assert_int_equal(gist_mpo_port(&r.scd.mpo[0]), 30000);
	assert_int_equal(gist_mpo_port(&r.scd.mpo[1]), 30001);
	assert_false(r.scd.mpo[0].d);
	assert_int_equal(r.sp.n, 2);

	/* Confirm over TCP: no magic number, SP echoed, SCD without options. */
	assert_int_equal(f10.tp, GIST_TRANSPORT_TCP);
	assert_false(c.magic);
	assert_int_equal(c.hdr.type, GIST_CONFIRM);
	assert_true(c.present & GIST_BIT(GIST_OBJ_SP));
	assert_int_equal(c.scd.n, 0);
	assert_int_equal(c.scd.ma_hold, 180000);
	assert_int_equal(c.rcookie.len, r.rcookie.len);
	assert_memory_equal(c.rcookie.p, r.rcookie.p, r.rcookie.len);

	/* Data over TCP: no NLI. */
	assert_int_equal(d.hdr.type, GIST_DATA);
	assert_false(d.present & GIST_BIT(GIST_OBJ_NLI));
	assert_memory_equal(d.nslp.p, "Hello World!", 12);
}

/* Frames 14, 15, 17: refresh answered over the existing messaging association. */
static void test_golden_refresh(void **state)
{
	struct fixture f14, f15, f17;
	struct gist_msg q, r, c;

	load_decode("gist-exchange-f14.hex", &f14, &q);
	load_decode("gist-exchange-f15.hex", &f15, &r);
	load_decode("gist-exchange-f17.hex", &f17, &c);
	assert_int_equal(q.hdr.type, GIST_QUERY);
	assert_true(q.present & GIST_BIT(GIST_OBJ_SP));
	assert_int_equal(f15.tp, GIST_TRANSPORT_TCP);
	assert_int_equal(r.hdr.type, GIST_RESPONSE);
	assert_false(r.present & GIST_BIT(GIST_OBJ_SP)); /* no new stack negotiation */
	assert_memory_equal(r.qcookie.p, q.qcookie.p, 4);
	assert_true(r.hdr.flags & GIST_F_R);
	assert_int_equal(c.hdr.type, GIST_CONFIRM);
	assert_memory_equal(c.rcookie.p, r.rcookie.p, r.rcookie.len);
}

/* Frames 19-25 and 40: NSLPID 43, retransmitted with a fresh Query-Cookie. */
static void test_golden_unknown_nslpid(void **state)
{
	static const char *const names[] = {"gist-exchange-f19.hex", "gist-exchange-f20.hex",
	                                    "gist-exchange-f21.hex", "gist-exchange-f22.hex",
	                                    "gist-exchange-f23.hex", "gist-exchange-f24.hex",
	                                    "gist-exchange-f25.hex", "gist-exchange-f40.hex"};
	struct fixture fx[8];
	struct gist_msg m[8];

	for (unsigned i = 0; i < 8; i++) {
		load_decode(names[i], &fx[i], &m[i]);
		assert_int_equal(m[i].hdr.nslpid, 43);
		assert_int_equal(m[i].hdr.type, GIST_QUERY);
		assert_int_equal(m[i].hdr.hops, 32);
		if (i > 0) {
			assert_true(gist_mri_equal(&m[i].mri, &m[0].mri));
			assert_memory_not_equal(m[i].qcookie.p, m[0].qcookie.p, 4);
			/* Everything but the Query-Cookie is the same. */
			assert_int_equal(fx[i].len, fx[0].len);
			assert_memory_equal(fx[i].b, fx[0].b, fx[0].len - 4);
		}
	}
}

/* IPv6: MRI and NLI with 16-byte addresses, /128 prefixes. */
static void test_golden_ipv6(void **state)
{
	struct fixture f1, f2, f7;
	struct gist_msg q, r, d;

	load_decode("gist-exchange-v6-f01.hex", &f1, &q);
	load_decode("gist-exchange-v6-f02.hex", &f2, &r);
	load_decode("gist-exchange-v6-f07.hex", &f7, &d);
	assert_int_equal(q.hdr.length, 29);
	assert_int_equal(q.mri.ipver, 6);
	assert_memory_equal(q.mri.src.b, ip6_a, 16);
	assert_memory_equal(q.mri.dst.b, ip6_b, 16);
	assert_int_equal(q.mri.src_prefix, 128);
	assert_int_equal(q.mri.dst_prefix, 128);
	assert_int_equal(q.nli.ipver, 6);
	assert_memory_equal(q.nli.if_addr.b, ip6_a, 16);
	assert_int_equal(q.nli.pi.len, 16);
	assert_int_equal(r.mri.flags, GIST_MRI_D);
	assert_memory_equal(r.nli.if_addr.b, ip6_b, 16);
	assert_memory_equal(r.qcookie.p, q.qcookie.p, 4);
	assert_memory_equal(d.nslp.p, "Hello World!", 12);
}

/* MA-Hello over TCP: NSLPID 0, S only, Hello-ID 0. */
static void test_golden_ma_hello(void **state)
{
	static const char *const names[] = {"gist-exchange-f29.hex", "gist-exchange-f35.hex",
	                                    "gist-exchange-f47.hex"};

	for (unsigned i = 0; i < 3; i++) {
		struct fixture fx;
		struct gist_msg m;

		load_decode(names[i], &fx, &m);
		assert_int_equal(fx.len, 16);
		assert_int_equal(m.hdr.type, GIST_MA_HELLO);
		assert_int_equal(m.hdr.nslpid, 0);
		assert_int_equal(m.hdr.flags, GIST_F_S);
		assert_int_equal(m.present, GIST_BIT(GIST_OBJ_HELLO));
		assert_int_equal(m.hello_id, 0);
	}
}

/* The Error NSIS-ka tried to send for NSLPID 43 (its debug dump): 01 01 0015 |
 * 0000 04 00, NLI, Error object (Permanent-Failure, Endpoint Found) with the
 * Query's common header, SID and MRI. Ours has the same header. */
static void test_error_endpoint_found(void **state)
{
	struct fixture fq, fr;
	struct gist_msg q, r, e, back;
	struct gist_err ge;
	uint8_t out[512];
	static const uint8_t want_hdr[8] = {0x4e, 0x04, 0xbd, 0xa5, 0x01, 0x01, 0x00, 0x15};
	static const uint8_t want_hdr2[4] = {0x00, 0x00, 0x04, 0x00};
	size_t n;

	load_decode("gist-exchange-f19.hex", &fq, &q);
	load_decode("gist-exchange-f02.hex", &fr, &r); /* B's NLI */
	gist_err_from_msg(&ge, &q, GIST_TRANSPORT_UDP, GIST_EC_PERMANENT, GIST_E_ENDPOINT_FOUND, 0);
	assert_true(ge.answer);
	assert_int_equal(gist_error_msg(&ge, &r.nli, GIST_TRANSPORT_UDP, &e), 0);
	n = round_trip(&e, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(n, 4 + 8 + 21 * 4);
	assert_memory_equal(out, want_hdr, 8);
	assert_memory_equal(out + 8, want_hdr2, 4);
	assert_int_equal(back.error.eclass, GIST_EC_PERMANENT);
	assert_int_equal(back.error.code, GIST_E_ENDPOINT_FOUND);
	assert_int_equal(back.error.flags, GIST_EF_S | GIST_EF_M | GIST_EF_D | GIST_EF_Q);
	assert_memory_equal(back.error.orig, fq.b + 4, 8); /* the Query's common header */
	assert_true(back.error.has_sid);
	assert_memory_equal(back.error.sid, q.sid, 16);
	assert_true(back.error.has_mri);
	assert_true(gist_mri_equal(&back.error.mri, &q.mri));
	assert_int_equal(back.error.n_ai, 0);
	assert_string_equal(gist_err_code_name(back.error.code), "Endpoint Found");
	assert_string_equal(gist_err_class_name(back.error.eclass), "Permanent-Failure");
	/* The decoder never suggests answering an Error. */
	{
		struct gist_err ge2;
		uint8_t bad[512];

		memcpy(bad, out, n);
		bad[11] = GIST_F_R; /* R on an Error: invalid */
		assert_int_equal(gist_decode(bad, n, GIST_TRANSPORT_UDP, &back, &ge2, NULL, 0),
		                 -EBADMSG);
		assert_false(ge2.answer);
	}
}

/* ---- Round trips of our own messages ------------------------------------------ */

static void set_mri_v4(struct gist_mri *mri)
{
	memset(mri, 0, sizeof(*mri));
	mri->mrm = GIST_MRM_PATH_COUPLED;
	mri->ipver = 4;
	memcpy(mri->src.b, ip_a, 4);
	memcpy(mri->dst.b, ip_b, 4);
	mri->src_prefix = mri->dst_prefix = 32;
}

static void set_nli_v4(struct gist_nli *nli, const uint8_t *pi, size_t pi_len)
{
	memset(nli, 0, sizeof(*nli));
	nli->pi = (struct gist_bytes){pi, pi_len};
	nli->ip_ttl = 64;
	nli->ipver = 4;
	nli->rs_validity = 30000;
	memcpy(nli->if_addr.b, ip_a, 4);
}

/* A Query as NSIS-ka sends it, built from scratch, encodes to frame 1's bytes. */
static void test_build_query_like_nsis_ka(void **state)
{
	struct fixture fx;
	struct gist_msg m, back;
	uint8_t out[512];

	load("gist-exchange-f01.hex", &fx);
	gist_msg_init(&m, GIST_QUERY, 42);
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	            GIST_BIT(GIST_OBJ_QCOOKIE);
	set_mri_v4(&m.mri);
	set_nli_v4(&m.nli, fx.b + 4 + 8 + 20 + 20 + 12, 16);
	m.qcookie = (struct gist_bytes){fx.b + 88, 4};
	assert_int_equal(round_trip(&m, GIST_TRANSPORT_UDP, out, sizeof(out), &back), fx.len);
	assert_memory_equal(out, fx.b, fx.len);
}

/* Path-coupled IPv6 MRI with every optional field; loose-end MRI. */
static void test_mri_variants(void **state)
{
	struct gist_mri mri, le, back;
	uint8_t buf[GIST_MRI_MAX_LEN], small[8];
	ssize_t n;

	memset(&mri, 0, sizeof(mri));
	mri.mrm = GIST_MRM_PATH_COUPLED;
	mri.ipver = 6;
	mri.flags = GIST_MRI_P | GIST_MRI_T | GIST_MRI_F | GIST_MRI_S | GIST_MRI_A | GIST_MRI_B |
	            GIST_MRI_D;
	memcpy(mri.src.b, ip6_a, 16);
	memcpy(mri.dst.b, ip6_b, 16);
	mri.src_prefix = 64;
	mri.dst_prefix = 128;
	mri.protocol = 17;
	mri.dscp = 46;
	mri.flow_label = 0xabcde;
	mri.spi = 0xdeadbeef;
	mri.src_port = 5060;
	mri.dst_port = 270;
	n = gist_mri_encode(&mri, buf, sizeof(buf));
	assert_int_equal(n, GIST_MRI_MAX_LEN);
	assert_int_equal(gist_mri_decode(buf, (size_t)n, &back, NULL, NULL, 0), 0);
	assert_true(gist_mri_equal(&mri, &back));
	assert_int_equal(back.dscp, 46);
	assert_int_equal(back.flow_label, 0xabcde);
	assert_int_equal(back.spi, 0xdeadbeef);
	assert_int_equal(back.src_port, 5060);
	assert_int_equal(back.dst_port, 270);
	assert_int_equal(gist_mri_encode(&mri, small, sizeof(small)), -ENOSPC);
	assert_int_equal(gist_mri_encode(&mri, NULL, 0), GIST_MRI_MAX_LEN);

	/* Only the destination port: the source port goes out as 0. */
	mri.flags = GIST_MRI_P | GIST_MRI_B;
	n = gist_mri_encode(&mri, buf, sizeof(buf));
	assert_int_equal(n, 4 + 32 + 4 + 4);
	assert_int_equal(buf[n - 4] << 8 | buf[n - 3], 0);
	assert_int_equal(gist_mri_decode(buf, (size_t)n, &back, NULL, NULL, 0), 0);
	assert_int_equal(back.src_port, 0);
	assert_int_equal(back.dst_port, 270);

	memset(&le, 0, sizeof(le));
	le.mrm = GIST_MRM_LOOSE_END;
	le.ipver = 4;
	le.flags = GIST_MRI_D;
	memcpy(le.src.b, ip_a, 4);
	memcpy(le.dst.b, ip_b, 4);
	n = gist_mri_encode(&le, buf, sizeof(buf));
	assert_int_equal(n, 12);
	assert_int_equal(buf[0], 1);
	assert_int_equal(buf[2], 0x48); /* IPv4, D */
	assert_int_equal(gist_mri_decode(buf, (size_t)n, &back, NULL, NULL, 0), 0);
	assert_true(gist_mri_equal(&le, &back));
	gist_mri_invert(&back);
	assert_int_equal(back.flags, 0);
	le.flags = GIST_MRI_P; /* loose-end has no such flag */
	assert_int_equal(gist_mri_encode(&le, buf, sizeof(buf)), -EINVAL);
}

/* A Query with everything a Query may carry, unknown objects included. */
static void test_round_trip_full_query(void **state)
{
	static const uint8_t pi[5] = "peer", qc[8] = "cookie!", nslp[8] = "NSLPdat";
	static const uint8_t nat_mri[16] = {0, 0, 0x40, 0, 1, 2, 3, 4, 5, 6, 7, 8, 32, 32, 0, 0};
	static const uint8_t nat_types[4] = {0x00, 0x02, 0, 0}, nat_info[8] = {0, 3, 'a', 'b', 'c'};
	static const uint8_t u1[4] = {1, 2, 3, 4}, u2[8] = {9, 9, 9, 9, 8, 8, 8, 8};
	struct gist_msg m, back;
	uint8_t out[1024];
	size_t n;

	gist_msg_init(&m, GIST_QUERY, 0x7f00);
	m.present = GIST_BIT(GIST_OBJ_NAT) | GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) |
	            GIST_BIT(GIST_OBJ_NLI) | GIST_BIT(GIST_OBJ_QCOOKIE) | GIST_BIT(GIST_OBJ_SP) |
	            GIST_BIT(GIST_OBJ_SCD) | GIST_BIT(GIST_OBJ_NSLP);
	m.nat = (struct gist_nat){.mri = {nat_mri, 16},
	                          .type_count = 1,
	                          .nat_count = 1,
	                          .types = {nat_types, 4},
	                          .info = {nat_info, 8}};
	set_mri_v4(&m.mri);
	m.mri.flags = GIST_MRI_P | GIST_MRI_A | GIST_MRI_B;
	m.mri.protocol = 6;
	m.mri.src_port = 1234;
	m.mri.dst_port = 80;
	memset(m.sid, 0xa5, sizeof(m.sid));
	set_nli_v4(&m.nli, pi, 5); /* 5 bytes: padded to 8 */
	m.qcookie = (struct gist_bytes){qc, 8};
	m.sp.n = 2;
	m.sp.prof[0] = (struct gist_profile){.n = 1, .proto = {GIST_MA_TCP}};
	m.sp.prof[1] = (struct gist_profile){.n = 3, .proto = {GIST_MA_TLS, GIST_MA_TCP, 7}};
	m.scd.n = 2;
	m.scd.ma_hold = 180000;
	m.scd.mpo[0] = (struct gist_mpo){.proto = GIST_MA_TCP, .profile = 1};
	m.scd.mpo[1] = (struct gist_mpo){.proto = GIST_MA_TLS, .profile = 2, .d = true};
	m.nslp = (struct gist_bytes){nslp, 8};
	m.n_unknown = 2;
	m.unknown[0] = (struct gist_unknown){
	        .type = 0x123, .ab = GIST_AB_FORWARD, .pos = 2, .body = {u1, 4}};
	m.unknown[1] = (struct gist_unknown){
	        .type = 0xfff, .ab = GIST_AB_IGNORE, .pos = 8, .body = {u2, 8}};
	n = round_trip(&m, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(back.hdr.nslpid, 0x7f00);
	assert_int_equal(back.present, m.present);
	assert_int_equal(back.nli.pi.len, 5);
	assert_memory_equal(back.nli.pi.p, "peer", 5);
	assert_int_equal(back.nat.type_count, 1);
	assert_int_equal(back.nat.mri.len, 16);
	assert_int_equal(back.nat.info.len, 8);
	assert_int_equal(back.sp.prof[1].n, 3);
	assert_int_equal(back.sp.prof[1].proto[2], 7);
	assert_true(back.scd.mpo[1].d);
	assert_int_equal(back.n_unknown, 2);
	assert_int_equal(back.unknown[0].type, 0x123);
	assert_int_equal(back.unknown[0].ab, GIST_AB_FORWARD);
	assert_int_equal(back.unknown[0].pos, 2);
	assert_int_equal(back.unknown[1].pos, 8);
	assert_memory_equal(back.unknown[1].body.p, u2, 8);
	/* The first unknown sits after NAT and MRI: at 4 + 8 + (4 + 32) + (4 + 20). */
	assert_int_equal(out[4 + 8 + 36 + 24], 0x81);
	assert_int_equal(out[4 + 8 + 36 + 24 + 1], 0x23);

	/* A forwarding node drops the AB=ignore object and keeps the other. */
	gist_msg_strip_ignored(&back);
	assert_int_equal(back.n_unknown, 1);
	assert_int_equal(back.unknown[0].type, 0x123);
	assert_int_equal(gist_encode(&back, NULL, 0, NULL, 0), (ssize_t)n - 12);

	/* Every buffer shorter than needed is refused. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(gist_encode(&m, out, k, NULL, 0), -ENOSPC);
}

/* Response with a Responder-Cookie and SCD ports, then its Confirm, over TCP. */
static void test_round_trip_response_confirm(void **state)
{
	static const uint8_t pi[16] = "0123456789abcdef", qc[4] = {1, 2, 3, 4};
	static const uint8_t rc[28] = {0x7d, 0x45, 0x9c, 0x83, 0, 5}, port[2] = {0x75, 0x30};
	struct gist_msg m, back;
	uint8_t out[1024];

	gist_msg_init(&m, GIST_RESPONSE, 42);
	m.magic = false;
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	            GIST_BIT(GIST_OBJ_QCOOKIE) | GIST_BIT(GIST_OBJ_RCOOKIE) |
	            GIST_BIT(GIST_OBJ_SP) | GIST_BIT(GIST_OBJ_SCD);
	m.hdr.flags |= GIST_F_R;
	set_mri_v4(&m.mri);
	gist_mri_invert(&m.mri);
	set_nli_v4(&m.nli, pi, 16);
	m.nli.ip_ttl = 0;
	m.qcookie = (struct gist_bytes){qc, 4};
	m.rcookie = (struct gist_bytes){rc, 28};
	m.sp.n = 1;
	m.sp.prof[0] = (struct gist_profile){.n = 1, .proto = {GIST_MA_TCP}};
	m.scd.n = 1;
	m.scd.ma_hold = 180000;
	m.scd.mpo[0] = (struct gist_mpo){.proto = GIST_MA_TCP, .profile = 1, .data = {port, 2}};
	round_trip(&m, GIST_TRANSPORT_TCP, out, sizeof(out), &back);
	assert_false(back.magic);
	assert_int_equal(gist_mpo_port(&back.scd.mpo[0]), 30000);
	assert_int_equal(back.mri.flags, GIST_MRI_D);

	gist_msg_init(&m, GIST_CONFIRM, 42);
	m.magic = false;
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	            GIST_BIT(GIST_OBJ_RCOOKIE);
	set_mri_v4(&m.mri);
	set_nli_v4(&m.nli, pi, 16);
	m.rcookie = (struct gist_bytes){rc, 28};
	round_trip(&m, GIST_TRANSPORT_TCP, out, sizeof(out), &back);
	assert_memory_equal(back.rcookie.p, rc, 28);
}

/* Data, and MA-Hello with R. */
static void test_round_trip_data_hello(void **state)
{
	static const uint8_t payload[12] = "Hello World!";
	struct gist_msg m, back;
	uint8_t out[256];
	size_t n;

	gist_msg_init(&m, GIST_DATA, 42);
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NSLP);
	set_mri_v4(&m.mri);
	m.nslp = (struct gist_bytes){payload, 12};
	m.hdr.flags |= GIST_F_E; /* explicitly routed Data is fine */
	round_trip(&m, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(back.hdr.flags, GIST_F_S | GIST_F_E);

	gist_msg_init(&m, GIST_MA_HELLO, 0);
	assert_false(m.magic);
	m.present = GIST_BIT(GIST_OBJ_HELLO);
	m.hello_id = 0x12345678;
	m.hdr.flags |= GIST_F_R;
	n = round_trip(&m, GIST_TRANSPORT_TCP, out, sizeof(out), &back);
	assert_int_equal(n, 16);
	assert_int_equal(back.hello_id, 0x12345678);
	assert_int_equal(gist_frame_length(out, n), 16);
}

/* An Error with every kind of additional information and a comment. */
static void test_round_trip_error_object(void **state)
{
	static const uint8_t bad_obj[12] = {0x00, 0x02, 0x00, 0x02, 0x10, 0x40, 0x40, 0x00};
	static const uint8_t comment[8] = "no way";
	static const uint8_t odd_ai[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t hdr[8] = {1, 32, 0, 20, 0, 42, 0x80, 0xc0};
	struct gist_msg m, back;
	struct gist_error_obj *eo = &m.error;
	uint8_t out[512];

	gist_msg_init(&m, GIST_ERROR, 0);
	m.present = GIST_BIT(GIST_OBJ_ERROR);
	eo->eclass = GIST_EC_PROTOCOL;
	eo->code = GIST_E_OBJ_VALUE;
	eo->subcode = GIST_SE_INCORRECT_LENGTH;
	eo->flags = GIST_EF_D;
	memcpy(eo->orig, hdr, 8);
	eo->has_sid = true;
	memset(eo->sid, 7, 16);
	eo->has_mri = true;
	set_mri_v4(&eo->mri);
	eo->n_ai = 5;
	eo->ai[0] = (struct gist_ai){.type = GIST_AI_MSG_LENGTH, .value = 20};
	eo->ai[1] = (struct gist_ai){.type = GIST_AI_MTU, .value = 1280};
	eo->ai[2] = (struct gist_ai){.type = GIST_AI_OBJ_TYPE, .value = GIST_OBJ_NLI};
	eo->ai[3] = (struct gist_ai){
	        .type = GIST_AI_OBJ_VALUE, .real_len = 2, .offset = 4, .data = {bad_obj, 12}};
	eo->ai[4] = (struct gist_ai){.type = 99, .data = {odd_ai, 8}};
	eo->comment = (struct gist_bytes){comment, 6}; /* NUL and padding added */
	round_trip(&m, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(back.error.code, GIST_E_OBJ_VALUE);
	assert_int_equal(back.error.flags, GIST_EF_S | GIST_EF_M | GIST_EF_C | GIST_EF_D);
	assert_memory_equal(back.error.orig, hdr, 8);
	assert_int_equal(back.error.n_ai, 5);
	assert_int_equal(back.error.ai[1].value, 1280);
	assert_int_equal(back.error.ai[2].value, GIST_OBJ_NLI);
	assert_int_equal(back.error.ai[3].real_len, 2);
	assert_int_equal(back.error.ai[3].offset, 4);
	assert_memory_equal(back.error.ai[3].data.p, bad_obj, 12);
	assert_int_equal(back.error.ai[4].type, 99);
	assert_int_equal(back.error.ai[4].data.len, 8);
	assert_int_equal(back.error.comment.len, 8);
	assert_string_equal((const char *)back.error.comment.p, "no way");
}

/* Errors found by the decoder turn into Error messages that decode again. */
static void test_error_msg_from_decode(void **state)
{
	struct fixture fx;
	struct gist_msg m, e, back;
	struct gist_err ge;
	uint8_t out[1024];
	size_t off;

	/* Object Value Error: the NLI claims IPv5. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_NLI);
	fx.b[off + 6] = 0x50;
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, &ge, NULL, 0), -EBADMSG);
	assert_int_equal(ge.code, GIST_E_OBJ_VALUE);
	assert_int_equal(ge.subcode, GIST_SE_VALUE_NOT_SUPPORTED);
	assert_ptr_equal(ge.obj.p, fx.b + off);
	assert_int_equal(ge.obj_offset, 6);
	assert_true(ge.has_sid && ge.has_mri && ge.answer && ge.qmode);
	assert_int_equal(gist_error_msg(&ge, NULL, GIST_TRANSPORT_UDP, &e), 0);
	round_trip(&e, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(back.error.n_ai, 1);
	assert_int_equal(back.error.ai[0].type, GIST_AI_OBJ_VALUE);
	assert_int_equal(back.error.ai[0].real_len, 7);
	assert_int_equal(back.error.ai[0].data.len, 32);
	assert_memory_equal(back.error.ai[0].data.p, fx.b + off, 32);
	assert_int_equal(back.error.flags, GIST_EF_S | GIST_EF_M | GIST_EF_D | GIST_EF_Q);

	/* Common Header Parse Error: message length info, no SID, no MRI. */
	load("gist-exchange-f01.hex", &fx);
	fx.b[7] = 21;
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, &ge, NULL, 0), -EMSGSIZE);
	assert_int_equal(ge.code, GIST_E_HDR_PARSE);
	assert_int_equal(ge.msg_len, 20);
	assert_int_equal(gist_error_msg(&ge, NULL, GIST_TRANSPORT_TCP, &e), 0);
	assert_false(e.magic);
	round_trip(&e, GIST_TRANSPORT_TCP, out, sizeof(out), &back);
	assert_int_equal(back.error.flags, GIST_EF_D | GIST_EF_Q);
	assert_int_equal(back.error.ai[0].type, GIST_AI_MSG_LENGTH);
	assert_int_equal(back.error.ai[0].value, 20);

	/* Object Type Error: the missing object's type. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_QCOOKIE);
	fx_remove(&fx, off, fx_obj_len(&fx, off));
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, &ge, NULL, 0), -EBADMSG);
	assert_int_equal(gist_error_msg(&ge, NULL, GIST_TRANSPORT_UDP, &e), 0);
	round_trip(&e, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(back.error.code, GIST_E_OBJ_TYPE);
	assert_int_equal(back.error.subcode, GIST_SE_MISSING);
	assert_int_equal(back.error.ai[0].type, GIST_AI_OBJ_TYPE);
	assert_int_equal(back.error.ai[0].value, GIST_OBJ_QCOOKIE);

	ge.code = GIST_E_NONE;
	assert_int_equal(gist_error_msg(&ge, NULL, GIST_TRANSPORT_UDP, &e), -EINVAL);
}

/* ---- Live captures: choosing the MA from NSIS-ka's two profiles ---------------- */

/* a4/a6 frame 23: NSIS-ka's Response to our C-mode Query proposes {TCP} and
 * {TLS, TCP}; its SCD gives TCP port 30000 for profile 1 and TCP port 30001
 * for profile 2 (TLS). The live run connected to 30001 (the last TCP option)
 * and sent plaintext to NSIS-ka's TLS port. */
static void check_two_profiles(const char *name)
{
	static const uint8_t tcp[] = {GIST_MA_TCP}, tls[] = {GIST_MA_TLS, GIST_MA_TCP}, udp[] = {3};
	struct fixture fx;
	struct gist_msg r;
	uint16_t port = 0;

	load_decode(name, &fx, &r);
	assert_int_equal(r.hdr.type, GIST_RESPONSE);
	assert_int_equal(r.sp.n, 2);
	assert_int_equal(r.sp.prof[0].n, 1);
	assert_int_equal(r.sp.prof[0].proto[0], GIST_MA_TCP);
	assert_int_equal(r.sp.prof[1].n, 2);
	assert_int_equal(r.sp.prof[1].proto[0], GIST_MA_TLS);
	assert_int_equal(r.sp.prof[1].proto[1], GIST_MA_TCP);
	assert_int_equal(r.scd.n, 2);
	/* Both options are TCP; only the Profile tag tells them apart. */
	assert_int_equal(r.scd.mpo[0].proto, GIST_MA_TCP);
	assert_int_equal(r.scd.mpo[0].profile, 1);
	assert_int_equal(gist_mpo_port(&r.scd.mpo[0]), 30000);
	assert_int_equal(r.scd.mpo[1].proto, GIST_MA_TCP);
	assert_int_equal(r.scd.mpo[1].profile, 2);
	assert_int_equal(gist_mpo_port(&r.scd.mpo[1]), 30001);

	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, tcp, 1, &port), 1);
	assert_int_equal(port, 30000);
	port = 0;
	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, tls, 2, &port), 2);
	assert_int_equal(port, 30001);
	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, udp, 1, &port), -ENOENT);

	/* The options in the other order: still 30000 for {TCP}. */
	struct gist_mpo t = r.scd.mpo[0];
	r.scd.mpo[0] = r.scd.mpo[1];
	r.scd.mpo[1] = t;
	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, tcp, 1, &port), 1);
	assert_int_equal(port, 30000);
	/* Only the TLS profile's option: no plain TCP port at all. */
	r.scd.mpo[0] = r.scd.mpo[0].profile == 2 ? r.scd.mpo[0] : r.scd.mpo[1];
	r.scd.n = 1;
	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, tcp, 1, &port), -ENOENT);
	/* Tagged 0 (all profiles): it applies to {TCP} too, and encodes. */
	r.scd.mpo[0].profile = 0;
	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, tcp, 1, &port), 1);
	assert_int_equal(port, 30001);
	/* With the D flag (do not use): not chosen. */
	r.scd.mpo[0].d = true;
	assert_int_equal(gist_scd_choose(&r.sp, &r.scd, tcp, 1, &port), -ENOENT);
	r.scd.mpo[0].d = false;
	uint8_t out[512];
	struct gist_msg back;
	r.magic = true;
	round_trip(&r, GIST_TRANSPORT_UDP, out, sizeof(out), &back);
	assert_int_equal(back.scd.mpo[0].profile, 0);
}

static void test_live_two_profiles_v4(void **state)
{
	(void)state;
	check_two_profiles("live-a4-f23.hex");
}

static void test_live_two_profiles_v6(void **state)
{
	(void)state;
	check_two_profiles("live-a6-f23.hex");
}

/* The Confirm the live run sent over the TLS port (a4 frame 31): our Query's
 * C-mode profile and the Response's SP echoed. What went wrong was the port,
 * not the message. */
static void test_live_confirm_to_tls_port(void **state)
{
	struct fixture fx;
	struct gist_msg c;

	(void)state;
	load_decode("live-a4-f31.hex", &fx, &c);
	assert_int_equal(fx.tp, GIST_TRANSPORT_TCP);
	assert_int_equal(c.hdr.type, GIST_CONFIRM);
	assert_int_equal(c.sp.n, 2);
	assert_int_equal(c.scd.n, 0);
	assert_int_equal(c.nli.pi.len, 3); /* "nsq": what NSIS-ka relays re-pad */
}

static void test_names(void **state)
{
	assert_string_equal(gist_msg_type_name(GIST_QUERY), "Query");
	assert_string_equal(gist_msg_type_name(GIST_MA_HELLO), "MA-Hello");
	assert_string_equal(gist_msg_type_name(99), "?");
	assert_string_equal(gist_obj_type_name(GIST_OBJ_HELLO), "Hello-ID");
	assert_string_equal(gist_obj_type_name(77), "unknown object");
	assert_string_equal(gist_err_code_name(GIST_E_UNKNOWN_NSLPID), "Unknown NSLPID");
	assert_string_equal(gist_err_class_name(9), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_golden_all),
	        cmocka_unit_test(test_golden_query),
	        cmocka_unit_test(test_golden_handshake),
	        cmocka_unit_test(test_golden_cmode),
	        cmocka_unit_test(test_golden_refresh),
	        cmocka_unit_test(test_golden_unknown_nslpid),
	        cmocka_unit_test(test_golden_ipv6),
	        cmocka_unit_test(test_golden_ma_hello),
	        cmocka_unit_test(test_error_endpoint_found),
	        cmocka_unit_test(test_build_query_like_nsis_ka),
	        cmocka_unit_test(test_mri_variants),
	        cmocka_unit_test(test_round_trip_full_query),
	        cmocka_unit_test(test_round_trip_response_confirm),
	        cmocka_unit_test(test_round_trip_data_hello),
	        cmocka_unit_test(test_round_trip_error_object),
	        cmocka_unit_test(test_error_msg_from_decode),
	        cmocka_unit_test(test_live_two_profiles_v4),
	        cmocka_unit_test(test_live_two_profiles_v6),
	        cmocka_unit_test(test_live_confirm_to_tls_port),
	        cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("gist", tests, NULL, NULL);
}
