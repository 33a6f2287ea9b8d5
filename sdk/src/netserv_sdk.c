/* netserv_sdk.c: the SDK's part of every module, linked in by
 * `netserv module build`. It defines the packet buffer and the exports every
 * module has (ns_abi_version, ns_packet_buffer), the mem* functions clang may
 * call (there is no libc), and the helpers declared in netserv.h that are too
 * big to inline. Unused helpers are dropped by the linker (--gc-sections). */
#include "netserv.h"

/* --- ABI ----------------------------------------------------------------- */

/* The node copies each packet here before calling ns_packet(), and reads it
 * back from here for NS_MODIFIED. In .bss: costs no bytes in the .wasm. */
uint8_t ns_sdk_packet[NS_PACKET_MAX] __attribute__((aligned(16)));

NS_EXPORT(ns_abi_version) uint32_t ns_abi_version(void);
uint32_t ns_abi_version(void)
{
	return NS_ABI_VERSION;
}

#if defined(__wasm__)
NS_EXPORT(ns_packet_buffer) uint32_t ns_packet_buffer(void);
uint32_t ns_packet_buffer(void)
{
	return (uint32_t)(uintptr_t)ns_sdk_packet;
}

/* --- The C library functions the compiler may emit calls to --------------
 * `netserv module build` compiles with -ffreestanding (which implies
 * -fno-builtin, so clang never turns these loops back into calls to
 * themselves) and -mbulk-memory (so __builtin_memcpy/memmove/memset are
 * memory.copy/memory.fill instructions, never calls). */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
int bcmp(const void *a, const void *b, size_t n);

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
#if defined(__wasm_bulk_memory__)
	return __builtin_memcpy(dst, src, n);
#else
	uint8_t *d = dst;
	const uint8_t *s = src;
	while (n--)
		*d++ = *s++;
	return dst;
#endif
}

void *memmove(void *dst, const void *src, size_t n)
{
#if defined(__wasm_bulk_memory__)
	return __builtin_memmove(dst, src, n); /* memory.copy allows overlap */
#else
	uint8_t *d = dst;
	const uint8_t *s = src;
	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
#endif
}

void *memset(void *dst, int c, size_t n)
{
#if defined(__wasm_bulk_memory__)
	return __builtin_memset(dst, c, n);
#else
	uint8_t *d = dst;
	while (n--)
		*d++ = (uint8_t)c;
	return dst;
#endif
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	for (size_t i = 0; i < n; i++) {
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	}
	return 0;
}

int bcmp(const void *a, const void *b, size_t n)
{
	return memcmp(a, b, n);
}
#endif /* __wasm__ */

/* --- Formatting ---------------------------------------------------------- */

struct fmt_out {
	char *buf;
	uint32_t cap;
	uint32_t n; /* length of the whole output so far */
};

static void out_char(struct fmt_out *o, char c)
{
	if (o->n + 1 < o->cap)
		o->buf[o->n] = c;
	o->n++;
}

static void out_pad(struct fmt_out *o, char c, int count)
{
	while (count-- > 0)
		out_char(o, c);
}

/* Formats v in `base` with at least `width` characters. */
static void out_num(struct fmt_out *o, uint64_t v, unsigned base, bool upper, bool neg, int width,
                    bool zero, bool left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v);
	int len = n + (neg ? 1 : 0);
	if (!left && !zero)
		out_pad(o, ' ', width - len);
	if (neg)
		out_char(o, '-');
	if (!left && zero)
		out_pad(o, '0', width - len);
	while (n)
		out_char(o, tmp[--n]);
	if (left)
		out_pad(o, ' ', width - len);
}

