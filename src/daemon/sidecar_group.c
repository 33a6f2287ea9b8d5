/* The OpenFlow sidecar's node group (sidecar_group.h). */
#include "daemon/sidecar_group.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/config.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/log.h"

/* A message whose sender's clock is further from ours is refused (replay). */
#define SG_TIME_WINDOW_MS 10000
#define SG_MAX_ENTRIES    4096
#define SG_KEY_MAX        (NCM_MAX_USER + NCM_MAX_TARGET + 2)
/* A REMOVE's entry stays this long when the SETUP it removes is unknown. */
#define SG_TOMBSTONE_MS (3600 * 1000)
/* Versions above this are refused: room for 2^62 more requests. */
#define SG_VERSION_MAX (UINT64_C(1) << 62)

struct sg_member {
	struct sg_peer_cfg cfg;
	bool self;
	bool up;
	uint64_t last_heard; /* monotonic ms */
	uint64_t last_seq;
	uint64_t version; /* its last heartbeat's */
	uint64_t synced;  /* our version when we last replayed to it */
	unsigned changes; /* up/down transitions */
};

/* A request of the group: a SETUP not expired, or a REMOVE. */
struct sg_entry {
	char key[SG_KEY_MAX]; /* user/module */
	uint64_t version;
	int64_t expires_ms; /* unix ms */
	bool remove;
	uint8_t dst_family, dst_len, dst_addr[16];
	uint8_t *ncm;
	size_t ncm_len;
	struct sg_entry *next;
};

/* A request this node accepted, waiting for the members' answers. */
struct sg_op {
	struct sgroup *g;
	uint32_t id;
	ctl_reply_fn *reply; /* NULL: the requester went away */
	void *ctx;
	bool local_done;
	struct ncm_msg *resp; /* this node's answer, held until the members' */
	char what[16 + SG_KEY_MAX];
	uint64_t deadline;
	struct {
		bool asked, answered;
		int status;
		char reason[SG_MAX_REASON + 1];
	} m[SG_MAX_PEERS + 1]; /* by member index */
	struct sg_op *next;
	/* The request, kept to send once this node accepted it. */
	uint8_t *ncm;
	size_t ncm_len;
	struct ncm_prefix dst;
	bool has_dst, remove;
	char key[SG_KEY_MAX];
};

/* A member's request being applied here. */
struct sg_apply {
	struct sgroup *g;
	int from; /* member index */
	uint32_t id;
	bool replay;
	char key[SG_KEY_MAX];
	struct sg_apply *next;
};

struct sgroup {
	struct sgroup_settings s;
	struct sgroup_ops ops;
	char group[SG_MAX_NAME + 1], node[SG_MAX_NAME + 1];
	char *state_path;
	struct sg_member m[SG_MAX_PEERS + 1];
	size_t n; /* members, this node included */
	size_t self;
	uint64_t version;
	uint64_t seq;
	uint32_t next_id;
	uint64_t now; /* monotonic ms of the last input or tick */
	uint64_t started;
	struct sg_entry *entries;
	size_t n_entries;
	struct sg_op *ops_pending;
	struct sg_apply *applying;
	struct {
		uint64_t bad_mac, malformed, unknown, replayed, sent, received, send_errors;
	} counters;
	/* the daemon's glue */
	struct evloop *loop;
	struct evloop_timer *timer;
	struct controller *ctl;
	int fd;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- configuration ----------------------------------------------------------- */

/* ---- entries and their file -------------------------------------------------- */

static struct sg_entry *entry_find(struct sgroup *g, const char *key)
{
	for (struct sg_entry *e = g->entries; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void entry_drop(struct sgroup *g, struct sg_entry *e)
{
	for (struct sg_entry **pp = &g->entries; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			g->n_entries--;
			free(e->ncm);
			free(e);
			return;
		}
	}
}

/* Puts (key, version, ...) in place of any entry of key. */
static int entry_set(struct sgroup *g, const char *key, uint64_t version, int64_t expires_ms,
                     bool remove, uint8_t fam, uint8_t len, const uint8_t addr[16],
                     const uint8_t *ncm, size_t ncm_len)
{
	struct sg_entry *e = entry_find(g, key);
	if (!e && g->n_entries >= SG_MAX_ENTRIES)
		return -ENOSPC;
	uint8_t *copy = malloc(ncm_len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, ncm, ncm_len);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			free(copy);
			return -ENOMEM;
		}
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->next = g->entries;
		g->entries = e;
		g->n_entries++;
	}
	free(e->ncm);
	e->ncm = copy;
	e->ncm_len = ncm_len;
	e->version = version;
	e->expires_ms = expires_ms;
	e->remove = remove;
	e->dst_family = fam;
	e->dst_len = len;
	memcpy(e->dst_addr, addr, 16);
	if (version > g->version)
		g->version = version;
	return 0;
}

static void put_u64(FILE *f, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		fputc((int)(v >> (8 * i)) & 0xff, f);
}

static bool get_u64(FILE *f, uint64_t *v)
{
	uint8_t b[8];
	if (fread(b, 1, 8, f) != 8)
		return false;
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v = *v << 8 | b[i];
	return true;
}

