/* The AF_XDP forwarding-plane driver (src/fwd/xdp/fwd_xdp.c) on the loopback
 * interface of a network namespace of its own (generic XDP), with a bpffs of
 * its own in a mount namespace of its own: rules through fwd_ops, the slot
 * range, all-or-none replacement, a publisher's sockets, the kernel's one
 * socket per device queue, and a restarted driver replacing its program
 * instead of adding one; sampling rules, their samples read from the
 * program's ring and handed to the slot's sample channel as NFLOG messages
 * (UDP datagrams over lo); the netfilter driver beside the plane (a
 * recording stand-in) getting the rules AF_XDP cannot serve. Needs root. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fwd/nflog.h"
#include "fwd/xdp/fwd_xdp.h"
#include "fwd/xdp/xsk.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"

#define BASE 1000u /* queue_base: slot = queue - BASE */

static const char *const lo[] = {"lo"};

static struct fwd_xdp *new_driver(unsigned *replaced)
{
	struct fwd_xdp *x = NULL;
	char err[256] = "";
	int r = fwd_xdp_new(NETSERV_XDP_OBJ, lo, 1, BASE, &x, replaced, err, sizeof(err));
	if (r < 0)
		fail_msg("fwd_xdp_new: %s", err);
	return x;
}

static void describe(struct fwd_xdp *x, char *buf, size_t len)
{
	assert_int_equal(fwd_xdp_ops.describe(x, buf, len), 0);
}

static struct ncm_filter udp_port(uint16_t port)
{
	return (struct ncm_filter){.proto = NCM_PROTO_UDP, .port_lo = port, .port_hi = port};
}

static void test_rules(void **state)
{
	unsigned replaced = 9;
	struct fwd_xdp *x = new_driver(&replaced);
	char d[512], err[256];
	struct ncm_filter f[2] = {udp_port(5060), udp_port(5061)};

	assert_int_equal(replaced, 0);
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules:; stalls 0; samples 0, lost 0");
	assert_int_equal(fwd_xdp_ops.filter_add(x, "a/x", f, 2, BASE, err, sizeof(err)), 0);
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules: a/x (2 filters); paths: a no socket; stalls 0; "
	                       "samples 0, lost 0");
	assert_int_equal(fwd_xdp_ops.filter_add(x, "a/x", f, 1, BASE, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/y", f, 1, BASE + 1, err, sizeof(err)), 0);
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules: a/x, b/y; paths: a no socket, b no socket; "
	                       "stalls 0; samples 0, lost 0");

	/* Refusals change nothing. Without a netfilter driver beside it, a
	 * queue without a slot is not the plane's to serve. */
	assert_int_equal(fwd_xdp_ops.filter_add(x, "c/z", f, 1, BASE - 1, err, sizeof(err)),
	                 -ENOTSUP);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "c/z", f, 1, BASE + 256, err, sizeof(err)),
	                 -ENOTSUP);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "c/z", f, 0, BASE, err, sizeof(err)), -EINVAL);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "", f, 1, BASE, err, sizeof(err)), -EINVAL);
	struct ncm_filter bad = {.dst = {.family = AF_INET, .len = 40}};
	assert_int_equal(fwd_xdp_ops.filter_add(x, "c/z", &bad, 1, BASE, err, sizeof(err)),
	                 -EINVAL);
	/* 64 filters per node: 2 in use, 62 more fit, 63 do not. */
	struct ncm_filter many[NCM_MAX_FILTERS];
	for (size_t i = 0; i < NCM_MAX_FILTERS; i++)
		many[i] = udp_port((uint16_t)(7000 + i));
	int r = 0;
	unsigned added = 0;
	char id[32];
	while (r == 0 && added < 200) {
		snprintf(id, sizeof(id), "m/%u", added);
		r = fwd_xdp_ops.filter_add(x, id, many, 1, BASE, err, sizeof(err));
		added += r == 0;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(added, 62);
	assert_non_null(strstr(err, "at most 64 filters"));
	describe(x, d, sizeof(d));
	assert_null(strstr(d, "c/z"));

	assert_int_equal(fwd_xdp_ops.filter_remove(x, "a/x"), 0);
	assert_int_equal(fwd_xdp_ops.filter_remove(x, "a/x"), -ENOENT);
	assert_int_equal(fwd_xdp_ops.flush(x, err, sizeof(err)), 0);
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules:; stalls 0; samples 0, lost 0");
	fwd_xdp_free(x);
}

