/* Unit tests of the NetServ NSLP codec (src/nslp/nslp.h): golden vectors
 * (tests/nslp/golden/: NAME.ncm and the binary NAME.hex it encodes to),
 * round trips NCM -> binary -> NCM that keep every header, the canonical form
 * and an Ed25519 signature, TRIGGER wrapping, response stacks, and malformed
 * input (every truncation, bad lengths, flags, objects, text).
 *
 * NSLP_GOLDEN_UPDATE=1 rewrites the .hex files from the encoder (review the
 * diff before committing: the files pin the wire format). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nslp/nslp.h"

#define GOLDEN SOURCE_DIR "/tests/nslp/golden/"

/* ---- Helpers --------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[n] = '\0';
	*ret_len = n;
	return buf;
}

static struct ncm_msg *load_ncm(const char *name)
{
	char path[512];
	size_t len;
	snprintf(path, sizeof(path), GOLDEN "%s.ncm", name);
	char *text = slurp(path, &len);
	assert_non_null(text);
	struct ncm_msg *m = NULL;
	char err[NCM_ERR_LEN] = "";
	int r = ncm_parse(text, len, &m, err, sizeof(err));
	if (r < 0)
		print_message("%s: %s\n", path, err);
	assert_int_equal(r, 0);
	free(text);
	return m;
}

/* Reads hex (blanks and #-comments ignored). */
static uint8_t *load_hex(const char *name, size_t *ret_len)
{
	char path[512];
	size_t len, n = 0;
	snprintf(path, sizeof(path), GOLDEN "%s.hex", name);
	char *text = slurp(path, &len);
	if (!text)
		return NULL;
	uint8_t *out = malloc(len / 2 + 1);
	int hi = -1;
	for (char *p = text; *p; p++) {
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			if (!*p)
				break;
			continue;
		}
		int v = (*p >= '0' && *p <= '9')   ? *p - '0'
		        : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
		                                   : -1;
		if (v < 0)
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	free(text);
	*ret_len = n;
	return out;
}

static void write_hex(const char *name, const uint8_t *b, size_t len, const char *comment)
{
	char path[512];
	snprintf(path, sizeof(path), GOLDEN "%s.hex", name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
	        "# %s\n# NetServ NSLP, %zu bytes. Written by test_nslp with "
	        "NSLP_GOLDEN_UPDATE=1.\n",
	        comment, len);
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02x%s", b[i], (i % 16 == 15 || i + 1 == len) ? "\n" : " ");
	fclose(f);
}

/* Compares bytes against the golden file (or writes it). */
static void golden_bytes(const char *name, const uint8_t *b, size_t len, const char *comment)
{
	if (getenv("NSLP_GOLDEN_UPDATE")) {
		write_hex(name, b, len, comment);
		return;
	}
	size_t glen;
	uint8_t *g = load_hex(name, &glen);
	if (!g)
		print_message("no golden file %s.hex (run with NSLP_GOLDEN_UPDATE=1)\n", name);
	assert_non_null(g);
	if (glen != len || memcmp(g, b, len) != 0) {
		for (size_t i = 0; i < len && i < glen; i++)
			if (g[i] != b[i]) {
				print_message("%s: first difference at byte %zu\n", name, i);
				break;
			}
	}
	assert_int_equal(glen, len);
	assert_memory_equal(g, b, len);
	free(g);
}

static char *text_of(const struct ncm_msg *m, size_t *ret_len)
{
	char *t = NULL;
	size_t len;
	assert_int_equal(ncm_serialize(m, &t, &len), 0);
	if (ret_len)
		*ret_len = len;
	return t;
}

static char *canon_of(const struct ncm_msg *m)
{
	char *t = NULL;
	size_t len;
	assert_int_equal(ncm_canonical(m, &t, &len), 0);
	return t;
}

