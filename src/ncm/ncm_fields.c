/* NCM request fields: decoding and validating the headers of a request.
 *
 * A table maps each known header to a decoder. Unknown headers are ignored; a
 * known header may appear once; an empty value means the field is absent (the
 * canonical form leaves empty headers out, so they cannot carry meaning).
 */
#include "ncm/ncm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/errbuf.h"
#include "lib/util.h"

#define MAX_URL          2048
#define MAX_NOTIFICATION 2048
#define MAX_SIGNATURE    1024
#define MAX_PROBE        1024
#define MAX_PROP_KEY     64
#define MIN_NONCE        8
#define MAX_NONCE        64
#define HASH_PREFIX      "sha256:"

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses a decimal number of at most `max` (digits only, no sign). */
static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max)
			return false;
	}
	*ret = v;
	return true;
}

/* Checks every byte of s[0..n) against a character class. */
static bool all_of(const char *s, size_t n, bool (*ok)(unsigned char))
{
	for (size_t i = 0; i < n; i++)
		if (!ok((unsigned char)s[i]))
			return false;
	return true;
}

static bool is_module_char(unsigned char c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '+' || c == ':' || c == '*' || c == '-';
}

/* A dependency: a module id, or a building block "name/version". */
static bool is_dependency_char(unsigned char c)
{
	return is_module_char(c) || c == '/';
}

static bool is_user_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
}

static bool is_key_char(unsigned char c)
{
	return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

static bool is_nonce_char(unsigned char c)
{
	return is_alnum(c) || c == '+' || c == '/' || c == '=' || c == '_' || c == '-';
}

static bool is_visible(unsigned char c)
{
	return c > ' ' && c != 0x7f;
}

/* Calls fn on each comma-separated item of v, trimmed of blanks. Stops at the
 * first non-zero return and returns it. */
/* The first comma of p that no backslash escapes (escapes: ncm_escape.c),
 * or NULL. */
static const char *unescaped_comma(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\' && p[1])
			p++;
		else if (*p == ',')
			return p;
	}
	return NULL;
}

/* Calls fn on each comma-separated item of v, blanks around it removed; with
 * `escapes`, a comma after a backslash does not separate. */
