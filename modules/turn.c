/* turn: the Media Relay, a TURN server module (RFC 8656; RFC 5766 clients)
 * with STUN Binding (RFC 8489), over UDP and TCP (STUN and ChannelData
 * framed on the stream; no RFC 6062 TCP relaying), IPv4 and IPv6.
 *
 *   - Allocate: a UDP relayed transport address, one UDP socket on a port of
 *     the relay_ports range (each a listen port of the publisher);
 *     Refresh, CreatePermission, ChannelBind, Send/Data indications,
 *     ChannelData; lifetimes: allocation 600 s by default (at most
 *     max_lifetime), permissions 300 s, channels 600 s, swept every second;
 *   - long-term credentials (RFC 8489 §9.2): REALM and a NONCE that expires
 *     (401, 438), MESSAGE-INTEGRITY (and MESSAGE-INTEGRITY-SHA256 when the
 *     client sent one), static users and/or coturn's "use-auth-secret"
 *     (TURN REST): username "EXPIRY[:user]", password
 *     base64(HMAC-SHA1(secret, username)), refused once EXPIRY (Unix
 *     seconds) has passed;
 *   - quotas: max_allocations for the module (486), a per-allocation
 *     bandwidth (bytes/s, both directions, excess dropped);
 *   - counters (they live in the node and survive restarts of the module):
 *     allocations (made), relayed packets and bytes each way, auth_failures, stale_nonces,
 * quota_refusals, permission_drops, bandwidth_drops, malformed, bindings.
 *
 * Peers are arbitrary addresses: a datagram from a relay socket to a peer
 * that has not sent to it first is checked by the node against the
 * publisher's connect_destinations, which must cover the peers
 * (docs/apps.md). State lives in the module's memory: a restart of the
 * container loses the allocations and the clients allocate again.
 *
 * Properties:
 *   port            client port, UDP and TCP, IPv4 and IPv6 (3478)
 *   relay_ports     LO-HI, the relayed transport addresses' ports (49152-49407)
 *   relay_ip4       the IPv4 address given as XOR-RELAYED-ADDRESS; without
 *                   it, the node's address toward the client (the local
 *                   address of a TCP client's connection; for UDP, of a
 *                   socket connected to the client, which needs the client
 *                   inside connect_destinations)
 *   relay_ip6       the same for IPv6
 *   relay_toward    an address (e.g. the publisher's): without relay_ip4/6,
 *                   the relayed address of that family is the node's address
 *                   toward it (the source its relay sockets' datagrams to
 *                   peers across the network take); it must be inside
 *                   connect_destinations
 *   realm           (netserv)
 *   users           "name:password name:password ..." (static long-term users)
 *   secret          the TURN REST shared secret (coturn's static-auth-secret)
 *   nonce_lifetime  seconds (600)
 *   max_lifetime    seconds (3600)
 *   max_allocations (256, at most 1024)
 *   bandwidth       bytes/s per allocation, 0 = unlimited (0)
 *   tcp             listen for TCP clients too (yes) */
#include "stun.h"

#define MAX_ALLOCS    1024
#define MAX_PERMS     16
#define MAX_CHANS     16
#define MAX_SOCK      4096
#define MAX_CONNS     256
#define CONN_BUF      4096
#define HASH_SIZE     1024
#define DEF_LIFETIME  600
#define PERM_LIFETIME 300
#define CHAN_LIFETIME 600
#define RX_OFF        64 /* relayed data is read here: room for headers before it */
#define SOFTWARE      "netserv-turn"
#define TIMER_SWEEP   0
#define MAX_USERS     16

enum role { R_NONE, R_UDP_LISTEN, R_TCP_LISTEN, R_TCP_CONN, R_RELAY };

struct perm {
	uint32_t family;
	uint8_t addr[16];
	uint64_t expires_ms; /* 0: free */
};

struct chan {
	uint16_t num; /* 0: free */
	struct ns_sockaddr peer;
	uint64_t expires_ms;
};

struct alloc {
	bool used;
	bool tcp;      /* the client came over TCP (sock is its connection) */
	int32_t sock;  /* UDP: the listener the client sends to; TCP: the connection */
	int32_t relay; /* the relay socket */
	int32_t next;  /* hash chain (-1) */
	struct ns_sockaddr client, relayed;
	uint64_t expires_ms;
	uint8_t tid[STUN_TID_LEN]; /* of the Allocate, for its retransmissions */
	uint8_t key[NS_MD5_LEN];
	uint8_t ulen;
	char user[128];
	uint64_t tokens, tok_ms; /* bandwidth bucket */
	struct perm perms[MAX_PERMS];
	struct chan chans[MAX_CHANS];
};

struct conn {
	bool used;
	uint32_t rlen;       /* bytes in rx */
	uint32_t toff, tlen; /* unsent bytes in tx */
	struct ns_sockaddr peer;
	uint8_t rx[CONN_BUF];
	uint8_t tx[CONN_BUF];
};

struct user {
	char name[64];
	char pass[64];
};

static struct alloc allocs[MAX_ALLOCS];
static int32_t hash_head[HASH_SIZE];
static uint8_t sock_role[MAX_SOCK];
static int16_t sock_alloc[MAX_SOCK]; /* relay socket -> allocation */
static int16_t sock_conn[MAX_SOCK];  /* TCP connection -> conns[] */
static struct conn conns[MAX_CONNS];
static struct user users[MAX_USERS];
static uint32_t n_users, n_allocs;

static uint16_t cfg_port, relay_lo, relay_hi, relay_next;
static bool have_ip4, have_ip6;
static uint8_t relay_ip4[4], relay_ip6[16];
static struct ns_sockaddr toward; /* relay_toward: family 0 if none */
static char realm[128], secret[256];
static uint32_t realm_len, secret_len;
static uint32_t nonce_lifetime, max_lifetime, max_allocs, bandwidth;
static uint8_t nonce_key[NS_SHA1_LEN];

static uint8_t rxbuf[RX_OFF + 65536];
static uint8_t txbuf[65536 + 256];

