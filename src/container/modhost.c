/* Module host: loading, guarded calls into wasm, traps, time budget, and the
 * packet dispatcher. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "container/http_block.h"
#include "container/http_fetch.h"
#include "container/modhost_internal.h"
#include "container/pkt_filter.h"
#include "lib/evloop.h"
#include "lib/memfd_image.h"
#include "lib/util.h"
#include "abi/glue.h"
#include "proto/busy.h"
#include "wasm-rt-impl.h"

/* wasm_rt_allocate_memory() reserves this much address space per memory and
 * wasm_rt_free_memory() unmaps only the used part: we unmap the rest. */
#define WASM_RESERVATION 0x200000000ul

/* ---- process-wide call state (read by signal handlers) ------------------- */

static volatile sig_atomic_t g_in_wasm;   /* a module is running */
static volatile sig_atomic_t g_in_import; /* ... and is inside host code */
static volatile sig_atomic_t g_timed_out; /* the running call overran */
static volatile uint32_t g_call_seq;      /* changes on every call */
static uint32_t g_tick_seen_seq;
static uint32_t g_tick_count;
static uint32_t g_budget_ticks;
static bool g_host_created;
static struct proto_busy *g_busy; /* shared with the supervisor, or NULL */

void modhost_set_busy_page(struct proto_busy *page)
{
	g_busy = page;
}

/* Virtual time (modhost_set_offline): process-wide, as the host is. */
static bool g_virtual;
static uint64_t g_vmono_ns, g_vmono_base_ns, g_vreal_base_ms;

uint64_t modhost_now_ns(void)
{
	if (g_virtual)
		return g_vmono_ns;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t modhost_time_ms(void)
{
	if (g_virtual)
		return g_vreal_base_ms + (g_vmono_ns - g_vmono_base_ns) / 1000000u;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void modhost_set_offline(struct modhost *h, const struct modhost_offline *o)
{
	h->offline = true;
	h->off = *o;
	g_virtual = true;
	g_vmono_ns = g_vmono_base_ns = o->mono_ns;
	g_vreal_base_ms = o->real_ms;
	/* the rate limits start full, at the virtual time */
	h->send_refill_ns = h->sock_refill_ns = o->mono_ns;
}

uint64_t modhost_clock_advance(struct modhost *h, uint64_t mono_ns)
{
	if (!h->offline)
		return 0;
	uint64_t calls = 0;
	for (;;) {
		struct mod_timer *next = NULL;
		for (struct mod *m = h->mods; m; m = m->next)
			for (size_t i = 0; i < MOD_MAX_TIMERS; i++)
				if (m->timers[i].armed &&
				    (!next || m->timers[i].due_ms < next->due_ms))
					next = &m->timers[i];
		if (!next || next->due_ms > mono_ns / 1000000u)
			break;
		if (next->due_ms * 1000000u > g_vmono_ns)
			g_vmono_ns = next->due_ms * 1000000u;
		/* re-armed before the call, so that the callback may cancel it */
		next->armed = next->period_ms != 0;
		next->due_ms += next->period_ms;
		modhost_timer_fire(next->m, next->id);
		calls++;
	}
	if (mono_ns > g_vmono_ns)
		g_vmono_ns = mono_ns;
	return calls;
}

void modhost_import_enter(void)
{
	g_in_import = 1;
}

void modhost_busy_media(bool on)
{
	if (g_busy)
		g_busy->media = on;
}

uint32_t modhost_call_seq(void)
{
	return g_call_seq;
}

uint32_t modhost_budget_pause(void)
{
	/* Ticks of an earlier call are not this call's (the tick resets them). */
	if (*(volatile uint32_t *)&g_tick_seen_seq != g_call_seq)
		return 0;
	return *(volatile uint32_t *)&g_tick_count;
}

void modhost_budget_resume(uint32_t ticks)
{
	*(volatile uint32_t *)&g_tick_seen_seq = g_call_seq;
	*(volatile uint32_t *)&g_tick_count = ticks;
	g_timed_out = 0;
}

void modhost_import_leave(void)
{
	g_in_import = 0;
	if (g_timed_out)
		wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
}

/* SIGSEGV/SIGBUS: a trap when a module is running; otherwise a real host bug,
 * which must crash the container (the supervisor restarts it). */
static void on_fault(int sig, siginfo_t *si, void *uc)
{
	if (g_in_wasm && !g_in_import)
		wasm_rt_trap(si->si_code == SEGV_ACCERR ? WASM_RT_TRAP_OOB
		                                        : WASM_RT_TRAP_EXHAUSTION);
	signal(sig, SIG_DFL); /* the faulting instruction runs again and kills us */
}

/* The periodic tick: stops a call that has run for g_budget_ticks ticks. */
static void on_tick(int sig, siginfo_t *si, void *uc)
{
	if (!g_in_wasm || g_call_seq != g_tick_seen_seq) {
		g_tick_seen_seq = g_call_seq;
		g_tick_count = 0;
		return;
	}
	if (++g_tick_count < g_budget_ticks)
		return;
	g_timed_out = 1;
	if (!g_in_import)
		wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
	/* inside an import: modhost_import_leave() traps on the way out */
}

static int signals_install(struct modhost *h, char *err, size_t errlen)
{
	wasm_rt_init(); /* its SIGSEGV handler and alternate stack; ours replaces the handler */
	/* ... and its alternate stack (SIGSTKSZ) by a larger one: a fault and the
	 * tick may nest on it, and AVX-512 signal frames take kilobytes; the
	 * kernel kills a process whose signal frame overflows it (SIGSEGV). */
	static uint8_t altstack[256 * 1024];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	if (sigaltstack(&ss, NULL) < 0)
		goto fail;
	struct sigaction sa = {0};
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) < 0 || sigaction(SIGBUS, &sa, NULL) < 0)
		goto fail;
	sa.sa_sigaction = on_tick;
	/* No SA_NODEFER: ticks never nest (a container that was not scheduled
	 * for a while got several on its alternate stack and overflowed it). */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	if (sigaction(SIGRTMIN, &sa, NULL) < 0)
		goto fail;

	uint32_t tick_ms = h->lim.budget_ms / 4;
	if (tick_ms < 1)
		tick_ms = 1;
	if (tick_ms > 100)
		tick_ms = 100;
	g_budget_ticks = (h->lim.budget_ms + tick_ms - 1) / tick_ms + 1;
	/* The budget is CPU time, the process's own: a container that was not
	 * scheduled (a loaded machine, its cgroup's CPU quota) is not blamed for
	 * the time others had the CPU (test_server_module's rate-limited echo was
	 * trapped at 100 ms of wall time on a busy machine). */
	struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN};
	if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &h->tick) < 0)
		goto fail;
	h->tick_created = true;
	struct itimerspec its = {
	        .it_interval = {tick_ms / 1000, (long)(tick_ms % 1000) * 1000000},
	        .it_value = {tick_ms / 1000, (long)(tick_ms % 1000) * 1000000},
	};
	if (timer_settime(h->tick, 0, &its, NULL) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, err ? errlen : 0, "installing the trap handlers: %s", strerror(errno));
	return -errno;
}

