/* The NetServ Control Message (NCM) text codec.
 *
 * An NCM is the HTTP-like text message of the NetServ papers (figure 3 of the
 * 2011 papers):
 *
 *     SETUP NetServ.apps.NetMonitor_1.0.0 NETSERV/0.1
 *     user:janedoe
 *     url:http://content-publisher.com/modules/netmonitor.wasm
 *     ttl:3600
 *     <blank line>
 *
 * Requests start with `METHOD TARGET NETSERV/0.1`, responses with
 * `NETSERV/0.1 CODE REASON`. Header lines are `name:value`; names are
 * case-insensitive (stored lower-case), values are trimmed. A blank line ends
 * the headers. A message may carry a body of exactly `content-length` bytes
 * after the blank line (used by responses, e.g. a JSON status). Lines end in
 * LF or CRLF. docs/protocol.md is the full specification.
 *
 * Two levels:
 *   - struct ncm_msg: the generic message (start line, headers, body);
 *   - struct ncm_request: a request's fields decoded and validated.
 * Every function that can fail returns 0 (or a length) on success and a
 * negative errno on failure, and writes a one-line reason into the caller's
 * `err` buffer (which may be NULL). Nothing here logs.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NCM_VERSION "NETSERV/0.1"

/* Bounds: anything larger is refused with -EMSGSIZE. */
#define NCM_MAX_MESSAGE      (64 * 1024)       /* start line + headers */
#define NCM_MAX_BODY         (4 * 1024 * 1024) /* body (responses: status JSON) */
#define NCM_MAX_LINE         4096
#define NCM_MAX_HEADERS      64
#define NCM_MAX_NAME         64 /* header name */
#define NCM_MAX_TARGET       128
#define NCM_MAX_USER         32
#define NCM_MAX_PROPERTIES   32
#define NCM_MAX_DEPENDENCIES 16
#define NCM_MAX_FILTERS      8   /* filters of one SETUP: filter-*, filter-2-* .. filter-8-* */
#define NCM_ERR_LEN          256 /* a good size for the err buffers */

enum ncm_method {
	NCM_METHOD_NONE = 0, /* a response */
	NCM_METHOD_SETUP,
	NCM_METHOD_REMOVE,
	NCM_METHOD_PROBE,
	NCM_METHOD_TRIGGER,
	NCM_METHOD_STATUS, /* admin socket only: node status */
};

/* HTTP-style status codes (docs/protocol.md lists when each is used). */
enum ncm_status {
	NCM_OK = 200,
	NCM_BAD_REQUEST = 400,
	NCM_UNAUTHORIZED = 401,
	NCM_FORBIDDEN = 403,
	NCM_NOT_FOUND = 404,
	NCM_METHOD_NOT_ALLOWED = 405,
	NCM_CONFLICT = 409,
	NCM_TOO_LARGE = 413,
	NCM_UNPROCESSABLE = 422, /* module-hash mismatch, module refused */
	NCM_INTERNAL_ERROR = 500,
	NCM_NOT_IMPLEMENTED = 501,
	NCM_BAD_GATEWAY = 502,     /* module fetch failed */
	NCM_UNAVAILABLE = 503,     /* node full, shutting down */
	NCM_GATEWAY_TIMEOUT = 504, /* module fetch timed out */
	NCM_VERSION_NOT_SUPPORTED = 505,
	NCM_INSUFFICIENT_STORAGE = 507, /* the node's disk is full */
};

struct ncm_header {
	char *name;  /* lower-case, [a-z0-9-]+ */
	char *value; /* trimmed, no control characters */
};

struct ncm_msg {
	enum ncm_method method; /* NCM_METHOD_NONE for a response */
	char *target;           /* requests: module id or probe target */
	int code;               /* responses: 100..599 */
	char *reason;           /* responses */
	struct ncm_header *headers;
	size_t n_headers;
	char *body; /* NUL-terminated for convenience; may contain NULs */
	size_t body_len;
};

/* Returns the method's wire name ("SETUP"), or NULL for NCM_METHOD_NONE. */
const char *ncm_method_name(enum ncm_method m);

/* Returns the standard reason phrase for a status code ("Bad Request"). */
const char *ncm_status_reason(int code);

