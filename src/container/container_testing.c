/* TEST BUILD ONLY: compiled into netserv-container-testing (never installed,
 * never built into netserv-container). It lets the security tests make a
 * container misbehave on command, as a module that escaped WebAssembly
 * would: a UDP packet whose payload starts with "NSTEST " runs a command
 * before any module sees it.
 *
 *   NSTEST exec          execve("/bin/true"): seccomp kills the container
 *   NSTEST netlink       socket(AF_NETLINK): seccomp kills the container
 *   NSTEST open PATH     open(PATH) for reading: landlock refuses other files
 *   NSTEST create NAME   create NAME (relative: the container's directory)
 *   NSTEST bind PORT     bind a TCP socket to PORT: landlock allows only the
 *                        publisher's listen ports
 *   NSTEST nfq-bind N    on the container's queue socket: bind NFQUEUE queue N
 *                        (the kernel answers on that socket; see whether it
 *                        took in /proc/net/netfilter/nfnetlink_queue)
 *   NSTEST nft NAME      on the container's queue socket: an nf_tables batch
 *                        that creates table inet NAME (see `nft list tables`)
 *   NSTEST verdict N     an NFQUEUE verdict (accept, packet id 1) for queue N,
 *                        on the verdict channel if it has one, else on the
 *                        queue socket
 *
 * The packet comes back (PACKET reply, or NFQUEUE verdict) replaced by the
 * text "NSTEST-RESULT <command>: <errno>" (0 for success). */
#include "container/container_testing.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

static int queue_fd = -1, verdict_fd = -1;

void container_testing_set_queue(int nl_fd, int vfd)
{
	queue_fd = nl_fd;
	verdict_fd = vfd;
}

/* Appends a netlink message header + nfgenmsg at buf + *off. */
static struct nlmsghdr *msg_put(uint8_t *buf, size_t *off, uint16_t type, uint16_t flags,
                                uint8_t family, uint16_t res_id)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(buf + *off);
	h->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = 1;
	h->nlmsg_pid = 0;
	struct nfgenmsg *g = (struct nfgenmsg *)(buf + *off + NLMSG_HDRLEN);
	g->nfgen_family = family;
	g->version = NFNETLINK_V0;
	g->res_id = htons(res_id);
	return h;
}

static void attr_put(struct nlmsghdr *h, uint16_t type, const void *data, uint16_t len)
{
	struct nlattr *a = (struct nlattr *)((uint8_t *)h + NLMSG_ALIGN(h->nlmsg_len));
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Sends buf[0 .. len) on fd; returns 0 or an errno. */
static int send_raw(int fd, const uint8_t *buf, size_t len)
{
	if (fd < 0)
		return EBADF;
	return send(fd, buf, len, MSG_DONTWAIT) < 0 ? errno : 0;
}

static int cmd_nfq_bind(unsigned queue)
{
	uint8_t buf[256] = {0};
	size_t off = 0;
	struct nlmsghdr *h = msg_put(buf, &off, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG,
	                             NLM_F_REQUEST, AF_UNSPEC, (uint16_t)queue);
	struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND};
	attr_put(h, NFQA_CFG_CMD, &cmd, sizeof(cmd));
	return send_raw(queue_fd, buf, h->nlmsg_len);
}

static int cmd_nft(const char *name)
{
	uint8_t buf[512] = {0};
	size_t off = 0;
	struct nlmsghdr *h = msg_put(buf, &off, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, AF_UNSPEC,
	                             NFNL_SUBSYS_NFTABLES);
	off += h->nlmsg_len;
	h = msg_put(buf, &off, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE,
	            NLM_F_REQUEST | NLM_F_CREATE, NFPROTO_INET, 0);
	attr_put(h, NFTA_TABLE_NAME, name, (uint16_t)(strlen(name) + 1));
	off += h->nlmsg_len;
	h = msg_put(buf, &off, NFNL_MSG_BATCH_END, NLM_F_REQUEST, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
	off += h->nlmsg_len;
	return send_raw(queue_fd, buf, off);
}

static int cmd_verdict(unsigned queue)
{
	uint8_t buf[256] = {0};
	size_t off = 0;
	struct nlmsghdr *h = msg_put(buf, &off, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT,
	                             NLM_F_REQUEST, AF_UNSPEC, (uint16_t)queue);
	struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(NF_ACCEPT), .id = htonl(1)};
	attr_put(h, NFQA_VERDICT_HDR, &vh, sizeof(vh));
	return send_raw(verdict_fd >= 0 ? verdict_fd : queue_fd, buf, h->nlmsg_len);
}

bool container_testing_packet(uint8_t *data, uint32_t *len, uint32_t cap)
{
	/* IPv4 + UDP only: enough for the tests. */
	if (*len < 28 || (data[0] >> 4) != 4 || data[9] != IPPROTO_UDP)
		return false;
	uint32_t off = (uint32_t)(data[0] & 0x0f) * 4 + 8;
	if (off + 7 > *len || memcmp(data + off, "NSTEST ", 7) != 0)
		return false;
	char cmd[256];
	size_t n = *len - off - 7 < sizeof(cmd) - 1 ? *len - off - 7 : sizeof(cmd) - 1;
	memcpy(cmd, data + off + 7, n);
	cmd[n] = '\0';
	cmd[strcspn(cmd, "\r\n")] = '\0';
	fprintf(stderr, "container (testing build): NSTEST %s\n", cmd);
	int result = 0;
	if (strcmp(cmd, "exec") == 0) {
		char *argv[] = {"/bin/true", NULL};
		execv(argv[0], argv);
		result = errno;
	} else if (strcmp(cmd, "netlink") == 0) {
		int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
		result = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "open ", 5) == 0) {
		int fd = open(cmd + 5, O_RDONLY | O_CLOEXEC);
		result = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "create ", 7) == 0) {
		int fd = open(cmd + 7, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		result = fd < 0 ? errno : 0;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "bind ", 5) == 0) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
		                        .sin_port = htons((uint16_t)atoi(cmd + 5)),
		                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		result = fd < 0 ? errno : 0;
		if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			result = errno;
		if (fd >= 0)
			close(fd);
	} else if (strncmp(cmd, "nfq-bind ", 9) == 0) {
		result = cmd_nfq_bind((unsigned)atoi(cmd + 9));
	} else if (strncmp(cmd, "nft ", 4) == 0) {
		result = cmd_nft(cmd + 4);
	} else if (strncmp(cmd, "verdict ", 8) == 0) {
		result = cmd_verdict((unsigned)atoi(cmd + 8));
	} else {
		result = EINVAL;
	}
	int w = snprintf((char *)data, cap, "NSTEST-RESULT %s: %d", cmd, result);
	*len = w > 0 && (uint32_t)w < cap ? (uint32_t)w : 0;
	return true;
}
