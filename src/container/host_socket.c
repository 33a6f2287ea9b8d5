/* socket/1: the socket imports of module ABI 2 (abi/host_api.h) and the
 * dispatch of their events to the module's ns_socket export.
 *
 * Every socket is non-blocking and watched on the container's event loop.
 * Nothing is buffered here: what a module does not read stays in the
 * kernel's buffers (TCP's window then holds the peer back), and a send takes
 * only what the kernel takes. READABLE is reported once and again only after
 * the module read (recv/accept) during an event: a module that stops reading
 * is not called for that socket again. Policy: listen ports and connect
 * destinations through the socket policy (sandbox), sockets and connections
 * counted against the publisher's max_sockets, bytes sent against its
 * socket_bytes rate; a UDP socket answers any address that sent to it within
 * SOCK_PEER_TTL_MS, other destinations must be connect destinations. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/modhost_internal.h"
#include "lib/evloop.h"
#include "lib/util.h"

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_SOCKET(DECLARE_IMPORT)

/* Recent sources of a UDP socket: a direct-mapped table. */
#define SOCK_PEERS       1024
#define SOCK_PEER_TTL_MS 300000u

struct sock_peer {
	uint64_t seen_ms;
	uint16_t port;
	uint8_t family;
	bool has_local;
	uint8_t addr[16];
	uint8_t local[16]; /* the address it sent to: answers go from there */
};

struct sock_peers {
	struct sock_peer v[SOCK_PEERS];
};

/* ---- memory and addresses ------------------------------------------------ */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Reads an ns_sockaddr into a kernel address. Returns its length or -EINVAL. */
static int sa_from_ns(const uint8_t *p, struct sockaddr_storage *ss)
{
	uint32_t family = get_le32(p), port = get_le32(p + 4);
	memset(ss, 0, sizeof(*ss));
	if (port == 0 || port > 65535)
		return -EINVAL;
	if (family == NS_IPV4) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, p + 8, 4);
		return sizeof(*in);
	}
	if (family == NS_IPV6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		memcpy(&in6->sin6_addr, p + 8, 16);
		return sizeof(*in6);
	}
	return -EINVAL;
}

void modhost_sockaddr_encode(const struct sockaddr *sa, uint8_t *p)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	memset(p, 0, NS_SOCKADDR_LEN);
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		put_le32(p, NS_IPV4);
		put_le32(p + 4, ntohs(in->sin_port));
		memcpy(p + 8, &in->sin_addr, 4);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *a = (const uint8_t *)&in6->sin6_addr;
		bool v4 = memcmp(a, mapped, sizeof(mapped)) == 0; /* a dual-stack socket's */
		put_le32(p, v4 ? NS_IPV4 : NS_IPV6);
		put_le32(p + 4, ntohs(in6->sin6_port));
		memcpy(p + 8, v4 ? a + 12 : a, v4 ? 4 : 16);
	}
}

static void sa_to_ns(const struct sockaddr_storage *ss, uint8_t *p)
{
	modhost_sockaddr_encode((const struct sockaddr *)ss, p);
}

static const uint8_t *sa_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
	return (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
}

static uint16_t sa_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* ---- UDP peers ------------------------------------------------------------ */

static struct sock_peer *peer_slot(struct sock_peers *t, const struct sockaddr_storage *ss)
{
	const uint8_t *a = sa_addr(ss);
	size_t n = ss->ss_family == AF_INET ? 4 : 16;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ a[i]) * 16777619u;
	h = (h ^ sa_port(ss)) * 16777619u;
	return &t->v[h % SOCK_PEERS];
}

