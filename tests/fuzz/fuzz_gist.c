/* libFuzzer target for the GIST wire codec (src/gist/).
 *
 * Decodes the input as a UDP payload and as a TCP-framed message. What
 * decodes must re-encode, the re-encoding must decode to the same message and
 * encode to the same bytes again; the framing helpers must agree with the
 * decoder. What fails must fail with one of the documented errors and a GIST
 * error code, and the Error message built from it must encode and decode.
 * Any disagreement aborts, so that the fuzzer reports it.
 *
 * Seed corpus: tests/fuzz/corpus/gist/ (every message of the NSIS-ka
 * captures, raw, plus a few of our own).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gist/gist_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc1[GIST_MAX_MSG + 64], enc2[GIST_MAX_MSG + 64];

static void check(bool ok, const char *what, const char *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_gist: %s%s%s\n", what, err && err[0] ? ": " : "",
		        err ? err : "");
		abort();
	}
}

/* The Error message about a decode failure encodes and decodes. */
static void check_error_reply(const struct gist_err *ge)
{
	struct gist_msg e, back;
	char err[GIST_ERR_LEN] = "";
	ssize_t n;
	int r;

	r = gist_error_msg(ge, NULL, ge->transport, &e);
	check(r == 0, "error_msg refused a decoder error", NULL);
	n = gist_encode(&e, enc2, sizeof(enc2), err, sizeof(err));
	check(n > 0, "Error message does not encode", err);
	r = gist_decode(enc2, (size_t)n, ge->transport, &back, NULL, err, sizeof(err));
	check(r == 0, "Error message does not decode", err);
	check(back.hdr.type == GIST_ERROR && back.error.code == ge->code &&
	              back.error.subcode == ge->subcode,
	      "Error message differs", NULL);
}

static void one(const uint8_t *data, size_t size, enum gist_transport tp)
{
	struct gist_msg m, m2;
	struct gist_err ge;
	struct gist_hdr h;
	char err[GIST_ERR_LEN] = "";
	ssize_t n1, n2;
	bool magic;
	int r, hr;

	r = gist_decode(data, size, tp, &m, &ge, err, sizeof(err));
	check(r == 0 || r == -EMSGSIZE || r == -EPROTO || r == -EBADMSG,
	      "decode: unexpected error code", err);
	hr = gist_hdr_decode(data, size, tp, &h, &magic);
	if (r < 0) {
		check(ge.code != GIST_E_NONE && err[0], "decode failed without a GIST error", err);
		check(!ge.answer || ge.has_hdr, "answer without a header", err);
		check_error_reply(&ge);
		return;
	}

	/* Accepted: the framing helpers agree. */
	check(hr >= 0 && h.type == m.hdr.type && h.nslpid == m.hdr.nslpid && magic == m.magic,
	      "hdr_decode disagrees with decode", NULL);
	if (tp == GIST_TRANSPORT_TCP)
		check(gist_frame_length(data, size) == (long)size, "frame length differs", NULL);

	n1 = gist_encode(&m, enc1, sizeof(enc1), err, sizeof(err));
	if (n1 == -EMSGSIZE && size > GIST_MAX_MSG - 16)
		return; /* a comment's added NUL can overflow the largest message */
	check(n1 > 0, "decoded message does not encode", err);
	check(gist_encode(&m, NULL, 0, NULL, 0) == n1, "length-only encode differs", NULL);
	r = gist_decode(enc1, (size_t)n1, tp, &m2, NULL, err, sizeof(err));
	check(r == 0, "re-encoded message does not decode", err);
	check(m2.present == m.present && m2.n_unknown == m.n_unknown && m2.magic == m.magic &&
	              m2.hdr.type == m.hdr.type && m2.hdr.nslpid == m.hdr.nslpid &&
	              m2.hdr.hops == m.hdr.hops && m2.hdr.flags == m.hdr.flags &&
	              m2.hdr.c == m.hdr.c,
	      "re-decoded message differs", NULL);
	if (m.present & GIST_BIT(GIST_OBJ_MRI))
		check(gist_mri_equal(&m.mri, &m2.mri), "MRI differs after the round trip", NULL);
	n2 = gist_encode(&m2, enc2, sizeof(enc2), err, sizeof(err));
	check(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0, "second encoding differs", err);

	/* Forwarding: dropping the ignorable unknown objects keeps it valid. */
	gist_msg_strip_ignored(&m);
	n2 = gist_encode(&m, enc2, sizeof(enc2), err, sizeof(err));
	check(n2 > 0 && n2 <= n1, "stripped message does not encode", err);

	/* An error about it, as the state machine would send. */
	gist_err_from_msg(&ge, &m, tp, GIST_EC_PERMANENT, GIST_E_ENDPOINT_FOUND, 0);
	check_error_reply(&ge);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, GIST_TRANSPORT_UDP);
	one(data, size, GIST_TRANSPORT_TCP);
	return 0;
}
