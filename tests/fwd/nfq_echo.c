/* nfq_echo: a test reader for NFQUEUE queues, on the container's packet loop
 * (src/fwd/nfq.h) and the event loop.
 *
 *   nfq_echo -q N[,N...] [-m MODE] [-b BATCH] [-s batch|one|each] [-l MAXLEN]
 *            [-r RCVBUF] [-t SECONDS] [-c CPU] [-R RTPRIO] [-F] [-w MS]
 *   MODE: accept (default), drop, count (accept; print the counters every
 *         second), rewrite (UDP: first payload byte set to 'Z', checksum
 *         fixed; returned as modified), stall (bind, never read: the queue
 *         fills up and fail-open takes over)
 *   -F: no fail-open. -c/-R: pin to a CPU, run SCHED_FIFO at RTPRIO.
 *   -w MS: start reading only MS after binding (packets pile up in the queue:
 *   for measuring how fast full rounds drain).
 *
 * Prints "ready" once the queues are bound, and the counters as one line
 * "packets=... bytes=... accepted=... ... cpu_us=... span_us=..." when it ends
 * (SIGTERM, SIGINT or after -t SECONDS): cpu_us is its own CPU time, span_us
 * the time from the first packet to the last. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "fwd/nfq.h"
#include "lib/evloop.h"

enum mode { M_ACCEPT, M_DROP, M_COUNT, M_REWRITE, M_STALL };

struct app {
	enum mode mode;
	uint64_t first_ns, last_ns; /* when the first and the last packet came */
	struct nfq_loop *nfq;
	struct evloop *loop;
};

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

/* Sets the first UDP payload byte to 'Z' and fixes the UDP checksum. Returns
 * whether the packet was a UDP packet with a payload. */
static bool rewrite_udp(uint8_t *pkt, uint32_t len)
{
	uint32_t sum = 0;
	uint8_t *udp;
	size_t ulen;

	if (len >= 20 && (pkt[0] >> 4) == 4) {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
		if (pkt[9] != IPPROTO_UDP || len < ihl + 8)
			return false;
		udp = pkt + ihl;
		ulen = len - ihl;
		sum = csum_add(sum, pkt + 12, 8); /* addresses */
		sum += IPPROTO_UDP + (uint32_t)ulen;
	} else if (len >= 40 && (pkt[0] >> 4) == 6) {
		if (pkt[6] != IPPROTO_UDP || len < 48)
			return false;
		udp = pkt + 40;
		ulen = len - 40;
		sum = csum_add(sum, pkt + 8, 32);
		sum += IPPROTO_UDP + (uint32_t)ulen;
	} else {
		return false;
	}
	if (ulen <= 8)
		return false;
	bool had_csum = udp[6] || udp[7];
	udp[8] = 'Z';
	if (!had_csum && (pkt[0] >> 4) == 4)
		return true;
	udp[6] = udp[7] = 0;
	sum = csum_add(sum, udp, ulen);
	uint16_t c = csum_fold(sum);
	if (c == 0)
		c = 0xffff;
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
	return true;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_packet(void *ctx, uint8_t *data, uint32_t *len, const struct nfq_pkt_meta *meta)
{
	struct app *a = ctx;

	a->last_ns = now_ns();
	if (!a->first_ns)
		a->first_ns = a->last_ns;

	switch (a->mode) {
	case M_DROP:
		return NFQ_DROP;
	case M_REWRITE:
		return rewrite_udp(data, *len) ? NFQ_MODIFIED : NFQ_ACCEPT;
	default:
		return NFQ_ACCEPT;
	}
}

static void print_stats(struct app *a, FILE *f)
{
	struct nfq_stats s;
	struct rusage ru;
	nfq_loop_stats(a->nfq, &s);
	getrusage(RUSAGE_SELF, &ru);
	long long cpu_us = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	                   ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	fprintf(f,
	        "packets=%llu bytes=%llu accepted=%llu dropped=%llu modified=%llu "
	        "truncated=%llu callback_errors=%llu enobufs=%llu missed=%llu "
	        "verdict_errors=%llu rounds=%llu verdict_msgs=%llu sends=%llu cpu_us=%lld "
	        "span_us=%llu\n",
	        (unsigned long long)s.packets, (unsigned long long)s.bytes,
	        (unsigned long long)s.accepted, (unsigned long long)s.dropped,
	        (unsigned long long)s.modified, (unsigned long long)s.truncated,
	        (unsigned long long)s.callback_errors, (unsigned long long)s.enobufs,
	        (unsigned long long)s.missed, (unsigned long long)s.verdict_errors,
	        (unsigned long long)s.rounds, (unsigned long long)s.verdict_msgs,
	        (unsigned long long)s.sends, cpu_us,
	        (unsigned long long)((a->last_ns - a->first_ns) / 1000));
	fflush(f);
}

static void on_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct app *a = ctx;
	int r = nfq_loop_process(a->nfq, 256);
	if (r < 0) {
		fprintf(stderr, "nfq_echo: %s\n", strerror(-r));
		evloop_stop(loop);
	}
}

