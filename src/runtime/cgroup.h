/* Per-publisher resource limits with cgroups: v2 where the host has the
 * unified hierarchy with controllers, v1 where it mounts v1 controllers
 * (this kind of machine does). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cg_limits {
	uint64_t memory_bytes; /* 0: no limit */
	uint32_t cpu_percent;  /* of one CPU; 0: no limit */
	uint32_t pids_max;     /* 0: no limit */
};

enum cg_mode { CG_NONE, CG_V1, CG_V2 };

/* Returns which cgroup flavour the host offers (and where). */
enum cg_mode cgroup_detect(void);

/* Delegation (systemd's Delegate=yes; docs/operations.md): want is "no",
 * "yes" or "auto" (delegated when the process's cgroup on the unified
 * hierarchy carries the xattr trusted.delegate or user.delegate = 1, as
 * systemd sets it). When delegated, moves the calling process into
 * <its cgroup>/<leaf> (in each v1 hierarchy: memory, pids, cpu), enables
 * memory, pids and cpu in <its cgroup>/cgroup.subtree_control (v2: the "no
 * internal processes" rule wants the leaf first), writes its cgroup's path
 * (relative to the hierarchy's root, e.g. "system.slice/netserv.service")
 * into base and returns 1; groups are then made below base. Returns 0 (base
 * "") when not delegated, or a negative errno with the reason in err (a
 * "yes" that cannot be done: the root cgroup, v1 paths that differ, no
 * controllers, other processes in the cgroup). */
int cgroup_delegate(const char *want, const char *leaf, char *base, size_t baselen, char *err,
                    size_t errlen);

/* Creates (or reuses) the group `name` (e.g. "netserv-1234/janedoe"), writes
 * the limits and moves pid into it. Returns 0, or a negative errno with the
 * reason in err; -ENOTSUP when the host has no usable controllers. */
int cgroup_apply(const char *name, const struct cg_limits *lim, pid_t pid, char *err,
                 size_t errlen);

/* Removes the group (it must be empty) and its parents named in `name`.
 * Returns 0 or a negative errno. */
int cgroup_remove(const char *name);

/* Reads the group's current memory use in bytes (0 if unknown). */
uint64_t cgroup_memory_current(const char *name);

/* Returns the directory of controller `ctrl` ("memory", "cpu", "pids") for
 * group name into buf (for tests and status). */
int cgroup_path(const char *name, const char *ctrl, char *buf, size_t len);
