/* The http/1 building block (see http_block.h): libmicrohttpd servers for
 * modules, and the ns_http_* imports. */
#include "container/http_block.h"

#include <errno.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/modhost_internal.h"
#include "container/sandbox.h"
#include "container/store_objects.h"
#include "lib/evloop.h"
#include "abi/glue.h"

#define HTTP_MAX_SERVERS 4
#define HTTP_SLOT_BITS   10
#define HTTP_MAX_REQS    (1u << HTTP_SLOT_BITS)

struct http_mod;

/* A connection, for the header deadline: a client must complete a request's
 * headers within header_timeout_s of connecting or of its previous request
 * (libmicrohttpd's own timeout is of inactivity: a client sending a byte a
 * second would hold the connection for ever). */
struct http_conn {
	struct MHD_Connection *conn;
	int fd;
	uint64_t deadline_ms; /* 0: a request's headers are in */
	struct http_conn *prev, *next;
};

struct http_server {
	struct http_mod *hm;
	struct http_conn *conns;
	struct evloop_timer *sweep;
	uint32_t index;
	uint16_t port;
	struct MHD_Daemon *d;
	int epfd;
	struct evloop_timer *timer;
};

struct http_req {
	struct http_server *srv;
	struct MHD_Connection *conn;
	uint32_t id;
	char *target; /* as sent (the URI log callback's) */
	const char *method, *version;
	bool started;   /* REQUEST delivered */
	bool ended_in;  /* END delivered */
	bool responded; /* the module gave its response (or lost it): it hears no more */
	bool suspended;
	bool streaming, stream_end, stream_err;
	bool stream_abort; /* ns_http_abort: what is buffered goes, then the connection breaks */
	bool want_writable, writable_due;
	unsigned fail_status;         /* non-zero: answer this instead of the module */
	struct MHD_Response *pending; /* to queue at the next chance */
	unsigned pending_status;
	uint8_t *out; /* streamed body, HTTP_STREAM_BUF bytes */
	size_t out_len;
	uint8_t *body; /* request body not read yet */
	size_t body_len, body_off;
};

struct http_mod {
	struct mod *m;
	struct http_server srv[HTTP_MAX_SERVERS];
	uint32_t n_srv;
	struct http_req *slots[HTTP_MAX_REQS];
	uint32_t gen[HTTP_MAX_REQS];
	uint32_t writable_due; /* requests with writable_due set */
};

static const struct sandbox *g_sb;
static struct http_block_limits g_lim = {
        .connections = 128, .timeout_s = 10, .header_timeout_s = 5, .conn_memory = 32 * 1024};

void http_block_configure(const struct sandbox *sb, const struct http_block_limits *lim)
{
	g_sb = sb;
	if (lim->connections)
		g_lim.connections = lim->connections;
	if (lim->timeout_s)
		g_lim.timeout_s = lim->timeout_s;
	if (lim->conn_memory)
		g_lim.conn_memory = lim->conn_memory;
	if (lim->header_timeout_s)
		g_lim.header_timeout_s = lim->header_timeout_s;
}

/* ---- response headers ------------------------------------------------------ */

static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_headers_parse(const char *text, size_t len, http_header_fn *fn, void *ctx)
{
	int count = 0;
	size_t i = 0;
	while (i < len) {
		size_t end = i;
		while (end < len && text[end] != '\n')
			end++;
		size_t stop = end > i && text[end - 1] == '\r' ? end - 1 : end;
		if (stop > i) {
			char line[1024];
			size_t n = stop - i;
			if (n >= sizeof(line))
				return -EINVAL;
			memcpy(line, text + i, n);
			line[n] = '\0';
			char *colon = strchr(line, ':');
			if (!colon || colon == line)
				return -EINVAL;
			*colon = '\0';
			for (char *p = line; *p; p++)
				if (!is_tchar((unsigned char)*p))
					return -EINVAL;
			char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			char *ve = v + strlen(v);
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				*--ve = '\0';
			for (char *p = v; *p; p++)
				if ((unsigned char)*p < 0x20 && *p != '\t')
					return -EINVAL;
			if ((unsigned char)line[0] == 0x7f)
				return -EINVAL;
			int r = fn(ctx, line, v);
			if (r < 0)
				return r;
			count++;
		}
		i = end + 1;
	}
	return count;
}

