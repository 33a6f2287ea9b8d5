/* The module ABI, version 2: the one list of what a module may import from
 * the node (module "netserv": the building blocks) and what it may export.
 * This list is the capability list. It is used by:
 *   - the validator (runtime/wasm_check.c): allowed imports and their types;
 *   - the glue compiled into every module (abi/glue.c): host prototypes,
 *     so that a signature mismatch fails the build;
 *   - the container (container/host_api.c): the definitions.
 * docs/module-api.md documents every entry for module authors.
 *
 * Wasm value types in the signature strings: 'i' = i32, 'I' = i64; an empty
 * result string means no result. wasm2c maps i32 to u32 and i64 to u64. */
#pragma once

#include <stdint.h>

/* The version a module built with this header reports (ns_abi_version);
 * the node runs modules of every version from NS_ABI_VERSION_MIN up. Version
 * 2 added sockets (server modules) and the building blocks; a version-1
 * module runs unchanged. */
#define NS_ABI_VERSION     2
#define NS_ABI_VERSION_MIN 1

/* Largest packet a module sees (the buffer it exports must hold this many). */
#define NS_PACKET_MAX 65535

/* Verdicts returned by a module's ns_packet(). */
enum ns_verdict {
	NS_ACCEPT = 0,   /* pass the packet on (as received) */
	NS_DROP = 1,     /* drop it; later modules do not see it */
	NS_MODIFIED = 2, /* pass on the bytes now in the buffer (length: ns_pkt_set_len) */
};

/* Address families of ns_send_udp (the IP version numbers). */
enum ns_family { NS_IPV4 = 4, NS_IPV6 = 6 };

/* Log levels for ns_log. */
enum ns_log_level { NS_LOG_ERR = 0, NS_LOG_WARN = 1, NS_LOG_INFO = 2, NS_LOG_DEBUG = 3 };

/* Metadata of the current packet, written by ns_pkt_meta() into module memory
 * (little-endian, as wasm is). */
struct ns_pkt_meta {
	uint32_t hook;   /* 0 prerouting, 1 input, 2 forward, 3 output, 4 postrouting */
	uint32_t indev;  /* ifindex, 0 if none */
	uint32_t outdev; /* ifindex, 0 if none */
	uint32_t mark;   /* netfilter mark */
	uint32_t queue;  /* NFQUEUE number (a sample: its NFLOG group) */
	/* N when the packet is a sample of one in N (SETUP `sample: 1/N`): a
	 * copy of the packet's first bytes, whose verdict is ignored (the packet
	 * went on at once); 0 for a packet on the module's path (ABI 1 had this
	 * field reserved, always 0). */
	uint32_t sample_every;
	uint64_t rx_time_ns; /* CLOCK_MONOTONIC when the node received it, 0 if unknown */
};

/* An address as the socket imports read and write it in module memory
 * (little-endian): family NS_IPV4 or NS_IPV6, port in host order, addr the
 * 4 (IPv4, rest zero) or 16 address bytes in network order. */
struct ns_sockaddr {
	uint32_t family;
	uint32_t port;
	uint8_t addr[16];
};

/* Socket types of ns_sock_listen / ns_sock_connect (the IP protocol numbers). */
enum ns_sock_type { NS_SOCK_TCP = 6, NS_SOCK_UDP = 17 };

/* Events passed to a module's ns_socket(id, events), a bit set. A socket's
 * READABLE (data, a connection to accept, or the peer's end of stream) is
 * reported once and then not again until the module calls ns_sock_recv or
 * ns_sock_accept on it: a module that stops reading is not called again, and
 * the kernel's buffers then hold the peer back (TCP's window) or drop (UDP).
 * WRITABLE is reported once after a send was refused with -EAGAIN or taken in
 * part. CONNECTED: an ns_sock_connect completed; ERROR: it failed or the
 * connection broke (ns_sock_recv/ns_sock_send return the reason). */
enum ns_sock_event {
	NS_SOCK_READABLE = 1,
	NS_SOCK_WRITABLE = 2,
	NS_SOCK_CONNECTED = 4,
	NS_SOCK_HUP = 8,
	NS_SOCK_ERROR = 16,
};

