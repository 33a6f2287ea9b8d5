/* Supervisor <-> container messages over SOCK_SEQPACKET. */
#include "proto/cmsg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int cmsg_send(int fd, uint32_t type, uint32_t seq, int32_t status, const void *payload, size_t len)
{
	return cmsg_send_fd(fd, type, seq, status, payload, len, -1);
}

int cmsg_send_fd(int fd, uint32_t type, uint32_t seq, int32_t status, const void *payload,
                 size_t len, int pass_fd)
{
	return cmsg_send_fds(fd, type, seq, status, payload, len, &pass_fd, pass_fd >= 0 ? 1 : 0);
}

int cmsg_send_fds(int fd, uint32_t type, uint32_t seq, int32_t status, const void *payload,
                  size_t len, const int *fds, size_t nfds)
{
	if (len > CMSG_MAX - sizeof(struct cmsg_hdr))
		return -EMSGSIZE;
	if (nfds > CMSG_MAX_FDS)
		return -EINVAL;
	struct cmsg_hdr h = {.type = type, .seq = seq, .status = status, .len = (uint32_t)len};
	struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)payload, len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
	union {
		char buf[CMSG_SPACE(sizeof(int) * CMSG_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int cmsg_send_json(int fd, uint32_t type, uint32_t seq, int32_t status, const json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : strdup("{}");
	if (!text)
		return -ENOMEM;
	int r = cmsg_send(fd, type, seq, status, text, strlen(text));
	free(text);
	return r;
}

const uint8_t *cmsg_recv(int fd, uint8_t *buf, size_t cap, struct cmsg_hdr *hdr, int *err)
{
	int passed = -1;
	const uint8_t *p = cmsg_recv_fd(fd, buf, cap, hdr, err, &passed);
	if (passed >= 0)
		close(passed); /* nobody asked for one */
	return p;
}

const uint8_t *cmsg_recv_fd(int fd, uint8_t *buf, size_t cap, struct cmsg_hdr *hdr, int *err,
                            int *ret_fd)
{
	return cmsg_recv_fds(fd, buf, cap, hdr, err, ret_fd, 1);
}

static void fds_close(int *fds, size_t max)
{
	for (size_t i = 0; i < max; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

const uint8_t *cmsg_recv_fds(int fd, uint8_t *buf, size_t cap, struct cmsg_hdr *hdr, int *err,
                             int *fds, size_t max)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * CMSG_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {buf, cap};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = ctl.buf,
	                    .msg_controllen = sizeof(ctl.buf)};
	ssize_t n;
	size_t got_n = 0;
	for (size_t i = 0; i < max; i++)
		fds[i] = -1;
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfds; i++) {
				int got;
				memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (got_n < max)
					fds[got_n++] = got;
				else
					close(got);
			}
		}
	}
	if (n < 0) {
		*err = errno == EAGAIN ? -EAGAIN : -errno;
		return NULL;
	}
	if (n == 0) {
		*err = -ECONNRESET;
		return NULL;
	}
	if ((size_t)n > cap || (size_t)n < sizeof(*hdr)) {
		*err = -EBADMSG;
		goto bad;
	}
	memcpy(hdr, buf, sizeof(*hdr));
	if (hdr->len != (size_t)n - sizeof(*hdr)) {
		*err = -EBADMSG;
		goto bad;
	}
	*err = 0;
	return buf + sizeof(*hdr);
bad:
	fds_close(fds, max);
	return NULL;
}

json_t *cmsg_json(const uint8_t *payload, size_t len)
{
	json_error_t e;
	return json_loadb((const char *)payload, len, 0, &e);
}