static void on_signal(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;
	if (read(fd, &si, sizeof(si)) > 0)
		evloop_stop(loop);
}

static void on_wait_end(struct evloop *loop, void *ctx)
{
	struct app *a = ctx;
	if (a->mode != M_STALL)
		evloop_add_fd(loop, nfq_loop_fd(a->nfq), EPOLLIN, on_readable, a);
}

static void on_end(struct evloop *loop, void *ctx)
{
	evloop_stop(loop);
}

static void on_tick(struct evloop *loop, void *ctx)
{
	struct app *a = ctx;
	print_stats(a, stdout);
	evloop_timer_add(loop, 1000, on_tick, a);
}

static void usage(void)
{
	fprintf(stderr, "usage: nfq_echo -q N[,N...] [-m accept|drop|count|rewrite|stall] "
	                "[-b BATCH] [-s batch|one|each] [-l MAXLEN] [-r RCVBUF] [-t SECONDS] "
	                "[-c CPU] [-R RTPRIO] [-F] [-w MS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct app a = {0};
	struct nfq_config cfg = {0};
	uint16_t queues[NFQ_MAX_QUEUES];
	unsigned seconds = 0, wait_ms = 0;
	int cpu = -1, rtprio = 0, c;
	char err[256];

	while ((c = getopt(argc, argv, "q:m:b:s:l:r:t:c:R:Fw:")) != -1) {
		switch (c) {
		case 'q':
			for (char *save = NULL, *t = strtok_r(optarg, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				if (cfg.n_queues == NFQ_MAX_QUEUES)
					usage();
				queues[cfg.n_queues++] = (uint16_t)atoi(t);
			}
			break;
		case 'm':
			if (strcmp(optarg, "accept") == 0)
				a.mode = M_ACCEPT;
			else if (strcmp(optarg, "drop") == 0)
				a.mode = M_DROP;
			else if (strcmp(optarg, "count") == 0)
				a.mode = M_COUNT;
			else if (strcmp(optarg, "rewrite") == 0)
				a.mode = M_REWRITE;
			else if (strcmp(optarg, "stall") == 0)
				a.mode = M_STALL;
			else
				usage();
			break;
		case 'b':
			cfg.batch = (unsigned)atoi(optarg);
			break;
		case 's':
			if (strcmp(optarg, "batch") == 0)
				cfg.send_mode = NFQ_SEND_BATCH;
			else if (strcmp(optarg, "one") == 0)
				cfg.send_mode = NFQ_SEND_ONE_SEND;
			else if (strcmp(optarg, "each") == 0)
				cfg.send_mode = NFQ_SEND_EACH;
			else
				usage();
			break;
		case 'l':
			cfg.queue_maxlen = (uint32_t)atoi(optarg);
			break;
		case 'r':
			cfg.rcvbuf = (uint32_t)atoi(optarg);
			break;
		case 't':
			seconds = (unsigned)atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'R':
			rtprio = atoi(optarg);
			break;
		case 'F':
			cfg.no_fail_open = true;
			break;
		case 'w':
			wait_ms = (unsigned)atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (cfg.n_queues == 0 || optind != argc)
		usage();
	cfg.queues = queues;

	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			fprintf(stderr, "nfq_echo: cpu %d: %s\n", cpu, strerror(errno));
	}
	if (rtprio > 0) {
		struct sched_param sp = {.sched_priority = rtprio};
		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			fprintf(stderr, "nfq_echo: SCHED_FIFO %d: %s\n", rtprio, strerror(errno));
	}

	int r = nfq_loop_open(&cfg, on_packet, &a, &a.nfq, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "nfq_echo: %s\n", err);
		return 1;
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || evloop_new(&a.loop) < 0) {
		fprintf(stderr, "nfq_echo: set-up failed\n");
		return 1;
	}
	evloop_add_fd(a.loop, sfd, EPOLLIN, on_signal, &a);
	if (a.mode != M_STALL && !wait_ms)
		evloop_add_fd(a.loop, nfq_loop_fd(a.nfq), EPOLLIN, on_readable, &a);
	if (wait_ms)
		evloop_timer_add(a.loop, wait_ms, on_wait_end, &a);
	if (seconds)
		evloop_timer_add(a.loop, (uint64_t)seconds * 1000, on_end, &a);
	if (a.mode == M_COUNT)
		evloop_timer_add(a.loop, 1000, on_tick, &a);

	printf("ready\n");
	fflush(stdout);
	r = evloop_run(a.loop);
	print_stats(&a, stdout);
	evloop_del_fd(a.loop, sfd);
	evloop_del_fd(a.loop, nfq_loop_fd(a.nfq));
	a.loop = evloop_free(a.loop);
	a.nfq = nfq_loop_close(a.nfq);
	close(sfd);
	return r < 0 ? 1 : 0;
}
