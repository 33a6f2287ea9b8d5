/* AOT compilation of modules, the event-loop side: requests, the cache,
 * the queue of compiles, and the helper processes (aot_helper.c), watched by
 * pidfd and a back-stop timer. See aot.h. */
#include "runtime/aot.h"
#include "runtime/aot_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/glue.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/util.h"

#ifndef NETSERV_RUNTIME_DIR
#define NETSERV_RUNTIME_DIR "/usr/local/share/netserv/runtime"
#endif

/* Time the parent grants the helper beyond the compile limit (copy, fsync). */
#define BACKSTOP_GRACE_MS 30000u

struct aot_req {
	struct aot *aot;
	struct aot_job *job;        /* NULL: answered from the cache */
	struct evloop_timer *timer; /* cache answer pending */
	aot_done_fn *done;
	void *ctx;
	uint64_t t0;
	struct aot_req *next; /* in job->waiters, or aot->hits */
};

static void hex32(const uint8_t sha[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[sha[i] >> 4];
		out[2 * i + 1] = digits[sha[i] & 15];
	}
	out[64] = '\0';
}

/* Removes what an earlier run left in dir: .work-*, .tmp-* and .lock-<hex>
 * entries. Only while no other process uses the cache (cache_lock()). */
static void remove_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name), sn = strlen(NS_GLUE_SO_SUFFIX);
		if (strncmp(e->d_name, ".work-", 6) == 0 || strncmp(e->d_name, ".tmp-", 5) == 0 ||
		    strncmp(e->d_name, AOT_LOCK_PREFIX, strlen(AOT_LOCK_PREFIX)) == 0)
			aot_remove_tree_at(dirfd(d), e->d_name, 0);
		/* compiled with other glue (an older node): never loaded again */
		else if (n == 64 + 3 && strcmp(e->d_name + 64, ".so") == 0)
			unlinkat(dirfd(d), e->d_name, 0);
		else if (n > 64 + 5 && strncmp(e->d_name + 64, "-g", 2) == 0 &&
		         strcmp(e->d_name + n - 3, ".so") == 0 &&
		         (n != 64 + sn || strcmp(e->d_name + 64, NS_GLUE_SO_SUFFIX) != 0))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* ---- the event-loop side ---- */

static void req_result(struct aot_req *req, struct aot_result *res)
{
	aot_done_fn *done = req->done;
	void *ctx = req->ctx;

	res->elapsed_ms = evloop_now_ms() - req->t0;
	free(req);
	done(ctx, res);
}

static void job_free(struct aot_job *job)
{
	if (!job)
		return;
	free(job->cc_argv); /* its strings belong to the aot or are static */
	free(job->wasm_path);
	free(job);
}

static void jobs_unlink(struct aot *aot, struct aot_job *job)
{
	for (struct aot_job **pp = &aot->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			return;
		}
	}
}

static void jobs_start_queued(struct aot *aot);

/* Ends a job: takes it off the list, answers every waiter, frees it, and
 * starts what is queued. */
static void job_finish(struct aot *aot, struct aot_job *job, int status, bool peer,
                       const char *reason, const char *log)
{
	char so[PATH_MAX];
	struct aot_req *req;

	jobs_unlink(aot, job);
	if (job->running) {
		aot->st.running--;
		if (peer)
			aot->st.peer++;
		else if (status == 0)
			aot->st.compiled++;
		else
			aot->st.failed++;
		if (status == -ETIMEDOUT)
			aot->st.timeouts++;
	} else {
		aot->st.queued--;
	}
	snprintf(so, sizeof(so), "%s/%s" NS_GLUE_SO_SUFFIX, aot->cache_dir, job->hex);
	while ((req = job->waiters)) {
		struct aot_result res = {
		        .status = status,
		        .so_path = status == 0 ? so : NULL,
		        .reason = status == 0 ? "" : reason,
		        .log = log ? log : "",
		        .peer = peer,
		};
		job->waiters = req->next;
		req_result(req, &res);
	}
	job_free(job);
	jobs_start_queued(aot);
}

/* Reads the helper's report: "STATUS[ peer]\nREASON\nLOG". Returns false if
 * none. */