/* Writes the entries to state_path (a new file renamed over the old one).
 * Format: "NSGS1\n", version (u64), then per entry: key length (u64), key,
 * version, expires, remove, family, prefix length, address (16 bytes),
 * NCM length (u64), NCM. Returns 0 or a negative errno. */
static int state_save(struct sgroup *g)
{
	if (!g->state_path)
		return 0;
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.new", g->state_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	fputs("NSGS1\n", f);
	put_u64(f, g->version);
	for (struct sg_entry *e = g->entries; e; e = e->next) {
		size_t kl = strlen(e->key);
		put_u64(f, kl);
		fwrite(e->key, 1, kl, f);
		put_u64(f, e->version);
		put_u64(f, (uint64_t)e->expires_ms);
		fputc(e->remove, f);
		fputc(e->dst_family, f);
		fputc(e->dst_len, f);
		fwrite(e->dst_addr, 1, 16, f);
		put_u64(f, e->ncm_len);
		fwrite(e->ncm, 1, e->ncm_len, f);
	}
	int r = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -errno;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, g->state_path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static void state_save_logged(struct sgroup *g)
{
	int r = state_save(g);
	if (r < 0)
		log_err("group %s: cannot write %s: %s", g->group, g->state_path, strerror(-r));
}

/* Loads state_path (absent: nothing); expired entries are dropped. */
static int state_load(struct sgroup *g, char *err, size_t errlen)
{
	FILE *f = fopen(g->state_path, "re");
	if (!f)
		return errno == ENOENT ? 0
		                       : err_set(err, errlen, -errno, "%s: %s", g->state_path,
		                                 strerror(errno));
	char magic[6];
	uint64_t version;
	int r = 0;
	int64_t now = wall_ms();
	if (fread(magic, 1, 6, f) != 6 || memcmp(magic, "NSGS1\n", 6) != 0 ||
	    !get_u64(f, &version)) {
		r = err_set(err, errlen, -EINVAL, "%s: not a group state file", g->state_path);
		goto out;
	}
	g->version = version;
	for (;;) {
		uint64_t kl, ev, exp, nl;
		char key[SG_KEY_MAX];
		uint8_t flags[3], addr[16];
		if (!get_u64(f, &kl))
			break; /* the end */
		if (kl == 0 || kl >= sizeof(key) || fread(key, 1, kl, f) != kl ||
		    !get_u64(f, &ev) || !get_u64(f, &exp) || fread(flags, 1, 3, f) != 3 ||
		    fread(addr, 1, 16, f) != 16 || !get_u64(f, &nl) || nl == 0 || nl > SG_MAX_NCM) {
			r = err_set(err, errlen, -EINVAL, "%s: truncated or corrupt",
			            g->state_path);
			goto out;
		}
		key[kl] = '\0';
		uint8_t *ncm = malloc(nl);
		if (!ncm || fread(ncm, 1, nl, f) != nl) {
			free(ncm);
			r = err_set(err, errlen, -EINVAL, "%s: truncated", g->state_path);
			goto out;
		}
		if ((int64_t)exp > now)
			r = entry_set(g, key, ev, (int64_t)exp, flags[0], flags[1], flags[2], addr,
			              ncm, nl);
		free(ncm);
		if (r < 0) {
			err_set(err, errlen, r, "%s: %s", g->state_path, strerror(-r));
			goto out;
		}
	}
out:
	fclose(f);
	return r;
}

/* ---- sending ----------------------------------------------------------------- */

static void msg_init(struct sgroup *g, struct sg_msg *m, uint8_t type)
{
	*m = (struct sg_msg){.type = type};
	snprintf(m->group, sizeof(m->group), "%s", g->group);
	snprintf(m->sender, sizeof(m->sender), "%s", g->node);
	m->seq = ++g->seq;
	m->time_ms = (uint64_t)wall_ms();
}

static void send_to(struct sgroup *g, size_t i, const struct sg_msg *m)
{
	uint8_t buf[SG_MAX_MSG];
	char why[160];
	int n = sg_encode(m, g->s.key, buf, sizeof(buf), why, sizeof(why));
	if (n < 0) {
		log_err("group %s: cannot encode a %s: %s", g->group, sg_type_name(m->type), why);
		return;
	}
	struct sg_member *p = &g->m[i];
	int r = g->ops.send(g->ops.ctx, (const struct sockaddr *)&p->cfg.addr, p->cfg.addr_len, buf,
	                    (size_t)n);
	if (r < 0) {
		g->counters.send_errors++;
		log_peer_debug("group %s: send to %s: %s", g->group, p->cfg.name, strerror(-r));
	} else {
		g->counters.sent++;
	}
}

static void member_report(struct sgroup *g, size_t i)
{
	struct sg_member *p = &g->m[i];
	char mac[18] = "-";
	if (p->cfg.has_mac)
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->cfg.mac[0],
		         p->cfg.mac[1], p->cfg.mac[2], p->cfg.mac[3], p->cfg.mac[4], p->cfg.mac[5]);
	log_notice("group %s: member %s %s (of_port %" PRIu32 ", mac %s)", g->group, p->cfg.name,
	           p->up ? "up" : "down", p->cfg.of_port, mac);
	if (g->ops.member)
		g->ops.member(g->ops.member_ctx, p->cfg.name, p->cfg.of_port, p->cfg.mac,
		              p->cfg.has_mac, p->up);
}

