/* The controller side of one OpenFlow switch connection (of_conn.h).
 *
 * States of the connection:
 *   none -> accept -> HELLO sent, waiting for the switch's HELLO
 *        -> FEATURES_REQUEST sent, waiting for FEATURES_REPLY
 *        -> SET_CONFIG, delete ours, the table, BARRIER sent: syncing
 *        -> BARRIER_REPLY: ready
 * Any protocol violation closes the connection with a reason; the
 * listening socket stays. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/of_conn.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"

#define OUT_MAX          (4u * 1024 * 1024) /* queued bytes before we give up */
#define TABLE_MAX        4096
#define XID_BARRIER      0x4e530000u /* our xids start here */
#define READS_PER_WAKEUP 4           /* reads of up to 128 KiB per EPOLLIN */

enum state {
	ST_NONE,
	ST_HELLO,    /* waiting for HELLO */
	ST_FEATURES, /* waiting for FEATURES_REPLY */
	ST_SYNCING,  /* waiting for the table's BARRIER_REPLY */
	ST_READY,
};

struct of_conn {
	struct evloop *loop;
	struct of_conn_cfg cfg;
	char *listen;
	int lfd;
	uint16_t port;
	int fd;
	enum state st;
	uint64_t dpid;
	struct of_rx *rx;
	uint8_t *out;
	size_t out_len, out_off;
	bool want_out;
	uint64_t last_rx;
	bool echo_out;
	struct evloop_timer *timer;
	uint32_t next_xid, barrier_xid;
	uint32_t sync_xid;  /* the first xid of the table's batch */
	unsigned n_refused; /* ERRORs about the batch before its barrier */
	struct of_msg *table;
	size_t n_table;
};

static void close_conn(struct of_conn *c, const char *fmt, ...)
        __attribute__((__format__(printf, 2, 3)));

static void close_conn(struct of_conn *c, const char *fmt, ...)
{
	char why[OF_ERR_LEN];
	va_list ap;

	if (c->fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	evloop_del_fd(c->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->st = ST_NONE;
	c->out_len = c->out_off = 0;
	c->want_out = false;
	of_rx_reset(c->rx, c->cfg.max_msg);
	if (c->cfg.on_down)
		c->cfg.on_down(c, why, c->cfg.ctx);
}

/* ---- Sending -------------------------------------------------------------------- */

static void flush_out(struct of_conn *c)
{
	while (c->fd >= 0 && c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			close_conn(c, "send: %s", strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->fd < 0)
		return;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->want_out != (c->out_len > 0)) {
		c->want_out = c->out_len > 0;
		evloop_mod_fd(c->loop, c->fd, EPOLLIN | (c->want_out ? EPOLLOUT : 0));
	}
}

/* Queues one message (xid 0: the next of ours). Does not flush. */
static int queue_msg(struct of_conn *c, const struct of_msg *m)
{
	char err[OF_ERR_LEN];
	struct of_msg copy;
	ssize_t n;

	if (c->fd < 0)
		return -ENOTCONN;
	if (c->out_off > 0 && c->out_len + OF_MAX_MSG > OUT_MAX) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + OF_MAX_MSG > OUT_MAX) {
		close_conn(c, "the switch does not read: %zu bytes queued", c->out_len);
		return -ENOBUFS;
	}
	copy = *m;
	if (copy.hdr.xid == 0)
		copy.hdr.xid = c->next_xid++;
	n = of_encode(&copy, c->out + c->out_len, OUT_MAX - c->out_len, err, sizeof(err));
	if (n < 0)
		return (int)n;
	c->out_len += (size_t)n;
	return 0;
}

int of_conn_send(struct of_conn *c, const struct of_msg *m)
{
	int r = queue_msg(c, m);

	if (r == 0)
		flush_out(c);
	return r;
}

/* Deletes our flows and all groups, adds the table, asks for a barrier. */
static void install_table(struct of_conn *c)
{
	struct of_msg m;
	int r = 0;

	c->sync_xid = c->next_xid;
	c->n_refused = 0;
	of_msg_init(&m, OFPT_FLOW_MOD, 0);
	m.flow_mod.command = OFPFC_DELETE;
	m.flow_mod.table_id = OFPTT_ALL;
	m.flow_mod.cookie = c->cfg.cookie;
	m.flow_mod.cookie_mask = c->cfg.cookie_mask;
	r = queue_msg(c, &m);
	of_msg_init(&m, OFPT_GROUP_MOD, 0);
	m.group_mod.command = OFPGC_DELETE;
	m.group_mod.group_id = OFPG_ALL;
	if (r == 0)
		r = queue_msg(c, &m);
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < c->n_table && r == 0; i++)
			if ((c->table[i].hdr.type == OFPT_GROUP_MOD) == (pass == 0))
				r = queue_msg(c, &c->table[i]);
	if (r == 0) {
		of_msg_init(&m, OFPT_BARRIER_REQUEST, 0);
		c->barrier_xid = c->next_xid;
		r = queue_msg(c, &m);
	}
	if (r < 0) {
		close_conn(c, "cannot send the table: %s", strerror(-r));
		return;
	}
	c->st = ST_SYNCING;
	flush_out(c);
}

