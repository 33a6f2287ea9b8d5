/* Running a program to its end, with limits (subprocess.h). */
#include "lib/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

extern char **environ;

/* After the child exits, what it left in the pipes is read for this long. */
#define DRAIN_MS 200

struct capture {
	int fd; /* read end, -1 once closed */
	char *buf;
	size_t len, cap, max;
	bool cut;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Appends to the capture, growing it up to max. Returns 0 or -ENOMEM. */
static int capture_add(struct capture *c, const char *p, size_t n)
{
	if (n > c->max - c->len) {
		c->cut = true;
		n = c->max - c->len;
	}
	if (n == 0)
		return 0;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n + 1)
			cap *= 2;
		if (cap > c->max + 1)
			cap = c->max + 1;
		char *b = realloc(c->buf, cap);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return 0;
}

/* Reads what is there. Returns false once the pipe is closed. */
static bool capture_read(struct capture *c, int *oom)
{
	char buf[16384];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n > 0) {
		if (capture_add(c, buf, (size_t)n) < 0)
			*oom = -ENOMEM;
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	c->fd = safe_close(c->fd);
	return false;
}

struct child_fds {
	int in, out, err; /* what becomes 0, 1, 2 */
};

static _Noreturn void child_main(const struct subprocess *sp, const struct child_fds *fds,
                                 const char *search)
{
	char *const *env = sp->envp ? sp->envp : environ;
	sigset_t none;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (dup2(fds->in, 0) < 0 || dup2(fds->out, 1) < 0 ||
	    dup2(sp->err_to_out ? 1 : fds->err, 2) < 0)
		_exit(SUBPROCESS_EXIT_SETUP);
	close_range(3, ~0u, 0);
	if (sp->child_setup && sp->child_setup(sp->arg) != 0)
		_exit(SUBPROCESS_EXIT_SETUP);

	const char *prog = sp->file ? sp->file : sp->argv[0];
	if (strchr(prog, '/')) {
		execve(prog, sp->argv, env);
	} else {
		char path[PATH_MAX];
		int saved = ENOENT;
		for (const char *dir = search; *dir;) {
			size_t n = strcspn(dir, ":");
			if (snprintf(path, sizeof(path), "%.*s/%s", (int)n, n ? dir : ".", prog) <
			    (int)sizeof(path)) {
				execve(path, sp->argv, env);
				if (errno != ENOENT && errno != ENOTDIR)
					saved = errno;
			}
			dir += n + (dir[n] == ':');
		}
		errno = saved;
	}
	char msg[PATH_MAX + 64];
	int n = snprintf(msg, sizeof(msg), "cannot execute %s: %s\n", prog, strerror(errno));
	if (n > 0 && write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
		_exit(SUBPROCESS_EXIT_NOEXEC);
	_exit(SUBPROCESS_EXIT_NOEXEC);
}

/* Opens what becomes one of the child's standard descriptors: /dev/null, the
 * caller's own (inherit) or a pipe whose read end goes to the capture. */
static int std_fd(enum subprocess_io io, int own, struct capture *c, int *child_end)
{
	int p[2];

	switch (io) {
	case SUBPROCESS_INHERIT:
		*child_end = own;
		return 0;
	case SUBPROCESS_CAPTURE:
		if (pipe2(p, O_CLOEXEC) < 0)
			return -errno;
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		c->fd = p[0];
		*child_end = p[1];
		return 0;
	case SUBPROCESS_NULL:
	default:
		*child_end = open("/dev/null", O_RDWR | O_CLOEXEC);
		return *child_end < 0 ? -errno : 0;
	}
}

static void close_child_end(int fd)
{
	if (fd > 2)
		close(fd);
}

/* Whether the child has exited (without reaping it). */
static bool has_exited(pid_t pid)
{
	siginfo_t si = {0};

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

int subprocess_run(const struct subprocess *sp, struct subprocess_result *res)
{
	struct capture out = {.fd = -1, .max = sp->out_max}, err = {.fd = -1, .max = sp->err_max};
	struct child_fds fds = {-1, -1, -1};
	int in[2] = {-1, -1}, r = 0, oom = 0, pidfd = -1;
	const char *search = sp->path ? sp->path : getenv("PATH");
	size_t sent = 0;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	if (!sp->argv || !sp->argv[0])
		return -EINVAL;
	if (!search)
		search = "/usr/local/bin:/usr/bin:/bin";
	if (sp->input) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
			return -errno;
		fds.in = in[1];
	} else if ((r = std_fd(SUBPROCESS_NULL, 0, NULL, &fds.in)) < 0) {
		return r;
	}
	if ((r = std_fd(sp->out, 1, &out, &fds.out)) < 0 ||
	    (!sp->err_to_out && (r = std_fd(sp->err, 2, &err, &fds.err)) < 0))
		goto fail;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto fail;
	}
	if (pid == 0)
		child_main(sp, &fds, search);
	setpgid(pid, pid); /* also here: no window in which a kill misses */
	close_child_end(fds.in);
	close_child_end(fds.out);
	close_child_end(fds.err);
	fds = (struct child_fds){-1, -1, -1};
	if (in[0] >= 0) {
		fcntl(in[0], F_SETFL, O_NONBLOCK);
		if (sp->input_len == 0)
			in[0] = safe_close(in[0]);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	uint64_t deadline = sp->timeout_ms ? mono_ms() + sp->timeout_ms : 0, drain_until = 0;
	bool exited = false;
	while (!exited || out.fd >= 0 || err.fd >= 0) {
		uint64_t now = mono_ms();
		int timeout = -1;
		if (!exited && deadline && now >= deadline && !res->timed_out) {
			kill(-pid, SIGKILL);
			res->timed_out = true;
		}
		if (exited) {
			if (now >= drain_until)
				break;
			timeout = (int)(drain_until - now);
		} else if (pidfd < 0) {
			timeout = 50; /* no pidfd: look again soon */
		} else if (deadline && !res->timed_out) {
			uint64_t left = deadline - now;
			timeout = left > 60000 ? 60000 : (int)left;
		}
		struct pollfd pfd[4] = {
		        {.fd = in[0], .events = POLLOUT},
		        {.fd = out.fd, .events = POLLIN},
		        {.fd = err.fd, .events = POLLIN},
		        {.fd = exited ? -1 : pidfd, .events = POLLIN},
		};
		if (poll(pfd, 4, timeout) < 0 && errno != EINTR) {
			r = -errno;
			kill(-pid, SIGKILL);
			break;
		}
		if (in[0] >= 0 && pfd[0].revents) {
			ssize_t w = send(in[0], (const char *)sp->input + sent,
			                 sp->input_len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == sp->input_len) {
				shutdown(in[0], SHUT_WR);
				in[0] = safe_close(in[0]);
			}
		}
		if (out.fd >= 0 && pfd[1].revents)
			capture_read(&out, &oom);
		if (err.fd >= 0 && pfd[2].revents)
			capture_read(&err, &oom);
		if (!exited && (pidfd < 0 || pfd[3].revents) && has_exited(pid)) {
			/* Kill what it left in its group while it is a zombie: its
			 * pid (and so the group id) cannot be reused before the reap. */
			kill(-pid, SIGKILL);
			exited = true;
			drain_until = mono_ms() + DRAIN_MS;
		}
	}
	if (!exited)
		kill(-pid, SIGKILL);
	while (waitpid(pid, &res->status, 0) < 0 && errno == EINTR)
		;
	safe_close(pidfd);
	safe_close(in[0]);
	safe_close(out.fd);
	safe_close(err.fd);
	if (r == 0 && oom)
		r = oom;
	if (r < 0) {
		free(out.buf);
		free(err.buf);
		memset(res, 0, sizeof(*res));
		return r;
	}
	if (sp->out == SUBPROCESS_CAPTURE && !out.buf)
		out.buf = calloc(1, 1);
	if (!sp->err_to_out && sp->err == SUBPROCESS_CAPTURE && !err.buf)
		err.buf = calloc(1, 1);
	if ((sp->out == SUBPROCESS_CAPTURE && !out.buf) ||
	    (!sp->err_to_out && sp->err == SUBPROCESS_CAPTURE && !err.buf)) {
		free(out.buf);
		free(err.buf);
		memset(res, 0, sizeof(*res));
		return -ENOMEM;
	}
	res->out = out.buf;
	res->out_len = out.len;
	res->out_cut = out.cut;
	res->err = err.buf;
	res->err_len = err.len;
	res->err_cut = err.cut;
	return 0;

fail:
	safe_close(in[0]);
	close_child_end(fds.in);
	close_child_end(fds.out);
	close_child_end(fds.err);
	safe_close(out.fd);
	safe_close(err.fd);
	return r;
}

void subprocess_result_done(struct subprocess_result *res)
{
	if (!res)
		return;
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

int subprocess_exit_code(const struct subprocess_result *res)
{
	if (WIFEXITED(res->status))
		return WEXITSTATUS(res->status);
	if (WIFSIGNALED(res->status))
		return 128 + WTERMSIG(res->status);
	return 255;
}
