/* An in-process fake of src/gist/gist_api.h for the NSLP's unit tests: every
 * gist_node made with gist_node_new() joins one chain (a path), in creation
 * order; addresses are 10.0.<position>.1. A downstream gist_send() goes to
 * the next node along the flow's direction that registered the NSLPID and is
 * not querier-only (the chain's first node is normally the publisher: the
 * reverse flow of a TRIGGER ends there), else reports GIST_LAST_NODE
 * ("icmp port unreachable"); an upstream one goes back to where the session
 * came from. Everything is delivered from the loop (0 ms timers), as the real
 * GIST would: never from inside gist_send(). */
#include "fake_gist.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "lib/evloop.h"

#define FAKE_MAX 32

struct reg {
	uint16_t nslpid;
	gist_recv_fn *recv;
	gist_status_fn *status;
	void *ctx;
};

struct rstate {
	struct rstate *next;
	uint8_t sid[16];
	uint16_t nslpid;
	struct gist_node *up; /* where the session came from */
};

struct gist_node {
	struct evloop *loop;
	struct gist_config cfg;
	char id[64];
	int pos;
	uint8_t addr[4];
	struct reg regs[4];
	int n_regs;
	struct rstate *rs;
	uint32_t next_handle;
	bool swallow;
	struct gist_stats st;
};

struct event {
	struct event *next;
	struct evloop_timer *timer;
	struct gist_node *to;
	bool is_status;
	/* recv */
	struct gist_recv_info info;
	uint8_t *data;
	size_t len;
	/* status */
	uint32_t handle;
	enum gist_status status;
	char how[64];
};

static struct gist_node *chain[FAKE_MAX];
static int n_chain;
static struct event *events;

void fake_gist_reset(void)
{
	n_chain = 0;
	memset(chain, 0, sizeof(chain));
}

void fake_gist_swallow(struct gist_node *n, bool on)
{
	n->swallow = on;
}

void fake_gist_addr(const struct gist_node *n, uint8_t addr[4])
{
	memcpy(addr, n->addr, 4);
}

void fake_gist_user_addr(uint8_t addr[4])
{
	memcpy(addr, (uint8_t[]){10, 99, 0, 1}, 4);
}

static void event_unlink(struct event *e)
{
	for (struct event **pp = &events; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			return;
		}
}

static void on_event(struct evloop *loop, void *ctx)
{
	struct event *e = ctx;
	struct gist_node *n = e->to;
	event_unlink(e);
	for (int i = 0; i < n->n_regs; i++) {
		if (e->is_status && n->regs[i].nslpid == e->info.nslpid) {
			n->regs[i].status(n->regs[i].ctx, e->handle, e->status, e->how);
			break;
		}
		if (!e->is_status && n->regs[i].nslpid == e->info.nslpid) {
			n->st.data_received++;
			n->regs[i].recv(n->regs[i].ctx, &e->info, e->data, e->len);
			break;
		}
	}
	free(e->data);
	free(e);
}

static void schedule(struct event *e)
{
	e->timer = evloop_timer_add(e->to->loop, 0, on_event, e);
	e->next = events;
	events = e;
}

static void post_status(struct gist_node *n, uint16_t nslpid, uint32_t handle, enum gist_status st,
                        const char *how)
{
	struct event *e = calloc(1, sizeof(*e));
	e->to = n;
	e->is_status = true;
	e->info.nslpid = nslpid;
	e->handle = handle;
	e->status = st;
	snprintf(e->how, sizeof(e->how), "%s", how);
	schedule(e);
}

static void post_recv(struct gist_node *to, struct gist_node *from, uint16_t nslpid,
                      const uint8_t sid[16], const struct gist_flow *flow, const uint8_t *data,
                      size_t len, bool first)
{
	struct event *e = calloc(1, sizeof(*e));
	e->to = to;
	e->info.nslpid = nslpid;
	memcpy(e->info.sid, sid, 16);
	e->info.flow = *flow;
	struct sockaddr_in *sa = (struct sockaddr_in *)&e->info.peer;
	sa->sin_family = AF_INET;
	sa->sin_port = htons(270);
	memcpy(&sa->sin_addr, from->addr, 4);
	snprintf((char *)e->info.peer_id, sizeof(e->info.peer_id), "%s", from->id);
	e->info.peer_id_len = strlen(from->id);
	e->info.ip_ttl = 64;
	e->info.gist_hops = 31;
	e->info.first = first;
	e->data = malloc(len ? len : 1);
	memcpy(e->data, data, len);
	e->len = len;
	schedule(e);
}

void gist_config_defaults(struct gist_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->intercept_queue = -1;
	cfg->icmp_last_node = true;
}

