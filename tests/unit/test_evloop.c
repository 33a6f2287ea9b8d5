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

/* A periodic timer whose callback (12 ms) runs longer than its period (10 ms)
 * and re-arms before it works, as a module timer does: the loop must still go
 * back to epoll and serve a readable fd between two runs. */
struct hog {
	struct io_hog {
		int fds[2];
		int reads;
	} io;
	int runs;
	int runs_at_first_read;
};

static void busy_ms(unsigned ms)
{
	uint64_t end = evloop_now_ms() + ms;
	while (evloop_now_ms() < end)
		;
}

static void on_hog_timer(struct evloop *loop, void *ctx)
{
	struct hog *h = ctx;
	h->runs++;
	if (h->runs >= 50) { /* 600 ms without I/O: starved */
		evloop_stop(loop);
		return;
	}
	assert_non_null(evloop_timer_add(loop, 10, on_hog_timer, h));
	busy_ms(12);
}

static void on_hog_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct hog *h = ctx;
	char b;
	assert_int_equal(read(fd, &b, 1), 1);
	if (h->io.reads++ == 0)
		h->runs_at_first_read = h->runs;
	if (h->io.reads < 3) {
		assert_int_equal(write(h->io.fds[1], "x", 1), 1);
		return;
	}
	evloop_stop(loop);
}

static void test_overrunning_timer_does_not_starve_io(void **state)
{
	struct evloop *loop;
	struct hog h = {0};
	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(pipe(h.io.fds), 0);
	assert_non_null(evloop_timer_add(loop, 0, on_hog_timer, &h));
	/* The fd becomes readable while the timer runs its first callback. */
	assert_int_equal(evloop_add_fd(loop, h.io.fds[0], EPOLLIN, on_hog_readable, &h), 0);
	assert_int_equal(write(h.io.fds[1], "x", 1), 1);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(h.io.reads, 3);
	/* One timer run at most between two reads. */
	assert_true(h.runs <= h.runs_at_first_read + 3);
	assert_true(h.runs < 50);
	close(h.io.fds[0]);
	close(h.io.fds[1]);
	evloop_free(loop);
}

/* Timers due at the same time all run in one pass; a timer a callback adds
 * with delay 0 runs in the next iteration, after I/O. */
struct pass_rec {
	int fds[2];
	char order[16];
	int n;
};

static void rec_push(struct pass_rec *r, char c)
{
	if (r->n < (int)sizeof(r->order) - 1)
		r->order[r->n++] = c;
}

static void on_late(struct evloop *loop, void *ctx)
{
	rec_push(ctx, 'L');
	evloop_stop(loop);
}

static void on_a(struct evloop *loop, void *ctx)
{
	rec_push(ctx, 'A');
	assert_non_null(evloop_timer_add(loop, 0, on_late, ctx));
}

static void on_b(struct evloop *loop, void *ctx)
{
	struct pass_rec *r = ctx;
	rec_push(r, 'B');
	assert_int_equal(write(r->fds[1], "x", 1), 1);
}

static void on_pass_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	char b;
	assert_int_equal(read(fd, &b, 1), 1);
	rec_push(ctx, 'R');
}

static void test_timers_one_pass(void **state)
{
	struct evloop *loop;
	struct pass_rec r = {0};
	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(pipe(r.fds), 0);
	assert_int_equal(evloop_add_fd(loop, r.fds[0], EPOLLIN, on_pass_readable, &r), 0);
	assert_non_null(evloop_timer_add(loop, 0, on_a, &r));
	assert_non_null(evloop_timer_add(loop, 0, on_b, &r));
	assert_int_equal(evloop_run(loop), 0);
	assert_string_equal(r.order, "ABRL");
	close(r.fds[0]);
	close(r.fds[1]);
	evloop_free(loop);
}

/* The handle API: a watch reports while asked, not after evloop_watch_mod()
 * to no events, again after asking, and never after evloop_watch_del(). */
struct watch_rec {
	int calls;
};

static void on_watch(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct watch_rec *r = ctx;
	(void)fd;
	(void)events;
	r->calls++;
	evloop_stop(loop);
}

static void test_watch_handles(void **state)
{
	struct evloop *loop;
	struct watch_rec r = {0};
	int p[2];
	(void)state;
	assert_int_equal(evloop_new(&loop), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	struct evloop_watch *w = evloop_watch_add(loop, p[0], EPOLLIN, on_watch, &r);
	assert_non_null(w);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(evloop_watch_mod(loop, w, 0), 0);
	assert_non_null(evloop_timer_add(loop, 20, on_stop, NULL));
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(r.calls, 1); /* readable, but not asked */
	assert_int_equal(evloop_watch_mod(loop, w, EPOLLIN), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(r.calls, 2);
	evloop_watch_del(loop, w);
	assert_non_null(evloop_timer_add(loop, 20, on_stop, NULL));
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(r.calls, 2);
	close(p[0]);
	close(p[1]);
	evloop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_timers_order),
	        cmocka_unit_test(test_timer_cancel),
	        cmocka_unit_test(test_fd_readable_and_delete),
	        cmocka_unit_test(test_overrunning_timer_does_not_starve_io),
	        cmocka_unit_test(test_timers_one_pass),
	        cmocka_unit_test(test_watch_handles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