static void send_entry(struct sgroup *g, size_t i, const struct sg_entry *e, uint32_t id,
                       uint8_t flags)
{
	struct sg_msg m;
	msg_init(g, &m, SG_REQUEST);
	m.flags = flags;
	m.id = id;
	m.entry_version = e->version;
	m.expires_ms = (uint64_t)e->expires_ms;
	m.dst_family = e->dst_family;
	m.dst_len = e->dst_len;
	memcpy(m.dst_addr, e->dst_addr, 16);
	m.ncm = e->ncm;
	m.ncm_len = e->ncm_len;
	send_to(g, i, &m);
}

/* Replays to member i the entries newer than its version. */
static void sync_member(struct sgroup *g, size_t i)
{
	struct sg_member *p = &g->m[i];
	int64_t now = wall_ms();
	unsigned n = 0;
	for (struct sg_entry *e = g->entries; e; e = e->next) {
		if (e->version <= p->version || e->expires_ms <= now)
			continue;
		send_entry(g, i, e, 0, SG_F_REPLAY);
		n++;
	}
	p->synced = g->version;
	if (n)
		log_info("group %s: %s is at version %" PRIu64 ", this node at %" PRIu64
		         ": %u request(s) replayed",
		         g->group, p->cfg.name, p->version, g->version, n);
}

/* ---- requests this node accepted --------------------------------------------- */

static void op_unlink(struct sg_op *op)
{
	for (struct sg_op **pp = &op->g->ops_pending; *pp; pp = &(*pp)->next) {
		if (*pp == op) {
			*pp = op->next;
			return;
		}
	}
}

/* Answers the requester with every node's outcome, and frees op. */
static void op_finish(struct sg_op *op)
{
	struct sgroup *g = op->g;
	char line[512];
	size_t used = 0;
	op_unlink(op);
	for (size_t i = 0; i < g->n; i++) {
		char v[SG_MAX_REASON + 48];
		if (i == g->self)
			snprintf(v, sizeof(v), "%s %d", g->node, op->resp ? op->resp->code : 500);
		else if (op->m[i].answered)
			snprintf(v, sizeof(v), "%s %d%s%s", g->m[i].cfg.name, op->m[i].status,
			         op->m[i].reason[0] ? " " : "", op->m[i].reason);
		else
			snprintf(v, sizeof(v), "%s %s", g->m[i].cfg.name,
			         op->m[i].asked ? "no-answer" : "down");
		if (op->resp)
			ncm_add(op->resp, "group-node", v);
		int k = snprintf(line + used, sizeof(line) - used, "%s%s", used ? ", " : "", v);
		if (k > 0 && (size_t)k < sizeof(line) - used)
			used += (size_t)k;
	}
	log_notice("group %s: %s: %s", g->group, op->what, line);
	if (op->reply)
		op->reply(op->ctx, op->resp);
	else
		ncm_free(op->resp);
	free(op->ncm);
	free(op);
}

static bool op_complete(const struct sg_op *op)
{
	for (size_t i = 0; i < op->g->n; i++)
		if (op->m[i].asked && !op->m[i].answered)
			return false;
	return true;
}

static int64_t expiry_of(const struct ncm_msg *resp, int64_t now)
{
	const char *ttl = resp ? ncm_get(resp, "ttl") : NULL;
	long long t = ttl ? atoll(ttl) : 0;
	return now + (t > 0 ? t : 3600) * 1000;
}

static void on_local_reply(void *ctx, struct ncm_msg *resp)
{
	struct sg_op *op = ctx;
	struct sgroup *g = op->g;
	op->local_done = true;
	op->resp = resp;
	if (!resp || resp->code < 200 || resp->code > 299) {
		/* Refused or failed here: the members are not asked. */
		op_unlink(op);
		log_info("group %s: %s: %d on this node, not sent to the group", g->group, op->what,
		         resp ? resp->code : 500);
		if (op->reply)
			op->reply(op->ctx, resp);
		else
			ncm_free(resp);
		free(op->ncm);
		free(op);
		return;
	}
	/* A new version of the group's state: above every member's. */
	uint64_t v = g->version;
	for (size_t i = 0; i < g->n; i++)
		if (g->m[i].version > v)
			v = g->m[i].version;
	v++;
	int64_t now = wall_ms();
	int64_t expires = expiry_of(resp, now);
	if (op->remove) {
		struct sg_entry *old = entry_find(g, op->key);
		expires = old && !old->remove ? old->expires_ms : now + SG_TOMBSTONE_MS;
	}
	uint8_t fam = op->has_dst ? (op->dst.family == AF_INET6 ? 6 : 4) : 0;
	int r = entry_set(g, op->key, v, expires, op->remove, fam, op->has_dst ? op->dst.len : 0,
	                  op->dst.addr, op->ncm, op->ncm_len);
	if (r < 0)
		log_err("group %s: cannot keep %s: %s", g->group, op->what, strerror(-r));
	state_save_logged(g);
	struct sg_entry *e = entry_find(g, op->key);
	for (size_t i = 0; e && i < g->n; i++) {
		if (i == g->self || !g->m[i].up)
			continue;
		op->m[i].asked = true;
		send_entry(g, i, e, op->id, 0);
	}
	op->deadline = g->now + g->s.answer_wait_ms;
	if (op_complete(op))
		op_finish(op);
}