int ns_vsnprintf(char *buf, uint32_t cap, const char *fmt, va_list ap)
{
	struct fmt_out o = {.buf = buf, .cap = cap};
	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			out_char(&o, *f);
			continue;
		}
		f++;
		bool left = false, zero = false;
		for (;; f++) {
			if (*f == '-')
				left = true;
			else if (*f == '0')
				zero = true;
			else
				break;
		}
		int width = 0;
		if (*f == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				left = true;
				width = -width;
			}
			f++;
		} else {
			while (*f >= '0' && *f <= '9')
				width = width * 10 + (*f++ - '0');
		}
		int prec = -1;
		if (*f == '.') {
			f++;
			prec = 0;
			if (*f == '*') {
				prec = va_arg(ap, int);
				f++;
			} else {
				while (*f >= '0' && *f <= '9')
					prec = prec * 10 + (*f++ - '0');
			}
		}
		int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
		while (*f == 'l' || *f == 'h' || *f == 'z') {
			if (*f == 'l')
				lng++;
			else if (*f == 'z')
				lng = 3;
			f++;
		}
		switch (*f) {
		case 'd':
		case 'i': {
			int64_t v = lng == 0   ? va_arg(ap, int)
			            : lng == 1 ? va_arg(ap, long)
			            : lng == 3 ? (int64_t)va_arg(ap, size_t)
			                       : va_arg(ap, long long);
			uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
			out_num(&o, u, 10, false, v < 0, width, zero, left);
			break;
		}
		case 'u':
		case 'x':
		case 'X': {
			uint64_t v = lng == 0   ? va_arg(ap, unsigned)
			             : lng == 1 ? va_arg(ap, unsigned long)
			             : lng == 3 ? va_arg(ap, size_t)
			                        : va_arg(ap, unsigned long long);
			out_num(&o, v, *f == 'u' ? 10 : 16, *f == 'X', false, width, zero, left);
			break;
		}
		case 'p':
			out_char(&o, '0');
			out_char(&o, 'x');
			out_num(&o, (uintptr_t)va_arg(ap, void *), 16, false, false, 0, false,
			        false);
			break;
		case 'c':
			if (!left)
				out_pad(&o, ' ', width - 1);
			out_char(&o, (char)va_arg(ap, int));
			if (left)
				out_pad(&o, ' ', width - 1);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			int len = 0;
			while ((prec < 0 || len < prec) && s[len])
				len++;
			if (!left)
				out_pad(&o, ' ', width - len);
			for (int i = 0; i < len; i++)
				out_char(&o, s[i]);
			if (left)
				out_pad(&o, ' ', width - len);
			break;
		}
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			f--; /* a lone '%' at the end */
			break;
		default: /* unknown conversion: print it as is */
			out_char(&o, '%');
			out_char(&o, *f);
			break;
		}
	}
	if (cap)
		buf[o.n < cap ? o.n : cap - 1] = '\0';
	return (int)o.n;
}

int ns_snprintf(char *buf, uint32_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = ns_vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

void ns_logf(enum ns_log_level level, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = ns_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	ns_log(level, line, (uint32_t)n);
}

int ns_fmt_ip(char *buf, uint32_t cap, uint8_t version, const void *addr)
{
	const uint8_t *a = addr;
	if (version == 4)
		return ns_snprintf(buf, cap, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
	if (version != 6)
		return ns_snprintf(buf, cap, "?");

	/* IPv4-mapped addresses in mixed notation (RFC 5952 section 5). */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!ns_memcmp(a, mapped, sizeof(mapped)))
		return ns_snprintf(buf, cap, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);

	uint16_t g[8];
	for (int i = 0; i < 8; i++)
		g[i] = ns_get_be16(a + 2 * i);
	/* The longest run of two or more zero groups (the first of equals) is "::". */
	int best = -1, best_len = 1;
	for (int i = 0; i < 8;) {
		if (g[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !g[j])
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j;
	}
	struct fmt_out o = {.buf = buf, .cap = cap};
	for (int i = 0; i < 8; i++) {
		if (i == best) {
			out_char(&o, ':');
			if (i == 0)
				out_char(&o, ':');
			i += best_len - 1;
			continue;
		}
		out_num(&o, g[i], 16, false, false, 0, false, false);
		if (i < 7)
			out_char(&o, ':');
	}
	if (cap)
		buf[o.n < cap ? o.n : cap - 1] = '\0';
	return (int)o.n;
}

/* --- Properties ---------------------------------------------------------- */

/* Reads property `key` into buf with blanks around it removed; NULL if absent
 * or too long. */
static const char *prop_trimmed(const char *key, char *buf, uint32_t cap)
{
	int32_t n = ns_prop_get(key, buf, cap);
	if (n < 0)
		return NULL;
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	const char *s = buf;
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

uint32_t ns_prop_u32(const char *key, uint32_t def)
{
	char buf[32];
	const char *s = prop_trimmed(key, buf, sizeof(buf));
	if (!s || !*s)
		return def;
	unsigned base = 10;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return def;
	}
	uint64_t v = 0;
	for (; *s; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return def;
		v = v * base + d;
		if (v > UINT32_MAX)
			return def;
	}
	return (uint32_t)v;
}

int32_t ns_prop_i32(const char *key, int32_t def)
{
	char buf[32];
	const char *s = prop_trimmed(key, buf, sizeof(buf));
	if (!s)
		return def;
	bool neg = false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!*s)
		return def;
	int64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return def;
		v = v * 10 + (*s - '0');
		if (v > (int64_t)INT32_MAX + 1)
			return def;
	}
	v = neg ? -v : v;
	if (v > INT32_MAX || v < INT32_MIN)
		return def;
	return (int32_t)v;
}