static uint8_t *encode_ok(const struct nslp_msg *m, size_t *ret_len)
{
	uint8_t *b = NULL;
	char err[NSLP_ERR_LEN] = "";
	int r = nslp_encode(m, &b, ret_len, err, sizeof(err));
	if (r < 0)
		print_message("encode: %d %s\n", r, err);
	assert_int_equal(r, 0);
	assert_int_equal(*ret_len % 4, 0);
	return b;
}

static struct nslp_msg *decode_ok(const uint8_t *b, size_t len)
{
	struct nslp_msg *m = NULL;
	char err[NSLP_ERR_LEN] = "";
	int r = nslp_decode(b, len, &m, err, sizeof(err));
	if (r < 0)
		print_message("decode: %d %s\n", r, err);
	assert_int_equal(r, 0);
	return m;
}

static int decode_err(const uint8_t *b, size_t len)
{
	struct nslp_msg *m = NULL;
	char err[NSLP_ERR_LEN] = "";
	int r = nslp_decode(b, len, &m, err, sizeof(err));
	assert_null(m);
	if (r < 0)
		assert_true(err[0] != '\0');
	return r;
}

/* NCM -> binary -> NCM: the text, the canonical form and the re-encoding
 * are all the same. Returns the binary. */
static uint8_t *request_round_trip(const struct ncm_msg *ncm, size_t *ret_len)
{
	struct nslp_msg *m = NULL, *back;
	struct ncm_msg *again = NULL;
	char err[NSLP_ERR_LEN] = "";
	assert_int_equal(nslp_from_ncm(ncm, &m, err, sizeof(err)), 0);
	uint8_t *b = encode_ok(m, ret_len);
	back = decode_ok(b, *ret_len);
	assert_int_equal(back->type, m->type);
	assert_int_equal(nslp_to_ncm(back, &again, err, sizeof(err)), 0);
	char *t1 = text_of(ncm, NULL), *t2 = text_of(again, NULL);
	assert_string_equal(t1, t2);
	char *c1 = canon_of(m->req), *c2 = canon_of(back->req);
	assert_string_equal(c1, c2);
	size_t len2;
	uint8_t *b2 = encode_ok(back, &len2);
	assert_int_equal(len2, *ret_len);
	assert_memory_equal(b, b2, len2);
	free(b2);
	free(t1);
	free(t2);
	free(c1);
	free(c2);
	ncm_free(again);
	nslp_msg_free(back);
	nslp_msg_free(m);
	return b;
}

/* Finds the first object of `type` at the message level; returns its offset. */
static size_t find_obj(const uint8_t *b, size_t len, unsigned type)
{
	for (size_t pos = NSLP_HDR_LEN; pos + 4 <= len;) {
		unsigned t = (unsigned)(b[pos] & 0x0f) << 8 | b[pos + 1];
		size_t l = (size_t)b[pos + 2] << 8 | b[pos + 3];
		if (t == type)
			return pos;
		pos += 4 + ((l + 3) & ~(size_t)3);
	}
	return 0;
}

/* ---- Golden vectors --------------------------------------------------------------- */

static void golden_request(const char *name)
{
	struct ncm_msg *ncm = load_ncm(name);
	size_t len;
	uint8_t *b = request_round_trip(ncm, &len);
	char comment[256];
	snprintf(comment, sizeof(comment), "%s.ncm", name);
	golden_bytes(name, b, len, comment);
	/* The golden bytes decode to the .ncm text. */
	size_t glen;
	uint8_t *g = load_hex(name, &glen);
	struct nslp_msg *m = decode_ok(g, glen);
	struct ncm_msg *back = NULL;
	assert_int_equal(nslp_to_ncm(m, &back, NULL, 0), 0);
	char *t1 = text_of(ncm, NULL), *t2 = text_of(back, NULL);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	ncm_free(back);
	nslp_msg_free(m);
	free(g);
	free(b);
	ncm_free(ncm);
}

static void test_golden_setup_paper(void **state)
{
	golden_request("setup_paper");
}

static void test_golden_setup_full(void **state)
{
	golden_request("setup_full");
}