static int add_header(void *ctx, const char *name, const char *value)
{
	return MHD_add_response_header(ctx, name, value) == MHD_YES ? 0 : -EINVAL;
}

/* A streamed response's headers: Content-Length is the response's size
 * (libmicrohttpd writes the header itself), the others are added. */
static int add_header_streamed(void *ctx, const char *name, const char *value)
{
	if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		return 0;
	return add_header(ctx, name, value);
}

/* Finds a Content-Length among a streamed response's headers. */
static int find_length(void *ctx, const char *name, const char *value)
{
	uint64_t *len = ctx;
	if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0)
		return 0;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	if (!*value || *end || errno || v >= MHD_SIZE_UNKNOWN || *len != MHD_SIZE_UNKNOWN)
		return -EINVAL; /* not a number, or two of them */
	*len = v;
	return 0;
}

/* ---- requests ----------------------------------------------------------------- */

static void server_run(struct http_server *s);
static void on_timer(struct evloop *loop, void *ctx);

static void rearm(struct http_server *s, uint64_t delay_ms)
{
	struct evloop *loop = s->hm->m->h->loop;
	s->timer = evloop_timer_cancel(loop, s->timer);
	s->timer = evloop_timer_add(loop, delay_ms, on_timer, s);
}

static struct http_req *req_find(struct mod *m, uint32_t id)
{
	struct http_mod *hm = m->http;
	if (!hm)
		return NULL;
	struct http_req *q = hm->slots[id & (HTTP_MAX_REQS - 1)];
	return q && q->id == id ? q : NULL;
}

static void resume(struct http_req *q)
{
	if (!q->suspended)
		return;
	q->suspended = false;
	MHD_resume_connection(q->conn);
	rearm(q->srv, 0); /* MHD_run() picks up the resumed connection */
}

static struct MHD_Response *text_response(const char *text)
{
	return MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
}

static const char *status_text(unsigned status)
{
	switch (status) {
	case 413:
		return "request body too large\n";
	case 503:
		return "module unavailable\n";
	default:
		return "module failed\n";
	}
}

