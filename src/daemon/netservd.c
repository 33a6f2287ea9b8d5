/* netservd: the NetServ node daemon. Wires the layers together and runs the
 * event loop in the foreground until SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/controller.h"
#include "ctl/guard.h"
#include "ctl/store.h"
#include "fwd/fwd_netfilter.h"
#include "fwd/xdp/fwd_tcsample.h"
#include "fwd/xdp/fwd_xdp.h"
#include "fwd/fwd_openflow.h"
#include "runtime/cgroup.h"
#include "runtime/runtime_wasm.h"
#include "runtime/sandbox_host.h"
#include "daemon/admin.h"
#include "daemon/config.h"
#include "daemon/metrics.h"
#include "daemon/sidecar_group.h"
#include "daemon/sidecar.h"
#include "daemon/signaling.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "paths.h"

#ifdef NETSERV_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#else
static int sd_notify(int unset_environment, const char *state)
{
	(void)unset_environment;
	(void)state;
	return 0;
}
#endif

static const char usage[] =
        "Usage: netservd [OPTIONS]\n"
        "Run a NetServ node in the foreground (stop it with SIGTERM or SIGINT;\n"
        "SIGHUP reloads the configuration).\n"
        "\n"
        "  -c, --config FILE   configuration file (default " NETSERV_DEFAULT_CONFIG ")\n"
        "  -t, --check-config  read the configuration, report errors, and exit\n"
        "  -d, --debug         log at debug level (overrides [log] level)\n"
        "  -h, --help          show this help and exit\n"
        "  -V, --version       show the version and exit\n"
        "\n"
        "Exit status: 0 after a clean stop, 1 on a configuration or start-up error.\n";

/* What a reload (SIGHUP) changes. */
struct node {
	const char *config_path;
	bool debug;            /* -d: the log level stays debug */
	struct ns_config *cfg; /* the running configuration */
	struct guard *guard;
	struct controller *ctl;
	void *rt;         /* the wasm runtime, or NULL */
	size_t sandboxes; /* cfg->publishers[0..sandboxes) have their sandbox */
};

static void warn_log(void *ctx, const char *msg)
{
	(void)ctx;
	log_warn("config: %s", msg);
}

static void warn_stderr(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "netservd: warning: %s\n", msg);
}

/* The container-wide limits derived from node settings. */
static void publisher_limits(struct ns_config *cfg)
{
	for (size_t i = 0; i < cfg->n_publishers; i++)
		cfg->publishers[i].ct.mem_max_pages = (uint32_t)(cfg->module_max_memory / 65536);
}

static void guard_config_of(const struct ns_config *cfg, struct guard_publisher *gpubs,
                            struct guard_config *gc)
{
	for (size_t i = 0; i < cfg->n_publishers; i++)
		gpubs[i] = (struct guard_publisher){cfg->publishers[i].ct.user, &cfg->policies[i]};
	*gc = (struct guard_config){
	        .require_signatures = cfg->security.require_signatures,
	        .accept_unbound = cfg->security.accept_unbound_signatures,
	        .keys_dir = cfg->security.keys_dir,
	        .window_s = cfg->security.timestamp_window_s,
	        .require_hash = cfg->require_hash,
	        .rrc_port = (uint16_t)cfg->security.rrc_port,
	        .rrc_timeout_s = cfg->security.rrc_timeout_s,
	        .publishers = gpubs,
	        .n_publishers = cfg->n_publishers,
	};
}

static struct ctl_settings ctl_settings_of(const struct ns_config *cfg, struct guard *guard)
{
	return (struct ctl_settings){
	        .node_id = cfg->node_id,
	        .state_dir = cfg->state_dir,
	        .default_ttl = cfg->default_ttl,
	        .max_ttl = cfg->max_ttl,
	        .max_modules = cfg->max_modules,
	        .require_hash = cfg->require_hash,
	        .fetch = {.timeout_s = cfg->fetch_timeout_s,
	                  .max_size = cfg->fetch_max_size,
	                  .protocols = cfg->fetch_protocols},
	        .guard = guard,
	};
}

static const struct sup_publisher *find_publisher(const struct ns_config *cfg, const char *user)
{
	for (size_t i = 0; i < cfg->n_publishers; i++)
		if (strcmp(cfg->publishers[i].ct.user, user) == 0)
			return &cfg->publishers[i];
	return NULL;
}

