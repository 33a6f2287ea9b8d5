/* Container supervisor: spawn, assign, request/reply, heartbeat, restart. */
#include "runtime/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abi/host_api.h"
#include "proto/busy.h"
#include "proto/cmsg.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "runtime/module_image.h"
#include "runtime/sandbox_host.h"
#include "runtime/verdict_relay.h"
#include "fwd/nflog.h"
#include "runtime/zygote_host.h"

struct supervisor_container;

enum ct_state { CT_STARTING, CT_IDLE, CT_ASSIGNING, CT_READY, CT_DEAD };

struct pending {
	uint32_t seq;
	sup_reply_fn *fn; /* NULL: internal, no one to tell */
	void *ctx;
	bool raw; /* reply payload is binary (PACKET) */
	void (*internal)(struct supervisor_container *ct, int status, json_t *reply, void *arg);
	void *arg;
	struct pending *next;
};

struct queued {
	uint32_t type;
	uint64_t deadline_ms; /* an INSTALL waiting for its container; 0: none */
	int fd;               /* passed along (closed after sending), or -1 */
	uint8_t *payload;
	size_t len;
	struct pending *p;
	struct queued *next;
};

#define SUP_BLAME_MAX 32
/* The modules' shared images netservd keeps (module_image.h). */
#define SUP_IMAGE_BYTES (64u << 20)

struct installed {
	struct proto_install msg;         /* what INSTALL carries, again at a restart */
	char *so_path;                    /* the .so in the node's cache */
	uint64_t blame_ms[SUP_BLAME_MAX]; /* container restarts it caused (ring) */
	unsigned blame_pos;
	struct installed *next;
};

struct publisher;

struct supervisor_container {
	struct supervisor *s;
	struct publisher *pub; /* NULL for a spare */
	pid_t pid;
	int pidfd;
	int fd;
	enum ct_state state;
	uint32_t next_seq;
	struct pending *pending;
	struct queued *queue;
	bool ping_outstanding;
	uint64_t ping_sent_ms;
	bool ping_media;             /* the container was seen in a media/1 call meanwhile */
	int64_t ping_cpu_ns;         /* its CPU time when the ping went out; < 0: unknown */
	bool ping_starved;           /* its wait for CPU was reported for this ping */
	bool restart;                /* a restart: reinstall the publisher's modules */
	bool hung;                   /* killed because it stopped answering */
	struct proto_busy *busy;     /* which module runs (proto/busy.h), or NULL */
	struct verdict_relay *relay; /* its packet queue, held here; or NULL */
	bool xsk_open;               /* the AF_XDP plane made its sockets */
	bool chan_open;              /* the sample plane made its channel */
	/* Its traffic goes to it (ct_arm): it is assigned and has answered
	 * every reinstall of a restart, so its loop drains its queue. */
	bool armed;
	bool arm_failed;       /* arming failed and was reported: retried quietly */
	unsigned reinstalling; /* reinstalls not answered yet */
	uint64_t assigned_ms;  /* when its ASSIGN was sent */
	struct supervisor_container *next;
};

struct publisher {
	struct supervisor *s;
	struct sup_publisher cfg;
	struct supervisor_container *ct;
	struct installed *mods; /* load order */
	struct queued *waiting; /* INSTALLs waiting for a container to restart */
	unsigned starts;
	uint64_t verdicts_refused; /* by its containers before the current one */
	uint64_t crash_ms[5];
	unsigned crash_pos;
	char last_exit[128]; /* how the previous container ended */
	struct evloop_timer *restart_timer;
	struct publisher *next;
};

struct supervisor {
	struct evloop *loop;
	struct sup_xdp_plane xdp;        /* .open NULL: no AF_XDP plane */
	struct sup_sample_plane samples; /* .open NULL: NFLOG groups */
	char *container_bin;
	char *cgroup_prefix;
	uint32_t heartbeat_ms;
	uint32_t pool_size;
	uint32_t restart_limit;    /* restarts one module may cause ... */
	uint32_t restart_window_s; /* ... within this window before it fails */
	uint32_t install_wait_ms;  /* an INSTALL waits this long for its container */
	sup_event_fn *event;
	void *ctx;
	struct publisher *pubs;
	struct supervisor_container *cts; /* every live container */
	struct evloop_timer *heartbeat;
	uint8_t *rxbuf;
	struct module_images *images; /* the modules' code, one copy for all */
	struct zygote_host zygote;    /* forks the containers; fd -1: we do */
};

static void ct_dead(struct supervisor_container *ct, const char *why);
static void on_installed(struct supervisor_container *ct, int status, json_t *reply, void *arg);
static struct supervisor_container *ct_spawn(struct supervisor *s, struct publisher *pub, char *err,
                                             size_t errlen);

static struct publisher *pub_find(const struct supervisor *s, const char *user)
{
	for (struct publisher *p = s->pubs; p; p = p->next)
		if (strcmp(p->cfg.ct.user, user) == 0)
			return p;
	return NULL;
}

/* ---- requests ------------------------------------------------------------ */

static int ct_send(struct supervisor_container *ct, uint32_t type, const uint8_t *payload,
                   size_t len, int pass_fd, struct pending *p)
{
	p->seq = ++ct->next_seq;
	int r = cmsg_send_fd(ct->fd, type, p->seq, 0, payload, len, pass_fd);
	if (r < 0)
		return r;
	p->next = ct->pending;
	ct->pending = p;
	return 0;
}

/* A request that waits: copies payload; takes ownership of p and pass_fd
 * (closed on failure). An INSTALL gets a deadline. */
static struct queued *queued_new(struct supervisor *s, uint32_t type, const uint8_t *payload,
                                 size_t len, int pass_fd, struct pending *p)
{
	struct queued *q = calloc(1, sizeof(*q));
	if (q && len) {
		q->payload = malloc(len);
		if (q->payload)
			memcpy(q->payload, payload, len);
	}
	if (!q || (len && !q->payload)) {
		free(q);
		safe_close(pass_fd);
		free(p);
		return NULL;
	}
	q->fd = pass_fd;
	q->type = type;
	q->len = len;
	q->p = p;
	if (p->internal == on_installed)
		q->deadline_ms = evloop_now_ms() + s->install_wait_ms;
	return q;
}

static void queued_append(struct queued **list, struct queued *q)
{
	while (*list)
		list = &(*list)->next;
	q->next = NULL;
	*list = q;
}

/* Sends now if the container is ready (or for ASSIGN/PING), else queues.
 * Takes ownership of p and pass_fd (-1 for none). */
static int ct_request(struct supervisor_container *ct, uint32_t type, const uint8_t *payload,
                      size_t len, int pass_fd, struct pending *p)
{
	bool now = ct->state == CT_READY || type == CMSG_ASSIGN || type == CMSG_PING;
	if (now) {
		int r = ct_send(ct, type, payload, len, pass_fd, p);
		safe_close(pass_fd);
		if (r < 0)
			free(p);
		return r;
	}
	struct queued *q = queued_new(ct->s, type, payload, len, pass_fd, p);
	if (!q)
		return -ENOMEM;
	queued_append(&ct->queue, q);
	return 0;
}

