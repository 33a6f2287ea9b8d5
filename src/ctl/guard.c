/* The controller's gatekeeper: authentication, replay, policy (guard.h). */
#include "ctl/guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "policy/auth.h"
#include "ctl/notify.h"
#include "ctl/rrc.h"
#include "ctl/store.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

struct pending {
	struct guard *g;
	struct rrc_job *job;
	guard_done_fn *done;
	void *ctx;
	char user[NCM_MAX_USER + 1];
	struct pending *next;
};

struct counters {
	uint64_t authenticated, unsigned_refused, bad_signature, unknown_key, stale, replayed,
	        unknown_user, forbidden, missing_dependency, rrc_passed, rrc_failed, misdirected;
};

struct guard {
	struct evloop *loop;
	struct store *store;
	bool require_signatures;
	bool accept_unbound;
	bool require_hash;
	uint32_t window_s;
	char *keys_dir;
	struct guard_publisher *pubs;
	struct ns_policy *policies;
	size_t n_pubs;
	struct rrc *rrc;
	struct pending *pending;
	struct counters n;
	/* log rate limit: tokens per second */
	uint64_t log_second;
	unsigned log_count, log_suppressed;
};

_printf_(2, 3) static void refusal_log(struct guard *g, const char *fmt, ...)
{
	uint64_t sec = evloop_now_ms() / 1000;
	if (sec != g->log_second) {
		if (g->log_suppressed)
			log_warn("security: %u more refusals not logged", g->log_suppressed);
		g->log_second = sec;
		g->log_count = 0;
		g->log_suppressed = 0;
	}
	if (g->log_count++ >= 20) {
		g->log_suppressed++;
		return;
	}
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_notice("security: %s", line);
}

/* Records a refusal (counts it, logs it) and returns code, the reason in err. */
_printf_(6, 7) static int refuse(struct guard *g, uint64_t *counter, int code, char *err,
                                 size_t errlen, const char *fmt, ...)
{
	char reason[NCM_ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (counter)
		(*counter)++;
	refusal_log(g, "%d %s", code, reason);
	return err_set(err, errlen, code, "%s", reason);
}

static const struct ns_policy *policy_of(const struct guard *g, const char *user)
{
	for (size_t i = 0; user && i < g->n_pubs; i++)
		if (strcmp(g->pubs[i].name, user) == 0)
			return &g->policies[i];
	return NULL;
}

int guard_new(struct evloop *loop, const struct guard_config *cfg, struct store *store,
              struct guard **ret, char *err, size_t errlen)
{
	if (auth_init() < 0) {
		snprintf(err, err ? errlen : 0, "libsodium failed to initialize");
		return -EIO;
	}
	struct guard *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->store = store;
	if (guard_reload(g, cfg) < 0) { /* the publishers, policies and settings */
		guard_free(g);
		return -ENOMEM;
	}
	int r = rrc_new(loop, cfg->rrc_port, cfg->rrc_timeout_s, &g->rrc);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "cannot start the reverse-routability checker");
		guard_free(g);
		return r;
	}
	*ret = g;
	return 0;
}

/* Copies cfg's publishers and policies into new arrays. */
static int pubs_copy(const struct guard_config *cfg, struct guard_publisher **ret_pubs,
                     struct ns_policy **ret_policies)
{
	struct guard_publisher *pubs = calloc(cfg->n_publishers + 1, sizeof(*pubs));
	struct ns_policy *policies = calloc(cfg->n_publishers + 1, sizeof(*policies));
	if (!pubs || !policies)
		goto fail;
	for (size_t i = 0; i < cfg->n_publishers; i++) {
		pubs[i].name = strdup(cfg->publishers[i].name);
		if (!pubs[i].name)
			goto fail;
		if (cfg->publishers[i].policy)
			policies[i] = *cfg->publishers[i].policy;
		else
			policy_defaults(&policies[i]);
		pubs[i].policy = &policies[i];
	}
	*ret_pubs = pubs;
	*ret_policies = policies;
	return 0;
fail:
	for (size_t i = 0; pubs && i < cfg->n_publishers; i++)
		free((char *)pubs[i].name);
	free(pubs);
	free(policies);
	return -ENOMEM;
}

