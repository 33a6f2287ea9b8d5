/* The GIST node's internals (see gist_api.h for the service, docs/gist.md for
 * the design), shared by its files:
 *
 *   gist_node.c       lifecycle, registrations, UDP sockets, ICMP errors, status queue
 *   gist_out.c        building and sending messages (UDP with the magic number, over MAs)
 *   gist_input.c      what arrives: Query, Response, Confirm, Data, Error, MA-Hello
 *   gist_routing.c    routing state: table, timers (retransmission, refresh, expiry)
 *   gist_query.c      the querying side of the handshake, gist_send()
 *   gist_cookie.c     the stateless Responder-Cookie
 *   gist_ma.c         C-mode messaging associations over TCP
 *   gist_intercept.c  Queries intercepted through NFQUEUE; the IP/UDP parser
 *
 * Nothing here logs; everything runs on the node's event loop. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gist/gist_api.h"
#include "gist/gist_wire.h"
#include "lib/errbuf.h"

struct evloop_timer;
struct nfq_loop;
struct gist_ma;

#define GIST_QCOOKIE_LEN   8   /* our Query-Cookies: random, new per transmission */
#define GIST_RCOOKIE_LEN   32  /* our Responder-Cookies, see gist_cookie.c */
#define GIST_MAX_QCOOKIES  8   /* cookies of one discovery that a Response may echo */
#define GIST_PI_MAX        255 /* Peer Identity bytes in an NLI */
#define GIST_NLI_TTL       64  /* IP-TTL we put in Query, Confirm and Data NLIs */
#define GIST_QUEUE_MAX     64  /* NSLP messages waiting for a discovery, per state */
#define GIST_QUEUE_BYTES   (1u << 20)
#define GIST_MA_WQ_MAX     (4u << 20) /* unsent bytes on one MA before sends fail */
#define GIST_IDLE_REFRESH  4          /* refresh periods without NSLP use: state dropped */
#define GIST_RS_BUCKETS    256
#define GIST_UDP_MAX       65507
#define GIST_MIN_VALIDITY  1000  /* ms: we never expire routing state faster than this */
#define GIST_COOKIE_PERIOD 30000 /* ms between secret rotations (two are valid) */
#define GIST_MA_BAD        8     /* remembered failed MA ports */

/* ---- registrations and status events ---------------------------------------- */

struct gist_reg {
	struct gist_reg *next;
	uint16_t nslpid;
	gist_recv_fn *recv;
	gist_status_fn *status;
	void *ctx;
};

/* A status waiting to be reported (always from a zero-delay timer, never from
 * inside the gist_send() that caused it). */
struct gist_status_ev {
	struct gist_status_ev *next;
	uint16_t nslpid;
	uint32_t handle;
	enum gist_status status;
	char how[64];
};

/* ---- cookies (gist_cookie.c) ------------------------------------------------- */

struct gist_cookie_ctx {
	uint8_t secret[2][32]; /* secret[gen & 1] is current, the other the previous */
	uint32_t gen;
	uint64_t rotated_at;
	uint32_t period_ms;
};

/* What a Responder-Cookie binds: the Query's MRI (as sent, D = 0), SID,
 * NSLPID and the querier's NLI (Peer Identity, interface address), plus what
 * the responder wants back at the Confirm without keeping state: the incoming
 * interface, the Query's UDP source port, its GIST hop count and IP TTL. */
struct gist_cookie_in {
	uint16_t nslpid;
	const uint8_t *sid;
	const struct gist_mri *mri;
	const struct gist_nli *nli;
	uint16_t ifindex;
	uint16_t port;
	uint8_t hops;
	uint8_t ttl;
};

void gist_cookie_init(struct gist_cookie_ctx *c, uint32_t period_ms, uint64_t now);
/* Writes a GIST_RCOOKIE_LEN-byte cookie for *in (rotating the secret when due). */
void gist_cookie_make(struct gist_cookie_ctx *c, uint64_t now, const struct gist_cookie_in *in,
                      uint8_t out[GIST_RCOOKIE_LEN]);
/* Checks a cookie echoed in a Confirm against in->nslpid, sid, mri, nli; fills
 * in->ifindex, port, hops and ttl from it. Returns 0, -EBADMSG (wrong length,
 * forged or for other contents) or -ESTALE (made with a secret rotated out). */
int gist_cookie_check(struct gist_cookie_ctx *c, uint64_t now, struct gist_cookie_in *in,
                      const uint8_t *cookie, size_t len);

/* ---- routing state (gist_routing.c) ----------------------------------------- */

