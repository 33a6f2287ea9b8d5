/* Unit tests of the GIST wire codec (src/gist/) on malformed input: every
 * truncation of every captured message, bad lengths, bad versions and types,
 * flags a message type does not allow, duplicate, missing, misplaced and
 * unknown objects, bad object values; each with the GIST error (class, code,
 * subcode, information) that the decoder reports for the Error reply. Also
 * framing helpers and encoder argument checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gist/gist_wire.h"
#include "../gist/gist_fixture.h"

/* Decodes fx, which must fail with `ret`, GIST error code/subcode, leaving *m
 * untouched and a reason in err. Returns the gist_err. */
static struct gist_err expect_fail(const struct fixture *fx, int ret, uint16_t code,
                                   uint8_t subcode)
{
	struct gist_msg m, sentinel;
	struct gist_err ge;
	char err[GIST_ERR_LEN] = "";
	int r;

	memset(&sentinel, 0x5a, sizeof(sentinel));
	m = sentinel;
	r = gist_decode(fx->b, fx->len, fx->tp, &m, &ge, err, sizeof(err));
	if (r != ret || ge.code != code || ge.subcode != subcode)
		print_message("%s: got %d code %u/%u (%s), want %d code %u/%u\n", fx->name, r,
		              ge.code, ge.subcode, err, ret, code, subcode);
	assert_int_equal(r, ret);
	assert_int_equal(ge.code, code);
	assert_int_equal(ge.subcode, subcode);
	assert_memory_equal(&m, &sentinel, sizeof(m));
	assert_true(err[0] != '\0');
	/* NULL err buffer and NULL gist_err are fine too. */
	assert_int_equal(gist_decode(fx->b, fx->len, fx->tp, &m, NULL, NULL, 0), ret);
	return ge;
}

static void load(const char *name, struct fixture *fx)
{
	assert_int_equal(fixture_load(name, fx), 0);
}

/* ---- Lengths ------------------------------------------------------------------- */

/* Every prefix of every captured message is refused with -EMSGSIZE, and so is
 * every message with bytes appended. */
static void test_truncated_everywhere(void **state)
{
	char **names = NULL;
	int n = fixture_list(&names);

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		struct fixture fx;
		struct gist_msg m;
		struct gist_err ge;

		load(names[i], &fx);
		for (size_t k = 0; k < fx.len; k++) {
			uint8_t *copy = malloc(k ? k : 1); /* exact size, for ASan */
			int r;

			memcpy(copy, fx.b, k);
			r = gist_decode(copy, k, fx.tp, &m, &ge, NULL, 0);
			if (r != -EMSGSIZE)
				print_message("%s truncated to %zu: %d\n", names[i], k, r);
			assert_int_equal(r, -EMSGSIZE);
			assert_int_equal(ge.code, GIST_E_HDR_PARSE);
			assert_int_equal(ge.subcode, GIST_SE_BAD_LENGTH);
			if (fx.tp == GIST_TRANSPORT_TCP) {
				long fl = gist_frame_length(copy, k);

				assert_int_equal(fl, 0);
			}
			free(copy);
		}
		for (size_t extra = 1; extra <= 8; extra++) {
			fx.b[fx.len] = 0;
			fx.len++;
			assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, &ge, NULL, 0),
			                 -EMSGSIZE);
		}
		free(names[i]);
	}
	free(names);
}

static void test_bad_message_length(void **state)
{
	struct fixture fx;
	struct gist_err ge;

	/* Declared one word short: trailing bytes. */
	load("gist-exchange-f01.hex", &fx);
	fx.b[7] = 19;
	ge = expect_fail(&fx, -EMSGSIZE, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH);
	assert_int_equal(ge.msg_len, 20); /* what is really there */
	assert_true(ge.answer);
	assert_false(ge.has_sid); /* no objects looked at */

	/* Declared longer than received. */
	load("gist-exchange-f01.hex", &fx);
	fx.b[6] = 0xff;
	expect_fail(&fx, -EMSGSIZE, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH);

	/* Shorter than a common header: no header to answer about. */
	load("gist-exchange-f01.hex", &fx);
	fx.len = 11;
	ge = expect_fail(&fx, -EMSGSIZE, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH);
	assert_false(ge.has_hdr);
	assert_false(ge.answer);
}

/* An object whose length runs past the message. */
static void test_overlong_object(void **state)
{
	struct fixture fx;
	struct gist_err ge;
	size_t off;

	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_QCOOKIE);
	fx.b[off + 3] = 2; /* 2 words, 1 there */
	ge = expect_fail(&fx, -EMSGSIZE, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH);
	assert_int_equal(ge.msg_len, 21);

	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx.b[off + 2] = 0x0f;
	fx.b[off + 3] = 0xff; /* 4095 words */
	expect_fail(&fx, -EMSGSIZE, GIST_E_HDR_PARSE, GIST_SE_BAD_LENGTH);
}

