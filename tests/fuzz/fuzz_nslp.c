/* libFuzzer target for the NetServ NSLP codec (src/nslp/).
 *
 * Decodes the input as NSLP-Data. What decodes must encode; the encoding must
 * decode to the same message (same NCM text for requests, same stack for
 * responses) and encode to the same bytes again. A request's NCM must pass
 * through its text form and nslp_from_ncm() to the same bytes, so that the
 * controller sees exactly what travelled. What fails must fail with one of
 * the documented errors and a reason. Any disagreement aborts.
 *
 * Seed corpus: tests/fuzz/corpus/nslp/ (the golden vectors of
 * tests/nslp/golden, and a few variations). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nslp/nslp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what, const char *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_nslp: %s%s%s\n", what, err && err[0] ? ": " : "",
		        err ? err : "");
		abort();
	}
}

static char *text(const struct ncm_msg *m, size_t *len)
{
	char *t = NULL;
	check(ncm_serialize(m, &t, len) == 0, "serialize", NULL);
	return t;
}

static void same_ncm(const struct ncm_msg *a, const struct ncm_msg *b, const char *what)
{
	size_t la, lb;
	char *ta = text(a, &la), *tb = text(b, &lb);
	check(la == lb && memcmp(ta, tb, la) == 0, what, NULL);
	free(ta);
	free(tb);
}

static void same_msg(const struct nslp_msg *a, const struct nslp_msg *b)
{
	check(a->type == b->type, "type changed", NULL);
	if (a->type != NSLP_RESPONSE) {
		same_ncm(a->req, b->req, "request changed");
		return;
	}
	check(a->answers == b->answers && a->code == b->code && !strcmp(a->reason, b->reason),
	      "response status changed", NULL);
	check(a->n_entries == b->n_entries, "stack changed", NULL);
	for (size_t i = 0; i < a->n_entries; i++) {
		const struct nslp_entry *x = &a->entries[i], *y = &b->entries[i];
		check(!strcmp(x->node_id, y->node_id) && x->family == y->family &&
		              !memcmp(x->addr, y->addr, 16) && x->method == y->method &&
		              x->elapsed_ms == y->elapsed_ms,
		      "entry changed", NULL);
		same_ncm(x->answer, y->answer, "entry answer changed");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nslp_msg *m = NULL, *m2 = NULL, *m3 = NULL;
	char err[NSLP_ERR_LEN] = "";
	uint8_t *b1 = NULL, *b2 = NULL, *b3 = NULL;
	size_t l1, l2, l3;

	int r = nslp_decode(data, size, &m, err, sizeof(err));
	if (r < 0) {
		check(r == -EBADMSG || r == -EMSGSIZE || r == -EPROTO || r == -ENOMEM,
		      "undocumented error", err);
		check(err[0] != '\0' && m == NULL, "error without reason", NULL);
		return 0;
	}
	r = nslp_encode(m, &b1, &l1, err, sizeof(err));
	check(r == 0, "decoded message does not encode", err);
	r = nslp_decode(b1, l1, &m2, err, sizeof(err));
	check(r == 0, "encoding does not decode", err);
	same_msg(m, m2);
	r = nslp_encode(m2, &b2, &l2, err, sizeof(err));
	check(r == 0 && l1 == l2 && memcmp(b1, b2, l1) == 0, "re-encoding differs", err);

	if (m->type != NSLP_RESPONSE) {
		/* Through the NCM text, as the controller and the publisher see it. */
		struct ncm_msg *ncm = NULL, *parsed = NULL;
		size_t tl;
		r = nslp_to_ncm(m, &ncm, err, sizeof(err));
		check(r == 0, "no NCM", err);
		char *t = text(ncm, &tl);
		r = ncm_parse(t, tl, &parsed, err, sizeof(err));
		check(r == 0, "NCM text does not parse", err);
		r = nslp_from_ncm(parsed, &m3, err, sizeof(err));
		check(r == 0, "NCM does not map back", err);
		r = nslp_encode(m3, &b3, &l3, err, sizeof(err));
		check(r == 0 && l3 == l1 && memcmp(b3, b1, l1) == 0, "NCM round trip differs", err);
		free(t);
		ncm_free(ncm);
		ncm_free(parsed);
	}
	free(b1);
	free(b2);
	free(b3);
	nslp_msg_free(m);
	nslp_msg_free(m2);
	nslp_msg_free(m3);
	return 0;
}
