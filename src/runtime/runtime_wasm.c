/* runtime_wasm: validate -> compile (AOT) -> install in the container. */
#include "runtime/runtime_wasm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "runtime/wasm_check.h"

struct rw_job {
	struct rw *rw;
	char *user;
	char *module;
	json_t *props;
	size_t n_filters;      /* 0: the module sees every packet of its container */
	uint32_t sample_every; /* > 0: sampled (SETUP sample: 1/N) */
	struct ncm_filter filters[NCM_MAX_FILTERS];
	struct aot_req *req;
	/* The tiered compile (quick != NULL): a quick build serves first, then
	 * the full one is swapped in. */
	bool quick_tier; /* the build being installed is the quick one */
	bool upgrade;    /* done() was called: compiling the full build, or swapping */
	char *wasm_path;
	uint8_t sha256[32];
	struct wasm_check_result chk;
	runtime_done_fn *done;
	runtime_progress_fn *progress;
	void *ctx;
	bool cancelled; /* removed meanwhile: undo when the container answers */
	struct rw_job *next;
};

struct rw_stats {
	struct rw *rw;
	runtime_stats_fn *done;
	void *ctx;
	json_t *acc;
	unsigned waiting;
	struct rw_stats *next;
};

struct rw {
	struct evloop *loop;
	struct aot *aot;
	struct aot *quick; /* the quick first compile, or NULL */
	struct supervisor *sup;
	uint64_t max_module_size;
	struct sup_publisher *pubs;
	size_t n_pubs;
	uint16_t queue_base;
	bool queues; /* publishers have queue numbers (NFQUEUE or AF_XDP slots) */
	char building_blocks[1024];
	runtime_event_fn *event;
	void *event_ctx;
	struct rw_job *jobs;
	struct rw_stats *stats;
};

/* The NFQUEUE number(s) of user's container (FWD_QUEUE_RANGE() form), or
 * -ENOENT. */
static long rw_queues(const struct rw *rw, const char *user)
{
	for (size_t i = 0; i < rw->n_pubs; i++)
		if (strcmp(rw->pubs[i].ct.user, user) == 0 && rw->pubs[i].ct.queue >= 0)
			return (long)rw->pubs[i].ct.queue;
	return -ENOENT;
}

static void job_free(struct rw_job *job)
{
	struct rw *rw = job->rw;
	for (struct rw_job **pp = &rw->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
	free(job->user);
	free(job->module);
	free(job->wasm_path);
	json_decref(job->props);
	free(job);
}

static void on_compiled(void *ctx, const struct aot_result *res);
static void on_full_compiled(void *ctx, const struct aot_result *res);

/* Compiles the job's module with `aot`; `fn` gets the result. Returns 0, or
 * a negative errno with the reason in err. */
static int job_compile(struct rw_job *job, struct aot *aot, aot_done_fn *fn, char *err,
                       size_t errlen)
{
	return aot_compile(aot, job->wasm_path, job->sha256, &job->chk, fn, job, &job->req, err,
	                   errlen);
}

/* The quick build did not work out: the full one, as without tiers. */
static void job_fall_back(struct rw_job *job, const char *why)
{
	char aerr[AOT_ERR_LEN];
	log_info("module %s/%s: the quick build failed (%s): compiling the full one", job->user,
	         job->module, why);
	job->quick_tier = false;
	if (job_compile(job, job->rw->aot, on_compiled, aerr, sizeof(aerr)) < 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "cannot compile: %s", aerr);
		job->done(job->ctx, 503, msg, -ENOENT);
		job_free(job);
	}
}

static void on_swapped(void *ctx, int status, json_t *reply, const uint8_t *raw, size_t raw_len)
{
	struct rw_job *job = ctx;
	(void)raw;
	(void)raw_len;
	if (!job->cancelled) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		if (status < 0)
			log_warn("module %s/%s: the full build was not swapped in, the quick one "
			         "runs on: %s",
			         job->user, job->module, e ? e : strerror(-status));
		else
			log_info("module %s/%s: full build swapped in, state kept", job->user,
			         job->module);
	}
	job_free(job);
}