/* Checks and copies a table into c->table. */
static int store_table(struct of_conn *c, const struct of_msg *msgs, size_t n)
{
	struct of_msg *t;

	if (n > TABLE_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		ssize_t len;

		if (msgs[i].hdr.type != OFPT_FLOW_MOD && msgs[i].hdr.type != OFPT_GROUP_MOD)
			return -EINVAL;
		len = of_encode(&msgs[i], NULL, 0, NULL, 0); /* refused now, not at connect */
		if (len < 0)
			return (int)len;
	}
	t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (n)
		memcpy(t, msgs, n * sizeof(*t));
	for (size_t i = 0; i < n; i++)
		t[i].hdr.xid = 0;
	free(c->table);
	c->table = t;
	c->n_table = n;
	return 0;
}

int of_conn_set_table(struct of_conn *c, const struct of_msg *msgs, size_t n)
{
	int r = store_table(c, msgs, n);

	if (r == 0 && (c->st == ST_SYNCING || c->st == ST_READY))
		install_table(c);
	return r;
}

int of_conn_update_table(struct of_conn *c, const struct of_msg *msgs, size_t n,
                         const struct of_msg *delta, size_t n_delta)
{
	int r = store_table(c, msgs, n);

	if (r < 0)
		return r;
	if (c->st == ST_SYNCING) {
		install_table(c); /* the batch in flight may predate the change */
		return 0;
	}
	if (c->st != ST_READY)
		return 0;
	for (size_t i = 0; i < n_delta && r == 0; i++)
		r = queue_msg(c, &delta[i]);
	if (r < 0) {
		close_conn(c, "cannot send a table change: %s", strerror(-r));
		return 0; /* the stored table goes whole at the next connection */
	}
	flush_out(c);
	return 0;
}

uint64_t of_conn_dpid(const struct of_conn *c)
{
	return c->dpid;
}

/* ---- Receiving ------------------------------------------------------------------ */

/* Answers an unsupported message with an ERROR, as OpenFlow asks. */
static void refuse(struct of_conn *c, const uint8_t *msg, size_t len, uint16_t type, uint16_t code)
{
	struct of_msg e;

	of_error_about(&e, type, code, msg, len);
	queue_msg(c, &e);
}

