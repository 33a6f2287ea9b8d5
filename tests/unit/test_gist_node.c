/* Unit tests: the GIST node (src/gist/gist_node.c and friends) on loopback,
 * in a private network namespace (unshare(CLONE_NEWNET); needs root, else
 * skipped): two nodes in one process with a fake flow, plus crafted
 * messages from a plain UDP socket, the packet parsers and the cookie. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "gist/gist_api.h"
#include "gist/gist_node_int.h"
#include "gist/gist_wire.h"
#include "lib/evloop.h"
#include "../lib/loop_wait.h"
#include "../gist/gist_fixture.h"

#define NSLP_X 200 /* registered on both nodes */
#define NSLP_Y 201 /* registered on the querier only */

static struct evloop *loop;

/* ---- an NSLP that records what happens ---------------------------------------- */

struct nslp {
	struct gist_node *node;
	uint16_t nslpid;
	int n_recv;
	struct gist_recv_info info;
	uint8_t data[20000];
	size_t len;
	int n_status;
	uint32_t handle;
	enum gist_status status;
	char how[64];
	uint64_t status_at;
	bool echo; /* answer every downstream message upstream */
	int echo_r;
};

static void on_recv(void *ctx, const struct gist_recv_info *info, const uint8_t *data, size_t len)
{
	struct nslp *s = ctx;

	s->info = *info;
	memcpy(s->data, data, len < sizeof(s->data) ? len : sizeof(s->data));
	s->len = len;
	s->n_recv++;
	if (s->echo && !info->flow.upstream) {
		struct gist_flow f = info->flow;
		uint32_t h;
		f.upstream = true;
		s->echo_r = gist_send(s->node, info->nslpid, info->sid, &f, data, len, &h, NULL, 0);
	}
}

static void on_status(void *ctx, uint32_t handle, enum gist_status st, const char *how)
{
	struct nslp *s = ctx;

	s->n_status++;
	s->handle = handle;
	s->status = st;
	snprintf(s->how, sizeof(s->how), "%s", how);
	s->status_at = evloop_now_ms();
}

/* Nodes and iptables rules are undone by the teardown, also after a
 * failed assertion (so that one failure does not leave port 270 taken). */
static struct gist_node *live[8];
static char undo[4][256];

static struct gist_node *node_new(struct gist_config *c)
{
	struct gist_node *n = NULL;
	char err[256] = "";
	int r = gist_node_new(loop, c, &n, err, sizeof(err));

	if (r < 0)
		fail_msg("gist_node_new: %s", err);
	for (size_t i = 0; i < 8; i++)
		if (!live[i]) {
			live[i] = n;
			break;
		}
	return n;
}

static void node_free(struct gist_node *n)
{
	for (size_t i = 0; i < 8; i++)
		if (live[i] == n)
			live[i] = NULL;
	gist_node_free(n);
}

static int teardown(void **state)
{
	for (size_t i = 0; i < 8; i++)
		live[i] = gist_node_free(live[i]);
	for (size_t i = 0; i < 4; i++)
		if (undo[i][0]) {
			if (system(undo[i]) != 0)
				fprintf(stderr, "failed: %s\n", undo[i]);
			undo[i][0] = 0;
		}
	return 0;
}

static void nslp_attach(struct nslp *s, struct gist_node *n, uint16_t nslpid)
{
	memset(s, 0, sizeof(*s));
	s->node = n;
	s->nslpid = nslpid;
	assert_int_equal(gist_register(n, nslpid, on_recv, on_status, s), 0);
}

static void cfg_querier(struct gist_config *c)
{
	gist_config_defaults(c);
	c->node_id = "A";
	c->querier_only = true;
	c->querier_port = false; /* shares the host with the responder on 270 */
}

static void cfg_responder(struct gist_config *c)
{
	gist_config_defaults(c);
	c->node_id = "B";
}

static void flow_of(struct gist_flow *f, const char *src, const char *dst)
{
	memset(f, 0, sizeof(*f));
	f->family = strchr(dst, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(f->family, src, f->src), 1);
	assert_int_equal(inet_pton(f->family, dst, f->dst), 1);
}

static int send_text(struct nslp *s, const uint8_t sid[16], const struct gist_flow *f,
                     const char *text, uint32_t *h)
{
	uint8_t buf[256];
	size_t len = strlen(text);

	memcpy(buf, text, len);
	while (len % 4)
		buf[len++] = ' ';
	return gist_send(s->node, s->nslpid, sid, f, buf, len, h, NULL, 0);
}

/* ---- running the loop until something happened -------------------------------- */

static bool run_until(bool (*pred)(void *), void *ctx, unsigned ms)
{
	return loop_wait_until(loop, pred, ctx, ms);
}

static bool never(void *ctx)
{
	return false;
}

static void run_for(unsigned ms)
{
	run_until(never, NULL, ms);
}

struct count {
	int *p;
	int n;
};

static bool count_reached(void *ctx)
{
	struct count *c = ctx;
	return *c->p >= c->n;
}

static bool wait_count(int *p, int n, unsigned ms)
{
	struct count c = {p, n};
	return run_until(count_reached, &c, ms);
}

static struct gist_stats stats(struct gist_node *n)
{
	struct gist_stats st;
	gist_get_stats(n, &st);
	return st;
}

/* ---- a plain UDP socket speaking GIST ------------------------------------------- */

struct raw {
	int fd;
	uint8_t buf[65536];
	ssize_t len;
	struct gist_msg m;
};

static void raw_open(struct raw *r)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};

	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(r->fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(r->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
}

static uint16_t raw_port(struct raw *r)
{
	struct sockaddr_in sin;
	socklen_t l = sizeof(sin);
	getsockname(r->fd, (struct sockaddr *)&sin, &l);
	return ntohs(sin.sin_port);
}

static void raw_send_bytes(struct raw *r, const uint8_t *b, size_t len)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(GIST_PORT)};

	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(r->fd, b, len, 0, (struct sockaddr *)&to, sizeof(to)),
	                 (ssize_t)len);
}

static void raw_send(struct raw *r, struct gist_msg *m)
{
	uint8_t b[4096];
	char err[256] = "";
	ssize_t len = gist_encode(m, b, sizeof(b), err, sizeof(err));

	if (len < 0)
		fail_msg("encode: %s", err);
	raw_send_bytes(r, b, (size_t)len);
}

static bool raw_ready(void *ctx)
{
	struct raw *r = ctx;

	r->len = recv(r->fd, r->buf, sizeof(r->buf), MSG_DONTWAIT);
	return r->len > 0;
}

/* Receives and decodes one message, running the loop meanwhile. */
static bool raw_recv(struct raw *r, unsigned ms)
{
	char err[256] = "";

	if (!run_until(raw_ready, r, ms))
		return false;
	if (gist_decode(r->buf, (size_t)r->len, GIST_TRANSPORT_UDP, &r->m, NULL, err, sizeof(err)) <
	    0)
		fail_msg("decode: %s", err);
	return true;
}

