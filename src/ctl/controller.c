/* The controller: module table, lifecycle, TTL, durable state; requests in,
 * answers out (PROBE and STATUS are rendered by controller_report.c). */
#include "ctl/controller.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/controller_int.h"
#include "ctl/guard.h"
#include "ctl/store.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "policy/policy.h"
#include "paths.h"

static const char *const state_names[] = {
        [MOD_REQUESTED] = "requested", [MOD_FETCHING] = "fetching",
        [MOD_COMPILING] = "compiling", [MOD_INSTALLING] = "installing",
        [MOD_ACTIVE] = "active",       [MOD_NO_RUNTIME] = "no-runtime",
        [MOD_REMOVING] = "removing",   [MOD_FAILED] = "failed",
};

const char *ctl_state_name(enum module_state st)
{
	return (size_t)st < ARRAY_SIZE(state_names) ? state_names[st] : "?";
}

/* ---- module records ------------------------------------------------------ */

static void module_free(struct module *m)
{
	if (!m)
		return;
	fetch_cancel(m->fetch);
	while (m->waiters) {
		struct waiter *w = m->waiters;
		m->waiters = w->next;
		free(w);
	}
	ncm_request_done(&m->req);
	ncm_free(m->msg);
	free(m->install_key);
	free(m->reason);
	free(m);
}

static struct module *module_find(struct controller *c, const char *user, const char *id)
{
	for (struct module *m = c->modules; m; m = m->next)
		if (strcmp(m->req.user, user) == 0 && strcmp(m->req.target, id) == 0)
			return m;
	return NULL;
}

static void module_unlink(struct controller *c, struct module *m)
{
	for (struct module **pp = &c->modules; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			c->n_modules--;
			return;
		}
	}
}

static void module_link(struct controller *c, struct module *m)
{
	struct module **pp = &c->modules;
	while (*pp)
		pp = &(*pp)->next;
	*pp = m;
	c->n_modules++;
}

/* The part of a SETUP that decides whether a repeat is the same install. */
static int install_key(const struct ncm_msg *msg, char **ret)
{
	static const char *const per_request[] = {"ttl", "timestamp", "nonce", "signature"};
	struct ncm_msg *copy = ncm_request_new(msg->method, msg->target);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < msg->n_headers; i++) {
		bool skip = false;
		for (size_t j = 0; j < ARRAY_SIZE(per_request); j++)
			skip |= strcmp(msg->headers[i].name, per_request[j]) == 0;
		if (!skip && ncm_add(copy, msg->headers[i].name, msg->headers[i].value) < 0) {
			ncm_free(copy);
			return -ENOMEM;
		}
	}
	size_t len;
	int r = ncm_canonical(copy, ret, &len);
	ncm_free(copy);
	return r;
}

/* Makes a module record of a SETUP. Takes msg (always: freed on failure)
 * and, when req is not NULL, its decoded fields (moved: *req is left empty);
 * without req, decodes msg. */
static int module_new(struct controller *c, struct ncm_msg *msg, struct ncm_request *req,
                      struct module **ret, char *err, size_t errlen)
{
	struct module *m = calloc(1, sizeof(*m));
	if (m)
		m->notify = (struct notify_state)NOTIFY_STATE_INIT;
	int r = 0;
	if (!m) {
		ncm_free(msg);
		if (req)
			ncm_request_done(req);
		return -ENOMEM;
	}
	m->c = c;
	m->msg = msg;
	if (req) {
		m->req = *req;
		*req = (struct ncm_request){0};
	} else {
		r = ncm_request_decode(m->msg, &m->req, err, errlen);
	}
	if (r >= 0)
		r = install_key(m->msg, &m->install_key);
	if (r < 0) {
		module_free(m);
		return r;
	}
	if (m->req.has_hash) {
		m->has_sha = true;
		memcpy(m->sha, m->req.hash, 32);
		ncm_hash_format(m->sha, m->hash, sizeof(m->hash));
	}
	*ret = m;
	return 0;
}

static void module_store_row(const struct module *m, struct store_module *row)
{
	memset(row, 0, sizeof(*row));
	row->user = m->req.user;
	row->module_id = m->req.target;
	row->url = m->req.url;
	snprintf(row->hash, sizeof(row->hash), "%s", m->hash);
	row->created_at = m->created_at;
	row->expires_at = m->expires_at;
	row->state = (char *)state_names[m->state];
	row->reason = m->reason;
	/* The columns hold the first filter (a summary); the request holds all. */
	row->has_filter = m->req.n_filters > 0;
	if (m->req.n_filters)
		row->filter = m->req.filters[0];
}

/* Writes the whole row; returns 0 or a negative errno (logged). */
static int module_persist(struct module *m)
{
	struct store_module row;
	char *wire = NULL;
	size_t len;
	int r = ncm_serialize(m->msg, &wire, &len);
	if (r < 0)
		return r;
	module_store_row(m, &row);
	row.request = wire;
	char err[NCM_ERR_LEN];
	r = store_module_put(m->c->store, &row, err, sizeof(err));
	free(wire);
	if (r < 0)
		log_err("state: cannot save module %s/%s: %s", m->req.user, mod_name(m), err);
	return r;
}

static int module_set_state(struct module *m, enum module_state st, const char *reason)
{
	m->state = st;
	free(m->reason);
	m->reason = reason ? strdup(reason) : NULL;
	char err[NCM_ERR_LEN];
	int r = store_module_set_state(m->c->store, m->req.user, mod_name(m), state_names[st],
	                               m->reason, err, sizeof(err));
	if (r < 0)
		log_err("state: cannot save state of %s/%s: %s", m->req.user, mod_name(m), err);
	log_debug("module %s/%s: %s%s%s", m->req.user, mod_name(m), state_names[st],
	          reason ? ": " : "", reason ? reason : "");
	return r;
}

static struct ncm_msg *module_response(const struct module *m, int code)
{
	struct ncm_msg *r = ncm_response_new(code, NULL);
	if (!r)
		return NULL;
	ncm_add(r, "node", m->c->node_id);
	ncm_add(r, "user", m->req.user);
	ncm_add(r, "module", mod_name(m));
	ncm_add(r, "state", state_names[m->state]);
	ncm_addf(r, "ttl", "%u", ttl_remaining_s(m));
	if (m->hash[0])
		ncm_add(r, "module-hash", m->hash);
	if (m->reason)
		ncm_add(r, "reason", m->reason);
	return r;
}

