/* Container hardening inside netserv-container (see sandbox.h). */
#include "container/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/host_media.h"
#include "lib/errbuf.h"
#include "lib/util.h"

static void applied_add(struct sandbox *sb, const char *what)
{
	size_t n = strlen(sb->applied);
	snprintf(sb->applied + n, sizeof(sb->applied) - n, "%s%s", n ? " " : "", what);
}

int sandbox_init(struct sandbox *sb, const struct sandbox_config *cfg, char *err, size_t errlen)
{
	memset(sb, 0, sizeof(*sb));
	sb->cfg = *cfg;
	sb->dir_fd = -1;
	char why[200];
	if (policy_parse_prefixes(cfg->source_prefixes, &sb->sources, why, sizeof(why)) < 0)
		return err_set(err, errlen, -EINVAL, "source prefixes: %s", why);
	sb->any_dest = !cfg->send_destinations[0];
	if (!sb->any_dest &&
	    policy_parse_prefixes(cfg->send_destinations, &sb->dests, why, sizeof(why)) < 0)
		return err_set(err, errlen, -EINVAL, "send destinations: %s", why);
	if (policy_parse_listen_ports(cfg->listen_ports, &sb->listen_tcp, &sb->listen_udp, why,
	                              sizeof(why)) < 0)
		return err_set(err, errlen, -EINVAL, "listen ports: %s", why);
	if (policy_parse_prefixes(cfg->connect_destinations[0] ? cfg->connect_destinations : "none",
	                          &sb->connect, why, sizeof(why)) < 0)
		return err_set(err, errlen, -EINVAL, "connect destinations: %s", why);
	if (cfg->dir[0]) {
		sb->dir_fd = open(cfg->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (sb->dir_fd < 0)
			return err_set(err, errlen, -errno, "own directory %s: %s", cfg->dir,
			               strerror(errno));
	}
	if (cfg->netns[0]) {
		char path[128];
		snprintf(path, sizeof(path), "/run/netns/%s", cfg->netns);
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return err_set(err, errlen, -errno, "network namespace %s: %s", path,
			               strerror(errno));
		if (setns(fd, CLONE_NEWNET) < 0)
			return err_set(err, errlen, -errno, "joining network namespace %s: %s",
			               path, strerror(errno));
		sb->in_netns = true;
		applied_add(sb, "netns");
	}
	return 0;
}

uint32_t sandbox_keep_caps(const struct sandbox *sb)
{
	uint32_t keep = 0;
	/* Ports below 1024 in the node's namespace; in its own namespace the
	 * node made every port unprivileged (ip_unprivileged_port_start = 0). */
	if (!sb->in_netns) {
		for (size_t i = 0; i < sb->listen_tcp.n; i++)
			if (sb->listen_tcp.v[i].lo < 1024)
				keep |= 1u << CAP_NET_BIND_SERVICE;
		for (size_t i = 0; i < sb->listen_udp.n; i++)
			if (sb->listen_udp.v[i].lo < 1024)
				keep |= 1u << CAP_NET_BIND_SERVICE;
	}
	return keep;
}

/* ---- capabilities -------------------------------------------------------- */

static int caps_drop(uint32_t keep, char *err, size_t errlen)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	if (syscall(SYS_capget, &hdr, data) < 0)
		return err_set(err, errlen, -errno, "capget: %s", strerror(errno));
	/* Still allowed to shrink the bounding set (running as root)? */
	if (data[0].effective & (1u << CAP_SETPCAP))
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (cap >= 32 || !(keep & (1u << cap)))
				prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	uint32_t have = data[0].permitted;
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = keep & have;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return err_set(err, errlen, -errno, "capset: %s", strerror(errno));
	return 0;
}

/* ---- landlock -------------------------------------------------------------- */

/* The kernel's UAPI, newer than some distributions' headers. */
#define LL_FS_TRUNCATE         (1ULL << 14)
#define LL_FS_IOCTL_DEV        (1ULL << 15)
#define LL_NET_BIND_TCP        (1ULL << 0)
#define LL_NET_CONNECT_TCP     (1ULL << 1)
#define LL_RULE_PATH_BENEATH   1
#define LL_RULE_NET_PORT       2
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define LL_SCOPE_SIGNAL        (1ULL << 1)
#define LL_MAX_BIND_RULES      1024

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