bool ns_prop_is(const char *key, const char *value)
{
	char buf[256];
	const char *s = prop_trimmed(key, buf, sizeof(buf));
	return s && ns_streq(s, value);
}

/* --- Checksums ----------------------------------------------------------- */

uint32_t ns_csum_add(uint32_t sum, const void *data, uint32_t len)
{
	const uint8_t *p = data;
	uint64_t s = sum;
	uint32_t i = 0;
	for (; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xffffffff) + (s >> 32);
	return (uint32_t)s;
}

uint16_t ns_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

int ns_pkt_fixup(uint8_t *pkt, uint32_t len)
{
	if (len < 20 || len > NS_PACKET_MAX)
		return -NS_EINVAL;
	uint8_t version = pkt[0] >> 4;
	if (version == 4) {
		uint32_t ihl = (uint32_t)(pkt[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len)
			return -NS_EINVAL;
		ns_put_be16(pkt + 2, (uint16_t)len);
		ns_put_be16(pkt + 10, 0);
		ns_put_be16(pkt + 10, ns_csum_fold(ns_csum_add(0, pkt, ihl)));
	} else if (version == 6) {
		if (len < 40)
			return -NS_EINVAL;
		ns_put_be16(pkt + 4, (uint16_t)(len - 40));
	} else {
		return -NS_EINVAL;
	}

	struct ns_ip ip;
	if (ns_ip_parse(pkt, len, &ip) < 0)
		return -NS_EINVAL;
	if (ip.is_fragment || (ip.proto != NS_IPPROTO_UDP && ip.proto != NS_IPPROTO_TCP))
		return 0;
	uint8_t *l4 = pkt + ip.l4_off;
	uint32_t l4_len = len - ip.l4_off;
	uint32_t csum_at;
	if (ip.proto == NS_IPPROTO_UDP) {
		if (l4_len < 8)
			return -NS_EINVAL;
		ns_put_be16(l4 + 4, (uint16_t)l4_len);
		csum_at = 6;
		if (ip.version == 4 && ns_get_be16(l4 + 6) == 0)
			return 0; /* the sender turned the IPv4 UDP checksum off */
	} else {
		if (l4_len < 20)
			return -NS_EINVAL;
		csum_at = 16;
	}
	ns_put_be16(l4 + csum_at, 0);
	uint32_t sum = ns_csum_add(0, ip.src, ip.addr_len);
	sum = ns_csum_add(sum, ip.dst, ip.addr_len);
	sum += ip.proto + l4_len; /* the pseudo-header's protocol and length */
	uint16_t csum = ns_csum_fold(ns_csum_add(sum, l4, l4_len));
	if (ip.proto == NS_IPPROTO_UDP && csum == 0)
		csum = 0xffff;
	ns_put_be16(l4 + csum_at, csum);
	return 0;
}
