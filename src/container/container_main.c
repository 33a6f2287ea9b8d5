/* netserv-container: one publisher's service container. Started by netservd's
 * supervisor with the control socket as fd 3 (or --control-fd N); takes
 * ASSIGN (whose publisher it serves: drops to its uid, applies limits),
 * INSTALL, REMOVE, STATS, PING and PACKET, and runs the modules. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "container/http_block.h"
#include "container/http_fetch.h"
#include "container/host_crypto.h"
#include "container/listen.h"
#include "container/modhost.h"
#include "container/sandbox.h"
#include "container/store_objects.h"
#include "container/zygote.h"
#include "fwd/nflog.h"
#include "fwd/nfq.h"
#include "fwd/xdp/xdp_fwd.h"
#include "fwd/xdp/xsk.h"
#include "proto/busy.h"
#include "proto/cmsg.h"
#include "proto/msg.h"
#ifdef NETSERV_CONTAINER_TESTING
#include "container/container_testing.h"
#endif
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/util.h"

struct container {
	struct evloop *loop;
	int ctl_fd;
	struct modhost *host;
	struct nfq_loop *nfq; /* the publisher's NFQUEUE queue(s), if any */
	int sample_fd;        /* its NFLOG sample channel (netservd bound it), or -1 */
	uint8_t *sample_buf;  /* SAMPLE_BUF bytes */
	uint64_t samples, samples_stale, sample_errors;
	uint8_t *nfq_scratch;
	/* The AF_XDP plane: one socket per router interface, made by netservd. */
	struct xsk_port {
		struct container *c;
		struct nsxsk *x;
		uint32_t ifindex;
	} xsk[PROTO_MAX_XSK];
	size_t n_xsk;
	struct {
		uint64_t packets, accepted, dropped, modified, not_forwarded, no_egress, tx_full,
		        rounds;
	} xst;
	char user[64];
	bool assigned;
	uint8_t *buf;            /* CMSG_MAX bytes, for receiving */
	uint8_t *pkt;            /* CMSG_MAX bytes, for PACKET replies */
	struct proto_busy *busy; /* shared with the supervisor (--busy-fd), or NULL */

	struct sandbox sb;         /* hardening and the send/listen policy */
	struct mod_sockets *socks; /* modules' listening sockets */
	struct objstore *store;    /* storage/1, or NULL (no quota, no directory) */
};

/* The listening sockets opened for one module (container/listen.h). */
struct mod_sockets {
	char module[NCM_MAX_TARGET + 1];
	struct listener_set *set;
	struct mod_sockets *next;
};

static void module_sockets_close(struct container *c, const char *module)
{
	for (struct mod_sockets **pp = &c->socks; *pp; pp = &(*pp)->next) {
		struct mod_sockets *ms = *pp;
		if (strcmp(ms->module, module) == 0) {
			*pp = ms->next;
			listener_set_close(ms->set);
			free(ms);
			return;
		}
	}
}

/* modhost_send_policy_fn: crafted and modified packets only from the allowed
 * sources, sends only to the allowed destinations. */
static int send_policy(void *ctx, const char *module, int family, const uint8_t *src,
                       const uint8_t *dst)
{
	struct container *c = ctx;
	return sandbox_send_allowed(&c->sb, family, src, dst);
}

/* modhost_sock_policy_fn: listening on the publisher's listen ports,
 * connecting and sending unasked to its connect destinations. */
static int sock_policy(void *ctx, const char *module, enum modhost_sock_op op, int proto,
                       int family, const uint8_t *addr, uint16_t port)
{
	struct container *c = ctx;
	(void)module;
	if (op == MODHOST_SOCK_LISTEN)
		return sandbox_listen_allowed(&c->sb, (uint8_t)proto, port) ? 0 : -EPERM;
	return addr && sandbox_connect_allowed(&c->sb, family, addr) ? 0 : -EPERM;
}

static void on_module_event(void *ctx, const char *module, enum proto_event_kind event,
                            const char *reason)
{
	struct container *c = ctx;
	struct proto_event ev = {.kind = event};
	fprintf(stderr, "container %s: module %s: %s: %s\n", c->user, module,
	        proto_event_name(event), reason);
	snprintf(ev.module, sizeof(ev.module), "%s", module);
	snprintf(ev.reason, sizeof(ev.reason), "%s", reason ? reason : "");
	json_t *j = proto_event_to_json(&ev);
	cmsg_send_json(c->ctl_fd, CMSG_EVENT, 0, 0, j);
	json_decref(j);
}