/* Opens slot `queue`, retrying -EBUSY/-EAGAIN for up to a second (the
 * kernel frees a closed socket's queue in deferred work). */
static int open_slot_retry(struct fwd_xdp *x, unsigned queue, int *fds, int *ifs, char *err,
                           size_t errlen)
{
	int r;
	for (int i = 0; i < 200; i++) {
		r = fwd_xdp_open_slot(x, queue, fds, ifs, 1, err, errlen);
		if (r != -EBUSY && r != -EAGAIN)
			return r;
		poll(NULL, 0, 5);
	}
	return r;
}

static void test_sockets(void **state)
{
	struct fwd_xdp *x = new_driver(NULL);
	char err[256] = "";
	int fds[3] = {-1, -1, -1}, ifs[1] = {0};
	struct ncm_filter f = udp_port(5060);

	/* Armed only with sockets; twice is once. */
	assert_int_equal(fwd_xdp_arm_slot(x, BASE, err, sizeof(err)), -ENOENT);
	assert_int_equal(fwd_xdp_open_slot(x, BASE, fds, ifs, 1, err, sizeof(err)), 1);
	assert_true(fds[0] >= 0 && fds[1] >= 0);
	assert_true(fds[2] >= 0); /* the sample channel */
	assert_int_equal(fwd_xdp_arm_slot(x, BASE, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_arm_slot(x, BASE, err, sizeof(err)), 0);
	assert_int_equal(ifs[0], (int)if_nametoindex("lo"));
	assert_int_equal(fwd_xdp_open_slot(x, BASE + 300, fds, ifs, 1, err, sizeof(err)), -ERANGE);
	/* The device queue is slot 0's: a second publisher gets no socket,
	 * and without a netfilter driver beside the plane its filters are
	 * refused, saying why. */
	assert_int_equal(fwd_xdp_open_slot(x, BASE + 1, fds, ifs, 1, err, sizeof(err)), -EBUSY);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/y", &f, 1, BASE + 1, err, sizeof(err)),
	                 -EBUSY);
	assert_non_null(strstr(err, "no netfilter driver"));
	assert_int_equal(fwd_xdp_ops.filter_add(x, "a/x", &f, 1, BASE, err, sizeof(err)), 0);
	/* Slot 0 again (a restarted container): new sockets. */
	assert_int_equal(fwd_xdp_open_slot(x, BASE, fds, ifs, 1, err, sizeof(err)), 1);
	/* Its container gone: the queue is free for the other slot. */
	fwd_xdp_close_slot(x, BASE);
	fwd_xdp_close_slot(x, BASE + 7); /* no sockets: a no-op */
	assert_int_equal(open_slot_retry(x, BASE + 1, fds, ifs, err, sizeof(err)), 1);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/y", &f, 1, BASE + 1, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_stalls(x), 0);
	fwd_xdp_free(x);
}

/* The device queue held while no other slot has sockets (here by a socket
 * made outside the driver, as a closed slot's old socket the kernel has not
 * released yet): -EAGAIN, saying so once, not the kernel's "busy". */
static void test_queue_held_outside(void **state)
{
	struct fwd_xdp *x = new_driver(NULL);
	struct nsxsk *held = NULL;
	char err[256] = "";
	int fds[3] = {-1, -1, -1}, ifs[1] = {0};

	int r = -EBUSY; /* an earlier test's sockets may still hold it a moment */
	for (int i = 0; i < 200 && r == -EBUSY; i++)
		if ((r = nsxsk_open("lo", 0, &held, err, sizeof(err))) == -EBUSY)
			poll(NULL, 0, 5);
	assert_int_equal(r, 0);
	assert_int_equal(fwd_xdp_open_slot(x, BASE, fds, ifs, 1, err, sizeof(err)), -EAGAIN);
	assert_string_equal(err, "lo: its device queue is held, but by no other publisher's "
	                         "sockets (the kernel may still be releasing this slot's old "
	                         "ones)");
	nsxsk_close(held);
	assert_int_equal(open_slot_retry(x, BASE, fds, ifs, err, sizeof(err)), 1);
	fwd_xdp_free(x);
}