static bool read_report(int fd, char *buf, size_t cap, int *status, bool *peer, char **reason,
                        char **log)
{
	size_t len = 0;
	char *nl, *end;
	long v;

	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	*peer = v == 0 && strncmp(end, " peer", 5) == 0;
	if (*peer)
		end += 5;
	if (end == buf || *end != '\n' || errno || v > 0 || v < -4095)
		return false;
	*status = (int)v;
	*reason = end + 1;
	nl = strchr(*reason, '\n');
	if (!nl)
		return false;
	*nl = '\0';
	*log = nl + 1;
	return true;
}

static void on_helper_exit(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct aot_job *job = ctx;
	struct aot *aot = job->aot;
	char *buf, *reason = NULL, *log = NULL;
	char why[128];
	int st = 0, status;
	bool peer = false;
	pid_t w;

	evloop_del_fd(loop, job->pidfd);
	job->pidfd = safe_close(job->pidfd);
	kill(-job->pid, SIGKILL); /* the group, should anything be left in it */
	w = waitpid(job->pid, &st, WNOHANG);
	job->backstop = evloop_timer_cancel(loop, job->backstop);

	buf = malloc(REPORT_MAX);
	if (buf && read_report(job->rfd, buf, REPORT_MAX, &status, &peer, &reason, &log)) {
		/* the helper's own word */
	} else if (job->killed) {
		status = -ETIMEDOUT;
		snprintf(why, sizeof(why), "compile helper did not finish within %u ms",
		         aot->time_limit_ms + BACKSTOP_GRACE_MS);
		reason = why;
	} else {
		status = -EIO;
		if (w == job->pid && WIFSIGNALED(st))
			snprintf(why, sizeof(why), "compile helper died (signal %d)", WTERMSIG(st));
		else
			snprintf(why, sizeof(why), "compile helper ended without a result");
		reason = why;
	}
	job->rfd = safe_close(job->rfd);
	job_finish(aot, job, status, peer, reason, log);
	free(buf);
}

static void on_backstop(struct evloop *loop, void *ctx)
{
	struct aot_job *job = ctx;

	job->backstop = NULL;
	job->killed = true;
	kill(-job->pid, SIGKILL);
}

static int job_start(struct aot *aot, struct aot_job *job)
{
	pid_t pid, parent = getpid();
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[0]);
		aot_helper_main(aot, job, parent, p[1]);
	}
	close(p[1]);
	setpgid(pid, pid); /* also done by the child: no window without a group */
	job->pid = pid;
	job->rfd = p[0];
	job->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* needed: Linux >= 5.3 */
	r = job->pidfd < 0 ? -errno : 0;
	if (r == 0)
		r = evloop_add_fd(aot->loop, job->pidfd, EPOLLIN, on_helper_exit, job);
	if (r == 0) {
		job->backstop = evloop_timer_add(aot->loop,
		                                 (uint64_t)aot->time_limit_ms + BACKSTOP_GRACE_MS,
		                                 on_backstop, job);
		if (!job->backstop) {
			evloop_del_fd(aot->loop, job->pidfd);
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		job->pidfd = safe_close(job->pidfd);
		job->rfd = safe_close(job->rfd);
		return r;
	}
	job->running = true;
	aot->st.queued--;
	aot->st.running++;
	aot->st.compiles++;
	return 0;
}

static void jobs_start_queued(struct aot *aot)
{
	struct aot_job *job = aot->jobs;

	while (job && aot->st.running < aot->max_jobs) {
		struct aot_job *next = job->next;
		if (!job->running) {
			int r = job_start(aot, job);
			if (r < 0) {
				char why[128];
				snprintf(why, sizeof(why), "cannot start the compile: %s",
				         strerror(-r));
				job_finish(aot, job, r, false, why, NULL);
				return; /* job_finish() started the rest */
			}
		}
		job = next;
	}
}

/* -DNS_HAS_<export>=1 for each known export (see glue.c). */
static const char *const has_flags[] = {
#define X(name, res, params, req) "-DNS_HAS_" #name "=1",
        NS_MODULE_EXPORTS(X)
#undef X
};

/* Builds the compiler command line for a module. The array is the caller's;
 * its strings are static or the aot's. */
