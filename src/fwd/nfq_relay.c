/* The verdict relay's check (see nfq_relay.h). */
#include "fwd/nfq_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>

#include "lib/errbuf.h"

#define ALIGN4(n) (((n) + 3u) & ~(size_t)3u)

/* Checks the attributes of one verdict message (bytes [p, end)). */
static int attrs_check(const uint8_t *p, const uint8_t *end, int type, char *err, size_t errlen)
{
	int have_hdr = 0, have_payload = 0;
	while (p < end) {
		struct nlattr a;
		if ((size_t)(end - p) < sizeof(a))
			return err_set(err, errlen, -EBADMSG, "truncated attribute");
		memcpy(&a, p, sizeof(a));
		if (a.nla_len < sizeof(a) || a.nla_len > (size_t)(end - p))
			return err_set(err, errlen, -EBADMSG, "attribute length %u out of range",
			               a.nla_len);
		const uint8_t *val = p + sizeof(a);
		size_t vlen = a.nla_len - sizeof(a);
		switch (a.nla_type & NLA_TYPE_MASK) {
		case NFQA_VERDICT_HDR: {
			struct nfqnl_msg_verdict_hdr vh;
			if (have_hdr++ || vlen != sizeof(vh))
				return err_set(err, errlen, -EBADMSG, "bad verdict header");
			memcpy(&vh, val, sizeof(vh));
			uint32_t v = ntohl(vh.verdict);
			if (v != NF_ACCEPT && v != NF_DROP)
				return err_set(err, errlen, -EPERM,
				               "verdict %#x is neither accept nor drop", v);
			break;
		}
		case NFQA_PAYLOAD:
			if (type != NFQNL_MSG_VERDICT || have_payload++)
				return err_set(err, errlen, -EPERM, "payload not allowed here");
			if (vlen < 20 || vlen > 0xffff)
				return err_set(err, errlen, -EBADMSG, "payload of %zu bytes", vlen);
			break;
		default:
			return err_set(err, errlen, -EPERM, "attribute %u not allowed",
			               a.nla_type & NLA_TYPE_MASK);
		}
		size_t step = ALIGN4(a.nla_len);
		if (step > (size_t)(end - p))
			step = (size_t)(end - p);
		p += step;
	}
	if (!have_hdr)
		return err_set(err, errlen, -EBADMSG, "no verdict header");
	return 0;
}

int nfq_relay_check(const uint8_t *buf, size_t len, uint16_t queue, char *err, size_t errlen)
{
	size_t off = 0;
	int n = 0;
	if (!buf || len == 0)
		return err_set(err, errlen, -EBADMSG, "empty datagram");
	while (off < len) {
		struct nlmsghdr h;
		struct nfgenmsg g;
		if (len - off < NLMSG_HDRLEN + sizeof(g))
			return err_set(err, errlen, -EBADMSG, "truncated message");
		memcpy(&h, buf + off, sizeof(h));
		if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(g) || h.nlmsg_len > len - off)
			return err_set(err, errlen, -EBADMSG, "message length %u out of range",
			               h.nlmsg_len);
		int type = NFNL_MSG_TYPE(h.nlmsg_type);
		if (NFNL_SUBSYS_ID(h.nlmsg_type) != NFNL_SUBSYS_QUEUE ||
		    (type != NFQNL_MSG_VERDICT && type != NFQNL_MSG_VERDICT_BATCH))
			return err_set(err, errlen, -EPERM, "message type %#x is not a verdict",
			               h.nlmsg_type);
		if (h.nlmsg_flags != NLM_F_REQUEST)
			return err_set(err, errlen, -EPERM, "message flags %#x", h.nlmsg_flags);
		memcpy(&g, buf + off + NLMSG_HDRLEN, sizeof(g));
		if (g.version != NFNETLINK_V0)
			return err_set(err, errlen, -EBADMSG, "nfnetlink version %u", g.version);
		if (ntohs(g.res_id) != queue)
			return err_set(err, errlen, -EPERM, "verdict for queue %u, not %u",
			               ntohs(g.res_id), queue);
		const uint8_t *a = buf + off + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(g));
		const uint8_t *end = buf + off + h.nlmsg_len;
		if (a > end)
			return err_set(err, errlen, -EBADMSG, "truncated message");
		int r = attrs_check(a, end, type, err, errlen);
		if (r < 0)
			return r;
		n++;
		size_t step = NLMSG_ALIGN(h.nlmsg_len);
		off += step < len - off ? step : len - off;
	}
	return n;
}
