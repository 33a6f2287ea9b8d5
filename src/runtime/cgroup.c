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
#include <unistd.h>

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

static int apply_v2(const char *name, const struct cg_limits *lim, pid_t pid, char *err,
                    size_t errlen)
{
	/* Enable the controllers down the path, then create the leaf. */
	char dir[512] = CG_ROOT, copy[256];
	snprintf(copy, sizeof(copy), "%s", name);
	char *save = NULL;
	for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		write_file(dir, "cgroup.subtree_control", "+memory +pids +cpu");
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