static int for_each_item(const char *v, bool escapes, int (*fn)(const char *s, size_t n, void *ctx),
                         void *ctx)
{
	for (const char *p = v;;) {
		const char *comma = escapes ? unescaped_comma(p) : strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *s = p;
		int r;

		while (n > 0 && is_blank((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n > 0 && is_blank((unsigned char)s[n - 1]))
			n--;
		r = fn(s, n, ctx);
		if (r != 0)
			return r;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* ---- Field decoders: return 0, -EBADMSG with *why, or -ENOMEM -------------- */

typedef int field_fn(struct ncm_request *r, const char *v, const char **why);

static int dup_into(char **dst, const char *v)
{
	*dst = strdup(v);
	return *dst ? 0 : -ENOMEM;
}

static int field_user(struct ncm_request *r, const char *v, const char **why)
{
	size_t n = strlen(v);

	if (n > NCM_MAX_USER || !all_of(v, n, is_user_char) || is_digit((unsigned char)v[0]) ||
	    v[0] == '-') {
		*why = "want [a-z_][a-z0-9_-]*, at most 32 characters";
		return -EBADMSG;
	}
	return dup_into(&r->user, v);
}

static int field_url(struct ncm_request *r, const char *v, const char **why)
{
	static const char *const schemes[] = {"http://", "https://", "file://"};
	size_t n = strlen(v), pre = 0;

	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
		if (strncmp(v, schemes[i], strlen(schemes[i])) == 0)
			pre = strlen(schemes[i]);
	if (pre == 0 || n == pre) {
		*why = "want an http://, https:// or file:// URL";
		return -EBADMSG;
	}
	if (n > MAX_URL || !all_of(v, n, is_visible)) {
		*why = "URL too long or with blanks";
		return -EBADMSG;
	}
	return dup_into(&r->url, v);
}

static int field_hash(struct ncm_request *r, const char *v, const char **why)
{
	size_t pre = strlen(HASH_PREFIX);

	if (strncmp(v, HASH_PREFIX, pre) != 0 || strlen(v) != pre + 64) {
		*why = "want sha256:<64 hex digits>";
		return -EBADMSG;
	}
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_value((unsigned char)v[pre + 2 * i]);
		int lo = hex_value((unsigned char)v[pre + 2 * i + 1]);

		if (hi < 0 || lo < 0) {
			*why = "want sha256:<64 hex digits>";
			return -EBADMSG;
		}
		r->hash[i] = (uint8_t)(hi << 4 | lo);
	}
	r->has_hash = true;
	return 0;
}

static int field_ttl(struct ncm_request *r, const char *v, const char **why)
{
	uint64_t t;

	if (!parse_uint(v, strlen(v), NCM_MAX_TTL, &t) || t == 0) {
		*why = "want seconds, 1..31536000";
		return -EBADMSG;
	}
	r->ttl = (uint32_t)t;
	r->has_ttl = true;
	return 0;
}

static int add_dependency(const char *s, size_t n, void *ctx)
{
	struct ncm_request *r = ctx;

	if (n == 0 || n > NCM_MAX_TARGET || !all_of(s, n, is_dependency_char))
		return -EBADMSG;
	if (r->n_dependencies >= NCM_MAX_DEPENDENCIES)
		return -EMSGSIZE;
	r->dependencies[r->n_dependencies] = strndup(s, n);
	if (!r->dependencies[r->n_dependencies])
		return -ENOMEM;
	r->n_dependencies++;
	return 0;
}

static int field_dependencies(struct ncm_request *r, const char *v, const char **why)
{
	int e;

	r->dependencies = calloc(NCM_MAX_DEPENDENCIES, sizeof(*r->dependencies));
	if (!r->dependencies)
		return -ENOMEM;
	e = for_each_item(v, false, add_dependency, r);
	if (e == -EBADMSG)
		*why = "want a comma-separated list of module ids and building blocks";
	else if (e == -EMSGSIZE)
		*why = "more than 16 dependencies";
	return e == -EMSGSIZE ? -EBADMSG : e;
}

static const struct {
	const char *name;
	uint8_t proto;
} proto_names[] = {
        {"any", NCM_PROTO_ANY}, {"icmp", NCM_PROTO_ICMP},     {"tcp", NCM_PROTO_TCP},
        {"udp", NCM_PROTO_UDP}, {"icmpv6", NCM_PROTO_ICMPV6}, {"sctp", NCM_PROTO_SCTP},
};

const char *ncm_proto_name(uint8_t proto)
{
	for (size_t i = 0; i < ARRAY_SIZE(proto_names); i++)
		if (proto_names[i].proto == proto)
			return proto_names[i].name;
	return NULL;
}

static int field_proto(struct ncm_filter *f, const char *v, const char **why)
{
	uint64_t n;

	for (size_t i = 0; i < ARRAY_SIZE(proto_names); i++)
		if (strcasecmp(v, proto_names[i].name) == 0) {
			f->proto = proto_names[i].proto;
			return 0;
		}
	if (!parse_uint(v, strlen(v), 255, &n)) {
		*why = "want udp, tcp, icmp, icmpv6, sctp or a number 0..255";
		return -EBADMSG;
	}
	f->proto = (uint8_t)n;
	return 0;
}

static int field_port(struct ncm_filter *f, const char *v, const char **why)
{
	const char *dash = strchr(v, '-');
	size_t n = strlen(v), lo_n = dash ? (size_t)(dash - v) : n;
	uint64_t lo, hi;

	*why = "want a port 1..65535 or a range N-M";
	if (!parse_uint(v, lo_n, 65535, &lo) || lo == 0)
		return -EBADMSG;
	hi = lo;
	if (dash && (!parse_uint(dash + 1, n - lo_n - 1, 65535, &hi) || hi < lo)) {
		*why = "want a range N-M with 1 <= N <= M <= 65535";
		return -EBADMSG;
	}
	f->port_lo = (uint16_t)lo;
	f->port_hi = (uint16_t)hi;
	return 0;
}

/* ---- Prefixes ---------------------------------------------------------------- */

/* Parses a prefix; on failure returns -EINVAL with the reason in *why. */
static int prefix_parse(const char *s, struct ncm_prefix *ret, const char **why)
{
	struct ncm_prefix p = {0};
	const char *slash;
	char addr[INET6_ADDRSTRLEN];
	size_t an;
	uint64_t len;
	int max;

	*why = "want an address or a prefix such as 10.0.0.0/8 or 2001:db8::/32";
	if (!s)
		return -EINVAL;
	if (strcmp(s, "any") == 0) {
		*ret = p;
		return 0;
	}
	slash = strchr(s, '/');
	an = slash ? (size_t)(slash - s) : strlen(s);
	if (an == 0 || an >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, an);
	addr[an] = '\0';
	p.family = memchr(addr, ':', an) ? AF_INET6 : AF_INET;
	if (inet_pton(p.family, addr, p.addr) != 1)
		return -EINVAL;
	max = p.family == AF_INET ? 32 : 128;
	len = (uint64_t)max;
	if (slash && !parse_uint(slash + 1, strlen(slash + 1), (uint64_t)max, &len)) {
		*why = "bad prefix length";
		return -EINVAL;
	}
	p.len = (uint8_t)len;
	for (int bit = p.len; bit < max; bit++)
		if (p.addr[bit / 8] & (0x80 >> (bit % 8))) {
			*why = "host bits set after the prefix length";
			return -EINVAL;
		}
	*ret = p;
	return 0;
}

int ncm_prefix_parse(const char *s, struct ncm_prefix *ret)
{
	const char *why;

	if (!ret)
		return -EINVAL;
	return prefix_parse(s, ret, &why);
}

char *ncm_prefix_format(const struct ncm_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (!buf || len == 0)
		return buf;
	if (!p || (p->family != AF_INET && p->family != AF_INET6)) {
		snprintf(buf, len, "any");
		return buf;
	}
	if (!inet_ntop(p->family, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, p->len);
	return buf;
}

static int field_prefix(struct ncm_prefix *p, const char *v, const char **why)
{
	return prefix_parse(v, p, why) < 0 ? -EBADMSG : 0;
}

static int field_src(struct ncm_filter *f, const char *v, const char **why)
{
	return field_prefix(&f->src, v, why);
}

static int field_dst(struct ncm_filter *f, const char *v, const char **why)
{
	return field_prefix(&f->dst, v, why);
}

/* ---- Filters ----------------------------------------------------------------- */

/* The fields of one filter: filter-FIELD is filter 1, filter-N-FIELD filter N. */
static const struct filter_field {
	const char *name;
	int (*decode)(struct ncm_filter *f, const char *v, const char **why);
} filter_fields[] = {
        {"proto", field_proto},
        {"port", field_port},
        {"src", field_src},
        {"dst", field_dst},
};

#define FILTER_BAD_NUMBER UINT32_MAX

/* Whether `name` is a filter header: "filter-FIELD" (filter 1) or
 * "filter-N-FIELD" with N digits and FIELD one of filter_fields. Stores the
 * filter's number in *num (1-based; FILTER_BAD_NUMBER for N = 0 or 1 or with a
 * leading zero; large values saturate above NCM_MAX_FILTERS) and the field's
 * index in *field. Other names, such as filter-N-sport, are not filter headers
 * (unknown headers: ignored). */
static bool filter_header(const char *name, uint32_t *num, size_t *field)
{
	const char *p = name;
	uint32_t n = 1;

	if (!name || strncasecmp(p, "filter-", 7) != 0)
		return false;
	p += 7;
	if (is_digit((unsigned char)*p)) {
		const char *d = p;
		n = 0;
		for (; is_digit((unsigned char)*p); p++)
			n = n > NCM_MAX_FILTERS ? n : n * 10 + (uint32_t)(*p - '0');
		if (*p != '-')
			return false;
		p++;
		if (*d == '0' || n < 2)
			n = FILTER_BAD_NUMBER;
	}
	for (size_t f = 0; f < ARRAY_SIZE(filter_fields); f++)
		if (strcasecmp(p, filter_fields[f].name) == 0) {
			*num = n;
			*field = f;
			return true;
		}
	return false;
}

/* Checks a filter header's number (first pass). Returns 0 or -EBADMSG. */
static int filter_number_check(const char *name, uint32_t num, char *err, size_t errlen)
{
	if (num == FILTER_BAD_NUMBER)
		return err_set(err, errlen, -EBADMSG,
		               "header '%s': bad filter number (filter 1 is filter-proto, "
		               "filter-port, filter-src, filter-dst; filter N = 2..%d is "
		               "filter-N-proto ... without leading zeros)",
		               name, NCM_MAX_FILTERS);
	if (num > NCM_MAX_FILTERS)
		return err_set(err, errlen, -EBADMSG,
		               "header '%s': more than %d filters in one request", name,
		               NCM_MAX_FILTERS);
	return 0;
}

/* ---- Other fields ------------------------------------------------------------ */

static int field_notification(struct ncm_request *r, const char *v, const char **why)
{
	if (strlen(v) > MAX_NOTIFICATION) {
		*why = "longer than 2048 characters";
		return -EBADMSG;
	}
	return dup_into(&r->notification, v);
}

static int add_property(const char *s, size_t n, void *ctx)
{
	struct ncm_request *r = ctx;
	const char *eq = memchr(s, '=', n);
	size_t kn, vn;
	const char *val;
	struct ncm_property *p;

	if (!eq)
		return -EBADMSG;
	kn = (size_t)(eq - s);
	while (kn > 0 && is_blank((unsigned char)s[kn - 1]))
		kn--;
	val = eq + 1;
	vn = n - (size_t)(val - s);
	while (vn > 0 && is_blank((unsigned char)*val)) {
		val++;
		vn--;
	}
	if (kn == 0 || kn > MAX_PROP_KEY || !all_of(s, kn, is_key_char))
		return -EBADMSG;
	for (size_t i = 0; i < r->n_properties; i++)
		if (strlen(r->properties[i].key) == kn && memcmp(r->properties[i].key, s, kn) == 0)
			return -EEXIST;
	if (r->n_properties >= NCM_MAX_PROPERTIES)
		return -EMSGSIZE;
	p = &r->properties[r->n_properties];
	p->key = strndup(s, kn);
	p->value = NULL;
	int e = ncm_prop_unescape(val, vn, &p->value);
	if (e == -EBADMSG) {
		free(p->key);
		p->key = NULL;
		return -EILSEQ;
	}
	if (!p->key || !p->value) {
		free(p->key);
		free(p->value);
		*p = (struct ncm_property){0};
		return -ENOMEM;
	}
	r->n_properties++;
	return 0;
}

static int field_properties(struct ncm_request *r, const char *v, const char **why)
{
	int e;

	r->properties = calloc(NCM_MAX_PROPERTIES, sizeof(*r->properties));
	if (!r->properties)
		return -ENOMEM;
	e = for_each_item(v, true, add_property, r);
	if (e == -EBADMSG)
		*why = "want key=value,key=value with keys of [A-Za-z0-9_.-]";
	else if (e == -EEXIST)
		*why = "repeated key";
	else if (e == -EMSGSIZE)
		*why = "more than 32 properties";
	else if (e == -EILSEQ)
		*why = "a bad escape in a value (\\, \\\\ and \\xHH are the escapes)";
	return e == -ENOMEM || e == 0 ? e : -EBADMSG;
}

static int field_timestamp(struct ncm_request *r, const char *v, const char **why)
{
	uint64_t t;

	if (!parse_uint(v, strlen(v), INT64_MAX, &t)) {
		*why = "want seconds since the epoch";
		return -EBADMSG;
	}
	r->timestamp = (int64_t)t;
	r->has_timestamp = true;
	return 0;
}

static int field_nonce(struct ncm_request *r, const char *v, const char **why)
{
	size_t n = strlen(v);

	if (n < MIN_NONCE || n > MAX_NONCE || !all_of(v, n, is_nonce_char)) {
		*why = "want 8..64 characters of [A-Za-z0-9+/=_-]";
		return -EBADMSG;
	}
	return dup_into(&r->nonce, v);
}

static int field_signature(struct ncm_request *r, const char *v, const char **why)
{
	size_t n = strlen(v);

	/* Opaque here: the security layer decodes and verifies it. */
	if (n > MAX_SIGNATURE || !all_of(v, n, is_visible)) {
		*why = "too long or with blanks";
		return -EBADMSG;
	}
	return dup_into(&r->signature, v);
}

static int check_word(const char *s, size_t n, _unused_ void *ctx)
{
	return n > 0 && all_of(s, n, is_key_char) ? 0 : -EBADMSG;
}

static int field_probe(struct ncm_request *r, const char *v, const char **why)
{
	if (strlen(v) > MAX_PROBE || for_each_item(v, false, check_word, NULL) != 0) {
		*why = "want comma-separated words of [A-Za-z0-9_.-]";
		return -EBADMSG;
	}
	return dup_into(&r->probe, v);
}

/* sample: 1/N — "1/" then N in 1..NCM_SAMPLE_EVERY_MAX, no leading zeros. */
static int field_sample(struct ncm_request *r, const char *v, const char **why)
{
	uint64_t n;
	size_t len = strlen(v);

	if (len < 3 || strncmp(v, "1/", 2) != 0 || v[2] == '0' ||
	    !parse_uint(v + 2, len - 2, NCM_SAMPLE_EVERY_MAX, &n) || n == 0) {
		*why = "want 1/N with N = 1..1000000 (one packet in N)";
		return -EBADMSG;
	}
	r->sample_every = (uint32_t)n;
	return 0;
}

static int field_sample_bytes(struct ncm_request *r, const char *v, const char **why)
{
	uint64_t n;

	if (!parse_uint(v, strlen(v), NCM_SAMPLE_BYTES_MAX, &n) || n == 0) {
		*why = "want bytes, 1..65535 (how much of each sampled packet)";
		return -EBADMSG;
	}
	r->sample_bytes = (uint32_t)n;
	return 0;
}

static const struct field {
	const char *name;
	field_fn *decode;
} fields[] = {
        {"user", field_user},
        {"url", field_url},
        {"module-hash", field_hash},
        {"ttl", field_ttl},
        {"dependencies", field_dependencies},
        {"notification", field_notification},
        {"properties", field_properties},
        {"timestamp", field_timestamp},
        {"nonce", field_nonce},
        {"signature", field_signature},
        {"probe", field_probe},
        {"sample", field_sample},
        {"sample-bytes", field_sample_bytes},
};

static int field_index(const char *name)
{
	for (size_t f = 0; name && f < ARRAY_SIZE(fields); f++)
		if (strcasecmp(name, fields[f].name) == 0)
			return (int)f;
	return -1;
}

/* ---- The request -------------------------------------------------------------- */

void ncm_request_done(struct ncm_request *r)
{
	if (!r)
		return;
	free(r->target);
	free(r->user);
	free(r->url);
	for (size_t i = 0; r->dependencies && i < r->n_dependencies; i++)
		free(r->dependencies[i]);
	free(r->dependencies);
	free(r->notification);
	for (size_t i = 0; r->properties && i < r->n_properties; i++) {
		free(r->properties[i].key);
		free(r->properties[i].value);
	}
	free(r->properties);
	free(r->nonce);
	free(r->signature);
	free(r->probe);
	*r = (struct ncm_request){0};
}

static inline void request_donep(struct ncm_request *r)
{
	ncm_request_done(r);
}

int ncm_request_decode(const struct ncm_msg *m, struct ncm_request *ret, char *err, size_t errlen)
{
	_cleanup_(request_donep) struct ncm_request r = {0};
	uint32_t seen = 0, present = 0;
	uint8_t fseen[NCM_MAX_FILTERS] = {0};

	_Static_assert(ARRAY_SIZE(fields) <= 32, "seen is a 32-bit mask");
	_Static_assert(ARRAY_SIZE(filter_fields) <= 8, "fseen holds 8-bit masks");
	_Static_assert(NCM_MAX_FILTERS <= 32, "present is a 32-bit mask");
	if (!ret)
		return err_set(err, errlen, -EINVAL, "no request");
	*ret = (struct ncm_request){0};
	if (!m || m->method == NCM_METHOD_NONE || !ncm_method_name(m->method) || !m->target)
		return err_set(err, errlen, -EBADMSG, "not a request");
	if (m->body_len > 0)
		return err_set(err, errlen, -EBADMSG, "a request has no body");
	r.method = m->method;
	r.target = strdup(m->target);
	if (!r.target)
		return err_set(err, errlen, -ENOMEM, "out of memory");

	/* Repeats and filter numbers first, so that the error does not depend on
	 * header order. */
	for (size_t i = 0; i < m->n_headers; i++) {
		const char *name = m->headers[i].name;
		int f = field_index(name);
		uint32_t num;
		size_t ff;

		if (f < 0 && filter_header(name, &num, &ff)) {
			int e = filter_number_check(name, num, err, errlen);
			if (e < 0)
				return e;
			if (fseen[num - 1] & (1u << ff))
				return err_set(err, errlen, -EBADMSG, "repeated header '%s'", name);
			fseen[num - 1] |= (uint8_t)(1u << ff);
			continue;
		}
		if (f < 0)
			continue;
		if (seen & (1u << f))
			return err_set(err, errlen, -EBADMSG, "repeated header '%s'",
			               fields[f].name);
		seen |= 1u << f;
	}
	for (size_t i = 0; i < m->n_headers; i++) {
		const struct ncm_header *h = &m->headers[i];
		const char *why = "bad value";
		int f = field_index(h->name), e;
		uint32_t num;
		size_t ff;

		if (!h->value || h->value[0] == '\0')
			continue;
		if (f < 0 && filter_header(h->name, &num, &ff)) {
			present |= 1u << (num - 1);
			e = filter_fields[ff].decode(&r.filters[num - 1], h->value, &why);
			if (e < 0)
				return err_set(err, errlen, -EBADMSG, "header '%s': %s", h->name,
				               why);
			continue;
		}
		if (f < 0)
			continue;
		e = fields[f].decode(&r, h->value, &why);
		if (e == -ENOMEM)
			return err_set(err, errlen, -ENOMEM, "out of memory");
		if (e < 0)
			return err_set(err, errlen, -EBADMSG, "header '%s': %s", fields[f].name,
			               why);
	}

	while (present >> r.n_filters)
		r.n_filters++;
	for (size_t i = 0; i < r.n_filters; i++) {
		const struct ncm_filter *fl = &r.filters[i];
		char pre[32] = "filter-";

		if (i > 0)
			snprintf(pre, sizeof(pre), "filter-%zu-", i + 1);
		if (!(present & (1u << i))) {
			if (i == 0)
				return err_set(err, errlen, -EBADMSG,
				               "filter %zu without filter 1 (filter-proto, "
				               "filter-port, filter-src, filter-dst)",
				               r.n_filters);
			return err_set(err, errlen, -EBADMSG,
			               "filter %zu without filter %zu (no %s* header): filters "
			               "are numbered without gaps",
			               r.n_filters, i + 1, pre);
		}
		if (fl->src.family && fl->dst.family && fl->src.family != fl->dst.family)
			return err_set(err, errlen, -EBADMSG,
			               "header '%sdst': address family differs from %ssrc", pre,
			               pre);
	}
	if ((r.method == NCM_METHOD_SETUP || r.method == NCM_METHOD_REMOVE) && !r.user)
		return err_set(err, errlen, -EBADMSG, "missing header 'user'");
	if (r.method == NCM_METHOD_SETUP && !r.url)
		return err_set(err, errlen, -EBADMSG, "missing header 'url'");
	if (r.sample_bytes && !r.sample_every)
		return err_set(err, errlen, -EBADMSG, "header 'sample-bytes' without 'sample'");
	if (r.sample_every && !r.n_filters)
		return err_set(err, errlen, -EBADMSG,
		               "header 'sample': a sampled module needs a filter (filter-*)");
	if (r.sample_every && !r.sample_bytes)
		r.sample_bytes = NCM_SAMPLE_BYTES_DEFAULT;

	*ret = r;
	r = (struct ncm_request){0};
	return 0;
}

const char *ncm_request_property(const struct ncm_request *r, const char *key)
{
	if (!r || !key)
		return NULL;
	for (size_t i = 0; i < r->n_properties; i++)
		if (strcmp(r->properties[i].key, key) == 0)
			return r->properties[i].value;
	return NULL;
}

char *ncm_hash_format(const uint8_t hash[32], char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char s[sizeof(HASH_PREFIX) + 64];
	size_t pre = strlen(HASH_PREFIX);

	if (!buf || len == 0)
		return buf;
	memcpy(s, HASH_PREFIX, pre);
	for (size_t i = 0; i < 32; i++) {
		s[pre + 2 * i] = hex[hash[i] >> 4];
		s[pre + 2 * i + 1] = hex[hash[i] & 0xf];
	}
	s[pre + 64] = '\0';
	snprintf(buf, len, "%s", s);
	return buf;
}
