/* The netfilter plane's tc sampler (src/fwd/xdp/fwd_tcsample.c) on the
 * loopback interface of a network namespace of its own, in front of a
 * recording stand-in for the netfilter driver: sampled filters go to the tc
 * program, which is on lo only while one exists; their copies reach the
 * container's channel as NFLOG messages (UDP datagrams over lo); every other
 * call goes to the netfilter driver; a rule id moves between the two.
 * Needs root. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/popen_count.h"

#include "fwd/nflog.h"
#include "fwd/xdp/fwd_tcsample.h"
#include "fwd/xdp/xdp_prog.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"

#define GROUP 1003

static const char *const lo[] = {"lo"};

/* The netfilter driver's stand-in: what it was asked. */
static struct {
	char ids[8][64];
	unsigned queues[8];
	int n, flushes, samples;
	const char *refuse;
} nf;

static int nf_find(const char *id)
{
	for (int i = 0; i < nf.n; i++)
		if (strcmp(nf.ids[i], id) == 0)
			return i;
	return -1;
}

static int nf_filter_add(void *fwd, const char *id, const struct ncm_filter *f, size_t n,
                         unsigned queue, char *err, size_t errlen)
{
	assert_ptr_equal(fwd, &nf);
	if (nf.refuse && strcmp(id, nf.refuse) == 0)
		return err_set(err, errlen, -EIO, "iptables-restore failed (status 4)");
	int i = nf_find(id);
	if (i < 0) {
		assert_true(nf.n < 8);
		i = nf.n++;
	}
	snprintf(nf.ids[i], sizeof(nf.ids[i]), "%s", id);
	nf.queues[i] = queue;
	return 0;
}

static int nf_sample_add(void *fwd, const char *id, const struct ncm_filter *f, size_t n,
                         const struct fwd_sample *s, char *err, size_t errlen)
{
	nf.samples++; /* must never be called: sampling is the tc program's */
	return 0;
}

static int nf_filter_remove(void *fwd, const char *id)
{
	int i = nf_find(id);
	if (i < 0)
		return -ENOENT;
	nf.n--;
	memmove(nf.ids[i], nf.ids[nf.n], sizeof(nf.ids[i]));
	nf.queues[i] = nf.queues[nf.n];
	return 0;
}

static int nf_flush(void *fwd, char *err, size_t errlen)
{
	nf.n = 0;
	nf.flushes++;
	return 0;
}

static const struct fwd_ops nf_ops = {.name = "netfilter",
                                      .filter_add = nf_filter_add,
                                      .sample_add = nf_sample_add,
                                      .filter_remove = nf_filter_remove,
                                      .flush = nf_flush};

/* How many of our tc filters lo's ingress has (tc(8)), or -1. */
static int lo_filters(void)
{
	return popen_count("tc filter show dev lo ingress 2>/dev/null | grep -c 'name netserv_tc'");
}

static struct ncm_filter udp_port(uint16_t port)
{
	return (struct ncm_filter){.proto = NCM_PROTO_UDP, .port_lo = port, .port_hi = port};
}

static void stop_loop(struct evloop *loop, void *ctx)
{
	(void)ctx;
	evloop_stop(loop);
}

struct got {
	int n, bad;
};

static void on_nflog(void *ctx, const struct nflog_sample *s)
{
	struct got *g = ctx;
	g->n++;
	/* The IP packet's first 40 bytes (IPv4, UDP to 7000), the module's tag,
	 * the publisher's group, the ingress interface. */
	if (strcmp(s->prefix, "Mon") != 0 || s->len != 40 || s->data[0] != 0x45 ||
	    s->data[9] != IPPROTO_UDP || s->data[22] != 7000 >> 8 || s->data[23] != (7000 & 0xff) ||
	    s->group != GROUP || s->hw_proto != 0x0800 || s->indev != if_nametoindex("lo") ||
	    memcmp(s->data + 28, "sampled!", 8) != 0)
		g->bad++;
}

static void send_datagrams(uint16_t port, int count)
{
	int tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char payload[100] = "sampled!";
	for (int i = 0; i < count; i++)
		assert_int_equal(
		        sendto(tx, payload, sizeof(payload), 0, (struct sockaddr *)&a, sizeof(a)),
		        (ssize_t)sizeof(payload));
	close(tx);
}

