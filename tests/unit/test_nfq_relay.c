/* Unit tests: nfq_relay_check(), netservd's check of the verdicts a container
 * asks it to send on the container's NFQUEUE socket (fwd/nfq_relay.h). What
 * the container's own nfq loop builds passes; anything else an escaped
 * container could send (another queue, another subsystem, NF_QUEUE to another
 * queue, marks, acks, malformed lengths) is refused. Also cmsg_send_fds():
 * two descriptors in one message, in order. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "fwd/nfq_relay.h"
#include "proto/cmsg.h"

static uint8_t buf[1 << 17];
static size_t len;
static char err[160];

/* Appends a verdict message as the container's nfq loop builds it. */
static struct nlmsghdr *add(int type, uint16_t queue, uint32_t id, int verdict, const uint8_t *data,
                            uint32_t dlen)
{
	struct nlmsghdr *h = nfq_nlmsg_put((char *)buf + len, type, queue);
	nfq_nlmsg_verdict_put(h, (int)id, verdict);
	if (data)
		nfq_nlmsg_verdict_put_pkt(h, data, dlen);
	len += h->nlmsg_len;
	return h;
}

static int check(uint16_t queue)
{
	return nfq_relay_check(buf, len, queue, err, sizeof(err));
}

static int setup(void **state)
{
	(void)state;
	memset(buf, 0, sizeof(buf));
	len = 0;
	return 0;
}

static void test_own_verdicts_pass(void **state)
{
	uint8_t pkt[60] = {0x45};
	add(NFQNL_MSG_VERDICT_BATCH, 7, 10, NF_ACCEPT, NULL, 0);
	add(NFQNL_MSG_VERDICT, 7, 11, NF_ACCEPT, pkt, sizeof(pkt));
	add(NFQNL_MSG_VERDICT, 7, 12, NF_DROP, NULL, 0);
	assert_int_equal(check(7), 3);
}

static void test_other_queue_refused(void **state)
{
	add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, NULL, 0);
	add(NFQNL_MSG_VERDICT, 8, 1, NF_ACCEPT, NULL, 0);
	assert_int_equal(check(7), -EPERM);
	assert_non_null(strstr(err, "queue 8"));
}

static void test_verdict_values(void **state)
{
	add(NFQNL_MSG_VERDICT, 7, 1, NF_QUEUE | (8 << 16), NULL, 0); /* into queue 8 */
	assert_int_equal(check(7), -EPERM);
	setup(state);
	add(NFQNL_MSG_VERDICT_BATCH, 7, 1, NF_REPEAT, NULL, 0);
	assert_int_equal(check(7), -EPERM);
	setup(state);
	add(NFQNL_MSG_VERDICT, 7, 1, NF_STOP, NULL, 0);
	assert_int_equal(check(7), -EPERM);
}

static void test_other_messages_refused(void **state)
{
	/* a queue config message (bind), a conntrack and an nf_tables type */
	struct nlmsghdr *h = nfq_nlmsg_put((char *)buf, NFQNL_MSG_CONFIG, 7);
	nfq_nlmsg_cfg_put_cmd(h, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	len = h->nlmsg_len;
	assert_int_equal(check(7), -EPERM);
	setup(state);
	h = add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, NULL, 0);
	h->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | 2;
	assert_int_equal(check(7), -EPERM);
	setup(state);
	h = add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, NULL, 0);
	h->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
	assert_int_equal(check(7), -EPERM);
	setup(state);
	h = add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, NULL, 0);
	h->nlmsg_flags |= NLM_F_ACK;
	assert_int_equal(check(7), -EPERM);
}

static void test_attributes(void **state)
{
	/* a mark (policy routing) is not the module's to set */
	struct nlmsghdr *h = add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, NULL, 0);
	mnl_attr_put_u32(h, NFQA_MARK, htonl(1));
	len = h->nlmsg_len;
	assert_int_equal(check(7), -EPERM);
	/* a payload on a batch verdict */
	setup(state);
	uint8_t pkt[40] = {0x45};
	add(NFQNL_MSG_VERDICT_BATCH, 7, 1, NF_ACCEPT, pkt, sizeof(pkt));
	assert_int_equal(check(7), -EPERM);
	/* a payload shorter than an IP header */
	setup(state);
	add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, pkt, 8);
	assert_int_equal(check(7), -EBADMSG);
	/* no verdict header */
	setup(state);
	h = nfq_nlmsg_put((char *)buf, NFQNL_MSG_VERDICT, 7);
	len = h->nlmsg_len;
	assert_int_equal(check(7), -EBADMSG);
}

static void test_malformed(void **state)
{
	assert_int_equal(nfq_relay_check(buf, 0, 7, err, sizeof(err)), -EBADMSG);
	struct nlmsghdr *h = add(NFQNL_MSG_VERDICT, 7, 1, NF_ACCEPT, NULL, 0);
	size_t whole = len;
	len = whole - 1; /* cut */
	assert_int_equal(check(7), -EBADMSG);
	len = whole + 3; /* trailing bytes */
	assert_int_equal(check(7), -EBADMSG);
	len = whole;
	h->nlmsg_len = 8; /* shorter than its headers */
	assert_int_equal(check(7), -EBADMSG);
	h->nlmsg_len = (uint32_t)whole + 100; /* longer than the datagram */
	assert_int_equal(check(7), -EBADMSG);
	h->nlmsg_len = (uint32_t)whole;
	struct nlattr *a =
	        (struct nlattr *)(buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
	a->nla_len = 200; /* attribute past the message */
	assert_int_equal(check(7), -EBADMSG);
	a->nla_len = 2;
	assert_int_equal(check(7), -EBADMSG);
}

static void test_cmsg_two_fds(void **state)
{
	int sv[2], p[2], q[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, q), 0);
	int fds[2] = {p[0], q[0]};
	assert_int_equal(cmsg_send_fds(sv[0], CMSG_ASSIGN, 5, 0, "{}", 2, fds, 2), 0);
	static uint8_t rx[CMSG_MAX];
	struct cmsg_hdr h;
	int e, got[2];
	assert_non_null(cmsg_recv_fds(sv[1], rx, sizeof(rx), &h, &e, got, 2));
	assert_int_equal(h.seq, 5);
	struct stat st;
	assert_int_equal(fstat(got[0], &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(fstat(got[1], &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* one slot: the second is closed, not leaked */
	assert_int_equal(cmsg_send_fds(sv[0], CMSG_ASSIGN, 6, 0, "{}", 2, fds, 2), 0);
	int one;
	assert_non_null(cmsg_recv_fd(sv[1], rx, sizeof(rx), &h, &e, &one));
	assert_int_equal(fstat(one, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	for (int i = 0; i < 2; i++) {
		close(got[i]);
		close(sv[i]);
		close(p[i]);
		close(q[i]);
	}
	close(one);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_own_verdicts_pass, setup),
	        cmocka_unit_test_setup(test_other_queue_refused, setup),
	        cmocka_unit_test_setup(test_verdict_values, setup),
	        cmocka_unit_test_setup(test_other_messages_refused, setup),
	        cmocka_unit_test_setup(test_attributes, setup),
	        cmocka_unit_test_setup(test_malformed, setup),
	        cmocka_unit_test(test_cmsg_two_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