/* After a longjmp out of a signal handler, the signal is still blocked. */
static void signals_unblock(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSEGV);
	sigaddset(&s, SIGBUS);
	sigaddset(&s, SIGRTMIN);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
}

/* ---- guarded calls -------------------------------------------------------- */

enum call_kind {
	CALL_INSTANTIATE,
	CALL_ABI,
	CALL_INIT,
	CALL_FINI,
	CALL_PKTBUF,
	CALL_PACKET,
	CALL_TIMER,
	CALL_SOCKET,
	CALL_HTTP,
};

/* The second argument of calls that take two (CALL_SOCKET, CALL_HTTP). */
static uint32_t g_call_arg2;

static const char *call_name(enum call_kind kind);

/* What the busy page names now: the names are copied only when they change
 * (a packet path calls the same module again and again). */
static const struct mod *g_busy_mod;
static int g_busy_kind = -1;

/* CLOCK_MONOTONIC_COARSE in ms: a few ns from the vDSO, and ms is all the
 * supervisor reports ("in ns_packet for 86 ms"). */
static uint64_t coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Tells the supervisor which module runs (proto/busy.h). Per call: two
 * sequence bumps, a coarse clock read and the running flag. */
static void busy_enter(const struct mod *m, enum call_kind kind)
{
	if (!g_busy)
		return;
	g_busy->seq++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g_busy->since_ms = coarse_ms();
	if (m != g_busy_mod || (int)kind != g_busy_kind) {
		const char *c = call_name(kind);
		size_t i;
		for (i = 0; c[i] && i < sizeof(g_busy->call) - 1; i++)
			g_busy->call[i] = c[i];
		g_busy->call[i] = 0;
		for (i = 0; m->name[i] && i < sizeof(g_busy->module) - 1; i++)
			g_busy->module[i] = m->name[i];
		g_busy->module[i] = 0;
		g_busy_mod = m;
		g_busy_kind = (int)kind;
	}
	g_busy->running = 1;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g_busy->seq++;
}

static void busy_leave(void)
{
	if (!g_busy)
		return;
	g_busy->seq++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g_busy->running = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g_busy->seq++;
}

static void instance_discard(struct mod *m);
static void dl_release(void *dl);
static void mod_trapped(struct mod *m, int trap, enum call_kind kind);

/* Calls into the module with traps and the time budget armed. Returns 0 and
 * the result in *ret, or -EFAULT if the module trapped (already handled). */