static void test_golden_setup_noncanonical(void **state)
{
	golden_request("setup_noncanonical");
}

static void test_golden_remove(void **state)
{
	golden_request("remove");
}

static void test_golden_probe(void **state)
{
	golden_request("probe");
}

static void test_golden_trigger(void **state)
{
	golden_request("trigger");
}

/* The smallest message, decoded by hand: PROBE * with one typed header. */
static void test_golden_by_hand(void **state)
{
	static const uint8_t want[] = {
	        0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, /* v1 PROBE, 24 bytes */
	        0x00, 0x01, 0x00, 0x01, '*',  0,    0,    0,    /* TARGET "*" + pad */
	        0x01, 0x07, 0x00, 0x04, 'n',  'o',  'd',  'e',  /* probe: "node" */
	};
	struct ncm_msg *ncm = ncm_request_new(NCM_METHOD_PROBE, "*");
	assert_int_equal(ncm_add(ncm, "probe", "node"), 0);
	size_t len;
	uint8_t *b = request_round_trip(ncm, &len);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(b, want, len);
	free(b);
	ncm_free(ncm);
}

/* Typed objects are used for canonical values and generic HEADERs otherwise. */
static void test_typed_or_generic(void **state)
{
	struct ncm_msg *ncm = load_ncm("setup_noncanonical");
	size_t len;
	uint8_t *b = request_round_trip(ncm, &len);
	/* ttl:0600 and the upper-case hash are not canonical: no typed object. */
	assert_int_equal(find_obj(b, len, 0x103), 0);
	assert_int_equal(find_obj(b, len, 0x102), 0);
	assert_int_equal(find_obj(b, len, 0x109), 0);
	assert_true(find_obj(b, len, NSLP_OBJ_HEADER) > 0);
	free(b);
	ncm_free(ncm);

	ncm = load_ncm("setup_full");
	b = request_round_trip(ncm, &len);
	size_t at = find_obj(b, len, 0x102); /* module-hash: 36 bytes, alg 1 */
	assert_true(at > 0);
	assert_int_equal(b[at + 3], 36);
	assert_int_equal(b[at + 4], 1);
	at = find_obj(b, len, 0x103); /* ttl 600 */
	assert_true(at > 0);
	assert_int_equal(b[at + 3], 4);
	assert_int_equal(b[at + 6] << 8 | b[at + 7], 600);
	at = find_obj(b, len, 0x109); /* filter-port 5000-5099 */
	assert_int_equal(b[at + 4] << 8 | b[at + 5], 5000);
	assert_int_equal(b[at + 6] << 8 | b[at + 7], 5099);
	free(b);
	ncm_free(ncm);
}

/* ---- Signatures survive ------------------------------------------------------------ */

