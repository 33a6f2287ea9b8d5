/* fwd_timeline: the receiver's tc ingress program in the kill measurement
 * (bench/forwarding --kill, bench/xdp-kill): counts every IPv4 UDP frame into
 * the millisecond bucket of its arrival, (now - t0) / 1 ms, and drops every
 * frame, so that the receiver costs the router's CPU next to nothing (as
 * bench/fwd_rx.bpf.c). Slot 0 of tl_start holds t0 (CLOCK_MONOTONIC ns, as
 * bpf_ktime_get_ns), written by bench_fwd_timeline once it is attached; until
 * then nothing is counted. Frames after the last bucket are not counted. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TL_BUCKETS 120000 /* 120 s of 1 ms buckets */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tl_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TL_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} tl_counts SEC(".maps");

SEC("tc") int fwd_timeline(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	__u32 zero = 0;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->protocol != IPPROTO_UDP)
		return TC_ACT_SHOT;
	__u64 *t0 = bpf_map_lookup_elem(&tl_start, &zero);
	if (!t0 || *t0 == 0)
		return TC_ACT_SHOT;
	__u64 now = bpf_ktime_get_ns();
	if (now < *t0)
		return TC_ACT_SHOT;
	__u64 ms = (now - *t0) / 1000000;
	if (ms >= TL_BUCKETS)
		return TC_ACT_SHOT;
	__u32 key = (__u32)ms;
	__u64 *c = bpf_map_lookup_elem(&tl_counts, &key);
	if (c)
		__sync_fetch_and_add(c, 1);
	return TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