/* Notes a source; local: the address it sent to (NULL if unknown). */
static void peer_note(struct mod_sock *s, const struct sockaddr_storage *ss, const uint8_t *local)
{
	if (!s->peers && !(s->peers = calloc(1, sizeof(*s->peers))))
		return;
	struct sock_peer *p = peer_slot(s->peers, ss);
	size_t n = ss->ss_family == AF_INET ? 4 : 16;
	p->family = (uint8_t)ss->ss_family;
	p->port = sa_port(ss);
	memcpy(p->addr, sa_addr(ss), n);
	p->has_local = local != NULL;
	if (local)
		memcpy(p->local, local, n);
	p->seen_ms = evloop_now_ms();
}

/* The entry of a source seen in the last SOCK_PEER_TTL_MS, or NULL. */
static const struct sock_peer *peer_known(const struct mod_sock *s,
                                          const struct sockaddr_storage *ss)
{
	if (!s->peers)
		return NULL;
	const struct sock_peer *p = peer_slot(s->peers, ss);
	bool ok = p->seen_ms && p->family == ss->ss_family && p->port == sa_port(ss) &&
	          memcmp(p->addr, sa_addr(ss), ss->ss_family == AF_INET ? 4 : 16) == 0 &&
	          evloop_now_ms() - p->seen_ms <= SOCK_PEER_TTL_MS;
	return ok ? p : NULL;
}

/* A UDP socket bound to every address answers a source from the address it
 * sent to (not the one the routing would pick, which a client that sent to
 * another of the node's addresses would drop): the destination comes with
 * each datagram (IP_PKTINFO, IPV6_RECVPKTINFO) and goes back as the source
 * of the answers. */
union pktinfo_cmsg {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

static ssize_t udp_recv(int fd, void *b, size_t cap, struct sockaddr_storage *ss, uint8_t local[16],
                        bool *has_local)
{
	struct iovec iov = {b, cap};
	union pktinfo_cmsg c;
	struct msghdr mh = {.msg_name = ss,
	                    .msg_namelen = sizeof(*ss),
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = c.buf,
	                    .msg_controllen = sizeof(c.buf)};
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	*has_local = false;
	if (n < 0)
		return n;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
		if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO) {
			struct in_pktinfo pi;
			memcpy(&pi, CMSG_DATA(h), sizeof(pi));
			memcpy(local, &pi.ipi_addr, 4);
			*has_local = true;
		} else if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO) {
			struct in6_pktinfo pi;
			memcpy(&pi, CMSG_DATA(h), sizeof(pi));
			memcpy(local, &pi.ipi6_addr, 16);
			*has_local = true;
		}
	}
	return n;
}

static ssize_t udp_send_from(int fd, const void *b, size_t len, const struct sockaddr_storage *ss,
                             socklen_t sl, const uint8_t *local)
{
	struct iovec iov = {(void *)b, len};
	union pktinfo_cmsg c;
	memset(&c, 0, sizeof(c));
	struct msghdr mh = {.msg_name = (void *)ss,
	                    .msg_namelen = sl,
	                    .msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = c.buf};
	struct cmsghdr *h = (struct cmsghdr *)c.buf;
	if (ss->ss_family == AF_INET) {
		struct in_pktinfo pi = {0};
		memcpy(&pi.ipi_spec_dst, local, 4);
		h->cmsg_level = IPPROTO_IP;
		h->cmsg_type = IP_PKTINFO;
		h->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(h), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {0};
		memcpy(&pi.ipi6_addr, local, 16);
		h->cmsg_level = IPPROTO_IPV6;
		h->cmsg_type = IPV6_PKTINFO;
		h->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(h), &pi, sizeof(pi));
		mh.msg_controllen = CMSG_SPACE(sizeof(pi));
	}
	return sendmsg(fd, &mh, MSG_DONTWAIT);
}

/* ---- the table -------------------------------------------------------------- */

static struct mod_sock *sock_get(struct mod *m, uint32_t id)
{
	return id < m->n_socks_cap ? m->socks[id] : NULL;
}

