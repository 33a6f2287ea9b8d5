/* sdk_fake_host.h: the module imports (ns_import_*) for native builds of the
 * SDK (tests/unit/test_sdk_util.c, test_sip.c, the SIP fuzz harness): logs go
 * to stderr, properties come from a table the test sets, counters and
 * timers are accepted and ignored, sends are refused. */
#ifndef NETSERV_TESTS_SDK_FAKE_HOST_H
#define NETSERV_TESTS_SDK_FAKE_HOST_H

/* Sets the properties the fake ns_import_prop_get answers from: kv holds
 * key, value, key, value, ..., NULL (the strings are not copied and must
 * outlive their use); NULL for none. */
void fake_host_props(const char *const *kv);

#endif
