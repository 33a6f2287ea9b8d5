/* fwd_gen: the offered load of the forwarding benchmark (bench/forwarding).
 * UDP/IPv4 frames are built once and sent with sendmmsg on an AF_PACKET
 * socket that bypasses the qdisc, paced to RATE frames per second for
 * SECONDS, so that the sender's own IP stack does not limit the load.
 *
 *   fwd_gen -i IF -m DSTMAC -s SRCIP -d DSTIP -p PORT [-l BYTES] [-r RATE]
 *           [-t SECONDS] [-b BURST] [-c CPU] [-n FLOWS] [-k TRAIN]
 *
 * -n spreads the frames evenly, in turn, over FLOWS destination ports PORT ..
 * PORT + FLOWS - 1 (default 1; bench/containers: one per publisher); -k sends
 * TRAIN frames in a row to one port before the next port's turn (default 1:
 * round robin, frame by frame).
 * -l is the UDP payload length (default 64); -r 0 (the default) sends as fast
 * as the socket takes frames. Frames leave in bursts of at most BURST
 * (default 32) and at most 50 us worth of the rate. When the sender falls
 * behind its schedule by more than LAG_NS (it was not running), it does not
 * catch up with a burst, which the router would see as a burst: the
 * schedule moves on, and the time counts (the achieved rate is lower). A
 * frame the device refuses (ENOBUFS: the receiving veth's ring is full) is
 * counted, not retried: to the router it is a packet lost at its input. The
 * source port is PORT + 1 (PORT - 1 with -n above 1). Prints "sent=N refused=R seconds=T late=L"
 * (L: times the schedule moved on); exit status 0, 1 on a system error, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "fwd_gen"
#include "bench_util.h"

#define MAX_BURST   64
#define MAX_FLOWS   4096
#define LAG_NS      200000 /* behind schedule by more than this: move it on */
#define MAX_PAYLOAD 1472   /* one 1500-byte MTU */
#define HDR_LEN     (sizeof(struct ether_header) + sizeof(struct iphdr) + sizeof(struct udphdr))

struct gen_opts {
	const char *ifname;
	uint8_t dst_mac[ETH_ALEN];
	struct in_addr src, dst;
	uint16_t port;
	unsigned payload; /* UDP payload bytes */
	uint64_t rate;    /* frames per second, 0: as fast as possible */
	double seconds;   /* how long to send */
	unsigned burst;   /* frames per sendmmsg, at most */
	int cpu;          /* CPU to run on, -1: any */
	unsigned flows;   /* destination ports port .. port + flows - 1 */
	unsigned train;   /* frames in a row to one port */
};

static void usage(void)
{
	fprintf(stderr, "usage: fwd_gen -i IF -m DSTMAC -s SRCIP -d DSTIP -p PORT [-l BYTES] "
	                "[-r RATE] [-t SECONDS] [-b BURST] [-c CPU] [-n FLOWS] [-k TRAIN]\n");
	exit(2);
}

static int parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	unsigned v[ETH_ALEN];
	char tail;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) !=
	    ETH_ALEN)
		return -EINVAL;
	for (int i = 0; i < ETH_ALEN; i++) {
		if (v[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static void parse_args(int argc, char **argv, struct gen_opts *o)
{
	int c;
	bool have_mac = false, have_src = false, have_dst = false;

	*o = (struct gen_opts){
	        .payload = 64, .seconds = 1.0, .burst = 32, .cpu = -1, .flows = 1, .train = 1};
	while ((c = getopt(argc, argv, "i:m:s:d:p:l:r:t:b:c:n:k:")) != -1) {
		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 'm':
			have_mac = parse_mac(optarg, o->dst_mac) == 0;
			break;
		case 's':
			have_src = inet_pton(AF_INET, optarg, &o->src) == 1;
			break;
		case 'd':
			have_dst = inet_pton(AF_INET, optarg, &o->dst) == 1;
			break;
		case 'p':
			o->port = (uint16_t)atoi(optarg);
			break;
		case 'l':
			o->payload = (unsigned)atoi(optarg);
			break;
		case 'r':
			o->rate = strtoull(optarg, NULL, 10);
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 'b':
			o->burst = (unsigned)atoi(optarg);
			break;
		case 'c':
			o->cpu = atoi(optarg);
			break;
		case 'n':
			o->flows = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'k':
			o->train = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!o->ifname || !have_mac || !have_src || !have_dst || o->port == 0 || o->port == 65535 ||
	    o->payload < 1 || o->payload > MAX_PAYLOAD || o->seconds <= 0 || o->burst < 1 ||
	    o->burst > MAX_BURST || o->flows < 1 || o->flows > MAX_FLOWS || o->train < 1 ||
	    o->train > 1000000 || (uint32_t)o->port + o->flows > 65535 ||
	    (o->flows > 1 && o->port < 2))
		usage();
}

static uint16_t ip_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* Writes one Ethernet/IPv4/UDP frame to port o->port + flow into buf;
 * returns its length. The UDP checksum is 0 (none), which IPv4 allows. */
static size_t build_frame(const struct gen_opts *o, const uint8_t src_mac[ETH_ALEN], unsigned flow,
                          uint8_t *buf)
{
	struct ether_header *eth = (struct ether_header *)buf;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);
	uint8_t *payload = (uint8_t *)(udp + 1);

	memcpy(eth->ether_dhost, o->dst_mac, ETH_ALEN);
	memcpy(eth->ether_shost, src_mac, ETH_ALEN);
	eth->ether_type = htons(ETHERTYPE_IP);
	*ip = (struct iphdr){
	        .version = 4,
	        .ihl = 5,
	        .tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*udp) + o->payload)),
	        .frag_off = htons(IP_DF),
	        .ttl = 64,
	        .protocol = IPPROTO_UDP,
	        .saddr = o->src.s_addr,
	        .daddr = o->dst.s_addr,
	};
	ip->check = ip_checksum(ip, sizeof(*ip));
	*udp = (struct udphdr){
	        .source = htons((uint16_t)(o->flows > 1 ? o->port - 1 : o->port + 1)),
	        .dest = htons((uint16_t)(o->port + flow)),
	        .len = htons((uint16_t)(sizeof(*udp) + o->payload)),
	};
	memset(payload, 'b', o->payload);
	payload[0] = 'a';
	return HDR_LEN + o->payload;
}