static const uint8_t raw_pi[4] = {'r', 'a', 'w', '!'};

static void raw_nli(struct gist_nli *nli)
{
	memset(nli, 0, sizeof(*nli));
	nli->pi.p = raw_pi;
	nli->pi.len = sizeof(raw_pi);
	nli->ip_ttl = 64;
	nli->ipver = 4;
	nli->rs_validity = 30000;
	nli->if_addr.b[0] = 127;
	nli->if_addr.b[3] = 1;
}

static void raw_mri(struct gist_mri *mri)
{
	struct gist_flow f;
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	assert_int_equal(gist_flow_to_mri(&f, mri), 0);
}

static void raw_query(struct gist_msg *m, uint16_t nslpid, const uint8_t sid[16],
                      const uint8_t qc[4])
{
	gist_msg_init(m, GIST_QUERY, nslpid);
	m->present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	             GIST_BIT(GIST_OBJ_QCOOKIE);
	raw_mri(&m->mri);
	memcpy(m->sid, sid, 16);
	raw_nli(&m->nli);
	m->qcookie.p = qc;
	m->qcookie.len = 4;
}

static void sys(const char *cmd)
{
	if (system(cmd) != 0)
		fail_msg("command failed: %s", cmd);
}

/* Runs an iptables command with -A, and registers its -D for the teardown. */
static void rule_add(const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	sys(cmd);
	for (size_t i = 0; i < 4; i++)
		if (!undo[i][0]) {
			snprintf(undo[i], sizeof(undo[i]), "%s", cmd);
			char *a = strstr(undo[i], " -A ");
			if (a)
				a[2] = 'D';
			break;
		}
}

/* ---- the handshake, data both ways, reuse of routing state ---------------------- */

static void test_handshake(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);

	assert_int_equal(send_text(&a, sid, &f, "hello", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	assert_true(wait_count(&a.n_status, 1, 1000));
	assert_int_equal(a.status, GIST_SENT);
	assert_int_equal(a.handle, h);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "hello   ", 8);
	assert_true(b.info.first);
	assert_false(b.info.flow.upstream);
	assert_int_equal(b.info.nslpid, NSLP_X);
	assert_memory_equal(b.info.sid, sid, 16);
	/* Our Peer Identity: the node id NUL-padded to 4 bytes (what a
	 * re-padding relay such as NSIS-ka would make of it anyway). */
	assert_memory_equal(b.info.peer_id, "A\0\0\0", 4);
	assert_int_equal(b.info.peer_id_len, 4);
	assert_int_equal(b.info.gist_hops, 32); /* the Query's */
	assert_int_equal(stats(na).queries_sent, 1);
	assert_int_equal(stats(na).responses, 1);
	assert_int_equal(stats(nb).queries_received, 1);
	assert_int_equal(stats(nb).confirms, 1);
	assert_int_equal(stats(nb).routing_states, 1);

	/* Upstream, back to the querier's ephemeral port. */
	struct gist_flow up = b.info.flow;
	up.upstream = true;
	assert_int_equal(send_text(&b, sid, &up, "world", &h), 0);
	assert_true(wait_count(&a.n_recv, 1, 1000));
	assert_true(a.info.flow.upstream);
	assert_false(a.info.first);
	assert_memory_equal(a.data, "world   ", 8);
	assert_memory_equal(a.info.peer_id, "B", 1);
	assert_true(wait_count(&b.n_status, 1, 1000));
	assert_int_equal(b.status, GIST_SENT);

	/* Again downstream: D-mode Data on the routing state, no new Query. */
	assert_int_equal(send_text(&a, sid, &f, "again", &h), 0);
	assert_true(wait_count(&b.n_recv, 2, 1000));
	assert_false(b.info.first);
	assert_int_equal(b.info.gist_hops, 1);
	assert_memory_equal(b.data, "again   ", 8);
	assert_int_equal(stats(na).queries_sent, 1);
	assert_int_equal(stats(na).data_sent, 2);

	/* Upstream with a flow named differently (a protocol added): the
	 * session's state is found all the same. */
	up.proto = 17;
	assert_int_equal(send_text(&b, sid, &up, "other", &h), 0);
	assert_true(wait_count(&a.n_recv, 2, 1000));

	node_free(na);
	node_free(nb);
}

/* IPv6, the same way. */
static void test_handshake_ipv6(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	b.echo = true;
	flow_of(&f, "::1", "::1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&a, sid, &f, "six", &h), 0);
	assert_true(wait_count(&a.n_recv, 1, 1000));
	assert_int_equal(b.info.flow.family, AF_INET6);
	assert_int_equal(b.info.peer.ss_family, AF_INET6);
	assert_true(a.info.flow.upstream);
	assert_memory_equal(a.data, "six ", 4);
	node_free(na);
	node_free(nb);
}

/* ---- the responder keeps no state until a valid Confirm -------------------------- */

static void test_stateless_cookie(void **state)
{
	struct gist_config cb;
	struct nslp b;
	struct raw r;
	struct gist_msg q, c;
	uint8_t sid[16], qc[4] = {1, 2, 3, 4}, cookie[64];
	size_t clen;

	cfg_responder(&cb);
	struct gist_node *nb = node_new(&cb);
	nslp_attach(&b, nb, NSLP_X);
	raw_open(&r);
	gist_new_sid(sid);

	raw_query(&q, NSLP_X, sid, qc);
	raw_send(&r, &q);
	assert_true(raw_recv(&r, 1000));
	assert_true(r.m.magic);
	assert_int_equal(r.m.hdr.type, GIST_RESPONSE);
	assert_int_equal(r.m.hdr.hops, 1);
	assert_int_equal(r.m.hdr.flags, GIST_F_S | GIST_F_R);
	assert_true(r.m.mri.flags & GIST_MRI_D);
	assert_int_equal(r.m.qcookie.len, 4);
	assert_memory_equal(r.m.qcookie.p, qc, 4);
	assert_int_equal(r.m.rcookie.len, GIST_RCOOKIE_LEN);
	assert_int_equal(r.m.nli.ip_ttl, 0);
	assert_int_equal(r.m.nli.rs_validity, 30000);
	assert_int_equal(stats(nb).routing_states, 0); /* stateless */
	clen = r.m.rcookie.len;
	memcpy(cookie, r.m.rcookie.p, clen);

	/* A forged cookie: Object Value Error / Invalid Cookie, no state. */
	gist_msg_init(&c, GIST_CONFIRM, NSLP_X);
	c.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NLI) |
	            GIST_BIT(GIST_OBJ_RCOOKIE);
	raw_mri(&c.mri);
	memcpy(c.sid, sid, 16);
	raw_nli(&c.nli);
	uint8_t bad[64];
	memcpy(bad, cookie, clen);
	bad[clen - 1] ^= 1;
	c.rcookie.p = bad;
	c.rcookie.len = clen;
	raw_send(&r, &c);
	assert_true(raw_recv(&r, 1000));
	assert_int_equal(r.m.hdr.type, GIST_ERROR);
	assert_int_equal(r.m.error.code, GIST_E_OBJ_VALUE);
	assert_int_equal(r.m.error.subcode, GIST_SE_INVALID_COOKIE);
	assert_int_equal(stats(nb).routing_states, 0);

	/* The cookie for another session does not fit this one. */
	uint8_t sid2[16];
	memcpy(sid2, sid, 16);
	sid2[0] ^= 0xff;
	memcpy(c.sid, sid2, 16);
	c.rcookie.p = cookie;
	raw_send(&r, &c);
	assert_true(raw_recv(&r, 1000));
	assert_int_equal(r.m.hdr.type, GIST_ERROR);
	assert_int_equal(stats(nb).routing_states, 0);

	/* The real one, carrying data: state, and the data delivered as the
	 * session's first, from the raw socket's address and port. */
	memcpy(c.sid, sid, 16);
	c.present |= GIST_BIT(GIST_OBJ_NSLP);
	c.nslp.p = (const uint8_t *)"data";
	c.nslp.len = 4;
	raw_send(&r, &c);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	assert_int_equal(stats(nb).routing_states, 1);
	assert_int_equal(stats(nb).confirms, 1);
	assert_true(b.info.first);
	assert_int_equal(b.info.gist_hops, 32);
	assert_int_equal(gist_sa_port(&b.info.peer), raw_port(&r));
	assert_int_equal(b.info.peer_id_len, 4);

	/* Upstream now reaches the raw socket. */
	struct gist_flow up = b.info.flow;
	uint32_t h;
	up.upstream = true;
	assert_int_equal(send_text(&b, sid, &up, "back", &h), 0);
	assert_true(raw_recv(&r, 1000));
	assert_int_equal(r.m.hdr.type, GIST_DATA);
	assert_true(r.m.magic);
	assert_true(r.m.mri.flags & GIST_MRI_D);
	assert_memory_equal(r.m.nslp.p, "back", 4);

	close(r.fd);
	node_free(nb);
}

