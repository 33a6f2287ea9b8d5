/* Unit tests of the controller connection (src/fwd/of_conn.h) against a
 * scripted switch on loopback: the handshake and the order in which the table
 * is sent, BARRIER confirmation, echoes both ways, the dead-switch timeout,
 * bad input (each resets the connection with its reason; the listener stays),
 * a flood of PACKET_INs, a new connection replacing the current one,
 * address errors. The same code
 * against a real Open vSwitch: tests/daemon/test_openflow_ovs.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/of_conn.h"
#include "../lib/loop_wait.h"

#define COOKIE      0x4e53000000000000ull
#define COOKIE_MASK 0xffff000000000000ull
#define DPID        0x0000000000abcdefull
#define MAX_SEEN    64

/* The controller's side: what its callbacks saw. */
struct ctl {
	struct evloop *loop;
	struct of_conn *c;
	int ready;
	uint64_t dpid;
	unsigned refused;
	int down;
	char why[OF_ERR_LEN];
	int msgs;
};

/* The scripted switch: a blocking-free client socket and what it received. */
struct sw {
	int fd;
	bool eof;
	struct of_rx rx;
	int n;
	uint8_t type[MAX_SEEN];
	uint32_t xid[MAX_SEEN];
	struct of_msg msg[MAX_SEEN]; /* fixed fields only: data pointers go stale */
};

static struct ctl C;
static struct sw S;

static void on_ready(struct of_conn *c, uint64_t dpid, unsigned n_refused, void *ctx)
{
	C.ready++;
	C.dpid = dpid;
	C.refused = n_refused;
}

static void on_down(struct of_conn *c, const char *why, void *ctx)
{
	C.down++;
	snprintf(C.why, sizeof(C.why), "%s", why);
}

static void on_msg(struct of_conn *c, const struct of_msg *m, void *ctx)
{
	C.msgs++;
}

/* The table: a select group and two flows. */
static void table(struct of_msg *t)
{
	of_msg_init(&t[0], OFPT_GROUP_MOD, 0);
	t[0].group_mod.type = OFPGT_SELECT;
	t[0].group_mod.group_id = 1;
	t[0].group_mod.n_buckets = 1;
	t[0].group_mod.buckets[0].weight = 1;
	t[0].group_mod.buckets[0].actions.n = 1;
	t[0].group_mod.buckets[0].actions.a[0].port = 2;
	for (int i = 1; i < 3; i++) {
		of_msg_init(&t[i], OFPT_FLOW_MOD, 0);
		t[i].flow_mod.cookie = COOKIE | (uint64_t)i;
		t[i].flow_mod.priority = (uint16_t)(100 * i);
		t[i].flow_mod.instrs.n = 1;
		t[i].flow_mod.instrs.i[0].type = OFPIT_APPLY_ACTIONS;
		t[i].flow_mod.instrs.i[0].actions.n = 1;
		t[i].flow_mod.instrs.i[0].actions.a[0].type = OFPAT_GROUP;
		t[i].flow_mod.instrs.i[0].actions.a[0].group_id = 1;
	}
}

static void ctl_start(unsigned echo_interval, unsigned echo_timeout, size_t max_msg)
{
	struct of_conn_cfg cfg = {
	        .listen = "127.0.0.1:0",
	        .echo_interval_ms = echo_interval,
	        .echo_timeout_ms = echo_timeout,
	        .max_msg = max_msg,
	        .cookie = COOKIE,
	        .cookie_mask = COOKIE_MASK,
	        .on_ready = on_ready,
	        .on_down = on_down,
	        .on_msg = on_msg,
	};
	struct of_msg t[3];
	char err[OF_ERR_LEN] = "";

	memset(&C, 0, sizeof(C));
	assert_int_equal(evloop_new(&C.loop), 0);
	assert_int_equal(of_conn_new(C.loop, &cfg, &C.c, err, sizeof(err)), 0);
	assert_true(of_conn_port(C.c) > 0);
	table(t);
	assert_int_equal(of_conn_set_table(C.c, t, 3), 0);
}

