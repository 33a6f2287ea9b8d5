/* Per-publisher policy (see policy.h). */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "lib/errbuf.h"
#include "lib/util.h"

void policy_defaults(struct ns_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->ports.any = true;
	p->require_hash = -1;
	p->send_pps = POLICY_DEFAULT_SEND_PPS;
	p->http_connections = POLICY_DEFAULT_HTTP_CONNECTIONS;
	p->fetch_stall_s = POLICY_DEFAULT_FETCH_STALL_S;
	p->send_bytes_per_s = POLICY_DEFAULT_SEND_BYTES;
	p->max_modules = POLICY_DEFAULT_MAX_MODULES;
	p->max_sockets = POLICY_DEFAULT_MAX_SOCKETS;
	p->storage_quota = POLICY_DEFAULT_STORAGE_QUOTA;
}

const struct policy_prefixes *policy_connect(const struct ns_policy *p)
{
	return p->has_connect ? &p->connect : &p->prefixes;
}

/* Calls fn for every item of a list separated by commas and/or blanks. */
static int for_items(const char *s, int (*fn)(const char *item, void *ctx), void *ctx)
{
	char item[128];
	while (*s) {
		while (*s == ',' || *s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		size_t n = strcspn(s, ", \t");
		if (n >= sizeof(item))
			return -EINVAL;
		memcpy(item, s, n);
		item[n] = '\0';
		int r = fn(item, ctx);
		if (r < 0)
			return r;
		s += n;
	}
	return 0;
}

/* ---- prefixes ---------------------------------------------------------------- */

struct prefix_ctx {
	struct policy_prefixes *l;
	char bad[128];
};

static int prefix_push(struct policy_prefixes *l, const struct ncm_prefix *p)
{
	if (l->n >= POLICY_MAX_PREFIXES)
		return -E2BIG;
	l->v[l->n++] = *p;
	return 0;
}

static int add_prefix(const char *item, void *ctx)
{
	struct prefix_ctx *pc = ctx;
	struct ncm_prefix p;
	if (strcmp(item, "none") == 0)
		return 0;
	if (ncm_prefix_parse(item, &p) < 0) {
		snprintf(pc->bad, sizeof(pc->bad), "%s", item);
		return -EINVAL;
	}
	if (p.family == 0) { /* any: both families */
		struct ncm_prefix v4 = {.family = AF_INET}, v6 = {.family = AF_INET6};
		int r = prefix_push(pc->l, &v4);
		return r < 0 ? r : prefix_push(pc->l, &v6);
	}
	return prefix_push(pc->l, &p);
}

int policy_parse_prefixes(const char *s, struct policy_prefixes *ret, char *err, size_t errlen)
{
	struct policy_prefixes l = {0};
	struct prefix_ctx pc = {.l = &l};
	int r = for_items(s, add_prefix, &pc);
	if (r == -E2BIG)
		return err_set(err, errlen, -EINVAL, "more than %d prefixes", POLICY_MAX_PREFIXES);
	if (r < 0)
		return err_set(err, errlen, -EINVAL,
		               "'%s' is not a prefix (want e.g. 192.0.2.0/24, 2001:db8::/32, any)",
		               pc.bad);
	*ret = l;
	return 0;
}

char *policy_format_prefixes(const struct policy_prefixes *l, char *buf, size_t len)
{
	size_t used = 0;
	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		char p[64];
		int n = snprintf(buf + used, len - used, "%s%s", i ? "," : "",
		                 ncm_prefix_format(&l->v[i], p, sizeof(p)));
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	return buf;
}

bool policy_prefix_within(const struct ncm_prefix *inner, const struct ncm_prefix *outer)
{
	if (inner->family != outer->family || inner->len < outer->len)
		return false;
	unsigned full = outer->len / 8, rest = outer->len % 8;
	if (memcmp(inner->addr, outer->addr, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xff << (8 - rest));
		if ((inner->addr[full] & mask) != (outer->addr[full] & mask))
			return false;
	}
	return true;
}

bool policy_prefixes_cover(const struct policy_prefixes *l, const struct ncm_prefix *p)
{
	if (p->family == 0) {
		struct ncm_prefix v4 = {.family = AF_INET}, v6 = {.family = AF_INET6};
		return policy_prefixes_cover(l, &v4) && policy_prefixes_cover(l, &v6);
	}
	for (size_t i = 0; i < l->n; i++)
		if (policy_prefix_within(p, &l->v[i]))
			return true;
	return false;
}

/* The family a filter's packets have: AF_INET, AF_INET6, or 0 (both). */
static int filter_family(const struct ncm_filter *f)
{
	if (f->src.family)
		return f->src.family;
	if (f->dst.family)
		return f->dst.family;
	if (f->proto == NCM_PROTO_ICMP)
		return AF_INET;
	if (f->proto == NCM_PROTO_ICMPV6)
		return AF_INET6;
	return 0;
}

/* Two prefixes share an address when one holds the other (or either is any). */
static bool prefixes_meet(const struct ncm_prefix *a, const struct ncm_prefix *b)
{
	if (!a->family || !b->family)
		return true;
	return policy_prefix_within(a, b) || policy_prefix_within(b, a);
}

bool policy_filter_lists_overlap(const struct ncm_filter *a, size_t na, const struct ncm_filter *b,
                                 size_t nb, size_t *ret_a, size_t *ret_b)
{
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			if (policy_filters_overlap(&a[i], &b[j])) {
				if (ret_a)
					*ret_a = i;
				if (ret_b)
					*ret_b = j;
				return true;
			}
	return false;
}

bool policy_filters_overlap(const struct ncm_filter *a, const struct ncm_filter *b)
{
	int fa = filter_family(a), fb = filter_family(b);
	if (fa && fb && fa != fb)
		return false;
	if (a->proto && b->proto && a->proto != b->proto)
		return false;
	if (a->port_lo && b->port_lo) {
		uint16_t ahi = a->port_hi ? a->port_hi : a->port_lo;
		uint16_t bhi = b->port_hi ? b->port_hi : b->port_lo;
		if (ahi < b->port_lo || bhi < a->port_lo)
			return false;
	}
	return prefixes_meet(&a->src, &b->src) && prefixes_meet(&a->dst, &b->dst);
}

bool policy_addr_allowed(const struct policy_prefixes *l, int family, const uint8_t *addr)
{
	struct ncm_prefix p = {.family = family, .len = family == AF_INET ? 32 : 128};
	if (family != AF_INET && family != AF_INET6)
		return false;
	memcpy(p.addr, addr, family == AF_INET ? 4 : 16);
	return policy_prefixes_cover(l, &p);
}

const struct policy_prefixes *policy_source(const struct ns_policy *p)
{
	return p->has_source ? &p->source : &p->prefixes;
}

/* ---- ports ------------------------------------------------------------------- */

/* Parses "N" or "N-M" (1..65535). */
static int parse_range(const char *s, struct policy_range *ret)
{
	char *end;
	unsigned long lo = strtoul(s, &end, 10), hi;
	if (end == s || lo < 1 || lo > 65535 || *s == '-' || *s == '+')
		return -EINVAL;
	hi = lo;
	if (*end == '-') {
		const char *h = end + 1;
		if (*h == '-' || *h == '+')
			return -EINVAL;
		hi = strtoul(h, &end, 10);
		if (end == h || hi < lo || hi > 65535)
			return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	ret->lo = (uint16_t)lo;
	ret->hi = (uint16_t)hi;
	return 0;
}

static int ports_push(struct policy_ports *p, const struct policy_range *r)
{
	if (p->n >= POLICY_MAX_RANGES)
		return -E2BIG;
	p->v[p->n++] = *r;
	return 0;
}

struct ports_ctx {
	struct policy_ports *tcp, *udp; /* udp NULL: plain port list into tcp */
	char bad[128];
};

static int add_port(const char *item, void *ctx)
{
	struct ports_ctx *pc = ctx;
	snprintf(pc->bad, sizeof(pc->bad), "%s", item);
	if (strcmp(item, "none") == 0)
		return 0;
	if (strcmp(item, "any") == 0) {
		pc->tcp->any = true;
		if (pc->udp)
			pc->udp->any = true;
		return 0;
	}
	struct policy_range r;
	const char *colon = strchr(item, ':');
	bool tcp = true, udp = pc->udp != NULL;
	if (colon && pc->udp) {
		size_t n = (size_t)(colon - item);
		tcp = n == 3 && strncasecmp(item, "tcp", 3) == 0;
		udp = n == 3 && strncasecmp(item, "udp", 3) == 0;
		if (!tcp && !udp)
			return -EINVAL;
		item = colon + 1;
	}
	if (parse_range(item, &r) < 0)
		return -EINVAL;
	int e = tcp ? ports_push(pc->tcp, &r) : 0;
	if (e == 0 && udp)
		e = ports_push(pc->udp, &r);
	return e;
}

int policy_parse_ports(const char *s, struct policy_ports *ret, char *err, size_t errlen)
{
	struct policy_ports p = {0};
	struct ports_ctx pc = {.tcp = &p};
	int r = for_items(s, add_port, &pc);
	if (r == -E2BIG)
		return err_set(err, errlen, -EINVAL, "more than %d port ranges", POLICY_MAX_RANGES);
	if (r < 0)
		return err_set(err, errlen, -EINVAL,
		               "'%s' is not a port or range (want e.g. 5060, 8000-8100, any)",
		               pc.bad);
	if (p.any)
		p.n = 0;
	*ret = p;
	return 0;
}

int policy_parse_listen_ports(const char *s, struct policy_ports *tcp, struct policy_ports *udp,
                              char *err, size_t errlen)
{
	struct policy_ports t = {0}, u = {0};
	struct ports_ctx pc = {.tcp = &t, .udp = &u};
	int r = for_items(s, add_port, &pc);
	if (r == -E2BIG)
		return err_set(err, errlen, -EINVAL, "more than %d port ranges", POLICY_MAX_RANGES);
	if (r < 0 || t.any || u.any)
		return err_set(err, errlen, -EINVAL,
		               "'%s' is not a listen port (want e.g. tcp:80, udp:5060, 8000-8100)",
		               pc.bad);
	*tcp = t;
	*udp = u;
	return 0;
}

bool policy_port_allowed(const struct policy_ports *ports, uint16_t port)
{
	if (ports->any)
		return true;
	for (size_t i = 0; i < ports->n; i++)
		if (port >= ports->v[i].lo && port <= ports->v[i].hi)
			return true;
	return false;
}

/* Whether every port lo..hi is in the set (ranges may not be merged). */
static bool range_allowed(const struct policy_ports *ports, uint16_t lo, uint16_t hi)
{
	if (ports->any)
		return true;
	for (uint32_t p = lo; p <= hi; p++)
		if (!policy_port_allowed(ports, (uint16_t)p))
			return false;
	return true;
}

static char *format_ports(const char *proto, const struct policy_ports *p, char *buf, size_t len,
                          size_t *used)
{
	for (size_t i = 0; i < p->n; i++) {
		int n;
		if (p->v[i].lo == p->v[i].hi)
			n = snprintf(buf + *used, len - *used, "%s%s:%u", *used ? "," : "", proto,
			             p->v[i].lo);
		else
			n = snprintf(buf + *used, len - *used, "%s%s:%u-%u", *used ? "," : "",
			             proto, p->v[i].lo, p->v[i].hi);
		if (n < 0 || (size_t)n >= len - *used)
			break;
		*used += (size_t)n;
	}
	return buf;
}

char *policy_format_listen_ports(const struct policy_ports *tcp, const struct policy_ports *udp,
                                 char *buf, size_t len)
{
	size_t used = 0;
	if (len)
		buf[0] = '\0';
	format_ports("tcp", tcp, buf, len, &used);
	return format_ports("udp", udp, buf, len, &used);
}

struct listen_ctx {
	struct policy_listen *v;
	int n;
	char bad[128];
};

static int add_listen(const char *item, void *ctx)
{
	struct listen_ctx *lc = ctx;
	snprintf(lc->bad, sizeof(lc->bad), "%s", item);
	const char *colon = strchr(item, ':');
	if (!colon || colon - item != 3)
		return -EINVAL;
	uint8_t proto;
	if (strncasecmp(item, "tcp", 3) == 0)
		proto = NCM_PROTO_TCP;
	else if (strncasecmp(item, "udp", 3) == 0)
		proto = NCM_PROTO_UDP;
	else
		return -EINVAL;
	struct policy_range r;
	if (parse_range(colon + 1, &r) < 0 || r.lo != r.hi)
		return -EINVAL;
	if (lc->n >= POLICY_MAX_LISTEN)
		return -E2BIG;
	lc->v[lc->n].proto = proto;
	lc->v[lc->n].port = r.lo;
	lc->n++;
	return 0;
}

int policy_parse_listen(const char *s, struct policy_listen *v, char *err, size_t errlen)
{
	struct listen_ctx lc = {.v = v};
	int r = for_items(s, add_listen, &lc);
	if (r == -E2BIG)
		return err_set(err, errlen, -EINVAL, "header 'listen': more than %d sockets",
		               POLICY_MAX_LISTEN);
	if (r < 0)
		return err_set(err, errlen, -EINVAL,
		               "header 'listen': '%s' is not tcp:PORT or udp:PORT", lc.bad);
	return lc.n;
}

/* ---- protocols --------------------------------------------------------------- */

static int parse_proto(const char *s, uint8_t *ret)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} names[] = {{"any", 0},
	             {"icmp", NCM_PROTO_ICMP},
	             {"tcp", NCM_PROTO_TCP},
	             {"udp", NCM_PROTO_UDP},
	             {"icmpv6", NCM_PROTO_ICMPV6},
	             {"sctp", NCM_PROTO_SCTP}};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(s, names[i].name) == 0) {
			*ret = names[i].proto;
			return 0;
		}
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || *end || v > 255 || *s == '-' || *s == '+')
		return -EINVAL;
	*ret = (uint8_t)v;
	return 0;
}

