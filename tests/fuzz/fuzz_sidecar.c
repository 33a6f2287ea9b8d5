/* libFuzzer target for the sidecar group channel's codec
 * (src/daemon/sidecar_wire.h).
 *
 * The input is one datagram. It is decoded without checking the MAC (so
 * that the fuzzer reaches the body parsers) and with a key (where it must
 * fail on the MAC unless it is one we made). What decodes must encode under
 * the key, decode again with the key, and give the same fields; what fails
 * must fail with one of the documented errors and a reason. Any
 * disagreement aborts.
 *
 * Seed corpus: tests/fuzz/corpus/sidecar/, one datagram of each type made
 * with the fuzzer's key (a REQUEST with and without a destination).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/sidecar_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[SG_KEY_LEN] = {0x4e, 0x53, 0x47};
static uint8_t enc[SG_MAX_MSG];

static void check(bool ok, const char *what, const char *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_sidecar: %s%s%s\n", what, err && err[0] ? ": " : "",
		        err ? err : "");
		abort();
	}
}

static bool documented(int r)
{
	return r == -EMSGSIZE || r == -EPROTO || r == -EBADMSG || r == -EACCES;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_msg m, again;
	char err[256] = "";
	int r = sg_decode(data, size, NULL, &m, err, sizeof(err));
	if (r < 0) {
		check(documented(r) && err[0], "undocumented error or no reason", err);
		return 0;
	}
	check(sg_name_ok(m.group) && sg_name_ok(m.sender), "a bad name decoded", NULL);
	check(m.type != SG_REQUEST || (m.ncm >= data && m.ncm + m.ncm_len <= data + size),
	      "NCM outside the input", NULL);
	/* The fuzzer's bytes do not carry our key's MAC (except by a miracle). */
	r = sg_decode(data, size, key, &again, err, sizeof(err));
	check(r == 0 || r == -EACCES, "the MAC check changed the outcome", err);
	int n = sg_encode(&m, key, enc, sizeof(enc), err, sizeof(err));
	check(n > 0, "a decoded message does not encode", err);
	check((size_t)n == size, "re-encoding changed the length", NULL);
	check(memcmp(enc, data, (size_t)n - SG_MAC_LEN) == 0, "re-encoding changed the bytes",
	      NULL);
	r = sg_decode(enc, (size_t)n, key, &again, err, sizeof(err));
	check(r == 0, "our own encoding does not decode", err);
	check(again.type == m.type && again.flags == m.flags && again.seq == m.seq &&
	              again.time_ms == m.time_ms && again.version == m.version &&
	              again.id == m.id && again.entry_version == m.entry_version &&
	              again.expires_ms == m.expires_ms && again.status == m.status &&
	              again.ncm_len == m.ncm_len && strcmp(again.reason, m.reason) == 0 &&
	              strcmp(again.group, m.group) == 0 && strcmp(again.sender, m.sender) == 0,
	      "a round trip changed a field", NULL);
	return 0;
}
