/* Unit tests: rate limits (lib/ratelimit.h) and the rate-limited log lines
 * of lib/log.h (log_ratelimited, log_peer), on an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"
#include "lib/ratelimit.h"

static void test_burst_then_refused(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(1000, 3);
	uint64_t sup = 99;

	for (int i = 0; i < 3; i++) {
		assert_true(ratelimit_check(&rl, 500, &sup));
		assert_int_equal(sup, 0);
	}
	for (int i = 0; i < 5; i++)
		assert_false(ratelimit_check(&rl, 500 + (uint64_t)i, &sup));
	assert_int_equal(rl.suppressed, 5);
	/* Still the same window one ms before its end. */
	assert_false(ratelimit_check(&rl, 1499, NULL));
	assert_int_equal(rl.suppressed, 6);
}

static void test_reopens_and_reports(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(1000, 2);
	uint64_t sup = 99;

	assert_true(ratelimit_check(&rl, 10, &sup));
	assert_true(ratelimit_check(&rl, 20, &sup));
	for (int i = 0; i < 7; i++)
		assert_false(ratelimit_check(&rl, 30, &sup));
	/* The window reopens at 10 + 1000: the first event gets the count. */
	assert_true(ratelimit_check(&rl, 1010, &sup));
	assert_int_equal(sup, 7);
	assert_int_equal(rl.suppressed, 0);
	/* ...once: the next admitted one has nothing to report. */
	assert_true(ratelimit_check(&rl, 1011, &sup));
	assert_int_equal(sup, 0);
	assert_false(ratelimit_check(&rl, 1012, &sup));
	/* Windows start at the first event after the last one ended, not on a
	 * fixed grid: 1010 + 1000. */
	assert_false(ratelimit_check(&rl, 2009, &sup));
	assert_true(ratelimit_check(&rl, 5000, &sup));
	assert_int_equal(sup, 2);
	assert_true(ratelimit_check(&rl, 5999, &sup));
	assert_false(ratelimit_check(&rl, 5999, &sup));
}

static void test_long_flood_bounded(void **state)
{
	/* 100 events per ms for 10 s: 10 windows of 1 s, 5 admitted in each. */
	struct ratelimit rl = RATELIMIT_INIT(1000, 5);
	uint64_t admitted = 0, reported = 0, sup;

	for (uint64_t t = 0; t < 10000; t++)
		for (int i = 0; i < 100; i++)
			if (ratelimit_check(&rl, t, &sup)) {
				admitted++;
				reported += sup;
			}
	assert_int_equal(admitted, 50);
	/* Every refused event is reported once, but those of the last window,
	 * which wait for the next admitted event. */
	assert_int_equal(reported + rl.suppressed, 1000000 - 50);
	assert_int_equal(rl.suppressed, 100000 - 5);
}

static void test_zero_interval_unlimited(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(0, 0);
	uint64_t sup = 99;

	for (int i = 0; i < 1000; i++)
		assert_true(ratelimit_check(&rl, 7, &sup));
	assert_int_equal(sup, 0);
}

static void test_clock_backwards(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(1000, 1);
	uint64_t sup;

	assert_true(ratelimit_check(&rl, 5000, &sup));
	assert_false(ratelimit_check(&rl, 5001, &sup));
	/* A clock that went back does not keep the window shut for long. */
	assert_true(ratelimit_check(&rl, 100, &sup));
	assert_int_equal(sup, 1);
}

/* ---- log_ratelimited / log_peer, with stderr in a file ------------------------ */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
	return fake_now;
}

struct capture {
	FILE *f;
	int saved;
};

static void capture_start(struct capture *c)
{
	fflush(stderr);
	c->f = tmpfile();
	assert_non_null(c->f);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved >= 0);
	assert_true(dup2(fileno(c->f), STDERR_FILENO) >= 0);
}

/* Restores stderr; returns the captured text (to free). */
static char *capture_end(struct capture *c)
{
	fflush(stderr);
	assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
	close(c->saved);
	long len = ftell(c->f);
	assert_true(len >= 0);
	char *s = calloc(1, (size_t)len + 1);
	assert_non_null(s);
	rewind(c->f);
	assert_int_equal(fread(s, 1, (size_t)len, c->f), (size_t)len);
	fclose(c->f);
	return s;
}

