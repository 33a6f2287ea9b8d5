/* Unit tests: the verdict relay (runtime/verdict_relay.h). Channels placed on
 * the same CPU share one worker thread (nsrelay-c<cpu>), which goes with the
 * last of them; each channel's verdicts are relayed when they are for its own
 * queue and refused otherwise, also while other channels share the worker;
 * a relay closed while its container floods it is freed safely (ASan); a
 * queue is parked (its packets accepted by the kernel) until armed.
 * Needs root (it binds NFQUEUE queues, in a network namespace of its own);
 * skipped otherwise. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "lib/evloop.h"
#include "runtime/verdict_relay.h"

#define QBASE 3100

static struct evloop *loop;
static char err[256];

/* Threads of this process whose name is `name`. */
static int threads_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d))) {
		char path[300], comm[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
		n += strcmp(comm, name) == 0;
	}
	closedir(d);
	return n;
}

/* A verdict datagram as a container's nfq loop sends it: accept packet id. */
static size_t verdict(uint8_t *buf, uint16_t queue, uint32_t id)
{
	struct nlmsghdr *h = nfq_nlmsg_put((char *)buf, NFQNL_MSG_VERDICT, queue);
	nfq_nlmsg_verdict_put(h, (int)id, NF_ACCEPT);
	return h->nlmsg_len;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits (at most 5 s) until r's counters reach datagrams and refused. */
static bool counted(struct verdict_relay *r, uint64_t datagrams, uint64_t refused)
{
	struct verdict_relay_stats st;
	for (uint64_t end = now_ms() + 5000; now_ms() < end;) {
		verdict_relay_stats(r, &st);
		if (st.datagrams >= datagrams && st.refused >= refused)
			return st.datagrams == datagrams && st.refused == refused;
		usleep(1000);
	}
	return false;
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	if (unshare(CLONE_NEWNET) < 0)
		return -1;
	return evloop_new(&loop) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	loop = evloop_free(loop);
	return 0;
}

static void test_one_worker_per_cpu(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct verdict_relay *r[3];
	int fds[3][2];
	struct verdict_relay_sched on0 = {.cpu = 0};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(verdict_relay_open(loop, "t", (uint16_t)(QBASE + i), &on0, &r[i],
		                                    fds[i], err, sizeof(err)),
		                 0);
		assert_true(fds[i][0] >= 0 && fds[i][1] >= 0);
	}
	assert_int_equal(threads_named("nsrelay-c0"), 1);
	struct verdict_relay *other = NULL;
	int ofds[2] = {-1, -1};
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		struct verdict_relay_sched on1 = {.cpu = 1};
		assert_int_equal(verdict_relay_open(loop, "u", QBASE + 3, &on1, &other, ofds, err,
		                                    sizeof(err)),
		                 0);
		assert_int_equal(threads_named("nsrelay-c1"), 1);
		assert_int_equal(threads_named("nsrelay-c0"), 1);
	}
	/* Each channel relays for its own queue only, on the shared worker. */
	uint8_t buf[256];
	for (int i = 0; i < 3; i++) {
		size_t n = verdict(buf, (uint16_t)(QBASE + i), 1);
		assert_int_equal(send(fds[i][1], buf, n, 0), (ssize_t)n);
		n = verdict(buf, (uint16_t)(QBASE + (i + 1) % 3), 1); /* a neighbour's */
		assert_int_equal(send(fds[i][1], buf, n, 0), (ssize_t)n);
	}
	for (int i = 0; i < 3; i++)
		assert_true(counted(r[i], 1, 1));
	verdict_relay_close(r[1]);
	assert_int_equal(threads_named("nsrelay-c0"), 1);
	size_t n = verdict(buf, QBASE + 2, 2);
	assert_int_equal(send(fds[2][1], buf, n, 0), (ssize_t)n);
	assert_true(counted(r[2], 2, 1));
	verdict_relay_close(r[0]);
	verdict_relay_close(r[2]);
	assert_int_equal(threads_named("nsrelay-c0"), 0);
	verdict_relay_close(other);
	assert_int_equal(threads_named("nsrelay-c1"), 0);
	for (int i = 0; i < 3; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	if (ofds[0] >= 0) {
		close(ofds[0]);
		close(ofds[1]);
	}
}