struct proto_ctx {
	struct ns_policy *p;
	char bad[128];
};

static int add_proto(const char *item, void *ctx)
{
	struct proto_ctx *pc = ctx;
	uint8_t v;
	snprintf(pc->bad, sizeof(pc->bad), "%s", item);
	if (parse_proto(item, &v) < 0)
		return -EINVAL;
	if (pc->p->n_protos >= POLICY_MAX_PROTOS)
		return -E2BIG;
	pc->p->protos[pc->p->n_protos++] = v;
	return 0;
}

static bool proto_allowed(const struct ns_policy *p, uint8_t proto)
{
	if (p->n_protos == 0)
		return true;
	for (size_t i = 0; i < p->n_protos; i++)
		if (p->protos[i] == 0 || p->protos[i] == proto)
			return true;
	return false;
}

/* ---- configuration ----------------------------------------------------------- */

static int parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* The numeric keys of a publisher's section: range, and whether the value is
 * a size (K, M, G suffixes, powers of 1024). */
enum num_key_id {
	NK_MAX_MODULES,
	NK_MAX_SOCKETS,
	NK_SEND_RATE,
	NK_SEND_BYTES,
	NK_SOCKET_BYTES,
	NK_STORAGE_QUOTA,
	NK_HTTP_CONNECTIONS, /* below the container's open-file limit (256) */
	NK_FETCH_STALL,
};

