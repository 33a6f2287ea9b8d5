/* xsk_fwd: the AF_XDP plane end to end, for tests/daemon/test_xdp_path.sh and
 * bench runs. Attaches netserv_xdp to IN_IF with one filter (UDP to PORT,
 * IPv4 and IPv6), receives the matching frames on an AF_XDP socket on IN_IF's
 * queue 0 and forwards them in user space (nsxdp_forward_frame) out of the
 * AF_XDP socket on OUT_IF's queue 0; everything else the kernel forwards.
 *
 *   xsk_fwd OBJ IN_IF OUT_IF PORT [-c CPU]
 *
 * Prints "ready mode=native|generic" once attached. On SIGTERM/SIGINT it
 * detaches and prints "forwarded=N no_meta=N expired=N bad=N tx_full=N
 * rx_dropped=N rx_ring_full=N" and the program's counters "xdp_NAME=N", then
 * "pins=N" (entries under /sys/fs/bpf/xdp, libxdp's pins, after detaching).
 * While it runs, "progress forwarded=N" every 100 ms when N changed. */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fwd/xdp/xdp_fwd.h"
#include "fwd/xdp/xdp_prog.h"
#include "fwd/xdp/xdp_rule.h"
#include "fwd/xdp/xsk.h"

#define BATCH 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int count_pins(void)
{
	DIR *d = opendir("/sys/fs/bpf/xdp");
	int n = 0;
	struct dirent *e;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	char err[256] = "";
	struct nsxdp_prog *prog = NULL;
	struct nsxsk *in = NULL, *out = NULL;
	int r, cpu = -1;

	if (argc >= 7 && strcmp(argv[5], "-c") == 0)
		cpu = atoi(argv[6]);
	else if (argc != 5) {
		fprintf(stderr, "usage: xsk_fwd OBJ IN_IF OUT_IF PORT [-c CPU]\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	int in_if = (int)if_nametoindex(argv[2]), out_if = (int)if_nametoindex(argv[3]);
	unsigned port = (unsigned)atoi(argv[4]);
	if (!in_if || !out_if || port == 0 || port > 65535) {
		fprintf(stderr, "xsk_fwd: bad interface or port\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	r = nsxdp_open(argv[1], &prog, err, sizeof(err));
	if (r == 0)
		r = nsxdp_attach(prog, in_if, 1, err, sizeof(err));
	if (r == 0)
		r = nsxsk_open(argv[2], 0, &in, err, sizeof(err));
	if (r == 0)
		r = nsxsk_open(argv[3], 0, &out, err, sizeof(err));
	if (r == 0) {
		r = nsxdp_set_xsk(prog, 0, nsxsk_fd(in));
		if (r < 0)
			snprintf(err, sizeof(err), "XSKMAP: %s", strerror(-r));
	}
	if (r == 0) {
		/* One filter: UDP to the port, IPv4 and IPv6. */
		struct ncm_filter f4 = {
		        .proto = 17, .port_lo = (uint16_t)port, .port_hi = (uint16_t)port};
		struct netserv_xdp_rule rule;
		r = nsxdp_rule_from_filter(&f4, 0, 1, &rule);
		if (r == 0)
			r = nsxdp_set_rules(prog, &rule, 1);
		if (r < 0)
			snprintf(err, sizeof(err), "rules: %s", strerror(-r));
	}
	if (r < 0) {
		fprintf(stderr, "xsk_fwd: %s\n", err);
		nsxsk_close(in);
		nsxsk_close(out);
		nsxdp_close(prog);
		return 1;
	}
	printf("ready mode=%s\n", nsxdp_mode(prog));
	fflush(stdout);

	uint64_t forwarded = 0, no_meta = 0, expired = 0, bad = 0;
	struct nsxsk_frame rx[BATCH], tx[BATCH];
	struct pollfd pfd = {.fd = nsxsk_fd(in), .events = POLLIN};
	uint64_t shown = 0;
	struct timespec last = {0}, now;
	while (!stop) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (forwarded != shown &&
		    (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000 >=
		            100) {
			printf("progress forwarded=%llu\n", (unsigned long long)forwarded);
			fflush(stdout);
			shown = forwarded;
			last = now;
		}
		unsigned n = nsxsk_rx(in, rx, BATCH), k = 0;
		if (n == 0) {
			nsxsk_tx_kick(out);
			poll(&pfd, 1, 100);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			struct netserv_xdp_meta m;
			if (nsxdp_meta_get(rx[i].data, rx[i].room, &m) < 0 ||
			    (int)m.ifindex != out_if) {
				no_meta++;
				continue;
			}
			r = nsxdp_forward_frame(rx[i].data, rx[i].len, &m);
			if (r == -ETIMEDOUT)
				expired++;
			else if (r < 0)
				bad++;
			else
				tx[k++] = rx[i];
		}
		forwarded += nsxsk_tx_copy(out, tx, k);
		nsxsk_rx_release(in, rx, n);
	}

	struct nsxsk_stats si = {0}, so = {0};
	uint64_t c[NETSERV_XDP_N_COUNTERS] = {0};
	nsxsk_get_stats(in, &si);
	nsxsk_get_stats(out, &so);
	nsxdp_counters(prog, c);
	r = nsxdp_close(prog);
	nsxsk_close(in);
	nsxsk_close(out);
	printf("forwarded=%llu no_meta=%llu expired=%llu bad=%llu tx_full=%llu rx_dropped=%llu "
	       "rx_ring_full=%llu\n",
	       (unsigned long long)forwarded, (unsigned long long)no_meta,
	       (unsigned long long)expired, (unsigned long long)bad, (unsigned long long)so.tx_full,
	       (unsigned long long)si.rx_dropped, (unsigned long long)si.rx_ring_full);
	for (unsigned i = 0; i < NETSERV_XDP_N_COUNTERS; i++)
		printf("xdp_%s=%llu\n", nsxdp_counter_name(i), (unsigned long long)c[i]);
	printf("detach=%d pins=%d\n", r, count_pins());
	return r < 0 ? 1 : 0;
}
