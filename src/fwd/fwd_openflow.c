/* The OpenFlow forwarding-plane driver (fwd_openflow.h). */
#include "fwd/fwd_openflow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fwd/of_conn.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "ncm/ncm.h"

#define COOKIE_BASE      0x4e53000000000000ull /* "NS": ours */
#define COOKIE_MASK      0xffff000000000000ull
#define COOKIE_RULE      0x00000000ffffffffull /* the rule's number */
#define GROUP_ID         1u
#define PRIO_FROM_NODE   1000
#define PRIO_SIGNALING   900
#define PRIO_FILTER      500
#define PRIO_NORMAL      0
#define MAX_PORTS        16 /* ports of one filter's range: one flow each */
#define RULE_ID_MAX      (NCM_MAX_USER + NCM_MAX_TARGET + 2)
#define GIST_PORT        270
#define BUCKETS_PER_NODE 8 /* at most; OF_MAX_BUCKETS in all */

struct of_rule {
	char id[RULE_ID_MAX];
	uint32_t num; /* the low bits of its cookie */
	struct of_match *matches;
	size_t n_matches;
	struct of_rule *next;
};

struct fwd_openflow {
	struct of_conn *conn;
	uint32_t sig_port;
	struct fwd_of_node nodes[FWD_OF_MAX_NODES];
	size_t n_nodes;
	const struct fwd_ops *local_ops;
	void *local;
	struct of_rule *rules; /* in the order added */
	uint32_t next_num;
	bool ready;
	uint64_t dpid, connects;
	size_t n_flows;
};

/* ---- Configuration ------------------------------------------------------------ */