static int wasm_call(struct mod *m, enum call_kind kind_arg, uint32_t arg, uint32_t *ret)
{
	/* volatile: read again after a trap longjmps back here */
	volatile enum call_kind kind = kind_arg;
	volatile uint32_t result = 0;
	int trap = sigsetjmp(wasm_rt_jmp_buf, 0);
	if (trap) {
		g_in_wasm = 0;
		g_in_import = 0;
		busy_leave();
		signals_unblock();
		mod_trapped(m, trap, kind);
		g_timed_out = 0;
		return -EFAULT;
	}
	g_timed_out = 0;
	busy_enter(m, kind);
	g_call_seq++;
	g_in_wasm = 1;
	switch (kind) {
	case CALL_INSTANTIATE:
		m->g->instantiate(m->inst, &m->ctx);
		break;
	case CALL_ABI:
		result = m->g->abi_version(m->inst);
		break;
	case CALL_INIT:
		result = m->g->init(m->inst);
		break;
	case CALL_FINI:
		m->g->fini(m->inst);
		break;
	case CALL_PKTBUF:
		result = m->g->packet_buffer(m->inst);
		break;
	case CALL_PACKET:
		result = m->g->packet(m->inst, arg);
		break;
	case CALL_TIMER:
		m->g->timer(m->inst, arg);
		break;
	case CALL_SOCKET:
		m->g->socket(m->inst, arg, g_call_arg2);
		break;
	case CALL_HTTP:
		m->g->http(m->inst, arg, g_call_arg2);
		break;
	}
	g_in_wasm = 0;
	busy_leave();
	if (ret)
		*ret = result;
	return 0;
}

static const char *call_name(enum call_kind kind)
{
	static const char *const names[] = {
	        [CALL_INSTANTIATE] = "instantiation",
	        [CALL_ABI] = "ns_abi_version",
	        [CALL_INIT] = "ns_init",
	        [CALL_FINI] = "ns_fini",
	        [CALL_PKTBUF] = "ns_packet_buffer",
	        [CALL_PACKET] = "ns_packet",
	        [CALL_TIMER] = "ns_timer",
	        [CALL_SOCKET] = "ns_socket",
	        [CALL_HTTP] = "ns_http",
	};
	return names[kind];
}

static void mod_fail(struct mod *m, const char *reason)
{
	m->failed = true;
	snprintf(m->fail_reason, sizeof(m->fail_reason), "%s", reason);
	modhost_timers_cancel(m);
	instance_discard(m);
	http_block_instance_lost(m);
	http_fetch_instance_lost(m);
	if (m->h->event)
		m->h->event(m->h->ctx, m->name, PROTO_EVENT_FAILED, m->fail_reason);
}

/* Creates a fresh instance and runs its setup exports. Returns 0 or a
 * negative errno with the reason in err (the instance is discarded). */
static int instance_create(struct mod *m, char *err, size_t errlen)
{
	m->inst = calloc(1, m->g->instance_size);
	if (!m->inst)
		return -ENOMEM;
	m->instantiations++;
	uint64_t traps_before = m->traps;
	if (wasm_call(m, CALL_INSTANTIATE, 0, NULL) < 0)
		goto trapped;
	m->mem = m->g->memory(m->inst);
	if (!m->mem) {
		snprintf(err, err ? errlen : 0, "module has no memory");
		instance_discard(m);
		return -EINVAL;
	}
	if (m->mem->max_pages > m->h->lim.mem_max_pages)
		m->mem->max_pages = m->h->lim.mem_max_pages;
	if (m->mem->pages > m->mem->max_pages) {
		snprintf(err, err ? errlen : 0,
		         "module needs %u pages of memory at start, the limit is %u", m->mem->pages,
		         m->mem->max_pages);
		instance_discard(m);
		return -E2BIG;
	}
	uint32_t v = 0;
	if (m->g->abi_version) {
		if (wasm_call(m, CALL_ABI, 0, &v) < 0)
			goto trapped;
	}
	if (v < NS_ABI_VERSION_MIN || v > NS_ABI_VERSION) {
		snprintf(err, err ? errlen : 0,
		         "module is built for ABI version %u, this node runs versions %d to %d", v,
		         NS_ABI_VERSION_MIN, NS_ABI_VERSION);
		instance_discard(m);
		return -EPROTO;
	}
	if (m->g->packet) {
		if (!m->g->packet_buffer || wasm_call(m, CALL_PKTBUF, 0, &m->pkt_buf) < 0)
			goto trapped;
		if ((uint64_t)m->pkt_buf + NS_PACKET_MAX > m->mem->size) {
			snprintf(err, err ? errlen : 0,
			         "ns_packet_buffer() = %u: %u bytes there are outside the module's "
			         "memory",
			         m->pkt_buf, NS_PACKET_MAX);
			instance_discard(m);
			return -EFAULT;
		}
	}
	if (m->g->init) {
		uint64_t lines_before = m->log_lines;
		if (wasm_call(m, CALL_INIT, 0, &v) < 0)
			goto trapped;
		if (v != 0) {
			/* Its last log line says why, as a rule: the publisher sees it
			 * (only a line this ns_init() wrote). */
			const char *last =
			        m->log_lines > lines_before ? logring_last(&m->logs) : NULL;
			snprintf(err, err ? errlen : 0,
			         "ns_init() refused to start (returned %d)%s%s", (int32_t)v,
			         last ? ": " : "", last ? last : "");
			instance_discard(m);
			return -ECANCELED;
		}
	}
	return 0;
trapped:
	snprintf(err, err ? errlen : 0, "%s",
	         m->traps > traps_before ? m->last_trap : "trap during instantiation");
	return -EFAULT;
}