static int ct_request_json(struct supervisor_container *ct, uint32_t type, json_t *j, int pass_fd,
                           struct pending *p)
{
	char *text = json_dumps(j, JSON_COMPACT);
	if (!text) {
		safe_close(pass_fd);
		free(p);
		return -ENOMEM;
	}
	int r = ct_request(ct, type, (const uint8_t *)text, strlen(text), pass_fd, p);
	free(text);
	return r;
}

static void pending_complete(struct supervisor_container *ct, struct pending *p, int status,
                             const uint8_t *payload, size_t len)
{
	json_t *j = NULL;
	if (!p->raw && payload && len)
		j = cmsg_json(payload, len);
	if (p->internal)
		p->internal(ct, status, j, p->arg);
	else if (p->fn)
		p->fn(p->ctx, status, j, payload, len);
	json_decref(j);
	free(p);
}

static void ct_flush_queue(struct supervisor_container *ct)
{
	while (ct->queue && ct->state == CT_READY) {
		struct queued *q = ct->queue;
		ct->queue = q->next;
		int r = ct_send(ct, q->type, q->payload, q->len, q->fd, q->p);
		safe_close(q->fd);
		if (r < 0)
			pending_complete(ct, q->p, r, NULL, 0);
		free(q->payload);
		free(q);
	}
}

/* ---- assignment and restarts ---------------------------------------------- */

/* The container is ready to drain (assigned, its modules reinstalled, its
 * loop running): its queue or slot, made parked at the ASSIGN so that the
 * traffic took the kernel's path meanwhile, now sends it the packets. Armed
 * only once that succeeded; a failure is reported once, the traffic keeps
 * the kernel's path (fail-open), and each later answer to a ping tries
 * again. */
static void ct_arm(struct supervisor_container *ct)
{
	struct supervisor *s = ct->s;
	struct publisher *pub = ct->pub;
	char err[256] = "";
	int r = 0;
	if (ct->armed || ct->state != CT_READY || !pub || ct->reinstalling)
		return;
	const char *path = "no packet queue";
	if (ct->xsk_open && s->xdp.arm) {
		path = "AF_XDP";
		r = s->xdp.arm(s->xdp.ctx, (unsigned)pub->cfg.ct.queue, err, sizeof(err));
	} else if (ct->relay) {
		path = "NFQUEUE";
		r = verdict_relay_arm(ct->relay, err, sizeof(err));
	}
	if (r < 0) {
		if (!ct->arm_failed)
			log_err("container %s: its packet queue stays parked (the traffic goes "
			        "through the kernel without its modules; tried again at each "
			        "heartbeat): %s",
			        pub->cfg.ct.user, err);
		ct->arm_failed = true;
		return;
	}
	ct->armed = true;
	log_info("container %s takes its traffic (%s, queue %d): ready %llu ms after its "
	         "assignment%s",
	         pub->cfg.ct.user, path, (int)pub->cfg.ct.queue,
	         (unsigned long long)(evloop_now_ms() - ct->assigned_ms),
	         ct->arm_failed ? " (after failed tries)" : "");
}

static void on_reinstalled(struct supervisor_container *ct, int status, json_t *reply, void *arg)
{
	char *module = arg;
	if (ct->reinstalling > 0 && --ct->reinstalling == 0)
		ct_arm(ct); /* the last one answered (installed or failed) */
	if (status < 0 && ct->pub) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		log_warn("container %s: reinstalling %s failed: %s", ct->pub->cfg.ct.user, module,
		         e ? e : strerror(-status));
		if (ct->s->event)
			ct->s->event(ct->s->ctx, ct->pub->cfg.ct.user, module, RUNTIME_EVENT_FAILED,
			             e ? e : "reinstall after a container restart failed");
	}
	free(module);
}

static struct pending *pending_new(sup_reply_fn *fn, void *ctx)
{
	struct pending *p = calloc(1, sizeof(*p));
	if (p) {
		p->fn = fn;
		p->ctx = ctx;
	}
	return p;
}

static void installed_free(struct installed *m)
{
	if (!m)
		return;
	proto_install_clear(&m->msg);
	free(m->so_path);
	free(m);
}

static void on_assigned(struct supervisor_container *ct, int status, json_t *reply, void *arg)
{
	struct publisher *pub = ct->pub;
	if (status < 0) {
		const char *e = json_string_value(json_object_get(reply, "error"));
		log_err("container for %s refused its assignment: %s", pub ? pub->cfg.ct.user : "?",
		        e ? e : strerror(-status));
		kill(ct->pid, SIGKILL);
		return;
	}
	ct->state = CT_READY;
	if (!pub)
		return;
	const char *sandbox = json_string_value(json_object_get(reply, "sandbox"));
	log_info("container %s ready (pid %d, start %u; %s)", pub->cfg.ct.user, (int)ct->pid,
	         pub->starts, sandbox && *sandbox ? sandbox : "no sandbox");
	if (ct->restart) {
		/* Reinstall before anything queued, in the original load order. */
		for (struct installed *m = pub->mods; m; m = m->next) {
			struct pending *p = pending_new(NULL, NULL);
			char *name = strdup(m->msg.module);
			json_t *j = proto_install_to_json(&m->msg);
			if (!p || !name || !j) {
				free(p);
				free(name);
				json_decref(j);
				continue;
			}
			p->internal = on_reinstalled;
			p->arg = name;
			int so_fd = module_images_open(ct->s->images, m->so_path);
			if (so_fd < 0)
				log_warn("container %s: cannot open %s: %s", pub->cfg.ct.user,
				         m->so_path, strerror(-so_fd));
			else
				log_debug("container %s: reinstalling %s from %s", pub->cfg.ct.user,
				          m->msg.module, m->so_path);
			if (ct_request_json(ct, CMSG_INSTALL, j, so_fd, p) < 0)
				free(name);
			else
				ct->reinstalling++;
			json_decref(j);
		}
		if (ct->s->event)
			ct->s->event(ct->s->ctx, pub->cfg.ct.user, NULL, RUNTIME_EVENT_RESTARTED,
			             pub->last_exit[0] ? pub->last_exit : NULL);
	}
	/* A new container, or one with nothing to reinstall, drains from now
	 * on; a restarted one once its last reinstall is answered. */
	if (!ct->reinstalling)
		ct_arm(ct);
	ct_flush_queue(ct);
}

