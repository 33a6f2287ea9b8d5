/* Unit tests: the typed supervisor <-> container messages (proto/msg.c):
 * round trips, the defaults of absent keys, and refusals of malformed input
 * (an escaped container may send anything). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto/msg.h"

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	assert_non_null(j);
	return j;
}

static void test_assign_round_trip(void **state)
{
	struct proto_assign a, b;
	char err[128];

	proto_assign_defaults(&a);
	snprintf(a.user, sizeof(a.user), "janedoe");
	a.uid = 30000;
	a.gid = 30001;
	a.budget_ms = 7;
	a.queue = 4242;
	a.batch = 64;
	a.rt_priority = 10;
	a.cpu = 1;
	snprintf(a.sandbox.netns, sizeof(a.sandbox.netns), "nsX");
	snprintf(a.sandbox.listen_ports, sizeof(a.sandbox.listen_ports), "tcp:80");
	a.sandbox.no_seccomp = true;
	a.n_xsk = 2;
	a.xsk_ifindex[0] = 7;
	a.xsk_ifindex[1] = 9;
	json_t *j = proto_assign_to_json(&a);
	assert_non_null(j);
	assert_int_equal(proto_assign_from_json(j, &b, err, sizeof(err)), 0);
	json_decref(j);
	assert_string_equal(b.user, "janedoe");
	assert_int_equal(b.uid, 30000);
	assert_int_equal(b.gid, 30001);
	assert_int_equal(b.nice, PROTO_DEFAULT_NICE);
	assert_int_equal(b.budget_ms, 7);
	assert_int_equal(b.mem_max_pages, PROTO_DEFAULT_MEM_MAX_PAGES);
	assert_int_equal(b.queue, 4242);
	assert_int_equal(b.batch, 64);
	assert_int_equal(b.rt_priority, 10);
	assert_int_equal(b.cpu, 1);
	assert_string_equal(b.sandbox.netns, "nsX");
	assert_string_equal(b.sandbox.listen_ports, "tcp:80");
	assert_true(b.sandbox.no_seccomp);
	assert_false(b.sandbox.no_landlock);
	assert_int_equal(b.n_xsk, 2);
	assert_int_equal(b.xsk_ifindex[0], 7);
	assert_int_equal(b.xsk_ifindex[1], 9);
}

/* Absent keys take the one set of defaults. */
static void test_assign_defaults(void **state)
{
	struct proto_assign a;
	char err[128];
	json_t *j = parse("{\"user\":\"bob\"}");

	assert_int_equal(proto_assign_from_json(j, &a, err, sizeof(err)), 0);
	json_decref(j);
	assert_string_equal(a.user, "bob");
	assert_int_equal(a.uid, -1);
	assert_int_equal(a.queue, -1);
	assert_int_equal(a.cpu, -1);
	assert_int_equal(a.budget_ms, PROTO_DEFAULT_BUDGET_MS);
	assert_int_equal(a.trap_limit, PROTO_DEFAULT_TRAP_LIMIT);
	assert_int_equal(a.trap_window_s, PROTO_DEFAULT_TRAP_WINDOW_S);
	assert_int_equal(a.log_per_s, PROTO_DEFAULT_LOG_PER_S);
}

