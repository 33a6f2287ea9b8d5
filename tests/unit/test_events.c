/* Unit tests: the controller's ring of recent events (ctl/events.h): it is
 * bounded (the oldest go), keeps order and sequence numbers, cuts and
 * cleans the strings publishers give, and renders as JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/events.h"

static void test_empty(void **state)
{
	struct ctl_events e;
	assert_int_equal(ctl_events_init(&e, 0), -EINVAL);
	assert_int_equal(ctl_events_init(&e, 3), 0);
	assert_null(ctl_events_get(&e, 0));
	json_t *j = ctl_events_json(&e);
	assert_true(json_is_array(j));
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
	ctl_events_done(&e);
	ctl_events_add(&e, 1, "a", "b", "c", "d"); /* after done: ignored */
	assert_int_equal(e.n, 0);
}

static void test_bounded_and_ordered(void **state)
{
	struct ctl_events e;
	assert_int_equal(ctl_events_init(&e, 4), 0);
	char mod[32];
	for (int i = 1; i <= 3; i++) {
		snprintf(mod, sizeof(mod), "m%d", i);
		ctl_events_add(&e, 1000 + i, "pub", mod, "setup", NULL);
	}
	assert_int_equal(e.n, 3);
	assert_string_equal(ctl_events_get(&e, 0)->module, "m1");
	assert_string_equal(ctl_events_get(&e, 2)->module, "m3");
	assert_null(ctl_events_get(&e, 3));
	for (int i = 4; i <= 10; i++) {
		snprintf(mod, sizeof(mod), "m%d", i);
		ctl_events_add(&e, 1000 + i, "pub", mod, "trap", "why");
	}
	assert_int_equal(e.n, 4); /* bounded */
	for (size_t i = 0; i < 4; i++) {
		const struct ctl_event *ev = ctl_events_get(&e, i);
		snprintf(mod, sizeof(mod), "m%zu", i + 7);
		assert_string_equal(ev->module, mod); /* the last 4, oldest first */
		assert_int_equal(ev->seq, i + 7);
		assert_int_equal(ev->at_ms, 1007 + (int64_t)i);
	}
	assert_int_equal(e.seq, 10);
	ctl_events_done(&e);
}

static void test_strings(void **state)
{
	struct ctl_events e;
	assert_int_equal(ctl_events_init(&e, 2), 0);
	char long_reason[1000];
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	/* "é" (2 bytes) placed across the bound: cut before it, not inside. */
	memcpy(long_reason + CTL_EVENT_REASON_LEN - 2, "\xc3\xa9", 2);
	ctl_events_add(&e, 1, NULL, NULL, "failed", long_reason);
	const struct ctl_event *ev = ctl_events_get(&e, 0);
	assert_string_equal(ev->publisher, "");
	assert_string_equal(ev->module, "");
	assert_int_equal(strlen(ev->reason), CTL_EVENT_REASON_LEN - 2);
	assert_int_equal(ev->reason[CTL_EVENT_REASON_LEN - 3], 'x');

	ctl_events_add(&e, 2, "p", "m", "refused", "bad\xff\nline caf\xc3\xa9 \xe2\x82");
	ev = ctl_events_get(&e, 1);
	assert_string_equal(ev->reason, "bad??line caf\xc3\xa9 ??");
	json_t *j = ctl_events_json(&e);
	assert_non_null(j); /* json_string() refuses invalid UTF-8: all were cleaned */
	ctl_events_done(&e);
	json_decref(j);
}

static void test_json(void **state)
{
	struct ctl_events e;
	assert_int_equal(ctl_events_init(&e, 2), 0);
	ctl_events_add(&e, 5, "janedoe", "Mod_1.0", "setup", NULL);
	ctl_events_add(&e, 6, "janedoe", "Mod_1.0", "failed", "<script>alert(1)</script>");
	ctl_events_add(&e, 7, "janedoe", NULL, "restarted", "exit 1");
	json_t *j = ctl_events_json(&e);
	char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(
	        text, "[{\"module\":\"Mod_1.0\",\"publisher\":\"janedoe\",\"reason\":\"<script>"
	              "alert(1)</script>\",\"seq\":2,\"time_ms\":6,\"what\":\"failed\"},"
	              "{\"module\":null,\"publisher\":\"janedoe\",\"reason\":\"exit 1\","
	              "\"seq\":3,\"time_ms\":7,\"what\":\"restarted\"}]");
	free(text);
	json_decref(j);
	ctl_events_done(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_empty),
	        cmocka_unit_test(test_bounded_and_ordered),
	        cmocka_unit_test(test_strings),
	        cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