/* ---- the netfilter driver beside the plane: a recording stand-in ---------- */

struct fake_rule {
	char id[64];
	unsigned queue;
	uint32_t every, bytes; /* > 0: sample_add's */
	uint16_t group;
};

static struct fake {
	struct fake_rule r[16];
	size_t n;
	unsigned flushes;
	char refuse[64]; /* filter_add and sample_add refuse this rule (-EIO) */
} fake;

static struct fake_rule *fake_find(const char *id)
{
	for (size_t i = 0; i < fake.n; i++)
		if (strcmp(fake.r[i].id, id) == 0)
			return &fake.r[i];
	return NULL;
}

static struct fake_rule *fake_put(const char *id)
{
	struct fake_rule *r = fake_find(id);
	if (!r) {
		assert_true(fake.n < 16);
		r = &fake.r[fake.n++];
	}
	*r = (struct fake_rule){0};
	snprintf(r->id, sizeof(r->id), "%s", id);
	return r;
}

static int fake_filter_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                           size_t n, unsigned queue, char *err, size_t errlen)
{
	assert_ptr_equal(fwd, &fake);
	assert_true(filters && n > 0);
	if (strcmp(rule_id, fake.refuse) == 0)
		return err_set(err, errlen, -EIO, "iptables-restore failed (status 4)");
	fake_put(rule_id)->queue = queue;
	return 0;
}

static int fake_sample_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                           size_t n, const struct fwd_sample *sample, char *err, size_t errlen)
{
	assert_ptr_equal(fwd, &fake);
	assert_true(filters && n > 0);
	if (strcmp(rule_id, fake.refuse) == 0)
		return err_set(err, errlen, -EIO, "iptables-restore failed (status 4)");
	struct fake_rule *r = fake_put(rule_id);
	r->every = sample->every;
	r->bytes = sample->bytes;
	r->group = sample->group;
	return 0;
}

static int fake_filter_remove(void *fwd, const char *rule_id)
{
	struct fake_rule *r = fake_find(rule_id);
	assert_ptr_equal(fwd, &fake);
	if (!r)
		return -ENOENT;
	*r = fake.r[--fake.n];
	return 0;
}

static int fake_flush(void *fwd, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	assert_ptr_equal(fwd, &fake);
	fake.n = 0;
	fake.flushes++;
	return 0;
}

static const struct fwd_ops fake_ops = {
        .name = "fake",
        .filter_add = fake_filter_add,
        .sample_add = fake_sample_add,
        .filter_remove = fake_filter_remove,
        .flush = fake_flush,
};

/* The delegate gets what AF_XDP cannot serve: a queue without a slot (the
 * GIST rule) and the rules of a slot whose sockets the kernel refused; they
 * come back to the program when the slot gets sockets; remove and flush reach
 * it. */