/* A neighbour as routing state records it. */
struct gist_peer {
	bool valid;
	struct sockaddr_storage addr; /* D-mode: its NLI interface address and UDP port */
	uint8_t id[GIST_PI_MAX];      /* Peer Identity from its NLI */
	uint8_t id_len;
	uint32_t rs_validity; /* ms, from its NLI */
	uint16_t tcp_port;    /* its C-mode port from a Stack-Configuration-Data; 0: unknown */
	struct gist_ma *ma;   /* the messaging association in use (a reference), or NULL */
	uint64_t expires;     /* upstream: when the state lapses without a refresh */
};

/* An NSLP message waiting for a discovery to finish. */
struct gist_qmsg {
	struct gist_qmsg *next;
	uint32_t handle;
	size_t len;
	uint8_t data[];
};

enum gist_down {
	GIST_DOWN_NONE = 0,    /* no downstream peer known */
	GIST_DOWN_ESTABLISHED, /* down is the next node of this NSLPID */
	GIST_DOWN_LAST,        /* no further node: remembered until down_until */
};

/* Routing state for (MRI, NSLPID, SID): the peer upstream (from a Confirm)
 * and downstream (from a Response to our Query). */
struct gist_rs {
	struct gist_rs *next; /* hash chain */
	struct gist_node *node;
	uint32_t hash;
	uint16_t nslpid;
	uint8_t sid[GIST_SID_LEN];
	struct gist_mri mri; /* the flow, D = 0 */
	uint8_t key[GIST_MRI_MAX_LEN];
	uint8_t key_len;

	struct gist_peer up;
	bool up_first;         /* the next NSLP data from upstream is the session's first */
	uint8_t q_hops, q_ttl; /* GIST hops and IP TTL of the Query behind `up` */

	struct gist_peer down;
	enum gist_down down_state;
	bool querying;   /* a Query is out (first discovery or refresh) */
	bool cmode;      /* ... proposing C-mode (Stack-Proposal) */
	bool need_cmode; /* a queued message needs C-mode that the Query did not propose */
	uint8_t qc[GIST_MAX_QCOOKIES][GIST_QCOOKIE_LEN];
	unsigned n_qc;    /* cookies sent in this discovery (the last GIST_MAX_QCOOKIES kept) */
	uint32_t retx_ms; /* the current back-off interval */
	uint64_t retx_at;
	uint64_t refresh_at;
	uint64_t down_until; /* GIST_DOWN_LAST: forgotten then */
	uint64_t last_used;  /* NSLP sent or received on this state */
	struct gist_qmsg *queue, **queue_tail;
	unsigned n_queue;
	size_t queue_bytes;

	struct evloop_timer *timer;
	uint64_t timer_at;
};

/* The key of a flow: its MRI with D cleared, canonical bytes. */
int gist_rs_key(const struct gist_mri *mri, uint8_t key[GIST_MRI_MAX_LEN], uint8_t *key_len);
struct gist_rs *gist_rs_find(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
                             const struct gist_mri *mri);
/* Finds or creates; NULL on allocation failure. */
struct gist_rs *gist_rs_get(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16],
                            const struct gist_mri *mri);
/* Any state of the session (nslpid, sid) with a valid upstream peer. */
struct gist_rs *gist_rs_find_up(struct gist_node *n, uint16_t nslpid, const uint8_t sid[16]);
/* Re-arms the state's timer for its next event (and frees it, later, when empty). */
void gist_rs_arm(struct gist_rs *rs);
void gist_rs_free_all(struct gist_node *n);
/* Sets a peer's messaging association, keeping the references right. */
void gist_peer_set_ma(struct gist_peer *p, struct gist_ma *ma);
void gist_peer_clear(struct gist_peer *p);

/* Helpers of gist_routing.c and gist_query.c. */
void gist_rs_queue_fail(struct gist_rs *rs, enum gist_status st, const char *how);
void gist_rs_down_drop(struct gist_rs *rs);
uint32_t gist_rs_refresh_period(const struct gist_rs *rs);
int gist_rs_send_query(struct gist_rs *rs);
void gist_rs_query_start(struct gist_rs *rs);
/* The back-off interval that just ended was the last one. */
void gist_rs_query_timeout(struct gist_rs *rs);

/* The querying side (gist_query.c), driven by gist_input.c. */
void gist_rs_response(struct gist_rs *rs, const struct gist_msg *m,
                      const struct sockaddr_storage *from, struct gist_ma *ma);
/* How a discovery found that no further node runs the NSLPID (for the stats). */
enum gist_ln_why {
	GIST_LN_ICMP,    /* ICMP port unreachable from the flow's destination */
	GIST_LN_TIMEOUT, /* the back-off ran out */
	GIST_LN_ERROR,   /* an Error message: Endpoint Found, Unknown NSLPID */
};
/* The discovery ended with no further node (how: "icmp port unreachable",
 * "endpoint found", ...). */