/* SIGHUP: re-reads the configuration without stopping (docs/operations.md
 * "Reload"). A file that does not parse changes nothing. */
static void reload(struct node *n)
{
	char err[512];
	struct ns_config *cur = n->cfg, *next = malloc(sizeof(*next));
	if (!next) {
		log_err("reload: out of memory; the running configuration is kept");
		return;
	}
	config_defaults(next);
	if (config_load(next, n->config_path, err, sizeof(err)) < 0) {
		log_err("reload refused, the running configuration is kept: %s", err);
		config_free(next);
		free(next);
		return;
	}
	config_warnings(next, n->config_path, warn_log, NULL);
	char restart[1024];
	if (config_keep_restart_settings(next, cur, restart, sizeof(restart)) > 0)
		log_warn("reload: %s changed: needs a restart (the running value is kept)",
		         restart);
	publisher_limits(next);
	int added = 0, dropped = 0;
	for (size_t i = 0; i < next->n_publishers; i++) {
		struct sup_publisher *p = &next->publishers[i];
		const struct sup_publisher *old = find_publisher(cur, p->ct.user);
		if (!old) {
			added++;
			continue;
		}
		if (memcmp(p, old, sizeof(*p)) != 0) {
			log_warn("reload: publisher %s: its container keeps its running settings "
			         "(uid, limits, sandbox, the send and listen policy it enforces) "
			         "until a restart; its policy for requests applies now",
			         p->ct.user);
			*p = *old;
		}
	}
	struct guard_publisher *gpubs = calloc(next->n_publishers + 1, sizeof(*gpubs));
	struct guard_config gc;
	if (gpubs)
		guard_config_of(next, gpubs, &gc);
	if (!gpubs || guard_reload(n->guard, &gc) < 0) {
		log_err("reload: out of memory; the running configuration is kept");
		free(gpubs);
		config_free(next);
		free(next);
		return;
	}
	free(gpubs);
	struct ctl_settings s = ctl_settings_of(next, n->guard);
	int removed = controller_reload(n->ctl, &s);
	for (size_t i = 0; i < cur->n_publishers; i++) {
		const struct sup_publisher *p = &cur->publishers[i];
		if (find_publisher(next, p->ct.user))
			continue;
		dropped++;
		log_notice("reload: publisher %s removed: its modules and its container go",
		           p->ct.user);
		if (n->rt) {
			runtime_wasm_remove_publisher(n->rt, p->ct.user);
			if (i < n->sandboxes)
				sandbox_host_cleanup(p);
		}
	}
	size_t sandboxes = 0;
	for (size_t i = 0; i < next->n_publishers && n->rt; i++) {
		struct sup_publisher *p = &next->publishers[i];
		if (find_publisher(cur, p->ct.user)) {
			sandboxes++;
			continue;
		}
		log_notice("reload: publisher %s added", p->ct.user);
		int r = sandbox_host_prepare(p, err, sizeof(err));
		if (r == 0)
			r = runtime_wasm_add_publisher(n->rt, p, err, sizeof(err));
		if (r < 0)
			log_err("reload: publisher %s has no container: %s", p->ct.user, err);
		sandboxes++; /* cleaning up a namespace not made is harmless */
	}
	if (!n->debug)
		log_setup("netservd", next->log_level, next->log_syslog);
	config_move(cur, next);
	free(next);
	if (n->rt)
		n->sandboxes = sandboxes;
	log_notice("reloaded %s: %zu publisher(s) (%d added, %d removed), %d module(s) removed "
	           "by the new policies",
	           n->config_path, cur->n_publishers, added, dropped, removed);
}

static void on_signal(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		log_notice("received SIGHUP: reloading the configuration");
		reload(ctx);
		return;
	}
	log_notice("received signal %u, stopping", si.ssi_signo);
	sd_notify(0, "STOPPING=1");
	evloop_stop(loop);
}

/* Finds a program installed next to netservd (same directory). */
static void beside_self(const char *prog, char *buf, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(buf, len, "%s", prog);
		return;
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(buf, len, "%.*s/%s", PATH_MAX / 2, self, prog) >= len)
		snprintf(buf, len, "%s", prog);
}

