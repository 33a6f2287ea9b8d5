/* netserv_xdp: the XDP program of the AF_XDP forwarding plane (docs/xdp.md),
 * and its tc twin netserv_tc, the netfilter plane's sampler (below).
 * On an interface of the router it matches each frame against the modules'
 * filters (the rules map, struct netserv_xdp_rule) and redirects a matching
 * frame that the kernel would forward to the AF_XDP socket of the filter's
 * owner, with the kernel FIB's answer (egress interface, MACs) in the
 * metadata before the frame. Everything else goes on to the kernel untouched
 * (XDP_PASS): frames that are not IPv4/IPv6 (also VLAN-tagged ones), that
 * are malformed (truncated, bad IHL or lengths), fragments, IPv6 with
 * extension headers, frames addressed to the router itself or that the FIB
 * does not forward (no route, no neighbour yet, MTU), TTL/hop limit <= 1, and
 * frames whose owner has no socket in its slot (fail-open: a socket that
 * closes leaves the XSKMAP by itself). Built by CMake with
 * clang -O2 -target bpf. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_abi.h"

#define AF_INET  2
#define AF_INET6 10

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * NETSERV_XDP_MAX_RULES);
	__type(key, __u32);
	__type(value, struct netserv_xdp_rule);
} netserv_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct netserv_xdp_config);
} netserv_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, NETSERV_XDP_MAX_XSKS);
	__type(key, __u32);
	__type(value, __u32);
} netserv_xsks SEC(".maps");

/* Frames matched per rule (both sets), per CPU: the sampling's turn. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2 * NETSERV_XDP_MAX_RULES);
	__type(key, __u32);
	__type(value, __u64);
} netserv_rule_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} netserv_samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NETSERV_XDP_N_COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} netserv_counters SEC(".maps");

/* What the matching needs of a parsed frame. */
struct pkt {
	__u32 src[4], dst[4]; /* IPv4: word 0 */
	__u16 dport;          /* host order */
	__u16 sport;
	__u16 tot_len; /* IP total length (IPv6: 40 + payload) */
	__u8 family;   /* 4 or 6 */
	__u8 proto;
	__u8 has_ports;
	__u8 tos;
	__u32 flowinfo;
};

static __always_inline void count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&netserv_counters, &what);
	if (c)
		*c += 1;
}

static __always_inline int has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

static __always_inline int ipv6_exthdr(__u8 nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 50 || nh == 51 || nh == 60 || nh == 135 ||
	       nh == 139 || nh == 140 || nh == 253 || nh == 254;
}

/* Parses the frame at data into *p: its headers lie in [data, end), and it is
 * pkt_len bytes long in all (XDP: end - data; tc: the skb's length, of which
 * the headers are in its linear part). Returns 0, or the counter that says
 * why the frame goes to the kernel. */
static __always_inline int parse(void *data, void *end, __u32 pkt_len, struct pkt *p)
{
	struct ethhdr *eth = data;
	void *l4;

	if ((void *)(eth + 1) > end)
		return NETSERV_XDP_MALFORMED;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return NETSERV_XDP_MALFORMED;
		__u32 ihl = ip->ihl;
		__u32 tot = bpf_ntohs(ip->tot_len);
		if (ip->version != 4 || ihl < 5 || tot < ihl * 4 || sizeof(*eth) + tot > pkt_len)
			return NETSERV_XDP_MALFORMED;
		if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
			return NETSERV_XDP_FRAGMENT;
		p->family = 4;
		p->proto = ip->protocol;
		p->src[0] = ip->saddr;
		p->dst[0] = ip->daddr;
		p->tot_len = (__u16)tot;
		p->tos = ip->tos;
		l4 = (void *)ip + ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return NETSERV_XDP_MALFORMED;
		__u32 plen = bpf_ntohs(ip6->payload_len);
		if (ip6->version != 6 || sizeof(*eth) + sizeof(*ip6) + plen > pkt_len)
			return NETSERV_XDP_MALFORMED;
		if (ipv6_exthdr(ip6->nexthdr))
			return ip6->nexthdr == 44 ? NETSERV_XDP_FRAGMENT : NETSERV_XDP_EXTHDR;
		p->family = 6;
		p->proto = ip6->nexthdr;
		__builtin_memcpy(p->src, &ip6->saddr, 16);
		__builtin_memcpy(p->dst, &ip6->daddr, 16);
		p->tot_len = (__u16)(40 + plen);
		p->flowinfo = *(__u32 *)ip6 & bpf_htonl(0x0fffffff);
		l4 = ip6 + 1;
	} else {
		return NETSERV_XDP_OTHER;
	}
	if (has_ports(p->proto)) {
		__u16 *ports = l4;
		/* The IP lengths said the datagram is all there: a transport
		 * header shorter than its ports is malformed. */
		if ((void *)(ports + 2) > end)
			return NETSERV_XDP_MALFORMED;
		p->has_ports = 1;
		p->sport = bpf_ntohs(ports[0]);
		p->dport = bpf_ntohs(ports[1]);
	}
	return 0;
}