int guard_reload(struct guard *g, const struct guard_config *cfg)
{
	struct guard_publisher *pubs;
	struct ns_policy *policies;
	char *keys_dir = strdup(cfg->keys_dir ? cfg->keys_dir : "");
	if (!keys_dir || pubs_copy(cfg, &pubs, &policies) < 0) {
		free(keys_dir);
		return -ENOMEM;
	}
	for (size_t i = 0; i < g->n_pubs; i++)
		free((char *)g->pubs[i].name);
	free(g->pubs);
	free(g->policies);
	free(g->keys_dir);
	g->pubs = pubs;
	g->policies = policies;
	g->n_pubs = cfg->n_publishers;
	g->keys_dir = keys_dir;
	g->require_signatures = cfg->require_signatures;
	g->accept_unbound = cfg->accept_unbound;
	g->require_hash = cfg->require_hash;
	g->window_s = cfg->window_s ? cfg->window_s : 300;
	return 0;
}

unsigned guard_max_modules(const struct guard *g, const char *user)
{
	const struct ns_policy *p = policy_of(g, user);
	return p ? p->max_modules : 0;
}

struct guard *guard_free(struct guard *g)
{
	if (!g)
		return NULL;
	while (g->pending) {
		struct pending *p = g->pending;
		g->pending = p->next;
		rrc_cancel(p->job);
		free(p);
	}
	rrc_free(g->rrc);
	for (size_t i = 0; i < g->n_pubs; i++)
		free((char *)g->pubs[i].name);
	free(g->pubs);
	free(g->policies);
	free(g->keys_dir);
	free(g);
	return NULL;
}

/* ---- authentication ---------------------------------------------------------- */

static int authenticate(struct guard *g, const struct ncm_msg *msg,
                        const struct ncm_request *request, const struct ncm_prefix *path_dst,
                        bool replayed, char *err, size_t errlen);

int guard_authenticate(struct guard *g, const struct ncm_msg *msg,
                       const struct ncm_request *request, const struct ncm_prefix *path_dst,
                       char *err, size_t errlen)
{
	return authenticate(g, msg, request, path_dst, false, err, errlen);
}

int guard_authenticate_replayed(struct guard *g, const struct ncm_msg *msg,
                                const struct ncm_request *request,
                                const struct ncm_prefix *path_dst, char *err, size_t errlen)
{
	return authenticate(g, msg, request, path_dst, true, err, errlen);
}

