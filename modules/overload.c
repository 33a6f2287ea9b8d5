/* overload: SIP overload control at the edge (the NetServ papers' Overload
 * Control): an RFC 7339 Sending Entity with the loss-based algorithm, on a
 * router in front of a SIP server (the Receiving Entity).
 *
 * Feedback. Every response from the server (from server:server_port) is
 * read: the parameters of its top Via, oc=<0..100> (the percentage of new
 * requests to shed), oc-algo (must offer "loss"), oc-validity=<ms> (how long
 * the value holds: 500 if absent, 0 ends overload control) and
 * oc-seq=<timestamp> (older feedback than the one in force is ignored).
 * State is kept per server address and port (up to 8 servers).
 *
 * Throttling. A new INVITE toward a server under control (no To tag: not
 * in a dialog) is admitted or shed; in each run of 100 new INVITEs exactly
 * 100-oc pass (draw=even, the default, spreads them evenly) or each is shed
 * with probability oc/100 (draw=random, RFC 7339 §6's random draw). A shed
 * INVITE is answered, on the server's behalf, with "503 Service
 * Unavailable" and Retry-After (action=reject, the default; a crafted packet
 * from the server's address, as the KeepAlive Responder sends), or silently
 * dropped (action=drop). Retransmissions get the decision of their original
 * (a cache of the INVITEs of the last 32 s, Timer B: 8192 slots), and the ACK to a 503 of ours is
 * absorbed. Responses and requests inside a dialog are never dropped; other methods pass. With
 * announce=1 (default) the module adds `;oc;oc-algo="loss"` to the top Via of requests that pass
 * (but ACK and CANCEL), as an RFC 7339 client does, so that an RFC 7339 server sends feedback at
 * all.
 *
 * Deployment: the module must see both directions, so one SETUP's filter
 * must admit the requests to the server and the responses from it: e.g.
 * filter-proto:udp alone (the module itself picks the SIP to and from
 * server:server_port), or filter-proto:udp with filter-port:5060 when the
 * clients also use port 5060. Two SETUPs would be two instances with two
 * memories, and the one that throttles would never see the feedback
 * (docs/apps.md).
 *
 * Properties: server (address; default any destination on server_port),
 * server_port (5060), action (reject|drop), retry_after (seconds, default
 * 2), draw (even|random), announce (1|0).
 * Counters: invites (new INVITEs to a server, retransmissions not
 * counted), admitted, rejected, dropped, retransmissions (of INVITEs), acks_absorbed, in_dialog,
 * responses, feedback (responses with oc), stale (older oc-seq), oc_percent (the shed percentage in
 * force now, of the last server that sent feedback), announced, malformed, send_failed. */
#include <netserv.h>

#include "sip.h"

#define MAX_SERVERS      8
#define CACHE_SLOTS      8192                    /* a power of two */
#define CACHE_PROBE      8                       /* slots looked at for one key */
#define CACHE_HOLD_NS    (32ull * 1000000000ull) /* Timer B: 64*T1 */
#define DEFAULT_VALID_MS 500
#define ANNOUNCE         ";oc;oc-algo=\"loss\""
#define ANNOUNCE_LEN     18

struct server_state {
	bool used;
	uint8_t version;
	uint8_t addr[16];
	uint16_t port;
	uint32_t oc;         /* 0..100: percentage of new requests to shed */
	uint64_t expires_ns; /* the feedback holds until then */
	bool has_seq;
	uint64_t seq; /* oc-seq, fixed point: seconds * 100000 + fraction */
	uint32_t credit;
};

struct decision {
	uint64_t key; /* 0: empty */
	uint64_t when_ns;
	bool admitted;
};

static struct server_state servers[MAX_SERVERS];
static struct decision cache[CACHE_SLOTS];
static uint8_t server[16];
static uint8_t server_version;
static uint16_t server_port;
static bool act_reject, draw_random, announce;
static uint32_t retry_after, rng;
static uint16_t ip_id;
static int32_t last_oc_reported;

static int32_t c_invites, c_admitted, c_rejected, c_dropped, c_retrans, c_acks, c_in_dialog,
        c_responses, c_feedback, c_stale, c_oc, c_announced, c_malformed, c_send_failed;

static uint8_t out_pkt[60 + 8 + 4096];
static char out_sip[4096];

