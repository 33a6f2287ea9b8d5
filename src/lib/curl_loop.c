/* libcurl's multi-socket interface on the epoll loop (see curl_loop.h). */
#include "lib/curl_loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>

#include "lib/evloop.h"

/* One transfer in the loop. */
struct transfer {
	CURL *easy;
	curl_loop_done_fn *done;
	void *ctx;
	struct transfer *next;
};

/* One of libcurl's sockets watched on the loop (its socketp). */
struct sock {
	struct curl_loop *cl;
	curl_socket_t fd;
	struct sock *prev, *next;
};

struct curl_loop {
	struct evloop *loop;
	CURLM *multi;
	struct evloop_timer *timer;
	struct transfer *transfers;
	struct sock *socks;
};

static struct transfer **transfer_find(struct curl_loop *cl, CURL *easy)
{
	for (struct transfer **pp = &cl->transfers; *pp; pp = &(*pp)->next)
		if ((*pp)->easy == easy)
			return pp;
	return NULL;
}

/* Calls `done` for every transfer libcurl reports finished. */
static void dispatch_done(struct curl_loop *cl)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(cl->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode result = m->data.result;
		/* m is invalid from here: removing the handle drops its message. */
		curl_multi_remove_handle(cl->multi, easy);
		struct transfer **pp = transfer_find(cl, easy);
		if (!pp)
			continue;
		struct transfer *t = *pp;
		*pp = t->next;
		curl_loop_done_fn *done = t->done;
		void *ctx = t->ctx;
		free(t);
		done(ctx, easy, result);
	}
}

static void on_socket_event(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct curl_loop *cl = ctx;
	int mask = 0, running;
	if (events & EPOLLIN)
		mask |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		mask |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		mask |= CURL_CSELECT_ERR;
	curl_multi_socket_action(cl->multi, fd, mask, &running);
	dispatch_done(cl);
}

static void sock_free(struct sock *s)
{
	struct curl_loop *cl = s->cl;
	evloop_del_fd(cl->loop, s->fd);
	if (s->prev)
		s->prev->next = s->next;
	else
		cl->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: libcurl says which events a socket waits for. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct curl_loop *cl = userp;
	struct sock *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(cl->multi, fd, NULL);
			sock_free(s);
		}
		return 0;
	}
	uint32_t events = 0;
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (s)
		return evloop_mod_fd(cl->loop, fd, events) < 0 ? -1 : 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	if (evloop_add_fd(cl->loop, fd, events, on_socket_event, cl) < 0) {
		free(s);
		return -1;
	}
	s->cl = cl;
	s->fd = fd;
	s->next = cl->socks;
	if (cl->socks)
		cl->socks->prev = s;
	cl->socks = s;
	curl_multi_assign(cl->multi, fd, s);
	return 0;
}

static void on_timer(struct evloop *loop, void *ctx)
{
	struct curl_loop *cl = ctx;
	int running;
	cl->timer = NULL;
	curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	dispatch_done(cl);
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants a call after timeout_ms (-1: none). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_loop *cl = userp;
	cl->timer = evloop_timer_cancel(cl->loop, cl->timer);
	if (timeout_ms >= 0) {
		cl->timer = evloop_timer_add(cl->loop, (uint64_t)timeout_ms, on_timer, cl);
		if (!cl->timer)
			return -1;
	}
	return 0;
}

int curl_loop_new(struct evloop *loop, struct curl_loop **ret)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -EIO;
	struct curl_loop *cl = calloc(1, sizeof(*cl));
	if (!cl) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	cl->loop = loop;
	cl->multi = curl_multi_init();
	if (!cl->multi) {
		free(cl);
		curl_global_cleanup();
		return -ENOMEM;
	}
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
	*ret = cl;
	return 0;
}

struct curl_loop *curl_loop_free(struct curl_loop *cl)
{
	if (!cl)
		return NULL;
	while (cl->transfers) {
		struct transfer *t = cl->transfers;
		cl->transfers = t->next;
		curl_multi_remove_handle(cl->multi, t->easy);
		free(t);
	}
	curl_multi_cleanup(cl->multi);
	/* Sockets libcurl closed without a CURL_POLL_REMOVE: forget them, or a
	 * later fd with the same number could not be watched. */
	while (cl->socks)
		sock_free(cl->socks);
	cl->timer = evloop_timer_cancel(cl->loop, cl->timer);
	free(cl);
	curl_global_cleanup();
	return NULL;
}

int curl_loop_add(struct curl_loop *cl, CURL *easy, curl_loop_done_fn *done, void *ctx)
{
	if (transfer_find(cl, easy))
		return -EEXIST;
	struct transfer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->easy = easy;
	t->done = done;
	t->ctx = ctx;
	CURLMcode mc = curl_multi_add_handle(cl->multi, easy);
	if (mc != CURLM_OK) {
		free(t);
		return mc == CURLM_OUT_OF_MEMORY        ? -ENOMEM
		       : mc == CURLM_RECURSIVE_API_CALL ? -EBUSY
		                                        : -EIO;
	}
	t->next = cl->transfers;
	cl->transfers = t;
	return 0;
}

int curl_loop_remove(struct curl_loop *cl, CURL *easy)
{
	struct transfer **pp = transfer_find(cl, easy);
	if (!pp)
		return -ENOENT;
	/* libcurl refuses from inside its own callbacks: then nothing changes. */
	if (curl_multi_remove_handle(cl->multi, easy) == CURLM_RECURSIVE_API_CALL)
		return -EBUSY;
	struct transfer *t = *pp;
	*pp = t->next;
	free(t);
	return 0;
}