struct num_key {
	const char *name;
	enum num_key_id id;
	uint64_t min, max;
	bool size;
};

static const struct num_key num_keys[] = {
        {"max_modules", NK_MAX_MODULES, 0, 100000, false},
        {"max_sockets", NK_MAX_SOCKETS, 0, 100000, false},
        {"send_rate", NK_SEND_RATE, 0, 10000000, false},
        {"send_bytes", NK_SEND_BYTES, 0, 1ull << 40, true},
        {"socket_bytes", NK_SOCKET_BYTES, 0, 1ull << 40, true},
        {"storage_quota", NK_STORAGE_QUOTA, 0, 1ull << 50, true},
        {"http_connections", NK_HTTP_CONNECTIONS, 1, 200, false},
        {"fetch_stall", NK_FETCH_STALL, 1, 3600, false},
};

static const struct num_key *num_key_find(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(num_keys); i++)
		if (strcmp(key, num_keys[i].name) == 0)
			return &num_keys[i];
	return NULL;
}

/* Parses a decimal number in the key's range (a size may end in K, M or G).
 * Returns 0 or -EINVAL with the reason in why. */
static int num_parse(const char *value, const struct num_key *k, uint64_t *ret, char *why,
                     size_t whylen)
{
	uint64_t mult = 1;
	char *end;
	unsigned long long v = strtoull(value, &end, 10);
	if (k->size && (*end == 'k' || *end == 'K'))
		mult = 1024, end++;
	else if (k->size && (*end == 'm' || *end == 'M'))
		mult = 1024 * 1024, end++;
	else if (k->size && (*end == 'g' || *end == 'G'))
		mult = 1024 * 1024 * 1024, end++;
	if (*value < '0' || *value > '9' || *end || v > k->max / mult || v * mult < k->min) {
		snprintf(why, whylen, "'%s' is not a number in %llu..%llu%s", value,
		         (unsigned long long)k->min, (unsigned long long)k->max,
		         k->size ? " (K, M, G allowed)" : "");
		return -EINVAL;
	}
	*ret = v * mult;
	return 0;
}