/* Objects one word longer or shorter than their contents: Incorrect Length. */
static void test_object_length_mismatch(void **state)
{
	static const unsigned types[] = {GIST_OBJ_MRI, GIST_OBJ_SID, GIST_OBJ_NLI, GIST_OBJ_SP,
	                                 GIST_OBJ_SCD};
	static const uint8_t zero[4] = {0};

	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct fixture fx;
		struct gist_err ge;
		size_t off, olen;

		/* One more word, zero, at the end of the object. */
		load("gist-exchange-f05.hex", &fx);
		off = fx_obj_off(&fx, types[i]);
		olen = fx_obj_len(&fx, off);
		fx_insert(&fx, off + olen, zero, 4);
		fx.b[off + 3]++;
		ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
		assert_int_equal(ge.eclass, GIST_EC_PROTOCOL);
		assert_int_equal(ge.obj_type, types[i]);
		assert_ptr_equal(ge.obj.p, fx.b + off);
		assert_int_equal(ge.obj.len, olen + 4);

		/* One word less. */
		load("gist-exchange-f05.hex", &fx);
		off = fx_obj_off(&fx, types[i]);
		olen = fx_obj_len(&fx, off);
		fx_remove(&fx, off + olen - 4, 4);
		fx.b[off + 3]--;
		expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	}
}

/* ---- Common header ---------------------------------------------------------------- */

static void test_bad_version_type(void **state)
{
	struct fixture fx;
	struct gist_hdr h;
	bool magic;

	load("gist-exchange-f01.hex", &fx);
	fx.b[4] = 2;
	expect_fail(&fx, -EPROTO, GIST_E_HDR_PARSE, GIST_SE_UNKNOWN_VERSION);
	assert_int_equal(gist_hdr_decode(fx.b, fx.len, fx.tp, &h, &magic), -EPROTO);

	load("gist-exchange-f01.hex", &fx);
	fx.b[10] = 0x80 | 6;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_UNKNOWN_TYPE);
	fx.b[10] = 0x7f;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_UNKNOWN_TYPE);

	/* TCP: a version other than 1 cannot be framed. */
	load("gist-exchange-f10.hex", &fx);
	fx.b[0] = 0;
	assert_int_equal(gist_frame_length(fx.b, fx.len), -EPROTO);
	expect_fail(&fx, -EPROTO, GIST_E_HDR_PARSE, GIST_SE_UNKNOWN_VERSION);
}

static void test_bad_flags(void **state)
{
	struct fixture fx;
	struct gist_msg m;

	/* R on a Confirm, on Data. */
	load("gist-exchange-f03.hex", &fx);
	fx.b[11] |= GIST_F_R;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_INVALID_R);
	load("gist-exchange-f12.hex", &fx);
	fx.b[7] |= GIST_F_R;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_INVALID_R);

	/* E on a Query. */
	load("gist-exchange-f01.hex", &fx);
	fx.b[11] |= GIST_F_E;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_INVALID_E);

	/* Reserved flag bits are ignored (and re-encoded as 0). */
	load("gist-exchange-f01.hex", &fx);
	fx.b[11] |= 0x1f;
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, NULL, NULL, 0), 0);
	assert_int_equal(m.hdr.flags, GIST_F_S | GIST_F_R);

	/* C over TCP; C on UDP without the magic number. */
	load("gist-exchange-f10.hex", &fx);
	fx.b[6] |= 0x80;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_INVALID_C);
	load("gist-exchange-f01.hex", &fx);
	memmove(fx.b, fx.b + 4, fx.len - 4);
	fx.len -= 4;
	expect_fail(&fx, -EBADMSG, GIST_E_HDR_PARSE, GIST_SE_INVALID_C);
	{
		struct gist_hdr h;
		bool magic;

		assert_int_equal(gist_hdr_decode(fx.b, fx.len, fx.tp, &h, &magic), -EPROTO);
	}
}