static int ll_add_path(int ruleset, int dir_fd, const char *path, uint64_t access)
{
	_cleanup_close_ int fd = dir_fd >= 0 ? -1 : open(path, O_PATH | O_CLOEXEC);
	if (dir_fd < 0 && fd < 0)
		return -errno;
	struct ll_path_beneath_attr pb = {.allowed_access = access,
	                                  .parent_fd = dir_fd >= 0 ? dir_fd : fd};
	if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
		return -errno;
	return 0;
}

static int ll_add_bind(int ruleset, uint16_t port)
{
	struct ll_net_port_attr np = {.allowed_access = LL_NET_BIND_TCP, .port = port};
	return syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &np, 0) < 0 ? -errno : 0;
}

static int landlock_apply(struct sandbox *sb, char *err, size_t errlen)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		applied_add(sb, "landlock(unavailable)");
		return 0;
	}
	struct ll_ruleset_attr attr = {.handled_access_fs = (1ULL << 13) - 1}; /* ABI 1 */
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 5)
		attr.handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 4)
		attr.handled_access_net =
		        LL_NET_BIND_TCP | (sb->connect.n ? 0 : LL_NET_CONNECT_TCP);
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	_cleanup_close_ int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0)
		return err_set(err, errlen, -errno, "landlock: create ruleset: %s",
		               strerror(errno));
	int r;
	if (sb->dir_fd >= 0) {
		uint64_t own = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
		               LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
		               LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |
		               LANDLOCK_ACCESS_FS_MAKE_REG;
		if (abi >= 3)
			own |= LL_FS_TRUNCATE;
		r = ll_add_path(rs, sb->dir_fd, sb->cfg.dir, own);
		if (r < 0)
			return err_set(err, errlen, r, "landlock: %s: %s", sb->cfg.dir,
			               strerror(-r));
	}
	/* Its own /proc/<pid> (statistics read /proc/self/statm). */
	r = ll_add_path(rs, -1, "/proc/self",
	                LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR);
	if (r < 0)
		return err_set(err, errlen, r, "landlock: /proc/self: %s", strerror(-r));
	/* media/1's font, read-only (drawtext opens it on every call); a node
	 * without it answers media calls with -ENOENT. */
	r = ll_add_path(rs, -1, HOST_MEDIA_FONT, LANDLOCK_ACCESS_FS_READ_FILE);
	if (r < 0 && r != -ENOENT)
		return err_set(err, errlen, r, "landlock: %s: %s", HOST_MEDIA_FONT, strerror(-r));
	if (abi >= 4) {
		unsigned rules = 0;
		for (size_t i = 0; i < sb->listen_tcp.n; i++)
			for (uint32_t p = sb->listen_tcp.v[i].lo;
			     p <= sb->listen_tcp.v[i].hi && rules < LL_MAX_BIND_RULES; p++, rules++)
				if ((r = ll_add_bind(rs, (uint16_t)p)) < 0)
					return err_set(err, errlen, r, "landlock: bind rule: %s",
					               strerror(-r));
	}
	if (syscall(SYS_landlock_restrict_self, rs, 0) < 0)
		return err_set(err, errlen, -errno, "landlock: restrict: %s", strerror(errno));
	char what[48];
	snprintf(what, sizeof(what), "landlock(abi %ld)", abi);
	applied_add(sb, what);
	return 0;
}

/* ---- seccomp --------------------------------------------------------------- */

/* AddressSanitizer builds (GCC says so one way, clang another). */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_ASAN 1
#endif
#endif

/* What a container calls once it serves its publisher: found with strace of
 * real containers (packets through NFQUEUE, installs, removals, traps, time
 * budgets, timers, statistics, crafted packets), plus their obvious kin (the
 * other variant of a call glibc may pick) and the listeners. Setup-time calls
 * (socket of other kinds, bind of the queue, setresuid, capset, prctl,
 * timer_create, sigaltstack, ...) are made before the filter is loaded. */
