/* The controller's gatekeeper: every SETUP, REMOVE and TRIGGER passes here
 * before the controller acts on it, whichever way it came (admin socket or
 * signaling).
 *
 *   guard_authenticate()    who sent it: the publisher is configured on this
 *                           node, the Ed25519 signature verifies with its key
 *                           (<keys_dir>/<user>.pub), the timestamp is inside
 *                           the window, the nonce was never seen (nonces are
 *                           kept in the store, so a restart forgets none);
 *   guard_authorize_setup() what it may do: the publisher's policy (policy.h),
 *                           dependencies against the node's building blocks,
 *                           and, when the SETUP asks for it, the
 *                           reverse-routability check (rrc.h), which runs on
 *                           the event loop and answers later.
 *
 * Refusals are NCM status codes: 400 malformed, 401 signature problems
 * (missing, invalid, wrong key, stale, replayed), 403 policy, 422 missing
 * dependency, 500 the node's own failure; the reason goes in err and the
 * refusal is counted (guard_status()) and logged, rate-limited. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "ncm/ncm.h"

struct evloop;
struct store;
struct guard;

struct guard_publisher {
	const char *name;
	const struct ns_policy *policy;
};

struct guard_config {
	bool require_signatures; /* refuse unsigned SETUP/REMOVE/TRIGGER (401) */
	bool accept_unbound;     /* accept signed requests without signal-to by GIST */
	const char *keys_dir;    /* <keys_dir>/<user>.pub */
	uint32_t window_s;       /* accepted |now - timestamp| */
	bool require_hash;       /* the node's [modules] require_hash */
	uint16_t rrc_port;       /* HTTP port of reverse-routability checks */
	uint32_t rrc_timeout_s;
	const struct guard_publisher *publishers; /* copied */
	size_t n_publishers;
};

/* What the controller knows about a SETUP's context. */
struct guard_setup {
	const struct ncm_msg *msg;
	const struct ncm_request *req;
	unsigned user_modules;       /* the publisher's modules, minus one this replaces */
	const char *building_blocks; /* comma-separated, from the runtime */
	bool (*installed)(void *ctx, const char *name); /* the publisher's modules */
	void *installed_ctx;
};

/* A check is running: the answer comes through the callback. */
#define GUARD_PENDING 1

/* The end of a pending check: status 0 (allowed) or an NCM status. */
typedef void guard_done_fn(void *ctx, int status, const char *reason);

/* Creates the guard. Borrowed: loop and store (they must outlive it).
 * Returns 0 or a negative errno with the reason in err. */
int guard_new(struct evloop *loop, const struct guard_config *cfg, struct store *store,
              struct guard **ret, char *err, size_t errlen);

/* Takes a new configuration (a reload): signatures required or not, keys_dir
 * (keys are read per request anyway), the timestamp window, require_hash,
 * the publishers and their policies. rrc_port and rrc_timeout_s keep their
 * running values. Checks in progress go on. Returns 0 or -ENOMEM (then
 * nothing changed). */
int guard_reload(struct guard *g, const struct guard_config *cfg);

/* The most modules user may run (its policy's max_modules; 0: no limit). */
unsigned guard_max_modules(const struct guard *g, const char *user);

/* Cancels pending checks (no callbacks) and frees; NULL allowed. */
struct guard *guard_free(struct guard *g);

/* Authenticates a SETUP, REMOVE or TRIGGER, or a PROBE that names its user
 * and is signed (0 for an anonymous PROBE and for other methods), whose
 * fields the caller decoded (req, borrowed). path_dst is the flow destination
 * of the GIST MRI that carried it (NULL from the admin socket): a signed
 * request must be bound to it (auth_check_binding(), 403). Returns 0 or an
 * NCM status with the reason in err. A request that passes has its nonce
 * remembered: the same bytes are refused (401) from then on. */
int guard_authenticate(struct guard *g, const struct ncm_msg *msg, const struct ncm_request *req,
                       const struct ncm_prefix *path_dst, char *err, size_t errlen);

/* guard_authenticate() for a request a member of this node's sidecar group
 * replays (daemon/sidecar_group.h; the group's key authenticated it): the
 * signature, key and binding are checked as above, but not the timestamp
 * window: a SETUP is accepted while timestamp + its ttl (the window when it
 * has none) is in the future, a REMOVE at any age; a nonce seen before is
 * not a refusal (the node may have applied it before a restart). */
int guard_authenticate_replayed(struct guard *g, const struct ncm_msg *msg,
                                const struct ncm_request *req, const struct ncm_prefix *path_dst,
                                char *err, size_t errlen);

/* Authorizes an authenticated SETUP. Returns 0 (allowed), an NCM status with
 * the reason in err, or GUARD_PENDING: a reverse-routability check runs and
 * done(ctx, ...) is called later, unless guard_cancel(g, ctx) comes first. */
int guard_authorize_setup(struct guard *g, const struct guard_setup *s, guard_done_fn *done,
                          void *ctx, char *err, size_t errlen);

/* Drops the pending checks of ctx; done is not called for them. */
void guard_cancel(struct guard *g, void *ctx);

/* Re-checks a stored SETUP against the current configuration when the node
 * restarts (policy only: no signature, no network; an address proven by a
 * reverse-routability check stays proven). Returns 0 or an NCM status. */
int guard_recheck(struct guard *g, const struct ncm_msg *msg, const struct ncm_request *req,
                  char *err, size_t errlen);

/* Whether filter i of a SETUP (req->filters[i]) is allowed by its
 * destination: the destination lies inside the publisher's prefixes (or inside
 * an address it proved by reverse routability). Such a filter takes precedence
 * over an overlapping one that another publisher holds only by its source
 * prefix (issue #12, docs/security.md "Overlapping filters"). False for an
 * unknown publisher or a filter that is not there. */
bool guard_filter_by_destination(const struct guard *g, const struct ncm_msg *msg,
                                 const struct ncm_request *req, size_t i);

/* Returns the settings and counters as a new JSON object. */
json_t *guard_status(const struct guard *g);
