/* udpblast: sends N UDP datagrams of S bytes to ADDR:PORT, paced at R per
 * second (0 = as fast as possible), in sendmmsg bursts (of at most 100 us
 * worth of packets when paced).
 *
 *   udpblast -d ADDR -p PORT [-n COUNT] [-s SIZE] [-r RATE] [-b BURST] [-c CPU]
 *
 * Each payload starts with 'a' and carries its sequence number (8 bytes, big
 * endian) at offset 8 when it is at least 16 bytes long. A send refused for
 * lack of buffer space is retried. Prints "sent=N retries=R seconds=T". */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BURST 64
#define MAX_SIZE  65507

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: udpblast -d ADDR -p PORT [-n COUNT] [-s SIZE] [-r RATE] "
	                "[-b BURST] [-c CPU]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *port = NULL;
	uint64_t count = 1000, rate = 0;
	unsigned size = 64, burst = 32;
	int cpu = -1, c;

	while ((c = getopt(argc, argv, "d:p:n:s:r:b:c:")) != -1) {
		switch (c) {
		case 'd':
			addr = optarg;
			break;
		case 'p':
			port = optarg;
			break;
		case 'n':
			count = strtoull(optarg, NULL, 10);
			break;
		case 's':
			size = (unsigned)atoi(optarg);
			break;
		case 'r':
			rate = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			burst = (unsigned)atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!addr || !port || size < 1 || size > MAX_SIZE || burst < 1 || burst > MAX_BURST)
		usage();
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}

	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST}, *ai;
	int r = getaddrinfo(addr, port, &hints, &ai);
	if (r != 0) {
		fprintf(stderr, "udpblast: %s: %s\n", addr, gai_strerror(r));
		return 2;
	}
	int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("udpblast: socket");
		return 1;
	}
	freeaddrinfo(ai);
	int sndbuf = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));

	static uint8_t bufs[MAX_BURST][MAX_SIZE];
	struct iovec iov[MAX_BURST];
	struct mmsghdr msgs[MAX_BURST];
	for (unsigned i = 0; i < burst; i++) {
		memset(bufs[i], 'b', size);
		bufs[i][0] = 'a';
		iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = size};
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}

	uint64_t sent = 0, errors = 0, start = now_ns();
	while (sent < count) {
		unsigned n = burst;
		if (count - sent < n)
			n = (unsigned)(count - sent);
		if (rate) {
			/* Wait until the first packet of this burst is due; bursts
			 * at high rates, single packets at low ones. */
			uint64_t due = start + sent * 1000000000u / rate;
			/* At most 100 us worth of packets per burst. */
			uint64_t most = rate / 10000;
			if (most < 1)
				most = 1;
			if (n > most)
				n = (unsigned)most;
			uint64_t t;
			while ((t = now_ns()) < due) {
				uint64_t left = due - t;
				if (left > 60000) {
					struct timespec ts = {0, (long)(left - 50000)};
					nanosleep(&ts, NULL);
				}
			}
		}
		for (unsigned i = 0; i < n; i++) {
			if (size >= 16) {
				uint64_t seq = sent + i;
				for (int k = 0; k < 8; k++)
					bufs[i][8 + k] = (uint8_t)(seq >> (56 - 8 * k));
			}
		}
		int k = sendmmsg(fd, msgs, n, 0);
		if (k < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue; /* ECONNREFUSED: an ICMP error for an earlier one */
			if (errno == ENOBUFS || errno == EAGAIN) {
				errors++;
				usleep(100);
				continue;
			}
			perror("udpblast: sendmmsg");
			return 1;
		}
		sent += (uint64_t)k;
	}
	double secs = (double)(now_ns() - start) / 1e9;
	printf("sent=%llu retries=%llu seconds=%.3f\n", (unsigned long long)sent,
	       (unsigned long long)errors, secs);
	close(fd);
	return 0;
}
