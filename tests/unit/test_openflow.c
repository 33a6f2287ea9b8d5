/* Unit tests of the OpenFlow 1.3 codec (src/fwd/of_wire.h):
 *   - round trips of every message we encode (tests/openflow/of_samples.h);
 *   - golden tests against Open vSwitch's own parser: each sample's bytes are
 *     tests/openflow/golden/enc-NAME.hex, and `ovs-ofctl ofp-print` must
 *     print exactly enc-NAME.txt for them (no decode error, nothing left
 *     over); skipped only where ovs-ofctl is not installed;
 *   - Wireshark's openflow_v4 dissector (tshark) decodes every sample
 *     without an expert error or warning (skipped without tshark);
 *   - messages Open vSwitch produced (golden/ovs-NAME.hex, captured from
 *     ovs-vswitchd 3.1 by tests/openflow/capture-golden),
 *     decoded with their fields checked;
 *   - every truncation and every bit flip of every golden message: a clean
 *     result, never a read past the buffer (run it in the ASan build);
 *   - the stream framer and the encoder's argument checks.
 * `test_openflow --write-golden DIR` writes the samples' enc-NAME.hex and
 * `--write-corpus DIR` their bytes (the fuzz corpus seeds). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fwd/of_wire.h"
#include "../openflow/of_samples.h"

#define GOLDEN_DIR SOURCE_DIR "/tests/openflow/golden"
#define BUF_MAX    (OF_MAX_MSG + 1)

static uint8_t enc1[BUF_MAX], enc2[BUF_MAX];

/* ---- Helpers -------------------------------------------------------------------- */

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

