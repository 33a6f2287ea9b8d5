/* Unit tests: libcurl transfers on the event loop (lib/curl_loop.h), against
 * a small HTTP server on 127.0.0.1 served by the test through the same loop:
 * concurrent transfers, a cancelled one, a refused connect, libcurl's timer,
 * transfers started from a `done`, freeing with transfers under way. Every
 * wait is for a condition with a deadline. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/curl_loop.h"
#include "lib/evloop.h"

#define DEADLINE_MS 10000

/* ---- The server: GET /size/N (N bytes), /status/N (an empty answer with
 * that status), /hang (reads, never answers). One request a connection. */

struct conn {
	struct server *srv;
	int fd;
	char in[2048];
	size_t inlen;
	char *out;
	size_t outlen, outoff;
	bool hang;
	struct conn *next;
};

struct server {
	struct evloop *loop;
	int lfd;
	uint16_t port;
	struct conn *conns;
	int accepted;
	int hang_requests; /* /hang requests received */
	int hang_closed;   /* /hang connections the client closed */
};

static char body_byte(size_t i)
{
	return (char)('a' + i % 26);
}

static void conn_close(struct conn *c)
{
	struct server *srv = c->srv;
	for (struct conn **pp = &srv->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	evloop_del_fd(srv->loop, c->fd);
	close(c->fd);
	free(c->out);
	free(c);
}

static void conn_answer(struct conn *c, const char *path)
{
	unsigned long n = 0;
	int status = 200;
	if (strcmp(path, "/hang") == 0) {
		c->hang = true;
		c->srv->hang_requests++;
		return;
	}
	if (sscanf(path, "/size/%lu", &n) != 1 && sscanf(path, "/status/%d", &status) != 1)
		status = 404;
	char head[256];
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %d X\r\nContent-Length: %lu\r\nConnection: close\r\n\r\n",
	                  status, n);
	c->outlen = (size_t)hl + n;
	c->out = malloc(c->outlen);
	assert_non_null(c->out);
	memcpy(c->out, head, (size_t)hl);
	for (size_t i = 0; i < n; i++)
		c->out[(size_t)hl + i] = body_byte(i);
	assert_int_equal(evloop_mod_fd(c->srv->loop, c->fd, EPOLLOUT), 0);
}

static void on_conn(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct conn *c = ctx;
	if (c->out) {
		ssize_t n = write(fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0)
			c->outoff += (size_t)n;
		if (n <= 0 || c->outoff == c->outlen)
			conn_close(c);
		return;
	}
	ssize_t n = read(fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) { /* the client closed (EOF or reset) */
		if (c->hang)
			c->srv->hang_closed++;
		conn_close(c);
		return;
	}
	if (c->hang)
		return;
	c->inlen += (size_t)n;
	c->in[c->inlen] = '\0';
	if (!strstr(c->in, "\r\n\r\n"))
		return;
	char path[256];
	assert_int_equal(sscanf(c->in, "GET %255s HTTP/1.1", path), 1);
	conn_answer(c, path);
}

static void on_accept(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct server *srv = ctx;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->srv = srv;
	c->fd = cfd;
	c->next = srv->conns;
	srv->conns = c;
	srv->accepted++;
	assert_int_equal(evloop_add_fd(loop, cfd, EPOLLIN, on_conn, c), 0);
}