/* Answers every waiter of m: with m's state on success, else with code. */
static void module_reply_all(struct module *m, int code)
{
	while (m->waiters) {
		struct waiter *w = m->waiters;
		m->waiters = w->next;
		w->fn(w->ctx, module_response(m, code));
		free(w);
	}
}

static int module_add_waiter(struct module *m, ctl_reply_fn *fn, void *ctx)
{
	struct waiter *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fn = fn;
	w->ctx = ctx;
	struct waiter **pp = &m->waiters;
	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	return 0;
}

static void module_fail(struct module *m, int code, const char *reason)
{
	log_warn("module %s/%s failed: %s", m->req.user, mod_name(m), reason);
	ctl_event(m->c, m->req.user, mod_name(m), "failed", reason);
	module_set_state(m, MOD_FAILED, reason);
	module_reply_all(m, code);
}

/* Takes a module out of the runtime and the forwarding plane. */
static void module_uninstall(struct module *m)
{
	struct controller *c = m->c;
	char rule[NCM_MAX_USER + NCM_MAX_TARGET + 2];
	snprintf(rule, sizeof(rule), "%s/%s", m->req.user, mod_name(m));
	m->fetch = fetch_cancel(m->fetch);
	if (m->filter_installed && c->fwd_ops->filter_remove(c->fwd, rule) < 0)
		log_warn("module %s: its forwarding rule was already gone", rule);
	m->filter_installed = false;
	if (m->rt_installed)
		c->rt_ops->remove(c->rt, m->req.user, mod_name(m));
	m->rt_installed = false;
}

/* Removes a module completely: runtime, forwarding, store, table; with
 * purge (gone for good, not replaced) also what it stored on the node. */
static int module_destroy(struct module *m, bool purge, int waiter_code, const char *why)
{
	struct controller *c = m->c;
	m->state = MOD_REMOVING;
	module_uninstall(m);
	if (purge && c->rt_ops->purge && c->rt_ops->purge(c->rt, m->req.user, mod_name(m)) < 0)
		log_warn("module %s/%s: cannot delete its stored objects", m->req.user,
		         mod_name(m));
	while (m->waiters) {
		struct waiter *w = m->waiters;
		m->waiters = w->next;
		reply_error(w->fn, w->ctx, waiter_code, why);
		free(w);
	}
	char err[NCM_ERR_LEN];
	int r = store_module_delete(c->store, m->req.user, mod_name(m), err, sizeof(err));
	if (r < 0 && r != -ENOENT)
		log_err("state: cannot delete %s/%s: %s", m->req.user, mod_name(m), err);
	module_unlink(c, m);
	module_free(m);
	return r == -ENOENT ? 0 : r;
}

/* ---- expiry -------------------------------------------------------------- */

static void expiry_rearm(struct controller *c);

static void on_expiry(struct evloop *loop, void *ctx)
{
	struct controller *c = ctx;
	c->expiry_timer = NULL;
	int64_t now = now_unix_ms();
	struct module *m = c->modules;
	while (m) {
		struct module *next = m->next;
		if (m->expires_at <= now) {
			log_info("module %s/%s expired (ttl)", m->req.user, mod_name(m));
			c->counters.expired++;
			ctl_event(c, m->req.user, mod_name(m), "expired", NULL);
			module_destroy(m, true, NCM_CONFLICT,
			               "module expired before it was installed");
		}
		m = next;
	}
	expiry_rearm(c);
}

static void expiry_rearm(struct controller *c)
{
	c->expiry_timer = evloop_timer_cancel(c->loop, c->expiry_timer);
	if (!c->modules)
		return;
	int64_t first = INT64_MAX;
	for (struct module *m = c->modules; m; m = m->next)
		if (m->expires_at < first)
			first = m->expires_at;
	int64_t delay = first - now_unix_ms();
	c->expiry_timer = evloop_timer_add(c->loop, delay < 0 ? 0 : (uint64_t)delay, on_expiry, c);
	if (!c->expiry_timer)
		log_err("controller: cannot arm the expiry timer (out of memory)");
}

/* ---- the install pipeline ------------------------------------------------ */

static void cache_path(const struct controller *c, const uint8_t sha[32], char *buf, size_t len)
{
	char hex[65];
	sodium_bin2hex(hex, sizeof(hex), sha, 32);
	snprintf(buf, len, "%s/%s.wasm", c->cache_dir, hex);
}

/* Steers the module's filters (one rule set each, under one rule id) to the
 * queue the runtime put it behind, if it asked for any traffic. */
static int module_steer(struct module *m, long queue, char *err, size_t errlen)
{
	struct controller *c = m->c;
	if (!m->req.n_filters)
		return 0;
	if (queue < 0 && strcmp(c->fwd_ops->name, "none") != 0) {
		snprintf(err, errlen, "publisher %s has no packet queue on this node", m->req.user);
		return -ENOENT;
	}
	char rule[NCM_MAX_USER + NCM_MAX_TARGET + 2];
	snprintf(rule, sizeof(rule), "%s/%s", m->req.user, mod_name(m));
	int r;
	if (m->req.sample_every) {
		/* Sampled: copies to the container's sample channel, whose number
		 * is its first queue's (the runtime binds both, runtime.h). */
		struct fwd_sample smp = {
		        .every = m->req.sample_every,
		        .bytes = m->req.sample_bytes,
		        .group = (uint16_t)FWD_QUEUE_FIRST(queue < 0 ? 0 : (unsigned)queue),
		        .tag = mod_name(m),
		};
		if (!c->fwd_ops->sample_add) {
			snprintf(err, errlen,
			         "the %s forwarding plane cannot sample (sample: 1/%u)",
			         c->fwd_ops->name, smp.every);
			return -ENOTSUP;
		}
		r = c->fwd_ops->sample_add(c->fwd, rule, m->req.filters, m->req.n_filters, &smp,
		                           err, errlen);
	} else {
		r = c->fwd_ops->filter_add(c->fwd, rule, m->req.filters, m->req.n_filters,
		                           queue < 0 ? 0 : (unsigned)queue, err, errlen);
	}
	if (r == -ENOTSUP && strcmp(c->fwd_ops->name, "none") == 0) {
		log_warn("module %s: filter not steered: %s", rule, err);
		return 0;
	}
	if (r < 0)
		return r;
	m->filter_installed = true;
	return 0;
}

