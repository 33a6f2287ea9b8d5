/* netserv-container: one publisher's service container. Started by netservd's
 * supervisor with the control socket as fd 3 (or --control-fd N); takes
 * ASSIGN (whose publisher it serves: drops to its uid, applies limits),
 * INSTALL, REMOVE, STATS, PING and PACKET, and runs the modules. */
#include <errno.h>
#include <getopt.h>
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
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container/listen.h"
#include "container/modhost.h"
#include "fwd/nfq.h"
#include "container/pkt_filter.h"
#include "container/proto.h"
#include "container/sandbox.h"
#ifdef NETSERV_CONTAINER_TESTING
#include "container/container_testing.h"
#endif
#include "lib/evloop.h"
#include "lib/util.h"

struct container {
	struct evloop *loop;
	int ctl_fd;
	struct modhost *host;
	struct nfq_loop *nfq; /* the publisher's NFQUEUE queue(s), if any */
	uint8_t *nfq_scratch;
	char user[64];
	bool assigned;
	uint8_t *buf; /* CMSG_MAX bytes, for receiving */
	uint8_t *pkt; /* CMSG_MAX bytes, for PACKET replies */

	struct sandbox sb;         /* hardening and the send/listen policy */
	struct mod_sockets *socks; /* modules' listening sockets */
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

/* modhost_send_policy_fn: crafted packets only from the allowed sources. */
static int send_policy(void *ctx, const char *module, int family, const uint8_t *src,
                       const uint8_t *dst)
{
	struct container *c = ctx;
	return sandbox_send_allowed(&c->sb, family, src);
}

static void on_module_event(void *ctx, const char *module, const char *event, const char *reason)
{
	struct container *c = ctx;
	fprintf(stderr, "container %s: module %s: %s: %s\n", c->user, module, event, reason);
	json_t *j =
	        json_pack("{s:s, s:s, s:s}", "module", module, "event", event, "reason", reason);
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

static uint32_t json_u32(json_t *j, const char *key, uint32_t dflt)
{
	json_t *v = json_object_get(j, key);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? (uint32_t)json_integer_value(v)
	                                                        : dflt;
}

/* Drops to the publisher's identity and limits. Returns 0 or -errno. */
static int sandbox_enter(json_t *a, uint32_t keep, char *err, size_t errlen)
{
	json_t *juid = json_object_get(a, "uid"), *jgid = json_object_get(a, "gid");
	int nice_value = (int)json_integer_value(json_object_get(a, "nice"));
	if (nice_value && setpriority(PRIO_PROCESS, 0, nice_value) < 0) {
		snprintf(err, errlen, "setpriority(%d): %s", nice_value, strerror(errno));
		return -errno;
	}
	struct rlimit core = {0, 0};
	setrlimit(RLIMIT_CORE, &core);
	uint32_t nofile = json_u32(a, "max_files", 256);
	struct rlimit rl_nofile = {nofile, nofile};
	if (setrlimit(RLIMIT_NOFILE, &rl_nofile) < 0) {
		snprintf(err, errlen, "setrlimit(NOFILE): %s", strerror(errno));
		return -errno;
	}
	if (json_is_integer(juid) && json_integer_value(juid) > 0) {
		gid_t gid = (gid_t)(json_is_integer(jgid) ? json_integer_value(jgid)
		                                          : json_integer_value(juid));
		uid_t uid = (uid_t)json_integer_value(juid);
		/* Keep only what the packet path needs across the uid change
		 * (sandbox_keep_caps(): CAP_NET_ADMIN for NFQUEUE verdicts when
		 * there is a queue; crafted packets need no CAP_NET_RAW, their
		 * sockets are open already); every other capability goes, from
		 * the bounding set too. */
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
	int rt = (int)json_integer_value(json_object_get(a, "rt_priority"));
	if (rt > 0) {
		struct sched_param sp = {.sched_priority = rt};
		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) {
			snprintf(err, errlen, "SCHED_FIFO %d: %s", rt, strerror(errno));
			return -errno;
		}
	}
	json_t *jcpu = json_object_get(a, "cpu");
	if (json_is_integer(jcpu) && json_integer_value(jcpu) >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET((int)json_integer_value(jcpu), &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			snprintf(err, errlen, "pinning to CPU %lld: %s",
			         (long long)json_integer_value(jcpu), strerror(errno));
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
	uint32_t cap = nm->cap < NS_PACKET_MAX ? nm->cap : NS_PACKET_MAX;
#ifdef NETSERV_CONTAINER_TESTING
	uint32_t tlen = *len;
	uint8_t *copy = malloc(*len);
	if (copy) { /* the packet itself goes on unchanged */
		memcpy(copy, data, *len);
		container_testing_packet(copy, &tlen, *len);
		free(copy);
	}
#endif
	switch (modhost_packet(c->host, data, len, cap, &meta)) {
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

/* Binds the publisher's queues (needs CAP_NET_ADMIN: before the uid drop). */
static int queues_open(struct container *c, json_t *a, char *err, size_t errlen)
{
	json_t *jq = json_object_get(a, "queues");
	if (!json_is_array(jq) || json_array_size(jq) == 0)
		return 0;
	uint16_t queues[NFQ_MAX_QUEUES];
	size_t n = 0, i;
	json_t *v;
	json_array_foreach(jq, i, v)
	{
		if (n < NFQ_MAX_QUEUES && json_is_integer(v))
			queues[n++] = (uint16_t)json_integer_value(v);
	}
	struct nfq_config cfg = {
	        .queues = queues,
	        .n_queues = n,
	        .batch = json_u32(a, "batch", 0),
	};
	int r = nfq_loop_open(&cfg, on_nfq_packet, c, &c->nfq, err, errlen);
	if (r < 0)
		return r;
	return evloop_add_fd(c->loop, nfq_loop_fd(c->nfq), EPOLLIN, on_nfq_readable, c);
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

static void cmd_assign(struct container *c, uint32_t seq, json_t *a)
{
	if (c->assigned) {
		reply_err(c, seq, -EALREADY, "container already serves %s", c->user);
		return;
	}
	const char *user = json_string_value(json_object_get(a, "user"));
	if (!user || strlen(user) >= sizeof(c->user)) {
		reply_err(c, seq, -EINVAL, "ASSIGN needs a user");
		return;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	struct modhost_limits lim = {
	        .budget_ms = json_u32(a, "budget_ms", 100),
	        .mem_max_pages = json_u32(a, "mem_max_pages", 256),
	        .trap_limit = json_u32(a, "trap_limit", 5),
	        .trap_window_s = json_u32(a, "trap_window_s", 60),
	        .log_per_s = json_u32(a, "log_per_s", 20),
	};
	char err[256];
	int r = modhost_new(c->loop, &lim, on_module_event, send_policy, c, &c->host, err,
	                    sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "%s", err);
		return;
	}
	r = queues_open(c, a, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "packet queue: %s", err);
		return;
	}
	struct sandbox_config sbc;
	sandbox_config_from_json(json_object_get(a, "sandbox"), &sbc);
	r = sandbox_init(&c->sb, &sbc, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "sandbox: %s", err);
		return;
	}
	uint32_t keep = sandbox_keep_caps(&c->sb, c->nfq != NULL);
	r = sandbox_enter(a, keep, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "%s", err);
		return;
	}
	r = sandbox_lockdown(&c->sb, keep, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "sandbox: %s", err);
		return;
	}
	c->assigned = true;
	json_t *j = json_pack("{s:s}", "sandbox", c->sb.applied);
	cmsg_send_json(c->ctl_fd, CMSG_REPLY, seq, 0, j);
	json_decref(j);
}

static void cmd_install(struct container *c, uint32_t seq, json_t *a, int so_fd)
{
	const char *name = json_string_value(json_object_get(a, "module"));
	const char *so = json_string_value(json_object_get(a, "so"));
	json_t *props = json_object_get(a, "properties");
	if (!name || !so || so_fd < 0) {
		reply_err(c, seq, -EINVAL, "INSTALL needs module, so and the module's file");
		return;
	}
	struct ncm_filter filter;
	json_t *jf = json_object_get(a, "filter");
	if (jf && !json_is_null(jf) && pkt_filter_from_json(jf, &filter) < 0) {
		reply_err(c, seq, -EINVAL, "INSTALL: malformed filter");
		return;
	}
	char err[256] = "";
	/* Landlock lets the container open no file of the node: load a copy. */
	_cleanup_close_ int mfd = sandbox_memfd_copy(so_fd, name);
	if (mfd < 0) {
		reply_err(c, seq, mfd, "copying %s: %s", so, strerror(-mfd));
		return;
	}
	int r = modhost_install(c->host, name, so, mfd, json_is_object(props) ? props : NULL,
	                        jf && !json_is_null(jf) ? &filter : NULL, err, sizeof(err));
	if (r < 0) {
		reply_err(c, seq, r, "%s", err);
		return;
	}
	const char *listen = json_string_value(json_object_get(props, "netserv.listen"));
	if (listen && *listen) {
		struct mod_sockets *ms = calloc(1, sizeof(*ms));
		r = ms ? listener_set_open(c->loop, &c->sb, c->user, name, listen, &ms->set, err,
		                           sizeof(err))
		       : -ENOMEM;
		if (r < 0) {
			free(ms);
			modhost_remove(c->host, name);
			reply_err(c, seq, r, "%s", err);
			return;
		}
		snprintf(ms->module, sizeof(ms->module), "%s", name);
		ms->next = c->socks;
		c->socks = ms;
	}
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
	                      nfq_stats_json(c), "sandbox", c->sb.applied);
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
		_cleanup_close_ int passed = -1;
		const uint8_t *payload = cmsg_recv_fd(fd, c->buf, CMSG_MAX, &h, &err, &passed);
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
		case CMSG_ASSIGN:
			cmd_assign(c, h.seq, j);
			break;
		case CMSG_INSTALL:
			cmd_install(c, h.seq, j, passed);
			break;
		case CMSG_REMOVE: {
			const char *name = json_string_value(json_object_get(j, "module"));
			if (name)
				module_sockets_close(c, name);
			int r = name ? modhost_remove(c->host, name) : -EINVAL;
			if (r < 0)
				reply_err(c, h.seq, r, "no module %s", name ? name : "(none)");
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
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	int ctl_fd = 3, o;
	while ((o = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			ctl_fd = atoi(optarg);
			break;
		case 'h':
			puts("Usage: netserv-container [--control-fd N]\n"
			     "A publisher's service container; started and supervised by "
			     "netservd.");
			return 0;
		default:
			return 2;
		}
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);

	struct container c = {.ctl_fd = ctl_fd};
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
	while (c.socks)
		module_sockets_close(&c, c.socks->module);
	modhost_free(c.host);
	evloop_free(c.loop);
	free(c.buf);
	free(c.pkt);
	return r < 0 ? 1 : 0;
}
