/* fwd_timeline: the receiver's arrival timeline in the kill measurement
 * (bench/forwarding --kill): attaches fwd_timeline.bpf.o to the tc ingress
 * hook of IF (in the current network namespace), starts its clock, waits
 * SECONDS (or until SIGTERM/SIGINT), detaches, and prints the frames that
 * arrived in each millisecond.
 *
 *   fwd_timeline -i IF -o OBJ [-t SECONDS]
 *
 * Prints "ready t0=NS buckets=N" once attached and counting (t0: the start
 * of bucket 0, CLOCK_MONOTONIC ns), then, at the end, one line "MS COUNT"
 * per millisecond from 0 to the last elapsed one. Exit status 0, 1 on a
 * system error, 2 on bad usage. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "fwd_timeline"
#include "bench_util.h"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: fwd_timeline -i IF -o OBJ [-t SECONDS]\n");
	exit(2);
}

/* run: attach, count for secs, print the timeline. Returns 0 or -errno. */
static int run(unsigned ifindex, const char *obj_path, double secs)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	int err = libbpf_get_error(obj);
	if (err) {
		fprintf(stderr, "fwd_timeline: opening %s: %s\n", obj_path, strerror(-err));
		return err;
	}
	err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "fwd_timeline: loading %s: %s\n", obj_path, strerror(-err));
		bpf_object__close(obj);
		return err;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "fwd_timeline");
	int start_fd = bpf_object__find_map_fd_by_name(obj, "tl_start");
	struct bpf_map *counts = bpf_object__find_map_by_name(obj, "tl_counts");
	if (!prog || start_fd < 0 || !counts) {
		fprintf(stderr, "fwd_timeline: %s lacks its program or maps\n", obj_path);
		bpf_object__close(obj);
		return -ENOENT;
	}
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(prog));
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		fprintf(stderr, "fwd_timeline: clsact: %s\n", strerror(-err));
		bpf_object__close(obj);
		return err;
	}
	err = bpf_tc_attach(&hook, &opts);
	if (err) {
		fprintf(stderr, "fwd_timeline: attaching: %s\n", strerror(-err));
		bpf_tc_hook_destroy(&hook);
		bpf_object__close(obj);
		return err;
	}
	uint32_t zero = 0;
	uint64_t t0 = now_ns();
	uint32_t buckets = bpf_map__max_entries(counts);
	err = bpf_map_update_elem(start_fd, &zero, &t0, BPF_ANY) ? -errno : 0;
	if (!err) {
		printf("ready t0=%llu buckets=%u\n", (unsigned long long)t0, buckets);
		fflush(stdout);
		uint64_t until = t0 + (uint64_t)(secs * 1e9);
		while (!g_stop && now_ns() < until)
			usleep(10000);
	}
	uint64_t elapsed_ms = (now_ns() - t0) / 1000000;
	opts.prog_fd = 0;
	opts.prog_id = 0;
	opts.flags = 0;
	bpf_tc_detach(&hook, &opts);
	hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
	bpf_tc_hook_destroy(&hook);
	if (err) {
		fprintf(stderr, "fwd_timeline: starting the clock: %s\n", strerror(-err));
		bpf_object__close(obj);
		return err;
	}
	int counts_fd = bpf_map__fd(counts);
	for (uint32_t ms = 0; ms < buckets && ms <= elapsed_ms; ms++) {
		uint64_t c = 0;
		if (bpf_map_lookup_elem(counts_fd, &ms, &c)) {
			err = -errno;
			fprintf(stderr, "fwd_timeline: reading bucket %u: %s\n", ms,
			        strerror(errno));
			break;
		}
		printf("%u %llu\n", ms, (unsigned long long)c);
	}
	bpf_object__close(obj);
	return err;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *obj = NULL;
	double secs = 10;
	int c;
	while ((c = getopt(argc, argv, "i:o:t:")) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 'o':
			obj = optarg;
			break;
		case 't':
			secs = atof(optarg);
			break;
		default:
			usage();
		}
	}
	if (!ifname || !obj || secs <= 0)
		usage();
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "fwd_timeline: no interface %s\n", ifname);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	return run(ifindex, obj, secs) ? 1 : 0;
}