/* Events passed to a module's ns_http(req, event) (http/1), one at a time.
 * REQUEST: the request line and headers are in (ns_http_info, ns_http_header);
 * BODY: a piece of the request body can be read (ns_http_body_read); END: the
 * request is complete (a response may be given then, or later, e.g. from a
 * timer); WRITABLE: room again in a streamed response's buffer after
 * ns_http_write took less than it was given; CLOSED: the connection went away
 * before the response was complete: the id is no longer valid. Once the
 * module has given a whole response (ns_http_respond or ns_http_end), it
 * hears no more of that request. */
enum ns_http_event {
	NS_HTTP_REQUEST = 1,
	NS_HTTP_BODY = 2,
	NS_HTTP_END = 3,
	NS_HTTP_WRITABLE = 4,
	NS_HTTP_CLOSED = 5,
	/* Outbound fetches (ns_http_fetch), the id being the fetch's: HEADERS:
	 * the final response's status and headers are in (ns_http_fetch_info,
	 * ns_http_fetch_header); DATA: body bytes can be read
	 * (ns_http_fetch_read), reported once and not again until the module
	 * reads; DONE: the transfer is over and every byte was read, or it
	 * failed (NS_FETCH_RESULT says which); the id dies when the call
	 * returns. */
	NS_HTTP_FETCH_HEADERS = 16,
	NS_HTTP_FETCH_DATA = 17,
	NS_HTTP_FETCH_DONE = 18,
};

/* Methods of ns_http_fetch. */
enum ns_fetch_method { NS_FETCH_GET = 0, NS_FETCH_HEAD = 1 };

/* What ns_http_fetch_info returns about a fetch. */
enum ns_fetch_info_kind {
	NS_FETCH_STATUS = 0,  /* the HTTP status (the result), 0 before HEADERS */
	NS_FETCH_RESULT = 1,  /* 0 done, -EINPROGRESS, or why it failed (-errno) */
	NS_FETCH_HEADERS = 2, /* the response's header lines as text into buf */
};

/* What ns_http_info returns about a request. */
enum ns_http_info_kind {
	NS_HTTP_METHOD = 0,  /* "GET", "POST", ... */
	NS_HTTP_TARGET = 1,  /* the request target as sent: path and query ("/a?b=c") */
	NS_HTTP_VERSION = 2, /* "HTTP/1.1" */
	NS_HTTP_PEER = 3,    /* the client's address: a struct ns_sockaddr */
	NS_HTTP_SERVER = 4,  /* the server id (of ns_http_listen) it came to: 4 bytes LE */
};

/* Algorithms of ns_hash and ns_hmac (crypto/1) and their digest lengths:
 * MD5 16, SHA-1 20, SHA-256 32, SHA-512 64 bytes. */
enum ns_hash_alg { NS_MD5 = 1, NS_SHA1 = 2, NS_SHA256 = 3, NS_SHA512 = 4 };
#define NS_HASH_MAX 64 /* the longest digest */

/* storage/1: a key is 1..NS_STORE_KEY_MAX bytes of [A-Za-z0-9._-], not
 * starting with '.'; an object holds at most NS_STORE_OBJECT_MAX bytes. */
#define NS_STORE_KEY_MAX    128
#define NS_STORE_OBJECT_MAX (1u << 30)

/* What ns_store_usage() writes into module memory (little-endian): the bytes
 * the publisher's modules store together and the publisher's quota. */
struct ns_store_usage {
	uint64_t used;
	uint64_t quota;
};

/* X(name, result_wasm, params_wasm, c_result, c_params)
 * c_params start with the host context pointer, as wasm2c generates them.
 *
 * The core imports (ABI 1). */
