/* AOT compilation of modules: the event-loop side (requests, cache, queue,
 * helper processes watched by pidfd) and the helper itself (work directory,
 * sandboxed wasm2c and cc, installation into the cache). See aot.h. */
#include "runtime/aot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/evloop.h"
#include "lib/util.h"

#ifndef NETSERV_RUNTIME_DIR
#define NETSERV_RUNTIME_DIR "/usr/local/share/netserv/runtime"
#endif

/* The tools' environment: nothing of the daemon's. */
#define TOOL_PATH "/usr/local/bin:/usr/bin:/bin"
static char *const tool_env[] = {"PATH=" TOOL_PATH, "LC_ALL=C", "LANG=C", "TMPDIR=.", NULL};

/* Exit status of a tool process that could not exec its program. */
#define EXIT_NOEXEC 127
#define EXIT_SETUP  126

/* Time the parent grants the helper beyond the compile limit (copy, fsync). */
#define BACKSTOP_GRACE_MS 30000u

/* Room for the helper's report: status and reason lines, then the log. */
#define REASON_MAX 320
#define REPORT_MAX (AOT_LOG_MAX + REASON_MAX + 64)

struct aot_req {
	struct aot *aot;
	struct aot_job *job;        /* NULL: answered from the cache */
	struct evloop_timer *timer; /* cache answer pending */
	aot_done_fn *done;
	void *ctx;
	uint64_t t0;
	struct aot_req *next; /* in job->waiters, or aot->hits */
};

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
	bool drop; /* switch the tools to uid/gid */
	uid_t uid;
	gid_t gid;
	struct aot_job *jobs;
	struct aot_req *hits;
	struct aot_stats st;
};

/* ---- small helpers (also used in the helper process) ---- */

_printf_(3, 4) static int seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void hex32(const uint8_t sha[32], char out[65])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = digits[sha[i] >> 4];
		out[2 * i + 1] = digits[sha[i] & 15];
	}
	out[64] = '\0';
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static ssize_t write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Copies from fd `in` to fd `out`, at most `limit` bytes. Returns 0, -EFBIG
 * or a negative errno. */
static int copy_fd(int in, int out, uint64_t limit)
{
	char buf[65536];
	uint64_t total = 0;

	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		total += (uint64_t)n;
		if (total > limit)
			return -EFBIG;
		if (write_all(out, buf, (size_t)n) < 0)
			return errno ? -errno : -EIO;
	}
}

/* Removes `name` in directory fd `at`, recursively, without following symlinks. */
static int remove_tree_at(int at, const char *name, int depth)
{
	DIR *d;
	struct dirent *e;
	int fd, r = 0;

	if (unlinkat(at, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	if (depth > 16)
		return -ELOOP;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int q = remove_tree_at(dirfd(d), e->d_name, depth + 1);
		if (q < 0 && r == 0)
			r = q;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && r == 0)
		r = -errno;
	return r;
}

/* Removes what an earlier run left in dir: .work-* and .tmp-* entries. */
static void remove_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, ".work-", 6) == 0 || strncmp(e->d_name, ".tmp-", 5) == 0)
			remove_tree_at(dirfd(d), e->d_name, 0);
	closedir(d);
}

/* ---- the tool process (grandchild): sandbox, then exec ---- */

static void set_limit(int res, uint64_t soft, uint64_t hard)
{
	struct rlimit rl = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};

	setrlimit(res, &rl);
}

/* Writes a line to the log pipe (fd 2 here) without stdio. */
_printf_(1, 2) static void tool_msg(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		write_all(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static _Noreturn void tool_exec(const struct aot *aot, char *const argv[], int logfd)
{
	pid_t helper = getppid();
	int null;

	setpgid(0, 0);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		_exit(EXIT_SETUP);
	close_range(3, ~0u, 0);

	set_limit(RLIMIT_CORE, 0, 0);
	set_limit(RLIMIT_CPU, aot->cpu_limit_s, (uint64_t)aot->cpu_limit_s + 1);
	set_limit(RLIMIT_FSIZE, aot->file_limit, aot->file_limit);
	set_limit(RLIMIT_NOFILE, 64, 64);
	if (aot->mem_limit != UINT64_MAX)
		set_limit(RLIMIT_AS, aot->mem_limit, aot->mem_limit);
	if (aot->drop) {
		uid_t ru, eu, su;
		set_limit(RLIMIT_NPROC, 64, 64);
		if (setgroups(1, &aot->gid) < 0 || setresgid(aot->gid, aot->gid, aot->gid) < 0 ||
		    setresuid(aot->uid, aot->uid, aot->uid) < 0) {
			tool_msg("netserv-aot: cannot switch to uid %u: %s\n", (unsigned)aot->uid,
			         strerror(errno));
			_exit(EXIT_SETUP);
		}
		if (getresuid(&ru, &eu, &su) < 0 || ru != aot->uid || eu != aot->uid ||
		    su != aot->uid || setuid(0) == 0)
			_exit(EXIT_SETUP);
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* After the switch: a change of credentials clears the death signal. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != helper)
		_exit(EXIT_SETUP);

	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, tool_env);
	} else {
		char path[PATH_MAX];
		const char *dir = TOOL_PATH;
		int saved = ENOENT;
		while (*dir) {
			size_t n = strcspn(dir, ":");
			if (snprintf(path, sizeof(path), "%.*s/%s", (int)n, dir, argv[0]) <
			    (int)sizeof(path)) {
				execve(path, argv, tool_env);
				if (errno != ENOENT)
					saved = errno;
			}
			dir += n + (dir[n] == ':');
		}
		errno = saved;
	}
	tool_msg("netserv-aot: cannot execute %s: %s\n", argv[0], strerror(errno));
	_exit(EXIT_NOEXEC);
}

