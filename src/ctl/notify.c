/* Notifications of a module's events to its publisher (ctl/notify.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/notify.h"
#include "lib/errbuf.h"

int notify_dest_parse(const char *s, struct notify_dest *ret, char *err, size_t errlen)
{
	if (strncmp(s, "udp:", 4) != 0) {
		if (strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0)
			return err_set(
			        err, errlen, -ENOTSUP,
			        "header 'notification': URLs are not supported on this node; "
			        "want udp:ADDRESS:PORT");
		return err_set(err, errlen, -EINVAL,
		               "header 'notification': want udp:ADDRESS:PORT (a numeric address)");
	}
	const char *a = s + 4, *colon;
	char host[INET6_ADDRSTRLEN + 1];
	size_t hl;
	if (*a == '[') {
		const char *e = strchr(a, ']');
		if (!e || e[1] != ':')
			goto bad;
		a++;
		hl = (size_t)(e - a);
		colon = e + 1;
	} else {
		colon = strchr(a, ':'); /* IPv6 goes in brackets */
		if (!colon)
			goto bad;
		hl = (size_t)(colon - a);
	}
	if (hl == 0 || hl >= sizeof(host))
		goto bad;
	memcpy(host, a, hl);
	host[hl] = '\0';
	struct notify_dest d = {0};
	if (inet_pton(AF_INET, host, d.addr) == 1)
		d.family = AF_INET;
	else if (inet_pton(AF_INET6, host, d.addr) == 1)
		d.family = AF_INET6;
	else
		goto bad;
	const char *p = colon + 1;
	unsigned long port = 0;
	if (!*p)
		goto bad;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
			goto bad;
	}
	if (port == 0)
		goto bad;
	d.port = (uint16_t)port;
	*ret = d;
	return 0;
bad:
	return err_set(err, errlen, -EINVAL,
	               "header 'notification': want udp:ADDRESS:PORT (a numeric IPv4 address, or "
	               "IPv6 in brackets; port 1..65535)");
}

/* A copy of s (at most max bytes) in printable ASCII: always valid JSON text. */
static char *clean(const char *s, size_t max)
{
	size_t n = strlen(s);
	n = n < max ? n : max;
	char *r = malloc(n + 1);
	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++)
		r[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
	r[n] = '\0';
	return r;
}

static int encode_once(const struct notify_event *e, size_t reason_max, char *buf, size_t cap)
{
	const char *f[4] = {e->node, e->user, e->module, e->event};
	char *v[5] = {0};
	int r = -ENOMEM;
	for (int i = 0; i < 4; i++)
		if (!(v[i] = clean(f[i] ? f[i] : "", 256)))
			goto out;
	if (e->reason && !(v[4] = clean(e->reason, reason_max)))
		goto out;
	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "node", v[0], "user", v[1],
	                      "module", v[2], "event", v[3], "reason",
	                      v[4] ? json_string(v[4]) : json_null(), "time_ms",
	                      (json_int_t)e->time_ms, "dropped", (json_int_t)e->dropped);
	if (!j)
		goto out;
	size_t n = json_dumpb(j, buf, cap, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	r = n == 0 ? -ENOMEM : n >= cap || n > NOTIFY_MAX_BYTES ? -ENOSPC : (int)n;
	if (r > 0)
		buf[n] = '\0';
out:
	for (int i = 0; i < 5; i++)
		free(v[i]);
	return r;
}

int notify_encode(const struct notify_event *e, char *buf, size_t cap)
{
	size_t reason_max = NOTIFY_MAX_BYTES;
	for (;;) {
		int r = encode_once(e, reason_max, buf, cap);
		if (r != -ENOSPC || !e->reason || reason_max == 0)
			return r;
		reason_max = reason_max > 64 ? reason_max - 64 : 0;
	}
}

struct notifier {
	int fd4, fd6;
};

int notifier_new(struct notifier **ret)
{
	struct notifier *n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fd4 = n->fd6 = -1;
	*ret = n;
	return 0;
}

struct notifier *notifier_free(struct notifier *n)
{
	if (!n)
		return NULL;
	if (n->fd4 >= 0)
		close(n->fd4);
	if (n->fd6 >= 0)
		close(n->fd6);
	free(n);
	return NULL;
}

int notifier_send(struct notifier *n, const char *header, struct notify_state *st,
                  struct notify_event *e)
{
	struct notify_dest d;
	if (notify_dest_parse(header, &d, NULL, 0) < 0)
		return -EINVAL;
	uint64_t suppressed = 0;
	if (!ratelimit_check(&st->rl, ratelimit_now_ms(), &suppressed)) {
		st->dropped++;
		return -EAGAIN;
	}
	e->dropped = st->dropped;
	char buf[NOTIFY_MAX_BYTES + 1];
	int len = notify_encode(e, buf, sizeof(buf));
	if (len < 0)
		return len;
	int *fd = d.family == AF_INET ? &n->fd4 : &n->fd6;
	if (*fd < 0) {
		*fd = socket(d.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (*fd < 0)
			return -errno;
	}
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (d.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(d.port);
		memcpy(&s4->sin_addr, d.addr, 4);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(d.port);
		memcpy(&s6->sin6_addr, d.addr, 16);
		sl = sizeof(*s6);
	}
	if (sendto(*fd, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ss, sl) <
	    0) {
		int r = -errno;
		st->failed++;
		return r == -EWOULDBLOCK ? -EAGAIN : r;
	}
	st->sent++;
	return 0;
}