/* Looks at the start of a byte stream and returns the total length of the first
 * complete message in it (headers, blank line and body), 0 if more bytes are
 * needed, or a negative errno (-EMSGSIZE, -EBADMSG) if it can never be a valid
 * message. */
long ncm_frame_length(const char *buf, size_t len, char *err, size_t errlen);

/* Parses exactly one message of `len` bytes (need not be NUL-terminated).
 * On success stores a new message in *ret (caller owns; free with ncm_free())
 * and returns 0; on failure returns -EBADMSG, -EMSGSIZE, -EPROTO (unsupported
 * version) or -ENOMEM and leaves *ret untouched. */
int ncm_parse(const char *buf, size_t len, struct ncm_msg **ret, char *err, size_t errlen);

/* Creates an empty request (method, target) or response (code, reason; reason
 * NULL = standard phrase). Caller owns; NULL on allocation failure. */
struct ncm_msg *ncm_request_new(enum ncm_method method, const char *target);
struct ncm_msg *ncm_response_new(int code, const char *reason);

/* Frees a message; NULL is allowed. Returns NULL. */
struct ncm_msg *ncm_free(struct ncm_msg *m);

/* Copies a message exactly (start line, headers in order, body) without going
 * through its text. Returns 0 with the copy in *ret (caller owns) or -ENOMEM
 * (*ret untouched). */
int ncm_dup(const struct ncm_msg *m, struct ncm_msg **ret);

/* Returns the value of the first header called `name` (any case), or NULL. */
const char *ncm_get(const struct ncm_msg *m, const char *name);

/* Appends a header (repeats allowed). Returns 0, -EINVAL (bad name or value:
 * control characters, over-long) or -ENOMEM. */
int ncm_add(struct ncm_msg *m, const char *name, const char *value);

/* Like ncm_add() with a printf-formatted value. */
int ncm_addf(struct ncm_msg *m, const char *name, const char *fmt, ...)
        __attribute__((__format__(printf, 3, 4)));

/* Replaces every header called `name` by one with `value` (appends if absent). */
int ncm_set(struct ncm_msg *m, const char *name, const char *value);

/* Removes every header called `name`; returns how many were removed. */
size_t ncm_del(struct ncm_msg *m, const char *name);

/* Sets the body (copied); sets the content-length header to match. */
int ncm_set_body(struct ncm_msg *m, const char *body, size_t len);

/* Serializes to wire form (LF line ends). Stores a malloc'd NUL-terminated
 * buffer in *ret (caller frees) and its length in *ret_len. */
int ncm_serialize(const struct ncm_msg *m, char **ret, size_t *ret_len);

/* Builds the canonical form of a request: the exact bytes a signature covers.
 * Start line, then every header except `signature` whose value is not empty,
 * sorted by name (bytewise; equal names keep message order), as
 * `name:value\n`, then one `\n`. Caller frees *ret. */
int ncm_canonical(const struct ncm_msg *m, char **ret, size_t *ret_len);

/* ---- Decoded request fields ---------------------------------------------- */

enum ncm_proto {
	NCM_PROTO_ANY = 0,
	NCM_PROTO_ICMP = 1,
	NCM_PROTO_TCP = 6,
	NCM_PROTO_UDP = 17,
	NCM_PROTO_ICMPV6 = 58,
	NCM_PROTO_SCTP = 132,
};

struct ncm_prefix {
	int family;       /* 0 = any, AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network byte order; host bits are zero */
	uint8_t len;      /* prefix length */
};

struct ncm_filter {
	uint8_t proto;    /* enum ncm_proto or any IP protocol number */
	uint16_t port_lo; /* 0 = any; destination port */
	uint16_t port_hi; /* == port_lo for one port */
	struct ncm_prefix src;
	struct ncm_prefix dst;
};

struct ncm_property {
	char *key;
	char *value;
};

/* A request with its fields decoded. Pointers point into allocations owned by
 * the struct; free with ncm_request_done(). Absent fields are NULL/0/false. */