/* Counters: added up per event and flushed at its end. */
enum {
	C_ALLOCS,
	C_TO_PEER_PKTS,
	C_TO_PEER_BYTES,
	C_TO_CLIENT_PKTS,
	C_TO_CLIENT_BYTES,
	C_AUTH_FAIL,
	C_STALE,
	C_QUOTA,
	C_PERM_DROPS,
	C_BW_DROPS,
	C_MALFORMED,
	C_BINDINGS,
	C_SEND_ERRORS,
	C_N
};
static const char *const counter_names[C_N] = {
        "allocations",      "to_peer_packets", "to_peer_bytes", "to_client_packets",
        "to_client_bytes",  "auth_failures",   "stale_nonces",  "quota_refusals",
        "permission_drops", "bandwidth_drops", "malformed",     "bindings",
        "send_errors"};
static int32_t counter_id[C_N];
static int64_t pending[C_N];

static inline void count(int c, int64_t n)
{
	pending[c] += n;
}

static void flush_counters(void)
{
	for (int i = 0; i < C_N; i++)
		if (pending[i]) {
			ns_counter_add(counter_id[i], (uint64_t)pending[i]);
			pending[i] = 0;
		}
}

/* The monotonic clock in ms, read once per event (an import call saved per
 * datagram; an event handles at most 256 of them per socket). */
static uint64_t ev_now;

static uint64_t now_ms(void)
{
	return ev_now;
}

/* --- helpers ---------------------------------------------------------------- */

static bool addr_eq(const struct ns_sockaddr *a, const struct ns_sockaddr *b)
{
	return a->family == b->family && a->port == b->port &&
	       ns_memcmp(a->addr, b->addr, a->family == NS_IPV6 ? 16 : 4) == 0;
}

static uint32_t addr_hash(int32_t sock, const struct ns_sockaddr *a)
{
	uint32_t h = 2166136261u ^ (uint32_t)sock;
	for (int i = 0; i < 16; i++)
		h = (h ^ a->addr[i]) * 16777619u;
	h = (h ^ a->port) * 16777619u;
	return h % HASH_SIZE;
}

