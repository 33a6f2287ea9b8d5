/* The GIST node (gist_api.h): lifecycle, NSLP registrations, the UDP
 * sockets (D-mode and addressed Q-mode; their error queues give the ICMP
 * port unreachable of last-node detection), deferred status reports. */
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "gist/gist_node_int.h"
#include "lib/evloop.h"
#include "lib/util.h"

void gist_config_defaults(struct gist_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->intercept_queue = -1;
	cfg->t1_ms = 100;
	cfg->t2_ms = 3200;
	cfg->refresh_ms = 30000;
	cfg->ma_hold_ms = 180000;
	cfg->datagram_max = 1200;
	cfg->icmp_last_node = true;
	cfg->querier_port = true;
	cfg->router_alert6 = true;
}

void gist_new_sid(uint8_t sid[16])
{
	randombytes_buf(sid, 16);
}

void gist_get_stats(const struct gist_node *n, struct gist_stats *ret)
{
	*ret = n->st;
	ret->mas_connecting = gist_ma_connecting(n);
}

struct gist_reg *gist_reg_find(const struct gist_node *n, uint16_t nslpid)
{
	for (struct gist_reg *r = n->regs; r; r = r->next)
		if (r->nslpid == nslpid)
			return r;
	return NULL;
}

int gist_register(struct gist_node *n, uint16_t nslpid, gist_recv_fn *recv, gist_status_fn *status,
                  void *ctx)
{
	struct gist_reg *r;

	if (!n || !recv)
		return -EINVAL;
	if (gist_reg_find(n, nslpid))
		return -EEXIST;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->nslpid = nslpid;
	r->recv = recv;
	r->status = status;
	r->ctx = ctx;
	r->next = n->regs;
	n->regs = r;
	return 0;
}

uint32_t gist_new_handle(struct gist_node *n)
{
	if (++n->next_handle == 0)
		n->next_handle = 1;
	return n->next_handle;
}

/* ---- deferred work: status reports, freeing closed MAs ------------------------ */

static void deferred(struct evloop *loop, void *ctx)
{
	struct gist_node *n = ctx;

	n->defer = NULL;
	/* Reports queued by the callbacks themselves wait for the next round. */
	struct gist_status_ev *ev = n->st_head;
	n->st_head = NULL;
	n->st_tail = &n->st_head;
	while (ev) {
		struct gist_status_ev *next = ev->next;
		struct gist_reg *r = gist_reg_find(n, ev->nslpid);
		if (r && r->status)
			r->status(r->ctx, ev->handle, ev->status, ev->how);
		free(ev);
		ev = next;
	}
	gist_ma_reap(n);
}

void gist_defer(struct gist_node *n)
{
	if (!n->defer)
		n->defer = evloop_timer_add(n->loop, 0, deferred, n);
}

void gist_status_push(struct gist_node *n, uint16_t nslpid, uint32_t handle,
                      enum gist_status status, const char *how)
{
	struct gist_status_ev *ev;

	if (!handle)
		return;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return;
	ev->nslpid = nslpid;
	ev->handle = handle;
	ev->status = status;
	snprintf(ev->how, sizeof(ev->how), "%s", how ? how : "");
	*n->st_tail = ev;
	n->st_tail = &ev->next;
	gist_defer(n);
}

/* ---- UDP ---------------------------------------------------------------------- */

void gist_drain_errqueue(struct gist_node *n, int fd)
{
	for (int i = 0; i < 64; i++) {
		uint8_t buf[2048];
		union {
			uint8_t b[512];
			struct cmsghdr align;
		} cbuf;
		struct sockaddr_storage dst;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {
		        .msg_name = &dst,
		        .msg_namelen = sizeof(dst),
		        .msg_iov = &iov,
		        .msg_iovlen = 1,
		        .msg_control = cbuf.b,
		        .msg_controllen = sizeof(cbuf),
		};
		ssize_t len = recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (len < 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			struct sock_extended_err ee;
			bool unreach;

			if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)))
				continue;
			if (c->cmsg_len < CMSG_LEN(sizeof(ee)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			unreach = (ee.ee_origin == SO_EE_ORIGIN_ICMP && ee.ee_type == 3 &&
			           ee.ee_code == 3) ||
			          (ee.ee_origin == SO_EE_ORIGIN_ICMP6 && ee.ee_type == 1 &&
			           ee.ee_code == 4);
			if (!unreach || !n->cfg.icmp_last_node)
				continue;
			/* The offender's address follows the error structure. */
			struct sockaddr_storage off;
			size_t have = c->cmsg_len - CMSG_LEN(sizeof(ee));
			memset(&off, 0, sizeof(off));
			memcpy(&off, CMSG_DATA(c) + sizeof(ee),
			       have < sizeof(off) ? have : sizeof(off));
			gist_icmp_unreachable(n, &dst, &off, buf, (size_t)len);
		}
	}
}