struct ncm_request {
	enum ncm_method method;
	char *target; /* module id (SETUP, REMOVE) or what a PROBE asks about */
	char *user;
	char *url;
	bool has_hash;
	uint8_t hash[32]; /* module-hash: sha256:<64 hex> */
	bool has_ttl;
	uint32_t ttl;        /* seconds, 1..NCM_MAX_TTL */
	char **dependencies; /* comma-separated names */
	size_t n_dependencies;
	/* The SETUP's filters: filters[0] from the filter-* headers, filters[N-1]
	 * from filter-N-* (N = 2..NCM_MAX_FILTERS), numbered without gaps. A
	 * filter is present when any of its headers is (not empty); 0 = none. */
	size_t n_filters;
	struct ncm_filter filters[NCM_MAX_FILTERS];
	char *notification;
	struct ncm_property *properties; /* k=v,k=v */
	size_t n_properties;
	bool has_timestamp;
	int64_t timestamp; /* seconds since the epoch */
	char *nonce;       /* 8..64 chars of [A-Za-z0-9+/=_-] */
	char *signature;   /* base64, checked by the security layer */
	char *probe;       /* what a PROBE asks for: comma-separated words */
	/* sample: 1/N (SETUP, with a filter): the module sees a copy of one
	 * packet in N of its filters, the first sample_bytes bytes of it
	 * (sample-bytes, default NCM_SAMPLE_BYTES_DEFAULT), and every packet goes
	 * on unchanged at once. 0 = not sampled: the module is on the path. */
	uint32_t sample_every;
	uint32_t sample_bytes; /* 0 when not sampled */
};

#define NCM_SAMPLE_EVERY_MAX     1000000u /* sample: 1/1 .. 1/1000000 */
#define NCM_SAMPLE_BYTES_DEFAULT 128u
#define NCM_SAMPLE_BYTES_MAX     65535u /* sample-bytes: 1 .. this (whole packets) */

#define NCM_MAX_TTL (365u * 24 * 3600)

/* Decodes and validates the fields of a request message. Unknown headers are
 * ignored (forward compatibility); a known header with a bad value, a repeated
 * header, or a missing required one (SETUP: user, url; REMOVE: user) is an
 * error, and so is a filter-N-* header with a bad number (0, 1, a leading zero),
 * above NCM_MAX_FILTERS, or a filter N without filter N-1; `sample` must be
 * 1/N (N = 1..NCM_SAMPLE_EVERY_MAX) and comes with a filter, `sample-bytes`
 * (1..NCM_SAMPLE_BYTES_MAX) only with `sample`. Returns 0 and fills *ret, or -EBADMSG
 * with the reason in err (the reason names the header). On failure *ret is left zeroed. */
int ncm_request_decode(const struct ncm_msg *m, struct ncm_request *ret, char *err, size_t errlen);

/* Releases what ncm_request_decode() allocated and zeroes the struct. */
void ncm_request_done(struct ncm_request *r);

/* Parses a prefix such as "10.0.0.0/8", "2001:db8::/32" or a bare address
 * (host prefix). Host bits must be zero. Returns 0 or -EINVAL. */
int ncm_prefix_parse(const char *s, struct ncm_prefix *ret);

/* Formats a prefix ("10.0.0.0/8", "any") into buf; returns buf. */
char *ncm_prefix_format(const struct ncm_prefix *p, char *buf, size_t len);

/* Returns the protocol's name ("udp") or NULL for numbers without one. */
const char *ncm_proto_name(uint8_t proto);

/* Formats a module hash as "sha256:<hex>" into buf (at least 72 bytes). */
char *ncm_hash_format(const uint8_t hash[32], char *buf, size_t len);

/* Decodes the escapes of a property value s[0..n) (`\,` `\\` `\xHH`,
 * docs/protocol.md) into *ret, a malloc'd C string the caller frees. Returns
 * 0, -EBADMSG (a lone backslash, an unknown escape, \x00) or -ENOMEM. */
int ncm_prop_unescape(const char *s, size_t n, char **ret);

/* Writes value escaped for a `properties:` header into buf (cap bytes, NUL
 * included): `,` and `\` escaped with a backslash, control bytes and a blank
 * at either end as \xHH. Returns the length, or -ENOSPC if it does not fit. */
int ncm_prop_escape(const char *value, char *buf, size_t cap);

/* Returns the value of property `key`, or NULL. */
const char *ncm_request_property(const struct ncm_request *r, const char *key);
