/* keepalive: the KeepAlive Responder of the NetServ papers. It inspects the
 * SIP traffic over UDP toward a SIP server and answers NAT keep-alives on the
 * server's behalf, so that they never reach the server:
 *   notify   a NOTIFY with "Event: keep-alive" (the papers' keep-alive):
 *            200 OK
 *   options  an OPTIONS outside a dialog (no To tag), the vendors' ping:
 *            200 OK
 *   crlf     the RFC 5626 CRLF ping (CRLFCRLF): answered with one CRLF; a
 *            payload of only CRs and LFs without a ping is absorbed
 *   stun     a STUN Binding request on the SIP flow (RFC 5626 over UDP):
 *            Binding success with XOR-MAPPED-ADDRESS
 * The answer is a packet the module builds whole (IPv4 or IPv6, UDP, both
 * checksums) with the server's address and port as its source, sent with
 * ns_send_packet to the client's address (the papers' address "spoofing":
 * the router is on the path between the two); the keep-alive is dropped.
 * Every other packet passes untouched, as does a keep-alive whose answer
 * could not be sent (the server answers it then).
 *
 * SIP answers follow RFC 3261 for a stateless server: every Via copied in
 * order (the top one with received and rport, RFC 3581), From, To with a tag
 * added, Call-ID, CSeq, Content-Length: 0; sent to the source address, at
 * the source port if the top Via has rport, else at the sent-by port.
 *
 * Properties:
 *   server       the SIP server's address (IPv4 or IPv6); if set, only
 *                packets to it are inspected (else any destination)
 *   server_port  its port, default 5060
 *   answer       which keep-alives to answer, a list separated by '+', ' '
 *                or ',' (escaped in the SETUP: `\,`) of notify, options,
 *                crlf, stun; default all four
 *   reply        1 (default) answers and drops; 0 finds the keep-alives
 *                (the whole message parsed) but neither answers nor drops
 *                them: they are forwarded (the papers' benchmark set-up,
 *                "we disabled the address swapping"); "build" also builds
 *                each answer, all but sending it
 * Counters: inspected (SIP-port packets looked at), notify, options, crlf,
 * stun (keep-alives found), answered, passed (other SIP), malformed (not
 * parseable: passed), send_failed. */
#include <netserv.h>

#include "sip.h"

enum {
	ANSWER_NOTIFY = 1,
	ANSWER_OPTIONS = 2,
	ANSWER_CRLF = 4,
	ANSWER_STUN = 8,
};

static uint8_t server[16];
static uint8_t server_version; /* 0: any destination */
static uint16_t server_port;
static uint32_t answer_mask;
static enum { REPLY_NO, REPLY_BUILD, REPLY_YES } reply;
static uint16_t ip_id;

static int32_t c_inspected, c_notify, c_options, c_crlf, c_stun, c_answered, c_passed, c_malformed,
        c_send_failed;

/* The answer packet: headers, and a SIP answer at most as long as this. */
static uint8_t answer_pkt[60 + 8 + 4096];
static char answer_sip[4096];

/* The keep-alives named in s, separated by '+', ' ' or ','; 0 for an
 * empty list or an unknown name. */
static uint32_t parse_answer(const char *s)
{
	static const char *const names[] = {"notify", "options", "crlf", "stun"}; /* bits 0..3 */
	uint32_t mask = 0;
	struct ns_str rest = ns_str_c(s);
	while (rest.len) {
		uint32_t i = 0;
		while (i < rest.len && rest.p[i] != '+' && rest.p[i] != ' ' && rest.p[i] != ',')
			i++;
		struct ns_str name = {rest.p, i};
		uint32_t skip = i < rest.len ? i + 1 : i;
		rest = (struct ns_str){rest.p + skip, rest.len - skip};
		if (name.len == 0)
			continue;
		uint32_t k = 0;
		while (k < 4 && !ns_str_ieq(name, names[k]))
			k++;
		if (k == 4)
			return 0;
		mask |= 1u << k;
	}
	return mask;
}

int32_t ns_init(void)
{
	char buf[64];
	uint64_t port;
	int v = ns_prop_addr("server", server);
	if (v < 0) {
		ns_logs(NS_LOG_ERR, "keepalive: property server is not an address");
		return -NS_EINVAL;
	}
	server_version = (uint8_t)v; /* 0: any destination */
	if (ns_prop_uint("server_port", 1, 65535, 5060, &port) < 0) {
		ns_logs(NS_LOG_ERR, "keepalive: property server_port must be 1..65535");
		return -NS_EINVAL;
	}
	server_port = (uint16_t)port;
	answer_mask = ANSWER_NOTIFY | ANSWER_OPTIONS | ANSWER_CRLF | ANSWER_STUN;
	if (ns_prop_get("answer", buf, sizeof(buf)) >= 0) {
		answer_mask = parse_answer(buf);
		if (!answer_mask) {
			ns_logf(NS_LOG_ERR,
			        "keepalive: property answer: not a list of "
			        "notify+options+crlf+stun: %s",
			        buf);
			return -NS_EINVAL;
		}
	}
	bool yes = true;
	if (ns_prop_is("reply", "build"))
		reply = REPLY_BUILD;
	else if (ns_prop_bool("reply", true, &yes) < 0) {
		ns_logs(NS_LOG_ERR, "keepalive: property reply must be 1, 0 or build");
		return -NS_EINVAL;
	} else
		reply = yes ? REPLY_YES : REPLY_NO;
	ip_id = (uint16_t)ns_clock_ns();
	c_inspected = ns_counter_id("inspected");
	c_notify = ns_counter_id("notify");
	c_options = ns_counter_id("options");
	c_crlf = ns_counter_id("crlf");
	c_stun = ns_counter_id("stun");
	c_answered = ns_counter_id("answered");
	c_passed = ns_counter_id("passed");
	c_malformed = ns_counter_id("malformed");
	c_send_failed = ns_counter_id("send_failed");
	return 0;
}