/* Reads a hex file (whitespace ignored) into an exact-size buffer. */
static uint8_t *read_hex(const char *path, size_t *len)
{
	char *s = read_text(path);
	uint8_t *b;
	size_t n = 0;
	int hi = -1;

	if (!s)
		return NULL;
	b = malloc(strlen(s) / 2 + 1);
	for (char *p = s; *p; p++) {
		int v;

		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			b[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	free(s);
	*len = n;
	return realloc(b, n ? n : 1);
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static ssize_t encode_sample(const struct of_sample *s, uint8_t *buf, size_t size)
{
	struct of_msg m;
	char err[OF_ERR_LEN] = "";
	ssize_t n;

	s->build(&m);
	n = of_encode(&m, buf, size, err, sizeof(err));
	if (n < 0)
		print_message("%s: encode: %s\n", s->name, err);
	return n;
}

/* Encodes a decoded message again: a flow-stats reply through its entries. */
static ssize_t reencode(const struct of_msg *m, uint8_t *buf, size_t size, char *err, size_t errlen)
{
	static struct of_flow_stats fs[OF_MAX_MSG / 56];
	struct of_msg copy = *m;

	if (m->hdr.type == OFPT_MULTIPART_REPLY) {
		size_t pos = 0, n = 0;
		int r;

		while ((r = of_flow_stats_next(&m->multipart, &pos, &fs[n], err, errlen)) == 1)
			n++;
		if (r < 0 || n != m->multipart.n_stats)
			return -EBADMSG;
		copy.multipart.stats = fs;
	}
	return of_encode(&copy, buf, size, err, errlen);
}

static bool have_ofctl(void)
{
	return system("ovs-ofctl --version >/dev/null 2>&1") == 0;
}

/* Runs ovs-ofctl ofp-print on the bytes; returns its output (stderr too). */
static char *ofp_print(const uint8_t *b, size_t n)
{
	char *hex = malloc(2 * n + 1), *cmd = malloc(2 * n + 64), *out = calloc(1, 65536);
	size_t got = 0;
	FILE *p;

	to_hex(b, n, hex);
	sprintf(cmd, "ovs-ofctl ofp-print %s 2>&1", hex);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (got < 65535) {
		size_t k = fread(out + got, 1, 65535 - got, p);

		if (k == 0)
			break;
		got += k;
	}
	pclose(p);
	free(hex);
	free(cmd);
	return out;
}

/* ---- Round trips ---------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	for (size_t i = 0; i < OF_N_SAMPLES; i++) {
		const struct of_sample *s = &of_samples[i];
		struct of_msg m;
		char err[OF_ERR_LEN] = "";
		ssize_t n1, n2;
		int r;

		n1 = encode_sample(s, enc1, sizeof(enc1));
		assert_true(n1 >= OF_HDR_LEN);
		s->build(&m);
		assert_int_equal(of_encode(&m, NULL, 0, NULL, 0), n1);
		assert_int_equal(of_frame_length(enc1, (size_t)n1, 0), n1);
		r = of_decode(enc1, (size_t)n1, &m, err, sizeof(err));
		if (r != 0)
			print_message("%s: decode: %s\n", s->name, err);
		assert_int_equal(r, 0);
		n2 = reencode(&m, enc2, sizeof(enc2), err, sizeof(err));
		if (n2 != n1 || memcmp(enc1, enc2, (size_t)n1) != 0)
			print_message("%s: second encoding differs (%zd, %s)\n", s->name, n2, err);
		assert_int_equal(n2, n1);
		assert_memory_equal(enc1, enc2, (size_t)n1);
	}
}

/* Spot checks of decoded fields of our own samples. */
static void test_decoded_fields(void **state)
{
	struct of_msg m;
	ssize_t n;
	struct of_flow_stats fs;
	size_t pos = 0;

	n = encode_sample(&of_samples[13], enc1, sizeof(enc1)); /* group_select */
	assert_int_equal(of_decode(enc1, (size_t)n, &m, NULL, 0), 0);
	assert_int_equal(m.group_mod.type, OFPGT_SELECT);
	assert_int_equal(m.group_mod.n_buckets, 3);
	assert_int_equal(m.group_mod.buckets[2].weight, 2);
	assert_int_equal(m.group_mod.buckets[2].actions.a[0].port, 3);

	n = encode_sample(&of_samples[9], enc1, sizeof(enc1)); /* flow_add_v6_group */
	assert_int_equal(of_decode(enc1, (size_t)n, &m, NULL, 0), 0);
	assert_int_equal(m.flow_mod.match.masked, OF_M_IPV6_DST);
	assert_int_equal(m.flow_mod.match.tp_dst, 80);
	assert_int_equal(m.flow_mod.instrs.i[0].actions.a[1].group_id, 7);
	assert_int_equal(m.flow_mod.instrs.i[1].actions.a[0].port, OFPP_CONTROLLER);

	n = encode_sample(&of_samples[21], enc1, sizeof(enc1)); /* flow_stats_reply */
	assert_int_equal(of_decode(enc1, (size_t)n, &m, NULL, 0), 0);
	assert_int_equal(m.multipart.n_stats, 2);
	assert_int_equal(of_flow_stats_next(&m.multipart, &pos, &fs, NULL, 0), 1);
	assert_true(fs.cookie == 0x4e53000000000001ull && fs.packet_count == 1000 &&
	            fs.byte_count == 60000);
	assert_int_equal(of_flow_stats_next(&m.multipart, &pos, &fs, NULL, 0), 1);
	assert_true(fs.packet_count == 7 && fs.priority == 0);
	assert_int_equal(of_flow_stats_next(&m.multipart, &pos, &fs, NULL, 0), 0);

	n = encode_sample(&of_samples[22], enc1, sizeof(enc1)); /* port_status */
	assert_int_equal(of_decode(enc1, (size_t)n, &m, NULL, 0), 0);
	assert_string_equal(m.port_status.desc.name, "node3");
	assert_int_equal(m.port_status.desc.port_no, 3);
}

/* ---- Golden: Open vSwitch parses what we encode --------------------------------- */

static void test_ovs_parses(void **state)
{
	const struct of_sample *s = *state;
	char path[512], *want, *got;
	uint8_t *gold;
	size_t glen;
	ssize_t n;

	n = encode_sample(s, enc1, sizeof(enc1));
	assert_true(n > 0);
	snprintf(path, sizeof(path), "%s/enc-%s.hex", GOLDEN_DIR, s->name);
	gold = read_hex(path, &glen);
	if (!gold)
		print_message("missing %s (test_openflow --write-golden)\n", path);
	assert_non_null(gold);
	if (glen != (size_t)n || memcmp(gold, enc1, glen) != 0)
		print_message("%s: encoding differs from %s\n", s->name, path);
	assert_int_equal(glen, n);
	assert_memory_equal(gold, enc1, glen);
	free(gold);
	if (!have_ofctl())
		skip();
	snprintf(path, sizeof(path), "%s/enc-%s.txt", GOLDEN_DIR, s->name);
	want = read_text(path);
	assert_non_null(want);
	got = ofp_print(enc1, (size_t)n);
	if (strcmp(got, want) != 0)
		print_message("%s: ovs-ofctl ofp-print printed:\n%s\nexpected:\n%s\n", s->name, got,
		              want);
	assert_null(strstr(got, "***"));
	assert_string_equal(got, want);
	free(want);
	free(got);
}

/* ---- Wireshark's openflow_v4 dissector parses what we encode --------------------- */

static void put32le(FILE *f, uint32_t v)
{
	uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

	fwrite(b, 1, 4, f);
}

/* Writes every sample as one TCP segment to port 6653 (one flow, consecutive
 * sequence numbers) into a pcap file. */
static void write_pcap(const char *path)
{
	FILE *f = fopen(path, "wb");
	uint32_t seq = 1;

	assert_non_null(f);
	put32le(f, 0xa1b2c3d4);
	put32le(f, 0x00040002); /* version 2.4 */
	put32le(f, 0);
	put32le(f, 0);
	put32le(f, 65535);
	put32le(f, 1); /* Ethernet */
	for (size_t i = 0; i < OF_N_SAMPLES; i++) {
		uint8_t pkt[14 + 20 + 20];
		ssize_t n = encode_sample(&of_samples[i], enc1, sizeof(enc1));
		size_t iplen = 40 + (size_t)n;

		assert_true(n > 0);
		memset(pkt, 0, sizeof(pkt));
		memcpy(pkt, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
		pkt[14] = 0x45;
		pkt[16] = (uint8_t)(iplen >> 8), pkt[17] = (uint8_t)iplen;
		pkt[22] = 64, pkt[23] = 6;
		memcpy(pkt + 26, "\x7f\0\0\x01\x7f\0\0\x01", 8);
		pkt[34] = 0xc0, pkt[35] = 0x00; /* sport 49152 */
		pkt[36] = OF_TCP_PORT >> 8, pkt[37] = OF_TCP_PORT & 0xff;
		pkt[38] = (uint8_t)(seq >> 24), pkt[39] = (uint8_t)(seq >> 16);
		pkt[40] = (uint8_t)(seq >> 8), pkt[41] = (uint8_t)seq;
		pkt[46] = 0x50, pkt[47] = 0x18; /* 20 bytes, PSH ACK */
		pkt[48] = 0xff, pkt[49] = 0xff;
		seq += (uint32_t)n;
		put32le(f, (uint32_t)i + 1);
		put32le(f, 0);
		put32le(f, (uint32_t)(sizeof(pkt) + (size_t)n));
		put32le(f, (uint32_t)(sizeof(pkt) + (size_t)n));
		fwrite(pkt, 1, sizeof(pkt), f);
		fwrite(enc1, 1, (size_t)n, f);
	}
	fclose(f);
}

static void test_tshark_parses(void **state)
{
	char dir[] = "/tmp/test_openflow.XXXXXX", path[64], cmd[256], line[1024];
	int frames = 0, of13 = 0, bad = 0;
	FILE *p;

	if (system("tshark --version >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/of.pcap", dir);
	write_pcap(path);
	/* One line per frame: its number, its protocols, Wireshark's expert
	 * messages (a malformed field is an expert error). */
	snprintf(cmd, sizeof(cmd),
	         "tshark -n -r %s -T fields -E separator='|' -e frame.number "
	         "-e frame.protocols -e _ws.expert.severity -e _ws.malformed 2>&1",
	         path);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof(line), p)) {
		if (line[0] < '1' || line[0] > '9') { /* "Running as user root..." */
			print_message("tshark: %s", line);
			continue;
		}
		frames++;
		if (strstr(line, "openflow_v4"))
			of13++;
		/* Severity 8388608 is "error" (malformed); 6291456 "warning". */
		if (strstr(line, "8388608") || strstr(line, "malformed") ||
		    strstr(line, "6291456")) {
			print_message("tshark: %s", line);
			bad++;
		}
	}
	pclose(p);
	if (getenv("TEST_OPENFLOW_KEEP_PCAP"))
		print_message("kept %s\n", path);
	else
		unlink(path), rmdir(dir);
	assert_int_equal(frames, (int)OF_N_SAMPLES);
	assert_int_equal(of13, (int)OF_N_SAMPLES);
	assert_int_equal(bad, 0);
}

/* ---- Golden: we parse what Open vSwitch produced -------------------------------- */

static uint8_t *load_ovs(const char *name, size_t *len, struct of_msg *m)
{
	char path[512], err[OF_ERR_LEN] = "";
	uint8_t *b;
	int r;

	snprintf(path, sizeof(path), "%s/ovs-%s.hex", GOLDEN_DIR, name);
	b = read_hex(path, len);
	if (!b)
		print_message("missing %s\n", path);
	assert_non_null(b);
	r = of_decode(b, *len, m, err, sizeof(err));
	if (r != 0)
		print_message("ovs-%s: %d %s\n", name, r, err);
	assert_int_equal(r, 0);
	return b;
}

static void test_ovs_switch_messages(void **state)
{
	struct of_msg m;
	struct of_flow_stats fs;
	size_t len, pos = 0;
	uint8_t *b;
	bool seen270 = false;

	b = load_ovs("hello", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_HELLO);
	assert_true(m.hello.has_bitmap && (m.hello.bitmap & (1u << OF_VERSION)));
	free(b);

	b = load_ovs("features_reply", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_FEATURES_REPLY);
	assert_true(m.features.datapath_id == 0x00000000000a0b0cull);
	assert_true(m.features.n_tables > 0);
	free(b);

	b = load_ovs("echo_request", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_ECHO_REQUEST);
	free(b);

	b = load_ovs("barrier_reply", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_BARRIER_REPLY);
	free(b);

	b = load_ovs("port_status", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_PORT_STATUS);
	assert_string_equal(m.port_status.desc.name, "patch-a");
	free(b);

	b = load_ovs("error", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_ERROR);
	assert_int_equal(m.error.type, OFPET_BAD_REQUEST);
	assert_true(m.error.data.len >= OF_HDR_LEN);
	free(b);

	b = load_ovs("packet_in", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_PACKET_IN);
	assert_true(m.packet_in.match.fields & OF_M_IN_PORT);
	assert_int_equal(m.packet_in.data.len, sizeof(of_sample_frame));
	assert_memory_equal(m.packet_in.data.p, of_sample_frame, sizeof(of_sample_frame));
	free(b);

	b = load_ovs("flow_removed", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_FLOW_REMOVED);
	assert_true(m.flow_removed.cookie == 0x4e53000000000005ull);
	assert_int_equal(m.flow_removed.reason, 1); /* hard timeout */
	free(b);

	b = load_ovs("flow_stats_reply", &len, &m);
	assert_int_equal(m.hdr.type, OFPT_MULTIPART_REPLY);
	assert_true(m.multipart.n_stats >= 2);
	while (of_flow_stats_next(&m.multipart, &pos, &fs, NULL, 0) == 1)
		if (fs.cookie == 0x4e53000000000001ull) {
			seen270 = true;
			assert_int_equal(fs.priority, 100);
			assert_int_equal(fs.match.tp_dst, 270);
		}
	assert_true(seen270);
	free(b);
}

/* ---- Malformed input ------------------------------------------------------------ */

static bool allowed_error(int r)
{
	return r == -EMSGSIZE || r == -EPROTO || r == -EOPNOTSUPP || r == -E2BIG || r == -EBADMSG;
}

/* Decodes b (len bytes, in an exact-size copy): a clean error with a reason,
 * or a message that encodes and decodes again. */
static void check_any(const uint8_t *b, size_t len, const char *what)
{
	uint8_t *copy = malloc(len ? len : 1);
	char err[OF_ERR_LEN] = "";
	struct of_msg m, m2;
	ssize_t n;
	int r;

	memcpy(copy, b, len);
	r = of_decode(copy, len, &m, err, sizeof(err));
	if (r < 0) {
		if (!allowed_error(r) || !err[0])
			print_message("%s: %d (%s)\n", what, r, err);
		assert_true(allowed_error(r));
		assert_true(err[0] != '\0');
	} else {
		n = reencode(&m, enc2, sizeof(enc2), err, sizeof(err));
		if (n < 0)
			print_message("%s: decoded but does not encode: %s\n", what, err);
		assert_true(n > 0);
		assert_int_equal(of_decode(enc2, (size_t)n, &m2, err, sizeof(err)), 0);
	}
	free(copy);
}

static void each_golden(void (*fn)(const uint8_t *, size_t, const char *))
{
	struct dirent **names;
	int n = scandir(GOLDEN_DIR, &names, NULL, alphasort), count = 0;

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *d = names[i]->d_name;
		size_t l = strlen(d);
		char path[512];

		if (l > 4 && strcmp(d + l - 4, ".hex") == 0) {
			uint8_t *b;
			size_t len;

			snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, d);
			b = read_hex(path, &len);
			assert_non_null(b);
			fn(b, len, d);
			free(b);
			count++;
		}
		free(names[i]);
	}
	free(names);
	assert_true(count >= (int)OF_N_SAMPLES);
}

static void truncations(const uint8_t *b, size_t len, const char *name)
{
	uint8_t *copy = malloc(len);

	for (size_t k = 0; k < len; k++) {
		struct of_msg m;
		uint8_t *t = malloc(k ? k : 1);

		/* As it is: the header's length no longer matches. */
		memcpy(t, b, k);
		assert_int_equal(of_decode(t, k, &m, NULL, 0), -EMSGSIZE);
		free(t);
		/* With the header's length fixed up: the inner lengths must catch it. */
		if (k >= OF_HDR_LEN) {
			memcpy(copy, b, k);
			copy[2] = (uint8_t)(k >> 8);
			copy[3] = (uint8_t)k;
			check_any(copy, k, name);
		}
	}
	free(copy);
}

static void bitflips(const uint8_t *b, size_t len, const char *name)
{
	uint8_t *copy = malloc(len);

	for (size_t i = 0; i < len * 8; i++) {
		memcpy(copy, b, len);
		copy[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (i / 8 == 2 || i / 8 == 3)
			continue; /* the length: covered by truncations */
		check_any(copy, len, name);
	}
	free(copy);
}

static void test_truncated(void **state)
{
	each_golden(truncations);
}

static void test_bitflips(void **state)
{
	each_golden(bitflips);
}

static void test_decode_errors(void **state)
{
	struct of_msg m, sentinel;
	char err[OF_ERR_LEN];
	ssize_t n;

	/* A FLOW_MOD of OpenFlow 1.0: -EPROTO, *m untouched but the header. */
	n = encode_sample(&of_samples[7], enc1, sizeof(enc1));
	enc1[0] = 0x01;
	assert_int_equal(of_decode(enc1, (size_t)n, &m, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version"));
	/* A HELLO may carry another version. */
	n = encode_sample(&of_samples[0], enc1, sizeof(enc1));
	enc1[0] = 0x06;
	assert_int_equal(of_decode(enc1, (size_t)n, &m, NULL, 0), 0);
	/* An OpenFlow 1.0 HELLO: header only. */
	{
		const uint8_t h10[8] = {1, 0, 0, 8, 0, 0, 0, 1};

		assert_int_equal(of_decode(h10, 8, &m, NULL, 0), 0);
		assert_false(m.hello.has_bitmap);
	}
	/* An unknown type: -EOPNOTSUPP with the header. */
	{
		const uint8_t t[8] = {4, 99, 0, 8, 0, 0, 0, 42};

		memset(&sentinel, 0x5a, sizeof(sentinel));
		m = sentinel;
		assert_int_equal(of_decode(t, 8, &m, err, sizeof(err)), -EOPNOTSUPP);
		assert_int_equal(m.hdr.type, 99);
		assert_int_equal(m.hdr.xid, 42);
	}
	/* A duplicate match field. */
	{
		/* FLOW_MOD, match {eth_type 0x0800, eth_type 0x0800}. */
		uint8_t f[64] = {4, OFPT_FLOW_MOD, 0, 64};

		f[48] = 0, f[49] = 1, f[50] = 0, f[51] = 16;
		memcpy(f + 52, "\x80\x00\x0a\x02\x08\x00\x80\x00\x0a\x02\x08\x00", 12);
		assert_int_equal(of_decode(f, 64, &m, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "twice"));
		/* The same with a match type 0 (OpenFlow 1.1's standard match). */
		f[49] = 0;
		assert_int_equal(of_decode(f, 64, &m, err, sizeof(err)), -EBADMSG);
		/* A missing prerequisite: ip_proto alone. */
		memcpy(f + 48, "\x00\x01\x00\x09\x80\x00\x14\x01\x11\x00\x00\x00", 12);
		memset(f + 60, 0, 4);
		f[3] = 64;
		assert_int_equal(of_decode(f, 64, &m, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "eth_type"));
	}
	/* More buckets than OF_MAX_BUCKETS. */
	{
		size_t len = 16 + 32 * (OF_MAX_BUCKETS + 1);
		uint8_t *g = calloc(1, len);

		g[0] = 4, g[1] = OFPT_GROUP_MOD, g[2] = (uint8_t)(len >> 8), g[3] = (uint8_t)len;
		g[11] = OFPGT_SELECT;
		for (size_t i = 0; i <= OF_MAX_BUCKETS; i++) {
			uint8_t *bk = g + 16 + 32 * i;

			bk[1] = 32;
			memcpy(bk + 16, "\x00\x00\x00\x10\x00\x00\x00\x01\xff\xff", 10);
		}
		assert_int_equal(of_decode(g, len, &m, err, sizeof(err)), -E2BIG);
		free(g);
	}
	assert_int_equal(of_decode(NULL, 8, &m, NULL, 0), -EINVAL);
}

/* ---- Encoder checks ------------------------------------------------------------- */

static void test_encode_errors(void **state)
{
	struct of_msg m;
	char err[OF_ERR_LEN];
	ssize_t n;

	/* UDP port without ip_proto. */
	of_msg_init(&m, OFPT_FLOW_MOD, 1);
	m.flow_mod.match.fields = OF_M_UDP_DST;
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "udp"));
	/* An IPv4 address under an IPv6 eth_type. */
	m.flow_mod.match.fields = OF_M_ETH_TYPE | OF_M_IPV4_DST;
	m.flow_mod.match.eth_type = 0x86dd;
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), NULL, 0), -EINVAL);
	/* A mask on a field that cannot have one. */
	m.flow_mod.match.fields = OF_M_IN_PORT;
	m.flow_mod.match.masked = OF_M_IN_PORT;
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), NULL, 0), -EINVAL);
	/* Too many actions. */
	of_msg_init(&m, OFPT_FLOW_MOD, 1);
	m.flow_mod.instrs.n = 1;
	m.flow_mod.instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	m.flow_mod.instrs.i[0].actions.n = OF_MAX_ACTIONS + 1;
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), NULL, 0), -E2BIG);
	/* An unknown action type. */
	m.flow_mod.instrs.i[0].actions.n = 1;
	m.flow_mod.instrs.i[0].actions.a[0].type = 11;
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), NULL, 0), -EINVAL);
	/* A buffer too small, by one. */
	of_sample_flow_add_udp270(&m);
	n = of_encode(&m, NULL, 0, NULL, 0);
	assert_true(n > 0);
	assert_int_equal(of_encode(&m, enc1, (size_t)n - 1, err, sizeof(err)), -ENOSPC);
	assert_int_equal(of_encode(&m, enc1, (size_t)n, NULL, 0), n);
	/* Past the 64 KiB cap: a PACKET_OUT with 65520 bytes of data. */
	of_msg_init(&m, OFPT_PACKET_OUT, 1);
	m.packet_out.data.p = enc2;
	m.packet_out.data.len = 65520;
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), NULL, 0), -EMSGSIZE);
	/* A type we do not encode. */
	of_msg_init(&m, OFPT_PORT_MOD, 1);
	assert_int_equal(of_encode(&m, enc1, sizeof(enc1), NULL, 0), -EINVAL);
}