static void instance_discard(struct mod *m)
{
	modhost_socks_close_all(m); /* the instance's ids mean nothing to the next */
	if (!m->inst)
		return;
	wasm_rt_memory_t *mem = m->g->memory(m->inst);
	void *data = mem ? mem->data : NULL;
	m->g->free_instance(m->inst);
	if (data)
		munmap(data, WASM_RESERVATION);
	free(m->inst);
	m->inst = NULL;
	m->mem = NULL;
}

static bool trap_window_exceeded(struct mod *m)
{
	uint64_t now_ms = modhost_now_ns() / 1000000u;
	m->trap_times_ms[m->trap_ring_pos++ % ARRAY_SIZE(m->trap_times_ms)] = now_ms;
	uint32_t recent = 0;
	for (size_t i = 0; i < ARRAY_SIZE(m->trap_times_ms); i++)
		if (m->trap_times_ms[i] &&
		    now_ms - m->trap_times_ms[i] <= m->h->lim.trap_window_s * 1000u)
			recent++;
	return recent >= m->h->lim.trap_limit;
}

/* Called after a trap: record it, then re-instantiate or give up. */
static void mod_trapped(struct mod *m, int trap, enum call_kind kind)
{
	m->traps++;
	if (g_timed_out) {
		m->timeouts++;
		snprintf(m->last_trap, sizeof(m->last_trap), "%s ran longer than its %u ms budget",
		         call_name(kind), m->h->lim.budget_ms);
	} else {
		snprintf(m->last_trap, sizeof(m->last_trap), "trap in %s: %s", call_name(kind),
		         wasm_rt_strerror((wasm_rt_trap_t)trap));
	}
	/* The instance's stack pointer is corrupt after a trap: discard it, and
	 * with it the requests it was answering (they get a 500). */
	modhost_timers_cancel(m);
	instance_discard(m);
	http_block_instance_lost(m);
	http_fetch_instance_lost(m);
	if (m->h->event)
		m->h->event(m->h->ctx, m->name, PROTO_EVENT_TRAP, m->last_trap);
	if (kind == CALL_INSTANTIATE || kind == CALL_ABI || kind == CALL_INIT ||
	    kind == CALL_PKTBUF)
		return; /* instance_create() reports it */
	if (m->h->lim.trap_limit && trap_window_exceeded(m)) {
		char why[200];
		snprintf(why, sizeof(why), "%u traps within %u s; last: %s", m->h->lim.trap_limit,
		         m->h->lim.trap_window_s, m->last_trap);
		mod_fail(m, why);
		return;
	}
	char err[160];
	if (instance_create(m, err, sizeof(err)) < 0) {
		char why[200];
		snprintf(why, sizeof(why), "cannot re-instantiate after a trap: %s", err);
		mod_fail(m, why);
	}
}

/* ---- timers ---------------------------------------------------------------- */

void modhost_timer_fire(struct mod *m, uint32_t id)
{
	if (m->failed || !m->inst || !m->g->timer)
		return;
	m->timer_calls++;
	wasm_call(m, CALL_TIMER, id, NULL);
}

int modhost_socket_call(struct mod *m, uint32_t id, uint32_t events)
{
	if (m->failed || !m->inst || !m->g->socket)
		return 0;
	g_call_arg2 = events;
	return wasm_call(m, CALL_SOCKET, id, NULL);
}

void modhost_timers_cancel(struct mod *m)
{
	for (size_t i = 0; i < MOD_MAX_TIMERS; i++) {
		m->timers[i].t = evloop_timer_cancel(m->h->loop, m->timers[i].t);
		m->timers[i].armed = false;
	}
}

/* ---- http/1 ------------------------------------------------------------------ */

int modhost_http_call(struct mod *m, uint32_t req, uint32_t event)
{
	if (m->failed || !m->inst || !m->g->http)
		return -ENOENT;
	g_call_arg2 = event;
	return wasm_call(m, CALL_HTTP, req, NULL);
}

/* ---- loading ----------------------------------------------------------------- */