static void ct_assign(struct supervisor_container *ct)
{
	struct publisher *pub = ct->pub;
	struct supervisor *s = ct->s;
	char group[160], err[256];
	snprintf(group, sizeof(group), "%s/%s", s->cgroup_prefix, pub->cfg.ct.user);
	const struct cg_limits *cg = &pub->cfg.cgroup;
	if (cg->memory_bytes || cg->cpu_percent || cg->pids_max) {
		if (cgroup_apply(group, cg, ct->pid, err, sizeof(err)) < 0)
			log_warn("container %s: limits not applied: %s", pub->cfg.ct.user, err);
	}
	/* The publisher's queue is bound here, not in the container (which has
	 * no capability): it gets a copy to read, and a channel for its
	 * verdicts, which this process checks and sends (verdict_relay.h). On
	 * the AF_XDP plane it gets the sockets this process made instead. */
	struct proto_assign a = pub->cfg.ct;
	int fds[PROTO_ASSIGN_FDS] = {-1, -1, -1, -1, -1, -1, -1, -1, -1};
	size_t nfds = 0;
	bool own_fds = true; /* fds are ours to close (not the plane's) */
	int32_t queue = a.queue;
	int r = 0;
	bool nfq = queue >= 0 && !s->xdp.open;
	if (queue >= 0 && s->xdp.open) {
		own_fds = false;
		a.queue = -1; /* no NFQUEUE queue on this plane */
		if (ct->xsk_open)
			s->xdp.close(s->xdp.ctx, (unsigned)queue);
		r = s->xdp.open(s->xdp.ctx, (unsigned)queue, fds, a.xsk_ifindex, PROTO_MAX_XSK, err,
		                sizeof(err));
		if (r == -EBUSY) {
			/* Another publisher holds the device queue: this one's
			 * rules go to netfilter (the plane's delegate), its
			 * packets to its NFQUEUE queue, as on driver netfilter. */
			log_notice(
			        "container %s: AF_XDP sockets: %s; its traffic takes the NFQUEUE "
			        "path (queue %d)",
			        a.user, err, (int)queue);
			for (size_t i = 0; i < PROTO_ASSIGN_FDS; i++)
				fds[i] = -1;
			own_fds = true;
			a.queue = queue;
			nfq = true;
			r = 0;
		} else if (r < 0) {
			/* It runs without: its rules find an empty slot (fail-open). */
			log_err("container %s: AF_XDP sockets: %s (its traffic goes through the "
			        "kernel without its modules)",
			        a.user, err);
			r = 0;
		} else {
			ct->xsk_open = true;
			a.n_xsk = (uint32_t)r;
			nfds = 2 * (size_t)r;
			if (fds[nfds] >= 0) /* the sample channel */
				nfds++;
		}
	}
	if (nfq && !ct->relay) {
		struct verdict_relay_sched sched = {
		        .batch = a.batch,
		        .cpu = (int)a.cpu,
		        .rt_priority = (int)a.rt_priority,
		};
		r = verdict_relay_open(s->loop, a.user, (uint16_t)queue, &sched, &ct->relay, fds,
		                       err, sizeof(err));
		if (r < 0)
			log_err("container %s: packet queue %d: %s", a.user, (int)queue, err);
		else
			nfds = 2;
		/* Its sample channel (SETUP sample: 1/N): the NFLOG group of the
		 * same number, bound here and handed over; the container only reads
		 * it (docs/security.md, "Sample channels"). Ours is closed below:
		 * the group unbinds when the container's copy goes with it. With a
		 * sample plane, the channel the plane makes (a copy of its end). */
		if (r == 0) {
			char why[160];
			if (s->samples.open) {
				if (ct->chan_open)
					s->samples.close(s->samples.ctx, (unsigned)queue);
				int c = s->samples.open(s->samples.ctx, (unsigned)queue, why,
				                        sizeof(why));
				ct->chan_open = c >= 0;
				fds[2] = c < 0 ? c : fcntl(c, F_DUPFD_CLOEXEC, 3);
				if (c >= 0 && fds[2] < 0)
					snprintf(why, sizeof(why), "%s", strerror(errno));
			} else {
				fds[2] = nflog_group_bind((uint16_t)queue, NS_PACKET_MAX, 0, why,
				                          sizeof(why));
			}
			if (fds[2] < 0) {
				log_warn(
				        "container %s: no sample channel (sampled modules will not "
				        "install): %s",
				        a.user, why);
				fds[2] = -1;
			} else {
				nfds = 3;
			}
		}
	}
	json_t *j = proto_assign_to_json(&a);
	struct pending *p = pending_new(NULL, NULL);
	if (!j || !p) {
		json_decref(j);
		free(p);
		if (own_fds) {
			safe_close(fds[0]);
			safe_close(fds[1]);
			safe_close(fds[2]);
		}
		kill(ct->pid, SIGKILL);
		return;
	}
	p->internal = on_assigned;
	ct->state = CT_ASSIGNING;
	ct->assigned_ms = evloop_now_ms();
	char *text = r < 0 ? NULL : json_dumps(j, JSON_COMPACT);
	if (text) {
		p->seq = ++ct->next_seq;
		r = cmsg_send_fds(ct->fd, CMSG_ASSIGN, p->seq, 0, text, strlen(text), fds, nfds);
	}
	if (text && r == 0) {
		p->next = ct->pending;
		ct->pending = p;
	} else {
		free(p);
		kill(ct->pid, SIGKILL);
	}
	free(text);
	if (own_fds) {
		safe_close(fds[0]);
		safe_close(fds[1]);
		safe_close(fds[2]);
	}
	json_decref(j);
}

static void spares_refill(struct supervisor *s)
{
	unsigned spares = 0;
	for (struct supervisor_container *ct = s->cts; ct; ct = ct->next)
		spares += !ct->pub && ct->state != CT_DEAD;
	char err[256];
	while (spares < s->pool_size) {
		if (!ct_spawn(s, NULL, err, sizeof(err))) {
			log_warn("supervisor: cannot pre-fork a container: %s", err);
			return;
		}
		spares++;
	}
}

/* ---- container events ------------------------------------------------------- */

static void ct_message(struct supervisor_container *ct, const struct cmsg_hdr *h,
                       const uint8_t *payload)
{
	switch (h->type) {
	case CMSG_HELLO:
		if (ct->state != CT_STARTING)
			return;
		ct->state = CT_IDLE;
		if (ct->pub)
			ct_assign(ct);
		return;
	case CMSG_REPLY:
		for (struct pending **pp = &ct->pending; *pp; pp = &(*pp)->next) {
			struct pending *p = *pp;
			if (p->seq != h->seq)
				continue;
			*pp = p->next;
			pending_complete(ct, p, h->status, payload, h->len);
			return;
		}
		return;
	case CMSG_EVENT: {
		json_t *j = cmsg_json(payload, h->len);
		struct proto_event ev;
		char err[128];
		if (proto_event_from_json(j, &ev, err, sizeof(err)) < 0)
			log_warn("container %s: bad EVENT: %s",
			         ct->pub ? ct->pub->cfg.ct.user : "(spare)", err);
		else if (ct->pub && ct->s->event)
			ct->s->event(ct->s->ctx, ct->pub->cfg.ct.user, ev.module,
			             ev.kind == PROTO_EVENT_TRAP ? RUNTIME_EVENT_TRAP
			                                         : RUNTIME_EVENT_FAILED,
			             ev.reason);
		json_decref(j);
		return;
	}
	default:
		return;
	}
}