/* ---- Framing -------------------------------------------------------------------- */

/* Feeds `stream` in chunks of `chunk` bytes; returns the messages taken. */
static int feed(struct of_rx *rx, const uint8_t *stream, size_t len, size_t chunk, long *lens)
{
	int count = 0;

	for (size_t off = 0; off < len;) {
		size_t room, k;
		uint8_t *dst = of_rx_space(rx, &room);
		const uint8_t *msg;
		long n;

		assert_true(room > 0);
		k = len - off < chunk ? len - off : chunk;
		k = k < room ? k : room;
		memcpy(dst, stream + off, k);
		of_rx_commit(rx, k);
		off += k;
		while ((n = of_rx_next(rx, &msg, NULL, 0)) > 0) {
			struct of_msg m;

			assert_int_equal(of_decode(msg, (size_t)n, &m, NULL, 0), 0);
			lens[count++] = n;
		}
		if (n < 0)
			return (int)n;
	}
	return count;
}

static void test_framer(void **state)
{
	static struct of_rx rx;
	static uint8_t stream[OF_N_SAMPLES * 512];
	static const size_t chunks[] = {1, 3, 7, 8, 64, 1500, sizeof(stream)};
	long lens[OF_N_SAMPLES], want[OF_N_SAMPLES];
	size_t len = 0;
	char err[OF_ERR_LEN];
	const uint8_t *msg;

	for (size_t i = 0; i < OF_N_SAMPLES; i++) {
		ssize_t n = encode_sample(&of_samples[i], stream + len, sizeof(stream) - len);

		assert_true(n > 0);
		want[i] = n;
		len += (size_t)n;
	}
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		of_rx_reset(&rx, 0);
		assert_int_equal(feed(&rx, stream, len, chunks[c], lens), (int)OF_N_SAMPLES);
		assert_memory_equal(lens, want, sizeof(want));
	}
	/* A length below the header's 8: an error, reported once more. */
	of_rx_reset(&rx, 0);
	{
		const uint8_t bad[8] = {4, 2, 0, 7, 0, 0, 0, 1};
		size_t room;

		memcpy(of_rx_space(&rx, &room), bad, 8);
		of_rx_commit(&rx, 8);
		assert_int_equal(of_rx_next(&rx, &msg, err, sizeof(err)), -EBADMSG);
		assert_non_null(strstr(err, "below"));
		assert_int_equal(of_frame_length(bad, 4, 0), -EBADMSG);
		assert_int_equal(of_frame_length(bad, 3, 0), 0);
	}
	/* Above the cap, known from the first 4 bytes. */
	of_rx_reset(&rx, 1024);
	{
		const uint8_t big[4] = {4, 13, 0x04, 0x01};
		size_t room;

		memcpy(of_rx_space(&rx, &room), big, 4);
		of_rx_commit(&rx, 4);
		assert_int_equal(of_rx_next(&rx, &msg, err, sizeof(err)), -EMSGSIZE);
		assert_non_null(strstr(err, "cap"));
	}
	/* The largest message, whole, after a partial one was compacted. */
	of_rx_reset(&rx, 0);
	{
		static uint8_t big[OF_MAX_MSG + 100];
		long got[2];
		struct of_msg m;

		of_msg_init(&m, OFPT_ECHO_REQUEST, 9);
		m.echo.p = enc2;
		m.echo.len = OF_MAX_MSG - OF_HDR_LEN;
		assert_int_equal(of_encode(&m, big, sizeof(big), NULL, 0), OF_MAX_MSG);
		of_msg_init(&m, OFPT_BARRIER_REQUEST, 10);
		assert_int_equal(of_encode(&m, big + OF_MAX_MSG, 100, NULL, 0), 8);
		assert_int_equal(feed(&rx, big, OF_MAX_MSG + 8, 4096, got), 2);
		assert_int_equal(got[0], OF_MAX_MSG);
		assert_int_equal(got[1], 8);
	}
}