static void test_bad_encapsulation(void **state)
{
	struct fixture fx;
	struct gist_msg m;

	/* A Query not Q-mode encapsulated. */
	load("gist-exchange-f01.hex", &fx);
	fx.b[10] &= 0x7f;
	expect_fail(&fx, -EBADMSG, GIST_E_ENCAPSULATION, 0);
	/* A Response in Q-mode. */
	load("gist-exchange-f02.hex", &fx);
	fx.b[10] |= 0x80;
	expect_fail(&fx, -EBADMSG, GIST_E_ENCAPSULATION, 0);
	/* MA-Hello over UDP. */
	load("gist-exchange-f29.hex", &fx);
	fx.tp = GIST_TRANSPORT_UDP;
	expect_fail(&fx, -EBADMSG, GIST_E_ENCAPSULATION, 0);
	/* D-mode UDP without the magic number is accepted (RFC), noted in m.magic. */
	load("gist-exchange-f02.hex", &fx);
	assert_int_equal(gist_decode(fx.b + 4, fx.len - 4, fx.tp, &m, NULL, NULL, 0), 0);
	assert_false(m.magic);
	/* TCP never looks for a magic number: with one it is not version 1. */
	fx.tp = GIST_TRANSPORT_TCP;
	expect_fail(&fx, -EPROTO, GIST_E_HDR_PARSE, GIST_SE_UNKNOWN_VERSION);
}

/* ---- Objects: type errors ------------------------------------------------------------ */

static void test_duplicate_object(void **state)
{
	struct fixture fx;
	struct gist_err ge;
	uint8_t copy[64];
	size_t off, olen;

	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SID);
	olen = fx_obj_len(&fx, off);
	memcpy(copy, fx.b + off, olen);
	fx_insert(&fx, off + olen, copy, olen);
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_DUPLICATE);
	assert_true(ge.has_obj_type);
	assert_int_equal(ge.obj_type, GIST_OBJ_SID);
	assert_true(ge.has_sid); /* decoded before the duplicate */
	assert_true(ge.has_mri);
}

static void test_missing_objects(void **state)
{
	static const struct {
		const char *fixture;
		unsigned remove;
		unsigned missing;
	} cases[] = {
	        {"gist-exchange-f01.hex", GIST_OBJ_MRI, GIST_OBJ_MRI},
	        {"gist-exchange-f01.hex", GIST_OBJ_SID, GIST_OBJ_SID},
	        {"gist-exchange-f01.hex", GIST_OBJ_NLI, GIST_OBJ_NLI},
	        {"gist-exchange-f01.hex", GIST_OBJ_QCOOKIE, GIST_OBJ_QCOOKIE},
	        {"gist-exchange-f02.hex", GIST_OBJ_QCOOKIE, GIST_OBJ_QCOOKIE},
	        {"gist-exchange-f04.hex", GIST_OBJ_NSLP, GIST_OBJ_NSLP},
	        {"gist-exchange-f29.hex", GIST_OBJ_HELLO, GIST_OBJ_HELLO},
	        /* Query: SP without SCD; Response: SP without the Responder-Cookie. */
	        {"gist-exchange-f05.hex", GIST_OBJ_SCD, GIST_OBJ_SCD},
	        {"gist-exchange-f05.hex", GIST_OBJ_SP, GIST_OBJ_SP},
	        {"gist-exchange-f06.hex", GIST_OBJ_RCOOKIE, GIST_OBJ_RCOOKIE},
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture fx;
		struct gist_err ge;
		size_t off;

		load(cases[i].fixture, &fx);
		off = fx_obj_off(&fx, cases[i].remove);
		assert_true(off > 0);
		fx_remove(&fx, off, fx_obj_len(&fx, off));
		ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_MISSING);
		assert_int_equal(ge.obj_type, cases[i].missing);
	}
}

/* An object the message type does not carry: a Query-Cookie in a Confirm. */
static void test_invalid_object(void **state)
{
	struct fixture fx, q;
	struct gist_err ge;
	size_t off, qoff;

	load("gist-exchange-f01.hex", &q);
	qoff = fx_obj_off(&q, GIST_OBJ_QCOOKIE);
	load("gist-exchange-f03.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_RCOOKIE);
	fx_insert(&fx, off, q.b + qoff, fx_obj_len(&q, qoff));
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_INVALID_OBJECT);
	assert_int_equal(ge.obj_type, GIST_OBJ_QCOOKIE);

	/* An Error object in a Data message. */
	{
		static const uint8_t eobj[4] = {0x00, 0x09, 0x00, 0x00};

		load("gist-exchange-f04.hex", &fx);
		fx_insert(&fx, fx.len, eobj, 4);
		ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_INVALID_OBJECT);
		assert_int_equal(ge.obj_type, GIST_OBJ_ERROR);
	}
}

