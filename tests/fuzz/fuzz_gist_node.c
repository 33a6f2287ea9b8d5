/* libFuzzer target for the GIST node's packet parsers (src/gist/gist_intercept.c):
 *
 *   - gist_ip_parse() on the input as an IP packet (what NFQUEUE hands the
 *     node): whatever it accepts lies inside the input, and when the payload
 *     is a Q-mode GIST message, gist_ip_set_hops() on a copy changes only the
 *     hop count and the UDP checksum, and a checksum that was right before
 *     (computed from scratch) is right after;
 *   - gist_quoted_query() on the input as the quote of an ICMP error (a
 *     possibly truncated Query): what it finds lies inside the input.
 *
 * Any disagreement aborts. Seeds: tests/fuzz/corpus/gist_node/. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gist/gist_node_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t copy[70000];

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_gist_node: %s\n", what);
		abort();
	}
}

static void ip(const uint8_t *data, size_t size)
{
	struct gist_ippkt p;
	struct gist_hdr h;
	int r;

	r = gist_ip_parse(data, size, &p);
	check(r == 0 || r == -EMSGSIZE || r == -EBADMSG || r == -EPROTONOSUPPORT,
	      "gist_ip_parse: undocumented error");
	if (r < 0)
		return;
	check(p.family == AF_INET || p.family == AF_INET6, "family");
	check(p.udp_off + 8 == p.payload_off, "UDP header");
	check(p.payload_off <= size && p.payload_len <= size - p.payload_off, "payload bounds");
	if (size > sizeof(copy))
		return;
	if (gist_hdr_decode(data + p.payload_off, p.payload_len, GIST_TRANSPORT_UDP, &h, NULL) < 0)
		return;
	bool csum_ok = p.csum == gist_ip_udp_csum(data, &p);
	memcpy(copy, data, size);
	uint8_t hops = (uint8_t)(h.hops - 1);
	r = gist_ip_set_hops(copy, size, &p, hops);
	check(r == 0, "gist_ip_set_hops refused a packet that parsed");
	/* Only the hop count and the checksum changed. */
	size_t diff = 0;
	for (size_t i = 0; i < size; i++)
		if (copy[i] != data[i]) {
			bool allowed = i == p.udp_off + 6 || i == p.udp_off + 7 ||
			               i == p.payload_off + 1 || i == p.payload_off + 5;
			check(allowed, "gist_ip_set_hops changed another byte");
			diff++;
		}
	struct gist_ippkt q;
	check(gist_ip_parse(copy, size, &q) == 0, "the patched packet does not parse");
	struct gist_hdr h2;
	check(gist_hdr_decode(copy + q.payload_off, q.payload_len, GIST_TRANSPORT_UDP, &h2, NULL) >=
	                      0 &&
	              h2.hops == hops,
	      "hop count not written");
	if (csum_ok && !(p.family == AF_INET && p.csum == 0))
		check(q.csum == gist_ip_udp_csum(copy, &q), "checksum wrong after the patch");
	(void)diff;
}

static void quoted(const uint8_t *data, size_t size)
{
	struct gist_hdr h;
	struct gist_mri mri;
	uint8_t sid[GIST_SID_LEN];
	struct gist_bytes qc = {0};
	uint32_t found;

	if (gist_quoted_query(data, size, &h, &mri, sid, &qc, &found) < 0)
		return;
	if (found & GIST_BIT(GIST_OBJ_QCOOKIE))
		check(qc.p >= data && qc.len <= size && (size_t)(qc.p - data) <= size - qc.len,
		      "Query-Cookie outside the input");
	if (found & GIST_BIT(GIST_OBJ_MRI)) {
		uint8_t b[GIST_MRI_MAX_LEN];
		check(gist_mri_encode(&mri, b, sizeof(b)) > 0, "quoted MRI does not encode");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ip(data, size);
	quoted(data, size);
	return 0;
}