/* The keep-alive a payload is, and its answer in answer_sip (*ans_len bytes,
 * 0 for none); 0 if it is not a keep-alive to answer. */
static uint32_t classify(const uint8_t *p, uint32_t len, struct sip_peer *from, uint32_t *ans_len)
{
	*ans_len = 0;
	int crlf = sip_crlf_keepalive(p, len);
	if (crlf) {
		if (!(answer_mask & ANSWER_CRLF))
			return 0;
		if (crlf == 2) {
			answer_sip[0] = '\r';
			answer_sip[1] = '\n';
			*ans_len = 2;
		}
		return ANSWER_CRLF;
	}
	if (stun_is_binding_request(p, len)) {
		if (!(answer_mask & ANSWER_STUN))
			return 0;
		int n = stun_binding_success((uint8_t *)answer_sip, sizeof(answer_sip), p, from);
		if (n < 0)
			return 0;
		*ans_len = (uint32_t)n;
		return ANSWER_STUN;
	}
	/* Only a NOTIFY or an OPTIONS can be a keep-alive: anything else passes
	 * without being parsed (RFC 3261 §7.5: CRLFs may come first). */
	uint32_t skip = 0;
	while (skip + 1 < len && p[skip] == '\r' && p[skip + 1] == '\n')
		skip += 2;
	if (!(len - skip > 7 && !ns_memcmp(p + skip, "NOTIFY ", 7)) &&
	    !(len - skip > 8 && !ns_memcmp(p + skip, "OPTIONS ", 8)))
		return 0;
	struct sip_msg m;
	int r = sip_parse((const char *)p, len, &m);
	if (r < 0) {
		ns_counter_add(c_malformed, 1);
		return 0;
	}
	uint32_t kind = 0;
	struct sip_str tag;
	if (!m.is_request)
		kind = 0;
	else if (sip_eq(m.method, "NOTIFY") && m.event.p) {
		struct sip_str ev = m.event;
		uint32_t i = 0;
		while (i < ev.len && sip_is_token(ev.p[i]))
			i++;
		if (sip_ieq((struct sip_str){ev.p, i}, "keep-alive"))
			kind = ANSWER_NOTIFY;
	} else if (sip_eq(m.method, "OPTIONS") && !sip_tag(m.to, &tag)) {
		kind = ANSWER_OPTIONS;
	}
	if (!(kind & answer_mask))
		return 0;
	if (reply == REPLY_NO)
		return kind; /* found; nothing to build */
	char to_tag[48];
	sip_make_tag(to_tag, "nska", &m);
	r = sip_build_answer(answer_sip, sizeof(answer_sip), &m, from, 200, "OK", to_tag, NULL);
	if (r < 0)
		return 0; /* too big for us: the server answers */
	*ans_len = (uint32_t)r;
	/* where the server would send it */
	from->port = sip_response_port(&m, from);
	return kind;
}

int32_t ns_packet(uint32_t len)
{
	const uint8_t *pkt = ns_pkt_data();
	struct ns_ip ip;
	struct ns_udp udp;
	if (ns_ip_parse(pkt, len, &ip) < 0 || ip.is_fragment || ns_udp_parse(pkt, &ip, &udp) < 0)
		return NS_ACCEPT;
	if (udp.dport != server_port || udp.payload_len == 0)
		return NS_ACCEPT;
	if (server_version &&
	    (ip.version != server_version || ns_memcmp(ip.dst, server, ip.addr_len) != 0))
		return NS_ACCEPT;
	ns_counter_add(c_inspected, 1);

	struct sip_peer from = {ip.version, ip.src, udp.sport};
	uint32_t ans_len;
	uint32_t kind = classify(pkt + udp.payload_off, udp.payload_len, &from, &ans_len);
	if (!kind) {
		ns_counter_add(c_passed, 1);
		return NS_ACCEPT;
	}
	ns_counter_add(kind == ANSWER_NOTIFY    ? c_notify
	               : kind == ANSWER_OPTIONS ? c_options
	               : kind == ANSWER_CRLF    ? c_crlf
	                                        : c_stun,
	               1);
	int n = 0;
	if (ans_len && reply != REPLY_NO) {
		/* from the server (the request's destination) to the client */
		struct ns_flow f;
		if (ns_flow_reply(&f, pkt, len) < 0)
			return NS_ACCEPT;
		f.dport = from.port; /* where the server would answer */
		f.ip_id = ip_id++;
		n = ns_build_packet(answer_pkt, sizeof(answer_pkt), &f, answer_sip, ans_len);
		if (n < 0)
			return NS_ACCEPT;
	}
	if (reply != REPLY_YES)
		return NS_ACCEPT;
	if (n > 0) {
		if (ns_send_packet(answer_pkt, (uint32_t)n) < 0) {
			ns_counter_add(c_send_failed, 1);
			return NS_ACCEPT; /* the server answers instead */
		}
		ns_counter_add(c_answered, 1);
	}
	return NS_DROP;
}