/* Unknown objects by their A/B bits. */
static void test_unknown_objects(void **state)
{
	static const uint8_t mand[8] = {0x01, 0x00, 0x00, 0x01, 1, 2, 3, 4};
	static const uint8_t inval[8] = {0xc1, 0x00, 0x00, 0x01, 1, 2, 3, 4};
	static const uint8_t ign[8] = {0x41, 0x00, 0x00, 0x01, 1, 2, 3, 4};
	static const uint8_t fwd[4] = {0x8f, 0xff, 0x00, 0x00};
	struct fixture fx;
	struct gist_err ge;
	struct gist_msg m;
	uint8_t out[512];
	size_t off;

	load("gist-exchange-f01.hex", &fx);
	fx_insert(&fx, fx_obj_off(&fx, GIST_OBJ_NLI), mand, 8);
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_UNRECOGNISED);
	assert_int_equal(ge.obj_type, 0x100);

	load("gist-exchange-f01.hex", &fx);
	fx_insert(&fx, fx.len, inval, 8);
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_INVALID_AB);
	assert_int_equal(ge.obj_type, 0x100);

	/* Ignore and forward: kept, re-encoded byte for byte in place. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_NLI);
	fx_insert(&fx, off, ign, 8);
	fx_insert(&fx, fx.len, fwd, 4);
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, NULL, NULL, 0), 0);
	assert_int_equal(m.n_unknown, 2);
	assert_int_equal(m.unknown[0].type, 0x100);
	assert_int_equal(m.unknown[0].ab, GIST_AB_IGNORE);
	assert_int_equal(m.unknown[0].pos, 2);
	assert_ptr_equal(m.unknown[0].body.p, fx.b + off + 4);
	assert_int_equal(m.unknown[1].type, 0xfff);
	assert_int_equal(m.unknown[1].ab, GIST_AB_FORWARD);
	assert_int_equal(m.unknown[1].body.len, 0);
	assert_int_equal(gist_encode(&m, out, sizeof(out), NULL, 0), (ssize_t)fx.len);
	assert_memory_equal(out, fx.b, fx.len);

	/* More than GIST_MAX_UNKNOWN: refused. */
	load("gist-exchange-f01.hex", &fx);
	for (int i = 0; i <= GIST_MAX_UNKNOWN; i++)
		fx_insert(&fx, fx.len, fwd, 4);
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_UNRECOGNISED);
}

/* ---- Objects: value errors ----------------------------------------------------------- */

