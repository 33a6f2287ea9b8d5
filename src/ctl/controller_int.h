/* The controller's inside, shared by controller.c (lifecycle, requests) and
 * controller_report.c (PROBE and STATUS answers). Not an interface: nothing
 * outside src/ctl/controller*.c includes it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ctl/controller.h"
#include "ctl/events.h"
#include "ctl/notify.h"
#include "ctl/runtime.h"
#include "fwd/fwd.h"
#include "lib/prom.h"
#include "ncm/ncm.h"

struct evloop_timer;
struct fetch_job;
struct fetcher;
struct store;

enum module_state {
	MOD_REQUESTED,
	MOD_FETCHING,
	MOD_COMPILING,
	MOD_INSTALLING,
	MOD_ACTIVE,
	MOD_NO_RUNTIME,
	MOD_REMOVING,
	MOD_FAILED,
};

/* The state's name, as stored and shown ("active", ...). */
const char *ctl_state_name(enum module_state st);

struct waiter {
	ctl_reply_fn *fn;
	void *ctx;
	struct waiter *next;
};

struct module {
	struct controller *c;
	struct ncm_msg *msg;    /* the SETUP as received (durable form) */
	struct ncm_request req; /* its decoded fields */
	char *install_key;      /* canonical form minus per-request headers */
	char hash[72];          /* "sha256:<hex>", "" until known */
	uint8_t sha[32];
	bool has_sha;
	int64_t created_at; /* unix ms */
	int64_t expires_at; /* unix ms */
	int64_t not_after;  /* unix ms, 0: none (a group replay's, controller_submit_replayed) */
	enum module_state state;
	char *reason;
	struct fetch_job *fetch;
	bool rt_installed; /* the runtime holds it (active or installing) */
	bool filter_installed;
	uint64_t phase_t0; /* evloop_now_ms() at the start of the fetch or compile */
	struct waiter *waiters;
	struct notify_state notify; /* its notifications (SETUP notification:) */
	struct module *next;
};

struct stats_req {
	struct controller *c;
	enum ncm_method method;  /* STATUS or PROBE */
	struct ncm_request req;  /* PROBE: what was asked */
	bool by_user;            /* PROBE signed by req.user: it sees its modules' logs */
	ctl_reply_fn *reply;     /* NULL once forgotten */
	ctl_metrics_fn *metrics; /* method NCM_METHOD_NONE: a metrics request */
	bool json;               /* ... for the STATUS JSON instead (controller_status) */
	void *ctx;
	struct stats_req *next;
};

/* A SETUP waiting for the guard (a reverse-routability check). */
struct setup_wait {
	struct controller *c;
	struct module *m; /* not in the table yet */
	ctl_reply_fn *reply;
	void *ctx;
	struct setup_wait *next;
};

/* A request between controller_submit() and its reply: counted by method and
 * response code when answered (the metrics). */
struct req_track {
	struct controller *c;
	enum ncm_method method;
	ctl_reply_fn *reply;
	void *ctx;
	struct req_track *next;
};

/* Answered requests, by method and response code. */
#define CTL_MAX_REQ_COUNTS 64
struct req_count {
	enum ncm_method method;
	int code;
	uint64_t n;
};

struct controller {
	struct evloop *loop;
	struct stats_req *stats_reqs; /* waiting for the runtime's statistics */
	struct setup_wait *authorizing;
	struct ctl_settings s;
	char *node_id;
	char *cache_dir;
	struct store *store;
	const struct runtime_ops *rt_ops;
	void *rt;
	const struct fwd_ops *fwd_ops;
	void *fwd;
	struct fetcher *fetcher;
	struct module *modules;
	size_t n_modules;
	struct evloop_timer *expiry_timer;
	int64_t started_at;
	unsigned pending_seq;
	struct {
		uint64_t requests, setup, remove, probe, status, errors, expired;
	} counters;
	struct req_track *tracks; /* requests not answered yet */
	struct req_count req_counts[CTL_MAX_REQ_COUNTS];
	size_t n_req_counts;
	uint64_t req_counts_other; /* answered when the table was full */
	struct prom_histogram fetch_seconds, compile_seconds;
	struct ctl_events events;     /* recent events (STATUS "events") */
	struct notifier *notifier;    /* the publishers' notifications (ctl/notify.h) */
	struct ctl_group_hooks group; /* zeroed: no group */
	int64_t replay_not_after;     /* set during controller_submit_replayed() */
};

static inline int64_t now_unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void reply_error(ctl_reply_fn *reply, void *ctx, int code, const char *reason)
{
	struct ncm_msg *r = ncm_response_new(code, NULL);
	if (r && reason)
		ncm_add(r, "reason", reason);
	reply(ctx, r);
}

static inline const char *mod_name(const struct module *m)
{
	return m->req.target;
}

/* Sends a module's event to the destination its SETUP names in
 * `notification:` (ctl/notify.h), for the events a publisher is told about:
 * active, failed, trap, removed, expired, and restarted (module NULL: each
 * module of user). Never blocks; failures are counted, not reported. */
void ctl_notify(struct controller *c, const char *user, const char *module, const char *what,
                const char *reason);

/* Records an event in the ring of recent events (ctl/events.h), and tells
 * the publisher (ctl_notify). */
static inline void ctl_event(struct controller *c, const char *user, const char *module,
                             const char *what, const char *reason)
{
	ctl_events_add(&c->events, now_unix_ms(), user, module, what, reason);
	ctl_notify(c, user, module, what, reason);
}

static inline uint32_t ttl_remaining_s(const struct module *m)
{
	int64_t left = m->expires_at - now_unix_ms();
	return left <= 0 ? 0 : (uint32_t)((left + 999) / 1000);
}

/* ---- controller_report.c ---- */

/* Answers a PROBE or STATUS once the runtime's statistics are in (reply is
 * called exactly once unless ctl_report_forget(ctx)). A PROBE's decoded
 * fields are moved from *req (NULL for STATUS). */
void ctl_report_request(struct controller *c, const struct ncm_msg *msg, struct ncm_request *req,
                        bool by_user, ctl_reply_fn *reply, void *ctx);

/* Drops the answers still owed to ctx. */
void ctl_report_forget(struct controller *c, void *ctx);

/* Frees the requests still waiting for statistics (controller_free). */
void ctl_report_free(struct controller *c);