static void server_start(struct server *srv, struct evloop *loop)
{
	*srv = (struct server){.loop = loop};
	srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(srv->lfd >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(srv->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(srv->lfd, 64), 0);
	assert_int_equal(getsockname(srv->lfd, (struct sockaddr *)&sin, &sl), 0);
	srv->port = ntohs(sin.sin_port);
	assert_int_equal(evloop_add_fd(loop, srv->lfd, EPOLLIN, on_accept, srv), 0);
}

static void server_stop(struct server *srv)
{
	while (srv->conns)
		conn_close(srv->conns);
	evloop_del_fd(srv->loop, srv->lfd);
	close(srv->lfd);
}

/* ---- Running the loop until a condition holds, or a deadline. */

typedef bool cond_fn(void *ctx);

struct wait {
	cond_fn *cond;
	void *ctx;
	bool expired;
};

static void wait_check(struct evloop *loop, void *ctx)
{
	struct wait *w = ctx;
	if (w->cond(w->ctx))
		evloop_stop(loop);
}

static void wait_deadline(struct evloop *loop, void *ctx)
{
	struct wait *w = ctx;
	w->expired = true;
	evloop_stop(loop);
}

/* Whether cond came true within ms. */
static bool run_until(struct evloop *loop, cond_fn *cond, void *ctx, uint64_t ms)
{
	struct wait w = {cond, ctx, false};
	struct evloop_timer *t = evloop_timer_add(loop, ms, wait_deadline, &w);
	assert_non_null(t);
	evloop_set_before_sleep(loop, wait_check, &w);
	assert_int_equal(evloop_run(loop), 0);
	evloop_set_before_sleep(loop, NULL, NULL);
	if (!w.expired)
		evloop_timer_cancel(loop, t);
	return cond(ctx);
}

/* ---- Transfers. */

struct xfer {
	CURL *easy;
	char *body;
	size_t len;
	int done_calls;
	CURLcode result;
	long http;
	int *finished; /* counts the transfers that ended */
};

static size_t xfer_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t len = size * nmemb;
	char *b = realloc(x->body, x->len + len + 1);
	assert_non_null(b);
	x->body = b;
	memcpy(x->body + x->len, data, len);
	x->len += len;
	return len;
}

static void xfer_init(struct xfer *x, uint16_t port, const char *path, int *finished)
{
	*x = (struct xfer){.finished = finished, .result = CURL_LAST};
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	x->easy = curl_easy_init();
	assert_non_null(x->easy);
	curl_easy_setopt(x->easy, CURLOPT_URL, url);
	curl_easy_setopt(x->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)DEADLINE_MS);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, xfer_write);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
}

static void xfer_fini(struct xfer *x)
{
	curl_easy_cleanup(x->easy);
	free(x->body);
}

static void on_done(void *ctx, CURL *easy, CURLcode result)
{
	struct xfer *x = ctx;
	assert_ptr_equal(easy, x->easy);
	x->done_calls++;
	x->result = result;
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &x->http);
	if (x->finished)
		(*x->finished)++;
}

static void on_done_never(void *ctx, CURL *easy, CURLcode result)
{
	fail_msg("the done callback of a cancelled transfer ran (result %d)", result);
}

struct count_at_least {
	int *n;
	int want;
};

static bool count_reached(void *ctx)
{
	struct count_at_least *c = ctx;
	return *c->n >= c->want;
}

struct fixture {
	struct evloop *loop;
	struct curl_loop *cl;
	struct server srv;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(evloop_new(&f->loop), 0);
	assert_int_equal(curl_loop_new(f->loop, &f->cl), 0);
	server_start(&f->srv, f->loop);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	assert_null(curl_loop_free(f->cl));
	server_stop(&f->srv);
	evloop_free(f->loop);
	free(f);
	return 0;
}

/* Several transfers at once, of sizes from empty to 1 MiB, and an HTTP
 * error status (a completed transfer for libcurl: CURLE_OK, status 404). */