static void test_mri_values(void **state)
{
	struct fixture fx;
	struct gist_err ge;
	size_t off;

	/* Unknown MRM. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx.b[off + 4] = 7;
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_VALUE_NOT_SUPPORTED);
	assert_int_equal(ge.obj_offset, 4);
	assert_false(ge.has_mri);

	/* IP version 5. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx.b[off + 6] = 0x50;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_VALUE_NOT_SUPPORTED);

	/* IPv6 flag on a message with IPv4-sized addresses: length mismatch. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx.b[off + 6] = 0x60;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);

	/* Ports without P, flow label with IPv4 (lengths made right). */
	{
		static const uint8_t word[4] = {0, 0, 0, 0};

		load("gist-exchange-f01.hex", &fx);
		off = fx_obj_off(&fx, GIST_OBJ_MRI);
		fx_insert(&fx, off + fx_obj_len(&fx, off), word, 4);
		fx.b[off + 3]++;
		fx.b[off + 7] = 0x80; /* A */
		expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INVALID_FLAGS);
		fx.b[off + 6] = 0x42; /* F */
		fx.b[off + 7] = 0x00;
		expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INVALID_FLAGS);
	}

	/* Prefix longer than the address. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx.b[off + 4 + 12] = 33;
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INVALID_FLAGS);
	assert_int_equal(ge.obj_offset, 16);
}

static void test_stack_values(void **state)
{
	struct fixture fx;
	struct gist_err ge;
	size_t off;

	/* No profiles. */
	load("gist-exchange-f05.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SP);
	fx.b[off + 4] = 0;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_EMPTY_LIST);
	/* A profile without layers. */
	load("gist-exchange-f05.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SP);
	fx.b[off + 8] = 0;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_EMPTY_LIST);
	/* Profile count larger than the profiles there. */
	load("gist-exchange-f05.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SP);
	fx.b[off + 4] = 3;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* Too many profiles for us. */
	load("gist-exchange-f05.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SP);
	fx.b[off + 4] = GIST_MAX_PROFILES + 1;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_VALUE_NOT_SUPPORTED);
	/* An option longer than the SCD. */
	load("gist-exchange-f06.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SCD);
	fx.b[off + 4 + 8 + 2] = 9;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* MPO count smaller than the options there. */
	load("gist-exchange-f06.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SCD);
	fx.b[off + 4] = 1;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* An option for profile 3 of 2. */
	load("gist-exchange-f06.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_SCD);
	fx.b[off + 4 + 8 + 8 + 1] = 3;
	ge = expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_SP_SCD_MISMATCH);
	assert_int_equal(ge.obj_type, GIST_OBJ_SCD);
	assert_ptr_equal(ge.obj.p, fx.b + off);
	assert_int_equal(ge.obj_offset, 4 + 8 + 8);
}

static void test_other_values(void **state)
{
	struct fixture fx;
	size_t off;

	/* NLI with IP version 5. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_NLI);
	fx.b[off + 6] = 0x50;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_VALUE_NOT_SUPPORTED);
	/* NLI peer identity longer than the object. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_NLI);
	fx.b[off + 4] = 40;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* Empty Query-Cookie. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_QCOOKIE);
	fx_remove(&fx, off + 4, 4);
	fx.b[off + 3] = 0;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* Hello-ID of two words. */
	{
		static const uint8_t word[4] = {0};

		load("gist-exchange-f29.hex", &fx);
		fx_insert(&fx, fx.len, word, 4);
		fx.b[11] = 2;
		expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	}
}

/* Error objects: inner lengths. */
static void test_error_object_values(void **state)
{
	/* Error message, over TCP: 01 01 len | 0000 04 00 | Error object. */
	uint8_t b[128] = {1, 1, 0, 0, 0, 0, 4, 0, 0x00, 0x09, 0x00, 0x00};
	struct gist_msg m;
	struct gist_err ge;
	size_t len;
	/* class 2, code 1, subcode 3, flags M, MRI length 4, 1 AI */
	static const uint8_t head[8] = {2, 0, 1, 3, GIST_EF_M, 0, 4, 1};
	static const uint8_t orig[8] = {1, 32, 0, 20, 0, 42, 0x80, 0xc0};
	static const uint8_t mri[16] = {0, 0, 0x40, 0, 10, 77, 0, 1, 10, 77, 0, 2, 32, 32, 0, 0};
	static const uint8_t ai[8] = {0, GIST_AI_MSG_LENGTH, 0, 1, 0, 20, 0, 0};
	size_t o = 12;

	memcpy(b + o, head, 8), o += 8;
	memcpy(b + o, orig, 8), o += 8;
	memcpy(b + o, mri, 16), o += 16;
	memcpy(b + o, ai, 8), o += 8;
	len = o;
	b[3] = (uint8_t)((len - 8) / 4);
	b[11] = (uint8_t)((len - 12) / 4);
	assert_int_equal(gist_decode(b, len, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), 0);
	assert_true(m.error.has_mri);
	assert_int_equal(m.error.n_ai, 1);
	assert_int_equal(m.error.ai[0].value, 20);

	/* Info count 2 with one field. */
	b[12 + 7] = 2;
	assert_int_equal(gist_decode(b, len, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), -EBADMSG);
	assert_int_equal(ge.subcode, GIST_SE_INCORRECT_LENGTH);
	assert_false(ge.answer); /* never answer an Error */
	/* Info count 0 with one field: bytes left over. */
	b[12 + 7] = 0;
	assert_int_equal(gist_decode(b, len, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), -EBADMSG);
	b[12 + 7] = 1;
	/* MRI length beyond the object. */
	b[12 + 6] = 40;
	assert_int_equal(gist_decode(b, len, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), -EBADMSG);
	b[12 + 6] = 4;
	/* Message Length Info of two words. */
	b[12 + 8 + 8 + 16 + 3] = 2;
	assert_int_equal(gist_decode(b, len, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), -EBADMSG);
	b[12 + 8 + 8 + 16 + 3] = 1;
	/* The embedded MRI broken: IP version 5. */
	b[12 + 8 + 8 + 2] = 0x50;
	assert_int_equal(gist_decode(b, len, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), -EBADMSG);
	assert_int_equal(ge.subcode, GIST_SE_VALUE_NOT_SUPPORTED);
	assert_int_equal(ge.obj_offset, 4 + 16 + 2);
}

/* NAT-Traversal in a Query: lengths inside it. */
static void test_nat_values(void **state)
{
	/* MRI-Length 1, Type-Count 1, NAT-Count 1 | MRI word | type list | info */
	static const uint8_t nat[20] = {0x00, 0x07, 0x00, 0x04, 1, 1, 1, 0, 0,   0,
	                                0x40, 0,    0x00, 0x02, 0, 0, 0, 2, 'x', 'y'};
	struct fixture fx;
	struct gist_msg m;
	size_t off;

	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx_insert(&fx, off, nat, sizeof(nat));
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, NULL, NULL, 0), 0);
	assert_true(m.present & GIST_BIT(GIST_OBJ_NAT));
	assert_int_equal(m.nat.mri.len, 4);
	assert_int_equal(m.nat.type_count, 1);
	assert_int_equal(m.nat.nat_count, 1);
	assert_int_equal(m.nat.types.len, 4);
	assert_int_equal(m.nat.info.len, 4);
	{
		uint8_t out[256];

		assert_int_equal(gist_encode(&m, out, sizeof(out), NULL, 0), (ssize_t)fx.len);
		assert_memory_equal(out, fx.b, fx.len);
	}
	/* The original MRI longer than the object; the type list too. */
	fx.b[off + 4] = 5;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	fx.b[off + 4] = 1;
	fx.b[off + 5] = 9;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* An empty NAT-Traversal object. */
	load("gist-exchange-f01.hex", &fx);
	off = fx_obj_off(&fx, GIST_OBJ_MRI);
	fx_insert(&fx, off, nat, 4);
	fx.b[off + 3] = 0;
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_VALUE, GIST_SE_INCORRECT_LENGTH);
	/* Not allowed in Data. */
	load("gist-exchange-f04.hex", &fx);
	fx_insert(&fx, fx_obj_off(&fx, GIST_OBJ_MRI), nat, sizeof(nat));
	expect_fail(&fx, -EBADMSG, GIST_E_OBJ_TYPE, GIST_SE_INVALID_OBJECT);
}