static void test_sampling(void **state)
{
	struct evloop *loop = NULL;
	struct fwd_tcs *t = NULL;
	char err[256] = "", d[512];
	struct ncm_filter f = udp_port(7000);
	struct fwd_sample smp = {.every = 2, .bytes = 40, .group = GROUP, .tag = "Mon"};

	memset(&nf, 0, sizeof(nf));
	assert_int_equal(evloop_new(&loop), 0);
	if (fwd_tcs_new(loop, NETSERV_XDP_OBJ, lo, 1, &nf_ops, &nf, &t, err, sizeof(err)) < 0)
		fail_msg("fwd_tcs_new: %s", err);
	assert_int_equal(fwd_tcs_ops.describe(t, d, sizeof(d)), 0);
	assert_string_equal(d, "tc sampler on lo (idle: no sampled module); samples 0, lost 0");
	assert_int_equal(lo_filters(), 0);

	/* No channel for the group yet: refused, nothing attached. */
	assert_int_equal(fwd_tcs_ops.sample_add(t, "a/Mon", &f, 1, &smp, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "no sample channel"));
	assert_int_equal(lo_filters(), 0);
	int chan = fwd_tcs_channel_open(t, GROUP, err, sizeof(err));
	assert_true(chan >= 0);
	struct fwd_sample bad = smp;
	bad.every = 0;
	assert_int_equal(fwd_tcs_ops.sample_add(t, "a/Mon", &f, 1, &bad, err, sizeof(err)),
	                 -EINVAL);
	bad = smp;
	bad.tag = "a/b";
	assert_int_equal(fwd_tcs_ops.sample_add(t, "a/Mon", &f, 1, &bad, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(fwd_tcs_ops.sample_add(t, "bad id", &f, 1, &smp, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(lo_filters(), 0);

	/* The module was on the path before: its netfilter rule goes. */
	assert_int_equal(fwd_tcs_ops.filter_add(t, "a/Mon", &f, 1, GROUP, err, sizeof(err)), 0);
	assert_int_equal(nf.n, 1);
	assert_int_equal(fwd_tcs_ops.sample_add(t, "a/Mon", &f, 1, &smp, err, sizeof(err)), 0);
	assert_int_equal(nf.n, 0);
	assert_int_equal(nf.samples, 0);
	assert_int_equal(lo_filters(), 1);
	assert_int_equal(fwd_tcs_ops.describe(t, d, sizeof(d)), 0);
	assert_string_equal(d, "tc sampler on lo (attached); samples 0, lost 0");

	/* 20 datagrams to 7000, 4 to 7001: 10 samples of 40 IP bytes. */
	send_datagrams(7000, 20);
	send_datagrams(7001, 4);
	assert_non_null(evloop_timer_add(loop, 60, stop_loop, NULL));
	assert_int_equal(evloop_run(loop), 0);
	struct got g = {0};
	static uint8_t buf[NFLOG_DGRAM_MAX];
	ssize_t n;
	while ((n = recv(chan, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		assert_true(nflog_parse(buf, (size_t)n, on_nflog, &g) >= 0);
	assert_int_equal(g.n, 10);
	assert_int_equal(g.bad, 0);
	assert_int_equal(fwd_tcs_ops.describe(t, d, sizeof(d)), 0);
	assert_string_equal(d, "tc sampler on lo (attached); samples 10, lost 0");

	/* The container is gone: its copies are lost until a new channel. */
	fwd_tcs_channel_close(t, GROUP);
	send_datagrams(7000, 4);
	assert_non_null(evloop_timer_add(loop, 30, stop_loop, NULL));
	assert_int_equal(evloop_run(loop), 0);
	uint64_t samples, lost;
	fwd_tcs_stats(t, &samples, &lost);
	assert_int_equal(samples, 10);
	assert_int_equal(lost, 2);
	chan = fwd_tcs_channel_open(t, GROUP, err, sizeof(err));
	assert_true(chan >= 0);

	/* The same id on the path again: to netfilter, and the program goes
	 * (its last rule). A refusal there leaves the sampling in place. */
	nf.refuse = "a/Mon";
	assert_int_equal(fwd_tcs_ops.filter_add(t, "a/Mon", &f, 1, GROUP, err, sizeof(err)), -EIO);
	assert_int_equal(lo_filters(), 1);
	nf.refuse = NULL;
	assert_int_equal(fwd_tcs_ops.filter_add(t, "a/Mon", &f, 1, GROUP, err, sizeof(err)), 0);
	assert_int_equal(nf.n, 1);
	assert_int_equal(lo_filters(), 0);
	assert_int_equal(fwd_tcs_ops.describe(t, d, sizeof(d)), 0);
	assert_non_null(strstr(d, "(idle: no sampled module)"));

	/* Removal finds either kind; flush empties both. */
	assert_int_equal(fwd_tcs_ops.filter_remove(t, "a/Mon"), 0);
	assert_int_equal(nf.n, 0);
	assert_int_equal(fwd_tcs_ops.filter_remove(t, "a/Mon"), -ENOENT);
	assert_int_equal(fwd_tcs_ops.sample_add(t, "b/Mon", &f, 1, &smp, err, sizeof(err)), 0);
	assert_int_equal(fwd_tcs_ops.filter_add(t, "gist", &f, 1, 7, err, sizeof(err)), 0);
	assert_int_equal(lo_filters(), 1);
	assert_int_equal(fwd_tcs_ops.flush(t, err, sizeof(err)), 0);
	assert_int_equal(nf.flushes, 1);
	assert_int_equal(nf.n, 0);
	assert_int_equal(lo_filters(), 0);

	/* Freed with a rule in place: the program goes with it. */
	assert_int_equal(fwd_tcs_ops.sample_add(t, "b/Mon", &f, 1, &smp, err, sizeof(err)), 0);
	assert_int_equal(lo_filters(), 1);
	assert_null(fwd_tcs_free(t));
	assert_int_equal(lo_filters(), 0);
	evloop_free(loop);
}

/* What a netservd that died leaves (its program on the interface, attached
 * by a process that is gone: here one that never detaches) goes when the
 * next one starts, before any sampled module. */
static void test_replaces_leftover(void **state)
{
	struct evloop *loop = NULL;
	struct fwd_tcs *t = NULL;
	char err[256] = "";
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct nsxdp_prog *p;
		_exit(nsxdp_open_tc(NETSERV_XDP_OBJ, &p, err, sizeof(err)) == 0 &&
		                      nsxdp_attach(p, (int)if_nametoindex("lo"), 0, err,
		                                   sizeof(err)) == 0
		              ? 0
		              : 1);
	}
	int st = -1;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_int_equal(lo_filters(), 1); /* left behind */
	assert_int_equal(evloop_new(&loop), 0);
	if (fwd_tcs_new(loop, NETSERV_XDP_OBJ, lo, 1, &nf_ops, &nf, &t, err, sizeof(err)) < 0)
		fail_msg("fwd_tcs_new: %s", err);
	assert_int_equal(fwd_tcs_replaced(t), 1);
	assert_int_equal(lo_filters(), 0);
	assert_null(fwd_tcs_free(t));
	/* Nothing left: nothing to replace. */
	assert_int_equal(
	        fwd_tcs_new(loop, NETSERV_XDP_OBJ, lo, 1, &nf_ops, &nf, &t, err, sizeof(err)), 0);
	assert_int_equal(fwd_tcs_replaced(t), 0);
	assert_null(fwd_tcs_free(t));
	evloop_free(loop);
}

static void test_bad_setup(void **state)
{
	struct evloop *loop = NULL;
	struct fwd_tcs *t = NULL;
	char err[256] = "";
	const char *const none[] = {"nsnope0"};

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(
	        fwd_tcs_new(loop, NETSERV_XDP_OBJ, none, 1, &nf_ops, &nf, &t, err, sizeof(err)),
	        -ENODEV);
	assert_non_null(strstr(err, "nsnope0"));
	assert_int_equal(
	        fwd_tcs_new(loop, "/nonexistent.o", lo, 1, &nf_ops, &nf, &t, err, sizeof(err)),
	        -ENOENT);
	assert_int_equal(
	        fwd_tcs_new(loop, NETSERV_XDP_OBJ, lo, 0, &nf_ops, &nf, &t, err, sizeof(err)),
	        -EINVAL);
	evloop_free(loop);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (a network namespace, BPF)\n");
		return 0;
	}
	if (unshare(CLONE_NEWNET) < 0 || system("ip link set lo up") != 0) {
		printf("1..1\nnot ok 1 - a network namespace: %s\n", strerror(errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sampling),
	        cmocka_unit_test(test_replaces_leftover),
	        cmocka_unit_test(test_bad_setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
