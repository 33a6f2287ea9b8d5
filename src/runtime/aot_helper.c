/* The AOT compiler's helper process (forked by aot.c for one compile):
 * prepares a private work directory, runs wasm2c and cc there as the
 * sandbox user with limits, installs the .so into the cache and reports
 * back through a pipe. It never touches the event loop. See aot.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abi/glue.h"
#include "lib/subprocess.h"
#include "lib/util.h"
#include "runtime/aot_int.h"

/* The tools' environment: nothing of the daemon's. */
#define TOOL_PATH "/usr/local/bin:/usr/bin:/bin"
static char *const tool_env[] = {"PATH=" TOOL_PATH, "LC_ALL=C", "LANG=C", "TMPDIR=.", NULL};

uint64_t aot_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
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
int aot_remove_tree_at(int at, const char *name, int depth)
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
		int q = aot_remove_tree_at(dirfd(d), e->d_name, depth + 1);
		if (q < 0 && r == 0)
			r = q;
	}
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0 && r == 0)
		r = -errno;
	return r;
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

/* What the tool's child needs before exec. */
struct tool_ctx {
	const struct aot *aot;
	pid_t helper;
};

/* subprocess child_setup: the limits, the sandbox user, no new privileges.
 * Returns 0, or -1 after saying why on fd 2 (the log). */
static int tool_setup(void *arg)
{
	const struct tool_ctx *t = arg;
	const struct aot *aot = t->aot;

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
			return -1;
		}
		if (getresuid(&ru, &eu, &su) < 0 || ru != aot->uid || eu != aot->uid ||
		    su != aot->uid || setuid(0) == 0)
			return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* After the switch: a change of credentials clears the death signal. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return getppid() == t->helper ? 0 : -1;
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

/* Room below which a failed tool is taken for a full disk. */
#define AOT_LOW_SPACE (1u << 20)

/* Whether the last tool failed for want of disk space; sets *status to
 * -ENOSPC or -EDQUOT and the reason. */
static bool out_of_space(struct helper *h, size_t log_from, int *status)
{
	const char *lg = h->log + log_from;
	size_t ll = h->log_len - log_from;
	struct statvfs vfs;
	bool quota = memmem(lg, ll, "Disk quota exceeded", 19);
	bool full = memmem(lg, ll, "No space left on device", 23);
	unsigned long long avail = 0;

	if (!quota && !full && statvfs(".", &vfs) == 0) {
		avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
		full = avail < AOT_LOW_SPACE;
	}
	if (!quota && !full)
		return false;
	if (quota || memmem(lg, ll, "No space left on device", 23)) {
		hfail(h, 0, "the node is out of disk space in %s (%s)", h->aot->work_dir,
		      quota ? "Disk quota exceeded" : "No space left on device");
	} else {
		hfail(h, 0, "the node is out of disk space in %s (%llu KiB free)", h->aot->work_dir,
		      avail >> 10);
	}
	*status = quota ? -EDQUOT : -ENOSPC;
	return true;
}

/* Runs one tool to its end or the deadline (lib/subprocess.h: its own
 * process group, killed with everything it started). Returns 0 or a negative
 * status with the reason set. */
