/* Ahead-of-time compilation of modules, asynchronous on the event loop:
 * wasm -> C (wasm2c -n mod) -> shared object (cc, with abi/glue.c),
 * cached as <cache_dir>/<sha256 hex>.so. A module already in the cache
 * compiles nothing.
 *
 * Each compile runs in a forked helper process (its own process group) that
 * never touches the event loop:
 *   - it creates a private work directory <work_dir>/.work-<hash>-XXXXXX and
 *     copies the module into it (the helper keeps the daemon's uid, so the
 *     node's module store need not be readable by the sandbox user), and
 *     writes beside it the compiler's other inputs: glue.c and the headers of
 *     runtime_dir (as rt/) and of wasm_rt_dir (as wrt/), read into memory
 *     once by aot_new(). The tools read only their work directory, so
 *     neither the source tree nor the installation needs to be readable by
 *     the sandbox user (a checkout in root's 0700 home works);
 *   - it runs wasm2c, then cc, each with fork/exec (no shell) in a process
 *     group of its own, as the sandbox user when the daemon runs as root
 *     (setgroups/setresgid/setresuid, then PR_SET_NO_NEW_PRIVS), with a
 *     clean environment (PATH=/usr/local/bin:/usr/bin:/bin, LC_ALL=C,
 *     TMPDIR=.) and rlimits: RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_AS,
 *     RLIMIT_NOFILE, RLIMIT_CORE=0, and RLIMIT_NPROC when the user was
 *     switched; nice 10 by default;
 *   - it enforces the wall-clock limit itself (SIGKILL to the tool's group),
 *     keeps the first AOT_LOG_MAX bytes of the tools' output, copies the .so
 *     into the cache as a new file of its own (0644; fsync, then rename: the
 *     sandbox user never owns or writes a cache file), removes the work
 *     directory, and reports back through a pipe.
 * The parent watches the helper with a pidfd and a back-stop timer.
 *
 * The .so leaves wasm_rt_* and the host imports (Z_netservZ_*) undefined:
 * the process that dlopen()s it links the wasm2c runtime and defines the
 * imports, with -rdynamic.
 *
 * RLIMIT_AS is set on the compiler tools (not on the helper, which runs the
 * daemon's code, nor on the container: the 8 GiB guard reservation of the
 * wasm runtime is the container's problem, not the compiler's). cc1 uses a
 * few tens of MiB on ordinary modules, but a 2.5 MB wasm of generated code
 * (27 MB of C) took gcc -O2 284 s and 3.5 GB here: the address-space, CPU
 * and wall-clock limits are what stop such a module from hurting the node.
 *
 * Nodes on one machine may share cache_dir (same compile settings: the cache
 * does not tell settings apart): a helper holds an exclusive flock on
 * <cache_dir>/.lock-<hex> while it compiles and installs, and, once it has
 * the lock, compiles nothing if the .so is already there, so that the nodes
 * of a path on one machine compile a module once. The wait for the lock
 * counts against the compile's wall-clock limit. Each aot holds a shared
 * flock on <cache_dir>/.lock for its lifetime and removes stale work files
 * only when no other process holds it.
 *
 * The daemon must not reap children it did not start (waitpid(-1), or
 * SIGCHLD set to SIG_IGN): the result would still arrive through the pipe,
 * but the parent could then kill a reused process group id. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/wasm_check.h"

struct evloop;
struct aot;
struct aot_req;

/* Bytes of tool output kept for a result's log. */
#define AOT_LOG_MAX 4096
/* A buffer of this size holds any error aot_new()/aot_compile() write. */
#define AOT_ERR_LEN 256

/* Defaults for fields left 0/NULL in struct aot_config. */
#define AOT_DEFAULT_WASM_RT_DIR   "/usr/src/wasm2c"
#define AOT_DEFAULT_WASM2C        "wasm2c"
#define AOT_DEFAULT_CC            "cc"
#define AOT_DEFAULT_OPTIMIZE      "-O2"
#define AOT_DEFAULT_USER          "nobody"
#define AOT_DEFAULT_TIME_LIMIT_MS 120000u
#define AOT_DEFAULT_CPU_LIMIT_S   60u
#define AOT_DEFAULT_FILE_LIMIT    (256u << 20)
#define AOT_DEFAULT_MEM_LIMIT     (2048ull << 20)
#define AOT_DEFAULT_NICE          10
#define AOT_DEFAULT_MAX_JOBS      1u