static bool has_file(const char *dir, const char *file)
{
	char path[PATH_MAX + 32];
	return (size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) < sizeof(path) &&
	       access(path, R_OK) == 0;
}

/* The runtime sources the compiler bundles (glue.c and its headers): a
 * netservd in its build tree uses the source tree's (only in a build with
 * NETSERV_BUILD_TREE_PATHS, which defines NETSERV_RUNTIME_SOURCE_DIR); an
 * installed one its own <bin>/../share/netserv/runtime (so a relocated
 * installation finds its own), then the configured prefix's. Returns a path
 * (buf, or static). */
static const char *find_runtime_dir(char *buf, size_t len)
{
	char probe[PATH_MAX];

#ifdef NETSERV_RUNTIME_SOURCE_DIR
	beside_self("CMakeCache.txt", probe, sizeof(probe));
	if (access(probe, F_OK) == 0 && has_file(NETSERV_RUNTIME_SOURCE_DIR, "glue.c"))
		return NETSERV_RUNTIME_SOURCE_DIR;
#endif
	beside_self("../share/netserv/runtime", probe, sizeof(probe));
	if (has_file(probe, "glue.c") && len >= PATH_MAX && realpath(probe, buf))
		return buf;
#ifdef NETSERV_RUNTIME_SOURCE_DIR
	/* A build-tree netservd copied elsewhere (the benchmarks do): its
	 * sources, unless the configured prefix has an installation. */
	if (!has_file(aot_default_runtime_dir(), "glue.c") &&
	    has_file(NETSERV_RUNTIME_SOURCE_DIR, "glue.c"))
		return NETSERV_RUNTIME_SOURCE_DIR;
#endif
	return aot_default_runtime_dir();
}

/* The container program: <bin>/../libexec/netserv/netserv-container (the
 * installed layout: netservd in sbin, the container in libexec), else the one
 * next to netservd (a build tree). */
static void find_container_program(char *buf, size_t len)
{
	beside_self("../libexec/netserv/netserv-container", buf, len);
	if (access(buf, X_OK) == 0)
		return;
	beside_self("netserv-container", buf, len);
}

/* Parses the [forwarding] hooks list into FWD_NF_HOOK_* flags. */
static unsigned fwd_hooks(const char *list)
{
	unsigned flags = 0;
	if (strstr(list, "forward"))
		flags |= FWD_NF_HOOK_FORWARD;
	if (strstr(list, "input"))
		flags |= FWD_NF_HOOK_INPUT;
	if (strstr(list, "output"))
		flags |= FWD_NF_HOOK_OUTPUT;
	return flags;
}

/* File descriptors netservd holds per container (its control socket, its
 * pidfd, its NFQUEUE socket, with the tc sampler its sample channel's two
 * ends) and beside them (database, sockets, fetches). */
#define FDS_PER_CONTAINER 6
#define FDS_BASE          1024

/* Raises RLIMIT_NOFILE to what the containers of n publishers and spares
 * need (the soft limit, and the hard one when root may). Returns 0 or a
 * negative errno with the reason. */
static int raise_fd_limit(size_t n, size_t spares, char *err, size_t errlen)
{
	rlim_t need = (rlim_t)(n + spares) * FDS_PER_CONTAINER + FDS_BASE;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		int e = errno;
		snprintf(err, errlen,
		         "%zu publishers (and %zu spare containers) need %llu open files, and "
		         "RLIMIT_NOFILE cannot be raised to that: %s (raise LimitNOFILE= or ulimit "
		         "-n, or configure fewer publishers)",
		         n, spares, (unsigned long long)need, strerror(e));
		return -e;
	}
	return 0;
}

/* The XDP program's object: <bin>/../libexec/netserv/netserv_xdp.bpf.o (the
 * installed layout), else the one next to netservd (a build tree). */
static void find_xdp_object(char *buf, size_t len)
{
	beside_self("../libexec/netserv/netserv_xdp.bpf.o", buf, len);
	if (access(buf, R_OK) == 0)
		return;
	beside_self("netserv_xdp.bpf.o", buf, len);
}

static int xdp_plane_open(void *ctx, unsigned queue, int *fds, int *ifindexes, size_t max,
                          char *err, size_t errlen)
{
	return fwd_xdp_open_slot(ctx, queue, fds, ifindexes, max, err, errlen);
}

