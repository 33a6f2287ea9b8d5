/* The sidecar group (daemon/sidecar_group.h) and its channel's codec
 * (daemon/sidecar_wire.h): round trips, malformed and forged datagrams,
 * membership on a virtual clock, installing on all, state sync, replay,
 * persistence, configuration. Three groups talk through an in-memory
 * network; requests are applied by a fake controller that answers 200. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "daemon/sidecar_group.h"
#include "daemon/sidecar_wire.h"
#include "ncm/ncm.h"

static const uint8_t KEY[SG_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* ---- codec ----------------------------------------------------------------- */

static void base(struct sg_msg *m, uint8_t type)
{
	*m = (struct sg_msg){.type = type, .seq = 42, .time_ms = 1700000000000ull};
	strcpy(m->group, "of-1");
	strcpy(m->sender, "node.a");
}

static void test_roundtrip(void **state)
{
	(void)state;
	uint8_t buf[SG_MAX_MSG];
	char err[200];
	struct sg_msg m, d;
	static const char ncm[] = "SETUP x NETSERV/0.1\nuser:janedoe\nsignature:abc\n\n";

	base(&m, SG_HEARTBEAT);
	m.version = 77;
	m.flags = SG_F_STARTING;
	int n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), 0);
	assert_int_equal(d.type, SG_HEARTBEAT);
	assert_int_equal(d.version, 77);
	assert_int_equal(d.flags, SG_F_STARTING);
	assert_int_equal(d.seq, 42);
	assert_string_equal(d.group, "of-1");
	assert_string_equal(d.sender, "node.a");

	base(&m, SG_REQUEST);
	m.id = 9;
	m.entry_version = 5;
	m.expires_ms = 123456;
	m.dst_family = 4;
	m.dst_len = 24;
	m.dst_addr[0] = 10;
	m.ncm = (const uint8_t *)ncm;
	m.ncm_len = strlen(ncm);
	m.flags = SG_F_REPLAY;
	n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), 0);
	assert_int_equal(d.id, 9);
	assert_int_equal(d.entry_version, 5);
	assert_int_equal(d.expires_ms, 123456);
	assert_int_equal(d.dst_family, 4);
	assert_int_equal(d.dst_len, 24);
	assert_int_equal(d.dst_addr[0], 10);
	assert_int_equal(d.ncm_len, strlen(ncm));
	assert_memory_equal(d.ncm, ncm, strlen(ncm));
	assert_int_equal(d.flags, SG_F_REPLAY);

	base(&m, SG_ANSWER);
	m.id = 9;
	m.status = 403;
	strcpy(m.reason, "not allowed here");
	n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), 0);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.reason, "not allowed here");
}

static void test_refused(void **state)
{
	(void)state;
	uint8_t buf[SG_MAX_MSG + 8], other[SG_KEY_LEN] = {9};
	char err[200];
	struct sg_msg m, d;
	base(&m, SG_HEARTBEAT);
	int n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_true(n > 0);
	/* another key */
	assert_int_equal(sg_decode(buf, (size_t)n, other, &d, err, sizeof(err)), -EACCES);
	assert_non_null(strstr(err, "MAC"));
	/* any flipped bit */
	for (int i = 0; i < n; i++) {
		buf[i] ^= 0x10;
		assert_true(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)) < 0);
		buf[i] ^= 0x10;
	}
	/* every truncation, with and without the key */
	for (int i = 0; i < n; i++) {
		assert_true(sg_decode(buf, (size_t)i, KEY, &d, err, sizeof(err)) < 0);
		(void)sg_decode(buf, (size_t)i, NULL, &d, err, sizeof(err));
	}
	/* magic, version, size */
	buf[0] = 'X';
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), -EPROTO);
	buf[0] = 'N';
	buf[3] = 2;
	assert_int_equal(sg_decode(buf, (size_t)n, KEY, &d, err, sizeof(err)), -EPROTO);
	buf[3] = SG_VERSION;
	memset(buf + n, 0, sizeof(buf) - (size_t)n);
	assert_int_equal(sg_decode(buf, SG_MAX_MSG + 1, NULL, &d, err, sizeof(err)), -EMSGSIZE);
	/* bad names and fields are not encoded */
	strcpy(m.sender, "bad name");
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	base(&m, SG_REQUEST);
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	static uint8_t big[SG_MAX_NCM + 1];
	m.ncm = big;
	m.ncm_len = sizeof(big);
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EMSGSIZE);
	m.ncm_len = 10;
	assert_int_equal(sg_encode(&m, KEY, buf, 40, err, sizeof(err)), -EMSGSIZE);
	m.dst_family = 4;
	m.dst_len = 33;
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	base(&m, 99);
	assert_int_equal(sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err)), -EINVAL);
	assert_true(sg_name_ok("a.b-c_9"));
	assert_false(sg_name_ok(""));
	assert_false(sg_name_ok("0123456789012345678901234567890123"));
}

