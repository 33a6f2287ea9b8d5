/* bench_module_call: the cost of running a packet through a module, wasm2c
 * (through the container's real module host) against a native build of the
 * same C, and the memory of a container with one module. See bench/README.md
 * for what each figure means; bench/module-call builds and runs this.
 *
 *  1. AOT: compiles build/modules/{passthrough,counter}.wasm with the node's
 *     pipeline (wasm_check, then aot_compile: wasm2c + cc in a sandboxed
 *     helper) into a fresh cache directory.
 *  2. RSS: starts a supervisor with three publishers (uid kept; no cgroup
 *     limits): one container left idle, one with passthrough, one with
 *     counter; sends each a few packets, asks for STATS (rss_kb) and reads
 *     the container's /proc entries.
 *  3. ns/packet, in this process: one module host (modhost_new/install, as
 *     the container does) and the native .so of the same module, variants
 *     interleaved run by run, median of the runs.
 *
 * The raw and sigsetjmp variants reach into the module host's internals
 * (container/modhost_internal.h: the installed module's glue, instance and
 * memory) to take the dispatcher apart; nothing else does. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/modhost_internal.h"
#include "lib/evloop.h"
#include "../tests/lib/loop_wait.h"
#include "lib/util.h"
#include "runtime/aot.h"
#include "abi/glue.h"
#include "runtime/supervisor.h"
#include "runtime/wasm_check.h"
#include "wasm-rt-impl.h"

#include "bench_tmpdir.h"
#define BENCH_NAME "bench_module_call"
#include "bench_util.h"
#include "native_host.h"

#ifndef BUILD_DIR
#error "BUILD_DIR must name the build directory"
#endif
#ifndef BENCH_BUILD_TYPE
#define BENCH_BUILD_TYPE ""
#endif
#ifndef SOURCE_DIR
#error "SOURCE_DIR must name the source directory"
#endif

#define PKT_ROOM  2048 /* bytes per packet slot */
#define MAX_FLOWS 256
#define MAX_REPS  31

/* Container defaults (container_main.c, cmd_assign). */
#define BUDGET_MS     100
#define MEM_MAX_PAGES 256

struct options {
	unsigned reps;  /* timed runs per variant */
	unsigned ms;    /* length of one run */
	unsigned flows; /* distinct source addresses (power of two) */
	bool skip_rss;
};

static struct evloop *g_loop;
static char g_tmpdir[] = "/tmp/netserv-bench.XXXXXX"; /* the AOT cache */

/* ---- running the event loop until something happened ------------------------ */

/* Runs the loop until *flag is set or ms pass; returns *flag. */
static bool run_until(const bool *flag, unsigned ms)
{
	return loop_wait_flag(g_loop, flag, ms);
}

/* ---- 1. ahead-of-time compilation ---------------------------------------------- */

struct aot_job {
	bool done;
	int status;
	char so[PATH_MAX];
	char reason[512];
	uint64_t elapsed_ms;
};

static void on_aot_done(void *ctx, const struct aot_result *res)
{
	struct aot_job *j = ctx;
	j->done = true;
	j->status = res->status;
	j->elapsed_ms = res->elapsed_ms;
	snprintf(j->so, sizeof(j->so), "%s", res->so_path ? res->so_path : "");
	snprintf(j->reason, sizeof(j->reason), "%s", res->reason ? res->reason : "");
}

/* Validates and compiles wasm_path; the .so's path goes in job->so. */
static void aot_build(struct aot *aot, const char *wasm_path, struct aot_job *job)
{
	FILE *f = fopen(wasm_path, "rb");
	if (!f)
		die(wasm_path, strerror(errno));
	static uint8_t buf[1 << 20];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	uint8_t sha[32];
	crypto_hash_sha256(sha, buf, len);
	struct wasm_check_limits lim = {.max_memory_pages = 65536};
	struct wasm_check_result chk;
	char err[512];
	if (wasm_check(buf, len, &lim, &chk, err, sizeof(err)) < 0)
		die(wasm_path, err);
	if (aot_compile(aot, wasm_path, sha, &chk, on_aot_done, job, NULL, err, sizeof(err)) < 0)
		die(wasm_path, err);
}

/* ---- 2. a container's memory ---------------------------------------------------- */

struct reply {
	bool done;
	int status;
	long long rss_kb;
	char error[256];
};