static bool name_ok(const char *s, size_t len)
{
	if (!len || len >= FWD_OF_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return false;
	return true;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;
	if (strlen(s) != 17 || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3],
	                              &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (size_t i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int fwd_openflow_parse_nodes(const char *text, struct fwd_of_node *nodes, size_t max, size_t *ret_n,
                             char *err, size_t errlen)
{
	char buf[4096];
	size_t n = 0;
	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, err ? errlen : 0, "node list longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", text);
	char *save = NULL;
	for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		item = trim(item);
		if (!*item)
			continue;
		if (n == max) {
			snprintf(err, err ? errlen : 0, "more than %zu nodes", max);
			return -EINVAL;
		}
		struct fwd_of_node nd = {.up = true};
		char *c1 = strchr(item, ':');
		if (!c1 || !name_ok(item, (size_t)(c1 - item))) {
			snprintf(err, err ? errlen : 0,
			         "'%s' is not NAME:PORT[:MAC] (NAME: 1..%d of [A-Za-z0-9_.-])",
			         item, FWD_OF_NAME_MAX - 1);
			return -EINVAL;
		}
		memcpy(nd.name, item, (size_t)(c1 - item));
		char *port = c1 + 1, *c2 = strchr(port, ':'), *end;
		if (c2)
			*c2 = '\0';
		errno = 0;
		unsigned long p = strtoul(port, &end, 10);
		if (!*port || *end || errno || *port == '-' || p < 1 || p > 0xffffff00ul) {
			snprintf(
			        err, err ? errlen : 0,
			        "node %s: port '%s' is not an OpenFlow port number (1..4294967040)",
			        nd.name, port);
			return -EINVAL;
		}
		nd.of_port = (uint32_t)p;
		if (c2) {
			if (parse_mac(c2 + 1, nd.mac) < 0) {
				snprintf(err, err ? errlen : 0,
				         "node %s: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)",
				         nd.name, c2 + 1);
				return -EINVAL;
			}
			nd.has_mac = true;
		}
		for (size_t i = 0; i < n; i++) {
			if (strcmp(nodes[i].name, nd.name) == 0 || nodes[i].of_port == nd.of_port) {
				snprintf(err, err ? errlen : 0, "node %s: its %s is also node %s's",
				         nd.name,
				         strcmp(nodes[i].name, nd.name) == 0 ? "name" : "port",
				         nodes[i].name);
				return -EINVAL;
			}
		}
		nodes[n++] = nd;
	}
	*ret_n = n;
	return 0;
}

/* ---- Filters to matches ------------------------------------------------------- */

static void set_prefix(struct of_match *m, const struct ncm_prefix *p, bool src)
{
	if (!p->family || !p->len)
		return;
	if (p->family == AF_INET) {
		uint8_t *a = src ? m->ipv4_src : m->ipv4_dst,
		        *mk = src ? m->ipv4_src_mask : m->ipv4_dst_mask;
		memcpy(a, p->addr, 4);
		for (unsigned i = 0; i < 4; i++)
			mk[i] = (uint8_t)(p->len >= 8 * (i + 1) ? 0xff
			                  : p->len > 8 * i      ? 0xff << (8 - (p->len - 8 * i))
			                                        : 0);
		m->fields |= src ? OF_M_IPV4_SRC : OF_M_IPV4_DST;
		if (p->len < 32)
			m->masked |= src ? OF_M_IPV4_SRC : OF_M_IPV4_DST;
	} else {
		uint8_t *a = src ? m->ipv6_src : m->ipv6_dst,
		        *mk = src ? m->ipv6_src_mask : m->ipv6_dst_mask;
		memcpy(a, p->addr, 16);
		for (unsigned i = 0; i < 16; i++)
			mk[i] = (uint8_t)(p->len >= 8 * (i + 1) ? 0xff
			                  : p->len > 8 * i      ? 0xff << (8 - (p->len - 8 * i))
			                                        : 0);
		m->fields |= src ? OF_M_IPV6_SRC : OF_M_IPV6_DST;
		if (p->len < 128)
			m->masked |= src ? OF_M_IPV6_SRC : OF_M_IPV6_DST;
	}
}

/* Appends the matches of one filter to out (room for `room`). Returns how
 * many, or -ENOTSUP / -ENOSPC with the reason in err. */
static int filter_matches(const struct ncm_filter *f, struct of_match *out, size_t room, char *err,
                          size_t errlen)
{
	int fam = f->src.family ? f->src.family : f->dst.family;
	if (f->src.family && f->dst.family && f->src.family != f->dst.family) {
		snprintf(err, errlen, "source and destination of different IP versions");
		return -ENOTSUP;
	}
	int proto_fam = f->proto == NCM_PROTO_ICMP     ? AF_INET
	                : f->proto == NCM_PROTO_ICMPV6 ? AF_INET6
	                                               : 0;
	if (proto_fam && fam && fam != proto_fam) {
		snprintf(err, errlen, "protocol %u with a prefix of the other IP version",
		         f->proto);
		return -EINVAL;
	}
	if (proto_fam)
		fam = proto_fam;
	bool ports = f->port_lo != 0;
	if (ports && f->proto != NCM_PROTO_UDP && f->proto != NCM_PROTO_TCP) {
		snprintf(err, errlen,
		         "ports of protocol %u: OpenFlow 1.3 here matches TCP and UDP "
		         "ports only",
		         f->proto);
		return -ENOTSUP;
	}
	unsigned n_ports = ports ? (unsigned)(f->port_hi - f->port_lo) + 1 : 1;
	if (n_ports > MAX_PORTS) {
		snprintf(err, errlen,
		         "port range %u-%u: more than %d ports (one flow each) is not supported",
		         f->port_lo, f->port_hi, MAX_PORTS);
		return -ENOTSUP;
	}
	size_t n = 0;
	for (int v = 0; v < 2; v++) {
		int family = v == 0 ? AF_INET : AF_INET6;
		if (fam && fam != family)
			continue;
		for (unsigned pi = 0; pi < n_ports; pi++) {
			if (n == room) {
				snprintf(err, errlen, "too many flows for one rule");
				return -ENOSPC;
			}
			struct of_match *m = &out[n++];
			memset(m, 0, sizeof(*m));
			m->fields = OF_M_ETH_TYPE;
			m->eth_type = family == AF_INET ? 0x0800 : 0x86dd;
			if (f->proto) {
				m->fields |= OF_M_IP_PROTO;
				m->ip_proto = f->proto;
			}
			if (ports) {
				m->fields |=
				        f->proto == NCM_PROTO_UDP ? OF_M_UDP_DST : OF_M_TCP_DST;
				m->tp_dst = (uint16_t)(f->port_lo + pi);
			}
			set_prefix(m, &f->src, true);
			set_prefix(m, &f->dst, false);
		}
	}
	return (int)n;
}

/* ---- The table ---------------------------------------------------------------- */

struct msgs {
	struct of_msg *m;
	size_t n, cap;
};

static struct of_msg *msgs_add(struct msgs *v, enum of_type type)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 32;
		struct of_msg *p = realloc(v->m, cap * sizeof(*p));
		if (!p)
			return NULL;
		v->m = p;
		v->cap = cap;
	}
	of_msg_init(&v->m[v->n], type, 0);
	return &v->m[v->n++];
}