/* ---- last node: Endpoint Found, ICMP, back-off ----------------------------------- */

static void test_endpoint_found(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b, ay;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&ay, na, NSLP_Y);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&ay, sid, &f, "y", &h), 0);
	assert_true(wait_count(&ay.n_status, 1, 1000));
	assert_int_equal(ay.status, GIST_LAST_NODE);
	assert_string_equal(ay.how, "endpoint found");
	assert_int_equal(stats(nb).errors_sent, 1);
	assert_int_equal(stats(na).errors_received, 1);
	assert_int_equal(b.n_recv, 0);
	node_free(na);
	node_free(nb);
}

/* A full node whose flow ends at itself: its own Query comes back to its own
 * socket, which tells it at once. */
static void test_self_destination(void **state)
{
	struct gist_config cb;
	struct nslp b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	cfg_responder(&cb);
	struct gist_node *nb = node_new(&cb);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&b, sid, &f, "me", &h), 0);
	assert_true(wait_count(&b.n_status, 1, 1000));
	assert_int_equal(b.status, GIST_LAST_NODE);
	assert_string_equal(b.how, "this node is the flow destination");
	assert_int_equal(b.n_recv, 0);
	assert_int_equal(stats(nb).queries_received, 0);
	node_free(nb);
}

static void icmp_case(const char *addr)
{
	struct gist_config ca;
	struct nslp a;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	cfg_querier(&ca);
	struct gist_node *na = node_new(&ca);
	nslp_attach(&a, na, NSLP_X);
	flow_of(&f, addr, addr);
	gist_new_sid(sid);
	uint64_t t0 = evloop_now_ms();
	assert_int_equal(send_text(&a, sid, &f, "anyone?", &h), 0);
	assert_true(wait_count(&a.n_status, 1, 2000));
	assert_int_equal(a.status, GIST_LAST_NODE);
	assert_string_equal(a.how, "icmp port unreachable");
	assert_true(a.status_at - t0 < 90); /* before the first retransmission */
	assert_int_equal(stats(na).last_node_icmp, 1);
	assert_int_equal(stats(na).retransmissions, 0);

	/* Remembered: the next send knows at once, without a Query. */
	assert_int_equal(send_text(&a, sid, &f, "still?", &h), 0);
	assert_true(wait_count(&a.n_status, 2, 1000));
	assert_int_equal(a.status, GIST_LAST_NODE);
	assert_int_equal(stats(na).queries_sent, 1);
	node_free(na);
}

static void test_icmp_last_node(void **state)
{
	icmp_case("127.0.0.1");
	icmp_case("::1");
}

static void test_backoff_last_node(void **state)
{
	struct gist_config ca;
	struct nslp a;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	rule_add("iptables -A INPUT -p icmp --icmp-type port-unreachable -j DROP");
	cfg_querier(&ca);
	ca.t1_ms = 20;
	ca.t2_ms = 80;
	struct gist_node *na = node_new(&ca);
	nslp_attach(&a, na, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	uint64_t t0 = evloop_now_ms();
	assert_int_equal(send_text(&a, sid, &f, "anyone?", &h), 0);
	assert_true(wait_count(&a.n_status, 1, 2000));
	uint64_t took = a.status_at - t0;
	assert_int_equal(a.status, GIST_LAST_NODE);
	assert_string_equal(a.how, "timeout");
	/* Queries at 0, 20, 60 ms; given up at 140 ms. */
	assert_int_equal(stats(na).queries_sent, 3);
	assert_int_equal(stats(na).retransmissions, 2);
	assert_int_equal(stats(na).last_node_timeout, 1);
	assert_true(took >= 135 && took < 400);
	node_free(na);
}

/* ---- C-mode ---------------------------------------------------------------------- */

static void test_cmode(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16], big[4000];
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	b.echo = true;
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	assert_int_equal(gist_send(na, NSLP_X, sid, &f, big, sizeof(big), &h, NULL, 0), 0);
	assert_true(wait_count(&a.n_recv, 1, 2000));
	assert_int_equal(b.len, sizeof(big));
	assert_memory_equal(b.data, big, sizeof(big));
	assert_int_equal(b.echo_r, 0);
	assert_int_equal(a.len, sizeof(big)); /* upstream over the same MA */
	assert_memory_equal(a.data, big, sizeof(big));
	assert_true(wait_count(&a.n_status, 1, 1000));
	assert_int_equal(a.status, GIST_SENT);
	assert_string_equal(a.how, "sent (C-mode)");
	assert_int_equal(stats(na).mas_open, 1);
	assert_int_equal(stats(nb).mas_open, 1);
	assert_int_equal(stats(na).queries_sent, 1);

	/* A small one follows on the MA (in order after the large). */
	assert_int_equal(send_text(&a, sid, &f, "small", &h), 0);
	assert_true(wait_count(&a.n_recv, 2, 1000));
	assert_memory_equal(a.data, "small   ", 8);
	assert_true(wait_count(&a.n_status, 2, 1000));
	assert_string_equal(a.how, "sent (C-mode)");

	/* The querier goes away: the responder sees the MA close. */
	node_free(na);
	struct gist_stats st;
	for (int i = 0; i < 100; i++) {
		run_for(5);
		if (stats(nb).mas_open == 0)
			break;
	}
	st = stats(nb);
	assert_int_equal(st.mas_open, 0);
	node_free(nb);
}

