/* udpcount: counts the UDP datagrams that arrive on a port (IPv4 and IPv6,
 * one dual-stack socket).
 *
 *   udpcount -p PORT [-t SECONDS] [-i IDLE_MS] [-u] [-c CPU]
 *
 * Prints "ready" once bound. Ends after SECONDS (default 10), or IDLE_MS
 * (default 500) without a datagram once one has come, or on SIGTERM/SIGINT.
 * With -u the idle end waits for SIGUSR1 (the sender is done): a sender
 * that stalls for longer than IDLE_MS on a busy machine does not end the
 * count early; after SIGUSR1 it ends IDLE_MS after the signal or the last
 * datagram, whichever is later, also when none came. Then it
 * and prints "received=N bytes=B marked=M" (marked: payloads whose first byte
 * is 'Z', as nfq_echo -m rewrite makes them). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define BUFSZ 2048

static volatile sig_atomic_t stop, armed = 1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		armed = 1;
	else
		stop = 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	int port = 0, seconds = 10, idle_ms = 500, cpu = -1, c;

	while ((c = getopt(argc, argv, "p:t:i:uc:")) != -1) {
		switch (c) {
		case 'p':
			port = atoi(optarg);
			break;
		case 't':
			seconds = atoi(optarg);
			break;
		case 'i':
			idle_ms = atoi(optarg);
			break;
		case 'u':
			armed = 0;
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: udpcount -p PORT [-t SECONDS] [-i IDLE_MS] [-u] "
			                "[-c CPU]\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "udpcount: want -p PORT\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);

	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int off = 0, rcvbuf = 8 << 20;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6,
	                            .sin6_port = htons((uint16_t)port),
	                            .sin6_addr = in6addr_any};
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0) {
		perror("udpcount: bind");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	static uint8_t bufs[BATCH][BUFSZ];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	uint64_t received = 0, bytes = 0, marked = 0;
	int64_t end = now_ms() + (int64_t)seconds * 1000, last = 0;
	bool waited_for_arm = !armed, arm_seen = false;

	while (!stop) {
		int64_t t = now_ms();
		if (waited_for_arm && armed && !arm_seen) {
			arm_seen = true; /* the idle time runs from the signal at the earliest */
			if (last < t)
				last = t;
		}
		bool idle_ends = armed && (received || arm_seen);
		if (t >= end || (idle_ends && t - last >= idle_ms))
			break;
		int wait = (int)(end - t);
		if (idle_ends && idle_ms - (t - last) < wait)
			wait = (int)(idle_ms - (t - last));
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, wait) <= 0)
			continue;
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = BUFSZ};
			msgs[i] =
			        (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
		}
		int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			bytes += msgs[i].msg_len;
			if (msgs[i].msg_len > 0 && bufs[i][0] == 'Z')
				marked++;
		}
		received += (uint64_t)n;
		last = now_ms();
	}
	printf("received=%llu bytes=%llu marked=%llu\n", (unsigned long long)received,
	       (unsigned long long)bytes, (unsigned long long)marked);
	close(fd);
	return 0;
}
