/* The Prometheus endpoint and the dashboard: see metrics.h.
 *
 * GET /metrics: the Prometheus text; GET /status.json: the STATUS JSON; GET
 * /: the dashboard's page (dashboard.c), which polls /status.json.
 *
 * libmicrohttpd runs in its external-polling epoll mode: its epoll fd is
 * watched by our loop, MHD_run() is called when it is readable and when
 * MHD_get_timeout() says (a one-shot timer re-armed after every run). Each
 * request of GET /metrics is suspended (MHD_suspend_connection) until the
 * controller has the runtime's statistics, then resumed (so is each of
 * /status.json); MHD_run() must run
 * again after a resume, hence a zero-delay timer. */
#include "daemon/metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "ctl/controller.h"
#include "daemon/config.h"
#include "daemon/dashboard.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/prom.h"

#define METRICS_PATH         "/metrics"
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define STATUS_PATH          "/status.json"
#define STATUS_CONTENT_TYPE  "application/json"
#define METRICS_MAX_CONNS    16
#define METRICS_TIMEOUT_S    10

enum scrape_state {
	SCRAPE_NEW,
	SCRAPE_WAITING, /* suspended, the controller has it */
	SCRAPE_DONE,    /* resumed with the text (or an error) */
};

struct scrape {
	struct metrics *m;
	struct MHD_Connection *conn;
	enum scrape_state state;
	bool status_json; /* /status.json, else /metrics */
	bool in_handler;  /* controller_metrics() has not returned yet */
	int status;
	char *text;
	size_t len;
	struct scrape *prev, *next;
};

struct metrics {
	struct evloop *loop;
	struct controller *ctl;
	struct MHD_Daemon *d;
	int epfd;
	struct evloop_timer *timer;
	struct scrape *scrapes;
	metrics_extra_fn *extra[METRICS_MAX_EXTRA];
	void *extra_ctx[METRICS_MAX_EXTRA];
	size_t n_extra;
	char last_err[160]; /* libmicrohttpd's last message, for start-up errors */
};

static void run(struct metrics *m);

static void on_timer(struct evloop *loop, void *ctx)
{
	struct metrics *m = ctx;
	m->timer = NULL;
	run(m);
}

static void rearm(struct metrics *m, uint64_t delay_ms)
{
	m->timer = evloop_timer_cancel(m->loop, m->timer);
	m->timer = evloop_timer_add(m->loop, delay_ms, on_timer, m);
	if (!m->timer)
		log_warn("metrics: cannot arm a timer: out of memory");
}

/* Lets libmicrohttpd work, then sets the timer it asks for. */
static void run(struct metrics *m)
{
	MHD_run(m->d);
	MHD_UNSIGNED_LONG_LONG timeout;
	if (MHD_get_timeout(m->d, &timeout) == MHD_YES)
		rearm(m, timeout);
	else
		m->timer = evloop_timer_cancel(m->loop, m->timer);
}

static void on_ready(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	run(ctx);
}

int metrics_set_extra(struct metrics *m, metrics_extra_fn *fn, void *ctx)
{
	if (m->n_extra == METRICS_MAX_EXTRA)
		return -ENOSPC;
	m->extra[m->n_extra] = fn;
	m->extra_ctx[m->n_extra] = ctx;
	m->n_extra++;
	return 0;
}

/* Appends the extra families to a scrape's text (taking it): -ENOMEM leaves
 * the text as it was. */
static int add_extra(struct metrics *m, char **text, size_t *len)
{
	struct prom_buf b = {0};
	prom_printf(&b, "%.*s", (int)*len, *text);
	for (size_t i = 0; i < m->n_extra; i++)
		m->extra[i](m->extra_ctx[i], &b);
	char *all = NULL;
	size_t n = 0;
	int r = prom_buf_finish(&b, &all, &n);
	if (r < 0)
		return r;
	free(*text);
	*text = all;
	*len = n;
	return 0;
}

static void on_metrics(void *ctx, int status, char *text, size_t len)
{
	struct scrape *s = ctx;
	if (status == 0 && text && !s->status_json && s->m->n_extra)
		add_extra(s->m, &text, &len);
	s->state = SCRAPE_DONE;
	s->status = status;
	s->text = text;
	s->len = len;
	if (s->in_handler)
		return; /* answered at once: never suspended */
	MHD_resume_connection(s->conn);
	rearm(s->m, 0); /* MHD_run() picks up the resumed connection */
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned code, const char *text,
                              const char *allow)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* The dashboard's page: static, compiled in; its script is the only one the
 * browser may run (the CSP), and it never inserts HTML. */