static __always_inline int rule_match(const struct netserv_xdp_rule *r, const struct pkt *p)
{
	if (!r->xsk_queues && !r->sample_n)
		return 0;
	if (r->proto && r->proto != p->proto)
		return 0;
	if (r->has_ports && (!p->has_ports || p->dport < r->port_lo || p->dport > r->port_hi))
		return 0;
	if (r->src_family) {
		if (r->src_family != p->family)
			return 0;
		for (int w = 0; w < 4; w++)
			if ((p->src[w] & r->src_mask[w]) != r->src_net[w])
				return 0;
	}
	if (r->dst_family) {
		if (r->dst_family != p->family)
			return 0;
		for (int w = 0; w < 4; w++)
			if ((p->dst[w] & r->dst_mask[w]) != r->dst_net[w])
				return 0;
	}
	return 1;
}

/* Asks the kernel's FIB where the frame goes; fills the metadata. Returns 0
 * when the kernel would forward it (and has the neighbour), -1 if not. */
static __always_inline int fib(struct xdp_md *ctx, const struct pkt *p, struct netserv_xdp_meta *m)
{
	struct bpf_fib_lookup f = {};

	f.ifindex = ctx->ingress_ifindex;
	f.l4_protocol = p->proto;
	f.sport = bpf_htons(p->sport);
	f.dport = bpf_htons(p->dport);
	f.tot_len = p->tot_len;
	if (p->family == 4) {
		f.family = AF_INET;
		f.tos = p->tos;
		f.ipv4_src = p->src[0];
		f.ipv4_dst = p->dst[0];
	} else {
		f.family = AF_INET6;
		f.flowinfo = p->flowinfo;
		__builtin_memcpy(f.ipv6_src, p->src, 16);
		__builtin_memcpy(f.ipv6_dst, p->dst, 16);
	}
	if (bpf_fib_lookup(ctx, &f, sizeof(f), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return -1;
	m->magic = NETSERV_XDP_META_MAGIC;
	m->ifindex = f.ifindex;
	__builtin_memcpy(m->dmac, f.dmac, 6);
	__builtin_memcpy(m->smac, f.smac, 6);
	m->l3_off = sizeof(struct ethhdr);
	m->family = p->family;
	return 0;
}

/* A frame that matched sampling rule `rule` (at `key` in the rules map):
 * counted as matched, and one in sample_n of the frames it matched on this
 * CPU goes to the samples ring (its first snap bytes, of len in all, loaded
 * from ctx by the XDP or the skb helper); all go on. Returns 1. */
static __always_inline int sample(void *ctx, int is_skb, __u32 key, __u32 rule, __u32 sample_n,
                                  __u32 snap, __u32 len, __u32 ifindex)
{
	count(NETSERV_XDP_MATCHED);
	__u64 *hits = bpf_map_lookup_elem(&netserv_rule_hits, &key);
	__u64 nth = hits ? ++*hits : 0;
	if (!sample_n || nth % sample_n != 0) {
		count(NETSERV_XDP_UNSAMPLED);
		return 1;
	}
	struct netserv_xdp_sample *s = bpf_ringbuf_reserve(&netserv_samples, sizeof(*s), 0);
	if (!s) {
		count(NETSERV_XDP_SAMPLE_LOST);
		return 1;
	}
	__u32 cap = snap < len ? snap : len;
	if (cap > NETSERV_XDP_SNAP_MAX)
		cap = NETSERV_XDP_SNAP_MAX;
	s->rule = rule;
	s->len = len;
	s->ifindex = ifindex;
	s->caplen = 0;
	if (cap > 0) {
		/* 1..NETSERV_XDP_SNAP_MAX (256), in a way the verifier sees: the
		 * mask in asm, where the compiler cannot drop or move it. */
		__u64 c = cap - 1;
		asm volatile("%[c] &= 255" : [c] "+r"(c));
		c += 1;
		long r = is_skb ? bpf_skb_load_bytes(ctx, 0, s->data, (__u32)c)
		                : bpf_xdp_load_bytes(ctx, 0, s->data, (__u32)c);
		if (r == 0)
			s->caplen = (__u32)c;
	}
	/* Wake the reader once a batch waits, not for every sample: it also
	 * reads on a timer, so a lone sample waits at most that long. */
	__u64 avail = bpf_ringbuf_query(&netserv_samples, BPF_RB_AVAIL_DATA);
	bpf_ringbuf_submit(s, avail >= NETSERV_XDP_SAMPLE_BATCH * sizeof(*s) ? BPF_RB_FORCE_WAKEUP
	                                                                     : BPF_RB_NO_WAKEUP);
	count(NETSERV_XDP_SAMPLED);
	return 1;
}

/* sample() for the XDP program. A global function: the verifier checks it
 * once, not on every path of the rules' scan that calls it. */
__attribute__((noinline)) int netserv_sample(struct xdp_md *ctx, __u32 key, __u32 rule,
                                             __u32 sample_n, __u32 snap)
{
	if (!ctx)
		return 1;
	return sample(ctx, 0, key, rule, sample_n, snap, (__u32)(ctx->data_end - ctx->data),
	              ctx->ingress_ifindex);
}

/* sample() for the tc program, as netserv_sample. */
__attribute__((noinline)) int netserv_sample_skb(struct __sk_buff *skb, __u32 key, __u32 rule,
                                                 __u32 sample_n, __u32 snap)
{
	if (!skb)
		return 1;
	return sample(skb, 1, key, rule, sample_n, snap, skb->len, skb->ingress_ifindex);
}

SEC("xdp")
int netserv_xdp(struct xdp_md *ctx)
{
	struct pkt p = {};
	__u32 zero = 0;

	count(NETSERV_XDP_RX);
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int why = parse(data, end, (__u32)(end - data), &p);
	if (why) {
		count(why);
		return XDP_PASS;
	}
	struct netserv_xdp_config *cfg = bpf_map_lookup_elem(&netserv_config, &zero);
	__u32 set = cfg && cfg->active ? 1 : 0;
	__u32 n = cfg ? cfg->n_rules[set] : 0;
	/* The first redirecting rule that matches wins. Sampling rules do not
	 * end the scan: each one that matches on the way samples the frame, so
	 * that a sampled module and a module on the path with the same filter
	 * (or two sampled modules) all get their frames, as NFLOG rules are
	 * not final on the netfilter plane. */
	const struct netserv_xdp_rule *hit = 0;
	__u32 i, sampled = 0;
	for (i = 0; i < NETSERV_XDP_MAX_RULES; i++) {
		if (i >= n)
			break;
		__u32 key = set * NETSERV_XDP_MAX_RULES + i;
		const struct netserv_xdp_rule *r = bpf_map_lookup_elem(&netserv_rules, &key);
		if (!r)
			break;
		if (rule_match(r, &p)) {
			if (r->sample_n) {
				sampled |= netserv_sample(ctx, key, i, r->sample_n, r->snap);
				continue;
			}
			hit = r;
			break;
		}
	}
	if (!hit) {
		if (!sampled)
			count(NETSERV_XDP_PASSED);
		return XDP_PASS;
	}
	count(NETSERV_XDP_MATCHED);
	__u32 hkey = set * NETSERV_XDP_MAX_RULES + i;
	__u64 *hits = bpf_map_lookup_elem(&netserv_rule_hits, &hkey);
	if (hits)
		++*hits;

	/* The TTL / hop limit: at 1 the kernel answers with ICMP. */
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	__u8 *ttl = data + sizeof(struct ethhdr) + (p.family == 4 ? 8 : 7);
	if ((void *)(ttl + 1) > end || *ttl <= 1) {
		count(NETSERV_XDP_NOT_FWD);
		return XDP_PASS;
	}
	struct netserv_xdp_meta m = {};
	if (fib(ctx, &p, &m) < 0) {
		count(NETSERV_XDP_NOT_FWD);
		return XDP_PASS;
	}
	m.rule = (__u16)i;
	__u32 q = ctx->rx_queue_index;
	if (q >= hit->xsk_queues) {
		count(NETSERV_XDP_NO_SOCKET);
		return XDP_PASS;
	}
	__u32 slot = hit->xsk_base + q;

	/* Without its metadata user space could not forward the frame. It goes
	 * in front of the frame, in the packet's own headroom (bpf_xdp_adjust_head):
	 * some kernels refuse bpf_xdp_adjust_meta to XDP programs ("program of
	 * this type cannot use helper bpf_xdp_adjust_meta#54", 6.18.44-fc-v1294).
	 * nsxsk_rx steps over it. */
	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(m)) != 0) {
		count(NETSERV_XDP_NOT_FWD);
		return XDP_PASS;
	}
	void *meta = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (meta + sizeof(m) > end) {
		bpf_xdp_adjust_head(ctx, (int)sizeof(m));
		count(NETSERV_XDP_NOT_FWD);
		return XDP_PASS;
	}
	__builtin_memcpy(meta, &m, sizeof(m));
	/* The low bits of the flags are the action when the slot is empty. */
	long act = bpf_redirect_map(&netserv_xsks, slot, XDP_PASS);
	if (act != XDP_REDIRECT) { /* to the kernel: the frame as it came */
		bpf_xdp_adjust_head(ctx, (int)sizeof(m));
		count(NETSERV_XDP_NO_SOCKET);
		return XDP_PASS;
	}
	count(NETSERV_XDP_REDIRECTED);
	return XDP_REDIRECT;
}

