/* Internals shared by modhost.c (loading, calls, traps) and host_api.c (the
 * imports a module calls). Not an API. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "container/modhost.h"
#include "lib/logring.h"
#include "wasm-rt.h"

/* The integer names wasm2c uses in the import prototypes (abi/host_api.h). */
typedef uint32_t u32;
typedef uint64_t u64;

#define MOD_MAX_COUNTERS 256
#define MOD_MAX_TIMERS   16
#define MOD_COUNTER_NAME 80

struct mod;

/* The context wasm2c passes to every import: the host's view of one module. */
struct Z_netserv_instance_t {
	struct mod *m;
};

struct mod_timer {
	struct mod *m;
	uint32_t id;
	uint32_t period_ms; /* 0: one-shot */
	uint64_t due_ms;    /* when it should fire (evloop_now_ms clock; offline:
	                       modhost_now_ns() / 1e6) */
	struct evloop_timer *t;
	bool armed; /* offline: set, and fired by modhost_clock_advance() */
};

/* One socket of a module (host_socket.c). */
struct mod_sock {
	struct mod *m;
	struct evloop_watch *w; /* NULL once no longer watched (hang-up, error) */
	int fd;
	uint32_t id;              /* index in m->socks */
	uint64_t gen;             /* tells a socket from a later one with the same id */
	uint8_t type;             /* NS_SOCK_TCP or NS_SOCK_UDP */
	uint8_t family;           /* NS_IPV4 or NS_IPV6 */
	bool listener;            /* TCP listening socket */
	bool connecting;          /* TCP connect in progress */
	bool connected;           /* UDP with a default destination, or a TCP connection */
	bool want_in;             /* report READABLE (until reported and not read) */
	bool want_out;            /* report WRITABLE (after a short or refused send) */
	bool rate_wait;           /* send refused by the byte rate: WRITABLE by timer */
	bool read_called;         /* recv/accept called during the current event */
	uint32_t armed;           /* the epoll events asked for now */
	struct sock_peers *peers; /* UDP: recent sources, which it may answer */
};

struct mod_counter {
	char name[MOD_COUNTER_NAME];
	uint64_t value;
};

struct mod {
	struct modhost *h;
	char *name;
	char *so_path;
	void *dl;
	bool dl_acquired; /* counted in the loaded-objects table */
	int so_fd;        /* the .so, open while loaded (its /proc/self/fd name) */
	const struct ns_glue *g;
	void *inst; /* g->instance_size bytes, or NULL when not instantiated */
	struct Z_netserv_instance_t ctx;
	wasm_rt_memory_t *mem;
	uint32_t pkt_buf; /* address of the packet buffer in memory */
	json_t *props;
	size_t n_filters;      /* > 0: sees only packets that match one of its filters */
	uint32_t sample_every; /* > 0: sampled (modhost_sample()): no queued packet */
	struct ncm_filter filters[NCM_MAX_FILTERS];
	bool failed;
	char fail_reason[160];

	/* during ns_packet */
	bool in_packet;
	uint32_t cur_len;
	const struct ns_pkt_meta *cur_meta;

	struct mod_counter counters[MOD_MAX_COUNTERS];
	uint32_t n_counters;
	struct mod_timer timers[MOD_MAX_TIMERS];
	struct mod_sock **socks; /* by id; NULL slots are free */
	uint32_t n_socks_cap;
	uint32_t n_socks;        /* open */
	struct http_mod *http;   /* its http/1 servers and requests, or NULL */
	struct fetch_mod *fetch; /* its outbound fetches (http_fetch.c), or NULL */

	/* statistics */
	uint64_t packets, accepted, dropped, modified, bad_verdicts;
	uint64_t samples; /* sampled copies it was given (counted in packets too) */
	uint64_t traps, timeouts, instantiations, timer_calls;
	uint64_t swaps; /* hot swaps to another build (modhost_swap) */
	uint64_t sends, sends_refused, log_lines, log_suppressed;
	uint64_t sends_limited; /* refused by the publisher's send rate limit */
	uint64_t policy_drops;  /* modified packets dropped: malformed or foreign source */
	uint64_t sock_opened, sock_refused, sock_accepted, sock_conn_refused, sock_events;
	uint64_t sock_bytes_in, sock_bytes_out, sock_dgrams_in, sock_dgrams_out;
	uint64_t fetches, fetch_refused, fetch_bytes, fetch_pauses; /* http_fetch.c */
	uint64_t media_calls, media_failures, media_ms;             /* media/1 */
	char last_trap[160];
	uint64_t trap_times_ms[32]; /* ring of recent trap times */
	uint32_t trap_ring_pos;

	/* its recent log lines, for its publisher (stats "logs") */
	struct logring logs;

	/* log rate limit (token bucket) */
	double log_tokens;
	uint64_t log_refill_ns;