static void num_key_store(struct ns_policy *p, enum num_key_id id, uint64_t v)
{
	switch (id) {
	case NK_MAX_MODULES:
		p->max_modules = (uint32_t)v;
		break;
	case NK_MAX_SOCKETS:
		p->max_sockets = (uint32_t)v;
		break;
	case NK_SEND_RATE:
		p->send_pps = (uint32_t)v;
		break;
	case NK_SEND_BYTES:
		p->send_bytes_per_s = v;
		break;
	case NK_SOCKET_BYTES:
		p->socket_bytes_per_s = v;
		break;
	case NK_STORAGE_QUOTA:
		p->storage_quota = v;
		break;
	case NK_HTTP_CONNECTIONS:
		p->http_connections = (uint32_t)v;
		break;
	case NK_FETCH_STALL:
		p->fetch_stall_s = (uint32_t)v;
		break;
	}
}

int policy_set(struct ns_policy *p, const char *key, const char *value, char *err, size_t errlen)
{
	char why[200];
	const struct num_key *nk;
	int r;
	if (strcmp(key, "prefixes") == 0) {
		r = policy_parse_prefixes(value, &p->prefixes, why, sizeof(why));
	} else if (strcmp(key, "source_prefixes") == 0) {
		r = policy_parse_prefixes(value, &p->source, why, sizeof(why));
		p->has_source = r == 0;
	} else if (strcmp(key, "filter_protocols") == 0) {
		struct ns_policy tmp = *p;
		struct proto_ctx pc = {.p = &tmp};
		tmp.n_protos = 0;
		r = for_items(value, add_proto, &pc);
		if (r == 0)
			*p = tmp;
		else if (r == -E2BIG)
			snprintf(why, sizeof(why), "more than %d protocols", POLICY_MAX_PROTOS);
		else
			snprintf(why, sizeof(why),
			         "'%s' is not a protocol (udp, tcp, icmp, icmpv6, sctp, any or "
			         "0..255)",
			         pc.bad);
	} else if (strcmp(key, "filter_ports") == 0) {
		r = policy_parse_ports(value, &p->ports, why, sizeof(why));
	} else if (strcmp(key, "listen_ports") == 0) {
		r = policy_parse_listen_ports(value, &p->listen_tcp, &p->listen_udp, why,
		                              sizeof(why));
	} else if (strcmp(key, "connect_destinations") == 0) {
		r = policy_parse_prefixes(value, &p->connect, why, sizeof(why));
		p->has_connect = r == 0;
	} else if (strcmp(key, "send_destinations") == 0) {
		r = policy_parse_prefixes(value, &p->send_dst, why, sizeof(why));
		p->has_send_dst = r == 0;
	} else if ((nk = num_key_find(key))) {
		uint64_t v;
		r = num_parse(value, nk, &v, why, sizeof(why));
		if (r == 0)
			num_key_store(p, nk->id, v);
	} else if (strcmp(key, "require_hash") == 0 || strcmp(key, "rrc") == 0 ||
	           strcmp(key, "media") == 0) {
		bool b;
		r = parse_bool(value, &b);
		if (r < 0)
			snprintf(why, sizeof(why), "'%s' is not yes or no", value);
		else if (strcmp(key, "require_hash") == 0)
			p->require_hash = b;
		else if (strcmp(key, "media") == 0)
			p->media = b;
		else
			p->rrc = b;
	} else {
		return 0;
	}
	if (r < 0)
		return err_set(err, errlen, -EINVAL, "%s: %s", key, why);
	return 1;
}