static void ctl_stop(void)
{
	of_conn_free(C.c);
	evloop_free(C.loop);
}

/* ---- The scripted switch -------------------------------------------------------- */

static void sw_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(of_conn_port(C.c))};

	memset(&S, 0, sizeof(S));
	of_rx_reset(&S.rx, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	S.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	assert_true(S.fd >= 0);
	assert_true(connect(S.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EINPROGRESS);
}

static void sw_close(void)
{
	if (S.fd >= 0)
		close(S.fd);
	S.fd = -1;
}

static void sw_send_raw(const void *b, size_t n)
{
	assert_int_equal(send(S.fd, b, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void sw_send(const struct of_msg *m)
{
	uint8_t buf[OF_MAX_MSG];
	ssize_t n = of_encode(m, buf, sizeof(buf), NULL, 0);

	assert_true(n > 0);
	sw_send_raw(buf, (size_t)n);
}

/* Reads what arrived; records each message. */
static void sw_poll(void)
{
	for (;;) {
		size_t room;
		uint8_t *dst = of_rx_space(&S.rx, &room);
		ssize_t n = recv(S.fd, dst, room, 0);
		const uint8_t *msg;
		long k;

		if (n == 0)
			S.eof = true;
		if (n <= 0)
			return;
		of_rx_commit(&S.rx, (size_t)n);
		while ((k = of_rx_next(&S.rx, &msg, NULL, 0)) > 0) {
			assert_true(S.n < MAX_SEEN);
			assert_int_equal(of_decode(msg, (size_t)k, &S.msg[S.n], NULL, 0), 0);
			S.type[S.n] = msg[1];
			S.xid[S.n] = S.msg[S.n].hdr.xid;
			S.n++;
		}
		assert_true(k == 0);
	}
}

static int want_type;

static bool sw_has_pred(void *arg)
{
	sw_poll();
	for (int i = 0; i < S.n; i++)
		if (S.type[i] == want_type)
			return true;
	return false;
}

/* Runs the loop until the switch got a message of this type; returns its index. */
static int sw_wait(uint8_t type)
{
	want_type = type;
	if (!loop_wait_until(C.loop, sw_has_pred, NULL, 2000)) {
		print_message("the switch did not get %s\n", of_type_name(type));
		fail();
	}
	for (int i = 0; i < S.n; i++)
		if (S.type[i] == type)
			return i;
	return -1;
}

/* The switch got more than *arg messages. */
static bool sw_more_than(void *arg)
{
	sw_poll();
	return S.n > *(int *)arg;
}

static bool sw_eof_pred(void *arg)
{
	sw_poll();
	return S.eof;
}

static bool int_at_least(void *arg)
{
	return ((int *)arg)[0] >= ((int *)arg)[1];
}

/* Runs the loop until *counter >= n. */
static bool wait_count(int *counter, int n, unsigned ms)
{
	int pair[2];
	bool ok;

	for (uint64_t end = evloop_now_ms() + ms;;) {
		pair[0] = *counter;
		pair[1] = n;
		ok = loop_wait_until(C.loop, int_at_least, pair, 5);
		if (ok || *counter >= n)
			return true;
		if (evloop_now_ms() >= end)
			return false;
	}
}

/* HELLO, FEATURES, the table, BARRIER: the controller is ready. */
static void handshake(void)
{
	struct of_msg m;
	int i, ready = C.ready;

	sw_connect();
	sw_wait(OFPT_HELLO);
	of_msg_init(&m, OFPT_HELLO, 1);
	sw_send(&m);
	i = sw_wait(OFPT_FEATURES_REQUEST);
	of_msg_init(&m, OFPT_FEATURES_REPLY, S.xid[i]);
	m.features.datapath_id = DPID;
	m.features.n_tables = 254;
	sw_send(&m);
	i = sw_wait(OFPT_BARRIER_REQUEST);
	assert_int_equal(C.ready, ready);
	of_msg_init(&m, OFPT_BARRIER_REPLY, S.xid[i]);
	sw_send(&m);
	assert_true(wait_count(&C.ready, ready + 1, 2000));
	assert_true(of_conn_ready(C.c));
}

/* ---- Tests ---------------------------------------------------------------------- */

static void test_handshake_table_order(void **state)
{
	static const uint8_t order[] = {OFPT_HELLO,    OFPT_FEATURES_REQUEST, OFPT_SET_CONFIG,
	                                OFPT_FLOW_MOD, OFPT_GROUP_MOD,        OFPT_GROUP_MOD,
	                                OFPT_FLOW_MOD, OFPT_FLOW_MOD,         OFPT_BARRIER_REQUEST};
	struct of_msg m;
	int i;

	ctl_start(0, 0, 0);
	sw_connect();
	sw_wait(OFPT_HELLO);
	assert_true(S.msg[0].hello.has_bitmap && (S.msg[0].hello.bitmap & (1u << OF_VERSION)));
	/* A wrong BARRIER_REPLY xid is not the confirmation. */
	of_msg_init(&m, OFPT_HELLO, 1);
	sw_send(&m);
	i = sw_wait(OFPT_FEATURES_REQUEST);
	of_msg_init(&m, OFPT_FEATURES_REPLY, S.xid[i]);
	m.features.datapath_id = DPID;
	sw_send(&m);
	i = sw_wait(OFPT_BARRIER_REQUEST);
	assert_int_equal(S.n, (int)sizeof(order));
	for (int k = 0; k < S.n; k++)
		assert_int_equal(S.type[k], order[k]);
	/* Our flows deleted by cookie, every group deleted, then the table. */
	assert_int_equal(S.msg[3].flow_mod.command, OFPFC_DELETE);
	assert_int_equal(S.msg[3].flow_mod.table_id, OFPTT_ALL);
	assert_true(S.msg[3].flow_mod.cookie == COOKIE &&
	            S.msg[3].flow_mod.cookie_mask == COOKIE_MASK);
	assert_int_equal(S.msg[4].group_mod.command, OFPGC_DELETE);
	assert_int_equal(S.msg[4].group_mod.group_id, OFPG_ALL);
	assert_int_equal(S.msg[5].group_mod.group_id, 1);
	assert_int_equal(S.msg[6].flow_mod.priority, 100);
	assert_int_equal(S.msg[7].flow_mod.priority, 200);
	of_msg_init(&m, OFPT_BARRIER_REPLY, S.xid[i] + 1000);
	sw_send(&m);
	assert_true(wait_count(&C.msgs, 1, 1000)); /* handed to on_msg */
	assert_int_equal(C.ready, 0);
	/* The switch refuses the second flow: reported with the confirmation. */
	of_error_about(&m, OFPET_FLOW_MOD_FAILED, 0, NULL, 0);
	m.hdr.xid = S.xid[7];
	sw_send(&m);
	of_msg_init(&m, OFPT_BARRIER_REPLY, S.xid[i]);
	sw_send(&m);
	assert_true(wait_count(&C.ready, 1, 2000));
	assert_true(C.dpid == DPID);
	assert_int_equal(C.refused, 1);

	/* A new table while ready: sent again, confirmed again. */
	{
		struct of_msg t[3];

		table(t);
		S.n = 0;
		assert_int_equal(of_conn_set_table(C.c, t, 2), 0);
		i = sw_wait(OFPT_BARRIER_REQUEST);
		assert_int_equal(S.n, 5); /* delete flows, delete groups, group, flow, barrier */
		of_msg_init(&m, OFPT_BARRIER_REPLY, S.xid[i]);
		sw_send(&m);
		assert_true(wait_count(&C.ready, 2, 2000));
		assert_int_equal(C.refused, 0);
	}
	assert_int_equal(C.down, 0);
	sw_close();
	ctl_stop();
}

/* of_conn_update_table: a ready switch gets only the delta; the next
 * connection gets the new table whole; without a switch nothing is sent. */
static void test_update_table(void **state)
{
	struct of_msg t[3], delta;
	int i;

	ctl_start(60000, 120000, 0); /* no ECHO in the way */
	handshake();
	table(t);
	t[0].group_mod.n_buckets = 0; /* the new table: the group emptied ... */
	delta = t[0];
	delta.group_mod.command = OFPGC_MODIFY; /* ... by a GROUP_MOD modify */
	S.n = 0;
	assert_int_equal(of_conn_update_table(C.c, t, 2, &delta, 1), 0);
	i = sw_wait(OFPT_GROUP_MOD);
	assert_int_equal(i, 0);
	assert_int_equal(S.msg[0].group_mod.command, OFPGC_MODIFY);
	assert_int_equal(S.msg[0].group_mod.n_buckets, 0);
	/* Nothing else: a BARRIER or the whole table would follow at once. */
	assert_false(loop_wait_until(C.loop, sw_more_than, &(int){1}, 200));
	assert_int_equal(S.n, 1);
	assert_true(of_conn_ready(C.c));
	assert_true(of_conn_dpid(C.c) == DPID);
	/* The switch reconnects: the stored table (group + 1 flow), whole. */
	sw_close();
	assert_true(wait_count(&C.down, 1, 2000));
	S.n = 0;
	sw_connect();
	sw_wait(OFPT_HELLO);
	{
		struct of_msg m;

		of_msg_init(&m, OFPT_HELLO, 1);
		sw_send(&m);
		i = sw_wait(OFPT_FEATURES_REQUEST);
		of_msg_init(&m, OFPT_FEATURES_REPLY, S.xid[i]);
		m.features.datapath_id = DPID;
		sw_send(&m);
	}
	i = sw_wait(OFPT_BARRIER_REQUEST);
	/* HELLO, FEATURES_REQUEST, SET_CONFIG, delete flows, delete groups,
	 * the group (no bucket), one flow, BARRIER. */
	assert_int_equal(S.n, 8);
	assert_int_equal(S.type[5], OFPT_GROUP_MOD);
	assert_int_equal(S.msg[5].group_mod.command, OFPGC_ADD);
	assert_int_equal(S.msg[5].group_mod.n_buckets, 0);
	assert_int_equal(S.type[6], OFPT_FLOW_MOD);
	assert_int_equal(S.msg[6].flow_mod.priority, 100);
	sw_close();
	assert_true(wait_count(&C.down, 2, 2000));
	/* Without a switch: stored, nothing to send, no error. */
	assert_int_equal(of_conn_update_table(C.c, t, 1, &delta, 1), 0);
	ctl_stop();
}

static void test_echo(void **state)
{
	static const uint8_t data[3] = {1, 2, 3};
	struct of_msg m;
	int i;

	ctl_start(50, 300, 0);
	handshake();
	/* The switch's echo is answered with its xid and data. */
	S.n = 0;
	of_msg_init(&m, OFPT_ECHO_REQUEST, 77);
	m.echo.p = data;
	m.echo.len = 3;
	sw_send(&m);
	i = sw_wait(OFPT_ECHO_REPLY);
	assert_int_equal(S.xid[i], 77);
	/* An unknown type: ERROR BAD_TYPE, the connection stays. */
	{
		const uint8_t unknown[8] = {4, 30, 0, 8, 0, 0, 0, 5};

		sw_send_raw(unknown, 8);
		i = sw_wait(OFPT_ERROR);
		assert_int_equal(S.msg[i].error.type, OFPET_BAD_REQUEST);
		assert_int_equal(S.msg[i].error.code, OFPBRC_BAD_TYPE);
		assert_int_equal(S.xid[i], 5);
	}
	/* Answering our echoes keeps the connection for 5 timeouts. */
	for (uint64_t end = evloop_now_ms() + 1500; evloop_now_ms() < end;) {
		S.n = 0;
		i = sw_wait(OFPT_ECHO_REQUEST);
		of_msg_init(&m, OFPT_ECHO_REPLY, S.xid[i]);
		sw_send(&m);
	}
	assert_int_equal(C.down, 0);
	/* Silence: declared dead within the timeout and a tick. */
	{
		uint64_t t0 = evloop_now_ms();

		assert_true(wait_count(&C.down, 1, 2000));
		assert_non_null(strstr(C.why, "no answer"));
		assert_true(evloop_now_ms() - t0 < 600);
		assert_false(of_conn_ready(C.c));
	}
	assert_true(loop_wait_until(C.loop, sw_eof_pred, NULL, 1000));
	sw_close();
	/* The listener carries on. */
	handshake();
	sw_close();
	ctl_stop();
}

/* Connects, sends bytes (after a HELLO exchange if hello), waits for the
 * reset; checks its reason; then a good switch connects. */
static void bad(bool hello, const void *b, size_t n, const char *reason)
{
	int down = C.down;

	sw_connect();
	sw_wait(OFPT_HELLO);
	if (hello) {
		struct of_msg m;

		of_msg_init(&m, OFPT_HELLO, 1);
		sw_send(&m);
		sw_wait(OFPT_FEATURES_REQUEST);
	}
	sw_send_raw(b, n);
	assert_true(wait_count(&C.down, down + 1, 2000));
	if (!strstr(C.why, reason))
		print_message("reason \"%s\", expected \"%s\"\n", C.why, reason);
	assert_non_null(strstr(C.why, reason));
	assert_true(loop_wait_until(C.loop, sw_eof_pred, NULL, 1000));
	sw_close();
	handshake();
	sw_close();
	assert_true(wait_count(&C.down, down + 2, 2000)); /* the good one's close */
}

static void test_bad_input(void **state)
{
	static const uint8_t short_len[8] = {4, 2, 0, 4, 0, 0, 0, 1};
	static const uint8_t big[8] = {4, 13, 0x10, 0x00, 0, 0, 0, 1}; /* 4096 > 1024 */
	static const uint8_t flow_mod8[8] = {4, OFPT_FLOW_MOD, 0, 8, 0, 0, 0, 1};
	static const uint8_t v1_hello[8] = {1, 0, 0, 8, 0, 0, 0, 1};
	static const uint8_t hello2[16] = {4, 0, 0, 16, 0, 0, 0, 2, 0, 1, 0, 8, 0, 0, 0, 0x10};
	static const uint8_t barrier_req[8] = {4, OFPT_BARRIER_REQUEST, 0, 8, 0, 0, 0, 3};
	static const uint8_t bad_match[64] = {4, OFPT_FLOW_MOD, 0, 64, [48] = 0, 0, 0, 4};
	static const uint8_t features_early[32] = {4, OFPT_FEATURES_REPLY, 0, 32};
	uint8_t garbage[256];

	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 37 + 11);
	ctl_start(0, 0, 1024);
	bad(false, short_len, 8, "below the header's 8");
	bad(false, big, 8, "above the cap 1024");
	bad(false, flow_mod8, 8, "expected HELLO, got FLOW_MOD");
	bad(false, v1_hello, 8, "does not speak OpenFlow 1.3");
	bad(true, hello2, 16, "HELLO again");
	bad(true, barrier_req, 8, "the switch sent BARRIER_REQUEST");
	bad(true, bad_match, 64, "bad message from the switch: match: type 0");
	bad(false, garbage, sizeof(garbage), "");
	ctl_stop();
	/* FEATURES_REPLY twice: the second is out of order. */
	ctl_start(0, 0, 0);
	handshake();
	sw_send_raw(features_early, 32);
	assert_true(wait_count(&C.down, 1, 2000));
	assert_non_null(strstr(C.why, "FEATURES_REPLY out of order"));
	sw_close();
	ctl_stop();
}

static void test_replaced(void **state)
{
	int first;

	ctl_start(0, 0, 0);
	handshake();
	first = S.fd;
	S.fd = -1;
	handshake(); /* a second switch connection */
	assert_int_equal(C.down, 1);
	assert_non_null(strstr(C.why, "replaced"));
	assert_int_equal(C.ready, 2);
	/* The first one was closed. */
	{
		int keep = S.fd;
		bool eof = S.eof;

		S.fd = first;
		S.eof = false;
		assert_true(loop_wait_until(C.loop, sw_eof_pred, NULL, 1000));
		close(first);
		S.fd = keep;
		S.eof = eof;
	}
	sw_close();
	ctl_stop();
}

static bool never(void *arg)
{
	return false;
}

/* 20000 PACKET_INs as fast as the socket takes them: every one reaches
 * on_msg, the connection stays, an echo is still answered. */
static void test_packet_in_flood(void **state)
{
	enum { N = 20000 };
	static const uint8_t frame[60] = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00};
	uint8_t one[256], *all;
	struct of_msg m;
	size_t len, off = 0;
	ssize_t n;
	int i;

	ctl_start(0, 0, 0);
	handshake();
	of_msg_init(&m, OFPT_PACKET_IN, 0);
	m.packet_in.total_len = sizeof(frame);
	m.packet_in.match.fields = OF_M_IN_PORT;
	m.packet_in.match.in_port = 1;
	m.packet_in.data.p = frame;
	m.packet_in.data.len = sizeof(frame);
	n = of_encode(&m, one, sizeof(one), NULL, 0);
	assert_true(n > 0);
	len = (size_t)n * N;
	all = malloc(len);
	for (i = 0; i < N; i++)
		memcpy(all + (size_t)i * (size_t)n, one, (size_t)n);
	for (uint64_t end = evloop_now_ms() + 20000; off < len && evloop_now_ms() < end;) {
		ssize_t k = send(S.fd, all + off, len - off, MSG_NOSIGNAL);

		if (k > 0)
			off += (size_t)k;
		loop_wait_until(C.loop, never, NULL, 1);
	}
	free(all);
	assert_int_equal(off, len);
	assert_true(wait_count(&C.msgs, N, 10000));
	assert_int_equal(C.msgs, N);
	assert_int_equal(C.down, 0);
	assert_true(of_conn_ready(C.c));
	S.n = 0;
	of_msg_init(&m, OFPT_ECHO_REQUEST, 99);
	sw_send(&m);
	i = sw_wait(OFPT_ECHO_REPLY);
	assert_int_equal(S.xid[i], 99);
	sw_close();
	ctl_stop();
}

static void test_config_errors(void **state)
{
	struct of_conn_cfg cfg = {.listen = "localhost"};
	struct evloop *loop;
	struct of_conn *c, *c2;
	char err[OF_ERR_LEN] = "", addr[64];
	struct of_msg m;

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(of_conn_new(loop, &cfg, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "localhost"));
	cfg.listen = "127.0.0.1:70000";
	assert_int_equal(of_conn_new(loop, &cfg, &c, NULL, 0), -EINVAL);
	cfg.listen = "127.0.0.1:0";
	cfg.echo_interval_ms = 500;
	cfg.echo_timeout_ms = 500;
	assert_int_equal(of_conn_new(loop, &cfg, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "echo"));
	cfg.echo_interval_ms = cfg.echo_timeout_ms = 0;
	cfg.listen = "[::1";
	assert_int_equal(of_conn_new(loop, &cfg, &c, NULL, 0), -EINVAL);
	cfg.listen = "127.0.0.1:0";
	assert_int_equal(of_conn_new(loop, &cfg, &c, err, sizeof(err)), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", of_conn_port(c));
	cfg.listen = addr;
	assert_int_equal(of_conn_new(loop, &cfg, &c2, err, sizeof(err)), -EADDRINUSE);
	/* Only FLOW_MOD and GROUP_MOD make a table; nothing to send to yet. */
	of_msg_init(&m, OFPT_PACKET_OUT, 0);
	assert_int_equal(of_conn_set_table(c, &m, 1), -EINVAL);
	of_msg_init(&m, OFPT_FLOW_MOD, 0);
	m.flow_mod.match.fields = OF_M_UDP_DST; /* without its prerequisites */
	assert_int_equal(of_conn_set_table(c, &m, 1), -EINVAL);
	assert_int_equal(of_conn_send(c, &m), -ENOTCONN);
	assert_false(of_conn_ready(c));
	of_conn_free(c);
	of_conn_free(NULL);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_handshake_table_order),
	        cmocka_unit_test(test_update_table),
	        cmocka_unit_test(test_echo),
	        cmocka_unit_test(test_bad_input),
	        cmocka_unit_test(test_replaced),
	        cmocka_unit_test(test_packet_in_flood),
	        cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
