/* A small epoll event loop with one-shot timers, in the style of Redis' ae.
 * Callbacks run on the loop's thread; a callback may add or remove any fd or
 * timer, including its own. Each iteration waits for I/O, dispatches it, then
 * runs the timers that were due at one reading of the clock; a timer added by
 * a timer callback runs in a later iteration, after I/O, even if it is already
 * due: a timer that runs longer than its period cannot starve the fds. */
#pragma once

#include <stdint.h>

struct evloop;
struct evloop_timer;
struct evloop_watch;

/* Called when fd is ready; `events` is the EPOLL* mask that fired. */
typedef void evloop_io_fn(struct evloop *loop, int fd, uint32_t events, void *ctx);
/* Called once when a timer expires; the timer is already gone. */
typedef void evloop_timer_fn(struct evloop *loop, void *ctx);
/* Called once per loop iteration before waiting. */
typedef void evloop_before_sleep_fn(struct evloop *loop, void *ctx);

/* Creates a loop; stores it in *ret. Returns 0 or a negative errno. */
int evloop_new(struct evloop **ret);

/* Frees the loop and its timers (not the fds it watches); NULL allowed.
 * Returns NULL. */
struct evloop *evloop_free(struct evloop *loop);

/* Watches fd for `events` (EPOLLIN, EPOLLOUT, ...). Returns 0, -EEXIST if fd
 * is already watched, or another negative errno. */
int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_io_fn *fn, void *ctx);

/* Changes the events watched on fd. Returns 0 or -ENOENT. */
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events);

/* Stops watching fd (call before closing it). Returns 0 or -ENOENT. */
int evloop_del_fd(struct evloop *loop, int fd);

/* The same by handle, in O(1) (the calls above search the loop's fds): for
 * owners of many fds (a server module's connections). evloop_watch_add()
 * returns the watch (owned by the loop) or NULL with errno set; it does not
 * check whether fd is watched already. evloop_watch_mod() returns 0 or a
 * negative errno; evloop_watch_del() stops watching (call before closing the
 * fd; the handle is invalid afterwards). */
struct evloop_watch *evloop_watch_add(struct evloop *loop, int fd, uint32_t events,
                                      evloop_io_fn *fn, void *ctx);
int evloop_watch_mod(struct evloop *loop, struct evloop_watch *w, uint32_t events);
void evloop_watch_del(struct evloop *loop, struct evloop_watch *w);

/* Arms a one-shot timer `delay_ms` from now. Returns the timer (owned by the
 * loop until it fires or is cancelled) or NULL on allocation failure. */
struct evloop_timer *evloop_timer_add(struct evloop *loop, uint64_t delay_ms, evloop_timer_fn *fn,
                                      void *ctx);

/* Cancels a timer that has not fired; NULL allowed. Returns NULL. */
struct evloop_timer *evloop_timer_cancel(struct evloop *loop, struct evloop_timer *t);

/* Sets a hook called before every wait (NULL to clear). */
void evloop_set_before_sleep(struct evloop *loop, evloop_before_sleep_fn *fn, void *ctx);

/* Runs until evloop_stop(). Returns 0, or a negative errno if epoll fails. */
int evloop_run(struct evloop *loop);

/* Makes evloop_run() return after the current iteration. */
void evloop_stop(struct evloop *loop);

/* Returns CLOCK_MONOTONIC in milliseconds. */
uint64_t evloop_now_ms(void);
