/* Binding an NFLOG group (see nflog.h), with libmnl. */
#include "fwd/nflog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "lib/errbuf.h"

#define RCVBUF_DEFAULT (4u << 20)

static struct nlmsghdr *config_put(char *buf, uint16_t group)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(group);
	return nlh;
}

/* Sends one config message and waits for its ACK. Returns 0 or -errno. */
static int config_send(struct mnl_socket *nl, struct nlmsghdr *nlh, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned portid = mnl_socket_get_portid(nl);

	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		errno = 0;
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (r < 0)
			return errno ? -errno : -EPROTO;
		if (r == MNL_CB_STOP || r == MNL_CB_OK)
			return 0;
	}
}

int nflog_group_bind(uint16_t group, uint32_t copy_max, uint32_t rcvbuf, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t seq = (uint32_t)time(NULL);
	int r;

	if (copy_max == 0 || copy_max > 0xffff)
		return err_set(err, errlen, -EINVAL, "copy size %u: want 1..65535", copy_max);
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return err_set(err, errlen, -errno, "netlink socket: %s", strerror(errno));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = err_set(err, errlen, -errno, "netlink bind: %s", strerror(errno));
		goto fail;
	}
	int fd = mnl_socket_get_fd(nl);
	int v = (int)(rcvbuf ? rcvbuf : RCVBUF_DEFAULT);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));

	struct nlmsghdr *nlh = config_put(buf, group);
	struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_BIND};
	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
	if ((r = config_send(nl, nlh, ++seq)) < 0) {
		if (r == -EPERM || r == -EBUSY)
			err_set(err, errlen, r,
			        "binding NFLOG group %u: refused (another socket holds it, or no "
			        "CAP_NET_ADMIN)",
			        group);
		else
			err_set(err, errlen, r, "binding NFLOG group %u: %s", group, strerror(-r));
		goto fail;
	}
	nlh = config_put(buf, group);
	struct nfulnl_msg_config_mode mode = {.copy_range = htonl(copy_max),
	                                      .copy_mode = NFULNL_COPY_PACKET};
	mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
	/* Batches: up to NFLOG_BATCH copies (or NFLOG_BATCH_BYTES) per datagram,
	 * none older than NFLOG_FLUSH_CS: one wake-up of the reader per batch. */
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(NFLOG_BATCH));
	mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(NFLOG_FLUSH_CS));
	mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(NFLOG_BATCH_BYTES));
	if ((r = config_send(nl, nlh, ++seq)) < 0) {
		err_set(err, errlen, r, "configuring NFLOG group %u: %s", group, strerror(-r));
		goto fail;
	}
	/* libmnl's handle owns its fd: keep a duplicate, close the handle. */
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0) {
		r = err_set(err, errlen, -errno, "fcntl: %s", strerror(errno));
		goto fail;
	}
	mnl_socket_close(nl);
	return dup;
fail:
	mnl_socket_close(nl);
	return r;
}