/* ---- three groups on an in-memory network ------------------------------------ */

#define N 3
struct dgram {
	int from, to;
	size_t len;
	uint8_t buf[SG_MAX_MSG];
};

struct node {
	int i;
	struct sgroup *g;
	bool down; /* its datagrams are lost both ways */
	int submitted, ups, downs;
	char last[64];          /* the last request it applied: "METHOD target" */
	char flaps[256];        /* membership callbacks: "name+" / "name-" */
	struct ncm_msg *answer; /* the last answer to a requester */
};

static struct node nodes[N];
static struct dgram *queue[256];
static size_t nq;
static uint64_t now = 1000;
static struct sg_peer_cfg peers[N];
static char dir[64];

static int addr_index(const struct sockaddr *a)
{
	for (int i = 0; i < N; i++)
		if (((const struct sockaddr_in *)a)->sin_port ==
		    ((struct sockaddr_in *)&peers[i].addr)->sin_port)
			return i;
	return -1;
}

static const char *fake_ttl = "100"; /* what the fake controller answers */

static int fake_send(void *ctx, const struct sockaddr *to, socklen_t tolen, const uint8_t *buf,
                     size_t len)
{
	struct node *n = ctx;
	(void)tolen;
	int t = addr_index(to);
	if (t < 0 || nq == 256)
		return -EHOSTUNREACH;
	struct dgram *d = malloc(sizeof(*d));
	assert_non_null(d);
	d->from = n->i;
	d->to = t;
	d->len = len;
	memcpy(d->buf, buf, len);
	queue[nq++] = d;
	return 0;
}

static void fake_submit(void *ctx, const struct ncm_msg *req, const struct ncm_prefix *dst,
                        ctl_reply_fn *reply, void *rctx)
{
	struct node *n = ctx;
	(void)dst;
	n->submitted++;
	snprintf(n->last, sizeof(n->last), "%s %s", ncm_method_name(req->method), req->target);
	struct ncm_msg *r = ncm_response_new(NCM_OK, NULL);
	ncm_add(r, "ttl", fake_ttl);
	reply(rctx, r);
}

static void fake_forget(void *ctx, void *rctx)
{
	(void)ctx;
	(void)rctx;
}

static void on_member(void *ctx, const char *name, uint32_t of_port, const uint8_t mac[6],
                      bool has_mac, bool up)
{
	struct node *n = ctx;
	(void)mac;
	(void)has_mac;
	(void)of_port;
	*(up ? &n->ups : &n->downs) += 1;
	size_t l = strlen(n->flaps);
	snprintf(n->flaps + l, sizeof(n->flaps) - l, "%s%c ", name, up ? '+' : '-');
}

static void on_answer(void *ctx, struct ncm_msg *resp)
{
	struct node *n = ctx;
	ncm_free(n->answer);
	n->answer = resp;
}

/* Delivers everything queued (and what that causes); returns refusals. */
static int deliver(void)
{
	int refused = 0;
	while (nq) {
		struct dgram *d = queue[0];
		memmove(queue, queue + 1, --nq * sizeof(*queue));
		if (!nodes[d->from].down && !nodes[d->to].down && nodes[d->to].g) {
			char err[256];
			if (sgroup_input(nodes[d->to].g, d->buf, d->len,
			                 (struct sockaddr *)&peers[d->from].addr,
			                 peers[d->from].addr_len, now, err, sizeof(err)) < 0)
				refused++;
		}
		free(d);
	}
	return refused;
}