/* Error objects: the fixed part, flags, information fields. */
static void test_error_object_fields(void **state)
{
	/* Error message over TCP with an Error object of body `body`. */
	uint8_t b[256] = {1, 1, 0, 0, 0, 0, 4, 0, 0x00, 0x09, 0x00, 0x00};
	uint8_t body[128] = {4, 0, 7, 0, 0, 0, 0, 0, 1, 32, 0, 20, 0, 43, 0x80, 0xc0};
	struct gist_msg m;
	struct gist_err ge;
	size_t blen;

#define ERRMSG(n)                                                                                  \
	(memcpy(b + 12, body, (n)), b[3] = (uint8_t)(1 + (n) / 4), b[11] = (uint8_t)((n) / 4),     \
	 gist_decode(b, 12 + (n), GIST_TRANSPORT_TCP, &m, &ge, NULL, 0))

	assert_int_equal(ERRMSG(16), 0);
	assert_int_equal(m.error.code, GIST_E_ENDPOINT_FOUND);
	assert_false(m.error.has_sid || m.error.has_mri);
	assert_int_equal(ERRMSG(12), -EBADMSG); /* no room for the common header */
	assert_int_equal(ge.code, GIST_E_OBJ_VALUE);
	body[4] = GIST_EF_S; /* SID announced, not there */
	assert_int_equal(ERRMSG(16), -EBADMSG);
	memset(body + 16, 0x11, 16);
	assert_int_equal(ERRMSG(32), 0);
	assert_true(m.error.has_sid);
	body[4] = GIST_EF_C | GIST_EF_D; /* comment announced, empty: dropped */
	assert_int_equal(ERRMSG(16), 0);
	assert_int_equal(m.error.flags, GIST_EF_D);
	assert_int_equal(m.error.comment.len, 0);
	body[4] = 0;
	body[7] = GIST_MAX_AI + 1; /* too many information fields */
	assert_int_equal(ERRMSG(16), -EBADMSG);
	assert_int_equal(ge.subcode, GIST_SE_VALUE_NOT_SUPPORTED);
	/* Object Value Info without room for its first word; an unknown type kept. */
	body[7] = 1;
	memcpy(body + 16, (const uint8_t[]){0, GIST_AI_OBJ_VALUE, 0, 0}, 4);
	assert_int_equal(ERRMSG(20), -EBADMSG);
	memcpy(body + 16, (const uint8_t[]){0x12, 0x34, 0, 1, 9, 9, 9, 9}, 8);
	blen = 24;
	assert_int_equal(ERRMSG(blen), 0);
	assert_int_equal(m.error.ai[0].type, 0x1234);
	assert_int_equal(m.error.ai[0].data.len, 4);
	/* Object Value Info as NSIS-ka writes it: AI-Length = object bytes + 1 (9),
	 * "real length" in bytes; delimited by the object's header. */
	memcpy(body + 16,
	       (const uint8_t[]){0, GIST_AI_OBJ_VALUE, 0, 9, 0, 8, 0, 4, 0, 5, 0, 1, 1, 2, 3, 4},
	       16);
	blen = 32;
	assert_int_equal(ERRMSG(blen), 0);
	assert_int_equal(m.error.ai[0].real_len, 8);
	assert_int_equal(m.error.ai[0].offset, 4);
	assert_int_equal(m.error.ai[0].data.len, 8);
	assert_int_equal(m.error.ai[0].data.p[1], GIST_OBJ_QCOOKIE);
	/* ... but not when the embedded object overruns too. */
	body[16 + 11] = 2;
	assert_int_equal(ERRMSG(blen), -EBADMSG);
#undef ERRMSG
}

/* ---- Encoder arguments -------------------------------------------------------------- */

