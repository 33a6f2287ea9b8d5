/* The module host inside a netserv-container: loads compiled modules
 * (dlopen), instantiates them, runs packet modules in load order (the packet
 * dispatcher), fires their timers, and contains their faults:
 *   - a trap (out-of-bounds, divide by zero, stack exhaustion, ...) discards
 *     that instance and makes a new one; after `trap_limit` traps within
 *     `trap_window_s` the module is marked failed and skipped;
 *   - a call that runs longer than `budget_ms` is stopped (a periodic tick
 *     signal checks the running call) and counts as a trap;
 *   - memory.grow is capped at `mem_max_pages`.
 * The packet falls back to the default verdict (accept, unchanged) for a
 * module that trapped. One module host per process: the trap machinery of
 * wasm2c's runtime is process-wide. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"
#include "proto/msg.h"
#include "abi/host_api.h"

struct evloop;
struct modhost;
struct proto_busy;

/* Where to tell the supervisor which module runs (proto/busy.h); NULL: nowhere.
 * Written before and after every call into a module. */
void modhost_set_busy_page(struct proto_busy *page);

struct modhost_limits {
	uint32_t budget_ms;     /* longest a single call may run */
	uint32_t mem_max_pages; /* 64 KiB pages a module's memory may reach */
	uint32_t trap_limit;    /* traps within the window before the module fails */
	uint32_t trap_window_s;
	uint32_t log_per_s; /* log lines a module may write per second */
	/* What the publisher's modules together may send (ns_send_udp and
	 * ns_send_packet; token buckets one second deep): 0 = no limit. */
	uint32_t send_pps;
	uint64_t send_bytes_per_s;
	/* Server modules (socket/1), all modules together: sockets and
	 * connections open at once (0 = none allowed), and bytes/s their sockets
	 * send (0 = no limit). */
	uint32_t max_sockets;
	uint64_t socket_bytes_per_s;
};

/* Reports something about a module to the supervisor. */
typedef void modhost_event_fn(void *ctx, const char *module, enum proto_event_kind event,
                              const char *reason);

/* Decides whether a module may send: `family` AF_INET/AF_INET6, `src` the
 * source address for crafted packets (NULL for UDP sends: the node picks it),
 * `dst` the destination. It is also asked about a packet a module modified
 * and changed the source address of: then `dst` is NULL (the packet is
 * forwarded traffic, not a send: only its source is checked). Returns 0 to
 * allow or a negative errno. */
typedef int modhost_send_policy_fn(void *ctx, const char *module, int family, const uint8_t *src,
                                   const uint8_t *dst);

/* What a module's socket asks for (socket/1). */
enum modhost_sock_op {
	MODHOST_SOCK_LISTEN,  /* proto NS_SOCK_TCP/UDP on port; addr NULL */
	MODHOST_SOCK_CONNECT, /* to addr (family AF_INET/AF_INET6) port; also a UDP
	                       * datagram to an address that did not send first */
};

/* Decides whether a module's socket may do `op`. Returns 0 or a negative
 * errno (-EPERM). */
typedef int modhost_sock_policy_fn(void *ctx, const char *module, enum modhost_sock_op op,
                                   int proto, int family, const uint8_t *addr, uint16_t port);

/* Sets the socket policy (the ctx of modhost_new); without one every socket
 * operation is refused with -EPERM. */
void modhost_set_socket_policy(struct modhost *h, modhost_sock_policy_fn *fn);

/* Returns whether the module serves by itself (exports ns_socket or
 * ns_http): it opens its own ports, and the container opens no placeholder
 * listeners for it. false for an unknown name. */
bool modhost_is_server(const struct modhost *h, const char *name);

/* Names the publisher the modules run for: their log lines carry it
 * ("module <owner>/<id> <level>: ..."), so that one publisher's module cannot
 * write lines that read as another's. Copied; "" until set. */
void modhost_set_owner(struct modhost *h, const char *owner);

struct objstore;

/* Loads media/1 (netserv-media.so, beside the container program: FFmpeg's
 * libraries) before the sandbox is in force; without it media calls return
 * -EPERM. Returns 0 or -errno with err set. */
int modhost_media_load(char *err, size_t errlen);

struct host_media_text;
/* Makes the media calls use fn (host_media.h's host_media_overlay; for
 * tests that link it). */
void modhost_media_use(int64_t (*fn)(const uint8_t *, size_t, const struct host_media_text *,
                                     size_t, uint32_t, uint8_t **));

/* Gives the modules the publisher's object store (storage/1; borrowed, NULL:
 * none, and the storage imports return -EPERM). */
void modhost_set_store(struct modhost *h, struct objstore *store);

/* Creates the module host (one per process). Returns 0 or a negative errno
 * with the reason in err. */
int modhost_new(struct evloop *loop, const struct modhost_limits *lim, modhost_event_fn *event,
                modhost_send_policy_fn *policy, void *ctx, struct modhost **ret, char *err,
                size_t errlen);

/* Unloads every module (calling their fini) and frees; NULL allowed. */
struct modhost *modhost_free(struct modhost *h);

/* Loads the compiled module (open file so_fd, or so_path when so_fd < 0; the
 * path is used in messages) under `name`: so_fd itself when it is a sealed
 * memfd image no other loaded module maps, else a private sealed copy of
 * it (borrowed: the caller still closes so_fd). Instantiates it, calls its ns_init,
 * and appends it to the load order. `properties` is a JSON object of strings
 * (borrowed). Returns 0, -EEXIST, or a negative errno with the reason (a
 * dlopen error names a missing import) in err. The module sees only the packets
 * that match one of its n_filters filters (copied; at most NCM_MAX_FILTERS,
 * else -E2BIG), or every packet when there are none. */
