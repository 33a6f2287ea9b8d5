/* The container zygote: forks containers on netservd's request (see
 * proto/zygote.h). Single-threaded, holds nothing but its control socket.
 * The raw clone3 runs no fork handlers and leaves glibc's cached tid of the
 * zygote in the child's thread descriptor; glibc (>= 2.34) asks the kernel
 * for the tid where it signals itself (raise, abort), and the container's
 * timers are process-directed. */
#include "container/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/host_crypto.h"
#include "proto/zygote.h"

/* In the new container: the fds where a fresh one finds them. */
static int child_fds(int ctl, int busy, int *busy_fd)
{
	int c = fcntl(ctl, F_DUPFD, 5);
	int b = busy >= 0 ? fcntl(busy, F_DUPFD, 5) : -1;
	if (c < 0 || (busy >= 0 && b < 0) || dup2(c, 3) < 0 || (b >= 0 && dup2(b, 4) < 0))
		return -1;
	syscall(SYS_close_range, b >= 0 ? 5 : 4, ~0u, 0);
	*busy_fd = b >= 0 ? 4 : -1;
	return 0;
}

int zygote_run(int ctl_fd, int *busy_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "netserv-zygote");
	/* OpenSSL's configuration and algorithm tables, loaded once here, are
	 * shared by every container (each would load its own at ASSIGN). */
	if (host_crypto_init() < 0)
		fprintf(stderr, "netserv-container: zygote: cannot initialise libcrypto\n");
	for (;;) {
		int ctl, busy;
		int r = zygote_recv_spawn(ctl_fd, &ctl, &busy);
		if (r == -EBADMSG) {
			int32_t no = -EBADMSG;
			send(ctl_fd, &no, sizeof(no), MSG_NOSIGNAL);
			continue;
		}
		if (r <= 0)
			return -1;
		/* The new container is netservd's child, as one it forked. */
		/* exit_signal must be 0 with CLONE_PARENT: ours (SIGCHLD) is used. */
		struct clone_args ca = {.flags = CLONE_PARENT};
		long pid = syscall(SYS_clone3, &ca, sizeof(ca));
		if (pid == 0) {
			prctl(PR_SET_NAME, "netserv-contain");
			if (child_fds(ctl, busy, busy_fd) < 0)
				_exit(127);
			return 1;
		}
		int32_t answer = pid < 0 ? -errno : (int32_t)pid;
		close(ctl);
		if (busy >= 0)
			close(busy);
		if (send(ctl_fd, &answer, sizeof(answer), MSG_NOSIGNAL) < 0)
			return -1;
	}
}