static void reply_err(struct container *c, uint32_t seq, int status, const char *fmt, ...)
        __attribute__((__format__(printf, 4, 5)));

static void reply_err(struct container *c, uint32_t seq, int status, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_t *j = json_pack("{s:s}", "error", text);
	cmsg_send_json(c->ctl_fd, CMSG_REPLY, seq, status, j);
	json_decref(j);
}

/* Open files a container may have besides its modules' sockets (modules,
 * its queue, the send sockets, the control channel). */
#define CONTAINER_MAX_FILES 256

/* Drops to the publisher's identity and limits. Returns 0 or -errno. */
static int sandbox_enter(const struct proto_assign *a, uint32_t keep, char *err, size_t errlen)
{
	int nice_value = a->nice;
	if (nice_value && setpriority(PRIO_PROCESS, 0, nice_value) < 0) {
		snprintf(err, errlen, "setpriority(%d): %s", nice_value, strerror(errno));
		return -errno;
	}
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core);
	rlim_t files = CONTAINER_MAX_FILES + (rlim_t)a->sandbox.max_sockets;
	struct rlimit rl_nofile = {files, files};
	if (setrlimit(RLIMIT_NOFILE, &rl_nofile) < 0) {
		snprintf(err, errlen, "setrlimit(NOFILE): %s", strerror(errno));
		return -errno;
	}
	if (a->uid > 0) {
		gid_t gid = (gid_t)(a->gid >= 0 ? a->gid : a->uid);
		uid_t uid = (uid_t)a->uid;
		/* Keep only what sandbox_keep_caps() says across the uid change
		 * (CAP_NET_BIND_SERVICE for a low listen port, at most: the queue
		 * is netservd's, crafted packets' sockets are open already);
		 * every other capability goes, from the bounding set too. */
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (cap >= 32 || !(keep & (1u << cap)))
				prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
			snprintf(err, errlen, "dropping to uid %u gid %u: %s", uid, gid,
			         strerror(errno));
			return -errno;
		}
		struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct data[2] = {{0}};
		data[0].effective = data[0].permitted = keep;
		if (syscall(SYS_capset, &hdr, data) < 0) {
			snprintf(err, errlen, "capset: %s", strerror(errno));
			return -errno;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	/* Optional real-time priority and CPU for the packet loop: a reader below
	 * the NIC's softirq/NAPI thread can livelock under load. */
	int rt = (int)a->rt_priority;
	if (rt > 0) {
		struct sched_param sp = {.sched_priority = rt};
		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
			snprintf(err, errlen, "SCHED_FIFO %d: %s", rt, strerror(errno));
			return -errno;
		}
	}
	if (a->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)a->cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			snprintf(err, errlen, "pinning to CPU %lld: %s", (long long)a->cpu,
			         strerror(errno));
			return -errno;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "no_new_privs: %s", strerror(errno));
		return -errno;
	}
	/* setresuid clears the parent-death signal: set it again. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	return 0;
}

/* Runs the modules on one packet of either plane: the IP packet in
 * data[0..*len), room for cap bytes. Returns the verdict (NS_ACCEPT,
 * NS_DROP, NS_MODIFIED with the new packet in data and *len). */
static uint32_t run_modules(struct container *c, uint8_t *data, uint32_t *len, uint32_t cap,
                            const struct ns_pkt_meta *meta)
{
	if (cap > NS_PACKET_MAX)
		cap = NS_PACKET_MAX;
#ifdef NETSERV_CONTAINER_TESTING
	uint32_t tlen = *len;
	uint8_t *copy = malloc(*len);
	if (copy) { /* the packet itself goes on unchanged */
		memcpy(copy, data, *len);
		container_testing_packet(copy, &tlen, *len);
		free(copy);
	}
#endif
	return modhost_packet(c->host, data, len, cap, meta);
}