static int run_tool(struct helper *h, const char *what, char *const argv[])
{
	struct tool_ctx t = {.aot = h->aot, .helper = getpid()};
	uint64_t now = aot_now_ms();
	struct subprocess sp = {
	        .argv = argv,
	        .envp = tool_env,
	        .path = TOOL_PATH,
	        .out = SUBPROCESS_CAPTURE,
	        .err_to_out = true,
	        .out_max = AOT_LOG_MAX,
	        .timeout_ms = h->deadline > now ? h->deadline - now : 1,
	        .child_setup = tool_setup,
	        .arg = &t,
	};
	struct subprocess_result res;
	size_t log_from = h->log_len;
	int r = subprocess_run(&sp, &res);

	if (r < 0)
		return hfail(h, r, "cannot run %s: %s", what, strerror(-r));
	log_add(h, res.out, res.out_len);
	if (res.out_cut)
		h->log_cut = true;
	int st = res.status;
	bool timed_out = res.timed_out;
	subprocess_result_done(&res);

	if (timed_out)
		return hfail(h, -ETIMEDOUT, "compile time limit of %u ms reached (in %s)",
		             h->aot->time_limit_ms, what);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == SUBPROCESS_EXIT_NOEXEC) {
		hfail(h, 0, "%s could not be run", what);
		reason_add_error(h, log_from);
		return -ENOENT;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == SUBPROCESS_EXIT_SETUP) {
		hfail(h, 0, "%s: sandbox setup failed", what);
		reason_add_error(h, log_from);
		return -EPERM;
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
		return hfail(h, -ETIMEDOUT, "%s: CPU time limit of %u s reached", what,
		             h->aot->cpu_limit_s);
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ)
		return hfail(h, -EFBIG, "%s: output over the file size limit", what);
	/* A full disk (or quota) is the node's failure, not the module's: a tool
	 * that says so, or one that failed while the work directory's filesystem
	 * has (almost) no room left (wasm2c does not check its writes: a truncated
	 * output fails later in the C compiler with "unknown type name"). */
	if (out_of_space(h, log_from, &r))
		return r;
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
	snprintf(dst, sizeof(dst), "%s/%s" NS_GLUE_SO_SUFFIX, aot->cache_dir, h->job->hex);
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

/* ---- the instance's state (state.h, for glue.c's transfer) ---- */

/* The most of mod.h read to find the instance struct. */
#define STATE_SCAN_MAX (8u << 20)

