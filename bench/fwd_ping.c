/* fwd_ping: UDP ping-pong for the delay figures of the forwarding benchmark
 * (bench/forwarding).
 *
 *   fwd_ping -e -p PORT [-c CPU]
 *   fwd_ping -d ADDR -p PORT [-n COUNT] [-g GAP_US] [-w WARMUP] [-l BYTES]
 *            [-c CPU] [-b] [-o FILE]
 *
 * -e echoes every datagram that arrives on PORT back to its sender, until
 * SIGTERM or SIGINT. Otherwise fwd_ping sends COUNT pings (default 1000) of
 * BYTES (default 64) to ADDR:PORT, one every GAP_US microseconds (default
 * 1000) after the previous answer, after WARMUP unrecorded ones (default
 * 50), and waits up to 100 ms for each answer; with -b it waits by polling
 * the socket without sleeping (no wake-up in the measured time, at the cost
 * of a busy CPU). The client binds PORT
 * as its own port too: both directions then carry destination port PORT, so
 * a router rule on the destination port sees the ping and the answer.
 *
 * Prints "count=N lost=L rtt_p50_us=.. rtt_p99_us=.. owd_p50_us=..
 * owd_p99_us=.." (owd: RTT/2); with -o, also writes every RTT in
 * nanoseconds to FILE, one per line. Exit status 0, 1 on a system error, 2
 * on bad usage. */
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

#define BENCH_NAME "fwd_ping"
#include "bench_util.h"

#define MAX_BYTES  1472
#define TIMEOUT_MS 100

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: fwd_ping -e -p PORT [-c CPU]\n"
	                "       fwd_ping -d ADDR -p PORT [-n COUNT] [-g GAP_US] [-w WARMUP] "
	                "[-l BYTES] [-c CPU] [-b] [-o FILE]\n");
	exit(2);
}

/* A UDP/IPv4 socket bound to port on every address; returns it or -errno. */
static int bind_port(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int echo(int fd)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	static uint8_t buf[65536];
	while (!stop) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("fwd_ping: recvfrom");
			return 1;
		}
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl) < 0 &&
		    errno != EINTR && errno != ENOBUFS && errno != ECONNREFUSED) {
			perror("fwd_ping: sendto");
			return 1;
		}
	}
	return 0;
}

/* Sends one ping with sequence number seq and waits for its answer (busy:
 * without sleeping); returns the RTT in ns, 0 when none came within
 * TIMEOUT_MS, or -errno. */
static int64_t ping_once(int fd, uint64_t seq, uint8_t *buf, size_t bytes, bool busy)
{
	memcpy(buf, &seq, sizeof(seq));
	uint64_t t0 = now_ns();
	if (send(fd, buf, bytes, 0) < 0)
		return errno == ECONNREFUSED || errno == ENOBUFS ? 0 : -errno;
	uint64_t deadline = t0 + TIMEOUT_MS * 1000000ull;
	for (;;) {
		uint64_t t = now_ns();
		if (t >= deadline)
			return 0;
		if (!busy) {
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int left_ms = (int)((deadline - t + 999999) / 1000000);
			int r = poll(&pfd, 1, left_ms);
			if (r < 0 && errno != EINTR)
				return -errno;
			if (r <= 0)
				continue;
		}
		uint8_t in[MAX_BYTES];
		ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);
		uint64_t t1 = now_ns();
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED)
				continue;
			return -errno;
		}
		uint64_t got;
		if ((size_t)n >= sizeof(got)) {
			memcpy(&got, in, sizeof(got));
			if (got == seq)
				return (int64_t)(t1 - t0);
		}
		/* a late answer to an earlier ping: keep waiting for ours */
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The nearest-rank percentile p (0..100) of the n sorted values v. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned p)
{
	size_t rank = (n * p + 99) / 100;
	return v[rank ? rank - 1 : 0];
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *out = NULL;
	unsigned count = 1000, gap_us = 1000, warmup = 50, bytes = 64;
	int port = 0, cpu = -1, c;
	bool echo_mode = false, busy = false;

	while ((c = getopt(argc, argv, "ed:p:n:g:w:l:c:bo:")) != -1) {
		switch (c) {
		case 'e':
			echo_mode = true;
			break;
		case 'b':
			busy = true;
			break;
		case 'd':
			addr = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 'n':
			count = (unsigned)atoi(optarg);
			break;
		case 'g':
			gap_us = (unsigned)atoi(optarg);
			break;
		case 'w':
			warmup = (unsigned)atoi(optarg);
			break;
		case 'l':
			bytes = (unsigned)atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			usage();
		}
	}
	if (port <= 0 || port > 65535 || (!echo_mode && (!addr || count == 0)) ||
	    bytes < sizeof(uint64_t) || bytes > MAX_BYTES)
		usage();
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			perror("fwd_ping: sched_setaffinity");
			return 1;
		}
	}
	int fd = bind_port((uint16_t)port);
	if (fd < 0) {
		fprintf(stderr, "fwd_ping: port %d: %s\n", port, strerror(-fd));
		return 1;
	}
	if (echo_mode)
		return echo(fd);

	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, addr, &to.sin_addr) != 1)
		usage();
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		perror("fwd_ping: connect");
		return 1;
	}
	uint64_t *rtt = calloc(count, sizeof(*rtt));
	uint8_t buf[MAX_BYTES];
	if (!rtt) {
		perror("fwd_ping");
		return 1;
	}
	memset(buf, 'p', sizeof(buf));
	unsigned got = 0, lost = 0;
	for (uint64_t seq = 1; seq <= (uint64_t)warmup + count; seq++) {
		int64_t r = ping_once(fd, seq, buf, bytes, busy);
		if (r < 0) {
			fprintf(stderr, "fwd_ping: %s\n", strerror((int)-r));
			return 1;
		}
		if (seq > warmup) {
			if (r == 0)
				lost++;
			else
				rtt[got++] = (uint64_t)r;
		}
		struct timespec ts = {gap_us / 1000000, (long)(gap_us % 1000000) * 1000};
		nanosleep(&ts, NULL);
	}
	if (out) {
		FILE *f = fopen(out, "w");
		if (!f) {
			perror(out);
			return 1;
		}
		for (unsigned i = 0; i < got; i++)
			fprintf(f, "%llu\n", (unsigned long long)rtt[i]);
		if (fclose(f) != 0) {
			perror(out);
			return 1;
		}
	}
	qsort(rtt, got, sizeof(*rtt), cmp_u64);
	double p50 = got ? (double)percentile(rtt, got, 50) / 1000 : 0;
	double p99 = got ? (double)percentile(rtt, got, 99) / 1000 : 0;
	printf("count=%u lost=%u rtt_p50_us=%.1f rtt_p99_us=%.1f owd_p50_us=%.1f owd_p99_us=%.1f\n",
	       got, lost, p50, p99, p50 / 2, p99 / 2);
	free(rtt);
	close(fd);
	return 0;
}