static size_t n_up(const struct fwd_openflow *f)
{
	size_t n = 0;
	for (size_t i = 0; i < f->n_nodes; i++)
		n += f->nodes[i].up;
	return n;
}

static const struct fwd_of_node *node_at_port(const struct fwd_openflow *f, uint32_t port)
{
	for (size_t i = 0; i < f->n_nodes; i++)
		if (f->nodes[i].of_port == port)
			return &f->nodes[i];
	return NULL;
}

static void act_output(struct of_actions *a, uint32_t port)
{
	a->a[a->n++] = (struct of_action){.type = OFPAT_OUTPUT, .port = port};
}

static void act_eth_dst(struct of_actions *a, const uint8_t mac[6])
{
	struct of_action *x = &a->a[a->n++];
	*x = (struct of_action){.type = OFPAT_SET_FIELD};
	memcpy(x->eth_dst, mac, 6);
}

/* A FLOW_MOD ADD with apply-actions; returns its actions to fill. */
static struct of_actions *flow_add(struct msgs *v, uint64_t cookie, uint16_t prio,
                                   const struct of_match *match)
{
	struct of_msg *m = msgs_add(v, OFPT_FLOW_MOD);
	if (!m)
		return NULL;
	struct of_flow_mod *fm = &m->flow_mod;
	fm->command = OFPFC_ADD;
	fm->table_id = 0;
	fm->cookie = cookie;
	fm->priority = prio;
	if (match)
		fm->match = *match;
	fm->instrs.n = 1;
	fm->instrs.i[0].type = OFPIT_APPLY_ACTIONS;
	return &fm->instrs.i[0].actions;
}

/* Buckets per configured node: the group keeps this layout whatever the
 * membership, so that the switch's mapping of flows to buckets stays and a
 * membership change moves only the flows of the buckets that change. */
static size_t buckets_per_node(const struct fwd_openflow *f)
{
	size_t v = f->n_nodes ? OF_MAX_BUCKETS / f->n_nodes : 1;
	return v > BUCKETS_PER_NODE ? BUCKETS_PER_NODE : v ? v : 1;
}

static int group_msg(const struct fwd_openflow *f, struct msgs *v, uint16_t command)
{
	struct of_msg *m = msgs_add(v, OFPT_GROUP_MOD);
	if (!m)
		return -ENOMEM;
	struct of_group_mod *g = &m->group_mod;
	g->command = command;
	g->type = OFPGT_SELECT;
	g->group_id = GROUP_ID;
	const struct fwd_of_node *up[FWD_OF_MAX_NODES];
	size_t n = 0, turn = 0, per = buckets_per_node(f);
	for (size_t i = 0; i < f->n_nodes; i++)
		if (f->nodes[i].up)
			up[n++] = &f->nodes[i];
	if (!n)
		return 0; /* no bucket: the filters' flows go NORMAL meanwhile */
	/* Each node's buckets, interleaved (n1 n2 n3 n1 n2 n3 ...: Open vSwitch
	 * gives the first buckets an extra hash slot when their number is not
	 * a power of two); a node that is down has its buckets pointed at the
	 * up nodes in turn (its flows spread over them). */
	for (size_t k = 0; k < per; k++) {
		for (size_t i = 0; i < f->n_nodes && g->n_buckets < OF_MAX_BUCKETS; i++) {
			const struct fwd_of_node *nd =
			        f->nodes[i].up ? &f->nodes[i] : up[turn++ % n];
			struct of_bucket *b = &g->buckets[g->n_buckets++];
			*b = (struct of_bucket){
			        .weight = 1, .watch_port = OFPP_ANY, .watch_group = OFPG_ANY};
			if (nd->has_mac)
				act_eth_dst(&b->actions, nd->mac);
			act_output(&b->actions, nd->of_port);
		}
	}
	return 0;
}

