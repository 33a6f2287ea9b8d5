/* Sample channels (see sample_chan.h). */
#include "fwd/xdp/sample_chan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/fwd.h"

#define ETH_HLEN_SAMPLE 14 /* the samples are frames; modules get IP packets */

struct sample_chan {
	int fd[2]; /* ours (writes), the container's (reads) */
	size_t len;
	uint8_t buf[SAMPLE_CHAN_DGRAM_MAX];
};

int sample_chan_open(struct sample_chan **ret)
{
	struct sample_chan *c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, c->fd) < 0) {
		int r = -errno;
		free(c);
		return r;
	}
	c->len = 0;
	int sz = SAMPLE_CHAN_BUF;
	/* Forced when privileged (netservd); the defaults otherwise. */
	setsockopt(c->fd[0], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
	setsockopt(c->fd[1], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	shutdown(c->fd[1], SHUT_WR); /* the container only reads it */
	*ret = c;
	return 0;
}

int sample_chan_fd(const struct sample_chan *c)
{
	return c->fd[1];
}

static void nl_attr(uint8_t *buf, size_t *off, uint16_t type, const void *v, size_t n)
{
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type};
	memcpy(buf + *off, &a, sizeof(a));
	memcpy(buf + *off + NLA_HDRLEN, v, n);
	memset(buf + *off + NLA_HDRLEN + n, 0, NLA_ALIGN(NLA_HDRLEN + n) - (NLA_HDRLEN + n));
	*off += NLA_ALIGN(NLA_HDRLEN + n);
}

int sample_chan_flush(struct sample_chan *c)
{
	if (!c->len)
		return 0;
	ssize_t n = send(c->fd[0], c->buf, c->len, MSG_DONTWAIT);
	c->len = 0;
	return n < 0 ? -EAGAIN : 0;
}

int sample_chan_put(struct sample_chan *c, const struct netserv_xdp_sample *smp, uint16_t group,
                    const char *tag)
{
	uint32_t caplen = smp->caplen < NETSERV_XDP_SNAP_MAX ? smp->caplen : NETSERV_XDP_SNAP_MAX;
	size_t plen = strnlen(tag, FWD_SAMPLE_TAG_MAX + 1) + 1;
	if (caplen < ETH_HLEN_SAMPLE || plen > FWD_SAMPLE_TAG_MAX + 1)
		return -EINVAL;
	const uint8_t *eth = smp->data;
	uint16_t proto = (uint16_t)(eth[12] << 8 | eth[13]);
	size_t need = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)) +
	              NLA_ALIGN(NLA_HDRLEN + sizeof(struct nfulnl_msg_packet_hdr)) +
	              NLA_ALIGN(NLA_HDRLEN + 4) + NLA_ALIGN(NLA_HDRLEN + plen) +
	              NLA_ALIGN(NLA_HDRLEN + caplen);
	int r = 0;
	if (c->len + need > SAMPLE_CHAN_DGRAM_MAX)
		r = sample_chan_flush(c);
	uint8_t *buf = c->buf;
	size_t off = c->len + NLMSG_HDRLEN;
	struct nfgenmsg g = {.nfgen_family = proto == 0x86dd ? AF_INET6 : AF_INET,
	                     .version = NFNETLINK_V0,
	                     .res_id = htons(group)};
	memcpy(buf + off, &g, sizeof(g));
	off += NLMSG_ALIGN(sizeof(g));
	struct nfulnl_msg_packet_hdr ph = {.hw_protocol = htons(proto), .hook = 0};
	nl_attr(buf, &off, NFULA_PACKET_HDR, &ph, sizeof(ph));
	uint32_t in = htonl(smp->ifindex);
	nl_attr(buf, &off, NFULA_IFINDEX_INDEV, &in, 4);
	nl_attr(buf, &off, NFULA_PREFIX, tag, plen);
	/* The IP packet: the frame after its Ethernet header (the programs
	 * sample only IPv4 and IPv6 frames without a VLAN tag). */
	nl_attr(buf, &off, NFULA_PAYLOAD, eth + ETH_HLEN_SAMPLE, caplen - ETH_HLEN_SAMPLE);
	struct nlmsghdr h = {.nlmsg_len = (uint32_t)(off - c->len),
	                     .nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET};
	memcpy(buf + c->len, &h, sizeof(h));
	c->len = NLMSG_ALIGN(off);
	return r;
}

void sample_chan_deliver(struct sample_chan *c, const struct netserv_xdp_sample *s, uint16_t group,
                         const char *tag, struct sample_counts *n)
{
	int r = c ? sample_chan_put(c, s, group, tag) : -ENOENT;
	if (r == 0 || r == -EAGAIN)
		n->handed++;
	else
		n->lost++;
	if (r == -EAGAIN)
		n->lost++; /* the container does not keep up: a batch lost */
}

void sample_chan_send(struct sample_chan *c, struct sample_counts *n)
{
	if (c && sample_chan_flush(c) == -EAGAIN)
		n->lost++; /* the container does not keep up: a batch lost */
}

void sample_chan_close(struct sample_chan *c)
{
	if (!c)
		return;
	close(c->fd[0]);
	close(c->fd[1]);
	free(c);
}
