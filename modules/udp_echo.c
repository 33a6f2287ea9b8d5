/* udp-echo: a server module (module ABI 2) that sends every UDP datagram it
 * receives back to its sender, on IPv4 and IPv6.
 * Properties: port (default 7). Counters: datagrams, bytes, send_errors.
 * The port must be one of the publisher's listen ports (udp:PORT). */
#include <netserv.h>

static int32_t c_dgrams, c_bytes, c_errors;
static uint8_t buf[65536];

int32_t ns_init(void)
{
	uint32_t port = ns_prop_u32("port", 7);
	c_dgrams = ns_counter_id("datagrams");
	c_bytes = ns_counter_id("bytes");
	c_errors = ns_counter_id("send_errors");
	int32_t s4 = ns_sock_listen(NS_SOCK_UDP, NS_IPV4, (uint16_t)port);
	int32_t s6 = ns_sock_listen(NS_SOCK_UDP, NS_IPV6, (uint16_t)port);
	if (s4 < 0 && s6 < 0) {
		ns_logf(NS_LOG_ERR, "cannot listen on udp port %u (%d)", port, s4);
		return s4;
	}
	return 0;
}

void ns_socket(uint32_t id, uint32_t events)
{
	struct ns_sockaddr from;
	if (!(events & NS_SOCK_READABLE))
		return;
	/* until -NS_EAGAIN: a socket is reported again only after that */
	for (int i = 0; i < 256; i++) {
		int32_t n = ns_sock_recv(id, buf, sizeof(buf), &from);
		if (n < 0)
			return;
		ns_counter_add(c_dgrams, 1);
		ns_counter_add(c_bytes, (uint64_t)n);
		if (ns_sock_send(id, buf, (uint32_t)n, &from) < 0)
			ns_counter_add(c_errors, 1);
	}
	/* more waiting: the node reports READABLE again since we read */
}