static int authenticate(struct guard *g, const struct ncm_msg *msg,
                        const struct ncm_request *request, const struct ncm_prefix *path_dst,
                        bool replayed, char *err, size_t errlen)
{
	if (msg->method != NCM_METHOD_SETUP && msg->method != NCM_METHOD_REMOVE &&
	    msg->method != NCM_METHOD_TRIGGER && msg->method != NCM_METHOD_PROBE)
		return 0;
	/* A PROBE is anonymous unless it names its user and is signed; then it
	 * is checked as a SETUP is, and its publisher sees more (its logs). */
	if (msg->method == NCM_METHOD_PROBE && (!request->user || !request->signature))
		return 0;
	const char *method = ncm_method_name(msg->method);
	const struct ncm_request req = *request; /* borrowed: not freed here */
	char why[NCM_ERR_LEN];
	int code = 0;
	if (!req.user) {
		/* SETUP and REMOVE need it anyway (400 from their handlers). */
		if (g->require_signatures && msg->method == NCM_METHOD_TRIGGER)
			code = refuse(g, &g->n.unsigned_refused, NCM_UNAUTHORIZED, err, errlen,
			              "TRIGGER must name its user and be signed on this node");
		goto out;
	}
	if (!policy_of(g, req.user)) {
		code = refuse(g, &g->n.unknown_user, NCM_FORBIDDEN, err, errlen,
		              "%s: %s is not a publisher on this node", method, req.user);
		goto out;
	}
	if (!req.signature) {
		if (g->require_signatures)
			code = refuse(g, &g->n.unsigned_refused, NCM_UNAUTHORIZED, err, errlen,
			              "%s of %s is not signed (this node requires signatures)",
			              method, req.user);
		goto out;
	}
	/* A signature is verified whenever there is one, required or not. */
	char path[PATH_MAX];
	uint8_t pk[AUTH_PUBLIC_LEN];
	snprintf(path, sizeof(path), "%s/%s.pub", g->keys_dir, req.user);
	int r = auth_load_public(path, pk, why, sizeof(why));
	if (r == -ENOENT) {
		code = refuse(g, &g->n.unknown_key, NCM_UNAUTHORIZED, err, errlen,
		              "no public key for %s on this node", req.user);
		goto out;
	}
	if (r < 0) {
		log_err("security: cannot read the key of %s: %s", req.user, why);
		snprintf(err, err ? errlen : 0, "cannot read the public key of %s", req.user);
		code = NCM_INTERNAL_ERROR;
		goto out;
	}
	r = auth_verify(msg, pk, why, sizeof(why));
	if (r < 0) {
		code = refuse(g, &g->n.bad_signature, NCM_UNAUTHORIZED, err, errlen,
		              "%s of %s: %s%s", method, req.user, why,
		              r == -EACCES ? " with the publisher's key" : "");
		goto out;
	}
	if (!req.has_timestamp || !req.nonce) {
		code = refuse(g, &g->n.stale, NCM_UNAUTHORIZED, err, errlen,
		              "%s of %s: a signed request needs timestamp and nonce headers",
		              method, req.user);
		goto out;
	}
	/* Where it may act: the destination it was signed for must hold the
	 * destination of the path it came by (a captured SETUP re-aimed at
	 * other users is refused before its nonce is recorded). */
	r = auth_check_binding(msg, path_dst, why, sizeof(why));
	if (r == -ENOENT && g->accept_unbound)
		r = 0;
	if (r < 0) {
		code = refuse(g, &g->n.misdirected, NCM_FORBIDDEN, err, errlen, "%s of %s: %s%s",
		              method, req.user, why,
		              r == -ENOENT ? "; this node refuses unbound signatures "
		                             "([security] accept_unbound_signatures = no)"
		                           : "");
		goto out;
	}
	int64_t now = (int64_t)time(NULL);
	int64_t age = now - req.timestamp;
	/* A group replay: the request's own life, not the window. */
	int64_t life = !replayed                          ? (int64_t)g->window_s
	               : msg->method == NCM_METHOD_REMOVE ? INT64_MAX / 2
	               : req.has_ttl                      ? (int64_t)req.ttl
	                                                  : (int64_t)g->window_s;
	if (age > life || -age > (int64_t)g->window_s) {
		code = refuse(g, &g->n.stale, NCM_UNAUTHORIZED, err, errlen,
		              "%s of %s: stale timestamp %" PRId64 " (%" PRId64 " s %s; %s %" PRId64
		              " s)",
		              method, req.user, req.timestamp, age >= 0 ? age : -age,
		              age >= 0 ? "old" : "in the future",
		              replayed && age >= 0 ? "a group replay's limit is" : "the window is",
		              age >= 0 ? life : (int64_t)g->window_s);
		goto out;
	}
	r = store_nonce_use(g->store, req.user, req.nonce, req.timestamp + g->window_s + 1, now,
	                    msg->method == NCM_METHOD_REMOVE, why, sizeof(why));
	if (r == -EEXIST && replayed)
		r = 0; /* applied here before (a restart): the group replays it */
	if (r == -EEXIST) {
		code = refuse(g, &g->n.replayed, NCM_UNAUTHORIZED, err, errlen,
		              "%s of %s: replayed request (nonce %s already used)", method,
		              req.user, req.nonce);
		goto out;
	}
	if (r < 0) {
		log_err("security: cannot remember a nonce: %s", why);
		snprintf(err, err ? errlen : 0, "cannot record the request's nonce");
		code = NCM_INTERNAL_ERROR;
		goto out;
	}
	g->n.authenticated++;
out:
	return code;
}

/* ---- authorization ----------------------------------------------------------- */

static void pending_unlink(struct pending *p)
{
	for (struct pending **pp = &p->g->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			return;
		}
	}
}

static void on_rrc_done(void *ctx, int status, const char *reason)
{
	struct pending *p = ctx;
	struct guard *g = p->g;
	p->job = NULL;
	pending_unlink(p);
	guard_done_fn *done = p->done;
	void *dctx = p->ctx;
	int code = 0;
	char why[NCM_ERR_LEN];
	if (status < 0) {
		code = refuse(g, &g->n.rrc_failed, NCM_FORBIDDEN, why, sizeof(why), "%s",
		              reason ? reason : "reverse-routability check failed");
	} else {
		g->n.rrc_passed++;
		log_info("security: reverse-routability check of %s passed", p->user);
	}
	free(p);
	done(dctx, code, code ? why : NULL);
}

/* Reads the rrc-address header into a host prefix. Returns 1 when present,
 * 0 when absent, or -EINVAL. */
static int rrc_address(const struct ncm_msg *msg, struct ncm_prefix *ret)
{
	const char *a = ncm_get(msg, "rrc-address");
	if (!a || !*a)
		return 0;
	if (ncm_prefix_parse(a, ret) < 0 || ret->family == 0 ||
	    ret->len != (ret->family == AF_INET ? 32 : 128))
		return -EINVAL;
	return 1;
}

