/* libFuzzer target for the OpenFlow 1.3 codec (src/fwd/of_wire.h).
 *
 * The input is a TCP byte stream: the framer (struct of_rx) splits it, fed
 * in chunks whose sizes come from the input's first byte, and each message
 * is decoded. What decodes must encode, decode again and encode to the same
 * bytes; a flow-stats reply's entries must all be readable. What fails must
 * fail with one of the documented errors and a reason. The whole input is
 * also decoded as one message. Any disagreement aborts.
 *
 * Seed corpus: tests/fuzz/corpus/openflow/ (every sample message we encode,
 * test_openflow --write-corpus, and what Open vSwitch sent, golden/ovs-*).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwd/of_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc1[OF_MAX_MSG + 64], enc2[OF_MAX_MSG + 64];
static struct of_flow_stats stats[OF_MAX_MSG / 56];
static struct of_rx rx;

static void check(bool ok, const char *what, const char *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_openflow: %s%s%s\n", what, err && err[0] ? ": " : "",
		        err ? err : "");
		abort();
	}
}

static ssize_t encode(const struct of_msg *m, uint8_t *buf, char *err)
{
	struct of_msg copy = *m;

	if (m->hdr.type == OFPT_MULTIPART_REPLY) {
		size_t pos = 0, n = 0;
		int r;

		while ((r = of_flow_stats_next(&m->multipart, &pos, &stats[n], err, OF_ERR_LEN)) ==
		       1)
			n++;
		check(r == 0 && n == m->multipart.n_stats, "flow stats entries unreadable", err);
		copy.multipart.stats = stats;
	}
	return of_encode(&copy, buf, OF_MAX_MSG + 64, err, OF_ERR_LEN);
}

static void one(const uint8_t *data, size_t size)
{
	struct of_msg m, m2;
	char err[OF_ERR_LEN] = "";
	ssize_t n1, n2;
	int r;

	r = of_decode(data, size, &m, err, sizeof(err));
	if (r < 0) {
		check(r == -EMSGSIZE || r == -EPROTO || r == -EOPNOTSUPP || r == -E2BIG ||
		              r == -EBADMSG,
		      "decode: unexpected error code", err);
		check(err[0] != '\0', "decode failed without a reason", NULL);
		return;
	}
	check(of_frame_length(data, size, 0) == (long)size, "frame length differs", NULL);
	n1 = encode(&m, enc1, err);
	check(n1 >= OF_HDR_LEN, "decoded message does not encode", err);
	r = of_decode(enc1, (size_t)n1, &m2, err, sizeof(err));
	check(r == 0, "re-encoded message does not decode", err);
	check(m2.hdr.type == m.hdr.type && m2.hdr.xid == m.hdr.xid, "header differs", NULL);
	n2 = encode(&m2, enc2, err);
	check(n2 == n1 && memcmp(enc1, enc2, (size_t)n1) == 0, "second encoding differs", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk = size > 0 ? (size_t)data[0] * 7 + 1 : 1;

	one(data, size);
	of_rx_reset(&rx, size > 1 && (data[1] & 1) ? 1024 : 0);
	for (size_t off = 0; off < size;) {
		size_t room, k;
		uint8_t *dst = of_rx_space(&rx, &room);
		const uint8_t *msg;
		char err[OF_ERR_LEN] = "";
		long n;

		check(room > 0, "framer has no room", NULL);
		k = size - off < chunk ? size - off : chunk;
		k = k < room ? k : room;
		memcpy(dst, data + off, k);
		of_rx_commit(&rx, k);
		off += k;
		while ((n = of_rx_next(&rx, &msg, err, sizeof(err))) > 0) {
			check(n >= OF_HDR_LEN && n <= OF_MAX_MSG, "framer length", NULL);
			one(msg, (size_t)n);
		}
		if (n < 0) {
			check((n == -EBADMSG || n == -EMSGSIZE) && err[0], "framer error", err);
			return 0;
		}
	}
	return 0;
}