static void tick_all(unsigned ms)
{
	now += ms;
	for (int i = 0; i < N; i++)
		if (nodes[i].g && !nodes[i].down)
			sgroup_tick(nodes[i].g, now);
	deliver();
}

static void start_node(int i)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/n%d.state", dir, i);
	struct sgroup_settings s = {.group = "g1",
	                            .heartbeat_ms = 100,
	                            .dead_after_ms = 500,
	                            .answer_wait_ms = 1000,
	                            .peers = peers,
	                            .n_peers = N,
	                            .state_path = path};
	char name[8];
	snprintf(name, sizeof(name), "n%d", i);
	s.node = name;
	memcpy(s.key, KEY, SG_KEY_LEN);
	struct sgroup_ops ops = {.send = fake_send,
	                         .submit = fake_submit,
	                         .forget = fake_forget,
	                         .member = on_member,
	                         .ctx = &nodes[i],
	                         .member_ctx = &nodes[i]};
	nodes[i].i = i;
	assert_int_equal(sgroup_new(&s, &ops, now, &nodes[i].g, err, sizeof(err)), 0);
}

static int setup_net(void **state)
{
	(void)state;
	char text[256], err[200];
	snprintf(dir, sizeof(dir), "/tmp/test-sg.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof(text),
	         "n0@127.0.0.1:7001:1:02:00:00:00:00:01, n1@127.0.0.1:7002:2,"
	         "n2@127.0.0.1:7003");
	assert_int_equal(sgroup_parse_peers(text, peers, N, err, sizeof(err)), N);
	memset(nodes, 0, sizeof(nodes));
	for (int i = 0; i < N; i++)
		start_node(i);
	return 0;
}