/* The destination of a SETUP's notifications must be one its modules may
 * send to: inside send_destinations when given, else inside its prefixes
 * (the node must not be made to send to anyone a publisher names). Returns
 * 0, 400 (malformed, or not supported) or 403. */
static int check_notification(const struct ns_policy *p, const struct ncm_request *req, char *err,
                              size_t errlen)
{
	struct notify_dest d;
	if (!req->notification)
		return 0;
	if (notify_dest_parse(req->notification, &d, err, errlen) < 0)
		return NCM_BAD_REQUEST;
	const struct policy_prefixes *allowed = p->has_send_dst ? &p->send_dst : &p->prefixes;
	if (!policy_addr_allowed(allowed, d.family, d.addr)) {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(d.family, d.addr, a, sizeof(a));
		snprintf(err, err ? errlen : 0,
		         "header 'notification': %s is not a destination %s may send to on this "
		         "node (its %s)",
		         a, req->user, p->has_send_dst ? "send_destinations" : "prefixes");
		return NCM_FORBIDDEN;
	}
	return 0;
}

/* The policy checks shared by authorize and recheck; proven may be NULL.
 * Returns 0, 400 or 403 with the reason in err; counts and logs nothing. */
static int check_policy(const struct ns_policy *p, const struct ncm_msg *msg,
                        const struct ncm_request *req, const struct ncm_prefix *proven, char *err,
                        size_t errlen)
{
	struct policy_listen listen[POLICY_MAX_LISTEN];
	int n_listen = 0;
	char why[NCM_ERR_LEN];
	const char *lh = ncm_get(msg, "listen");
	if (lh && *lh) {
		n_listen = policy_parse_listen(lh, listen, why, sizeof(why));
		if (n_listen < 0) {
			snprintf(err, err ? errlen : 0, "%s", why);
			return NCM_BAD_REQUEST;
		}
	}
	if (policy_check_setup(p, req, listen, (size_t)n_listen, proven, why, sizeof(why)) < 0) {
		snprintf(err, err ? errlen : 0, "%s", why);
		return NCM_FORBIDDEN;
	}
	return check_notification(p, req, err, errlen);
}

int guard_authorize_setup(struct guard *g, const struct guard_setup *s, guard_done_fn *done,
                          void *ctx, char *err, size_t errlen)
{
	const struct ncm_request *req = s->req;
	const struct ns_policy *p = policy_of(g, req->user);
	char why[NCM_ERR_LEN];
	if (!p)
		return refuse(g, &g->n.unknown_user, NCM_FORBIDDEN, err, errlen,
		              "SETUP: %s is not a publisher on this node", req->user);
	if (p->require_hash == 1 && !req->has_hash)
		return refuse(g, &g->n.forbidden, NCM_FORBIDDEN, err, errlen,
		              "the policy of %s requires a module-hash header", req->user);
	if (p->max_modules && s->user_modules >= p->max_modules)
		return refuse(g, &g->n.forbidden, NCM_FORBIDDEN, err, errlen,
		              "%s already runs %u module(s), its limit on this node", req->user,
		              s->user_modules);
	if (policy_check_dependencies(req, s->building_blocks ? s->building_blocks : "",
	                              s->installed, s->installed_ctx, why, sizeof(why)) < 0)
		return refuse(g, &g->n.missing_dependency, NCM_UNPROCESSABLE, err, errlen, "%s",
		              why);
	for (size_t i = 0; i < req->n_dependencies; i++)
		if (strcmp(req->dependencies[i], "media/1") == 0 && !p->media)
			return refuse(g, &g->n.forbidden, NCM_FORBIDDEN, err, errlen,
			              "the policy of %s does not grant media/1 (media = yes)",
			              req->user);
	struct ncm_prefix addr;
	int has_rrc = rrc_address(s->msg, &addr);
	if (has_rrc < 0) {
		snprintf(err, err ? errlen : 0,
		         "header 'rrc-address': want one IPv4 or IPv6 address");
		return NCM_BAD_REQUEST;
	}
	const char *pw = ncm_get(s->msg, "rrc-password");
	if (has_rrc != (pw && *pw)) {
		snprintf(err, err ? errlen : 0,
		         "headers 'rrc-address' and 'rrc-password' go together");
		return NCM_BAD_REQUEST;
	}
	int code = check_policy(p, s->msg, req, NULL, why, sizeof(why));
	if (code == NCM_BAD_REQUEST) {
		snprintf(err, err ? errlen : 0, "%s", why);
		return code;
	}
	if (code == 0) /* the configured prefixes suffice: nothing to prove */
		return 0;
	if (!has_rrc)
		return refuse(g, &g->n.forbidden, code, err, errlen, "%s", why);
	/* Refused by the configured prefixes: would the claimed address help? */
	if (!p->rrc)
		return refuse(g, &g->n.forbidden, NCM_FORBIDDEN, err, errlen,
		              "%s; and %s may not prove addresses by reverse routability here", why,
		              req->user);
	code = check_policy(p, s->msg, req, &addr, why, sizeof(why));
	if (code != 0)
		return refuse(g, &g->n.forbidden, code, err, errlen, "%s", why);
	if (rrc_password_valid(pw) < 0) {
		snprintf(err, err ? errlen : 0,
		         "header 'rrc-password': want %d..%d characters of [A-Za-z0-9+/=_-]",
		         RRC_PASSWORD_MIN, RRC_PASSWORD_MAX);
		return NCM_BAD_REQUEST;
	}
	struct pending *pd = calloc(1, sizeof(*pd));
	if (!pd) {
		snprintf(err, err ? errlen : 0, "out of memory");
		return NCM_INTERNAL_ERROR;
	}
	pd->g = g;
	pd->done = done;
	pd->ctx = ctx;
	snprintf(pd->user, sizeof(pd->user), "%s", req->user);
	int r = rrc_start(g->rrc, &addr, req->user, pw, on_rrc_done, pd, &pd->job, why,
	                  sizeof(why));
	if (r < 0) {
		free(pd);
		snprintf(err, err ? errlen : 0, "%s", why);
		return r == -EINVAL ? NCM_BAD_REQUEST : NCM_INTERNAL_ERROR;
	}
	char url[256];
	rrc_url(g->rrc, &addr, req->user, url, sizeof(url));
	log_info("security: %s claims %s: checking %s", req->user, ncm_get(s->msg, "rrc-address"),
	         url);
	pd->next = g->pending;
	g->pending = pd;
	return GUARD_PENDING;
}

