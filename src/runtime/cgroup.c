/* cgroup v1/v2 limits for containers. */
#include "runtime/cgroup.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CG_ROOT "/sys/fs/cgroup"

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	if (n < 0)
		return -errno;
	return 0;
}

static bool v2_has_controllers(void)
{
	char buf[256] = "";
	_cleanup_close_ int fd = open(CG_ROOT "/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "memory") && strstr(buf, "pids");
}

enum cg_mode cgroup_detect(void)
{
	struct statfs fs;
	if (statfs(CG_ROOT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
		return v2_has_controllers() ? CG_V2 : CG_NONE;
	if (access(CG_ROOT "/memory/cgroup.procs", F_OK) == 0)
		return CG_V1;
	return CG_NONE;
}

/* mkdir -p of each component of name below base. */
static int mkdirs(const char *base, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s", base);
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", name);
	char *save = NULL;
	for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		size_t used = strlen(out);
		snprintf(out + used, len - used, "/%s", part);
		if (mkdir(out, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	return 0;
}

int cgroup_path(const char *name, const char *ctrl, char *buf, size_t len)
{
	switch (cgroup_detect()) {
	case CG_V2:
		snprintf(buf, len, CG_ROOT "/%s", name);
		return 0;
	case CG_V1:
		snprintf(buf, len, CG_ROOT "/%s/%s", ctrl, name);
		return 0;
	case CG_NONE:
		break;
	}
	return -ENOTSUP;
}

/* Enables in dir's cgroup.subtree_control those of memory, pids and cpu that
 * are not enabled yet: a cgroup that has them (one above a delegated
 * subtree, owned by systemd) is not written to. */
static void enable_controllers(const char *dir)
{
	static const char *const ctrls[] = {"memory", "pids", "cpu"};
	char path[600], have[256] = "";
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, have, sizeof(have) - 2) : -1;
	have[n > 0 ? n : 0] = '\0';
	for (char *p = have; *p; p++)
		if (*p == '\n')
			*p = ' ';
	strcat(have, " ");
	for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
		char word[16], plus[16];
		snprintf(word, sizeof(word), "%s ", ctrls[i]);
		bool on = strncmp(have, word, strlen(word)) == 0;
		snprintf(word, sizeof(word), " %s ", ctrls[i]);
		on = on || strstr(have, word);
		if (!on) {
			snprintf(plus, sizeof(plus), "+%s", ctrls[i]);
			write_file(dir, "cgroup.subtree_control", plus);
		}
	}
}

static int apply_v2(const char *name, const struct cg_limits *lim, pid_t pid, char *err,
                    size_t errlen)
{
	/* Enable the controllers down the path, then create the leaf. */
	char dir[512] = CG_ROOT, copy[256];
	snprintf(copy, sizeof(copy), "%s", name);
	char *save = NULL;
	for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		enable_controllers(dir);
		size_t used = strlen(dir);
		snprintf(dir + used, sizeof(dir) - used, "/%s", part);
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
			return -errno;
		}
	}
	char v[64];
	int r = 0;
	if (lim->memory_bytes) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)lim->memory_bytes);
		r = r ? r : write_file(dir, "memory.max", v);
		write_file(dir, "memory.swap.max", "0");
	}
	if (lim->cpu_percent) {
		snprintf(v, sizeof(v), "%u 100000", lim->cpu_percent * 1000);
		r = r ? r : write_file(dir, "cpu.max", v);
	}
	if (lim->pids_max) {
		snprintf(v, sizeof(v), "%u", lim->pids_max);
		r = r ? r : write_file(dir, "pids.max", v);
	}
	snprintf(v, sizeof(v), "%d", (int)pid);
	r = r ? r : write_file(dir, "cgroup.procs", v);
	if (r < 0)
		snprintf(err, errlen, "cgroup v2 %s: %s", dir, strerror(-r));
	return r;
}

