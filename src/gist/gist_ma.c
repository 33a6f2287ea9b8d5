/* C-mode: messaging associations over TCP (RFC 5971 5.7, protocol id 1).
 * Messages on a stream have no magic number and are framed by the common
 * header's length. An MA is shared by every routing state with the same
 * peer (address and TCP port); while some state uses it, we send MA-Hello
 * (Hello-ID 0, R = 0, as NSIS-ka) at half the peer's hold time when nothing
 * else went out; nobody using it for the hold time, we close it.
 *
 * A new MA we opened is unproven until the peer has sent a GIST message on
 * it or has kept it open MA_SETTLE_MS after acknowledging all we sent: a
 * peer that is not GIST over TCP there (NSIS-ka's TLS port given a plaintext
 * Confirm) resets it right after the Confirm. Until then GIST_SENT waits;
 * a reset or close meanwhile is GIST_FAILED, the peer is dropped and its
 * (address, port) not used for C-mode again for a while. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gist/gist_node_int.h"
#include "lib/evloop.h"
#include "lib/util.h"

#define RBUF_START      4096
#define CONNECT_TIMEOUT 10000 /* ms */
#define MA_MAX          1024  /* open MAs; more connections are refused */
#define MA_SETTLE_MS    200   /* an unproven MA: open this long after all acked */
#define MA_SETTLE_TICK  20    /* ms between checks while settling */
#define MA_BAD_MS       60000 /* a failed new MA's port: not used for this long */

struct gist_chunk {
	struct gist_chunk *next;
	size_t len, off;
	uint16_t nslpid;
	uint32_t handle;
	uint8_t data[];
};

struct gist_ma {
	struct gist_ma *next;
	struct gist_node *node;
	int fd;
	bool connecting;
	bool dead;
	bool want_out; /* EPOLLOUT is watched */
	bool proven;   /* the peer spoke GIST on it, or kept it after all was acked */
	struct gist_chunk *settling, **settling_tail; /* sent, status waiting for proof */
	uint64_t acked_at;                            /* all acked since; 0: not yet */
	struct sockaddr_storage peer;
	uint32_t peer_hold; /* ms, from its Stack-Configuration-Data; 0: unknown */
	uint8_t *rbuf;
	size_t rlen, rcap;
	struct gist_chunk *wq, **wq_tail;
	size_t wq_bytes;
	unsigned refs;
	uint64_t created, last_tx, last_use;
	struct evloop_timer *timer;
};

static void ma_close(struct gist_ma *ma, const char *how);
static void ma_timer(struct evloop *loop, void *ctx);

bool gist_ma_usable(const struct gist_ma *ma)
{
	return ma && !ma->dead;
}

void gist_ma_ref(struct gist_ma *ma)
{
	ma->refs++;
}

void gist_ma_unref(struct gist_ma *ma)
{
	if (ma->refs)
		ma->refs--;
	if (!ma->refs)
		ma->last_use = evloop_now_ms();
}

void gist_ma_peer_info(struct gist_ma *ma, uint32_t hold_ms)
{
	if (hold_ms)
		ma->peer_hold = hold_ms;
}

const struct sockaddr_storage *gist_ma_peer(const struct gist_ma *ma)
{
	return &ma->peer;
}

static uint32_t hello_interval(const struct gist_ma *ma)
{
	uint32_t h = ma->peer_hold ? ma->peer_hold : ma->node->cfg.ma_hold_ms;

	return h / 2 ? h / 2 : 1;
}

static void arm(struct gist_ma *ma)
{
	uint32_t t = hello_interval(ma) / 2;

	if (t > ma->node->cfg.ma_hold_ms / 2)
		t = ma->node->cfg.ma_hold_ms / 2;
	if (ma->connecting && t > 1000)
		t = 1000;
	if (ma->settling && t > MA_SETTLE_TICK)
		t = MA_SETTLE_TICK;
	ma->timer = evloop_timer_cancel(ma->node->loop, ma->timer);
	ma->timer = evloop_timer_add(ma->node->loop, t ? t : 1, ma_timer, ma);
}

static void watch(struct gist_ma *ma, bool out)
{
	if (ma->want_out == out)
		return;
	ma->want_out = out;
	evloop_mod_fd(ma->node->loop, ma->fd, EPOLLIN | (out ? EPOLLOUT : 0));
}