/* The full build of a module running its quick one. */
static void on_full_compiled(void *ctx, const struct aot_result *res)
{
	struct rw_job *job = ctx;
	job->req = NULL;
	if (res->status < 0) {
		log_warn("module %s/%s: the full build failed, the quick one runs on: %s",
		         job->user, job->module, res->reason);
		job_free(job);
		return;
	}
	int r = supervisor_swap(job->rw->sup, job->user, job->module, res->so_path, on_swapped,
	                        job);
	if (r < 0) {
		log_warn("module %s/%s: cannot swap in the full build, the quick one runs on: %s",
		         job->user, job->module, strerror(-r));
		job_free(job);
	}
}

static void on_container_installed(void *ctx, int status, json_t *reply, const uint8_t *raw,
                                   size_t raw_len)
{
	struct rw_job *job = ctx;
	struct rw *rw = job->rw;
	if (job->cancelled) {
		if (status == 0 && rw->sup)
			supervisor_remove(rw->sup, job->user, job->module, NULL, NULL);
		job_free(job);
		return;
	}
	if (status < 0) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		char why[512];
		snprintf(why, sizeof(why), "container refused the module: %s",
		         e ? e : strerror(-status));
		if (job->quick_tier && status != -ECONNRESET && status != -ETIMEDOUT) {
			job_fall_back(job, why);
			return;
		}
		job->done(job->ctx, status == -ECONNRESET || status == -ETIMEDOUT ? 503 : 422, why,
		          -ENOENT);
	} else {
		job->done(job->ctx, 0, NULL, rw_queues(job->rw, job->user));
		if (job->quick_tier) {
			/* Active on the quick build: now the full one, in the
			 * background, swapped in when it is there. */
			char aerr[AOT_ERR_LEN];
			job->upgrade = true;
			job->quick_tier = false;
			if (job_compile(job, rw->aot, on_full_compiled, aerr, sizeof(aerr)) == 0)
				return;
			log_warn("module %s/%s: cannot compile the full build, the quick one runs "
			         "on: %s",
			         job->user, job->module, aerr);
		}
	}
	job_free(job);
}

static void on_compiled(void *ctx, const struct aot_result *res)
{
	struct rw_job *job = ctx;
	struct rw *rw = job->rw;
	job->req = NULL;
	if (res->status < 0 && job->quick_tier) {
		job_fall_back(job, res->reason);
		return;
	}
	if (res->status < 0) {
		char why[512];
		/* The node's disk, not the module: 507, as the node's error. */
		bool disk = res->status == -ENOSPC || res->status == -EDQUOT;
		snprintf(why, sizeof(why), "compiling the module failed%s: %s",
		         disk ? ", the node's disk is full" : "", res->reason);
		if (disk)
			log_err("module %s/%s: %s", job->user, job->module, why);
		job->done(job->ctx, disk ? 507 : 422, why, -ENOENT);
		job_free(job);
		return;
	}
	log_debug("module %s/%s compiled in %llu ms%s", job->user, job->module,
	          (unsigned long long)res->elapsed_ms,
	          res->cached ? " (cached)"
	          : res->peer ? " (by a node sharing the cache)"
	                      : "");
	if (job->progress)
		job->progress(job->ctx, RUNTIME_INSTALLING);
	int r = supervisor_install(rw->sup, job->user, job->module, res->so_path, job->props,
	                           job->filters, job->n_filters, job->sample_every,
	                           on_container_installed, job);
	if (r < 0) {
		char why[160];
		snprintf(why, sizeof(why), "cannot reach the container of %s: %s", job->user,
		         strerror(-r));
		job->done(job->ctx, 503, why, -ENOENT);
		job_free(job);
	}
}

/* Reads a whole file of at most max bytes. */
static int read_file(const char *path, uint64_t max, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	if ((uint64_t)st.st_size > max)
		return -EFBIG;
	uint8_t *buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return -ENOMEM;
	size_t off = 0;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		off += (size_t)n;
	}
	*ret = buf;
	*ret_len = off;
	return 0;
}