static bool is_ident(const char *p, size_t n)
{
	if (n == 0 || n > 200)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		      (i > 0 && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Appends one field of Z_mod_instance_t ("TYPE NAME;", spaces trimmed) to
 * out as an X-macro entry; an unknown kind of field sets *unsupported. */
static void state_field(const char *line, size_t n, FILE *out, bool *unsupported)
{
	static const char *const values[] = {"u32", "u64", "f32", "f64", "v128"};
	const char *sp;
	size_t tn;

	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		n--;
	if (n < 2 || line[n - 1] != ';') {
		*unsupported = true;
		return;
	}
	n--;
	sp = memrchr(line, ' ', n);
	if (!sp) {
		*unsupported = true;
		return;
	}
	tn = (size_t)(sp - line);
	const char *name = sp + 1;
	size_t nn = n - tn - 1;
	bool ptr = nn && name[0] == '*';
	if (ptr) {
		name++;
		nn--;
	}
	if (!is_ident(name, nn)) {
		*unsupported = true;
		return;
	}
	if (!ptr && tn && line[tn - 1] == '*') {
		ptr = true;
		tn--;
	}
	if (ptr && tn > 7 && strncmp(line, "struct ", 7) == 0) {
		fprintf(out, " NS_STATE_IMPORT(%.*s)", (int)nn, name);
		return;
	}
	if (ptr) {
		*unsupported = true; /* an imported memory, table or global */
		return;
	}
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		if (tn == strlen(values[i]) && strncmp(line, values[i], tn) == 0) {
			fprintf(out, " NS_STATE_VALUE(%.*s)", (int)nn, name);
			return;
		}
	}
	if (tn == 16 && strncmp(line, "wasm_rt_memory_t", 16) == 0)
		fprintf(out, " NS_STATE_MEMORY(%.*s)", (int)nn, name);
	else if ((tn == 23 && strncmp(line, "wasm_rt_funcref_table_t", 23) == 0) ||
	         (tn == 25 && strncmp(line, "wasm_rt_externref_table_t", 25) == 0))
		fprintf(out, " NS_STATE_TABLE(%.*s)", (int)nn, name);
	else
		*unsupported = true;
}

/* Writes state.h into the work directory dfd from the mod.h wasm2c wrote
 * there: the fields of the instance struct as an X-macro (NS_STATE_FIELDS)
 * and a hash of the struct's text (NS_STATE_LAYOUT), or
 * NS_STATE_UNSUPPORTED when a field is of a kind glue.c cannot carry over.
 * Only names that are C identifiers are copied. Returns 0 or a negative
 * errno (then glue.c compiles without a transfer). */
static int write_state_header(int dfd)
{
	static const char head[] = "typedef struct Z_mod_instance_t {\n";
	static const char tail[] = "} Z_mod_instance_t;";
	char *text = NULL, *buf = NULL;
	size_t len = 0, blen = 0;
	bool unsupported = false;
	uint64_t hash = 1469598103934665603ull; /* FNV-1a */
	int fd, r = 0;

	/* written by the sandboxed tool: a regular file, or nothing read */
	struct stat st;
	fd = openat(dfd, "mod.h", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	text = malloc(STATE_SCAN_MAX + 1);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (len < STATE_SCAN_MAX) {
		ssize_t n = read(fd, text + len, STATE_SCAN_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	char *start = strstr(text, head), *end = start ? strstr(start, tail) : NULL;
	FILE *out = open_memstream(&buf, &blen);
	if (!start || !end || !out) {
		if (out)
			fclose(out);
		free(buf);
		free(text);
		return -EINVAL;
	}
	for (const char *c = start; c < end; c++)
		hash = (hash ^ (uint8_t)*c) * 1099511628211ull;
	fputs("/* Written by the node's AOT step from mod.h. */\n#define NS_STATE_FIELDS", out);
	for (char *line = start + strlen(head); line < end;) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (n)
			state_field(line, n, out, &unsupported);
		line += n + 1;
	}
	fprintf(out, "\n#define NS_STATE_LAYOUT 0x%016llxull\n", (unsigned long long)hash);
	if (unsupported)
		fputs("#define NS_STATE_UNSUPPORTED 1\n", out);
	if (fclose(out) != 0)
		r = -ENOMEM;
	free(text);
	if (r == 0) {
		fd = openat(dfd, "state.h", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            0644);
		if (fd < 0 || write_all(fd, buf, blen) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
	}
	free(buf);
	return r;
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
		/* without state.h, glue.c has no transfer: only hot swaps fail */
		if (r == 0)
			(void)write_state_header(dfd);
		if (r == 0)
			r = run_tool(h, "C compiler", h->job->cc_argv);
		if (r == 0)
			r = install(h);
		if (chdir("/") < 0)
			r = r ? r : -errno;
	}
	if (dfd >= 0)
		close(dfd);
	aot_remove_tree_at(AT_FDCWD, dir, 0);
	return r;
}

/* Waits for the module's lock in the cache (held until the helper exits).
 * Returns the lock's fd (left open) or a negative errno. */
static int module_lock(const struct aot *aot, const char *hex)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/" AOT_LOCK_PREFIX "%s", aot->cache_dir, hex);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	return fd;
}

/* Whether the module's .so is in the cache. */
static bool so_present(const struct aot *aot, const char *hex)
{
	char so[PATH_MAX];
	struct stat st;

	snprintf(so, sizeof(so), "%s/%s" NS_GLUE_SO_SUFFIX, aot->cache_dir, hex);
	return stat(so, &st) == 0 && S_ISREG(st.st_mode);
}

_Noreturn void aot_helper_main(struct aot *aot, struct aot_job *job, pid_t parent, int wfd)
{
	static struct helper h; /* the log is large: not on the stack */
	char workdir[PATH_MAX], head[64];
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	int r, n, lock;
	bool peer = false;

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
	h.deadline = aot_now_ms() + aot->time_limit_ms;
	snprintf(workdir, sizeof(workdir), "%s/.work-%.16s-XXXXXX", aot->work_dir, job->hex);
	/* Nodes sharing the cache compile a module once: the first holds the
	 * lock while it compiles and installs; the others find the .so. */
	lock = module_lock(aot, job->hex);
	if (lock < 0)
		r = hfail(&h, lock, "cannot lock the module in %s: %s", aot->cache_dir,
		          strerror(-lock));
	else if (so_present(aot, job->hex))
		r = 0, peer = true;
	else
		r = helper_run(&h, workdir);
	if (h.log_cut && h.log_len >= 6) {
		memcpy(h.log + h.log_len - 6, "[...]\n", 6);
	}
	for (size_t i = 0; i < h.log_len; i++)
		if (h.log[i] == '\0')
			h.log[i] = '?';
	n = snprintf(head, sizeof(head), "%d%s\n", r, peer ? " peer" : "");
	/* The report fits in the empty pipe: these writes do not block. */
	write_all(wfd, head, (size_t)n);
	write_all(wfd, h.reason, strlen(h.reason));
	write_all(wfd, "\n", 1);
	write_all(wfd, h.log, h.log_len);
	_exit(0);
}
