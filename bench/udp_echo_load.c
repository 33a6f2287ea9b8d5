/* bench/udp-echo's load generator: keeps WINDOW datagrams of SIZE bytes in
 * flight toward an echo server for SECONDS, counts the ones that come back,
 * and measures their round-trip times (a send timestamp in each payload).
 *   udp_echo_load ADDR PORT SECONDS [SIZE [WINDOW]]
 * Prints one line: "sent S received R rate R/s p50_us P p99_us Q". A
 * datagram not back within 200 ms is counted lost and replaced. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "udp_echo_load"
#include "bench_util.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: udp_echo_load ADDR PORT SECONDS [SIZE [WINDOW]]\n");
		return 2;
	}
	const char *addr = argv[1];
	int port = atoi(argv[2]);
	double secs = atof(argv[3]);
	size_t size = argc > 4 ? (size_t)atoi(argv[4]) : 172;
	int window = argc > 5 ? atoi(argv[5]) : 32;
	if (size < 16)
		size = 16;
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, addr, &in6->sin6_addr) != 1)
			return 2;
		sl = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &in->sin_addr) != 1)
			return 2;
		sl = sizeof(*in);
	}
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		perror("udp_echo_load");
		return 1;
	}
	int rcvbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	static uint8_t buf[65536];
	memset(buf, 'x', sizeof(buf));
	size_t cap = 1 << 22, n_rtt = 0;
	uint32_t *rtt = malloc(cap * sizeof(*rtt));
	uint64_t sent = 0, received = 0, seq = 0;
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), last_rx = t0;
	int inflight = 0;
	while (now_ns() < end) {
		while (inflight < window) {
			uint64_t t = now_ns();
			memcpy(buf, &t, 8);
			memcpy(buf + 8, &seq, 8);
			seq++;
			if (send(fd, buf, size, MSG_DONTWAIT) < 0)
				break;
			sent++;
			inflight++;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0) {
			if (now_ns() - last_rx > 200000000u) { /* lost: send new ones */
				inflight = 0;
				last_rx = now_ns();
			}
			continue;
		}
		for (;;) {
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r < 16)
				break;
			uint64_t t, now = now_ns();
			memcpy(&t, buf, 8);
			received++;
			if (inflight > 0)
				inflight--;
			last_rx = now;
			if (n_rtt < cap)
				rtt[n_rtt++] = (uint32_t)((now - t) / 1000u);
		}
	}
	double el = (double)(now_ns() - t0) / 1e9;
	qsort(rtt, n_rtt, sizeof(*rtt), cmp_u32);
	printf("sent %llu received %llu rate %.0f p50_us %u p99_us %u\n", (unsigned long long)sent,
	       (unsigned long long)received, (double)received / el, n_rtt ? rtt[n_rtt / 2] : 0,
	       n_rtt ? rtt[n_rtt * 99 / 100] : 0);
	free(rtt);
	return 0;
}