static int xdp_plane_arm(void *ctx, unsigned queue, char *err, size_t errlen)
{
	return fwd_xdp_arm_slot(ctx, queue, err, errlen);
}

static void xdp_plane_close(void *ctx, unsigned queue)
{
	fwd_xdp_close_slot(ctx, queue);
}

/* [forwarding] interfaces: up to max names into names, list[i] pointing at
 * each. Returns how many (>= 1) or -EINVAL with the reason in err. */
static int interface_list(const struct ns_config *cfg, char (*names)[16], const char **list,
                          int max, char *err, size_t errlen)
{
	int n = config_interfaces(cfg->fwd_interfaces, names, (size_t)max);
	if (n <= 0) {
		snprintf(err, errlen, "bad [forwarding] interfaces");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++)
		list[i] = names[i];
	return n;
}

static int tcs_channel_open(void *ctx, unsigned queue, char *err, size_t errlen)
{
	return fwd_tcs_channel_open(ctx, (uint16_t)queue, err, errlen);
}

static void tcs_channel_close(void *ctx, unsigned queue)
{
	fwd_tcs_channel_close(ctx, (uint16_t)queue);
}

/* The netfilter plane's tc sampler on the configured interfaces, in front of
 * the netfilter driver nf. */
static int tcs_start(struct evloop *loop, const struct ns_config *cfg, struct fwd_netfilter *nf,
                     struct fwd_tcs **ret, char *err, size_t errlen)
{
	char names[FWD_TCS_MAX_IFS][16], obj[PATH_MAX];
	const char *list[FWD_TCS_MAX_IFS];
	int n = interface_list(cfg, names, list, FWD_TCS_MAX_IFS, err, errlen);
	if (n < 0)
		return n;
	find_xdp_object(obj, sizeof(obj));
	int r = fwd_tcs_new(loop, obj, list, (size_t)n, &fwd_netfilter_ops, nf, ret, err, errlen);
	if (r < 0)
		return r;
	if (fwd_tcs_replaced(*ret))
		log_notice("forwarding plane: took off %u tc sampler(s) of an earlier netservd",
		           fwd_tcs_replaced(*ret));
	char desc[256];
	fwd_tcs_ops.describe(*ret, desc, sizeof(desc));
	log_info("forwarding plane: netfilter, sampled modules by the %s (program %s)", desc, obj);
	return 0;
}

/* The AF_XDP driver on the configured interfaces, its watchdog on loop. */
static int xdp_start(struct evloop *loop, const struct ns_config *cfg, struct fwd_xdp **ret,
                     char *err, size_t errlen)
{
	char names[FWD_XDP_MAX_IFS][16], obj[PATH_MAX];
	const char *list[FWD_XDP_MAX_IFS];
	int n = interface_list(cfg, names, list, FWD_XDP_MAX_IFS, err, errlen);
	if (n < 0)
		return n;
	find_xdp_object(obj, sizeof(obj));
	unsigned replaced = 0;
	int r = fwd_xdp_new(obj, list, (size_t)n, cfg->queue_base, ret, &replaced, err, errlen);
	if (r < 0)
		return r;
	if (replaced)
		log_notice("forwarding plane: replaced %u XDP program(s) of an earlier netservd",
		           replaced);
	r = fwd_xdp_watchdog_start(*ret, loop, 10, cfg->xdp_stall_ms);
	if (r < 0) {
		*ret = fwd_xdp_free(*ret);
		snprintf(err, errlen, "the XDP watchdog: %s", strerror(-r));
		return r;
	}
	char desc[256];
	fwd_xdp_ops.describe(*ret, desc, sizeof(desc));
	log_info("forwarding plane: xdp (%s; program %s)", desc, obj);
	return 0;
}