static struct mod *mod_find(struct modhost *h, const char *name)
{
	for (struct mod *m = h->mods; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static void mod_free(struct mod *m)
{
	if (g_busy_mod == m)
		g_busy_mod = NULL; /* its address may name another module next */
	if (!m)
		return;
	modhost_timers_cancel(m);
	instance_discard(m);
	http_block_mod_free(m);
	http_fetch_mod_free(m);
	/* No instance refers to the object any more (wasm2c's runtime copies the
	 * function types a module registers). */
	if (m->dl_acquired)
		dl_release(m->dl);
	else if (m->dl)
		dlclose(m->dl);
	safe_close(m->so_fd);
	free(m->socks);
	json_decref(m->props);
	free(m->name);
	free(m->so_path);
	free(m);
}

/* Loaded shared objects and how many modules use each: init_module() runs
 * once per load, and the object is unloaded when its last module goes. */
static struct {
	void *dl;
	unsigned users;
} g_loaded[256];

static bool dl_acquire(void *dl)
{
	size_t free_slot = ARRAY_SIZE(g_loaded);
	for (size_t i = 0; i < ARRAY_SIZE(g_loaded); i++) {
		if (g_loaded[i].users && g_loaded[i].dl == dl) {
			g_loaded[i].users++;
			return false; /* already initialized */
		}
		if (!g_loaded[i].users && free_slot == ARRAY_SIZE(g_loaded))
			free_slot = i;
	}
	if (free_slot < ARRAY_SIZE(g_loaded)) {
		g_loaded[free_slot].dl = dl;
		g_loaded[free_slot].users = 1;
	}
	return true;
}

static void dl_release(void *dl)
{
	for (size_t i = 0; i < ARRAY_SIZE(g_loaded); i++) {
		if (g_loaded[i].users && g_loaded[i].dl == dl) {
			g_loaded[i].users--;
			break;
		}
	}
	dlclose(dl);
}

/* The file dlopen() gets for so_fd, as a new fd (>= 3, O_CLOEXEC) or a
 * negative errno: so_fd itself when it is a sealed image (memfd_image.h)
 * no other loaded module of h maps, else a private sealed copy of it.
 * - A copy of anything else: landlock lets a container open no file of the
 *   node, and dlopen() needs a path; a memfd's /proc/self/fd/N is none.
 * - A copy of an image another module maps: netservd sends one image for
 *   every load of a compiled module (runtime/module_image.h), and glibc
 *   hands back the object already loaded when a file of the same device
 *   and inode is opened again, whatever its name: the second module would
 *   share the first one's code and globals (its ns_init would never run). */
static int load_fd(const struct modhost *h, int so_fd, const char *name)
{
	struct stat st, o;
	bool own = memfd_image_is_sealed(so_fd) && fstat(so_fd, &st) == 0;
	for (const struct mod *m = h->mods; m && own; m = m->next)
		own = !(m->so_fd >= 0 && fstat(m->so_fd, &o) == 0 && o.st_dev == st.st_dev &&
		        o.st_ino == st.st_ino);
	_cleanup_close_ int copy = own ? -1 : memfd_image_copy(so_fd, name);
	if (!own && copy < 0)
		return copy;
	int d = fcntl(own ? so_fd : copy, F_DUPFD_CLOEXEC, 3);
	return d < 0 ? -errno : d;
}

int modhost_install(struct modhost *h, const char *name, const char *so_path, int so_fd,
                    json_t *properties, const struct ncm_filter *filters, size_t n_filters,
                    char *err, size_t errlen)
{
	if (n_filters > NCM_MAX_FILTERS) {
		snprintf(err, err ? errlen : 0, "module %s: more than %d filters", name,
		         NCM_MAX_FILTERS);
		return -E2BIG;
	}
	if (mod_find(h, name)) {
		snprintf(err, err ? errlen : 0, "module %s is already installed", name);
		return -EEXIST;
	}
	struct mod *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->h = h;
	m->ctx.m = m;
	m->so_fd = -1;
	m->n_filters = n_filters;
	if (n_filters)
		memcpy(m->filters, filters, n_filters * sizeof(*filters));
	m->name = strdup(name);
	m->so_path = strdup(so_path);
	m->props = properties ? json_incref(properties) : json_object();
	m->log_tokens = h->lim.log_per_s;
	if (!m->name || !m->so_path) {
		mod_free(m);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < MOD_MAX_TIMERS; i++) {
		m->timers[i].m = m;
		m->timers[i].id = i;
	}

	/* dlopen() knows objects by name: the fd stays open while the module is
	 * loaded, so "/proc/self/fd/N" names no other module meanwhile. */
	char fd_path[64];
	if (so_fd >= 0) {
		int r = load_fd(h, so_fd, name);
		if (r < 0) {
			snprintf(err, err ? errlen : 0, "%s: %s", so_path, strerror(-r));
			mod_free(m);
			return r;
		}
		m->so_fd = r;
		snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", m->so_fd);
	}
	m->dl = dlopen(so_fd >= 0 ? fd_path : so_path, RTLD_NOW | RTLD_LOCAL);
	if (!m->dl) {
		const char *e = dlerror();
		const char *undef = e ? strstr(e, "undefined symbol: ") : NULL;
		if (undef)
			snprintf(err, err ? errlen : 0,
			         "module imports something this node does not provide (%s)",
			         undef + strlen("undefined symbol: "));
		else
			snprintf(err, err ? errlen : 0, "cannot load %s: %s", so_path,
			         e ? e : "unknown error");
		mod_free(m);
		return -ENOEXEC;
	}
	m->g = dlsym(m->dl, NS_GLUE_SYMBOL);
	if (!m->g || m->g->abi != NS_GLUE_ABI) {
		snprintf(err, err ? errlen : 0, "%s is not a netserv module (glue ABI %u)", so_path,
		         m->g ? m->g->abi : 0);
		mod_free(m);
		return -ENOEXEC;
	}
	m->dl_acquired = true;
	if (dl_acquire(m->dl))
		m->g->init_module();
	int r = instance_create(m, err, errlen);
	if (r < 0) {
		mod_free(m);
		return r;
	}
	struct mod **pp = &h->mods;
	while (*pp)
		pp = &(*pp)->next;
	*pp = m;
	return 0;
}

/* Instantiates g into inst for m with traps armed. Returns 0 or -EFAULT. */
static int instantiate_guarded(struct mod *m, const struct ns_glue *g, void *inst)
{
	int trap = sigsetjmp(wasm_rt_jmp_buf, 0);
	if (trap) {
		g_in_wasm = 0;
		g_in_import = 0;
		busy_leave();
		signals_unblock();
		g_timed_out = 0;
		return -EFAULT;
	}
	g_timed_out = 0;
	busy_enter(m, CALL_INSTANTIATE);
	g_call_seq++;
	g_in_wasm = 1;
	g->instantiate(inst, &m->ctx);
	g_in_wasm = 0;
	busy_leave();
	return 0;
}

/* Whether two builds export the same entry points. */
static bool same_exports(const struct ns_glue *a, const struct ns_glue *b)
{
	return !a->abi_version == !b->abi_version && !a->init == !b->init && !a->fini == !b->fini &&
	       !a->packet_buffer == !b->packet_buffer && !a->packet == !b->packet &&
	       !a->timer == !b->timer && !a->socket == !b->socket && !a->http == !b->http;
}

int modhost_swap(struct modhost *h, const char *name, const char *so_path, int so_fd, char *err,
                 size_t errlen)
{
	struct mod *m = mod_find(h, name);
	if (!m) {
		snprintf(err, err ? errlen : 0, "no module %s", name);
		return -ENOENT;
	}
	if (m->failed || !m->inst || !m->g->transfer) {
		snprintf(err, err ? errlen : 0, "module %s: %s", name,
		         m->failed || !m->inst ? "not running"
		                               : "its state cannot be carried over");
		return m->failed || !m->inst ? -ESTALE : -EOPNOTSUPP;
	}
	char *path = strdup(so_path);
	if (!path)
		return -ENOMEM;
	char fd_path[64];
	int nfd = -1;
	if (so_fd >= 0) {
		nfd = load_fd(h, so_fd, name);
		if (nfd < 0) {
			int r = nfd;
			snprintf(err, err ? errlen : 0, "%s: %s", so_path, strerror(-r));
			free(path);
			return r;
		}
		snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", nfd);
	}
	void *dl = dlopen(so_fd >= 0 ? fd_path : so_path, RTLD_NOW | RTLD_LOCAL);
	const struct ns_glue *g = dl ? dlsym(dl, NS_GLUE_SYMBOL) : NULL;
	int r = 0;
	if (!dl) {
		const char *e = dlerror();
		snprintf(err, err ? errlen : 0, "cannot load %s: %s", so_path, e ? e : "?");
		r = -ENOEXEC;
	} else if (dl == m->dl) {
		snprintf(err, err ? errlen : 0, "%s is the build already running", so_path);
		r = -EALREADY;
	} else if (!g || g->abi != NS_GLUE_ABI || !g->transfer ||
	           g->state_layout != m->g->state_layout ||
	           g->instance_size != m->g->instance_size || !same_exports(g, m->g)) {
		snprintf(err, err ? errlen : 0, "%s is not another build of module %s", so_path,
		         name);
		r = -EINVAL;
	}
	if (r < 0) {
		if (dl)
			dlclose(dl);
		safe_close(nfd);
		free(path);
		return r;
	}
	if (dl_acquire(dl))
		g->init_module();
	void *inst = calloc(1, g->instance_size);
	if (!inst)
		r = -ENOMEM;
	else if (instantiate_guarded(m, g, inst) < 0)
		r = -EFAULT;
	else if (g->transfer(inst, m->inst) < 0)
		r = -ENOMEM;
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "module %s: %s", name,
		         r == -EFAULT ? "the new build trapped while instantiating"
		                      : "no memory for the new build's instance");
		/* as instance_discard(), also after a trap in instantiate */
		if (inst && g->memory(inst)) {
			wasm_rt_memory_t *mem = g->memory(inst);
			void *data = mem->data;
			g->free_instance(inst);
			if (data)
				munmap(data, WASM_RESERVATION);
		}
		free(inst);
		dl_release(dl);
		safe_close(nfd);
		free(path);
		return r;
	}
	/* The old build's instance goes; everything the host keeps for the
	 * module (timers, sockets, counters, logs) stays. */
	wasm_rt_memory_t *old_mem = m->g->memory(m->inst);
	void *old_data = old_mem ? old_mem->data : NULL;
	m->g->free_instance(m->inst);
	if (old_data)
		munmap(old_data, WASM_RESERVATION);
	free(m->inst);
	if (m->dl_acquired)
		dl_release(m->dl);
	else
		dlclose(m->dl);
	safe_close(m->so_fd);
	free(m->so_path);
	m->dl = dl;
	m->dl_acquired = true;
	m->so_fd = nfd;
	m->so_path = path;
	m->g = g;
	m->inst = inst;
	m->mem = g->memory(inst);
	if (m->mem->max_pages > h->lim.mem_max_pages)
		m->mem->max_pages = h->lim.mem_max_pages;
	m->swaps++;
	return 0;
}

