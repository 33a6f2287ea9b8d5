/* The http/1 building block's response-header marshalling
 * (http_headers_parse): what a module writes as header text, and what is
 * refused (no response splitting); ns_http_fetch_cancel of an id that names
 * no fetch. The server itself is tested end to end by
 * tests/daemon/test_http_module.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "container/http_block.h"
#include "container/modhost_internal.h"

/* The import (declared by the generated glue, abi/glue.c). */
uint32_t Z_netservZ_ns_http_fetch_cancel(struct Z_netserv_instance_t *ctx, uint32_t id);

struct seen {
	int n;
	char text[512];
};

static int collect(void *ctx, const char *name, const char *value)
{
	struct seen *s = ctx;
	size_t used = strlen(s->text);
	snprintf(s->text + used, sizeof(s->text) - used, "[%s=%s]", name, value);
	s->n++;
	return 0;
}

static int parse(const char *text, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return http_headers_parse(text, strlen(text), collect, s);
}

static void test_lines(void **state)
{
	struct seen s;
	(void)state;
	assert_int_equal(parse("", &s), 0);
	assert_int_equal(parse("Content-Type: text/plain", &s), 1);
	assert_string_equal(s.text, "[Content-Type=text/plain]");
	assert_int_equal(parse("A: 1\r\nB:2\n\nC:  spaced value \t\r\n", &s), 3);
	assert_string_equal(s.text, "[A=1][B=2][C=spaced value]");
	assert_int_equal(parse("X-Empty:", &s), 1);
	assert_string_equal(s.text, "[X-Empty=]");
	assert_int_equal(parse("X-Tab: a\tb", &s), 1);
	assert_string_equal(s.text, "[X-Tab=a\tb]");
}

static void test_refused(void **state)
{
	struct seen s;
	(void)state;
	assert_int_equal(parse("no colon", &s), -EINVAL);
	assert_int_equal(parse(": no name", &s), -EINVAL);
	assert_int_equal(parse("Bad Name: x", &s), -EINVAL);
	assert_int_equal(parse("A: 1\rSet-Cookie: x", &s), -EINVAL); /* a lone CR */
	assert_int_equal(parse("A: \x01", &s), -EINVAL);
	char big[2000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = ':';
	assert_int_equal(parse(big, &s), -EINVAL);
	/* The first good lines were seen before the bad one. */
	assert_int_equal(parse("A: 1\nB C: 2", &s), -EINVAL);
	assert_int_equal(s.n, 1);
}

static int refuse(void *ctx, const char *name, const char *value)
{
	(void)ctx;
	(void)name;
	(void)value;
	return -ENOMEM;
}

static void test_callback_error(void **state)
{
	(void)state;
	assert_int_equal(http_headers_parse("A: 1", 4, refuse, NULL), -ENOMEM);
	/* Length, not NUL, ends the text. */
	struct seen s = {0};
	assert_int_equal(http_headers_parse("A: 1\nB: 2", 4, collect, &s), 1);
	assert_string_equal(s.text, "[A=1]");
}

/* ns_http_fetch_cancel: -ENOENT for an id that is no fetch of the module's,
 * before it made any (no fetch state) and for any id. */
static void test_fetch_cancel_unknown(void **state)
{
	(void)state;
	struct mod m = {0};
	struct Z_netserv_instance_t inst = {.m = &m};
	assert_int_equal((int32_t)Z_netservZ_ns_http_fetch_cancel(&inst, 0), -ENOENT);
	assert_int_equal((int32_t)Z_netservZ_ns_http_fetch_cancel(&inst, 0x7fffffff), -ENOENT);
	assert_null(m.fetch); /* cancelling made no fetch state */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lines),
	        cmocka_unit_test(test_refused),
	        cmocka_unit_test(test_callback_error),
	        cmocka_unit_test(test_fetch_cancel_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
