/* What the XDP program (netserv_xdp.bpf.c) and user space share: the rule
 * that one SETUP filter becomes in the rules map, the metadata the program
 * puts before a redirected frame, the counters' indexes and the maps' sizes.
 * Included by the BPF program and by C; types from <linux/types.h> only. */
#pragma once

#include <linux/types.h>

/* Rules (filters) per interface's program; the rules map is an array. */
#define NETSERV_XDP_MAX_RULES 64
/* XSKMAP entries: a rule redirects to xsk_base + the frame's rx queue. */
#define NETSERV_XDP_MAX_XSKS 256

/* One filter (struct ncm_filter) as the program matches it. Addresses and
 * masks in network byte order, ports in host order; family 0 = any. */
struct netserv_xdp_rule {
	__u8 proto;      /* IP protocol; 0 = any */
	__u8 src_family; /* 0 = any, 4 or 6 */
	__u8 dst_family;
	__u8 has_ports; /* 1: the destination port must be in [port_lo, port_hi] */
	__u16 port_lo;
	__u16 port_hi;
	__u32 src_net[4]; /* the prefix, host bits zero */
	__u32 src_mask[4];
	__u32 dst_net[4];
	__u32 dst_mask[4];
	__u32 xsk_base;   /* first XSKMAP index of the owner's sockets */
	__u32 xsk_queues; /* how many (one per rx queue); 0: no redirect */
	/* A sampling rule (monitoring): sample_n > 0 copies the first `snap`
	 * bytes of one in sample_n matching frames to the samples ring, and
	 * every matching frame goes on to the kernel at once (XDP_PASS). A
	 * rule with neither sockets nor sampling is off. */
	__u32 sample_n;
	__u32 snap; /* 1..NETSERV_XDP_SNAP_MAX */
};

/* One sampled frame in the samples ring (a BPF ring buffer). The reader is
 * woken when NETSERV_XDP_SAMPLE_BATCH samples wait; it must also read on a
 * timer (xdp_sample.h). */
#define NETSERV_XDP_SNAP_MAX     256
#define NETSERV_XDP_SAMPLE_BATCH 32
struct netserv_xdp_sample {
	__u32 rule;    /* index of the rule in its set */
	__u32 len;     /* the frame's length */
	__u32 caplen;  /* bytes in data: min(len, the rule's snap) */
	__u32 ifindex; /* where it came in */
	__u8 data[NETSERV_XDP_SNAP_MAX];
};

/* The program's settings. The rules map holds two sets of
 * NETSERV_XDP_MAX_RULES rules: set s is entries [s * MAX, s * MAX + n[s]).
 * The program matches the active set; user space writes the other one and
 * then flips `active`, so that a frame never sees a set half written. */
struct netserv_xdp_config {
	__u32 active;     /* 0 or 1 */
	__u32 n_rules[2]; /* rules in use in each set, matched in order */
	__u32 flags;      /* reserved, 0 */
};

/* Put before a redirected frame (bpf_xdp_adjust_head, in the frame's
 * headroom): the kernel FIB's answer for it, so that user space forwards
 * without a route lookup. The AF_XDP descriptor's address points at these
 * 32 bytes, the frame follows; nsxsk_rx steps over them. */
#define NETSERV_XDP_META_MAGIC 0x4e535846u /* "NSXF" */
struct netserv_xdp_meta {
	__u32 magic;   /* NETSERV_XDP_META_MAGIC */
	__u32 ifindex; /* egress interface */
	__u8 dmac[6];  /* next hop's MAC */
	__u8 smac[6];  /* the egress interface's MAC */
	__u16 rule;    /* index of the rule that matched */
	__u16 l3_off;  /* offset of the IP header in the frame (14) */
	__u8 family;   /* 4 or 6 */
	__u8 pad[7];
};

/* Per-CPU counters (the counters map, an array of __u64 per CPU). */
enum netserv_xdp_counter {
	NETSERV_XDP_RX,          /* every frame the program saw */
	NETSERV_XDP_MATCHED,     /* matched a rule */
	NETSERV_XDP_REDIRECTED,  /* matched and redirected to a socket */
	NETSERV_XDP_NO_SOCKET,   /* matched, no socket in the slot: kernel */
	NETSERV_XDP_NOT_FWD,     /* matched, not forwarded by FIB / TTL <= 1: kernel */
	NETSERV_XDP_PASSED,      /* well-formed, no rule matched: kernel */
	NETSERV_XDP_MALFORMED,   /* truncated or inconsistent headers: kernel */
	NETSERV_XDP_FRAGMENT,    /* IPv4 or IPv6 fragment: kernel */
	NETSERV_XDP_EXTHDR,      /* IPv6 extension header: kernel */
	NETSERV_XDP_OTHER,       /* not IPv4/IPv6 (ARP, VLAN-tagged, ...): kernel */
	NETSERV_XDP_SAMPLED,     /* matched a sampling rule, copied to the ring: kernel */
	NETSERV_XDP_SAMPLE_LOST, /* to be copied, but the ring was full: kernel */
	NETSERV_XDP_UNSAMPLED,   /* matched a sampling rule, not this one's turn: kernel */
	NETSERV_XDP_N_COUNTERS
};
