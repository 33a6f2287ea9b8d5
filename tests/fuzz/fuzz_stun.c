/* libFuzzer target for modules/stun.h, the Media Relay's STUN/TURN codec
 * (compiled natively, crypto/1 from OpenSSL as in the unit tests).
 *
 * The input is a datagram (and, for framing, the start of a stream). What
 * parses must have each attribute inside the input; the addresses, the
 * ERROR-CODE and the integrity and fingerprint checks run on it; its
 * attributes copied into a new message with MESSAGE-INTEGRITY(-SHA256) and
 * FINGERPRINT must parse again with the same attributes and pass both
 * checks. ChannelData is parsed and framed again. Any disagreement aborts,
 * so that the fuzzer reports it.
 *
 * Seed corpus: tests/fuzz/corpus/stun/ (the RFC 5769 vectors, TURN
 * requests as coturn's clients send them, ChannelData). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_stun: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[70000], out2[70000];
	if (size > 65535)
		return 0;
	uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan sees overreads */
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	uint32_t len = (uint32_t)size;

	int32_t fl = stun_frame_len(buf, len, true);
	int32_t fd = stun_frame_len(buf, len, false);
	check(fl >= -1 && fd >= -1 && (fl <= 0) == (fd <= 0), "frame lengths disagree");

	uint16_t chan, dlen;
	const uint8_t *d;
	if (stun_cd_parse(buf, len, &chan, &d, &dlen) == 0) {
		check(d + dlen <= buf + len, "ChannelData past the end");
		check(chan >= STUN_CHAN_MIN && chan <= STUN_CHAN_MAX, "bad channel");
		memcpy(out + 4, d, dlen);
		int32_t n = stun_cd_build(out, sizeof(out), chan, dlen, true);
		check(n >= 0 && stun_frame_len(out, (uint32_t)n, true) == n,
		      "ChannelData reframed");
	}

	struct stun_msg m;
	if (stun_parse(buf, len, &m) != STUN_OK) {
		free(buf);
		return 0;
	}
	check(fl == (int32_t)len, "a message that parses frames to another length");
	check(m.attrs_end <= len && (!m.mi_off || m.mi_off + 24 <= len) &&
	              (!m.fp_off || m.fp_off + 8 == len),
	      "offsets outside");
	uint8_t before[20];
	memcpy(before, buf, 20);
	stun_check_integrity(&m, "key", 3);
	stun_check_integrity_sha256(&m, "key", 3);
	check(memcmp(before, buf, 20) == 0, "the integrity check changed the header");
	stun_check_fingerprint(&m);
	stun_get_error(&m);

	struct stun_builder b;
	struct stun_attr a;
	struct ns_sockaddr sa;
	uint32_t pos = 0, nattrs = 0;
	stun_begin(&b, out, sizeof(out), m.method, m.cls, m.tid);
	while (stun_next(&m, &pos, &a)) {
		check(a.val >= buf + 20 && a.val + a.len <= buf + len, "attribute outside");
		stun_addr_decode(&a, m.tid, true, &sa);
		if (a.type != STUN_A_MESSAGE_INTEGRITY &&
		    a.type != STUN_A_MESSAGE_INTEGRITY_SHA256 && a.type != STUN_A_FINGERPRINT) {
			stun_put(&b, a.type, a.val, a.len);
			nattrs++;
		}
	}
	stun_put_integrity(&b, "key", 3);
	stun_put_integrity_sha256(&b, "key", 3);
	stun_put_fingerprint(&b);
	int32_t n = stun_end(&b);
	if (n < 0) {
		check(nattrs + 3 > STUN_MAX_ATTRS || len > 65535 - 80, "a rebuild did not fit");
		free(buf);
		return 0;
	}
	memcpy(out2, out, (size_t)n);
	struct stun_msg m2;
	if (nattrs + 3 > STUN_MAX_ATTRS) {
		check(stun_parse(out, (uint32_t)n, &m2) == STUN_E_ATTR,
		      "too many attributes parse");
		free(buf);
		return 0;
	}
	check(stun_parse(out, (uint32_t)n, &m2) == STUN_OK, "the rebuilt message does not parse");
	check(m2.method == m.method && m2.cls == m.cls, "type changed");
	check(stun_check_integrity(&m2, "key", 3), "rebuilt MESSAGE-INTEGRITY fails");
	check(stun_check_integrity_sha256(&m2, "key", 3), "rebuilt MESSAGE-INTEGRITY-SHA256 fails");
	check(stun_check_fingerprint(&m2) && m2.fp_off, "rebuilt FINGERPRINT fails");
	check(memcmp(out, out2, (size_t)n) == 0, "checks changed the message");
	/* the same attributes in the same order */
	uint32_t p1 = 0, p2 = 0;
	struct stun_attr a2;
	while (stun_next(&m, &p1, &a)) {
		if (a.type == STUN_A_MESSAGE_INTEGRITY ||
		    a.type == STUN_A_MESSAGE_INTEGRITY_SHA256 || a.type == STUN_A_FINGERPRINT)
			continue;
		check(stun_next(&m2, &p2, &a2), "an attribute went missing");
		check(a2.type == a.type && a2.len == a.len && memcmp(a2.val, a.val, a.len) == 0,
		      "an attribute changed");
	}
	check(!stun_next(&m2, &p2, &a2), "an attribute appeared");
	free(buf);
	return 0;
}
