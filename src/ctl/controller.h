/* The NetServ controller: it takes NCM requests (from the admin socket and
 * from the NSLP, daemon/signaling.c, through the same controller_submit())
 * and runs each module's lifecycle:
 *
 *   requested -> fetching -> compiling -> installing -> active
 *                                      \-> no-runtime (no runtime on this node)
 *   any -> failed (with the reason);  active -> removing -> (gone)
 *
 * It owns the module table, keeps it durable in the store, expires modules at
 * the end of their TTL, and answers PROBE and STATUS. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/fetch.h"
#include "ctl/runtime.h"
#include "fwd/fwd.h"
#include "ncm/ncm.h"

struct evloop;
struct store;
struct controller;
struct guard;

struct ctl_settings {
	const char *node_id;
	const char *state_dir; /* the module cache is <state_dir>/modules */
	uint32_t default_ttl;  /* seconds */
	uint32_t max_ttl;
	uint32_t max_modules;
	bool require_hash;
	struct fetch_limits fetch;
	struct guard *guard; /* signatures, replay, policy (ctl/guard.h); NULL: none */
};

/* Receives the response to a request; the callee owns `response`. */
typedef void ctl_reply_fn(void *ctx, struct ncm_msg *response);

/* Creates a controller. Borrowed: loop, store, runtime and fwd (they must
 * outlive it). Returns 0 or a negative errno with the reason in err. */
int controller_new(struct evloop *loop, const struct ctl_settings *s, struct store *store,
                   const struct runtime_ops *rt_ops, void *rt, const struct fwd_ops *fwd_ops,
                   void *fwd, struct controller **ret, char *err, size_t errlen);

/* Cancels pending work (pending requests get no reply) and frees; NULL ok.
 * Installed modules are left to the runtime and the forwarding plane, which
 * the caller frees next (they tear down everything at once). */
struct controller *controller_free(struct controller *c);

/* Loads the store: drops expired modules, reinstalls the others. Returns the
 * number of modules restored, or a negative errno with the reason in err. */
int controller_restore(struct controller *c, char *err, size_t errlen);

/* Applies a reloaded configuration: default_ttl, max_ttl, max_modules and
 * require_hash of s (the rest keeps its running values), and the guard's
 * new policies (guard_reload() ran before) to every installed module: one
 * the policy no longer allows (its publisher is gone, its filter is outside
 * the new prefixes, its publisher's max_modules shrank: the newest go) is
 * taken out of the runtime and the forwarding plane and fails with the
 * reason, shown by STATUS. The others are not touched. Returns the number of
 * modules removed. */
int controller_reload(struct controller *c, const struct ctl_settings *s);

/* An operator's request, from the admin socket only (root), never from the
 * network: acts on a publisher's modules without the publisher's signature.
 * The request is a REMOVE naming `user:` with `operator: remove`, `suspend`
 * or `resume`; its target is a module id, or `*` for every module of that
 * publisher (stopping a publisher). remove takes the module away; suspend
 * takes it out of its container and the forwarding plane and keeps it
 * failed with the reason "suspended by the operator" (kept across a
 * restart); resume installs a failed or suspended module again. Each
 * action is logged and recorded in the events; the answer lists the
 * modules acted on (200), or says none matched (404). `reply` as in
 * controller_submit(). */
void controller_operator(struct controller *c, const struct ncm_msg *msg, ctl_reply_fn *reply,
                         void *ctx);

/* Handles one request. path_dst is the flow destination of the GIST MRI
 * that carried it (NULL for the admin socket): a signed request acts only
 * where it was signed for (guard_authenticate()). `reply` is called exactly
 * once, before this returns or later from the event loop, unless
 * controller_forget(ctx) runs first. */
void controller_submit(struct controller *c, const struct ncm_msg *req,
                       const struct ncm_prefix *path_dst, ctl_reply_fn *reply, void *ctx);

/* Drops every pending reply addressed to ctx (its requester went away). */
void controller_forget(struct controller *c, void *ctx);

/* A node group (the OpenFlow sidecar's nodes, daemon/sidecar_group.h) that
 * sees every request first. submit returns true when it took the request
 * (it then answers through reply, and hands it on with
 * controller_submit_direct()); forget is controller_forget()'s ctx; probe
 * adds headers to a PROBE response; status returns a new JSON object, the
 * STATUS JSON's "group" (NULL: none). Every pointer may be NULL. */
struct ctl_group_hooks {
	bool (*submit)(void *hctx, const struct ncm_msg *req, const struct ncm_prefix *path_dst,
	               ctl_reply_fn *reply, void *ctx);
	void (*forget)(void *hctx, void *ctx);
	void (*probe)(void *hctx, struct ncm_msg *response);
	json_t *(*status)(void *hctx);
	void *hctx;
};

/* Installs the group's hooks (copied); NULL removes them. */
void controller_set_group(struct controller *c, const struct ctl_group_hooks *h);

/* controller_submit() without the group's submit hook: what the group
 * calls to act on a request on this node. */
void controller_submit_direct(struct controller *c, const struct ncm_msg *req,
                              const struct ncm_prefix *path_dst, ctl_reply_fn *reply, void *ctx);

/* controller_submit_direct() of a request a group member replays (state
 * sync): authenticated by guard_authenticate_replayed(), and a SETUP's
 * module expires at not_after_ms (unix ms) at the latest, whatever its ttl,
 * so that a replay never extends what the publisher asked for. */
void controller_submit_replayed(struct controller *c, const struct ncm_msg *req,
                                const struct ncm_prefix *path_dst, int64_t not_after_ms,
                                ctl_reply_fn *reply, void *ctx);

/* Receives the metrics: status 0 and the text (the callee frees it), or a
 * negative errno and NULL. */
typedef void ctl_metrics_fn(void *ctx, int status, char *text, size_t len);

/* Renders the node's metrics in the Prometheus text format (docs/operations.md
 * lists them) from the controller's counters and a fresh statistics request
 * to the runtime. `done` is called once, maybe before this returns, unless
 * controller_forget(ctx) runs first. */
void controller_metrics(struct controller *c, ctl_metrics_fn *done, void *ctx);

/* Renders the STATUS JSON (what `netserv ctl status --json` shows, compact)
 * from a fresh statistics request to the runtime, for the dashboard; `done`
 * as for controller_metrics(). */
void controller_status(struct controller *c, ctl_metrics_fn *done, void *ctx);
