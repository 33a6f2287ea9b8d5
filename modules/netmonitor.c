/* netmonitor: the NetMonitor of the NetServ papers. It counts the packets
 * (and bytes) its filter steers to it by (source, destination, TTL), as
 * counter.c does, and every period_ms (500: twice a second, on the clock:
 * late timer calls do not add up) sends all the counts to the visualizer
 * named in its properties, which shows them live (`netserv viz`). Every
 * packet is accepted.
 *
 * Report: UDP datagrams to visualizer_ip:visualizer_port, text, at most
 * max_payload bytes each (default 1400, so never fragmented); a report
 * larger than that is split into parts, each with its own header line:
 *   NETMON 1 label=<label> seq=<n> part=<i>/<n> time=<ms> packets=<n> bytes=<n> flows=<n>
 *   <source> <destination> <ttl> <packets> <bytes>
 *   ...
 * seq counts reports from 1; time is the node's wall clock (ms since the
 * epoch); packets, bytes and flows are the module's totals; each flow line
 * holds totals since the module started (so a lost datagram loses nothing).
 *
 * Properties: visualizer_ip (IPv4 or IPv6, required), visualizer_port
 * (required), period_ms (10..3600000, default 500), label (default "netmonitor", at most
 * 32 characters of [A-Za-z0-9._-]), max_payload (400..8192, default 1400).
 * Counters: packets, bytes, non_ip, untracked (tuples beyond the table),
 * reports, datagrams, send_errors, samples.
 *
 * Sampled mode: deployed with `sample: 1/N` in its SETUP, it is not on the
 * packet path; it sees a copy of one packet in N (its first bytes), and
 * counts each as N packets of the length its IP header gives: every count
 * (packets, bytes, the flow lines) is then an estimate, and the header line
 * says so with two more fields, `sample=1/<N> estimated=1`. The counter
 * `samples` holds the copies it was given (packets = samples x N). */
#include <netserv.h>

#define FLOW_SLOTS   4096 /* a power of two */
#define FLOW_MAX     3072 /* keep the table at most 3/4 full */
#define TIMER_REPORT 1

struct flow {
	bool used;
	uint8_t version;
	uint8_t ttl;
	uint64_t pkts;
	uint64_t bytes;
	uint8_t src[16];
	uint8_t dst[16];
};

static struct flow flows[FLOW_SLOTS];
static uint32_t n_flows;
static uint64_t total_pkts, total_bytes;
static uint8_t viz_addr[16];
static uint8_t viz_version;
static uint16_t viz_port;
static uint32_t max_payload, seq;
static uint64_t period_ns, next_due_ns;
static char label[33];
static char dgram[8192];
static int32_t c_packets, c_bytes, c_non_ip, c_untracked, c_reports, c_datagrams, c_send_errors;
static int32_t c_samples;
static uint32_t sample_every; /* N of the last sample; 0: not sampled (yet) */

static bool label_ok(const char *s)
{
	uint32_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		bool alnum = ns_is_digit(c) || (ns_lower(c) >= 'a' && ns_lower(c) <= 'z');
		if (!alnum && c != '.' && c != '_' && c != '-')
			return false;
	}
	return n > 0 && n < sizeof(label);
}