static void on_ct_readable(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	struct supervisor_container *ct = arg;
	struct supervisor *s = ct->s;
	for (int i = 0; i < 64; i++) {
		struct cmsg_hdr h;
		int err;
		const uint8_t *payload = cmsg_recv(fd, s->rxbuf, CMSG_MAX, &h, &err);
		if (!payload) {
			if (err == -EAGAIN)
				return;
			if (err == -EBADMSG)
				continue;
			ct_dead(ct, "control socket closed");
			return;
		}
		ct_message(ct, &h, payload);
		if (ct->state == CT_DEAD)
			return;
	}
}

static void on_ct_exit(struct evloop *loop, int fd, uint32_t events, void *arg)
{
	ct_dead(arg, "process exited");
}

static void pub_record_crash(struct publisher *pub, uint64_t now)
{
	pub->crash_ms[pub->crash_pos++ % ARRAY_SIZE(pub->crash_ms)] = now;
}

/* Too many crashes lately: wait before the next start. */
static uint64_t pub_restart_delay(const struct publisher *pub, uint64_t now)
{
	for (size_t i = 0; i < ARRAY_SIZE(pub->crash_ms); i++)
		if (!pub->crash_ms[i] || now - pub->crash_ms[i] > 10000)
			return 0;
	return 2000;
}

static void on_restart(struct evloop *loop, void *arg)
{
	struct publisher *pub = arg;
	struct supervisor *s = pub->s;
	pub->restart_timer = NULL;
	char err[256];
	struct supervisor_container *ct = ct_spawn(s, pub, err, sizeof(err));
	if (!ct) {
		log_err("container %s: cannot restart: %s", pub->cfg.ct.user, err);
		return;
	}
	ct->restart = true;
}

static void ct_free(struct supervisor_container *ct)
{
	struct supervisor *s = ct->s;
	for (struct supervisor_container **pp = &s->cts; *pp; pp = &(*pp)->next) {
		if (*pp == ct) {
			*pp = ct->next;
			break;
		}
	}
	if (ct->busy)
		munmap(ct->busy, PROTO_BUSY_SIZE);
	verdict_relay_close(ct->relay);
	free(ct);
}

/* Copies a string of the busy page (bounded, whatever the container wrote). */
static void busy_copy(char *dst, const volatile char *src, size_t size)
{
	size_t i;
	for (i = 0; i + 1 < size && src[i]; i++)
		dst[i] = src[i];
	dst[i] = 0;
}

/* The container died or was killed for not answering: if a module of its
 * publisher was running (the busy page), count the restart against it; after
 * restart_limit such restarts within restart_window_s, the module fails: it
 * is not reinstalled and the controller is told why. */
static void pub_blame(struct publisher *pub, struct supervisor_container *ct, int wstatus,
                      const char *how)
{
	struct supervisor *s = pub->s;
	bool crashed = (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) != SIGKILL) ||
	               (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0);
	struct proto_busy *b = ct->busy;
	if (!b || (!ct->hung && !crashed) || (b->seq & 1) || !b->running)
		return;
	char module[sizeof(b->module)], call[sizeof(b->call)];
	busy_copy(module, b->module, sizeof(module));
	busy_copy(call, b->call, sizeof(call));
	uint64_t since = b->since_ms;
	if (!module[0])
		return;
	struct installed **pp = &pub->mods;
	while (*pp && strcmp((*pp)->msg.module, module) != 0)
		pp = &(*pp)->next;
	struct installed *m = *pp;
	if (!m)
		return;
	uint64_t now = evloop_now_ms();
	m->blame_ms[m->blame_pos++ % SUP_BLAME_MAX] = now;
	unsigned count = 0;
	uint64_t oldest = now;
	for (size_t i = 0; i < SUP_BLAME_MAX; i++) {
		uint64_t t = m->blame_ms[i];
		if (t && now - t <= (uint64_t)s->restart_window_s * 1000u) {
			count++;
			if (t < oldest)
				oldest = t;
		}
	}
	char what[256];
	if (ct->hung)
		snprintf(what, sizeof(what),
		         "hogged its container: in %s for %llu ms when the container stopped "
		         "answering",
		         call[0] ? call : "a call",
		         (unsigned long long)(now > since ? now - since : 0));
	else
		snprintf(what, sizeof(what), "crashed its container (%s) in %s", how,
		         call[0] ? call : "a call");
	log_warn("container %s: module %s %s (%u of %u restarts in %u s)", pub->cfg.ct.user, module,
	         what, count, s->restart_limit, s->restart_window_s);
	if (count < s->restart_limit)
		return;
	char reason[400];
	snprintf(reason, sizeof(reason), "%s; restarted %u times in %llu s", what, count,
	         (unsigned long long)((now - oldest + 999) / 1000));
	*pp = m->next;
	installed_free(m);
	log_err("container %s: module %s failed: %s; it is not reinstalled", pub->cfg.ct.user,
	        module, reason);
	if (s->event)
		s->event(s->ctx, pub->cfg.ct.user, module, RUNTIME_EVENT_FAILED, reason);
}

static void ct_dead(struct supervisor_container *ct, const char *why)
{
	struct supervisor *s = ct->s;
	if (ct->state == CT_DEAD)
		return;
	ct->state = CT_DEAD;
	evloop_del_fd(s->loop, ct->fd);
	evloop_del_fd(s->loop, ct->pidfd);
	ct->fd = safe_close(ct->fd);
	kill(ct->pid, SIGKILL);
	int wstatus = 0;
	waitpid(ct->pid, &wstatus, 0);
	ct->pidfd = safe_close(ct->pidfd);
	/* Its copy of the queue socket is gone with it: closing ours unbinds the
	 * queue now, and --queue-bypass lets the traffic through. */
	if (ct->relay && ct->pub) {
		struct verdict_relay_stats st;
		verdict_relay_stats(ct->relay, &st);
		ct->pub->verdicts_refused += st.refused;
	}
	ct->relay = verdict_relay_close(ct->relay);
	/* On the AF_XDP plane this process holds the sockets too, so they stay
	 * in the XSKMAP: the plane empties the slot now (fail-open). */
	if (ct->xsk_open && ct->pub && s->xdp.close)
		s->xdp.close(s->xdp.ctx, (unsigned)ct->pub->cfg.ct.queue);
	ct->xsk_open = false;
	if (ct->chan_open && ct->pub && s->samples.close)
		s->samples.close(s->samples.ctx, (unsigned)ct->pub->cfg.ct.queue);
	ct->chan_open = false;
	char how[64];
	if (WIFSIGNALED(wstatus))
		snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(wstatus),
		         sigabbrev_np(WTERMSIG(wstatus)) ? sigabbrev_np(WTERMSIG(wstatus)) : "?");
	else
		snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(wstatus));

	struct publisher *pub = ct->pub;
	if (pub) {
		log_warn("container %s (pid %d) died: %s, %s", pub->cfg.ct.user, (int)ct->pid, why,
		         how);
		snprintf(pub->last_exit, sizeof(pub->last_exit), "previous container %s%s", how,
		         ct->hung ? " (stopped answering)" : "");
		if (pub->ct == ct)
			pub_blame(pub, ct, wstatus, how);
	}
	/* Everyone waiting on it gets an error. */
	while (ct->pending) {
		struct pending *p = ct->pending;
		ct->pending = p->next;
		pending_complete(ct, p, -ECONNRESET, NULL, 0);
	}
	uint64_t now = evloop_now_ms();
	while (ct->queue) {
		struct queued *q = ct->queue;
		ct->queue = q->next;
		if (pub && pub->ct == ct && q->p->internal == on_installed) {
			/* Not sent yet: it waits for the next container. */
			if (!q->deadline_ms)
				q->deadline_ms = now + s->install_wait_ms;
			queued_append(&pub->waiting, q);
			continue;
		}
		safe_close(q->fd);
		pending_complete(ct, q->p, -ECONNRESET, NULL, 0);
		free(q->payload);
		free(q);
	}
	if (pub && pub->ct == ct) {
		pub->ct = NULL;
		uint64_t delay = pub_restart_delay(pub, now);
		pub_record_crash(pub, now);
		pub->restart_timer = evloop_timer_add(s->loop, delay, on_restart, pub);
		if (!pub->restart_timer)
			log_err("container %s: cannot schedule its restart", pub->cfg.ct.user);
	}
	ct_free(ct);
	if (!pub)
		spares_refill(s);
}

