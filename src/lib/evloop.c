/* epoll event loop with a sorted list of one-shot timers. */
#include "lib/evloop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "lib/util.h"

struct evloop_watch {
	int fd;
	evloop_io_fn *fn;
	void *ctx;
	bool dead; /* removed during dispatch; freed after it */
	struct evloop_watch *next;
};

struct evloop_timer {
	uint64_t due_ms;
	uint64_t pass; /* the timers_run() pass that added it (0: none) */
	evloop_timer_fn *fn;
	void *ctx;
	struct evloop_timer *next;
};

struct evloop {
	int epfd;
	bool stop;
	struct evloop_watch *watches; /* every live or dead-pending watch */
	struct evloop_timer *timers;  /* sorted by due_ms */
	evloop_before_sleep_fn *before_sleep;
	void *before_sleep_ctx;
	unsigned n_dead; /* watches marked dead, not yet freed */
	uint64_t pass;   /* counts timers_run() passes */
	bool in_timers;  /* inside timers_run() */
};

uint64_t evloop_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int evloop_new(struct evloop **ret)
{
	struct evloop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int r = -errno;
		free(loop);
		return r;
	}
	*ret = loop;
	return 0;
}

struct evloop *evloop_free(struct evloop *loop)
{
	if (!loop)
		return NULL;
	while (loop->watches) {
		struct evloop_watch *w = loop->watches;
		loop->watches = w->next;
		free(w);
	}
	while (loop->timers) {
		struct evloop_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	safe_close(loop->epfd);
	free(loop);
	return NULL;
}

static struct evloop_watch *watch_find(struct evloop *loop, int fd)
{
	for (struct evloop_watch *w = loop->watches; w; w = w->next)
		if (w->fd == fd && !w->dead)
			return w;
	return NULL;
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_io_fn *fn, void *ctx)
{
	if (watch_find(loop, fd))
		return -EEXIST;
	struct evloop_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;
		free(w);
		return r;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
	struct evloop_watch *w = watch_find(loop, fd);
	if (!w)
		return -ENOENT;
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_del_fd(struct evloop *loop, int fd)
{
	struct evloop_watch *w = watch_find(loop, fd);
	if (!w)
		return -ENOENT;
	/* The fd may already be closed by its owner (curl does this): ignore. */
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	w->dead = true;
	loop->n_dead++;
	return 0;
}

struct evloop_watch *evloop_watch_add(struct evloop *loop, int fd, uint32_t events,
                                      evloop_io_fn *fn, void *ctx)
{
	struct evloop_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(w);
		errno = e;
		return NULL;
	}
	w->next = loop->watches;
	loop->watches = w;
	return w;
}

int evloop_watch_mod(struct evloop *loop, struct evloop_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void evloop_watch_del(struct evloop *loop, struct evloop_watch *w)
{
	if (!w || w->dead)
		return;
	(void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	loop->n_dead++;
}

static void watches_reap(struct evloop *loop)
{
	if (!loop->n_dead)
		return;
	loop->n_dead = 0;
	struct evloop_watch **pp = &loop->watches;
	while (*pp) {
		struct evloop_watch *w = *pp;
		if (w->dead) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

struct evloop_timer *evloop_timer_add(struct evloop *loop, uint64_t delay_ms, evloop_timer_fn *fn,
                                      void *ctx)
{
	struct evloop_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->due_ms = evloop_now_ms() + delay_ms;
	t->pass = loop->in_timers ? loop->pass : 0;
	t->fn = fn;
	t->ctx = ctx;
	struct evloop_timer **pp = &loop->timers;
	while (*pp && (*pp)->due_ms <= t->due_ms)
		pp = &(*pp)->next;
	t->next = *pp;
	*pp = t;
	return t;
}

struct evloop_timer *evloop_timer_cancel(struct evloop *loop, struct evloop_timer *t)
{
	if (!t)
		return NULL;
	for (struct evloop_timer **pp = &loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			free(t);
			break;
		}
	}
	return NULL;
}

void evloop_set_before_sleep(struct evloop *loop, evloop_before_sleep_fn *fn, void *ctx)
{
	loop->before_sleep = fn;
	loop->before_sleep_ctx = ctx;
}

void evloop_stop(struct evloop *loop)
{
	loop->stop = true;
}

/* Runs the timers that are due at one `now`, read once: a timer added (or
 * re-armed) by a callback of this pass waits for the next iteration even if it
 * is already due, so the loop goes back to epoll between two runs of a timer
 * and a callback that runs longer than its period cannot starve I/O. */
static void timers_run(struct evloop *loop)
{
	uint64_t now = evloop_now_ms();
	loop->pass++;
	loop->in_timers = true;
	while (!loop->stop) {
		struct evloop_timer **pp = &loop->timers;
		while (*pp && (*pp)->due_ms <= now && (*pp)->pass == loop->pass)
			pp = &(*pp)->next;
		struct evloop_timer *t = *pp;
		if (!t || t->due_ms > now)
			break;
		*pp = t->next;
		evloop_timer_fn *fn = t->fn;
		void *ctx = t->ctx;
		free(t);
		fn(loop, ctx);
	}
	loop->in_timers = false;
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event events[64];

	loop->stop = false;
	while (!loop->stop) {
		if (loop->before_sleep)
			loop->before_sleep(loop, loop->before_sleep_ctx);
		if (loop->stop)
			break;

		int timeout = -1;
		if (loop->timers) {
			uint64_t now = evloop_now_ms();
			uint64_t due = loop->timers->due_ms;
			timeout = due <= now ? 0 : (int)(due - now > 60000 ? 60000 : due - now);
		}
		int n = epoll_wait(loop->epfd, events, (int)ARRAY_SIZE(events), timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct evloop_watch *w = events[i].data.ptr;
			if (w->dead)
				continue;
			w->fn(loop, w->fd, events[i].events, w->ctx);
		}
		watches_reap(loop);
		timers_run(loop);
	}
	watches_reap(loop);
	return 0;
}