static void on_reply(void *ctx, int status, json_t *reply, const uint8_t *raw, size_t raw_len)
{
	struct reply *r = ctx;
	(void)raw;
	(void)raw_len;
	r->done = true;
	r->status = status;
	json_t *rss = reply ? json_object_get(reply, "rss_kb") : NULL;
	r->rss_kb = json_is_integer(rss) ? json_integer_value(rss) : -1;
	const char *e = reply ? json_string_value(json_object_get(reply, "error")) : NULL;
	snprintf(r->error, sizeof(r->error), "%s", e ? e : "");
}

static void on_sup_event(void *ctx, const char *user, const char *module, enum runtime_event ev,
                         const char *reason)
{
	(void)ctx;
	fprintf(stderr, "bench_module_call: container %s: %s %s%s%s\n", user,
	        module ? module : "(container)", runtime_event_name(ev), reason ? ": " : "",
	        reason ? reason : "");
}

/* A "Key:   N kB" line of /proc/<pid>/<file>, in kB; -1 if absent. */
static long long proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	FILE *f = fopen(path, "re");
	long long v = -1;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

struct rss_row {
	const char *label;
	const char *user;
	const char *module; /* NULL: idle */
	const char *so;
	long long rss_kb, anon_kb, file_kb, pss_kb;
};

/* A UDP/IPv4 datagram of `total` bytes from flow i (defined below). */
static uint32_t udp4_packet(uint8_t *out, uint32_t total, uint32_t flow);