int modhost_remove(struct modhost *h, const char *name)
{
	for (struct mod **pp = &h->mods; *pp; pp = &(*pp)->next) {
		struct mod *m = *pp;
		if (strcmp(m->name, name) != 0)
			continue;
		*pp = m->next;
		if (!m->failed && m->inst && m->g->fini)
			wasm_call(m, CALL_FINI, 0, NULL);
		mod_free(m);
		return 0;
	}
	return -ENOENT;
}

/* ---- the packet dispatcher ------------------------------------------------------ */

int modhost_modified_ok(modhost_send_policy_fn *policy, void *ctx, const char *module,
                        const uint8_t *orig, uint32_t orig_len, const uint8_t *pkt, uint32_t len)
{
	int family;
	uint32_t off, alen;
	if (len >= 20 && pkt[0] >> 4 == 4) {
		uint32_t ihl = (uint32_t)(pkt[0] & 0x0f) * 4;
		if (ihl < 20 || ihl > len || ((uint32_t)pkt[2] << 8 | pkt[3]) != len)
			return -EINVAL;
		family = AF_INET;
		off = 12;
		alen = 4;
	} else if (len >= 40 && pkt[0] >> 4 == 6) {
		if (((uint32_t)pkt[4] << 8 | pkt[5]) + 40u != len)
			return -EINVAL;
		family = AF_INET6;
		off = 8;
		alen = 16;
	} else {
		return -EINVAL;
	}
	if (orig_len >= off + alen && orig[0] >> 4 == pkt[0] >> 4 &&
	    memcmp(orig + off, pkt + off, alen) == 0)
		return 0; /* its own flow's source, unchanged */
	if (!policy)
		return 0;
	return policy(ctx, module, family, pkt + off, NULL);
}