static void test_assign_refusals(void **state)
{
	static const char *const bad[] = {
	        "[]",
	        "{}",
	        "{\"user\":\"\"}",
	        "{\"user\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	        "{\"user\":7}",
	        "{\"user\":\"a\",\"uid\":\"0\"}",
	        "{\"user\":\"a\",\"queue\":70000}",
	        "{\"user\":\"a\",\"queue\":-2}",
	        "{\"user\":\"a\",\"budget_ms\":-1}",
	        "{\"user\":\"a\",\"budget_ms\":0}",
	        "{\"user\":\"a\",\"rt_priority\":100}",
	        "{\"user\":\"a\",\"nice\":40}",
	        "{\"user\":\"a\",\"batch\":1.5}",
	        "{\"user\":\"a\",\"xsk_ifindex\":[1,2,3,4,5]}",
	        "{\"user\":\"a\",\"xsk_ifindex\":[0]}",
	        "{\"user\":\"a\",\"xsk_ifindex\":7}",
	};
	struct proto_assign a;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = parse(bad[i]);
		err[0] = '\0';
		if (proto_assign_from_json(j, &a, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(err[0] != '\0');
		json_decref(j);
	}
}

static void test_install_round_trip(void **state)
{
	struct proto_install m = {0}, n;
	char err[128];

	snprintf(m.module, sizeof(m.module), "NetServ.apps.X_1.0");
	snprintf(m.so, sizeof(m.so), "abc.so");
	m.properties = json_pack("{s:s}", "k", "v,w");
	m.n_filters = 2;
	m.filters[0].proto = 17;
	m.filters[0].port_lo = 5060;
	m.filters[0].port_hi = 5070;
	m.filters[1].proto = 6;
	assert_int_equal(ncm_prefix_parse("2001:db8::/32", &m.filters[1].src), 0);
	json_t *j = proto_install_to_json(&m);
	assert_non_null(j);
	assert_int_equal(proto_install_from_json(j, &n, err, sizeof(err)), 0);
	json_decref(j);
	assert_string_equal(n.module, "NetServ.apps.X_1.0");
	assert_string_equal(n.so, "abc.so");
	assert_string_equal(json_string_value(json_object_get(n.properties, "k")), "v,w");
	assert_int_equal(n.n_filters, 2);
	assert_int_equal(n.filters[0].proto, 17);
	assert_int_equal(n.filters[0].port_lo, 5060);
	assert_int_equal(n.filters[0].port_hi, 5070);
	assert_int_equal(n.filters[0].src.family, 0);
	assert_int_equal(n.filters[1].proto, 6);
	assert_int_equal(n.filters[1].port_lo, 0);
	assert_memory_equal(&n.filters[1].src, &m.filters[1].src, sizeof(m.filters[1].src));
	proto_install_clear(&n);
	proto_install_clear(&m);

	/* No filter, no properties: an empty object, every packet. */
	j = parse("{\"module\":\"m\",\"so\":\"s\"}");
	assert_int_equal(proto_install_from_json(j, &n, err, sizeof(err)), 0);
	json_decref(j);
	assert_int_equal(n.n_filters, 0);
	assert_true(json_is_object(n.properties));
	proto_install_clear(&n);
}

#define F1 "{\"proto\":17,\"port_lo\":0,\"port_hi\":0,\"src\":\"any\",\"dst\":\"any\"}"
#define F9 F1 "," F1 "," F1 "," F1 "," F1 "," F1 "," F1 "," F1 "," F1

static void test_install_refusals(void **state)
{
	static const char *const bad[] = {
	        "{\"so\":\"s\"}",
	        "{\"module\":\"m\"}",
	        "{\"module\":\"m\",\"so\":\"s\",\"properties\":[]}",
	        "{\"module\":\"m\",\"so\":\"s\",\"filters\":[{\"proto\":17}]}",
	        "{\"module\":\"m\",\"so\":\"s\",\"filters\":[{\"proto\":17,\"port_lo\":9,"
	        "\"port_hi\":1,\"src\":\"any\",\"dst\":\"any\"}]}",
	        /* not an array; the old one-filter key; more than NCM_MAX_FILTERS */
	        "{\"module\":\"m\",\"so\":\"s\",\"filters\":{\"proto\":17,\"port_lo\":0,"
	        "\"port_hi\":0,\"src\":\"any\",\"dst\":\"any\"}}",
	        "{\"module\":\"m\",\"so\":\"s\",\"filter\":{\"proto\":17,\"port_lo\":0,"
	        "\"port_hi\":0,\"src\":\"any\",\"dst\":\"any\"}}",
	        "{\"module\":\"m\",\"so\":\"s\",\"filters\":[" F9 "]}",
	};
	struct proto_install m;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = parse(bad[i]);
		if (proto_install_from_json(j, &m, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		json_decref(j);
	}
}

static void test_event(void **state)
{
	struct proto_event e = {.kind = PROTO_EVENT_FAILED}, f;
	char err[128];

	snprintf(e.module, sizeof(e.module), "m1");
	snprintf(e.reason, sizeof(e.reason), "5 traps in 60 s");
	json_t *j = proto_event_to_json(&e);
	assert_string_equal(json_string_value(json_object_get(j, "event")), "failed");
	assert_int_equal(proto_event_from_json(j, &f, err, sizeof(err)), 0);
	json_decref(j);
	assert_int_equal(f.kind, PROTO_EVENT_FAILED);
	assert_string_equal(f.module, "m1");
	assert_string_equal(f.reason, "5 traps in 60 s");
	assert_string_equal(proto_event_name(PROTO_EVENT_TRAP), "trap");
	assert_string_equal(proto_event_name((enum proto_event_kind)99), "?");

	j = parse("{\"module\":\"m1\",\"event\":\"restarted\"}");
	assert_int_equal(proto_event_from_json(j, &f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "restarted"));
	json_decref(j);
	j = parse("{\"event\":\"trap\"}");
	assert_int_equal(proto_event_from_json(j, &f, err, sizeof(err)), -EINVAL);
	json_decref(j);
}

static void test_remove(void **state)
{
	struct proto_remove r = {.module = "abc"}, s;
	char err[128];
	json_t *j = proto_remove_to_json(&r);

	assert_int_equal(proto_remove_from_json(j, &s, err, sizeof(err)), 0);
	assert_string_equal(s.module, "abc");
	json_decref(j);
	j = parse("{\"module\":1}");
	assert_int_equal(proto_remove_from_json(j, &s, err, sizeof(err)), -EINVAL);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_assign_round_trip),
	        cmocka_unit_test(test_assign_defaults),
	        cmocka_unit_test(test_assign_refusals),
	        cmocka_unit_test(test_install_round_trip),
	        cmocka_unit_test(test_install_refusals),
	        cmocka_unit_test(test_event),
	        cmocka_unit_test(test_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
