/* Admin socket server: one request, one response per connection. */
#include "daemon/admin.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/controller.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "ncm/ncm.h"

#define ADMIN_MAX_CONNS   64
#define ADMIN_IDLE_MS     10000 /* to send a whole request */
#define ADMIN_REQUEST_MAX (NCM_MAX_MESSAGE + 64 * 1024)

struct admin_conn {
	struct admin *a;
	int fd;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off;
	bool waiting; /* the controller owes us a reply */
	struct evloop_timer *idle;
	struct admin_conn *next;
};

struct admin {
	struct evloop *loop;
	struct controller *ctl;
	int fd;
	char *path;
	bool bound; /* we created the socket file: unlink it at the end */
	struct admin_conn *conns;
	unsigned n_conns;
	char handler_target[32]; /* STATUS <target> goes to handler */
	admin_handler_fn *handler;
	void *handler_ctx;
};

void admin_set_handler(struct admin *a, const char *target, admin_handler_fn *fn, void *ctx)
{
	snprintf(a->handler_target, sizeof(a->handler_target), "%s", target);
	a->handler = fn;
	a->handler_ctx = ctx;
}

static void conn_close(struct admin_conn *conn)
{
	struct admin *a = conn->a;
	if (conn->waiting)
		controller_forget(a->ctl, conn);
	evloop_timer_cancel(a->loop, conn->idle);
	evloop_del_fd(a->loop, conn->fd);
	safe_close(conn->fd);
	for (struct admin_conn **pp = &a->conns; *pp; pp = &(*pp)->next) {
		if (*pp == conn) {
			*pp = conn->next;
			break;
		}
	}
	a->n_conns--;
	free(conn->in);
	free(conn->out);
	free(conn);
}

static void conn_flush(struct admin_conn *conn)
{
	while (conn->out_off < conn->out_len) {
		ssize_t n = send(conn->fd, conn->out + conn->out_off, conn->out_len - conn->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				evloop_mod_fd(conn->a->loop, conn->fd, EPOLLOUT);
				return;
			}
			log_debug("admin: client went away: %s", strerror(errno));
			break;
		}
		conn->out_off += (size_t)n;
	}
	conn_close(conn);
}

/* Receives the controller's response (ownership passes to us). */
static void on_reply(void *ctx, struct ncm_msg *resp)
{
	struct admin_conn *conn = ctx;
	conn->waiting = false;
	if (!resp || ncm_serialize(resp, &conn->out, &conn->out_len) < 0) {
		static const char oom[] =
		        "NETSERV/0.1 500 Internal Error\nreason:out of memory\n\n";
		free(conn->out);
		conn->out = strdup(oom);
		conn->out_len = conn->out ? strlen(oom) : 0;
	}
	ncm_free(resp);
	conn_flush(conn);
}

static void reply_status(struct admin_conn *conn, int code, const char *reason)
{
	struct ncm_msg *r = ncm_response_new(code, NULL);
	if (r)
		ncm_add(r, "reason", reason);
	on_reply(conn, r);
}

static void conn_request(struct admin_conn *conn, size_t len)
{
	char err[NCM_ERR_LEN];
	struct ncm_msg *req = NULL;
	int r = ncm_parse(conn->in, len, &req, err, sizeof(err));
	if (r < 0) {
		log_info("admin: malformed request: %s", err);
		reply_status(conn, r == -EPROTO ? NCM_VERSION_NOT_SUPPORTED : NCM_BAD_REQUEST, err);
		return;
	}
	if (req->method == NCM_METHOD_NONE) {
		ncm_free(req);
		reply_status(conn, NCM_BAD_REQUEST, "expected a request, got a response");
		return;
	}
	log_debug("admin: %s %s", ncm_method_name(req->method), req->target);
	if (conn->a->handler && req->method == NCM_METHOD_STATUS && req->target &&
	    strcmp(req->target, conn->a->handler_target) == 0) {
		struct ncm_msg *resp = conn->a->handler(conn->a->handler_ctx, req);
		ncm_free(req);
		evloop_mod_fd(conn->a->loop, conn->fd, 0);
		on_reply(conn, resp);
		return;
	}
	conn->waiting = true;
	conn->idle = evloop_timer_cancel(conn->a->loop, conn->idle);
	evloop_mod_fd(conn->a->loop, conn->fd, 0);
	/* The socket is root's (0600): a request marked operator: is the
	 * operator's, and needs no publisher's signature. The network never
	 * reaches controller_operator(). */
	if (ncm_get(req, "operator"))
		controller_operator(conn->a->ctl, req, on_reply, conn);
	else
		controller_submit(conn->a->ctl, req, NULL, on_reply, conn);
	ncm_free(req);
}