/* Large upstream without an MA (only the querier opens them): one datagram. */
static void test_large_upstream_dmode(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16], big[3000];
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&a, sid, &f, "small", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	memset(big, 'u', sizeof(big));
	struct gist_flow up = b.info.flow;
	up.upstream = true;
	assert_int_equal(gist_send(nb, NSLP_X, sid, &up, big, sizeof(big), &h, NULL, 0), 0);
	assert_true(wait_count(&a.n_recv, 1, 1000));
	assert_int_equal(a.len, sizeof(big));
	assert_int_equal(stats(nb).mas_open, 0);
	assert_true(wait_count(&b.n_status, 1, 1000));
	assert_int_equal(b.status, GIST_SENT);
	node_free(na);
	node_free(nb);
}

/* A large message on D-mode routing state: a second Query proposes C-mode. */
static void test_cmode_upgrade(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16], big[2000] = {0};
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&a, sid, &f, "small", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	assert_int_equal(stats(na).mas_open, 0);
	assert_int_equal(gist_send(na, NSLP_X, sid, &f, big, sizeof(big), &h, NULL, 0), 0);
	assert_true(wait_count(&b.n_recv, 2, 1000));
	assert_int_equal(b.len, sizeof(big));
	assert_int_equal(stats(na).queries_sent, 2);
	assert_int_equal(stats(na).mas_open, 1);
	node_free(na);
	node_free(nb);
}

/* ---- soft state ------------------------------------------------------------------ */

static void test_refresh_expiry(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;
	char err[256];

	cfg_querier(&ca);
	ca.refresh_ms = 200;
	cfg_responder(&cb);
	cb.refresh_ms = 200;
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&a, sid, &f, "keep", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	/* Refreshed at half the validity (100-125 ms): a few handshakes. */
	run_for(400);
	assert_true(stats(na).queries_sent >= 3);
	assert_true(stats(nb).confirms >= 3);
	assert_int_equal(b.n_recv, 1); /* refreshes carry no data */
	assert_int_equal(stats(na).routing_states, 1);

	/* Unused for 4 refresh periods, the querier lets the state lapse; the
	 * responder's expires a validity time (at least 1 s) later. */
	uint64_t q = stats(na).queries_sent;
	run_for(1000);
	assert_int_equal(stats(na).routing_states, 0);
	assert_true(stats(na).queries_sent <= q + 4);
	for (int i = 0; i < 200 && stats(nb).routing_states; i++)
		run_for(10);
	assert_int_equal(stats(nb).routing_states, 0);
	struct gist_flow up = f;
	up.upstream = true;
	assert_int_equal(
	        gist_send(nb, NSLP_X, sid, &up, (const uint8_t *)"late", 4, &h, err, sizeof(err)),
	        -ENOENT);
	node_free(na);
	node_free(nb);
}

/* The responder restarts: its No Routing State makes the querier rediscover. */
static void test_restart_recovery(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&a, sid, &f, "one", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	node_free(nb);
	nb = node_new(&cb);
	nslp_attach(&b, nb, NSLP_X);
	assert_int_equal(send_text(&a, sid, &f, "lost", &h), 0);
	run_for(50);
	assert_int_equal(b.n_recv, 0);
	assert_int_equal(stats(nb).errors_sent, 1); /* No Routing State */
	assert_int_equal(send_text(&a, sid, &f, "three", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	assert_true(b.info.first);
	assert_memory_equal(b.data, "three   ", 8);
	assert_int_equal(stats(na).queries_sent, 2);
	node_free(na);
	node_free(nb);
}

/* ---- Error messages for bad input ----------------------------------------------- */

static void expect_error(struct raw *r, uint16_t code, uint8_t subcode)
{
	assert_true(raw_recv(r, 1000));
	assert_int_equal(r->m.hdr.type, GIST_ERROR);
	assert_true(r->m.magic);
	assert_int_equal(r->m.hdr.nslpid, 0);
	assert_int_equal(r->m.error.code, code);
	assert_int_equal(r->m.error.subcode, subcode);
}

static void test_errors(void **state)
{
	struct gist_config cb;
	struct nslp b;
	struct raw r;
	struct gist_msg m;
	uint8_t sid[16], qc[4] = {9, 9, 9, 9}, buf[1024];

	cfg_responder(&cb);
	struct gist_node *nb = node_new(&cb);
	nslp_attach(&b, nb, NSLP_X);
	raw_open(&r);
	gist_new_sid(sid);

	/* GIST hops 0. */
	raw_query(&m, NSLP_X, sid, qc);
	m.hdr.hops = 0;
	raw_send(&r, &m);
	expect_error(&r, GIST_E_HOP_LIMIT, 0);
	assert_int_equal(r.m.error.eclass, GIST_EC_PERMANENT);

	/* Data for an NSLPID nobody runs here. */
	gist_msg_init(&m, GIST_DATA, 77);
	m.present = GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) | GIST_BIT(GIST_OBJ_NSLP) |
	            GIST_BIT(GIST_OBJ_NLI);
	raw_mri(&m.mri);
	memcpy(m.sid, sid, 16);
	raw_nli(&m.nli);
	m.nslp.p = (const uint8_t *)"abcd";
	m.nslp.len = 4;
	raw_send(&r, &m);
	expect_error(&r, GIST_E_UNKNOWN_NSLPID, 0);

	/* Data without routing state. */
	m.hdr.nslpid = NSLP_X;
	raw_send(&r, &m);
	expect_error(&r, GIST_E_NO_ROUTING_STATE, 0);
	assert_true(r.m.error.has_sid);
	assert_memory_equal(r.m.error.sid, sid, 16);
	assert_int_equal(b.n_recv, 0);

	/* A Query without its NLI: Object Type Error / Missing Object, as the
	 * decoder finds it. */
	raw_query(&m, NSLP_X, sid, qc);
	ssize_t len = gist_encode(&m, buf, sizeof(buf), NULL, 0);
	assert_true(len > 0);
	size_t off = 12; /* magic, common header */
	while (off < (size_t)len && ((buf[off] & 0x0f) << 8 | buf[off + 1]) != GIST_OBJ_NLI)
		off += 4 + 4 * (size_t)((buf[off + 2] & 0x0f) << 8 | buf[off + 3]);
	assert_true(off < (size_t)len);
	size_t olen = 4 + 4 * (size_t)((buf[off + 2] & 0x0f) << 8 | buf[off + 3]);
	memmove(buf + off, buf + off + olen, (size_t)len - off - olen);
	len -= (ssize_t)olen;
	buf[6] = (uint8_t)(((size_t)len - 12) / 4 >> 8);
	buf[7] = (uint8_t)(((size_t)len - 12) / 4);
	raw_send_bytes(&r, buf, (size_t)len);
	expect_error(&r, GIST_E_OBJ_TYPE, GIST_SE_MISSING);
	assert_int_equal(stats(nb).routing_states, 0);

	/* Junk: no answer (nothing to answer). */
	raw_send_bytes(&r, (const uint8_t *)"junk", 4);
	assert_false(raw_recv(&r, 50));

	close(r.fd);
	node_free(nb);
}

/* ---- interception through NFQUEUE ------------------------------------------------ */

/* Looped-back packets pass PREROUTING with lo as their input device, so an
 * NFQUEUE rule there intercepts our own Queries like a router would. */
static void test_intercept(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, ay, b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;
	int q = 4000 + getpid() % 1000;

	rule_add("iptables -t mangle -A PREROUTING -i lo -d 127.0.0.9 -p udp --dport 270 "
	         "-j NFQUEUE --queue-num %d --queue-bypass",
	         q);
	cfg_querier(&ca);
	ca.router_alert = true;
	cfg_responder(&cb);
	cb.intercept_queue = q;
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&ay, na, NSLP_Y);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.9");
	gist_new_sid(sid);

	/* Registered: consumed and answered by the intercepting node. */
	assert_int_equal(send_text(&a, sid, &f, "caught", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	assert_memory_equal(b.data, "caught  ", 8);
	assert_int_equal(b.info.flow.dst[0], 127);
	assert_int_equal(b.info.flow.dst[3], 9);
	assert_int_equal(stats(nb).queries_received, 1);
	assert_int_equal(stats(nb).queries_relayed, 0);

	/* Not registered: relayed with the hop count decremented; it then
	 * reaches the same node's socket (127.0.0.9 is ours), which answers
	 * Endpoint Found. */
	assert_int_equal(send_text(&ay, sid, &f, "passing", &h), 0);
	assert_true(wait_count(&ay.n_status, 1, 1000));
	assert_int_equal(ay.status, GIST_LAST_NODE);
	assert_string_equal(ay.how, "endpoint found");
	assert_int_equal(stats(nb).queries_relayed, 1);

	node_free(na);
	node_free(nb);
}

/* With router_alert, IPv4 Queries carry option 148. */
static void test_router_alert(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16], pkt[2048];
	uint32_t h;
	int rawfd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_UDP);

	assert_true(rawfd >= 0);
	cfg_querier(&ca);
	ca.router_alert = true;
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(send_text(&a, sid, &f, "ra", &h), 0);
	assert_true(wait_count(&b.n_recv, 1, 1000));
	bool seen = false;
	ssize_t n;
	while ((n = recv(rawfd, pkt, sizeof(pkt), 0)) > 0) {
		struct gist_ippkt p;
		if (gist_ip_parse(pkt, (size_t)n, &p) == 0 && p.dport == GIST_PORT &&
		    p.payload_len > 11 && (pkt[p.payload_off + 10] & 0x7f) == GIST_QUERY) {
			seen = true;
			assert_true(p.rao);
			assert_int_equal(p.rao_value, 0);
		}
	}
	assert_true(seen);
	close(rawfd);
	node_free(na);
	node_free(nb);
}