void gist_rs_last_node(struct gist_rs *rs, const char *how, enum gist_ln_why why);
/* The discovery failed (an error from the network or a peer). */
void gist_rs_failed(struct gist_rs *rs, const char *how);
/* Whether one of this discovery's Query-Cookies is c. */
bool gist_rs_qcookie_ok(const struct gist_rs *rs, struct gist_bytes c);
/* A messaging association closed: unbind it from every state; failed_new:
 * it died before the peer took what we sent (the Confirm among it), so the
 * states that opened it lose their downstream peer too. */
void gist_rs_ma_gone(struct gist_node *n, struct gist_ma *ma, bool failed_new);
/* A peer's D-mode address stopped answering (ICMP port unreachable): forget it. */
void gist_rs_peer_gone(struct gist_node *n, const struct sockaddr_storage *addr);
/* Calls fn for each routing state (fn may not free states). */
void gist_rs_foreach(struct gist_node *n, void (*fn)(struct gist_rs *rs, void *ctx), void *ctx);

/* ---- messaging associations (gist_ma.c) -------------------------------------- */

int gist_ma_listen(struct gist_node *n, char *err, size_t errlen);
/* An open (or opening) MA to peer (address and TCP port): an existing one, or
 * a new connection. Returns 0 and *ret (not referenced: use gist_peer_set_ma),
 * or a negative errno. */
int gist_ma_open(struct gist_node *n, const struct sockaddr_storage *peer, struct gist_ma **ret);
/* Encodes m (without magic number) and queues it on the MA; with a handle,
 * reports GIST_SENT when the kernel took it and GIST_FAILED if the MA dies
 * first. Returns 0 or a negative errno (-ENOBUFS: too much unsent). */
int gist_ma_send(struct gist_ma *ma, struct gist_msg *m, uint16_t nslpid, uint32_t handle,
                 char *err, size_t errlen);
void gist_ma_ref(struct gist_ma *ma);
void gist_ma_unref(struct gist_ma *ma);
bool gist_ma_usable(const struct gist_ma *ma);
/* The node's messaging associations whose TCP connect is not done yet. */
uint64_t gist_ma_connecting(const struct gist_node *n);
/* Records what a Stack-Configuration-Data said about the peer's hold time
 * and a Peer Identity for the MA. */
void gist_ma_peer_info(struct gist_ma *ma, uint32_t hold_ms);
const struct sockaddr_storage *gist_ma_peer(const struct gist_ma *ma);
void gist_ma_close_all(struct gist_node *n);
/* A peer's (address, TCP port) whose new MA failed: not used for C-mode for a
 * while, so the next attempt goes D-mode. */
void gist_ma_bad_add(struct gist_node *n, const struct sockaddr_storage *peer);
bool gist_ma_bad(struct gist_node *n, const struct sockaddr_storage *peer);
void gist_ma_reap(struct gist_node *n);

/* ---- interception (gist_intercept.c) ---------------------------------------- */

/* An IPv4 or IPv6 packet carrying UDP, as the parser sees it. */
struct gist_ippkt {
	int family; /* AF_INET, AF_INET6 */
	uint8_t src[16], dst[16];
	uint8_t ttl; /* TTL / hop limit */
	bool rao;    /* IPv4 option 148 or IPv6 hop-by-hop option 5 present */
	uint16_t rao_value;
	size_t udp_off;     /* the UDP header */
	size_t payload_off; /* the UDP payload */
	size_t payload_len; /* per the UDP length field */
	uint16_t sport, dport;
	uint16_t csum; /* the UDP checksum as found (0: none, IPv4 only) */
};

/* Parses an IP packet (IPv4 with options; IPv6 with hop-by-hop, routing and
 * destination options headers; a first fragment with its UDP header whole is
 * refused too: -EPROTONOSUPPORT). Returns 0, -EMSGSIZE (truncated),
 * -EBADMSG (inconsistent) or -EPROTONOSUPPORT (not UDP, a fragment, not IP). */
int gist_ip_parse(const uint8_t *pkt, size_t len, struct gist_ippkt *p);
/* Rewrites the GIST hop count of the Q-mode message in the packet and patches
 * the UDP checksum (incrementally). Returns 0 or -EMSGSIZE / -EPROTO. */
int gist_ip_set_hops(uint8_t *pkt, size_t len, const struct gist_ippkt *p, uint8_t hops);
/* Computes the UDP checksum of the packet from scratch (for tests). */
uint16_t gist_ip_udp_csum(const uint8_t *pkt, const struct gist_ippkt *p);

int gist_intercept_open(struct gist_node *n, char *err, size_t errlen);
void gist_intercept_close(struct gist_node *n);

/* Extracts the MRI, SID and Query-Cookie of a Query that may be truncated
 * (as an ICMP error quotes it). Returns 0 with what was found in *found
 * (GIST_BIT(GIST_OBJ_MRI | SID | QCOOKIE)), or a negative errno if not even
 * the common header is there. */
