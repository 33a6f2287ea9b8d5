/* The AOT compiler's inside, shared by its event-loop side (aot.c) and its
 * helper process (aot_helper.c). Private to src/runtime/aot*.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/aot.h"

struct aot_req;
struct evloop_timer;

/* Room for the helper's report: status and reason lines, then the log. */
#define REASON_MAX 320
#define REPORT_MAX (AOT_LOG_MAX + REASON_MAX + 64)

struct aot_job {
	struct aot *aot;
	char hex[65];
	char *wasm_path;
	char **cc_argv; /* with this module's -D flags */
	struct aot_req *waiters;
	bool running;
	bool killed; /* by the back-stop timer */
	pid_t pid;
	int pidfd;
	int rfd; /* the helper's report */
	struct evloop_timer *backstop;
	struct aot_job *next; /* aot->jobs: running and queued, oldest first */
};

/* One file of the compiler's source bundle: written as <dir>/<name> in the
 * work directory (AOT_SRC_RUNTIME or AOT_SRC_WASM_RT). */
struct aot_src {
	const char *dir;
	char *name;
	char *data;
	size_t len;
};

/* The bundle's subdirectories of a work directory, and its bounds. */
#define AOT_SRC_RUNTIME   "rt"
#define AOT_SRC_WASM_RT   "wrt"
#define AOT_SRC_MAX_FILES 64
#define AOT_SRC_MAX_BYTES (4u << 20)

struct aot {
	struct evloop *loop;
	char *cache_dir;
	char *work_dir;
	char *runtime_dir;
	char *wasm_rt_dir;
	/* The sources the compiler reads besides the module (glue.c and the
	 * headers of runtime_dir and wasm_rt_dir), read once at aot_new() and
	 * written into each work directory, so that the unprivileged tools never
	 * need the permissions of the directories the node was installed in. */
	struct aot_src *srcs;
	size_t n_srcs;
	char *wasm2c;
	char *cc;
	char *optimize;
	char **cflags;
	bool bounds_checks;
	unsigned time_limit_ms;
	unsigned cpu_limit_s;
	uint64_t file_limit;
	uint64_t mem_limit;
	int nice;
	unsigned max_jobs;
	int dir_lock_fd; /* shared flock on <cache_dir>/.lock, or -1 */
	bool drop;       /* switch the tools to uid/gid */
	uid_t uid;
	gid_t gid;
	struct aot_job *jobs;
	struct aot_req *hits;
	struct aot_stats st;
};

/* ---- aot_helper.c ---- */

/* CLOCK_MONOTONIC in ms. */
uint64_t aot_now_ms(void);

/* Removes `name` in directory fd `at`, recursively, without following
 * symlinks (depth: 0). Returns 0 or a negative errno. */
int aot_remove_tree_at(int at, const char *name, int depth);

/* The cache's lock files: the directory's, and one per module hash. */
#define AOT_DIR_LOCK    ".lock"
#define AOT_LOCK_PREFIX ".lock-"

/* The helper process for one job: takes the module's lock, compiles (unless
 * a process sharing the cache did meanwhile: status line "0 peer"), installs
 * into the cache and writes its report ("STATUS\nREASON\nLOG") to wfd, then
 * exits. Called in the child of fork(); parent is the daemon's pid. */

_Noreturn void aot_helper_main(struct aot *aot, struct aot_job *job, pid_t parent, int wfd);