static int rw_install(void *rtp, const struct runtime_module *m, runtime_done_fn *done, void *ctx,
                      char *err, size_t errlen)
{
	struct rw *rw = rtp;
	if (!supervisor_has_publisher(rw->sup, m->user)) {
		snprintf(err, errlen,
		         "publisher %s has no container on this node (not a configured publisher)",
		         m->user);
		return -EPERM;
	}
	uint8_t *wasm = NULL;
	size_t len = 0;
	int r = read_file(m->wasm_path, rw->max_module_size, &wasm, &len);
	if (r < 0) {
		snprintf(err, errlen, "reading %s: %s", m->wasm_path, strerror(-r));
		return r == -EFBIG ? -EINVAL : r;
	}
	/* Any declared maximum is accepted: the container caps memory.grow at
	 * the publisher's limit, and that is what stops a memory bomb. */
	struct wasm_check_limits lim = {.max_memory_pages = 65536};
	struct wasm_check_result chk;
	char why[WASM_CHECK_ERR_LEN];
	r = wasm_check(wasm, len, &lim, &chk, why, sizeof(why));
	free(wasm);
	if (r < 0) {
		snprintf(err, errlen, "invalid module: %s", why);
		return -EINVAL;
	}
	struct rw_job *job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->rw = rw;
	job->user = strdup(m->user);
	job->module = strdup(m->module_id);
	job->props = json_object();
	job->done = done;
	job->progress = m->progress;
	job->ctx = ctx;
	job->next = rw->jobs;
	rw->jobs = job;
	if (!job->user || !job->module || !job->props) {
		job_free(job);
		return -ENOMEM;
	}
	job->n_filters = m->request->n_filters;
	job->sample_every = m->request->sample_every;
	memcpy(job->filters, m->request->filters, sizeof(job->filters));
	for (size_t i = 0; i < m->request->n_properties; i++)
		json_object_set_new(job->props, m->request->properties[i].key,
		                    json_string(m->request->properties[i].value));
	/* Reserved key (the policy refuses it from a SETUP): the container opens
	 * these listening sockets for the module (container/sandbox.h). */
	if (m->listen && *m->listen)
		json_object_set_new(job->props, "netserv.listen", json_string(m->listen));
	job->wasm_path = strdup(m->wasm_path);
	memcpy(job->sha256, m->sha256, sizeof(job->sha256));
	job->chk = chk;
	if (!job->wasm_path) {
		job_free(job);
		return -ENOMEM;
	}
	/* Tiered: unless the full build is in the cache, a quick one first. */
	char aerr[AOT_ERR_LEN], so[4096];
	struct stat st;
	job->quick_tier = rw->quick && aot_so_path(rw->aot, m->sha256, so, sizeof(so)) == 0 &&
	                  stat(so, &st) < 0;
	r = job_compile(job, job->quick_tier ? rw->quick : rw->aot, on_compiled, aerr,
	                sizeof(aerr));
	if (r < 0) {
		snprintf(err, errlen, "cannot compile: %s", aerr);
		job_free(job);
		return r == -EINVAL ? -EIO : r;
	}
	return 0;
}

static int rw_remove(void *rtp, const char *user, const char *module_id)
{
	struct rw *rw = rtp;
	for (struct rw_job *job = rw->jobs; job; job = job->next) {
		if (strcmp(job->user, user) != 0 || strcmp(job->module, module_id) != 0 ||
		    job->cancelled)
			continue;
		bool installed = job->upgrade; /* its quick build runs */
		if (job->req) {
			aot_cancel(job->quick_tier ? rw->quick : rw->aot, job->req);
			job_free(job);
		} else {
			job->cancelled = true; /* the container is installing or swapping it */
		}
		if (installed)
			break;
		return 0;
	}
	return supervisor_remove(rw->sup, user, module_id, NULL, NULL);
}

static int rw_purge(void *rtp, const char *user, const char *module_id)
{
	return supervisor_purge(((struct rw *)rtp)->sup, user, module_id);
}

static const char *rw_building_blocks(void *rtp)
{
	return ((struct rw *)rtp)->building_blocks;
}

static void stats_finish(struct rw_stats *st)
{
	struct rw *rw = st->rw;
	for (struct rw_stats **pp = &rw->stats; *pp; pp = &(*pp)->next) {
		if (*pp == st) {
			*pp = st->next;
			break;
		}
	}
	if (st->done)
		st->done(st->ctx, st->acc);
	json_decref(st->acc);
	free(st);
}