static int policy_ask(struct mod *m, enum modhost_sock_op op, int proto,
                      const struct sockaddr_storage *ss, uint16_t port)
{
	if (!m->h->sock_policy)
		return -EPERM;
	int family = ss ? ss->ss_family : 0;
	return m->h->sock_policy(m->h->ctx, m->name, op, proto, family, ss ? sa_addr(ss) : NULL,
	                         port);
}

static void sock_io(struct evloop *loop, int fd, uint32_t events, void *ctx);

/* Asks the loop for what the socket wants now. */
static void sock_arm(struct mod_sock *s)
{
	if (!s->w)
		return;
	uint32_t want = (s->want_in ? EPOLLIN | EPOLLRDHUP : 0) |
	                ((s->want_out && !s->rate_wait) || s->connecting ? EPOLLOUT : 0);
	if (want != s->armed && evloop_watch_mod(s->m->h->loop, s->w, want) == 0)
		s->armed = want;
}

/* Takes ownership of fd. Returns the new socket's id or a negative errno
 * (fd closed). */
static int sock_add(struct mod *m, int fd, uint8_t type, uint8_t family, bool listener)
{
	uint32_t id = 0;
	while (id < m->n_socks_cap && m->socks[id])
		id++;
	if (id == m->n_socks_cap) {
		uint32_t cap = m->n_socks_cap ? m->n_socks_cap * 2 : 16;
		struct mod_sock **v = realloc(m->socks, cap * sizeof(*v));
		if (!v) {
			close(fd);
			return -ENOMEM;
		}
		memset(v + m->n_socks_cap, 0, (cap - m->n_socks_cap) * sizeof(*v));
		m->socks = v;
		m->n_socks_cap = cap;
	}
	struct mod_sock *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return -ENOMEM;
	}
	s->m = m;
	s->fd = fd;
	s->id = id;
	s->gen = ++m->h->sock_gen;
	s->type = type;
	s->family = family;
	s->listener = listener;
	s->want_in = true;
	s->armed = EPOLLIN | EPOLLRDHUP;
	s->w = evloop_watch_add(m->h->loop, fd, s->armed, sock_io, s);
	if (!s->w) {
		int r = -errno;
		close(fd);
		free(s);
		return r;
	}
	m->socks[id] = s;
	m->n_socks++;
	m->h->n_sockets++;
	m->sock_opened++;
	return (int)id;
}

static void sock_free(struct mod_sock *s)
{
	struct mod *m = s->m;
	evloop_watch_del(m->h->loop, s->w);
	close(s->fd);
	m->socks[s->id] = NULL;
	m->n_socks--;
	m->h->n_sockets--;
	free(s->peers);
	free(s);
}

void modhost_socks_close_all(struct mod *m)
{
	for (uint32_t i = 0; i < m->n_socks_cap; i++)
		if (m->socks[i])
			sock_free(m->socks[i]);
}

/* ---- events ---------------------------------------------------------------------- */

static void sock_deliver(struct mod_sock *s, uint32_t ev, bool unwatch)
{
	struct mod *m = s->m;
	uint32_t id = s->id;
	uint64_t gen = s->gen;
	s->read_called = false;
	if (ev) {
		m->sock_events++;
		if (modhost_socket_call(m, id, ev) < 0)
			return; /* trapped: its sockets are gone */
		s = sock_get(m, id);
		if (!s || s->gen != gen)
			return; /* closed by the module */
	}
	if ((ev & NS_SOCK_READABLE) && !s->read_called)
		s->want_in = false; /* until it reads */
	if (unwatch && s->w) {
		/* hang-up or error: epoll reports it whatever we ask; the module
		 * learns the rest from recv/send */
		evloop_watch_del(m->h->loop, s->w);
		s->w = NULL;
		return;
	}
	sock_arm(s);
}