static void test_signature_survives(void **state)
{
	assert_true(sodium_init() >= 0);
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
	crypto_sign_keypair(pk, sk);
	struct ncm_msg *ncm = load_ncm("setup_full");
	ncm_del(ncm, "signature");
	/* Odd spellings that the canonical form keeps as they are. */
	assert_int_equal(ncm_set(ncm, "ttl", "0600"), 0);
	assert_int_equal(ncm_add(ncm, "x-empty", ""), 0);
	char *canon = canon_of(ncm);
	unsigned char sig[crypto_sign_BYTES];
	crypto_sign_detached(sig, NULL, (const unsigned char *)canon, strlen(canon), sk);
	char b64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	sodium_bin2base64(b64, sizeof(b64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	assert_int_equal(ncm_add(ncm, "signature", b64), 0);

	struct nslp_msg *m = NULL;
	assert_int_equal(nslp_from_ncm(ncm, &m, NULL, 0), 0);
	size_t len;
	uint8_t *b = encode_ok(m, &len);
	struct nslp_msg *back = decode_ok(b, len);
	char *canon2 = canon_of(back->req);
	assert_string_equal(canon, canon2);
	const char *s = ncm_get(back->req, "signature");
	assert_non_null(s);
	unsigned char sig2[crypto_sign_BYTES];
	size_t sl;
	assert_int_equal(sodium_base642bin(sig2, sizeof(sig2), s, strlen(s), NULL, &sl, NULL,
	                                   sodium_base64_VARIANT_ORIGINAL),
	                 0);
	assert_int_equal(crypto_sign_verify_detached(sig2, (const unsigned char *)canon2,
	                                             strlen(canon2), pk),
	                 0);
	/* A changed byte on the wire breaks it. */
	size_t at = find_obj(b, len, 0x101); /* url */
	b[at + 8] ^= 1;
	struct nslp_msg *bad = decode_ok(b, len);
	char *canon3 = canon_of(bad->req);
	assert_int_not_equal(crypto_sign_verify_detached(sig2, (const unsigned char *)canon3,
	                                                 strlen(canon3), pk),
	                     0);
	free(canon);
	free(canon2);
	free(canon3);
	free(b);
	nslp_msg_free(m);
	nslp_msg_free(back);
	nslp_msg_free(bad);
	ncm_free(ncm);
}

/* ---- TRIGGER -------------------------------------------------------------------------- */

static void test_trigger_wraps(void **state)
{
	struct ncm_msg *t = load_ncm("trigger");
	struct nslp_msg *m = NULL;
	assert_int_equal(nslp_from_ncm(t, &m, NULL, 0), 0);
	assert_int_equal(m->type, NSLP_TRIGGER);
	assert_int_equal(m->req->method, NCM_METHOD_SETUP);
	assert_null(ncm_get(m->req, "trigger"));
	/* The wrapped request is what the publisher would have signed as a SETUP. */
	struct ncm_msg *s = ncm_request_new(NCM_METHOD_SETUP, "NetServ.apps.Counter_1.0");
	ncm_add(s, "user", "janedoe");
	ncm_add(s, "url", "http://10.1.0.1:8000/counter.wasm");
	ncm_add(s, "ttl", "60");
	char *c1 = canon_of(s), *c2 = canon_of(m->req);
	assert_string_equal(c1, c2);
	free(c1);
	free(c2);
	/* Errors: no or a bad trigger header. */
	struct nslp_msg *x = NULL;
	ncm_set(t, "trigger", "status");
	assert_int_equal(nslp_from_ncm(t, &x, NULL, 0), -EINVAL);
	ncm_del(t, "trigger");
	assert_int_equal(nslp_from_ncm(t, &x, NULL, 0), -EINVAL);
	/* A response or STATUS is not a signaling request. */
	struct ncm_msg *st = ncm_request_new(NCM_METHOD_STATUS, "node");
	assert_int_equal(nslp_from_ncm(st, &x, NULL, 0), -EINVAL);
	struct ncm_msg *resp = ncm_response_new(200, NULL);
	assert_int_equal(nslp_from_ncm(resp, &x, NULL, 0), -EINVAL);
	assert_null(x);
	ncm_free(st);
	ncm_free(resp);
	ncm_free(s);
	ncm_free(t);
	nslp_msg_free(m);
}

/* ---- Responses -------------------------------------------------------------------------- */

static void make_entry(struct nslp_entry *e, const char *node, const char *addr, int code,
                       const char *state, bool last)
{
	memset(e, 0, sizeof(*e));
	e->node_id = strdup(node);
	if (strchr(addr, ':')) {
		e->family = AF_INET6;
		inet_pton(AF_INET6, addr, e->addr);
	} else {
		e->family = AF_INET;
		inet_pton(AF_INET, addr, e->addr);
	}
	e->method = NSLP_PROBE;
	e->target = strdup("*");
	e->probed = strdup("node,modules");
	e->elapsed_ms = 17;
	e->last_node = last ? strdup("icmp port unreachable") : NULL;
	e->answer = ncm_response_new(code, code == 200 ? NULL : "module refused");
	ncm_add(e->answer, "node", node);
	ncm_add(e->answer, "node-version", "netservd/0.1.0");
	ncm_add(e->answer, "modules", "1");
	ncm_add(e->answer, "module", "NetServ.apps.Counter_1.0 user=janedoe state=active ttl=5");
	ncm_add(e->answer, "state", state);
	ncm_add(e->answer, "x-other", "value: with colon");
}

static struct nslp_msg *sample_response(void)
{
	struct nslp_msg *r = nslp_response_new(NSLP_PROBE, 200, NULL);
	struct nslp_entry e;
	make_entry(&e, "router-a", "10.1.0.2", 200, "active", false);
	assert_int_equal(nslp_response_add(r, &e), 0);
	nslp_entry_done(&e);
	make_entry(&e, "router-c", "fd00:3::2", 200, "active", true);
	ncm_set_body(e.answer, "{\"a\":1}\n\0x", 10);
	assert_int_equal(nslp_response_add(r, &e), 0);
	nslp_entry_done(&e);
	return r;
}

static void assert_entries_equal(const struct nslp_entry *a, const struct nslp_entry *b)
{
	assert_string_equal(a->node_id, b->node_id);
	assert_int_equal(a->family, b->family);
	assert_memory_equal(a->addr, b->addr, 16);
	assert_int_equal(a->method, b->method);
	assert_string_equal(a->target, b->target);
	assert_string_equal(a->probed, b->probed);
	assert_int_equal(a->elapsed_ms, b->elapsed_ms);
	if (a->last_node || b->last_node)
		assert_string_equal(a->last_node, b->last_node);
	char *t1 = text_of(a->answer, NULL), *t2 = text_of(b->answer, NULL);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
}

static void test_response_round_trip(void **state)
{
	struct nslp_msg *r = sample_response();
	size_t len;
	uint8_t *b = encode_ok(r, &len);
	golden_bytes("response_probe", b, len, "a PROBE response: router-a, then router-c (last)");
	struct nslp_msg *back = decode_ok(b, len);
	assert_int_equal(back->type, NSLP_RESPONSE);
	assert_int_equal(back->answers, NSLP_PROBE);
	assert_int_equal(back->code, 200);
	assert_string_equal(back->reason, "OK");
	assert_int_equal(back->n_entries, 2);
	for (size_t i = 0; i < 2; i++)
		assert_entries_equal(&r->entries[i], &back->entries[i]);
	assert_int_equal(back->entries[1].answer->body_len, 10);
	assert_memory_equal(back->entries[1].answer->body, "{\"a\":1}\n\0x", 10);
	free(b);
	nslp_msg_free(back);
	nslp_msg_free(r);
}

static void test_response_summarize(void **state)
{
	struct nslp_msg *r = sample_response();
	struct nslp_entry e;
	make_entry(&e, "router-d", "10.4.0.2", 422, "failed", false);
	ncm_add(e.answer, "reason", "module-hash mismatch");
	assert_int_equal(nslp_response_add(r, &e), 0);
	nslp_entry_done(&e);
	assert_int_equal(nslp_response_summarize(r), 0);
	assert_int_equal(r->code, 422);
	assert_string_equal(r->reason, "router-d: module-hash mismatch");
	/* It survives the wire, with its own reason. */
	size_t len;
	uint8_t *b = encode_ok(r, &len);
	struct nslp_msg *back = decode_ok(b, len);
	assert_int_equal(back->code, 422);
	assert_string_equal(back->reason, "router-d: module-hash mismatch");
	assert_string_equal(back->entries[2].answer->reason, "module refused");
	free(b);
	nslp_msg_free(back);
	nslp_msg_free(r);
	/* An empty stack keeps its status (e.g. "no NetServ node"). */
	r = nslp_response_new(NSLP_SETUP, 504, "no answer");
	assert_int_equal(nslp_response_summarize(r), 0);
	assert_int_equal(r->code, 504);
	nslp_msg_free(r);
	assert_null(nslp_response_new(NSLP_RESPONSE, 200, NULL));
	assert_null(nslp_response_new(NSLP_SETUP, 600, NULL));
}

/* ---- Malformed input ---------------------------------------------------------------------- */

static void all_truncations(const uint8_t *b, size_t len)
{
	for (size_t n = 0; n < len; n++) {
		int r = decode_err(b, n);
		assert_true(r == -EMSGSIZE || r == -EBADMSG);
	}
	/* The length field says less than there is: never a success beyond 3 bytes. */
	uint8_t *c = malloc(len + 8);
	memcpy(c, b, len);
	memset(c + len, 0, 8);
	assert_int_equal(decode_err(c, len + 4), -EBADMSG);
	c[len] = 1;
	assert_int_equal(decode_err(c, len + 1), -EBADMSG);
	/* Up to 3 bytes of zero padding (GIST's) are fine. */
	c[len] = 0;
	struct nslp_msg *m = decode_ok(c, len + 3);
	nslp_msg_free(m);
	free(c);
}

static void test_truncations(void **state)
{
	const char *names[] = {"setup_paper", "setup_full", "remove", "probe", "trigger"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct ncm_msg *ncm = load_ncm(names[i]);
		size_t len;
		uint8_t *b = request_round_trip(ncm, &len);
		all_truncations(b, len);
		free(b);
		ncm_free(ncm);
	}
	struct nslp_msg *r = sample_response();
	size_t len;
	uint8_t *b = encode_ok(r, &len);
	all_truncations(b, len);
	free(b);
	nslp_msg_free(r);
}

static uint8_t *probe_bytes(size_t *len)
{
	struct ncm_msg *ncm = load_ncm("probe");
	uint8_t *b = request_round_trip(ncm, len);
	ncm_free(ncm);
	return b;
}

static void test_bad_header(void **state)
{
	size_t len;
	uint8_t *b = probe_bytes(&len);
	uint8_t c[256];
	memcpy(c, b, len);
	c[0] = 2;
	assert_int_equal(decode_err(c, len), -EPROTO);
	memcpy(c, b, len);
	c[1] = 9; /* unknown type */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	memcpy(c, b, len);
	c[7] = (uint8_t)(len + 1); /* not a multiple of 4 */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	memcpy(c, b, len);
	c[7] = 4; /* shorter than the header */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	memcpy(c, b, len);
	c[4] = 0x10; /* huge */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	memcpy(c, b, len);
	c[2] = 0xff; /* reserved flags are ignored */
	struct nslp_msg *m = decode_ok(c, len);
	assert_int_equal(m->flags, 0);
	nslp_msg_free(m);
	memcpy(c, b, len);
	c[1] = NSLP_RESPONSE; /* a response needs STATUS */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	assert_int_equal(nslp_decode(NULL, 0, &m, NULL, 0), -EINVAL);
	free(b);
}

/* Appends an object to a copy of PROBE * and decodes it. */
static int with_object(uint16_t type_ab, const void *v, size_t vlen)
{
	size_t len;
	uint8_t *b = probe_bytes(&len);
	size_t pad = (vlen + 3) & ~(size_t)3;
	uint8_t *c = calloc(1, len + 4 + pad);
	memcpy(c, b, len);
	c[len] = (uint8_t)(type_ab >> 8);
	c[len + 1] = (uint8_t)type_ab;
	c[len + 2] = (uint8_t)(vlen >> 8);
	c[len + 3] = (uint8_t)vlen;
	memcpy(c + len + 4, v, vlen);
	size_t total = len + 4 + pad;
	c[4] = (uint8_t)(total >> 24);
	c[5] = (uint8_t)(total >> 16);
	c[6] = (uint8_t)(total >> 8);
	c[7] = (uint8_t)total;
	struct nslp_msg *m = NULL;
	char err[NSLP_ERR_LEN];
	int r = nslp_decode(c, total, &m, err, sizeof(err));
	if (r == 0) {
		/* Skipped objects leave the NCM as it was. */
		assert_int_equal(m->req->n_headers, 1);
		nslp_msg_free(m);
	}
	free(c);
	free(b);
	return r;
}

static void test_bad_objects(void **state)
{
	/* Unknown objects: mandatory refused, ignore/forward skipped, 11 invalid. */
	assert_int_equal(with_object(0x0777, "abc", 3), -EBADMSG);
	assert_int_equal(with_object(0x4777, "abc", 3), 0);
	assert_int_equal(with_object(0x8777, "abc", 3), 0);
	assert_int_equal(with_object(0xc777, "abc", 3), -EBADMSG);
	/* Known objects in the wrong message, even if marked ignore. */
	assert_int_equal(with_object(NSLP_OBJ_ENTRY, "", 0), -EBADMSG);
	assert_int_equal(with_object(0x4000 | NSLP_OBJ_STATUS, "\1\2\0\0", 4), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_TARGET, "x", 1), -EBADMSG); /* twice */
	/* HEADER objects: name length, characters, content-length, value text. */
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\0", 1), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\5ab", 3), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\2Abv", 4), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\2a:v", 4), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\016content-length0", 16), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\2ab v", 5), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\2abv\n", 5), -EBADMSG);
	assert_int_equal(with_object(NSLP_OBJ_HEADER, "\2abv\0w", 6), -EBADMSG);
	/* Typed objects with bad values. */
	assert_int_equal(with_object(0x103, "\0\0\1", 3), -EBADMSG);   /* ttl */
	assert_int_equal(with_object(0x102, "\2\0\0\0", 4), -EBADMSG); /* hash */
	assert_int_equal(with_object(0x109, "\0\1\0", 3), -EBADMSG);   /* ports */
	assert_int_equal(with_object(0x100, "jane\x7f", 5), -EBADMSG); /* user */
	assert_int_equal(with_object(0x100, " jane", 5), -EBADMSG);    /* blank */
}