/* ---- API contracts --------------------------------------------------------------- */

static void test_api_errors(void **state)
{
	struct gist_config ca, cb;
	struct nslp a, b;
	struct gist_flow f;
	uint8_t sid[16];
	uint32_t h;
	char err[256] = "";
	struct gist_node *dup = NULL;

	cfg_querier(&ca);
	cfg_responder(&cb);
	struct gist_node *na = node_new(&ca), *nb = node_new(&cb);
	nslp_attach(&a, na, NSLP_X);
	nslp_attach(&b, nb, NSLP_X);
	assert_int_equal(gist_register(na, NSLP_X, on_recv, on_status, &a), -EEXIST);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);
	assert_int_equal(
	        gist_send(na, NSLP_X, sid, &f, (const uint8_t *)"abc", 3, &h, err, sizeof(err)),
	        -EINVAL);
	assert_non_null(strstr(err, "multiple of 4"));
	assert_int_equal(
	        gist_send(na, 999, sid, &f, (const uint8_t *)"abcd", 4, &h, err, sizeof(err)),
	        -ENOENT);
	static uint8_t huge[GIST_MAX_OBJ + 4];
	assert_int_equal(gist_send(na, NSLP_X, sid, &f, huge, sizeof(huge), &h, err, sizeof(err)),
	                 -EMSGSIZE);
	struct gist_flow up = f;
	up.upstream = true;
	assert_int_equal(
	        gist_send(nb, NSLP_X, sid, &up, (const uint8_t *)"abcd", 4, &h, err, sizeof(err)),
	        -ENOENT);
	assert_non_null(strstr(err, "upstream"));
	struct gist_flow bad = f;
	bad.family = AF_UNIX;
	assert_int_equal(
	        gist_send(na, NSLP_X, sid, &bad, (const uint8_t *)"abcd", 4, &h, err, sizeof(err)),
	        -EINVAL);
	/* Port 270 taken. */
	assert_true(gist_node_new(loop, &cb, &dup, err, sizeof(err)) == -EADDRINUSE);
	assert_non_null(strstr(err, "270"));
	assert_null(dup);
	/* Statuses are never reported from inside gist_send(). */
	assert_int_equal(send_text(&a, sid, &f, "x", &h), 0);
	assert_int_equal(a.n_status, 0);
	assert_true(wait_count(&a.n_status, 1, 1000));
	node_free(na);
	node_free(nb);
	assert_null(gist_node_free(NULL));
}

/* ---- the packet parsers and the cookie, directly ---------------------------------- */

static size_t build_query_payload(uint8_t *buf, size_t size, uint8_t hops)
{
	struct gist_msg m;
	uint8_t sid[16] = {1}, qc[4] = {5, 6, 7, 8};

	raw_query(&m, NSLP_X, sid, qc);
	m.hdr.hops = hops;
	ssize_t n = gist_encode(&m, buf, size, NULL, 0);
	assert_true(n > 0);
	return (size_t)n;
}