static unsigned count(const char *s, const char *what)
{
	unsigned n = 0;
	for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static int setup_log(void **state)
{
	fake_now = 1000000;
	ratelimit_set_clock(fake_clock);
	log_setup("rltest", LOG_LVL_INFO, false);
	return 0;
}

static int teardown_log(void **state)
{
	ratelimit_set_clock(NULL);
	log_setup("netserv", LOG_LVL_INFO, false);
	return 0;
}

static void test_log_ratelimited(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(5000, 4);
	struct capture c;

	capture_start(&c);
	for (int i = 0; i < 1000; i++)
		log_ratelimited(&rl, LOG_LVL_WARN, "signaling: junk %d from a peer", i);
	fake_now += 5000;
	log_ratelimited(&rl, LOG_LVL_WARN, "signaling: junk %d from a peer", 1000);
	char *out = capture_end(&c);

	assert_int_equal(count(out, "\n"), 4 + 2);
	assert_int_equal(count(out, " rltest warn: signaling: junk "), 5);
	assert_non_null(strstr(out, " rltest warn: signaling: junk 3 from a peer\n"));
	assert_null(strstr(out, "junk 4 "));
	/* The summary, then the line that reopened the window. */
	assert_non_null(strstr(out, " rltest warn: rate limit: 996 messages like the next one "
	                            "suppressed (at most 4 per 5000 ms)\n"));
	assert_true(strstr(out, "suppressed") < strstr(out, "junk 1000 from a peer\n"));
	free(out);
}

static void test_log_below_threshold_not_counted(void **state)
{
	struct ratelimit rl = RATELIMIT_INIT(5000, 2);
	struct capture c;

	capture_start(&c);
	for (int i = 0; i < 50; i++)
		log_ratelimited(&rl, LOG_LVL_DEBUG, "quiet %d", i);
	log_setup("rltest", LOG_LVL_DEBUG, false);
	log_ratelimited(&rl, LOG_LVL_DEBUG, "loud %d", 1);
	log_ratelimited(&rl, LOG_LVL_DEBUG, "loud %d", 2);
	log_ratelimited(&rl, LOG_LVL_DEBUG, "loud %d", 3);
	char *out = capture_end(&c);

	assert_int_equal(count(out, "\n"), 2);
	assert_int_equal(count(out, "quiet"), 0);
	assert_int_equal(count(out, "suppressed"), 0);
	assert_non_null(strstr(out, "rltest debug: loud 2\n"));
	free(out);
}

static void flood_site_a(int i)
{
	log_peer_warn("site a %d", i);
}

static void flood_site_b(int i)
{
	log_peer_warn("site b %d", i);
}

static void test_log_peer_per_site(void **state)
{
	struct capture c;

	capture_start(&c);
	/* A flood at one site leaves the other its own lines. */
	for (int i = 0; i < 5000; i++)
		flood_site_a(i);
	for (int i = 0; i < 3; i++)
		flood_site_b(i);
	for (int i = 0; i < 5000; i++)
		flood_site_a(i);
	fake_now += LOG_PEER_INTERVAL_MS;
	flood_site_a(-1);
	char *out = capture_end(&c);

	assert_int_equal(count(out, "site a "), LOG_PEER_BURST + 1);
	assert_int_equal(count(out, "site b "), 3);
	assert_int_equal(count(out, "\n"), LOG_PEER_BURST + 1 + 3 + 1);
	char want[128];
	snprintf(want, sizeof(want), "rate limit: %d messages like the next one suppressed",
	         10000 - LOG_PEER_BURST);
	assert_non_null(strstr(out, want));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_burst_then_refused),
	        cmocka_unit_test(test_reopens_and_reports),
	        cmocka_unit_test(test_long_flood_bounded),
	        cmocka_unit_test(test_zero_interval_unlimited),
	        cmocka_unit_test(test_clock_backwards),
	        cmocka_unit_test_setup_teardown(test_log_ratelimited, setup_log, teardown_log),
	        cmocka_unit_test_setup_teardown(test_log_below_threshold_not_counted, setup_log,
	                                        teardown_log),
	        cmocka_unit_test_setup_teardown(test_log_peer_per_site, setup_log, teardown_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