static int runtime_start(struct evloop *loop, const struct ns_config *cfg, struct fwd_xdp *xdp,
                         struct fwd_tcs *tcs, void **ret, char *err, size_t errlen)
{
	char so_dir[PATH_MAX + 8], program[PATH_MAX + 32];
	if (cfg->compile_cache[0])
		snprintf(so_dir, sizeof(so_dir), "%s", cfg->compile_cache);
	else
		snprintf(so_dir, sizeof(so_dir), "%s/so", cfg->state_dir);
	if (cfg->container_program[0])
		snprintf(program, sizeof(program), "%s", cfg->container_program);
	else
		find_container_program(program, sizeof(program));
	log_info("containers: %s", program);
	char runtime_buf[PATH_MAX];
	const char *runtime_dir = find_runtime_dir(runtime_buf, sizeof(runtime_buf));
	log_info("module compiler: runtime sources from %s", runtime_dir);
	/* Under systemd's Delegate=yes: netservd in a leaf of its subtree, the
	 * containers' groups beside it (cgroup_delegate()). */
	char base[512], prefix[sizeof(base) + sizeof(cfg->cgroup_prefix) + 1];
	int r = cgroup_delegate(cfg->cgroup_delegated, "netservd", base, sizeof(base), err, errlen);
	if (r < 0)
		return r;
	if (r > 0) {
		snprintf(prefix, sizeof(prefix), "%s/%s", base, cfg->cgroup_prefix);
		log_info("cgroups: delegated subtree /%s: netservd in /%s/netservd, containers in "
		         "/%s",
		         base, base, prefix);
	} else {
		snprintf(prefix, sizeof(prefix), "%s", cfg->cgroup_prefix);
	}
	struct sup_xdp_plane plane = {
	        .open = xdp_plane_open, .arm = xdp_plane_arm, .close = xdp_plane_close, .ctx = xdp};
	struct sup_sample_plane samples = {
	        .open = tcs_channel_open, .close = tcs_channel_close, .ctx = tcs};
	struct runtime_wasm_config rc = {
	        .aot = {.cache_dir = so_dir,
	                .runtime_dir = runtime_dir,
	                .user = cfg->compile_user,
	                .time_limit_ms = cfg->compile_timeout_s * 1000},
	        .sup = {.container_bin = program,
	                .xdp = xdp ? &plane : NULL,
	                .samples = tcs ? &samples : NULL,
	                .cgroup_prefix = prefix,
	                .heartbeat_ms = cfg->heartbeat_ms,
	                .pool_size = cfg->pool_size,
	                .restart_limit = cfg->restart_limit,
	                .restart_window_s = cfg->restart_window_s,
	                .install_wait_ms = cfg->install_wait_ms,
	                .exec_each = !cfg->zygote},
	        .max_module_size = cfg->fetch_max_size,
	        .publishers = cfg->publishers,
	        .n_publishers = cfg->n_publishers,
	        /* openflow: queues also without a local node (the controller
	         * steers nothing locally, but a module's filter needs one) */
	        .queues = strcmp(cfg->fwd_driver, "netfilter") == 0 || xdp ||
	                  strcmp(cfg->fwd_driver, "openflow") == 0,
	        .queue_base = (uint16_t)cfg->queue_base,
	};
	/* -O0 keeps wasm2c's unused math helpers, whose libm references a
	 * container cannot resolve: the linker drops them. */
	static const char *const quick_flags[] = {"-ffunction-sections", "-Wl,--gc-sections", NULL};
	char quick_dir[sizeof(so_dir) + 8];
	if (cfg->quick_compile) {
		snprintf(quick_dir, sizeof(quick_dir), "%s-quick", so_dir);
		rc.quick = rc.aot;
		rc.quick.cache_dir = quick_dir;
		rc.quick.optimize = "-O0";
		rc.quick.cflags = quick_flags;
	}
	return runtime_wasm_new(loop, &rc, ret, err, errlen);
}

/* The OpenFlow driver of [openflow], composed with nf (this node's own
 * netfilter plane) when [openflow] local_node names this node. */
/* The sidecar group says a member went up or down: the OpenFlow driver's
 * node of that name (the same names in [sidecar] peers and [openflow] nodes)
 * joins or leaves the select group at once (unless the operator drained it).
 * The controller itself (up from the start) need not be one of the nodes; a
 * peer that is not one is said once, at start (reported down there). */
struct group_glue {
	struct fwd_openflow *of;
	const char *self;
	bool starting; /* sgroup_start() reports every member's initial state */
};