static void measure_rss(struct rss_row *rows, size_t n)
{
	char err[256];
	struct sup_config cfg = {
	        .container_bin = BUILD_DIR "/netserv-container",
	        .cgroup_prefix = "netserv-bench",
	        .heartbeat_ms = 1000,
	        .pool_size = 0,
	};
	struct supervisor *s = NULL;
	if (supervisor_new(g_loop, &cfg, on_sup_event, NULL, &s, err, sizeof(err)) < 0)
		die("supervisor_new", err);
	for (size_t i = 0; i < n; i++) {
		struct sup_publisher p;
		memset(&p, 0, sizeof(p));
		proto_assign_defaults(&p.ct); /* no NFQUEUE: packets come over the socket */
		snprintf(p.ct.user, sizeof(p.ct.user), "%s", rows[i].user);
		p.ct.nice = 0;
		p.ct.budget_ms = BUDGET_MS;
		p.ct.mem_max_pages = MEM_MAX_PAGES;
		if (supervisor_add_publisher(s, &p, err, sizeof(err)) < 0)
			die("supervisor_add_publisher", err);
	}
	for (size_t i = 0; i < n; i++) {
		for (int t = 0; t < 500 && !supervisor_pid(s, rows[i].user); t++) {
			bool never = false;
			run_until(&never, 10);
		}
		if (!supervisor_pid(s, rows[i].user))
			die(rows[i].user, "container did not start");
	}
	for (size_t i = 0; i < n; i++) {
		if (!rows[i].module)
			continue;
		struct reply r = {0};
		if (supervisor_install(s, rows[i].user, rows[i].module, rows[i].so, NULL, NULL, 0,
		                       0, on_reply, &r) < 0 ||
		    !run_until(&r.done, 10000) || r.status < 0)
			die(rows[i].module, r.error[0] ? r.error : "install failed");
	}
	/* Every container handles the same packets, so that the figures include
	 * a packet path that has run (module buffer, flow table). */
	struct ns_pkt_meta meta = {.hook = 2};
	for (size_t i = 0; i < n; i++) {
		for (uint32_t k = 0; k < 64; k++) {
			uint8_t pkt[PKT_ROOM];
			uint32_t len = udp4_packet(pkt, k & 1 ? 340 : 64, k % 16);
			struct reply r = {0};
			if (supervisor_packet(s, rows[i].user, pkt, len, &meta, on_reply, &r) < 0 ||
			    !run_until(&r.done, 5000) || r.status < 0)
				die(rows[i].user, "PACKET failed");
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct reply r = {0};
		if (supervisor_stats(s, rows[i].user, on_reply, &r) < 0 ||
		    !run_until(&r.done, 5000))
			die(rows[i].user, "STATS failed");
		pid_t pid = supervisor_pid(s, rows[i].user);
		rows[i].rss_kb = r.rss_kb;
		rows[i].anon_kb = proc_kb(pid, "status", "RssAnon");
		rows[i].file_kb = proc_kb(pid, "status", "RssFile");
		rows[i].pss_kb = proc_kb(pid, "smaps_rollup", "Pss");
	}
	supervisor_free(s);
}

/* ---- 3. ns per packet ------------------------------------------------------------ */

struct pkt {
	uint8_t data[PKT_ROOM];
	uint32_t len;
} __attribute__((aligned(64)));

static uint32_t udp4_packet(uint8_t *out, uint32_t total, uint32_t flow)
{
	memset(out, 0, 28);
	out[0] = 0x45;
	out[2] = (uint8_t)(total >> 8);
	out[3] = (uint8_t)total;
	out[4] = (uint8_t)(flow >> 8); /* identification */
	out[5] = (uint8_t)flow;
	out[6] = 0x40; /* DF */
	out[8] = 64;   /* TTL */
	out[9] = 17;   /* UDP */
	uint8_t src[4] = {10, 1, (uint8_t)(flow >> 8), (uint8_t)(flow + 1)};
	uint8_t dst[4] = {192, 0, 2, 1};
	memcpy(out + 12, src, 4);
	memcpy(out + 16, dst, 4);
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)out[i] << 8 | out[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	out[10] = (uint8_t)(~sum >> 8);
	out[11] = (uint8_t)~sum;
	uint16_t sport = (uint16_t)(40000 + flow), dport = 5060, ulen = (uint16_t)(total - 20);
	out[20] = (uint8_t)(sport >> 8);
	out[21] = (uint8_t)sport;
	out[22] = (uint8_t)(dport >> 8);
	out[23] = (uint8_t)dport;
	out[24] = (uint8_t)(ulen >> 8);
	out[25] = (uint8_t)ulen; /* UDP checksum 0: none (allowed over IPv4) */
	for (uint32_t i = 28; i < total; i++)
		out[i] = (uint8_t)('a' + (i + flow) % 26);
	return total;
}

enum kind {
	K_COPY,   /* memcpy into the module's packet buffer only */
	K_NATIVE, /* native .so: memcpy + ns_packet() */
	K_RAW,    /* wasm2c .so: memcpy + glue->packet(), one trap guard per run */
	K_SJ0,    /* ... + sigsetjmp(wasm_rt_jmp_buf, 0) per packet (as wasm_call does) */
	K_SJ1,    /* ... + sigsetjmp(wasm_rt_jmp_buf, 1) per packet (wasm_rt_impl_try) */
	K_HOST,   /* modhost_packet(): the container's dispatcher */
	K_COUNT
};

static const char *const kind_label[K_COUNT] = {
        [K_COPY] = "copy only (memcpy into buffer)",   [K_NATIVE] = "native .so: copy + ns_packet",
        [K_RAW] = "wasm2c .so: copy + call, no guard", [K_SJ0] = "  + sigsetjmp(jb,0) per call",
        [K_SJ1] = "  + sigsetjmp(jb,1) per call [*]",  [K_HOST] = "modhost_packet (container path)",
};

struct target {
	struct pkt *pkts;
	uint32_t mask; /* flows - 1 */
	struct modhost *h;
	struct mod *wm;
	struct native_mod *nm;
	uint64_t wasm_calls, native_calls;
};

static __attribute__((noreturn)) void trapped(void)
{
	die("module", "trapped during the benchmark");
}

static __attribute__((noinline)) uint32_t call_sj0(const struct ns_glue *g, void *inst,
                                                   uint32_t len)
{
	if (sigsetjmp(wasm_rt_jmp_buf, 0))
		trapped();
	return g->packet(inst, len);
}

static __attribute__((noinline)) uint32_t call_sj1(const struct ns_glue *g, void *inst,
                                                   uint32_t len)
{
	if (sigsetjmp(wasm_rt_jmp_buf, 1))
		trapped();
	return g->packet(inst, len);
}

static __attribute__((noinline)) uint32_t loop_raw(struct target *t, uint64_t n)
{
	const struct ns_glue *g = t->wm->g;
	void *inst = t->wm->inst;
	uint8_t *buf = t->wm->mem->data + t->wm->pkt_buf;
	uint32_t acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		const struct pkt *p = &t->pkts[i & t->mask];
		memcpy(buf, p->data, p->len);
		acc |= g->packet(inst, p->len);
	}
	return acc;
}

