/* The OpenFlow forwarding-plane driver (the papers' sidecar, issue #16):
 * netservd is the controller of one OpenFlow 1.3 switch (of_conn.h) with
 * NetServ nodes on some of its ports, and steers each module's filter to
 * those nodes instead of to a local queue.
 *
 * The table (docs/openflow.md "The driver"), a pure function of the active
 * filters and the nodes, sent whole at every (re)connection:
 *
 *   prio 1000  in_port = a node's port (or the signaling port)  -> NORMAL
 *   prio  900  udp dst 270, IPv4 and IPv6       -> [eth_dst] signaling port
 *   prio  500  a filter (cookie per rule id)    -> group 1 (SELECT: up to 8
 *              buckets per configured node, [set eth_dst = node MAC,]
 *              output node port; a down node's buckets point at the up
 *              nodes in turn), or NORMAL when no node is up (fail-open)
 *   prio    0  everything else                  -> NORMAL (L2 learning)
 *
 * Cookies: 0x4e53 in the top 16 bits is ours (deleted at every connect);
 * the low 32 bits are 0 for the fixed flows and a number per rule id for a
 * filter's flows, so that filter_remove deletes exactly them by cookie.
 *
 * Rule ids without a '/' (signaling's "gist") are the node's own: they go to
 * the local driver only (the switch's signaling flows are the fixed ones).
 * Rule ids "user/module" become switch flows and, when a local driver is
 * given (this node is one of the nodes), also local rules, so that the
 * packets the switch steers to this node reach the module's queue here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd/fwd.h"

#define FWD_OF_MAX_NODES 32 /* a SELECT group's buckets (OF_MAX_BUCKETS) */
#define FWD_OF_NAME_MAX  32

/* One NetServ node on the switch. */
struct fwd_of_node {
	char name[FWD_OF_NAME_MAX]; /* unique, [A-Za-z0-9_.-], NUL-terminated */
	uint32_t of_port;           /* the switch's OpenFlow port it sits on */
	uint8_t mac[6];             /* rewrite eth_dst to this (a node that routes) */
	bool has_mac;
	bool up;      /* in the group: neither drained nor dead */
	bool drained; /* taken out by the operator (fwd_openflow_set_node_up) */
	bool dead;    /* its health says down (fwd_openflow_set_node_alive) */
};

struct evloop;
struct fwd_openflow;
struct prom_buf;

struct fwd_openflow_config {
	const char *listen;      /* "ADDR:PORT" the switch connects to */
	uint32_t signaling_port; /* where the signaling node sits (1..0xffffff00) */
	const struct fwd_of_node *nodes;
	size_t n_nodes; /* 0..FWD_OF_MAX_NODES */
	/* This node's own driver (netfilter) when it is itself one of the
	 * nodes; NULL otherwise. Borrowed: it must outlive the driver. */
	const struct fwd_ops *local_ops;
	void *local;
	unsigned echo_interval_ms, echo_timeout_ms; /* 0: of_conn's defaults */
};

/* Parses "NAME:PORT[:MAC], ..." (MAC as aa:bb:cc:dd:ee:ff) into nodes (at
 * most max), all up. Returns 0 and *ret_n, or -EINVAL with the reason in err
 * (a bad name, port or MAC, a name or port given twice, too many). */
int fwd_openflow_parse_nodes(const char *text, struct fwd_of_node *nodes, size_t max, size_t *ret_n,
                             char *err, size_t errlen);

/* Starts listening for the switch. Returns 0 and *ret (free with
 * fwd_openflow_free()), or a negative errno with the reason in err. */
int fwd_openflow_new(struct evloop *loop, const struct fwd_openflow_config *cfg,
                     struct fwd_openflow **ret, char *err, size_t errlen);

/* Closes the switch connection (its flows stay until it reconnects to a
 * controller) and frees; NULL allowed. Returns NULL. */
struct fwd_openflow *fwd_openflow_free(struct fwd_openflow *f);

/* Replaces the group's membership (fwd: a struct fwd_openflow): the nodes
 * that are up become the SELECT group's buckets at once (GROUP_MOD modify);
 * no node up: the filters' flows go NORMAL (fail-open), and back to the
 * group when one is. Returns 0, -EINVAL (more than FWD_OF_MAX_NODES, a
 * port 0 or above OFPP_MAX), -ENOMEM. Not connected: kept for the next
 * connection. */
int fwd_openflow_set_nodes(void *fwd, const struct fwd_of_node *nodes, size_t n);

/* Sets one node up or down by name (the operator's drain/undrain). Returns
 * 0, -ENOENT (no such node) or as fwd_openflow_set_nodes(). */
int fwd_openflow_set_node_up(struct fwd_openflow *f, const char *name, bool up);

/* Sets one node's health by name (the sidecar group's heartbeats). A node is
 * in the group when it is alive and not drained: a drained node that dies
 * and comes back stays drained until the operator undrains it, and a dead
 * node undrained joins at its first heartbeat. Returns as
 * fwd_openflow_set_node_up(). */
int fwd_openflow_set_node_alive(struct fwd_openflow *f, const char *name, bool alive);

/* What the driver knows now, for status and metrics. */
struct fwd_openflow_state {
	bool connected; /* a switch is connected and its table confirmed */
	uint64_t dpid;  /* its datapath id (0 before the first connection) */
	size_t n_flows; /* flows in our table */
	size_t n_nodes, n_up;
	size_t n_rules; /* rule ids with switch flows */
	uint64_t connects;
};
void fwd_openflow_state(const struct fwd_openflow *f, struct fwd_openflow_state *st);

/* The i-th node (i < n_nodes), or NULL. */
const struct fwd_of_node *fwd_openflow_node(const struct fwd_openflow *f, size_t i);

/* The i-th rule id with switch flows and how many flows it has; NULL past
 * the end. */
const char *fwd_openflow_rule(const struct fwd_openflow *f, size_t i, size_t *ret_flows);

/* Appends the sidecar's Prometheus families to b (f: a struct fwd_openflow). */
void fwd_openflow_metrics(void *f, struct prom_buf *b);

/* The fwd_ops of this driver; its `fwd` argument is a struct fwd_openflow. */
extern const struct fwd_ops fwd_openflow_ops;