static void on_runtime_progress(void *ctx, enum runtime_progress state)
{
	struct module *m = ctx;
	if (state == RUNTIME_INSTALLING && m->state == MOD_COMPILING)
		prom_histogram_observe(&m->c->compile_seconds,
		                       (double)(evloop_now_ms() - m->phase_t0) / 1000);
	module_set_state(m, state == RUNTIME_INSTALLING ? MOD_INSTALLING : MOD_COMPILING, NULL);
}

static void on_runtime_done(void *ctx, int status, const char *reason, long queue)
{
	struct module *m = ctx;
	if (status != 0) {
		m->rt_installed = false;
		module_fail(m, status, reason ? reason : "install failed");
		return;
	}
	char err[NCM_ERR_LEN];
	if (module_steer(m, queue, err, sizeof(err)) < 0) {
		module_uninstall(m);
		module_fail(m, NCM_INTERNAL_ERROR, err);
		return;
	}
	module_set_state(m, MOD_ACTIVE, NULL);
	log_info("module %s/%s active", m->req.user, mod_name(m));
	ctl_event(m->c, m->req.user, mod_name(m), "active", NULL);
	module_reply_all(m, NCM_OK);
}

/* The module binary is in the cache and verified: hand it to the runtime. */
static void module_install(struct module *m)
{
	struct controller *c = m->c;
	char path[PATH_MAX], err[NCM_ERR_LEN];
	cache_path(c, m->sha, path, sizeof(path));
	struct runtime_module rm = {
	        .user = m->req.user,
	        .module_id = mod_name(m),
	        .wasm_path = path,
	        .sha256 = m->sha,
	        .request = &m->req,
	        .progress = on_runtime_progress,
	        .listen = ncm_get(m->msg, "listen"),
	};
	module_set_state(m, MOD_COMPILING, NULL);
	m->phase_t0 = evloop_now_ms();
	m->rt_installed = true;
	int r = c->rt_ops->install(c->rt, &rm, on_runtime_done, m, err, sizeof(err));
	if (r == -ENOTSUP) {
		m->rt_installed = false;
		module_set_state(m, MOD_NO_RUNTIME, err);
		log_info("module %s/%s stored: %s", m->req.user, mod_name(m), err);
		ctl_event(c, m->req.user, mod_name(m), "no-runtime", err);
		module_reply_all(m, NCM_OK);
		return;
	}
	if (r < 0) {
		m->rt_installed = false;
		module_fail(m,
		            r == -EPERM    ? NCM_FORBIDDEN
		            : r == -EINVAL ? NCM_UNPROCESSABLE
		                           : NCM_INTERNAL_ERROR,
		            err);
	}
}

static void on_fetched(void *ctx, int status, const char *message, const uint8_t sha[32])
{
	struct module *m = ctx;
	struct controller *c = m->c;
	m->fetch = NULL;
	prom_histogram_observe(&c->fetch_seconds, (double)(evloop_now_ms() - m->phase_t0) / 1000);
	if (status != 0) {
		module_fail(m, status, message);
		return;
	}
	if (!m->has_sha) {
		/* No module-hash was given (allowed by config): file it under its own. */
		char from[PATH_MAX], to[PATH_MAX];
		snprintf(from, sizeof(from), "%s/unverified-%p.wasm", c->cache_dir, (void *)m);
		memcpy(m->sha, sha, 32);
		m->has_sha = true;
		ncm_hash_format(sha, m->hash, sizeof(m->hash));
		cache_path(c, sha, to, sizeof(to));
		if (rename(from, to) < 0) {
			char why[PATH_MAX + 64];
			snprintf(why, sizeof(why), "storing module as %s: %s", to, strerror(errno));
			module_fail(m, NCM_INTERNAL_ERROR, why);
			return;
		}
		module_persist(m);
	}
	log_info("module %s/%s fetched (%s)", m->req.user, mod_name(m), m->hash);
	module_install(m);
}

/* Returns whether the cache holds a file whose content has hash sha. */
static bool cache_has(const struct controller *c, const uint8_t sha[32])
{
	char path[PATH_MAX];
	cache_path(c, sha, path, sizeof(path));
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	unsigned char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		crypto_hash_sha256_update(&st, buf, (size_t)n);
	if (n < 0)
		return false;
	uint8_t got[32];
	crypto_hash_sha256_final(&st, got);
	if (memcmp(got, sha, 32) != 0) {
		log_warn("cache: %s is corrupt, fetching again", path);
		unlink(path);
		return false;
	}
	return true;
}

/* Starts (or restarts after a daemon restart) the pipeline of a module. */
static void module_start(struct module *m)
{
	struct controller *c = m->c;
	if (m->has_sha && cache_has(c, m->sha)) {
		log_debug("module %s/%s: %s is cached", m->req.user, mod_name(m), m->hash);
		module_install(m);
		return;
	}
	char dest[PATH_MAX], err[NCM_ERR_LEN];
	if (m->has_sha)
		cache_path(c, m->sha, dest, sizeof(dest));
	else
		snprintf(dest, sizeof(dest), "%s/unverified-%p.wasm", c->cache_dir, (void *)m);
	module_set_state(m, MOD_FETCHING, NULL);
	m->phase_t0 = evloop_now_ms();
	int r = fetch_start(c->fetcher, m->req.url, dest, m->has_sha ? m->sha : NULL, on_fetched, m,
	                    &m->fetch, err, sizeof(err));
	if (r < 0)
		module_fail(m, fetch_error_status(r), err);
}

/* ---- requests ------------------------------------------------------------ */

static int setup_authorize(struct controller *c, struct module *m, ctl_reply_fn *reply, void *ctx);
static void setup_accept(struct controller *c, struct module *m, ctl_reply_fn *reply, void *ctx);

