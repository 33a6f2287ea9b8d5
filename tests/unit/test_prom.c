/* Unit tests: the Prometheus text format (lib/prom.h): label-value escaping
 * (publisher and module names are any bytes a SETUP may carry), HELP text,
 * samples, and the histogram's buckets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/prom.h"

static char *finish(struct prom_buf *b)
{
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(prom_buf_finish(b, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void test_label_escaping(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
	        {"plain-name_1", "plain-name_1"},
	        {"back\\slash", "back\\\\slash"},
	        {"a \"quoted\" name", "a \\\"quoted\\\" name"},
	        {"two\nlines", "two\\nlines"},
	        {"tab\tand cr\r", "tab\tand cr\r"}, /* allowed as they are */
	        {"10.0.0.1>10.0.0.2/64 pkts", "10.0.0.1>10.0.0.2/64 pkts"},
	        {"caf\xc3\xa9 \xe2\x82\xac", "caf\xc3\xa9 \xe2\x82\xac"}, /* valid UTF-8 kept */
	        {"bad\xff", "bad\xef\xbf\xbd"},                           /* invalid byte */
	        {"cut\xe2\x82", "cut\xef\xbf\xbd\xef\xbf\xbd"},           /* truncated */
	        {"over\xc0\xaf", "over\xef\xbf\xbd\xef\xbf\xbd"},         /* overlong '/' */
	        {"surr\xed\xa0\x80", "surr\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	        {"", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prom_buf b = {0};
		prom_escape_label(&b, cases[i].in);
		char *text = finish(&b);
		assert_string_equal(text, cases[i].out);
		free(text);
	}
}

static void test_family_and_samples(void **state)
{
	struct prom_buf b = {0};
	prom_family(&b, "netserv_module_packets_total", "counter",
	            "Packets a module was called for.\nSecond \\ line \"as is\".");
	struct prom_label l[] = {{"publisher", "acme"}, {"module", "my \"mod\"\n"}};
	prom_sample_u64(&b, "netserv_module_packets_total", l, 2, 18446744073709551615ull);
	prom_sample_u64(&b, "netserv_up", NULL, 0, 1);
	prom_sample_double(&b, "netserv_ratio", l, 1, 0.25);
	prom_sample_double(&b, "netserv_ratio", NULL, 0, 1.0 / 0.0);
	prom_sample_double(&b, "netserv_ratio", NULL, 0, 0.1);
	char *text = finish(&b);
	assert_string_equal(
	        text,
	        "# HELP netserv_module_packets_total Packets a module was called for.\\nSecond "
	        "\\\\ line \"as is\".\n"
	        "# TYPE netserv_module_packets_total counter\n"
	        "netserv_module_packets_total{publisher=\"acme\",module=\"my \\\"mod\\\"\\n\"} "
	        "18446744073709551615\n"
	        "netserv_up 1\n"
	        "netserv_ratio{publisher=\"acme\"} 0.25\n"
	        "netserv_ratio +Inf\n"
	        "netserv_ratio 0.1\n");
	free(text);
}

static void test_histogram(void **state)
{
	struct prom_histogram h;
	const double bounds[] = {0.01, 0.1, 1, 10};
	assert_int_equal(prom_histogram_init(&h, bounds, 4), 0);
	const double obs[] = {0.005, 0.01, 0.05, 0.5, 0.5, 2, 100};
	for (size_t i = 0; i < sizeof(obs) / sizeof(obs[0]); i++)
		prom_histogram_observe(&h, obs[i]);
	struct prom_buf b = {0};
	struct prom_label l[] = {{"stage", "x\"y"}};
	prom_histogram_write(&b, "netserv_t_seconds", l, 1, &h);
	char *text = finish(&b);
	/* Cumulative; a value equal to a bound is in that bound's bucket. */
	assert_string_equal(text, "netserv_t_seconds_bucket{stage=\"x\\\"y\",le=\"0.01\"} 2\n"
	                          "netserv_t_seconds_bucket{stage=\"x\\\"y\",le=\"0.1\"} 3\n"
	                          "netserv_t_seconds_bucket{stage=\"x\\\"y\",le=\"1\"} 5\n"
	                          "netserv_t_seconds_bucket{stage=\"x\\\"y\",le=\"10\"} 6\n"
	                          "netserv_t_seconds_bucket{stage=\"x\\\"y\",le=\"+Inf\"} 7\n"
	                          "netserv_t_seconds_sum{stage=\"x\\\"y\"} 103.065\n"
	                          "netserv_t_seconds_count{stage=\"x\\\"y\"} 7\n");
	free(text);

	/* No labels, nothing observed. */
	assert_int_equal(prom_histogram_init(&h, bounds, 1), 0);
	b = (struct prom_buf){0};
	prom_histogram_write(&b, "e", NULL, 0, &h);
	text = finish(&b);
	assert_string_equal(text, "e_bucket{le=\"0.01\"} 0\ne_bucket{le=\"+Inf\"} 0\ne_sum 0\n"
	                          "e_count 0\n");
	free(text);
}

static void test_histogram_bad_bounds(void **state)
{
	struct prom_histogram h;
	const double desc[] = {1, 0.5};
	assert_int_equal(prom_histogram_init(&h, desc, 2), -EINVAL);
	const double dup[] = {1, 1};
	assert_int_equal(prom_histogram_init(&h, dup, 2), -EINVAL);
	const double inf[] = {1, 1.0 / 0.0};
	assert_int_equal(prom_histogram_init(&h, inf, 2), -EINVAL);
	double many[PROM_MAX_BUCKETS + 1];
	for (size_t i = 0; i < PROM_MAX_BUCKETS + 1; i++)
		many[i] = (double)i;
	assert_int_equal(prom_histogram_init(&h, many, PROM_MAX_BUCKETS + 1), -EINVAL);
	assert_int_equal(prom_histogram_init(&h, many, PROM_MAX_BUCKETS), 0);
}

static void test_big_output(void **state)
{
	/* Grows past the first allocation, stays consistent. */
	struct prom_buf b = {0};
	for (int i = 0; i < 5000; i++)
		prom_sample_u64(&b, "netserv_x_total", NULL, 0, (uint64_t)i);
	char *text = finish(&b);
	assert_non_null(strstr(text, "netserv_x_total 4999\n"));
	free(text);
	prom_buf_free(&b); /* after finish: empty, allowed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_label_escaping), cmocka_unit_test(test_family_and_samples),
	        cmocka_unit_test(test_histogram),      cmocka_unit_test(test_histogram_bad_bounds),
	        cmocka_unit_test(test_big_output),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
