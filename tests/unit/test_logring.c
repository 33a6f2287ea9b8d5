/* Unit tests: the bounded ring of a module's log lines (lib/logring.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/logring.h"

static struct logring ring;

static void add(struct logring *r, const char *s)
{
	logring_add(r, 1000, 1, s, strlen(s));
}

static void test_empty(void **state)
{
	(void)state;
	logring_init(&ring);
	assert_null(logring_get(&ring, 0));
	assert_null(logring_last(&ring));
	assert_int_equal(logring_dropped(&ring), 0);
}

static void test_order_and_overwrite(void **state)
{
	(void)state;
	logring_init(&ring);
	char s[32];
	for (int i = 0; i < LOGRING_LINES + 5; i++) {
		snprintf(s, sizeof(s), "line %d", i);
		add(&ring, s);
	}
	assert_int_equal(ring.n, LOGRING_LINES);
	assert_int_equal(ring.overwritten, 5);
	assert_string_equal(logring_get(&ring, 0)->text, "line 5");
	snprintf(s, sizeof(s), "line %d", LOGRING_LINES + 4);
	assert_string_equal(logring_get(&ring, LOGRING_LINES - 1)->text, s);
	assert_string_equal(logring_last(&ring), s);
	assert_null(logring_get(&ring, LOGRING_LINES));
	logring_suppress(&ring);
	logring_suppress(&ring);
	assert_int_equal(logring_dropped(&ring), 7);
}

static void test_cut_and_cleaned(void **state)
{
	(void)state;
	logring_init(&ring);
	char big[LOGRING_LINE_MAX * 2];
	memset(big, 'a', sizeof(big));
	logring_add(&ring, 5, 9, big, sizeof(big));
	const struct logring_line *l = logring_get(&ring, 0);
	assert_int_equal(strlen(l->text), LOGRING_LINE_MAX);
	assert_memory_equal(l->text + LOGRING_LINE_MAX - 3, "...", 3);
	assert_int_equal(l->level, 3);
	assert_int_equal(l->time_ms, 5);
	/* Exactly the maximum is kept whole. */
	logring_add(&ring, 6, 0, big, LOGRING_LINE_MAX);
	assert_int_equal(strlen(logring_last(&ring)), LOGRING_LINE_MAX);
	assert_null(strstr(logring_last(&ring), "..."));
	/* Control characters, bytes >= 0x7f and NULs become '?'. */
	logring_add(&ring, 7, 2, "a\nb\0c\x80\x7f", 7);
	assert_string_equal(logring_last(&ring), "a?b?c??");
	assert_string_equal(logring_level_name(0), "err");
	assert_string_equal(logring_level_name(7), "debug");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty),
	        cmocka_unit_test(test_order_and_overwrite),
	        cmocka_unit_test(test_cut_and_cleaned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