/* Frames' headers the tc program wants in the skb's linear part: Ethernet,
 * the longest IPv4 header, the ports. */
#define TC_HEADERS (14 + 60 + 4)

/* netserv_tc: the netfilter plane's sampler (docs/xdp.md, "Sampling on the
 * netfilter plane"), on tc's clsact ingress of the router's interfaces. The
 * same parse, rules map, samples ring and counters as netserv_xdp, on the
 * skb: no copy of the frame, no netfilter rule per packet. Its rules are
 * sampling rules only (one that would redirect is off here); every frame
 * goes on unchanged (TC_ACT_OK), sampled or not. */
SEC("tc")
int netserv_tc(struct __sk_buff *skb)
{
	struct pkt p = {};
	__u32 zero = 0;

	count(NETSERV_XDP_RX);
	__u32 linear = (__u32)(skb->data_end - skb->data);
	if (linear < skb->len && linear < TC_HEADERS)
		bpf_skb_pull_data(skb, skb->len < TC_HEADERS ? skb->len : TC_HEADERS);
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	int why = parse(data, end, skb->len, &p);
	if (why) {
		count(why);
		return TC_ACT_OK;
	}
	struct netserv_xdp_config *cfg = bpf_map_lookup_elem(&netserv_config, &zero);
	__u32 set = cfg && cfg->active ? 1 : 0;
	__u32 n = cfg ? cfg->n_rules[set] : 0;
	__u32 sampled = 0;
	for (__u32 i = 0; i < NETSERV_XDP_MAX_RULES; i++) {
		if (i >= n)
			break;
		__u32 key = set * NETSERV_XDP_MAX_RULES + i;
		const struct netserv_xdp_rule *r = bpf_map_lookup_elem(&netserv_rules, &key);
		if (!r)
			break;
		if (r->sample_n && rule_match(r, &p))
			sampled |= netserv_sample_skb(skb, key, i, r->sample_n, r->snap);
	}
	if (!sampled)
		count(NETSERV_XDP_PASSED);
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";