/* Writes what the kernel takes. */
static void flush(struct gist_ma *ma)
{
	while (ma->wq && !ma->dead) {
		struct gist_chunk *c = ma->wq;
		ssize_t w = send(ma->fd, c->data + c->off, c->len - c->off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				watch(ma, true);
				return;
			}
			if (errno == EINTR)
				continue;
			ma_close(ma, "messaging association failed");
			return;
		}
		c->off += (size_t)w;
		if (c->off < c->len)
			continue;
		ma->wq = c->next;
		if (!ma->wq)
			ma->wq_tail = &ma->wq;
		ma->wq_bytes -= c->len;
		if (c->handle && !ma->proven) {
			c->next = NULL;
			*ma->settling_tail = c;
			ma->settling_tail = &c->next;
			ma->acked_at = 0;
			arm(ma);
			continue;
		}
		if (c->handle)
			gist_status_push(ma->node, c->nslpid, c->handle, GIST_SENT,
			                 "sent (C-mode)");
		free(c);
	}
	if (!ma->dead)
		watch(ma, false);
}

/* The MA is good: what waited for that is reported sent. */
static void prove(struct gist_ma *ma)
{
	ma->proven = true;
	while (ma->settling) {
		struct gist_chunk *c = ma->settling;
		ma->settling = c->next;
		gist_status_push(ma->node, c->nslpid, c->handle, GIST_SENT, "sent (C-mode)");
		free(c);
	}
	ma->settling_tail = &ma->settling;
}

/* While unproven with sends waiting: proven once all is acknowledged and
 * the peer kept the connection MA_SETTLE_MS after that. */
static void settle_check(struct gist_ma *ma)
{
	int unacked = 0;
	uint64_t now = evloop_now_ms();

	if (!ma->settling || ma->connecting || ma->dead)
		return;
	if (ma->wq || ioctl(ma->fd, SIOCOUTQ, &unacked) < 0 || unacked > 0) {
		ma->acked_at = 0;
		return;
	}
	if (!ma->acked_at)
		ma->acked_at = now;
	if (now - ma->acked_at >= MA_SETTLE_MS)
		prove(ma);
}

static void readable(struct gist_ma *ma)
{
	struct gist_node *n = ma->node;

	for (;;) {
		if (ma->rcap - ma->rlen < 1024 && ma->rcap < GIST_MAX_MSG) {
			size_t cap = ma->rcap * 2 > GIST_MAX_MSG ? GIST_MAX_MSG : ma->rcap * 2;
			uint8_t *b = realloc(ma->rbuf, cap);
			if (!b) {
				ma_close(ma, "out of memory");
				return;
			}
			ma->rbuf = b;
			ma->rcap = cap;
		}
		ssize_t r = recv(ma->fd, ma->rbuf + ma->rlen, ma->rcap - ma->rlen, MSG_DONTWAIT);
		if (r == 0) {
			ma_close(ma, "messaging association closed by the peer");
			return;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				ma_close(ma, "messaging association failed");
			return;
		}
		ma->rlen += (size_t)r;
		size_t off = 0;
		for (;;) {
			long fl = gist_frame_length(ma->rbuf + off, ma->rlen - off);
			if (fl < 0) {
				ma_close(ma, "not GIST on the messaging association");
				return;
			}
			if (fl == 0)
				break;
			if (!ma->proven)
				prove(ma); /* the peer speaks GIST here */
			struct gist_rx rx;
			memset(&rx, 0, sizeof(rx));
			rx.transport = GIST_TRANSPORT_TCP;
			rx.src = ma->peer;
			rx.ma = ma;
			/* MA-Hellos alone do not count as use. */
			if (fl >= 8 && (ma->rbuf[off + 6] & 0x7f) != GIST_MA_HELLO)
				ma->last_use = evloop_now_ms();
			gist_input(n, ma->rbuf + off, (size_t)fl, &rx);
			if (ma->dead)
				return;
			off += (size_t)fl;
		}
		memmove(ma->rbuf, ma->rbuf + off, ma->rlen - off);
		ma->rlen -= off;
	}
}

static void io(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct gist_ma *ma = ctx;

	if (ma->connecting) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0 || e) {
			ma_close(ma, "cannot connect a messaging association");
			return;
		}
		ma->connecting = false;
		flush(ma);
		if (ma->dead)
			return;
	}
	if (events & EPOLLOUT)
		flush(ma);
	if (!ma->dead && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		readable(ma);
}