/* ---- the helper process (child) ---- */

struct helper {
	const struct aot *aot;
	const struct aot_job *job;
	uint64_t deadline;
	char log[AOT_LOG_MAX + 1];
	size_t log_len;
	bool log_cut;
	char reason[REASON_MAX];
};

static int hfail(struct helper *h, int status, const char *fmt, ...) _printf_(3, 4);
static int hfail(struct helper *h, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->reason, sizeof(h->reason), fmt, ap);
	va_end(ap);
	return status;
}

static void log_add(struct helper *h, const char *buf, size_t n)
{
	size_t room = AOT_LOG_MAX - h->log_len;

	if (n > room) {
		n = room;
		h->log_cut = true;
	}
	memcpy(h->log + h->log_len, buf, n);
	h->log_len += n;
}

/* Appends ": <first line of the log that mentions an error>" to the reason,
 * as printable ASCII. */
static void reason_add_error(struct helper *h, size_t from)
{
	const char *log = h->log + from, *end = h->log + h->log_len;
	const char *line = NULL, *first = NULL;
	size_t rl = strlen(h->reason);

	for (const char *p = log; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		if (e > p && !first)
			first = p;
		if (memmem(p, (size_t)(e - p), "error", 5)) {
			line = p;
			break;
		}
		p = e + 1;
	}
	if (!line)
		line = first;
	if (!line || rl + 3 >= sizeof(h->reason))
		return;
	h->reason[rl++] = ':';
	h->reason[rl++] = ' ';
	for (const char *p = line; p < end && *p != '\n' && rl + 1 < sizeof(h->reason); p++)
		h->reason[rl++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	h->reason[rl] = '\0';
}

/* Runs one tool to its end or the deadline. Returns 0 or a negative status
 * with the reason set. */
static int run_tool(struct helper *h, const char *what, char *const argv[])
{
	struct pollfd pfd[2];
	size_t log_from = h->log_len;
	bool exited = false, timed_out = false;
	uint64_t drain_until = 0;
	int p[2], st = 0, pidfd;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return hfail(h, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		int r = -errno;
		close(p[0]);
		close(p[1]);
		return hfail(h, r, "fork: %s", strerror(-r));
	}
	if (pid == 0)
		tool_exec(h->aot, argv, p[1]);
	setpgid(pid, pid);
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	pidfd = pidfd_open_(pid);

	pfd[0] = (struct pollfd){.fd = p[0], .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = pidfd, .events = POLLIN};
	while (pfd[0].fd >= 0 || !exited) {
		uint64_t t = now_ms();
		int timeout;
		if (!exited && !timed_out && t >= h->deadline) {
			kill(-pid, SIGKILL);
			timed_out = true;
		}
		if (exited) {
			if (!drain_until)
				drain_until = t + 200;
			if (t >= drain_until)
				break;
			timeout = (int)(drain_until - t);
		} else if (pidfd < 0) {
			timeout = 50; /* no pidfd: poll the child */
		} else {
			uint64_t left = h->deadline - t;
			timeout = timed_out ? -1 : (int)(left > 60000 ? 60000 : left);
		}
		if (poll(pfd, 2, timeout) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[4096];
			ssize_t n = read(p[0], buf, sizeof(buf));
			if (n > 0)
				log_add(h, buf, (size_t)n);
			else if (n == 0 || (errno != EINTR && errno != EAGAIN))
				pfd[0].fd = -1;
		}
		if (!exited && (pidfd < 0 || (pfd[1].revents & POLLIN))) {
			siginfo_t si = {0};
			/* Kill what it left in its group while it is a zombie: its pid
			 * (and so the group id) cannot be reused before the reap. */
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
			    si.si_pid == pid) {
				kill(-pid, SIGKILL);
				waitpid(pid, &st, 0);
				exited = true;
				pfd[1].fd = -1;
			}
		}
	}
	close(p[0]);
	if (pidfd >= 0)
		close(pidfd);
	if (!exited) {
		kill(-pid, SIGKILL);
		waitpid(pid, &st, 0);
	}

	if (timed_out)
		return hfail(h, -ETIMEDOUT, "compile time limit of %u ms reached (in %s)",
		             h->aot->time_limit_ms, what);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_NOEXEC) {
		hfail(h, 0, "%s could not be run", what);
		reason_add_error(h, log_from);
		return -ENOENT;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SETUP) {
		hfail(h, 0, "%s: sandbox setup failed", what);
		reason_add_error(h, log_from);
		return -EPERM;
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
		return hfail(h, -ETIMEDOUT, "%s: CPU time limit of %u s reached", what,
		             h->aot->cpu_limit_s);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ)
		return hfail(h, -EFBIG, "%s: output over the file size limit", what);
	/* The compiler driver reports its children's limits as plain failures;
	 * cc1 out of address space (RLIMIT_AS) may die with a segfault. */
	const char *lg = h->log + log_from;
	size_t ll = h->log_len - log_from;
	bool cpu = memmem(lg, ll, "CPU time limit", 14),
	     fsz = memmem(lg, ll, "File size limit", 15);
	char hint[96] = "";
	if (h->aot->mem_limit != UINT64_MAX && !cpu && !fsz &&
	    (memmem(lg, ll, "internal compiler error", 23) || memmem(lg, ll, "bad_alloc", 9) ||
	     memmem(lg, ll, "memory exhausted", 16) || memmem(lg, ll, "out of memory", 13)))
		snprintf(hint, sizeof(hint), "; perhaps over the compile memory limit of %llu MiB",
		         (unsigned long long)(h->aot->mem_limit >> 20));
	if (WIFSIGNALED(st))
		hfail(h, 0, "%s killed by signal %d (%s%s)", what, WTERMSIG(st),
		      strsignal(WTERMSIG(st)), hint);
	else
		hfail(h, 0, "%s failed (exit status %d%s)", what, WEXITSTATUS(st), hint);
	reason_add_error(h, log_from);
	return cpu ? -ETIMEDOUT : fsz ? -EFBIG : -EINVAL;
}