/* Opens the AF_PACKET socket on ifname and reads the interface's MAC.
 * Returns the socket or -errno. */
static int open_socket(const char *ifname, uint8_t mac[ETH_ALEN])
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		goto fail;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	struct sockaddr_ll sll = {
	        .sll_family = AF_PACKET,
	        .sll_protocol = 0, /* send only: receive nothing */
	        .sll_ifindex = (int)if_nametoindex(ifname),
	};
	if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		goto fail;
	int one = 1, sndbuf = 4 << 20;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return fd;
fail:;
	int r = -errno;
	close(fd);
	return r;
}

/* Sleeps, then spins, until the monotonic clock reaches due. */
static void wait_until(uint64_t due)
{
	uint64_t t;
	while ((t = now_ns()) < due) {
		if (due - t > 200000) {
			struct timespec ts = {0, (long)(due - t - 100000)};
			nanosleep(&ts, NULL);
		}
	}
}

int main(int argc, char **argv)
{
	struct gen_opts o;
	uint8_t src_mac[ETH_ALEN];

	parse_args(argc, argv, &o);
	if (o.cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			perror("fwd_gen: sched_setaffinity");
			return 1;
		}
	}
	int fd = open_socket(o.ifname, src_mac);
	if (fd < 0) {
		fprintf(stderr, "fwd_gen: %s: %s\n", o.ifname, strerror(-fd));
		return 1;
	}

	/* One frame per flow, built once: nothing in them changes per packet. */
	uint8_t *frames = calloc(o.flows, HDR_LEN + MAX_PAYLOAD);
	struct iovec *iovs = calloc(o.flows, sizeof(*iovs));
	if (!frames || !iovs) {
		fprintf(stderr, "fwd_gen: out of memory\n");
		return 1;
	}
	for (unsigned f = 0; f < o.flows; f++) {
		uint8_t *frame = frames + (size_t)f * (HDR_LEN + MAX_PAYLOAD);
		iovs[f] = (struct iovec){.iov_base = frame,
		                         .iov_len = build_frame(&o, src_mac, f, frame)};
	}
	unsigned next_flow = 0, in_train = 0; /* the flows take turns, train by train */
	struct mmsghdr msgs[MAX_BURST];
	for (unsigned i = 0; i < MAX_BURST; i++)
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iovs[0], .msg_iovlen = 1}};

	/* Paced: exactly rate * seconds frames, each burst when its first frame
	 * is due. Unpaced: until the time is up. */
	uint64_t total = o.rate ? (uint64_t)((double)o.rate * o.seconds + 0.5) : UINT64_MAX;
	uint64_t span = (uint64_t)(o.seconds * 1e9);
	unsigned burst = o.burst;
	if (o.rate) {
		uint64_t most = o.rate / 20000; /* 50 us worth */
		if (most < 1)
			most = 1;
		if (most < burst)
			burst = (unsigned)most;
	}
	uint64_t done = 0, sent = 0, refused = 0, late = 0, start = now_ns();
	uint64_t base = start, base_done = 0; /* the schedule: base + (done - base_done) / rate */
	while (done < total) {
		if (o.rate) {
			uint64_t due = base + (done - base_done) * 1000000000u / o.rate;
			uint64_t t = now_ns();
			if (t > due + LAG_NS) {
				base = t;
				base_done = done;
				late++;
			} else {
				wait_until(due);
			}
		} else if (now_ns() - start >= span) {
			break;
		}
		unsigned n = burst, off = 0;
		if (total - done < n)
			n = (unsigned)(total - done);
		if (o.flows > 1) {
			for (unsigned i = 0; i < n; i++) {
				msgs[i].msg_hdr.msg_iov = &iovs[next_flow];
				if (++in_train < o.train)
					continue;
				in_train = 0;
				next_flow = next_flow + 1 == o.flows ? 0 : next_flow + 1;
			}
		}
		while (off < n) {
			int k = sendmmsg(fd, msgs + off, n - off, 0);
			if (k < 0) {
				if (errno == EINTR)
					continue;
				if (errno == ENOBUFS || errno == EAGAIN) {
					refused++;
					off++;
					continue;
				}
				perror("fwd_gen: sendmmsg");
				return 1;
			}
			sent += (uint64_t)k;
			off += (unsigned)k;
		}
		done += n;
	}
	double secs = (double)(now_ns() - start) / 1e9;
	printf("sent=%llu refused=%llu seconds=%.4f late=%llu\n", (unsigned long long)sent,
	       (unsigned long long)refused, secs, (unsigned long long)late);
	close(fd);
	free(frames);
	free(iovs);
	return 0;
}
