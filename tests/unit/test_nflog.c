/* nflog_parse(): NFLOG datagrams as the kernel writes them, and malformed
 * ones; and binding a group needs the privilege netservd has. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fwd/nflog.h"

struct msgbuf {
	uint8_t b[4096];
	size_t len;
	size_t msg; /* start of the message being built */
};

static void put(struct msgbuf *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void align(struct msgbuf *m)
{
	while (m->len % 4)
		m->b[m->len++] = 0;
}

static void msg_begin(struct msgbuf *m, uint16_t type, uint16_t group)
{
	m->msg = m->len;
	struct nlmsghdr h = {.nlmsg_type = type};
	put(m, &h, sizeof(h));
	struct nfgenmsg g = {
	        .nfgen_family = AF_INET, .version = NFNETLINK_V0, .res_id = htons(group)};
	put(m, &g, sizeof(g));
	align(m);
}

static void attr(struct msgbuf *m, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = {.nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type};
	put(m, &a, sizeof(a));
	put(m, p, n);
	align(m);
}

static void msg_end(struct msgbuf *m)
{
	uint32_t len = (uint32_t)(m->len - m->msg);
	memcpy(m->b + m->msg, &len, 4);
}

static void packet(struct msgbuf *m, uint16_t group, const char *prefix, const uint8_t *pl,
                   size_t n)
{
	msg_begin(m, NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET, group);
	struct nfulnl_msg_packet_hdr ph = {.hw_protocol = htons(0x0800), .hook = 2};
	attr(m, NFULA_PACKET_HDR, &ph, sizeof(ph));
	uint32_t in = htonl(7), mark = htonl(0x42);
	attr(m, NFULA_IFINDEX_INDEV, &in, 4);
	attr(m, NFULA_MARK, &mark, 4);
	if (prefix)
		attr(m, NFULA_PREFIX, prefix, strlen(prefix) + 1);
	if (pl)
		attr(m, NFULA_PAYLOAD, pl, n);
	msg_end(m);
}

struct got {
	struct nflog_sample s[8];
	int n;
};

static void collect(void *ctx, const struct nflog_sample *s)
{
	struct got *g = ctx;
	if (g->n < 8)
		g->s[g->n] = *s;
	g->n++;
}

static void test_parse(void **state)
{
	struct msgbuf m = {0};
	uint8_t pl[60];
	(void)state;
	for (size_t i = 0; i < sizeof(pl); i++)
		pl[i] = (uint8_t)i;
	packet(&m, 3, "NetMonitor_1.0", pl, sizeof(pl));
	packet(&m, 3, NULL, pl, 21); /* no prefix; an odd length (padded) */
	packet(&m, 3, "nopayload", NULL, 0);
	msg_begin(&m, NLMSG_DONE, 0);
	msg_end(&m);

	struct got g = {0};
	assert_int_equal(nflog_parse(m.b, m.len, collect, &g), 2);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.s[0].prefix, "NetMonitor_1.0");
	assert_int_equal(g.s[0].len, 60);
	assert_memory_equal(g.s[0].data, pl, 60);
	assert_int_equal(g.s[0].group, 3);
	assert_int_equal(g.s[0].hook, 2);
	assert_int_equal(g.s[0].hw_proto, 0x0800);
	assert_int_equal(g.s[0].indev, 7);
	assert_int_equal(g.s[0].mark, 0x42);
	assert_string_equal(g.s[1].prefix, "");
	assert_int_equal(g.s[1].len, 21);
	assert_int_equal(nflog_parse(m.b, 0, collect, &g), 0);
}