static void test_concurrent(void **state)
{
	struct fixture *f = *state;
	static const size_t sizes[] = {0, 1, 100, 5000, 65536, 1 << 20};
	struct xfer x[sizeof(sizes) / sizeof(sizes[0]) + 1];
	size_t n = sizeof(x) / sizeof(x[0]);
	int finished = 0;
	for (size_t i = 0; i < n; i++) {
		char path[64];
		if (i < n - 1)
			snprintf(path, sizeof(path), "/size/%zu", sizes[i]);
		else
			snprintf(path, sizeof(path), "/status/404");
		xfer_init(&x[i], f->srv.port, path, &finished);
		assert_int_equal(curl_loop_add(f->cl, x[i].easy, on_done, &x[i]), 0);
	}
	/* Not from inside curl_loop_add(), and the same handle only once. */
	assert_int_equal(finished, 0);
	assert_int_equal(curl_loop_add(f->cl, x[0].easy, on_done, &x[0]), -EEXIST);

	struct count_at_least c = {&finished, (int)n};
	assert_true(run_until(f->loop, count_reached, &c, DEADLINE_MS));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(x[i].done_calls, 1);
		assert_int_equal(x[i].result, CURLE_OK);
		if (i == n - 1) {
			assert_int_equal(x[i].http, 404);
			assert_int_equal(x[i].len, 0);
		} else {
			assert_int_equal(x[i].http, 200);
			assert_int_equal(x[i].len, sizes[i]);
			for (size_t j = 0; j < sizes[i]; j++)
				if (x[i].body[j] != body_byte(j))
					fail_msg("transfer %zu: byte %zu differs", i, j);
		}
		/* Ended: no longer in the loop. */
		assert_int_equal(curl_loop_remove(f->cl, x[i].easy), -ENOENT);
		xfer_fini(&x[i]);
	}
	assert_int_equal(f->srv.accepted, (int)n);
}

static bool hang_requested(void *ctx)
{
	struct server *srv = ctx;
	return srv->hang_requests >= 1;
}

struct cancel_wait {
	int *finished;
	struct server *srv;
};

static bool other_done_and_hang_closed(void *ctx)
{
	struct cancel_wait *w = ctx;
	return *w->finished >= 1 && w->srv->hang_closed >= 1;
}

/* A cancelled transfer: its callback never runs, its connection is closed;
 * one cancelled before the loop ever ran likewise; another transfer on the
 * same loop is not disturbed. */
static void test_cancel(void **state)
{
	struct fixture *f = *state;
	struct xfer hang, early, other;
	int finished = 0;

	xfer_init(&early, f->srv.port, "/size/10", NULL);
	assert_int_equal(curl_loop_add(f->cl, early.easy, on_done_never, &early), 0);
	assert_int_equal(curl_loop_remove(f->cl, early.easy), 0);
	xfer_fini(&early);

	xfer_init(&hang, f->srv.port, "/hang", NULL);
	assert_int_equal(curl_loop_add(f->cl, hang.easy, on_done_never, &hang), 0);
	assert_true(run_until(f->loop, hang_requested, &f->srv, DEADLINE_MS));
	assert_int_equal(curl_loop_remove(f->cl, hang.easy), 0);
	assert_int_equal(curl_loop_remove(f->cl, hang.easy), -ENOENT);
	xfer_fini(&hang);

	xfer_init(&other, f->srv.port, "/size/10", &finished);
	assert_int_equal(curl_loop_add(f->cl, other.easy, on_done, &other), 0);
	struct cancel_wait w = {&finished, &f->srv};
	assert_true(run_until(f->loop, other_done_and_hang_closed, &w, DEADLINE_MS));
	assert_int_equal(other.done_calls, 1);
	assert_int_equal(other.result, CURLE_OK);
	assert_int_equal(other.len, 10);
	xfer_fini(&other);
}

/* A connection refused is the transfer's error, reported through `done`. */
static void test_refused(void **state)
{
	struct fixture *f = *state;
	/* A port nobody listens on: bound (so it is free), then closed. */
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &sl), 0);
	close(s);

	struct xfer x;
	int finished = 0;
	xfer_init(&x, ntohs(sin.sin_port), "/size/10", &finished);
	assert_int_equal(curl_loop_add(f->cl, x.easy, on_done, &x), 0);
	struct count_at_least c = {&finished, 1};
	assert_true(run_until(f->loop, count_reached, &c, DEADLINE_MS));
	assert_int_equal(x.done_calls, 1);
	assert_int_equal(x.result, CURLE_COULDNT_CONNECT);
	xfer_fini(&x);
}

