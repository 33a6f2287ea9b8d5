/* counter: counts packets and bytes by (source, destination, TTL), as the
 * NetMonitor module of the NetServ papers does. The tuples live in a hash
 * table in the module's memory; the node sees them as counters, which it
 * shows in its status and in PROBE responses:
 *   packets, bytes     every packet seen
 *   non_ip             packets that are not well-formed IPv4/IPv6
 *   untracked          packets of tuples that did not fit in the table
 *   "pkts SRC>DST ttl=N", "bytes SRC>DST ttl=N"
 *                      per tuple, for the first max_named tuples (property,
 *                      default 32, at most 256); later tuples, and tuples
 *                      whose names are too long for the node, are counted in
 *                      the module only
 * Every packet is accepted. */
#include <netserv.h>

#define FLOW_SLOTS 4096 /* a power of two */
#define FLOW_MAX   3072 /* keep the table at most 3/4 full */
#define NAMED_MAX  256

struct flow {
	bool used;
	uint8_t version;
	uint8_t ttl;
	int32_t id_pkts; /* the node's per-tuple counters, -1 if none */
	int32_t id_bytes;
	uint64_t pkts;
	uint64_t bytes;
	uint8_t src[16];
	uint8_t dst[16];
};

static struct flow flows[FLOW_SLOTS];
static uint32_t n_flows, n_named, max_named;
static int32_t c_packets, c_bytes, c_non_ip, c_untracked;

int32_t ns_init(void)
{
	ns_memset(flows, 0, sizeof(flows));
	n_flows = n_named = 0;
	max_named = ns_prop_u32("max_named", 32);
	if (max_named > NAMED_MAX)
		max_named = NAMED_MAX;
	c_packets = ns_counter_id("packets");
	c_bytes = ns_counter_id("bytes");
	c_non_ip = ns_counter_id("non_ip");
	c_untracked = ns_counter_id("untracked");
	return 0;
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

/* Gives a new tuple its named counters, while there are names left. */
static void name_flow(struct flow *f)
{
	f->id_pkts = f->id_bytes = -1;
	if (n_named >= max_named)
		return;
	char src[NS_IP_STRLEN], dst[NS_IP_STRLEN], name[128];
	ns_fmt_ip(src, sizeof(src), f->version, f->src);
	ns_fmt_ip(dst, sizeof(dst), f->version, f->dst);
	ns_snprintf(name, sizeof(name), "pkts %s>%s ttl=%u", src, dst, f->ttl);
	f->id_pkts = ns_counter_id(name);
	ns_snprintf(name, sizeof(name), "bytes %s>%s ttl=%u", src, dst, f->ttl);
	f->id_bytes = ns_counter_id(name);
	if (f->id_pkts == -NS_ENOSPC || f->id_bytes == -NS_ENOSPC)
		n_named = max_named; /* the node allows no more counters */
	else if (f->id_pkts >= 0 && f->id_bytes >= 0)
		n_named++;
	/* else the name is too long for the node (long IPv6 addresses): this
	 * tuple is counted in the module only. */
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
	name_flow(f);
	return f;
}

int32_t ns_packet(uint32_t len)
{
	ns_counter_add(c_packets, 1);
	ns_counter_add(c_bytes, len);
	struct ns_ip ip;
	if (ns_ip_parse(ns_pkt_data(), len, &ip) < 0) {
		ns_counter_add(c_non_ip, 1);
		return NS_ACCEPT;
	}
	struct flow *f = lookup(&ip);
	if (!f) {
		ns_counter_add(c_untracked, 1);
		return NS_ACCEPT;
	}
	f->pkts++;
	f->bytes += len;
	ns_counter_add(f->id_pkts, 1);
	ns_counter_add(f->id_bytes, len);
	return NS_ACCEPT;
}

void ns_fini(void)
{
	ns_logf(NS_LOG_INFO, "counter: %u tuples, %u with named counters", n_flows, n_named);
}