/* A header with a tab inside is fine: with_object counts 1 header; so check
 * the tab case separately with its own count. */
static void test_value_with_tab(void **state)
{
	struct ncm_msg *ncm = ncm_request_new(NCM_METHOD_PROBE, "*");
	assert_int_equal(ncm_add(ncm, "x-tab", "a\tb"), 0);
	size_t len;
	free(request_round_trip(ncm, &len));
	ncm_free(ncm);
}

static void test_bad_padding_and_lengths(void **state)
{
	size_t len;
	uint8_t *b = probe_bytes(&len);
	uint8_t c[256];
	memcpy(c, b, len);
	c[13] = 'x'; /* padding of TARGET "*" */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	memcpy(c, b, len);
	c[11] = 0x40; /* TARGET length runs past the end */
	assert_int_equal(decode_err(c, len), -EMSGSIZE);
	memcpy(c, b, len);
	c[11] = 0; /* empty TARGET */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	memcpy(c, b, len);
	c[12] = ' '; /* not a target character */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	/* Only the header: no TARGET. */
	memcpy(c, b, 8);
	c[7] = 8;
	assert_int_equal(decode_err(c, 8), -EBADMSG);
	free(b);
}

static void test_too_many_headers(void **state)
{
	/* Build a PROBE with 70 headers by hand: NCM refuses more than 64. */
	uint8_t c[8 + 8 + 70 * 8];
	size_t n = 0;
	memcpy(c, "\1\3\0\0\0\0\0\0", 8);
	n = 8;
	memcpy(c + n, "\0\1\0\1*\0\0\0", 8);
	n += 8;
	for (int i = 0; i < 70; i++) {
		memcpy(c + n, "\0\2\0\4\2xyv", 8);
		n += 8;
	}
	c[6] = (uint8_t)(n >> 8);
	c[7] = (uint8_t)n;
	assert_int_equal(decode_err(c, n), -EMSGSIZE);
}