/* Copies the built mod.so (cwd) into the cache as <hex>.so, atomically. */
static int install(struct helper *h)
{
	const struct aot *aot = h->aot;
	char tmp[PATH_MAX], dst[PATH_MAX];
	struct stat st;
	int in, out, r;

	in = open("mod.so", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0)
		return hfail(h, -errno, "no mod.so after compiling: %s", strerror(errno));
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (aot->drop && st.st_uid != aot->uid) || (uint64_t)st.st_size > aot->file_limit) {
		close(in);
		return hfail(h, -EPERM, "mod.so is not a plain file of the sandbox user");
	}
	snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", aot->cache_dir, h->job->hex);
	snprintf(dst, sizeof(dst), "%s/%s.so", aot->cache_dir, h->job->hex);
	out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0) {
		r = -errno;
		close(in);
		return hfail(h, r, "cannot create a file in %s: %s", aot->cache_dir, strerror(-r));
	}
	r = copy_fd(in, out, aot->file_limit);
	if (r == 0 && fchmod(out, 0644) < 0)
		r = -errno;
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return hfail(h, r, "cannot install the module into %s: %s", aot->cache_dir,
		             strerror(-r));
	}
	return 0;
}

/* Writes the source bundle into the work directory dfd: root-owned
 * subdirectories (0755) and files (0644) that the tools can read but not
 * change. Returns 0 or a negative errno. */
static int write_sources(const struct aot *aot, int dfd)
{
	const char *dirs[] = {AOT_SRC_RUNTIME, AOT_SRC_WASM_RT};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdirat(dfd, dirs[i], 0755) < 0)
			return -errno;
	for (size_t i = 0; i < aot->n_srcs; i++) {
		const struct aot_src *f = &aot->srcs[i];
		char path[NAME_MAX + 8];
		int fd, r = 0;

		snprintf(path, sizeof(path), "%s/%s", f->dir, f->name);
		fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (write_all(fd, f->data, f->len) < 0)
			r = errno ? -errno : -EIO;
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r < 0)
			return r;
	}
	return 0;
}

