/* Building and sending GIST messages: addresses, our NLI, UDP (D-mode and
 * Q-mode, the magic number on every datagram as NSIS-ka does, optionally the
 * IP Router Alert option on Queries), peers (over their MA when they have
 * one), Error replies; flows to MRIs and back. */
#include <errno.h>
#include <netinet/ip.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gist/gist_node_int.h"

/* ---- addresses ---------------------------------------------------------------- */

void gist_sa_set(struct sockaddr_storage *ss, int family, const uint8_t *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, addr, 16);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, addr, 4);
	}
}

int gist_sa_family(const struct sockaddr_storage *ss)
{
	return ss->ss_family;
}

const uint8_t *gist_sa_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	return (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
}

uint16_t gist_sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

socklen_t gist_sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

bool gist_sa_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	return memcmp(gist_sa_addr(a), gist_sa_addr(b), a->ss_family == AF_INET6 ? 16 : 4) == 0;
}

bool gist_sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return gist_sa_same_addr(a, b) && gist_sa_port(a) == gist_sa_port(b);
}

/* The source address the kernel picks toward `to`: connect() a spare UDP
 * socket (no packet is sent) and read its name. */
static int local_addr(struct gist_node *n, const struct sockaddr_storage *to, uint8_t out[16])
{
	int *fd = to->ss_family == AF_INET6 ? &n->route6 : &n->route4;
	struct sockaddr_storage me;
	socklen_t len = sizeof(me);

	struct sockaddr unspec = {.sa_family = AF_UNSPEC};

	if (*fd < 0) {
		*fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (*fd < 0)
			return -errno;
	}
	/* Disconnect first: a connected socket keeps the source address of
	 * its first connect(). */
	connect(*fd, &unspec, sizeof(unspec));
	if (connect(*fd, (const struct sockaddr *)to, gist_sa_len(to)) < 0)
		return -errno;
	if (getsockname(*fd, (struct sockaddr *)&me, &len) < 0)
		return -errno;
	memset(out, 0, 16);
	memcpy(out, gist_sa_addr(&me), to->ss_family == AF_INET6 ? 16 : 4);
	return 0;
}

int gist_nli_toward(struct gist_node *n, const struct sockaddr_storage *to, uint8_t ip_ttl,
                    struct gist_nli *nli)
{
	int r;

	memset(nli, 0, sizeof(*nli));
	r = local_addr(n, to, nli->if_addr.b);
	if (r < 0)
		return r;
	nli->pi.p = n->pi;
	nli->pi.len = n->pi_len;
	nli->ip_ttl = ip_ttl;
	nli->ipver = to->ss_family == AF_INET6 ? 6 : 4;
	nli->rs_validity = n->cfg.refresh_ms;
	return 0;
}

/* ---- UDP ---------------------------------------------------------------------- */

/* Router Alert: IPv4 option 148 with value 0 ("router shall examine", the
 * only value Linux routers act on); IPv6 hop-by-hop option 5 with the
 * NSLPID as value, as NSIS-ka registers its NSLPs (IPv6 value 0 would mean
 * MLD). Sent per packet (IP_RETOPTS / IPV6_HOPOPTS control messages). */
static size_t rao_cmsg(const struct gist_node *n, int family, uint16_t nslpid, uint8_t *cbuf,
                       size_t size)
{
	struct cmsghdr *c = (struct cmsghdr *)cbuf;

	if (family == AF_INET) {
		static const uint8_t ra[4] = {IPOPT_RA, 4, 0, 0};
		if (size < CMSG_SPACE(sizeof(ra)))
			return 0;
		c->cmsg_level = SOL_IP;
		c->cmsg_type = IP_RETOPTS;
		c->cmsg_len = CMSG_LEN(sizeof(ra));
		memcpy(CMSG_DATA(c), ra, sizeof(ra));
		return CMSG_SPACE(sizeof(ra));
	}
	if (n->no_hbh)
		return 0;
	/* Hop-by-hop header: next header (set by the kernel), length 0 (8
	 * bytes), RAO (type 5, length 2, value), PadN of 0 data bytes. */
	uint8_t hbh[8] = {0, 0, 5, 2, (uint8_t)(nslpid >> 8), (uint8_t)nslpid, 1, 0};
	if (size < CMSG_SPACE(sizeof(hbh)))
		return 0;
	c->cmsg_level = SOL_IPV6;
	c->cmsg_type = IPV6_HOPOPTS;
	c->cmsg_len = CMSG_LEN(sizeof(hbh));
	memcpy(CMSG_DATA(c), hbh, sizeof(hbh));
	return CMSG_SPACE(sizeof(hbh));
}