static int on_nfq_packet(void *ctx, uint8_t *data, uint32_t *len, const struct nfq_pkt_meta *nm)
{
	struct container *c = ctx;
	struct ns_pkt_meta meta = {
	        .hook = nm->hook,
	        .indev = nm->indev,
	        .outdev = nm->outdev,
	        .mark = nm->mark,
	        .queue = nm->queue,
	};
	switch (run_modules(c, data, len, nm->cap, &meta)) {
	case NS_DROP:
		return NFQ_DROP;
	case NS_MODIFIED:
		return NFQ_MODIFIED;
	default:
		return NFQ_ACCEPT;
	}
}

static void on_nfq_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct container *c = ctx;
	int r = nfq_loop_process(c->nfq, 256);
	if (r < 0)
		fprintf(stderr, "container %s: packet queue failed: %s\n", c->user, strerror(-r));
}

/* ---- the AF_XDP plane ---------------------------------------------------- */

#define XSK_BATCH  32
#define XSK_ROUNDS 8 /* batches per wake-up, then the loop serves the rest */
#define ETH_HDR    14

/* One batch from port `in`: each frame forwarded (xdp_fwd: the FIB's answer
 * the program left before it: MACs, TTL/hop limit - 1), through the modules,
 * then out of the socket on its egress interface. Returns how many frames it
 * took. */
static unsigned xsk_round(struct container *c, struct xsk_port *in)
{
	struct nsxsk_frame rx[XSK_BATCH], out[PROTO_MAX_XSK][XSK_BATCH];
	unsigned n_out[PROTO_MAX_XSK] = {0};
	unsigned n = nsxsk_rx(in->x, rx, XSK_BATCH);
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (unsigned i = 0; i < n; i++) {
		struct nsxsk_frame f = rx[i];
		struct netserv_xdp_meta m;
		size_t eg = 0;
		c->xst.packets++;
		if (nsxdp_meta_get(f.data, f.room, &m) < 0 || f.len <= ETH_HDR) {
			c->xst.not_forwarded++;
			continue;
		}
		while (eg < c->n_xsk && c->xsk[eg].ifindex != m.ifindex)
			eg++;
		if (eg == c->n_xsk) { /* routed out of an interface without XDP */
			c->xst.no_egress++;
			continue;
		}
		/* Forwarded first, as the kernel does before its forward hook:
		 * the modules see the TTL/hop limit already decremented, as on the
		 * netfilter plane; a frame the kernel would not forward (TTL <= 1)
		 * never reaches them there either. */
		if (nsxdp_forward_frame(f.data, f.len, &m) < 0) {
			c->xst.not_forwarded++;
			continue;
		}
		struct ns_pkt_meta pm = {
		        .hook = 2, /* forward */
		        .indev = in->ifindex,
		        .outdev = m.ifindex,
		        .rx_time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec,
		};
		uint32_t len = f.len - ETH_HDR;
		switch (run_modules(c, f.data + ETH_HDR, &len, NSXSK_FRAME_SIZE - f.room - ETH_HDR,
		                    &pm)) {
		case NS_DROP:
			c->xst.dropped++;
			continue;
		case NS_MODIFIED:
			c->xst.modified++;
			f.len = len + ETH_HDR;
			break;
		default:
			c->xst.accepted++;
		}
		out[eg][n_out[eg]++] = f;
	}
	for (size_t k = 0; k < c->n_xsk; k++) {
		if (!n_out[k])
			continue;
		unsigned sent = nsxsk_tx_copy(c->xsk[k].x, out[k], n_out[k]);
		c->xst.tx_full += n_out[k] - sent;
	}
	nsxsk_rx_release(in->x, rx, n);
	return n;
}

static void on_xsk_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct xsk_port *p = ctx;
	struct container *c = p->c;
	for (int k = 0; k < XSK_ROUNDS && xsk_round(c, p) == XSK_BATCH; k++)
		;
	c->xst.rounds++;
	for (size_t k = 0; k < c->n_xsk; k++)
		nsxsk_tx_kick(c->xsk[k].x);
}

/* Adopts the sockets netservd made (fds: socket and UMEM descriptor pairs,
 * taken; a.xsk_ifindex their interfaces) and reads them from the loop. */