uint32_t modhost_packet(struct modhost *h, uint8_t *data, uint32_t *len, uint32_t cap,
                        const struct ns_pkt_meta *meta)
{
	const uint8_t *cur = data;
	uint32_t cur_len = *len;
	bool modified = false;

	if (cur_len > NS_PACKET_MAX)
		return NS_ACCEPT;
	for (struct mod *m = h->mods; m; m = m->next) {
		if (m->failed || !m->inst || !m->g->packet || m->sample_every)
			continue;
		if (m->n_filters && !pkt_filters_match(m->filters, m->n_filters, cur, cur_len))
			continue;
		uint8_t *buf = m->mem->data + m->pkt_buf;
		if (buf != cur)
			memcpy(buf, cur, cur_len);
		m->in_packet = true;
		m->cur_len = cur_len;
		m->cur_meta = meta;
		m->packets++;
		uint32_t v;
		int r = wasm_call(m, CALL_PACKET, cur_len, &v);
		m->in_packet = false;
		if (r < 0)
			continue; /* trapped: this module passes the packet on unchanged */
		switch (v) {
		case NS_ACCEPT:
			m->accepted++;
			break;
		case NS_DROP:
			m->dropped++;
			return NS_DROP;
		case NS_MODIFIED:
			m->modified++;
			if (m->cur_len > NS_PACKET_MAX ||
			    modhost_modified_ok(h->policy, h->ctx, m->name, data, *len, buf,
			                        m->cur_len) < 0) {
				/* Malformed, or in someone else's name: it goes nowhere
				 * (docs/security.md, "Modified packets"). */
				m->policy_drops++;
				return NS_DROP;
			}
			cur = buf;
			cur_len = m->cur_len;
			modified = true;
			break;
		default:
			m->bad_verdicts++;
			break;
		}
	}
	if (!modified)
		return NS_ACCEPT;
	if (cur_len > cap)
		return NS_ACCEPT; /* cannot happen: cap >= NS_PACKET_MAX by contract */
	memcpy(data, cur, cur_len);
	*len = cur_len;
	return NS_MODIFIED;
}

int modhost_set_sample(struct modhost *h, const char *name, uint32_t every)
{
	struct mod *m = mod_find(h, name);
	if (!m)
		return -ENOENT;
	m->sample_every = every;
	return 0;
}

int modhost_sample(struct modhost *h, const char *name, const uint8_t *data, uint32_t len,
                   const struct ns_pkt_meta *meta)
{
	struct mod *m = mod_find(h, name);
	if (!m || !m->sample_every || m->failed || !m->inst || !m->g->packet || len > NS_PACKET_MAX)
		return 0;
	struct ns_pkt_meta sm = *meta;
	sm.sample_every = m->sample_every;
	memcpy(m->mem->data + m->pkt_buf, data, len);
	m->in_packet = true;
	m->cur_len = len;
	m->cur_meta = &sm;
	m->packets++;
	m->samples++;
	uint32_t v;
	(void)wasm_call(m, CALL_PACKET, len, &v); /* a trap is counted there */
	m->in_packet = false;
	m->cur_meta = NULL;
	return 1;
}

size_t modhost_packet_modules(const struct modhost *h)
{
	size_t n = 0;
	for (const struct mod *m = h->mods; m; m = m->next)
		n += !m->failed && m->g->packet;
	return n;
}

