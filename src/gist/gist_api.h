/* The GIST service as an NSLP sees it (RFC 5971 appendix B, abstract API):
 * SendMessage, RecvMessage, MessageStatus, NetworkNotification, mapped onto
 * C calls and callbacks on netserv's event loop.
 *
 * A GIST node (struct gist_node) runs inside netservd on every NetServ router,
 * and inside the publisher's tool (`netserv setup --to ...`, libnetserv-client)
 * as the querying end. It owns:
 *   - a UDP socket on port 270 (D-mode, and Q-mode Queries that are addressed
 *     to this node), plus reception of intercepted Queries (on a router, a
 *     netfilter rule queues UDP/270 and Router-Alert packets that pass
 *     through to an NFQUEUE read by the node);
 *   - a TCP listener for C-mode messaging associations (MA-Hello, hold time);
 *   - routing state per (MRI, NSLPID, Session ID): the peer upstream (the
 *     node a Query came from) and downstream (the node that answered our
 *     Query), soft state refreshed and expired;
 *   - the Query/Response/Confirm handshake with a stateless responder cookie,
 *     retransmission with exponential back-off, the GIST hop count;
 *   - last-node detection: ICMP port-unreachable from the flow's destination
 *     when the Query reaches it (fast), else the back-off running out.
 * A node that does not know a Query's NSLPID lets it continue unchanged
 * (decrementing the GIST hop count) toward the flow's destination.
 *
 * Everything runs on the caller's event loop; nothing blocks. Callbacks may
 * call back into the API. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct evloop;
struct gist_node;

/* The flow a signaling session is about (path-coupled MRI, RFC 5971 5.8.1):
 * its messages travel along the path of this flow. */
struct gist_flow {
	int family;         /* AF_INET or AF_INET6 */
	uint8_t src[16];    /* flow source (e.g. the publisher) */
	uint8_t dst[16];    /* flow destination (e.g. the user) */
	uint8_t src_prefix; /* 32/128 for a host */
	uint8_t dst_prefix;
	uint8_t proto;     /* 0 = any */
	uint16_t src_port; /* 0 = any */
	uint16_t dst_port;
	bool upstream; /* D flag: toward src instead of dst */
};

/* Where a message came from, as RecvMessage reports it. */
struct gist_recv_info {
	uint16_t nslpid;
	uint8_t sid[16];              /* Session ID */
	struct gist_flow flow;        /* the MRI as received (upstream flag set for messages
	                                 travelling toward the flow source) */
	struct sockaddr_storage peer; /* the adjacent GIST peer it came from */
	uint8_t peer_id[64];          /* peer identity from its NLI */
	size_t peer_id_len;
	uint8_t ip_ttl;    /* IP TTL the message arrived with */
	uint8_t gist_hops; /* GIST hop count left */
	bool first;        /* arrived in a Query (no routing state before) */
};

/* RecvMessage: NSLP data for nslpid arrived. The data is valid during the
 * call only. To answer toward where it came from, use gist_send() with
 * flow.upstream inverted (the routing state knows the previous hop). */
typedef void gist_recv_fn(void *ctx, const struct gist_recv_info *info, const uint8_t *data,
                          size_t len);

/* What happened to a message sent with gist_send(). */
enum gist_status {
	GIST_SENT = 0,      /* delivered to the next GIST node of this NSLPID */
	GIST_LAST_NODE = 1, /* no further node of this NSLPID on the path: this node
	                       is the last one (ICMP port unreachable from the flow's
	                       destination, an Endpoint Found error, or the back-off
	                       ran out) */
	GIST_FAILED = 2,    /* could not be sent (no route, error from a peer, ...) */
};

/* MessageStatus: the outcome of gist_send() call `handle`. `how` says why in
 * a few words ("icmp port unreachable", "timeout", "endpoint found", ...). */
typedef void gist_status_fn(void *ctx, uint32_t handle, enum gist_status status, const char *how);