int32_t ns_init(void)
{
	uint64_t port;
	ns_memset(flows, 0, sizeof(flows));
	n_flows = seq = 0;
	total_pkts = total_bytes = 0;
	int v = ns_prop_addr("visualizer_ip", viz_addr);
	if (v <= 0) {
		ns_logs(NS_LOG_ERR, "netmonitor: property visualizer_ip (an IPv4 or IPv6 address) "
		                    "is required");
		return -NS_EINVAL;
	}
	viz_version = (uint8_t)v;
	if (ns_prop_uint("visualizer_port", 1, 65535, 0, &port) < 0 || port == 0) {
		ns_logs(NS_LOG_ERR, "netmonitor: property visualizer_port (1..65535) is required");
		return -NS_EINVAL;
	}
	viz_port = (uint16_t)port;
	max_payload = ns_prop_u32("max_payload", 1400);
	if (max_payload < 400 || max_payload > sizeof(dgram)) {
		ns_logs(NS_LOG_ERR, "netmonitor: property max_payload must be 400..8192");
		return -NS_EINVAL;
	}
	if (ns_prop_get("label", label, sizeof(label)) < 0)
		ns_memcpy(label, "netmonitor", 11);
	else if (!label_ok(label)) {
		ns_logs(NS_LOG_ERR, "netmonitor: property label: 1..32 of [A-Za-z0-9._-]");
		return -NS_EINVAL;
	}
	c_packets = ns_counter_id("packets");
	c_bytes = ns_counter_id("bytes");
	c_non_ip = ns_counter_id("non_ip");
	c_untracked = ns_counter_id("untracked");
	c_reports = ns_counter_id("reports");
	c_datagrams = ns_counter_id("datagrams");
	c_send_errors = ns_counter_id("send_errors");
	c_samples = ns_counter_id("samples");
	sample_every = 0;
	uint32_t period = ns_prop_u32("period_ms", 500);
	if (period < 10 || period > 3600000) {
		ns_logs(NS_LOG_ERR, "netmonitor: period_ms must be 10..3600000");
		return -NS_EINVAL;
	}
	/* Reports are due every period on the clock: a timer five times as
	 * fast looks for the due time, so that late timer calls (a busy node)
	 * do not add up and the reports keep their rate. */
	period_ns = (uint64_t)period * 1000000u;
	next_due_ns = (uint64_t)ns_clock_ns() + period_ns;
	return ns_timer_set(TIMER_REPORT, period >= 50 ? period / 5 : 10, true);
}

static uint32_t hash_tuple(const struct ns_ip *ip)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	h = (h ^ ip->version) * 16777619u;
	h = (h ^ ip->ttl) * 16777619u;
	for (uint32_t i = 0; i < ip->addr_len; i++)
		h = (h ^ ip->src[i]) * 16777619u;
	for (uint32_t i = 0; i < ip->addr_len; i++)
		h = (h ^ ip->dst[i]) * 16777619u;
	return h;
}

/* Finds the tuple's entry, adding it if there is room; NULL if the table is full. */
static struct flow *lookup(const struct ns_ip *ip)
{
	uint32_t i = hash_tuple(ip) & (FLOW_SLOTS - 1);
	for (;; i = (i + 1) & (FLOW_SLOTS - 1)) {
		struct flow *f = &flows[i];
		if (!f->used)
			break;
		if (f->version == ip->version && f->ttl == ip->ttl &&
		    !ns_memcmp(f->src, ip->src, ip->addr_len) &&
		    !ns_memcmp(f->dst, ip->dst, ip->addr_len))
			return f;
	}
	if (n_flows >= FLOW_MAX)
		return NULL;
	struct flow *f = &flows[i];
	f->used = true;
	f->version = ip->version;
	f->ttl = ip->ttl;
	ns_memcpy(f->src, ip->src, ip->addr_len);
	ns_memcpy(f->dst, ip->dst, ip->addr_len);
	n_flows++;
	return f;
}

/* The IP header of a sampled copy, which may be cut short: what the flow
 * table needs (version, TTL, addresses) and the datagram's length from the
 * header. Returns 0 or -NS_EINVAL. */
static int sample_head(const uint8_t *p, uint32_t len, struct ns_ip *ip)
{
	ns_memset(ip, 0, sizeof(*ip));
	if (len >= 20 && p[0] >> 4 == 4 && (p[0] & 0x0f) >= 5) {
		ip->version = 4;
		ip->ttl = p[8];
		ip->addr_len = 4;
		ip->len = ns_get_be16(p + 2);
		ip->src = p + 12;
		ip->dst = p + 16;
		return 0;
	}
	if (len >= 40 && p[0] >> 4 == 6) {
		ip->version = 6;
		ip->ttl = p[7];
		ip->addr_len = 16;
		ip->len = 40 + (uint32_t)ns_get_be16(p + 4);
		ip->src = p + 8;
		ip->dst = p + 24;
		return 0;
	}
	return -NS_EINVAL;
}

