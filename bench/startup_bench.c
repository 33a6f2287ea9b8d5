/* bench_startup: start-up times (issue #18 item 3), each against a native
 * reference measured in the same invocation; medians and p90 over
 * repetitions, the variants of a table interleaved rep by rep. See
 * bench/README.md ("startup") for what each row means; bench/startup builds
 * and runs this.
 *
 *  1. Container start: add a publisher to a supervisor (the code netservd
 *     uses) until its container answers a STATS request; a fresh container
 *     (fork+exec, or forked by the zygote) against a spare from the pool.
 *     Reference: fork+exec of /bin/true until it is reaped.
 *  2. Instantiation of a cached (already compiled) module in this process:
 *     modhost_install (dlopen, instantiate, ns_init), as a container does on
 *     INSTALL, and the same through a running container (supervisor_install
 *     until it answers). Reference: dlopen of the module's C compiled
 *     natively, with its ns_init (bench/native/counter.so).
 *  3. SETUP -> first packet on one node, in this process, with the node's
 *     code: hash and check the module, aot_compile (cache hit, or wasm2c +
 *     cc in the sandboxed helper), INSTALL in the publisher's running
 *     container, and one packet through it over the control socket until its
 *     verdict comes back. Not included: signaling, the download and the
 *     iptables rule (bench/signaling and bench/containers measure those).
 *     Reference: the native load of 2. plus one packet.
 *  4. The compile of one module for a path of 5 nodes on one machine: five
 *     compilers (struct aot, one per node) asked at once, each with its own
 *     cache, against the five sharing one cache (aot.h: the module's lock). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/glue.h"
#include "container/modhost_internal.h"
#include "lib/evloop.h"
#include "../tests/lib/loop_wait.h"
#include "lib/util.h"
#include "proto/cmsg.h"
#include "runtime/aot.h"
#include "runtime/supervisor.h"
#include "runtime/wasm_check.h"
#include "wasm-rt-impl.h"

#include "bench_tmpdir.h"
#define BENCH_NAME "bench_startup"
#include "bench_util.h"
#include "native_host.h"

#ifndef BUILD_DIR
#error "BUILD_DIR must name the build directory"
#endif
#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the source directory"
#endif

#define MAX_REPS  101
#define NODES     5
#define WASM_PATH BUILD_DIR "/modules/counter.wasm"
#define NATIVE_SO BUILD_DIR "/bench/native/counter.so"

static struct evloop *g_loop;
static char g_tmpdir[] = "/tmp/netserv-startup.XXXXXX";

static void on_deadline(struct evloop *loop, void *ctx)
{
	*(bool *)ctx = true;
	evloop_stop(loop);
}

/* Runs the loop until *flag is set (its callback stops the loop: no polling
 * delay in the figures) or ms pass; returns *flag. */
static bool run_until(const bool *flag, unsigned ms)
{
	bool expired = false;
	struct evloop_timer *t = evloop_timer_add(g_loop, ms, on_deadline, &expired);
	if (!t)
		die("evloop_timer_add", "out of memory");
	while (!*flag && !expired)
		evloop_run(g_loop);
	if (!expired)
		evloop_timer_cancel(g_loop, t);
	return *flag;
}

/* ---- samples ----------------------------------------------------------------- */

struct row {
	const char *label;
	bool baseline; /* the reference row of its table */
	unsigned n;
	double us[MAX_REPS]; /* one sample per rep, microseconds */
};