#define NS_IMPORTS_CORE(X)                                                                         \
	/* ns_log(level, ptr, len): rate-limited log line */                                       \
	X(ns_log, "", "iii", void, (struct Z_netserv_instance_t *, u32, u32, u32))                 \
	/* ns_clock_ns() -> monotonic ns */                                                        \
	X(ns_clock_ns, "I", "", u64, (struct Z_netserv_instance_t *))                              \
	/* ns_time_ms() -> unix time in ms */                                                      \
	X(ns_time_ms, "I", "", u64, (struct Z_netserv_instance_t *))                               \
	/* ns_timer_set(id, delay_ms, periodic) -> 0 or -errno */                                  \
	X(ns_timer_set, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))           \
	/* ns_timer_cancel(id) -> 0 or -errno */                                                   \
	X(ns_timer_cancel, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                    \
	/* ns_prop_get(key, key_len, buf, cap) -> value length, or -ENOENT, -ENOSPC */             \
	X(ns_prop_get, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))      \
	/* ns_counter_id(name, len) -> counter id, or -errno */                                    \
	X(ns_counter_id, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))                \
	/* ns_counter_add(id, delta) */                                                            \
	X(ns_counter_add, "", "iI", void, (struct Z_netserv_instance_t *, u32, u64))               \
	/* ns_pkt_set_len(len) -> 0 or -errno: resize the packet in the buffer */                  \
	X(ns_pkt_set_len, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                     \
	/* ns_pkt_meta(ptr) -> 0 or -errno: write struct ns_pkt_meta at ptr */                     \
	X(ns_pkt_meta, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                        \
	/* ns_send_udp(family, addr, dport, sport, data, len) -> 0 or -errno (policy) */           \
	X(ns_send_udp, "i", "iiiiii", u32,                                                         \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32, u32))                           \
	/* ns_send_packet(data, len) -> 0 or -errno: a whole IPv4/IPv6 packet (policy) */          \
	X(ns_send_packet, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))

/* socket/1 (ABI 2): UDP and TCP sockets, non-blocking, events through the
 * module's ns_socket export. Socket ids are the module's own (small integers,
 * >= 0). Every call returns a negative errno on failure: -EPERM (policy),
 * -EMFILE (the publisher's socket limit), -EAGAIN (would block), -EBADF (no
 * such socket), or the kernel's error. Addresses are struct ns_sockaddr. */
#define NS_IMPORTS_SOCKET(X)                                                                       \
	/* ns_sock_listen(type, family, port) -> id: a TCP listener or a bound UDP                 \
	 * socket on one of the ports the publisher's policy allows */                             \
	X(ns_sock_listen, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))         \
	/* ns_sock_connect(type, addr) -> id: TCP connects (CONNECTED or ERROR follows);           \
	 * UDP gets a socket whose sends go to addr; only to allowed destinations */               \
	X(ns_sock_connect, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))              \
	/* ns_sock_accept(id, peer) -> new id; peer (0: not wanted) gets the address */            \
	X(ns_sock_accept, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))               \
	/* ns_sock_recv(id, buf, cap, from) -> bytes (0: TCP end of stream);                       \
	 * from (0: not wanted) gets a UDP datagram's source */                                    \
	X(ns_sock_recv, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))     \
	/* ns_sock_send(id, buf, len, to) -> bytes taken (TCP may take part);                      \
	 * to: a UDP datagram's destination (0: the connected one) */                              \
	X(ns_sock_send, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))     \
	/* ns_sock_shutdown(id) -> 0: no more sending (TCP half-close) */                          \
	X(ns_sock_shutdown, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                   \
	/* ns_sock_close(id) -> 0 */                                                               \
	X(ns_sock_close, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                      \
	/* ns_sock_name(id, local, peer) -> 0: the addresses (0: not wanted) */                    \
	X(ns_sock_name, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))

/* http/1 (ABI 2): an HTTP/1.1 server run by the container (libmicrohttpd):
 * the module sees requests through its ns_http export and answers them with
 * these calls; it never parses HTTP. Request ids are valid from REQUEST until
 * the response is complete or CLOSED. Every call returns a negative errno on
 * failure: -EPERM (policy), -ENOENT (no such request, or no such header),
 * -EINVAL, -EALREADY (a response was given already), -ENOSPC (buf too small),
 * -EAGAIN (a streamed response's buffer is full). Headers given to the respond
 * calls are text, "Name: value" lines separated by "\r\n" or "\n". */
#define NS_IMPORTS_HTTP(X)                                                                         \
	/* ns_http_listen(family, port) -> server id: serve HTTP on one of the                     \
	 * publisher's listen ports (family 0: IPv4 and IPv6, NS_IPV4, NS_IPV6);                   \
	 * the same port again returns the same id (after a trap, too) */                          \
	X(ns_http_listen, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))               \
	/* ns_http_info(req, what, buf, cap) -> length: enum ns_http_info_kind */                  \
	X(ns_http_info, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))     \
	/* ns_http_header(req, name, name_len, buf, cap) -> value length, -ENOENT                  \
	 * (name case-insensitive; repeated headers: the first) */                                 \
	X(ns_http_header, "i", "iiiii", u32,                                                       \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32))                                \
	/* ns_http_body_read(req, buf, cap) -> bytes (0: nothing more now) */                      \
	X(ns_http_body_read, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))      \
	/* ns_http_respond(req, status, headers, hlen, body, blen) -> 0: a whole                   \
	 * response (copied; HEAD gets the headers only) */                                        \
	X(ns_http_respond, "i", "iiiiii", u32,                                                     \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32, u32))                           \
	/* ns_http_respond_start(req, status, headers, hlen) -> 0: a streamed                      \
	 * response (chunked), its body from ns_http_write, until ns_http_end */                   \
	X(ns_http_respond_start, "i", "iiii", u32,                                                 \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32))                                     \
	/* ns_http_write(req, buf, len) -> bytes taken (into a bounded buffer;                     \
	 * WRITABLE follows when it took less than len), -EAGAIN when full */                      \
	X(ns_http_write, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))          \
	/* ns_http_end(req) -> 0: the streamed response is complete */                             \
	X(ns_http_end, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                        \
	/* ns_http_abort(req) -> 0: a streamed response breaks off (the connection                 \
	 * closes without completing it: the client sees an incomplete body) */                    \
	X(ns_http_abort, "i", "i", u32, (struct Z_netserv_instance_t *, u32))                      \
	/* ns_http_respond_stored(req, status, headers, hlen, key, key_len, offset,                \
	 * len) -> 0: a whole response whose body is len bytes of the module's                     \
	 * stored object key from offset, sent by the node from the file (storage/1) */           \
	X(ns_http_respond_stored, "i", "iiiiiiii", u32,                                            \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32, u32, u32, u32))                 \
	/* ns_http_fetch(method, url, url_len, headers, hlen) -> fetch id: an http://              \
	 * URL with a numeric host inside the publisher's connect_destinations */                  \
	X(ns_http_fetch, "i", "iiiii", u32,                                                        \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32))                                \
	/* ns_http_fetch_info(id, what, buf, cap) -> enum ns_fetch_info_kind */                    \
	X(ns_http_fetch_info, "i", "iiii", u32,                                                    \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32))                                     \
	/* ns_http_fetch_header(id, name, name_len, buf, cap) -> value length */                   \
	X(ns_http_fetch_header, "i", "iiiii", u32,                                                 \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32))                                \
	/* ns_http_fetch_read(id, buf, cap) -> body bytes (0: none now) */                         \
	X(ns_http_fetch_read, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))     \
	/* ns_http_fetch_cancel(id) -> 0: stops it; the id dies (no DONE) */                       \
	X(ns_http_fetch_cancel, "i", "i", u32, (struct Z_netserv_instance_t *, u32))