	struct mod *next;
};

struct modhost {
	struct evloop *loop;
	struct modhost_limits lim;
	char owner[64]; /* the publisher (modhost_set_owner), for log lines */
	modhost_event_fn *event;
	modhost_send_policy_fn *policy;
	void *ctx;
	struct mod *mods; /* load order */
	int udp4, udp6;   /* sockets for ns_send_udp */
	int raw4, raw6;   /* sockets for ns_send_packet (-1 without CAP_NET_RAW) */
	timer_t tick;
	bool tick_created;
	/* the publisher's send rate limit (lim.send_pps, send_bytes_per_s) */
	double send_pkt_tokens, send_byte_tokens;
	uint64_t send_refill_ns;
	/* socket/1 */
	modhost_sock_policy_fn *sock_policy;
	uint32_t n_sockets; /* open sockets of all modules (lim.max_sockets) */
	uint64_t sock_gen;
	double sock_byte_tokens;
	uint64_t sock_refill_ns;
	struct evloop_timer *sock_rate_timer; /* delivers WRITABLE after a rate wait */
	struct objstore *store;               /* storage/1 (modhost_set_store), or NULL */
	bool offline;                         /* modhost_set_offline() */
	struct modhost_offline off;
};

/* Marks entry into / exit from host code called by a module (an import);
 * import_leave() stops the module if its time budget ran out meanwhile. */
void modhost_import_enter(void);
void modhost_import_leave(void);

/* For an import that bounds its own work (media/1): the time between
 * modhost_budget_pause() and modhost_budget_resume(its result) does not
 * count against the running call's time budget; the module's own time
 * before and after does. */
uint32_t modhost_budget_pause(void);
void modhost_budget_resume(uint32_t ticks);

/* Tells the supervisor (the busy page) that a media/1 call runs (on) or
 * ended, so that it waits that much longer before calling the container
 * hung. */
void modhost_busy_media(bool on);

/* Changes on every call into a module (tells one call's imports from the
 * next one's). */
uint32_t modhost_call_seq(void);

/* Monotonic clock in ns (offline: the virtual one). */
uint64_t modhost_now_ns(void);

/* Wall clock in ms (offline: the virtual one). */
uint64_t modhost_time_ms(void);

/* Runs a module's timer entry (from the event loop). */
void modhost_timer_fire(struct mod *m, uint32_t id);

/* Cancels every timer of a module. */
void modhost_timers_cancel(struct mod *m);

/* Calls the module's ns_socket(id, events) with traps and the budget armed.
 * Returns 0, or -EFAULT if it trapped (the module's sockets are then gone). */
int modhost_socket_call(struct mod *m, uint32_t id, uint32_t events);

/* Closes every socket of a module (its instance is going). */
void modhost_socks_close_all(struct mod *m);

/* The size of a struct ns_sockaddr in module memory. */
#define NS_SOCKADDR_LEN 24
_Static_assert(sizeof(struct ns_sockaddr) == NS_SOCKADDR_LEN, "struct ns_sockaddr is 24 bytes");

struct sockaddr;
/* Writes the kernel address sa (NULL or another family: all zero) as the
 * ABI's struct ns_sockaddr, little-endian, into out (NS_SOCKADDR_LEN bytes);
 * an IPv4-mapped IPv6 address becomes IPv4. */
void modhost_sockaddr_encode(const struct sockaddr *sa, uint8_t *out);

/* Adds the module's sockets to its statistics object. */
void modhost_socks_stats(struct mod *m, json_t *j);

/* Calls the module's ns_http(req, event) with traps and the time budget
 * armed. Returns 0, -ENOENT (no instance or no export), or -EFAULT if it
 * trapped (handled: its requests failed, the module re-instantiated). */
int modhost_http_call(struct mod *m, uint32_t req, uint32_t event);

/* Opens the sockets the send imports use. */
void modhost_sockets_open(struct modhost *h);

/* Returns host memory for [ptr, ptr+len) of the module, or traps (as an
 * out-of-bounds access of the module would). For the imports only. */
static inline uint8_t *mem_at(struct mod *m, uint32_t ptr, uint32_t len)
{
	if (!m->mem || (uint64_t)ptr + len > m->mem->size) {
		modhost_import_leave();
		wasm_rt_trap(WASM_RT_TRAP_OOB);
	}
	return m->mem->data + ptr;
}

/* An import's first statement (defines m) and its way out with a result. */
#define IMPORT_BEGIN(ctx)                                                                          \
	struct mod *m = (ctx)->m;                                                                  \
	modhost_import_enter()
#define IMPORT_RETURN(v)                                                                           \
	do {                                                                                       \
		uint32_t _v = (uint32_t)(v);                                                       \
		modhost_import_leave();                                                            \
		return _v;                                                                         \
	} while (0)
