/* ka_relay: a GIST relay that behaves as NSIS-ka (GISTka 0.97) did in the
 * live captures d4/d6 (../shared/interop/live/README.md), for the namespace
 * tests: it intercepts every Q-mode Query passing through (NFQUEUE), drops
 * it, and re-sends it as its own packet:
 *   - from this node's address and UDP port 270 (so the responder answers
 *     the querier on port 270, not on the port the Query came from),
 *   - IPv4 with Router Alert option value 0, IPv6 with a hop-by-hop Router
 *     Alert (value = NSLPID),
 *   - the GIST hop count decremented, and the NLI Peer Identity re-encoded
 *     with its length rounded up to a multiple of 4 (NUL bytes added).
 * Everything else passes unchanged. Built from the project's codec
 * (gist_wire.h) and packet parser (gist_ip_parse).
 *
 *   ka_relay --queue N        (iptables -t mangle -A PREROUTING -p udp
 *                              --dport 270 -j NFQUEUE --queue-num N)
 * Output, one line per event (flushed):
 *   ready queue=N
 *   relayed family=4|6 nslpid=N hops=H pi=L1->L2 from=ADDR:PORT
 *   error what=TEXT
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "fwd/nfq.h"
#include "gist/gist_node_int.h"
#include "gist/gist_wire.h"

static volatile sig_atomic_t stop;
static int udp4 = -1, udp6 = -1;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int open_udp(int family)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_storage ss;
	static const uint8_t any[16];

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	} else {
		/* Router Alert, value 0, on everything we send. */
		static const uint8_t ra[4] = {IPOPT_RA, 4, 0, 0};
		if (setsockopt(fd, IPPROTO_IP, IP_OPTIONS, ra, sizeof(ra)) < 0) {
			close(fd);
			return -1;
		}
	}
	gist_sa_set(&ss, family, any, GIST_PORT);
	if (bind(fd, (struct sockaddr *)&ss, gist_sa_len(&ss)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send6(const uint8_t *dst, const uint8_t *buf, size_t len, uint16_t nslpid)
{
	struct sockaddr_storage to;
	uint8_t hbh[8] = {0, 0, 5, 2, (uint8_t)(nslpid >> 8), (uint8_t)nslpid, 1, 0};
	union {
		uint8_t b[CMSG_SPACE(sizeof(hbh))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;

	gist_sa_set(&to, AF_INET6, dst, GIST_PORT);
	memset(&cbuf, 0, sizeof(cbuf));
	mh.msg_name = &to;
	mh.msg_namelen = gist_sa_len(&to);
	mh.msg_control = cbuf.b;
	mh.msg_controllen = sizeof(cbuf.b);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_IPV6;
	c->cmsg_type = IPV6_HOPOPTS;
	c->cmsg_len = CMSG_LEN(sizeof(hbh));
	memcpy(CMSG_DATA(c), hbh, sizeof(hbh));
	return sendmsg(udp6, &mh, 0) < 0 ? -errno : 0;
}

static int on_packet(void *ctx, uint8_t *data, uint32_t *len, const struct nfq_pkt_meta *meta)
{
	struct gist_ippkt p;
	struct gist_hdr hdr;
	struct gist_msg m;
	bool magic;
	uint8_t pi[256], out[GIST_UDP_MAX];
	char err[GIST_ERR_LEN] = "", from[INET6_ADDRSTRLEN] = "";
	int r;

	(void)ctx;
	if (gist_ip_parse(data, *len, &p) < 0 || p.dport != GIST_PORT || meta->indev == 0)
		return NFQ_ACCEPT;
	if (gist_hdr_decode(data + p.payload_off, p.payload_len, GIST_TRANSPORT_UDP, &hdr, &magic) <
	            0 ||
	    !magic || !hdr.c || hdr.type != GIST_QUERY || meta->hook == 1 /* LOCAL_IN */)
		return NFQ_ACCEPT;
	if (gist_decode(data + p.payload_off, p.payload_len, GIST_TRANSPORT_UDP, &m, NULL, err,
	                sizeof(err)) < 0)
		return NFQ_ACCEPT;
	if (m.hdr.hops <= 1)
		return NFQ_DROP;
	m.hdr.hops--;
	size_t pl = m.nli.pi.len, padded = (pl + 3) & ~(size_t)3;
	memset(pi, 0, sizeof(pi));
	memcpy(pi, m.nli.pi.p, pl);
	m.nli.pi.p = pi;
	m.nli.pi.len = padded > 255 ? pl : padded;
	m.magic = true;
	ssize_t n = gist_encode(&m, out, sizeof(out), err, sizeof(err));
	if (n < 0) {
		printf("error what=encode:%s\n", err);
		fflush(stdout);
		return NFQ_ACCEPT;
	}
	if (p.family == AF_INET) {
		struct sockaddr_storage to;
		gist_sa_set(&to, AF_INET, p.dst, GIST_PORT);
		r = sendto(udp4, out, (size_t)n, 0, (struct sockaddr *)&to, gist_sa_len(&to)) < 0
		            ? -errno
		            : 0;
	} else {
		r = send6(p.dst, out, (size_t)n, m.hdr.nslpid);
	}
	inet_ntop(p.family, p.src, from, sizeof(from));
	if (r < 0)
		printf("error what=send:%s\n", strerror(-r));
	else
		printf("relayed family=%d nslpid=%u hops=%u pi=%zu->%zu from=%s:%u\n",
		       p.family == AF_INET ? 4 : 6, m.hdr.nslpid, m.hdr.hops, pl, m.nli.pi.len,
		       from, p.sport);
	fflush(stdout);
	return NFQ_DROP;
}

int main(int argc, char **argv)
{
	uint16_t q = 0;
	struct nfq_loop *nfq = NULL;
	char err[256] = "";
	struct sigaction sa;

	if (argc != 3 || strcmp(argv[1], "--queue") != 0) {
		fprintf(stderr, "usage: ka_relay --queue N\n");
		return 2;
	}
	q = (uint16_t)atoi(argv[2]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	udp4 = open_udp(AF_INET);
	udp6 = open_udp(AF_INET6);
	if (udp4 < 0 || udp6 < 0) {
		fprintf(stderr, "ka_relay: UDP port 270: %s\n", strerror(errno));
		return 1;
	}
	struct nfq_config c = {.queues = &q, .n_queues = 1, .rcvbuf = 1u << 20};
	if (nfq_loop_open(&c, on_packet, NULL, &nfq, err, sizeof(err)) < 0) {
		fprintf(stderr, "ka_relay: NFQUEUE %u: %s\n", q, err);
		return 1;
	}
	printf("ready queue=%u\n", q);
	fflush(stdout);
	while (!stop) {
		struct pollfd pfd = {.fd = nfq_loop_fd(nfq), .events = POLLIN};
		if (poll(&pfd, 1, 200) > 0 && nfq_loop_process(nfq, 256) < 0)
			break;
	}
	nfq_loop_close(nfq);
	close(udp4);
	close(udp6);
	return 0;
}