int modhost_install(struct modhost *h, const char *name, const char *so_path, int so_fd,
                    json_t *properties, const struct ncm_filter *filters, size_t n_filters,
                    char *err, size_t errlen);

/* Replaces the code of a running module with another build of it (open file
 * so_fd, or so_path when so_fd < 0; say its -O2 build after a quick -O0
 * one), between two calls: a new instance of the new build gets the running
 * instance's state (glue's transfer: globals, linear memory) and takes its
 * place; the host's side of the module (timers, sockets, counters, filters,
 * load order) stays. Returns 0; or, with the module running on unchanged
 * and the reason in err: -ENOENT, -ESTALE (failed or not instantiated),
 * -EOPNOTSUPP (its state cannot be carried over), -ENOEXEC (cannot load),
 * -EALREADY (the same object), -EINVAL (not a build of the same module:
 * glue ABI, state layout, instance size or exports differ), -EFAULT (the new
 * build trapped while instantiating), -ENOMEM. */
int modhost_swap(struct modhost *h, const char *name, const char *so_path, int so_fd, char *err,
                 size_t errlen);

/* Makes the module `name` sampled (SETUP `sample: 1/N`, every = N > 0): it
 * then sees no packet of modhost_packet(), only modhost_sample()'s copies;
 * 0 puts it back on the path. Returns 0 or -ENOENT. */
int modhost_set_sample(struct modhost *h, const char *name, uint32_t every);

/* Gives a sampled copy (data[0..len), the packet's first bytes) to the
 * sampled module `name` (the NFLOG prefix of the copy), with meta's
 * sample_every set to its N. Its verdict is ignored: the packet went on.
 * Returns 1 if the module took it, 0 if no active sampled module has that
 * name (a stale copy: counted by the caller). */
int modhost_sample(struct modhost *h, const char *name, const uint8_t *data, uint32_t len,
                   const struct ns_pkt_meta *meta);

/* Calls the module's ns_fini and unloads it. Returns 0 or -ENOENT. */
int modhost_remove(struct modhost *h, const char *name);

/* Runs one packet through the packet modules in load order. data holds *len
 * bytes and has room for cap bytes. Returns the verdict; for NS_MODIFIED the
 * new packet is in data and *len. A module's NS_MODIFIED counts only if
 * modhost_modified_ok() accepts what it left in its buffer; otherwise the
 * packet is dropped (NS_DROP, counted as the module's policy_drops). */
uint32_t modhost_packet(struct modhost *h, uint8_t *data, uint32_t *len, uint32_t cap,
                        const struct ns_pkt_meta *meta);

/* Whether a module's modified packet `pkt` (len bytes) may go on, given the
 * packet it came from (`orig`, orig_len bytes, as the kernel queued it):
 *   - a whole IPv4 packet (version 4, IHL >= 5, IHL*4 <= len, total length
 *     == len) or IPv6 packet (len >= 40, payload length + 40 == len): the
 *     node does not repair length fields (ns_pkt_fixup does that);
 *   - its source address equal to the original's (same version), or allowed
 *     by the send policy (policy(ctx, module, family, src, NULL)).
 * Returns 0, -EINVAL (malformed) or the policy's negative errno. */
int modhost_modified_ok(modhost_send_policy_fn *policy, void *ctx, const char *module,
                        const uint8_t *orig, uint32_t orig_len, const uint8_t *pkt, uint32_t len);

/* Returns the number of modules that take packets. */
size_t modhost_packet_modules(const struct modhost *h);

/* Returns per-module statistics as a new JSON array (caller owns). */
json_t *modhost_stats(struct modhost *h);

/* ---- offline runs (netserv module run) --------------------------------------
 * The same module host without a node: a virtual clock, and sends and log
 * lines handed to the caller instead of the network and stderr. */

/* A send a module made (ns_send_udp: `udp`, the payload to dst:dport from
 * sport; ns_send_packet: a whole IP packet in data). Pointers valid during
 * the call. */
struct modhost_send {
	bool udp;
	int family;         /* AF_INET or AF_INET6 */
	const uint8_t *dst; /* 4 or 16 bytes (ns_send_packet: the packet's) */
	uint16_t dport, sport;
	const uint8_t *data;
	uint32_t len;
};

struct modhost_offline {
	/* Called for every send the policy and rate limits admit, instead of
	 * sending it (it counts as sent). */
	void (*sent)(void *ctx, const char *module, const struct modhost_send *s);
	/* Called for every log line the rate limit admits, instead of stderr. */
	void (*log)(void *ctx, const char *module, uint32_t level, const char *line);
	void *ctx;
	uint64_t mono_ns; /* the virtual monotonic clock's start (ns_clock_ns) */
	uint64_t real_ms; /* the wall clock at that instant (ns_time_ms) */
};

/* Makes the host offline (before any modhost_install): from now on the
 * modules' clocks, timers and rate limits run on virtual time, which only
 * modhost_clock_advance() moves; sends and log lines go to `o`'s callbacks
 * (copied). */
void modhost_set_offline(struct modhost *h, const struct modhost_offline *o);

/* Moves virtual time forward to mono_ns (never back), firing the timers due
 * until then in order of due time, each with the clock at its due time.
 * Returns the number of timer calls; 0 when the host is not offline. */
uint64_t modhost_clock_advance(struct modhost *h, uint64_t mono_ns);