static void test_ip_parser(void **state)
{
	uint8_t pkt[1024];
	struct gist_ippkt p;
	size_t pl;

	/* IPv4 with Router Alert (value 0), UDP checksum right. */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x46; /* IHL 6: 4 bytes of options */
	pkt[8] = 63;
	pkt[9] = IPPROTO_UDP;
	pkt[12] = 10, pkt[15] = 1;
	pkt[16] = 10, pkt[19] = 2;
	pkt[20] = 148, pkt[21] = 4;
	pl = build_query_payload(pkt + 32, sizeof(pkt) - 32, 32);
	pkt[24] = 0x01, pkt[25] = 0x0e; /* 270 */
	pkt[26] = 0x01, pkt[27] = 0x0e;
	pkt[28] = (uint8_t)((pl + 8) >> 8), pkt[29] = (uint8_t)(pl + 8);
	pkt[2] = (uint8_t)((pl + 32) >> 8), pkt[3] = (uint8_t)(pl + 32);
	assert_int_equal(gist_ip_parse(pkt, pl + 32, &p), 0);
	uint16_t c = gist_ip_udp_csum(pkt, &p);
	pkt[30] = (uint8_t)(c >> 8), pkt[31] = (uint8_t)c;
	assert_int_equal(gist_ip_parse(pkt, pl + 32, &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_true(p.rao);
	assert_int_equal(p.rao_value, 0);
	assert_int_equal(p.ttl, 63);
	assert_int_equal(p.dport, 270);
	assert_int_equal(p.payload_off, 32);
	assert_int_equal(p.payload_len, pl);
	assert_int_equal(gist_ip_set_hops(pkt, pl + 32, &p, 31), 0);
	assert_int_equal(pkt[32 + 5], 31);
	assert_int_equal(gist_ip_parse(pkt, pl + 32, &p), 0);
	assert_int_equal(p.csum, gist_ip_udp_csum(pkt, &p));
	/* Truncated, a fragment, not UDP. */
	assert_int_equal(gist_ip_parse(pkt, 30, &p), -EMSGSIZE);
	pkt[6] = 0x20; /* MF */
	assert_int_equal(gist_ip_parse(pkt, pl + 32, &p), -EPROTONOSUPPORT);
	pkt[6] = 0;
	pkt[9] = IPPROTO_TCP;
	assert_int_equal(gist_ip_parse(pkt, pl + 32, &p), -EPROTONOSUPPORT);

	/* IPv6 with a hop-by-hop Router Alert (value 42). */
	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x60;
	pkt[6] = 0; /* hop-by-hop */
	pkt[7] = 5;
	pkt[8] = 0xfd, pkt[23] = 1;
	pkt[24] = 0xfd, pkt[39] = 2;
	uint8_t hbh[8] = {IPPROTO_UDP, 0, 5, 2, 0, 42, 1, 0};
	memcpy(pkt + 40, hbh, 8);
	pl = build_query_payload(pkt + 56, sizeof(pkt) - 56, 2);
	pkt[48] = 0x9c, pkt[49] = 0x4e; /* 40014 */
	pkt[50] = 0x01, pkt[51] = 0x0e;
	pkt[52] = (uint8_t)((pl + 8) >> 8), pkt[53] = (uint8_t)(pl + 8);
	pkt[4] = (uint8_t)((pl + 16) >> 8), pkt[5] = (uint8_t)(pl + 16);
	assert_int_equal(gist_ip_parse(pkt, pl + 56, &p), 0);
	c = gist_ip_udp_csum(pkt, &p);
	pkt[54] = (uint8_t)(c >> 8), pkt[55] = (uint8_t)c;
	assert_int_equal(gist_ip_parse(pkt, pl + 56, &p), 0);
	assert_int_equal(p.family, AF_INET6);
	assert_true(p.rao);
	assert_int_equal(p.rao_value, 42);
	assert_int_equal(p.sport, 40014);
	assert_int_equal(p.ttl, 5);
	assert_int_equal(gist_ip_set_hops(pkt, pl + 56, &p, 1), 0);
	assert_int_equal(gist_ip_parse(pkt, pl + 56, &p), 0);
	assert_int_equal(p.csum, gist_ip_udp_csum(pkt, &p));
	pkt[41] = 1; /* hop-by-hop length past the packet */
	assert_int_equal(gist_ip_parse(pkt, 60, &p), -EMSGSIZE);

	/* A quoted Query cut after its SID still names MRI and SID. */
	uint8_t q[512];
	size_t ql = build_query_payload(q, sizeof(q), 32);
	struct gist_hdr hdr;
	struct gist_mri mri;
	uint8_t sid[16];
	struct gist_bytes qc;
	uint32_t found;
	assert_int_equal(gist_quoted_query(q, ql, &hdr, &mri, sid, &qc, &found), 0);
	assert_int_equal(found, GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID) |
	                                GIST_BIT(GIST_OBJ_QCOOKIE));
	assert_int_equal(hdr.nslpid, NSLP_X);
	assert_int_equal(gist_quoted_query(q, 12 + 4 + 16 + 4 + 16, &hdr, &mri, sid, &qc, &found),
	                 0);
	assert_int_equal(found, GIST_BIT(GIST_OBJ_MRI) | GIST_BIT(GIST_OBJ_SID));
	assert_int_equal(gist_quoted_query(q, 10, &hdr, &mri, sid, &qc, &found), -EMSGSIZE);
}

static void test_cookie(void **state)
{
	struct gist_cookie_ctx c;
	struct gist_mri mri;
	struct gist_nli nli;
	uint8_t sid[16] = {7}, ck[GIST_RCOOKIE_LEN];
	struct gist_cookie_in in = {.nslpid = 5,
	                            .sid = sid,
	                            .mri = &mri,
	                            .nli = &nli,
	                            .ifindex = 3,
	                            .port = 4242,
	                            .hops = 30,
	                            .ttl = 61};
	struct gist_cookie_in chk;

	raw_mri(&mri);
	raw_nli(&nli);
	gist_cookie_init(&c, 1000, 0);
	gist_cookie_make(&c, 10, &in, ck);
	chk = (struct gist_cookie_in){.nslpid = 5, .sid = sid, .mri = &mri, .nli = &nli};
	assert_int_equal(gist_cookie_check(&c, 20, &chk, ck, sizeof(ck)), 0);
	assert_int_equal(chk.port, 4242);
	assert_int_equal(chk.ifindex, 3);
	assert_int_equal(chk.hops, 30);
	assert_int_equal(chk.ttl, 61);
	/* Still good after one rotation, not after two. */
	assert_int_equal(gist_cookie_check(&c, 1500, &chk, ck, sizeof(ck)), 0);
	assert_int_equal(gist_cookie_check(&c, 2600, &chk, ck, sizeof(ck)), -ESTALE);
	gist_cookie_make(&c, 2600, &in, ck);
	/* Anything changed: refused. */
	chk.nslpid = 6;
	assert_int_equal(gist_cookie_check(&c, 2600, &chk, ck, sizeof(ck)), -EBADMSG);
	chk.nslpid = 5;
	ck[7] ^= 1; /* the port, under the MAC */
	assert_int_equal(gist_cookie_check(&c, 2600, &chk, ck, sizeof(ck)), -EBADMSG);
	ck[7] ^= 1;
	nli.if_addr.b[3] = 2;
	assert_int_equal(gist_cookie_check(&c, 2600, &chk, ck, sizeof(ck)), -EBADMSG);
	nli.if_addr.b[3] = 1;
	assert_int_equal(gist_cookie_check(&c, 2600, &chk, ck, sizeof(ck) - 4), -EBADMSG);
	assert_int_equal(gist_cookie_check(&c, 2600, &chk, ck, sizeof(ck)), 0);
}

/* d4 (netserv querier A --- NSIS-ka R --- netserv responder B): R re-sent our
 * Query (frame 54) as its own (frame 55), with the Peer Identity "nsq" re-
 * encoded as "nsq\0"; B's cookie covered that, and the Confirm (frame 58)
 * carries "nsq": the live run got "Invalid Cookie". The cookie now covers
 * the Peer Identity without its trailing NULs. */
static void test_cookie_repadded_pi(void **state)
{
	struct fixture f54, f55, f58;
	struct gist_msg q, rq, c;
	struct gist_cookie_ctx ctx;
	uint8_t ck[GIST_RCOOKIE_LEN];
	char err[GIST_ERR_LEN];

	(void)state;
	assert_int_equal(fixture_load("live-d4-f54.hex", &f54), 0);
	assert_int_equal(fixture_load("live-d4-f55.hex", &f55), 0);
	assert_int_equal(fixture_load("live-d4-f58.hex", &f58), 0);
	assert_int_equal(gist_decode(f54.b, f54.len, f54.tp, &q, NULL, err, sizeof(err)), 0);
	assert_int_equal(gist_decode(f55.b, f55.len, f55.tp, &rq, NULL, err, sizeof(err)), 0);
	assert_int_equal(gist_decode(f58.b, f58.len, f58.tp, &c, NULL, err, sizeof(err)), 0);
	assert_int_equal(q.hdr.type, GIST_QUERY);
	assert_int_equal(rq.hdr.type, GIST_QUERY);
	assert_int_equal(c.hdr.type, GIST_CONFIRM);
	/* What the relay changed: the hop count and the Peer Identity length. */
	assert_int_equal(q.hdr.hops, 32);
	assert_int_equal(rq.hdr.hops, 31);
	assert_int_equal(q.nli.pi.len, 3);
	assert_int_equal(rq.nli.pi.len, 4);
	assert_memory_equal(rq.nli.pi.p, "nsq\0", 4);
	assert_int_equal(c.nli.pi.len, 3);
	assert_memory_equal(q.sid, rq.sid, 16);
	assert_memory_equal(c.sid, rq.sid, 16);
	assert_true(gist_mri_equal(&q.mri, &rq.mri));
	assert_memory_equal(q.qcookie.p, rq.qcookie.p, q.qcookie.len);

	/* B answers the relayed Query; A confirms with its own NLI. */
	struct gist_cookie_in in = {.nslpid = rq.hdr.nslpid,
	                            .sid = rq.sid,
	                            .mri = &rq.mri,
	                            .nli = &rq.nli,
	                            .ifindex = 2,
	                            .port = 270,
	                            .hops = rq.hdr.hops,
	                            .ttl = 63};
	struct gist_cookie_in chk = {
	        .nslpid = c.hdr.nslpid, .sid = c.sid, .mri = &c.mri, .nli = &c.nli};
	gist_cookie_init(&ctx, 30000, 0);
	gist_cookie_make(&ctx, 1, &in, ck);
	assert_int_equal(gist_cookie_check(&ctx, 2, &chk, ck, sizeof(ck)), 0);
	assert_int_equal(chk.port, 270);
	assert_int_equal(chk.hops, 31);
	/* ... and the other way round (a relay that strips what we padded). */
	in.nli = &c.nli;
	chk.nli = &rq.nli;
	gist_cookie_make(&ctx, 1, &in, ck);
	assert_int_equal(gist_cookie_check(&ctx, 2, &chk, ck, sizeof(ck)), 0);
	/* Another Peer Identity is still refused. */
	struct gist_nli other = c.nli;
	other.pi.p = (const uint8_t *)"nsr";
	chk.nli = &other;
	assert_int_equal(gist_cookie_check(&ctx, 2, &chk, ck, sizeof(ck)), -EBADMSG);
	other.pi.p = (const uint8_t *)"nsq\0\0\0\0\1";
	other.pi.len = 8;
	assert_int_equal(gist_cookie_check(&ctx, 2, &chk, ck, sizeof(ck)), -EBADMSG);
}

/* ---- C-mode toward NSIS-ka (live captures a4/a6) ----------------------------------- */

struct fake_ka {
	int udp;    /* 127.0.0.1:270, answers Queries like NSIS-ka */
	int tcp[2]; /* listeners: profile 1 (TCP), profile 2 ("TLS") */
	uint16_t port[2];
	int conn[2]; /* accepted connections, -1 */
	struct sockaddr_in from;
	uint8_t buf[65536];
	ssize_t len;
};

static void fake_ka_open(struct fake_ka *k)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(GIST_PORT)};
	socklen_t sl = sizeof(sin);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	k->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_int_equal(bind(k->udp, (struct sockaddr *)&sin, sizeof(sin)), 0);
	for (int i = 0; i < 2; i++) {
		k->tcp[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		sin.sin_port = 0;
		assert_int_equal(bind(k->tcp[i], (struct sockaddr *)&sin, sizeof(sin)), 0);
		assert_int_equal(listen(k->tcp[i], 4), 0);
		assert_int_equal(getsockname(k->tcp[i], (struct sockaddr *)&sin, &sl), 0);
		k->port[i] = ntohs(sin.sin_port);
		k->conn[i] = -1;
	}
}