int gist_node_new(struct evloop *loop, const struct gist_config *cfg, struct gist_node **ret,
                  char *err, size_t errlen)
{
	if (n_chain >= FAKE_MAX) {
		snprintf(err, err ? errlen : 0, "fake: chain full");
		return -ENOSPC;
	}
	struct gist_node *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->loop = loop;
	n->cfg = *cfg;
	snprintf(n->id, sizeof(n->id), "%s", cfg->node_id ? cfg->node_id : "fake");
	n->pos = n_chain;
	memcpy(n->addr, (uint8_t[]){10, 0, (uint8_t)n_chain, 1}, 4);
	chain[n_chain++] = n;
	*ret = n;
	return 0;
}

struct gist_node *gist_node_free(struct gist_node *n)
{
	if (!n)
		return NULL;
	for (struct event *e = events, *next; e; e = next) {
		next = e->next;
		if (e->to == n) {
			evloop_timer_cancel(n->loop, e->timer);
			event_unlink(e);
			free(e->data);
			free(e);
		}
	}
	while (n->rs) {
		struct rstate *r = n->rs;
		n->rs = r->next;
		free(r);
	}
	for (int i = 0; i < FAKE_MAX; i++) {
		if (chain[i] == n)
			chain[i] = NULL;
		for (struct rstate *r = chain[i] ? chain[i]->rs : NULL; r; r = r->next)
			if (r->up == n)
				r->up = NULL;
	}
	free(n);
	return NULL;
}

int gist_register(struct gist_node *n, uint16_t nslpid, gist_recv_fn *recv, gist_status_fn *status,
                  void *ctx)
{
	for (int i = 0; i < n->n_regs; i++)
		if (n->regs[i].nslpid == nslpid)
			return -EEXIST;
	if (n->n_regs >= 4)
		return -ENOSPC;
	n->regs[n->n_regs++] = (struct reg){nslpid, recv, status, ctx};
	return 0;
}

static bool runs(const struct gist_node *n, uint16_t nslpid)
{
	if (!n || n->cfg.querier_only)
		return false;
	for (int i = 0; i < n->n_regs; i++)
		if (n->regs[i].nslpid == nslpid)
			return true;
	return false;
}

int gist_send(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
              const struct gist_flow *flow, const uint8_t *data, size_t len, uint32_t *handle,
              char *err, size_t errlen)
{
	if (len > 4u * 0xfffu) { /* one NSLP-Data object, as the real GIST */
		snprintf(err, err ? errlen : 0, "fake: %zu bytes are too many", len);
		return -EMSGSIZE;
	}
	uint32_t h = ++n->next_handle;
	*handle = h;
	n->st.data_sent++;
	if (flow->upstream) {
		struct rstate *r = n->rs;
		while (r && (memcmp(r->sid, sid, 16) != 0 || r->nslpid != nslpid))
			r = r->next;
		if (!r || !r->up) {
			snprintf(err, err ? errlen : 0, "fake: no routing state upstream");
			return -ENOENT;
		}
		post_recv(r->up, n, nslpid, sid, flow, data, len, false);
		post_status(n, nslpid, h, GIST_SENT, "sent");
		return 0;
	}
	/* Where the flow's destination is in the chain (the user is past its end). */
	int target = FAKE_MAX;
	for (int i = 0; i < FAKE_MAX; i++)
		if (chain[i] && memcmp(chain[i]->addr, flow->dst, 4) == 0)
			target = i;
	int dir = target > n->pos ? 1 : -1;
	for (int i = n->pos + dir; i >= 0 && i < FAKE_MAX && i != target; i += dir) {
		struct gist_node *c = chain[i];
		if (!runs(c, nslpid))
			continue;
		n->st.queries_sent++;
		if (!c->swallow) {
			struct rstate *r = c->rs;
			while (r && (memcmp(r->sid, sid, 16) != 0 || r->nslpid != nslpid))
				r = r->next;
			bool first = !r;
			if (!r) {
				r = calloc(1, sizeof(*r));
				memcpy(r->sid, sid, 16);
				r->nslpid = nslpid;
				r->next = c->rs;
				c->rs = r;
				c->st.routing_states++;
			}
			r->up = n;
			post_recv(c, n, nslpid, sid, flow, data, len, first);
		}
		post_status(n, nslpid, h, GIST_SENT, "sent");
		return 0;
	}
	n->st.last_node_icmp++;
	post_status(n, nslpid, h, GIST_LAST_NODE, "icmp port unreachable");
	return 0;
}

void gist_new_sid(uint8_t sid[16])
{
	if (getrandom(sid, 16, 0) != 16)
		memset(sid, 0x5a, 16);
}

void gist_get_stats(const struct gist_node *n, struct gist_stats *ret)
{
	*ret = n->st;
}