int policy_finish(const struct ns_policy *p, char *err, size_t errlen)
{
	if (!p->has_source)
		return 0;
	for (size_t i = 0; i < p->source.n; i++) {
		if (!policy_prefixes_cover(&p->prefixes, &p->source.v[i])) {
			char buf[64];
			return err_set(err, errlen, -EINVAL,
			               "source_prefixes: %s is not inside the publisher's prefixes",
			               ncm_prefix_format(&p->source.v[i], buf, sizeof(buf)));
		}
	}
	return 0;
}

/* ---- checks ------------------------------------------------------------------ */

/* Names filter i of n for the 403's reason: "filter" alone, else "filter 2"
 * (the filter-2-* headers) so that the publisher sees which one failed. */
static const char *filter_label(size_t i, size_t n, char *buf, size_t len)
{
	if (n <= 1)
		snprintf(buf, len, "filter");
	else
		snprintf(buf, len, "filter %zu", i + 1);
	return buf;
}

/* One filter of a SETUP against the policy: its destination or its source
 * prefix inside the publisher's prefixes (or the proven address), its protocol
 * and its ports allowed. Returns 0 or -EPERM naming the filter. */
static int check_filter(const struct ns_policy *p, const char *user, const struct ncm_filter *f,
                        size_t i, size_t n, const struct ncm_prefix *proven, char *err,
                        size_t errlen)
{
	char what[40];
	filter_label(i, n, what, sizeof(what));
	bool covered = policy_prefixes_cover(&p->prefixes, &f->dst) ||
	               policy_prefixes_cover(&p->prefixes, &f->src);
	if (!covered && proven)
		covered = (f->dst.family && policy_prefix_within(&f->dst, proven)) ||
		          (f->src.family && policy_prefix_within(&f->src, proven));
	if (!covered) {
		char src[64], dst[64];
		return err_set(err, errlen, -EPERM,
		               "%s (src %s, dst %s) is outside the prefixes authorized for %s",
		               what, ncm_prefix_format(&f->src, src, sizeof(src)),
		               ncm_prefix_format(&f->dst, dst, sizeof(dst)), user);
	}
	if (!proto_allowed(p, f->proto)) {
		const char *name = ncm_proto_name(f->proto);
		return err_set(err, errlen, -EPERM, "%s protocol %s%s%u is not allowed for %s",
		               what, name ? name : "", name ? "/" : "", f->proto, user);
	}
	if (f->port_lo == 0 && !p->ports.any)
		return err_set(err, errlen, -EPERM,
		               "%s without a port: %s may only filter its allowed ports", what,
		               user);
	if (f->port_lo && !range_allowed(&p->ports, f->port_lo, f->port_hi))
		return err_set(err, errlen, -EPERM, "%s port %u-%u is not allowed for %s", what,
		               f->port_lo, f->port_hi, user);
	return 0;
}