static void on_conn_event(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct admin_conn *conn = ctx;
	if (conn->out) {
		conn_flush(conn);
		return;
	}
	if (conn->waiting)
		return;
	if (conn->in_cap - conn->in_len < 4096) {
		size_t cap = conn->in_cap ? conn->in_cap * 2 : 8192;
		if (cap > ADMIN_REQUEST_MAX + 1)
			cap = ADMIN_REQUEST_MAX + 1;
		char *p = realloc(conn->in, cap);
		if (!p) {
			conn_close(conn);
			return;
		}
		conn->in = p;
		conn->in_cap = cap;
	}
	ssize_t n = recv(fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(conn);
		return;
	}
	conn->in_len += (size_t)n;
	char err[NCM_ERR_LEN];
	long frame = ncm_frame_length(conn->in, conn->in_len, err, sizeof(err));
	if (frame > 0) {
		conn_request(conn, (size_t)frame);
		return;
	}
	if (frame < 0) {
		reply_status(conn, frame == -EMSGSIZE ? NCM_TOO_LARGE : NCM_BAD_REQUEST, err);
		return;
	}
	if (n == 0 || conn->in_len >= ADMIN_REQUEST_MAX) {
		/* EOF (or no room) before a blank line ended the headers. */
		if (conn->in_len == 0) {
			conn_close(conn);
			return;
		}
		reply_status(conn,
		             conn->in_len >= ADMIN_REQUEST_MAX ? NCM_TOO_LARGE : NCM_BAD_REQUEST,
		             "incomplete message: headers must end with a blank line");
	}
}

static void on_conn_idle(struct evloop *loop, void *ctx)
{
	struct admin_conn *conn = ctx;
	conn->idle = NULL;
	log_info("admin: closing a connection that sent no complete request in %d ms",
	         ADMIN_IDLE_MS);
	reply_status(conn, NCM_BAD_REQUEST, "timed out waiting for a complete request");
}

static void on_accept(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct admin *a = ctx;
	int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("admin: accept: %s", strerror(errno));
		return;
	}
	if (a->n_conns >= ADMIN_MAX_CONNS) {
		static const char busy[] = "NETSERV/0.1 503 Service Unavailable\n"
		                           "reason:too many admin connections\n\n";
		(void)!send(cfd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(cfd);
		return;
	}
	struct admin_conn *conn = calloc(1, sizeof(*conn));
	if (!conn) {
		close(cfd);
		return;
	}
	conn->a = a;
	conn->fd = cfd;
	if (evloop_add_fd(loop, cfd, EPOLLIN, on_conn_event, conn) < 0) {
		close(cfd);
		free(conn);
		return;
	}
	conn->idle = evloop_timer_add(loop, ADMIN_IDLE_MS, on_conn_idle, conn);
	conn->next = a->conns;
	a->conns = conn;
	a->n_conns++;
}

int admin_new(struct evloop *loop, struct controller *ctl, const char *path, struct admin **ret,
              char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, err ? errlen : 0, "admin socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);

	struct admin *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->loop = loop;
	a->ctl = ctl;
	a->path = strdup(path);
	a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!a->path || a->fd < 0) {
		int r = a->path ? -errno : -ENOMEM;
		admin_free(a);
		return r;
	}
	/* A socket left by a daemon that was killed: remove it, unless alive. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err ? errlen : 0, "%s exists and is not a socket", path);
			admin_free(a);
			return -EEXIST;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, err ? errlen : 0,
			         "%s: another netservd is already listening there", path);
			admin_free(a);
			return -EADDRINUSE;
		}
		safe_close(probe);
		unlink(path);
	}
	mode_t old = umask(0177);
	int r = bind(a->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	a->bound = r == 0;
	if (r < 0 || chmod(path, 0600) < 0 || listen(a->fd, 64) < 0) {
		r = -errno;
		snprintf(err, err ? errlen : 0, "admin socket %s: %s", path, strerror(errno));
		admin_free(a);
		return r;
	}
	r = evloop_add_fd(loop, a->fd, EPOLLIN, on_accept, a);
	if (r < 0) {
		snprintf(err, err ? errlen : 0, "admin socket: %s", strerror(-r));
		admin_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

struct admin *admin_free(struct admin *a)
{
	if (!a)
		return NULL;
	while (a->conns)
		conn_close(a->conns);
	if (a->fd >= 0) {
		evloop_del_fd(a->loop, a->fd);
		close(a->fd);
	}
	if (a->bound)
		unlink(a->path);
	free(a->path);
	free(a);
	return NULL;
}