static uint32_t base64(char *out, const uint8_t *in, uint32_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t o = 0;
	for (uint32_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	return o;
}

/* --- nonces: stateless, "EXPIRY(8 hex)" + HMAC(nonce_key, expiry, client) ---- */

#define NONCE_LEN 24

static void make_nonce(char out[NONCE_LEN], uint32_t expiry, const struct ns_sockaddr *client)
{
	uint8_t in[4 + 16], mac[NS_HASH_MAX], e[4];
	ns_put_be32(e, expiry);
	ns_hex(out, e, 4);
	ns_memcpy(in, e, 4);
	ns_memcpy(in + 4, client->addr, 16);
	ns_hmac(NS_SHA1, nonce_key, sizeof(nonce_key), in, sizeof(in), mac);
	ns_hex(out + 8, mac, 8);
}

/* 1: valid, 0: stale (well formed, expired), -1: not ours */
static int check_nonce(const struct stun_attr *a, const struct ns_sockaddr *client)
{
	if (a->len != NONCE_LEN)
		return -1;
	uint32_t expiry = 0;
	for (int i = 0; i < 8; i++) {
		char c = (char)a->val[i];
		uint32_t v = c >= '0' && c <= '9'   ? (uint32_t)(c - '0')
		             : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
		                                    : 99;
		if (v > 15)
			return -1;
		expiry = expiry << 4 | v;
	}
	char want[NONCE_LEN];
	make_nonce(want, expiry, client);
	if (!ns_ct_equal(want, a->val, NONCE_LEN))
		return -1;
	return (uint64_t)expiry * 1000 > ns_time_ms() ? 1 : 0;
}

/* --- sending to clients ------------------------------------------------------ */

static void conn_close(int32_t id);

/* Sends a STUN message or ChannelData frame to the client of a UDP listener
 * or TCP connection. Over TCP what the kernel does not take waits in the
 * connection's buffer; when that is full the datagram is dropped (as UDP
 * would). */
static bool to_client(bool tcp, int32_t sock, const struct ns_sockaddr *client, const uint8_t *p,
                      uint32_t n)
{
	if (!tcp) {
		int32_t r = ns_sock_send((uint32_t)sock, p, n, client);
		if (r < 0)
			count(C_SEND_ERRORS, 1);
		return r >= 0;
	}
	if (sock < 0 || sock >= MAX_SOCK || sock_conn[sock] < 0)
		return false;
	struct conn *c = &conns[sock_conn[sock]];
	uint32_t sent = 0;
	if (c->tlen == 0) {
		int32_t r = ns_sock_send((uint32_t)sock, p, n, 0);
		if (r < 0 && r != -NS_EAGAIN) {
			conn_close(sock);
			return false;
		}
		sent = r > 0 ? (uint32_t)r : 0;
		if (sent == n)
			return true;
	}
	if (c->toff + c->tlen + (n - sent) > CONN_BUF) {
		if (c->toff) {
			ns_memmove(c->tx, c->tx + c->toff, c->tlen);
			c->toff = 0;
		}
		if (c->tlen + (n - sent) > CONN_BUF) {
			if (sent) { /* a frame cut in the middle: the stream is broken */
				conn_close(sock);
				return false;
			}
			count(C_SEND_ERRORS, 1);
			return false;
		}
	}
	ns_memcpy(c->tx + c->toff + c->tlen, p + sent, n - sent);
	c->tlen += n - sent;
	return true;
}

/* --- allocations ------------------------------------------------------------- */

static int32_t alloc_find(bool tcp, int32_t sock, const struct ns_sockaddr *client)
{
	for (int32_t i = hash_head[addr_hash(sock, client)]; i >= 0; i = allocs[i].next)
		if (allocs[i].sock == sock && allocs[i].tcp == tcp &&
		    addr_eq(&allocs[i].client, client))
			return i;
	return -1;
}

static void alloc_free(int32_t i)
{
	struct alloc *a = &allocs[i];
	int32_t *pp = &hash_head[addr_hash(a->sock, &a->client)];
	while (*pp >= 0 && *pp != i)
		pp = &allocs[*pp].next;
	if (*pp == i)
		*pp = a->next;
	if (a->relay >= 0) {
		ns_sock_close((uint32_t)a->relay);
		sock_role[a->relay] = R_NONE;
		sock_alloc[a->relay] = -1;
	}
	a->used = false;
	n_allocs--;
}

/* Opens a relay socket on a free port of the range. */
static int32_t relay_open(uint32_t family, bool even, uint16_t *port)
{
	uint32_t span = (uint32_t)(relay_hi - relay_lo) + 1;
	for (uint32_t k = 0; k < span; k++) {
		uint16_t p = relay_next;
		relay_next = relay_next >= relay_hi ? relay_lo : (uint16_t)(relay_next + 1);
		if (even && (p & 1))
			continue;
		int32_t s = ns_sock_listen(NS_SOCK_UDP, family, p);
		if (s == -NS_EADDRINUSE)
			continue;
		if (s < 0)
			return s;
		if (s >= MAX_SOCK) {
			ns_sock_close((uint32_t)s);
			return -NS_EMFILE;
		}
		*port = p;
		return s;
	}
	return -NS_EADDRINUSE;
}

static struct perm *perm_find(struct alloc *a, const struct ns_sockaddr *peer, uint64_t now)
{
	for (int i = 0; i < MAX_PERMS; i++) {
		struct perm *p = &a->perms[i];
		if (p->expires_ms > now && p->family == peer->family &&
		    ns_memcmp(p->addr, peer->addr, 16) == 0)
			return p;
	}
	return 0;
}

static bool perm_add(struct alloc *a, const struct ns_sockaddr *peer, uint64_t now)
{
	struct perm *p = perm_find(a, peer, now);
	for (int i = 0; !p && i < MAX_PERMS; i++)
		if (a->perms[i].expires_ms <= now)
			p = &a->perms[i];
	if (!p)
		return false;
	p->family = peer->family;
	ns_memcpy(p->addr, peer->addr, 16);
	p->expires_ms = now + PERM_LIFETIME * 1000u;
	return true;
}

/* Token bucket: whether n more bytes may pass. */
static bool bw_ok(struct alloc *a, uint32_t n, uint64_t now)
{
	if (!bandwidth)
		return true;
	if (now > a->tok_ms) {
		a->tokens += (now - a->tok_ms) * bandwidth / 1000u;
		if (a->tokens > bandwidth)
			a->tokens = bandwidth;
		a->tok_ms = now;
	}
	if (a->tokens < n) {
		count(C_BW_DROPS, 1);
		return false;
	}
	a->tokens -= n;
	return true;
}

/* --- requests ------------------------------------------------------------------ */

/* What the handling of one request knows. */
struct req {
	bool tcp;
	int32_t sock;
	struct ns_sockaddr client;
	struct stun_msg *m;
	bool authed;
	bool sha256; /* the client used MESSAGE-INTEGRITY-SHA256 */
	uint8_t key[NS_MD5_LEN];
	const uint8_t *user;
	uint16_t ulen;
};

static void respond_finish(struct req *r, struct stun_builder *b)
{
	if (r->authed) {
		if (r->sha256)
			stun_put_integrity_sha256(b, r->key, NS_MD5_LEN);
		else
			stun_put_integrity(b, r->key, NS_MD5_LEN);
	}
	stun_put_fingerprint(b);
	int32_t n = stun_end(b);
	if (n > 0)
		to_client(r->tcp, r->sock, &r->client, b->buf, (uint32_t)n);
}

static void respond_error(struct req *r, int code, const char *reason, bool with_nonce)
{
	struct stun_builder b;
	stun_begin(&b, txbuf, sizeof(txbuf), r->m->method, STUN_ERROR, r->m->tid);
	stun_put_error(&b, code, reason);
	if (with_nonce) {
		char nonce[NONCE_LEN];
		make_nonce(nonce, (uint32_t)(ns_time_ms() / 1000u) + nonce_lifetime, &r->client);
		stun_put(&b, STUN_A_REALM, realm, realm_len);
		stun_put(&b, STUN_A_NONCE, nonce, NONCE_LEN);
		r->authed = false;
	}
	stun_put(&b, STUN_A_SOFTWARE, SOFTWARE, sizeof(SOFTWARE) - 1);
	respond_finish(r, &b);
}

/* The password of a user (static, or TURN REST). Returns its length, 0 for
 * an expired REST credential, -1 for an unknown user. */
static int32_t password_of(const uint8_t *user, uint32_t ulen, char *out, uint32_t cap)
{
	for (uint32_t i = 0; i < n_users; i++) {
		uint32_t n = ns_strlen(users[i].name);
		if (n == ulen && ns_memcmp(users[i].name, user, n) == 0) {
			n = ns_strlen(users[i].pass);
			if (n >= cap)
				return -1;
			ns_memcpy(out, users[i].pass, n);
			return (int32_t)n;
		}
	}
	if (!secret_len || ulen == 0)
		return -1;
	uint64_t expiry = 0;
	uint32_t i = 0;
	for (; i < ulen && ns_is_digit((char)user[i]); i++) {
		expiry = expiry * 10 + (user[i] - '0');
		if (expiry > 0xffffffffffull)
			return -1;
	}
	if (i == 0 || (i < ulen && user[i] != ':'))
		return -1;
	if (expiry * 1000 <= ns_time_ms())
		return 0;
	uint8_t mac[NS_HASH_MAX];
	if (ns_hmac(NS_SHA1, secret, secret_len, user, ulen, mac) != NS_SHA1_LEN || cap < 29)
		return -1;
	return (int32_t)base64(out, mac, NS_SHA1_LEN);
}

/* The long-term credential check (RFC 8489 §9.2.4). Returns true when the
 * request may go on; otherwise it has been answered. */
static bool authenticate(struct req *r)
{
	struct stun_msg *m = r->m;
	struct stun_attr user, rlm, nonce;
	if (!m->mi_off && !m->mi256_off) {
		respond_error(r, 401, "Unauthorized", true);
		return false;
	}
	if (!stun_find(m, STUN_A_USERNAME, &user) || !stun_find(m, STUN_A_REALM, &rlm) ||
	    !stun_find(m, STUN_A_NONCE, &nonce) || user.len == 0 || user.len > 127) {
		respond_error(r, 400, "Bad Request", false);
		return false;
	}
	int nc = check_nonce(&nonce, &r->client);
	if (nc <= 0 || rlm.len != realm_len || ns_memcmp(rlm.val, realm, realm_len) != 0) {
		if (nc == 0)
			count(C_STALE, 1);
		respond_error(r, 438, "Stale Nonce", true);
		return false;
	}
	char pass[128];
	int32_t plen = password_of(user.val, user.len, pass, sizeof(pass));
	if (plen <= 0 || stun_long_term_key((const char *)user.val, user.len, realm, realm_len,
	                                    pass, (uint32_t)plen, r->key) != NS_MD5_LEN) {
		count(C_AUTH_FAIL, 1);
		respond_error(r, 401, "Unauthorized", true);
		return false;
	}
	bool ok = m->mi256_off ? stun_check_integrity_sha256(m, r->key, NS_MD5_LEN)
	                       : stun_check_integrity(m, r->key, NS_MD5_LEN);
	if (!ok) {
		count(C_AUTH_FAIL, 1);
		respond_error(r, 401, "Unauthorized", true);
		return false;
	}
	r->authed = true;
	r->sha256 = m->mi256_off != 0;
	r->user = user.val;
	r->ulen = user.len;
	return true;
}

/* Unknown comprehension-required attributes: 420 with their list. */
static bool check_unknown(struct req *r)
{
	static const uint16_t known[] = {
	        STUN_A_USERNAME,
	        STUN_A_MESSAGE_INTEGRITY,
	        STUN_A_CHANNEL_NUMBER,
	        STUN_A_LIFETIME,
	        STUN_A_XOR_PEER_ADDRESS,
	        STUN_A_DATA,
	        STUN_A_REALM,
	        STUN_A_NONCE,
	        STUN_A_REQUESTED_ADDRESS_FAMILY,
	        STUN_A_EVEN_PORT,
	        STUN_A_REQUESTED_TRANSPORT,
	        STUN_A_DONT_FRAGMENT,
	        STUN_A_MESSAGE_INTEGRITY_SHA256,
	        STUN_A_PASSWORD_ALGORITHM,
	        STUN_A_USERHASH,
	        STUN_A_XOR_MAPPED_ADDRESS,
	        STUN_A_RESERVATION_TOKEN,
	        STUN_A_ERROR_CODE,
	        0x0010 /* BANDWIDTH (RFC 5766 drafts; coturn's clients send it) */};
	uint8_t unknown[16];
	uint32_t nu = 0, pos = 0;
	struct stun_attr a;
	while (stun_next(r->m, &pos, &a)) {
		if (a.type >= 0x8000)
			continue;
		bool k = false;
		for (uint32_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			k |= known[i] == a.type;
		if (!k && nu < 8) {
			ns_put_be16(unknown + 2 * nu, a.type);
			nu++;
		}
	}
	if (!nu)
		return true;
	struct stun_builder b;
	stun_begin(&b, txbuf, sizeof(txbuf), r->m->method, STUN_ERROR, r->m->tid);
	stun_put_error(&b, 420, "Unknown Attribute");
	stun_put(&b, STUN_A_UNKNOWN_ATTRIBUTES, unknown, 2 * nu);
	respond_finish(r, &b);
	return false;
}

static void do_binding(struct req *r)
{
	struct stun_builder b;
	count(C_BINDINGS, 1);
	stun_begin(&b, txbuf, sizeof(txbuf), STUN_BINDING, STUN_SUCCESS, r->m->tid);
	stun_put_addr(&b, STUN_A_XOR_MAPPED_ADDRESS, &r->client, true);
	stun_put_addr(&b, STUN_A_MAPPED_ADDRESS, &r->client, false);
	stun_put(&b, STUN_A_SOFTWARE, SOFTWARE, sizeof(SOFTWARE) - 1);
	respond_finish(r, &b);
}

static uint32_t lifetime_of(struct stun_msg *m)
{
	uint32_t lt = DEF_LIFETIME;
	if (stun_get_u32(m, STUN_A_LIFETIME, &lt)) {
		if (lt == 0)
			return 0;
		if (lt < DEF_LIFETIME)
			lt = DEF_LIFETIME;
	}
	return lt > max_lifetime ? max_lifetime : lt;
}

static void alloc_success(struct req *r, struct alloc *a)
{
	struct stun_builder b;
	stun_begin(&b, txbuf, sizeof(txbuf), TURN_ALLOCATE, STUN_SUCCESS, r->m->tid);
	stun_put_addr(&b, STUN_A_XOR_RELAYED_ADDRESS, &a->relayed, true);
	uint64_t now = now_ms();
	stun_put_u32(&b, STUN_A_LIFETIME,
	             a->expires_ms > now ? (uint32_t)((a->expires_ms - now + 999) / 1000) : 0);
	stun_put_addr(&b, STUN_A_XOR_MAPPED_ADDRESS, &r->client, true);
	stun_put(&b, STUN_A_SOFTWARE, SOFTWARE, sizeof(SOFTWARE) - 1);
	respond_finish(r, &b);
}

/* The node's address toward `to`: a UDP socket "connected" to it (no
 * datagram is sent) names the address the routing picks; `to` must be
 * inside connect_destinations. */
static bool local_toward(const struct ns_sockaddr *to, uint8_t out[16])
{
	int32_t cs = ns_sock_connect(NS_SOCK_UDP, to);
	if (cs < 0)
		return false;
	struct ns_sockaddr local;
	bool ok = ns_sock_name((uint32_t)cs, &local, 0) == 0;
	ns_memcpy(out, local.addr, 16);
	ns_sock_close((uint32_t)cs);
	return ok;
}

static void do_allocate(struct req *r, int32_t existing)
{
	struct stun_msg *m = r->m;
	if (existing >= 0) {
		struct alloc *a = &allocs[existing];
		if (ns_memcmp(a->tid, m->tid, STUN_TID_LEN) == 0)
			alloc_success(r, a); /* a retransmission */
		else
			respond_error(r, 437, "Allocation Mismatch", false);
		return;
	}
	uint32_t tr;
	if (!stun_get_u32(m, STUN_A_REQUESTED_TRANSPORT, &tr)) {
		respond_error(r, 400, "Bad Request", false);
		return;
	}
	if ((tr >> 24) != NS_IPPROTO_UDP) {
		respond_error(r, 442, "Unsupported Transport Protocol", false);
		return;
	}
	struct stun_attr at;
	uint32_t family = NS_IPV4;
	if (stun_find(m, STUN_A_REQUESTED_ADDRESS_FAMILY, &at)) {
		if (at.len != 4 || (at.val[0] != 1 && at.val[0] != 2)) {
			respond_error(r, 440, "Address Family not Supported", false);
			return;
		}
		family = at.val[0] == 1 ? NS_IPV4 : NS_IPV6;
	}
	if (stun_find(m, STUN_A_RESERVATION_TOKEN, &at)) {
		respond_error(r, 508, "Insufficient Capacity", false);
		return;
	}
	bool even = stun_find(m, STUN_A_EVEN_PORT, &at);
	uint8_t rip[16] = {0};
	bool have = family == NS_IPV4 ? have_ip4 : have_ip6;
	if (have) {
		ns_memcpy(rip, family == NS_IPV4 ? relay_ip4 : relay_ip6,
		          family == NS_IPV4 ? 4 : 16);
	} else if (toward.family == family) {
		have = local_toward(&toward, rip);
	} else if (r->tcp && r->client.family == family) {
		struct ns_sockaddr local;
		have = ns_sock_name((uint32_t)r->sock, &local, 0) == 0;
		ns_memcpy(rip, local.addr, 16);
	} else if (r->client.family == family) {
		have = local_toward(&r->client, rip);
	}
	if (!have) {
		respond_error(r, 440, "Address Family not Supported", false);
		return;
	}
	if (n_allocs >= max_allocs) {
		count(C_QUOTA, 1);
		respond_error(r, 486, "Allocation Quota Reached", false);
		return;
	}
	int32_t i = 0;
	while (i < MAX_ALLOCS && allocs[i].used)
		i++;
	uint16_t port = 0;
	int32_t s = i < MAX_ALLOCS ? relay_open(family, even, &port) : -NS_ENOSPC;
	if (s < 0) {
		respond_error(r, 508, "Insufficient Capacity", false);
		return;
	}
	struct alloc *a = &allocs[i];
	ns_memset(a, 0, sizeof(*a));
	a->used = true;
	a->tcp = r->tcp;
	a->sock = r->sock;
	a->relay = s;
	a->client = r->client;
	a->relayed.family = family;
	a->relayed.port = port;
	ns_memcpy(a->relayed.addr, rip, 16);
	uint32_t lt = lifetime_of(m);
	if (lt == 0)
		lt = DEF_LIFETIME;
	a->expires_ms = now_ms() + (uint64_t)lt * 1000u;
	ns_memcpy(a->tid, m->tid, STUN_TID_LEN);
	ns_memcpy(a->key, r->key, NS_MD5_LEN);
	a->ulen = (uint8_t)r->ulen;
	ns_memcpy(a->user, r->user, r->ulen);
	a->tokens = bandwidth;
	a->tok_ms = now_ms();
	uint32_t h = addr_hash(a->sock, &a->client);
	a->next = hash_head[h];
	hash_head[h] = i;
	sock_role[s] = R_RELAY;
	sock_alloc[s] = (int16_t)i;
	n_allocs++;
	count(C_ALLOCS, 1);
	alloc_success(r, a);
}

/* The request's credentials must be the allocation's (441). */
static bool same_user(struct req *r, struct alloc *a)
{
	if (a->ulen == r->ulen && ns_memcmp(a->user, r->user, r->ulen) == 0)
		return true;
	respond_error(r, 441, "Wrong Credentials", false);
	return false;
}

static void do_refresh(struct req *r, int32_t i)
{
	if (i < 0) {
		respond_error(r, 437, "Allocation Mismatch", false);
		return;
	}
	struct alloc *a = &allocs[i];
	if (!same_user(r, a))
		return;
	uint32_t lt = lifetime_of(r->m);
	struct stun_builder b;
	stun_begin(&b, txbuf, sizeof(txbuf), TURN_REFRESH, STUN_SUCCESS, r->m->tid);
	stun_put_u32(&b, STUN_A_LIFETIME, lt);
	stun_put(&b, STUN_A_SOFTWARE, SOFTWARE, sizeof(SOFTWARE) - 1);
	if (lt == 0)
		alloc_free(i);
	else
		a->expires_ms = now_ms() + (uint64_t)lt * 1000u;
	respond_finish(r, &b);
}

static void do_permission(struct req *r, int32_t i)
{
	if (i < 0) {
		respond_error(r, 437, "Allocation Mismatch", false);
		return;
	}
	struct alloc *a = &allocs[i];
	if (!same_user(r, a))
		return;
	struct ns_sockaddr peers[MAX_PERMS];
	uint32_t n = 0, pos = 0;
	struct stun_attr at;
	while (stun_next(r->m, &pos, &at)) {
		if (at.type != STUN_A_XOR_PEER_ADDRESS)
			continue;
		if (n == MAX_PERMS) {
			respond_error(r, 508, "Insufficient Capacity", false);
			return;
		}
		if (stun_addr_decode(&at, r->m->tid, true, &peers[n]) < 0) {
			respond_error(r, 400, "Bad Request", false);
			return;
		}
		if (peers[n].family != a->relayed.family) {
			respond_error(r, 443, "Peer Address Family Mismatch", false);
			return;
		}
		n++;
	}
	if (n == 0) {
		respond_error(r, 400, "Bad Request", false);
		return;
	}
	uint64_t now = now_ms();
	for (uint32_t k = 0; k < n; k++)
		if (!perm_add(a, &peers[k], now)) {
			respond_error(r, 508, "Insufficient Capacity", false);
			return;
		}
	struct stun_builder b;
	stun_begin(&b, txbuf, sizeof(txbuf), TURN_CREATE_PERMISSION, STUN_SUCCESS, r->m->tid);
	stun_put(&b, STUN_A_SOFTWARE, SOFTWARE, sizeof(SOFTWARE) - 1);
	respond_finish(r, &b);
}

static void do_channel_bind(struct req *r, int32_t i)
{
	if (i < 0) {
		respond_error(r, 437, "Allocation Mismatch", false);
		return;
	}
	struct alloc *a = &allocs[i];
	if (!same_user(r, a))
		return;
	uint32_t cn;
	struct ns_sockaddr peer;
	if (!stun_get_u32(r->m, STUN_A_CHANNEL_NUMBER, &cn) ||
	    stun_get_addr(r->m, STUN_A_XOR_PEER_ADDRESS, &peer) < 0 || (cn >> 16) < STUN_CHAN_MIN ||
	    (cn >> 16) > STUN_CHAN_MAX) {
		respond_error(r, 400, "Bad Request", false);
		return;
	}
	if (peer.family != a->relayed.family) {
		respond_error(r, 443, "Peer Address Family Mismatch", false);
		return;
	}
	uint16_t num = (uint16_t)(cn >> 16);
	uint64_t now = now_ms();
	struct chan *slot = 0;
	for (int k = 0; k < MAX_CHANS; k++) {
		struct chan *c = &a->chans[k];
		if (!c->num || c->expires_ms <= now) {
			if (!slot)
				slot = c;
			continue;
		}
		bool same_num = c->num == num, same_peer = addr_eq(&c->peer, &peer);
		if (same_num != same_peer) {
			respond_error(r, 400, "Bad Request", false);
			return;
		}
		if (same_num)
			slot = c;
	}
	if (!slot || !perm_add(a, &peer, now)) {
		respond_error(r, 508, "Insufficient Capacity", false);
		return;
	}
	slot->num = num;
	slot->peer = peer;
	slot->expires_ms = now + CHAN_LIFETIME * 1000u;
	struct stun_builder b;
	stun_begin(&b, txbuf, sizeof(txbuf), TURN_CHANNEL_BIND, STUN_SUCCESS, r->m->tid);
	stun_put(&b, STUN_A_SOFTWARE, SOFTWARE, sizeof(SOFTWARE) - 1);
	respond_finish(r, &b);
}

/* A Send indication: relayed if the peer has a permission, else dropped. */
static void do_send(struct stun_msg *m, int32_t i)
{
	struct ns_sockaddr peer;
	struct stun_attr d;
	if (i < 0 || stun_get_addr(m, STUN_A_XOR_PEER_ADDRESS, &peer) < 0 ||
	    !stun_find(m, STUN_A_DATA, &d)) {
		count(C_MALFORMED, 1);
		return;
	}
	struct alloc *a = &allocs[i];
	uint64_t now = now_ms();
	if (peer.family != a->relayed.family || !perm_find(a, &peer, now)) {
		count(C_PERM_DROPS, 1);
		return;
	}
	if (!bw_ok(a, d.len, now))
		return;
	if (ns_sock_send((uint32_t)a->relay, d.val, d.len, &peer) < 0) {
		count(C_SEND_ERRORS, 1);
		return;
	}
	count(C_TO_PEER_PKTS, 1);
	count(C_TO_PEER_BYTES, d.len);
}

/* A STUN message from a client (len bytes at p, writable). */
static void client_stun(bool tcp, int32_t sock, const struct ns_sockaddr *client, uint8_t *p,
                        uint32_t len)
{
	struct stun_msg m;
	if (stun_parse(p, len, &m) != STUN_OK || !stun_check_fingerprint(&m)) {
		count(C_MALFORMED, 1); /* dropped, as RFC 8489 §6.3 says */
		return;
	}
	struct req r = {0};
	r.tcp = tcp;
	r.sock = sock;
	r.client = *client;
	r.m = &m;
	int32_t i = alloc_find(tcp, sock, client);
	if (m.cls == STUN_INDICATION) {
		if (m.method == TURN_SEND)
			do_send(&m, i);
		return;
	}
	if (m.cls != STUN_REQUEST)
		return; /* responses are not for a server */
	if (m.method == STUN_BINDING) {
		do_binding(&r);
		return;
	}
	if (m.method != TURN_ALLOCATE && m.method != TURN_REFRESH &&
	    m.method != TURN_CREATE_PERMISSION && m.method != TURN_CHANNEL_BIND) {
		respond_error(&r, 400, "Bad Request", false);
		return;
	}
	if (!check_unknown(&r) || !authenticate(&r))
		return;
	switch (m.method) {
	case TURN_ALLOCATE:
		do_allocate(&r, i);
		break;
	case TURN_REFRESH:
		do_refresh(&r, i);
		break;
	case TURN_CREATE_PERMISSION:
		do_permission(&r, i);
		break;
	default:
		do_channel_bind(&r, i);
		break;
	}
}

/* ChannelData from a client: relayed to the channel's peer. */
static void client_channel(bool tcp, int32_t sock, const struct ns_sockaddr *client,
                           const uint8_t *p, uint32_t len)
{
	uint16_t num, dlen;
	const uint8_t *d;
	int32_t i;
	if (stun_cd_parse(p, len, &num, &d, &dlen) < 0 || (i = alloc_find(tcp, sock, client)) < 0) {
		count(C_MALFORMED, 1);
		return;
	}
	struct alloc *a = &allocs[i];
	uint64_t now = now_ms();
	for (int k = 0; k < MAX_CHANS; k++) {
		struct chan *c = &a->chans[k];
		if (c->num != num || c->expires_ms <= now)
			continue;
		if (!perm_find(a, &c->peer, now)) {
			count(C_PERM_DROPS, 1);
			return;
		}
		if (!bw_ok(a, dlen, now))
			return;
		if (ns_sock_send((uint32_t)a->relay, d, dlen, &c->peer) < 0) {
			count(C_SEND_ERRORS, 1);
			return;
		}
		count(C_TO_PEER_PKTS, 1);
		count(C_TO_PEER_BYTES, dlen);
		return;
	}
	count(C_PERM_DROPS, 1); /* no such channel */
}

static void client_datagram(bool tcp, int32_t sock, const struct ns_sockaddr *client, uint8_t *p,
                            uint32_t len)
{
	if (len >= 4 && (p[0] & 0xc0) == 0x40)
		client_channel(tcp, sock, client, p, len);
	else if (len >= STUN_HDR && (p[0] & 0xc0) == 0)
		client_stun(tcp, sock, client, p, len);
	else
		count(C_MALFORMED, 1);
}

/* --- data from peers ------------------------------------------------------------ */

static void relay_event(int32_t s)
{
	int32_t i = sock_alloc[s];
	if (i < 0 || !allocs[i].used)
		return;
	struct alloc *a = &allocs[i];
	struct ns_sockaddr peer;
	for (int k = 0; k < 256; k++) {
		int32_t n =
		        ns_sock_recv((uint32_t)s, rxbuf + RX_OFF, sizeof(rxbuf) - RX_OFF, &peer);
		if (n < 0)
			return;
		uint64_t now = now_ms();
		if (!perm_find(a, &peer, now)) {
			count(C_PERM_DROPS, 1);
			continue;
		}
		if (n > 0xffff - 64 || !bw_ok(a, (uint32_t)n, now))
			continue;
		struct chan *ch = 0;
		for (int c = 0; c < MAX_CHANS; c++)
			if (a->chans[c].num && a->chans[c].expires_ms > now &&
			    addr_eq(&a->chans[c].peer, &peer)) {
				ch = &a->chans[c];
				break;
			}
		bool ok;
		if (ch) {
			uint8_t *f = rxbuf + RX_OFF - STUN_CD_HDR;
			int32_t fl = stun_cd_build(f, sizeof(rxbuf) - RX_OFF + STUN_CD_HDR, ch->num,
			                           (uint32_t)n, a->tcp);
			ok = fl > 0 && to_client(a->tcp, a->sock, &a->client, f, (uint32_t)fl);
		} else {
			/* an indication's transaction id only has to differ */
			static uint32_t data_seq;
			uint8_t tid[STUN_TID_LEN] = {0};
			ns_put_be32(tid, (uint32_t)now);
			ns_put_be32(tid + 4, ++data_seq);
			struct stun_builder b;
			stun_begin(&b, txbuf, sizeof(txbuf), TURN_DATA, STUN_INDICATION, tid);
			stun_put_addr(&b, STUN_A_XOR_PEER_ADDRESS, &peer, true);
			stun_put(&b, STUN_A_DATA, rxbuf + RX_OFF, (uint32_t)n);
			int32_t bl = stun_end(&b);
			ok = bl > 0 && to_client(a->tcp, a->sock, &a->client, txbuf, (uint32_t)bl);
		}
		if (!allocs[i].used)
			return; /* the TCP client went away while sending */
		if (ok) {
			count(C_TO_CLIENT_PKTS, 1);
			count(C_TO_CLIENT_BYTES, n);
		}
	}
}

/* --- TCP clients ------------------------------------------------------------------ */

static void conn_close(int32_t id)
{
	if (id < 0 || id >= MAX_SOCK || sock_conn[id] < 0)
		return;
	for (int32_t i = 0; i < MAX_ALLOCS; i++)
		if (allocs[i].used && allocs[i].tcp && allocs[i].sock == id)
			alloc_free(i);
	conns[sock_conn[id]].used = false;
	sock_conn[id] = -1;
	sock_role[id] = R_NONE;
	ns_sock_close((uint32_t)id);
}

static void conn_event(int32_t id, uint32_t events)
{
	struct conn *c = &conns[sock_conn[id]];
	if (events & NS_SOCK_ERROR) {
		conn_close(id);
		return;
	}
	while (c->tlen) {
		int32_t n = ns_sock_send((uint32_t)id, c->tx + c->toff, c->tlen, 0);
		if (n == -NS_EAGAIN)
			break;
		if (n < 0) {
			conn_close(id);
			return;
		}
		c->toff += (uint32_t)n;
		c->tlen -= (uint32_t)n;
		if (!c->tlen)
			c->toff = 0;
	}
	for (int k = 0; k < 64; k++) {
		int32_t n = ns_sock_recv((uint32_t)id, c->rx + c->rlen, CONN_BUF - c->rlen, 0);
		if (n == -NS_EAGAIN)
			return;
		if (n <= 0) {
			conn_close(id);
			return;
		}
		c->rlen += (uint32_t)n;
		uint32_t off = 0;
		for (;;) {
			int32_t fl = stun_frame_len(c->rx + off, c->rlen - off, true);
			if (fl < 0 ||
			    fl > CONN_BUF) { /* not STUN, or too long: the stream is lost */
				count(C_MALFORMED, 1);
				conn_close(id);
				return;
			}
			if (fl == 0 || (uint32_t)fl > c->rlen - off)
				break;
			uint32_t flen = (uint32_t)fl;
			if ((c->rx[off] & 0xc0) == 0x40) /* ChannelData: its header's length */
				flen = STUN_CD_HDR + ns_get_be16(c->rx + off + 2);
			client_datagram(true, id, &c->peer, c->rx + off, flen);
			if (sock_conn[id] < 0 || !c->used)
				return; /* closed meanwhile */
			off += (uint32_t)fl;
		}
		if (off) {
			ns_memmove(c->rx, c->rx + off, c->rlen - off);
			c->rlen -= off;
		}
	}
}

static void accept_event(int32_t ls)
{
	for (;;) {
		struct ns_sockaddr peer;
		int32_t s = ns_sock_accept((uint32_t)ls, &peer);
		if (s == -NS_EMFILE)
			continue;
		if (s < 0)
			return;
		int32_t k = 0;
		while (k < MAX_CONNS && conns[k].used)
			k++;
		if (s >= MAX_SOCK || k == MAX_CONNS) {
			ns_sock_close((uint32_t)s);
			continue;
		}
		ns_memset(&conns[k], 0, sizeof(conns[k]) - 2 * CONN_BUF);
		conns[k].used = true;
		conns[k].peer = peer;
		sock_conn[s] = (int16_t)k;
		sock_role[s] = R_TCP_CONN;
	}
}

/* --- entry points -------------------------------------------------------------------- */

void ns_socket(uint32_t id, uint32_t events)
{
	int32_t s = (int32_t)id;
	if (s < 0 || s >= MAX_SOCK)
		return;
	ev_now = ns_clock_ns() / 1000000u;
	switch (sock_role[s]) {
	case R_UDP_LISTEN:
		for (int k = 0; k < 256; k++) {
			struct ns_sockaddr from;
			int32_t n = ns_sock_recv(id, rxbuf, sizeof(rxbuf), &from);
			if (n < 0)
				break;
			client_datagram(false, s, &from, rxbuf, (uint32_t)n);
		}
		break;
	case R_TCP_LISTEN:
		accept_event(s);
		break;
	case R_TCP_CONN:
		conn_event(s, events);
		break;
	case R_RELAY:
		relay_event(s);
		break;
	default:
		break;
	}
	flush_counters();
}

void ns_timer(uint32_t id)
{
	if (id != TIMER_SWEEP)
		return;
	uint64_t now = ev_now = ns_clock_ns() / 1000000u;
	for (int32_t i = 0; i < MAX_ALLOCS; i++) {
		struct alloc *a = &allocs[i];
		if (!a->used)
			continue;
		if (a->expires_ms <= now) {
			alloc_free(i);
			continue;
		}
		for (int k = 0; k < MAX_CHANS; k++)
			if (a->chans[k].num && a->chans[k].expires_ms <= now)
				a->chans[k].num = 0;
	}
	flush_counters();
}

static void parse_users(char *s)
{
	struct ns_str rest = ns_str_c(s), tok;
	while (ns_str_split(&rest, ' ', &tok) && n_users < MAX_USERS) {
		tok = ns_str_trim(tok);
		uint32_t c = 0;
		while (c < tok.len && tok.p[c] != ':')
			c++;
		if (c == 0 || c >= tok.len || c >= sizeof(users[0].name) ||
		    tok.len - c - 1 >= sizeof(users[0].pass))
			continue;
		ns_memcpy(users[n_users].name, tok.p, c);
		users[n_users].name[c] = 0;
		ns_memcpy(users[n_users].pass, tok.p + c + 1, tok.len - c - 1);
		users[n_users].pass[tok.len - c - 1] = 0;
		n_users++;
	}
}

int32_t ns_init(void)
{
	uint64_t v, nl, ml, ma, bw;
	char buf[1024];
	for (int i = 0; i < C_N; i++)
		counter_id[i] = ns_counter_id(counter_names[i]);
	for (int i = 0; i < HASH_SIZE; i++)
		hash_head[i] = -1;
	for (int i = 0; i < MAX_SOCK; i++)
		sock_alloc[i] = sock_conn[i] = -1;
	if (ns_prop_uint("port", 1, 65535, 3478, &v) < 0) {
		ns_logs(NS_LOG_ERR, "bad property port");
		return -NS_EINVAL;
	}
	cfg_port = (uint16_t)v;
	relay_lo = 49152;
	relay_hi = 49407;
	if (ns_prop_get("relay_ports", buf, sizeof(buf)) > 0) {
		struct ns_str rest = ns_str_c(buf), lo, hi;
		uint64_t l, h;
		if (!ns_str_split(&rest, '-', &lo) || !ns_str_split(&rest, '-', &hi) ||
		    ns_str_uint(ns_str_trim(lo), 65535, &l) < 0 ||
		    ns_str_uint(ns_str_trim(hi), 65535, &h) < 0 || l == 0 || h < l) {
			ns_logs(NS_LOG_ERR, "bad property relay_ports (LO-HI)");
			return -NS_EINVAL;
		}
		relay_lo = (uint16_t)l;
		relay_hi = (uint16_t)h;
	}
	relay_next = relay_lo;
	uint8_t a[16];
	have_ip4 = ns_prop_addr("relay_ip4", a) == 4;
	ns_memcpy(relay_ip4, a, 4);
	have_ip6 = ns_prop_addr("relay_ip6", a) == 6;
	ns_memcpy(relay_ip6, a, 16);
	int fam = ns_prop_addr("relay_toward", a);
	if (fam) {
		toward.family = fam == 4 ? NS_IPV4 : NS_IPV6;
		toward.port = 9;
		ns_memcpy(toward.addr, a, 16);
	}
	if (ns_prop_str("realm", realm, sizeof(realm), "netserv") < 0) {
		ns_logs(NS_LOG_ERR, "bad property realm");
		return -NS_EINVAL;
	}
	realm_len = ns_strlen(realm);
	if (ns_prop_str("secret", secret, sizeof(secret), "") < 0) {
		ns_logs(NS_LOG_ERR, "bad property secret (at most 255 bytes)");
		return -NS_EINVAL;
	}
	secret_len = ns_strlen(secret);
	if (ns_prop_get("users", buf, sizeof(buf)) > 0)
		parse_users(buf);
	if (ns_prop_uint("nonce_lifetime", 1, 86400, 600, &nl) < 0 ||
	    ns_prop_uint("max_lifetime", 600, 86400, 3600, &ml) < 0 ||
	    ns_prop_uint("max_allocations", 0, MAX_ALLOCS, 256, &ma) < 0 ||
	    ns_prop_uint("bandwidth", 0, 1u << 30, 0, &bw) < 0) {
		ns_logs(NS_LOG_ERR, "bad property nonce_lifetime, max_lifetime, max_allocations or "
		                    "bandwidth");
		return -NS_EINVAL;
	}
	nonce_lifetime = (uint32_t)nl;
	max_lifetime = (uint32_t)ml;
	max_allocs = (uint32_t)ma;
	bandwidth = (uint32_t)bw;
	bool tcp = true;
	ns_prop_bool("tcp", true, &tcp);
	if (!n_users && !secret_len)
		ns_logs(NS_LOG_WARN, "no users and no secret: every Allocate is refused");
	/* The nonces' key: not a secret from a strong source (crypto/1 has no
	 * random bytes), but unknown outside this instance: its clocks at
	 * start and the shared secret. */
	uint64_t seed[3] = {ns_clock_ns(), ns_time_ms(), (uint64_t)(uintptr_t)&seed};
	uint8_t sk[NS_HASH_MAX];
	ns_hmac(NS_SHA1, secret, secret_len, seed, sizeof(seed), sk);
	ns_memcpy(nonce_key, sk, sizeof(nonce_key));

	int32_t ok = 0, err = 0;
	for (int f = 0; f < 2; f++) {
		uint32_t fam = f ? NS_IPV6 : NS_IPV4;
		int32_t s = ns_sock_listen(NS_SOCK_UDP, fam, cfg_port);
		if (s >= 0 && s < MAX_SOCK) {
			sock_role[s] = R_UDP_LISTEN;
			ok++;
		} else {
			err = s;
		}
		if (!tcp)
			continue;
		s = ns_sock_listen(NS_SOCK_TCP, fam, cfg_port);
		if (s >= 0 && s < MAX_SOCK)
			sock_role[s] = R_TCP_LISTEN;
	}
	if (!ok) {
		ns_logf(NS_LOG_ERR, "cannot listen on udp port %u (%d)", cfg_port, err);
		return err ? err : -NS_EINVAL;
	}
	ns_timer_set(TIMER_SWEEP, 1000, true);
	ns_logf(NS_LOG_INFO, "TURN on port %u, relay ports %u-%u, realm %s, %u users%s", cfg_port,
	        relay_lo, relay_hi, realm, n_users, secret_len ? ", REST secret" : "");
	return 0;
}
