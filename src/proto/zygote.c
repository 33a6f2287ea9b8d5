/* The zygote's request (see zygote.h). */
#include "proto/zygote.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int zygote_send_spawn(int fd, int ctl, int busy)
{
	uint32_t magic = ZYGOTE_SPAWN;
	int fds[2] = {ctl, busy};
	int n = busy >= 0 ? 2 : 1;
	struct iovec iov = {&magic, sizeof(magic)};
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof(u));
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = CMSG_SPACE((size_t)n * sizeof(int))};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	for (;;) {
		if (sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int zygote_recv_spawn(int fd, int *ctl, int *busy)
{
	uint32_t magic = 0;
	struct iovec iov = {&magic, sizeof(magic)};
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = u.buf,
	                    .msg_controllen = sizeof(u.buf)};
	ssize_t r;
	do
		r = recvmsg(fd, &mh, 0);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return r == 0 ? 0 : -errno;
	int fds[4], n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k && n < 4; i++)
			memcpy(&fds[n++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if (r != sizeof(magic) || magic != ZYGOTE_SPAWN || n < 1 || n > 2 ||
	    (mh.msg_flags & MSG_CTRUNC)) {
		for (int i = 0; i < n; i++)
			close(fds[i]);
		return -EBADMSG;
	}
	*ctl = fds[0];
	*busy = n > 1 ? fds[1] : -1;
	return 1;
}