static void test_malformed(void **state)
{
	struct msgbuf m = {0};
	uint8_t pl[40] = {0x45};
	struct got g = {0};
	(void)state;

	packet(&m, 1, "x", pl, sizeof(pl));
	/* Cut anywhere inside: malformed, never a read past the end. */
	for (size_t cut = 1; cut < m.len; cut++) {
		g.n = 0;
		int r = nflog_parse(m.b, cut, collect, &g);
		assert_int_equal(r, -EBADMSG);
		assert_int_equal(g.n, 0);
	}
	/* A message length beyond the datagram, or below a header. */
	uint32_t bad = (uint32_t)m.len + 4;
	memcpy(m.b, &bad, 4);
	assert_int_equal(nflog_parse(m.b, m.len, collect, &g), -EBADMSG);
	bad = 4;
	memcpy(m.b, &bad, 4);
	assert_int_equal(nflog_parse(m.b, m.len, collect, &g), -EBADMSG);

	/* A prefix with no NUL that fills 64 bytes: refused. */
	struct msgbuf p = {0};
	char longp[80];
	memset(longp, 'a', sizeof(longp));
	msg_begin(&p, NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET, 1);
	attr(&p, NFULA_PREFIX, longp, sizeof(longp));
	attr(&p, NFULA_PAYLOAD, pl, sizeof(pl));
	msg_end(&p);
	g.n = 0;
	assert_int_equal(nflog_parse(p.b, p.len, collect, &g), -EBADMSG);
	assert_int_equal(g.n, 0);

	/* A short packet header attribute. */
	struct msgbuf h = {0};
	msg_begin(&h, NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET, 1);
	attr(&h, NFULA_PACKET_HDR, "\x08", 1);
	msg_end(&h);
	assert_int_equal(nflog_parse(h.b, h.len, collect, &g), -EBADMSG);
}

static void test_bind_bad(void **state)
{
	char err[160];
	(void)state;
	assert_int_equal(nflog_group_bind(1, 0, 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(nflog_group_bind(1, 0x10000, 0, err, sizeof(err)), -EINVAL);
	if (geteuid() != 0)
		return; /* the rest needs CAP_NET_ADMIN */
	/* One socket per group: a second bind is refused, with the reason. */
	int fd = nflog_group_bind(65001, 128, 0, err, sizeof(err));
	if (fd < 0)
		skip();
	assert_int_equal(nflog_group_bind(65001, 128, 0, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "another socket holds it"));
	close(fd);
}

/* What a container can do with the socket it is handed: as a process without
 * CAP_NET_ADMIN (uid 65534, as containers run), any message it sends on it
 * (unbinding the group, binding another) is refused by the kernel (EPERM),
 * and it cannot join a multicast group (conntrack events). */
static void test_holder_cannot_configure(void **state)
{
	char err[160];
	(void)state;
	if (geteuid() != 0)
		skip();
	int fd = nflog_group_bind(65002, 128, 0, err, sizeof(err));
	if (fd < 0)
		skip();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(10);
		struct {
			struct nlmsghdr h;
			struct nfgenmsg g;
			struct nlattr a;
			struct nfulnl_msg_config_cmd cmd;
			uint8_t pad[3];
		} m = {
		        .h = {.nlmsg_len = sizeof(m),
		              .nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG,
		              .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		              .nlmsg_seq = 1},
		        .g = {.nfgen_family = AF_UNSPEC,
		              .version = NFNETLINK_V0,
		              .res_id = htons(65002)},
		        .a = {.nla_len = NLA_HDRLEN + sizeof(struct nfulnl_msg_config_cmd),
		              .nla_type = NFULA_CFG_CMD},
		        .cmd = {.command = NFULNL_CFG_CMD_UNBIND},
		};
		struct sockaddr_nl k = {.nl_family = AF_NETLINK};
		if (sendto(fd, &m, sizeof(m), 0, (struct sockaddr *)&k, sizeof(k)) < 0)
			_exit(errno == EPERM ? 0 : 11);
		/* Sent: the answer must be an error, EPERM. */
		uint8_t buf[256];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		if (n < (ssize_t)(sizeof(*h) + sizeof(int)) || h->nlmsg_type != NLMSG_ERROR)
			_exit(12);
		struct nlmsgerr *e = NLMSG_DATA(h);
		if (e->error != -EPERM)
			_exit(13);
		int grp = 1; /* NFNLGRP_CONNTRACK_NEW */
		if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) == 0)
			_exit(14);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The group is still ours: a second bind is still refused. */
	assert_int_equal(nflog_group_bind(65002, 128, 0, err, sizeof(err)), -EPERM);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_bind_bad),
	        cmocka_unit_test(test_holder_cannot_configure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