int policy_check_setup(const struct ns_policy *p, const struct ncm_request *req,
                       const struct policy_listen *listen, size_t n_listen,
                       const struct ncm_prefix *proven, char *err, size_t errlen)
{
	for (size_t i = 0; i < req->n_properties; i++)
		if (strncmp(req->properties[i].key, POLICY_RESERVED_PREFIX,
		            strlen(POLICY_RESERVED_PREFIX)) == 0)
			return err_set(err, errlen, -EPERM,
			               "property '%s': keys starting with '" POLICY_RESERVED_PREFIX
			               "' are reserved for the node",
			               req->properties[i].key);
	for (size_t i = 0; i < req->n_filters; i++) {
		int r = check_filter(p, req->user, &req->filters[i], i, req->n_filters, proven, err,
		                     errlen);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n_listen; i++) {
		bool tcp = listen[i].proto == NCM_PROTO_TCP;
		if (!policy_port_allowed(tcp ? &p->listen_tcp : &p->listen_udp, listen[i].port))
			return err_set(err, errlen, -EPERM,
			               "listening on %s:%u is not allowed for %s",
			               tcp ? "tcp" : "udp", listen[i].port, req->user);
	}
	return 0;
}

int policy_rrc_password_valid(const char *pw)
{
	size_t n = pw ? strlen(pw) : 0;
	if (n < POLICY_RRC_PASSWORD_MIN || n > POLICY_RRC_PASSWORD_MAX)
		return -EINVAL;
	for (const char *p = pw; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("+/=_-", *p)))
			return -EINVAL;
	return 0;
}

/* Whether name is one of the comma-separated words of list. */
static bool in_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		size_t m = strcspn(p, ", ");
		if (m == n && strncmp(p, name, n) == 0)
			return true;
		p += m;
	}
	return false;
}

int policy_check_dependencies(const struct ncm_request *req, const char *building_blocks,
                              bool (*installed)(void *ctx, const char *name), void *ctx, char *err,
                              size_t errlen)
{
	for (size_t i = 0; i < req->n_dependencies; i++) {
		const char *d = req->dependencies[i];
		if (in_list(building_blocks, d) || (installed && installed(ctx, d)))
			continue;
		return err_set(err, errlen, -ENOENT,
		               "missing dependency '%s': not a building block of this node nor an "
		               "installed module of %s",
		               d, req->user ? req->user : "the publisher");
	}
	return 0;
}
