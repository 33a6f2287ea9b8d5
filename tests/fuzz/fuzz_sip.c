/* libFuzzer target for modules/sip.h, the SIP code of the keepalive and
 * overload modules (compiled natively here).
 *
 * Parses the input as a UDP payload. What parses must have every piece
 * inside the input; the stateless answer built for it must fit, parse again
 * as a response with the same Vias and CSeq and a To tag; Via insertion must
 * give a message that parses. The RFC 5626 keep-alive checks run on every
 * input. Any disagreement aborts, so that the fuzzer reports it.
 *
 * Seed corpus: tests/fuzz/corpus/sip/ (keep-alives, an INVITE, responses
 * with RFC 7339 feedback, compact and folded forms). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_sip: %s\n", what);
		abort();
	}
}

static bool inside(struct sip_str s, const char *buf, size_t len)
{
	return s.len == 0 || (s.p >= buf && s.p + s.len <= buf + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t client[4] = {10, 1, 0, 2};
	static char out[8192], ins[70000];
	struct sip_peer from = {4, client, 5061};
	const char *buf = (const char *)data;
	struct sip_msg m, a;
	struct sip_str t, v;
	struct sip_via via;

	if (size > 65507)
		return 0;
	sip_crlf_keepalive(data, (uint32_t)size);
	if (stun_is_binding_request(data, (uint32_t)size)) {
		uint8_t resp[64];
		check(stun_binding_success(resp, sizeof(resp), data, &from) == 32, "stun answer");
	}
	if (sip_parse(buf, (uint32_t)size, &m) != SIP_OK)
		return 0;
	check(inside(m.from, buf, size) && inside(m.to, buf, size) &&
	              inside(m.call_id, buf, size) && inside(m.cseq, buf, size) &&
	              inside(m.method, buf, size) && inside(m.uri, buf, size) &&
	              inside(m.event, buf, size),
	      "a piece lies outside the input");
	check(m.body_off + m.body_len <= size, "body past the end");
	for (uint32_t i = 0; i < m.n_via; i++) {
		check(inside(m.via[i], buf, size), "a Via lies outside the input");
		if (sip_via_parse(sip_via_first(m.via[i]), &via)) {
			check(inside(via.host, buf, size) && inside(via.params, buf, size),
			      "Via parts outside");
			if (sip_param_get(via.params, "oc", &v) == 2)
				check(inside(v, buf, size), "oc outside");
			uint8_t addr[16];
			sip_ip_parse(via.host, addr);
		}
	}
	sip_tag(m.from, &t);
	char tag[48];
	sip_make_tag(tag, "nsfz", &m);
	int n = sip_build_answer(out, sizeof(out), &m, &from, 503, "Service Unavailable", tag,
	                         "Retry-After: 2\r\n");
	if (n < 0) {
		check(size > sizeof(out) / 2, "a small message's answer does not fit");
		return 0;
	}
	check(sip_parse(out, (uint32_t)n, &a) == SIP_OK, "the answer does not parse");
	check(!a.is_request && a.status == 503, "the answer is not a 503");
	check(a.n_via == m.n_via && a.cseq_num == m.cseq_num, "the answer's Via/CSeq differ");
	check(sip_tag(a.to, &t), "the answer has no To tag");
	check(sip_str_eq(a.call_id, m.call_id) || a.call_id.len > 0, "Call-ID lost");

	memcpy(ins, buf, size);
	n = sip_via_insert(ins, (uint32_t)size, sizeof(ins), &m, ";oc;oc-algo=\"loss\"");
	if (n > 0) {
		check(sip_parse(ins, (uint32_t)n, &a) == SIP_OK,
		      "the message with oc does not parse");
		check(sip_via_parse(sip_via_first(a.via[0]), &via) &&
		              sip_param_get(via.params, "oc", &v) >= 1,
		      "the inserted oc is not found");
	}
	return 0;
}