static void test_delegate(void **state)
{
	struct fwd_xdp *x = new_driver(NULL);
	char err[256] = "", d[512];
	int fds[3] = {-1, -1, -1}, ifs[1] = {0};
	struct ncm_filter gist = udp_port(270), f = udp_port(5060), g = udp_port(5070),
	                  h = udp_port(5080);

	memset(&fake, 0, sizeof(fake));
	fwd_xdp_set_local(x, &fake_ops, &fake);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "gist", &gist, 1, 270, err, sizeof(err)), 0);
	assert_non_null(fake_find("gist"));
	assert_int_equal(fake_find("gist")->queue, 270);

	/* Slot 0 gets the sockets: its rules are the program's. */
	assert_int_equal(open_slot_retry(x, BASE, fds, ifs, err, sizeof(err)), 1);
	assert_int_equal(fwd_xdp_arm_slot(x, BASE, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "a/x", &f, 1, BASE, err, sizeof(err)), 0);
	/* b's rule comes before its container (a restart's restore): the
	 * program's, until the kernel refuses b's sockets. */
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/y", &g, 1, BASE + 1, err, sizeof(err)), 0);
	assert_int_equal(fake.n, 1);
	assert_int_equal(fwd_xdp_open_slot(x, BASE + 1, fds, ifs, 1, err, sizeof(err)), -EBUSY);
	assert_int_equal(fake.n, 2);
	assert_int_equal(fake_find("b/y")->queue, BASE + 1);
	assert_null(fake_find("a/x"));
	/* Rules added while the slot is busy go to the delegate at once,
	 * sampled ones as NFLOG with the bytes asked. */
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/z", &h, 1, BASE + 1, err, sizeof(err)), 0);
	struct fwd_sample smp = {.every = 4, .bytes = 40, .group = BASE + 1, .tag = "b/Mon"};
	assert_int_equal(fwd_xdp_ops.sample_add(x, "b/Mon", &g, 1, &smp, err, sizeof(err)), 0);
	assert_int_equal(fake.n, 4);
	assert_int_equal(fake_find("b/Mon")->every, 4);
	assert_int_equal(fake_find("b/Mon")->bytes, 40);
	assert_int_equal(fake_find("b/Mon")->group, BASE + 1);
	describe(x, d, sizeof(d));
	assert_non_null(strstr(d, "paths: gist nfqueue, a af_xdp, b nfqueue;"));

	/* Remove reaches the delegate; a's rule never went there. */
	assert_int_equal(fwd_xdp_ops.filter_remove(x, "b/z"), 0);
	assert_null(fake_find("b/z"));
	assert_int_equal(fwd_xdp_ops.filter_remove(x, "a/x"), 0);
	assert_int_equal(fake.n, 3);

	/* a's container gone, b's restarted: b gets the sockets and its rules
	 * leave the delegate for the program. */
	fwd_xdp_close_slot(x, BASE);
	assert_int_equal(open_slot_retry(x, BASE + 1, fds, ifs, err, sizeof(err)), 1);
	assert_int_equal(fwd_xdp_arm_slot(x, BASE + 1, err, sizeof(err)), 0);
	assert_int_equal(fake.n, 1);
	assert_non_null(fake_find("gist"));
	describe(x, d, sizeof(d));
	assert_non_null(strstr(d, "paths: gist nfqueue, b af_xdp;"));

	/* Flush reaches both. */
	assert_int_equal(fwd_xdp_ops.flush(x, err, sizeof(err)), 0);
	assert_int_equal(fake.flushes, 1);
	assert_int_equal(fake.n, 0);
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules:; stalls 0; samples 0, lost 0");
	fwd_xdp_free(x);
}

/* The delegate refuses one of a busy slot's rules: none of them stays there,
 * the slot is not busy (its rules stay with the program: fail-open) and
 * open_slot says why instead of -EBUSY; the next try, the delegate willing,
 * moves them. */
static void test_delegate_refuses(void **state)
{
	struct fwd_xdp *x = new_driver(NULL);
	char err[256] = "", d[512];
	int fds[3] = {-1, -1, -1}, ifs[1] = {0};
	struct ncm_filter f = udp_port(5060), g = udp_port(5070), h = udp_port(5080);

	memset(&fake, 0, sizeof(fake));
	fwd_xdp_set_local(x, &fake_ops, &fake);
	assert_int_equal(open_slot_retry(x, BASE, fds, ifs, err, sizeof(err)), 1);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "a/x", &f, 1, BASE, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/y", &g, 1, BASE + 1, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_ops.filter_add(x, "b/z", &h, 1, BASE + 1, err, sizeof(err)), 0);
	assert_int_equal(fake.n, 0);

	snprintf(fake.refuse, sizeof(fake.refuse), "b/z");
	assert_int_equal(fwd_xdp_open_slot(x, BASE + 1, fds, ifs, 1, err, sizeof(err)), -EIO);
	assert_string_equal(err, "another publisher holds the device queue, and the netfilter "
	                         "driver refused rule b/z: iptables-restore failed (status 4)");
	assert_int_equal(fake.n, 0); /* b/y, which went first, taken back */
	describe(x, d, sizeof(d));
	assert_non_null(strstr(d, "rules: a/x, b/y, b/z; paths: a starting, b no socket;"));

	fake.refuse[0] = '\0';
	assert_int_equal(fwd_xdp_open_slot(x, BASE + 1, fds, ifs, 1, err, sizeof(err)), -EBUSY);
	assert_int_equal(fake.n, 2);
	assert_non_null(fake_find("b/y"));
	assert_non_null(fake_find("b/z"));
	describe(x, d, sizeof(d));
	assert_non_null(strstr(d, "paths: a starting, b nfqueue;"));
	fwd_xdp_free(x);
}