static int xsk_open_all(struct container *c, const struct proto_assign *a, int *fds, char *err,
                        size_t errlen)
{
	int r = 0;
	for (size_t i = 0; i < a->n_xsk; i++) {
		struct xsk_port *p = &c->xsk[i];
		if (r == 0 &&
		    (r = nsxsk_adopt(fds[2 * i], fds[2 * i + 1], &p->x, err, errlen)) == 0) {
			fds[2 * i] = fds[2 * i + 1] = -1;
			p->c = c;
			p->ifindex = (uint32_t)a->xsk_ifindex[i];
			c->n_xsk = i + 1;
			r = evloop_add_fd(c->loop, nsxsk_fd(p->x), EPOLLIN, on_xsk_readable, p);
			if (r < 0)
				err_set(err, errlen, r, "watching the socket: %s", strerror(-r));
		}
		fds[2 * i] = safe_close(fds[2 * i]);
		fds[2 * i + 1] = safe_close(fds[2 * i + 1]);
	}
	return r;
}

static json_t *xsk_stats_json(const struct container *c)
{
	if (!c->n_xsk)
		return json_null();
	uint64_t rx_ring_full = 0;
	for (size_t i = 0; i < c->n_xsk; i++) {
		struct nsxsk_stats st;
		if (nsxsk_get_stats(c->xsk[i].x, &st) == 0)
			rx_ring_full += st.rx_ring_full;
	}
	return json_pack(
	        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packets",
	        (json_int_t)c->xst.packets, "accepted", (json_int_t)c->xst.accepted, "dropped",
	        (json_int_t)c->xst.dropped, "modified", (json_int_t)c->xst.modified,
	        "not_forwarded", (json_int_t)c->xst.not_forwarded, "no_egress",
	        (json_int_t)c->xst.no_egress, "tx_full", (json_int_t)c->xst.tx_full, "rounds",
	        (json_int_t)c->xst.rounds, "rx_ring_full", (json_int_t)rx_ring_full);
}

/* Reads the publisher's queue on the socket netservd bound (qfd), and sends
 * the verdicts to netservd on the channel (vfd), which checks and relays
 * them: the container has no capability, and the kernel takes verdicts only
 * from a sender with CAP_NET_ADMIN. Takes both fds. */
static int queues_open(struct container *c, const struct proto_assign *a, int qfd, int vfd,
                       char *err, size_t errlen)
{
	if (a->queue < 0) {
		safe_close(qfd);
		safe_close(vfd);
		return 0;
	}
	uint16_t queue = (uint16_t)a->queue;
	struct nfq_config cfg = {
	        .queues = &queue,
	        .n_queues = 1,
	        .batch = a->batch,
	};
	int r = nfq_loop_adopt(&cfg, qfd, vfd, on_nfq_packet, c, &c->nfq, err, errlen);
	if (r < 0)
		return r;
#ifdef NETSERV_CONTAINER_TESTING
	container_testing_set_queue(qfd, vfd);
#endif
	return evloop_add_fd(c->loop, nfq_loop_fd(c->nfq), EPOLLIN, on_nfq_readable, c);
}

/* An NFLOG datagram holds a batch of samples (fwd/nflog.h), at most this. */
#define SAMPLE_BUF   NFLOG_DGRAM_MAX
#define SAMPLE_ROUND 64 /* datagrams read per wakeup */

static void on_sample(void *ctx, const struct nflog_sample *s)
{
	struct container *c = ctx;
	struct ns_pkt_meta meta = {
	        .hook = s->hook,
	        .indev = s->indev,
	        .outdev = s->outdev,
	        .mark = s->mark,
	        .queue = s->group,
	};
	if (modhost_sample(c->host, s->prefix, s->data, s->len, &meta))
		c->samples++;
	else
		c->samples_stale++; /* its module is gone, failed, or not sampled */
}

static void on_sample_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct container *c = ctx;
	for (int i = 0; i < SAMPLE_ROUND; i++) {
		ssize_t n = recv(fd, c->sample_buf, SAMPLE_BUF, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == ENOBUFS) { /* the kernel dropped copies: they are samples */
			c->sample_errors++;
			continue;
		}
		if (n <= 0)
			return;
		if ((size_t)n > SAMPLE_BUF) { /* cannot happen (nflog.h): counted, skipped */
			c->sample_errors++;
			continue;
		}
		if (nflog_parse(c->sample_buf, (size_t)n, on_sample, c) < 0)
			c->sample_errors++;
	}
}