/* crypto/1 (ABI 2): hashes, HMACs, constant-time comparison (OpenSSL's
 * libcrypto in the container). alg is an enum ns_hash_alg; out receives the
 * digest (its length: the result). -EINVAL for an unknown algorithm. */
#define NS_IMPORTS_CRYPTO(X)                                                                       \
	/* ns_hash(alg, data, len, out) -> digest length */                                        \
	X(ns_hash, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))          \
	/* ns_hmac(alg, key, key_len, data, len, out) -> digest length */                          \
	X(ns_hmac, "i", "iiiiii", u32,                                                             \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32, u32))                           \
	/* ns_ct_equal(a, b, len) -> 1 if equal, else 0, in time that depends on len only */       \
	X(ns_ct_equal, "i", "iii", u32, (struct Z_netserv_instance_t *, u32, u32, u32))

/* storage/1 (ABI 2): the publisher's object store on the node's disk, one
 * namespace of keys per module, a quota per publisher (policy storage_quota).
 * Objects survive the module's instances and its container's restarts and
 * are deleted when the module is removed. Errors: -EINVAL (bad key, offset
 * or length), -ENOENT (no such object), -ENOSPC (quota, object size limit or
 * a full disk), -EPERM (the publisher has no storage), -EIO. */
#define NS_IMPORTS_STORAGE(X)                                                                      \
	/* ns_store_put(key, key_len, data, len) -> 0: creates or replaces (atomically) */         \
	X(ns_store_put, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))     \
	/* ns_store_append(key, key_len, data, len) -> the new size (creates) */                   \
	X(ns_store_append, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))  \
	/* ns_store_read(key, key_len, offset, buf, cap) -> bytes read (0 at the end) */           \
	X(ns_store_read, "i", "iiiii", u32,                                                        \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32))                                \
	/* ns_store_size(key, key_len) -> the object's size */                                     \
	X(ns_store_size, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))                \
	/* ns_store_delete(key, key_len) -> 0 */                                                   \
	X(ns_store_delete, "i", "ii", u32, (struct Z_netserv_instance_t *, u32, u32))              \
	/* ns_store_next(after, after_len, buf, cap) -> length of the first key greater            \
	 * than `after` (after_len 0: the first key), -ENOENT past the last */                     \
	X(ns_store_next, "i", "iiii", u32, (struct Z_netserv_instance_t *, u32, u32, u32, u32))    \
	/* ns_store_usage(ptr) -> 0: writes struct ns_store_usage at ptr */                        \
	X(ns_store_usage, "i", "i", u32, (struct Z_netserv_instance_t *, u32))

