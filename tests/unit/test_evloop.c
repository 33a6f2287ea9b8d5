/* Unit tests: the event loop (fds, timers, removal during dispatch). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/evloop.h"

struct rec {
	int n;
};

static void on_timer(struct evloop *loop, void *ctx)
{
	struct rec *r = ctx;
	r->n++;
	if (r->n == 3)
		evloop_stop(loop);
}

static void test_timers_order(void **state)
{
	struct evloop *loop;
	struct rec r = {0};
	assert_int_equal(evloop_new(&loop), 0);
	uint64_t t0 = evloop_now_ms();
	assert_non_null(evloop_timer_add(loop, 30, on_timer, &r));
	assert_non_null(evloop_timer_add(loop, 10, on_timer, &r));
	assert_non_null(evloop_timer_add(loop, 20, on_timer, &r));
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(r.n, 3);
	assert_true(evloop_now_ms() - t0 >= 30);
	evloop_free(loop);
}

static void on_cancelled(struct evloop *loop, void *ctx)
{
	fail_msg("a cancelled timer fired");
}

static void on_stop(struct evloop *loop, void *ctx)
{
	evloop_stop(loop);
}

static void test_timer_cancel(void **state)
{
	struct evloop *loop;
	assert_int_equal(evloop_new(&loop), 0);
	struct evloop_timer *t = evloop_timer_add(loop, 5, on_cancelled, NULL);
	assert_null(evloop_timer_cancel(loop, t));
	evloop_timer_add(loop, 20, on_stop, NULL);
	assert_int_equal(evloop_run(loop), 0);
	evloop_free(loop);
}

struct io {
	int fds[2];
	int reads;
};

static void on_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct io *io = ctx;
	char c;
	assert_true(events & EPOLLIN);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'x');
	io->reads++;
	/* Removing ourselves inside the callback must be safe. */
	assert_int_equal(evloop_del_fd(loop, fd), 0);
	evloop_stop(loop);
}

static void test_fd_readable_and_delete(void **state)
{
	struct evloop *loop;
	struct io io = {0};
	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(pipe(io.fds), 0);
	assert_int_equal(evloop_add_fd(loop, io.fds[0], EPOLLIN, on_readable, &io), 0);
	assert_int_equal(evloop_add_fd(loop, io.fds[0], EPOLLIN, on_readable, &io), -EEXIST);
	assert_int_equal(write(io.fds[1], "x", 1), 1);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(io.reads, 1);
	assert_int_equal(evloop_del_fd(loop, io.fds[0]), -ENOENT);
	assert_int_equal(evloop_mod_fd(loop, io.fds[0], EPOLLIN), -ENOENT);
	close(io.fds[0]);
	close(io.fds[1]);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_timers_order),
	        cmocka_unit_test(test_timer_cancel),
	        cmocka_unit_test(test_fd_readable_and_delete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