static const char *const allowed[] = {
        /* files and memory (dlopen of a module from a memfd) */
        "read",
        "readv",
        "pread64",
        "write",
        "writev",
        "pwrite64",
        "lseek",
        "close",
        "fcntl",
        "fstat",
        "newfstatat",
        "statx",
        "openat",
        "memfd_create",
        "ftruncate",
        /* the object store (storage/1), in the own directory only (landlock) */
        "mkdirat",
        "unlinkat",
        "renameat",
        "renameat2",
        "getdents64",
        "mmap",
        "mprotect",
        "munmap",
        "mremap",
        "madvise",
        "brk",
        /* the event loop, the control socket, NFQUEUE, sends, listeners */
        "epoll_wait",
        "epoll_pwait",
        "epoll_ctl",
        "recvmsg",
        "recvmmsg",
        "recvfrom",
        "sendmsg",
        "sendmmsg",
        "sendto",
        "accept4",
        "bind",
        "listen",
        "setsockopt",
        "getsockname",
        "getpeername",
        "getsockopt",
        "connect",
        "shutdown",
        /* http/1 (libmicrohttpd): its epoll set, its wake-up eventfd for
         * resumed connections, socket options */
        "epoll_create1",
        "eventfd2",
        "getsockopt",
        /* http/1's responses from stored objects (ns_http_respond_stored) */
        "sendfile",
        /* http/1's fetches (libcurl): a zero-timeout poll on a connection
         * before reusing it, and on its multi handle's wake-up pair */
        "poll",
        "ppoll",
        /* time, signals (the time-budget tick, traps), threads' basics */
        "clock_gettime",
        "clock_getres",
        "gettimeofday",
        "clock_nanosleep",
        "nanosleep",
        "timer_settime",
        "timer_gettime",
        "timer_delete",
        "rt_sigreturn",
        "rt_sigprocmask",
        "rt_sigaction",
        "sigaltstack",
        "restart_syscall",
        "futex",
        "sched_yield",
        "getrandom",
        "getpid",
        "gettid",
        "getuid",
        "getgid",
        "geteuid",
        "getegid",
        "tgkill",
        "exit",
        "exit_group",
#ifdef SANDBOX_ASAN
        /* AddressSanitizer's and LeakSanitizer's runtime (test builds) */
        "sched_getaffinity",
        "readlink",
        "readlinkat",
        "prlimit64",
        "getrlimit",
        "mincore",
        "clone",
        "clone3",
        "wait4",
        "ptrace",
        "prctl",
        "getppid",
        "uname",
        "set_robust_list",
        "rseq",
        "munlock",
        "mlock",
        "kill",
        "dup",
        "dup2",
        "dup3",
        "pipe2",
#endif
};

static int seccomp_apply(struct sandbox *sb, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return err_set(err, errlen, -ENOMEM, "seccomp: cannot create a filter");
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(allowed) && r == 0; i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);
		if (nr != __NR_SCMP_ERROR)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	/* New sockets: only TCP/UDP over IPv4/IPv6 (listeners); no netlink,
	 * packet or raw sockets, whatever the capabilities. */
	static const int families[] = {AF_INET, AF_INET6}, types[] = {SOCK_STREAM, SOCK_DGRAM};
	for (size_t f = 0; f < 2 && r == 0; f++)
		for (size_t t = 0; t < 2 && r == 0; t++)
			r = seccomp_rule_add(
			        ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
			        SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[f]),
			        SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, (scmp_datum_t)types[t]));
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	if (r < 0)
		return err_set(err, errlen, r, "seccomp: %s", strerror(-r));
	applied_add(sb, "seccomp");
	return 0;
}

int sandbox_lockdown(struct sandbox *sb, uint32_t keep, char *err, size_t errlen)
{
	int r;
	if (sb->dir_fd >= 0 && fchdir(sb->dir_fd) < 0)
		return err_set(err, errlen, -errno, "chdir %s: %s", sb->cfg.dir, strerror(errno));
	if ((r = caps_drop(keep, err, errlen)) < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(err, errlen, -errno, "no_new_privs: %s", strerror(errno));
	if (!sb->cfg.no_landlock && (r = landlock_apply(sb, err, errlen)) < 0)
		return r;
	sb->dir_fd = safe_close(sb->dir_fd);
	if (!sb->cfg.no_seccomp && (r = seccomp_apply(sb, err, errlen)) < 0)
		return r;
	return 0;
}

int sandbox_send_allowed(const struct sandbox *sb, int family, const uint8_t *src,
                         const uint8_t *dst)
{
	if (src && !policy_addr_allowed(&sb->sources, family, src))
		return -EPERM;
	if (dst && !sb->any_dest && !policy_addr_allowed(&sb->dests, family, dst))
		return -EPERM;
	return 0;
}

bool sandbox_listen_allowed(const struct sandbox *sb, uint8_t proto, uint16_t port)
{
	if (proto == NCM_PROTO_TCP)
		return policy_port_allowed(&sb->listen_tcp, port);
	if (proto == NCM_PROTO_UDP)
		return policy_port_allowed(&sb->listen_udp, port);
	return false;
}

bool sandbox_connect_allowed(const struct sandbox *sb, int family, const uint8_t *addr)
{
	return policy_addr_allowed(&sb->connect, family, addr);
}