static void udp_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct gist_node *n = ctx;

	if (events & EPOLLERR)
		gist_drain_errqueue(n, fd);
	for (int i = 0; i < 64; i++) {
		union {
			uint8_t b[256];
			struct cmsghdr align;
		} cbuf;
		struct gist_rx rx;
		struct iovec iov = {.iov_base = n->rxbuf, .iov_len = sizeof(n->rxbuf)};
		struct msghdr mh = {
		        .msg_name = &rx.src,
		        .msg_namelen = sizeof(rx.src),
		        .msg_iov = &iov,
		        .msg_iovlen = 1,
		        .msg_control = cbuf.b,
		        .msg_controllen = sizeof(cbuf),
		};

		memset(&rx, 0, sizeof(rx));
		ssize_t len = recvmsg(fd, &mh, MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* A pending ICMP error (ECONNREFUSED, ...) is reported
			 * here too: read the error queue. */
			gist_drain_errqueue(n, fd);
			continue;
		}
		if (mh.msg_flags & MSG_TRUNC)
			continue;
		rx.transport = GIST_TRANSPORT_UDP;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			int v;
			if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TTL) {
				memcpy(&v, CMSG_DATA(c), sizeof(v));
				rx.ttl = (uint8_t)v;
			} else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
				memcpy(&v, CMSG_DATA(c), sizeof(v));
				rx.ttl = (uint8_t)v;
			} else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				rx.ifindex = pi.ipi_ifindex;
			} else if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				rx.ifindex = (int)pi.ipi6_ifindex;
			}
		}
		gist_input(n, n->rxbuf, (size_t)len, &rx);
	}
}

static int udp_open(struct gist_node *n, int family, uint16_t port, int *ret, char *err,
                    size_t errlen)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_storage ss;
	static const uint8_t any[16];
	int one = 1, r;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		if (family == AF_INET6 && r == -EAFNOSUPPORT)
			return 0; /* no IPv6 here: IPv4 only */
		return err_set(err, errlen, r, "UDP socket: %s", strerror(-r));
	}
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		if (n->cfg.icmp_last_node)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
	} else {
		setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		if (n->cfg.icmp_last_node)
			setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	}
	gist_sa_set(&ss, family, any, port);
	if (bind(fd, (struct sockaddr *)&ss, gist_sa_len(&ss)) < 0) {
		r = -errno;
		if (family == AF_INET6 && r == -EADDRNOTAVAIL)
			return 0; /* IPv6 disabled: IPv4 only */
		return err_set(err, errlen, r, "binding UDP port %u (%s): %s", port,
		               family == AF_INET6 ? "IPv6" : "IPv4", strerror(-r));
	}
	r = evloop_add_fd(n->loop, fd, EPOLLIN, udp_readable, n);
	if (r < 0)
		return err_set(err, errlen, r, "event loop: %s", strerror(-r));
	*ret = TAKE_FD(fd);
	return 0;
}

/* The port our IPv4 socket got (querier_only: ephemeral); the IPv6 socket
 * then binds the same one if it can. */
static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	return gist_sa_port(&ss);
}

static int config_check(struct gist_config *c, char *err, size_t errlen)
{
	if (!c->t1_ms)
		c->t1_ms = 100;
	if (!c->t2_ms)
		c->t2_ms = 3200;
	if (!c->refresh_ms)
		c->refresh_ms = 30000;
	if (!c->ma_hold_ms)
		c->ma_hold_ms = 180000;
	if (!c->datagram_max)
		c->datagram_max = 1200;
	if (c->datagram_max > GIST_MAX_OBJ)
		c->datagram_max = GIST_MAX_OBJ;
	if (!c->port)
		c->port = GIST_PORT;
	if (c->node_id && strlen(c->node_id) > 64)
		return err_set(err, errlen, -EINVAL, "node_id longer than 64 bytes");
	if (c->querier_only)
		c->intercept_queue = -1;
	if (c->intercept_queue > 65535)
		return err_set(err, errlen, -EINVAL, "intercept_queue out of range");
	return 0;
}