/* One trap guard around the whole run (the batch form of the guard). */
static __attribute__((noinline)) uint32_t run_raw(struct target *t, uint64_t n)
{
	if (sigsetjmp(wasm_rt_jmp_buf, 0))
		trapped();
	return loop_raw(t, n);
}

/* Runs n packets through variant k; returns the verdicts OR'ed (0: all accepted). */
static uint32_t run(struct target *t, enum kind k, uint64_t n)
{
	uint32_t acc = 0;
	switch (k) {
	case K_COPY: {
		uint8_t *buf = t->wm->mem->data + t->wm->pkt_buf;
		for (uint64_t i = 0; i < n; i++) {
			const struct pkt *p = &t->pkts[i & t->mask];
			memcpy(buf, p->data, p->len);
			__asm__ volatile("" : : "r"(buf) : "memory");
		}
		break;
	}
	case K_NATIVE: {
		native_mod_select(t->nm);
		uint8_t *buf = native_mod_buffer(t->nm);
		native_packet_fn *fn = native_mod_entry(t->nm);
		for (uint64_t i = 0; i < n; i++) {
			const struct pkt *p = &t->pkts[i & t->mask];
			memcpy(buf, p->data, p->len);
			acc |= (uint32_t)fn(p->len);
		}
		t->native_calls += n;
		break;
	}
	case K_RAW:
		acc = run_raw(t, n);
		t->wasm_calls += n;
		break;
	case K_SJ0:
	case K_SJ1: {
		const struct ns_glue *g = t->wm->g;
		void *inst = t->wm->inst;
		uint8_t *buf = t->wm->mem->data + t->wm->pkt_buf;
		for (uint64_t i = 0; i < n; i++) {
			const struct pkt *p = &t->pkts[i & t->mask];
			memcpy(buf, p->data, p->len);
			acc |= k == K_SJ0 ? call_sj0(g, inst, p->len) : call_sj1(g, inst, p->len);
		}
		t->wasm_calls += n;
		break;
	}
	case K_HOST: {
		struct ns_pkt_meta meta = {.hook = 2};
		for (uint64_t i = 0; i < n; i++) {
			struct pkt *p = &t->pkts[i & t->mask];
			uint32_t len = p->len;
			acc |= modhost_packet(t->h, p->data, &len, PKT_ROOM, &meta);
		}
		t->wasm_calls += n;
		break;
	}
	case K_COUNT:
		break;
	}
	return acc;
}

static double ns_per_packet(struct target *t, enum kind k, uint64_t n)
{
	uint64_t t0 = now_ns();
	uint32_t v = run(t, k, n);
	uint64_t t1 = now_ns();
	if (v != NS_ACCEPT)
		die(kind_label[k], "a packet was not accepted");
	return (double)(t1 - t0) / (double)n;
}

/* Warms the variant up and returns how many packets make a run of ~ms. */
static uint64_t calibrate(struct target *t, enum kind k, unsigned ms)
{
	uint64_t n = 256;
	for (;;) {
		uint64_t t0 = now_ns();
		run(t, k, n);
		uint64_t el = now_ns() - t0;
		if (el >= (uint64_t)ms * 1000000u / 4 || n >= (1ull << 40))
			return n * ((uint64_t)ms * 1000000u) / (el ? el : 1) + 1;
		n *= 2;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define N_SIZES 2
static const uint32_t sizes[N_SIZES] = {64, 340};

struct module_result {
	const char *name;
	double med[N_SIZES][K_COUNT];
	double spread[N_SIZES][K_COUNT];        /* (slowest - fastest run) / median */
	long long wasm_packets, native_packets; /* counter module: its own counter */
	uint64_t wasm_calls, native_calls;
};

static struct mod *mod_by_name(struct modhost *h, const char *name)
{
	for (struct mod *m = h->mods; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static long long wasm_counter(struct modhost *h, const char *module, const char *name)
{
	json_t *all = modhost_stats(h);
	long long v = -1;
	size_t i;
	json_t *m;
	json_array_foreach(all, i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "module")), module) == 0) {
			json_t *c = json_object_get(json_object_get(m, "counters"), name);
			v = json_is_integer(c) ? json_integer_value(c) : -1;
		}
	}
	json_decref(all);
	return v;
}