static void fake_ka_close(struct fake_ka *k)
{
	close(k->udp);
	for (int i = 0; i < 2; i++) {
		close(k->tcp[i]);
		if (k->conn[i] >= 0)
			close(k->conn[i]);
	}
}

static bool fake_ka_query(void *ctx)
{
	struct fake_ka *k = ctx;
	socklen_t sl = sizeof(k->from);

	k->len = recvfrom(k->udp, k->buf, sizeof(k->buf), 0, (struct sockaddr *)&k->from, &sl);
	return k->len > 0;
}

static bool fake_ka_accepted(void *ctx)
{
	struct fake_ka *k = ctx;

	for (int i = 0; i < 2; i++)
		if (k->conn[i] < 0)
			k->conn[i] = accept4(k->tcp[i], NULL, NULL, SOCK_NONBLOCK);
	return k->conn[0] >= 0 || k->conn[1] >= 0;
}

/* Waits for the querier's Query and answers it with NSIS-ka's Response of
 * a4 frame 23 (SP {TCP}, {TLS, TCP}; SCD TCP port per profile), our ports in
 * place of 30000 and 30001, the Query's MRI, SID and cookie in place of
 * theirs. */
static void fake_ka_respond(struct fake_ka *k)
{
	struct fixture fx;
	struct gist_msg q, r;
	uint8_t ports[2][2], out[2048];
	char err[GIST_ERR_LEN];

	assert_true(run_until(fake_ka_query, k, 2000));
	assert_int_equal(
	        gist_decode(k->buf, (size_t)k->len, GIST_TRANSPORT_UDP, &q, NULL, err, sizeof(err)),
	        0);
	assert_int_equal(q.hdr.type, GIST_QUERY);
	assert_true(q.present & GIST_BIT(GIST_OBJ_SP)); /* C-mode proposed */
	assert_int_equal(fixture_load("live-a4-f23.hex", &fx), 0);
	assert_int_equal(gist_decode(fx.b, fx.len, fx.tp, &r, NULL, err, sizeof(err)), 0);
	r.hdr.nslpid = q.hdr.nslpid;
	r.mri = q.mri;
	gist_mri_invert(&r.mri);
	memcpy(r.sid, q.sid, 16);
	r.qcookie = q.qcookie;
	r.nli.ipver = 4;
	memset(&r.nli.if_addr, 0, sizeof(r.nli.if_addr));
	r.nli.if_addr.b[0] = 127;
	r.nli.if_addr.b[3] = 1;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(gist_mpo_port(&r.scd.mpo[i]), 30000 + i);
		ports[i][0] = (uint8_t)(k->port[i] >> 8);
		ports[i][1] = (uint8_t)k->port[i];
		r.scd.mpo[i].data.p = ports[i];
	}
	ssize_t n = gist_encode(&r, out, sizeof(out), err, sizeof(err));
	assert_true(n > 0);
	assert_int_equal(
	        sendto(k->udp, out, (size_t)n, 0, (struct sockaddr *)&k->from, sizeof(k->from)), n);
}