static void on_container_stats(void *ctx, int status, json_t *reply, const uint8_t *raw, size_t len)
{
	struct rw_stats *st = ctx;
	const char *user = json_string_value(json_object_get(reply, "user"));
	json_t *mods = json_object_get(reply, "modules");
	size_t i;
	json_t *m;
	if (status == 0 && user) {
		json_array_foreach(mods, i, m)
		{
			const char *name = json_string_value(json_object_get(m, "module"));
			char key[200];
			if (!name)
				continue;
			snprintf(key, sizeof(key), "%s/%s", user, name);
			json_t *copy = json_deep_copy(m);
			json_object_set_new(copy, "container_rss_kb",
			                    json_incref(json_object_get(reply, "rss_kb")));
			json_object_set_new(copy, "container_pid",
			                    json_incref(json_object_get(reply, "pid")));
			json_object_set_new(st->acc, key, copy);
		}
		/* The container's own: key "user" (runtime.h). */
		unsigned starts = supervisor_starts(st->rw->sup, user);
		json_t *ct = json_pack("{s:O?, s:O?, s:I, s:I}", "rss_kb",
		                       json_object_get(reply, "rss_kb"), "queue",
		                       json_object_get(reply, "queue"), "restarts",
		                       (json_int_t)(starts ? starts - 1 : 0), "verdicts_refused",
		                       (json_int_t)supervisor_verdicts_refused(st->rw->sup, user));
		if (ct)
			json_object_set_new(st->acc, user, ct);
	}
	if (--st->waiting == 0)
		stats_finish(st);
}

static void rw_stats(void *rtp, runtime_stats_fn *done, void *ctx)
{
	struct rw *rw = rtp;
	struct rw_stats *st = calloc(1, sizeof(*st));
	json_t *acc = json_object();
	if (!st || !acc) {
		free(st);
		json_decref(acc);
		done(ctx, NULL);
		return;
	}
	st->rw = rw;
	st->done = done;
	st->ctx = ctx;
	st->acc = acc;
	st->waiting = 1; /* held until every request is out */
	st->next = rw->stats;
	rw->stats = st;
	for (size_t i = 0; i < rw->n_pubs; i++) {
		st->waiting++;
		if (supervisor_stats(rw->sup, rw->pubs[i].ct.user, on_container_stats, st) < 0)
			st->waiting--;
	}
	if (--st->waiting == 0)
		stats_finish(st);
}

static void rw_forget(void *rtp, void *ctx)
{
	struct rw *rw = rtp;
	for (struct rw_stats *st = rw->stats; st; st = st->next)
		if (st->ctx == ctx)
			st->done = NULL;
}

static void rw_set_event_handler(void *rtp, runtime_event_fn *fn, void *ctx)
{
	struct rw *rw = rtp;
	rw->event = fn;
	rw->event_ctx = ctx;
}

static void on_sup_event(void *ctx, const char *user, const char *module, enum runtime_event event,
                         const char *reason)
{
	struct rw *rw = ctx;
	if (rw->event)
		rw->event(rw->event_ctx, user, module, event, reason);
}

const struct runtime_ops runtime_wasm_ops = {
        .name = "wasm",
        .install = rw_install,
        .remove = rw_remove,
        .purge = rw_purge,
        .building_blocks = rw_building_blocks,
        .stats = rw_stats,
        .forget = rw_forget,
        .set_event_handler = rw_set_event_handler,
};