static void sock_io(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct mod_sock *s = ctx;
	uint32_t ev = 0;
	(void)loop;
	if (s->connecting) {
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		int so = 0;
		socklen_t l = sizeof(so);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &l);
		s->connecting = false;
		s->want_out = false;
		if (so) {
			sock_deliver(s, NS_SOCK_ERROR, true);
			return;
		}
		s->connected = true;
		sock_deliver(s, NS_SOCK_CONNECTED | NS_SOCK_WRITABLE, false);
		return;
	}
	if ((events & EPOLLIN) && s->want_in)
		ev |= NS_SOCK_READABLE;
	if ((events & EPOLLRDHUP) && s->want_in)
		ev |= NS_SOCK_READABLE | NS_SOCK_HUP;
	if (events & EPOLLHUP)
		ev |= NS_SOCK_READABLE | NS_SOCK_HUP;
	if (events & EPOLLERR)
		ev |= NS_SOCK_ERROR;
	if ((events & EPOLLOUT) && s->want_out) {
		ev |= NS_SOCK_WRITABLE;
		s->want_out = false;
	}
	sock_deliver(s, ev, (events & (EPOLLHUP | EPOLLERR)) != 0);
}

/* The byte-rate wait is over: WRITABLE to every socket that waited. */
static void sock_rate_tick(struct evloop *loop, void *ctx)
{
	struct modhost *h = ctx;
	(void)loop;
	h->sock_rate_timer = NULL;
	for (struct mod *m = h->mods; m; m = m->next) {
		for (uint32_t i = 0; i < m->n_socks_cap; i++) {
			struct mod_sock *s = m->socks[i];
			if (!s || !s->rate_wait)
				continue;
			s->rate_wait = false;
			s->want_out = false;
			sock_deliver(s, NS_SOCK_WRITABLE, false);
		}
	}
}

/* The publisher's socket byte rate: returns how many of `len` bytes may go
 * now (0: none; the socket then waits for the timer). */
static uint32_t sock_rate_admit(struct mod_sock *s, uint32_t len)
{
	struct modhost *h = s->m->h;
	uint64_t rate = h->lim.socket_bytes_per_s;
	if (!rate)
		return len;
	uint64_t now = modhost_now_ns();
	double depth = rate > 65536 ? (double)rate : 65536.0;
	h->sock_byte_tokens += (double)(now - h->sock_refill_ns) / 1e9 * (double)rate;
	if (h->sock_byte_tokens > depth)
		h->sock_byte_tokens = depth;
	h->sock_refill_ns = now;
	if (h->sock_byte_tokens < 1.0 || (s->type == NS_SOCK_UDP && h->sock_byte_tokens < len)) {
		s->rate_wait = true;
		if (!h->sock_rate_timer)
			h->sock_rate_timer = evloop_timer_add(h->loop, 10, sock_rate_tick, h);
		return 0;
	}
	if (h->sock_byte_tokens < len)
		len = (uint32_t)h->sock_byte_tokens;
	return len;
}

static void sock_rate_spent(struct mod_sock *s, size_t n)
{
	if (s->m->h->lim.socket_bytes_per_s)
		s->m->h->sock_byte_tokens -= (double)n;
}

/* ---- the imports ------------------------------------------------------------------ */

/* Whether one more socket fits the publisher's limit (counted as refused). */
static bool sock_room(struct mod *m)
{
	if (m->h->n_sockets < m->h->lim.max_sockets)
		return true;
	m->sock_refused++;
	return false;
}