static void sample(struct row *r, uint64_t t0)
{
	if (r->n < MAX_REPS)
		r->us[r->n++] = (double)(now_ns() - t0) / 1000.0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(struct row *r)
{
	qsort(r->us, r->n, sizeof(r->us[0]), cmp_double);
	return r->n % 2 ? r->us[r->n / 2] : (r->us[r->n / 2 - 1] + r->us[r->n / 2]) / 2;
}

static double p90(struct row *r)
{
	qsort(r->us, r->n, sizeof(r->us[0]), cmp_double);
	unsigned i = (unsigned)((r->n * 9 + 9) / 10); /* ceil(0.9 n) */
	return r->us[i ? i - 1 : 0];
}

/* Prints a table: one line per row, "median p90 xRATIO" in `unit`, the ratio
 * of medians to the baseline row. The samples are in us ("ms": printed as
 * ms), or in ns for unit "ns" (the per-packet table). */
static void print_table(const char *title, struct row *rows, size_t n, const char *unit)
{
	bool ms = strcmp(unit, "ms") == 0;
	double base = 0, div = ms ? 1000.0 : 1.0;
	for (size_t i = 0; i < n; i++)
		if (rows[i].baseline)
			base = median(&rows[i]);
	printf("\n%s (%s, %u reps: median, p90, x median of the reference)\n", title, unit,
	       rows[0].n);
	for (size_t i = 0; i < n; i++) {
		double m = median(&rows[i]);
		printf("  %-52s %10.*f %10.*f   x%.2f\n", rows[i].label, ms ? 2 : 1, m / div,
		       ms ? 2 : 1, p90(&rows[i]) / div, base > 0 ? m / base : 0.0);
	}
	fflush(stdout);
}

/* ---- replies ----------------------------------------------------------------- */

struct reply {
	bool done;
	int status;
	uint32_t verdict;
	char error[256];
};

static void on_reply(void *ctx, int status, json_t *reply, const uint8_t *raw, size_t raw_len)
{
	struct reply *r = ctx;
	r->done = true;
	r->status = status;
	if (raw && raw_len >= sizeof(struct cmsg_packet))
		r->verdict = ((const struct cmsg_packet *)raw)->verdict;
	const char *e = reply ? json_string_value(json_object_get(reply, "error")) : NULL;
	snprintf(r->error, sizeof(r->error), "%s", e ? e : "");
	evloop_stop(g_loop);
}

static void wait_reply(struct reply *r, const char *what)
{
	if (!run_until(&r->done, 30000))
		die(what, "no answer within 30 s");
	if (r->status < 0)
		die(what, r->error[0] ? r->error : strerror(-r->status));
}

static void on_sup_event(void *ctx, const char *user, const char *module, enum runtime_event ev,
                         const char *reason)
{
	(void)ctx;
	fprintf(stderr, "bench_startup: container %s: %s %s%s%s\n", user,
	        module ? module : "(container)", runtime_event_name(ev), reason ? ": " : "",
	        reason ? reason : "");
}

static struct supervisor *sup_new(bool exec_each, uint32_t pool)
{
	char err[256];
	struct sup_config cfg = {
	        .container_bin = BUILD_DIR "/netserv-container",
	        .cgroup_prefix = "netserv-bench",
	        .heartbeat_ms = 1000,
	        .pool_size = pool,
	        .exec_each = exec_each,
	};
	struct supervisor *s = NULL;
	if (supervisor_new(g_loop, &cfg, on_sup_event, NULL, &s, err, sizeof(err)) < 0)
		die("supervisor_new", err);
	return s;
}

static void add_publisher(struct supervisor *s, const char *user)
{
	char err[256];
	struct sup_publisher p;
	memset(&p, 0, sizeof(p));
	proto_assign_defaults(&p.ct); /* no NFQUEUE: packets come over the socket */
	snprintf(p.ct.user, sizeof(p.ct.user), "%s", user);
	p.ct.nice = 0;
	if (supervisor_add_publisher(s, &p, err, sizeof(err)) < 0)
		die("supervisor_add_publisher", err);
}

/* The publisher's container answers (STATS waits for it to be ready). */
static void wait_ready(struct supervisor *s, const char *user)
{
	struct reply r = {0};
	if (supervisor_stats(s, user, on_reply, &r) < 0)
		die(user, "STATS refused");
	wait_reply(&r, "container start");
}

/* Whether the supervisor has an idle spare (supervisor_status). */
static bool spare_ready(void *ctx)
{
	json_t *st = supervisor_status(ctx), *c;
	size_t i;
	bool found = false;
	json_array_foreach(st, i, c)
	{
		const char *state = json_string_value(json_object_get(c, "state"));
		if (!json_is_string(json_object_get(c, "user")) && state &&
		    strcmp(state, "idle") == 0)
			found = true;
	}
	json_decref(st);
	return found;
}

/* ---- 1. container start -------------------------------------------------------- */

static void bench_containers(unsigned reps)
{
	struct row rows[] = {
	        {.label = "fork+exec /bin/true until reaped [reference]", .baseline = true},
	        {.label = "fresh container, fork+exec"},
	        {.label = "fresh container, forked by the zygote"},
	        {.label = "spare from the pool (zygote, pool_size 1)"},
	};
	struct supervisor *s_exec = sup_new(true, 0), *s_zyg = sup_new(false, 0),
	                  *s_pool = sup_new(false, 1);
	struct supervisor *sups[] = {s_exec, s_zyg, s_pool};
	for (unsigned k = 0; k < reps; k++) {
		uint64_t t0 = now_ns();
		pid_t pid = fork();
		if (pid < 0)
			die("fork", strerror(errno));
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			die("/bin/true", "did not exit 0");
		sample(&rows[0], t0);

		if (!loop_wait_until(g_loop, spare_ready, s_pool, 10000))
			die("pool", "no spare within 10 s");
		for (size_t v = 0; v < ARRAY_SIZE(sups); v++) {
			char user[32];
			snprintf(user, sizeof(user), "st%zu_%u", v, k);
			t0 = now_ns();
			add_publisher(sups[v], user);
			wait_ready(sups[v], user);
			sample(&rows[1 + v], t0);
			supervisor_remove_publisher(sups[v], user);
		}
	}
	for (size_t v = 0; v < ARRAY_SIZE(sups); v++)
		supervisor_free(sups[v]);
	print_table("container start: until it answers", rows, ARRAY_SIZE(rows), "ms");
}

/* ---- compiling ----------------------------------------------------------------- */

struct module {
	uint8_t *wasm;
	size_t len;
	uint8_t sha[32];
	struct wasm_check_result chk;
};

static void module_read(struct module *m)
{
	FILE *f = fopen(WASM_PATH, "rb");
	if (!f)
		die(WASM_PATH, strerror(errno));
	static uint8_t buf[1 << 20];
	m->len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	m->wasm = buf;
}

/* What the node does with a module it has downloaded: hash and check it. */
static void module_check(struct module *m)
{
	struct wasm_check_limits lim = {.max_memory_pages = 65536};
	char err[512];
	crypto_hash_sha256(m->sha, m->wasm, m->len);
	if (wasm_check(m->wasm, m->len, &lim, &m->chk, err, sizeof(err)) < 0)
		die(WASM_PATH, err);
}

struct compile {
	bool done;
	int status;
	bool cached, peer;
	char so[PATH_MAX];
	char reason[512];
};

static void on_compiled(void *ctx, const struct aot_result *res)
{
	struct compile *c = ctx;
	c->done = true;
	c->status = res->status;
	c->cached = res->cached;
	c->peer = res->peer;
	snprintf(c->so, sizeof(c->so), "%s", res->so_path ? res->so_path : "");
	snprintf(c->reason, sizeof(c->reason), "%s", res->reason ? res->reason : "");
	evloop_stop(g_loop);
}

static void compile_start(struct aot *aot, const struct module *m, struct compile *c)
{
	char err[AOT_ERR_LEN];
	memset(c, 0, sizeof(*c));
	if (aot_compile(aot, WASM_PATH, m->sha, &m->chk, on_compiled, c, NULL, err, sizeof(err)) <
	    0)
		die("aot_compile", err);
}

static void compile_wait(struct compile *c)
{
	if (!run_until(&c->done, 180000))
		die("AOT compile", "no result within 180 s");
	if (c->status < 0)
		die("AOT compile", c->reason);
}

/* -O0 leaves wasm2c's unused static helpers in, and with them references
 * to libm (ceil, sqrt...), which containers do not load: drop them. A module
 * that uses them would still need libm at -O0. */
static const char *const o0_flags[] = {"-ffunction-sections", "-Wl,--gc-sections", NULL};

static struct aot *aot_make(const char *cache, const char *optimize)
{
	struct aot_config cfg = {
	        .cache_dir = cache,
	        .runtime_dir = SOURCE_DIR "/src/abi",
	        .optimize = optimize,
	        .cflags = optimize && strcmp(optimize, "-O0") == 0 ? o0_flags : NULL,
	};
	struct aot *aot = NULL;
	char err[AOT_ERR_LEN];
	if (aot_new(g_loop, &cfg, &aot, err, sizeof(err)) < 0)
		die("aot_new", err);
	return aot;
}

/* ---- 2. and 3. instantiation, SETUP -> first packet ------------------------------- */

static uint32_t udp4_packet(uint8_t *out)
{
	static const uint8_t hdr[28] = {0x45, 0,    0,    64,   0, 1,  0x40, 0, 64, 17,
	                                0,    0,    10,   1,    0, 1,  192,  0, 2,  1,
	                                0x9c, 0x40, 0x1b, 0x58, 0, 44, 0,    0};
	memset(out, 0, 64);
	memcpy(out, hdr, sizeof(hdr));
	return 64;
}

/* One SETUP on a node whose container for `user` runs: check, compile (or
 * find in the cache), install, first packet. */
static void setup_first_packet(struct supervisor *s, const char *user, struct aot *aot,
                               struct module *m, struct row *row, bool want_cached)
{
	uint64_t t0 = now_ns();
	struct compile c;
	module_check(m);
	compile_start(aot, m, &c);
	compile_wait(&c);
	if (c.cached != want_cached)
		die("AOT compile", want_cached ? "not in the cache" : "unexpectedly cached");
	struct reply r = {0};
	if (supervisor_install(s, user, "counter", c.so, NULL, NULL, 0, 0, on_reply, &r) < 0)
		die("INSTALL", "refused");
	wait_reply(&r, "INSTALL");
	uint8_t pkt[128];
	uint32_t len = udp4_packet(pkt);
	struct ns_pkt_meta meta = {.hook = 2};
	struct reply p = {0};
	if (supervisor_packet(s, user, pkt, len, &meta, on_reply, &p) < 0)
		die("PACKET", "refused");
	wait_reply(&p, "PACKET");
	sample(row, t0);
	struct reply rm = {0};
	if (supervisor_remove(s, user, "counter", on_reply, &rm) < 0)
		die("REMOVE", "refused");
	wait_reply(&rm, "REMOVE");
}

/* A quick first build serves the first packet; the -O2 build replaces it
 * afterwards, with the instance's state (modhost_swap), in this process's
 * module host (what a node with [modules] quick_compile = yes does through
 * its container). */
static void tiered(struct modhost *h, struct aot *quick, struct aot *full, struct module *m,
                   struct row *first, struct row *swapped)
{
	char err[256];
	struct compile c0, c2;
	uint8_t pkt[NS_PACKET_MAX];
	struct ns_pkt_meta meta = {.hook = 2};
	aot_evict(quick, m->sha);
	aot_evict(full, m->sha);
	uint64_t t0 = now_ns();
	module_check(m);
	compile_start(quick, m, &c0);
	compile_wait(&c0);
	if (modhost_install(h, "tiered", c0.so, -1, NULL, NULL, 0, err, sizeof(err)) < 0)
		die("modhost_install", err);
	uint32_t len = udp4_packet(pkt);
	modhost_packet(h, pkt, &len, sizeof(pkt), &meta);
	sample(first, t0);
	compile_start(full, m, &c2);
	compile_wait(&c2);
	if (modhost_swap(h, "tiered", c2.so, -1, err, sizeof(err)) < 0)
		die("modhost_swap", err);
	sample(swapped, t0);
	len = udp4_packet(pkt);
	modhost_packet(h, pkt, &len, sizeof(pkt), &meta);
	modhost_remove(h, "tiered");
}

#define PER_PACKET_N 20000

/* One sample of `row`: the mean time of PER_PACKET_N packets (64-byte UDP,
 * one flow) through the module host with only `so` installed, in
 * nanoseconds (the table prints "us" of the row: here ns). */
static void per_packet(struct modhost *h, const char *so, struct row *row)
{
	char err[256];
	uint8_t pkt[NS_PACKET_MAX];
	struct ns_pkt_meta meta = {.hook = 2};
	if (modhost_install(h, "perpkt", so, -1, NULL, NULL, 0, err, sizeof(err)) < 0)
		die("modhost_install", err);
	for (int i = 0; i < 1000; i++) { /* warm up */
		uint32_t len = udp4_packet(pkt);
		modhost_packet(h, pkt, &len, sizeof(pkt), &meta);
	}
	uint64_t t0 = now_ns();
	for (int i = 0; i < PER_PACKET_N; i++) {
		uint32_t len = 64;
		modhost_packet(h, pkt, &len, sizeof(pkt), &meta);
	}
	if (row->n < MAX_REPS)
		row->us[row->n++] = (double)(now_ns() - t0) / PER_PACKET_N;
	modhost_remove(h, "perpkt");
}

static void bench_modules(unsigned reps, unsigned slow_reps)
{
	char cache[PATH_MAX], cache_o0[PATH_MAX], cache_o1[PATH_MAX], err[256];
	struct module m;
	module_read(&m);
	module_check(&m);
	snprintf(cache, sizeof(cache), "%s/so", g_tmpdir);
	snprintf(cache_o0, sizeof(cache_o0), "%s/so-O0", g_tmpdir);
	snprintf(cache_o1, sizeof(cache_o1), "%s/so-O1", g_tmpdir);
	struct aot *aot = aot_make(cache, NULL), *aot_o0 = aot_make(cache_o0, "-O0"),
	           *aot_o1 = aot_make(cache_o1, "-O1");
	struct compile c;
	compile_start(aot, &m, &c);
	compile_wait(&c);
	char so[PATH_MAX];
	snprintf(so, sizeof(so), "%s", c.so);

	/* 2. instantiation of the cached module */
	struct row inst[] = {
	        {.label = "native dlopen + ns_init [reference]", .baseline = true},
	        {.label = "new instance of the loaded module (wasm2c instantiate)"},
	        {.label = "modhost_install: dlopen, instantiate, ns_init"},
	        {.label = "INSTALL in a running container, answered"},
	};
	struct modhost_limits lim = {.budget_ms = 100,
	                             .mem_max_pages = 256,
	                             .trap_limit = 5,
	                             .trap_window_s = 60,
	                             .log_per_s = 20};
	struct modhost *h = NULL;
	if (modhost_new(g_loop, &lim, NULL, NULL, NULL, &h, err, sizeof(err)) < 0)
		die("modhost_new", err);
	struct supervisor *s = sup_new(false, 0);
	add_publisher(s, "stnode");
	wait_ready(s, "stnode");
	for (unsigned k = 0; k < reps; k++) {
		struct native_mod *nm = NULL;
		uint64_t t0 = now_ns();
		if (native_mod_load(NATIVE_SO, &nm, err, sizeof(err)) < 0)
			die(NATIVE_SO, err);
		sample(&inst[0], t0);
		native_mod_free(nm);

		t0 = now_ns();
		if (modhost_install(h, "counter", so, -1, NULL, NULL, 0, err, sizeof(err)) < 0)
			die("modhost_install", err);
		sample(&inst[2], t0);
		/* What the module host does to rebuild an instance after a trap,
		 * without ns_init: the instance, its memory (the guard
		 * reservation), data segments and table. */
		struct mod *mod = h->mods;
		t0 = now_ns();
		void *in = calloc(1, mod->g->instance_size);
		if (!in)
			die("calloc", "out of memory");
		mod->g->instantiate(in, &mod->ctx);
		sample(&inst[1], t0);
		wasm_rt_memory_t *mem = mod->g->memory(in);
		void *data = mem->data;
		mod->g->free_instance(in);
		munmap(data, 0x200000000ul); /* modhost.c: WASM_RESERVATION */
		free(in);
		modhost_remove(h, "counter");

		struct reply r = {0};
		t0 = now_ns();
		if (supervisor_install(s, "stnode", "counter", so, NULL, NULL, 0, 0, on_reply, &r) <
		    0)
			die("INSTALL", "refused");
		wait_reply(&r, "INSTALL");
		sample(&inst[3], t0);
		struct reply rm = {0};
		if (supervisor_remove(s, "stnode", "counter", on_reply, &rm) < 0)
			die("REMOVE", "refused");
		wait_reply(&rm, "REMOVE");
	}
	print_table("module instantiation, compiled module in the cache", inst, ARRAY_SIZE(inst),
	            "us");

	/* 3. SETUP -> first packet */
	struct row first[] = {
	        {.label = "native dlopen + ns_init + 1 packet [reference]", .baseline = true},
	        {.label = "cached: check, cache hit, INSTALL, 1 packet"},
	        {.label = "uncached: check, AOT cc -O2, INSTALL, 1 packet"},
	        {.label = "uncached, cc -O1 instead (not the node's)"},
	        {.label = "uncached, cc -O0 instead (not the node's)"},
	        {.label = "tiered, in process: cc -O0, install, 1 packet"},
	        {.label = "tiered, in process: then cc -O2, hot swap done"},
	};
	for (unsigned k = 0; k < slow_reps; k++) {
		struct native_mod *nm = NULL;
		uint8_t pkt[128];
		uint32_t len = udp4_packet(pkt);
		uint64_t t0 = now_ns();
		if (native_mod_load(NATIVE_SO, &nm, err, sizeof(err)) < 0)
			die(NATIVE_SO, err);
		memcpy(native_mod_buffer(nm), pkt, len);
		(void)native_mod_entry(nm)(len);
		sample(&first[0], t0);
		native_mod_free(nm);

		setup_first_packet(s, "stnode", aot, &m, &first[1], true);
		aot_evict(aot, m.sha);
		setup_first_packet(s, "stnode", aot, &m, &first[2], false);
		aot_evict(aot_o1, m.sha);
		setup_first_packet(s, "stnode", aot_o1, &m, &first[3], false);
		aot_evict(aot_o0, m.sha);
		setup_first_packet(s, "stnode", aot_o0, &m, &first[4], false);
		tiered(h, aot_o0, aot, &m, &first[5], &first[6]);
	}
	print_table("SETUP -> first packet through the module, one node", first, ARRAY_SIZE(first),
	            "ms");

	/* What the quick build costs per packet until the swap. */
	struct row per[] = {
	        {.label = "per packet, the -O2 build [reference]", .baseline = true},
	        {.label = "per packet, the -O0 build (until the swap)"},
	};
	char so2[PATH_MAX], so0[PATH_MAX];
	struct compile c2, c0;
	compile_start(aot, &m, &c2);
	compile_wait(&c2);
	compile_start(aot_o0, &m, &c0);
	compile_wait(&c0);
	snprintf(so2, sizeof(so2), "%s", c2.so);
	snprintf(so0, sizeof(so0), "%s", c0.so);
	for (unsigned k = 0; k < reps; k++)
		for (int v = 0; v < 2; v++)
			per_packet(h, v ? so0 : so2, &per[v]);
	print_table("the counter's packet path in the module host, 20000 packets a rep", per,
	            ARRAY_SIZE(per), "ns");
	modhost_free(h);
	supervisor_free(s);
	aot_free(aot_o0);
	aot_free(aot_o1);
	aot_free(aot);
}

/* ---- 4. five nodes on one machine ------------------------------------------------ */

static void bench_path(unsigned slow_reps)
{
	struct module m;
	module_read(&m);
	module_check(&m);
	struct aot *own[NODES], *shared[NODES];
	for (int i = 0; i < NODES; i++) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s/node%d", g_tmpdir, i);
		own[i] = aot_make(dir, NULL);
		snprintf(dir, sizeof(dir), "%s/shared", g_tmpdir);
		shared[i] = aot_make(dir, NULL);
	}
	struct row rows[] = {
	        {.label = "1 node, one compile [reference]", .baseline = true},
	        {.label = "5 nodes, a cache each (today's default)"},
	        {.label = "5 nodes sharing one cache (compile once)"},
	};
	unsigned peers = 0;
	for (unsigned k = 0; k < slow_reps; k++) {
		struct compile c[NODES];
		aot_evict(own[0], m.sha);
		uint64_t t0 = now_ns();
		compile_start(own[0], &m, &c[0]);
		compile_wait(&c[0]);
		sample(&rows[0], t0);

		for (int v = 0; v < 2; v++) {
			struct aot **a = v ? shared : own;
			for (int i = 0; i < NODES; i++)
				aot_evict(a[i], m.sha);
			t0 = now_ns();
			for (int i = 0; i < NODES; i++)
				compile_start(a[i], &m, &c[i]);
			for (int i = 0; i < NODES; i++) {
				compile_wait(&c[i]);
				if (c[i].cached)
					die("AOT compile", "unexpectedly cached");
				peers += v && c[i].peer;
			}
			sample(&rows[1 + v], t0);
		}
	}
	for (int i = 0; i < NODES; i++) {
		aot_free(own[i]);
		aot_free(shared[i]);
	}
	print_table("the module compiled for a path of 5 nodes on one machine, all asked at once",
	            rows, ARRAY_SIZE(rows), "ms");
	printf("  shared cache: %u of %u requests found the .so compiled by another node\n", peers,
	       slow_reps * NODES);
	if (peers != slow_reps * (NODES - 1))
		die("shared cache", "not compiled exactly once per round");
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void)
{
	printf("usage: bench_startup [--reps N] [--slow-reps N]\n"
	       "  --reps N       reps of container start and instantiation (default 21)\n"
	       "  --slow-reps N  reps of the rows that compile (default 5)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"reps", required_argument, NULL, 'r'},
	        {"slow-reps", required_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	unsigned reps = 21, slow = 5;
	int c;
	while ((c = getopt_long(argc, argv, "r:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			reps = (unsigned)atoi(optarg);
			break;
		case 's':
			slow = (unsigned)atoi(optarg);
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (reps < 1 || reps > MAX_REPS || slow < 1 || slow > MAX_REPS) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0)
		die("sodium_init", "failed");
	if (evloop_new(&g_loop) < 0)
		die("evloop_new", strerror(errno));
	int tr = bench_tmpdir_make(g_tmpdir);
	if (tr < 0)
		die("mkdtemp", strerror(-tr));

	printf("netserv bench/startup (%s; module: counter.wasm; load average at start: ",
	       geteuid() == 0 ? "root" : "not root");
	FILE *la = fopen("/proc/loadavg", "re");
	char buf[64] = "?";
	if (la && fgets(buf, sizeof(buf), la))
		buf[strcspn(buf, " ")] = '\0';
	if (la)
		fclose(la);
	printf("%s)\n", buf);
	bench_containers(reps);
	bench_modules(reps, slow);
	bench_path(slow);
	evloop_free(g_loop);
	return 0;
}
