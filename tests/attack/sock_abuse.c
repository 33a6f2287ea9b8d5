/* sock_abuse: a server module that misuses socket/1, for the tests of
 * tests/daemon/test_server_module.sh. Property `mode`:
 *   connect  connects (TCP) to the IPv4 address `to4` (a number, host order)
 *            port `port` at init and every 100 ms; counters connect_ok,
 *            connect_eperm, connect_other, connected, connect_error
 *   noread   listens on TCP `port`, accepts, never reads: counter accepted
 *   listen   listens on TCP `port` (outside the policy): counter
 *            listen_eperm or listen_ok
 * Every other case is accepted without error. */
#include <netserv.h>

static int32_t c_ok, c_eperm, c_other, c_connected, c_error, c_accepted;
static uint32_t mode; /* 1 connect, 2 noread, 3 listen */

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
	mode = ns_prop_is("mode", "connect") ? 1 : ns_prop_is("mode", "noread") ? 2 : 3;
	uint16_t port = (uint16_t)ns_prop_u32("port", 7);
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
	try_connect();
}

void ns_socket(uint32_t id, uint32_t events)
{
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