static struct supervisor_container *ct_spawn(struct supervisor *s, struct publisher *pub, char *err,
                                             size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return NULL;
	}
	/* The page where the container says which module runs (proto/busy.h). */
	int busy_fd = memfd_create("netserv-busy", MFD_CLOEXEC);
	struct proto_busy *busy = MAP_FAILED;
	if (busy_fd >= 0 && ftruncate(busy_fd, PROTO_BUSY_SIZE) == 0)
		busy = mmap(NULL, PROTO_BUSY_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, busy_fd, 0);
	if (busy == MAP_FAILED) {
		log_warn("supervisor: no busy page for a container: %s", strerror(errno));
		busy = NULL;
		busy_fd = safe_close(busy_fd);
	}
	int bufsize = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	pid_t pid = -1;
	if (s->zygote.fd >= 0) {
		pid = zygote_host_spawn(&s->zygote, sv[1], busy_fd);
		if (pid < 0 && s->zygote.fd < 0)
			log_warn("supervisor: the container zygote failed (%s): containers are "
			         "started with fork and exec from now on",
			         strerror(-pid));
	}
	if (pid < 0)
		pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		safe_close(busy_fd);
		if (busy)
			munmap(busy, PROTO_BUSY_SIZE);
		return NULL;
	}
	if (pid == 0) {
		/* Child: the control socket becomes fd 3, nothing else leaks. */
		sigset_t all;
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		int b = busy_fd >= 0 ? fcntl(busy_fd, F_DUPFD, 5) : -1;
		if (dup2(sv[1], 3) < 0 || (b >= 0 && dup2(b, 4) < 0))
			_exit(127);
		syscall(SYS_close_range, b >= 0 ? 5 : 4, ~0u, 0);
		char *argv[] = {s->container_bin, "--control-fd", "3", "--busy-fd", "4", NULL};
		if (b < 0)
			argv[3] = NULL;
		execv(s->container_bin, argv);
		fprintf(stderr, "netservd: cannot run %s: %s\n", s->container_bin, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	safe_close(busy_fd);
	struct supervisor_container *ct = calloc(1, sizeof(*ct));
	if (!ct) {
		if (busy)
			munmap(busy, PROTO_BUSY_SIZE);
		close(sv[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ct->s = s;
	ct->pub = pub;
	ct->busy = busy;
	ct->pid = pid;
	ct->fd = sv[0];
	ct->state = CT_STARTING;
	ct->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(ct->fd, F_SETFL, fcntl(ct->fd, F_GETFL) | O_NONBLOCK);
	if (evloop_add_fd(s->loop, ct->fd, EPOLLIN, on_ct_readable, ct) < 0 || ct->pidfd < 0 ||
	    evloop_add_fd(s->loop, ct->pidfd, EPOLLIN, on_ct_exit, ct) < 0) {
		snprintf(err, errlen, "watching the container: %s", strerror(errno));
		evloop_del_fd(s->loop, ct->fd);
		close(ct->fd);
		safe_close(ct->pidfd);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (busy)
			munmap(busy, PROTO_BUSY_SIZE);
		free(ct);
		return NULL;
	}
	ct->next = s->cts;
	s->cts = ct;
	if (pub) {
		pub->ct = ct;
		pub->starts++;
		/* INSTALLs that came while it had no container: after the
		 * reinstalls (on_assigned), in the order they came. */
		struct queued **pp = &ct->queue;
		while (*pp)
			pp = &(*pp)->next;
		*pp = pub->waiting;
		pub->waiting = NULL;
	}
	return ct;
}

/* ---- heartbeat ----------------------------------------------------------------- */

static void on_pong(struct supervisor_container *ct, int status, json_t *reply, void *arg)
{
	ct->ping_outstanding = false;
	ct_arm(ct); /* its loop runs: if arming failed before, try again */
}

/* Fails the waiting INSTALLs whose container did not come in time. */
static void waiting_expire(struct queued **pp, struct supervisor_container *ct, uint64_t now)
{
	while (*pp) {
		struct queued *q = *pp;
		if (!q->deadline_ms || q->deadline_ms > now) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		safe_close(q->fd);
		pending_complete(ct, q->p, -ETIMEDOUT, NULL, 0);
		free(q->payload);
		free(q);
	}
}

/* The time the process has run on a CPU, in ns (/proc/PID/schedstat, first
 * field); -errno when it cannot be read. */
static int64_t proc_cpu_ns(pid_t pid)
{
	char path[64], buf[96];
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -e : -ENODATA;
	buf[n] = '\0';
	char *end;
	errno = 0;
	unsigned long long ns = strtoull(buf, &end, 10);
	if (errno || end == buf || ns > INT64_MAX)
		return -EBADMSG;
	return (int64_t)ns;
}

/* A container that has not answered its ping for `waited` ms (past the
 * limit): whether it is starved rather than hung. Starved: it ran less
 * than one heartbeat of CPU time since the ping (it was not given the CPU:
 * the node is overloaded, or it is stopped), and the wait is under
 * SUP_STARVED_LIMIT limits. A hung module spins on the CPU whenever it
 * gets one; it is killed as before. */
static bool ct_starved(struct supervisor_container *ct, uint64_t waited, uint64_t limit)
{
	if (ct->ping_cpu_ns < 0 || waited > SUP_STARVED_LIMIT * limit)
		return false;
	int64_t now = proc_cpu_ns(ct->pid);
	if (now < 0)
		return false;
	uint64_t ran_ms = (uint64_t)(now - ct->ping_cpu_ns) / 1000000u;
	if (ran_ms >= ct->s->heartbeat_ms)
		return false;
	if (!ct->ping_starved)
		log_notice("container %s (pid %d) has not answered for %llu ms but ran only "
		           "%llu ms on a CPU meanwhile: not given the CPU, not hung; waiting "
		           "(up to %llu ms)",
		           ct->pub ? ct->pub->cfg.ct.user : "(spare)", (int)ct->pid,
		           (unsigned long long)waited, (unsigned long long)ran_ms,
		           (unsigned long long)(SUP_STARVED_LIMIT * limit));
	ct->ping_starved = true;
	return true;
}

static void on_heartbeat(struct evloop *loop, void *arg)
{
	struct supervisor *s = arg;
	s->heartbeat = evloop_timer_add(loop, s->heartbeat_ms, on_heartbeat, s);
	uint64_t now = evloop_now_ms();
	for (struct publisher *pub = s->pubs; pub; pub = pub->next) {
		waiting_expire(&pub->waiting, NULL, now);
		if (pub->ct && pub->ct->state != CT_READY)
			waiting_expire(&pub->ct->queue, pub->ct, now);
	}
	for (struct supervisor_container *ct = s->cts; ct; ct = ct->next) {
		if (ct->state != CT_READY && ct->state != CT_IDLE)
			continue;
		if (ct->ping_outstanding) {
			/* A media/1 call blocks its container up to NS_MEDIA_TIME_MS:
			 * seen once while this ping waits, it gets that much more
			 * (bounded: the container is not trusted). */
			if (ct->busy && ct->busy->media)
				ct->ping_media = true;
			uint64_t grace = ct->ping_media ? NS_MEDIA_TIME_MS : 0;
			uint64_t limit = 3ull * s->heartbeat_ms + grace,
			         waited = now - ct->ping_sent_ms;
			if (waited > limit && !ct_starved(ct, waited, limit)) {
				log_warn("container %s (pid %d) stopped answering (%llu ms): "
				         "killing it",
				         ct->pub ? ct->pub->cfg.ct.user : "(spare)", (int)ct->pid,
				         (unsigned long long)waited);
				ct->hung = true;
				kill(ct->pid, SIGKILL); /* on_ct_exit restarts it */
			}
			continue;
		}
		struct pending *p = pending_new(NULL, NULL);
		if (!p)
			continue;
		p->internal = on_pong;
		ct->ping_outstanding = true;
		ct->ping_media = false;
		ct->ping_sent_ms = now;
		ct->ping_cpu_ns = proc_cpu_ns(ct->pid);
		ct->ping_starved = false;
		if (ct_request(ct, CMSG_PING, NULL, 0, -1, p) < 0)
			ct->ping_outstanding = false;
	}
}

/* ---- public API ------------------------------------------------------------------- */

/* Frees an unlinked publisher whose container is gone. */
static void pub_free(struct publisher *pub)
{
	struct supervisor *s = pub->s;
	evloop_timer_cancel(s->loop, pub->restart_timer);
	while (pub->waiting) {
		struct queued *q = pub->waiting;
		pub->waiting = q->next;
		safe_close(q->fd);
		pending_complete(NULL, q->p, -ECONNRESET, NULL, 0);
		free(q->payload);
		free(q);
	}
	while (pub->mods) {
		struct installed *m = pub->mods;
		pub->mods = m->next;
		installed_free(m);
	}
	char group[160];
	snprintf(group, sizeof(group), "%s/%s", s->cgroup_prefix, pub->cfg.ct.user);
	cgroup_remove(group);
	free(pub);
}

int supervisor_new(struct evloop *loop, const struct sup_config *cfg, sup_event_fn *event,
                   void *ctx, struct supervisor **ret, char *err, size_t errlen)
{
	if (access(cfg->container_bin, X_OK) < 0) {
		snprintf(err, errlen, "container program %s: %s", cfg->container_bin,
		         strerror(errno));
		return -ENOENT;
	}
	struct supervisor *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->zygote.fd = -1;
	s->loop = loop;
	if (cfg->xdp)
		s->xdp = *cfg->xdp;
	if (cfg->samples)
		s->samples = *cfg->samples;
	s->container_bin = strdup(cfg->container_bin);
	s->cgroup_prefix = strdup(cfg->cgroup_prefix ? cfg->cgroup_prefix : "netserv");
	s->heartbeat_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 1000;
	s->pool_size = cfg->pool_size;
	s->restart_limit = cfg->restart_limit ? cfg->restart_limit : 3;
	if (s->restart_limit > SUP_BLAME_MAX)
		s->restart_limit = SUP_BLAME_MAX;
	s->restart_window_s = cfg->restart_window_s ? cfg->restart_window_s : 60;
	s->install_wait_ms = cfg->install_wait_ms ? cfg->install_wait_ms : 10000;
	s->event = event;
	s->ctx = ctx;
	s->rxbuf = malloc(CMSG_MAX);
	s->images = module_images_new(SUP_IMAGE_BYTES);
	if (!s->container_bin || !s->cgroup_prefix || !s->rxbuf || !s->images) {
		supervisor_free(s);
		return -ENOMEM;
	}
	s->heartbeat = evloop_timer_add(loop, s->heartbeat_ms, on_heartbeat, s);
	if (!cfg->exec_each && zygote_host_start(&s->zygote, s->container_bin, err, errlen) < 0)
		log_warn("supervisor: no container zygote (%s): containers are started with fork "
		         "and exec",
		         err);
	spares_refill(s);
	*ret = s;
	return 0;
}

struct supervisor *supervisor_free(struct supervisor *s)
{
	if (!s)
		return NULL;
	zygote_host_stop(&s->zygote);
	/* All at once: their exits overlap instead of one wait after another. */
	for (struct supervisor_container *ct = s->cts; ct; ct = ct->next)
		if (ct->state != CT_DEAD)
			kill(ct->pid, SIGKILL);
	while (s->cts) {
		struct supervisor_container *ct = s->cts;
		struct publisher *pub = ct->pub;
		if (pub)
			pub->ct = NULL;
		ct->pub = NULL; /* no restart */
		/* ct_dead frees ct and would refill spares: empty the pool first. */
		s->pool_size = 0;
		ct_dead(ct, "shutting down");
	}
	while (s->pubs) {
		struct publisher *pub = s->pubs;
		s->pubs = pub->next;
		pub_free(pub);
	}
	evloop_timer_cancel(s->loop, s->heartbeat);
	free(s->container_bin);
	free(s->cgroup_prefix);
	free(s->rxbuf);
	module_images_free(s->images);
	free(s);
	return NULL;
}

int supervisor_add_publisher(struct supervisor *s, const struct sup_publisher *p, char *err,
                             size_t errlen)
{
	if (pub_find(s, p->ct.user)) {
		snprintf(err, errlen, "publisher %s configured twice", p->ct.user);
		return -EEXIST;
	}
	struct publisher *pub = calloc(1, sizeof(*pub));
	if (!pub)
		return -ENOMEM;
	pub->s = s;
	pub->cfg = *p;
	pub->next = s->pubs;
	s->pubs = pub;
	/* Take a pre-forked spare if there is one. */
	for (struct supervisor_container *ct = s->cts; ct; ct = ct->next) {
		if (ct->pub || ct->state == CT_DEAD)
			continue;
		ct->pub = pub;
		pub->ct = ct;
		pub->starts++;
		if (ct->state == CT_IDLE)
			ct_assign(ct);
		spares_refill(s);
		return 0;
	}
	if (!ct_spawn(s, pub, err, errlen))
		return -EAGAIN;
	spares_refill(s);
	return 0;
}

int supervisor_remove_publisher(struct supervisor *s, const char *user)
{
	struct publisher **pp = &s->pubs;
	while (*pp && strcmp((*pp)->cfg.ct.user, user) != 0)
		pp = &(*pp)->next;
	struct publisher *pub = *pp;
	if (!pub)
		return -ENOENT;
	*pp = pub->next;
	struct supervisor_container *ct = pub->ct;
	if (ct) {
		log_info("container %s (pid %d): stopped, its publisher was removed", user,
		         (int)ct->pid);
		pub->ct = NULL;
		ct->pub = NULL; /* no restart; ct_dead refills the spare pool */
		ct_dead(ct, "publisher removed");
	}
	pub_free(pub);
	return 0;
}

bool supervisor_has_publisher(const struct supervisor *s, const char *user)
{
	return pub_find(s, user) != NULL;
}

struct install_ctx {
	struct supervisor *s;
	char *user;
	struct installed *m; /* recorded on success */
	sup_reply_fn *fn;
	void *ctx;
};

static void on_installed(struct supervisor_container *ct, int status, json_t *reply, void *arg)
{
	struct install_ctx *ic = arg;
	struct publisher *pub = pub_find(ic->s, ic->user);
	if (status == 0 && pub) {
		struct installed **pp = &pub->mods;
		while (*pp)
			pp = &(*pp)->next;
		*pp = ic->m;
		ic->m = NULL;
	}
	if (ic->fn)
		ic->fn(ic->ctx, status, reply, NULL, 0);
	installed_free(ic->m);
	free(ic->user);
	free(ic);
}

struct swap_ctx {
	struct supervisor *s;
	char *user;
	char *module;
	char *so_path;
	sup_reply_fn *fn;
	void *ctx;
};

static void on_swapped(struct supervisor_container *ct, int status, json_t *reply, void *arg)
{
	struct swap_ctx *sc = arg;
	struct publisher *pub = pub_find(sc->s, sc->user);
	(void)ct;
	/* A restart reinstalls the build that runs now. */
	for (struct installed *m = pub && status == 0 ? pub->mods : NULL; m; m = m->next) {
		if (strcmp(m->msg.module, sc->module) != 0)
			continue;
		free(m->so_path);
		m->so_path = sc->so_path;
		sc->so_path = NULL;
		snprintf(m->msg.so, sizeof(m->msg.so), "%s", m->so_path);
		break;
	}
	if (sc->fn)
		sc->fn(sc->ctx, status, reply, NULL, 0);
	free(sc->user);
	free(sc->module);
	free(sc->so_path);
	free(sc);
}

int supervisor_swap(struct supervisor *s, const char *user, const char *module, const char *so_path,
                    sup_reply_fn *reply, void *ctx)
{
	struct publisher *pub = pub_find(s, user);
	struct installed *m = NULL;
	if (!pub)
		return -ENOENT;
	for (m = pub->mods; m && strcmp(m->msg.module, module) != 0; m = m->next)
		;
	if (!m)
		return -ENOENT;
	if (!pub->ct || pub->ct->state != CT_READY)
		return -EAGAIN;
	struct proto_install msg = {.swap = true};
	snprintf(msg.module, sizeof(msg.module), "%s", module);
	snprintf(msg.so, sizeof(msg.so), "%s", so_path);
	struct swap_ctx *sc = calloc(1, sizeof(*sc));
	struct pending *p = pending_new(NULL, NULL);
	json_t *j = proto_install_to_json(&msg);
	int so_fd = -1, r = -ENOMEM;
	if (!sc || !p || !j)
		goto fail;
	*sc = (struct swap_ctx){.s = s, .fn = reply, .ctx = ctx};
	sc->user = strdup(user);
	sc->module = strdup(module);
	sc->so_path = strdup(so_path);
	if (!sc->user || !sc->module || !sc->so_path)
		goto fail;
	so_fd = module_images_open(s->images, so_path);
	if (so_fd < 0) {
		r = so_fd;
		goto fail;
	}
	p->internal = on_swapped;
	p->arg = sc;
	r = ct_request_json(pub->ct, CMSG_INSTALL, j, so_fd, p);
	json_decref(j);
	if (r < 0) { /* ct_request_json() freed p */
		free(sc->user);
		free(sc->module);
		free(sc->so_path);
		free(sc);
	}
	return r;
fail:
	if (sc) {
		free(sc->user);
		free(sc->module);
		free(sc->so_path);
		free(sc);
	}
	free(p);
	json_decref(j);
	return r;
}

int supervisor_install(struct supervisor *s, const char *user, const char *module,
                       const char *so_path, json_t *properties, const struct ncm_filter *filters,
                       size_t n_filters, uint32_t sample_every, sup_reply_fn *reply, void *ctx)
{
	int r;
	struct publisher *pub = pub_find(s, user);
	if (!pub)
		return -ENOENT;
	struct install_ctx *ic = calloc(1, sizeof(*ic));
	struct installed *m = calloc(1, sizeof(*m));
	struct pending *p = pending_new(NULL, NULL);
	if (!ic || !m || !p)
		goto oom;
	if (strlen(module) >= sizeof(m->msg.module)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	snprintf(m->msg.module, sizeof(m->msg.module), "%s", module);
	snprintf(m->msg.so, sizeof(m->msg.so), "%s", so_path);
	m->msg.properties = properties ? json_incref(properties) : json_object();
	if (n_filters > NCM_MAX_FILTERS) {
		r = -E2BIG;
		goto fail;
	}
	m->msg.n_filters = n_filters;
	m->msg.sample_every = sample_every;
	if (n_filters)
		memcpy(m->msg.filters, filters, n_filters * sizeof(*filters));
	m->so_path = strdup(so_path);
	ic->s = s;
	ic->user = strdup(user);
	ic->m = m;
	ic->fn = reply;
	ic->ctx = ctx;
	if (!m->msg.properties || !m->so_path || !ic->user)
		goto oom;
	p->internal = on_installed;
	p->arg = ic;
	json_t *j = proto_install_to_json(&m->msg);
	if (!j)
		goto oom;
	/* The container gets the compiled module as an open file, the image
	 * every container of this module shares (module_image.h): it needs no
	 * access to the node's cache directory. */
	int so_fd = module_images_open(s->images, so_path);
	if (so_fd < 0) {
		r = so_fd;
		json_decref(j);
		goto fail;
	}
	if (pub->ct) {
		r = ct_request_json(pub->ct, CMSG_INSTALL, j, so_fd, p);
	} else {
		/* Between a crash and its restart: it waits for the next container
		 * (ct_spawn), until install_wait_ms. */
		char *text = json_dumps(j, JSON_COMPACT);
		struct queued *q = text ? queued_new(s, CMSG_INSTALL, (const uint8_t *)text,
		                                     strlen(text), so_fd, p)
		                        : NULL;
		if (!text) {
			safe_close(so_fd);
			free(p);
		}
		free(text);
		r = q ? 0 : -ENOMEM;
		if (q) {
			queued_append(&pub->waiting, q);
			log_info("container %s: %s waits for the container's restart",
			         pub->cfg.ct.user, module);
		}
	}
	json_decref(j);
	if (r < 0) {
		p = NULL; /* ct_request_json() freed it; ic and m are still ours */
		goto fail;
	}
	return 0;
oom:
	r = -ENOMEM;
fail:
	free(p);
	installed_free(m);
	if (ic) {
		free(ic->user);
		free(ic);
	}
	return r;
}

int supervisor_remove(struct supervisor *s, const char *user, const char *module,
                      sup_reply_fn *reply, void *ctx)
{
	struct publisher *pub = pub_find(s, user);
	if (!pub)
		return -ENOENT;
	bool known = false;
	for (struct installed **pp = &pub->mods; *pp; pp = &(*pp)->next) {
		struct installed *m = *pp;
		if (strcmp(m->msg.module, module) != 0)
			continue;
		*pp = m->next;
		installed_free(m);
		known = true;
		break;
	}
	if (!pub->ct)
		return known ? 0 : -ENOENT;
	struct proto_remove rm = {0};
	if (strlen(module) >= sizeof(rm.module))
		return -ENOENT;
	snprintf(rm.module, sizeof(rm.module), "%s", module);
	struct pending *p = pending_new(reply, ctx);
	json_t *j = proto_remove_to_json(&rm);
	if (!p || !j) {
		free(p);
		json_decref(j);
		return -ENOMEM;
	}
	int r = ct_request_json(pub->ct, CMSG_REMOVE, j, -1, p);
	json_decref(j);
	return r;
}

int supervisor_purge(struct supervisor *s, const char *user, const char *module)
{
	struct publisher *pub = pub_find(s, user);
	if (!pub)
		return -ENOENT;
	struct proto_remove rm = {.purge = true};
	if (strlen(module) >= sizeof(rm.module))
		return -EINVAL;
	snprintf(rm.module, sizeof(rm.module), "%s", module);
	if (!pub->ct) /* between two containers: nobody writes there now */
		return sandbox_host_purge(&pub->cfg, module);
	struct pending *p = pending_new(NULL, NULL);
	json_t *j = proto_remove_to_json(&rm);
	if (!p || !j) {
		free(p);
		json_decref(j);
		return -ENOMEM;
	}
	int r = ct_request_json(pub->ct, CMSG_REMOVE, j, -1, p);
	json_decref(j);
	return r;
}

int supervisor_stats(struct supervisor *s, const char *user, sup_reply_fn *reply, void *ctx)
{
	struct publisher *pub = pub_find(s, user);
	if (!pub)
		return -ENOENT;
	if (!pub->ct)
		return -EAGAIN;
	struct pending *p = pending_new(reply, ctx);
	if (!p)
		return -ENOMEM;
	return ct_request(pub->ct, CMSG_STATS, NULL, 0, -1, p);
}

int supervisor_packet(struct supervisor *s, const char *user, const uint8_t *data, uint32_t len,
                      const struct ns_pkt_meta *meta, sup_reply_fn *reply, void *ctx)
{
	struct publisher *pub = pub_find(s, user);
	if (!pub)
		return -ENOENT;
	if (!pub->ct)
		return -EAGAIN;
	if (len > NS_PACKET_MAX)
		return -EMSGSIZE;
	uint8_t *buf = malloc(sizeof(struct cmsg_packet) + len);
	struct pending *p = pending_new(reply, ctx);
	if (!buf || !p) {
		free(buf);
		free(p);
		return -ENOMEM;
	}
	struct cmsg_packet hdr = {.len = len};
	if (meta)
		hdr.meta = *meta;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), data, len);
	p->raw = true;
	int r = ct_request(pub->ct, CMSG_PACKET, buf, sizeof(hdr) + len, -1, p);
	free(buf);
	return r;
}

pid_t supervisor_pid(const struct supervisor *s, const char *user)
{
	const struct publisher *pub = pub_find(s, user);
	return pub && pub->ct && pub->ct->state == CT_READY ? pub->ct->pid : 0;
}

uint64_t supervisor_verdicts_refused(const struct supervisor *s, const char *user)
{
	const struct publisher *pub = pub_find(s, user);
	struct verdict_relay_stats st = {0};
	if (pub && pub->ct && pub->ct->relay)
		verdict_relay_stats(pub->ct->relay, &st);
	return (pub ? pub->verdicts_refused : 0) + st.refused;
}

unsigned supervisor_starts(const struct supervisor *s, const char *user)
{
	const struct publisher *pub = pub_find(s, user);
	return pub ? pub->starts : 0;
}

json_t *supervisor_status(const struct supervisor *s)
{
	static const char *const states[] = {"starting", "idle", "assigning", "ready", "dead"};
	json_t *arr = json_array();
	for (const struct supervisor_container *ct = s->cts; ct; ct = ct->next) {
		json_t *c = json_pack("{s:s?, s:i, s:s, s:i}", "user",
		                      ct->pub ? ct->pub->cfg.ct.user : NULL, "pid", (int)ct->pid,
		                      "state", states[ct->state], "starts",
		                      ct->pub ? (int)ct->pub->starts : 0);
		if (c && ct->relay) {
			struct verdict_relay_stats st;
			verdict_relay_stats(ct->relay, &st);
			json_object_set_new(c, "verdicts_relayed",
			                    json_integer((json_int_t)st.datagrams));
			json_object_set_new(c, "verdicts_refused",
			                    json_integer((json_int_t)st.refused));
		}
		json_array_append_new(arr, c);
	}
	return arr;
}

void supervisor_forget(struct supervisor *s, void *ctx)
{
	for (struct supervisor_container *ct = s->cts; ct; ct = ct->next) {
		for (struct pending *p = ct->pending; p; p = p->next)
			if (!p->internal && p->ctx == ctx)
				p->fn = NULL;
		for (struct queued *q = ct->queue; q; q = q->next)
			if (!q->p->internal && q->p->ctx == ctx)
				q->p->fn = NULL;
		for (struct pending *p = ct->pending; p; p = p->next)
			if (p->internal == on_installed &&
			    ((struct install_ctx *)p->arg)->ctx == ctx)
				((struct install_ctx *)p->arg)->fn = NULL;
		for (struct queued *q = ct->queue; q; q = q->next)
			if (q->p->internal == on_installed &&
			    ((struct install_ctx *)q->p->arg)->ctx == ctx)
				((struct install_ctx *)q->p->arg)->fn = NULL;
	}
	for (struct publisher *pub = s->pubs; pub; pub = pub->next)
		for (struct queued *q = pub->waiting; q; q = q->next)
			if (q->p->internal == on_installed &&
			    ((struct install_ctx *)q->p->arg)->ctx == ctx)
				((struct install_ctx *)q->p->arg)->fn = NULL;
}