/* The flows of one rule: to the group, or NORMAL with no node up. */
static int rule_flows(const struct fwd_openflow *f, const struct of_rule *r, struct msgs *v)
{
	bool open = n_up(f) == 0;
	for (size_t i = 0; i < r->n_matches; i++) {
		struct of_actions *a =
		        flow_add(v, COOKIE_BASE | r->num, PRIO_FILTER, &r->matches[i]);
		if (!a)
			return -ENOMEM;
		if (open)
			act_output(a, OFPP_NORMAL);
		else
			a->a[a->n++] =
			        (struct of_action){.type = OFPAT_GROUP, .group_id = GROUP_ID};
	}
	return 0;
}

/* The whole table, as a function of the rules and the nodes. */
static int build_table(const struct fwd_openflow *f, struct msgs *v)
{
	struct of_actions *a;
	if (group_msg(f, v, OFPGC_ADD) < 0)
		return -ENOMEM;
	/* What comes back from a node (or the signaling port) goes on. */
	bool sig_is_node = false;
	for (size_t i = 0; i <= f->n_nodes; i++) {
		uint32_t port = i < f->n_nodes ? f->nodes[i].of_port : f->sig_port;
		if (i == f->n_nodes && sig_is_node)
			break;
		sig_is_node |= port == f->sig_port;
		struct of_match m = {.fields = OF_M_IN_PORT, .in_port = port};
		if (!(a = flow_add(v, COOKIE_BASE, PRIO_FROM_NODE, &m)))
			return -ENOMEM;
		act_output(a, OFPP_NORMAL);
	}
	/* Signaling (GIST Q-mode: UDP to 270) to the signaling node. */
	const struct fwd_of_node *sig = node_at_port(f, f->sig_port);
	for (int v6 = 0; v6 < 2; v6++) {
		struct of_match m = {.fields = OF_M_ETH_TYPE | OF_M_IP_PROTO | OF_M_UDP_DST,
		                     .eth_type = v6 ? 0x86dd : 0x0800,
		                     .ip_proto = NCM_PROTO_UDP,
		                     .tp_dst = GIST_PORT};
		if (!(a = flow_add(v, COOKIE_BASE, PRIO_SIGNALING, &m)))
			return -ENOMEM;
		if (sig && sig->has_mac)
			act_eth_dst(a, sig->mac);
		act_output(a, f->sig_port);
	}
	for (const struct of_rule *r = f->rules; r; r = r->next)
		if (rule_flows(f, r, v) < 0)
			return -ENOMEM;
	if (!(a = flow_add(v, COOKIE_BASE, PRIO_NORMAL, NULL)))
		return -ENOMEM;
	act_output(a, OFPP_NORMAL);
	return 0;
}

static size_t count_flows(const struct msgs *v)
{
	size_t n = 0;
	for (size_t i = 0; i < v->n; i++)
		n += v->m[i].hdr.type == OFPT_FLOW_MOD && v->m[i].flow_mod.command == OFPFC_ADD;
	return n;
}

/* Stores the table rebuilt from f's state for the next connection and sends
 * `delta` (the change) to a connected switch. */
static int commit(struct fwd_openflow *f, const struct msgs *delta)
{
	struct msgs t = {0};
	int r = build_table(f, &t);
	if (r == 0)
		r = of_conn_update_table(f->conn, t.m, t.n, delta ? delta->m : NULL,
		                         delta ? delta->n : 0);
	if (r == 0)
		f->n_flows = count_flows(&t);
	free(t.m);
	return r;
}

static void delete_rule_msg(struct msgs *v, uint32_t num, int *r)
{
	struct of_msg *m = msgs_add(v, OFPT_FLOW_MOD);
	if (!m) {
		*r = -ENOMEM;
		return;
	}
	m->flow_mod.command = OFPFC_DELETE;
	m->flow_mod.table_id = OFPTT_ALL;
	m->flow_mod.cookie = COOKIE_BASE | num;
	m->flow_mod.cookie_mask = ~0ull;
}

/* ---- fwd_ops ------------------------------------------------------------------ */

static struct of_rule *find_rule(struct fwd_openflow *f, const char *id, struct of_rule ***pp)
{
	for (struct of_rule **p = &f->rules; *p; p = &(*p)->next) {
		if (strcmp((*p)->id, id) == 0) {
			if (pp)
				*pp = p;
			return *p;
		}
	}
	return NULL;
}

static bool is_local_only(const char *rule_id)
{
	return !strchr(rule_id, '/');
}