int32_t ns_init(void)
{
	ns_memset(servers, 0, sizeof(servers));
	ns_memset(cache, 0, sizeof(cache));
	uint64_t port;
	int v = ns_prop_addr("server", server);
	if (v < 0) {
		ns_logs(NS_LOG_ERR, "overload: property server is not an address");
		return -NS_EINVAL;
	}
	server_version = (uint8_t)v; /* 0: any destination */
	if (ns_prop_uint("server_port", 1, 65535, 5060, &port) < 0) {
		ns_logs(NS_LOG_ERR, "overload: property server_port must be 1..65535");
		return -NS_EINVAL;
	}
	server_port = (uint16_t)port;
	act_reject = !ns_prop_is("action", "drop");
	draw_random = ns_prop_is("draw", "random");
	announce = ns_prop_u32("announce", 1) != 0;
	retry_after = ns_prop_u32("retry_after", 2);
	rng = (uint32_t)ns_clock_ns() | 1;
	ip_id = (uint16_t)(rng >> 7);
	last_oc_reported = 0;
	c_invites = ns_counter_id("invites");
	c_admitted = ns_counter_id("admitted");
	c_rejected = ns_counter_id("rejected");
	c_dropped = ns_counter_id("dropped");
	c_retrans = ns_counter_id("retransmissions");
	c_acks = ns_counter_id("acks_absorbed");
	c_in_dialog = ns_counter_id("in_dialog");
	c_responses = ns_counter_id("responses");
	c_feedback = ns_counter_id("feedback");
	c_stale = ns_counter_id("stale");
	c_oc = ns_counter_id("oc_percent");
	c_announced = ns_counter_id("announced");
	c_malformed = ns_counter_id("malformed");
	c_send_failed = ns_counter_id("send_failed");
	return 0;
}

static struct server_state *find_server(uint8_t version, const uint8_t *addr, uint16_t port,
                                        bool add)
{
	uint32_t alen = version == 4 ? 4 : 16;
	struct server_state *free_slot = NULL;
	for (int i = 0; i < MAX_SERVERS; i++) {
		struct server_state *s = &servers[i];
		if (!s->used) {
			if (!free_slot)
				free_slot = s;
			continue;
		}
		if (s->version == version && s->port == port && !ns_memcmp(s->addr, addr, alen))
			return s;
	}
	if (!add || !free_slot)
		return NULL;
	ns_memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->version = version;
	ns_memcpy(free_slot->addr, addr, alen);
	free_slot->port = port;
	return free_slot;
}

/* oc-seq = 1*12DIGIT "." 1*5DIGIT, as fixed point (the fraction to 5 digits). */
static bool parse_seq(struct sip_str v, uint64_t *ret)
{
	uint64_t whole = 0, frac = 0;
	uint32_t i = 0, d = 0, f = 0;
	while (i < v.len && sip_is_digit(v.p[i]) && d < 12) {
		whole = whole * 10 + (uint64_t)(v.p[i++] - '0');
		d++;
	}
	if (d == 0)
		return false;
	if (i < v.len && v.p[i] == '.') {
		i++;
		while (i < v.len && sip_is_digit(v.p[i]) && f < 5) {
			frac = frac * 10 + (uint64_t)(v.p[i++] - '0');
			f++;
		}
	}
	if (i != v.len)
		return false;
	for (; f < 5; f++)
		frac *= 10;
	*ret = whole * 100000 + frac;
	return true;
}

static void report_oc(uint32_t oc)
{
	ns_counter_add(c_oc, (uint64_t)((int64_t)oc - last_oc_reported));
	last_oc_reported = (int32_t)oc;
}

