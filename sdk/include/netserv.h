/* netserv.h: the NetServ module SDK (module ABI version 2).
 *
 * A NetServ module is a WebAssembly binary built from C with
 *
 *     netserv module build mymodule.c -o mymodule.wasm
 *
 * which compiles for wasm32, freestanding (no libc), and links in the SDK's
 * netserv_sdk.c. The module sees the node only through the functions declared
 * here (imports of wasm module "netserv": the building blocks, which are also
 * the module's capabilities). It defines any of the entry points below and the
 * SDK exports them: ns_init, ns_fini, ns_packet, ns_timer. docs/module-api.md
 * (installed in the netserv documentation) describes the whole contract.
 *
 * Conventions: functions that can fail return 0 (or a length, or an id) on
 * success and a negative NS_E* value (a Linux errno number) on failure.
 * Pointers and lengths are checked by the node against the module's memory; a
 * bad one traps the module, as an out-of-bounds access would.
 *
 * The header also compiles natively (no __wasm__): the imports become plain
 * extern functions named ns_import_* that a native test harness or benchmark
 * defines, and the packet buffer is the array ns_sdk_packet. */
#ifndef NETSERV_H
#define NETSERV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define NS_STATIC_ASSERT static_assert
#else
#define NS_STATIC_ASSERT _Static_assert
#endif

/* --- The ABI's constants (kept equal to the node's src/abi/host_api.h;
 * tests/daemon/test_sdk.sh checks that they agree) ----------------------- */

#define NS_ABI_VERSION 2

/* Largest packet a module sees; the size of the packet buffer. */
#define NS_PACKET_MAX 65535

/* What ns_packet() returns. */
enum ns_verdict {
	NS_ACCEPT = 0,   /* pass the packet on as received (changes to the buffer are ignored) */
	NS_DROP = 1,     /* drop it; later modules do not see it */
	NS_MODIFIED = 2, /* pass on the bytes now in the buffer (length: ns_pkt_set_len) */
};

/* Levels of ns_log(). */
enum ns_log_level {
	NS_LOG_ERR = 0,
	NS_LOG_WARN = 1,
	NS_LOG_INFO = 2,
	NS_LOG_DEBUG = 3,
};

/* Netfilter hook a packet was taken from (struct ns_pkt_meta.hook). */
enum ns_hook {
	NS_HOOK_PREROUTING = 0,
	NS_HOOK_INPUT = 1,
	NS_HOOK_FORWARD = 2,
	NS_HOOK_OUTPUT = 3,
	NS_HOOK_POSTROUTING = 4,
};

/* Metadata of the current packet, filled by ns_pkt_meta(). */
struct ns_pkt_meta {
	uint32_t hook;         /* enum ns_hook */
	uint32_t indev;        /* input ifindex, 0 if none */
	uint32_t outdev;       /* output ifindex, 0 if none */
	uint32_t mark;         /* netfilter mark */
	uint32_t queue;        /* NFQUEUE number (a sample: its NFLOG group) */
	uint32_t sample_every; /* N: a sample of one packet in N, its verdict ignored (the
	                          packet went on at once; it may be cut short: see the IP
	                          length); 0: a packet on the module's path */
	uint64_t rx_time_ns;   /* CLOCK_MONOTONIC when the node received it, 0 if unknown */
};
NS_STATIC_ASSERT(sizeof(struct ns_pkt_meta) == 32, "struct ns_pkt_meta is 32 bytes");
NS_STATIC_ASSERT(offsetof(struct ns_pkt_meta, rx_time_ns) == 24, "rx_time_ns at offset 24");

/* Error numbers; the node returns them negated (Linux errno values). */
#define NS_EPERM        1  /* not allowed by the node's policy */
#define NS_ENOENT       2  /* no such property, timer, ... */
#define NS_EAGAIN       11 /* rate limit: try later */
#define NS_ENOMEM       12 /* the node is out of resources */
#define NS_EACCES       13 /* not allowed by the node's policy */
#define NS_EFAULT       14
#define NS_EEXIST       17
#define NS_EINVAL       22 /* bad argument */
#define NS_ENOSPC       28 /* buffer too small; too many counters */
#define NS_ERANGE       34
#define NS_ENOSYS       38 /* not implemented by this node */
#define NS_EMSGSIZE     90 /* too long (packet, datagram) */
#define NS_ENOTSUP      95
#define NS_EAFNOSUPPORT 97 /* the node cannot send to this address family */
#define NS_EHOSTUNREACH 113

/* The `family` of ns_send_udp(): the IP version (not the Linux AF_* values),
 * so that struct ns_ip's `version` can be passed as it is. */
#define NS_IPV4 4
#define NS_IPV6 6

/* --- Entry points: define the ones the module needs ---------------------- */

#if defined(__wasm__)
#define NS_IMPORT(name) __attribute__((import_module("netserv"), import_name(#name)))
#define NS_EXPORT(name) __attribute__((export_name(#name)))
#else
#define NS_IMPORT(name)
#define NS_EXPORT(name) __attribute__((visibility("default")))
#endif

/* Called once after the module is instantiated (and again after every
 * re-instantiation that follows a trap): read properties, set timers, get
 * counter ids. A non-zero result refuses the install. */
NS_EXPORT(ns_init) int32_t ns_init(void);

/* Called once before the module is removed. */
NS_EXPORT(ns_fini) void ns_fini(void);

/* Called for each packet steered to the module. The packet (a whole IPv4 or
 * IPv6 datagram, no link-layer header) is in ns_pkt_data(), `len` bytes.
 * Returns an enum ns_verdict. To change the packet, edit the buffer, call
 * ns_pkt_set_len() if the length changes, and return NS_MODIFIED. */
NS_EXPORT(ns_packet) int32_t ns_packet(uint32_t len);

/* Called when the timer `id` set with ns_timer_set() fires. */
NS_EXPORT(ns_timer) void ns_timer(uint32_t id);

/* --- The imports (module "netserv"). Use the typed wrappers below. ------- */