static char **cc_argv_new(const struct aot *aot, const struct wasm_check_result *chk)
{
	size_t n = 0, cap = 32 + WASM_EXPORT_COUNT;
	char **a;

	for (char **f = aot->cflags; *f; f++)
		cap++;
	a = calloc(cap, sizeof(*a));
	if (!a)
		return NULL;
	a[n++] = aot->cc;
	a[n++] = aot->optimize;
	a[n++] = "-pipe";
	a[n++] = "-shared";
	a[n++] = "-fPIC";
	a[n++] = "-fvisibility=hidden";
	a[n++] = "-fno-diagnostics-show-caret";
	a[n++] = "-fdiagnostics-color=never";
	a[n++] = "-Werror=implicit-function-declaration";
	a[n++] = "-Werror=incompatible-pointer-types";
	a[n++] = "-Werror=int-conversion";
	a[n++] = "-iquote";
	a[n++] = ".";
	a[n++] = "-I";
	a[n++] = AOT_SRC_RUNTIME;
	a[n++] = "-I";
	a[n++] = AOT_SRC_WASM_RT;
	a[n++] = aot->bounds_checks ? "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0"
	                            : "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1";
	if (chk->n_imports > 0)
		a[n++] = "-DNS_HAS_IMPORTS=1";
	for (unsigned i = 0; i < WASM_EXPORT_COUNT; i++)
		if (chk->exports & WASM_BIT(i))
			a[n++] = (char *)has_flags[i];
	for (char **f = aot->cflags; *f; f++)
		a[n++] = *f;
	a[n++] = "mod.c";
	a[n++] = AOT_SRC_RUNTIME "/glue.c";
	a[n++] = "-o";
	a[n++] = "mod.so";
	return a;
}

const char *aot_default_runtime_dir(void)
{
	return NETSERV_RUNTIME_DIR;
}

