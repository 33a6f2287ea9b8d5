/* netserv_util.h: the SDK's helpers that need no import of their own (but
 * the typed property reads, which use ns_prop_get): a bounded text toolkit,
 * IP addresses in text, the internet checksum of a transport header, whole
 * IPv4/IPv6 UDP/TCP packets and replies, and typed properties.
 *
 * Included by netserv.h; defined in netserv_util.c, which `netserv module
 * build` links into every module next to netserv_sdk.c (the linker drops the
 * helpers a module does not use). Nothing here allocates: a struct ns_str
 * points into memory the caller owns, which must outlive it. Every scan is
 * bounded by the lengths given. docs/module-api.md describes each helper. */
#ifndef NETSERV_UTIL_H
#define NETSERV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- Text: a string view ---------------------------------------------------- */

/* len bytes at p, not NUL-terminated; p may be NULL when len is 0. */
struct ns_str {
	const char *p;
	uint32_t len;
};

/* A view of the C string s (without its NUL). */
struct ns_str ns_str_c(const char *s);

/* ASCII lower case of c; other bytes unchanged. */
static inline char ns_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* True for SP, HT, CR and LF. */
static inline bool ns_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool ns_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* s without the SP/HT/CR/LF at both ends. */
struct ns_str ns_str_trim(struct ns_str s);

/* True if a and b hold the same bytes. */
bool ns_str_eq(struct ns_str a, struct ns_str b);

/* True if s equals the C string lit, ignoring ASCII case. */
bool ns_str_ieq(struct ns_str s, const char *lit);

/* True if s starts with the C string prefix, ignoring ASCII case. */
bool ns_str_istarts(struct ns_str s, const char *prefix);

/* Takes the text before the first `sep` of *rest into *tok and moves *rest
 * past that separator (to the end if there is none). Returns false, with
 * *tok empty, once *rest was already exhausted (so "a," gives "a", "" and
 * then false; "" gives nothing). */
bool ns_str_split(struct ns_str *rest, char sep, struct ns_str *tok);

/* Parses s as a decimal number (digits only: no sign, no blanks, at most 20
 * digits) that is at most max. Returns 0 and the number in *v, or -NS_EINVAL
 * (empty, other characters), -NS_ERANGE (above max, or beyond 64 bits). */
int ns_str_uint(struct ns_str s, uint64_t max, uint64_t *v);

/* Writes the n bytes of in as 2n lowercase hex digits into out (no NUL). */
void ns_hex(char *out, const void *in, uint32_t n);

/* --- IP addresses in text ----------------------------------------------------- */

/* Parses an IPv4 dotted quad (exactly four decimal parts, 0..255, at most 3
 * digits each) or an IPv6 address (RFC 4291 text: "::" and a trailing dotted
 * quad allowed; no zone, no brackets) into out (4 or 16 bytes, network
 * order). Returns 4 or 6 (the version), or 0 if s is not such an address. */
int ns_addr_parse(struct ns_str s, uint8_t out[16]);

/* (ns_fmt_ip in netserv.h writes an address as text, RFC 5952 for IPv6.) */

/* --- Checksums and packets ---------------------------------------------------- */

/* The internet checksum (RFC 1071) of data[0..len): the value to store. It
 * is 0 when computed over data that holds its own correct checksum. */
uint16_t ns_csum(const void *data, uint32_t len);

/* The UDP or TCP checksum of the transport header and payload l4[0..len)
 * (its checksum field taken as it is: zero it first), over the pseudo-header
 * of version 4 or 6 with addresses src and dst and protocol proto. */
uint16_t ns_csum_l4(uint8_t version, const uint8_t *src, const uint8_t *dst, uint8_t proto,
                    const void *l4, uint32_t len);

/* TCP flags (struct ns_flow.tcp_flags). */
#define NS_TCP_FIN 0x01
#define NS_TCP_SYN 0x02
#define NS_TCP_RST 0x04
#define NS_TCP_PSH 0x08
#define NS_TCP_ACK 0x10

