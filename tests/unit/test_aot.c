/* Unit tests: the AOT compiler (runtime/aot.c) on a real event loop, with
 * the real wasm2c and cc. Compiled modules are dlopen()ed here and run
 * through ns_glue_v1: this program carries the wasm2c runtime and the host
 * imports the test modules use, exported with -rdynamic. Run as root, it also
 * checks the sandbox (user, rlimits, no_new_privs) from inside a tool. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "wasm-rt-impl.h"
#include "wasm-rt.h"

#include "lib/evloop.h"
#include "lib/util.h"
#include "runtime/aot.h"
#include "abi/glue.h"
#include "runtime/wasm_check.h"

/* ---- the host side the test modules import ---- */

struct Z_netserv_instance_t {
	wasm_rt_memory_t *mem;
	int logs;
	char last_log[64];
	uint64_t counter7;
};

void Z_netservZ_ns_log(struct Z_netserv_instance_t *h, uint32_t level, uint32_t ptr, uint32_t len)
{
	h->logs++;
	if (h->mem && (uint64_t)ptr + len <= h->mem->size && len < sizeof(h->last_log)) {
		memcpy(h->last_log, h->mem->data + ptr, len);
		h->last_log[len] = '\0';
	}
}

void Z_netservZ_ns_counter_add(struct Z_netserv_instance_t *h, uint32_t id, uint64_t delta)
{
	if (id == 7)
		h->counter7 += delta;
}

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char cache[128];
	struct evloop *loop;
	struct aot *aot;
	int outstanding;
	bool timed_out;
};

struct rec {
	struct fx *fx;
	int calls;
	int status;
	bool cached;
	char so[512];
	char reason[512];
	char log[AOT_LOG_MAX + 1];
	uint64_t ms;
};

static void on_done(void *ctx, const struct aot_result *res)
{
	struct rec *r = ctx;

	r->calls++;
	r->status = res->status;
	r->cached = res->cached;
	r->ms = res->elapsed_ms;
	snprintf(r->so, sizeof(r->so), "%s", res->so_path ? res->so_path : "");
	snprintf(r->reason, sizeof(r->reason), "%s", res->reason);
	snprintf(r->log, sizeof(r->log), "%s", res->log);
	if (--r->fx->outstanding == 0)
		evloop_stop(r->fx->loop);
}

static void on_guard(struct evloop *loop, void *ctx)
{
	struct fx *fx = ctx;

	fx->timed_out = true;
	evloop_stop(loop);
}