/* A driver that did not detach (its netservd was killed) is replaced by the
 * next one: never two programs. */
static void test_replace(void **state)
{
	unsigned replaced = 9;
	struct fwd_xdp *x1 = new_driver(&replaced);
	assert_int_equal(replaced, 0);
	struct fwd_xdp *x2 = new_driver(&replaced);
	assert_int_equal(replaced, 1);
	/* The stale one's exit must not take the new one's program away. */
	fwd_xdp_free(x1);
	struct fwd_xdp *x3 = new_driver(&replaced);
	assert_int_equal(replaced, 1);
	fwd_xdp_free(x2);
	fwd_xdp_free(x3);
	struct fwd_xdp *x4 = new_driver(&replaced);
	assert_int_equal(replaced, 0);
	fwd_xdp_free(x4);
}

static void test_bad_interfaces(void **state)
{
	struct fwd_xdp *x = NULL;
	char err[256] = "";
	const char *const none[] = {"nosuchif0"}, *const twice[] = {"lo", "lo"};
	const char *const five[] = {"lo", "lo", "lo", "lo", "lo"};

	assert_int_equal(fwd_xdp_new(NETSERV_XDP_OBJ, none, 1, BASE, &x, NULL, err, sizeof(err)),
	                 -ENODEV);
	assert_string_equal(err, "no interface nosuchif0");
	assert_int_equal(fwd_xdp_new(NETSERV_XDP_OBJ, twice, 2, BASE, &x, NULL, err, sizeof(err)),
	                 -EINVAL);
	assert_string_equal(err, "interface lo listed twice");
	assert_int_equal(fwd_xdp_new(NETSERV_XDP_OBJ, five, 5, BASE, &x, NULL, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(fwd_xdp_new("/nonexistent.o", lo, 1, BASE, &x, NULL, err, sizeof(err)) < 0,
	                 1);
	assert_non_null(strstr(err, "/nonexistent.o"));
	assert_null(x);
	/* Nothing was left attached by the failures. */
	unsigned replaced = 9;
	x = new_driver(&replaced);
	assert_int_equal(replaced, 0);
	fwd_xdp_free(x);
}

static void stop_loop(struct evloop *loop, void *ctx)
{
	(void)ctx;
	evloop_stop(loop);
}

struct got {
	unsigned n, bad;
};

static void on_nflog(void *ctx, const struct nflog_sample *s)
{
	struct got *g = ctx;
	g->n++;
	/* The IP packet's first 32 bytes (IPv4, UDP to 7000), the module's tag,
	 * the publisher's group, the ingress interface. */
	if (strcmp(s->prefix, "Mon") != 0 || s->len != 32 || s->data[0] != 0x45 ||
	    s->data[9] != IPPROTO_UDP || s->data[22] != 7000 >> 8 || s->data[23] != (7000 & 0xff) ||
	    s->group != BASE || s->hw_proto != 0x0800 || s->indev != if_nametoindex("lo"))
		g->bad++;
}

static void test_samples(void **state)
{
	struct fwd_xdp *x = new_driver(NULL);
	struct evloop *loop = NULL;
	char err[256] = "", d[512];
	int fds[3] = {-1, -1, -1}, ifs[1] = {0};
	struct ncm_filter f = udp_port(7000);
	struct fwd_sample smp = {.every = 1, .bytes = 32, .group = BASE, .tag = "Mon"};

	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(fwd_xdp_watchdog_start(x, loop, 10, 1000), 0);
	/* No sockets, no channel: refused. */
	assert_int_equal(fwd_xdp_ops.sample_add(x, "a/Mon", &f, 1, &smp, err, sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "no sample channel"));
	assert_int_equal(fwd_xdp_open_slot(x, BASE, fds, ifs, 1, err, sizeof(err)), 1);
	assert_true(fds[2] >= 0);
	/* The container's end only reads. */
	assert_int_equal(send(fds[2], "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	struct fwd_sample bad = smp;
	bad.every = 0;
	assert_int_equal(fwd_xdp_ops.sample_add(x, "a/Mon", &f, 1, &bad, err, sizeof(err)),
	                 -EINVAL);
	/* A module on the path with the same filter, deployed first: the
	 * sampling rule still sees the frames (it goes first in the program). */
	assert_int_equal(fwd_xdp_ops.filter_add(x, "a/Q", &f, 1, BASE, err, sizeof(err)), 0);
	assert_int_equal(fwd_xdp_ops.sample_add(x, "a/Mon", &f, 1, &smp, err, sizeof(err)), 0);
	/* Its sockets are not in the slot until its container is ready. */
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules: a/Q, a/Mon; paths: a starting; stalls 0; "
	                       "samples 0, lost 0");
	assert_int_equal(fwd_xdp_arm_slot(x, BASE, err, sizeof(err)), 0);
	describe(x, d, sizeof(d));
	assert_string_equal(d, "lo generic; rules: a/Q, a/Mon; paths: a af_xdp; stalls 0; samples "
	                       "0, lost 0");

	/* 10 datagrams over lo to a listener on 7000: all arrive (a sampling
	 * rule passes every frame on), all are sampled (1/1). */
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons(7000),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	char payload[100] = {0};
	for (int i = 0; i < 10; i++)
		assert_int_equal(
		        sendto(tx, payload, sizeof(payload), 0, (struct sockaddr *)&a, sizeof(a)),
		        (ssize_t)sizeof(payload));
	unsigned arrived = 0;
	while (recv(rx, payload, sizeof(payload), MSG_DONTWAIT) == (ssize_t)sizeof(payload))
		arrived++;
	assert_int_equal(arrived, 10);
	assert_non_null(evloop_timer_add(loop, 100, stop_loop, NULL));
	assert_int_equal(evloop_run(loop), 0);

	struct got g = {0};
	static uint8_t buf[NFLOG_DGRAM_MAX];
	ssize_t n;
	while ((n = recv(fds[2], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		assert_true(nflog_parse(buf, (size_t)n, on_nflog, &g) >= 0);
	assert_int_equal(g.n, 10);
	assert_int_equal(g.bad, 0);
	describe(x, d, sizeof(d));
	assert_string_equal(
	        d, "lo generic; rules: a/Q, a/Mon; paths: a af_xdp; stalls 0; samples 10, lost 0");
	close(rx);
	close(tx);
	fwd_xdp_free(x);
	evloop_free(loop);
}

static int lo_up(void)
{
	struct ifreq ifr = {0};
	int s = socket(AF_INET, SOCK_DGRAM, 0), r;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	r = ioctl(s, SIOCGIFFLAGS, &ifr);
	ifr.ifr_flags |= IFF_UP;
	if (r == 0)
		r = ioctl(s, SIOCSIFFLAGS, &ifr);
	close(s);
	return r;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (namespaces, XDP)\n");
		return 0;
	}
	/* A network namespace (its own lo) and a mount namespace with a bpffs
	 * of its own for libxdp: nothing outlives the test. */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL) < 0 || lo_up() < 0) {
		printf("1..1\nnot ok 1 - namespaces and a bpffs: %s\n", strerror(errno));
		return 1;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_rules),
	        cmocka_unit_test(test_sockets),
	        cmocka_unit_test(test_replace),
	        cmocka_unit_test(test_bad_interfaces),
	        cmocka_unit_test(test_samples),
	        cmocka_unit_test(test_delegate),
	        cmocka_unit_test(test_delegate_refuses),
	        cmocka_unit_test(test_queue_held_outside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
