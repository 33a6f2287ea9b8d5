/* Starting the container zygote and asking it for containers (zygote_host.h). */
#include "runtime/zygote_host.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/util.h"
#include "proto/zygote.h"

/* A spawn answers within this (a fork); longer means the zygote is stuck. */
#define ZYGOTE_TIMEOUT_MS 2000

int zygote_host_start(struct zygote_host *z, const char *container_bin, char *err, size_t errlen)
{
	z->pid = 0;
	z->fd = -1;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -errno;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		snprintf(err, errlen, "fork: %s", strerror(e));
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		syscall(SYS_close_range, 4, ~0u, 0);
		char *argv[] = {(char *)container_bin, "--zygote", "--control-fd", "3", NULL};
		execv(container_bin, argv);
		_exit(127);
	}
	close(sv[1]);
	z->pid = pid;
	z->fd = sv[0];
	return 0;
}

pid_t zygote_host_spawn(struct zygote_host *z, int ctl, int busy)
{
	if (z->fd < 0)
		return -ENOTCONN;
	int r = zygote_send_spawn(z->fd, ctl, busy);
	if (r == 0) {
		struct pollfd p = {.fd = z->fd, .events = POLLIN};
		int n;
		do
			n = poll(&p, 1, ZYGOTE_TIMEOUT_MS);
		while (n < 0 && errno == EINTR);
		int32_t answer = 0;
		if (n == 0)
			r = -ETIMEDOUT;
		else if (n < 0)
			r = -errno;
		else if (recv(z->fd, &answer, sizeof(answer), 0) != sizeof(answer))
			r = -EPIPE;
		else if (answer <= 0)
			return answer < 0 ? answer : -EPROTO; /* fork failed: the zygote is fine */
		else
			return (pid_t)answer;
	}
	zygote_host_stop(z);
	return r;
}

void zygote_host_stop(struct zygote_host *z)
{
	z->fd = safe_close(z->fd);
	if (z->pid > 0) {
		kill(z->pid, SIGKILL);
		waitpid(z->pid, NULL, 0);
	}
	z->pid = 0;
}
