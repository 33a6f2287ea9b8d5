/* netserv_util.c: the helpers of netserv_util.h (text, addresses, checksums,
 * packets, typed properties), linked into every module by `netserv module
 * build`; unused ones are dropped by the linker. Plain C without libc: the
 * unit tests (tests/unit/test_sdk_util.c) compile it natively as well. */
#include "netserv.h"

/* --- Text ---------------------------------------------------------------------- */

struct ns_str ns_str_c(const char *s)
{
	return (struct ns_str){s, s ? ns_strlen(s) : 0};
}

struct ns_str ns_str_trim(struct ns_str s)
{
	while (s.len && ns_is_space(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && ns_is_space(s.p[s.len - 1]))
		s.len--;
	return s;
}

bool ns_str_eq(struct ns_str a, struct ns_str b)
{
	return a.len == b.len && (a.len == 0 || !ns_memcmp(a.p, b.p, a.len));
}

bool ns_str_ieq(struct ns_str s, const char *lit)
{
	uint32_t i = 0;
	for (; i < s.len; i++)
		if (!lit[i] || ns_lower(s.p[i]) != ns_lower(lit[i]))
			return false;
	return lit[i] == '\0';
}

bool ns_str_istarts(struct ns_str s, const char *prefix)
{
	for (uint32_t i = 0; prefix[i]; i++)
		if (i >= s.len || ns_lower(s.p[i]) != ns_lower(prefix[i]))
			return false;
	return true;
}

bool ns_str_split(struct ns_str *rest, char sep, struct ns_str *tok)
{
	if (!rest->p) { /* exhausted */
		*tok = (struct ns_str){0, 0};
		return false;
	}
	uint32_t i = 0;
	while (i < rest->len && rest->p[i] != sep)
		i++;
	*tok = (struct ns_str){rest->p, i};
	if (i < rest->len)
		*rest = (struct ns_str){rest->p + i + 1, rest->len - i - 1};
	else
		*rest = (struct ns_str){0, 0}; /* no separator left: the last token */
	return true;
}

int ns_str_uint(struct ns_str s, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;
	if (s.len == 0)
		return -NS_EINVAL;
	for (uint32_t i = 0; i < s.len; i++)
		if (!ns_is_digit(s.p[i]))
			return -NS_EINVAL;
	for (uint32_t i = 0; i < s.len; i++) {
		uint64_t d = (uint64_t)(s.p[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -NS_ERANGE;
		n = n * 10 + d;
	}
	if (n > max)
		return -NS_ERANGE;
	*v = n;
	return 0;
}

void ns_hex(char *out, const void *in, uint32_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = (const uint8_t *)in;
	for (uint32_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
}

/* --- Addresses ------------------------------------------------------------------ */

static int parse_ipv4(struct ns_str s, uint8_t out[4])
{
	uint32_t i = 0;
	for (int k = 0; k < 4; k++) {
		uint32_t v = 0, d = 0;
		while (i < s.len && ns_is_digit(s.p[i]) && d < 4) {
			v = v * 10 + (uint32_t)(s.p[i++] - '0');
			d++;
		}
		if (d == 0 || d > 3 || v > 255)
			return 0;
		out[k] = (uint8_t)v;
		if (k < 3) {
			if (i >= s.len || s.p[i] != '.')
				return 0;
			i++;
		}
	}
	return i == s.len ? 4 : 0;
}

static int parse_ipv6(struct ns_str s, uint8_t out[16])
{
	uint16_t words[8];
	int n = 0, gap = -1;
	uint32_t i = 0;
	if (s.len >= 2 && s.p[0] == ':' && s.p[1] == ':') {
		gap = 0;
		i = 2;
	} else if (s.len >= 1 && s.p[0] == ':') {
		return 0;
	}
	while (i < s.len) {
		if (n >= 8)
			return 0;
		uint32_t e = i; /* a dotted quad ends the address */
		bool dot = false;
		while (e < s.len && s.p[e] != ':') {
			dot |= s.p[e] == '.';
			e++;
		}
		if (dot) {
			uint8_t v4[4];
			if (e != s.len || n > 6 || !parse_ipv4((struct ns_str){s.p + i, e - i}, v4))
				return 0;
			words[n++] = (uint16_t)(v4[0] << 8 | v4[1]);
			words[n++] = (uint16_t)(v4[2] << 8 | v4[3]);
			i = e;
			break;
		}
		uint32_t v = 0, d = 0;
		while (i < s.len && d < 5) {
			char c = ns_lower(s.p[i]);
			if (ns_is_digit(c))
				v = v * 16 + (uint32_t)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v = v * 16 + (uint32_t)(c - 'a' + 10);
			else
				break;
			i++;
			d++;
		}
		if (d == 0 || d > 4)
			return 0;
		words[n++] = (uint16_t)v;
		if (i == s.len)
			break;
		if (s.p[i] != ':')
			return 0;
		i++;
		if (i < s.len && s.p[i] == ':') {
			if (gap >= 0)
				return 0;
			gap = n;
			i++;
		} else if (i == s.len) {
			return 0; /* a trailing single ':' */
		}
	}
	if ((gap < 0 && n != 8) || (gap >= 0 && n > 7))
		return 0;
	int fill = gap < 0 ? 0 : 8 - n, o = 0;
	for (int k = 0; k <= n; k++) {
		if (k == gap)
			for (int z = 0; z < fill; z++, o++)
				out[2 * o] = out[2 * o + 1] = 0;
		if (k == n)
			break;
		out[2 * o] = (uint8_t)(words[k] >> 8);
		out[2 * o + 1] = (uint8_t)words[k];
		o++;
	}
	return 6;
}

int ns_addr_parse(struct ns_str s, uint8_t out[16])
{
	for (uint32_t i = 0; i < s.len; i++)
		if (s.p[i] == ':')
			return parse_ipv6(s, out);
	return parse_ipv4(s, out);
}

/* --- Checksums ------------------------------------------------------------------ */

uint16_t ns_csum(const void *data, uint32_t len)
{
	return ns_csum_fold(ns_csum_add(0, data, len));
}

uint16_t ns_csum_l4(uint8_t version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                    const void *l4, uint32_t len)
{
	uint32_t alen = version == 4 ? 4 : 16;
	uint32_t sum = ns_csum_add(0, src, alen);
	sum = ns_csum_add(sum, dst, alen);
	uint8_t tail[8]; /* the rest of the pseudo-header: length, then protocol */
	ns_put_be32(tail, len);
	ns_put_be32(tail + 4, proto);
	sum = ns_csum_add(sum, tail, sizeof(tail));
	return ns_csum_fold(ns_csum_add(sum, l4, len));
}

/* --- Packets -------------------------------------------------------------------- */

int ns_flow_reply(struct ns_flow *f, const void *pkt, uint32_t len)
{
	const uint8_t *p = (const uint8_t *)pkt;
	struct ns_ip ip;
	if (ns_ip_parse(pkt, len, &ip) < 0 || ip.is_fragment ||
	    (ip.proto != NS_IPPROTO_UDP && ip.proto != NS_IPPROTO_TCP))
		return -NS_EINVAL;
	uint32_t hlen = ip.proto == NS_IPPROTO_UDP ? 8 : 20;
	if (ip.l4_off + hlen > ip.len)
		return -NS_EINVAL;
	const uint8_t *l4 = p + ip.l4_off;
	ns_memset(f, 0, sizeof(*f));
	f->version = ip.version;
	f->proto = ip.proto;
	f->ttl = 64;
	ns_memcpy(f->src, ip.dst, ip.addr_len);
	ns_memcpy(f->dst, ip.src, ip.addr_len);
	f->sport = ns_get_be16(l4 + 2);
	f->dport = ns_get_be16(l4);
	if (ip.proto == NS_IPPROTO_TCP) {
		uint32_t doff = (uint32_t)(l4[12] >> 4) * 4;
		if (doff < 20 || ip.l4_off + doff > ip.len)
			return -NS_EINVAL;
		uint32_t seg = ip.len - ip.l4_off - doff;
		uint8_t flags = l4[13];
		seg += (flags & NS_TCP_SYN) ? 1 : 0;
		seg += (flags & NS_TCP_FIN) ? 1 : 0;
		f->seq = (flags & NS_TCP_ACK) ? ns_get_be32(l4 + 8) : 0;
		f->ack = ns_get_be32(l4 + 4) + seg;
		f->tcp_flags = NS_TCP_ACK;
		f->window = 65535;
	}
	return 0;
}

int ns_build_packet(uint8_t *out, uint32_t cap, const struct ns_flow *f, const void *payload,
                    uint32_t plen)
{
	if ((f->version != 4 && f->version != 6) ||
	    (f->proto != NS_IPPROTO_UDP && f->proto != NS_IPPROTO_TCP))
		return -NS_EINVAL;
	uint32_t iph = f->version == 4 ? 20 : 40;
	uint32_t l4h = f->proto == NS_IPPROTO_UDP ? 8 : 20;
	if (plen > NS_PACKET_MAX)
		return -NS_EMSGSIZE;
	uint32_t l4len = l4h + plen, total = iph + l4len;
	if (total > cap || (f->version == 4 ? total : l4len) > 65535)
		return -NS_EMSGSIZE;
	uint8_t *ip = out, *l4 = out + iph;
	ns_memmove(l4 + l4h, payload, plen); /* first: the payload may sit in out */
	ns_memset(out, 0, iph + l4h);
	uint8_t ttl = f->ttl ? f->ttl : 64;
	if (f->version == 4) {
		ip[0] = 0x45;
		ns_put_be16(ip + 2, (uint16_t)total);
		ns_put_be16(ip + 4, f->ip_id);
		ip[6] = 0x40; /* DF */
		ip[8] = ttl;
		ip[9] = f->proto;
		ns_memcpy(ip + 12, f->src, 4);
		ns_memcpy(ip + 16, f->dst, 4);
		ns_put_be16(ip + 10, ns_csum(ip, 20));
	} else {
		ip[0] = 0x60;
		ns_put_be16(ip + 4, (uint16_t)l4len);
		ip[6] = f->proto;
		ip[7] = ttl;
		ns_memcpy(ip + 8, f->src, 16);
		ns_memcpy(ip + 24, f->dst, 16);
	}
	ns_put_be16(l4, f->sport);
	ns_put_be16(l4 + 2, f->dport);
	uint32_t csum_at;
	if (f->proto == NS_IPPROTO_UDP) {
		ns_put_be16(l4 + 4, (uint16_t)l4len);
		csum_at = 6;
	} else {
		ns_put_be32(l4 + 4, f->seq);
		ns_put_be32(l4 + 8, f->ack);
		l4[12] = 5 << 4; /* data offset: 20 bytes */
		l4[13] = f->tcp_flags;
		ns_put_be16(l4 + 14, f->window);
		csum_at = 16;
	}
	uint16_t c = ns_csum_l4(f->version, f->src, f->dst, f->proto, l4, l4len);
	if (f->proto == NS_IPPROTO_UDP && c == 0)
		c = 0xffff; /* 0 is "no checksum" in UDP over IPv4, and invalid over IPv6 */
	ns_put_be16(l4 + csum_at, c);
	return (int)total;
}

int ns_reply_packet(uint8_t *out, uint32_t cap, const void *pkt, uint32_t len, const void *payload,
                    uint32_t plen)
{
	struct ns_flow f;
	int r = ns_flow_reply(&f, pkt, len);
	return r < 0 ? r : ns_build_packet(out, cap, &f, payload, plen);
}

/* --- Typed properties ------------------------------------------------------------ */

int ns_prop_str(const char *key, char *buf, uint32_t cap, const char *def)
{
	int32_t n = ns_prop_get(key, buf, cap);
	if (n >= 0)
		return 0;
	if (n == -NS_ENOENT) {
		uint32_t dl = def ? ns_strlen(def) : 0;
		if (dl < cap) {
			if (dl)
				ns_memcpy(buf, def, dl);
			buf[dl] = '\0';
			return 0;
		}
	}
	if (cap)
		buf[0] = '\0';
	return -NS_ENOSPC;
}

/* Reads property `key` trimmed into buf: 1 if present, 0 if absent, or
 * -NS_EINVAL if it does not fit (no number or word of ours is that long). */
static int prop_text(const char *key, char *buf, uint32_t cap, struct ns_str *s)
{
	int32_t n = ns_prop_get(key, buf, cap);
	if (n == -NS_ENOENT)
		return 0;
	if (n < 0)
		return -NS_EINVAL;
	*s = ns_str_trim((struct ns_str){buf, (uint32_t)n});
	return 1;
}

int ns_prop_uint(const char *key, uint64_t min, uint64_t max, uint64_t def, uint64_t *v)
{
	char buf[32];
	struct ns_str s;
	uint64_t n;
	*v = def;
	int r = prop_text(key, buf, sizeof(buf), &s);
	if (r <= 0)
		return r;
	r = ns_str_uint(s, max, &n);
	if (r < 0)
		return r;
	if (n < min)
		return -NS_ERANGE;
	*v = n;
	return 0;
}

int ns_prop_bool(const char *key, bool def, bool *v)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};
	char buf[16];
	struct ns_str s;
	*v = def;
	int r = prop_text(key, buf, sizeof(buf), &s);
	if (r <= 0)
		return r;
	for (uint32_t i = 0; i < 4; i++) {
		if (ns_str_ieq(s, yes[i])) {
			*v = true;
			return 0;
		}
		if (ns_str_ieq(s, no[i])) {
			*v = false;
			return 0;
		}
	}
	return -NS_EINVAL;
}

int ns_prop_addr(const char *key, uint8_t addr[16])
{
	char buf[64];
	struct ns_str s;
	uint8_t a[16];
	int r = prop_text(key, buf, sizeof(buf), &s);
	if (r <= 0)
		return r;
	int v = ns_addr_parse(s, a);
	if (!v)
		return -NS_EINVAL;
	ns_memcpy(addr, a, v == 4 ? 4 : 16);
	return v;
}