/* Reads the publisher's sample channel: the NFLOG group netservd bound
 * (fwd/nflog.h), which the container only reads. Takes fd (-1: none). */
static int samples_open(struct container *c, int fd, char *err, size_t errlen)
{
	if (fd < 0)
		return 0;
	c->sample_buf = malloc(SAMPLE_BUF);
	if (!c->sample_buf) {
		close(fd);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	c->sample_fd = fd;
	int r = evloop_add_fd(c->loop, fd, EPOLLIN, on_sample_readable, c);
	if (r < 0)
		return err_set(err, errlen, r, "sample channel: %s", strerror(-r));
	return 0;
}

static json_t *samples_stats_json(const struct container *c)
{
	if (c->sample_fd < 0)
		return json_null();
	return json_pack("{s:I, s:I, s:I}", "samples", (json_int_t)c->samples, "stale",
	                 (json_int_t)c->samples_stale, "errors", (json_int_t)c->sample_errors);
}

static json_t *nfq_stats_json(const struct container *c)
{
	if (!c->nfq)
		return json_null();
	struct nfq_stats st;
	nfq_loop_stats(c->nfq, &st);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "packets",
	                 (json_int_t)st.packets, "bytes", (json_int_t)st.bytes, "accepted",
	                 (json_int_t)st.accepted, "dropped", (json_int_t)st.dropped, "modified",
	                 (json_int_t)st.modified, "enobufs", (json_int_t)st.enobufs, "missed",
	                 (json_int_t)st.missed, "verdict_errors", (json_int_t)st.verdict_errors,
	                 "rounds", (json_int_t)st.rounds);
}

static void cmd_assign(struct container *c, uint32_t seq, json_t *j, int *fds)
{
	if (c->assigned) {
		reply_err(c, seq, -EALREADY, "container already serves %s", c->user);
		return;
	}
	struct proto_assign a;
	char err[256];
	int r = proto_assign_from_json(j, &a, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "%s", err);
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", a.user);
	struct modhost_limits lim = {
	        .budget_ms = a.budget_ms,
	        .mem_max_pages = a.mem_max_pages,
	        .trap_limit = a.trap_limit,
	        .trap_window_s = a.trap_window_s,
	        .log_per_s = a.log_per_s,
	        .send_pps = a.sandbox.send_pps,
	        .send_bytes_per_s = a.sandbox.send_bytes_per_s,
	        .max_sockets = a.sandbox.max_sockets,
	        .socket_bytes_per_s = a.sandbox.socket_bytes_per_s,
	};
	r = modhost_new(c->loop, &lim, on_module_event, send_policy, c, &c->host, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "%s", err);
		return;
	}
	modhost_set_busy_page(c->busy);
	modhost_set_owner(c->host, c->user);
	modhost_set_socket_policy(c->host, sock_policy);
	if (a.n_xsk) {
		r = xsk_open_all(c, &a, fds, err, sizeof(err));
		if (r < 0) {
			reply_err(c, seq, r, "AF_XDP sockets: %s", err);
			return;
		}
		/* Its sample channel: netservd writes the samples of the XDP
		 * program's sampling rules to it as NFLOG messages. */
		r = samples_open(c, fds[2 * a.n_xsk], err, sizeof(err));
		fds[2 * a.n_xsk] = -1;
		if (r < 0) {
			reply_err(c, seq, r, "sample channel: %s", err);
			return;
		}
	} else {
		r = queues_open(c, &a, fds[0], fds[1], err, sizeof(err));
		fds[0] = fds[1] = -1;
		if (r < 0) {
			reply_err(c, seq, r, "packet queue: %s", err);
			return;
		}
		r = samples_open(c, fds[2], err, sizeof(err));
		fds[2] = -1;
		if (r < 0) {
			reply_err(c, seq, r, "sample channel: %s", err);
			return;
		}
	}
	r = sandbox_init(&c->sb, &a.sandbox, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "sandbox: %s", err);
		return;
	}
	struct http_block_limits hl = {.connections = a.sandbox.http_connections};
	http_block_configure(&c->sb, &hl);
	/* libcurl for ns_http_fetch, before the lockdown (its initialisation) */
	r = http_fetch_configure(c->loop, &c->sb);
	if (r < 0) {
		reply_err(c, seq, r, "libcurl does not work");
		return;
	}
	if (host_crypto_init() < 0) {
		reply_err(c, seq, -EIO, "libcrypto does not work");
		return;
	}
	/* FFmpeg only for a publisher allowed media/1 (policy media): its
	 * libraries cost a container ~8 MB of private memory and ~50 ms. */
	if (a.sandbox.media && modhost_media_load(err, sizeof(err)) < 0)
		fprintf(stderr, "container %s: %s (media calls will fail)\n", c->user, err);
	/* The store's directory, opened as root like the sandbox's (the
	 * publisher's uid may not reach it by path); its files are made as the
	 * publisher, once the sandbox is in force. */
	_cleanup_close_ int store_dir = a.sandbox.storage_quota && c->sb.dir_fd >= 0
	                                        ? fcntl(c->sb.dir_fd, F_DUPFD_CLOEXEC, 3)
	                                        : -1;
	uint32_t keep = sandbox_keep_caps(&c->sb);
	r = sandbox_enter(&a, keep, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "%s", err);
		return;
	}
	r = sandbox_lockdown(&c->sb, keep, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "sandbox: %s", err);
		return;
	}
	if (store_dir >= 0) {
		r = objstore_open(store_dir, a.sandbox.storage_quota, &c->store);
		if (r < 0)
			fprintf(stderr, "netserv-container: %s: no object store: %s\n", c->user,
			        strerror(-r));
		modhost_set_store(c->host, c->store);
	}
	c->assigned = true;
	json_t *reply = json_pack("{s:s}", "sandbox", c->sb.applied);
	cmsg_send_json(c->ctl_fd, CMSG_REPLY, seq, 0, reply);
	json_decref(reply);
	/* What building the sandbox allocated (seccomp's filter, ...) is free
	 * now: give the pages back (bench/containers: PSS per container). */
	malloc_trim(0);
}