/* A response from a server: takes its RFC 7339 feedback, if any. */
static void feedback(const struct ns_ip *ip, uint16_t sport, const struct sip_msg *m)
{
	struct sip_via via;
	struct sip_str v;
	uint32_t oc, valid = DEFAULT_VALID_MS;
	uint64_t seq = 0;
	ns_counter_add(c_responses, 1);
	if (!sip_via_parse(sip_via_first(m->via[0]), &via) ||
	    sip_param_get(via.params, "oc", &v) != 2 || !sip_u32(v, &oc) || oc > 100)
		return;
	if (sip_param_get(via.params, "oc-algo", &v) == 2) {
		/* the server's choice, or a list: loss must be in it */
		bool loss = false;
		for (uint32_t i = 0; i < v.len;) {
			uint32_t a = i;
			while (i < v.len && v.p[i] != ',')
				i++;
			loss |= sip_ieq(sip_trim((struct sip_str){v.p + a, i - a}), "loss");
			i++;
		}
		if (!loss)
			return;
	}
	if (sip_param_get(via.params, "oc-validity", &v) == 2 && !sip_u32(v, &valid))
		return;
	bool has_seq = sip_param_get(via.params, "oc-seq", &v) == 2 && parse_seq(v, &seq);
	struct server_state *s = find_server(ip->version, ip->src, sport, true);
	if (!s)
		return;
	ns_counter_add(c_feedback, 1);
	if (has_seq && s->has_seq && seq < s->seq) {
		ns_counter_add(c_stale, 1);
		return;
	}
	if (has_seq) {
		s->has_seq = true;
		s->seq = seq;
	}
	uint64_t now = (uint64_t)ns_clock_ns();
	bool was_active = s->oc && now < s->expires_ns;
	if (valid == 0)
		oc = 0;
	if (oc != s->oc || (oc && !was_active)) {
		char a[NS_IP_STRLEN];
		ns_fmt_ip(a, sizeof(a), ip->version, ip->src);
		ns_logf(NS_LOG_INFO, "overload: %s:%u oc=%u validity=%u ms", a, sport, oc, valid);
	}
	s->oc = oc;
	s->expires_ns = now + (uint64_t)valid * 1000000ull;
	if (s->credit > 100)
		s->credit = 100;
	report_oc(oc);
}

/* The decision cached for key (an INVITE seen less than CACHE_HOLD_NS ago),
 * or NULL; *slot is then where to record the new decision: an empty or
 * expired slot among the probed ones, else the oldest. */
static struct decision *cache_find(uint64_t key, uint64_t now, struct decision **slot)
{
	struct decision *oldest = NULL;
	*slot = NULL;
	for (uint32_t i = 0; i < CACHE_PROBE; i++) {
		struct decision *d = &cache[(key + i) & (CACHE_SLOTS - 1)];
		bool live = d->key && now - d->when_ns < CACHE_HOLD_NS;
		if (live && d->key == key)
			return d;
		if (!live) {
			if (!*slot)
				*slot = d;
		} else if (!oldest || d->when_ns < oldest->when_ns) {
			oldest = d;
		}
	}
	if (!*slot)
		*slot = oldest;
	return NULL;
}

/* The key of an INVITE transaction: Call-ID and top Via branch. */
static uint64_t invite_key(const struct sip_msg *m)
{
	struct sip_via via;
	struct sip_str branch = {0, 0};
	if (sip_via_parse(sip_via_first(m->via[0]), &via))
		sip_param_get(via.params, "branch", &branch);
	uint32_t h1 = sip_hash(sip_hash(2166136261u, m->call_id), branch);
	uint32_t h2 = sip_hash(sip_hash(0x9747b28cu, branch), m->call_id);
	uint64_t k = (uint64_t)h1 << 32 | h2;
	return k ? k : 1;
}

static bool shed(struct server_state *s)
{
	if (draw_random) {
		rng ^= rng << 13; /* xorshift32 */
		rng ^= rng >> 17;
		rng ^= rng << 5;
		return rng % 100 + 1 <= s->oc;
	}
	s->credit += 100 - s->oc;
	if (s->credit >= 100) {
		s->credit -= 100;
		return false;
	}
	return true;
}

/* Sends the 503 for a shed INVITE from the server's address. */
static void reject(const uint8_t *pkt, uint32_t len, const struct ns_ip *ip,
                   const struct ns_udp *udp, const struct sip_msg *m)
{
	struct sip_peer from = {ip->version, ip->src, udp->sport};
	struct ns_flow f;
	char tag[48], extra[40];
	sip_make_tag(tag, "nsoc", m);
	ns_snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", retry_after);
	int n = sip_build_answer(out_sip, sizeof(out_sip), m, &from, 503, "Service Unavailable",
	                         tag, extra);
	if (n > 0 && ns_flow_reply(&f, pkt, len) == 0) {
		f.dport = sip_response_port(m, &from);
		f.ip_id = ip_id++;
		n = ns_build_packet(out_pkt, sizeof(out_pkt), &f, out_sip, (uint32_t)n);
	} else {
		n = -1;
	}
	if (n < 0 || ns_send_packet(out_pkt, (uint32_t)n) < 0)
		ns_counter_add(c_send_failed, 1);
}

/* Adds the RFC 7339 announcement to the top Via of the packet in place.
 * Returns the verdict. */