/* Counts `n` packets of `bytes` bytes each for the packet's tuple. */
static void count(const struct ns_ip *ip, bool ip_ok, uint64_t n, uint64_t bytes)
{
	total_pkts += n;
	total_bytes += n * bytes;
	ns_counter_add(c_packets, n);
	ns_counter_add(c_bytes, n * bytes);
	if (!ip_ok) {
		ns_counter_add(c_non_ip, n);
		return;
	}
	struct flow *f = lookup(ip);
	if (!f) {
		ns_counter_add(c_untracked, n);
		return;
	}
	f->pkts += n;
	f->bytes += n * bytes;
}

int32_t ns_packet(uint32_t len)
{
	struct ns_pkt_meta meta;
	struct ns_ip ip;
	if (ns_pkt_meta(&meta) == 0 && meta.sample_every > 0) {
		/* One copy in N: it stands for N packets (its verdict is ignored). */
		sample_every = meta.sample_every;
		ns_counter_add(c_samples, 1);
		bool ok = sample_head(ns_pkt_data(), len, &ip) == 0;
		count(&ip, ok, sample_every, ok ? ip.len : len);
		return NS_ACCEPT;
	}
	bool ok = ns_ip_parse(ns_pkt_data(), len, &ip) == 0;
	count(&ip, ok, 1, len);
	return NS_ACCEPT;
}

/* Writes the header line of part `part` of `parts` into dgram; returns its length. */
static uint32_t header(uint32_t part, uint32_t parts, int64_t now_ms)
{
	char est[48] = "";
	if (sample_every)
		ns_snprintf(est, sizeof(est), " sample=1/%u estimated=1", sample_every);
	return (uint32_t)ns_snprintf(dgram, sizeof(dgram),
	                             "NETMON 1 label=%s seq=%u part=%u/%u time=%lld packets=%llu "
	                             "bytes=%llu flows=%u%s\n",
	                             label, seq, part, parts, (long long)now_ms,
	                             (unsigned long long)total_pkts,
	                             (unsigned long long)total_bytes, n_flows, est);
}

static void send_dgram(uint32_t len)
{
	if (ns_send_udp(viz_version, viz_addr, viz_port, 0, dgram, len) < 0)
		ns_counter_add(c_send_errors, 1);
	else
		ns_counter_add(c_datagrams, 1);
}

/* One flow line into line[]; returns its length. */
static uint32_t flow_line(char *line, uint32_t cap, const struct flow *f)
{
	char src[NS_IP_STRLEN], dst[NS_IP_STRLEN];
	ns_fmt_ip(src, sizeof(src), f->version, f->src);
	ns_fmt_ip(dst, sizeof(dst), f->version, f->dst);
	return (uint32_t)ns_snprintf(line, cap, "%s %s %u %llu %llu\n", src, dst, f->ttl,
	                             (unsigned long long)f->pkts, (unsigned long long)f->bytes);
}

void ns_timer(uint32_t id)
{
	if (id != TIMER_REPORT)
		return;
	uint64_t now_ns = (uint64_t)ns_clock_ns();
	if (now_ns < next_due_ns)
		return;
	next_due_ns += period_ns;
	if (now_ns >= next_due_ns) /* a whole period behind: start afresh */
		next_due_ns = now_ns + period_ns;
	seq++;
	int64_t now = ns_time_ms();
	/* How many parts: a first pass measures the lines (a header line is at
	 * most ~220 bytes, with the sampled fields). */
	char line[160];
	uint32_t hmax = 240, parts = 1, used = hmax;
	for (uint32_t i = 0; i < FLOW_SLOTS; i++) {
		if (!flows[i].used)
			continue;
		uint32_t n = flow_line(line, sizeof(line), &flows[i]);
		if (used + n > max_payload) {
			parts++;
			used = hmax;
		}
		used += n;
	}
	/* Then the parts themselves, split at the same places. */
	uint32_t part = 1, len = header(part, parts, now);
	used = hmax;
	for (uint32_t i = 0; i < FLOW_SLOTS; i++) {
		if (!flows[i].used)
			continue;
		uint32_t n = flow_line(line, sizeof(line), &flows[i]);
		if (used + n > max_payload) {
			send_dgram(len);
			len = header(++part, parts, now);
			used = hmax;
		}
		ns_memcpy(dgram + len, line, n);
		len += n;
		used += n;
	}
	send_dgram(len);
	ns_counter_add(c_reports, 1);
}