static void close_udp(struct gist_node *n, int *fd)
{
	if (*fd < 0)
		return;
	evloop_del_fd(n->loop, *fd);
	*fd = safe_close(*fd);
}

int gist_node_new(struct evloop *loop, const struct gist_config *cfg, struct gist_node **ret,
                  char *err, size_t errlen)
{
	struct gist_node *n;
	uint16_t port;
	int r;

	if (!loop || !cfg || !ret)
		return err_set(err, errlen, -EINVAL, "missing argument");
	if (sodium_init() < 0)
		return err_set(err, errlen, -EIO, "libsodium failed to initialize");
	n = calloc(1, sizeof(*n));
	if (!n)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	n->loop = loop;
	n->cfg = *cfg;
	n->udp4 = n->udp6 = n->tcp4 = n->tcp6 = n->route4 = n->route6 = -1;
	n->st_tail = &n->st_head;
	r = config_check(&n->cfg, err, errlen);
	if (r < 0)
		goto fail;
	if (cfg->node_id && cfg->node_id[0]) {
		snprintf(n->node_id, sizeof(n->node_id), "%s", cfg->node_id);
	} else {
		uint8_t rnd[8];
		randombytes_buf(rnd, sizeof(rnd));
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(n->node_id + 2 * i, 3, "%02x", rnd[i]);
	}
	n->cfg.node_id = n->node_id;
	/* The Peer Identity is the node id, NUL-padded to a multiple of 4
	 * bytes: NSIS-ka re-encodes a relayed Query's Peer Identity with its
	 * length rounded up that way, and the responder's cookie covers it. */
	n->pi_len = (uint8_t)((strlen(n->node_id) + 3) & ~3u);
	memcpy(n->pi, n->node_id, strlen(n->node_id));
	gist_cookie_init(&n->cookie, GIST_COOKIE_PERIOD, evloop_now_ms());

	port = n->cfg.querier_only ? 0 : n->cfg.port;
	r = -EADDRINUSE;
	if (n->cfg.querier_only && n->cfg.querier_port) {
		/* The well-known port if we may (a relay re-originating Queries
		 * answers there), else an ephemeral one. */
		r = udp_open(n, AF_INET, n->cfg.port, &n->udp4, NULL, 0);
		if (r == 0) {
			r = udp_open(n, AF_INET6, n->cfg.port, &n->udp6, NULL, 0);
			if (r < 0)
				close_udp(n, &n->udp4);
		}
	}
	if (r < 0)
		r = udp_open(n, AF_INET, port, &n->udp4, err, errlen);
	if (r < 0)
		goto fail;
	n->port = bound_port(n->udp4);
	r = 0;
	if (n->udp6 < 0)
		r = udp_open(n, AF_INET6, n->port, &n->udp6, err, errlen);
	if (r < 0 && n->cfg.querier_only) /* the ephemeral port is taken in IPv6 */
		r = udp_open(n, AF_INET6, 0, &n->udp6, err, errlen);
	if (r < 0)
		goto fail;
	if (!n->cfg.querier_only) {
		r = gist_ma_listen(n, err, errlen);
		if (r < 0)
			goto fail;
	}
	if (n->cfg.intercept_queue >= 0) {
		r = gist_intercept_open(n, err, errlen);
		if (r < 0)
			goto fail;
	}
	*ret = n;
	return 0;
fail:
	gist_node_free(n);
	return r;
}

static void close_fd(struct gist_node *n, int *fd, bool watched)
{
	if (*fd < 0)
		return;
	if (watched)
		evloop_del_fd(n->loop, *fd);
	*fd = safe_close(*fd);
}

struct gist_node *gist_node_free(struct gist_node *n)
{
	if (!n)
		return NULL;
	gist_intercept_close(n);
	gist_rs_free_all(n);
	gist_ma_close_all(n);
	gist_ma_reap(n);
	close_fd(n, &n->udp4, true);
	close_fd(n, &n->udp6, true);
	close_fd(n, &n->tcp4, true);
	close_fd(n, &n->tcp6, true);
	close_fd(n, &n->route4, false);
	close_fd(n, &n->route6, false);
	n->defer = evloop_timer_cancel(n->loop, n->defer);
	while (n->st_head) {
		struct gist_status_ev *ev = n->st_head;
		n->st_head = ev->next;
		free(ev);
	}
	while (n->regs) {
		struct gist_reg *r = n->regs;
		n->regs = r->next;
		free(r);
	}
	sodium_memzero(&n->cookie, sizeof(n->cookie));
	free(n);
	return NULL;
}