/* Makes the response to queue for a request the module cannot answer. */
static void fail_pending(struct http_req *q)
{
	if (q->pending)
		MHD_destroy_response(q->pending);
	q->pending = text_response(status_text(q->fail_status));
	q->pending_status = q->fail_status;
	if (q->pending)
		MHD_add_response_header(q->pending, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Queues what is pending on a suspended connection (allowed at any time) and
 * resumes it; a connection in MHD's hands gets it at its next callback. */
static void push(struct http_req *q)
{
	if (!q->suspended)
		return;
	if (q->fail_status && !q->pending && !q->streaming)
		fail_pending(q);
	if (q->pending) {
		MHD_queue_response(q->conn, q->pending_status, q->pending);
		MHD_destroy_response(q->pending);
		q->pending = NULL;
	}
	resume(q);
}

static void deliver(struct http_req *q, uint32_t event)
{
	if (q->responded)
		return;
	struct mod *m = q->srv->hm->m;
	int r = modhost_http_call(m, q->id, event);
	if (r == -ENOENT && !q->responded) {
		q->responded = true;
		q->fail_status = m->failed ? 503 : 500;
	}
	/* -EFAULT: http_block_instance_lost() has marked it */
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	struct http_mod *hm = s->hm;
	uint32_t slot;
	for (slot = 0; slot < HTTP_MAX_REQS && hm->slots[slot]; slot++)
		;
	struct http_req *q = slot < HTTP_MAX_REQS ? calloc(1, sizeof(*q)) : NULL;
	if (!q)
		return NULL;
	q->target = strdup(uri ? uri : "");
	if (!q->target) {
		free(q);
		return NULL;
	}
	q->srv = s;
	q->conn = conn;
	hm->gen[slot] = (hm->gen[slot] + 1) & ((1u << (32 - HTTP_SLOT_BITS - 1)) - 1);
	q->id = hm->gen[slot] << HTTP_SLOT_BITS | slot;
	hm->slots[slot] = q;
	return q;
}

static void req_free(struct http_req *q)
{
	struct http_mod *hm = q->srv->hm;
	uint32_t slot = q->id & (HTTP_MAX_REQS - 1);
	if (hm->slots[slot] == q)
		hm->slots[slot] = NULL;
	if (q->writable_due)
		hm->writable_due--;
	if (q->pending)
		MHD_destroy_response(q->pending);
	free(q->target);
	free(q->out);
	free(q->body);
	free(q);
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

static void on_sweep(struct evloop *loop, void *ctx)
{
	struct http_server *s = ctx;
	s->sweep = NULL;
	uint64_t now = evloop_now_ms();
	for (struct http_conn *c = s->conns; c; c = c->next) {
		if (c->deadline_ms && now >= c->deadline_ms) {
			/* libmicrohttpd sees the end of the stream and closes it */
			shutdown(c->fd, SHUT_RDWR);
			c->deadline_ms = 0;
		}
	}
	if (s->conns)
		s->sweep = evloop_timer_add(loop, 500, on_sweep, s);
	rearm(s, 0);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *s = cls;
	struct http_conn *c = *socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return;
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->conn = conn;
		c->fd = ci ? ci->connect_fd : -1;
		c->deadline_ms = c->fd >= 0 ? evloop_now_ms() + g_lim.header_timeout_s * 1000u : 0;
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		*socket_context = c;
		if (!s->sweep)
			s->sweep = evloop_timer_add(s->hm->m->h->loop, 500, on_sweep, s);
	} else if (c) {
		if (c->prev)
			c->prev->next = c->next;
		else
			s->conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		free(c);
		*socket_context = NULL;
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_req *q = *con_cls;
	(void)cls;
	(void)toe;
	if (!q)
		return;
	*con_cls = NULL;
	struct http_conn *c = conn_of(conn);
	if (c && c->fd >= 0) /* the next request's headers: from now */
		c->deadline_ms = evloop_now_ms() + g_lim.header_timeout_s * 1000u;
	bool open = q->started && (!q->responded || (q->streaming && !q->stream_end));
	if (open && !q->stream_err) {
		q->responded = false;
		q->stream_end = true;
		deliver(q, NS_HTTP_CLOSED);
	}
	req_free(q);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_req *q = *con_cls;
	(void)cls;
	(void)url;
	if (!q) { /* no slot or no memory */
		struct MHD_Response *r = text_response("busy\n");
		if (!r)
			return MHD_NO;
		enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!q->started) {
		struct http_conn *c = conn_of(conn);
		if (c)
			c->deadline_ms = 0;
		q->started = true;
		q->method = method;
		q->version = version;
		deliver(q, NS_HTTP_REQUEST);
		/* libmicrohttpd calls again, with the body or, for a request without
		 * one, with nothing: a response queued on this first call would make
		 * it close the connection (no keep-alive). */
		return MHD_YES;
	} else if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (!q->responded) {
			size_t unread = q->body_len - q->body_off;
			if (unread + n > HTTP_BODY_MAX) {
				q->responded = true;
				q->fail_status = 413;
			} else {
				if (q->body_off) {
					memmove(q->body, q->body + q->body_off, unread);
					q->body_len = unread;
					q->body_off = 0;
				}
				uint8_t *b = realloc(q->body, q->body_len + n);
				if (!b) {
					q->responded = true;
					q->fail_status = 500;
				} else {
					q->body = b;
					memcpy(b + q->body_len, upload_data, n);
					q->body_len += n;
					deliver(q, NS_HTTP_BODY);
				}
			}
		}
	} else if (!q->ended_in) {
		q->ended_in = true;
		deliver(q, NS_HTTP_END);
	}
	if (q->fail_status && !q->pending && !q->streaming)
		fail_pending(q);
	if (q->pending) {
		enum MHD_Result ret = MHD_queue_response(conn, q->pending_status, q->pending);
		MHD_destroy_response(q->pending);
		q->pending = NULL;
		return ret;
	}
	if (q->streaming || !q->ended_in)
		return MHD_YES; /* queued already, or more of the request to come */
	/* Complete, and no answer yet: wait for the module (a timer, ...). */
	q->suspended = true;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_req *q = cls;
	(void)pos;
	if (q->stream_err)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (q->out_len) {
		size_t n = q->out_len < max ? q->out_len : max;
		memcpy(buf, q->out, n);
		memmove(q->out, q->out + n, q->out_len - n);
		q->out_len -= n;
		if (q->want_writable && q->out_len <= HTTP_STREAM_BUF / 2 && !q->writable_due) {
			q->want_writable = false;
			q->writable_due = true;
			q->srv->hm->writable_due++;
		}
		return (ssize_t)n;
	}
	if (q->stream_end)
		return q->stream_abort ? MHD_CONTENT_READER_END_WITH_ERROR
		                       : MHD_CONTENT_READER_END_OF_STREAM;
	/* Nothing to send: wait for ns_http_write or ns_http_end. */
	if (q->want_writable && !q->writable_due) {
		q->want_writable = false;
		q->writable_due = true;
		q->srv->hm->writable_due++;
	}
	q->suspended = true;
	MHD_suspend_connection(q->conn);
	return 0;
}

/* WRITABLE events found by the readers, delivered after MHD_run(). */
static void deliver_writable(struct http_mod *hm)
{
	for (uint32_t i = 0; i < HTTP_MAX_REQS && hm->writable_due; i++) {
		struct http_req *q = hm->slots[i];
		if (!q || !q->writable_due)
			continue;
		q->writable_due = false;
		hm->writable_due--;
		if (!q->stream_end && !q->stream_err)
			modhost_http_call(hm->m, q->id, NS_HTTP_WRITABLE);
	}
}

static void server_run(struct http_server *s)
{
	MHD_run(s->d);
	if (s->hm->writable_due)
		deliver_writable(s->hm);
	MHD_UNSIGNED_LONG_LONG timeout;
	if (MHD_get_timeout(s->d, &timeout) == MHD_YES)
		rearm(s, timeout);
	else
		s->timer = evloop_timer_cancel(s->hm->m->h->loop, s->timer);
}

static void on_timer(struct evloop *loop, void *ctx)
{
	struct http_server *s = ctx;
	(void)loop;
	s->timer = NULL;
	server_run(s);
}

static void on_ready(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	server_run(ctx);
}

/* ---- life ------------------------------------------------------------------------ */

void http_block_instance_lost(struct mod *m)
{
	struct http_mod *hm = m->http;
	if (!hm)
		return;
	for (uint32_t i = 0; i < HTTP_MAX_REQS; i++) {
		struct http_req *q = hm->slots[i];
		if (!q || !q->started)
			continue;
		if (q->streaming) {
			if (!q->stream_end) {
				q->stream_err = true;
				q->responded = true;
				resume(q);
			}
			continue;
		}
		if (q->responded)
			continue; /* its answer is given: it goes out */
		q->responded = true;
		q->fail_status = m->failed ? 503 : 500;
		push(q);
	}
}

static void server_stop(struct http_server *s)
{
	struct http_mod *hm = s->hm;
	/* Resume every suspended connection first (MHD_stop_daemon's rule). */
	for (uint32_t i = 0; i < HTTP_MAX_REQS; i++) {
		struct http_req *q = hm->slots[i];
		if (q && q->srv == s && q->suspended) {
			q->responded = true;
			q->stream_err = true;
			q->fail_status = 503;
			push(q);
		}
	}
	evloop_del_fd(hm->m->h->loop, s->epfd);
	s->timer = evloop_timer_cancel(hm->m->h->loop, s->timer);
	s->sweep = evloop_timer_cancel(hm->m->h->loop, s->sweep);
	MHD_run(s->d);
	MHD_stop_daemon(s->d);
	s->d = NULL;
}

void http_block_mod_free(struct mod *m)
{
	struct http_mod *hm = m->http;
	if (!hm)
		return;
	for (uint32_t i = 0; i < hm->n_srv; i++)
		server_stop(&hm->srv[i]);
	free(hm);
	m->http = NULL;
}

static int server_start(struct http_mod *hm, uint32_t family, uint16_t port)
{
	struct http_server *s = &hm->srv[hm->n_srv];
	memset(s, 0, sizeof(*s));
	s->hm = hm;
	s->index = hm->n_srv;
	s->port = port;
	s->epfd = -1;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO;
	if (family == NS_IPV6)
		flags |= MHD_USE_IPv6;
	else if (family == 0)
		flags |= MHD_USE_DUAL_STACK;
	/* Where SIGPIPE is ignored (the container ignores it), libmicrohttpd may
	 * send stored objects with sendfile(), which cannot suppress it per call;
	 * otherwise it reads them into its buffer and sends them itself. */
	struct sigaction pipe_act;
	int pipe_ignored =
	        sigaction(SIGPIPE, NULL, &pipe_act) == 0 && pipe_act.sa_handler == SIG_IGN;
	for (int attempt = 0; attempt < 2 && !s->d; attempt++) {
		errno = 0;
		s->d = MHD_start_daemon(
		        flags, port, NULL, NULL, on_request, s, MHD_OPTION_CONNECTION_LIMIT,
		        (unsigned)g_lim.connections, MHD_OPTION_CONNECTION_TIMEOUT,
		        (unsigned)g_lim.timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		        (size_t)g_lim.conn_memory, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
		        on_connection, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
		        MHD_OPTION_SIGPIPE_HANDLED_BY_APP, pipe_ignored, MHD_OPTION_END);
		/* No IPv6 here: family 0 falls back to IPv4 only. */
		if (!s->d && family == 0 && (flags & MHD_USE_DUAL_STACK))
			flags &= ~(unsigned)MHD_USE_DUAL_STACK;
		else
			break;
	}
	if (!s->d)
		return errno ? -errno : -EADDRINUSE;
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	s->epfd = info ? info->epoll_fd : -1;
	int r = s->epfd >= 0 ? evloop_add_fd(hm->m->h->loop, s->epfd, EPOLLIN, on_ready, s) : -EIO;
	if (r < 0) {
		MHD_stop_daemon(s->d);
		s->d = NULL;
		return r;
	}
	hm->n_srv++;
	server_run(s);
	return (int)s->index;
}

/* ---- the imports --------------------------------------------------------------------- */

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_HTTP(DECLARE_IMPORT)

u32 Z_netservZ_ns_http_listen(struct Z_netserv_instance_t *ctx, u32 family, u32 port)
{
	IMPORT_BEGIN(ctx);
	if ((family != 0 && family != NS_IPV4 && family != NS_IPV6) || port == 0 || port > 65535)
		IMPORT_RETURN(-EINVAL);
	if (!m->g->http)
		IMPORT_RETURN(-EINVAL); /* nobody to hear the requests */
	if (!g_sb || !sandbox_listen_allowed(g_sb, NCM_PROTO_TCP, (uint16_t)port))
		IMPORT_RETURN(-EPERM);
	if (!m->http && !(m->http = calloc(1, sizeof(*m->http))))
		IMPORT_RETURN(-ENOMEM);
	struct http_mod *hm = m->http;
	hm->m = m;
	for (uint32_t i = 0; i < hm->n_srv; i++)
		if (hm->srv[i].port == port)
			IMPORT_RETURN(i);
	if (hm->n_srv >= HTTP_MAX_SERVERS)
		IMPORT_RETURN(-EMFILE);
	IMPORT_RETURN(server_start(hm, family, (uint16_t)port));
}

/* Copies n bytes to the module's buf (cap bytes): the length, or -ENOSPC. */
static int32_t copy_out(struct mod *m, uint32_t buf, uint32_t cap, const void *src, size_t n)
{
	uint8_t *out = mem_at(m, buf, cap);
	if (n > cap)
		return -ENOSPC;
	memcpy(out, src, n);
	return (int32_t)n;
}

u32 Z_netservZ_ns_http_info(struct Z_netserv_instance_t *ctx, u32 req, u32 what, u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	switch (what) {
	case NS_HTTP_METHOD:
		IMPORT_RETURN(copy_out(m, buf, cap, q->method, strlen(q->method)));
	case NS_HTTP_TARGET:
		IMPORT_RETURN(copy_out(m, buf, cap, q->target, strlen(q->target)));
	case NS_HTTP_VERSION:
		IMPORT_RETURN(copy_out(m, buf, cap, q->version, strlen(q->version)));
	case NS_HTTP_PEER: {
		uint8_t a[NS_SOCKADDR_LEN];
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(q->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		modhost_sockaddr_encode(ci ? ci->client_addr : NULL, a);
		IMPORT_RETURN(copy_out(m, buf, cap, a, sizeof(a)));
	}
	case NS_HTTP_SERVER: {
		uint8_t le[4] = {(uint8_t)q->srv->index, 0, 0, 0};
		IMPORT_RETURN(copy_out(m, buf, cap, le, sizeof(le)));
	}
	default:
		IMPORT_RETURN(-EINVAL);
	}
}

u32 Z_netservZ_ns_http_header(struct Z_netserv_instance_t *ctx, u32 req, u32 name, u32 name_len,
                              u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *p = mem_at(m, name, name_len);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	char key[256];
	if (name_len == 0 || name_len >= sizeof(key) || memchr(p, 0, name_len))
		IMPORT_RETURN(-EINVAL);
	memcpy(key, p, name_len);
	key[name_len] = '\0';
	const char *v = MHD_lookup_connection_value(q->conn, MHD_HEADER_KIND, key);
	if (!v)
		IMPORT_RETURN(-ENOENT);
	IMPORT_RETURN(copy_out(m, buf, cap, v, strlen(v)));
}

u32 Z_netservZ_ns_http_body_read(struct Z_netserv_instance_t *ctx, u32 req, u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	uint8_t *out = mem_at(m, buf, cap);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	size_t n = q->body_len - q->body_off;
	if (n > cap)
		n = cap;
	memcpy(out, q->body + q->body_off, n);
	q->body_off += n;
	if (q->body_off == q->body_len)
		q->body_off = q->body_len = 0;
	IMPORT_RETURN(n);
}

/* The response for status and the module's header text, or a negative errno. */
static int response_prepare(struct mod *m, struct http_req *q, u32 status, u32 headers, u32 hlen,
                            struct MHD_Response *r, http_header_fn *add)
{
	const char *h = (const char *)mem_at(m, headers, hlen);
	if (!r)
		return -ENOMEM;
	int n = http_headers_parse(h, hlen, add, r);
	if (n < 0) {
		MHD_destroy_response(r);
		return n;
	}
	q->pending = r;
	q->pending_status = status;
	q->responded = true;
	push(q);
	return 0;
}

u32 Z_netservZ_ns_http_respond(struct Z_netserv_instance_t *ctx, u32 req, u32 status, u32 headers,
                               u32 hlen, u32 body, u32 blen)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *b = mem_at(m, body, blen);
	mem_at(m, headers, hlen);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	if (q->responded || q->streaming)
		IMPORT_RETURN(-EALREADY);
	if (status < 100 || status > 999)
		IMPORT_RETURN(-EINVAL);
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(blen, (void *)b, MHD_RESPMEM_MUST_COPY);
	IMPORT_RETURN(response_prepare(m, q, status, headers, hlen, r, add_header));
}

u32 Z_netservZ_ns_http_respond_stored(struct Z_netserv_instance_t *ctx, u32 req, u32 status,
                                      u32 headers, u32 hlen, u32 key, u32 key_len, u32 offset,
                                      u32 len)
{
	IMPORT_BEGIN(ctx);
	const char *k = (const char *)mem_at(m, key, key_len);
	mem_at(m, headers, hlen);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	if (q->responded || q->streaming)
		IMPORT_RETURN(-EALREADY);
	if (status < 100 || status > 999)
		IMPORT_RETURN(-EINVAL);
	if (!m->h->store)
		IMPORT_RETURN(-EPERM);
	uint64_t size;
	int fd = objstore_open_read(m->h->store, m->name, k, key_len, &size);
	if (fd < 0)
		IMPORT_RETURN(fd);
	if ((uint64_t)offset + len > size) {
		close(fd);
		IMPORT_RETURN(-EINVAL);
	}
	/* libmicrohttpd sends it with sendfile() and closes fd with the response;
	 * Content-Length is len (a module's own is ignored, as when streamed). */
	struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	if (!r)
		close(fd);
	IMPORT_RETURN(response_prepare(m, q, status, headers, hlen, r, add_header_streamed));
}

u32 Z_netservZ_ns_http_respond_start(struct Z_netserv_instance_t *ctx, u32 req, u32 status,
                                     u32 headers, u32 hlen)
{
	IMPORT_BEGIN(ctx);
	const char *h = (const char *)mem_at(m, headers, hlen);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	if (q->responded || q->streaming)
		IMPORT_RETURN(-EALREADY);
	if (status < 100 || status > 999)
		IMPORT_RETURN(-EINVAL);
	/* A Content-Length from the module: that many bytes, not chunked. */
	uint64_t length = MHD_SIZE_UNKNOWN;
	int n = http_headers_parse(h, hlen, find_length, &length);
	if (n < 0)
		IMPORT_RETURN(n);
	if (!q->out && !(q->out = malloc(HTTP_STREAM_BUF)))
		IMPORT_RETURN(-ENOMEM);
	struct MHD_Response *r =
	        MHD_create_response_from_callback(length, 16 * 1024, on_read, q, NULL);
	int ret = response_prepare(m, q, status, headers, hlen, r, add_header_streamed);
	if (ret == 0) {
		q->streaming = true;
		q->responded = false; /* it still hears WRITABLE and CLOSED */
	}
	IMPORT_RETURN(ret);
}

u32 Z_netservZ_ns_http_write(struct Z_netserv_instance_t *ctx, u32 req, u32 buf, u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *p = mem_at(m, buf, len);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	if (!q->streaming || q->stream_end || q->stream_err)
		IMPORT_RETURN(-EINVAL);
	size_t room = HTTP_STREAM_BUF - q->out_len;
	size_t n = len < room ? len : room;
	if (n < len)
		q->want_writable = true;
	if (n == 0)
		IMPORT_RETURN(-EAGAIN);
	memcpy(q->out + q->out_len, p, n);
	q->out_len += n;
	resume(q);
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_http_end(struct Z_netserv_instance_t *ctx, u32 req)
{
	IMPORT_BEGIN(ctx);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	if (!q->streaming || q->stream_end)
		IMPORT_RETURN(-EINVAL);
	q->stream_end = true;
	q->responded = true;
	resume(q);
	IMPORT_RETURN(0);
}

u32 Z_netservZ_ns_http_abort(struct Z_netserv_instance_t *ctx, u32 req)
{
	IMPORT_BEGIN(ctx);
	struct http_req *q = req_find(m, req);
	if (!q || !q->started)
		IMPORT_RETURN(-ENOENT);
	if (!q->streaming || q->stream_end || q->stream_err)
		IMPORT_RETURN(-EINVAL);
	q->stream_end = true; /* on_read: what is buffered, then END_WITH_ERROR */
	q->stream_abort = true;
	q->responded = true;
	resume(q);
	IMPORT_RETURN(0);
}