static void handle(struct of_conn *c, const uint8_t *buf, size_t len)
{
	char err[OF_ERR_LEN] = "";
	struct of_msg m;
	int r;

	if (c->st == ST_HELLO && buf[1] != OFPT_HELLO) {
		close_conn(c, "expected HELLO, got %s", of_type_name(buf[1]));
		return;
	}
	r = of_decode(buf, len, &m, err, sizeof(err));
	if (r == -EOPNOTSUPP && c->st != ST_HELLO) {
		refuse(c, buf, len, OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE);
		return;
	}
	if (r < 0) {
		refuse(c, buf, len, OFPET_BAD_REQUEST,
		       r == -EPROTO ? OFPBRC_BAD_VERSION : OFPBRC_BAD_LEN);
		flush_out(c);
		close_conn(c, "bad message from the switch: %s", err);
		return;
	}
	if (c->st == ST_HELLO) {
		bool ok = m.hello.has_bitmap ? (m.hello.bitmap >> OF_VERSION) & 1
		                             : m.hdr.version >= OF_VERSION;

		if (!ok) {
			of_msg_init(&m, OFPT_ERROR, m.hdr.xid);
			m.error.type = OFPET_HELLO_FAILED;
			m.error.code = OFPHFC_INCOMPATIBLE;
			queue_msg(c, &m);
			flush_out(c);
			close_conn(c, "the switch does not speak OpenFlow 1.3");
			return;
		}
		of_msg_init(&m, OFPT_FEATURES_REQUEST, 0);
		queue_msg(c, &m);
		c->st = ST_FEATURES;
		return;
	}
	switch (m.hdr.type) {
	case OFPT_HELLO:
		close_conn(c, "HELLO again, out of order");
		return;
	case OFPT_ECHO_REQUEST:
		m.hdr.type = OFPT_ECHO_REPLY;
		queue_msg(c, &m);
		return;
	case OFPT_ECHO_REPLY:
		c->echo_out = false;
		return;
	case OFPT_FEATURES_REPLY: {
		struct of_msg sc;

		if (c->st != ST_FEATURES) {
			close_conn(c, "FEATURES_REPLY out of order");
			return;
		}
		c->dpid = m.features.datapath_id;
		of_msg_init(&sc, OFPT_SET_CONFIG, 0);
		sc.config.miss_send_len = OFPCML_NO_BUFFER;
		queue_msg(c, &sc);
		install_table(c);
		return;
	}
	case OFPT_BARRIER_REPLY:
		if (c->st == ST_SYNCING && m.hdr.xid == c->barrier_xid) {
			c->st = ST_READY;
			if (c->cfg.on_ready)
				c->cfg.on_ready(c, c->dpid, c->n_refused, c->cfg.ctx);
			return;
		}
		break;
	case OFPT_ERROR:
		/* xids wrap: the batch is [sync_xid, barrier_xid). */
		if (c->st == ST_SYNCING && m.hdr.xid - c->sync_xid < c->barrier_xid - c->sync_xid)
			c->n_refused++;
		break;
	case OFPT_FEATURES_REQUEST:
	case OFPT_SET_CONFIG:
	case OFPT_FLOW_MOD:
	case OFPT_GROUP_MOD:
	case OFPT_PACKET_OUT:
	case OFPT_MULTIPART_REQUEST:
	case OFPT_BARRIER_REQUEST:
		close_conn(c, "the switch sent %s, a controller's message",
		           of_type_name(m.hdr.type));
		return;
	default:
		break;
	}
	if (c->cfg.on_msg)
		c->cfg.on_msg(c, &m, c->cfg.ctx);
}

static void on_io(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct of_conn *c = ctx;

	if (events & EPOLLOUT)
		flush_out(c);
	if (c->fd != fd || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	/* Bounded work per wakeup: a switch that floods us (PACKET_INs) cannot
	 * keep the loop from its other fds; epoll calls again for the rest. */
	for (int reads = 0; reads < READS_PER_WAKEUP; reads++) {
		size_t room;
		uint8_t *dst = of_rx_space(c->rx, &room);
		const uint8_t *msg;
		char err[OF_ERR_LEN];
		ssize_t n = read(fd, dst, room);
		long k = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			if (n == 0)
				close_conn(c, "the switch closed the connection");
			else
				close_conn(c, "receive: %s", strerror(errno));
			return;
		}
		c->last_rx = evloop_now_ms();
		of_rx_commit(c->rx, (size_t)n);
		while (c->fd == fd && (k = of_rx_next(c->rx, &msg, err, sizeof(err))) > 0)
			handle(c, msg, (size_t)k);
		if (c->fd != fd)
			return;
		if (k < 0) {
			close_conn(c, "bad stream from the switch: %s", err);
			return;
		}
	}
	flush_out(c);
}

/* ---- Keep-alive ----------------------------------------------------------------- */

static void on_timer(struct evloop *loop, void *ctx)
{
	struct of_conn *c = ctx;
	uint64_t idle;

	c->timer = evloop_timer_add(loop, c->cfg.echo_interval_ms / 2 + 1, on_timer, c);
	if (c->fd < 0)
		return;
	idle = evloop_now_ms() - c->last_rx;
	if (idle >= c->cfg.echo_timeout_ms) {
		close_conn(c, "no answer from the switch for %llu ms", (unsigned long long)idle);
		return;
	}
	if (idle >= c->cfg.echo_interval_ms && !c->echo_out && c->st != ST_HELLO) {
		struct of_msg m;

		of_msg_init(&m, OFPT_ECHO_REQUEST, 0);
		c->echo_out = of_conn_send(c, &m) == 0;
	}
}