static bool ka_data_ready(void *ctx)
{
	struct fake_ka *k = ctx;
	k->len = recv(k->udp, k->buf, sizeof(k->buf), 0);
	return k->len > 0;
}

static void test_cmode_nsiska_profiles(void **state)
{
	struct gist_config ca;
	struct nslp a;
	struct gist_flow f;
	struct fake_ka k;
	uint8_t sid[16], big[3000];
	uint32_t h;
	uint8_t b[4096];

	memset(big, 'x', sizeof(big));
	fake_ka_open(&k);
	cfg_querier(&ca);
	struct gist_node *na = node_new(&ca);
	nslp_attach(&a, na, NSLP_X);
	flow_of(&f, "127.0.0.1", "127.0.0.1");
	gist_new_sid(sid);

	/* 1. The MA goes to profile 1's port, never profile 2's (TLS). */
	assert_int_equal(gist_send(na, NSLP_X, sid, &f, big, sizeof(big), &h, NULL, 0), 0);
	fake_ka_respond(&k);
	assert_true(run_until(fake_ka_accepted, &k, 2000));
	assert_true(k.conn[0] >= 0);
	assert_true(k.conn[1] < 0);
	/* It stays open and takes the bytes: sent, after the settling time. */
	assert_true(wait_count(&a.n_status, 1, 2000));
	assert_int_equal(a.status, GIST_SENT);
	assert_string_equal(a.how, "sent (C-mode)");
	ssize_t got = 0, r;
	while ((r = recv(k.conn[0], b, sizeof(b), 0)) > 0)
		got += r;
	assert_true(got > 3000); /* Confirm + Data */
	node_free(na);
	close(k.conn[0]);
	k.conn[0] = -1;

	/* 2. The peer resets the MA right after the Confirm (as NSIS-ka's TLS
	 * port did): GIST_FAILED, not sent; the next send goes D-mode. */
	na = node_new(&ca);
	nslp_attach(&a, na, NSLP_X);
	gist_new_sid(sid);
	assert_int_equal(gist_send(na, NSLP_X, sid, &f, big, sizeof(big), &h, NULL, 0), 0);
	fake_ka_respond(&k);
	assert_true(run_until(fake_ka_accepted, &k, 2000));
	assert_true(k.conn[0] >= 0);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	for (int i = 0; i < 100 && recv(k.conn[0], b, sizeof(b), 0) <= 0; i++)
		run_for(5);
	setsockopt(k.conn[0], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(k.conn[0]); /* RST */
	k.conn[0] = -1;
	assert_true(wait_count(&a.n_status, 1, 2000));
	assert_int_equal(a.status, GIST_FAILED);
	assert_int_equal(a.handle, h);
	assert_non_null(strstr(a.how, "reset"));

	assert_int_equal(gist_send(na, NSLP_X, sid, &f, big, sizeof(big), &h, NULL, 0), 0);
	fake_ka_respond(&k); /* rediscovery: the same ports offered */
	/* The Confirm and the Data come D-mode (one datagram each), no MA. */
	bool data = false;
	for (int i = 0; i < 2 && !data; i++) {
		struct gist_msg m;
		assert_true(run_until(ka_data_ready, &k, 2000));
		assert_int_equal(
		        gist_decode(k.buf, (size_t)k.len, GIST_TRANSPORT_UDP, &m, NULL, NULL, 0),
		        0);
		data = m.hdr.type == GIST_DATA && m.nslp.len == sizeof(big);
	}
	assert_true(data);
	assert_false(fake_ka_accepted(&k));
	assert_true(wait_count(&a.n_status, 2, 2000));
	assert_int_equal(a.status, GIST_SENT);
	fake_ka_close(&k);
}

/* ---- main: a private network namespace ------------------------------------------- */

static int lo_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_cookie, teardown),
	        cmocka_unit_test_teardown(test_cookie_repadded_pi, teardown),
	        cmocka_unit_test_teardown(test_ip_parser, teardown),
	        cmocka_unit_test_teardown(test_handshake, teardown),
	        cmocka_unit_test_teardown(test_handshake_ipv6, teardown),
	        cmocka_unit_test_teardown(test_stateless_cookie, teardown),
	        cmocka_unit_test_teardown(test_endpoint_found, teardown),
	        cmocka_unit_test_teardown(test_self_destination, teardown),
	        cmocka_unit_test_teardown(test_icmp_last_node, teardown),
	        cmocka_unit_test_teardown(test_backoff_last_node, teardown),
	        cmocka_unit_test_teardown(test_cmode, teardown),
	        cmocka_unit_test_teardown(test_cmode_upgrade, teardown),
	        cmocka_unit_test_teardown(test_cmode_nsiska_profiles, teardown),
	        cmocka_unit_test_teardown(test_large_upstream_dmode, teardown),
	        cmocka_unit_test_teardown(test_refresh_expiry, teardown),
	        cmocka_unit_test_teardown(test_restart_recovery, teardown),
	        cmocka_unit_test_teardown(test_errors, teardown),
	        cmocka_unit_test_teardown(test_intercept, teardown),
	        cmocka_unit_test_teardown(test_router_alert, teardown),
	        cmocka_unit_test_teardown(test_api_errors, teardown),
	};

	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0 || lo_up() < 0) {
		printf("1..0 # SKIP needs root for a private network namespace\n");
		return 0;
	}
	if (evloop_new(&loop) < 0)
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	evloop_free(loop);
	return r;
}