/* ---- Writing the golden files and the corpus ------------------------------------ */

static int write_all(const char *dir, bool hex)
{
	for (size_t i = 0; i < OF_N_SAMPLES; i++) {
		char path[512], txt[2 * OF_MAX_MSG + 2];
		ssize_t n = encode_sample(&of_samples[i], enc1, sizeof(enc1));
		FILE *f;

		if (n < 0)
			return 1;
		snprintf(path, sizeof(path), hex ? "%s/enc-%s.hex" : "%s/%s", dir,
		         of_samples[i].name);
		f = fopen(path, "w");
		if (!f) {
			perror(path);
			return 1;
		}
		if (hex) {
			to_hex(enc1, (size_t)n, txt);
			fprintf(f, "%s\n", txt);
		} else {
			fwrite(enc1, 1, (size_t)n, f);
		}
		fclose(f);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct CMUnitTest tests[12 + OF_N_SAMPLES];
	size_t n = 0;
	static char names[OF_N_SAMPLES][64];

	if (argc == 3 && strcmp(argv[1], "--write-golden") == 0)
		return write_all(argv[2], true);
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_all(argv[2], false);

	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_round_trip);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_decoded_fields);
	for (size_t i = 0; i < OF_N_SAMPLES; i++) {
		snprintf(names[i], sizeof(names[i]), "ovs_parses_%s", of_samples[i].name);
		tests[n] = (struct CMUnitTest)cmocka_unit_test_prestate(test_ovs_parses,
		                                                        (void *)&of_samples[i]);
		tests[n++].name = names[i];
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_tshark_parses);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_ovs_switch_messages);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_truncated);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_bitflips);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_decode_errors);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_encode_errors);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_framer);
	return _cmocka_run_group_tests("openflow", tests, n, NULL, NULL);
}