static void handle_setup(struct controller *c, const struct ncm_msg *msg, struct ncm_request *req,
                         ctl_reply_fn *reply, void *ctx)
{
	char err[NCM_ERR_LEN];
	struct module *m = NULL;
	struct ncm_msg *copy = NULL;
	int r = ncm_dup(msg, &copy);
	if (r == 0)
		r = module_new(c, copy, req, &m, err, sizeof(err));
	if (r == 0)
		m->not_after = c->replay_not_after;
	if (r == -ENOMEM) {
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (r < 0) {
		ctl_event(c, ncm_get(msg, "user"), msg->target, "refused", err);
		reply_error(reply, ctx, NCM_BAD_REQUEST, err);
		return;
	}
	if (!m->req.user || !m->req.url) {
		ctl_event(c, m->req.user, mod_name(m), "refused",
		          "SETUP needs the user and url headers");
		reply_error(reply, ctx, NCM_BAD_REQUEST, "SETUP needs the user and url headers");
		module_free(m);
		return;
	}
	if (c->s.require_hash && !m->has_sha) {
		ctl_event(c, m->req.user, mod_name(m), "refused", "no module-hash header");
		reply_error(reply, ctx, NCM_BAD_REQUEST,
		            "SETUP needs a module-hash header (sha256:<hex>) on this node");
		module_free(m);
		return;
	}
	if (c->s.guard && setup_authorize(c, m, reply, ctx) != 0)
		return; /* refused (answered) or waiting for a check */
	setup_accept(c, m, reply, ctx);
}

static void discard_reply(void *ctx, struct ncm_msg *response)
{
	ncm_free(response);
}

/* Whether the publisher of SETUP `ctx` (a module) has module `name` running. */
static bool user_has_module(void *ctx, const char *name)
{
	const struct module *m = ctx;
	const struct module *o = module_find(m->c, m->req.user, name);
	return o && (o->state == MOD_ACTIVE || o->state == MOD_NO_RUNTIME);
}

static void on_setup_authorized(void *ctx, int status, const char *reason)
{
	struct setup_wait *w = ctx;
	struct controller *c = w->c;
	for (struct setup_wait **pp = &c->authorizing; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	if (status) {
		c->counters.errors++;
		ctl_event(c, w->m->req.user, mod_name(w->m), "refused", reason);
		reply_error(w->reply, w->ctx, status, reason);
		module_free(w->m);
	} else {
		setup_accept(c, w->m, w->reply, w->ctx);
	}
	free(w);
}

/* Asks the guard about a SETUP (ctl/guard.h). Returns 0 to go on, or 1 when
 * the SETUP was refused (and answered) or waits for a check (then
 * setup_accept() runs later); m is the caller's only on 0. */
static int setup_authorize(struct controller *c, struct module *m, ctl_reply_fn *reply, void *ctx)
{
	unsigned n = 0;
	for (const struct module *o = c->modules; o; o = o->next)
		n += strcmp(o->req.user, m->req.user) == 0 && strcmp(mod_name(o), mod_name(m)) != 0;
	struct setup_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		module_free(m);
		return 1;
	}
	*w = (struct setup_wait){.c = c, .m = m, .reply = reply, .ctx = ctx};
	struct guard_setup gs = {
	        .msg = m->msg,
	        .req = &m->req,
	        .user_modules = n,
	        .building_blocks = c->rt_ops->building_blocks(c->rt),
	        .installed = user_has_module,
	        .installed_ctx = m,
	};
	char err[NCM_ERR_LEN];
	int code = guard_authorize_setup(c->s.guard, &gs, on_setup_authorized, w, err, sizeof(err));
	if (code == GUARD_PENDING) {
		w->next = c->authorizing;
		c->authorizing = w;
		return 1;
	}
	free(w);
	if (code == 0)
		return 0;
	c->counters.errors++;
	ctl_event(c, m->req.user, mod_name(m), "refused", err);
	reply_error(reply, ctx, code, err);
	module_free(m);
	return 1;
}

/* ---- overlapping filters (issue #12) ---------------------------------------- */

/* Whether m's filter i is allowed by its destination (guard.h); without a
 * guard every filter counts as one, and the first SETUP keeps an overlap. */
static bool by_destination(const struct controller *c, const struct module *m, size_t i)
{
	return !c->s.guard || guard_filter_by_destination(c->s.guard, m->msg, &m->req, i);
}

/* Whether o is another publisher's module holding (or about to hold)
 * forwarding rules that m's could shadow: some filter of o overlaps some
 * filter of m. */
static bool overlaps(const struct module *o, const struct module *m)
{
	return o != m && strcmp(o->req.user, m->req.user) != 0 && o->req.n_filters &&
	       o->state != MOD_FAILED && o->state != MOD_REMOVING &&
	       policy_filter_lists_overlap(o->req.filters, o->req.n_filters, m->req.filters,
	                                   m->req.n_filters, NULL, NULL);
}

/* Whether m may take every overlap with o: each overlapping pair of filters
 * has m's filter held by its destination and o's held only by its source.
 * Stores the first pair that decides otherwise (m's index) in *ret_i. */
static bool takes_precedence(const struct controller *c, const struct module *m,
                             const struct module *o, size_t *ret_i)
{
	for (size_t i = 0; i < m->req.n_filters; i++)
		for (size_t j = 0; j < o->req.n_filters; j++) {
			if (!policy_filters_overlap(&m->req.filters[i], &o->req.filters[j]))
				continue;
			if (by_destination(c, m, i) && !by_destination(c, o, j))
				continue;
			*ret_i = i;
			return false;
		}
	return true;
}

#define OVERLAP_SHADOWED                                                                           \
	"its filter overlaps a filter on a destination of another publisher of this node, "        \
	"which takes precedence (a filter allowed only by its source comes second)"

/* Netfilter hands a packet to the first queue whose rule matches: of two
 * publishers' overlapping filters, one would never see the packets they
 * share. So they never overlap (docs/security.md, "Overlapping filters"),
 * every filter of m compared with every filter of the others: a filter
 * allowed by its destination takes precedence over one that another
 * publisher holds only by its source (that module fails, with the reason);
 * otherwise the filter already there keeps the overlap and m is refused.
 * Returns 0 when m may go on, or NCM_CONFLICT with the reason in err (names
 * m's filter when it has several; the other publisher is not named: the
 * operator's log names it). */
static int overlap_resolve(struct controller *c, struct module *m, char *err, size_t errlen)
{
	if (!m->req.n_filters)
		return 0;
	for (const struct module *o = c->modules; o; o = o->next) {
		size_t i = 0;
		if (!overlaps(o, m) || takes_precedence(c, m, o, &i))
			continue;
		bool m_dst = by_destination(c, m, i);
		char which[32] = "filter";
		if (m->req.n_filters > 1)
			snprintf(which, sizeof(which), "filter %zu", i + 1);
		log_notice("security: %s of %s/%s overlaps a filter of %s/%s: refused", which,
		           m->req.user, mod_name(m), o->req.user, mod_name(o));
		snprintf(err, errlen, "%s %s", which,
		         m_dst ? "overlaps a filter another publisher holds on this node "
		                 "(the first keeps it)"
		               : "overlaps a filter on a destination of another publisher of "
		                 "this node, which takes precedence (a filter allowed only by its "
		                 "source comes second)");
		return NCM_CONFLICT;
	}
	for (struct module *o = c->modules, *next; o; o = next) {
		next = o->next;
		if (!overlaps(o, m))
			continue;
		log_notice("security: filter of %s/%s takes precedence over the filter of %s/%s",
		           m->req.user, mod_name(m), o->req.user, mod_name(o));
		module_uninstall(o);
		module_fail(o, NCM_CONFLICT, OVERLAP_SHADOWED);
	}
	return 0;
}

/* A SETUP that passed every check: install it, or refresh the same install. */
static void setup_accept(struct controller *c, struct module *m, ctl_reply_fn *reply, void *ctx)
{
	char err[NCM_ERR_LEN];
	int r;
	uint32_t ttl = m->req.has_ttl ? m->req.ttl : c->s.default_ttl;
	if (ttl > c->s.max_ttl)
		ttl = c->s.max_ttl;
	int64_t now = now_unix_ms();
	m->expires_at = now + (int64_t)ttl * 1000;
	if (m->not_after && m->expires_at > m->not_after)
		m->expires_at = m->not_after; /* a group replay extends nothing */
	m->created_at = now;

	struct module *old = module_find(c, m->req.user, mod_name(m));
	if (old && old->state != MOD_FAILED && strcmp(old->install_key, m->install_key) == 0) {
		/* The same install again: refresh its TTL. */
		old->expires_at = m->expires_at;
		module_free(m);
		r = store_module_set_expiry(c->store, old->req.user, mod_name(old), old->expires_at,
		                            err, sizeof(err));
		expiry_rearm(c);
		if (r < 0) {
			reply_error(reply, ctx, NCM_INTERNAL_ERROR, err);
			return;
		}
		log_info("module %s/%s refreshed, ttl %u s", old->req.user, mod_name(old), ttl);
		if (old->state == MOD_ACTIVE || old->state == MOD_NO_RUNTIME)
			reply(ctx, module_response(old, NCM_OK));
		else if (module_add_waiter(old, reply, ctx) < 0)
			reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	int code = overlap_resolve(c, m, err, sizeof(err));
	if (code) {
		c->counters.errors++;
		reply_error(reply, ctx, code, err);
		module_free(m);
		return;
	}
	if (old) {
		log_info("module %s/%s replaced by a new SETUP", old->req.user, mod_name(old));
		ctl_event(c, old->req.user, mod_name(old), "replaced", "by a newer SETUP");
		m->created_at = old->created_at;
		module_destroy(old, false, NCM_CONFLICT, "replaced by a newer SETUP");
	} else if (c->n_modules >= c->s.max_modules) {
		char why[96];
		snprintf(why, sizeof(why), "node full: %u modules installed", c->s.max_modules);
		ctl_event(c, m->req.user, mod_name(m), "refused", why);
		reply_error(reply, ctx, NCM_UNAVAILABLE, why);
		module_free(m);
		return;
	}
	if (module_add_waiter(m, reply, ctx) < 0) {
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		module_free(m);
		return;
	}
	m->state = MOD_REQUESTED;
	if (module_persist(m) < 0) {
		module_reply_all(m, NCM_INTERNAL_ERROR);
		module_free(m);
		return;
	}
	module_link(c, m);
	expiry_rearm(c);
	log_info("module %s/%s requested from %s, ttl %u s", m->req.user, mod_name(m), m->req.url,
	         ttl);
	ctl_event(c, m->req.user, mod_name(m), "setup", m->req.url);
	module_start(m);
}

static void handle_remove(struct controller *c, const struct ncm_request *req, ctl_reply_fn *reply,
                          void *ctx)
{
	char err[NCM_ERR_LEN];
	if (!req->user) {
		reply_error(reply, ctx, NCM_BAD_REQUEST, "REMOVE needs the user header");
		return;
	}
	struct module *m = module_find(c, req->user, req->target);
	if (!m) {
		snprintf(err, sizeof(err), "no module %s of user %s on this node", req->target,
		         req->user);
		reply_error(reply, ctx, NCM_NOT_FOUND, err);
		return;
	}
	struct ncm_msg *resp = ncm_response_new(NCM_OK, NULL);
	if (resp) {
		ncm_add(resp, "node", c->node_id);
		ncm_add(resp, "user", req->user);
		ncm_add(resp, "module", req->target);
		ncm_add(resp, "state", "removed");
	}
	log_info("module %s/%s removed", req->user, req->target);
	ctl_event(c, req->user, req->target, "removed", NULL);
	int r = module_destroy(m, true, NCM_CONFLICT,
	                       "removed by a REMOVE before it was installed");
	expiry_rearm(c);
	if (r < 0) {
		ncm_free(resp);
		reply_error(reply, ctx, NCM_INTERNAL_ERROR,
		            "module removed, but not from the store");
		return;
	}
	reply(ctx, resp);
}

static void count_response(struct controller *c, enum ncm_method method, int code)
{
	for (size_t i = 0; i < c->n_req_counts; i++) {
		if (c->req_counts[i].method == method && c->req_counts[i].code == code) {
			c->req_counts[i].n++;
			return;
		}
	}
	if (c->n_req_counts == CTL_MAX_REQ_COUNTS) {
		c->req_counts_other++;
		return;
	}
	c->req_counts[c->n_req_counts++] = (struct req_count){method, code, 1};
}

static void track_unlink(struct req_track *t)
{
	for (struct req_track **pp = &t->c->tracks; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			return;
		}
	}
}

static void tracked_reply(void *ctx, struct ncm_msg *response)
{
	struct req_track *t = ctx;
	track_unlink(t);
	count_response(t->c, t->method, response ? response->code : NCM_INTERNAL_ERROR);
	t->reply(t->ctx, response);
	free(t);
}

static void submit(struct controller *c, const struct ncm_msg *msg,
                   const struct ncm_prefix *path_dst, ctl_reply_fn *reply, void *ctx);

void controller_set_group(struct controller *c, const struct ctl_group_hooks *h)
{
	c->group = h ? *h : (struct ctl_group_hooks){0};
}

void controller_submit(struct controller *c, const struct ncm_msg *req,
                       const struct ncm_prefix *path_dst, ctl_reply_fn *reply, void *ctx)
{
	if (c->group.submit && c->group.submit(c->group.hctx, req, path_dst, reply, ctx))
		return;
	controller_submit_direct(c, req, path_dst, reply, ctx);
}

void controller_submit_replayed(struct controller *c, const struct ncm_msg *req,
                                const struct ncm_prefix *path_dst, int64_t not_after_ms,
                                ctl_reply_fn *reply, void *ctx)
{
	c->replay_not_after = not_after_ms > 0 ? not_after_ms : 1;
	controller_submit_direct(c, req, path_dst, reply, ctx);
	c->replay_not_after = 0;
}

/* Every request is answered through a req_track, to count its response. */
void controller_submit_direct(struct controller *c, const struct ncm_msg *req,
                              const struct ncm_prefix *path_dst, ctl_reply_fn *reply, void *ctx)
{
	struct req_track *t = calloc(1, sizeof(*t));
	if (!t) {
		c->counters.requests++;
		c->counters.errors++;
		reply_error(reply, ctx, NCM_INTERNAL_ERROR, "out of memory");
		return;
	}
	*t = (struct req_track){.c = c, .method = req->method, .reply = reply, .ctx = ctx};
	t->next = c->tracks;
	c->tracks = t;
	submit(c, req, path_dst, tracked_reply, t);
}

static void submit(struct controller *c, const struct ncm_msg *msg,
                   const struct ncm_prefix *path_dst, ctl_reply_fn *reply, void *ctx)
{
	/* Decoded once, here; the guard and the handlers take the fields. */
	_cleanup_(ncm_request_done) struct ncm_request req = {0};
	char why[NCM_ERR_LEN];
	c->counters.requests++;
	if (msg->method == NCM_METHOD_SETUP || msg->method == NCM_METHOD_REMOVE ||
	    msg->method == NCM_METHOD_TRIGGER || msg->method == NCM_METHOD_PROBE) {
		if (ncm_request_decode(msg, &req, why, sizeof(why)) < 0) {
			c->counters.errors++;
			if (msg->method != NCM_METHOD_PROBE)
				ctl_event(c, ncm_get(msg, "user"), msg->target, "refused", why);
			reply_error(reply, ctx, NCM_BAD_REQUEST, why);
			return;
		}
	}
	if (c->s.guard) { /* SETUP, REMOVE, TRIGGER: whoever sent them, by any path */
		int code = c->replay_not_after
		                   ? guard_authenticate_replayed(c->s.guard, msg, &req, path_dst,
		                                                 why, sizeof(why))
		                   : guard_authenticate(c->s.guard, msg, &req, path_dst, why,
		                                        sizeof(why));
		if (code) {
			c->counters.errors++;
			ctl_event(c, ncm_get(msg, "user"), msg->target, "refused", why);
			reply_error(reply, ctx, code, why);
			return;
		}
	}
	switch (msg->method) {
	case NCM_METHOD_SETUP:
		c->counters.setup++;
		handle_setup(c, msg, &req, reply, ctx);
		return;
	case NCM_METHOD_REMOVE:
		c->counters.remove++;
		handle_remove(c, &req, reply, ctx);
		return;
	case NCM_METHOD_PROBE:
		c->counters.probe++;
		/* Signed by its user (the guard verified it): that publisher
		 * sees its own modules' log lines. */
		ctl_report_request(c, msg, &req, c->s.guard && req.user && req.signature, reply,
		                   ctx);
		return;
	case NCM_METHOD_STATUS:
		c->counters.status++;
		ctl_report_request(c, msg, NULL, false, reply, ctx);
		return;
	case NCM_METHOD_TRIGGER:
		c->counters.errors++;
		reply_error(reply, ctx, NCM_NOT_IMPLEMENTED, "TRIGGER needs the signaling layer");
		return;
	case NCM_METHOD_NONE:
		break;
	}
	c->counters.errors++;
	reply_error(reply, ctx, NCM_BAD_REQUEST, "a response is not a request");
}

static void forget(struct controller *c, void *ctx);

void controller_operator(struct controller *c, const struct ncm_msg *msg, ctl_reply_fn *reply,
                         void *ctx)
{
	const char *user = ncm_get(msg, "user"), *action = ncm_get(msg, "operator");
	c->counters.requests++;
	if (msg->method != NCM_METHOD_REMOVE || !user || !action || !msg->target ||
	    (strcmp(action, "remove") != 0 && strcmp(action, "suspend") != 0 &&
	     strcmp(action, "resume") != 0)) {
		c->counters.errors++;
		reply_error(reply, ctx, NCM_BAD_REQUEST,
		            "an operator request is REMOVE MODULE|* with user: and "
		            "operator: remove|suspend|resume");
		return;
	}
	bool all = strcmp(msg->target, "*") == 0;
	bool remove = strcmp(action, "remove") == 0, suspend = strcmp(action, "suspend") == 0;
	const char *done = remove ? "removed" : suspend ? "suspended" : "resumed";
	static const char suspended[] = "suspended by the operator";
	struct ncm_msg *resp = ncm_response_new(NCM_OK, NULL);
	unsigned n = 0;
	for (struct module *m = c->modules, *next; m; m = next) {
		next = m->next; /* remove frees m */
		if (strcmp(m->req.user, user) != 0 ||
		    (!all && strcmp(mod_name(m), msg->target) != 0))
			continue;
		bool is_suspended =
		        m->state == MOD_FAILED && m->reason && strcmp(m->reason, suspended) == 0;
		if ((!remove && !suspend && m->state != MOD_FAILED) || (suspend && is_suspended))
			continue; /* nothing to resume, or suspended already */
		n++;
		if (resp)
			ncm_addf(resp, "module", "%s %s", mod_name(m), done);
		log_notice("module %s/%s %s by the operator", user, mod_name(m), done);
		if (remove) {
			ctl_event(c, user, mod_name(m), "removed", "by the operator");
			module_destroy(m, true, NCM_CONFLICT, "removed by the operator");
		} else if (suspend) {
			ctl_event(c, user, mod_name(m), "failed", suspended);
			module_uninstall(m);
			module_set_state(m, MOD_FAILED, suspended);
			module_reply_all(m, NCM_CONFLICT);
		} else {
			ctl_event(c, user, mod_name(m), "setup", "resumed by the operator");
			module_uninstall(m); /* a failed module may still sit in its container */
			module_set_state(m, MOD_REQUESTED, NULL);
			module_start(m);
		}
	}
	expiry_rearm(c);
	if (n == 0) {
		ncm_free(resp);
		char why[NCM_ERR_LEN];
		snprintf(why, sizeof(why), "no module %s of user %s to %s", msg->target, user,
		         action);
		reply_error(reply, ctx, NCM_NOT_FOUND, why);
		return;
	}
	if (resp) {
		ncm_add(resp, "node", c->node_id);
		ncm_add(resp, "user", user);
		ncm_add(resp, "by", "operator");
		ncm_addf(resp, "modules", "%u", n);
	}
	reply(ctx, resp);
}

void controller_forget(struct controller *c, void *ctx)
{
	if (c->group.forget)
		c->group.forget(c->group.hctx, ctx);
	ctl_report_forget(c, ctx); /* metrics requests are not tracked */
	for (struct req_track **pp = &c->tracks; *pp;) {
		struct req_track *t = *pp;
		if (t->ctx == ctx) {
			*pp = t->next;
			forget(c, t);
			free(t);
		} else {
			pp = &t->next;
		}
	}
}

/* Drops the controller's references to ctx (a req_track, or a metrics
 * requester). */
static void forget(struct controller *c, void *ctx)
{
	ctl_report_forget(c, ctx);
	for (struct setup_wait *w = c->authorizing; w; w = w->next)
		if (w->ctx == ctx)
			w->reply = discard_reply;
	for (struct module *m = c->modules; m; m = m->next) {
		for (struct waiter **pp = &m->waiters; *pp;) {
			struct waiter *w = *pp;
			if (w->ctx == ctx) {
				*pp = w->next;
				free(w);
			} else {
				pp = &w->next;
			}
		}
	}
}

static void notify_one(struct controller *c, struct module *m, const char *what, const char *reason)
{
	if (!m->req.notification)
		return;
	struct notify_event e = {.node = c->node_id,
	                         .user = m->req.user,
	                         .module = mod_name(m),
	                         .event = what,
	                         .reason = reason,
	                         .time_ms = now_unix_ms()};
	int r = notifier_send(c->notifier, m->req.notification, &m->notify, &e);
	if (r < 0 && r != -EAGAIN)
		log_debug("notification of %s/%s (%s) not sent: %s", m->req.user, mod_name(m), what,
		          strerror(-r));
}

void ctl_notify(struct controller *c, const char *user, const char *module, const char *what,
                const char *reason)
{
	static const char *const told[] = {"active",  "failed",  "trap",
	                                   "removed", "expired", "restarted"};
	bool tell = false;
	for (size_t i = 0; i < ARRAY_SIZE(told); i++)
		tell = tell || strcmp(what, told[i]) == 0;
	if (!tell || !user || !c->notifier)
		return;
	for (struct module *m = c->modules; m; m = m->next) {
		if (strcmp(m->req.user, user) == 0 && (!module || strcmp(mod_name(m), module) == 0))
			notify_one(c, m, what, reason);
	}
}

static void on_runtime_event(void *ctx, const char *user, const char *module,
                             enum runtime_event event, const char *reason)
{
	struct controller *c = ctx;
	if (event == RUNTIME_EVENT_RESTARTED) {
		log_notice("container of %s restarted (%s); its modules are being reinstalled",
		           user, reason ? reason : "first start");
		/* No reason: its first start. */
		ctl_event(c, user, NULL, reason ? "restarted" : "started", reason);
		return;
	}
	struct module *m = module ? module_find(c, user, module) : NULL;
	if (!m)
		return;
	if (event == RUNTIME_EVENT_TRAP) {
		log_info("module %s/%s trapped (contained): %s", user, module,
		         reason ? reason : "");
		ctl_event(c, user, module, "trap", reason);
		return;
	}
	if (event == RUNTIME_EVENT_FAILED && m->state != MOD_FAILED) {
		char rule[NCM_MAX_USER + NCM_MAX_TARGET + 2];
		snprintf(rule, sizeof(rule), "%s/%s", user, module);
		if (m->filter_installed)
			c->fwd_ops->filter_remove(c->fwd, rule);
		m->filter_installed = false;
		module_fail(m, NCM_INTERNAL_ERROR, reason ? reason : "failed in its container");
	}
}

/* ---- life ---------------------------------------------------------------- */

int controller_new(struct evloop *loop, const struct ctl_settings *s, struct store *store,
                   const struct runtime_ops *rt_ops, void *rt, const struct fwd_ops *fwd_ops,
                   void *fwd, struct controller **ret, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, err ? errlen : 0, "libsodium failed to initialize");
		return -EIO;
	}
	struct controller *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->loop = loop;
	c->s = *s;
	c->store = store;
	c->rt_ops = rt_ops;
	c->rt = rt;
	c->fwd_ops = fwd_ops;
	c->fwd = fwd;
	c->started_at = now_unix_ms();
	if (ctl_events_init(&c->events, CTL_EVENTS_DEFAULT) < 0) {
		free(c);
		return -ENOMEM;
	}
	if (notifier_new(&c->notifier) < 0) {
		ctl_events_done(&c->events);
		free(c);
		return -ENOMEM;
	}
	/* Seconds: a fetch may wait for a slow server; a compile takes 0.1-30 s,
	 * a cached one milliseconds. */
	static const double fetch_b[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	                                 1,     2.5,  5,     10,   30,  60};
	static const double compile_b[] = {0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1,
	                                   2,     5,    10,   20,  30,   60,  120};
	prom_histogram_init(&c->fetch_seconds, fetch_b, ARRAY_SIZE(fetch_b));
	prom_histogram_init(&c->compile_seconds, compile_b, ARRAY_SIZE(compile_b));
	c->node_id = strdup(s->node_id);
	if (!c->node_id || asprintf(&c->cache_dir, "%s/modules", s->state_dir) < 0) {
		c->cache_dir = NULL;
		controller_free(c);
		return -ENOMEM;
	}
	c->s.node_id = c->node_id;
	c->s.state_dir = NULL; /* not kept: only cache_dir is used */
	if (mkdir(c->cache_dir, 0700) < 0 && errno != EEXIST) {
		int r = -errno;
		snprintf(err, err ? errlen : 0, "cannot create %s: %s", c->cache_dir,
		         strerror(errno));
		controller_free(c);
		return r;
	}
	rt_ops->set_event_handler(rt, on_runtime_event, c);
	int r = fetcher_new(loop, &s->fetch, &c->fetcher);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "cannot start the module fetcher: %s",
		         strerror(-r));
		controller_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