struct aot_config {
	const char *cache_dir;     /* required; created (0755) if missing */
	const char *work_dir;      /* parent of the private work dirs; NULL: cache_dir */
	const char *runtime_dir;   /* glue.c and the headers it includes (every *.h is
	                              read at aot_new()); NULL: the installed
	                              share/netserv/runtime (aot_default_runtime_dir()) */
	const char *wasm_rt_dir;   /* where wasm-rt.h is; NULL: AOT_DEFAULT_WASM_RT_DIR */
	const char *wasm2c;        /* program; NULL: "wasm2c" (searched in the clean PATH) */
	const char *cc;            /* program; NULL: "cc" */
	const char *optimize;      /* NULL: "-O2" */
	const char *const *cflags; /* extra compiler flags, NULL-terminated; NULL: none */
	/* Explicit bounds checks in the generated code (WASM_RT_MEMCHECK_SIGNAL_
	 * HANDLER=0) instead of guard pages (=1). Must match how the container's
	 * wasm runtime is built; the cache does not tell the two apart, so use
	 * one cache_dir per setting. */
	bool bounds_checks;
	const char *user;       /* sandbox user when running as root; NULL: "nobody" */
	unsigned time_limit_ms; /* wall clock for wasm2c + cc; 0: default */
	unsigned cpu_limit_s;   /* RLIMIT_CPU of each tool process; 0: default */
	uint64_t file_limit;    /* RLIMIT_FSIZE (bytes); also caps the module copy and the
	                           .so; 0: default */
	uint64_t mem_limit;     /* RLIMIT_AS of each tool (bytes); 0: default; UINT64_MAX:
	                           none */
	int nice;               /* niceness of the compile; 0: AOT_DEFAULT_NICE; < 0: keep */
	unsigned max_jobs;      /* compiles running at a time (others queue); 0: default */
};

/* What a compile request ended with. Pointers are valid during the callback. */
struct aot_result {
	int status;          /* 0, or a negative errno (below) */
	bool cached;         /* the .so was in the cache: nothing was compiled */
	const char *so_path; /* the .so in the cache (status 0), else NULL */
	/* One printable line for a SETUP response or a log ("" on success), e.g.
	 * "C compiler failed (exit status 1): glue.c:48:63: error: ...". */
	const char *reason;
	const char *log;     /* the tools' output (may be several lines; up to
	                        AOT_LOG_MAX bytes, "[...]" when cut), or "" */
	uint64_t elapsed_ms; /* from the request to the result */
	/* Another process sharing cache_dir (a node on the same machine) had
	 * compiled it while this one waited for the module's lock: nothing was
	 * compiled here (status 0, cached false). */
	bool peer;
};
/* status:
 *   -EINVAL     wasm2c or the C compiler refused the module (or died)
 *   -ETIMEDOUT  the wall-clock or CPU time limit was reached
 *   -EFBIG      an output exceeded the file size limit
 *   -ENOENT     a tool could not be executed (node configuration)
 *   -ENOSPC, -EDQUOT  the node's disk is full: the helper's own writes,
 *               or a tool that says so or failed with (almost) no room left
 *   other       the node failed (work dir, copy, cache): -EIO... */

/* Called once per request, from the event loop, never from within
 * aot_compile(). The request handle is gone when this is called. */
typedef void aot_done_fn(void *ctx, const struct aot_result *res);

struct aot_stats {
	uint64_t cache_hits; /* requests answered from the cache */
	uint64_t compiles;   /* helper processes started */
	uint64_t compiled;   /* ... that put a .so in the cache */
	uint64_t failed;     /* ... that did not */
	uint64_t timeouts;   /* ... of which over a time limit */
	uint64_t shared;     /* requests that joined a compile of the same hash */
	uint64_t peer;       /* compiles answered by another process sharing cache_dir */
	unsigned running;
	unsigned queued;
};

/* Returns the runtime directory of the installation (share/netserv/runtime). */
const char *aot_default_runtime_dir(void);

/* Creates a compiler on `loop` with a copy of cfg; stores it in *ret. Creates
 * cache_dir if missing, removes stale work and temporary files left in it,
 * and resolves the sandbox user (refused if it is root). Returns 0, or a
 * negative errno with the reason in err. May block briefly (startup only). */
int aot_new(struct evloop *loop, const struct aot_config *cfg, struct aot **ret, char *err,
            size_t errlen);

/* Kills running compiles (SIGKILL; their work dirs are removed by the next
 * aot_new()), drops queued requests without calling them back, and frees the
 * compiler. Not from within an aot_done_fn. NULL allowed; returns NULL. */
struct aot *aot_free(struct aot *aot);

/* Compiles the module at wasm_path, whose SHA-256 is sha256 and which
 * wasm_check() accepted with result chk (its exports and imports select what
 * glue.c wires up), unless <cache_dir>/<hex>.so exists. A request for a hash
 * already being compiled joins that compile. `done` is always called later,
 * from the loop. Stores a handle in *ret_req if ret_req is not NULL (for
 * aot_cancel()). Returns 0, or a negative errno with the reason in err, and
 * then `done` is never called. */
int aot_compile(struct aot *aot, const char *wasm_path, const uint8_t sha256[32],
                const struct wasm_check_result *chk, aot_done_fn *done, void *ctx,
                struct aot_req **ret_req, char *err, size_t errlen);

/* Withdraws a request whose `done` has not been called: it never will be. A
 * compile already running goes on (its result fills the cache). Returns NULL. */
struct aot_req *aot_cancel(struct aot *aot, struct aot_req *req);

/* Writes the cache path of a module's .so into buf. Returns 0, -ENAMETOOLONG. */
int aot_so_path(const struct aot *aot, const uint8_t sha256[32], char *buf, size_t len);

/* Removes a module's .so from the cache (say, one the container could not
 * load), so that the next aot_compile() of that hash compiles it again.
 * Containers that have it loaded keep their mapping. Returns 0, -ENOENT or
 * another negative errno. */
int aot_evict(struct aot *aot, const uint8_t sha256[32]);

/* Copies the counters into *ret. */
void aot_get_stats(const struct aot *aot, struct aot_stats *ret);