static int32_t announce_oc(uint8_t *pkt, const struct ns_ip *ip, const struct ns_udp *udp,
                           const struct sip_msg *m)
{
	struct sip_via via;
	struct sip_str v;
	if (!sip_via_parse(sip_via_first(m->via[0]), &via) ||
	    sip_param_get(via.params, "oc", &v) != 0)
		return NS_ACCEPT;
	uint32_t end = udp->payload_off + udp->payload_len;
	if (end + ANNOUNCE_LEN > NS_PACKET_MAX || end != ip->len)
		return NS_ACCEPT;
	char *payload = (char *)pkt + udp->payload_off;
	int n = sip_via_insert(payload, udp->payload_len, NS_PACKET_MAX - udp->payload_off, m,
	                       ANNOUNCE);
	if (n < 0)
		return NS_ACCEPT;
	uint32_t len = udp->payload_off + (uint32_t)n;
	if (ns_pkt_fixup(pkt, len) < 0 || ns_pkt_set_len(len) < 0)
		return NS_ACCEPT; /* the original bytes pass: nothing is lost but the announcement
		                   */
	ns_counter_add(c_announced, 1);
	return NS_MODIFIED;
}

static int32_t request(uint8_t *pkt, const struct ns_ip *ip, const struct ns_udp *udp,
                       const struct sip_msg *m)
{
	struct sip_str tag;
	bool in_dialog = sip_tag(m->to, &tag);
	if (sip_eq(m->method, "ACK")) {
		char ours[48];
		uint32_t n = sip_make_tag(ours, "nsoc", m);
		if (in_dialog && tag.len == n && !ns_memcmp(tag.p, ours, n)) {
			ns_counter_add(c_acks, 1);
			return NS_DROP; /* the ACK to our 503: hop by hop, ends here */
		}
		ns_counter_add(c_in_dialog, in_dialog);
		return NS_ACCEPT;
	}
	if (sip_eq(m->method, "CANCEL"))
		return NS_ACCEPT;
	if (in_dialog) {
		ns_counter_add(c_in_dialog, 1);
		return announce ? announce_oc(pkt, ip, udp, m) : NS_ACCEPT;
	}
	if (sip_eq(m->method, "INVITE")) {
		struct server_state *s = find_server(ip->version, ip->dst, udp->dport, false);
		uint64_t now = (uint64_t)ns_clock_ns();
		uint64_t key = invite_key(m);
		struct decision *slot, *d = cache_find(key, now, &slot);
		bool admit;
		if (d) {
			ns_counter_add(c_retrans, 1);
			admit = d->admitted;
		} else {
			d = slot;
			ns_counter_add(c_invites, 1);
			admit = !s || !s->oc || now >= s->expires_ns || !shed(s);
			d->key = key;
			d->when_ns = now;
			d->admitted = admit;
		}
		if (!admit) {
			if (act_reject) {
				reject(pkt, ip->len, ip, udp, m);
				ns_counter_add(c_rejected, 1);
			} else {
				ns_counter_add(c_dropped, 1);
			}
			return NS_DROP;
		}
		ns_counter_add(c_admitted, 1);
	}
	return announce ? announce_oc(pkt, ip, udp, m) : NS_ACCEPT;
}

int32_t ns_packet(uint32_t len)
{
	uint8_t *pkt = ns_pkt_data();
	struct ns_ip ip;
	struct ns_udp udp;
	if (ns_ip_parse(pkt, len, &ip) < 0 || ip.is_fragment || ns_udp_parse(pkt, &ip, &udp) < 0 ||
	    udp.payload_len == 0)
		return NS_ACCEPT;
	bool to_server = udp.dport == server_port &&
	                 (!server_version || (ip.version == server_version &&
	                                      !ns_memcmp(ip.dst, server, ip.addr_len)));
	bool from_server = udp.sport == server_port &&
	                   (!server_version || (ip.version == server_version &&
	                                        !ns_memcmp(ip.src, server, ip.addr_len)));
	if (!to_server && !from_server)
		return NS_ACCEPT;
	const char *p = (const char *)pkt + udp.payload_off;
	if (!((p[0] >= 'A' && p[0] <= 'Z') || p[0] == '\r'))
		return NS_ACCEPT; /* not SIP (keep-alives, STUN): not ours */
	struct sip_msg m;
	if (sip_parse(p, udp.payload_len, &m) < 0) {
		ns_counter_add(c_malformed, 1);
		return NS_ACCEPT;
	}
	if (!m.is_request) {
		if (from_server)
			feedback(&ip, udp.sport, &m);
		return NS_ACCEPT; /* responses always pass */
	}
	if (!to_server)
		return NS_ACCEPT;
	return request(pkt, &ip, &udp, &m);
}