static void test_bad_entries(void **state)
{
	struct nslp_msg *r = sample_response();
	size_t len;
	uint8_t *b = encode_ok(r, &len);
	size_t at = find_obj(b, len, NSLP_OBJ_ENTRY);
	assert_true(at > 0);
	/* First nested object is NODE-ID: make it STATUS twice by retyping it. */
	uint8_t *c = malloc(len);
	memcpy(c, b, len);
	c[at + 4] = 0;
	c[at + 5] = NSLP_OBJ_ELAPSED; /* wrong length for ELAPSED */
	assert_int_equal(decode_err(c, len), -EBADMSG);
	/* Overall STATUS with class 6. */
	memcpy(c, b, len);
	c[8 + 5] = 6;
	assert_int_equal(decode_err(c, len), -EBADMSG);
	/* STATUS of a RESPONSE. */
	memcpy(c, b, len);
	c[8 + 4] = NSLP_RESPONSE;
	assert_int_equal(decode_err(c, len), -EBADMSG);
	/* Encoding refuses bad input. */
	struct nslp_msg bad = {.type = NSLP_RESPONSE, .answers = NSLP_PROBE, .code = 99};
	uint8_t *out = NULL;
	size_t olen;
	assert_int_equal(nslp_encode(&bad, &out, &olen, NULL, 0), -EINVAL);
	bad.type = 77;
	assert_int_equal(nslp_encode(&bad, &out, &olen, NULL, 0), -EINVAL);
	bad.type = NSLP_SETUP;
	assert_int_equal(nslp_encode(&bad, &out, &olen, NULL, 0), -EINVAL);
	assert_null(out);
	free(c);
	free(b);
	nslp_msg_free(r);
}

