/* The Prometheus endpoint and the dashboard ([metrics] listen,
 * docs/operations.md): an HTTP server (libmicrohttpd, driven by netservd's
 * event loop: no thread) that answers GET /metrics with controller_metrics(),
 * GET /status.json with controller_status() and GET / with the dashboard's
 * page (dashboard.h), read-only. A scrape (or a /status.json) suspends its
 * connection while the containers are asked for their statistics, so the
 * numbers are those of the moment of the scrape and nothing is gathered
 * when nobody scrapes. */
#pragma once

#include <stddef.h>

struct evloop;
struct controller;
struct metrics;
struct ns_listen;

/* Listens on l. Returns 0 and stores the server in *ret, or a negative errno
 * with the reason in err. */
int metrics_new(struct evloop *loop, struct controller *ctl, const struct ns_listen *l,
                struct metrics **ret, char *err, size_t errlen);

struct prom_buf;
/* What metrics other than the controller's append to each scrape. */
typedef void metrics_extra_fn(void *ctx, struct prom_buf *b);

#define METRICS_MAX_EXTRA 4
/* Adds fn(ctx, ...) to every GET /metrics answer, after the controller's
 * families and the extras added before (e.g. signaling_metrics()). Returns 0
 * or -ENOSPC (METRICS_MAX_EXTRA already). */
int metrics_set_extra(struct metrics *m, metrics_extra_fn *fn, void *ctx);

/* Answers pending scrapes with 503, closes every connection and the socket;
 * NULL allowed. Returns NULL. */
struct metrics *metrics_free(struct metrics *m);