static void measure_module(struct modhost *h, const char *name, const char *so,
                           const char *native_so, const struct options *o,
                           struct module_result *res)
{
	char err[256];
	struct target t[N_SIZES];
	memset(t, 0, sizeof(t));
	if (modhost_install(h, name, so, -1, NULL, NULL, 0, err, sizeof(err)) < 0)
		die(so, err);
	struct native_mod *nm = NULL;
	if (native_mod_load(native_so, &nm, err, sizeof(err)) < 0)
		die(native_so, err);
	for (int s = 0; s < N_SIZES; s++) {
		t[s].pkts = aligned_alloc(64, sizeof(struct pkt) * o->flows);
		if (!t[s].pkts)
			die("packets", strerror(ENOMEM));
		for (uint32_t f = 0; f < o->flows; f++)
			t[s].pkts[f].len = udp4_packet(t[s].pkts[f].data, sizes[s], f);
		t[s].mask = o->flows - 1;
		t[s].h = h;
		t[s].wm = mod_by_name(h, name);
		t[s].nm = nm;
	}

	uint64_t n[N_SIZES][K_COUNT];
	for (int s = 0; s < N_SIZES; s++)
		for (int k = 0; k < K_COUNT; k++)
			n[s][k] = calibrate(&t[s], k, o->ms);
	static double samples[N_SIZES][K_COUNT][MAX_REPS];
	for (unsigned r = 0; r < o->reps; r++)
		for (int s = 0; s < N_SIZES; s++)
			for (int k = 0; k < K_COUNT; k++)
				samples[s][k][r] = ns_per_packet(&t[s], k, n[s][k]);
	res->name = name;
	for (int s = 0; s < N_SIZES; s++) {
		for (int k = 0; k < K_COUNT; k++) {
			double med = median(samples[s][k], o->reps); /* sorts the samples */
			res->med[s][k] = med;
			res->spread[s][k] = (samples[s][k][o->reps - 1] - samples[s][k][0]) / med;
		}
		res->wasm_calls += t[s].wasm_calls;
		res->native_calls += t[s].native_calls;
	}
	res->wasm_packets = wasm_counter(h, name, "packets");
	res->native_packets = native_mod_counter(nm, "packets");

	modhost_remove(h, name);
	native_mod_free(nm);
	for (int s = 0; s < N_SIZES; s++)
		free(t[s].pkts);
}

/* The cost of one tick of the module host's budget timer: SIGRTMIN to this
 * process and its handler, outside wasm (as nearly every tick lands). */
static double tick_cost_ns(void)
{
	const int n = 2000;
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++)
		raise(SIGRTMIN);
	return (double)(now_ns() - t0) / n;
}

/* ---- output ------------------------------------------------------------------------ */

static void print_ns_table(const struct module_result *mr, size_t n_mod, const struct options *o)
{
	printf("\nns/packet (median of %u runs of ~%u ms each, after a warm-up run;\n"
	       "UDP/IPv4, %u flows by source address; x = ratio to the native row)\n\n",
	       o->reps, o->ms, o->flows);
	printf("%-34s", "");
	for (size_t m = 0; m < n_mod; m++)
		for (int s = 0; s < N_SIZES; s++) {
			char head[40];
			snprintf(head, sizeof(head), "%s %uB", mr[m].name, sizes[s]);
			printf(" %16s", head);
		}
	printf("\n");
	for (int k = 0; k < K_COUNT; k++) {
		printf("%-34s", kind_label[k]);
		for (size_t m = 0; m < n_mod; m++)
			for (int s = 0; s < N_SIZES; s++)
				printf(" %8.1f x%-6.2f", mr[m].med[s][k],
				       mr[m].med[s][k] / mr[m].med[s][K_NATIVE]);
		printf("\n");
	}
	printf("%-34s", "run-to-run spread, worst row");
	for (size_t m = 0; m < n_mod; m++)
		for (int s = 0; s < N_SIZES; s++) {
			double worst = 0;
			for (int k = 0; k < K_COUNT; k++)
				if (k != K_SJ1 && mr[m].spread[s][k] > worst)
					worst = mr[m].spread[s][k];
			printf("   %6.0f%%        ", 100.0 * worst);
		}
	printf("\n");
	printf("[*] for comparison only: the mask-saving form of wasm_rt_impl_try(); the module\n"
	       "    host does not use it.\n");
}