/* The headers of a packet to build: ns_build_packet() writes them. */
struct ns_flow {
	uint8_t version;   /* 4 or 6 */
	uint8_t proto;     /* NS_IPPROTO_UDP or NS_IPPROTO_TCP */
	uint8_t ttl;       /* IPv4 TTL or IPv6 hop limit; 0 means 64 */
	uint8_t tcp_flags; /* TCP: NS_TCP_* */
	uint16_t ip_id;    /* IPv4 identification (the packet has DF set) */
	uint16_t sport;    /* source port, host order */
	uint16_t dport;    /* destination port, host order */
	uint16_t window;   /* TCP window, host order */
	uint32_t seq;      /* TCP sequence number, host order */
	uint32_t ack;      /* TCP acknowledgment number, host order */
	uint8_t src[16];   /* source address: 4 bytes for IPv4, 16 for IPv6 */
	uint8_t dst[16];   /* destination address */
};

/* Fills *f with the headers of a reply to the IPv4/IPv6 UDP or TCP packet
 * pkt[0..len): addresses and ports swapped, the same version and protocol,
 * TTL 64; for TCP, seq = the packet's ack, ack = its seq plus its payload
 * length (plus one for SYN and for FIN), flags ACK, window 65535. ip_id is
 * 0: set it (and change anything else) before ns_build_packet(). Returns 0,
 * or -NS_EINVAL if pkt is not an unfragmented UDP or TCP packet. */
int ns_flow_reply(struct ns_flow *f, const void *pkt, uint32_t len);

/* Writes a whole packet into out[0..cap): an IPv4 header of 20 bytes (DF,
 * header checksum) or an IPv6 header of 40, a UDP header of 8 or a TCP
 * header of 20 (no options), then payload[0..plen) (which may overlap out),
 * with every length and the UDP/TCP checksum filled in. Returns the packet's
 * length, or -NS_EINVAL (bad version or protocol), -NS_EMSGSIZE (larger than
 * cap or than an IP packet can be). */
int ns_build_packet(uint8_t *out, uint32_t cap, const struct ns_flow *f, const void *payload,
                    uint32_t plen);

/* ns_flow_reply() then ns_build_packet(): the reply to pkt[0..len) carrying
 * payload[0..plen), in out. Returns its length or a negative NS_E* value. */
int ns_reply_packet(uint8_t *out, uint32_t cap, const void *pkt, uint32_t len, const void *payload,
                    uint32_t plen);

/* --- Typed properties ---------------------------------------------------------- */

/* Copies property `key` into buf (a C string, cap bytes), or the C string
 * def if there is no such property (def may be NULL: an empty string).
 * Returns 0 (the value or the default), or -NS_ENOSPC if the value (or def)
 * does not fit: buf is then the empty string. */
int ns_prop_str(const char *key, char *buf, uint32_t cap, const char *def);

/* Property `key` as a decimal number in min..max into *v, or def if there is
 * no such property. Blanks around the value are ignored. Returns 0 (value
 * or default), or -NS_EINVAL (not a number) or -NS_ERANGE (outside
 * min..max): *v is def then as well. */
int ns_prop_uint(const char *key, uint64_t min, uint64_t max, uint64_t def, uint64_t *v);

/* Property `key` as a boolean into *v: 1 true yes on / 0 false no off (any
 * case), or def if there is no such property. Returns 0, or -NS_EINVAL
 * (another value; *v is def). */
int ns_prop_bool(const char *key, bool def, bool *v);

/* Property `key` as an IPv4 or IPv6 address (ns_addr_parse) into addr.
 * Returns 4 or 6 (the version), 0 if there is no such property (addr
 * untouched), or -NS_EINVAL if it is not an address. */
int ns_prop_addr(const char *key, uint8_t addr[16]);

#ifdef __cplusplus
}
#endif

#endif /* NETSERV_UTIL_H */