struct controller *controller_free(struct controller *c)
{
	if (!c)
		return NULL;
	/* The modules are not uninstalled one by one (a rule change each: 35 ms,
	 * 35 s for 1,000): the runtime and the forwarding plane, freed next by
	 * their owner, stop every container and delete the chains whole, and
	 * the store keeps the modules for the next start. */
	while (c->modules) {
		struct module *m = c->modules;
		c->modules = m->next;
		module_free(m);
	}
	while (c->authorizing) {
		struct setup_wait *w = c->authorizing;
		c->authorizing = w->next;
		guard_cancel(c->s.guard, w);
		module_free(w->m);
		free(w);
	}
	ctl_report_free(c);
	c->notifier = notifier_free(c->notifier);
	while (c->tracks) {
		struct req_track *t = c->tracks;
		c->tracks = t->next;
		free(t);
	}
	c->rt_ops->set_event_handler(c->rt, NULL, NULL);
	c->expiry_timer = evloop_timer_cancel(c->loop, c->expiry_timer);
	fetcher_free(c->fetcher);
	free(c->node_id);
	free(c->cache_dir);
	ctl_events_done(&c->events);
	free(c);
	return NULL;
}

/* Takes m out of service because the reloaded configuration refuses it. */
static void module_disallow(struct module *m, const char *why)
{
	char reason[NCM_ERR_LEN];
	snprintf(reason, sizeof(reason), "removed by a configuration reload: %.*s",
	         (int)(sizeof(reason) - 40), why);
	module_uninstall(m);
	module_fail(m, NCM_FORBIDDEN, reason);
}

