/* libFuzzer target for the NCM codec.
 *
 * Runs framing, parsing, decoding, serializing and the canonical form on the
 * input, and checks that they agree with each other: a parsed message frames
 * to exactly its length, its serialization parses back and serializes to the
 * same bytes, and the canonical form survives the round trip. Any
 * disagreement aborts, so that the fuzzer reports it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ncm/ncm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ncm: %s\n", what);
		abort();
	}
}

/* Returns whether the message decodes as a request; frees what it decoded. */
static bool decodes(const struct ncm_msg *m)
{
	struct ncm_request r;
	char err[NCM_ERR_LEN];
	int ret;

	if (m->method == NCM_METHOD_NONE)
		return false;
	ret = ncm_request_decode(m, &r, err, sizeof(err));
	check(ret == 0 || ret == -EBADMSG || ret == -ENOMEM, "decode: unexpected error code");
	if (ret == 0) {
		check(r.method == m->method && r.target && strcmp(r.target, m->target) == 0,
		      "decode: method or target differs");
		check(r.n_filters <= NCM_MAX_FILTERS, "decode: too many filters");
		for (size_t i = 0; i < r.n_filters; i++)
			check(!r.filters[i].src.family || !r.filters[i].dst.family ||
			              r.filters[i].src.family == r.filters[i].dst.family,
			      "decode: a filter mixes address families");
		ncm_request_done(&r);
	}
	return ret == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct ncm_msg *m = NULL, *m2 = NULL;
	char *s = NULL, *s2 = NULL, *c = NULL, *c2 = NULL;
	size_t slen = 0, s2len = 0, clen = 0, c2len = 0;
	char err[NCM_ERR_LEN];
	long fl;
	int r;

	fl = ncm_frame_length(buf, size, err, sizeof(err));
	check(fl <= (long)size, "frame: longer than the input");
	if (fl > 0) {
		/* What framing accepts, parsing accepts (version aside). */
		r = ncm_parse(buf, (size_t)fl, &m, err, sizeof(err));
		check(r == 0 || r == -EPROTO || r == -ENOMEM, "frame accepted, parse refused");
		m = ncm_free(m);
	}

	r = ncm_parse(buf, size, &m, err, sizeof(err));
	check(r == 0 || r == -EBADMSG || r == -EMSGSIZE || r == -EPROTO || r == -ENOMEM,
	      "parse: unexpected error code");
	if (r != 0)
		return 0;
	check(fl == (long)size, "parse accepted, frame length differs");

	if (ncm_serialize(m, &s, &slen) == 0) {
		check(strlen(s) <= slen && slen <= size, "serialize: bad length");
		check(ncm_frame_length(s, slen, NULL, 0) == (long)slen, "frame of serialized");
		r = ncm_parse(s, slen, &m2, err, sizeof(err));
		if (r != 0)
			fprintf(stderr, "re-parse: %s\n", err);
		check(r == 0, "re-parse of serialized output failed");
		check(ncm_serialize(m2, &s2, &s2len) == 0, "re-serialize failed");
		check(s2len == slen && memcmp(s, s2, slen) == 0, "re-serialize differs");
		check(decodes(m) == decodes(m2), "decode differs after round trip");
	}

	if (ncm_canonical(m, &c, &clen) == 0 && m2) {
		check(strlen(c) == clen, "canonical: NUL inside");
		check(ncm_canonical(m2, &c2, &c2len) == 0, "canonical of re-parsed failed");
		check(c2len == clen && memcmp(c, c2, clen) == 0, "canonical differs");
	}

	free(c2);
	free(c);
	free(s2);
	free(s);
	ncm_free(m2);
	ncm_free(m);
	return 0;
}