static int udp_sendto(struct gist_node *n, int fd, const struct sockaddr_storage *to,
                      const uint8_t *buf, size_t len, bool ra, uint16_t nslpid)
{
	union {
		uint8_t b[CMSG_SPACE(16)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {
	        .msg_name = (void *)to,
	        .msg_namelen = gist_sa_len(to),
	        .msg_iov = &iov,
	        .msg_iovlen = 1,
	};
	int tries;

	for (tries = 0; tries < 3; tries++) {
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		if (ra) {
			size_t cl = rao_cmsg(n, to->ss_family, nslpid, cbuf.b, sizeof(cbuf));
			if (cl) {
				mh.msg_control = cbuf.b;
				mh.msg_controllen = cl;
			}
		}
		if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
			return 0;
		switch (errno) {
		case EPERM:
			/* IPV6_HOPOPTS needs CAP_NET_RAW: go without. */
			if (ra && to->ss_family == AF_INET6 && !n->no_hbh) {
				n->no_hbh = true;
				continue;
			}
			return -EPERM;
		case ECONNREFUSED:
		case EHOSTUNREACH:
		case ENETUNREACH:
		case EHOSTDOWN:
		case ENOPROTOOPT:
			/* With IP_RECVERR an ICMP error about an earlier datagram
			 * is reported by the next call: take it off the queue,
			 * then try again. */
			if (tries == 0) {
				gist_drain_errqueue(n, fd);
				continue;
			}
			return -errno;
		case EINTR:
			continue;
		default:
			return -errno;
		}
	}
	return -EIO;
}

int gist_udp_send(struct gist_node *n, const struct sockaddr_storage *to, struct gist_msg *m,
                  bool router_alert)
{
	int fd = to->ss_family == AF_INET6 ? n->udp6 : n->udp4;
	ssize_t len;

	if (fd < 0)
		return -EAFNOSUPPORT;
	m->magic = true;
	len = gist_encode(m, n->txbuf, sizeof(n->txbuf), NULL, 0);
	if (len < 0)
		return (int)len;
	int r = udp_sendto(n, fd, to, n->txbuf, (size_t)len, router_alert, m->hdr.nslpid);
	if (r == 0 && m->hdr.type < GIST_STATS_TYPES)
		n->st.sent[m->hdr.type]++;
	return r;
}

int gist_peer_send(struct gist_node *n, const struct gist_peer *p, struct gist_msg *m,
                   uint16_t nslpid, uint32_t handle, char *err, size_t errlen)
{
	int r;

	if (p->ma && gist_ma_usable(p->ma))
		return gist_ma_send(p->ma, m, nslpid, handle, err, errlen);
	r = gist_udp_send(n, &p->addr, m, false);
	if (r < 0)
		return err_set(err, errlen, r, "sending to the peer failed: %s", strerror(-r));
	if (handle)
		gist_status_push(n, nslpid, handle, GIST_SENT, "sent");
	return 0;
}

void gist_send_error(struct gist_node *n, const struct gist_rx *rx,
                     const struct sockaddr_storage *to, const struct gist_err *ge)
{
	struct gist_msg e;
	struct gist_nli nli;
	bool have_nli;

	if (!to)
		to = rx->ma ? gist_ma_peer(rx->ma) : &rx->src;
	have_nli = gist_nli_toward(n, to, GIST_NLI_TTL, &nli) == 0;
	if (gist_error_msg(ge, have_nli ? &nli : NULL,
	                   rx->ma ? GIST_TRANSPORT_TCP : GIST_TRANSPORT_UDP, &e) < 0)
		return;
	if (rx->ma) {
		if (gist_ma_send(rx->ma, &e, 0, 0, NULL, 0) < 0)
			return;
	} else if (gist_udp_send(n, to, &e, false) < 0) {
		return;
	}
	n->st.errors_sent++;
}

/* ---- flows and MRIs ----------------------------------------------------------- */

int gist_flow_to_mri(const struct gist_flow *f, struct gist_mri *mri)
{
	unsigned alen;

	memset(mri, 0, sizeof(*mri));
	if (f->family == AF_INET)
		alen = 4;
	else if (f->family == AF_INET6)
		alen = 16;
	else
		return -EAFNOSUPPORT;
	mri->mrm = GIST_MRM_PATH_COUPLED;
	mri->ipver = alen == 4 ? 4 : 6;
	memcpy(mri->src.b, f->src, alen);
	memcpy(mri->dst.b, f->dst, alen);
	/* A prefix of 0 is taken as a host (the whole address). */
	mri->src_prefix = f->src_prefix ? f->src_prefix : (uint8_t)(alen * 8);
	mri->dst_prefix = f->dst_prefix ? f->dst_prefix : (uint8_t)(alen * 8);
	if (mri->src_prefix > alen * 8 || mri->dst_prefix > alen * 8)
		return -EINVAL;
	if (f->proto) {
		mri->flags |= GIST_MRI_P;
		mri->protocol = f->proto;
	}
	if (f->src_port) {
		mri->flags |= GIST_MRI_A;
		mri->src_port = f->src_port;
	}
	if (f->dst_port) {
		mri->flags |= GIST_MRI_B;
		mri->dst_port = f->dst_port;
	}
	if ((f->src_port || f->dst_port) && !f->proto)
		return -EINVAL; /* ports mean nothing without a protocol */
	if (f->upstream)
		mri->flags |= GIST_MRI_D;
	return 0;
}

void gist_mri_to_flow(const struct gist_mri *mri, struct gist_flow *f)
{
	unsigned alen = mri->ipver == 6 ? 16 : 4;

	memset(f, 0, sizeof(*f));
	f->family = mri->ipver == 6 ? AF_INET6 : AF_INET;
	memcpy(f->src, mri->src.b, alen);
	memcpy(f->dst, mri->dst.b, alen);
	if (mri->mrm == GIST_MRM_PATH_COUPLED) {
		f->src_prefix = mri->src_prefix;
		f->dst_prefix = mri->dst_prefix;
		if (mri->flags & GIST_MRI_P)
			f->proto = mri->protocol;
		if (mri->flags & GIST_MRI_A)
			f->src_port = mri->src_port;
		if (mri->flags & GIST_MRI_B)
			f->dst_port = mri->dst_port;
	} else {
		f->src_prefix = f->dst_prefix = (uint8_t)(alen * 8);
	}
	f->upstream = (mri->flags & GIST_MRI_D) != 0;
}