/* Installs a decoded INSTALL: the module, then the sockets it listens on.
 * Returns 0 or a negative errno with the reason in err. */
static int install_module(struct container *c, const struct proto_install *m, int so_fd, char *err,
                          size_t errlen)
{
	if (so_fd < 0)
		return err_set(err, errlen, -EINVAL, "INSTALL came without the module's file");
	/* The module host loads it from a sealed memfd (modhost.h): landlock
	 * lets the container open no file of the node. */
	if (m->swap) /* between two packets: the event loop runs one thing at a time */
		return modhost_swap(c->host, m->module, m->so, so_fd, err, errlen);
	int r = modhost_install(c->host, m->module, m->so, so_fd, m->properties, m->filters,
	                        m->n_filters, err, errlen);
	if (r < 0)
		return r;
	if (m->sample_every) {
		if (c->sample_fd < 0) {
			modhost_remove(c->host, m->module);
			return err_set(err, errlen, -ENOTSUP,
			               "sample: 1/%u, but the publisher has no sample channel on "
			               "this node (no packet queue, or its NFLOG group is taken)",
			               m->sample_every);
		}
		modhost_set_sample(c->host, m->module, m->sample_every);
	}
	const char *listen = json_string_value(json_object_get(m->properties, "netserv.listen"));
	/* A server module (http/1, socket/1) opens its ports itself, from ns_init
	 * (they are checked against the same policy): no placeholder for it. */
	if (listen && *listen && !modhost_is_server(c->host, m->module)) {
		struct mod_sockets *ms = calloc(1, sizeof(*ms));
		r = ms ? listener_set_open(c->loop, &c->sb, c->user, m->module, listen, &ms->set,
		                           err, errlen)
		       : err_set(err, errlen, -ENOMEM, "out of memory");
		if (r < 0) {
			free(ms);
			modhost_remove(c->host, m->module);
			return r;
		}
		snprintf(ms->module, sizeof(ms->module), "%s", m->module);
		ms->next = c->socks;
		c->socks = ms;
	}
	return 0;
}

