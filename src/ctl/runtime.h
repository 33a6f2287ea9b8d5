/* The controller's interface toward the module runtime: the AOT compiler and
 * the per-publisher service containers that run modules. The controller only
 * sees these operations; an implementation registers a `struct runtime_ops`.
 *
 * runtime_none (runtime_none.c) refuses every install with -ENOTSUP, and the
 * controller keeps such modules in the "no-runtime" state; runtime_wasm
 * (runtime/runtime_wasm.c) is the real one. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

/* How far an install got. */
enum runtime_progress {
	RUNTIME_COMPILING,  /* the module is being compiled (not cached yet) */
	RUNTIME_INSTALLING, /* compiled; being loaded into its container */
};

/* Reports progress of an install. */
typedef void runtime_progress_fn(void *ctx, enum runtime_progress state);

/* Reports the end of an asynchronous install: status 0 when the module is
 * active, else an NCM status code with a one-line reason. On success, queue
 * is where the module's packets must go: the NFQUEUE number(s) of its
 * container as a FWD_QUEUE_RANGE() value (fwd/fwd.h), or -ENOENT when the
 * container reads none. */
typedef void runtime_done_fn(void *ctx, int status, const char *reason, long queue);

/* Delivers statistics: a JSON object keyed "user/module" whose values are
 * per-module objects (packets, verdicts, traps, counters, ...), and keyed
 * "user" (no slash) the publisher's container (rss_kb, restarts, queue:
 * the NFQUEUE loop's packets, bytes, verdicts, enobufs, missed, ...);
 * borrowed. NULL when the statistics could not be gathered. */
typedef void runtime_stats_fn(void *ctx, json_t *stats);

/* What happened to a module or to a publisher's container. */
enum runtime_event {
	RUNTIME_EVENT_TRAP,      /* a contained trap, counted (reason: which) */
	RUNTIME_EVENT_FAILED,    /* the module is out of service (reason: why) */
	RUNTIME_EVENT_RESTARTED, /* the container restarted: module NULL, reason the
	                            last exit or NULL */
};

/* The event's name in logs and on the wire ("trap", "failed", "restarted"). */
static inline const char *runtime_event_name(enum runtime_event ev)
{
	return ev == RUNTIME_EVENT_TRAP     ? "trap"
	       : ev == RUNTIME_EVENT_FAILED ? "failed"
	                                    : "restarted";
}

/* Tells the controller about a module or a container. */
typedef void runtime_event_fn(void *ctx, const char *user, const char *module,
                              enum runtime_event event, const char *reason);

/* What the runtime needs to know about one module. */
struct runtime_module {
	const char *user;                  /* publisher: picks the container */
	const char *module_id;             /* NCM target */
	const char *wasm_path;             /* verified module binary in the node's cache */
	const uint8_t *sha256;             /* its hash (32 bytes) */
	const struct ncm_request *request; /* properties, filter, dependencies */
	runtime_progress_fn *progress;     /* may be NULL */
	const char *listen; /* sockets it asks for ("tcp:80,udp:5060", policy-checked) or NULL */
};

struct runtime_ops {
	const char *name; /* reported as capability "runtime:<name>" */

	/* Starts compiling and installing a module. Returns 0 when `done` will be
	 * called later, or a negative errno with the reason in err, and then
	 * `done` is never called: -ENOTSUP no runtime; -EPERM the publisher may
	 * not run modules here; -EINVAL the module is not acceptable. */
	int (*install)(void *rt, const struct runtime_module *m, runtime_done_fn *done, void *ctx,
	               char *err, size_t errlen);

	/* Uninstalls a module (also cancels an install in progress: its `done`
	 * is not called). Returns 0 or -ENOENT. */
	int (*remove)(void *rt, const char *user, const char *module_id);

	/* Deletes what a module stored on the node (storage/1 objects): called
	 * after `remove` when the module is gone for good (REMOVE, expiry, the
	 * operator), not when a newer SETUP replaces it. May be NULL. Returns 0
	 * or a negative errno. */
	int (*purge)(void *rt, const char *user, const char *module_id);

	/* Returns the comma-separated building blocks modules may import. */
	const char *(*building_blocks)(void *rt);

	/* Collects statistics of every running module; `done` is called once,
	 * possibly before this returns. */
	void (*stats)(void *rt, runtime_stats_fn *done, void *ctx);

	/* Drops pending stats callbacks addressed to ctx. */
	void (*forget)(void *rt, void *ctx);

	/* Sets who hears about module events. */
	void (*set_event_handler)(void *rt, runtime_event_fn *fn, void *ctx);
};

/* The stand-in used until a runtime exists: installs nothing. */
extern const struct runtime_ops runtime_none_ops;
