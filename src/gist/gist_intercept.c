/* Interception of Queries on a router: the forwarding plane queues UDP
 * packets for port 270 (IPv4 with or without the Router Alert option, IPv6
 * with or without a hop-by-hop Router Alert) to an NFQUEUE that the node
 * reads. A Q-mode Query for a registered NSLPID is consumed (dropped) and
 * answered; one for another NSLPID continues with its GIST hop count
 * decremented (the new bytes in the verdict, the UDP checksum patched), and
 * is dropped when the count would reach 0. Anything else passes unchanged.
 *
 * Also here: the parsers that read raw packets (IP and UDP headers, and a
 * Query quoted by an ICMP error), covered by tests/fuzz/fuzz_gist_node.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "fwd/nfq.h"
#include "gist/gist_node_int.h"
#include "lib/evloop.h"

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* ---- the IP and UDP headers --------------------------------------------------- */

static int udp_at(const uint8_t *pkt, size_t off, size_t end, struct gist_ippkt *p)
{
	size_t ulen;

	if (end - off < 8)
		return -EMSGSIZE;
	ulen = be16(pkt + off + 4);
	if (ulen < 8 || ulen > end - off)
		return -EBADMSG;
	p->udp_off = off;
	p->sport = be16(pkt + off);
	p->dport = be16(pkt + off + 2);
	p->csum = be16(pkt + off + 6);
	p->payload_off = off + 8;
	p->payload_len = ulen - 8;
	return 0;
}