static void cmd_install(struct container *c, uint32_t seq, json_t *j, int so_fd)
{
	struct proto_install m;
	char err[256] = "";
	int r = proto_install_from_json(j, &m, err, sizeof(err));
	if (r == 0) {
		r = install_module(c, &m, so_fd, err, sizeof(err));
		proto_install_clear(&m);
	}
	if (r < 0)
		reply_err(c, seq, r, "%s", err);
	else
		cmsg_send_json(c->ctl_fd, CMSG_REPLY, seq, 0, NULL);
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	long pages = 0, resident = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void cmd_stats(struct container *c, uint32_t seq)
{
	json_t *j = json_pack("{s:s, s:i, s:I, s:o, s:o, s:s}", "user", c->user, "pid",
	                      (int)getpid(), "rss_kb", (json_int_t)rss_kb(), "modules",
	                      c->host ? modhost_stats(c->host) : json_array(), "queue",
	                      c->n_xsk ? xsk_stats_json(c) : nfq_stats_json(c), "sandbox",
	                      c->sb.applied);
	json_object_set_new(j, "sample_channel", samples_stats_json(c));
	cmsg_send_json(c->ctl_fd, CMSG_REPLY, seq, 0, j);
	json_decref(j);
}

static void cmd_packet(struct container *c, uint32_t seq, const uint8_t *payload, size_t len)
{
	struct cmsg_packet p;
	if (len < sizeof(p)) {
		reply_err(c, seq, -EINVAL, "short PACKET");
		return;
	}
	memcpy(&p, payload, sizeof(p));
	if (p.len != len - sizeof(p) || p.len > NS_PACKET_MAX) {
		reply_err(c, seq, -EINVAL, "PACKET length mismatch");
		return;
	}
	uint8_t *data = c->pkt + sizeof(p);
	memcpy(data, payload + sizeof(p), p.len);
	uint32_t plen = p.len;
#ifdef NETSERV_CONTAINER_TESTING
	if (container_testing_packet(data, &plen, NS_PACKET_MAX))
		p.verdict = NS_MODIFIED;
	else
#endif
		p.verdict = modhost_packet(c->host, data, &plen, NS_PACKET_MAX, &p.meta);
	p.len = plen;
	memcpy(c->pkt, &p, sizeof(p));
	cmsg_send(c->ctl_fd, CMSG_REPLY, seq, 0, c->pkt, sizeof(p) + plen);
}

static void on_control(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct container *c = ctx;
	for (;;) {
		struct cmsg_hdr h;
		int err;
		int fds[PROTO_ASSIGN_FDS];
		const uint8_t *payload =
		        cmsg_recv_fds(fd, c->buf, CMSG_MAX, &h, &err, fds, PROTO_ASSIGN_FDS);
		_cleanup_close_ int passed = fds[0];
		/* Only an ASSIGN takes more than one descriptor. */
		if (!payload || h.type != CMSG_ASSIGN)
			for (size_t k = 1; k < PROTO_ASSIGN_FDS; k++)
				fds[k] = safe_close(fds[k]);
		if (!payload) {
			if (err == -EAGAIN)
				return;
			if (err == -EBADMSG)
				continue;
			/* The supervisor is gone: so are we. */
			evloop_stop(loop);
			return;
		}
		if (h.type != CMSG_ASSIGN && h.type != CMSG_PING && h.type != CMSG_STATS &&
		    !c->assigned) {
			reply_err(c, h.seq, -EPERM, "container not assigned to a publisher yet");
			continue;
		}
		if (h.type == CMSG_PACKET) {
			cmd_packet(c, h.seq, payload, h.len);
			continue;
		}
		if (h.type == CMSG_PING) {
			cmsg_send_json(fd, CMSG_REPLY, h.seq, 0, NULL);
			continue;
		}
		if (h.type == CMSG_STATS) {
			cmd_stats(c, h.seq);
			continue;
		}
		json_t *j = cmsg_json(payload, h.len);
		if (!json_is_object(j)) {
			json_decref(j);
			reply_err(c, h.seq, -EINVAL, "payload is not a JSON object");
			continue;
		}
		switch (h.type) {
		case CMSG_ASSIGN: {
			fds[0] = passed; /* taken; what cmd_assign leaves is closed */
			passed = -1;
			cmd_assign(c, h.seq, j, fds);
			for (size_t k = 0; k < PROTO_ASSIGN_FDS; k++)
				safe_close(fds[k]);
			break;
		}
		case CMSG_INSTALL:
			cmd_install(c, h.seq, j, passed);
			break;
		case CMSG_REMOVE: {
			struct proto_remove rm;
			char why[256];
			int r = proto_remove_from_json(j, &rm, why, sizeof(why));
			if (r == 0) {
				module_sockets_close(c, rm.module);
				r = modhost_remove(c->host, rm.module);
				if (r < 0)
					snprintf(why, sizeof(why), "no module %s", rm.module);
				/* Removed for good: its objects go too (it may
				 * have been taken out of service before). */
				int pr = rm.purge && c->store ? objstore_purge(c->store, rm.module)
				                              : 0;
				if (rm.purge)
					r = pr;
				if (pr < 0)
					snprintf(why, sizeof(why), "deleting the objects of %s: %s",
					         rm.module, strerror(-pr));
			}
			if (r < 0)
				reply_err(c, h.seq, r, "%s", why);
			else
				cmsg_send_json(fd, CMSG_REPLY, h.seq, 0, NULL);
			break;
		}
		default:
			reply_err(c, h.seq, -EOPNOTSUPP, "unknown message type %u", h.type);
			break;
		}
		json_decref(j);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"control-fd", required_argument, NULL, 'f'},
	        {"busy-fd", required_argument, NULL, 'b'},
	        {"zygote", no_argument, NULL, 'z'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	int ctl_fd = 3, busy_fd = -1, o;
	bool zygote = false;
	while ((o = getopt_long(argc, argv, "f:b:zh", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			ctl_fd = atoi(optarg);
			break;
		case 'b':
			busy_fd = atoi(optarg);
			break;
		case 'z':
			zygote = true;
			break;
		case 'h':
			puts("Usage: netserv-container [--control-fd N] [--busy-fd N] [--zygote]\n"
			     "A publisher's service container; started and supervised by "
			     "netservd.");
			return 0;
		default:
			return 2;
		}
	}
	/* --zygote: forks the containers (proto/zygote.h); returns in one. */
	if (zygote) {
		if (zygote_run(ctl_fd, &busy_fd) < 0)
			return 0;
		ctl_fd = 3;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);

	struct container c = {.ctl_fd = ctl_fd, .sample_fd = -1};
	if (busy_fd >= 0) {
		/* The page where the supervisor reads which module runs
		 * (proto/busy.h); mapped before the sandbox closes mmap of files. */
		void *page =
		        mmap(NULL, PROTO_BUSY_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, busy_fd, 0);
		if (page != MAP_FAILED)
			c.busy = page;
		close(busy_fd);
	}
	c.buf = malloc(CMSG_MAX);
	c.pkt = malloc(CMSG_MAX);
	if (!c.buf || !c.pkt || evloop_new(&c.loop) < 0 ||
	    evloop_add_fd(c.loop, ctl_fd, EPOLLIN, on_control, &c) < 0) {
		fprintf(stderr, "netserv-container: cannot start: %s\n", strerror(errno));
		return 1;
	}
	json_t *hello = json_pack("{s:i}", "pid", (int)getpid());
	cmsg_send_json(ctl_fd, CMSG_HELLO, 0, 0, hello);
	json_decref(hello);
	int r = evloop_run(c.loop);
	if (c.nfq)
		evloop_del_fd(c.loop, nfq_loop_fd(c.nfq));
	nfq_loop_close(c.nfq);
	for (size_t i = 0; i < c.n_xsk; i++) {
		evloop_del_fd(c.loop, nsxsk_fd(c.xsk[i].x));
		nsxsk_close(c.xsk[i].x);
	}
	if (c.sample_fd >= 0) {
		evloop_del_fd(c.loop, c.sample_fd);
		close(c.sample_fd);
	}
	free(c.sample_buf);
	while (c.socks)
		module_sockets_close(&c, c.socks->module);
	modhost_free(c.host);
	objstore_close(c.store);
	evloop_free(c.loop);
	free(c.buf);
	free(c.pkt);
	return r < 0 ? 1 : 0;
}