int controller_reload(struct controller *c, const struct ctl_settings *s)
{
	c->s.default_ttl = s->default_ttl;
	c->s.max_ttl = s->max_ttl;
	c->s.max_modules = s->max_modules;
	c->s.require_hash = s->require_hash;
	if (!c->s.guard)
		return 0;
	int removed = 0;
	for (struct module *m = c->modules; m; m = m->next) {
		if (m->state == MOD_FAILED || m->state == MOD_REMOVING)
			continue;
		char why[NCM_ERR_LEN];
		if (guard_recheck(c->s.guard, m->msg, &m->req, why, sizeof(why))) {
			module_disallow(m, why);
			removed++;
			continue;
		}
		/* The table is in SETUP order: the publisher's oldest modules stay. */
		unsigned max = guard_max_modules(c->s.guard, m->req.user), n = 0;
		for (const struct module *o = c->modules; max && o != m; o = o->next)
			n += strcmp(o->req.user, m->req.user) == 0 && o->state != MOD_FAILED &&
			     o->state != MOD_REMOVING;
		if (max && n >= max) {
			snprintf(why, sizeof(why), "%s may run %u module(s) on this node",
			         m->req.user, max);
			module_disallow(m, why);
			removed++;
		}
	}
	return removed;
}

static enum module_state state_parse(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++)
		if (s && strcmp(s, state_names[i]) == 0)
			return (enum module_state)i;
	return MOD_REQUESTED;
}