/* ---- Listening ------------------------------------------------------------------ */

static void on_accept(struct evloop *loop, int lfd, uint32_t events, void *ctx)
{
	struct of_conn *c = ctx;
	struct of_msg hello;
	int fd, one = 1;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	close_conn(c, "replaced by a new connection");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (evloop_add_fd(loop, fd, EPOLLIN, on_io, c) < 0) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->st = ST_HELLO;
	c->dpid = 0;
	c->echo_out = false;
	c->last_rx = evloop_now_ms();
	of_rx_reset(c->rx, c->cfg.max_msg);
	of_msg_init(&hello, OFPT_HELLO, 0);
	of_conn_send(c, &hello);
}

/* Parses "a.b.c.d:port" or "[v6]:port". */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon;
	char *end;
	unsigned long port;
	size_t hl;

	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - s - 1);
		s++;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -EINVAL;
}

int of_conn_new(struct evloop *loop, const struct of_conn_cfg *cfg, struct of_conn **ret, char *err,
                size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct of_conn *c;
	int one = 1, r;

	if (!cfg->listen || parse_addr(cfg->listen, &ss, &sl) < 0)
		return err_set(err, errlen, -EINVAL, "bad listen address \"%s\" (ADDR:PORT)",
		               cfg->listen ? cfg->listen : "");
	if ((cfg->echo_timeout_ms ? cfg->echo_timeout_ms : 3000) <=
	    (cfg->echo_interval_ms ? cfg->echo_interval_ms : 1000))
		return err_set(err, errlen, -EINVAL, "echo timeout must exceed the echo interval");
	c = calloc(1, sizeof(*c));
	if (!c)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	c->loop = loop;
	c->cfg = *cfg;
	if (!c->cfg.echo_interval_ms)
		c->cfg.echo_interval_ms = 1000;
	if (!c->cfg.echo_timeout_ms)
		c->cfg.echo_timeout_ms = 3000;
	c->fd = -1;
	c->lfd = -1;
	c->next_xid = XID_BARRIER;
	c->listen = strdup(cfg->listen);
	c->cfg.listen = c->listen;
	c->rx = malloc(sizeof(*c->rx));
	c->out = malloc(OUT_MAX);
	c->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!c->listen || !c->rx || !c->out || c->lfd < 0) {
		r = c->lfd < 0 ? -errno : -ENOMEM;
		of_conn_free(c);
		return err_set(err, errlen, r, "cannot set up the controller: %s", strerror(-r));
	}
	of_rx_reset(c->rx, c->cfg.max_msg);
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(c->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(c->lfd, 4) < 0) {
		r = -errno;
		of_conn_free(c);
		return err_set(err, errlen, r, "listen on %s: %s", cfg->listen, strerror(-r));
	}
	sl = sizeof(ss);
	getsockname(c->lfd, (struct sockaddr *)&ss, &sl);
	c->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
	                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
	r = evloop_add_fd(loop, c->lfd, EPOLLIN, on_accept, c);
	c->timer = r == 0 ? evloop_timer_add(loop, c->cfg.echo_interval_ms / 2 + 1, on_timer, c)
	                  : NULL;
	if (r < 0 || !c->timer) {
		r = r < 0 ? r : -ENOMEM;
		of_conn_free(c);
		return err_set(err, errlen, r, "cannot watch the controller socket");
	}
	*ret = c;
	return 0;
}

void of_conn_free(struct of_conn *c)
{
	if (!c)
		return;
	c->cfg.on_down = NULL;
	close_conn(c, "closed");
	if (c->lfd >= 0) {
		evloop_del_fd(c->loop, c->lfd);
		close(c->lfd);
	}
	evloop_timer_cancel(c->loop, c->timer);
	free(c->table);
	free(c->rx);
	free(c->out);
	free(c->listen);
	free(c);
}

uint16_t of_conn_port(const struct of_conn *c)
{
	return c->port;
}

bool of_conn_ready(const struct of_conn *c)
{
	return c->st == ST_READY;
}