static void test_peek(void **state)
{
	size_t len, total;
	uint8_t *b = probe_bytes(&len);
	enum nslp_type t;
	assert_int_equal(nslp_peek(b, len, &t, &total), 0);
	assert_int_equal(t, NSLP_PROBE);
	assert_int_equal(total, len);
	assert_int_equal(nslp_peek(b, 7, &t, &total), -EMSGSIZE);
	assert_int_equal(nslp_peek(b, len - 4, &t, &total), -EMSGSIZE);
	assert_string_equal(nslp_type_name(NSLP_TRIGGER), "TRIGGER");
	assert_null(nslp_type_name(0));
	assert_null(nslp_type_name(99));
	free(b);
}

/* A request can have no body: content-length refuses to encode. */
static void test_no_body(void **state)
{
	const char text[] = "PROBE * NETSERV/0.1\ncontent-length:0\n\n";
	struct ncm_msg *ncm = NULL;
	assert_int_equal(ncm_parse(text, sizeof(text) - 1, &ncm, NULL, 0), 0);
	struct nslp_msg *m = NULL;
	assert_int_equal(nslp_from_ncm(ncm, &m, NULL, 0), -EINVAL);
	assert_null(m);
	ncm_free(ncm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_golden_setup_paper),
	        cmocka_unit_test(test_golden_setup_full),
	        cmocka_unit_test(test_golden_setup_noncanonical),
	        cmocka_unit_test(test_golden_remove),
	        cmocka_unit_test(test_golden_probe),
	        cmocka_unit_test(test_golden_trigger),
	        cmocka_unit_test(test_golden_by_hand),
	        cmocka_unit_test(test_typed_or_generic),
	        cmocka_unit_test(test_signature_survives),
	        cmocka_unit_test(test_trigger_wraps),
	        cmocka_unit_test(test_response_round_trip),
	        cmocka_unit_test(test_response_summarize),
	        cmocka_unit_test(test_truncations),
	        cmocka_unit_test(test_bad_header),
	        cmocka_unit_test(test_bad_objects),
	        cmocka_unit_test(test_value_with_tab),
	        cmocka_unit_test(test_bad_padding_and_lengths),
	        cmocka_unit_test(test_too_many_headers),
	        cmocka_unit_test(test_bad_entries),
	        cmocka_unit_test(test_peek),
	        cmocka_unit_test(test_no_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
