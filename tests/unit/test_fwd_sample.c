/* The netfilter driver's rules for sampled filters (fwd_netfilter_sample_spec)
 * and the unsampled rules around them, without iptables. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fwd/fwd_netfilter.h"

static struct ncm_filter udp_filter(uint16_t port)
{
	struct ncm_filter f = {.proto = NCM_PROTO_UDP, .port_lo = port, .port_hi = port};
	return f;
}

static void test_sample_rule(void **state)
{
	char buf[1024], err[256];
	struct ncm_filter f = udp_filter(7000);
	struct fwd_sample s = {.every = 10, .bytes = 128, .group = 3, .tag = "NetMonitor_1.0"};
	(void)state;

	int r = fwd_netfilter_sample_spec("alice/NetMonitor_1.0", &f, &s, AF_INET, buf, sizeof(buf),
	                                  err, sizeof(err));
	assert_true(r > 0);
	assert_int_equal((size_t)r, strlen(buf));
	assert_string_equal(buf, "-p udp --dport 7000 -m comment --comment "
	                         "\"netserv:alice/NetMonitor_1.0\" -m statistic --mode nth "
	                         "--every 10 --packet 0 -j NFLOG --nflog-prefix "
	                         "\"NetMonitor_1.0\" --nflog-group 3 --nflog-size 128");
	/* No NFQUEUE in a sampled rule: nothing holds the packet. */
	assert_null(strstr(buf, "NFQUEUE"));

	/* 1/1: every packet copied, no statistic match. */
	s.every = 1;
	r = fwd_netfilter_sample_spec("a/m", &f, &s, AF_INET6, buf, sizeof(buf), err, sizeof(err));
	assert_true(r > 0);
	assert_null(strstr(buf, "statistic"));
	assert_non_null(strstr(buf, "-j NFLOG"));

	/* A filter of the other family: no rule for this one. */
	struct ncm_filter f4 = f;
	assert_int_equal(ncm_prefix_parse("10.0.0.0/8", &f4.dst), 0);
	assert_int_equal(fwd_netfilter_sample_spec("a/m", &f4, &s, AF_INET6, buf, sizeof(buf), err,
	                                           sizeof(err)),
	                 0);
	assert_true(fwd_netfilter_sample_spec("a/m", &f4, &s, AF_INET, buf, sizeof(buf), err,
	                                      sizeof(err)) > 0);
	assert_non_null(strstr(buf, "-d 10.0.0.0/8"));
}

static void sample_fails(const struct fwd_sample *s, const char *part)
{
	char buf[1024], err[256] = "";
	struct ncm_filter f = udp_filter(7000);
	int r = fwd_netfilter_sample_spec("a/m", &f, s, AF_INET, buf, sizeof(buf), err,
	                                  sizeof(err));
	assert_int_equal(r, -EINVAL);
	if (!strstr(err, part))
		fail_msg("error '%s' does not say '%s'", err, part);
}

static void test_sample_bad(void **state)
{
	(void)state;
	sample_fails(&(struct fwd_sample){.every = 0, .bytes = 128, .tag = "m"}, "bad sample 1/0");
	sample_fails(
	        &(struct fwd_sample){.every = NCM_SAMPLE_EVERY_MAX + 1, .bytes = 128, .tag = "m"},
	        "bad sample");
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 0, .tag = "m"}, "bad sample size");
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 65536, .tag = "m"},
	             "bad sample size");
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 128, .tag = NULL},
	             "bad sample tag");
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 128, .tag = ""}, "bad sample tag");
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 128, .tag = "a\" -j ACCEPT"},
	             "bad sample tag");
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 128, .tag = "a/b"},
	             "bad sample tag");
	char longtag[FWD_SAMPLE_TAG_MAX + 2];
	memset(longtag, 'x', sizeof(longtag) - 1);
	longtag[sizeof(longtag) - 1] = '\0';
	sample_fails(&(struct fwd_sample){.every = 10, .bytes = 128, .tag = longtag},
	             "bad sample tag");
	longtag[FWD_SAMPLE_TAG_MAX] = '\0'; /* the longest that fits */
	char buf[1024], err[256];
	struct ncm_filter f = udp_filter(1);
	struct fwd_sample s = {.every = 2, .bytes = 1, .group = 65535, .tag = longtag};
	assert_true(fwd_netfilter_sample_spec("a/m", &f, &s, AF_INET, buf, sizeof(buf), err,
	                                      sizeof(err)) > 0);
	/* No sample at all. */
	assert_int_equal(fwd_netfilter_sample_spec("a/m", &f, NULL, AF_INET, buf, sizeof(buf), err,
	                                           sizeof(err)),
	                 -EINVAL);
	/* Too small a buffer. */
	s.tag = "m";
	assert_int_equal(
	        fwd_netfilter_sample_spec("a/m", &f, &s, AF_INET, buf, 16, err, sizeof(err)),
	        -ENOSPC);
}

/* The queue rules are as before the sampling target was added. */
static void test_queue_rule_unchanged(void **state)
{
	char buf[1024], err[256];
	struct ncm_filter f = udp_filter(5060);
	(void)state;
	assert_true(fwd_netfilter_rule_spec("a/m", &f, 7, AF_INET, buf, sizeof(buf), err,
	                                    sizeof(err)) > 0);
	assert_string_equal(buf, "-p udp --dport 5060 -m comment --comment \"netserv:a/m\" "
	                         "-j NFQUEUE --queue-num 7 --queue-bypass");
	assert_true(fwd_netfilter_rule_spec("a/m", &f, FWD_QUEUE_RANGE(2, 5), AF_INET, buf,
	                                    sizeof(buf), err, sizeof(err)) > 0);
	assert_non_null(strstr(buf, "-j NFQUEUE --queue-balance 2:5 --queue-bypass"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sample_rule),
	        cmocka_unit_test(test_sample_bad),
	        cmocka_unit_test(test_queue_rule_unchanged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