static void print_breakdown(const struct module_result *mr, size_t n_mod, double tick_ns)
{
	printf("\nWhere modhost_packet's time goes (ns/packet, medians; %% of modhost_packet)\n\n");
	printf("%-34s", "");
	for (size_t m = 0; m < n_mod; m++)
		for (int s = 0; s < N_SIZES; s++) {
			char head[40];
			snprintf(head, sizeof(head), "%s %uB", mr[m].name, sizes[s]);
			printf(" %16s", head);
		}
	printf("\n");
	static const char *const rows[] = {
	        "copy into module memory",         "module code (wasm2c .so call)",
	        "trap guard (sigsetjmp, no mask)", "dispatcher bookkeeping",
	        "native: module code (call)",
	};
	for (size_t r = 0; r < ARRAY_SIZE(rows); r++) {
		printf("%-34s", rows[r]);
		for (size_t m = 0; m < n_mod; m++)
			for (int s = 0; s < N_SIZES; s++) {
				const double *d = mr[m].med[s];
				double v = 0;
				switch (r) {
				case 0:
					v = d[K_COPY];
					break;
				case 1:
					v = d[K_RAW] - d[K_COPY];
					break;
				case 2:
					v = d[K_SJ0] - d[K_RAW];
					break;
				case 3:
					v = d[K_HOST] - d[K_SJ0];
					break;
				case 4:
					v = d[K_NATIVE] - d[K_COPY];
					break;
				}
				printf(" %7.1f (%4.0f%%) ", v, 100.0 * v / d[K_HOST]);
			}
		printf("\n");
	}
	uint32_t tick_ms = BUDGET_MS / 4;
	printf("budget tick: one SIGRTMIN every %u ms costs %.0f ns (measured) = %.4f%% of a "
	       "CPU\n",
	       tick_ms, tick_ns, tick_ns / (tick_ms * 1e6) * 100.0);
	printf("mask-saving guard (jb,1) would add %.1f ns/packet (passthrough 64B)\n",
	       mr[0].med[0][K_SJ1] - mr[0].med[0][K_SJ0]);
}

static void print_rss(const struct rss_row *rows, size_t n)
{
	printf("\nContainer memory (netserv-container via the supervisor, no cgroup limits;\n"
	       "after 64 packets each; kB)\n\n");
	printf("%-36s %8s %8s %8s %8s\n", "container", "rss_kb", "RssAnon", "RssFile", "Pss");
	for (size_t i = 0; i < n; i++)
		printf("%-36s %8lld %8lld %8lld %8lld\n", rows[i].label, rows[i].rss_kb,
		       rows[i].anon_kb, rows[i].file_kb, rows[i].pss_kb);
	for (size_t i = 1; i < n; i++)
		printf("%-36s %+8lld %+8lld %+8lld %+8lld\n",
		       i == 1 ? "  one module (passthrough) adds" : "  one module (counter) adds",
		       rows[i].rss_kb - rows[0].rss_kb, rows[i].anon_kb - rows[0].anon_kb,
		       rows[i].file_kb - rows[0].file_kb, rows[i].pss_kb - rows[0].pss_kb);
}

/* ---- main -------------------------------------------------------------------------- */