/* media/1 (ABI 2): video processing with FFmpeg's libraries in the
 * container. in is an MPEG-TS segment with H.264 video (at most
 * NS_MEDIA_INPUT_MAX bytes); the result, the same segment with the text drawn
 * on every frame (video re-encoded, other streams copied, timestamps kept),
 * goes to out. The call blocks the publisher's container while it works:
 * one module call may spend NS_MEDIA_TIME_MS of wall-clock time in media
 * calls in all, which does not count against its time budget. Errors:
 * -EPERM (the publisher's policy does not grant media/1), -EINVAL (not a
 * decodable MPEG-TS with H.264 video; text empty, over NS_MEDIA_TEXT_MAX
 * bytes or not UTF-8), -ENOTSUP (another video codec or pixel format),
 * -EFBIG (input or picture too big, too many frames, or the result does not
 * fit in out_cap), -ETIME (over the time limit), -ENOENT (the node lacks the
 * font), -ENOMEM. */
#define NS_MEDIA_INPUT_MAX (32u << 20)
#define NS_MEDIA_TEXT_MAX  256
#define NS_MEDIA_TIME_MS   2000
#define NS_IMPORTS_MEDIA(X)                                                                        \
	/* ns_media_overlay_text(in, in_len, out, out_cap, text, text_len, x, y, size)             \
	 * -> the output's length: text (UTF-8) drawn at (x, y) pixels from the top-left,          \
	 * size pixels high (0: a tenth of the frame's height), white on a dark box */             \
	X(ns_media_overlay_text, "i", "iiiiiiiii", u32,                                            \
	  (struct Z_netserv_instance_t *, u32, u32, u32, u32, u32, u32, u32, u32, u32))

/* The building blocks, each an optional set of imports that a SETUP can
 * require with `dependencies:` and that PROBE and STATUS list:
 * B(name, imports-list). */
#define NS_BUILDING_BLOCKS(B)                                                                      \
	B("socket/1", NS_IMPORTS_SOCKET)                                                           \
	B("http/1", NS_IMPORTS_HTTP)                                                               \
	B("crypto/1", NS_IMPORTS_CRYPTO)                                                           \
	B("storage/1", NS_IMPORTS_STORAGE) B("media/1", NS_IMPORTS_MEDIA)

/* Every import, in one list (the validator's and the glue's order). */
#define NS_HOST_IMPORTS(X)                                                                         \
	NS_IMPORTS_CORE(X)                                                                         \
	NS_IMPORTS_SOCKET(X)                                                                       \
	NS_IMPORTS_HTTP(X) NS_IMPORTS_CRYPTO(X) NS_IMPORTS_STORAGE(X) NS_IMPORTS_MEDIA(X)

/* X(name, result_wasm, params_wasm, required) — functions a module exports.
 * A module also exports its memory as "memory". */
#define NS_MODULE_EXPORTS(X)                                                                       \
	X(ns_abi_version, "i", "", 1)   /* returns NS_ABI_VERSION */                               \
	X(ns_init, "i", "", 0)          /* after instantiation; non-zero refuses the install */    \
	X(ns_fini, "", "", 0)           /* before removal */                                       \
	X(ns_packet_buffer, "i", "", 0) /* address of NS_PACKET_MAX bytes for packets */           \
	X(ns_packet, "i", "i", 0)       /* (len) -> enum ns_verdict; needs ns_packet_buffer */     \
	X(ns_timer, "", "i", 0)         /* (timer id) */                                           \
	X(ns_socket, "", "ii", 0)       /* (socket id, enum ns_sock_event bits) (ABI 2) */         \
	X(ns_http, "", "ii", 0)         /* (request id, enum ns_http_event) (ABI 2, http/1) */