static int of_filter_add(void *fwd, const char *rule_id, const struct ncm_filter *filters, size_t n,
                         unsigned queue, char *err, size_t errlen)
{
	struct fwd_openflow *f = fwd;
	int r;
	if (strlen(rule_id) >= RULE_ID_MAX || !n || n > NCM_MAX_FILTERS) {
		snprintf(err, errlen, "bad rule id or filter count");
		return -EINVAL;
	}
	if (is_local_only(rule_id)) {
		if (!f->local_ops) {
			snprintf(err, errlen,
			         "'%s' is a rule of this node's own, and this node is not one of "
			         "the switch's nodes (no local forwarding plane)",
			         rule_id);
			return -ENOTSUP;
		}
		return f->local_ops->filter_add(f->local, rule_id, filters, n, queue, err, errlen);
	}
	size_t room = NCM_MAX_FILTERS * 2 * MAX_PORTS;
	struct of_match *matches = calloc(room, sizeof(*matches));
	if (!matches)
		return -ENOMEM;
	size_t n_matches = 0;
	for (size_t i = 0; i < n; i++) {
		r = filter_matches(&filters[i], matches + n_matches, room - n_matches, err, errlen);
		if (r < 0) {
			free(matches);
			return r;
		}
		n_matches += (size_t)r;
	}
	if (f->local_ops) {
		r = f->local_ops->filter_add(f->local, rule_id, filters, n, queue, err, errlen);
		if (r < 0) {
			free(matches);
			return r;
		}
	}
	struct of_rule *rule = find_rule(f, rule_id, NULL);
	bool replace = rule != NULL;
	if (!rule) {
		rule = calloc(1, sizeof(*rule));
		if (!rule) {
			free(matches);
			return -ENOMEM;
		}
		snprintf(rule->id, sizeof(rule->id), "%s", rule_id);
		rule->num = ++f->next_num;
		struct of_rule **tail = &f->rules;
		while (*tail)
			tail = &(*tail)->next;
		*tail = rule;
	}
	struct of_match *old = rule->matches;
	size_t n_old = rule->n_matches;
	rule->matches = matches;
	rule->n_matches = n_matches;
	struct msgs delta = {0};
	r = 0;
	if (replace)
		delete_rule_msg(&delta, rule->num, &r);
	if (r == 0)
		r = rule_flows(f, rule, &delta);
	if (r == 0)
		r = commit(f, &delta);
	free(delta.m);
	if (r == 0) {
		free(old);
		return 0;
	}
	/* Nothing changed in the switch: put the rule back as it was. */
	snprintf(err, errlen, "OpenFlow table: %s", strerror(-r));
	free(matches);
	rule->matches = old;
	rule->n_matches = n_old;
	if (!replace) {
		struct of_rule **pp = &f->rules;
		while (*pp != rule)
			pp = &(*pp)->next;
		*pp = rule->next;
		free(rule);
		if (f->local_ops)
			f->local_ops->filter_remove(f->local, rule_id);
	}
	return r;
}

static int of_filter_remove(void *fwd, const char *rule_id)
{
	struct fwd_openflow *f = fwd;
	int lr = -ENOENT;
	if (f->local_ops)
		lr = f->local_ops->filter_remove(f->local, rule_id);
	if (is_local_only(rule_id))
		return lr;
	struct of_rule **pp, *rule = find_rule(f, rule_id, &pp);
	if (!rule)
		return -ENOENT;
	*pp = rule->next;
	struct msgs delta = {0};
	int r = 0;
	delete_rule_msg(&delta, rule->num, &r);
	if (r == 0)
		r = commit(f, &delta);
	free(delta.m);
	free(rule->matches);
	free(rule);
	return r;
}

static void free_rules(struct fwd_openflow *f)
{
	while (f->rules) {
		struct of_rule *r = f->rules;
		f->rules = r->next;
		free(r->matches);
		free(r);
	}
}

static int of_flush(void *fwd, char *err, size_t errlen)
{
	struct fwd_openflow *f = fwd;
	int r = 0;
	if (f->local_ops)
		r = f->local_ops->flush(f->local, err, errlen);
	struct msgs delta = {0};
	int dr = 0;
	for (const struct of_rule *rule = f->rules; rule && dr == 0; rule = rule->next)
		delete_rule_msg(&delta, rule->num, &dr);
	free_rules(f);
	if (dr == 0)
		dr = commit(f, &delta);
	free(delta.m);
	if (dr < 0 && r == 0) {
		snprintf(err, errlen, "OpenFlow table: %s", strerror(-dr));
		r = dr;
	}
	return r;
}