static void usage(void)
{
	puts("Usage: bench_module_call [-r RUNS] [-t MS] [-f FLOWS] [--no-rss]\n"
	     "  -r, --runs N    timed runs per variant, median reported (default 15, max 31)\n"
	     "  -t, --ms N      length of one run in ms (default 10)\n"
	     "  -f, --flows N   distinct source addresses, a power of two (default 16)\n"
	     "      --no-rss    skip the container memory figures");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"runs", required_argument, NULL, 'r'},  {"ms", required_argument, NULL, 't'},
	        {"flows", required_argument, NULL, 'f'}, {"no-rss", no_argument, NULL, 'R'},
	        {"help", no_argument, NULL, 'h'},        {0},
	};
	struct options o = {.reps = 15, .ms = 10, .flows = 16};
	int c;
	while ((c = getopt_long(argc, argv, "r:t:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			o.reps = (unsigned)atoi(optarg);
			break;
		case 't':
			o.ms = (unsigned)atoi(optarg);
			break;
		case 'f':
			o.flows = (unsigned)atoi(optarg);
			break;
		case 'R':
			o.skip_rss = true;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (o.reps < 1 || o.reps > MAX_REPS || o.ms < 1 || o.flows < 1 || o.flows > MAX_FLOWS ||
	    (o.flows & (o.flows - 1))) {
		usage();
		return 2;
	}
	if (sodium_init() < 0)
		die("sodium_init", "failed");
	if (evloop_new(&g_loop) < 0)
		die("evloop_new", strerror(errno));

	/* 1. Compile both modules with the node's AOT pipeline, in a fresh cache. */
	int tr = bench_tmpdir_make(g_tmpdir);
	if (tr < 0)
		die("mkdtemp", strerror(-tr));
	char cache[PATH_MAX];
	snprintf(cache, sizeof(cache), "%s/so", g_tmpdir);
	struct aot_config acfg = {.cache_dir = cache, .runtime_dir = SOURCE_DIR "/src/abi"};
	struct aot *aot = NULL;
	char err[AOT_ERR_LEN];
	if (aot_new(g_loop, &acfg, &aot, err, sizeof(err)) < 0)
		die("aot_new", err);
	struct aot_job jobs[2];
	memset(jobs, 0, sizeof(jobs));
	aot_build(aot, BUILD_DIR "/modules/passthrough.wasm", &jobs[0]);
	aot_build(aot, BUILD_DIR "/modules/counter.wasm", &jobs[1]);
	for (int i = 0; i < 2; i++)
		if (!run_until(&jobs[i].done, 120000) || jobs[i].status < 0)
			die("AOT compile", jobs[i].done ? jobs[i].reason : "timed out");
	aot = aot_free(aot);
	printf("netserv bench/module-call  (build type %s, %s)\n",
	       BENCH_BUILD_TYPE[0] ? BENCH_BUILD_TYPE : "none",
	       geteuid() == 0 ? "root" : "not root");
	printf("AOT compile (wasm_check + wasm2c + cc -O2, fresh cache): passthrough %llu ms, "
	       "counter %llu ms (wall, queued one after the other)\n",
	       (unsigned long long)jobs[0].elapsed_ms, (unsigned long long)jobs[1].elapsed_ms);
	fflush(stdout);

	/* 2. Container memory. */
	struct rss_row rss[] = {
	        {.label = "idle (assigned, no module)", .user = "bidle"},
	        {.label = "passthrough installed",
	         .user = "bpass",
	         .module = "pass",
	         .so = jobs[0].so},
	        {.label = "counter installed",
	         .user = "bcount",
	         .module = "count",
	         .so = jobs[1].so},
	};
	if (!o.skip_rss)
		measure_rss(rss, ARRAY_SIZE(rss));

	/* 3. ns/packet in this process: one module host, as in a container. */
	struct modhost_limits lim = {
	        .budget_ms = BUDGET_MS,
	        .mem_max_pages = MEM_MAX_PAGES,
	        .trap_limit = 5,
	        .trap_window_s = 60,
	        .log_per_s = 20,
	};
	struct modhost *h = NULL;
	if (modhost_new(g_loop, &lim, NULL, NULL, NULL, &h, err, sizeof(err)) < 0)
		die("modhost_new", err);
	struct module_result mr[2];
	memset(mr, 0, sizeof(mr));
	measure_module(h, "passthrough", jobs[0].so, BUILD_DIR "/bench/native/passthrough.so", &o,
	               &mr[0]);
	measure_module(h, "counter", jobs[1].so, BUILD_DIR "/bench/native/counter.so", &o, &mr[1]);
	double tick_ns = tick_cost_ns();
	modhost_free(h);

	/* Both builds of the counter saw every packet run through them. */
	if (mr[1].wasm_packets != (long long)mr[1].wasm_calls ||
	    mr[1].native_packets != (long long)mr[1].native_calls) {
		fprintf(stderr,
		        "bench_module_call: counter mismatch: wasm %lld/%llu native %lld/%llu\n",
		        mr[1].wasm_packets, (unsigned long long)mr[1].wasm_calls,
		        mr[1].native_packets, (unsigned long long)mr[1].native_calls);
		return 1;
	}

	print_ns_table(mr, ARRAY_SIZE(mr), &o);
	print_breakdown(mr, ARRAY_SIZE(mr), tick_ns);
	if (!o.skip_rss)
		print_rss(rss, ARRAY_SIZE(rss));
	printf("\ncounter check: wasm counted %lld of %llu packets, native %lld of %llu\n",
	       mr[1].wasm_packets, (unsigned long long)mr[1].wasm_calls, mr[1].native_packets,
	       (unsigned long long)mr[1].native_calls);

	evloop_free(g_loop);
	return 0;
}