static int teardown_net(void **state)
{
	(void)state;
	deliver();
	for (int i = 0; i < N; i++) {
		nodes[i].g = sgroup_free(nodes[i].g);
		ncm_free(nodes[i].answer);
		nodes[i].answer = NULL;
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct ncm_msg *request(const char *method, const char *target, bool signed_)
{
	char text[256];
	struct ncm_msg *m;
	char err[200];
	snprintf(text, sizeof(text), "%s %s NETSERV/0.1\nuser:janedoe\n%s\n", method, target,
	         signed_ ? "signature:c2ln\n" : "");
	assert_int_equal(ncm_parse(text, strlen(text), &m, err, sizeof(err)), 0);
	return m;
}

static void test_membership(void **state)
{
	(void)state;
	/* At start each reports itself up and the others down. */
	assert_string_equal(nodes[0].flaps, "n0+ n1- n2- ");
	tick_all(100);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			assert_true(sgroup_member_up(nodes[i].g, nodes[j].i == 0   ? "n0"
			                                         : nodes[j].i == 1 ? "n1"
			                                                           : "n2"));
	assert_string_equal(nodes[0].flaps, "n0+ n1- n2- n1+ n2+ ");
	/* n2 goes silent: down after dead_after_ms (500), not before. */
	nodes[2].down = true;
	tick_all(100);
	tick_all(100);
	tick_all(100);
	tick_all(100);
	assert_true(sgroup_member_up(nodes[0].g, "n2"));
	tick_all(100);
	assert_false(sgroup_member_up(nodes[0].g, "n2"));
	assert_false(sgroup_member_up(nodes[1].g, "n2"));
	assert_true(sgroup_member_up(nodes[0].g, "n1"));
	assert_string_equal(nodes[0].flaps, "n0+ n1- n2- n1+ n2+ n2- ");
	/* the whole list, as the OpenFlow driver takes it */
	struct sg_member_info info[2];
	assert_int_equal(sgroup_members(nodes[0].g, info, 2), 3);
	assert_string_equal(info[0].name, "n0");
	assert_true(info[0].self && info[0].up && info[0].has_mac);
	assert_int_equal(info[0].of_port, 1);
	assert_int_equal(info[0].mac[5], 1);
	assert_string_equal(info[1].name, "n1");
	assert_true(info[1].up && !info[1].self && !info[1].has_mac);
	assert_int_equal(info[1].of_port, 2);
	/* back with its next message */
	nodes[2].down = false;
	tick_all(100);
	assert_true(sgroup_member_up(nodes[0].g, "n2"));
	json_t *st = sgroup_status(nodes[0].g);
	assert_non_null(st);
	assert_int_equal(json_array_size(json_object_get(st, "members")), 3);
	json_decref(st);
}

static void test_install_on_all(void **state)
{
	(void)state;
	tick_all(100);
	struct ncm_msg *unsigned_ = request("SETUP", "m.a", false);
	assert_false(sgroup_submit(nodes[0].g, unsigned_, NULL, on_answer, &nodes[0]));
	ncm_free(unsigned_);

	struct ncm_msg *req = request("SETUP", "m.a", true);
	assert_true(sgroup_submit(nodes[0].g, req, NULL, on_answer, &nodes[0]));
	ncm_free(req);
	assert_null(nodes[0].answer); /* waits for the members */
	deliver();
	assert_non_null(nodes[0].answer);
	assert_int_equal(nodes[0].answer->code, 200);
	int seen = 0;
	for (size_t h = 0; h < nodes[0].answer->n_headers; h++)
		if (strcmp(nodes[0].answer->headers[h].name, "group-node") == 0) {
			assert_non_null(strstr(nodes[0].answer->headers[h].value, " 200"));
			seen++;
		}
	assert_int_equal(seen, 3);
	for (int i = 0; i < N; i++) {
		assert_int_equal(nodes[i].submitted, 1);
		assert_string_equal(nodes[i].last, "SETUP m.a");
		assert_int_equal(sgroup_version(nodes[i].g), 1);
	}
	/* The same request reaching n1 too (by signaling): n1 applies it and
	 * sends it on with a newer version; n0 and n2 know those bytes and do
	 * not apply them again (their controller would refuse the nonce). */
	req = request("SETUP", "m.a", true);
	assert_true(sgroup_submit(nodes[1].g, req, NULL, on_answer, &nodes[1]));
	ncm_free(req);
	deliver();
	assert_int_equal(nodes[1].submitted, 2);
	assert_int_equal(nodes[0].submitted, 1);
	assert_int_equal(nodes[2].submitted, 1);
	assert_int_equal(sgroup_version(nodes[0].g), 2);
	assert_non_null(nodes[1].answer);
	assert_int_equal(nodes[1].answer->code, 200);
	tick_all(100);
}

static void test_sync_after_restart(void **state)
{
	(void)state;
	tick_all(100);
	/* n2 down; a SETUP to n1 goes to n0 only; n2 gets it when back. */
	nodes[2].down = true;
	for (int k = 0; k < 6; k++)
		tick_all(100);
	struct ncm_msg *req = request("SETUP", "m.b", true);
	assert_true(sgroup_submit(nodes[1].g, req, NULL, on_answer, &nodes[1]));
	ncm_free(req);
	deliver();
	assert_non_null(nodes[1].answer);
	bool down_seen = false;
	for (size_t h = 0; h < nodes[1].answer->n_headers; h++)
		down_seen |= strcmp(nodes[1].answer->headers[h].value, "n2 down") == 0;
	assert_true(down_seen);
	assert_int_equal(nodes[2].submitted, 0);
	/* n2 restarts from its file (empty: it never had anything) */
	nodes[2].g = sgroup_free(nodes[2].g);
	nodes[2].down = false;
	start_node(2);
	tick_all(100);
	tick_all(100);
	assert_int_equal(nodes[2].submitted, 1);
	assert_string_equal(nodes[2].last, "SETUP m.b");
	assert_int_equal(sgroup_version(nodes[2].g), sgroup_version(nodes[1].g));
	/* no second replay */
	tick_all(100);
	tick_all(100);
	assert_int_equal(nodes[2].submitted, 1);
	/* A REMOVE from n2 reaches the two others; state survives restarts. */
	req = request("REMOVE", "m.b", true);
	assert_true(sgroup_submit(nodes[2].g, req, NULL, on_answer, &nodes[2]));
	ncm_free(req);
	deliver();
	assert_string_equal(nodes[0].last, "REMOVE m.b");
	assert_string_equal(nodes[1].last, "REMOVE m.b");
	uint64_t v = sgroup_version(nodes[0].g);
	nodes[0].g = sgroup_free(nodes[0].g);
	start_node(0);
	assert_int_equal(sgroup_version(nodes[0].g), v);
	json_t *st = sgroup_status(nodes[0].g);
	assert_int_equal(json_array_size(json_object_get(st, "entries")), 1);
	json_decref(st);
}

/* Expired requests are not replayed. */
static void test_expired_not_replayed(void **state)
{
	(void)state;
	tick_all(100);
	nodes[2].down = true;
	for (int k = 0; k < 6; k++)
		tick_all(100);
	fake_ttl = "1";
	struct ncm_msg *req = request("SETUP", "m.short", true);
	assert_true(sgroup_submit(nodes[0].g, req, NULL, on_answer, &nodes[0]));
	ncm_free(req);
	fake_ttl = "100";
	deliver();
	assert_int_equal(nodes[1].submitted, 1);
	/* The entry ends 1 s (wall clock) later: wait for it, with a deadline. */
	json_t *st = NULL;
	for (int k = 0; k < 60; k++) {
		json_decref(st);
		tick_all(100);
		st = sgroup_status(nodes[0].g);
		if (json_array_size(json_object_get(st, "entries")) == 0)
			break;
		usleep(50 * 1000);
	}
	assert_int_equal(json_array_size(json_object_get(st, "entries")), 0);
	json_decref(st);
	nodes[2].down = false;
	tick_all(100);
	tick_all(100);
	assert_int_equal(nodes[2].submitted, 0);
	/* A version out of range is refused (no wrap-around). */
	struct sg_msg m = {.type = SG_HEARTBEAT, .seq = UINT64_MAX - 1, .version = UINT64_MAX};
	m.time_ms = (uint64_t)time(NULL) * 1000;
	strcpy(m.group, "g1");
	strcpy(m.sender, "n0");
	uint8_t buf[512];
	char err[256];
	int n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(sgroup_input(nodes[1].g, buf, (size_t)n, (struct sockaddr *)&peers[0].addr,
	                              peers[0].addr_len, now, err, sizeof(err)),
	                 -ERANGE);
}

static void test_replay_and_strangers(void **state)
{
	(void)state;
	/* Capture n0's next heartbeat to n1, deliver it twice. */
	now += 100;
	sgroup_tick(nodes[0].g, now);
	struct dgram *hb = NULL;
	for (size_t i = 0; i < nq; i++)
		if (queue[i]->to == 1)
			hb = queue[i];
	assert_non_null(hb);
	char err[256];
	assert_int_equal(sgroup_input(nodes[1].g, hb->buf, hb->len,
	                              (struct sockaddr *)&peers[0].addr, peers[0].addr_len, now,
	                              err, sizeof(err)),
	                 0);
	assert_int_equal(sgroup_input(nodes[1].g, hb->buf, hb->len,
	                              (struct sockaddr *)&peers[0].addr, peers[0].addr_len, now,
	                              err, sizeof(err)),
	                 -ESTALE);
	assert_non_null(strstr(err, "replayed"));
	/* from another address than the member's */
	assert_int_equal(sgroup_input(nodes[1].g, hb->buf, hb->len,
	                              (struct sockaddr *)&peers[2].addr, peers[2].addr_len, now,
	                              err, sizeof(err)),
	                 -EPERM);
	/* forged: not the group's key */
	struct sg_msg m = {.type = SG_HEARTBEAT, .seq = UINT64_MAX / 2, .time_ms = 0};
	strcpy(m.group, "g1");
	strcpy(m.sender, "n0");
	uint8_t buf[512], other[SG_KEY_LEN] = {7};
	int n = sg_encode(&m, other, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(sgroup_input(nodes[1].g, buf, (size_t)n, (struct sockaddr *)&peers[0].addr,
	                              peers[0].addr_len, now, err, sizeof(err)),
	                 -EACCES);
	/* right key, a stale clock */
	n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(sgroup_input(nodes[1].g, buf, (size_t)n, (struct sockaddr *)&peers[0].addr,
	                              peers[0].addr_len, now, err, sizeof(err)),
	                 -ESTALE);
	/* right key, not a member */
	strcpy(m.sender, "n9");
	n = sg_encode(&m, KEY, buf, sizeof(buf), err, sizeof(err));
	assert_int_equal(sgroup_input(nodes[1].g, buf, (size_t)n, (struct sockaddr *)&peers[0].addr,
	                              peers[0].addr_len, now, err, sizeof(err)),
	                 -EPERM);
	json_t *st = sgroup_status(nodes[1].g);
	json_t *c = json_object_get(st, "counters");
	assert_int_equal(json_integer_value(json_object_get(c, "bad_mac")), 1);
	assert_true(json_integer_value(json_object_get(c, "replayed")) >= 2);
	json_decref(st);
}

static void test_config(void **state)
{
	(void)state;
	struct sg_peer_cfg p[4];
	char err[200];
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1:7000:3:aa:bb:cc:dd:ee:ff b@[::1]:7000:4", p,
	                                    4, err, sizeof(err)),
	                 2);
	assert_int_equal(p[0].of_port, 3);
	assert_true(p[0].has_mac);
	assert_int_equal(p[0].mac[5], 0xff);
	assert_int_equal(p[1].of_port, 4);
	assert_false(p[1].has_mac);
	assert_int_equal(p[1].addr.ss_family, AF_INET6);
	assert_int_equal(sgroup_parse_peers("", p, 4, err, sizeof(err)), 0);
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1", p, 4, err, sizeof(err)), -EINVAL);
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1:7000:0", p, 4, err, sizeof(err)), -EINVAL);
	assert_int_equal(sgroup_parse_peers("a@10.0.0.1:7000:1:zz", p, 4, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "MAC"));
	assert_int_equal(sgroup_parse_peers("a@1.2.3.4:1,a@1.2.3.4:2", p, 4, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(sgroup_parse_peers("bad name@1.2.3.4:1", p, 4, err, sizeof(err)), -EINVAL);

	/* the key file: mode, size */
	char path[] = "/tmp/test-sg-key.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789abcdef0123", 20), 20);
	close(fd);
	uint8_t k1[SG_KEY_LEN], k2[SG_KEY_LEN];
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(sgroup_read_key(path, k1, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(sgroup_read_key(path, k1, err, sizeof(err)), 0);
	assert_int_equal(sgroup_read_key(path, k2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, SG_KEY_LEN);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(sgroup_read_key(path, k1, err, sizeof(err)), -EINVAL);
	unlink(path);

	/* [sidecar] in netservd.conf */
	struct ns_config cfg;
	config_defaults(&cfg);
	const char *good = "[node]\nstate_dir=/tmp\nadmin_socket=/tmp/s\n[sidecar]\ngroup = g\n"
	                   "node = a\nkey_file = /k\nlisten = 10.0.0.1:7000\n"
	                   "peers = a@10.0.0.1:7000:1, b@10.0.0.2:7000:2\n";
	assert_int_equal(config_load_string(&cfg, "t", good, err, sizeof(err)), 0);
	assert_int_equal(cfg.sc_heartbeat_ms, 100);
	assert_int_equal(cfg.sc_dead_after_ms, 500);
	config_free(&cfg);
	config_defaults(&cfg);
	const char *bad = "[sidecar]\ngroup = g\nnode = a\nkey_file = /k\nlisten = 10.0.0.1:7000\n"
	                  "peers = b@10.0.0.2\n";
	assert_int_equal(config_load_string(&cfg, "t", bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[sidecar] peers"));
	config_free(&cfg);
	config_defaults(&cfg);
	const char *nokey = "[sidecar]\ngroup = g\nnode = a\nlisten = 10.0.0.1:7000\n";
	assert_int_equal(config_load_string(&cfg, "t", nokey, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "key_file"));
	config_free(&cfg);
	config_defaults(&cfg);
	const char *timers = "[sidecar]\ngroup = g\nnode = a\nkey_file = /k\nlisten = "
	                     "10.0.0.1:7000\nheartbeat_ms = 300\ndead_after_ms = 400\n";
	assert_int_equal(config_load_string(&cfg, "t", timers, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "twice"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_roundtrip),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test_setup_teardown(test_membership, setup_net, teardown_net),
	        cmocka_unit_test_setup_teardown(test_install_on_all, setup_net, teardown_net),
	        cmocka_unit_test_setup_teardown(test_sync_after_restart, setup_net, teardown_net),
	        cmocka_unit_test_setup_teardown(test_replay_and_strangers, setup_net, teardown_net),
	        cmocka_unit_test_setup_teardown(test_expired_not_replayed, setup_net, teardown_net),
	        cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