/* Runs the loop until every expected callback came, or 60 s. */
static void run(struct fx *fx)
{
	struct evloop_timer *t = evloop_timer_add(fx->loop, 60000, on_guard, fx);

	assert_non_null(t);
	assert_int_equal(evloop_run(fx->loop), 0);
	if (!fx->timed_out)
		evloop_timer_cancel(fx->loop, t);
	assert_false(fx->timed_out);
	assert_int_equal(fx->outstanding, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void base_config(struct fx *fx, struct aot_config *cfg)
{
	*cfg = (struct aot_config){
	        .cache_dir = fx->cache,
	        .runtime_dir = SOURCE_DIR "/src/abi",
	        .wasm_rt_dir = WASM_RT_DIR,
	};
}

static int fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct aot_config cfg;
	char err[AOT_ERR_LEN];

	if (!fx)
		return -1;
	*state = fx;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_aot.XXXXXX");
	/* 0755: the sandbox user runs the test's scripts from here. */
	if (!mkdtemp(fx->dir) || chmod(fx->dir, 0755) < 0)
		return -1;
	snprintf(fx->cache, sizeof(fx->cache), "%s/cache", fx->dir);
	if (evloop_new(&fx->loop) < 0)
		return -1;
	base_config(fx, &cfg);
	if (aot_new(fx->loop, &cfg, &fx->aot, err, sizeof(err)) < 0) {
		fprintf(stderr, "aot_new: %s\n", err);
		return -1;
	}
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (!fx)
		return 0;
	aot_free(fx->aot);
	evloop_free(fx->loop);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Replaces the fixture's compiler with one made from cfg. */
static void fx_reconfigure(struct fx *fx, const struct aot_config *cfg)
{
	char err[AOT_ERR_LEN];

	fx->aot = aot_free(fx->aot);
	if (aot_new(fx->loop, cfg, &fx->aot, err, sizeof(err)) < 0)
		fail_msg("aot_new: %s", err);
}

/* Loads a test module, checks it and hashes it. */
static void module(const char *name, char *path, size_t len, struct wasm_check_result *chk,
                   uint8_t sha[32])
{
	const struct wasm_check_limits lim = {.max_memory_pages = 16};
	char err[WASM_CHECK_ERR_LEN];
	uint8_t *buf;
	FILE *f;
	long n;

	snprintf(path, len, "%s/%s.wasm", TEST_WASM_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	crypto_hash_sha256(sha, buf, (unsigned long long)n);
	if (chk && wasm_check(buf, (size_t)n, &lim, chk, err, sizeof(err)) < 0)
		fail_msg("%s: %s", name, err);
	free(buf);
}

static void compile(struct fx *fx, const char *path, const uint8_t sha[32],
                    const struct wasm_check_result *chk, struct rec *rec, struct aot_req **req)
{
	char err[AOT_ERR_LEN];

	rec->fx = fx;
	if (aot_compile(fx->aot, path, sha, chk, on_done, rec, req, err, sizeof(err)) < 0)
		fail_msg("aot_compile: %s", err);
	fx->outstanding++;
}

/* Returns whether the cache directory holds anything but <hex>.so files and
 * the lock files (.lock, .lock-<hex>). */
static bool cache_has_leftovers(const struct fx *fx)
{
	DIR *d = opendir(fx->cache);
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 &&
		    strcmp(e->d_name, "..") != 0 && strncmp(e->d_name, ".lock", 5) != 0)
			found = true;
	closedir(d);
	return found;
}

static const struct ns_glue *load(const char *so, void **handle)
{
	const struct ns_glue *g;

	*handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	if (!*handle)
		fail_msg("dlopen: %s", dlerror());
	g = dlsym(*handle, NS_GLUE_SYMBOL);
	assert_non_null(g);
	assert_int_equal(g->abi, NS_GLUE_ABI);
	assert_true(g->instance_size > 0);
	return g;
}

/* ---- tests ---- */

/* Compile a packet module, find it in the cache, load it and run packets. */
static void test_compile_and_run(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct aot_stats st;
	struct rec rec = {0};
	struct stat sb;
	char path[512];
	uint8_t sha[32];
	void *h;

	module("ok_packet", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	assert_int_equal(rec.calls, 0); /* never from within aot_compile() */
	run(fx);
	if (rec.status != 0)
		fail_msg("compile failed: %s\n%s", rec.reason, rec.log);
	assert_false(rec.cached);
	assert_string_equal(rec.reason, "");
	print_message("# compiled ok_packet.wasm in %llu ms\n", (unsigned long long)rec.ms);

	char want[512];
	assert_int_equal(aot_so_path(fx->aot, sha, want, sizeof(want)), 0);
	assert_string_equal(rec.so, want);
	assert_int_equal(stat(rec.so, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0644);
	assert_int_equal(sb.st_uid, geteuid()); /* not the sandbox user's */
	assert_false(cache_has_leftovers(fx));
	aot_get_stats(fx->aot, &st);
	assert_int_equal(st.compiles, 1);
	assert_int_equal(st.compiled, 1);
	assert_int_equal(st.running + st.queued, 0);

	const struct ns_glue *g = load(rec.so, &h);
	assert_non_null(g->abi_version);
	assert_non_null(g->init);
	assert_null(g->fini); /* ok_packet has no ns_fini */
	assert_non_null(g->packet_buffer);
	assert_non_null(g->packet);
	assert_non_null(g->timer);

	struct Z_netserv_instance_t host = {0};
	void *inst = calloc(1, g->instance_size);
	assert_non_null(inst);
	g->init_module();
	if (wasm_rt_impl_try() != 0)
		fail_msg("trap");
	g->instantiate(inst, &host);
	host.mem = g->memory(inst);
	assert_non_null(host.mem);
	assert_int_equal(host.mem->pages, 2);
	assert_int_equal(g->abi_version(inst), 1); /* an ABI-1 module: still loaded */
	assert_int_equal(g->init(inst), 0);

	uint32_t buf = g->packet_buffer(inst);
	assert_int_equal(buf, 1024);
	host.mem->data[buf] = 0x45; /* IPv4: dropped, logged */
	assert_int_equal(g->packet(inst, 20), NS_DROP);
	assert_int_equal(host.logs, 1);
	assert_string_equal(host.last_log, "dropped");
	host.mem->data[buf] = 0x60; /* IPv6: accepted */
	assert_int_equal(g->packet(inst, 40), NS_ACCEPT);
	assert_int_equal(host.logs, 1);
	assert_int_equal(host.counter7, 60);
	g->timer(inst, 1);
	g->free_instance(inst);
	free(inst);
	dlclose(h);
}

/* A module without imports: instantiate takes no host context in wasm2c's
 * API (NS_HAS_IMPORTS unset); its start function runs at instantiation. */
static void test_no_imports(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct rec rec = {0};
	char path[512];
	uint8_t sha[32];
	void *h;

	module("ok_noimport", path, sizeof(path), &chk, sha);
	assert_int_equal(chk.n_imports, 0);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	if (rec.status != 0)
		fail_msg("compile failed: %s\n%s", rec.reason, rec.log);

	const struct ns_glue *g = load(rec.so, &h);
	assert_null(g->packet);
	assert_null(g->init);
	void *inst = calloc(1, g->instance_size);
	assert_non_null(inst);
	g->init_module();
	if (wasm_rt_impl_try() != 0)
		fail_msg("trap");
	g->instantiate(inst, NULL);
	assert_int_equal(g->abi_version(inst), 42); /* written by the start function */
	g->free_instance(inst);
	free(inst);
	dlclose(h);
}

/* The second request for a hash compiles nothing. */
static void test_cache_hit(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct rec a = {0}, b = {0};
	struct aot_stats st;
	char path[512];
	uint8_t sha[32];

	module("ok_min", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &a, NULL);
	run(fx);
	assert_int_equal(a.status, 0);
	assert_false(a.cached);

	compile(fx, path, sha, &chk, &b, NULL);
	assert_int_equal(b.calls, 0); /* answered from the loop, not inline */
	run(fx);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, 0);
	assert_true(b.cached);
	assert_string_equal(b.so, a.so);
	aot_get_stats(fx->aot, &st);
	assert_int_equal(st.compiles, 1);
	assert_int_equal(st.cache_hits, 1);

	/* Evicted, it compiles again. */
	assert_int_equal(aot_evict(fx->aot, sha), 0);
	assert_int_equal(aot_evict(fx->aot, sha), -ENOENT);
	struct rec d = {0};
	compile(fx, path, sha, &chk, &d, NULL);
	run(fx);
	assert_int_equal(d.status, 0);
	assert_false(d.cached);
	aot_get_stats(fx->aot, &st);
	assert_int_equal(st.compiles, 2);

	/* A cancelled cache answer is never delivered. */
	struct rec c = {0};
	struct aot_req *req;
	compile(fx, path, sha, &chk, &c, &req);
	assert_null(aot_cancel(fx->aot, req));
	fx->outstanding--;
	evloop_timer_add(fx->loop, 50, on_guard, fx);
	evloop_run(fx->loop);
	fx->timed_out = false;
	assert_int_equal(c.calls, 0);
}

/* Requests for a hash being compiled join that compile; a cancelled one is
 * never answered; max_jobs queues the rest. */
static void test_shared_queue_cancel(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct rec r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
	struct aot_req *req2;
	struct aot_stats st;
	char path[512];
	uint8_t sha[32], sha2[32];

	module("ok_min", path, sizeof(path), &chk, sha);
	memcpy(sha2, sha, sizeof(sha2));
	sha2[0] ^= 0xff; /* the compiler trusts the caller's hash */

	compile(fx, path, sha, &chk, &r1, NULL);
	compile(fx, path, sha, &chk, &r2, &req2);
	compile(fx, path, sha, &chk, &r3, NULL);
	compile(fx, path, sha2, &chk, &r4, NULL);
	aot_get_stats(fx->aot, &st);
	assert_int_equal(st.running, 1);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.shared, 2);
	assert_null(aot_cancel(fx->aot, req2));
	fx->outstanding--;
	run(fx);
	assert_int_equal(r1.calls, 1);
	assert_int_equal(r2.calls, 0);
	assert_int_equal(r3.calls, 1);
	assert_int_equal(r4.calls, 1);
	assert_int_equal(r1.status, 0);
	assert_int_equal(r3.status, 0);
	assert_int_equal(r4.status, 0);
	assert_string_equal(r1.so, r3.so);
	assert_string_not_equal(r1.so, r4.so);
	aot_get_stats(fx->aot, &st);
	assert_int_equal(st.compiles, 2);
	assert_int_equal(st.compiled, 2);
	assert_int_equal(st.running + st.queued, 0);
}

/* Two compilers sharing one cache (two nodes on one machine) compile a
 * module once: the second helper waits for the module's lock and finds the
 * .so. Stale work files are kept while another compiler uses the cache. */
static void test_peer_cache(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct rec r1 = {0}, r2 = {0};
	struct aot_stats s1, s2;
	struct aot_config cfg;
	struct aot *other = NULL;
	char path[512], p[256], err[AOT_ERR_LEN];
	uint8_t sha[32];
	FILE *f;

	base_config(fx, &cfg);
	assert_int_equal(aot_new(fx->loop, &cfg, &other, err, sizeof(err)), 0);
	module("ok_min", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &r1, NULL);
	r2.fx = fx;
	assert_int_equal(aot_compile(other, path, sha, &chk, on_done, &r2, NULL, err, sizeof(err)),
	                 0);
	fx->outstanding++;
	run(fx);
	assert_int_equal(r1.status, 0);
	assert_int_equal(r2.status, 0);
	assert_string_equal(r1.so, r2.so);
	aot_get_stats(fx->aot, &s1);
	aot_get_stats(other, &s2);
	assert_int_equal(s1.compiles + s2.compiles, 2); /* two helpers ran */
	assert_int_equal(s1.compiled + s2.compiled, 1); /* one compiled */
	assert_int_equal(s1.peer + s2.peer, 1);         /* the other found it */
	assert_int_equal(access(r1.so, R_OK), 0);

	/* A new compiler sharing the cache leaves another's work files alone. */
	snprintf(p, sizeof(p), "%s/.work-0123-abcdef", fx->cache);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/.tmp-0123-abcdef", fx->cache);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	fx_reconfigure(fx, &cfg);
	assert_true(cache_has_leftovers(fx));
	/* Alone, it removes them (and the modules' lock files). */
	other = aot_free(other);
	fx_reconfigure(fx, &cfg);
	assert_false(cache_has_leftovers(fx));
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", sha[i]);
	snprintf(p, sizeof(p), "%s/.lock-%s", fx->cache, hex);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(access(r1.so, R_OK), 0);
}

/* Two builds of one module (-O0 and the default -O2) have the same state
 * layout; the second takes over the first's running state (glue's
 * transfer: globals, memory contents and size), as a hot swap does. */
static void test_state_transfer(void **state)
{
	static const char *const o0_flags[] = {"-ffunction-sections", "-Wl,--gc-sections", NULL};
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct rec quick = {0}, full = {0};
	struct aot_config cfg;
	struct aot *aot0 = NULL;
	char path[512], cache0[256], err[AOT_ERR_LEN];
	uint8_t sha[32];
	void *h0, *h2;

	base_config(fx, &cfg);
	snprintf(cache0, sizeof(cache0), "%s/cache-O0", fx->dir);
	cfg.cache_dir = cache0;
	cfg.optimize = "-O0";
	cfg.cflags = o0_flags;
	assert_int_equal(aot_new(fx->loop, &cfg, &aot0, err, sizeof(err)), 0);
	module("ok_state", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &full, NULL);
	quick.fx = fx;
	assert_int_equal(
	        aot_compile(aot0, path, sha, &chk, on_done, &quick, NULL, err, sizeof(err)), 0);
	fx->outstanding++;
	run(fx);
	if (quick.status != 0 || full.status != 0)
		fail_msg("compile failed: %s %s\n%s%s", quick.reason, full.reason, quick.log,
		         full.log);
	const struct ns_glue *g0 = load(quick.so, &h0), *g2 = load(full.so, &h2);
	assert_ptr_not_equal(g0, g2);
	assert_non_null(g0->transfer);
	assert_non_null(g2->transfer);
	assert_true(g0->state_layout != 0);
	assert_true(g0->state_layout == g2->state_layout);
	assert_int_equal(g0->instance_size, g2->instance_size);

	g0->init_module();
	g2->init_module();
	void *a = calloc(1, g0->instance_size), *b = calloc(1, g2->instance_size);
	void *c = calloc(1, g2->instance_size);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	if (wasm_rt_impl_try() != 0)
		fail_msg("trap");
	g0->instantiate(a, NULL);
	assert_int_equal(g0->packet(a, 20), 1 + 2 + 2);
	assert_int_equal(g0->packet(a, 20), 2 + 4 + 3); /* grew to 3 pages */
	g2->instantiate(b, NULL);
	assert_int_equal(g2->transfer(b, a), 0);
	wasm_rt_memory_t *mb = g2->memory(b);
	assert_int_equal(mb->pages, 3);
	assert_int_equal(g2->packet(b, 20), 3 + 6 + 3); /* the state went on */
	g2->instantiate(c, NULL);
	assert_int_equal(g2->packet(c, 20), 1 + 2 + 2); /* a fresh one starts over */
	g0->free_instance(a);
	g2->free_instance(b);
	g2->free_instance(c);
	free(a);
	free(b);
	free(c);
	dlclose(h0);
	dlclose(h2);
	aot_free(aot0);
}

/* glue.c's prototypes catch an import of the wrong signature at build time
 * (the validator refuses such a module first; here it is bypassed). */
static void test_cc_error(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk = {
	        .exports = WASM_BIT(WASM_EXPORT_ns_abi_version),
	        .n_imports = 1,
	};
	struct rec rec = {0};
	struct stat sb;
	char path[512], so[512];
	uint8_t sha[32];

	module("nocheck_log_sig", path, sizeof(path), NULL, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	assert_int_equal(rec.status, -EINVAL);
	if (!strstr(rec.reason, "C compiler failed (exit status 1): ") ||
	    !strstr(rec.reason, "conflicting types for 'Z_netservZ_ns_log'"))
		fail_msg("reason: %s", rec.reason);
	assert_non_null(strstr(rec.log, "glue.c"));
	assert_null(strchr(rec.reason, '\n'));
	assert_string_equal(rec.so, "");
	aot_so_path(fx->aot, sha, so, sizeof(so));
	assert_int_equal(stat(so, &sb), -1);
	assert_false(cache_has_leftovers(fx));
}

/* wasm2c's own validation of code bodies. */
static void test_wasm2c_error(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct rec rec = {0};
	char path[512];
	uint8_t sha[32];

	module("nocheck_bad_body", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	assert_int_equal(rec.status, -EINVAL);
	if (!strstr(rec.reason, "wasm2c failed (exit status 1): ") ||
	    !strstr(rec.reason, "type mismatch"))
		fail_msg("reason: %s", rec.reason);
	assert_false(cache_has_leftovers(fx));
}

static void write_script(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static bool pid_gone(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		char p[64], buf[256];
		FILE *f;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		/* A zombie waiting for a reaper is dead too. */
		snprintf(p, sizeof(p), "/proc/%d/stat", (int)pid);
		f = fopen(p, "r");
		if (f) {
			bool zombie = fgets(buf, sizeof(buf), f) && strstr(buf, ") Z ");
			fclose(f);
			if (zombie)
				return true;
		}
		usleep(10000);
	}
	return false;
}

/* A tool over the time limit is killed with its whole process group. */
static void test_timeout(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct aot_config cfg;
	struct aot_stats st;
	struct rec rec = {0};
	char path[512], script[256];
	uint8_t sha[32];
	int pid = 0;

	snprintf(script, sizeof(script), "%s/slow-wasm2c", fx->dir);
	write_script(script, "#!/bin/sh\nsleep 30 &\necho sleeper $!\nwait\n");
	base_config(fx, &cfg);
	cfg.wasm2c = script;
	cfg.time_limit_ms = 500;
	fx_reconfigure(fx, &cfg);

	module("ok_min", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	assert_int_equal(rec.status, -ETIMEDOUT);
	if (!strstr(rec.reason, "compile time limit of 500 ms reached (in wasm2c)"))
		fail_msg("reason: %s", rec.reason);
	assert_true(rec.ms >= 500 && rec.ms < 5000);
	assert_int_equal(sscanf(rec.log, "sleeper %d", &pid), 1);
	assert_true(pid_gone(pid)); /* the tool's background child went too */
	aot_get_stats(fx->aot, &st);
	assert_int_equal(st.timeouts, 1);
	assert_false(cache_has_leftovers(fx));
}

static void test_missing_tool(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct aot_config cfg;
	struct rec rec = {0};
	char path[512];
	uint8_t sha[32];

	base_config(fx, &cfg);
	cfg.wasm2c = "/nonexistent/wasm2c";
	fx_reconfigure(fx, &cfg);
	module("ok_min", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	assert_int_equal(rec.status, -ENOENT);
	if (!strstr(rec.reason, "wasm2c could not be run: cannot execute "
	                        "/nonexistent/wasm2c"))
		fail_msg("reason: %s", rec.reason);
}

/* The sandbox as a tool sees it: a wasm2c wrapper reports, then compiles. */
static void test_sandbox(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct aot_config cfg;
	struct rec rec = {0};
	char path[512], script[256], want[128];
	uint8_t sha[32];

	snprintf(script, sizeof(script), "%s/report-wasm2c", fx->dir);
	write_script(
	        script,
	        "#!/bin/sh\n"
	        "echo \"uid=$(id -u) gid=$(id -g) groups=$(id -G)\"\n"
	        "echo \"nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)\"\n"
	        "echo \"cpu=$(ulimit -t) core=$(ulimit -c) nofile=$(ulimit -n) as=$(ulimit -v)\"\n"
	        "echo \"pgrp=$(cut -d' ' -f5 /proc/$$/stat) pid=$$\"\n"
	        "echo \"cwd=$(pwd) tmp=$TMPDIR path=$PATH home=${HOME-unset}\"\n"
	        "exec wasm2c \"$@\"\n");
	base_config(fx, &cfg);
	cfg.wasm2c = script;
	cfg.cpu_limit_s = 33;
	fx_reconfigure(fx, &cfg);
	module("ok_min", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	if (rec.status != 0)
		fail_msg("compile failed: %s\n%s", rec.reason, rec.log);
	print_message("# tool view: %s", rec.log);
	assert_non_null(strstr(rec.log, "nnp=1\n"));
	assert_non_null(strstr(rec.log, "cpu=33 core=0 nofile=64 as=2097152\n"));
	assert_non_null(strstr(rec.log, "tmp=. path=/usr/local/bin:/usr/bin:/bin home=unset\n"));
	assert_non_null(strstr(rec.log, "/.work-"));
	int pgrp = 0, pid = -1;
	const char *p = strstr(rec.log, "pgrp=");
	assert_non_null(p);
	assert_int_equal(sscanf(p, "pgrp=%d pid=%d", &pgrp, &pid), 2);
	assert_int_equal(pgrp, pid); /* a process group of its own */
	if (geteuid() == 0) {
		snprintf(want, sizeof(want), "uid=65534 gid=65534 groups=65534\n");
		if (!strstr(rec.log, want))
			fail_msg("not the sandbox user: %s", rec.log);
	}
}

/* cc1 over RLIMIT_AS fails the compile with a hint in the reason. */
static void test_mem_limit(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct aot_config cfg;
	struct rec rec = {0};
	char path[512];
	uint8_t sha[32];

	base_config(fx, &cfg);
	cfg.mem_limit = 16 << 20; /* wasm2c fits (8 MiB is enough), cc1 does not */
	fx_reconfigure(fx, &cfg);
	module("ok_min", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	assert_int_equal(rec.status, -EINVAL);
	if (!strstr(rec.reason, "C compiler failed") ||
	    !strstr(rec.reason, "perhaps over the compile memory limit of 16 MiB"))
		fail_msg("reason: %s", rec.reason);
	assert_false(cache_has_leftovers(fx));
}

static void test_new_errors(void **state)
{
	struct fx *fx = *state;
	struct aot_config cfg;
	struct aot *a = NULL;
	char err[AOT_ERR_LEN];

	base_config(fx, &cfg);
	cfg.runtime_dir = fx->dir;
	assert_int_equal(aot_new(fx->loop, &cfg, &a, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "glue.c"));
	base_config(fx, &cfg);
	cfg.cache_dir = NULL;
	assert_int_equal(aot_new(fx->loop, &cfg, &a, err, sizeof(err)), -EINVAL);
	if (geteuid() == 0) {
		base_config(fx, &cfg);
		cfg.user = "no-such-user-for-netserv";
		assert_int_equal(aot_new(fx->loop, &cfg, &a, err, sizeof(err)), -ENOENT);
		cfg.user = "root";
		assert_int_equal(aot_new(fx->loop, &cfg, &a, err, sizeof(err)), -EPERM);
	}
	assert_null(a);
}

static void copy_file(const char *from_dir, const char *name, const char *to_dir)
{
	char from[512], to[512], buf[8192];
	size_t n;
	FILE *in, *out;

	snprintf(from, sizeof(from), "%s/%s", from_dir, name);
	snprintf(to, sizeof(to), "%s/%s", to_dir, name);
	in = fopen(from, "rb");
	assert_non_null(in);
	out = fopen(to, "wb");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(to, 0600), 0);
}

/* The runtime sources, the wasm2c headers and the cache all under a 0700
 * directory of root's (as a checkout in root's home): the tools run as the
 * sandbox user, who cannot read any of them, and the compile still works. */
static void test_private_dirs(void **state)
{
	struct fx *fx = *state;
	struct wasm_check_result chk;
	struct aot_config cfg;
	struct rec rec = {0};
	char priv[160], rt[192], wrt[192], cache[192], path[512];
	uint8_t sha[32];

	if (geteuid() != 0)
		skip(); /* no sandbox user without root */
	snprintf(priv, sizeof(priv), "%s/private", fx->dir);
	snprintf(rt, sizeof(rt), "%s/rt", priv);
	snprintf(wrt, sizeof(wrt), "%s/wrt", priv);
	snprintf(cache, sizeof(cache), "%s/cache", priv);
	assert_int_equal(mkdir(priv, 0700), 0);
	assert_int_equal(mkdir(rt, 0700), 0);
	assert_int_equal(mkdir(wrt, 0700), 0);
	copy_file(SOURCE_DIR "/src/abi", "glue.c", rt);
	copy_file(SOURCE_DIR "/src/abi", "glue.h", rt);
	copy_file(SOURCE_DIR "/src/abi", "host_api.h", rt);
	copy_file(WASM_RT_DIR, "wasm-rt.h", wrt);

	base_config(fx, &cfg);
	cfg.cache_dir = cache;
	cfg.runtime_dir = rt;
	cfg.wasm_rt_dir = wrt;
	fx_reconfigure(fx, &cfg);
	module("ok_packet", path, sizeof(path), &chk, sha);
	compile(fx, path, sha, &chk, &rec, NULL);
	run(fx);
	if (rec.status != 0)
		fail_msg("compile failed: %s\n%s", rec.reason, rec.log);
	assert_false(rec.cached);
}

/* What a killed daemon left in the cache is removed by the next aot_new(). */
static void test_stale_cleanup(void **state)
{
	struct fx *fx = *state;
	struct aot_config cfg;
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/.work-0123-abcdef", fx->cache);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/.work-0123-abcdef/mod.c", fx->cache);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/.tmp-0123-abcdef", fx->cache);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);
	/* objects compiled with older glue go; the current glue's stay */
	static const char hex[] =
	        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	const char *names[] = {".so", "-g1.so", NS_GLUE_SO_SUFFIX};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s%s", fx->cache, hex, names[i]);
		f = fopen(p, "w");
		assert_non_null(f);
		fclose(f);
	}
	assert_true(cache_has_leftovers(fx));
	base_config(fx, &cfg);
	fx_reconfigure(fx, &cfg);
	assert_false(cache_has_leftovers(fx));
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s%s", fx->cache, hex, names[i]);
		assert_int_equal(access(p, F_OK) == 0, i == 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_compile_and_run, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_no_imports, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_cache_hit, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_shared_queue_cancel, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_peer_cache, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_state_transfer, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_cc_error, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_wasm2c_error, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_timeout, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_missing_tool, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_sandbox, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_mem_limit, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_new_errors, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_stale_cleanup, fx_setup, fx_teardown),
	        cmocka_unit_test_setup_teardown(test_private_dirs, fx_setup, fx_teardown),
	};

	if (sodium_init() < 0)
		return 1;
	wasm_rt_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