const struct fwd_ops fwd_openflow_ops = {
        .name = "openflow",
        .filter_add = of_filter_add,
        .filter_remove = of_filter_remove,
        .flush = of_flush,
};

/* ---- Membership --------------------------------------------------------------- */

static int check_nodes(const struct fwd_of_node *nodes, size_t n)
{
	if (n > FWD_OF_MAX_NODES)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!nodes[i].of_port || nodes[i].of_port > OFPP_MAX ||
		    !memchr(nodes[i].name, '\0', sizeof(nodes[i].name)))
			return -EINVAL;
	return 0;
}

static int apply_nodes(struct fwd_openflow *f, const struct fwd_of_node *nodes, size_t n)
{
	bool was_open = n_up(f) == 0;
	if (n)
		memmove(f->nodes, nodes, n * sizeof(*nodes));
	f->n_nodes = n;
	bool open = n_up(f) == 0;
	struct msgs delta = {0};
	int r = group_msg(f, &delta, OFPGC_MODIFY);
	/* Crossing fail-open: the filters' flows change action (an ADD of the
	 * same match and priority replaces a flow in place: no gap). */
	for (const struct of_rule *rule = f->rules; r == 0 && rule && open != was_open;
	     rule = rule->next)
		r = rule_flows(f, rule, &delta);
	if (r == 0)
		r = commit(f, &delta);
	free(delta.m);
	return r;
}

int fwd_openflow_set_nodes(void *fwd, const struct fwd_of_node *nodes, size_t n)
{
	struct fwd_openflow *f = fwd;
	int r = check_nodes(nodes, n);
	if (r < 0)
		return r;
	return apply_nodes(f, nodes, n);
}

static int set_node_flag(struct fwd_openflow *f, const char *name, bool drained_flag, bool on)
{
	struct fwd_of_node copy[FWD_OF_MAX_NODES];
	if (f->n_nodes)
		memcpy(copy, f->nodes, f->n_nodes * sizeof(copy[0]));
	for (size_t i = 0; i < f->n_nodes; i++) {
		if (strcmp(copy[i].name, name) != 0)
			continue;
		if (drained_flag)
			copy[i].drained = on;
		else
			copy[i].dead = on;
		copy[i].up = !copy[i].drained && !copy[i].dead;
		return apply_nodes(f, copy, f->n_nodes);
	}
	return -ENOENT;
}

int fwd_openflow_set_node_up(struct fwd_openflow *f, const char *name, bool up)
{
	return set_node_flag(f, name, true, !up);
}

int fwd_openflow_set_node_alive(struct fwd_openflow *f, const char *name, bool alive)
{
	return set_node_flag(f, name, false, !alive);
}

/* ---- The connection ----------------------------------------------------------- */

static void on_ready(struct of_conn *c, uint64_t dpid, unsigned n_refused, void *ctx)
{
	struct fwd_openflow *f = ctx;
	f->ready = true;
	f->dpid = dpid;
	f->connects++;
	if (n_refused)
		log_warn("openflow: switch %016llx connected; it refused %u of our %zu flows and "
		         "groups (see the ERRORs above)",
		         (unsigned long long)dpid, n_refused, f->n_flows + 1);
	else
		log_notice("openflow: switch %016llx connected: %zu flows, %zu of %zu nodes up",
		           (unsigned long long)dpid, f->n_flows, n_up(f), f->n_nodes);
}

static void on_down(struct of_conn *c, const char *why, void *ctx)
{
	struct fwd_openflow *f = ctx;
	if (f->ready)
		log_warn("openflow: switch %016llx disconnected: %s", (unsigned long long)f->dpid,
		         why);
	else
		log_info("openflow: a switch connection closed: %s", why);
	f->ready = false;
}

static void on_msg(struct of_conn *c, const struct of_msg *m, void *ctx)
{
	if (m->hdr.type == OFPT_ERROR)
		log_warn("openflow: the switch sent an ERROR type %u code %u (xid %u)",
		         m->error.type, m->error.code, m->hdr.xid);
}