static struct gist_ma *ma_new(struct gist_node *n, int fd, const struct sockaddr_storage *peer,
                              bool connecting)
{
	struct gist_ma *ma = calloc(1, sizeof(*ma));

	if (!ma)
		return NULL;
	ma->rbuf = malloc(RBUF_START);
	if (!ma->rbuf) {
		free(ma);
		return NULL;
	}
	ma->rcap = RBUF_START;
	ma->node = n;
	ma->fd = fd;
	ma->peer = *peer;
	ma->connecting = connecting;
	ma->want_out = connecting;
	ma->wq_tail = &ma->wq;
	ma->settling_tail = &ma->settling;
	ma->proven = !connecting; /* accepted: the peer opened it to speak GIST */
	ma->created = ma->last_tx = ma->last_use = evloop_now_ms();
	if (evloop_add_fd(n->loop, fd, EPOLLIN | (connecting ? EPOLLOUT : 0), io, ma) < 0) {
		free(ma->rbuf);
		free(ma);
		return NULL;
	}
	ma->next = n->mas;
	n->mas = ma;
	n->st.mas_open++;
	arm(ma);
	return ma;
}

int gist_ma_open(struct gist_node *n, const struct sockaddr_storage *peer, struct gist_ma **ret)
{
	_cleanup_close_ int fd = -1;
	struct gist_ma *ma;

	for (ma = n->mas; ma; ma = ma->next)
		if (!ma->dead && gist_sa_equal(&ma->peer, peer)) {
			*ret = ma;
			return 0;
		}
	if (n->st.mas_open >= MA_MAX)
		return -EMFILE;
	fd = socket(peer->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)peer, gist_sa_len(peer)) < 0 &&
	    errno != EINPROGRESS)
		return -errno;
	ma = ma_new(n, fd, peer, true);
	if (!ma)
		return -ENOMEM;
	TAKE_FD(fd);
	*ret = ma;
	return 0;
}

uint64_t gist_ma_connecting(const struct gist_node *n)
{
	uint64_t k = 0;
	for (const struct gist_ma *ma = n->mas; ma; ma = ma->next)
		k += !ma->dead && ma->connecting;
	return k;
}

int gist_ma_send(struct gist_ma *ma, struct gist_msg *m, uint16_t nslpid, uint32_t handle,
                 char *err, size_t errlen)
{
	struct gist_chunk *c;
	ssize_t len;

	if (ma->dead)
		return err_set(err, errlen, -EPIPE, "the messaging association is closed");
	m->magic = false;
	len = gist_encode(m, NULL, 0, err, errlen);
	if (len < 0)
		return (int)len;
	if (ma->wq_bytes + (size_t)len > GIST_MA_WQ_MAX)
		return err_set(err, errlen, -ENOBUFS,
		               "the messaging association has too much unsent data");
	c = malloc(sizeof(*c) + (size_t)len);
	if (!c)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	len = gist_encode(m, c->data, (size_t)len, err, errlen);
	if (len < 0) {
		free(c);
		return (int)len;
	}
	c->next = NULL;
	c->len = (size_t)len;
	c->off = 0;
	c->nslpid = nslpid;
	c->handle = handle;
	*ma->wq_tail = c;
	ma->wq_tail = &c->next;
	ma->wq_bytes += c->len;
	if (m->hdr.type < GIST_STATS_TYPES)
		ma->node->st.sent[m->hdr.type]++;
	ma->last_tx = evloop_now_ms();
	if (m->hdr.type != GIST_MA_HELLO)
		ma->last_use = ma->last_tx;
	if (!ma->connecting)
		flush(ma);
	return 0;
}

static void ma_timer(struct evloop *loop, void *ctx)
{
	struct gist_ma *ma = ctx;
	struct gist_node *n = ma->node;
	uint64_t now = evloop_now_ms();

	ma->timer = NULL;
	settle_check(ma);
	if (ma->connecting && now - ma->created >= CONNECT_TIMEOUT) {
		ma_close(ma, "cannot connect a messaging association");
		return;
	}
	if (!ma->refs && now - ma->last_use >= n->cfg.ma_hold_ms) {
		ma_close(ma, "messaging association idle");
		return;
	}
	if (ma->refs && !ma->connecting && now - ma->last_tx >= hello_interval(ma)) {
		struct gist_msg h;
		gist_msg_init(&h, GIST_MA_HELLO, 0);
		h.present = GIST_BIT(GIST_OBJ_HELLO);
		h.hello_id = 0;
		gist_ma_send(ma, &h, 0, 0, NULL, 0);
		if (ma->dead)
			return;
	}
	arm(ma);
}