static int parse4(const uint8_t *pkt, size_t len, struct gist_ippkt *p)
{
	size_t ihl, tot;

	if (len < 20)
		return -EMSGSIZE;
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	tot = be16(pkt + 2);
	if (ihl < 20 || tot < ihl)
		return -EBADMSG;
	if (tot > len)
		return -EMSGSIZE;
	if (be16(pkt + 6) & 0x3fff) /* MF or a fragment offset */
		return -EPROTONOSUPPORT;
	if (pkt[9] != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	p->family = AF_INET;
	memcpy(p->src, pkt + 12, 4);
	memcpy(p->dst, pkt + 16, 4);
	p->ttl = pkt[8];
	for (size_t o = 20; o < ihl;) {
		uint8_t t = pkt[o];
		if (t == 0) /* end of options */
			break;
		if (t == 1) { /* no-op */
			o++;
			continue;
		}
		if (o + 1 >= ihl || pkt[o + 1] < 2 || o + pkt[o + 1] > ihl)
			return -EBADMSG;
		if (t == 148 && pkt[o + 1] == 4) {
			p->rao = true;
			p->rao_value = be16(pkt + o + 2);
		}
		o += pkt[o + 1];
	}
	return udp_at(pkt, ihl, tot, p);
}

static int parse6(const uint8_t *pkt, size_t len, struct gist_ippkt *p)
{
	size_t end, off = 40;
	uint8_t nh;

	if (len < 40)
		return -EMSGSIZE;
	if (be16(pkt + 4) == 0)
		return -EPROTONOSUPPORT; /* a jumbogram */
	end = 40 + (size_t)be16(pkt + 4);
	if (end > len)
		return -EMSGSIZE;
	p->family = AF_INET6;
	memcpy(p->src, pkt + 8, 16);
	memcpy(p->dst, pkt + 24, 16);
	p->ttl = pkt[7];
	nh = pkt[6];
	for (int i = 0; i < 16; i++) {
		size_t hlen;

		switch (nh) {
		case IPPROTO_UDP:
			return udp_at(pkt, off, end, p);
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (end - off < 8)
				return -EMSGSIZE;
			hlen = ((size_t)pkt[off + 1] + 1) * 8;
			if (hlen > end - off)
				return -EMSGSIZE;
			if (nh == IPPROTO_HOPOPTS) {
				if (off != 40)
					return -EBADMSG; /* hop-by-hop only first */
				for (size_t o = off + 2; o < off + hlen;) {
					uint8_t t = pkt[o];
					if (t == 0) { /* Pad1 */
						o++;
						continue;
					}
					if (o + 1 >= off + hlen || o + 2 + pkt[o + 1] > off + hlen)
						return -EBADMSG;
					if (t == 5 && pkt[o + 1] == 2) {
						p->rao = true;
						p->rao_value = be16(pkt + o + 2);
					}
					o += 2u + pkt[o + 1];
				}
			}
			nh = pkt[off];
			off += hlen;
			break;
		case IPPROTO_FRAGMENT:
			if (end - off < 8)
				return -EMSGSIZE;
			if (be16(pkt + off + 2) & 0xfff9) /* an offset, or more fragments */
				return -EPROTONOSUPPORT;
			nh = pkt[off];
			off += 8;
			break;
		default:
			return -EPROTONOSUPPORT;
		}
	}
	return -EBADMSG;
}

int gist_ip_parse(const uint8_t *pkt, size_t len, struct gist_ippkt *p)
{
	memset(p, 0, sizeof(*p));
	if (len < 1)
		return -EMSGSIZE;
	switch (pkt[0] >> 4) {
	case 4:
		return parse4(pkt, len, p);
	case 6:
		return parse6(pkt, len, p);
	default:
		return -EPROTONOSUPPORT;
	}
}

static uint32_t sum16(uint32_t sum, const uint8_t *b, size_t len)
{
	for (; len > 1; b += 2, len -= 2)
		sum += be16(b);
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t gist_ip_udp_csum(const uint8_t *pkt, const struct gist_ippkt *p)
{
	size_t ulen = p->payload_len + 8;
	uint32_t sum = 0;
	uint8_t zero[2] = {0, 0};

	if (p->family == AF_INET6) {
		sum = sum16(sum, p->src, 16);
		sum = sum16(sum, p->dst, 16);
	} else {
		sum = sum16(sum, p->src, 4);
		sum = sum16(sum, p->dst, 4);
	}
	sum += IPPROTO_UDP + (uint32_t)ulen;
	sum = sum16(sum, pkt + p->udp_off, 6); /* ports, length */
	sum = sum16(sum, zero, 2);             /* the checksum field */
	sum = sum16(sum, pkt + p->payload_off, p->payload_len);
	uint16_t c = (uint16_t)~fold(sum);
	return c ? c : 0xffff;
}

int gist_ip_set_hops(uint8_t *pkt, size_t len, const struct gist_ippkt *p, uint8_t hops)
{
	uint8_t *pl = pkt + p->payload_off;
	uint16_t old_w, new_w;
	int off;

	if (p->payload_off + p->payload_len > len)
		return -EMSGSIZE;
	off = gist_hdr_decode(pl, p->payload_len, GIST_TRANSPORT_UDP, NULL, NULL);
	if (off < 0)
		return off;
	/* The 16-bit word version | hops, at an even offset from the UDP
	 * header (8 + 0 or 8 + 4), so it patches the checksum directly. */
	old_w = be16(pl + off);
	if (gist_set_hops(pl, p->payload_len, GIST_TRANSPORT_UDP, hops) < 0)
		return -EPROTO;
	new_w = be16(pl + off);
	if (p->csum == 0 && p->family == AF_INET)
		return 0; /* no UDP checksum */
	/* RFC 1624: HC' = ~(~HC + ~m + m') */
	uint32_t sum = (uint16_t)~p->csum + (uint32_t)(uint16_t)~old_w + new_w;
	uint16_t c = (uint16_t)~fold(sum);
	if (c == 0)
		c = 0xffff;
	pkt[p->udp_off + 6] = (uint8_t)(c >> 8);
	pkt[p->udp_off + 7] = (uint8_t)c;
	return 0;
}

/* ---- a Query quoted by an ICMP error (maybe truncated) ------------------------ */

int gist_quoted_query(const uint8_t *buf, size_t len, struct gist_hdr *hdr, struct gist_mri *mri,
                      uint8_t sid[GIST_SID_LEN], struct gist_bytes *qcookie, uint32_t *found)
{
	size_t off = 0, end;
	const uint8_t *h;

	*found = 0;
	if (len >= 4 && be16(buf) == (GIST_MAGIC >> 16) && be16(buf + 2) == (GIST_MAGIC & 0xffff))
		off = 4;
	if (len - off < GIST_HDR_LEN)
		return -EMSGSIZE;
	h = buf + off;
	if (h[0] != GIST_VERSION)
		return -EPROTO;
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = h[0];
	hdr->hops = h[1];
	hdr->length = be16(h + 2);
	hdr->nslpid = be16(h + 4);
	hdr->c = (h[6] & 0x80) != 0;
	hdr->type = h[6] & 0x7f;
	hdr->flags = h[7] & 0xe0;
	off += GIST_HDR_LEN;
	end = off + 4 * (size_t)hdr->length;
	if (end > len)
		end = len; /* the quote stops early */
	while (end - off >= GIST_OBJ_HDR_LEN) {
		const uint8_t *o = buf + off;
		uint16_t type = (uint16_t)((o[0] & 0x0f) << 8 | o[1]);
		size_t olen = 4 * (size_t)((o[2] & 0x0f) << 8 | o[3]);
		const uint8_t *body = o + GIST_OBJ_HDR_LEN;

		if (olen > end - off - GIST_OBJ_HDR_LEN)
			break;
		if (type == GIST_OBJ_MRI && gist_mri_decode(body, olen, mri, NULL, NULL, 0) == 0)
			*found |= GIST_BIT(GIST_OBJ_MRI);
		else if (type == GIST_OBJ_SID && olen == GIST_SID_LEN) {
			memcpy(sid, body, GIST_SID_LEN);
			*found |= GIST_BIT(GIST_OBJ_SID);
		} else if (type == GIST_OBJ_QCOOKIE && olen > 0) {
			qcookie->p = body;
			qcookie->len = olen;
			*found |= GIST_BIT(GIST_OBJ_QCOOKIE);
		}
		off += GIST_OBJ_HDR_LEN + olen;
	}
	return 0;
}

/* ---- NFQUEUE ------------------------------------------------------------------ */

#define HOOK_LOCAL_IN 1
#define HOOK_FORWARD  2

static int on_packet(void *ctx, uint8_t *data, uint32_t *len, const struct nfq_pkt_meta *meta)
{
	struct gist_node *n = ctx;
	struct gist_ippkt p;
	struct gist_hdr hdr;
	bool magic;

	if (gist_ip_parse(data, *len, &p) < 0 || p.dport != GIST_PORT)
		return NFQ_ACCEPT;
	if (meta->indev == 0)
		return NFQ_ACCEPT; /* sent by this host: our own Queries */
	if (gist_hdr_decode(data + p.payload_off, p.payload_len, GIST_TRANSPORT_UDP, &hdr, &magic) <
	            0 ||
	    !magic || !hdr.c || hdr.type != GIST_QUERY)
		return NFQ_ACCEPT; /* D-mode to a node beyond, or not GIST */
	if (gist_reg_find(n, hdr.nslpid)) {
		struct gist_rx rx;
		memset(&rx, 0, sizeof(rx));
		rx.transport = GIST_TRANSPORT_UDP;
		gist_sa_set(&rx.src, p.family, p.src, p.sport);
		/* The TTL it arrived with: FORWARD sees it decremented. */
		rx.ttl = (uint8_t)(p.ttl + (meta->hook == HOOK_FORWARD && p.ttl < 255));
		rx.ifindex = (int)meta->indev;
		rx.intercepted = true;
		gist_input(n, data + p.payload_off, p.payload_len, &rx);
		return NFQ_DROP;
	}
	if (meta->hook == HOOK_LOCAL_IN)
		return NFQ_ACCEPT; /* for us: the socket answers Endpoint Found */
	if (hdr.hops <= 1)
		return NFQ_DROP; /* the hop count would reach 0 */
	if (gist_ip_set_hops(data, *len, &p, (uint8_t)(hdr.hops - 1)) < 0)
		return NFQ_ACCEPT;
	n->st.queries_relayed++;
	return NFQ_MODIFIED;
}

static void nfq_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct gist_node *n = ctx;

	nfq_loop_process(n->nfq, 256);
}

int gist_intercept_open(struct gist_node *n, char *err, size_t errlen)
{
	uint16_t q = (uint16_t)n->cfg.intercept_queue;
	struct nfq_config c = {.queues = &q, .n_queues = 1, .rcvbuf = 1u << 20};
	char why[GIST_ERR_LEN] = "";
	int r;

	r = nfq_loop_open(&c, on_packet, n, &n->nfq, why, sizeof(why));
	if (r < 0)
		return err_set(err, errlen, r, "NFQUEUE %u for intercepted Queries: %s", q, why);
	r = evloop_add_fd(n->loop, nfq_loop_fd(n->nfq), EPOLLIN, nfq_readable, n);
	if (r < 0) {
		n->nfq = nfq_loop_close(n->nfq);
		return err_set(err, errlen, r, "event loop: %s", strerror(-r));
	}
	return 0;
}

void gist_intercept_close(struct gist_node *n)
{
	if (!n->nfq)
		return;
	evloop_del_fd(n->loop, nfq_loop_fd(n->nfq));
	n->nfq = nfq_loop_close(n->nfq);
}