struct gist_config {
	/* Addresses of this node (used in NLIs; the interface address toward a
	 * peer is looked up per message). */
	const char *node_id; /* peer identity (printable, <= 64 bytes) */
	uint16_t port;       /* UDP/TCP port for D-mode and C-mode; 0 = 270 */
	bool querier_only;   /* a publisher's tool: no TCP listener, no interception,
	                        no answers to Queries; UDP on querier_port */
	bool querier_port;   /* querier_only: bind UDP port `port` (270) if it is
	                        free and allowed, else an ephemeral one. A relay
	                        that re-sends a Query as its own packet from port
	                        270 (NSIS-ka) gets the Response sent to port 270,
	                        which an ephemeral-port querier never hears.
	                        Default true in gist_config_defaults(). */
	int intercept_queue; /* NFQUEUE number for intercepted Queries (a router),
	                        -1 = none */
	uint32_t t1_ms;      /* first retransmission; 0 = 100 */
	uint32_t t2_ms;      /* give up after the back-off reaches this; 0 = 3200 */
	uint32_t refresh_ms; /* routing state refresh period; 0 = 30000 */
	uint32_t ma_hold_ms; /* messaging association hold time; 0 = 180000 */
	size_t datagram_max; /* larger NSLP data goes over C-mode; 0 = 1200 */
	bool icmp_last_node; /* listen for ICMP port unreachable; default true in
	                        gist_config_defaults() */
	bool router_alert;   /* send IPv4 Queries with the Router Alert option
	                        (option 148 value 0); default false. */
	bool router_alert6;  /* send IPv6 Queries with a hop-by-hop Router Alert
	                        option (value = NSLPID; needs CAP_NET_RAW, else
	                        left out); default true in gist_config_defaults():
	                        NSIS-ka intercepts IPv6 Queries only with it. Our
	                        own interception never depends on it. */
};

/* Fills *cfg with the defaults. */
void gist_config_defaults(struct gist_config *cfg);

/* Creates a GIST node on loop. Returns 0 or a negative errno with the reason
 * in err (port in use, no NFQUEUE, ...). */
int gist_node_new(struct evloop *loop, const struct gist_config *cfg, struct gist_node **ret,
                  char *err, size_t errlen);

/* Closes sockets, drops all state; NULL allowed. Returns NULL. */
struct gist_node *gist_node_free(struct gist_node *n);

/* Registers an NSLP: messages for nslpid are delivered to recv, outcomes of
 * sends to status. Queries for NSLPIDs nobody registered are relayed
 * unchanged. Returns 0 or -EEXIST. */
int gist_register(struct gist_node *n, uint16_t nslpid, gist_recv_fn *recv, gist_status_fn *status,
                  void *ctx);

/* SendMessage: sends NSLP data along `flow` (downstream toward flow->dst, or
 * upstream toward flow->src when flow->upstream) to the next GIST node that
 * runs nslpid, discovering it (Query/Response/Confirm) if there is no
 * routing state, reusing it otherwise; messages over datagram_max go over
 * a messaging association (C-mode) when one can be had (only the querying
 * side opens them), else as one IP-fragmented datagram. Upstream sends use
 * the routing state made when the session's first message arrived. The data
 * is 4..16380 bytes, a multiple of 4 (the NSLP pads its own data). Stores a
 * handle for the status callback in *handle; the status is always reported
 * later from the event loop, never from inside gist_send(). Returns 0 or a
 * negative errno with the reason in err (-ENOENT: NSLPID not registered or
 * no routing state upstream; -EINVAL: bad flow or length; -EMSGSIZE: over
 * 16380 bytes; -ENOBUFS: too many messages waiting for a discovery). */
int gist_send(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
              const struct gist_flow *flow, const uint8_t *data, size_t len, uint32_t *handle,
              char *err, size_t errlen);

/* Makes a new random Session ID. */
void gist_new_sid(uint8_t sid[16]);

/* Counters for status, metrics and tests. */
#define GIST_STATS_TYPES 6 /* Query, Response, Confirm, Data, Error, MA-Hello */
struct gist_stats {
	uint64_t queries_sent, queries_received, queries_relayed, responses, confirms;
	uint64_t data_sent, data_received, errors_sent, errors_received;
	uint64_t retransmissions, last_node_icmp, last_node_timeout, routing_states;
	uint64_t mas_open;       /* messaging associations now (connecting ones too) */
	uint64_t mas_connecting; /* ... of which the TCP connect has not finished */
	/* Messages by type (the wire's numbers, 0 = Query ... 5 = MA-Hello): sent
	 * (handed to UDP, or queued on a messaging association) and received
	 * (decoded). */
	uint64_t sent[GIST_STATS_TYPES], received[GIST_STATS_TYPES];
};
void gist_get_stats(const struct gist_node *n, struct gist_stats *ret);