bool sgroup_submit(struct sgroup *g, const struct ncm_msg *req, const struct ncm_prefix *path_dst,
                   ctl_reply_fn *reply, void *ctx)
{
	if ((req->method != NCM_METHOD_SETUP && req->method != NCM_METHOD_REMOVE) ||
	    !ncm_get(req, "signature") || !ncm_get(req, "user") || !req->target)
		return false;
	struct sg_op *op = calloc(1, sizeof(*op));
	char *text = NULL;
	size_t len = 0;
	if (!op || ncm_serialize(req, &text, &len) < 0 || len > SG_MAX_NCM) {
		/* Too large for the channel: this node alone. */
		if (op)
			log_warn("group %s: a request of %zu bytes does not fit the channel: "
			         "applied on this node only",
			         g->group, len);
		free(op);
		free(text);
		return false;
	}
	op->g = g;
	op->id = ++g->next_id ? g->next_id : ++g->next_id;
	op->reply = reply;
	op->ctx = ctx;
	op->ncm = (uint8_t *)text;
	op->ncm_len = len;
	op->remove = req->method == NCM_METHOD_REMOVE;
	if (path_dst) {
		op->dst = *path_dst;
		op->has_dst = path_dst->family == AF_INET || path_dst->family == AF_INET6;
	}
	snprintf(op->key, sizeof(op->key), "%s/%s", ncm_get(req, "user"), req->target);
	snprintf(op->what, sizeof(op->what), "%s %s", ncm_method_name(req->method), op->key);
	op->next = g->ops_pending;
	g->ops_pending = op;
	g->ops.submit(g->ops.ctx, req, path_dst, on_local_reply, op);
	return true;
}

void sgroup_forget(struct sgroup *g, void *ctx)
{
	for (struct sg_op *op = g->ops_pending; op; op = op->next)
		if (op->ctx == ctx)
			op->reply = NULL;
}

/* ---- requests from members --------------------------------------------------- */

static void apply_unlink(struct sg_apply *a)
{
	for (struct sg_apply **pp = &a->g->applying; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			return;
		}
	}
}