static enum MHD_Result answer_page(struct MHD_Connection *conn)
{
	const char *csp = dashboard_csp();
	if (!csp)
		return answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "dashboard unavailable\n",
		              NULL);
	size_t len;
	const char *page = dashboard_page(&len);
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(len, (void *)page, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;
	struct scrape *s = *req_cls;
	if (!s) { /* the headers are in: keep state for this request */
		s = calloc(1, sizeof(*s));
		if (!s)
			return MHD_NO;
		*s = (struct scrape){.m = m, .conn = conn, .next = m->scrapes};
		if (m->scrapes)
			m->scrapes->prev = s;
		m->scrapes = s;
		*req_cls = s;
		return MHD_YES;
	}
	if (*upload_data_size) { /* a body: read and ignore it */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n",
		              "GET, HEAD");
	if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
		return answer_page(conn);
	if (strcmp(url, STATUS_PATH) == 0)
		s->status_json = true;
	else if (strcmp(url, METRICS_PATH) != 0)
		return answer(conn, MHD_HTTP_NOT_FOUND,
		              "not found: the dashboard is at /, the STATUS JSON at /status.json, "
		              "the metrics at /metrics\n",
		              NULL);
	switch (s->state) {
	case SCRAPE_NEW:
		s->state = SCRAPE_WAITING;
		s->in_handler = true;
		if (s->status_json)
			controller_status(m->ctl, on_metrics, s);
		else
			controller_metrics(m->ctl, on_metrics, s);
		s->in_handler = false;
		if (s->state == SCRAPE_WAITING) {
			MHD_suspend_connection(conn);
			return MHD_YES;
		}
		break;
	case SCRAPE_WAITING:
		return MHD_YES; /* not reached: suspended */
	case SCRAPE_DONE:
		break;
	}
	if (s->status < 0 || !s->text)
		return answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
		              s->status_json ? "status unavailable\n" : "metrics unavailable\n",
		              NULL);
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(s->len, s->text, MHD_RESPMEM_MUST_FREE);
	if (!r)
		return MHD_NO;
	s->text = NULL; /* the response's */
	if (s->status_json) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, STATUS_CONTENT_TYPE);
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	} else {
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CONTENT_TYPE);
	}
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct metrics *m = cls;
	struct scrape *s = *req_cls;
	if (!s)
		return;
	*req_cls = NULL;
	if (s->state == SCRAPE_WAITING)
		controller_forget(m->ctl, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		m->scrapes = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->text);
	free(s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct metrics *m = cls;
	vsnprintf(m->last_err, sizeof(m->last_err), fmt, ap);
	size_t n = strlen(m->last_err);
	while (n && (m->last_err[n - 1] == '\n' || m->last_err[n - 1] == '.'))
		m->last_err[--n] = '\0';
	log_debug("metrics: libmicrohttpd: %s", m->last_err);
}

int metrics_new(struct evloop *loop, struct controller *ctl, const struct ns_listen *l,
                struct metrics **ret, char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->ctl = ctl;
	m->epfd = -1;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (l->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
	                        on_mhd_log, m, MHD_OPTION_SOCK_ADDR,
	                        (const struct sockaddr *)&l->addr, MHD_OPTION_CONNECTION_LIMIT,
	                        (unsigned)METRICS_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT,
	                        (unsigned)METRICS_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                        (size_t)32768, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
	                        MHD_OPTION_END);
	if (!m->d) {
		snprintf(err, errlen, "cannot serve metrics on %s: %s", l->text,
		         m->last_err[0] ? m->last_err : "libmicrohttpd failed to start");
		free(m);
		return -EADDRNOTAVAIL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	m->epfd = info ? info->epoll_fd : -1;
	int r = m->epfd < 0 ? -EIO : evloop_add_fd(loop, m->epfd, EPOLLIN, on_ready, m);
	if (r < 0) {
		snprintf(err, errlen, "cannot watch the metrics server: %s", strerror(-r));
		MHD_stop_daemon(m->d);
		free(m);
		return r;
	}
	run(m);
	*ret = m;
	return 0;
}

struct metrics *metrics_free(struct metrics *m)
{
	if (!m)
		return NULL;
	/* A suspended connection must be resumed before the daemon stops: the
	 * scrapes still waiting for the controller get a 503. */
	bool resumed = false;
	for (struct scrape *s = m->scrapes; s; s = s->next) {
		if (s->state != SCRAPE_WAITING)
			continue;
		controller_forget(m->ctl, s);
		s->state = SCRAPE_DONE;
		s->status = -ECANCELED;
		MHD_resume_connection(s->conn);
		resumed = true;
	}
	if (resumed)
		MHD_run(m->d);
	m->timer = evloop_timer_cancel(m->loop, m->timer);
	evloop_del_fd(m->loop, m->epfd);
	MHD_stop_daemon(m->d);
	free(m);
	return NULL;
}