static int apply_v1(const char *name, const struct cg_limits *lim, pid_t pid, char *err,
                    size_t errlen)
{
	struct {
		const char *ctrl;
		const char *file;
		uint64_t value;
		bool set;
	} items[] = {
	        {"memory", "memory.limit_in_bytes", lim->memory_bytes, lim->memory_bytes != 0},
	        {"cpu", "cpu.cfs_quota_us", (uint64_t)lim->cpu_percent * 1000,
	         lim->cpu_percent != 0},
	        {"pids", "pids.max", lim->pids_max, lim->pids_max != 0},
	};
	char pidtext[32];
	snprintf(pidtext, sizeof(pidtext), "%d", (int)pid);
	for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
		char base[256], dir[512], v[64];
		snprintf(base, sizeof(base), CG_ROOT "/%s", items[i].ctrl);
		if (access(base, F_OK) < 0)
			continue; /* controller not mounted */
		int r = mkdirs(base, name, dir, sizeof(dir));
		if (r < 0) {
			snprintf(err, errlen, "mkdir %s: %s", dir, strerror(-r));
			return r;
		}
		if (strcmp(items[i].ctrl, "memory") == 0 && items[i].set)
			write_file(dir, "memory.memsw.limit_in_bytes", "-1");
		if (strcmp(items[i].ctrl, "cpu") == 0 && items[i].set)
			write_file(dir, "cpu.cfs_period_us", "100000");
		if (items[i].set) {
			snprintf(v, sizeof(v), "%llu", (unsigned long long)items[i].value);
			r = write_file(dir, items[i].file, v);
			if (r < 0) {
				snprintf(err, errlen, "%s/%s: %s", dir, items[i].file,
				         strerror(-r));
				return r;
			}
		}
		r = write_file(dir, "cgroup.procs", pidtext);
		if (r < 0) {
			snprintf(err, errlen, "%s/cgroup.procs: %s", dir, strerror(-r));
			return r;
		}
	}
	return 0;
}

int cgroup_apply(const char *name, const struct cg_limits *lim, pid_t pid, char *err, size_t errlen)
{
	switch (cgroup_detect()) {
	case CG_V2:
		return apply_v2(name, lim, pid, err, errlen);
	case CG_V1:
		return apply_v1(name, lim, pid, err, errlen);
	case CG_NONE:
		break;
	}
	snprintf(err, errlen, "no usable cgroup controllers under " CG_ROOT);
	return -ENOTSUP;
}