json_t *modhost_stats(struct modhost *h)
{
	json_t *arr = json_array();
	for (struct mod *m = h->mods; m; m = m->next) {
		json_t *counters = json_object();
		for (uint32_t i = 0; i < m->n_counters; i++)
			json_object_set_new(counters, m->counters[i].name,
			                    json_integer((json_int_t)m->counters[i].value));
		json_t *j = json_pack(
		        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
		        "module", m->name, "state", m->failed ? "failed" : "active", "packets",
		        (json_int_t)m->packets, "accepted", (json_int_t)m->accepted, "dropped",
		        (json_int_t)m->dropped, "modified", (json_int_t)m->modified, "traps",
		        (json_int_t)m->traps, "timeouts", (json_int_t)m->timeouts, "instantiations",
		        (json_int_t)m->instantiations, "timer_calls", (json_int_t)m->timer_calls,
		        "sends", (json_int_t)m->sends, "sends_refused",
		        (json_int_t)m->sends_refused, "memory_pages",
		        (json_int_t)(m->mem ? m->mem->pages : 0), "counters", counters);
		json_object_set_new(j, "sends_limited", json_integer((json_int_t)m->sends_limited));
		json_object_set_new(j, "policy_drops", json_integer((json_int_t)m->policy_drops));
		if (m->swaps)
			json_object_set_new(j, "swaps", json_integer((json_int_t)m->swaps));
		if (m->sample_every) {
			json_object_set_new(j, "sample_every", json_integer(m->sample_every));
			json_object_set_new(j, "samples", json_integer((json_int_t)m->samples));
		}
		if (m->last_trap[0])
			json_object_set_new(j, "last_trap", json_string(m->last_trap));
		if (m->failed)
			json_object_set_new(j, "reason", json_string(m->fail_reason));
		modhost_socks_stats(m, j);
		http_fetch_stats(m, j);
		if (m->media_calls || m->media_failures)
			json_object_set_new(j, "media",
			                    json_pack("{s:I, s:I, s:I}", "calls",
			                              (json_int_t)m->media_calls, "failures",
			                              (json_int_t)m->media_failures, "ms",
			                              (json_int_t)m->media_ms));
		json_object_set_new(j, "log_lines", json_integer((json_int_t)m->log_lines));
		json_object_set_new(j, "log_suppressed",
		                    json_integer((json_int_t)m->log_suppressed));
		json_object_set_new(j, "logs_dropped",
		                    json_integer((json_int_t)logring_dropped(&m->logs)));
		json_t *logs = json_array();
		const struct logring_line *l;
		for (uint32_t i = 0; (l = logring_get(&m->logs, i)); i++)
			json_array_append_new(logs, json_pack("{s:I, s:s, s:s}", "time_ms",
			                                      (json_int_t)l->time_ms, "level",
			                                      logring_level_name(l->level), "text",
			                                      l->text));
		json_object_set_new(j, "logs", logs);
		json_array_append_new(arr, j);
	}
	return arr;
}

/* ---- life ------------------------------------------------------------------------- */

void modhost_set_socket_policy(struct modhost *h, modhost_sock_policy_fn *fn)
{
	h->sock_policy = fn;
}

bool modhost_is_server(const struct modhost *h, const char *name)
{
	for (const struct mod *m = h->mods; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m->g->socket || m->g->http;
	return false;
}

void modhost_set_owner(struct modhost *h, const char *owner)
{
	snprintf(h->owner, sizeof(h->owner), "%s", owner ? owner : "");
}

int modhost_new(struct evloop *loop, const struct modhost_limits *lim, modhost_event_fn *event,
                modhost_send_policy_fn *policy, void *ctx, struct modhost **ret, char *err,
                size_t errlen)
{
	if (g_host_created) {
		snprintf(err, err ? errlen : 0, "only one module host per process");
		return -EBUSY;
	}
	struct modhost *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->lim = *lim;
	if (h->lim.budget_ms == 0)
		h->lim.budget_ms = 100;
	if (h->lim.mem_max_pages == 0 || h->lim.mem_max_pages > 65536)
		h->lim.mem_max_pages = 65536;
	h->event = event;
	h->policy = policy;
	h->ctx = ctx;
	h->udp4 = h->udp6 = h->raw4 = h->raw6 = -1;
	h->send_pkt_tokens = h->lim.send_pps;
	h->send_byte_tokens = (double)h->lim.send_bytes_per_s;
	h->send_refill_ns = modhost_now_ns();
	h->sock_byte_tokens = (double)h->lim.socket_bytes_per_s;
	h->sock_refill_ns = h->send_refill_ns;
	int r = signals_install(h, err, errlen);
	if (r < 0) {
		modhost_free(h);
		return r;
	}
	modhost_sockets_open(h);
	g_host_created = true;
	*ret = h;
	return 0;
}

struct modhost *modhost_free(struct modhost *h)
{
	if (!h)
		return NULL;
	while (h->mods)
		modhost_remove(h, h->mods->name);
	h->sock_rate_timer = evloop_timer_cancel(h->loop, h->sock_rate_timer);
	if (h->tick_created)
		timer_delete(h->tick);
	safe_close(h->udp4);
	safe_close(h->udp6);
	safe_close(h->raw4);
	safe_close(h->raw6);
	free(h);
	g_host_created = false;
	g_virtual = false;
	return NULL;
}
