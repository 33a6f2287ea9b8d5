/* Unit tests: notifications to publishers (ctl/notify.h): the destination's
 * syntax, the JSON encoder and its size bound, sending with the rate limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/notify.h"

static void test_parse(void **state)
{
	(void)state;
	struct notify_dest d;
	char err[256];
	assert_int_equal(notify_dest_parse("udp:192.0.2.1:5000", &d, err, sizeof(err)), 0);
	assert_int_equal(d.family, AF_INET);
	assert_int_equal(d.port, 5000);
	assert_memory_equal(d.addr, "\xc0\x00\x02\x01", 4);
	assert_int_equal(notify_dest_parse("udp:[2001:db8::1]:65535", &d, err, sizeof(err)), 0);
	assert_int_equal(d.family, AF_INET6);
	assert_int_equal(d.port, 65535);
	assert_int_equal(notify_dest_parse("https://pub.example/n", &d, err, sizeof(err)),
	                 -ENOTSUP);
	assert_non_null(strstr(err, "notification"));
	static const char *const bad[] = {
	        "udp:192.0.2.1",       "udp:192.0.2.1:0",     "udp:192.0.2.1:65536",
	        "udp:192.0.2.1:",      "udp:host.example:53", "udp:2001:db8::1:53",
	        "udp:[2001:db8::1]53", "tcp:192.0.2.1:5000",  "udp::5000",
	        "udp:192.0.2.1:50x0",  "192.0.2.1:5000",      "udp:[192.0.2.1:5000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(notify_dest_parse(bad[i], &d, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "udp:ADDRESS:PORT"));
	}
}

static void test_encode(void **state)
{
	(void)state;
	char buf[NOTIFY_MAX_BYTES + 1];
	struct notify_event e = {.node = "ra",
	                         .user = "janedoe",
	                         .module = "NetServ.apps.X_1.0",
	                         .event = "failed",
	                         .reason = "5 traps \"quoted\"\n",
	                         .time_ms = 1700000000123,
	                         .dropped = 3};
	int n = notify_encode(&e, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(buf));
	json_error_t je;
	json_t *j = json_loads(buf, 0, &je);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "node")), "ra");
	assert_string_equal(json_string_value(json_object_get(j, "event")), "failed");
	assert_string_equal(json_string_value(json_object_get(j, "reason")), "5 traps \"quoted\"?");
	assert_int_equal(json_integer_value(json_object_get(j, "time_ms")), 1700000000123);
	assert_int_equal(json_integer_value(json_object_get(j, "dropped")), 3);
	json_decref(j);

	/* No reason: null. */
	e.reason = NULL;
	assert_true(notify_encode(&e, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\"reason\":null"));

	/* A huge reason, full of characters JSON escapes, is cut to fit. */
	static char big[8000];
	memset(big, '"', sizeof(big) - 1);
	e.reason = big;
	n = notify_encode(&e, buf, sizeof(buf));
	assert_true(n > 0 && n <= NOTIFY_MAX_BYTES);
	j = json_loads(buf, 0, &je);
	assert_non_null(j);
	assert_true(strlen(json_string_value(json_object_get(j, "reason"))) > 100);
	json_decref(j);

	/* A buffer too small even without a reason. */
	assert_int_equal(notify_encode(&e, buf, 20), -ENOSPC);
}

static void test_send_rate_limited(void **state)
{
	(void)state;
	int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(rx >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
	char hdr[64];
	snprintf(hdr, sizeof(hdr), "udp:127.0.0.1:%u", ntohs(a.sin_port));

	struct notifier *n = NULL;
	assert_int_equal(notifier_new(&n), 0);
	struct notify_state st = NOTIFY_STATE_INIT;
	struct notify_event e = {.node = "n", .user = "u", .module = "m", .event = "trap"};
	int sent = 0, limited = 0;
	for (int i = 0; i < NOTIFY_BURST + 5; i++) {
		int r = notifier_send(n, hdr, &st, &e);
		if (r == 0)
			sent++;
		else if (r == -EAGAIN)
			limited++;
	}
	/* Within one window (the test runs in well under a second, else skip
	 * the exact counts). */
	assert_int_equal(sent + limited, NOTIFY_BURST + 5);
	assert_true(sent >= NOTIFY_BURST);
	assert_int_equal(st.sent, (uint64_t)sent);
	assert_int_equal(st.dropped, (uint64_t)limited);
	char buf[2048];
	int got = 0;
	while (recv(rx, buf, sizeof(buf), 0) > 0)
		got++;
	assert_int_equal(got, sent);
	assert_int_equal(notifier_send(n, "udp:nowhere", &st, &e), -EINVAL);
	notifier_free(n);
	close(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse),
	        cmocka_unit_test(test_encode),
	        cmocka_unit_test(test_send_rate_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
