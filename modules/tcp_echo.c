/* tcp-echo: a server module (module ABI 2) that echoes the bytes of every
 * TCP connection back to it, on IPv4 and IPv6, with backpressure: what the
 * peer does not take stays in a per-connection buffer, and the module stops
 * reading that connection until it drained (the kernel's window then holds
 * the peer back). End of stream from the peer: the rest is sent, then the
 * module half-closes and closes.
 * Properties: port (default 7). Counters: connections, bytes, open,
 * refused (connections beyond the publisher's limit). */
#include <netserv.h>

#define MAX_CONNS 2048
#define BUF_SIZE  2048

struct conn {
	bool used;
	bool eof; /* the peer ended its stream */
	uint32_t len, off;
	uint8_t buf[BUF_SIZE];
};

static struct conn conns[MAX_CONNS];
static int32_t listeners[2] = {-1, -1};
static int32_t c_conns, c_bytes, c_open, c_refused;

int32_t ns_init(void)
{
	uint32_t port = ns_prop_u32("port", 7);
	c_conns = ns_counter_id("connections");
	c_bytes = ns_counter_id("bytes");
	c_open = ns_counter_id("open");
	c_refused = ns_counter_id("refused");
	listeners[0] = ns_sock_listen(NS_SOCK_TCP, NS_IPV4, (uint16_t)port);
	listeners[1] = ns_sock_listen(NS_SOCK_TCP, NS_IPV6, (uint16_t)port);
	if (listeners[0] < 0 && listeners[1] < 0) {
		ns_logf(NS_LOG_ERR, "cannot listen on tcp port %u (%d)", port, listeners[0]);
		return listeners[0];
	}
	return 0;
}

static void conn_close(uint32_t id)
{
	ns_sock_close(id);
	conns[id].used = false;
	ns_counter_add(c_open, (uint64_t)-1);
}

/* Sends what is buffered. Returns false when the connection went away. */
static bool conn_flush(uint32_t id, struct conn *c)
{
	while (c->off < c->len) {
		int32_t n = ns_sock_send(id, c->buf + c->off, c->len - c->off, 0);
		if (n == -NS_EAGAIN)
			return true; /* WRITABLE follows */
		if (n < 0) {
			conn_close(id);
			return false;
		}
		c->off += (uint32_t)n;
	}
	c->off = c->len = 0;
	if (c->eof) {
		ns_sock_shutdown(id);
		conn_close(id);
		return false;
	}
	return true;
}

static void conn_event(uint32_t id, uint32_t events)
{
	struct conn *c = &conns[id];
	if (events & NS_SOCK_ERROR) {
		conn_close(id);
		return;
	}
	if ((events & NS_SOCK_WRITABLE) && !conn_flush(id, c))
		return;
	/* read only into an empty buffer: a peer that does not read its echo
	 * is not read either */
	while (c->len == 0 && !c->eof) {
		int32_t n = ns_sock_recv(id, c->buf, BUF_SIZE, 0);
		if (n == -NS_EAGAIN)
			return;
		if (n <= 0) {
			c->eof = true;
			if (n < 0) {
				conn_close(id);
				return;
			}
		} else {
			c->len = (uint32_t)n;
			ns_counter_add(c_bytes, (uint64_t)n);
		}
		if (!conn_flush(id, c))
			return;
	}
}

void ns_socket(uint32_t id, uint32_t events)
{
	if ((int32_t)id == listeners[0] || (int32_t)id == listeners[1]) {
		for (;;) {
			int32_t c = ns_sock_accept(id, 0);
			if (c == -NS_EMFILE) {
				ns_counter_add(c_refused, 1);
				continue; /* refused by the node; take the next */
			}
			if (c < 0)
				return;
			if (c >= MAX_CONNS) {
				ns_sock_close((uint32_t)c);
				ns_counter_add(c_refused, 1);
				continue;
			}
			conns[c].used = true;
			conns[c].eof = false;
			conns[c].len = conns[c].off = 0;
			ns_counter_add(c_conns, 1);
			ns_counter_add(c_open, 1);
		}
	}
	if (id < MAX_CONNS && conns[id].used)
		conn_event(id, events);
}