static void send_answer(struct sgroup *g, size_t i, uint32_t id, int status, const char *reason)
{
	struct sg_msg m;
	msg_init(g, &m, SG_ANSWER);
	m.id = id;
	m.status = (uint16_t)status;
	snprintf(m.reason, sizeof(m.reason), "%s", reason ? reason : "");
	for (char *c = m.reason; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = ' ';
	send_to(g, i, &m);
}

static void on_apply_reply(void *ctx, struct ncm_msg *resp)
{
	struct sg_apply *a = ctx;
	struct sgroup *g = a->g;
	apply_unlink(a);
	int code = resp ? resp->code : 500;
	const char *reason = resp ? (resp->reason ? resp->reason : "") : "no answer";
	const char *state = resp ? ncm_get(resp, "state") : NULL;
	char why[SG_MAX_REASON + 1];
	snprintf(why, sizeof(why), "%s%s%s", reason, state ? " state=" : "", state ? state : "");
	log_notice("group %s: %s %s from %s applied here: %d %s", g->group,
	           a->replay ? "replayed request" : "request", a->key, g->m[a->from].cfg.name, code,
	           why);
	if (a->id)
		send_answer(g, (size_t)a->from, a->id, code, why);
	ncm_free(resp);
	free(a);
}

static int on_request(struct sgroup *g, size_t from, const struct sg_msg *m, char *err,
                      size_t errlen)
{
	struct ncm_msg *req = NULL;
	char why[NCM_ERR_LEN];
	if (ncm_parse((const char *)m->ncm, m->ncm_len, &req, why, sizeof(why)) < 0)
		return err_set(err, errlen, -EBADMSG, "REQUEST from %s: bad NCM: %s",
		               g->m[from].cfg.name, why);
	const char *user = ncm_get(req, "user");
	if ((req->method != NCM_METHOD_SETUP && req->method != NCM_METHOD_REMOVE) || !user ||
	    !req->target || !ncm_get(req, "signature")) {
		ncm_free(req);
		return err_set(err, errlen, -EBADMSG,
		               "REQUEST from %s: not a signed SETUP or REMOVE",
		               g->m[from].cfg.name);
	}
	char key[SG_KEY_MAX];
	snprintf(key, sizeof(key), "%s/%s", user, req->target);
	struct sg_entry *e = entry_find(g, key);
	if (e && e->version < m->entry_version && e->ncm_len == m->ncm_len &&
	    memcmp(e->ncm, m->ncm, m->ncm_len) == 0) {
		/* The very request this node has (it came here by signaling too):
		 * applying it again would be refused as a replayed nonce. */
		e->version = m->entry_version;
		if (e->version > g->version)
			g->version = e->version;
		state_save_logged(g);
		if (m->id)
			send_answer(g, from, m->id, 200, "the same request applied here already");
		ncm_free(req);
		return 0;
	}
	if (e && e->version >= m->entry_version) {
		/* Known already (a replay crossing a live request, or two members
		 * replaying): nothing to do. */
		if (m->id)
			send_answer(g, from, m->id, 200, "known already");
		ncm_free(req);
		return 0;
	}
	if ((int64_t)m->expires_ms <= wall_ms()) {
		ncm_free(req);
		return 0; /* expired on the way */
	}
	int r = entry_set(g, key, m->entry_version, (int64_t)m->expires_ms,
	                  req->method == NCM_METHOD_REMOVE, m->dst_family, m->dst_len, m->dst_addr,
	                  m->ncm, m->ncm_len);
	if (r < 0) {
		ncm_free(req);
		log_err("group %s: cannot keep %s: %s", g->group, key, strerror(-r));
		if (m->id)
			send_answer(g, from, m->id, 500, "the member cannot keep it");
		return 0;
	}
	state_save_logged(g);
	struct sg_apply *a = calloc(1, sizeof(*a));
	if (!a) {
		ncm_free(req);
		return -ENOMEM;
	}
	*a = (struct sg_apply){
	        .g = g, .from = (int)from, .id = m->id, .replay = m->flags & SG_F_REPLAY};
	snprintf(a->key, sizeof(a->key), "%s", key);
	a->next = g->applying;
	g->applying = a;
	struct ncm_prefix dst = {0};
	if (m->dst_family) {
		dst.family = m->dst_family == 6 ? AF_INET6 : AF_INET;
		dst.len = m->dst_len;
		memcpy(dst.addr, m->dst_addr, 16);
	}
	if ((m->flags & SG_F_REPLAY) && g->ops.submit_replayed)
		g->ops.submit_replayed(g->ops.ctx, req, m->dst_family ? &dst : NULL,
		                       (int64_t)m->expires_ms, on_apply_reply, a);
	else
		g->ops.submit(g->ops.ctx, req, m->dst_family ? &dst : NULL, on_apply_reply, a);
	ncm_free(req);
	return 0;
}

static void on_answer(struct sgroup *g, size_t from, const struct sg_msg *m)
{
	for (struct sg_op *op = g->ops_pending; op; op = op->next) {
		if (op->id != m->id || !op->local_done)
			continue;
		if (!op->m[from].asked || op->m[from].answered)
			return;
		op->m[from].answered = true;
		op->m[from].status = m->status;
		snprintf(op->m[from].reason, sizeof(op->m[from].reason), "%s", m->reason);
		if (op_complete(op))
			op_finish(op);
		return;
	}
}

/* ---- input and timers -------------------------------------------------------- */

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

int sgroup_input(struct sgroup *g, const uint8_t *buf, size_t len, const struct sockaddr *from,
                 socklen_t fromlen, uint64_t now_ms, char *err, size_t errlen)
{
	struct sg_msg m;
	char why[200];
	(void)fromlen;
	g->now = now_ms;
	int r = sg_decode(buf, len, g->s.key, &m, why, sizeof(why));
	if (r < 0) {
		if (r == -EACCES)
			g->counters.bad_mac++;
		else
			g->counters.malformed++;
		return err_set(err, errlen, r, "%s", why);
	}
	if (strcmp(m.group, g->group) != 0) {
		g->counters.unknown++;
		return err_set(err, errlen, -EPERM, "a message for group %s", m.group);
	}
	size_t i;
	for (i = 0; i < g->n; i++)
		if (i != g->self && strcmp(g->m[i].cfg.name, m.sender) == 0)
			break;
	if (i == g->n) {
		g->counters.unknown++;
		return err_set(err, errlen, -EPERM, "%s from %s, not a member",
		               sg_type_name(m.type), m.sender);
	}
	struct sg_member *p = &g->m[i];
	if (!same_addr(&p->cfg.addr, from)) {
		g->counters.unknown++;
		return err_set(err, errlen, -EPERM, "%s from %s, but not from its address",
		               sg_type_name(m.type), m.sender);
	}
	int64_t skew = wall_ms() - (int64_t)m.time_ms;
	if (skew > SG_TIME_WINDOW_MS || -skew > SG_TIME_WINDOW_MS) {
		g->counters.replayed++;
		return err_set(err, errlen, -ESTALE,
		               "%s from %s: its clock is %" PRId64 " ms off (window %d ms)",
		               sg_type_name(m.type), m.sender, skew, SG_TIME_WINDOW_MS);
	}
	if (m.seq <= p->last_seq) {
		g->counters.replayed++;
		return err_set(err, errlen, -ESTALE,
		               "%s from %s: sequence %" PRIu64 " not above %" PRIu64 " (replayed)",
		               sg_type_name(m.type), m.sender, m.seq, p->last_seq);
	}
	if (m.version > SG_VERSION_MAX || m.entry_version > SG_VERSION_MAX) {
		/* A member cannot make this node's version wrap around. */
		g->counters.malformed++;
		return err_set(err, errlen, -ERANGE, "%s from %s: version out of range",
		               sg_type_name(m.type), m.sender);
	}
	p->last_seq = m.seq;
	p->last_heard = now_ms;
	g->counters.received++;
	if (!p->up) {
		p->up = true;
		p->changes++;
		p->synced = 0;
		member_report(g, i);
	}
	switch (m.type) {
	case SG_HEARTBEAT:
		if (m.flags & SG_F_STARTING)
			p->synced = 0;
		p->version = m.version;
		if (p->version < g->version && p->synced != g->version)
			sync_member(g, i);
		return 0;
	case SG_REQUEST:
		return on_request(g, i, &m, err, errlen);
	case SG_ANSWER:
		on_answer(g, i, &m);
		return 0;
	}
	return 0;
}

void sgroup_tick(struct sgroup *g, uint64_t now_ms)
{
	g->now = now_ms;
	struct sg_msg m;
	bool starting = now_ms - g->started < g->s.heartbeat_ms * 2;
	for (size_t i = 0; i < g->n; i++) {
		if (i == g->self)
			continue;
		struct sg_member *p = &g->m[i];
		if (p->up && now_ms - p->last_heard >= g->s.dead_after_ms) {
			p->up = false;
			p->changes++;
			p->synced = 0;
			member_report(g, i);
		}
		msg_init(g, &m, SG_HEARTBEAT);
		m.version = g->version;
		m.flags = starting ? SG_F_STARTING : 0;
		send_to(g, i, &m);
	}
	for (struct sg_op *op = g->ops_pending, *next; op; op = next) {
		next = op->next;
		if (!op->local_done)
			continue;
		/* A member that went down answers no more. */
		for (size_t i = 0; i < g->n; i++)
			if (op->m[i].asked && !op->m[i].answered && !g->m[i].up)
				op->m[i].asked = false;
		if (now_ms >= op->deadline || op_complete(op))
			op_finish(op);
	}
	int64_t now = wall_ms();
	bool changed = false;
	for (struct sg_entry *e = g->entries, *next; e; e = next) {
		next = e->next;
		if (e->expires_ms <= now) {
			log_info("group %s: %s %s expired", g->group,
			         e->remove ? "REMOVE" : "SETUP", e->key);
			entry_drop(g, e);
			changed = true;
		}
	}
	if (changed)
		state_save_logged(g);
}

/* ---- life cycle -------------------------------------------------------------- */

int sgroup_new(const struct sgroup_settings *s, const struct sgroup_ops *ops, uint64_t now_ms,
               struct sgroup **ret, char *err, size_t errlen)
{
	if (!sg_name_ok(s->group) || !sg_name_ok(s->node))
		return err_set(err, errlen, -EINVAL, "bad group or node name");
	struct sgroup *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->s = *s;
	g->ops = *ops;
	g->fd = -1;
	snprintf(g->group, sizeof(g->group), "%s", s->group);
	snprintf(g->node, sizeof(g->node), "%s", s->node);
	g->s.group = g->group;
	g->s.node = g->node;
	g->s.peers = NULL;
	g->now = g->started = now_ms;
	/* Above every sequence number this node sent before a restart. */
	g->seq = (uint64_t)wall_ms() * 1000;
	bool self_listed = false;
	for (size_t i = 0; i < s->n_peers && g->n < SG_MAX_PEERS + 1; i++) {
		if (strcmp(s->peers[i].name, s->node) == 0) {
			self_listed = true;
			g->self = g->n;
		}
		g->m[g->n++].cfg = s->peers[i];
	}
	if (!self_listed && g->n == SG_MAX_PEERS + 1) {
		free(g);
		return err_set(err, errlen, -EINVAL, "more than %d members besides %s",
		               SG_MAX_PEERS, s->node);
	}
	if (!self_listed) {
		g->self = g->n;
		snprintf(g->m[g->n].cfg.name, sizeof(g->m[g->n].cfg.name), "%s", s->node);
		g->n++;
	}
	g->m[g->self].self = true;
	g->m[g->self].up = true;
	int r = 0;
	if (s->state_path) {
		g->state_path = strdup(s->state_path);
		if (!g->state_path)
			r = -ENOMEM;
		else
			r = state_load(g, err, errlen);
	}
	if (r < 0) {
		sgroup_free(g);
		return r;
	}
	g->s.state_path = g->state_path;
	for (size_t i = 0; i < g->n; i++)
		member_report(g, i);
	*ret = g;
	return 0;
}

struct sgroup *sgroup_free(struct sgroup *g)
{
	if (!g)
		return NULL;
	while (g->applying) {
		struct sg_apply *a = g->applying;
		g->applying = a->next;
		if (g->ops.forget)
			g->ops.forget(g->ops.ctx, a);
		free(a);
	}
	while (g->ops_pending) {
		struct sg_op *op = g->ops_pending;
		if (!op->local_done) {
			g->ops_pending = op->next;
			if (g->ops.forget)
				g->ops.forget(g->ops.ctx, op);
			free(op->ncm);
			free(op);
			continue;
		}
		op_finish(op); /* unlinks it */
	}
	while (g->entries)
		entry_drop(g, g->entries);
	free(g->state_path);
	sodium_memzero(g->s.key, sizeof(g->s.key));
	free(g);
	return NULL;
}

void sgroup_probe(struct sgroup *g, struct ncm_msg *r)
{
	ncm_add(r, "group", g->group);
	for (size_t i = 0; i < g->n; i++)
		ncm_addf(r, "group-node", "%s %s%s", g->m[i].cfg.name, g->m[i].up ? "up" : "down",
		         i == g->self ? " self" : "");
}

json_t *sgroup_status(struct sgroup *g)
{
	json_t *members = json_array();
	for (size_t i = 0; i < g->n; i++) {
		struct sg_member *p = &g->m[i];
		char mac[18] = "";
		if (p->cfg.has_mac)
			snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->cfg.mac[0],
			         p->cfg.mac[1], p->cfg.mac[2], p->cfg.mac[3], p->cfg.mac[4],
			         p->cfg.mac[5]);
		json_array_append_new(
		        members,
		        json_pack("{s:s, s:b, s:b, s:I, s:s, s:I, s:I, s:I}", "name", p->cfg.name,
		                  "up", p->up, "self", p->self, "of_port",
		                  (json_int_t)p->cfg.of_port, "mac", mac, "version",
		                  (json_int_t)(p->self ? g->version : p->version),
		                  "last_heard_ms_ago",
		                  (json_int_t)(p->self || !p->last_heard ? 0
		                                                         : g->now - p->last_heard),
		                  "changes", (json_int_t)p->changes));
	}
	json_t *entries = json_array();
	for (struct sg_entry *e = g->entries; e; e = e->next)
		json_array_append_new(entries, json_pack("{s:s, s:s, s:I, s:I}", "key", e->key,
		                                         "method", e->remove ? "REMOVE" : "SETUP",
		                                         "version", (json_int_t)e->version,
		                                         "expires_ms", (json_int_t)e->expires_ms));
	return json_pack(
	        "{s:s, s:s, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "name",
	        g->group, "node", g->node, "version", (json_int_t)g->version, "members", members,
	        "entries", entries, "counters", "sent", (json_int_t)g->counters.sent, "received",
	        (json_int_t)g->counters.received, "bad_mac", (json_int_t)g->counters.bad_mac,
	        "malformed", (json_int_t)g->counters.malformed, "unknown_sender",
	        (json_int_t)g->counters.unknown, "replayed", (json_int_t)g->counters.replayed,
	        "send_errors", (json_int_t)g->counters.send_errors);
}