int gist_quoted_query(const uint8_t *buf, size_t len, struct gist_hdr *hdr, struct gist_mri *mri,
                      uint8_t sid[GIST_SID_LEN], struct gist_bytes *qcookie, uint32_t *found);

/* ---- the node ---------------------------------------------------------------- */

/* How a message arrived. */
struct gist_rx {
	enum gist_transport transport;
	struct sockaddr_storage src; /* IP source and UDP/TCP port */
	uint8_t ttl;                 /* IP TTL / hop limit as received; 0: unknown */
	int ifindex;
	bool intercepted;
	struct gist_ma *ma; /* TCP: the MA it came over */
};

struct gist_node {
	struct evloop *loop;
	struct gist_config cfg;
	char node_id[65];
	uint8_t pi[64];
	uint8_t pi_len;
	uint16_t port; /* our D-mode port (ephemeral when querier_only) */
	int udp4, udp6;
	int tcp4, tcp6;
	int route4, route6; /* UDP sockets for source-address look-ups */
	bool no_hbh;        /* IPv6 Router Alert refused (no CAP_NET_RAW) */
	struct nfq_loop *nfq;
	struct gist_reg *regs;
	struct gist_rs *rs[GIST_RS_BUCKETS];
	struct gist_ma *mas;     /* open and opening MAs */
	struct gist_ma *ma_dead; /* closed, freed from the deferred timer */
	struct {
		struct sockaddr_storage addr;
		uint64_t until;
	} ma_bad[GIST_MA_BAD];
	unsigned ma_bad_next;
	struct gist_status_ev *st_head, **st_tail;
	struct evloop_timer *defer;
	struct gist_cookie_ctx cookie;
	uint32_t next_handle;
	struct gist_stats st;
	uint8_t rxbuf[65536];
	uint8_t txbuf[GIST_UDP_MAX + 1];
};

struct gist_reg *gist_reg_find(const struct gist_node *n, uint16_t nslpid);
uint32_t gist_new_handle(struct gist_node *n);
/* Queues a status report (delivered from a zero-delay timer). */
void gist_status_push(struct gist_node *n, uint16_t nslpid, uint32_t handle,
                      enum gist_status status, const char *how);
/* Makes sure the deferred work (status reports, freeing) runs soon. */
void gist_defer(struct gist_node *n);

/* gist_input.c: one whole message from UDP (magic optional), TCP or NFQUEUE. */
void gist_input(struct gist_node *n, const uint8_t *buf, size_t len, const struct gist_rx *rx);
/* Hands NSLP data to the registered NSLP. */
void gist_deliver(struct gist_node *n, struct gist_rs *rs, const struct gist_msg *m,
                  const struct gist_rx *rx, const struct gist_peer *peer, bool first);
/* An ICMP port unreachable about a message we sent to dst (address, port),
 * reported by offender, quoting payload. */
void gist_icmp_unreachable(struct gist_node *n, const struct sockaddr_storage *dst,
                           const struct sockaddr_storage *offender, const uint8_t *payload,
                           size_t len);

/* gist_out.c */
void gist_sa_set(struct sockaddr_storage *ss, int family, const uint8_t *addr, uint16_t port);
int gist_sa_family(const struct sockaddr_storage *ss);
const uint8_t *gist_sa_addr(const struct sockaddr_storage *ss); /* 4 or 16 bytes */
uint16_t gist_sa_port(const struct sockaddr_storage *ss);
bool gist_sa_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
bool gist_sa_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b);
socklen_t gist_sa_len(const struct sockaddr_storage *ss);
/* Our NLI toward `to` (the interface address the kernel would use). */
int gist_nli_toward(struct gist_node *n, const struct sockaddr_storage *to, uint8_t ip_ttl,
                    struct gist_nli *nli);
/* Sends m over UDP to `to` (magic number on), optionally with Router Alert. */
int gist_udp_send(struct gist_node *n, const struct sockaddr_storage *to, struct gist_msg *m,
                  bool router_alert);
/* Sends m to a peer: over its MA if it has a usable one, else D-mode UDP. */
int gist_peer_send(struct gist_node *n, const struct gist_peer *p, struct gist_msg *m,
                   uint16_t nslpid, uint32_t handle, char *err, size_t errlen);
/* Answers a message with the Error *ge: over rx->ma, or UDP to `to` (NULL:
 * rx->src). */
void gist_send_error(struct gist_node *n, const struct gist_rx *rx,
                     const struct sockaddr_storage *to, const struct gist_err *ge);
/* The path-coupled MRI of a flow, and back. */
int gist_flow_to_mri(const struct gist_flow *f, struct gist_mri *mri);
void gist_mri_to_flow(const struct gist_mri *mri, struct gist_flow *f);
/* Drains a UDP socket's error queue (ICMP errors). */
void gist_drain_errqueue(struct gist_node *n, int fd);
