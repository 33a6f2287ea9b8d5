/* sock_abuse: a server module that misuses socket/1, for the tests of
 * tests/daemon/test_server_module.sh. Property `mode`:
 *   connect  connects (TCP) to the IPv4 address `to4` (a number, host order)
 *            port `port` at init and every 100 ms; counters connect_ok,
 *            connect_eperm, connect_other, connected, connect_error
 *   noread   listens on TCP `port`, accepts, never reads: counter accepted
 *   listen   listens on TCP `port` (outside the policy): counter
 *            listen_eperm or listen_ok
 *   udpsend  binds UDP `port` and sends a datagram to `to4` port 7 at init
 *            and every 100 ms, unasked: counters send_ok, send_eperm,
 *            send_other
 * Every other case is accepted without error. */
#include <netserv.h>

static int32_t c_ok, c_eperm, c_other, c_connected, c_error, c_accepted;
static int32_t c_send_ok, c_send_eperm, c_send_other, udp_sock = -1;
static uint32_t mode; /* 1 connect, 2 noread, 3 listen, 4 udpsend */

static void try_send(void)
{
	struct ns_sockaddr to = {NS_IPV4, 7, {0}};
	ns_put_be32(to.addr, ns_prop_u32("to4", 0));
	int32_t r = ns_sock_send((uint32_t)udp_sock, "unasked", 7, &to);
	ns_counter_add(r >= 0 ? c_send_ok : r == -NS_EPERM ? c_send_eperm : c_send_other, 1);
}

static void try_connect(void)
{
	uint32_t a = ns_prop_u32("to4", 0);
	struct ns_sockaddr to = {NS_IPV4, ns_prop_u32("port", 7), {0}};
	ns_put_be32(to.addr, a);
	int32_t r = ns_sock_connect(NS_SOCK_TCP, &to);
	if (r >= 0)
		ns_counter_add(c_ok, 1);
	else if (r == -NS_EPERM)
		ns_counter_add(c_eperm, 1);
	else
		ns_counter_add(c_other, 1);
}

int32_t ns_init(void)
{
	c_ok = ns_counter_id("connect_ok");
	c_eperm = ns_counter_id("connect_eperm");
	c_other = ns_counter_id("connect_other");
	c_connected = ns_counter_id("connected");
	c_error = ns_counter_id("connect_error");
	c_accepted = ns_counter_id("accepted");
	c_send_ok = ns_counter_id("send_ok");
	c_send_eperm = ns_counter_id("send_eperm");
	c_send_other = ns_counter_id("send_other");
	mode = ns_prop_is("mode", "connect")   ? 1
	       : ns_prop_is("mode", "noread")  ? 2
	       : ns_prop_is("mode", "udpsend") ? 4
	                                       : 3;
	uint16_t port = (uint16_t)ns_prop_u32("port", 7);
	if (mode == 4) {
		udp_sock = ns_sock_listen(NS_SOCK_UDP, NS_IPV4, port);
		if (udp_sock < 0)
			return udp_sock;
		try_send();
		return ns_timer_set(0, 100, true);
	}
	if (mode == 1) {
		try_connect();
		return ns_timer_set(0, 100, true);
	}
	int32_t r = ns_sock_listen(NS_SOCK_TCP, NS_IPV4, port);
	if (mode == 3)
		ns_counter_add(ns_counter_id(r == -NS_EPERM ? "listen_eperm" : "listen_ok"), 1);
	return 0;
}

void ns_timer(uint32_t id)
{
	(void)id;
	if (mode == 4)
		try_send();
	else
		try_connect();
}

void ns_socket(uint32_t id, uint32_t events)
{
	if (mode == 4) {
		char buf[64];
		while (ns_sock_recv(id, buf, sizeof(buf), 0) >= 0)
			;
		return;
	}
	if (mode == 1) {
		if (events & NS_SOCK_CONNECTED)
			ns_counter_add(c_connected, 1);
		if (events & NS_SOCK_ERROR)
			ns_counter_add(c_error, 1);
		ns_sock_close(id);
		return;
	}
	/* noread: take connections, never read them */
	while (ns_sock_accept(id, 0) >= 0)
		ns_counter_add(c_accepted, 1);
}