size_t sgroup_members(const struct sgroup *g, struct sg_member_info *out, size_t max)
{
	for (size_t i = 0; i < g->n && i < max; i++) {
		const struct sg_member *p = &g->m[i];
		out[i] = (struct sg_member_info){.of_port = p->cfg.of_port,
		                                 .has_mac = p->cfg.has_mac,
		                                 .up = p->up,
		                                 .self = p->self};
		snprintf(out[i].name, sizeof(out[i].name), "%s", p->cfg.name);
		memcpy(out[i].mac, p->cfg.mac, 6);
	}
	return g->n;
}

uint64_t sgroup_version(const struct sgroup *g)
{
	return g->version;
}

bool sgroup_member_up(const struct sgroup *g, const char *name)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->m[i].cfg.name, name) == 0)
			return g->m[i].up;
	return false;
}

/* ---- the daemon's glue ------------------------------------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int glue_send(void *ctx, const struct sockaddr *to, socklen_t tolen, const uint8_t *buf,
                     size_t len)
{
	struct sgroup *g = ctx;
	return sendto(g->fd, buf, len, MSG_DONTWAIT, to, tolen) < 0 ? -errno : 0;
}

static void glue_submit(void *ctx, const struct ncm_msg *req, const struct ncm_prefix *dst,
                        ctl_reply_fn *reply, void *rctx)
{
	struct sgroup *g = ctx;
	controller_submit_direct(g->ctl, req, dst, reply, rctx);
}

static void glue_submit_replayed(void *ctx, const struct ncm_msg *req, const struct ncm_prefix *dst,
                                 int64_t not_after_ms, ctl_reply_fn *reply, void *rctx)
{
	struct sgroup *g = ctx;
	controller_submit_replayed(g->ctl, req, dst, not_after_ms, reply, rctx);
}

static void glue_forget(void *ctx, void *rctx)
{
	struct sgroup *g = ctx;
	controller_forget(g->ctl, rctx);
}

static bool hook_submit(void *hctx, const struct ncm_msg *req, const struct ncm_prefix *dst,
                        ctl_reply_fn *reply, void *ctx)
{
	return sgroup_submit(hctx, req, dst, reply, ctx);
}

static void hook_forget(void *hctx, void *ctx)
{
	sgroup_forget(hctx, ctx);
}

static void hook_probe(void *hctx, struct ncm_msg *r)
{
	sgroup_probe(hctx, r);
}

static json_t *hook_status(void *hctx)
{
	return sgroup_status(hctx);
}

static void on_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct sgroup *g = ctx;
	(void)loop;
	(void)events;
	for (int n = 0; n < 64; n++) {
		uint8_t buf[SG_MAX_MSG + 1];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
		                       (struct sockaddr *)&from, &fl);
		if (len < 0)
			return;
		char why[256], host[INET6_ADDRSTRLEN] = "?";
		if (from.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, host,
			          sizeof(host));
		else if (from.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, host,
			          sizeof(host));
		if ((size_t)len > SG_MAX_MSG) {
			g->counters.malformed++;
			log_peer_warn(
			        "group %s: refused a datagram from %s: %zd bytes, longer than "
			        "%d",
			        g->group, host, len, SG_MAX_MSG);
			continue;
		}
		int r = sgroup_input(g, buf, (size_t)len, (struct sockaddr *)&from, fl, mono_ms(),
		                     why, sizeof(why));
		if (r < 0)
			log_peer_warn("group %s: refused a message from %s: %s", g->group, host,
			              why);
	}
}

static void on_timer(struct evloop *loop, void *ctx)
{
	struct sgroup *g = ctx;
	g->timer = evloop_timer_add(loop, g->s.heartbeat_ms, on_timer, g);
	sgroup_tick(g, mono_ms());
}

int sgroup_start(struct evloop *loop, const struct ns_config *cfg, struct controller *ctl,
                 sgroup_member_fn *member, void *member_ctx, struct sgroup **ret, char *err,
                 size_t errlen)
{
	struct sgroup_settings s = {
	        .group = cfg->sc_group,
	        .node = cfg->sc_node,
	        .heartbeat_ms = cfg->sc_heartbeat_ms,
	        .dead_after_ms = cfg->sc_dead_after_ms,
	        .answer_wait_ms = cfg->sc_answer_wait_ms,
	};
	struct sg_peer_cfg peers[SG_MAX_PEERS + 1];
	char path[PATH_MAX + 16];
	int r = sgroup_parse_peers(cfg->sc_peers, peers, SG_MAX_PEERS + 1, err, errlen);
	if (r < 0)
		return r;
	s.peers = peers;
	s.n_peers = (size_t)r;
	r = sgroup_read_key(cfg->sc_key_file, s.key, err, errlen);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/group.state", cfg->state_dir);
	s.state_path = path;
	int fd =
	        socket(cfg->sc_listen.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 ||
	    bind(fd, (const struct sockaddr *)&cfg->sc_listen.addr, cfg->sc_listen.addr_len) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		sodium_memzero(s.key, sizeof(s.key));
		return err_set(err, errlen, r, "[sidecar] listen %s: %s", cfg->sc_listen.text,
		               strerror(-r));
	}
	struct sgroup_ops ops = {.send = glue_send,
	                         .submit = glue_submit,
	                         .submit_replayed = glue_submit_replayed,
	                         .forget = glue_forget,
	                         .member = member,
	                         .member_ctx = member_ctx};
	struct sgroup *g;
	r = sgroup_new(&s, &ops, mono_ms(), &g, err, errlen);
	sodium_memzero(s.key, sizeof(s.key));
	if (r < 0) {
		close(fd);
		return r;
	}
	g->ops.ctx = g;
	g->fd = fd;
	g->loop = loop;
	g->ctl = ctl;
	r = evloop_add_fd(loop, fd, EPOLLIN, on_readable, g);
	g->timer = r < 0 ? NULL : evloop_timer_add(loop, 1, on_timer, g);
	if (r < 0 || !g->timer) {
		if (r == 0)
			evloop_del_fd(loop, fd);
		close(fd);
		g->fd = -1;
		g->ctl = NULL;
		sgroup_free(g);
		return err_set(err, errlen, r < 0 ? r : -ENOMEM,
		               "[sidecar]: cannot watch the socket");
	}
	struct ctl_group_hooks h = {.submit = hook_submit,
	                            .forget = hook_forget,
	                            .probe = hook_probe,
	                            .status = hook_status,
	                            .hctx = g};
	controller_set_group(ctl, &h);
	log_notice("group %s: node %s on %s, %zu member(s), version %" PRIu64
	           ", heartbeat %u ms, down after %u ms",
	           g->group, g->node, cfg->sc_listen.text, g->n, g->version, s.heartbeat_ms,
	           s.dead_after_ms);
	*ret = g;
	return 0;
}

struct sgroup *sgroup_stop(struct sgroup *g)
{
	if (!g)
		return NULL;
	if (g->ctl)
		controller_set_group(g->ctl, NULL);
	if (g->timer)
		evloop_timer_cancel(g->loop, g->timer);
	if (g->fd >= 0) {
		evloop_del_fd(g->loop, g->fd);
		close(g->fd);
	}
	return sgroup_free(g);
}