int runtime_wasm_new(struct evloop *loop, const struct runtime_wasm_config *cfg, void **ret,
                     char *err, size_t errlen)
{
	struct rw *rw = calloc(1, sizeof(*rw));
	if (!rw)
		return -ENOMEM;
	rw->loop = loop;
	rw->max_module_size = cfg->max_module_size ? cfg->max_module_size : (16u << 20);
	rw->queue_base = cfg->queue_base;
	rw->queues = cfg->queues;
	size_t used = 0;
	for (unsigned i = 0; i < WASM_IMPORT_COUNT; i++) {
		int n = snprintf(rw->building_blocks + used, sizeof(rw->building_blocks) - used,
		                 "%s%s", i ? "," : "", wasm_check_import_name(i));
		if (n > 0 && (size_t)n < sizeof(rw->building_blocks) - used)
			used += (size_t)n;
	}
	/* and the building blocks by name ("socket/1", "http/1", ...): what
	 * `dependencies:` names */
#define RW_BLOCK(name, list)                                                                       \
	do {                                                                                       \
		int n = snprintf(rw->building_blocks + used, sizeof(rw->building_blocks) - used,   \
		                 ",%s", name);                                                     \
		if (n > 0 && (size_t)n < sizeof(rw->building_blocks) - used)                       \
			used += (size_t)n;                                                         \
	} while (0);
	NS_BUILDING_BLOCKS(RW_BLOCK)
#undef RW_BLOCK
	int r = aot_new(loop, &cfg->aot, &rw->aot, err, errlen);
	if (r == 0 && cfg->quick.cache_dir)
		r = aot_new(loop, &cfg->quick, &rw->quick, err, errlen);
	if (r < 0) {
		runtime_wasm_free(rw);
		return r;
	}
	r = supervisor_new(loop, &cfg->sup, on_sup_event, rw, &rw->sup, err, errlen);
	if (r < 0) {
		runtime_wasm_free(rw);
		return r;
	}
	rw->pubs = calloc(cfg->n_publishers ? cfg->n_publishers : 1, sizeof(*rw->pubs));
	if (!rw->pubs) {
		runtime_wasm_free(rw);
		return -ENOMEM;
	}
	for (size_t i = 0; i < cfg->n_publishers; i++) {
		struct sup_publisher p = cfg->publishers[i];
		p.ct.queue = cfg->queues ? (int32_t)(cfg->queue_base + i) : -1;
		r = supervisor_add_publisher(rw->sup, &p, err, errlen);
		if (r < 0) {
			runtime_wasm_free(rw);
			return r;
		}
		rw->pubs[rw->n_pubs++] = p;
	}
	*ret = rw;
	return 0;
}

void runtime_wasm_free(void *rtp)
{
	struct rw *rw = rtp;
	if (!rw)
		return;
	/* Nobody hears back any more; the supervisor completes what the
	 * containers still owe (with errors), which frees those jobs. */
	for (struct rw_job *job = rw->jobs, *next; job; job = next) {
		next = job->next;
		if (job->req) {
			aot_cancel(job->quick_tier ? rw->quick : rw->aot, job->req);
			job_free(job);
		} else {
			job->cancelled = true;
		}
	}
	for (struct rw_stats *st = rw->stats; st; st = st->next)
		st->done = NULL;
	supervisor_free(rw->sup);
	while (rw->stats)
		stats_finish(rw->stats);
	while (rw->jobs)
		job_free(rw->jobs);
	aot_free(rw->aot);
	aot_free(rw->quick);
	free(rw->pubs);
	free(rw);
}

int runtime_wasm_add_publisher(void *rtp, const struct sup_publisher *p, char *err, size_t errlen)
{
	struct rw *rw = rtp;
	struct sup_publisher np = *p;
	np.ct.queue = -1;
	if (rw->queues) {
		/* The first queue from queue_base that no publisher reads. */
		for (uint32_t q = rw->queue_base; q <= UINT16_MAX && np.ct.queue < 0; q++) {
			bool used = false;
			for (size_t i = 0; i < rw->n_pubs && !used; i++)
				used = rw->pubs[i].ct.queue == (int32_t)q;
			if (!used)
				np.ct.queue = (int32_t)q;
		}
		if (np.ct.queue < 0) {
			snprintf(err, errlen, "no NFQUEUE number left for %s", p->ct.user);
			return -ENOSPC;
		}
	}
	struct sup_publisher *pubs = realloc(rw->pubs, (rw->n_pubs + 1) * sizeof(*pubs));
	if (!pubs)
		return -ENOMEM;
	rw->pubs = pubs;
	int r = supervisor_add_publisher(rw->sup, &np, err, errlen);
	if (r < 0)
		return r;
	rw->pubs[rw->n_pubs++] = np;
	return 0;
}

int runtime_wasm_remove_publisher(void *rtp, const char *user)
{
	struct rw *rw = rtp;
	for (size_t i = 0; i < rw->n_pubs; i++) {
		if (strcmp(rw->pubs[i].ct.user, user) != 0)
			continue;
		memmove(&rw->pubs[i], &rw->pubs[i + 1], (rw->n_pubs - i - 1) * sizeof(*rw->pubs));
		rw->n_pubs--;
		return supervisor_remove_publisher(rw->sup, user);
	}
	return -ENOENT;
}

struct supervisor *runtime_wasm_supervisor(void *rtp)
{
	return ((struct rw *)rtp)->sup;
}
