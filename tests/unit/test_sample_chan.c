/* fwd/xdp/sample_chan.c: samples in, NFLOG messages out on the container's
 * end, read back with the container's own reader (nflog_parse). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fwd/nflog.h"
#include "fwd/xdp/sample_chan.h"

struct got {
	int n;
	struct nflog_sample s[4];
	uint8_t data[4][256];
};

static void on_sample(void *ctx, const struct nflog_sample *s)
{
	struct got *g = ctx;
	if (g->n < 4) {
		g->s[g->n] = *s;
		memcpy(g->data[g->n], s->data, s->len < 256 ? s->len : 256);
		g->s[g->n].data = g->data[g->n];
	}
	g->n++;
}

/* A sampled frame: Ethernet (type `type`) and then `ip_len` bytes of i. */
static void frame(struct netserv_xdp_sample *s, uint16_t type, uint32_t ip_len, uint8_t fill)
{
	memset(s, 0, sizeof(*s));
	s->data[12] = (uint8_t)(type >> 8);
	s->data[13] = (uint8_t)type;
	memset(s->data + 14, fill, ip_len);
	s->caplen = 14 + ip_len;
	s->len = s->caplen + 100;
	s->ifindex = 7;
}

/* How many bytes wait in the container's end (SIOCINQ = FIONREAD). */
static int ioctl_inq(int fd, int *ret)
{
	return ioctl(fd, FIONREAD, ret);
}

/* Reads one datagram from the container's end (it must be there) and
 * parses it. */
static int read_back(struct sample_chan *c, struct got *g)
{
	static uint8_t buf[SAMPLE_CHAN_DGRAM_MAX];
	ssize_t n = recv(sample_chan_fd(c), buf, sizeof(buf), MSG_DONTWAIT);
	assert_true(n > 0);
	return nflog_parse(buf, (size_t)n, on_sample, g);
}

static void test_batch_and_fields(void **state)
{
	struct sample_chan *c;
	struct netserv_xdp_sample s;
	struct got g = {0};
	assert_int_equal(sample_chan_open(&c), 0);
	frame(&s, 0x0800, 28, 0x45);
	assert_int_equal(sample_chan_put(c, &s, 1003, "NetServ.NetMonitor_1.0"), 0);
	frame(&s, 0x86dd, 48, 0x60);
	assert_int_equal(sample_chan_put(c, &s, 1003, "other"), 0);
	/* Nothing is sent before the flush: one datagram for both. */
	char b;
	assert_int_equal(recv(sample_chan_fd(c), &b, 1, MSG_DONTWAIT), -1);
	assert_int_equal(sample_chan_flush(c), 0);
	assert_int_equal(read_back(c, &g), 2);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.s[0].prefix, "NetServ.NetMonitor_1.0");
	assert_int_equal(g.s[0].group, 1003);
	assert_int_equal(g.s[0].hw_proto, 0x0800);
	assert_int_equal(g.s[0].indev, 7);
	assert_int_equal(g.s[0].len, 28); /* the IP packet: no Ethernet header */
	assert_int_equal(g.data[0][0], 0x45);
	assert_string_equal(g.s[1].prefix, "other");
	assert_int_equal(g.s[1].hw_proto, 0x86dd);
	assert_int_equal(g.s[1].len, 48);
	/* An empty flush sends nothing. */
	assert_int_equal(sample_chan_flush(c), 0);
	assert_int_equal(recv(sample_chan_fd(c), &b, 1, MSG_DONTWAIT), -1);
	/* The container's end is for reading only. */
	assert_int_equal(send(sample_chan_fd(c), "x", 1, MSG_DONTWAIT), -1);
	sample_chan_close(c);
}

static void test_bad_samples(void **state)
{
	struct sample_chan *c;
	struct netserv_xdp_sample s;
	char tag[80];
	assert_int_equal(sample_chan_open(&c), 0);
	frame(&s, 0x0800, 0, 0);
	s.caplen = 13; /* shorter than an Ethernet header */
	assert_int_equal(sample_chan_put(c, &s, 1, "t"), -EINVAL);
	frame(&s, 0x0800, 20, 0x45);
	memset(tag, 'a', sizeof(tag) - 1);
	tag[sizeof(tag) - 1] = '\0';
	assert_int_equal(sample_chan_put(c, &s, 1, tag), -EINVAL);
	s.caplen = 5000; /* more than the ring's sample holds: cut to it */
	assert_int_equal(sample_chan_put(c, &s, 1, "t"), 0);
	assert_int_equal(sample_chan_flush(c), 0);
	struct got g = {0};
	assert_int_equal(read_back(c, &g), 1);
	assert_int_equal(g.s[0].len, NETSERV_XDP_SNAP_MAX - 14);
	sample_chan_close(c);
	sample_chan_close(NULL);
}

/* A batch that would pass a datagram's size goes out first; when the
 * container does not read, batches are lost (-EAGAIN), never blocking. */
static void test_full_batches(void **state)
{
	struct sample_chan *c;
	struct netserv_xdp_sample s;
	assert_int_equal(sample_chan_open(&c), 0);
	frame(&s, 0x0800, NETSERV_XDP_SNAP_MAX - 14, 0x45);
	int sent_early = 0, lost = 0;
	for (int i = 0; i < 100000 && !lost; i++) {
		int r = sample_chan_put(c, &s, 1, "t");
		assert_true(r == 0 || r == -EAGAIN);
		lost += r == -EAGAIN;
		if (i < 400) {
			int q = 0;
			if (ioctl_inq(sample_chan_fd(c), &q) == 0 && q > 0)
				sent_early = 1;
		}
	}
	assert_true(sent_early); /* a datagram went out before any flush */
	assert_true(lost);       /* the buffer filled: a batch lost, no block */
	sample_chan_close(c);
}

/* What a driver counts: handed, or lost (no channel, a sample that cannot be
 * encoded, a batch the container's buffer refused). */
static void test_counts(void **state)
{
	struct sample_chan *c;
	struct netserv_xdp_sample s;
	struct sample_counts n = {0};
	assert_int_equal(sample_chan_open(&c), 0);
	frame(&s, 0x0800, 28, 0x45);
	sample_chan_deliver(c, &s, 1, "t", &n);
	sample_chan_deliver(NULL, &s, 1, "t", &n); /* the owner has no channel */
	s.caplen = 13;
	sample_chan_deliver(c, &s, 1, "t", &n);
	assert_int_equal(n.handed, 1);
	assert_int_equal(n.lost, 2);
	sample_chan_send(NULL, &n);
	sample_chan_send(c, &n);
	assert_int_equal(n.lost, 2);
	struct got g = {0};
	assert_int_equal(read_back(c, &g), 1);
	/* A container that does not read: batches refused, each counted. */
	frame(&s, 0x0800, NETSERV_XDP_SNAP_MAX - 14, 0x45);
	for (int i = 0; i < 100000 && n.lost == 2; i++)
		sample_chan_deliver(c, &s, 1, "t", &n);
	assert_int_equal(n.lost, 3);
	sample_chan_send(c, &n); /* the batch that holds the last sample */
	assert_int_equal(n.lost, 4);
	sample_chan_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_batch_and_fields),
	        cmocka_unit_test(test_bad_samples),
	        cmocka_unit_test(test_full_batches),
	        cmocka_unit_test(test_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
