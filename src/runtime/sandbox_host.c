/* The node's side of container sandboxes (see sandbox_host.h). */
#include "runtime/sandbox_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <unistd.h>

#include "lib/subprocess.h"
#include "lib/util.h"

void sandbox_host_ifname(const char *netns, char buf[16])
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = netns; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(buf, 16, "nsv%08x", h);
}

/* Runs ip(8) with the arguments (NULL-terminated); returns its exit status,
 * or -1 if it could not run or ran longer than 10 s. quiet: its stderr goes
 * to /dev/null, else to ours. */
static int run_ip(bool quiet, ...)
{
	char *argv[24];
	int n = 0;
	argv[n++] = "ip";
	va_list ap;
	va_start(ap, quiet);
	char *a;
	while (n < 23 && (a = va_arg(ap, char *)))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	struct subprocess sp = {
	        .argv = argv,
	        .out = SUBPROCESS_NULL,
	        .err = quiet ? SUBPROCESS_NULL : SUBPROCESS_INHERIT,
	        .timeout_ms = 10000,
	};
	struct subprocess_result res;
	if (subprocess_run(&sp, &res) < 0)
		return -1;
	return WIFEXITED(res.status) ? WEXITSTATUS(res.status) : -1;
}

/* Makes every port unprivileged inside the namespace (a child joins it and
 * writes the sysctl: /proc/sys/net is the writer's namespace's). */
static int unprivileged_ports(const char *netns)
{
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(1);
		int s = open("/proc/sys/net/ipv4/ip_unprivileged_port_start", O_WRONLY | O_CLOEXEC);
		if (s < 0 || write(s, "0\n", 2) != 2)
			_exit(2);
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

static int prepare_dir(const struct sup_publisher *p, char *err, size_t errlen)
{
	const char *dir = p->ct.sandbox.dir;
	if (!dir[0])
		return 0;
	char parent[sizeof(p->ct.sandbox.dir)];
	snprintf(parent, sizeof(parent), "%s", dir);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0711) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create %s: %s", parent, strerror(errno));
			return -errno;
		}
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -errno;
	}
	struct stat st;
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", dir);
		return -ENOTDIR;
	}
	uid_t uid = p->ct.uid >= 0 ? (uid_t)p->ct.uid : getuid();
	gid_t gid = p->ct.gid >= 0 ? (gid_t)p->ct.gid : getgid();
	if (chown(dir, uid, gid) < 0 || chmod(dir, 0700) < 0) {
		snprintf(err, errlen, "cannot give %s to uid %u: %s", dir, (unsigned)uid,
		         strerror(errno));
		return -errno;
	}
	return 0;
}

int sandbox_host_prepare(const struct sup_publisher *p, char *err, size_t errlen)
{
	int r = prepare_dir(p, err, errlen);
	if (r < 0 || !p->ct.sandbox.netns[0])
		return r;
	const struct sandbox_config *sb = &p->ct.sandbox;
	char ifname[16], name[sizeof(sb->netns)], gw[64], addr[64];
	snprintf(name, sizeof(name), "%s", sb->netns);
	snprintf(addr, sizeof(addr), "%s", sb->netns_address);
	sandbox_host_ifname(name, ifname);
	/* The node's end carries the gateway with the container's prefix length. */
	snprintf(gw, sizeof(gw), "%s%s", sb->netns_gateway, strchr(addr, '/'));
	bool v6 = strchr(sb->netns_gateway, ':') != NULL;
	/* A namespace left over by a netservd that was killed. */
	run_ip(true, "netns", "del", name, NULL);
	run_ip(true, "link", "del", ifname, NULL);
	char gateway[48];
	snprintf(gateway, sizeof(gateway), "%s", sb->netns_gateway);
	if (run_ip(false, "netns", "add", name, NULL) != 0) {
		snprintf(err, errlen, "publisher %s: ip netns add %s failed", p->ct.user, name);
		return -EIO;
	}
	if (run_ip(false, "link", "add", ifname, "type", "veth", "peer", "name", "eth0", "netns",
	           name, NULL) != 0 ||
	    run_ip(false, "addr", "add", gw, "dev", ifname, NULL) != 0 ||
	    run_ip(false, "link", "set", ifname, "up", NULL) != 0 ||
	    run_ip(false, "-n", name, "addr", "add", addr, "dev", "eth0", NULL) != 0 ||
	    run_ip(false, "-n", name, "link", "set", "eth0", "up", NULL) != 0 ||
	    run_ip(false, "-n", name, "link", "set", "lo", "up", NULL) != 0 ||
	    run_ip(false, "-n", name, v6 ? "-6" : "-4", "route", "add", "default", "via", gateway,
	           NULL) != 0) {
		snprintf(err, errlen,
		         "publisher %s: cannot set up its network namespace %s (veth %s, %s via "
		         "%s): see ip's messages",
		         p->ct.user, name, ifname, addr, gateway);
		run_ip(true, "netns", "del", name, NULL);
		return -EIO;
	}
	r = unprivileged_ports(name);
	if (r < 0) {
		snprintf(err, errlen, "publisher %s: cannot open low ports in namespace %s",
		         p->ct.user, name);
		run_ip(true, "netns", "del", name, NULL);
		return r;
	}
	return 0;
}

void sandbox_host_cleanup(const struct sup_publisher *p)
{
	if (!p->ct.sandbox.netns[0])
		return;
	char ifname[16];
	sandbox_host_ifname(p->ct.sandbox.netns, ifname);
	run_ip(true, "netns", "del", p->ct.sandbox.netns, NULL);
	run_ip(true, "link", "del", ifname, NULL);
}

int sandbox_host_purge(const struct sup_publisher *p, const char *module)
{
	const char *dir = p->ct.sandbox.dir;
	if (!dir[0] || !module[0] || strchr(module, '/') || module[0] == '.')
		return dir[0] ? -EINVAL : 0;
	char path[sizeof(p->ct.sandbox.dir) + 160];
	if ((size_t)snprintf(path, sizeof(path), "%s/store/m.%s", dir, module) >= sizeof(path))
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(fd, e->d_name, 0) < 0 && !r)
			r = -errno;
	closedir(d);
	if (rmdir(path) < 0 && !r)
		r = -errno;
	return r;
}