u32 Z_netservZ_ns_sock_listen(struct Z_netserv_instance_t *ctx, u32 type, u32 family, u32 port)
{
	IMPORT_BEGIN(ctx);
	if ((type != NS_SOCK_TCP && type != NS_SOCK_UDP) ||
	    (family != NS_IPV4 && family != NS_IPV6) || port == 0 || port > 65535)
		IMPORT_RETURN(-EINVAL);
	int r = policy_ask(m, MODHOST_SOCK_LISTEN, (int)type, NULL, (uint16_t)port);
	if (r < 0) {
		m->sock_refused++;
		IMPORT_RETURN(r);
	}
	if (!sock_room(m))
		IMPORT_RETURN(-EMFILE);
	int af = family == NS_IPV4 ? AF_INET : AF_INET6;
	int fd = socket(
	        af, (type == NS_SOCK_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
	        0);
	if (fd < 0)
		IMPORT_RETURN(-errno);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (af == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (af == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*in6);
	}
	if (type == NS_SOCK_UDP) /* answers go from the address asked (udp_recv) */
		setsockopt(fd, af == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		           af == AF_INET ? IP_PKTINFO : IPV6_RECVPKTINFO, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 ||
	    (type == NS_SOCK_TCP && listen(fd, 1024) < 0)) {
		r = -errno;
		close(fd);
		IMPORT_RETURN(r);
	}
	IMPORT_RETURN(sock_add(m, fd, (uint8_t)type, (uint8_t)family, type == NS_SOCK_TCP));
}

u32 Z_netservZ_ns_sock_connect(struct Z_netserv_instance_t *ctx, u32 type, u32 to)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *p = mem_at(m, to, NS_SOCKADDR_LEN);
	struct sockaddr_storage ss;
	int sl = sa_from_ns(p, &ss);
	if (sl < 0 || (type != NS_SOCK_TCP && type != NS_SOCK_UDP))
		IMPORT_RETURN(-EINVAL);
	int r = policy_ask(m, MODHOST_SOCK_CONNECT, (int)type, &ss, sa_port(&ss));
	if (r < 0) {
		m->sock_refused++;
		IMPORT_RETURN(r);
	}
	if (!sock_room(m))
		IMPORT_RETURN(-EMFILE);
	int fd = socket(
	        ss.ss_family,
	        (type == NS_SOCK_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		IMPORT_RETURN(-errno);
	bool pending = false;
	if (connect(fd, (struct sockaddr *)&ss, (socklen_t)sl) < 0) {
		if (errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			IMPORT_RETURN(r);
		}
		pending = true;
	}
	int id = sock_add(m, fd, (uint8_t)type, ss.ss_family == AF_INET ? NS_IPV4 : NS_IPV6, false);
	if (id < 0)
		IMPORT_RETURN(id);
	struct mod_sock *s = m->socks[id];
	s->connecting = pending;
	s->connected = !pending;
	if (pending || type == NS_SOCK_TCP) {
		/* CONNECTED (and WRITABLE) comes from the loop, also for a TCP
		 * connect that completed at once (loopback) */
		s->connecting = type == NS_SOCK_TCP;
		sock_arm(s);
	}
	IMPORT_RETURN(id);
}

u32 Z_netservZ_ns_sock_accept(struct Z_netserv_instance_t *ctx, u32 id, u32 peer)
{
	IMPORT_BEGIN(ctx);
	uint8_t *out = peer ? mem_at(m, peer, NS_SOCKADDR_LEN) : NULL;
	struct mod_sock *s = sock_get(m, id);
	if (!s)
		IMPORT_RETURN(-EBADF);
	if (!s->listener)
		IMPORT_RETURN(-EINVAL);
	s->read_called = true;
	if (!s->want_in) {
		s->want_in = true;
		sock_arm(s);
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = accept4(s->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		IMPORT_RETURN(errno == EWOULDBLOCK ? -EAGAIN : -errno);
	if (m->h->n_sockets >= m->h->lim.max_sockets) {
		/* refused at once (a reset), so that the backlog does not fill
		 * with connections nobody will take */
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		m->sock_conn_refused++;
		IMPORT_RETURN(-EMFILE);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int nid = sock_add(m, fd, NS_SOCK_TCP, s->family, false);
	if (nid < 0)
		IMPORT_RETURN(nid);
	m->socks[nid]->connected = true;
	m->sock_accepted++;
	if (out)
		sa_to_ns(&ss, out);
	IMPORT_RETURN(nid);
}

u32 Z_netservZ_ns_sock_recv(struct Z_netserv_instance_t *ctx, u32 id, u32 buf, u32 cap, u32 from)
{
	IMPORT_BEGIN(ctx);
	uint8_t *b = mem_at(m, buf, cap);
	uint8_t *f = from ? mem_at(m, from, NS_SOCKADDR_LEN) : NULL;
	struct mod_sock *s = sock_get(m, id);
	if (!s)
		IMPORT_RETURN(-EBADF);
	if (s->listener)
		IMPORT_RETURN(-EINVAL);
	s->read_called = true;
	if (!s->want_in) {
		s->want_in = true;
		sock_arm(s);
	}
	if (cap > 0x7fffffff)
		cap = 0x7fffffff;
	ssize_t n;
	if (s->type == NS_SOCK_UDP) {
		struct sockaddr_storage ss;
		uint8_t local[16];
		bool has_local;
		n = udp_recv(s->fd, b, cap, &ss, local, &has_local);
		if (n >= 0) {
			m->sock_dgrams_in++;
			if (!s->connected)
				peer_note(s, &ss, has_local ? local : NULL);
			if (f)
				sa_to_ns(&ss, f);
		}
	} else {
		n = recv(s->fd, b, cap, MSG_DONTWAIT);
	}
	if (n < 0)
		IMPORT_RETURN(errno == EWOULDBLOCK ? -EAGAIN : -errno);
	m->sock_bytes_in += (uint64_t)n;
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_sock_send(struct Z_netserv_instance_t *ctx, u32 id, u32 buf, u32 len, u32 to)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *b = mem_at(m, buf, len);
	const uint8_t *t = to ? mem_at(m, to, NS_SOCKADDR_LEN) : NULL;
	struct mod_sock *s = sock_get(m, id);
	if (!s)
		IMPORT_RETURN(-EBADF);
	if (s->listener)
		IMPORT_RETURN(-EINVAL);
	if (s->connecting)
		IMPORT_RETURN(-EAGAIN);
	if (len > 0x7fffffff)
		len = 0x7fffffff;
	struct sockaddr_storage ss;
	int sl = 0;
	const struct sock_peer *peer = NULL;
	if (s->type == NS_SOCK_UDP) {
		if (t) {
			if ((sl = sa_from_ns(t, &ss)) < 0)
				IMPORT_RETURN(-EINVAL);
			if ((ss.ss_family == AF_INET) != (s->family == NS_IPV4))
				IMPORT_RETURN(-EAFNOSUPPORT);
			/* an answer to who sent, or a destination of its own */
			if (!(peer = peer_known(s, &ss))) {
				int r = policy_ask(m, MODHOST_SOCK_CONNECT, NS_SOCK_UDP, &ss,
				                   sa_port(&ss));
				if (r < 0) {
					m->sock_refused++;
					IMPORT_RETURN(r);
				}
			}
		} else if (!s->connected) {
			IMPORT_RETURN(-EDESTADDRREQ);
		}
		if (len > 65507)
			IMPORT_RETURN(-EMSGSIZE);
	}
	uint32_t take = sock_rate_admit(s, len);
	if (take == 0 && len > 0)
		IMPORT_RETURN(-EAGAIN);
	ssize_t n;
	if (s->type == NS_SOCK_UDP) {
		bool from = peer && peer->has_local;
		n = from ? udp_send_from(s->fd, b, take, &ss, (socklen_t)sl, peer->local) : -1;
		/* as the routing picks: no address asked, or one that cannot be a
		 * source (EINVAL: a broadcast address, say) */
		if (!from || (n < 0 && errno == EINVAL))
			n = sendto(s->fd, b, take, MSG_DONTWAIT, sl ? (struct sockaddr *)&ss : NULL,
			           (socklen_t)sl);
	} else {
		n = send(s->fd, b, take, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	if (n < 0) {
		int e = errno == EWOULDBLOCK ? EAGAIN : errno;
		if (e == EAGAIN) {
			s->want_out = true;
			sock_arm(s);
		}
		IMPORT_RETURN(-e);
	}
	sock_rate_spent(s, (size_t)n);
	m->sock_bytes_out += (uint64_t)n;
	if (s->type == NS_SOCK_UDP)
		m->sock_dgrams_out++;
	if ((uint32_t)n < len && !s->rate_wait) {
		s->want_out = true;
		sock_arm(s);
	}
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_sock_shutdown(struct Z_netserv_instance_t *ctx, u32 id)
{
	IMPORT_BEGIN(ctx);
	struct mod_sock *s = sock_get(m, id);
	if (!s)
		IMPORT_RETURN(-EBADF);
	if (s->type != NS_SOCK_TCP || s->listener)
		IMPORT_RETURN(-EINVAL);
	IMPORT_RETURN(shutdown(s->fd, SHUT_WR) < 0 ? -errno : 0);
}

u32 Z_netservZ_ns_sock_close(struct Z_netserv_instance_t *ctx, u32 id)
{
	IMPORT_BEGIN(ctx);
	struct mod_sock *s = sock_get(m, id);
	if (!s)
		IMPORT_RETURN(-EBADF);
	sock_free(s);
	IMPORT_RETURN(0);
}

u32 Z_netservZ_ns_sock_name(struct Z_netserv_instance_t *ctx, u32 id, u32 local, u32 peer)
{
	IMPORT_BEGIN(ctx);
	uint8_t *l = local ? mem_at(m, local, NS_SOCKADDR_LEN) : NULL;
	uint8_t *p = peer ? mem_at(m, peer, NS_SOCKADDR_LEN) : NULL;
	struct mod_sock *s = sock_get(m, id);
	if (!s)
		IMPORT_RETURN(-EBADF);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (l) {
		if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) < 0)
			IMPORT_RETURN(-errno);
		sa_to_ns(&ss, l);
	}
	if (p) {
		sl = sizeof(ss);
		if (getpeername(s->fd, (struct sockaddr *)&ss, &sl) < 0)
			IMPORT_RETURN(-errno);
		sa_to_ns(&ss, p);
	}
	IMPORT_RETURN(0);
}

/* ---- statistics ------------------------------------------------------------------ */

void modhost_socks_stats(struct mod *m, json_t *j)
{
	if (!m->sock_opened && !m->sock_refused)
		return;
	json_t *listening = json_array();
	uint32_t conns = 0;
	for (uint32_t i = 0; i < m->n_socks_cap; i++) {
		struct mod_sock *s = m->socks[i];
		if (!s)
			continue;
		if (s->listener || (s->type == NS_SOCK_UDP && !s->connected)) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			char text[32];
			if (getsockname(s->fd, (struct sockaddr *)&ss, &sl) == 0) {
				snprintf(text, sizeof(text), "%s%s:%u",
				         s->type == NS_SOCK_TCP ? "tcp" : "udp",
				         s->family == NS_IPV6 ? "6" : "", sa_port(&ss));
				json_array_append_new(listening, json_string(text));
			}
		} else {
			conns++;
		}
	}
	json_object_set_new(
	        j, "sockets",
	        json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "listening",
	                  listening, "connections", (json_int_t)conns, "opened",
	                  (json_int_t)m->sock_opened, "refused", (json_int_t)m->sock_refused,
	                  "accepted", (json_int_t)m->sock_accepted, "connections_refused",
	                  (json_int_t)m->sock_conn_refused, "bytes_in",
	                  (json_int_t)m->sock_bytes_in, "bytes_out", (json_int_t)m->sock_bytes_out,
	                  "datagrams_in", (json_int_t)m->sock_dgrams_in, "datagrams_out",
	                  (json_int_t)m->sock_dgrams_out));
}