static void rmdirs(const char *base, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", base, name);
	/* Remove the leaf, then each parent up to base (stops at a non-empty one). */
	while (strlen(path) > strlen(base)) {
		if (rmdir(path) < 0)
			break;
		char *slash = strrchr(path, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
}

int cgroup_remove(const char *name)
{
	switch (cgroup_detect()) {
	case CG_V2:
		rmdirs(CG_ROOT, name);
		return 0;
	case CG_V1: {
		static const char *const ctrls[] = {"memory", "cpu", "pids"};
		for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
			char base[256];
			snprintf(base, sizeof(base), CG_ROOT "/%s", ctrls[i]);
			rmdirs(base, name);
		}
		return 0;
	}
	case CG_NONE:
		break;
	}
	return -ENOTSUP;
}

uint64_t cgroup_memory_current(const char *name)
{
	char dir[512], path[600], buf[64] = "";
	if (cgroup_path(name, "memory", dir, sizeof(dir)) < 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir,
	         cgroup_detect() == CG_V2 ? "memory.current" : "memory.usage_in_bytes");
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

/* ---- Delegation ------------------------------------------------------------- */

/* The path of this process's cgroup in the hierarchy whose /proc/self/cgroup
 * line has controllers `ctrl` ("" for the unified one: "0::"), into buf.
 * Returns 0 or -ENOENT. */
static int own_cgroup(const char *ctrl, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[1024];
	int r = -ENOENT;
	if (!f)
		return -errno;
	while (r < 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1;
		bool match = !*ctrl ? !*ctrls : false;
		if (*ctrl) {
			char copy[256];
			snprintf(copy, sizeof(copy), "%s", ctrls);
			char *save = NULL;
			for (char *w = strtok_r(copy, ",", &save); w && !match;
			     w = strtok_r(NULL, ",", &save))
				match = strcmp(w, ctrl) == 0;
		}
		if (match) {
			snprintf(buf, len, "%s", c2 + 1);
			r = 0;
		}
	}
	fclose(f);
	return r;
}

/* Whether dir carries trusted.delegate or user.delegate = "1". */
static bool marked_delegated(const char *dir)
{
	static const char *const names[] = {"trusted.delegate", "user.delegate"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char v[8] = "";
		ssize_t n = getxattr(dir, names[i], v, sizeof(v) - 1);
		if (n == 1 && v[0] == '1')
			return true;
	}
	return false;
}

/* Moves this process into <dir>/<leaf>. */
static int enter(const char *dir, const char *leaf, char *err, size_t errlen)
{
	char path[600], pid[24];
	snprintf(path, sizeof(path), "%s/%s", dir, leaf);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return err_set(err, errlen, -errno, "mkdir %s: %s", path, strerror(errno));
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	int r = write_file(path, "cgroup.procs", pid);
	if (r < 0)
		return err_set(err, errlen, r, "moving netservd into %s: %s", path, strerror(-r));
	return 0;
}

int cgroup_delegate(const char *want, const char *leaf, char *base, size_t baselen, char *err,
                    size_t errlen)
{
	static const char *const v1_ctrls[] = {"memory", "pids", "cpu"};
	bool yes = strcmp(want, "yes") == 0;
	char own[512] = "", unified[600], dir[800];
	enum cg_mode mode = cgroup_detect();

	snprintf(base, baselen, "%s", "");
	if (strcmp(want, "no") == 0)
		return 0;
	if (mode == CG_NONE)
		return yes ? err_set(err, errlen, -ENOTSUP,
		                     "cgroup delegation: no usable cgroup controllers "
		                     "under " CG_ROOT)
		           : 0;
	if (!yes) {
		/* auto: systemd marks the delegated cgroup on the unified hierarchy. */
		if (own_cgroup("", own, sizeof(own)) < 0)
			return 0;
		snprintf(unified, sizeof(unified), "%s%s",
		         mode == CG_V2 ? CG_ROOT : CG_ROOT "/unified", own);
		if (!marked_delegated(unified))
			return 0;
	}
	if (mode == CG_V2) {
		if (own_cgroup("", own, sizeof(own)) < 0)
			return err_set(err, errlen, -ENOENT,
			               "cgroup delegation: no unified line in /proc/self/cgroup");
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++) {
			char p[512];
			if (own_cgroup(v1_ctrls[i], p, sizeof(p)) < 0)
				continue;
			if (!own[0])
				snprintf(own, sizeof(own), "%s", p);
			else if (strcmp(own, p) != 0)
				return err_set(
				        err, errlen, -EINVAL,
				        "cgroup delegation: this process is in %s for memory but "
				        "%s for %s; a delegated cgroup has one path",
				        own, p, v1_ctrls[i]);
		}
	}
	if (!own[0] || strcmp(own, "/") == 0)
		return err_set(err, errlen, -EINVAL,
		               "cgroup delegation: this process is in the root cgroup, which is "
		               "not a delegated subtree");
	if (mode == CG_V2) {
		snprintf(dir, sizeof(dir), CG_ROOT "%s", own);
		int r = enter(dir, leaf, err, errlen);
		if (r < 0)
			return r;
		r = write_file(dir, "cgroup.subtree_control", "+memory +pids +cpu");
		if (r < 0)
			return err_set(err, errlen, r,
			               "cgroup delegation: enabling memory, pids and cpu in "
			               "%s/cgroup.subtree_control: %s%s",
			               dir, strerror(-r),
			               r == -EBUSY ? " (other processes are in that cgroup)" : "");
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(v1_ctrls); i++) {
			snprintf(dir, sizeof(dir), CG_ROOT "/%s%s", v1_ctrls[i], own);
			if (access(dir, F_OK) < 0)
				continue; /* controller not mounted */
			int r = enter(dir, leaf, err, errlen);
			if (r < 0)
				return r;
		}
	}
	snprintf(base, baselen, "%s", own + 1);
	return 1;
}
