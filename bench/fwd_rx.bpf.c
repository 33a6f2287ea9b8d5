/* fwd_rx: the receiver's tc ingress program in the forwarding benchmark
 * (bench/forwarding), so that the receiver costs the router's CPU next to
 * nothing. UDP/IPv4 datagrams from port BENCH_PORT to port BENCH_PORT (the
 * pings of fwd_ping) go straight back out of the interface they came in on,
 * addresses swapped (an echo in the kernel: no process to wake); every other
 * frame (the load of fwd_gen, whose source port is BENCH_PORT + 1) is dropped
 * before the IP stack sees it. The interface's rx counter has counted them
 * all by then.
 *
 *   clang -O2 -target bpf -DBENCH_PORT=N -c fwd_rx.bpf.c -o fwd_rx.o
 *   tc qdisc add dev IF clsact
 *   tc filter add dev IF ingress bpf direct-action obj fwd_rx.o sec tc
 *
 * Swapping the addresses and the (equal) ports changes no checksum. Built
 * without libbpf: the one helper is declared by its number. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#ifndef BENCH_PORT
#error "define BENCH_PORT"
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BE16(x) ((__be16)__builtin_bswap16(x))
#else
#define BE16(x) ((__be16)(x))
#endif

static long (*bpf_redirect)(__u32 ifindex, __u64 flags) = (void *)BPF_FUNC_redirect;

__attribute__((section("tc"), used)) int fwd_rx(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);

	if ((void *)(udp + 1) > end)
		return TC_ACT_SHOT;
	if (eth->h_proto != BE16(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    udp->source != BE16(BENCH_PORT) || udp->dest != BE16(BENCH_PORT))
		return TC_ACT_SHOT;

	unsigned char mac[ETH_ALEN];
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	__be32 a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	return (int)bpf_redirect(skb->ifindex, 0);
}

char _license[] __attribute__((section("license"), used)) = "GPL";
