/* Unit tests: running a program to its end with limits (lib/subprocess.c). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/subprocess.h"

static uint64_t ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Dead: no such process, or a zombie nobody reaped yet (the test's pid 1 may
 * not reap). */
static bool gone(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return !p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* Waits up to 3 s for pid to be gone. */
static bool wait_gone(pid_t pid)
{
	uint64_t until = ms() + 3000;
	while (!gone(pid) && ms() < until)
		usleep(10000);
	return gone(pid);
}

static void test_capture_and_status(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "printf out; printf err >&2; exit 3", NULL};
	struct subprocess sp = {.argv = argv,
	                        .out = SUBPROCESS_CAPTURE,
	                        .err = SUBPROCESS_CAPTURE,
	                        .out_max = 64,
	                        .err_max = 64};
	struct subprocess_result res;

	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_int_equal(subprocess_exit_code(&res), 3);
	assert_string_equal(res.out, "out");
	assert_string_equal(res.err, "err");
	assert_false(res.timed_out);
	subprocess_result_done(&res);

	sp.err_to_out = true;
	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_string_equal(res.out, "outerr");
	assert_null(res.err);
	subprocess_result_done(&res);
}

static void test_input(void **state)
{
	size_t n = 1u << 20;
	char *big = malloc(n);
	char *wc[] = {"wc", "-c", NULL}, *no_reader[] = {"true", NULL};
	struct subprocess sp = {
	        .argv = wc, .input = big, .input_len = n, .out = SUBPROCESS_CAPTURE, .out_max = 64};
	struct subprocess_result res;

	assert_non_null(big);
	memset(big, 'x', n);
	assert_int_equal(subprocess_run(&sp, &res), 0); /* found in $PATH */
	assert_int_equal(subprocess_exit_code(&res), 0);
	assert_int_equal(strtoul(res.out, NULL, 10), n);
	subprocess_result_done(&res);
	/* A child that never reads its input: no SIGPIPE here, no hang. */
	sp.argv = no_reader;
	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_int_equal(subprocess_exit_code(&res), 0);
	subprocess_result_done(&res);
	free(big);
}

static void test_output_bound(void **state)
{
	char *argv[] = {"head", "-c", "100000", "/dev/zero", NULL};
	struct subprocess sp = {.argv = argv, .out = SUBPROCESS_CAPTURE, .out_max = 100};
	struct subprocess_result res;

	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_int_equal(res.out_len, 100);
	assert_true(res.out_cut);
	subprocess_result_done(&res);
}

static void test_timeout_kills_group(void **state)
{
	/* The child starts a grandchild that would outlive it, then hangs. */
	char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo $!; exec sleep 30", NULL};
	struct subprocess sp = {
	        .argv = argv, .out = SUBPROCESS_CAPTURE, .out_max = 64, .timeout_ms = 300};
	struct subprocess_result res;
	uint64_t t0 = ms();

	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_true(ms() - t0 < 5000);
	assert_true(res.timed_out);
	assert_true(WIFSIGNALED(res.status));
	assert_int_equal(WTERMSIG(res.status), SIGKILL);
	pid_t grandchild = (pid_t)atoi(res.out);
	assert_true(grandchild > 0);
	/* Killed with the group: gone (reaped by init) within a deadline. */
	assert_true(wait_gone(grandchild));
	subprocess_result_done(&res);
}

static void test_exit_leaves_no_grandchild(void **state)
{
	char *argv[] = {"/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!", NULL};
	struct subprocess sp = {.argv = argv, .out = SUBPROCESS_CAPTURE, .out_max = 64};
	struct subprocess_result res;

	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_int_equal(subprocess_exit_code(&res), 0);
	pid_t grandchild = (pid_t)atoi(res.out);
	assert_true(grandchild > 0);
	assert_true(wait_gone(grandchild));
	subprocess_result_done(&res);
}

static int setup_fails(void *arg)
{
	(void)arg;
	return -1;
}

static void test_cannot_run(void **state)
{
	char *missing[] = {"no-such-program-for-netserv", NULL}, *ok[] = {"/bin/true", NULL};
	struct subprocess sp = {.argv = missing, .path = "/usr/bin:/bin"};
	struct subprocess_result res;

	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_int_equal(subprocess_exit_code(&res), SUBPROCESS_EXIT_NOEXEC);
	sp.argv = ok;
	sp.child_setup = setup_fails;
	assert_int_equal(subprocess_run(&sp, &res), 0);
	assert_int_equal(subprocess_exit_code(&res), SUBPROCESS_EXIT_SETUP);
	sp.argv = NULL;
	assert_int_equal(subprocess_run(&sp, &res), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_capture_and_status),
	        cmocka_unit_test(test_input),
	        cmocka_unit_test(test_output_bound),
	        cmocka_unit_test(test_timeout_kills_group),
	        cmocka_unit_test(test_exit_leaves_no_grandchild),
	        cmocka_unit_test(test_cannot_run),
	};
	signal(SIGCHLD, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