NS_IMPORT(ns_log) void ns_import_log(uint32_t level, const char *msg, uint32_t len);
NS_IMPORT(ns_clock_ns) uint64_t ns_import_clock_ns(void);
NS_IMPORT(ns_time_ms) uint64_t ns_import_time_ms(void);
NS_IMPORT(ns_timer_set)
int32_t ns_import_timer_set(uint32_t id, uint32_t delay_ms, uint32_t periodic);
NS_IMPORT(ns_timer_cancel) int32_t ns_import_timer_cancel(uint32_t id);
NS_IMPORT(ns_prop_get)
int32_t ns_import_prop_get(const char *key, uint32_t key_len, char *buf, uint32_t cap);
NS_IMPORT(ns_counter_id) int32_t ns_import_counter_id(const char *name, uint32_t len);
NS_IMPORT(ns_counter_add) void ns_import_counter_add(uint32_t id, uint64_t delta);
NS_IMPORT(ns_pkt_set_len) int32_t ns_import_pkt_set_len(uint32_t len);
NS_IMPORT(ns_pkt_meta) int32_t ns_import_pkt_meta(struct ns_pkt_meta *meta);
NS_IMPORT(ns_send_udp)
int32_t ns_import_send_udp(uint32_t family, const void *addr, uint32_t dport, uint32_t sport,
                           const void *data, uint32_t len);
NS_IMPORT(ns_send_packet) int32_t ns_import_send_packet(const void *data, uint32_t len);

/* --- Memory and strings (no libc: these are the module's mem* and str*) --- */

/* With -mbulk-memory (as `netserv module build` compiles) these are single
 * memory.copy / memory.fill instructions. */
static inline void *ns_memcpy(void *dst, const void *src, size_t n)
{
	return __builtin_memcpy(dst, src, n);
}

static inline void *ns_memmove(void *dst, const void *src, size_t n)
{
	return __builtin_memmove(dst, src, n);
}

static inline void *ns_memset(void *dst, int c, size_t n)
{
	return __builtin_memset(dst, c, n);
}

static inline int ns_memcmp(const void *a, const void *b, size_t n)
{
	return __builtin_memcmp(a, b, n);
}

static inline uint32_t ns_strlen(const char *s)
{
	uint32_t n = 0;
	while (s[n])
		n++;
	return n;
}

/* True if the C strings a and b are equal. */
static inline bool ns_streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Formats like snprintf into buf (cap bytes, always NUL-terminated when cap >
 * 0); returns the length the whole output would have. Supports %d %i %u %x
 * %X %c %s %.*s %p %% with the l, ll, z and h modifiers, a width and the 0
 * and - flags. No floating point. */