int aot_so_path(const struct aot *aot, const uint8_t sha256[32], char *buf, size_t len)
{
	char hex[65];

	hex32(sha256, hex);
	if ((size_t)snprintf(buf, len, "%s/%s" NS_GLUE_SO_SUFFIX, aot->cache_dir, hex) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int aot_evict(struct aot *aot, const uint8_t sha256[32])
{
	char so[PATH_MAX];
	int r = aot_so_path(aot, sha256, so, sizeof(so));

	if (r < 0)
		return r;
	return unlink(so) < 0 ? -errno : 0;
}

void aot_get_stats(const struct aot *aot, struct aot_stats *ret)
{
	*ret = aot->st;
}

static void on_hit(struct evloop *loop, void *ctx)
{
	struct aot_req *req = ctx;
	struct aot *aot = req->aot;
	struct aot_result res = {.status = 0, .cached = true, .reason = "", .log = ""};
	char so[PATH_MAX];

	for (struct aot_req **pp = &aot->hits; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			break;
		}
	}
	snprintf(so, sizeof(so), "%s/%s" NS_GLUE_SO_SUFFIX, aot->cache_dir,
	         (const char *)(req + 1));
	res.so_path = so;
	req_result(req, &res);
}

int aot_compile(struct aot *aot, const char *wasm_path, const uint8_t sha256[32],
                const struct wasm_check_result *chk, aot_done_fn *done, void *ctx,
                struct aot_req **ret_req, char *err, size_t errlen)
{
	char hex[65], so[PATH_MAX];
	struct aot_req *req;
	struct aot_job *job;
	struct stat st;
	int r;

	if (!aot || !wasm_path || !sha256 || !chk || !done) {
		err_set(err, errlen, 0, "aot_compile: missing argument");
		return -EINVAL;
	}
	hex32(sha256, hex);
	if ((size_t)snprintf(so, sizeof(so), "%s/%s" NS_GLUE_SO_SUFFIX, aot->cache_dir, hex) >=
	    sizeof(so)) {
		err_set(err, errlen, 0, "cache path too long");
		return -ENAMETOOLONG;
	}

	/* In the cache: answer on the next loop iteration. The hash is kept
	 * after the request. */
	if (stat(so, &st) == 0 && S_ISREG(st.st_mode)) {
		req = calloc(1, sizeof(*req) + sizeof(hex));
		if (!req)
			goto nomem;
		memcpy(req + 1, hex, sizeof(hex));
		req->aot = aot;
		req->done = done;
		req->ctx = ctx;
		req->t0 = evloop_now_ms();
		req->timer = evloop_timer_add(aot->loop, 0, on_hit, req);
		if (!req->timer) {
			free(req);
			goto nomem;
		}
		req->next = aot->hits;
		aot->hits = req;
		aot->st.cache_hits++;
		if (ret_req)
			*ret_req = req;
		return 0;
	}

	req = calloc(1, sizeof(*req));
	if (!req)
		goto nomem;
	req->aot = aot;
	req->done = done;
	req->ctx = ctx;
	req->t0 = evloop_now_ms();

	for (job = aot->jobs; job; job = job->next)
		if (strcmp(job->hex, hex) == 0)
			break;
	if (job) {
		aot->st.shared++;
	} else {
		job = calloc(1, sizeof(*job));
		if (!job) {
			free(req);
			goto nomem;
		}
		job->aot = aot;
		job->pidfd = -1;
		job->rfd = -1;
		memcpy(job->hex, hex, sizeof(hex));
		job->wasm_path = strdup(wasm_path);
		job->cc_argv = cc_argv_new(aot, chk);
		if (!job->wasm_path || !job->cc_argv) {
			job_free(job);
			free(req);
			goto nomem;
		}
		/* Queue it at the end. */
		struct aot_job **pp = &aot->jobs;
		while (*pp)
			pp = &(*pp)->next;
		*pp = job;
		aot->st.queued++;
		if (aot->st.running < aot->max_jobs) {
			r = job_start(aot, job);
			if (r < 0) {
				jobs_unlink(aot, job);
				aot->st.queued--;
				job_free(job);
				free(req);
				err_set(err, errlen, 0, "cannot start the compile: %s",
				        strerror(-r));
				return r;
			}
		}
	}
	req->job = job;
	req->next = job->waiters;
	job->waiters = req;
	if (ret_req)
		*ret_req = req;
	return 0;

nomem:
	err_set(err, errlen, 0, "out of memory");
	return -ENOMEM;
}

struct aot_req *aot_cancel(struct aot *aot, struct aot_req *req)
{
	struct aot_job *job;

	if (!aot || !req)
		return NULL;
	job = req->job;
	if (!job) {
		for (struct aot_req **pp = &aot->hits; *pp; pp = &(*pp)->next) {
			if (*pp == req) {
				*pp = req->next;
				break;
			}
		}
		evloop_timer_cancel(aot->loop, req->timer);
		free(req);
		return NULL;
	}
	for (struct aot_req **pp = &job->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			break;
		}
	}
	free(req);
	if (!job->waiters && !job->running) {
		jobs_unlink(aot, job);
		aot->st.queued--;
		job_free(job);
	}
	return NULL;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

struct aot *aot_free(struct aot *aot)
{
	if (!aot)
		return NULL;
	while (aot->jobs) {
		struct aot_job *job = aot->jobs;
		aot->jobs = job->next;
		if (job->running) {
			kill(-job->pid, SIGKILL);
			waitpid(job->pid, NULL, 0);
			evloop_del_fd(aot->loop, job->pidfd);
			safe_close(job->pidfd);
			safe_close(job->rfd);
			evloop_timer_cancel(aot->loop, job->backstop);
		}
		while (job->waiters) {
			struct aot_req *req = job->waiters;
			job->waiters = req->next;
			free(req);
		}
		job_free(job);
	}
	while (aot->hits) {
		struct aot_req *req = aot->hits;
		aot->hits = req->next;
		evloop_timer_cancel(aot->loop, req->timer);
		free(req);
	}
	safe_close(aot->dir_lock_fd);
	free(aot->cache_dir);
	free(aot->work_dir);
	free(aot->runtime_dir);
	free(aot->wasm_rt_dir);
	for (size_t i = 0; i < aot->n_srcs; i++) {
		free(aot->srcs[i].name);
		free(aot->srcs[i].data);
	}
	free(aot->srcs);
	free(aot->wasm2c);
	free(aot->cc);
	free(aot->optimize);
	strv_free(aot->cflags);
	free(aot);
	return NULL;
}

/* Creates dir (0755) if missing and stores its absolute path in *ret. */
static int dir_prepare(const char *dir, char **ret, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int r = -errno;
		err_set(err, errlen, 0, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	*ret = realpath(dir, NULL);
	if (!*ret) {
		int r = -errno;
		err_set(err, errlen, 0, "%s: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

/* Stores the absolute path of dir in *ret after checking that dir/file is
 * readable. */
static int dir_with(const char *dir, const char *file, char **ret, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (access(path, R_OK) < 0) {
		r = -errno;
		err_set(err, errlen, 0, "%s: %s", path, strerror(-r));
		return r;
	}
	*ret = realpath(dir, NULL);
	if (!*ret) {
		r = -errno;
		err_set(err, errlen, 0, "%s: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

/* Reads one regular file (at most `room` bytes) relative to the directory fd
 * `dfd` into *data. Returns 0, -EFBIG or a negative errno. */
static int slurp_at(int dfd, const char *name, size_t room, char **data, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r < 0) {
		close(fd);
		return r;
	}
	if ((uint64_t)st.st_size > room) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO; /* shrank while read */
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

static bool is_source_name(const char *name, bool runtime)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	if (runtime && strcmp(name, "glue.c") == 0)
		return true;
	return n > 2 && strcmp(name + n - 2, ".h") == 0;
}

/* Adds the headers of dir (and glue.c when `runtime`) to the source bundle,
 * under the work directory's subdirectory sub. Returns 0 or a negative errno
 * with err set. */
static int sources_load(struct aot *aot, const char *dir, const char *sub, bool runtime, char *err,
                        size_t errlen)
{
	size_t total = 0;
	bool glue = false;
	struct dirent *e;
	DIR *d;
	int r = 0;

	for (size_t i = 0; i < aot->n_srcs; i++)
		total += aot->srcs[i].len;
	d = opendir(dir);
	if (!d) {
		r = -errno;
		err_set(err, errlen, 0, "%s: %s", dir, strerror(-r));
		return r;
	}
	while ((e = readdir(d))) {
		struct aot_src *grown, *f;
		if (!is_source_name(e->d_name, runtime))
			continue;
		if (aot->n_srcs >= AOT_SRC_MAX_FILES) {
			r = -E2BIG;
			err_set(err, errlen, 0, "%s: more than %u source files", dir,
			        AOT_SRC_MAX_FILES);
			break;
		}
		grown = realloc(aot->srcs, (aot->n_srcs + 1) * sizeof(*grown));
		if (!grown) {
			r = -ENOMEM;
			err_set(err, errlen, 0, "out of memory");
			break;
		}
		aot->srcs = grown;
		f = &aot->srcs[aot->n_srcs];
		*f = (struct aot_src){.dir = sub, .name = strdup(e->d_name)};
		if (!f->name) {
			r = -ENOMEM;
			err_set(err, errlen, 0, "out of memory");
			break;
		}
		r = slurp_at(dirfd(d), e->d_name, AOT_SRC_MAX_BYTES - total, &f->data, &f->len);
		if (r < 0) {
			free(f->name);
			if (r == -EINVAL) { /* not a regular file: not a source */
				r = 0;
				continue;
			}
			err_set(err, errlen, 0, "%s/%s: %s", dir, e->d_name,
			        r == -EFBIG ? "the runtime sources exceed 4 MiB" : strerror(-r));
			break;
		}
		total += f->len;
		aot->n_srcs++;
		if (runtime && strcmp(e->d_name, "glue.c") == 0)
			glue = true;
	}
	closedir(d);
	if (r == 0 && runtime && !glue) {
		r = -ENOENT;
		err_set(err, errlen, 0, "%s/glue.c: %s", dir, strerror(ENOENT));
	}
	return r;
}

/* Takes the shared lock on the cache for this aot's lifetime; first, if no
 * other process shares the cache, removes what earlier runs left (a node
 * sharing it may be compiling into it right now). Returns 0 or a negative
 * errno with err set. */
static int cache_lock(struct aot *aot, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/" AOT_DIR_LOCK, aot->cache_dir);
	aot->dir_lock_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (aot->dir_lock_fd < 0) {
		r = -errno;
		err_set(err, errlen, 0, "%s: %s", path, strerror(-r));
		return r;
	}
	if (flock(aot->dir_lock_fd, LOCK_EX | LOCK_NB) == 0) {
		remove_stale(aot->cache_dir);
		if (strcmp(aot->work_dir, aot->cache_dir) != 0)
			remove_stale(aot->work_dir);
	}
	while (flock(aot->dir_lock_fd, LOCK_SH) < 0) {
		if (errno != EINTR) {
			r = -errno;
			err_set(err, errlen, 0, "%s: %s", path, strerror(-r));
			return r;
		}
	}
	return 0;
}

int aot_new(struct evloop *loop, const struct aot_config *cfg, struct aot **ret, char *err,
            size_t errlen)
{
	struct aot *aot;
	size_t n = 0;
	int r;

	if (!loop || !cfg || !cfg->cache_dir || !ret) {
		err_set(err, errlen, 0, "aot: no cache directory configured");
		return -EINVAL;
	}
	aot = calloc(1, sizeof(*aot));
	if (!aot)
		goto nomem;
	aot->loop = loop;
	aot->dir_lock_fd = -1;
	aot->bounds_checks = cfg->bounds_checks;
	aot->time_limit_ms = cfg->time_limit_ms ? cfg->time_limit_ms : AOT_DEFAULT_TIME_LIMIT_MS;
	aot->cpu_limit_s = cfg->cpu_limit_s ? cfg->cpu_limit_s : AOT_DEFAULT_CPU_LIMIT_S;
	aot->file_limit = cfg->file_limit ? cfg->file_limit : AOT_DEFAULT_FILE_LIMIT;
	aot->mem_limit = cfg->mem_limit ? cfg->mem_limit : AOT_DEFAULT_MEM_LIMIT;
	aot->nice = cfg->nice == 0 ? AOT_DEFAULT_NICE : cfg->nice;
	aot->max_jobs = cfg->max_jobs ? cfg->max_jobs : AOT_DEFAULT_MAX_JOBS;

	if ((r = dir_prepare(cfg->cache_dir, &aot->cache_dir, err, errlen)) < 0 ||
	    (r = dir_prepare(cfg->work_dir ? cfg->work_dir : cfg->cache_dir, &aot->work_dir, err,
	                     errlen)) < 0 ||
	    (r = dir_with(cfg->runtime_dir ? cfg->runtime_dir : NETSERV_RUNTIME_DIR, "glue.c",
	                  &aot->runtime_dir, err, errlen)) < 0 ||
	    (r = dir_with(cfg->wasm_rt_dir ? cfg->wasm_rt_dir : AOT_DEFAULT_WASM_RT_DIR,
	                  "wasm-rt.h", &aot->wasm_rt_dir, err, errlen)) < 0)
		goto fail;
	if ((r = sources_load(aot, aot->runtime_dir, AOT_SRC_RUNTIME, true, err, errlen)) < 0 ||
	    (r = sources_load(aot, aot->wasm_rt_dir, AOT_SRC_WASM_RT, false, err, errlen)) < 0)
		goto fail;
	aot->wasm2c = strdup(cfg->wasm2c ? cfg->wasm2c : AOT_DEFAULT_WASM2C);
	aot->cc = strdup(cfg->cc ? cfg->cc : AOT_DEFAULT_CC);
	aot->optimize = strdup(cfg->optimize ? cfg->optimize : AOT_DEFAULT_OPTIMIZE);
	if (!aot->wasm2c || !aot->cc || !aot->optimize)
		goto nomem;
	for (const char *const *f = cfg->cflags; f && *f; f++)
		n++;
	aot->cflags = calloc(n + 1, sizeof(*aot->cflags));
	if (!aot->cflags)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (!(aot->cflags[i] = strdup(cfg->cflags[i])))
			goto nomem;

	if (geteuid() == 0) {
		const char *user = cfg->user ? cfg->user : AOT_DEFAULT_USER;
		struct passwd *pw;
		errno = 0;
		pw = getpwnam(user);
		if (!pw) {
			r = errno ? -errno : -ENOENT;
			err_set(err, errlen, 0, "sandbox user %s: %s", user,
			        errno ? strerror(errno) : "no such user");
			goto fail;
		}
		if (pw->pw_uid == 0 || pw->pw_gid == 0) {
			r = -EPERM;
			err_set(err, errlen, 0, "sandbox user %s has uid or gid 0: refused", user);
			goto fail;
		}
		aot->drop = true;
		aot->uid = pw->pw_uid;
		aot->gid = pw->pw_gid;
	}

	if ((r = cache_lock(aot, err, errlen)) < 0)
		goto fail;
	*ret = aot;
	return 0;

nomem:
	r = -ENOMEM;
	err_set(err, errlen, 0, "out of memory");
fail:
	aot_free(aot);
	return r;
}
