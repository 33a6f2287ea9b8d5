/* Host API v1: the imports of module "netserv" (see abi/host_api.h).
 * Every pointer and length a module passes is checked against its memory;
 * a bad one traps the module (as an out-of-bounds access would). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "container/modhost_internal.h"
#include "lib/evloop.h"
#include "lib/util.h"

/* The prototypes from the ABI list: a definition below that does not match
 * its entry fails to compile. */
#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_HOST_IMPORTS(DECLARE_IMPORT)

void Z_netservZ_ns_log(struct Z_netserv_instance_t *ctx, u32 level, u32 ptr, u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *p = mem_at(m, ptr, len);
	uint64_t now = modhost_now_ns();
	uint32_t rate = m->h->lim.log_per_s;
	m->log_tokens += (double)(now - m->log_refill_ns) / 1e9 * rate;
	if (m->log_tokens > rate * 2.0)
		m->log_tokens = rate * 2.0;
	m->log_refill_ns = now;
	if (m->log_tokens < 1.0) {
		m->log_suppressed++;
		logring_suppress(&m->logs);
		modhost_import_leave();
		return;
	}
	m->log_tokens -= 1.0;
	m->log_lines++;
	char line[512];
	size_t n = len < sizeof(line) - 1 ? len : sizeof(line) - 1;
	for (size_t i = 0; i < n; i++)
		line[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	line[n] = '\0';
	logring_add(&m->logs, (int64_t)modhost_time_ms(), level, (const char *)p, len);
	if (m->h->off.log)
		m->h->off.log(m->h->off.ctx, m->name, level, line);
	else
		fprintf(stderr, "module %s%s%s %s: %s%s\n", m->h->owner, m->h->owner[0] ? "/" : "",
		        m->name, logring_level_name(level), line, len > n ? "..." : "");
	modhost_import_leave();
}

u64 Z_netservZ_ns_clock_ns(struct Z_netserv_instance_t *ctx)
{
	(void)ctx;
	return modhost_now_ns();
}

u64 Z_netservZ_ns_time_ms(struct Z_netserv_instance_t *ctx)
{
	(void)ctx;
	return modhost_time_ms();
}

static void on_module_timer(struct evloop *loop, void *arg);

/* Arms a periodic timer for its next due time after `now`: from the due time,
 * not from now, so that it does not drift when the container runs late;
 * periods missed entirely are skipped (coalesced), not fired back to back. */
static void module_timer_rearm(struct evloop *loop, struct mod_timer *t, uint64_t now)
{
	t->due_ms += t->period_ms;
	if (t->due_ms <= now)
		t->due_ms = now + t->period_ms - (now - t->due_ms) % t->period_ms;
	t->t = evloop_timer_add(loop, t->due_ms - now, on_module_timer, t);
}

static void on_module_timer(struct evloop *loop, void *arg)
{
	struct mod_timer *t = arg;
	struct mod *m = t->m;
	t->t = NULL;
	/* Armed before the call, so that the callback may cancel or change it. */
	if (t->period_ms)
		module_timer_rearm(loop, t, evloop_now_ms());
	modhost_timer_fire(m, t->id);
	/* A callback that ran past the next due time: skip the periods it
	 * covered rather than run again at once. The timer may have been
	 * cancelled or set again by the callback, or by a trap. */
	uint64_t now = evloop_now_ms();
	if (t->t && t->period_ms && t->due_ms <= now) {
		t->t = evloop_timer_cancel(loop, t->t);
		t->due_ms -= t->period_ms;
		module_timer_rearm(loop, t, now);
	}
}

u32 Z_netservZ_ns_timer_set(struct Z_netserv_instance_t *ctx, u32 id, u32 delay_ms, u32 periodic)
{
	IMPORT_BEGIN(ctx);
	if (id >= MOD_MAX_TIMERS || delay_ms == 0 || delay_ms > 86400000u)
		IMPORT_RETURN(-EINVAL);
	struct mod_timer *t = &m->timers[id];
	t->t = evloop_timer_cancel(m->h->loop, t->t);
	t->period_ms = periodic ? delay_ms : 0;
	if (m->h->offline) {
		/* virtual time: modhost_clock_advance() fires it */
		t->due_ms = modhost_now_ns() / 1000000u + delay_ms;
		t->armed = true;
		IMPORT_RETURN(0);
	}
	t->due_ms = evloop_now_ms() + delay_ms;
	t->t = evloop_timer_add(m->h->loop, delay_ms, on_module_timer, t);
	IMPORT_RETURN(t->t ? 0 : -ENOMEM);
}

u32 Z_netservZ_ns_timer_cancel(struct Z_netserv_instance_t *ctx, u32 id)
{
	IMPORT_BEGIN(ctx);
	if (id >= MOD_MAX_TIMERS)
		IMPORT_RETURN(-EINVAL);
	if (!m->timers[id].t && !m->timers[id].armed)
		IMPORT_RETURN(-ENOENT);
	m->timers[id].t = evloop_timer_cancel(m->h->loop, m->timers[id].t);
	m->timers[id].armed = false;
	IMPORT_RETURN(0);
}

u32 Z_netservZ_ns_prop_get(struct Z_netserv_instance_t *ctx, u32 key, u32 key_len, u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *k = mem_at(m, key, key_len);
	uint8_t *out = mem_at(m, buf, cap);
	char name[128];
	if (key_len >= sizeof(name))
		IMPORT_RETURN(-ENOENT);
	memcpy(name, k, key_len);
	name[key_len] = '\0';
	const char *v = json_string_value(json_object_get(m->props, name));
	if (!v)
		IMPORT_RETURN(-ENOENT);
	size_t n = strlen(v);
	if (n > cap)
		IMPORT_RETURN(-ENOSPC);
	memcpy(out, v, n);
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_counter_id(struct Z_netserv_instance_t *ctx, u32 name, u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *p = mem_at(m, name, len);
	if (len == 0 || len >= MOD_COUNTER_NAME)
		IMPORT_RETURN(-EINVAL);
	for (uint32_t i = 0; i < m->n_counters; i++)
		if (strlen(m->counters[i].name) == len && memcmp(m->counters[i].name, p, len) == 0)
			IMPORT_RETURN(i);
	if (m->n_counters >= MOD_MAX_COUNTERS)
		IMPORT_RETURN(-ENOSPC);
	struct mod_counter *c = &m->counters[m->n_counters];
	for (uint32_t i = 0; i < len; i++)
		c->name[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	c->name[len] = '\0';
	c->value = 0;
	IMPORT_RETURN(m->n_counters++);
}

void Z_netservZ_ns_counter_add(struct Z_netserv_instance_t *ctx, u32 id, u64 delta)
{
	struct mod *m = ctx->m;
	if (id < m->n_counters)
		m->counters[id].value += delta;
}

u32 Z_netservZ_ns_pkt_set_len(struct Z_netserv_instance_t *ctx, u32 len)
{
	struct mod *m = ctx->m;
	/* At least a minimal IP header (IPv4's 20 bytes; the dispatcher checks
	 * the rest), at most the packet buffer. */
	if (!m->in_packet || len < 20 || len > NS_PACKET_MAX)
		return (u32)-EINVAL;
	m->cur_len = len;
	return 0;
}

u32 Z_netservZ_ns_pkt_meta(struct Z_netserv_instance_t *ctx, u32 ptr)
{
	IMPORT_BEGIN(ctx);
	uint8_t *out = mem_at(m, ptr, sizeof(struct ns_pkt_meta));
	if (!m->in_packet || !m->cur_meta)
		IMPORT_RETURN(-EINVAL);
	memcpy(out, m->cur_meta, sizeof(struct ns_pkt_meta));
	IMPORT_RETURN(0);
}

static int send_policy(struct mod *m, int family, const uint8_t *src, const uint8_t *dst)
{
	if (!m->h->policy)
		return 0;
	return m->h->policy(m->h->ctx, m->name, family, src, dst);
}

/* The publisher's send rate limit: two token buckets (packets, bytes), one
 * second deep, shared by all its modules (one module host per container).
 * Admits a send of `bytes` or returns -EAGAIN (counted as sends_limited). */
static int send_admit(struct mod *m, uint32_t bytes)
{
	struct modhost *h = m->h;
	const struct modhost_limits *l = &h->lim;
	if (!l->send_pps && !l->send_bytes_per_s)
		return 0;
	uint64_t now = modhost_now_ns();
	double dt = (double)(now - h->send_refill_ns) / 1e9;
	h->send_refill_ns = now;
	if (l->send_pps) {
		h->send_pkt_tokens += dt * l->send_pps;
		if (h->send_pkt_tokens > l->send_pps)
			h->send_pkt_tokens = l->send_pps;
	}
	if (l->send_bytes_per_s) {
		/* deep enough for one packet of the largest size */
		double depth = l->send_bytes_per_s > 65536 ? (double)l->send_bytes_per_s : 65536.0;
		h->send_byte_tokens += dt * (double)l->send_bytes_per_s;
		if (h->send_byte_tokens > depth)
			h->send_byte_tokens = depth;
	}
	if ((l->send_pps && h->send_pkt_tokens < 1.0) ||
	    (l->send_bytes_per_s && h->send_byte_tokens < bytes)) {
		m->sends_limited++;
		return -EAGAIN;
	}
	if (l->send_pps)
		h->send_pkt_tokens -= 1.0;
	if (l->send_bytes_per_s)
		h->send_byte_tokens -= bytes;
	return 0;
}

/* Offline (modhost_set_offline): hands an admitted send to the caller
 * instead of the network. Returns 0. */
static int sent_offline(struct mod *m, const struct modhost_send *s)
{
	if (m->h->off.sent)
		m->h->off.sent(m->h->off.ctx, m->name, s);
	m->sends++;
	return 0;
}

u32 Z_netservZ_ns_send_udp(struct Z_netserv_instance_t *ctx, u32 family, u32 addr, u32 dport,
                           u32 sport, u32 data, u32 len)
{
	IMPORT_BEGIN(ctx);
	if ((family != 4 && family != 6) || dport == 0 || dport > 65535 || sport > 65535 ||
	    len > 65507)
		IMPORT_RETURN(-EINVAL);
	const uint8_t *a = mem_at(m, addr, family == 4 ? 4 : 16);
	const uint8_t *payload = mem_at(m, data, len);
	int af = family == 4 ? AF_INET : AF_INET6;
	int r = send_policy(m, af, NULL, a);
	if (r < 0) {
		m->sends_refused++;
		IMPORT_RETURN(r);
	}
	/* counted on the wire: payload, UDP and IP headers */
	if ((r = send_admit(m, len + 8 + (family == 4 ? 20 : 40))) < 0)
		IMPORT_RETURN(r);
	if (m->h->offline) {
		struct modhost_send s = {.udp = true,
		                         .family = af,
		                         .dst = a,
		                         .dport = (uint16_t)dport,
		                         .sport = (uint16_t)sport,
		                         .data = payload,
		                         .len = len};
		IMPORT_RETURN(sent_offline(m, &s));
	}
	int fd = family == 4 ? m->h->udp4 : m->h->udp6;
	if (fd < 0)
		IMPORT_RETURN(-EAFNOSUPPORT);
	(void)sport; /* the node picks the source port of its own socket */
	ssize_t n;
	if (family == 4) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)dport)};
		memcpy(&sa.sin_addr, a, 4);
		n = sendto(fd, payload, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
		                          .sin6_port = htons((uint16_t)dport)};
		memcpy(&sa.sin6_addr, a, 16);
		n = sendto(fd, payload, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (n < 0)
		IMPORT_RETURN(-errno);
	m->sends++;
	IMPORT_RETURN(0);
}

u32 Z_netservZ_ns_send_packet(struct Z_netserv_instance_t *ctx, u32 data, u32 len)
{
	IMPORT_BEGIN(ctx);
	const uint8_t *p = mem_at(m, data, len);
	if (len < 20)
		IMPORT_RETURN(-EINVAL);
	int version = p[0] >> 4;
	ssize_t n;
	int r;
	if (version == 4) {
		if ((p[0] & 0x0f) < 5 || ((uint32_t)p[2] << 8 | p[3]) != len)
			IMPORT_RETURN(-EINVAL);
		r = send_policy(m, AF_INET, p + 12, p + 16);
		if (r < 0) {
			m->sends_refused++;
			IMPORT_RETURN(r);
		}
		if (m->h->raw4 < 0 && !m->h->offline)
			IMPORT_RETURN(-EPERM);
		if ((r = send_admit(m, len)) < 0)
			IMPORT_RETURN(r);
		if (m->h->offline) {
			struct modhost_send s = {
			        .family = AF_INET, .dst = p + 16, .data = p, .len = len};
			IMPORT_RETURN(sent_offline(m, &s));
		}
		struct sockaddr_in sa = {.sin_family = AF_INET};
		memcpy(&sa.sin_addr, p + 16, 4);
		n = sendto(m->h->raw4, p, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	} else if (version == 6) {
		if (len < 40 || ((uint32_t)p[4] << 8 | p[5]) + 40u != len)
			IMPORT_RETURN(-EINVAL);
		r = send_policy(m, AF_INET6, p + 8, p + 24);
		if (r < 0) {
			m->sends_refused++;
			IMPORT_RETURN(r);
		}
		if (m->h->raw6 < 0 && !m->h->offline)
			IMPORT_RETURN(-EPERM);
		if ((r = send_admit(m, len)) < 0)
			IMPORT_RETURN(r);
		if (m->h->offline) {
			struct modhost_send s = {
			        .family = AF_INET6, .dst = p + 24, .data = p, .len = len};
			IMPORT_RETURN(sent_offline(m, &s));
		}
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
		memcpy(&sa.sin6_addr, p + 24, 16);
		n = sendto(m->h->raw6, p, len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		IMPORT_RETURN(-EINVAL);
	}
	if (n < 0)
		IMPORT_RETURN(-errno);
	m->sends++;
	IMPORT_RETURN(0);
}

void modhost_sockets_open(struct modhost *h)
{
	h->udp4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	h->udp6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* Crafted packets need CAP_NET_RAW: opened now, before privileges go. */
	h->raw4 = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
	h->raw6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_RAW);
}
