/* Reading NFLOG datagrams (see nflog.h): plain netlink walking, no library,
 * so that the fuzzer links this file alone. */
#include "fwd/nflog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <string.h>

static uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return ntohl(v);
}

/* Reads the attributes of one NFULNL_MSG_PACKET message. Returns 1 with a
 * sample in *s, 0 when it carries no payload, -EBADMSG when malformed. */
static int packet_attrs(const uint8_t *p, size_t len, uint16_t group, struct nflog_sample *s)
{
	bool have_payload = false;

	*s = (struct nflog_sample){.group = group};
	while (len > 0) {
		struct nlattr a;
		if (len < sizeof(a))
			return -EBADMSG;
		memcpy(&a, p, sizeof(a));
		if (a.nla_len < sizeof(a) || a.nla_len > len)
			return -EBADMSG;
		const uint8_t *v = p + NLA_HDRLEN;
		size_t vlen = a.nla_len - NLA_HDRLEN;
		switch (a.nla_type & NLA_TYPE_MASK) {
		case NFULA_PACKET_HDR:
			if (vlen < sizeof(struct nfulnl_msg_packet_hdr))
				return -EBADMSG;
			s->hw_proto = (uint16_t)(v[0] << 8 | v[1]);
			s->hook = v[2];
			break;
		case NFULA_MARK:
		case NFULA_IFINDEX_INDEV:
		case NFULA_IFINDEX_OUTDEV:
			if (vlen < 4)
				return -EBADMSG;
			if ((a.nla_type & NLA_TYPE_MASK) == NFULA_MARK)
				s->mark = get_be32(v);
			else if ((a.nla_type & NLA_TYPE_MASK) == NFULA_IFINDEX_INDEV)
				s->indev = get_be32(v);
			else
				s->outdev = get_be32(v);
			break;
		case NFULA_PREFIX: {
			/* NUL-terminated on the wire; kept only if it fits. */
			size_t n = strnlen((const char *)v, vlen);
			if (n >= sizeof(s->prefix))
				return -EBADMSG;
			memcpy(s->prefix, v, n);
			s->prefix[n] = '\0';
			break;
		}
		case NFULA_PAYLOAD:
			s->data = v;
			s->len = (uint32_t)vlen;
			have_payload = true;
			break;
		default:
			break;
		}
		size_t step = NLA_ALIGN(a.nla_len);
		if (step >= len)
			break;
		p += step;
		len -= step;
	}
	return have_payload ? 1 : 0;
}

int nflog_parse(const uint8_t *buf, size_t len, nflog_sample_fn *fn, void *ctx)
{
	int n = 0;

	while (len > 0) {
		struct nlmsghdr h;
		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, buf, sizeof(h));
		if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
			return -EBADMSG;
		const uint8_t *body = buf + NLMSG_HDRLEN;
		size_t blen = h.nlmsg_len - NLMSG_HDRLEN;
		if (h.nlmsg_type == (NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET)) {
			struct nfgenmsg g;
			if (blen < sizeof(g))
				return -EBADMSG;
			memcpy(&g, body, sizeof(g));
			size_t off = NLMSG_ALIGN(sizeof(g));
			struct nflog_sample s;
			int r = packet_attrs(body + (off < blen ? off : blen),
			                     off < blen ? blen - off : 0, ntohs(g.res_id), &s);
			if (r < 0)
				return r;
			if (r > 0) {
				fn(ctx, &s);
				n++;
			}
		}
		size_t step = NLMSG_ALIGN(h.nlmsg_len);
		if (step >= len)
			break;
		buf += step;
		len -= step;
	}
	return n;
}