/* libcurl's own timeout runs on the loop's timer. */
static void test_timeout(void **state)
{
	struct fixture *f = *state;
	struct xfer x;
	int finished = 0;
	xfer_init(&x, f->srv.port, "/hang", &finished);
	curl_easy_setopt(x.easy, CURLOPT_TIMEOUT_MS, 300L);
	uint64_t t0 = evloop_now_ms();
	assert_int_equal(curl_loop_add(f->cl, x.easy, on_done, &x), 0);
	struct count_at_least c = {&finished, 1};
	assert_true(run_until(f->loop, count_reached, &c, DEADLINE_MS));
	assert_true(evloop_now_ms() - t0 >= 300);
	assert_int_equal(x.done_calls, 1);
	assert_int_equal(x.result, CURLE_OPERATION_TIMEDOUT);
	xfer_fini(&x);
}

/* A `done` that reuses its handle for the next transfer of a chain. */
struct chain {
	struct curl_loop *cl;
	struct xfer x;
	uint16_t port;
	int left;
	int ended;
};

static void on_chain_done(void *ctx, CURL *easy, CURLcode result)
{
	struct chain *ch = ctx;
	assert_int_equal(result, CURLE_OK);
	assert_int_equal(ch->x.len, 3);
	ch->x.len = 0;
	if (--ch->left == 0) {
		ch->ended = 1;
		return;
	}
	assert_int_equal(curl_loop_add(ch->cl, easy, on_chain_done, ch), 0);
}

static bool chain_ended(void *ctx)
{
	struct chain *ch = ctx;
	return ch->ended;
}

static void test_add_from_done(void **state)
{
	struct fixture *f = *state;
	struct chain ch = {.cl = f->cl, .port = f->srv.port, .left = 3};
	xfer_init(&ch.x, f->srv.port, "/size/3", NULL);
	assert_int_equal(curl_loop_add(f->cl, ch.x.easy, on_chain_done, &ch), 0);
	assert_true(run_until(f->loop, chain_ended, &ch, DEADLINE_MS));
	assert_int_equal(ch.left, 0);
	xfer_fini(&ch.x);
}

static bool two_hang_requests(void *ctx)
{
	struct server *srv = ctx;
	return srv->hang_requests >= 2;
}

static bool two_hang_closed(void *ctx)
{
	struct server *srv = ctx;
	return srv->hang_closed >= 2;
}

/* curl_loop_free() with transfers under way: no callbacks, the connections
 * closed, and the loop usable by a new curl_loop (no stale watches). */
static void test_free_running(void **state)
{
	struct fixture *f = *state;
	struct xfer a, b, after;
	int finished = 0;
	xfer_init(&a, f->srv.port, "/hang", NULL);
	xfer_init(&b, f->srv.port, "/hang", NULL);
	assert_int_equal(curl_loop_add(f->cl, a.easy, on_done_never, &a), 0);
	assert_int_equal(curl_loop_add(f->cl, b.easy, on_done_never, &b), 0);
	assert_true(run_until(f->loop, two_hang_requests, &f->srv, DEADLINE_MS));
	f->cl = curl_loop_free(f->cl);
	xfer_fini(&a);
	xfer_fini(&b);
	assert_true(run_until(f->loop, two_hang_closed, &f->srv, DEADLINE_MS));

	assert_int_equal(curl_loop_new(f->loop, &f->cl), 0);
	xfer_init(&after, f->srv.port, "/size/1000", &finished);
	assert_int_equal(curl_loop_add(f->cl, after.easy, on_done, &after), 0);
	struct count_at_least c = {&finished, 1};
	assert_true(run_until(f->loop, count_reached, &c, DEADLINE_MS));
	assert_int_equal(after.result, CURLE_OK);
	assert_int_equal(after.len, 1000);
	xfer_fini(&after);
}

static void test_remove_unknown(void **state)
{
	struct fixture *f = *state;
	CURL *easy = curl_easy_init();
	assert_non_null(easy);
	assert_int_equal(curl_loop_remove(f->cl, easy), -ENOENT);
	curl_easy_cleanup(easy);
	assert_null(curl_loop_free(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_add_from_done, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_free_running, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_unknown, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
