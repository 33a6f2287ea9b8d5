/* Listening sockets opened for server modules (see listen.h). */
#include "container/listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "container/sandbox.h"
#include "policy/policy.h"
#include "lib/evloop.h"
#include "lib/util.h"

struct listener {
	struct listener_set *set;
	int fd;
	uint8_t proto;
	uint16_t port;
	char line[200];
	size_t line_len;
};

struct listener_set {
	struct evloop *loop;
	size_t n;
	struct listener l[POLICY_MAX_LISTEN];
	unsigned long served;
};

static void on_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct listener *l = ctx;
	for (int i = 0; i < 16; i++) {
		if (l->proto == NCM_PROTO_TCP) {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c < 0)
				return;
			(void)!send(c, l->line, l->line_len, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(c);
		} else {
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			char buf[2048];
			ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
			                     (struct sockaddr *)&from, &flen);
			if (n < 0)
				return;
			(void)!sendto(fd, l->line, l->line_len, MSG_DONTWAIT,
			              (struct sockaddr *)&from, flen);
		}
		l->set->served++;
	}
}

/* A dual-stack socket on [::]:port, or 0.0.0.0:port without IPv6. */
static int open_one(uint8_t proto, uint16_t port)
{
	int type =
	        (proto == NCM_PROTO_TCP ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK;
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, type, 0);
	if (fd >= 0) {
		struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a6, sizeof(a6)) == 0)
			goto bound;
		if (errno != EADDRNOTAVAIL && errno != EAFNOSUPPORT) {
			int r = -errno;
			close(fd);
			return r;
		}
		close(fd);
	}
	fd = socket(AF_INET, type, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a4, sizeof(a4)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
bound:
	if (proto == NCM_PROTO_TCP && listen(fd, 64) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int listener_set_open(struct evloop *loop, const struct sandbox *sb, const char *user,
                      const char *module, const char *spec, struct listener_set **ret, char *err,
                      size_t errlen)
{
	struct policy_listen want[POLICY_MAX_LISTEN];
	int n = policy_parse_listen(spec, want, err, errlen);
	if (n < 0)
		return n;
	struct listener_set *set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	set->loop = loop;
	for (int i = 0; i < n; i++) {
		const char *proto = want[i].proto == NCM_PROTO_TCP ? "tcp" : "udp";
		if (!sandbox_listen_allowed(sb, want[i].proto, want[i].port)) {
			snprintf(err, err ? errlen : 0, "listening on %s:%u is not allowed", proto,
			         want[i].port);
			listener_set_close(set);
			return -EPERM;
		}
		int fd = open_one(want[i].proto, want[i].port);
		if (fd < 0) {
			snprintf(err, err ? errlen : 0, "listening on %s:%u: %s", proto,
			         want[i].port, strerror(-fd));
			listener_set_close(set);
			return fd;
		}
		struct listener *l = &set->l[set->n++];
		l->set = set;
		l->fd = fd;
		l->proto = want[i].proto;
		l->port = want[i].port;
		int len = snprintf(l->line, sizeof(l->line), "netserv %s %s %s:%u\n", user, module,
		                   proto, l->port);
		l->line_len = len > 0 && (size_t)len < sizeof(l->line) ? (size_t)len : 0;
		int r = evloop_add_fd(loop, fd, EPOLLIN, on_readable, l);
		if (r < 0) {
			snprintf(err, err ? errlen : 0, "watching %s:%u: %s", proto, l->port,
			         strerror(-r));
			listener_set_close(set);
			return r;
		}
	}
	*ret = set;
	return 0;
}

struct listener_set *listener_set_close(struct listener_set *set)
{
	if (!set)
		return NULL;
	for (size_t i = 0; i < set->n; i++) {
		evloop_del_fd(set->loop, set->l[i].fd);
		close(set->l[i].fd);
	}
	free(set);
	return NULL;
}

unsigned long listener_set_served(const struct listener_set *set)
{
	return set ? set->served : 0;
}