int fwd_openflow_new(struct evloop *loop, const struct fwd_openflow_config *cfg,
                     struct fwd_openflow **ret, char *err, size_t errlen)
{
	if (!cfg->signaling_port || cfg->signaling_port > OFPP_MAX) {
		snprintf(err, err ? errlen : 0, "signaling port %u is not an OpenFlow port",
		         cfg->signaling_port);
		return -EINVAL;
	}
	if (check_nodes(cfg->nodes, cfg->n_nodes) < 0) {
		snprintf(err, err ? errlen : 0, "bad node list (at most %d, ports 1..%u)",
		         FWD_OF_MAX_NODES, OFPP_MAX);
		return -EINVAL;
	}
	struct fwd_openflow *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->sig_port = cfg->signaling_port;
	if (cfg->n_nodes)
		memcpy(f->nodes, cfg->nodes, cfg->n_nodes * sizeof(f->nodes[0]));
	f->n_nodes = cfg->n_nodes;
	f->local_ops = cfg->local_ops;
	f->local = cfg->local;
	struct of_conn_cfg cc = {
	        .listen = cfg->listen,
	        .echo_interval_ms = cfg->echo_interval_ms,
	        .echo_timeout_ms = cfg->echo_timeout_ms,
	        .cookie = COOKIE_BASE,
	        .cookie_mask = COOKIE_MASK,
	        .on_ready = on_ready,
	        .on_down = on_down,
	        .on_msg = on_msg,
	        .ctx = f,
	};
	int r = of_conn_new(loop, &cc, &f->conn, err, errlen);
	if (r == 0)
		r = commit(f, NULL);
	if (r < 0) {
		if (f->conn)
			snprintf(err, err ? errlen : 0, "the initial table: %s", strerror(-r));
		fwd_openflow_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

struct fwd_openflow *fwd_openflow_free(struct fwd_openflow *f)
{
	if (!f)
		return NULL;
	of_conn_free(f->conn);
	free_rules(f);
	free(f);
	return NULL;
}

/* ---- State -------------------------------------------------------------------- */

void fwd_openflow_state(const struct fwd_openflow *f, struct fwd_openflow_state *st)
{
	size_t n_rules = 0;
	for (const struct of_rule *r = f->rules; r; r = r->next)
		n_rules++;
	*st = (struct fwd_openflow_state){
	        .connected = f->ready && of_conn_ready(f->conn),
	        .dpid = f->dpid,
	        .n_flows = f->n_flows,
	        .n_nodes = f->n_nodes,
	        .n_up = n_up(f),
	        .n_rules = n_rules,
	        .connects = f->connects,
	};
}

const struct fwd_of_node *fwd_openflow_node(const struct fwd_openflow *f, size_t i)
{
	return i < f->n_nodes ? &f->nodes[i] : NULL;
}

const char *fwd_openflow_rule(const struct fwd_openflow *f, size_t i, size_t *ret_flows)
{
	const struct of_rule *r = f->rules;
	while (r && i--)
		r = r->next;
	if (!r)
		return NULL;
	*ret_flows = r->n_matches;
	return r->id;
}

void fwd_openflow_metrics(void *ctx, struct prom_buf *b)
{
	const struct fwd_openflow *f = ctx;
	struct fwd_openflow_state st;
	fwd_openflow_state(f, &st);
	prom_family(b, "netserv_sidecar_switch_connected", "gauge",
	            "1 if the OpenFlow switch is connected and has our table, else 0.");
	prom_sample_u64(b, "netserv_sidecar_switch_connected", NULL, 0, st.connected);
	prom_family(b, "netserv_sidecar_switch_connects_total", "counter",
	            "Times a switch connected and confirmed our table.");
	prom_sample_u64(b, "netserv_sidecar_switch_connects_total", NULL, 0, st.connects);
	prom_family(b, "netserv_sidecar_flows", "gauge",
	            "Flows in our OpenFlow table (installed while connected).");
	prom_sample_u64(b, "netserv_sidecar_flows", NULL, 0, st.n_flows);
	prom_family(b, "netserv_sidecar_nodes", "gauge", "NetServ nodes on the switch, by state.");
	struct prom_label l[] = {{"state", "up"}};
	prom_sample_u64(b, "netserv_sidecar_nodes", l, 1, st.n_up);
	l[0].value = "down";
	prom_sample_u64(b, "netserv_sidecar_nodes", l, 1, st.n_nodes - st.n_up);
}