int controller_restore(struct controller *c, char *err, size_t errlen)
{
	int64_t now = now_unix_ms();
	int r = store_module_delete_expired(c->store, now, err, errlen);
	if (r < 0)
		return r;
	if (r > 0)
		log_info("state: dropped %d expired module(s)", r);

	struct store_module *rows = NULL;
	size_t n = 0;
	r = store_module_list(c->store, &rows, &n, err, errlen);
	if (r < 0)
		return r;
	int restored = 0;
	for (size_t i = 0; i < n; i++) {
		struct store_module *row = &rows[i];
		struct ncm_msg *msg = NULL;
		struct module *m = NULL;
		char why[NCM_ERR_LEN];
		if (!row->request ||
		    ncm_parse(row->request, strlen(row->request), &msg, why, sizeof(why)) < 0 ||
		    module_new(c, TAKE_PTR(msg), NULL, &m, why, sizeof(why)) < 0) {
			log_err("state: dropping unreadable module %s/%s: %s", row->user,
			        row->module_id, why);
			store_module_delete(c->store, row->user, row->module_id, NULL, 0);
			ncm_free(msg);
			continue;
		}
		m->created_at = row->created_at;
		m->expires_at = row->expires_at;
		if (row->hash[0] && !m->has_sha &&
		    sodium_hex2bin(m->sha, 32, row->hash + 7, 64, NULL, NULL, NULL) == 0) {
			m->has_sha = true;
			snprintf(m->hash, sizeof(m->hash), "%s", row->hash);
		}
		module_link(c, m);
		restored++;
		enum module_state st = state_parse(row->state);
		if (st == MOD_FAILED) {
			m->state = MOD_FAILED;
			m->reason = row->reason ? strdup(row->reason) : NULL;
			continue;
		}
		if (c->s.guard && guard_recheck(c->s.guard, m->msg, &m->req, why, sizeof(why))) {
			/* The operator changed the policy: it applies to what is installed. */
			log_warn("state: module %s/%s is no longer allowed: %s", m->req.user,
			         mod_name(m), why);
			ctl_event(c, m->req.user, mod_name(m), "failed", why);
			module_set_state(m, MOD_FAILED, why);
			continue;
		}
		if (overlap_resolve(c, m, why, sizeof(why))) {
			log_warn("state: module %s/%s: %s", m->req.user, mod_name(m), why);
			module_set_state(m, MOD_FAILED, why);
			continue;
		}
		log_info("state: restoring module %s/%s (%s, %u s left)", m->req.user, mod_name(m),
		         row->state, ttl_remaining_s(m));
		ctl_event(c, m->req.user, mod_name(m), "restored", row->state);
		module_start(m);
	}
	store_module_list_free(rows, n);
	expiry_rearm(c);
	return restored;
}