static void test_encode_invalid(void **state)
{
	static const uint8_t odd[5] = "abcd", word[4] = "abc";
	static uint8_t big[4 * 0x1000];
	struct fixture fx;
	struct gist_msg m, q;
	char err[GIST_ERR_LEN];
	uint8_t out[512];

	load("gist-exchange-f04.hex", &fx);
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, NULL, NULL, 0), 0);
	q = m;
	q.nslp = (struct gist_bytes){odd, 5};
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "NSLP"));
	q = m;
	q.nslp = (struct gist_bytes){big, sizeof(big)};
	assert_int_equal(gist_encode(&q, NULL, 0, err, sizeof(err)), -EMSGSIZE);
	q = m;
	q.present &= ~GIST_BIT(GIST_OBJ_SID);
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "missing"));
	q = m;
	q.present |= GIST_BIT(GIST_OBJ_QCOOKIE);
	q.qcookie = (struct gist_bytes){word, 4};
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	q = m;
	q.hdr.flags |= GIST_F_R;
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	q = m;
	q.hdr.type = 9;
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	q = m;
	q.mri.ipver = 5;
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "MRI"));
	q = m;
	q.n_unknown = 1;
	q.unknown[0] = (struct gist_unknown){.type = GIST_OBJ_SID, .ab = GIST_AB_FORWARD};
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	q.unknown[0] = (struct gist_unknown){.type = 0x200, .ab = GIST_AB_MANDATORY};
	assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);
	/* The original still encodes; NULL err is fine. */
	assert_int_equal(gist_encode(&m, out, sizeof(out), NULL, 0), (ssize_t)fx.len);
}

/* Object fields the encoder refuses. */
static void test_encode_object_invalid(void **state)
{
	static const uint8_t pi[300] = {0}, three[3] = "ab";
	struct fixture fx;
	struct gist_msg m, q;
	uint8_t out[1024];
	char err[GIST_ERR_LEN];

	load("gist-exchange-f06.hex", &fx);
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &m, NULL, NULL, 0), 0);
#define REFUSED(stmt)                                                                              \
	do {                                                                                       \
		q = m;                                                                             \
		stmt;                                                                              \
		assert_int_equal(gist_encode(&q, out, sizeof(out), err, sizeof(err)), -EINVAL);    \
		assert_true(err[0] != '\0');                                                       \
	} while (0)
	REFUSED(q.nli.ipver = 0);
	REFUSED(q.nli.pi = ((struct gist_bytes){pi, 256}));
	REFUSED(q.nli.pi = ((struct gist_bytes){NULL, 4}));
	REFUSED(q.sp.n = 0);
	REFUSED(q.sp.n = GIST_MAX_PROFILES + 1);
	REFUSED(q.sp.prof[1].n = 0);
	REFUSED(q.scd.n = GIST_MAX_MPO + 1);
	REFUSED(q.scd.mpo[0].data = ((struct gist_bytes){pi, 256}));
	REFUSED(q.scd.mpo[1].profile = 3); /* not proposed */
	REFUSED(q.rcookie = ((struct gist_bytes){three, 3}));
	REFUSED(q.rcookie = ((struct gist_bytes){NULL, 0}));
	REFUSED(q.hdr.flags |= 0x01);
	REFUSED(q.present |= GIST_BIT(GIST_OBJ_NKNOWN));
	REFUSED(q.n_unknown = GIST_MAX_UNKNOWN + 1);
	REFUSED((q.n_unknown = 1, q.unknown[0] = (struct gist_unknown){.type = 0x300,
	                                                               .ab = GIST_AB_IGNORE,
	                                                               .body = {three, 3}}));
	REFUSED((q.present |= GIST_BIT(GIST_OBJ_NAT), q.nat.type_count = 1));
	REFUSED(q.mri.flags = GIST_MRI_F);
	REFUSED(q.mri.flags = GIST_MRI_A);
	REFUSED(q.mri.src_prefix = 33);
	REFUSED(q.mri.dscp = 64);
	REFUSED(q.mri.mrm = 5);
	REFUSED(q.mri.flags = 0x1000);