static void ma_close(struct gist_ma *ma, const char *how)
{
	struct gist_node *n = ma->node;

	if (ma->dead)
		return;
	ma->dead = true;
	evloop_del_fd(n->loop, ma->fd);
	ma->fd = safe_close(ma->fd);
	ma->timer = evloop_timer_cancel(n->loop, ma->timer);
	for (struct gist_ma **pp = &n->mas; *pp; pp = &(*pp)->next)
		if (*pp == ma) {
			*pp = ma->next;
			break;
		}
	bool failed_new = !ma->proven && (ma->settling || ma->wq);
	if (failed_new && !ma->connecting)
		how = "messaging association reset by the peer right after the Confirm (not GIST "
		      "over TCP on that port?)";
	while (ma->settling) {
		struct gist_chunk *c = ma->settling;
		ma->settling = c->next;
		gist_status_push(n, c->nslpid, c->handle, GIST_FAILED, how);
		free(c);
	}
	ma->settling_tail = &ma->settling;
	while (ma->wq) {
		struct gist_chunk *c = ma->wq;
		ma->wq = c->next;
		if (c->handle)
			gist_status_push(n, c->nslpid, c->handle, GIST_FAILED, how);
		free(c);
	}
	ma->wq_tail = &ma->wq;
	ma->wq_bytes = 0;
	n->st.mas_open--;
	if (failed_new)
		gist_ma_bad_add(n, &ma->peer);
	gist_rs_ma_gone(n, ma, failed_new);
	/* Freed later: callers up the stack may still hold it. */
	ma->next = n->ma_dead;
	n->ma_dead = ma;
	gist_defer(n);
}

void gist_ma_close_all(struct gist_node *n)
{
	while (n->mas)
		ma_close(n->mas, "node shut down");
}

void gist_ma_reap(struct gist_node *n)
{
	while (n->ma_dead) {
		struct gist_ma *ma = n->ma_dead;
		n->ma_dead = ma->next;
		free(ma->rbuf);
		free(ma);
	}
}

/* ---- the listener ------------------------------------------------------------- */

static void acceptable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct gist_node *n = ctx;

	for (int i = 0; i < 16; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int c = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		if (n->st.mas_open >= MA_MAX || !ma_new(n, c, &peer, false))
			close(c);
	}
}

static int listen_one(struct gist_node *n, int family, int *ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = -1;
	static const uint8_t any[16];
	struct sockaddr_storage ss;
	int one = 1, r;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (family == AF_INET6 && errno == EAFNOSUPPORT)
			return 0;
		return err_set(err, errlen, -errno, "TCP socket: %s", strerror(errno));
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	gist_sa_set(&ss, family, any, n->port);
	if (bind(fd, (struct sockaddr *)&ss, gist_sa_len(&ss)) < 0) {
		r = -errno;
		if (family == AF_INET6 && r == -EADDRNOTAVAIL)
			return 0;
		return err_set(err, errlen, r, "binding TCP port %u (%s): %s", n->port,
		               family == AF_INET6 ? "IPv6" : "IPv4", strerror(-r));
	}
	if (listen(fd, 64) < 0)
		return err_set(err, errlen, -errno, "listen: %s", strerror(errno));
	r = evloop_add_fd(n->loop, fd, EPOLLIN, acceptable, n);
	if (r < 0)
		return err_set(err, errlen, r, "event loop: %s", strerror(-r));
	*ret = TAKE_FD(fd);
	return 0;
}

int gist_ma_listen(struct gist_node *n, char *err, size_t errlen)
{
	int r = listen_one(n, AF_INET, &n->tcp4, err, errlen);

	if (r < 0)
		return r;
	return n->udp6 >= 0 ? listen_one(n, AF_INET6, &n->tcp6, err, errlen) : 0;
}

/* ---- ports that failed as new MAs --------------------------------------------- */

void gist_ma_bad_add(struct gist_node *n, const struct sockaddr_storage *peer)
{
	unsigned i = n->ma_bad_next++ % GIST_MA_BAD;

	n->ma_bad[i].addr = *peer;
	n->ma_bad[i].until = evloop_now_ms() + MA_BAD_MS;
}

bool gist_ma_bad(struct gist_node *n, const struct sockaddr_storage *peer)
{
	uint64_t now = evloop_now_ms();

	for (unsigned i = 0; i < GIST_MA_BAD; i++)
		if (n->ma_bad[i].until > now && gist_sa_equal(&n->ma_bad[i].addr, peer))
			return true;
	return false;
}