static void group_member_changed(void *ctx, const char *name, uint32_t of_port,
                                 const uint8_t mac[6], bool has_mac, bool up)
{
	struct group_glue *gl = ctx;
	(void)of_port;
	(void)mac;
	(void)has_mac;
	int r = fwd_openflow_set_node_alive(gl->of, name, up);
	if (r == -ENOENT && strcmp(name, gl->self) == 0)
		log_debug("group: this node (%s) is not one of [openflow] nodes", name);
	else if (r == -ENOENT && gl->starting)
		log_warn("group: member %s is not one of [openflow] nodes: not steered to", name);
	else if (r < 0 && r != -ENOENT)
		log_err("group: cannot take node %s %s the switch's group: %s", name,
		        up ? "into" : "out of", strerror(-r));
}

static int openflow_start(struct evloop *loop, const struct ns_config *cfg,
                          struct fwd_netfilter *nf, struct fwd_openflow **ret, char *err,
                          size_t errlen)
{
	struct fwd_of_node nodes[FWD_OF_MAX_NODES];
	size_t n = 0;
	int r = fwd_openflow_parse_nodes(cfg->of_nodes, nodes, FWD_OF_MAX_NODES, &n, err, errlen);
	if (r < 0)
		return r;
	struct fwd_openflow_config oc = {
	        .listen = cfg->of_listen.text,
	        .signaling_port = cfg->of_signaling_port,
	        .nodes = nodes,
	        .n_nodes = n,
	        .local_ops = nf ? &fwd_netfilter_ops : NULL,
	        .local = nf,
	        .echo_interval_ms = cfg->of_echo_interval_ms,
	        .echo_timeout_ms = cfg->of_echo_timeout_ms,
	};
	r = fwd_openflow_new(loop, &oc, ret, err, errlen);
	if (r == 0)
		log_info("forwarding plane: openflow, the switch's controller on %s (%zu nodes, "
		         "signaling to port %u%s%s)",
		         cfg->of_listen.text, n, cfg->of_signaling_port,
		         cfg->of_local_node[0] ? "; this node is " : "", cfg->of_local_node);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"config", required_argument, NULL, 'c'}, {"check-config", no_argument, NULL, 't'},
	        {"debug", no_argument, NULL, 'd'},        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},      {0},
	};
	const char *config_path = NETSERV_DEFAULT_CONFIG;
	bool check_only = false, debug = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:tdhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			puts("netservd " NETSERV_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netservd: unexpected argument '%s'\n%s", argv[optind], usage);
		return 1;
	}

	struct ns_config cfg;
	char err[512];
	config_defaults(&cfg);
	if (config_load(&cfg, config_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "netservd: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (check_only) {
		config_warnings(&cfg, config_path, warn_stderr, NULL);
		printf("netservd: %s: configuration OK\n", config_path);
		config_free(&cfg);
		return 0;
	}
	log_setup("netservd", debug ? LOG_LVL_DEBUG : cfg.log_level, cfg.log_syslog);
	publisher_limits(&cfg);
	struct node node = {.config_path = config_path, .debug = debug, .cfg = &cfg};

	int exit_code = 1;
	struct evloop *loop = NULL;
	struct store *store = NULL;
	struct controller *ctl = NULL;
	struct guard *guard = NULL;
	size_t sandboxes = 0; /* publishers whose sandbox is prepared */
	struct admin *admin = NULL;
	struct signaling *sig = NULL;
	struct sgroup *group = NULL;
	struct group_glue glue = {0};
	struct metrics *metrics = NULL;
	void *rt = NULL;
	struct fwd_netfilter *nf = NULL;
	struct fwd_xdp *xdp = NULL;
	struct fwd_tcs *tcs = NULL;
	struct fwd_openflow *of = NULL;
	void *fwd = NULL;
	const struct fwd_ops *fwd_ops = &fwd_none_ops;
	const struct runtime_ops *rt_ops = &runtime_none_ops;
	_cleanup_close_ int sigfd = -1;

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	int r = evloop_new(&loop);
	if (r < 0) {
		log_err("cannot create the event loop: %s", strerror(-r));
		goto out;
	}
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0 || evloop_add_fd(loop, sigfd, EPOLLIN, on_signal, &node) < 0) {
		log_err("cannot watch signals: %s", strerror(errno));
		goto out;
	}
	/* 0711: containers run as other users and must reach <state_dir>/so. */
	if ((mkdir(cfg.state_dir, 0711) < 0 && errno != EEXIST) || chmod(cfg.state_dir, 0711) < 0) {
		log_err("cannot create state directory %s: %s", cfg.state_dir, strerror(errno));
		goto out;
	}
	r = store_open(cfg.state_dir, &store, err, sizeof(err));
	if (r < 0) {
		log_err("cannot open the state store: %s", err);
		goto out;
	}
	if (store_opened_empty(store))
		log_warn("state store %s/netserv.db was an empty file (0 bytes): starting with no "
		         "modules and no nonces; whatever it held is lost (publishers must send "
		         "their SETUPs again)",
		         cfg.state_dir);
	struct ctl_settings s = ctl_settings_of(&cfg, NULL);
	bool openflow = strcmp(cfg.fwd_driver, "openflow") == 0;
	if (strcmp(cfg.fwd_driver, "netfilter") == 0 || (openflow && cfg.of_local_node[0])) {
		r = fwd_netfilter_new(cfg.fwd_chain_prefix, fwd_hooks(cfg.fwd_hooks), &nf, err,
		                      sizeof(err));
		if (r < 0) {
			log_err("cannot set up the netfilter forwarding plane: %s", err);
			goto out;
		}
		fwd_ops = &fwd_netfilter_ops;
		fwd = nf;
		log_info("forwarding plane: netfilter (chains %s-*)", cfg.fwd_chain_prefix);
		if (!openflow && strcmp(cfg.fwd_sampler, "tc") == 0) {
			r = tcs_start(loop, &cfg, nf, &tcs, err, sizeof(err));
			if (r < 0) {
				log_err("cannot set up the tc sampler ([forwarding] sampler = tc): "
				        "%s",
				        err);
				goto out;
			}
			fwd_ops = &fwd_tcs_ops;
			fwd = tcs;
		}
	} else if (strcmp(cfg.fwd_driver, "xdp") == 0) {
		r = xdp_start(loop, &cfg, &xdp, err, sizeof(err));
		if (r < 0) {
			log_err("cannot set up the AF_XDP forwarding plane: %s", err);
			goto out;
		}
		fwd_ops = &fwd_xdp_ops;
		fwd = xdp;
		/* The netfilter driver beside it (docs/xdp.md, "Two paths"): the
		 * GIST interception rule, and the publishers whose containers get
		 * no AF_XDP sockets (one device queue, one publisher), whose
		 * traffic takes the NFQUEUE path instead. */
		r = fwd_netfilter_new(cfg.fwd_chain_prefix, fwd_hooks(cfg.fwd_hooks), &nf, err,
		                      sizeof(err));
		if (r < 0) {
			log_err("cannot set up the netfilter driver beside the AF_XDP plane: %s",
			        err);
			goto out;
		}
		fwd_xdp_set_local(xdp, &fwd_netfilter_ops, nf);
		log_info("forwarding plane: netfilter beside it (chains %s-*)",
		         cfg.fwd_chain_prefix);
	}
	if (openflow) {
		r = openflow_start(loop, &cfg, nf, &of, err, sizeof(err));
		if (r < 0) {
			log_err("cannot set up the OpenFlow forwarding plane: %s", err);
			goto out;
		}
		fwd_ops = &fwd_openflow_ops;
		fwd = of;
	}
	struct guard_publisher *gpubs = calloc(cfg.n_publishers + 1, sizeof(*gpubs));
	if (!gpubs) {
		log_err("cannot start the security checks: out of memory");
		goto out;
	}
	struct guard_config gc;
	guard_config_of(&cfg, gpubs, &gc);
	r = guard_new(loop, &gc, store, &guard, err, sizeof(err));
	free(gpubs);
	if (r < 0) {
		log_err("cannot start the security checks: %s", err);
		goto out;
	}
	s.guard = guard;
	node.guard = guard;
	if (cfg.security.accept_unbound_signatures)
		log_warn("security: [security] accept_unbound_signatures = yes: a captured signed "
		         "request without signal-to can be replayed toward other users");
	if (!cfg.security.require_signatures)
		log_warn("security: [security] require_signatures = no: unsigned requests are "
		         "accepted");
	if (strcmp(cfg.runtime, "wasm") == 0) {
		r = raise_fd_limit(cfg.n_publishers, cfg.pool_size, err, sizeof(err));
		if (r < 0) {
			log_err("cannot start the containers: %s", err);
			goto out;
		}
		for (; sandboxes < cfg.n_publishers; sandboxes++) {
			r = sandbox_host_prepare(&cfg.publishers[sandboxes], err, sizeof(err));
			if (r < 0) {
				log_err("cannot prepare the container of %s: %s",
				        cfg.publishers[sandboxes].ct.user, err);
				goto out;
			}
		}
		r = runtime_start(loop, &cfg, xdp, tcs, &rt, err, sizeof(err));
		if (r < 0) {
			log_err("cannot start the module runtime: %s", err);
			goto out;
		}
		rt_ops = &runtime_wasm_ops;
		node.rt = rt;
		node.sandboxes = sandboxes;
	}
	r = controller_new(loop, &s, store, rt_ops, rt, fwd_ops, fwd, &ctl, err, sizeof(err));
	if (r < 0) {
		log_err("cannot start the controller: %s", err);
		goto out;
	}
	node.ctl = ctl;
	r = controller_restore(ctl, err, sizeof(err));
	if (r < 0) {
		log_err("cannot restore state: %s", err);
		goto out;
	}
	log_info("state: %d module(s) restored from %s", r, cfg.state_dir);
	if (cfg.sc_group[0]) {
		/* On the switch's controller, a member's health steers the select
		 * group (docs/openflow.md "Group channel"); elsewhere the changes
		 * are only logged. */
		glue = (struct group_glue){.of = of, .self = cfg.sc_node, .starting = true};
		r = sgroup_start(loop, &cfg, ctl, of ? group_member_changed : NULL, &glue, &group,
		                 err, sizeof(err));
		glue.starting = false;
		if (r < 0) {
			log_err("cannot start the sidecar group: %s", err);
			goto out;
		}
	}
	if (cfg.sig_enable) {
		r = signaling_start(loop, &cfg, ctl, fwd_ops, fwd, &sig, err, sizeof(err));
		if (r < 0) {
			log_err("cannot start signaling: %s", err);
			goto out;
		}
	}
	char sockdir[sizeof(cfg.admin_socket)];
	snprintf(sockdir, sizeof(sockdir), "%s", cfg.admin_socket);
	char *slash = strrchr(sockdir, '/');
	if (slash && slash != sockdir) {
		*slash = '\0';
		if (mkdir(sockdir, 0755) < 0 && errno != EEXIST) {
			log_err("cannot create %s: %s", sockdir, strerror(errno));
			goto out;
		}
	}
	r = admin_new(loop, ctl, cfg.admin_socket, &admin, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		goto out;
	}
	admin_set_handler(admin, "sidecar", sidecar_admin, of); /* of NULL: 404 */
	if (cfg.metrics_listen.text[0]) {
		r = metrics_new(loop, ctl, &cfg.metrics_listen, &metrics, err, sizeof(err));
		if (r < 0) {
			log_err("%s", err);
			goto out;
		}
		if (sig)
			metrics_set_extra(metrics, signaling_metrics, sig);
		if (of)
			metrics_set_extra(metrics, fwd_openflow_metrics, of);
		log_info("metrics: http://%s/metrics", cfg.metrics_listen.text);
	}
	log_notice("netservd %s node '%s' ready; admin socket %s", NETSERV_VERSION, cfg.node_id,
	           cfg.admin_socket);
	/* systemd's Type=notify: ready once the admin socket answers. */
	sd_notify(0, "READY=1");
	r = evloop_run(loop);
	if (r < 0) {
		log_err("event loop failed: %s", strerror(-r));
		goto out;
	}
	exit_code = 0;
	log_notice("stopped");
out:
	metrics_free(metrics);
	admin_free(admin);
	signaling_stop(sig);
	sgroup_stop(group);
	controller_free(ctl);
	guard_free(guard);
	runtime_wasm_free(rt);
	if (node.rt)
		sandboxes = node.sandboxes;
	for (size_t i = 0; i < sandboxes; i++)
		sandbox_host_cleanup(&cfg.publishers[i]);
	fwd_openflow_free(of);
	if (xdp)
		fwd_xdp_set_local(xdp, NULL, NULL);
	fwd_tcs_free(tcs); /* before nf: it calls it */
	fwd_netfilter_free(nf);
	fwd_xdp_free(xdp); /* after the containers: it detaches the program */
	store_close(store);
	if (loop && sigfd >= 0)
		evloop_del_fd(loop, sigfd);
	evloop_free(loop);
	config_free(&cfg);
	return exit_code;
}