#undef REFUSED

	/* Error objects. */
	{
		struct gist_err ge;
		struct gist_msg e;
		static const uint8_t odd[6] = {0};

		gist_err_from_msg(&ge, &m, GIST_TRANSPORT_UDP, GIST_EC_PERMANENT, GIST_E_TOO_LARGE,
		                  0);
		ge.mtu = 1280;
		assert_int_equal(gist_error_msg(&ge, &m.nli, GIST_TRANSPORT_UDP, &e), 0);
		assert_int_equal(e.error.n_ai, 1);
		assert_int_equal(e.error.ai[0].type, GIST_AI_MTU);
		assert_true(gist_encode(&e, out, sizeof(out), NULL, 0) > 0);
		q = e;
		q.error.n_ai = GIST_MAX_AI + 1;
		assert_int_equal(gist_encode(&q, out, sizeof(out), NULL, 0), -EINVAL);
		q = e;
		q.error.mri.ipver = 0;
		assert_int_equal(gist_encode(&q, out, sizeof(out), NULL, 0), -EINVAL);
		q = e;
		q.error.comment = (struct gist_bytes){NULL, 4};
		assert_int_equal(gist_encode(&q, out, sizeof(out), NULL, 0), -EINVAL);
		q = e;
		q.error.ai[0] = (struct gist_ai){.type = GIST_AI_OBJ_VALUE, .data = {odd, 6}};
		assert_int_equal(gist_encode(&q, out, sizeof(out), NULL, 0), -EINVAL);
		q.error.ai[0] = (struct gist_ai){.type = 77, .data = {odd, 6}};
		assert_int_equal(gist_encode(&q, out, sizeof(out), NULL, 0), -EINVAL);
	}
}

/* Decoding refuses what no GIST message can be. */
static void test_decode_limits(void **state)
{
	static uint8_t huge[GIST_MAX_MSG + 8];
	struct gist_msg m;
	struct gist_err ge;

	huge[0] = 1;
	assert_int_equal(gist_decode(huge, sizeof(huge), GIST_TRANSPORT_TCP, &m, &ge, NULL, 0),
	                 -EMSGSIZE);
	assert_int_equal(ge.code, GIST_E_HDR_PARSE);
	assert_int_equal(gist_decode(NULL, 4, GIST_TRANSPORT_TCP, &m, &ge, NULL, 0), -EINVAL);
	assert_int_equal(ge.code, GIST_E_NONE);
}

/* ---- Framing helpers ---------------------------------------------------------------- */

static void test_framing(void **state)
{
	struct fixture a, b;
	uint8_t stream[512];
	struct gist_hdr h;
	bool magic;

	load("gist-exchange-f10.hex", &a);
	load("gist-exchange-f12.hex", &b);
	memcpy(stream, a.b, a.len);
	memcpy(stream + a.len, b.b, b.len);
	assert_int_equal(gist_frame_length(stream, 0), 0);
	assert_int_equal(gist_frame_length(stream, 7), 0);
	assert_int_equal(gist_frame_length(stream, a.len - 1), 0);
	assert_int_equal(gist_frame_length(stream, a.len + b.len), (long)a.len);
	assert_int_equal(gist_frame_length(stream + a.len, b.len), (long)b.len);

	/* Relaying: the hop count rewritten in place, nothing else. */
	load("gist-exchange-f19.hex", &a);
	memcpy(stream, a.b, a.len);
	assert_int_equal(gist_set_hops(stream, a.len, GIST_TRANSPORT_UDP, 31), 0);
	assert_int_equal(stream[5], 31);
	stream[5] = a.b[5];
	assert_memory_equal(stream, a.b, a.len);
	assert_int_equal(gist_hdr_decode(stream, a.len, GIST_TRANSPORT_UDP, &h, &magic), 4);
	assert_true(magic && h.c);
	assert_int_equal(h.nslpid, 43);
	assert_int_equal(h.hops, 32);
	assert_int_equal(gist_hdr_decode(stream, a.len - 1, GIST_TRANSPORT_UDP, &h, &magic),
	                 -EMSGSIZE);
	assert_int_equal(gist_set_hops(stream, 6, GIST_TRANSPORT_UDP, 1), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_truncated_everywhere),
	        cmocka_unit_test(test_bad_message_length),
	        cmocka_unit_test(test_overlong_object),
	        cmocka_unit_test(test_object_length_mismatch),
	        cmocka_unit_test(test_bad_version_type),
	        cmocka_unit_test(test_bad_flags),
	        cmocka_unit_test(test_bad_encapsulation),
	        cmocka_unit_test(test_duplicate_object),
	        cmocka_unit_test(test_missing_objects),
	        cmocka_unit_test(test_invalid_object),
	        cmocka_unit_test(test_unknown_objects),
	        cmocka_unit_test(test_mri_values),
	        cmocka_unit_test(test_stack_values),
	        cmocka_unit_test(test_other_values),
	        cmocka_unit_test(test_error_object_values),
	        cmocka_unit_test(test_nat_values),
	        cmocka_unit_test(test_error_object_fields),
	        cmocka_unit_test(test_encode_invalid),
	        cmocka_unit_test(test_encode_object_invalid),
	        cmocka_unit_test(test_decode_limits),
	        cmocka_unit_test(test_framing),
	};

	return cmocka_run_group_tests_name("gist_malformed", tests, NULL, NULL);
}