int ns_snprintf(char *buf, uint32_t cap, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
int ns_vsnprintf(char *buf, uint32_t cap, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* --- Logging ------------------------------------------------------------- */

/* Logs `len` bytes of `msg` (no NUL needed) in the node's log, tagged with the
 * module. The node rate-limits module logging: lines beyond the limit are
 * counted and dropped. */
static inline void ns_log(enum ns_log_level level, const char *msg, uint32_t len)
{
	ns_import_log((uint32_t)level, msg, len);
}

/* Logs the C string `msg`. */
static inline void ns_logs(enum ns_log_level level, const char *msg)
{
	ns_import_log((uint32_t)level, msg, ns_strlen(msg));
}

/* Logs a formatted line (ns_snprintf formats; at most 255 bytes). */
void ns_logf(enum ns_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --- Time and timers ----------------------------------------------------- */

/* Monotonic clock in nanoseconds (for measuring intervals). */
static inline uint64_t ns_clock_ns(void)
{
	return ns_import_clock_ns();
}

/* Wall-clock time: milliseconds since the Unix epoch. */
static inline uint64_t ns_time_ms(void)
{
	return ns_import_time_ms();
}

/* Arms the timer `id` (a small number of the module's choosing: 0..15 on
 * current nodes) to call ns_timer(id) after delay_ms (1 ms .. 1 day), and then
 * every delay_ms if `periodic`. Setting an armed id re-arms it. Returns 0, or
 * -NS_EINVAL (id or delay out of range), -NS_ENOMEM. */
static inline int32_t ns_timer_set(uint32_t id, uint32_t delay_ms, bool periodic)
{
	return ns_import_timer_set(id, delay_ms, periodic ? 1 : 0);
}

/* Disarms the timer `id`. Returns 0, or -NS_ENOENT if it was not armed. */
static inline int32_t ns_timer_cancel(uint32_t id)
{
	return ns_import_timer_cancel(id);
}

/* --- Properties (the SETUP message's `properties:` header) --------------- */

/* Copies the value of property `key` into buf as a C string. Returns the
 * value's length, or -NS_ENOENT if there is no such property, -NS_ENOSPC if
 * the value and its NUL do not fit in cap bytes. */
static inline int32_t ns_prop_get(const char *key, char *buf, uint32_t cap)
{
	if (cap == 0)
		return -NS_ENOSPC;
	int32_t n = ns_import_prop_get(key, ns_strlen(key), buf, cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* The property `key` as an unsigned number (decimal, or hex with 0x), or
 * `def` if it is missing or not a number that fits in 32 bits. */
uint32_t ns_prop_u32(const char *key, uint32_t def);

/* The property `key` as a signed decimal number, or `def` (as ns_prop_u32). */
int32_t ns_prop_i32(const char *key, int32_t def);

/* True if the property `key` exists and equals `value`. */
bool ns_prop_is(const char *key, const char *value);

/* --- Counters (shown in the node's status and in PROBE responses) -------- */

/* Returns the id of the module's counter `name` (a C string), creating it at
 * 0 the first time; the same name gives the same id. Counters live in the
 * node: they keep counting across a re-instantiation of the module. Returns
 * -NS_EINVAL for an empty or too long name (79 bytes on current nodes), or
 * -NS_ENOSPC when the module has as many counters as the node allows (256 on
 * current nodes). */
static inline int32_t ns_counter_id(const char *name)
{
	return ns_import_counter_id(name, ns_strlen(name));
}

/* Adds delta to the counter `id`. A negative id (a failed ns_counter_id) is
 * ignored, so results can be used without checking. */
static inline void ns_counter_add(int32_t id, uint64_t delta)
{
	if (id >= 0)
		ns_import_counter_add((uint32_t)id, delta);
}

/* --- The packet ---------------------------------------------------------- */

/* The packet buffer (NS_PACKET_MAX bytes, 16-byte aligned), defined by the
 * SDK and exported to the node as ns_packet_buffer. */
extern uint8_t ns_sdk_packet[NS_PACKET_MAX];

/* The current packet; valid during ns_packet(). */
static inline uint8_t *ns_pkt_data(void)
{
	return ns_sdk_packet;
}

/* Sets the length of the packet in the buffer (write the bytes first, return
 * NS_MODIFIED). Returns 0, or -NS_EINVAL if len is below 20 (a minimal IP
 * header) or above NS_PACKET_MAX, or this is not during ns_packet(). The
 * node drops a modified packet whose IP length fields disagree with its
 * length (ns_pkt_fixup() sets them) or whose source address changed to one
 * outside the publisher's source_prefixes. */
static inline int32_t ns_pkt_set_len(uint32_t len)
{
	return ns_import_pkt_set_len(len);
}

/* Fills *meta with the current packet's metadata. Returns 0, or -NS_EINVAL
 * outside ns_packet(). */
static inline int32_t ns_pkt_meta(struct ns_pkt_meta *meta)
{
	return ns_import_pkt_meta(meta);
}

/* --- Sending (every send is checked by the node's policy) ---------------- */

/* Sends a UDP datagram with payload data[0..len) (at most 65507 bytes) to
 * addr (4 bytes for NS_IPV4, 16 for NS_IPV6, network byte order) port dport
 * (1..65535). sport is a wish: current nodes send from a port of their own
 * (pass 0). Returns 0, or -NS_EINVAL, -NS_EPERM (policy: destination outside
 * the publisher's send_destinations), -NS_EAGAIN (the publisher's send rate
 * limit; also a full socket buffer), -NS_EAFNOSUPPORT, or the error of the
 * send. */
static inline int32_t ns_send_udp(uint32_t family, const void *addr, uint16_t dport, uint16_t sport,
                                  const void *data, uint32_t len)
{
	return ns_import_send_udp(family, addr, dport, sport, data, len);
}

/* Sends a complete IPv4 or IPv6 packet (headers and checksums as given; the
 * IP length field must equal len: see ns_pkt_fixup). Returns 0, or
 * -NS_EINVAL, -NS_EPERM (policy, or no raw socket on the node), or the error
 * of the send. */
static inline int32_t ns_send_packet(const void *data, uint32_t len)
{
	return ns_import_send_packet(data, len);
}

/* --- Byte order ---------------------------------------------------------- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
static inline uint16_t ns_htons(uint16_t v)
{
	return v;
}
static inline uint32_t ns_htonl(uint32_t v)
{
	return v;
}
#else
static inline uint16_t ns_htons(uint16_t v)
{
	return __builtin_bswap16(v);
}
static inline uint32_t ns_htonl(uint32_t v)
{
	return __builtin_bswap32(v);
}
#endif
static inline uint16_t ns_ntohs(uint16_t v)
{
	return ns_htons(v);
}
static inline uint32_t ns_ntohl(uint32_t v)
{
	return ns_htonl(v);
}

/* Big-endian loads and stores at any alignment. */
static inline uint16_t ns_get_be16(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t ns_get_be32(const void *p)
{
	const uint8_t *b = (const uint8_t *)p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline void ns_put_be16(void *p, uint16_t v)
{
	uint8_t *b = (uint8_t *)p;
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void ns_put_be32(void *p, uint32_t v)
{
	uint8_t *b = (uint8_t *)p;
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

/* --- IPv4 / IPv6 --------------------------------------------------------- */

#define NS_IPPROTO_HOPOPTS  0
#define NS_IPPROTO_ICMP     1
#define NS_IPPROTO_TCP      6
#define NS_IPPROTO_UDP      17
#define NS_IPPROTO_ROUTING  43
#define NS_IPPROTO_FRAGMENT 44
#define NS_IPPROTO_AH       51
#define NS_IPPROTO_ICMPV6   58
#define NS_IPPROTO_NONE     59
#define NS_IPPROTO_DSTOPTS  60
#define NS_IPPROTO_SCTP     132
#define NS_IPPROTO_UDPLITE  136

/* Longest text form of an address from ns_fmt_ip(), with its NUL. */
#define NS_IP_STRLEN 46

/* A parsed IP header; addresses point into the packet. */
struct ns_ip {
	uint8_t version;    /* 4 or 6 */
	uint8_t proto;      /* transport protocol, after any IPv6 extension headers */
	uint8_t ttl;        /* IPv4 TTL or IPv6 hop limit */
	uint8_t addr_len;   /* 4 or 16 */
	bool is_fragment;   /* a fragment (first or later) */
	bool has_l4;        /* the transport header starts at l4_off (not a later fragment) */
	uint32_t l4_off;    /* offset of the transport header */
	uint32_t len;       /* datagram length from the IP header (<= the packet's length) */
	const uint8_t *src; /* source address, addr_len bytes */
	const uint8_t *dst; /* destination address, addr_len bytes */
};

/* IP version of a packet (the high nibble of its first byte), 0 if empty. */
static inline uint8_t ns_ip_version(const void *pkt, uint32_t len)
{
	return len ? ((const uint8_t *)pkt)[0] >> 4 : 0;
}

/* Parses the IPv4 or IPv6 header of pkt[0..len) into *ip, walking IPv6
 * extension headers (hop-by-hop, routing, fragment, destination options, AH)
 * to the transport header. Returns 0, or -NS_EINVAL if the packet is not a
 * well-formed IPv4/IPv6 datagram (*ip is then unspecified). */
static inline int ns_ip_parse(const void *pkt, uint32_t len, struct ns_ip *ip)
{
	const uint8_t *p = (const uint8_t *)pkt;
	if (len < 20)
		return -NS_EINVAL;
	ip->version = p[0] >> 4;
	if (ip->version == 4) {
		uint32_t ihl = (uint32_t)(p[0] & 0x0f) * 4;
		uint32_t tot = ns_get_be16(p + 2);
		uint16_t frag = ns_get_be16(p + 6);
		if (ihl < 20 || tot < ihl || tot > len)
			return -NS_EINVAL;
		ip->proto = p[9];
		ip->ttl = p[8];
		ip->addr_len = 4;
		ip->is_fragment = (frag & 0x3fff) != 0; /* MF or an offset */
		ip->has_l4 = (frag & 0x1fff) == 0;
		ip->l4_off = ihl;
		ip->len = tot;
		ip->src = p + 12;
		ip->dst = p + 16;
	} else if (ip->version == 6) {
		if (len < 40)
			return -NS_EINVAL;
		uint32_t tot = 40 + (uint32_t)ns_get_be16(p + 4);
		if (tot > len)
			return -NS_EINVAL;
		uint8_t next = p[6];
		uint32_t off = 40;
		ip->ttl = p[7];
		ip->addr_len = 16;
		ip->is_fragment = false;
		ip->has_l4 = true;
		ip->src = p + 8;
		ip->dst = p + 24;
		for (int i = 0; i < 8; i++) {
			uint32_t hlen;
			if (next == NS_IPPROTO_HOPOPTS || next == NS_IPPROTO_ROUTING ||
			    next == NS_IPPROTO_DSTOPTS) {
				if (off + 2 > tot)
					return -NS_EINVAL;
				hlen = ((uint32_t)p[off + 1] + 1) * 8;
			} else if (next == NS_IPPROTO_FRAGMENT) {
				if (off + 8 > tot)
					return -NS_EINVAL;
				hlen = 8;
				ip->is_fragment = true;
				if ((ns_get_be16(p + off + 2) & 0xfff8) != 0)
					ip->has_l4 = false;
			} else if (next == NS_IPPROTO_AH) {
				if (off + 2 > tot)
					return -NS_EINVAL;
				hlen = ((uint32_t)p[off + 1] + 2) * 4;
			} else {
				break;
			}
			if (off + hlen > tot)
				return -NS_EINVAL;
			next = p[off];
			off += hlen;
		}
		ip->proto = next;
		ip->l4_off = off;
		ip->len = tot;
	} else {
		return -NS_EINVAL;
	}
	return 0;
}

/* A parsed UDP header. */
struct ns_udp {
	uint16_t sport;       /* source port (host order) */
	uint16_t dport;       /* destination port (host order) */
	uint32_t payload_off; /* offset of the payload in the packet */
	uint32_t payload_len; /* payload length (from the UDP header) */
};

/* Parses the UDP header of a packet parsed into *ip. Returns 0, or
 * -NS_EINVAL if the packet is not UDP, is a later fragment or is truncated. */
static inline int ns_udp_parse(const void *pkt, const struct ns_ip *ip, struct ns_udp *udp)
{
	const uint8_t *p = (const uint8_t *)pkt + ip->l4_off;
	if (ip->proto != NS_IPPROTO_UDP || !ip->has_l4 || ip->l4_off + 8 > ip->len)
		return -NS_EINVAL;
	uint32_t ulen = ns_get_be16(p + 4);
	if (ulen < 8 || ip->l4_off + ulen > ip->len)
		return -NS_EINVAL;
	udp->sport = ns_get_be16(p);
	udp->dport = ns_get_be16(p + 2);
	udp->payload_off = ip->l4_off + 8;
	udp->payload_len = ulen - 8;
	return 0;
}

/* Source and destination ports of a TCP, UDP, UDP-Lite or SCTP packet parsed
 * into *ip. Returns 0, or -NS_EINVAL for other protocols, later fragments or
 * truncated headers. */
static inline int ns_l4_ports(const void *pkt, const struct ns_ip *ip, uint16_t *sport,
                              uint16_t *dport)
{
	const uint8_t *p = (const uint8_t *)pkt + ip->l4_off;
	if (ip->proto != NS_IPPROTO_TCP && ip->proto != NS_IPPROTO_UDP &&
	    ip->proto != NS_IPPROTO_UDPLITE && ip->proto != NS_IPPROTO_SCTP)
		return -NS_EINVAL;
	if (!ip->has_l4 || ip->l4_off + 4 > ip->len)
		return -NS_EINVAL;
	*sport = ns_get_be16(p);
	*dport = ns_get_be16(p + 2);
	return 0;
}

/* Writes the text form of an address (version 4 or 6, RFC 5952 for IPv6)
 * into buf as a C string; returns the length the text has (as ns_snprintf). */
int ns_fmt_ip(char *buf, uint32_t cap, uint8_t version, const void *addr);

/* Internet checksum: adds data[0..len) to the running 32-bit sum... */
uint32_t ns_csum_add(uint32_t sum, const void *data, uint32_t len);
/* ...and folds it into the 16-bit one's complement checksum to store. */
uint16_t ns_csum_fold(uint32_t sum);

/* After the module changed an IP packet in place, or resized it to `len`
 * bytes: rewrites the IPv4 total length and header checksum (or the IPv6
 * payload length) and, for an unfragmented UDP or TCP packet, the UDP length
 * and the UDP/TCP checksum (the transport data is taken to run to the end of
 * the packet). Returns 0, or -NS_EINVAL if the packet is not well formed. */
int ns_pkt_fixup(uint8_t *pkt, uint32_t len);

/* --- Sockets (ABI 2: server modules) ------------------------------------ */

/* An address as the socket functions take and return it: family NS_IPV4 or
 * NS_IPV6, port in host byte order, addr the 4 (IPv4) or 16 address bytes in
 * network byte order. */
struct ns_sockaddr {
	uint32_t family;
	uint32_t port;
	uint8_t addr[16];
};
NS_STATIC_ASSERT(sizeof(struct ns_sockaddr) == 24, "struct ns_sockaddr is 24 bytes");

/* Socket types (the IP protocol numbers). */
#define NS_SOCK_TCP 6
#define NS_SOCK_UDP 17

/* Events passed to ns_socket(), a bit set. READABLE (data, a connection to
 * accept, or the peer's end of stream) comes once and not again until the
 * module calls ns_sock_recv() or ns_sock_accept() on that socket: a module
 * that stops reading is not called again for it, and the peer is held back
 * by TCP's window (UDP datagrams are dropped by the kernel). WRITABLE comes
 * once after ns_sock_send() took less than it was given or returned
 * -NS_EAGAIN. CONNECTED: an ns_sock_connect() completed. ERROR: it failed or
 * the connection broke (the next recv/send returns the reason); close it. */
#define NS_SOCK_READABLE  1u
#define NS_SOCK_WRITABLE  2u
#define NS_SOCK_CONNECTED 4u
#define NS_SOCK_HUP       8u
#define NS_SOCK_ERROR     16u

#define NS_EBADF        9   /* no such socket */
#define NS_EMFILE       24  /* the publisher's socket or connection limit */
#define NS_EPIPE        32  /* sending after shutdown */
#define NS_EADDRINUSE   98  /* the port is taken */
#define NS_ECONNRESET   104 /* the peer reset the connection */
#define NS_ENOTCONN     107
#define NS_ETIMEDOUT    110
#define NS_ECONNREFUSED 111
#define NS_EINPROGRESS  115

/* Called for the module's sockets' events: `id` is the socket, `events` the
 * NS_SOCK_* bits. Read with ns_sock_recv()/ns_sock_accept() until -NS_EAGAIN
 * to hear again. */
NS_EXPORT(ns_socket) void ns_socket(uint32_t id, uint32_t events);

NS_IMPORT(ns_sock_listen)
int32_t ns_import_sock_listen(uint32_t type, uint32_t family, uint32_t port);
NS_IMPORT(ns_sock_connect)
int32_t ns_import_sock_connect(uint32_t type, const struct ns_sockaddr *to);
NS_IMPORT(ns_sock_accept) int32_t ns_import_sock_accept(uint32_t id, struct ns_sockaddr *peer);
NS_IMPORT(ns_sock_recv)
int32_t ns_import_sock_recv(uint32_t id, void *buf, uint32_t cap, struct ns_sockaddr *from);
NS_IMPORT(ns_sock_send)
int32_t ns_import_sock_send(uint32_t id, const void *buf, uint32_t len,
                            const struct ns_sockaddr *to);
NS_IMPORT(ns_sock_shutdown) int32_t ns_import_sock_shutdown(uint32_t id);
NS_IMPORT(ns_sock_close) int32_t ns_import_sock_close(uint32_t id);
NS_IMPORT(ns_sock_name)
int32_t ns_import_sock_name(uint32_t id, struct ns_sockaddr *local, struct ns_sockaddr *peer);

/* Opens a TCP listener (NS_SOCK_TCP) or a bound UDP socket (NS_SOCK_UDP) on
 * `port` for `family` (NS_IPV4: every IPv4 address; NS_IPV6: every IPv6
 * address only). The port must be one of the publisher's listen ports.
 * Returns the socket id, or -NS_EPERM (policy), -NS_EMFILE, -NS_EADDRINUSE,
 * -NS_EINVAL. */
static inline int32_t ns_sock_listen(uint32_t type, uint32_t family, uint16_t port)
{
	return ns_import_sock_listen(type, family, port);
}

/* TCP: starts a connection to `to` (NS_SOCK_CONNECTED or NS_SOCK_ERROR
 * follows; sending before is refused with -NS_EAGAIN). UDP: a socket whose
 * datagrams go to `to` unless ns_sock_send() names another destination.
 * `to` must be among the publisher's connect_destinations. Returns the
 * socket id, or -NS_EPERM, -NS_EMFILE, -NS_EINVAL. */
static inline int32_t ns_sock_connect(uint32_t type, const struct ns_sockaddr *to)
{
	return ns_import_sock_connect(type, to);
}

/* Takes a connection from the TCP listener `id`; `peer` (NULL allowed) gets
 * its address. Returns the new socket's id, -NS_EAGAIN when none is waiting,
 * or -NS_EMFILE when the publisher has as many connections as its policy
 * allows (the waiting connection is then refused). */
static inline int32_t ns_sock_accept(uint32_t id, struct ns_sockaddr *peer)
{
	return ns_import_sock_accept(id, peer);
}

/* Reads into buf (at most cap bytes): TCP bytes, or one UDP datagram whose
 * source goes to `from` (NULL allowed; a datagram longer than cap is cut).
 * Returns the byte count, 0 at a TCP connection's end of stream, -NS_EAGAIN
 * when nothing is waiting, or the connection's error. */
static inline int32_t ns_sock_recv(uint32_t id, void *buf, uint32_t cap, struct ns_sockaddr *from)
{
	return ns_import_sock_recv(id, buf, cap, from);
}

/* Sends: TCP takes what fits (returns the count; NS_SOCK_WRITABLE follows
 * when it took less than len), UDP one datagram to `to` (NULL: the connected
 * address). Returns the bytes taken, -NS_EAGAIN (buffers full, or the
 * publisher's send rate limit), -NS_EPERM (destination outside the policy),
 * or the connection's error. */
static inline int32_t ns_sock_send(uint32_t id, const void *buf, uint32_t len,
                                   const struct ns_sockaddr *to)
{
	return ns_import_sock_send(id, buf, len, to);
}

/* TCP: no more sending (the peer sees end of stream); reading goes on. */
static inline int32_t ns_sock_shutdown(uint32_t id)
{
	return ns_import_sock_shutdown(id);
}

/* Closes the socket; its id may be reused. Returns 0 or -NS_EBADF. */
static inline int32_t ns_sock_close(uint32_t id)
{
	return ns_import_sock_close(id);
}

/* Fills the socket's local and peer addresses (either NULL). Returns 0,
 * -NS_EBADF, or -NS_ENOTCONN for the peer of an unconnected socket. */
static inline int32_t ns_sock_name(uint32_t id, struct ns_sockaddr *local, struct ns_sockaddr *peer)
{
	return ns_import_sock_name(id, local, peer);
}

/* --- HTTP (http/1) ----------------------------------------------------------- */

/* The http/1 building block: the node runs an HTTP/1.1 server for the module
 * (SETUP `dependencies: http/1` and `listen: tcp:PORT`); the module answers
 * requests through ns_http() and never parses HTTP itself. */

/* Events passed to ns_http(), one at a time. */
#define NS_HTTP_REQUEST  1u /* request line and headers are in */
#define NS_HTTP_BODY     2u /* a piece of the body can be read (ns_http_body_read) */
#define NS_HTTP_END      3u /* the request is complete */
#define NS_HTTP_WRITABLE 4u /* room again after ns_http_write() took less than given */
#define NS_HTTP_CLOSED   5u /* the client went away before the response was done */
/* Events of the module's own fetches (ns_http_fetch), the id being the fetch's. */
#define NS_HTTP_FETCH_HEADERS 16u /* status and headers in: ns_http_fetch_info/_header */
#define NS_HTTP_FETCH_DATA    17u /* body bytes to read (again only after a read) */
#define NS_HTTP_FETCH_DONE    18u /* over: all read, or failed; the id dies after it */

/* What ns_http_info() returns. */
#define NS_HTTP_METHOD  0u /* "GET", "HEAD", "POST", ... */
#define NS_HTTP_TARGET  1u /* the request target as sent: "/path?query" */
#define NS_HTTP_VERSION 2u /* "HTTP/1.1" */
#define NS_HTTP_PEER    3u /* the client's address, a struct ns_sockaddr */
#define NS_HTTP_SERVER  4u /* the server id it came to (4 bytes, little-endian) */

#define NS_EALREADY 114 /* a response was given already */

/* Called for each event of request `req` (enum above). A response may be
 * given at any event, or later (from a timer): the connection waits. Once a
 * whole response is given (ns_http_respond, or ns_http_end of a streamed
 * one) the module hears no more of that request; a trap while handling it
 * answers it 500. */
NS_EXPORT(ns_http) void ns_http(uint32_t req, uint32_t event);

NS_IMPORT(ns_http_listen) int32_t ns_import_http_listen(uint32_t family, uint32_t port);
NS_IMPORT(ns_http_info)
int32_t ns_import_http_info(uint32_t req, uint32_t what, void *buf, uint32_t cap);
NS_IMPORT(ns_http_header)
int32_t ns_import_http_header(uint32_t req, const char *name, uint32_t name_len, char *buf,
                              uint32_t cap);
NS_IMPORT(ns_http_body_read)
int32_t ns_import_http_body_read(uint32_t req, void *buf, uint32_t cap);
NS_IMPORT(ns_http_respond)
int32_t ns_import_http_respond(uint32_t req, uint32_t status, const char *headers, uint32_t hlen,
                               const void *body, uint32_t blen);
NS_IMPORT(ns_http_respond_start)
int32_t ns_import_http_respond_start(uint32_t req, uint32_t status, const char *headers,
                                     uint32_t hlen);
NS_IMPORT(ns_http_write) int32_t ns_import_http_write(uint32_t req, const void *buf, uint32_t len);
NS_IMPORT(ns_http_end) int32_t ns_import_http_end(uint32_t req);
NS_IMPORT(ns_http_abort) int32_t ns_import_http_abort(uint32_t req);
NS_IMPORT(ns_http_respond_stored)
int32_t ns_import_http_respond_stored(uint32_t req, uint32_t status, const char *headers,
                                      uint32_t hlen, const char *key, uint32_t key_len,
                                      uint32_t offset, uint32_t len);

/* Serves HTTP on `port` (one of the publisher's listen ports) for `family`
 * (0: IPv4 and IPv6, NS_IPV4, NS_IPV6); call it from ns_init(). The same
 * port again returns the same id. Returns the server id, or -NS_EPERM (not a
 * listen port of the publisher), -NS_EINVAL (no ns_http export), or the
 * error of the bind. */
static inline int32_t ns_http_listen(uint32_t family, uint16_t port)
{
	return ns_import_http_listen(family, port);
}

/* Copies the request's method, target, version, peer or server (NS_HTTP_*
 * above) into buf (not NUL-terminated). Returns the length, -NS_ENOSPC if
 * it does not fit in cap, or -NS_ENOENT for no such request. */
static inline int32_t ns_http_info(uint32_t req, uint32_t what, void *buf, uint32_t cap)
{
	return ns_import_http_info(req, what, buf, cap);
}

/* Copies the value of request header `name` (case-insensitive; the first
 * if repeated) into buf as a C string. Returns its length, -NS_ENOENT if the
 * request has no such header, -NS_ENOSPC if it does not fit. */
static inline int32_t ns_http_header(uint32_t req, const char *name, char *buf, uint32_t cap)
{
	if (cap == 0)
		return -NS_ENOSPC;
	int32_t n = ns_import_http_header(req, name, ns_strlen(name), buf, cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Reads up to cap bytes of the request body received so far. Returns the
 * count (0: nothing now; NS_HTTP_BODY or NS_HTTP_END follows). */
static inline int32_t ns_http_body_read(uint32_t req, void *buf, uint32_t cap)
{
	return ns_import_http_body_read(req, buf, cap);
}

/* Answers with a whole response: status, headers as "Name: value" lines
 * separated by "\r\n" or "\n" (NULL: none; Content-Length and Date are
 * added), and the body (copied). A HEAD request gets the headers only.
 * Returns 0, -NS_EALREADY, -NS_EINVAL (bad status or header line). */
static inline int32_t ns_http_respond(uint32_t req, uint32_t status, const char *headers,
                                      const void *body, uint32_t blen)
{
	return ns_import_http_respond(req, status, headers, headers ? ns_strlen(headers) : 0, body,
	                              blen);
}

/* Starts a streamed response (chunked): its body comes from ns_http_write()
 * until ns_http_end(). Returns 0, -NS_EALREADY, -NS_EINVAL. */
static inline int32_t ns_http_respond_start(uint32_t req, uint32_t status, const char *headers)
{
	return ns_import_http_respond_start(req, status, headers, headers ? ns_strlen(headers) : 0);
}

/* Appends to a streamed response's body: the node buffers at most 64 KiB per
 * response (a slow client holds no more). Returns the bytes taken (fewer
 * than len: NS_HTTP_WRITABLE follows when there is room), or -NS_EAGAIN when
 * the buffer is full. */
static inline int32_t ns_http_write(uint32_t req, const void *buf, uint32_t len)
{
	return ns_import_http_write(req, buf, len);
}

/* Ends a streamed response (what was written still goes out). Returns 0. */
static inline int32_t ns_http_end(uint32_t req)
{
	return ns_import_http_end(req);
}

/* Breaks off a streamed response: the node closes the connection without
 * completing it, so that the client sees an incomplete body (not a chunked
 * response that looks whole). For a response that cannot be finished (its
 * source failed). Returns 0, -NS_ENOENT, -NS_EINVAL (not a streamed response
 * in progress). */
static inline int32_t ns_http_abort(uint32_t req)
{
	return ns_import_http_abort(req);
}

/* A whole response whose body is `len` bytes of the module's stored object
 * `key` (storage/1) from `offset`: the node sends them from the file itself
 * (sendfile), without copying them through the module; a HEAD request gets
 * the headers only. Content-Length is len (one in headers is ignored). The
 * body is the object as it is now: replacing or deleting it afterwards does
 * not change a response under way. Returns 0, -NS_ENOENT (no such request or
 * object), -NS_EALREADY, -NS_EINVAL (bad status or header line, or the range
 * is not inside the object), -NS_EPERM (no storage). */
static inline int32_t ns_http_respond_stored(uint32_t req, uint32_t status, const char *headers,
                                             const char *key, uint32_t offset, uint32_t len)
{
	return ns_import_http_respond_stored(req, status, headers,
	                                     headers ? ns_strlen(headers) : 0, key,
	                                     ns_strlen(key), offset, len);
}

/* --- Fetching (http/1) ---------------------------------------------------------
 * A module fetches from an HTTP origin; the node runs the transfer (libcurl,
 * in the container's event loop) and hands the response over as it arrives.
 * Only http:// URLs whose host is a numeric address (IPv4, or IPv6 in
 * brackets) inside the publisher's connect_destinations: the node resolves
 * no names (send a name in a "Host:" header). No redirects are followed. */

#define NS_FETCH_GET  0u
#define NS_FETCH_HEAD 1u
/* What ns_http_fetch_info() returns. */
#define NS_FETCH_STATUS  0u /* the HTTP status (the result itself), 0 before HEADERS */
#define NS_FETCH_RESULT  1u /* 0: done; -NS_EINPROGRESS; or why it failed (-NS_E*) */
#define NS_FETCH_HEADERS 2u /* the response's header lines, as text, into buf */

#define NS_EPROTO          71
#define NS_EPROTONOSUPPORT 93

NS_IMPORT(ns_http_fetch)
int32_t ns_import_http_fetch(uint32_t method, const char *url, uint32_t url_len,
                             const char *headers, uint32_t hlen);
NS_IMPORT(ns_http_fetch_info)
int32_t ns_import_http_fetch_info(uint32_t id, uint32_t what, void *buf, uint32_t cap);
NS_IMPORT(ns_http_fetch_header)
int32_t ns_import_http_fetch_header(uint32_t id, const char *name, uint32_t name_len, char *buf,
                                    uint32_t cap);
NS_IMPORT(ns_http_fetch_read)
int32_t ns_import_http_fetch_read(uint32_t id, void *buf, uint32_t cap);
NS_IMPORT(ns_http_fetch_cancel) int32_t ns_import_http_fetch_cancel(uint32_t id);

/* Starts fetching url (a C string) with method NS_FETCH_GET or NS_FETCH_HEAD
 * and extra request headers ("Name: value" lines, NULL: none). Events
 * follow through ns_http(id, NS_HTTP_FETCH_*). Returns the fetch id, or
 * -NS_EPERM (outside connect_destinations), -NS_EHOSTUNREACH (a host name),
 * -NS_EPROTONOSUPPORT (not http://), -NS_EINVAL, -NS_EMFILE (too many). */
static inline int32_t ns_http_fetch(uint32_t method, const char *url, const char *headers)
{
	return ns_import_http_fetch(method, url, ns_strlen(url), headers,
	                            headers ? ns_strlen(headers) : 0);
}

/* NS_FETCH_STATUS, NS_FETCH_RESULT (returned), NS_FETCH_HEADERS (copied into
 * buf: its length or -NS_ENOSPC). -NS_ENOENT for no such fetch. */
static inline int32_t ns_http_fetch_info(uint32_t id, uint32_t what, void *buf, uint32_t cap)
{
	return ns_import_http_fetch_info(id, what, buf, cap);
}

/* A response header's value (case-insensitive name, the first if repeated)
 * as a C string: its length, -NS_ENOENT, -NS_ENOSPC. */
static inline int32_t ns_http_fetch_header(uint32_t id, const char *name, char *buf, uint32_t cap)
{
	if (cap == 0)
		return -NS_ENOSPC;
	int32_t n = ns_import_http_fetch_header(id, name, ns_strlen(name), buf, cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Reads body bytes received so far (0: none now). While the module does not
 * read, the node buffers at most 64 KiB and then pauses the transfer. */
static inline int32_t ns_http_fetch_read(uint32_t id, void *buf, uint32_t cap)
{
	return ns_import_http_fetch_read(id, buf, cap);
}

/* Stops a fetch; its id dies at once (no DONE). Returns 0 or -NS_ENOENT. */
static inline int32_t ns_http_fetch_cancel(uint32_t id)
{
	return ns_import_http_fetch_cancel(id);
}

/* --- Crypto (crypto/1) ----------------------------------------------------
 * Hashes and HMACs computed by the node (OpenSSL), a constant-time
 * comparison, and CRC-32 in the module itself. SETUP with
 * `dependencies: crypto/1` to run only on nodes that have them. */

/* Algorithms of ns_hash() and ns_hmac(). */
enum ns_hash_alg { NS_MD5 = 1, NS_SHA1 = 2, NS_SHA256 = 3, NS_SHA512 = 4 };
#define NS_MD5_LEN    16
#define NS_SHA1_LEN   20
#define NS_SHA256_LEN 32
#define NS_SHA512_LEN 64
#define NS_HASH_MAX   64 /* the longest digest */

NS_IMPORT(ns_hash)
int32_t ns_import_hash(uint32_t alg, const void *data, uint32_t len, void *out);
NS_IMPORT(ns_hmac)
int32_t ns_import_hmac(uint32_t alg, const void *key, uint32_t key_len, const void *data,
                       uint32_t len, void *out);
NS_IMPORT(ns_ct_equal) int32_t ns_import_ct_equal(const void *a, const void *b, uint32_t len);

/* Writes the digest of data into out (room for the algorithm's length; out
 * may be data). Returns the digest length or -NS_EINVAL (unknown alg). */
static inline int32_t ns_hash(enum ns_hash_alg alg, const void *data, uint32_t len, void *out)
{
	return ns_import_hash((uint32_t)alg, data, len, out);
}

/* Writes HMAC(key, data) with alg's hash into out. Returns its length or
 * -NS_EINVAL. TURN's MESSAGE-INTEGRITY: NS_SHA1, key MD5("user:realm:pass"). */
static inline int32_t ns_hmac(enum ns_hash_alg alg, const void *key, uint32_t key_len,
                              const void *data, uint32_t len, void *out)
{
	return ns_import_hmac((uint32_t)alg, key, key_len, data, len, out);
}

/* Whether a and b hold the same len bytes, in a time that depends only on
 * len (compare MACs and passwords with this, not memcmp). */
static inline bool ns_ct_equal(const void *a, const void *b, uint32_t len)
{
	return ns_import_ct_equal(a, b, len) == 1;
}

/* CRC-32 (IEEE 802.3, reflected, as zlib and STUN's FINGERPRINT use it),
 * computed in the module: pass 0 first, then the previous result to go on.
 * STUN FINGERPRINT = ns_crc32(0, msg, len) ^ 0x5354554e. */
static inline uint32_t ns_crc32(uint32_t crc, const void *data, uint32_t len)
{
	const uint8_t *p = (const uint8_t *)data;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

/* --- Storage (storage/1) ---------------------------------------------------
 * Objects on the node's disk, kept across the module's restarts and deleted
 * when the module is removed; the module's own namespace of keys; a quota
 * per publisher (its policy's storage_quota, all its modules together).
 * SETUP with `dependencies: storage/1`. Keys: 1..NS_STORE_KEY_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.'. Errors: -NS_EINVAL (bad key),
 * -NS_ENOENT (no such object), -NS_ENOSPC (quota or full disk), -NS_EFBIG
 * (object over NS_STORE_OBJECT_MAX), -NS_EPERM (no storage for this
 * publisher), -NS_EIO. */

#define NS_STORE_KEY_MAX    128
#define NS_STORE_OBJECT_MAX (1u << 30)
#define NS_EIO              5
#define NS_EFBIG            27

/* What ns_store_usage() fills. */
struct ns_store_usage {
	uint64_t used;  /* bytes the publisher's modules store together */
	uint64_t quota; /* the publisher's storage_quota */
};

NS_IMPORT(ns_store_put)
int32_t ns_import_store_put(const char *key, uint32_t key_len, const void *data, uint32_t len);
NS_IMPORT(ns_store_append)
int32_t ns_import_store_append(const char *key, uint32_t key_len, const void *data, uint32_t len);
NS_IMPORT(ns_store_read)
int32_t ns_import_store_read(const char *key, uint32_t key_len, uint32_t offset, void *buf,
                             uint32_t cap);
NS_IMPORT(ns_store_size) int32_t ns_import_store_size(const char *key, uint32_t key_len);
NS_IMPORT(ns_store_delete) int32_t ns_import_store_delete(const char *key, uint32_t key_len);
NS_IMPORT(ns_store_next)
int32_t ns_import_store_next(const char *after, uint32_t after_len, char *buf, uint32_t cap);
NS_IMPORT(ns_store_usage) int32_t ns_import_store_usage(struct ns_store_usage *usage);

/* Creates or replaces the object `key` (a string) with data, atomically: a
 * reader sees the old or the new bytes, also after a crash. Returns 0. */
static inline int32_t ns_store_put(const char *key, const void *data, uint32_t len)
{
	return ns_import_store_put(key, ns_strlen(key), data, len);
}

/* Appends data (created if missing). Returns the new size; on failure
 * nothing was appended. */
static inline int32_t ns_store_append(const char *key, const void *data, uint32_t len)
{
	return ns_import_store_append(key, ns_strlen(key), data, len);
}

/* Reads up to cap bytes from offset. Returns the bytes read (0 at the end). */
static inline int32_t ns_store_read(const char *key, uint32_t offset, void *buf, uint32_t cap)
{
	return ns_import_store_read(key, ns_strlen(key), offset, buf, cap);
}

/* Returns the object's size or -NS_ENOENT. */
static inline int32_t ns_store_size(const char *key)
{
	return ns_import_store_size(key, ns_strlen(key));
}

/* Deletes the object. Returns 0 or -NS_ENOENT. */
static inline int32_t ns_store_delete(const char *key)
{
	return ns_import_store_delete(key, ns_strlen(key));
}

/* Iterates the module's keys in byte order: writes the first key greater
 * than `after` ("" or NULL: the first key) into buf as a string (cap bytes;
 * NS_STORE_KEY_MAX + 1 always do). Returns its length, -NS_ENOENT past the
 * last, -NS_ENOSPC when buf is too small. */
static inline int32_t ns_store_next(const char *after, char *buf, uint32_t cap)
{
	if (cap == 0)
		return -NS_ENOSPC;
	int32_t n = ns_import_store_next(after ? after : "", after ? ns_strlen(after) : 0, buf,
	                                 cap - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/* Fills what the publisher stores and may store. Returns 0. */
static inline int32_t ns_store_usage(struct ns_store_usage *usage)
{
	return ns_import_store_usage(usage);
}

/* --- Media (media/1) -------------------------------------------------------
 * Video processing with FFmpeg's libraries on the node, in the publisher's
 * container. SETUP with `dependencies: media/1`; the node's policy must
 * grant it to the publisher (else -NS_EPERM). The call blocks the
 * publisher's container while it works: one module call (an event) may
 * spend up to NS_MEDIA_TIME_MS in media calls in all; that time does not
 * count against its time budget, its own time does. Errors: -NS_EINVAL (not
 * a decodable MPEG-TS with H.264 video; text empty, too long or not UTF-8),
 * -NS_ENOTSUP (another video codec or pixel format), -NS_EFBIG (input or
 * picture too big, too many frames, or out_cap too small), -NS_ETIME (over
 * the time limit), -NS_ENOENT (the node lacks the font), -NS_ENOMEM. */

#define NS_MEDIA_INPUT_MAX (32u << 20) /* bytes of one segment */
#define NS_MEDIA_TEXT_MAX  256         /* bytes of text */
#define NS_MEDIA_TIME_MS   2000        /* one call's wall-clock limit */
#define NS_ETIME           62

NS_IMPORT(ns_media_overlay_text)
int32_t ns_import_media_overlay_text(const void *in, uint32_t in_len, void *out, uint32_t out_cap,
                                     const char *text, uint32_t text_len, uint32_t x, uint32_t y,
                                     uint32_t size);

/* Draws text (a UTF-8 string, white on a dark box) at (x, y) pixels from the
 * top-left corner, size pixels high (0: a tenth of the frame's height), on
 * every video frame of the MPEG-TS segment in[0..in_len) and writes the
 * segment again into out (at most out_cap bytes): video re-encoded (H.264),
 * audio and other streams copied, every timestamp kept, so that it plays in
 * its HLS playlist as the original did. Returns the output's length. */
static inline int32_t ns_media_overlay_text(const void *in, uint32_t in_len, void *out,
                                            uint32_t out_cap, const char *text, uint32_t x,
                                            uint32_t y, uint32_t size)
{
	return ns_import_media_overlay_text(in, in_len, out, out_cap, text, ns_strlen(text), x, y,
	                                    size);
}

#ifdef __cplusplus
}
#endif

/* --- Helpers: text, addresses, checksums, packets, typed properties ------ */
#include "netserv_util.h"

#endif /* NETSERV_H */