void guard_cancel(struct guard *g, void *ctx)
{
	for (struct pending **pp = &g->pending; *pp;) {
		struct pending *p = *pp;
		if (p->ctx == ctx) {
			*pp = p->next;
			rrc_cancel(p->job);
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

int guard_recheck(struct guard *g, const struct ncm_msg *msg, const struct ncm_request *req,
                  char *err, size_t errlen)
{
	const struct ns_policy *p = policy_of(g, req->user);
	if (!p) {
		snprintf(err, err ? errlen : 0, "%s is no longer a publisher on this node",
		         req->user);
		return NCM_FORBIDDEN;
	}
	struct ncm_prefix addr;
	bool proven = p->rrc && rrc_address(msg, &addr) == 1;
	return check_policy(p, msg, req, proven ? &addr : NULL, err, errlen);
}

bool guard_filter_by_destination(const struct guard *g, const struct ncm_msg *msg,
                                 const struct ncm_request *req, size_t i)
{
	const struct ns_policy *p = policy_of(g, req->user);
	if (!p || i >= req->n_filters)
		return false;
	const struct ncm_prefix *dst = &req->filters[i].dst;
	if (policy_prefixes_cover(&p->prefixes, dst))
		return true;
	struct ncm_prefix addr;
	return p->rrc && dst->family && rrc_address(msg, &addr) == 1 &&
	       policy_prefix_within(dst, &addr);
}

json_t *guard_status(const struct guard *g)
{
	json_t *c = json_pack(
	        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "authenticated",
	        (json_int_t)g->n.authenticated, "unsigned", (json_int_t)g->n.unsigned_refused,
	        "bad_signature", (json_int_t)g->n.bad_signature, "unknown_key",
	        (json_int_t)g->n.unknown_key, "stale", (json_int_t)g->n.stale, "replayed",
	        (json_int_t)g->n.replayed, "unknown_user", (json_int_t)g->n.unknown_user,
	        "forbidden", (json_int_t)g->n.forbidden, "missing_dependency",
	        (json_int_t)g->n.missing_dependency, "rrc_passed", (json_int_t)g->n.rrc_passed,
	        "rrc_failed", (json_int_t)g->n.rrc_failed, "misdirected",
	        (json_int_t)g->n.misdirected);
	return json_pack("{s:b, s:b, s:i, s:s, s:o}", "require_signatures", g->require_signatures,
	                 "accept_unbound_signatures", g->accept_unbound, "timestamp_window_s",
	                 (int)g->window_s, "keys_dir", g->keys_dir, "counters", c);
}