static int helper_run(struct helper *h, const char *workdir_tmpl)
{
	const struct aot *aot = h->aot;
	char dir[PATH_MAX];
	char *w2c_argv[] = {aot->wasm2c, "-n", "mod", "mod.wasm", "-o", "mod.c", NULL};
	int in, out, dfd, r;

	in = open(h->job->wasm_path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return hfail(h, -errno, "cannot open the module: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "%s", workdir_tmpl);
	if (!mkdtemp(dir)) {
		r = -errno;
		close(in);
		return hfail(h, r, "cannot create a work directory in %s: %s", aot->work_dir,
		             strerror(-r));
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	out = dfd < 0 ? -1 : openat(dfd, "mod.wasm", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	r = out < 0 ? -errno : copy_fd(in, out, aot->file_limit);
	close(in);
	if (out >= 0)
		close(out);
	if (r == 0 && aot->drop && fchown(dfd, aot->uid, aot->gid) < 0)
		r = -errno;
	if (r == 0)
		r = write_sources(aot, dfd);
	if (r == 0 && fchdir(dfd) < 0)
		r = -errno;
	if (r < 0) {
		hfail(h, r, "cannot prepare the work directory: %s", strerror(-r));
	} else {
		r = run_tool(h, "wasm2c", w2c_argv);
		if (r == 0)
			r = run_tool(h, "C compiler", h->job->cc_argv);
		if (r == 0)
			r = install(h);
		if (chdir("/") < 0)
			r = r ? r : -errno;
	}
	if (dfd >= 0)
		close(dfd);
	remove_tree_at(AT_FDCWD, dir, 0);
	return r;
}

static _Noreturn void helper_main(struct aot *aot, struct aot_job *job, pid_t parent, int wfd)
{
	static struct helper h; /* the log is large: not on the stack */
	char workdir[PATH_MAX], head[64];
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	int r, n;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (wfd != 3) {
		if (dup2(wfd, 3) < 0)
			_exit(1);
		wfd = 3;
	}
	close_range(4, ~0u, 0);
	umask(022);
	if (aot->nice > 0)
		setpriority(PRIO_PROCESS, 0, aot->nice);

	h.aot = aot;
	h.job = job;
	h.deadline = now_ms() + aot->time_limit_ms;
	snprintf(workdir, sizeof(workdir), "%s/.work-%.16s-XXXXXX", aot->work_dir, job->hex);
	r = helper_run(&h, workdir);
	if (h.log_cut && h.log_len >= 6) {
		memcpy(h.log + h.log_len - 6, "[...]\n", 6);
	}
	for (size_t i = 0; i < h.log_len; i++)
		if (h.log[i] == '\0')
			h.log[i] = '?';
	n = snprintf(head, sizeof(head), "%d\n", r);
	/* The report fits in the empty pipe: these writes do not block. */
	write_all(wfd, head, (size_t)n);
	write_all(wfd, h.reason, strlen(h.reason));
	write_all(wfd, "\n", 1);
	write_all(wfd, h.log, h.log_len);
	_exit(0);
}

/* ---- the event-loop side ---- */

static void req_result(struct aot_req *req, struct aot_result *res)
{
	aot_done_fn *done = req->done;
	void *ctx = req->ctx;

	res->elapsed_ms = evloop_now_ms() - req->t0;
	free(req);
	done(ctx, res);
}

static void job_free(struct aot_job *job)
{
	if (!job)
		return;
	free(job->cc_argv); /* its strings belong to the aot or are static */
	free(job->wasm_path);
	free(job);
}

static void jobs_unlink(struct aot *aot, struct aot_job *job)
{
	for (struct aot_job **pp = &aot->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			return;
		}
	}
}

static void jobs_start_queued(struct aot *aot);

/* Ends a job: takes it off the list, answers every waiter, frees it, and
 * starts what is queued. */
static void job_finish(struct aot *aot, struct aot_job *job, int status, const char *reason,
                       const char *log)
{
	char so[PATH_MAX];
	struct aot_req *req;

	jobs_unlink(aot, job);
	if (job->running) {
		aot->st.running--;
		if (status == 0)
			aot->st.compiled++;
		else
			aot->st.failed++;
		if (status == -ETIMEDOUT)
			aot->st.timeouts++;
	} else {
		aot->st.queued--;
	}
	snprintf(so, sizeof(so), "%s/%s.so", aot->cache_dir, job->hex);
	while ((req = job->waiters)) {
		struct aot_result res = {
		        .status = status,
		        .so_path = status == 0 ? so : NULL,
		        .reason = status == 0 ? "" : reason,
		        .log = log ? log : "",
		};
		job->waiters = req->next;
		req_result(req, &res);
	}
	job_free(job);
	jobs_start_queued(aot);
}

/* Reads the helper's report: "STATUS\nREASON\nLOG". Returns false if none. */
static bool read_report(int fd, char *buf, size_t cap, int *status, char **reason, char **log)
{
	size_t len = 0;
	char *nl, *end;
	long v;

	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (end == buf || *end != '\n' || errno || v > 0 || v < -4095)
		return false;
	*status = (int)v;
	*reason = end + 1;
	nl = strchr(*reason, '\n');
	if (!nl)
		return false;
	*nl = '\0';
	*log = nl + 1;
	return true;
}

static void on_helper_exit(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct aot_job *job = ctx;
	struct aot *aot = job->aot;
	char *buf, *reason = NULL, *log = NULL;
	char why[128];
	int st = 0, status;
	pid_t w;

	evloop_del_fd(loop, job->pidfd);
	job->pidfd = safe_close(job->pidfd);
	kill(-job->pid, SIGKILL); /* the group, should anything be left in it */
	w = waitpid(job->pid, &st, WNOHANG);
	job->backstop = evloop_timer_cancel(loop, job->backstop);

	buf = malloc(REPORT_MAX);
	if (buf && read_report(job->rfd, buf, REPORT_MAX, &status, &reason, &log)) {
		/* the helper's own word */
	} else if (job->killed) {
		status = -ETIMEDOUT;
		snprintf(why, sizeof(why), "compile helper did not finish within %u ms",
		         aot->time_limit_ms + BACKSTOP_GRACE_MS);
		reason = why;
	} else {
		status = -EIO;
		if (w == job->pid && WIFSIGNALED(st))
			snprintf(why, sizeof(why), "compile helper died (signal %d)", WTERMSIG(st));
		else
			snprintf(why, sizeof(why), "compile helper ended without a result");
		reason = why;
	}
	job->rfd = safe_close(job->rfd);
	job_finish(aot, job, status, reason, log);
	free(buf);
}

static void on_backstop(struct evloop *loop, void *ctx)
{
	struct aot_job *job = ctx;

	job->backstop = NULL;
	job->killed = true;
	kill(-job->pid, SIGKILL);
}

static int job_start(struct aot *aot, struct aot_job *job)
{
	pid_t pid, parent = getpid();
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[0]);
		helper_main(aot, job, parent, p[1]);
	}
	close(p[1]);
	setpgid(pid, pid); /* also done by the child: no window without a group */
	job->pid = pid;
	job->rfd = p[0];
	job->pidfd = pidfd_open_(pid);
	r = job->pidfd < 0 ? -errno : 0;
	if (r == 0)
		r = evloop_add_fd(aot->loop, job->pidfd, EPOLLIN, on_helper_exit, job);
	if (r == 0) {
		job->backstop = evloop_timer_add(aot->loop,
		                                 (uint64_t)aot->time_limit_ms + BACKSTOP_GRACE_MS,
		                                 on_backstop, job);
		if (!job->backstop) {
			evloop_del_fd(aot->loop, job->pidfd);
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		kill(-pid, SIGKILL);
		waitpid(pid, NULL, 0);
		job->pidfd = safe_close(job->pidfd);
		job->rfd = safe_close(job->rfd);
		return r;
	}
	job->running = true;
	aot->st.queued--;
	aot->st.running++;
	aot->st.compiles++;
	return 0;
}

static void jobs_start_queued(struct aot *aot)
{
	struct aot_job *job = aot->jobs;

	while (job && aot->st.running < aot->max_jobs) {
		struct aot_job *next = job->next;
		if (!job->running) {
			int r = job_start(aot, job);
			if (r < 0) {
				char why[128];
				snprintf(why, sizeof(why), "cannot start the compile: %s",
				         strerror(-r));
				job_finish(aot, job, r, why, NULL);
				return; /* job_finish() started the rest */
			}
		}
		job = next;
	}
}

/* -DNS_HAS_<export>=1 for each known export (see glue.c). */
static const char *const has_flags[] = {
#define X(name, res, params, req) "-DNS_HAS_" #name "=1",
        NS_MODULE_EXPORTS(X)
#undef X
};

/* Builds the compiler command line for a module. The array is the caller's;
 * its strings are static or the aot's. */
static char **cc_argv_new(const struct aot *aot, const struct wasm_check_result *chk)
{
	size_t n = 0, cap = 32 + WASM_EXPORT_COUNT;
	char **a;

	for (char **f = aot->cflags; *f; f++)
		cap++;
	a = calloc(cap, sizeof(*a));
	if (!a)
		return NULL;
	a[n++] = aot->cc;
	a[n++] = aot->optimize;
	a[n++] = "-pipe";
	a[n++] = "-shared";
	a[n++] = "-fPIC";
	a[n++] = "-fvisibility=hidden";
	a[n++] = "-fno-diagnostics-show-caret";
	a[n++] = "-fdiagnostics-color=never";
	a[n++] = "-Werror=implicit-function-declaration";
	a[n++] = "-Werror=incompatible-pointer-types";
	a[n++] = "-Werror=int-conversion";
	a[n++] = "-iquote";
	a[n++] = ".";
	a[n++] = "-I";
	a[n++] = AOT_SRC_RUNTIME;
	a[n++] = "-I";
	a[n++] = AOT_SRC_WASM_RT;
	a[n++] = aot->bounds_checks ? "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0"
	                            : "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1";
	if (chk->n_imports > 0)
		a[n++] = "-DNS_HAS_IMPORTS=1";
	for (unsigned i = 0; i < WASM_EXPORT_COUNT; i++)
		if (chk->exports & WASM_BIT(i))
			a[n++] = (char *)has_flags[i];
	for (char **f = aot->cflags; *f; f++)
		a[n++] = *f;
	a[n++] = "mod.c";
	a[n++] = AOT_SRC_RUNTIME "/glue.c";
	a[n++] = "-o";
	a[n++] = "mod.so";
	return a;
}

const char *aot_default_runtime_dir(void)
{
	return NETSERV_RUNTIME_DIR;
}

int aot_so_path(const struct aot *aot, const uint8_t sha256[32], char *buf, size_t len)
{
	char hex[65];

	hex32(sha256, hex);
	if ((size_t)snprintf(buf, len, "%s/%s.so", aot->cache_dir, hex) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int aot_evict(struct aot *aot, const uint8_t sha256[32])
{
	char so[PATH_MAX];
	int r = aot_so_path(aot, sha256, so, sizeof(so));

	if (r < 0)
		return r;
	return unlink(so) < 0 ? -errno : 0;
}

void aot_get_stats(const struct aot *aot, struct aot_stats *ret)
{
	*ret = aot->st;
}

static void on_hit(struct evloop *loop, void *ctx)
{
	struct aot_req *req = ctx;
	struct aot *aot = req->aot;
	struct aot_result res = {.status = 0, .cached = true, .reason = "", .log = ""};
	char so[PATH_MAX];

	for (struct aot_req **pp = &aot->hits; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			break;
		}
	}
	snprintf(so, sizeof(so), "%s/%s.so", aot->cache_dir, (const char *)(req + 1));
	res.so_path = so;
	req_result(req, &res);
}

int aot_compile(struct aot *aot, const char *wasm_path, const uint8_t sha256[32],
                const struct wasm_check_result *chk, aot_done_fn *done, void *ctx,
                struct aot_req **ret_req, char *err, size_t errlen)
{
	char hex[65], so[PATH_MAX];
	struct aot_req *req;
	struct aot_job *job;
	struct stat st;
	int r;

	if (!aot || !wasm_path || !sha256 || !chk || !done) {
		seterr(err, errlen, "aot_compile: missing argument");
		return -EINVAL;
	}
	hex32(sha256, hex);
	if ((size_t)snprintf(so, sizeof(so), "%s/%s.so", aot->cache_dir, hex) >= sizeof(so)) {
		seterr(err, errlen, "cache path too long");
		return -ENAMETOOLONG;
	}

	/* In the cache: answer on the next loop iteration. The hash is kept
	 * after the request. */
	if (stat(so, &st) == 0 && S_ISREG(st.st_mode)) {
		req = calloc(1, sizeof(*req) + sizeof(hex));
		if (!req)
			goto nomem;
		memcpy(req + 1, hex, sizeof(hex));
		req->aot = aot;
		req->done = done;
		req->ctx = ctx;
		req->t0 = evloop_now_ms();
		req->timer = evloop_timer_add(aot->loop, 0, on_hit, req);
		if (!req->timer) {
			free(req);
			goto nomem;
		}
		req->next = aot->hits;
		aot->hits = req;
		aot->st.cache_hits++;
		if (ret_req)
			*ret_req = req;
		return 0;
	}

	req = calloc(1, sizeof(*req));
	if (!req)
		goto nomem;
	req->aot = aot;
	req->done = done;
	req->ctx = ctx;
	req->t0 = evloop_now_ms();

	for (job = aot->jobs; job; job = job->next)
		if (strcmp(job->hex, hex) == 0)
			break;
	if (job) {
		aot->st.shared++;
	} else {
		job = calloc(1, sizeof(*job));
		if (!job) {
			free(req);
			goto nomem;
		}
		job->aot = aot;
		job->pidfd = -1;
		job->rfd = -1;
		memcpy(job->hex, hex, sizeof(hex));
		job->wasm_path = strdup(wasm_path);
		job->cc_argv = cc_argv_new(aot, chk);
		if (!job->wasm_path || !job->cc_argv) {
			job_free(job);
			free(req);
			goto nomem;
		}
		/* Queue it at the end. */
		struct aot_job **pp = &aot->jobs;
		while (*pp)
			pp = &(*pp)->next;
		*pp = job;
		aot->st.queued++;
		if (aot->st.running < aot->max_jobs) {
			r = job_start(aot, job);
			if (r < 0) {
				jobs_unlink(aot, job);
				aot->st.queued--;
				job_free(job);
				free(req);
				seterr(err, errlen, "cannot start the compile: %s", strerror(-r));
				return r;
			}
		}
	}
	req->job = job;
	req->next = job->waiters;
	job->waiters = req;
	if (ret_req)
		*ret_req = req;
	return 0;

nomem:
	seterr(err, errlen, "out of memory");
	return -ENOMEM;
}

struct aot_req *aot_cancel(struct aot *aot, struct aot_req *req)
{
	struct aot_job *job;

	if (!aot || !req)
		return NULL;
	job = req->job;
	if (!job) {
		for (struct aot_req **pp = &aot->hits; *pp; pp = &(*pp)->next) {
			if (*pp == req) {
				*pp = req->next;
				break;
			}
		}
		evloop_timer_cancel(aot->loop, req->timer);
		free(req);
		return NULL;
	}
	for (struct aot_req **pp = &job->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			break;
		}
	}
	free(req);
	if (!job->waiters && !job->running) {
		jobs_unlink(aot, job);
		aot->st.queued--;
		job_free(job);
	}
	return NULL;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

struct aot *aot_free(struct aot *aot)
{
	if (!aot)
		return NULL;
	while (aot->jobs) {
		struct aot_job *job = aot->jobs;
		aot->jobs = job->next;
		if (job->running) {
			kill(-job->pid, SIGKILL);
			waitpid(job->pid, NULL, 0);
			evloop_del_fd(aot->loop, job->pidfd);
			safe_close(job->pidfd);
			safe_close(job->rfd);
			evloop_timer_cancel(aot->loop, job->backstop);
		}
		while (job->waiters) {
			struct aot_req *req = job->waiters;
			job->waiters = req->next;
			free(req);
		}
		job_free(job);
	}
	while (aot->hits) {
		struct aot_req *req = aot->hits;
		aot->hits = req->next;
		evloop_timer_cancel(aot->loop, req->timer);
		free(req);
	}
	free(aot->cache_dir);
	free(aot->work_dir);
	free(aot->runtime_dir);
	free(aot->wasm_rt_dir);
	for (size_t i = 0; i < aot->n_srcs; i++) {
		free(aot->srcs[i].name);
		free(aot->srcs[i].data);
	}
	free(aot->srcs);
	free(aot->wasm2c);
	free(aot->cc);
	free(aot->optimize);
	strv_free(aot->cflags);
	free(aot);
	return NULL;
}

/* Creates dir (0755) if missing and stores its absolute path in *ret. */
static int dir_prepare(const char *dir, char **ret, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int r = -errno;
		seterr(err, errlen, "cannot create %s: %s", dir, strerror(-r));
		return r;
	}
	*ret = realpath(dir, NULL);
	if (!*ret) {
		int r = -errno;
		seterr(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

/* Stores the absolute path of dir in *ret after checking that dir/file is
 * readable. */
static int dir_with(const char *dir, const char *file, char **ret, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (access(path, R_OK) < 0) {
		r = -errno;
		seterr(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	*ret = realpath(dir, NULL);
	if (!*ret) {
		r = -errno;
		seterr(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

/* Reads one regular file (at most `room` bytes) relative to the directory fd
 * `dfd` into *data. Returns 0, -EFBIG or a negative errno. */
static int slurp_at(int dfd, const char *name, size_t room, char **data, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;
	if (r < 0) {
		close(fd);
		return r;
	}
	if ((uint64_t)st.st_size > room) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO; /* shrank while read */
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

static bool is_source_name(const char *name, bool runtime)
{
	size_t n = strlen(name);

	if (name[0] == '.')
		return false;
	if (runtime && strcmp(name, "glue.c") == 0)
		return true;
	return n > 2 && strcmp(name + n - 2, ".h") == 0;
}

/* Adds the headers of dir (and glue.c when `runtime`) to the source bundle,
 * under the work directory's subdirectory sub. Returns 0 or a negative errno
 * with err set. */
static int sources_load(struct aot *aot, const char *dir, const char *sub, bool runtime, char *err,
                        size_t errlen)
{
	size_t total = 0;
	bool glue = false;
	struct dirent *e;
	DIR *d;
	int r = 0;

	for (size_t i = 0; i < aot->n_srcs; i++)
		total += aot->srcs[i].len;
	d = opendir(dir);
	if (!d) {
		r = -errno;
		seterr(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	while ((e = readdir(d))) {
		struct aot_src *grown, *f;
		if (!is_source_name(e->d_name, runtime))
			continue;
		if (aot->n_srcs >= AOT_SRC_MAX_FILES) {
			r = -E2BIG;
			seterr(err, errlen, "%s: more than %u source files", dir,
			       AOT_SRC_MAX_FILES);
			break;
		}
		grown = realloc(aot->srcs, (aot->n_srcs + 1) * sizeof(*grown));
		if (!grown) {
			r = -ENOMEM;
			seterr(err, errlen, "out of memory");
			break;
		}
		aot->srcs = grown;
		f = &aot->srcs[aot->n_srcs];
		*f = (struct aot_src){.dir = sub, .name = strdup(e->d_name)};
		if (!f->name) {
			r = -ENOMEM;
			seterr(err, errlen, "out of memory");
			break;
		}
		r = slurp_at(dirfd(d), e->d_name, AOT_SRC_MAX_BYTES - total, &f->data, &f->len);
		if (r < 0) {
			free(f->name);
			if (r == -EINVAL) { /* not a regular file: not a source */
				r = 0;
				continue;
			}
			seterr(err, errlen, "%s/%s: %s", dir, e->d_name,
			       r == -EFBIG ? "the runtime sources exceed 4 MiB" : strerror(-r));
			break;
		}
		total += f->len;
		aot->n_srcs++;
		if (runtime && strcmp(e->d_name, "glue.c") == 0)
			glue = true;
	}
	closedir(d);
	if (r == 0 && runtime && !glue) {
		r = -ENOENT;
		seterr(err, errlen, "%s/glue.c: %s", dir, strerror(ENOENT));
	}
	return r;
}

int aot_new(struct evloop *loop, const struct aot_config *cfg, struct aot **ret, char *err,
            size_t errlen)
{
	struct aot *aot;
	size_t n = 0;
	int r;

	if (!loop || !cfg || !cfg->cache_dir || !ret) {
		seterr(err, errlen, "aot: no cache directory configured");
		return -EINVAL;
	}
	aot = calloc(1, sizeof(*aot));
	if (!aot)
		goto nomem;
	aot->loop = loop;
	aot->bounds_checks = cfg->bounds_checks;
	aot->time_limit_ms = cfg->time_limit_ms ? cfg->time_limit_ms : AOT_DEFAULT_TIME_LIMIT_MS;
	aot->cpu_limit_s = cfg->cpu_limit_s ? cfg->cpu_limit_s : AOT_DEFAULT_CPU_LIMIT_S;
	aot->file_limit = cfg->file_limit ? cfg->file_limit : AOT_DEFAULT_FILE_LIMIT;
	aot->mem_limit = cfg->mem_limit ? cfg->mem_limit : AOT_DEFAULT_MEM_LIMIT;
	aot->nice = cfg->nice == 0 ? AOT_DEFAULT_NICE : cfg->nice;
	aot->max_jobs = cfg->max_jobs ? cfg->max_jobs : AOT_DEFAULT_MAX_JOBS;

	if ((r = dir_prepare(cfg->cache_dir, &aot->cache_dir, err, errlen)) < 0 ||
	    (r = dir_prepare(cfg->work_dir ? cfg->work_dir : cfg->cache_dir, &aot->work_dir, err,
	                     errlen)) < 0 ||
	    (r = dir_with(cfg->runtime_dir ? cfg->runtime_dir : NETSERV_RUNTIME_DIR, "glue.c",
	                  &aot->runtime_dir, err, errlen)) < 0 ||
	    (r = dir_with(cfg->wasm_rt_dir ? cfg->wasm_rt_dir : AOT_DEFAULT_WASM_RT_DIR,
	                  "wasm-rt.h", &aot->wasm_rt_dir, err, errlen)) < 0)
		goto fail;
	if ((r = sources_load(aot, aot->runtime_dir, AOT_SRC_RUNTIME, true, err, errlen)) < 0 ||
	    (r = sources_load(aot, aot->wasm_rt_dir, AOT_SRC_WASM_RT, false, err, errlen)) < 0)
		goto fail;
	aot->wasm2c = strdup(cfg->wasm2c ? cfg->wasm2c : AOT_DEFAULT_WASM2C);
	aot->cc = strdup(cfg->cc ? cfg->cc : AOT_DEFAULT_CC);
	aot->optimize = strdup(cfg->optimize ? cfg->optimize : AOT_DEFAULT_OPTIMIZE);
	if (!aot->wasm2c || !aot->cc || !aot->optimize)
		goto nomem;
	for (const char *const *f = cfg->cflags; f && *f; f++)
		n++;
	aot->cflags = calloc(n + 1, sizeof(*aot->cflags));
	if (!aot->cflags)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if (!(aot->cflags[i] = strdup(cfg->cflags[i])))
			goto nomem;

	if (geteuid() == 0) {
		const char *user = cfg->user ? cfg->user : AOT_DEFAULT_USER;
		struct passwd *pw;
		errno = 0;
		pw = getpwnam(user);
		if (!pw) {
			r = errno ? -errno : -ENOENT;
			seterr(err, errlen, "sandbox user %s: %s", user,
			       errno ? strerror(errno) : "no such user");
			goto fail;
		}
		if (pw->pw_uid == 0 || pw->pw_gid == 0) {
			r = -EPERM;
			seterr(err, errlen, "sandbox user %s has uid or gid 0: refused", user);
			goto fail;
		}
		aot->drop = true;
		aot->uid = pw->pw_uid;
		aot->gid = pw->pw_gid;
	}

	remove_stale(aot->cache_dir);
	if (strcmp(aot->work_dir, aot->cache_dir) != 0)
		remove_stale(aot->work_dir);
	*ret = aot;
	return 0;

nomem:
	r = -ENOMEM;
	seterr(err, errlen, "out of memory");
fail:
	aot_free(aot);
	return r;
}