static void test_close_while_flooded(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct verdict_relay_sched any = {.cpu = -1};
	for (int round = 0; round < 20; round++) {
		struct verdict_relay *a, *b;
		int fa[2], fb[2];
		assert_int_equal(
		        verdict_relay_open(loop, "a", QBASE + 10, &any, &a, fa, err, sizeof(err)),
		        0);
		assert_int_equal(
		        verdict_relay_open(loop, "b", QBASE + 11, &any, &b, fb, err, sizeof(err)),
		        0);
		uint8_t buf[256];
		size_t na = verdict(buf, QBASE + 10, 1);
		for (int i = 0; i < 200; i++)
			assert_int_equal(send(fa[1], buf, na, MSG_DONTWAIT), (ssize_t)na);
		verdict_relay_close(a); /* the worker may be relaying a's datagrams */
		size_t nb = verdict(buf, QBASE + 11, 1);
		assert_int_equal(send(fb[1], buf, nb, 0), (ssize_t)nb);
		assert_true(counted(b, 1, 0));
		verdict_relay_close(b);
		close(fa[0]);
		close(fa[1]);
		close(fb[0]);
		close(fb[1]);
	}
	assert_int_equal(threads_named("nsrelay-any"), 0);
}

/* Waits (at most 2 s) until fd is readable. */
static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 2000) == 1;
}

/* A queue is bound parked: the kernel accepts its packets at once (they go
 * on, none reaches the socket) until verdict_relay_arm(); from then on they
 * wait in the queue for the container's verdict, which the relay sends. */
static void test_parked_until_armed(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	const uint16_t q = QBASE + 20;
	char cmd[200];
	assert_int_equal(system("ip link set lo up"), 0);
	snprintf(cmd, sizeof(cmd),
	         "iptables -A OUTPUT -o lo -p udp --dport 7411 -j NFQUEUE --queue-num %u", q);
	assert_int_equal(system(cmd), 0); /* in this test's own network namespace */
	struct verdict_relay *r;
	int fds[2];
	struct verdict_relay_sched any = {.cpu = -1};
	assert_int_equal(verdict_relay_open(loop, "p", q, &any, &r, fds, err, sizeof(err)), 0);
	int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(7411),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	char got[8];

	/* Parked: through at once, nothing queued. */
	assert_int_equal(sendto(tx, "a", 1, 0, (struct sockaddr *)&a, sizeof(a)), 1);
	assert_true(readable(rx));
	assert_int_equal(recv(rx, got, sizeof(got), 0), 1);
	assert_int_equal(got[0], 'a');
	assert_int_equal(recv(fds[0], got, sizeof(got), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	/* Armed: the packet waits in the queue for its verdict. */
	assert_int_equal(verdict_relay_arm(r, err, sizeof(err)), 0);
	assert_int_equal(sendto(tx, "b", 1, 0, (struct sockaddr *)&a, sizeof(a)), 1);
	assert_true(readable(fds[0]));
	static uint8_t buf[65536];
	ssize_t n = recv(fds[0], buf, sizeof(buf), 0);
	assert_true(n > 0);
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	assert_int_equal(NFNL_MSG_TYPE(h->nlmsg_type), NFQNL_MSG_PACKET);
	struct nlattr *attr[NFQA_MAX + 1] = {0};
	assert_true(nfq_nlmsg_parse(h, attr) >= 0);
	assert_non_null(attr[NFQA_PACKET_HDR]);
	struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	assert_int_equal(recv(rx, got, sizeof(got), MSG_DONTWAIT), -1); /* held */
	size_t vn = verdict(buf, q, ntohl(ph->packet_id));
	assert_int_equal(send(fds[1], buf, vn, 0), (ssize_t)vn);
	assert_true(readable(rx));
	assert_int_equal(recv(rx, got, sizeof(got), 0), 1);
	assert_int_equal(got[0], 'b');
	assert_true(counted(r, 1, 0));

	verdict_relay_close(r);
	close(fds[0]);
	close(fds[1]);
	close(rx);
	close(tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_one_worker_per_cpu),
	        cmocka_unit_test(test_close_while_flooded),
	        cmocka_unit_test(test_parked_until_armed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
