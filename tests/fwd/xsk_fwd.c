/* xsk_fwd: the AF_XDP plane end to end, for tests/daemon/test_xdp_path.sh and
 * bench runs. Attaches netserv_xdp to IN_IF with one filter (UDP to PORT,
 * IPv4 and IPv6), receives the matching frames on an AF_XDP socket on IN_IF's
 * queue 0 and forwards them in user space (nsxdp_forward_frame) out of the
 * AF_XDP socket on OUT_IF's queue 0; everything else the kernel forwards.
 *
 *   xsk_fwd [-a] [-c CPU] [-s N:SPORT] OBJ IN_IF OUT_IF PORT
 *   xsk_fwd -t -s N:SPORT OBJ IN_IF OUT_IF PORT
 *
 * -s: also a sampling rule: one in N UDP datagrams to SPORT has its first 64
 * bytes copied to the samples ring (read here and counted: "samples=N" at
 * the end), all of them forwarded by the kernel. Not with -a.
 * -t: the netfilter plane's sampler instead: netserv_tc on IN_IF's clsact
 * ingress with -s's sampling rule alone, no socket, nothing redirected
 * (OUT_IF and PORT unused); prints "ready mode=tc".
 * -a: as netservd and a container will split the work: this process attaches
 * the program and makes the sockets, then starts itself again as a child
 * under uid/gid 65534 with no capabilities, which adopts the sockets from the
 * descriptors it inherits (nsxsk_adopt) and forwards; this process keeps its
 * descriptors, and when the child dies it empties the child's XSKMAP slot
 * (the socket stays open in this process, so the kernel would not) and
 * prints "child exited status=S slot cleared=R". The child prints "adopted
 * uid=U capeff=HEX" (its effective capabilities) when it forwards.
 *
 * Prints "ready mode=native|generic" once attached. On SIGTERM/SIGINT it
 * detaches and prints "forwarded=N no_meta=N expired=N bad=N tx_full=N
 * rx_dropped=N rx_ring_full=N" and the program's counters "xdp_NAME=N", then
 * "pins=N" (entries under /sys/fs/bpf/xdp, libxdp's pins, after detaching).
 * While it runs, "progress forwarded=N" every 100 ms when N changed. */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
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
#include "fwd/xdp/xdp_sample.h"
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

/* Forwards what arrives on in out of out until SIGTERM/SIGINT; prints the
 * progress lines and the "forwarded=" line. */
static uint64_t n_samples;

static void on_sample(void *ctx, const struct netserv_xdp_sample *s)
{
	n_samples++;
}

static void forward_loop(struct nsxsk *in, struct nsxsk *out, int out_if, struct nsxdp_sampler *sm)
{
	uint64_t forwarded = 0, no_meta = 0, expired = 0, bad = 0;
	struct nsxsk_frame rx[BATCH], tx[BATCH];
	struct pollfd pfd[2] = {{.fd = nsxsk_fd(in), .events = POLLIN},
	                        {.fd = sm ? nsxdp_sampler_fd(sm) : -1, .events = POLLIN}};
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
			if (sm)
				nsxdp_sampler_poll(sm, 0);
			poll(pfd, 2, 100);
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			struct netserv_xdp_meta m;
			if (nsxdp_meta_get(rx[i].data, rx[i].room, &m) < 0 ||
			    (int)m.ifindex != out_if) {
				no_meta++;
				continue;
			}
			int r = nsxdp_forward_frame(rx[i].data, rx[i].len, &m);
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
	nsxsk_get_stats(in, &si);
	nsxsk_get_stats(out, &so);
	printf("forwarded=%llu no_meta=%llu expired=%llu bad=%llu tx_full=%llu rx_dropped=%llu "
	       "rx_ring_full=%llu\n",
	       (unsigned long long)forwarded, (unsigned long long)no_meta,
	       (unsigned long long)expired, (unsigned long long)bad, (unsigned long long)so.tx_full,
	       (unsigned long long)si.rx_dropped, (unsigned long long)si.rx_ring_full);
	fflush(stdout);
}

/* Opens a socket on queue 0; a queue that a socket of an exited process
 * still holds for a moment (its release is deferred) answers EBUSY: tried
 * again for up to a second. */
static int open_retry(const char *ifname, struct nsxsk **ret, char *err, size_t errlen)
{
	int r = -EBUSY;
	for (int i = 0; i < 50 && r == -EBUSY; i++) {
		if (i)
			poll(NULL, 0, 20);
		r = nsxsk_open(ifname, 0, ret, err, errlen);
	}
	return r;
}

/* The child of -a: xsk_fwd --child IN_FD IN_UMEM OUT_FD OUT_UMEM OUT_IFINDEX. */
static int child_main(char **argv)
{
	char err[256] = "";
	struct nsxsk *in = NULL, *out = NULL;
	int r = nsxsk_adopt(atoi(argv[0]), atoi(argv[1]), &in, err, sizeof(err));
	if (r == 0)
		r = nsxsk_adopt(atoi(argv[2]), atoi(argv[3]), &out, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "xsk_fwd child: %s\n", err);
		return 1;
	}
	char line[256], caps[64] = "?";
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %63s", caps) == 1)
			break;
	if (f)
		fclose(f);
	printf("adopted uid=%d capeff=%s\n", (int)getuid(), caps);
	fflush(stdout);
	forward_loop(in, out, atoi(argv[4]), NULL);
	nsxsk_close(in);
	nsxsk_close(out);
	return 0;
}

/* Starts the child of -a; returns its pid or -1. */
static pid_t start_child(struct nsxsk *in, struct nsxsk *out, int out_if)
{
	int fds[4] = {nsxsk_fd(in), nsxsk_umem_fd(in), nsxsk_fd(out), nsxsk_umem_fd(out)};
	char a[5][16];
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	for (int i = 0; i < 4; i++) {
		fcntl(fds[i], F_SETFD, 0);
		snprintf(a[i], sizeof(a[i]), "%d", fds[i]);
	}
	snprintf(a[4], sizeof(a[4]), "%d", out_if);
	/* Nobody, with no capability left: what a container has. */
	if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("xsk_fwd: dropping privileges");
		_exit(1);
	}
	execl("/proc/self/exe", "xsk_fwd", "--child", a[0], a[1], a[2], a[3], a[4], (char *)NULL);
	perror("xsk_fwd: exec");
	_exit(1);
}

static void print_counters(struct nsxdp_prog *prog)
{
	uint64_t c[NETSERV_XDP_N_COUNTERS] = {0};
	nsxdp_counters(prog, c);
	for (unsigned i = 0; i < NETSERV_XDP_N_COUNTERS; i++)
		printf("xdp_%s=%llu\n", nsxdp_counter_name(i), (unsigned long long)c[i]);
}

/* -t: the tc sampler on in_if, its samples counted until SIGTERM. */
static int tc_main(const char *obj, int in_if, unsigned sample_n, unsigned sample_port)
{
	char err[256] = "";
	struct nsxdp_prog *prog = NULL;
	struct nsxdp_sampler *sm = NULL;
	struct ncm_filter f = {
	        .proto = 17, .port_lo = (uint16_t)sample_port, .port_hi = (uint16_t)sample_port};
	struct netserv_xdp_rule rule;

	if (!sample_n) {
		fprintf(stderr, "xsk_fwd: -t wants -s N:SPORT\n");
		return 2;
	}
	int r = nsxdp_open_tc(obj, &prog, err, sizeof(err));
	if (r == 0)
		r = nsxdp_attach(prog, in_if, 0, err, sizeof(err));
	if (r == 0 && ((r = nsxdp_rule_sampling(&f, sample_n, 64, &rule)) < 0 ||
	               (r = nsxdp_set_rules(prog, &rule, 1)) < 0 ||
	               (r = nsxdp_sampler_open(prog, on_sample, NULL, &sm)) < 0))
		snprintf(err, sizeof(err), "rules or sampler: %s", strerror(-r));
	if (r < 0) {
		fprintf(stderr, "xsk_fwd: %s\n", err);
		nsxdp_close(prog);
		return 1;
	}
	printf("ready mode=%s\n", nsxdp_mode(prog));
	fflush(stdout);
	while (!stop)
		nsxdp_sampler_poll(sm, 100);
	nsxdp_sampler_poll(sm, 0);
	printf("samples=%llu\n", (unsigned long long)n_samples);
	nsxdp_sampler_close(sm);
	print_counters(prog);
	r = nsxdp_close(prog);
	printf("detach=%d\n", r);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	char err[256] = "";
	struct nsxdp_prog *prog = NULL;
	struct nsxsk *in = NULL, *out = NULL;
	int r, cpu = -1, split = 0, o;

	if (argc == 7 && strcmp(argv[1], "--child") == 0) {
		signal(SIGTERM, on_signal);
		signal(SIGINT, on_signal);
		return child_main(argv + 2);
	}
	unsigned sample_n = 0, sample_port = 0;
	int tc = 0;
	while ((o = getopt(argc, argv, "+ac:s:t")) != -1) {
		if (o == 'a')
			split = 1;
		else if (o == 't')
			tc = 1;
		else if (o == 's' && sscanf(optarg, "%u:%u", &sample_n, &sample_port) == 2 &&
		         sample_port > 0 && sample_port < 65536)
			;
		else if (o == 'c')
			cpu = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 4) {
		fprintf(stderr, "usage: xsk_fwd [-a] [-c CPU] OBJ IN_IF OUT_IF PORT\n");
		return 2;
	}
	argv += optind - 1;
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

	if (tc)
		return tc_main(argv[1], in_if, sample_n, sample_port);
	r = nsxdp_open(argv[1], &prog, err, sizeof(err));
	if (r == 0)
		r = nsxdp_attach(prog, in_if, 1, err, sizeof(err));
	if (r == 0)
		r = open_retry(argv[2], &in, err, sizeof(err));
	if (r == 0)
		r = open_retry(argv[3], &out, err, sizeof(err));
	if (r == 0) {
		r = nsxdp_set_xsk(prog, 0, nsxsk_fd(in));
		if (r < 0)
			snprintf(err, sizeof(err), "XSKMAP: %s", strerror(-r));
	}
	if (r == 0) {
		/* One filter: UDP to the port, IPv4 and IPv6. */
		struct ncm_filter f4 = {
		        .proto = 17, .port_lo = (uint16_t)port, .port_hi = (uint16_t)port};
		struct netserv_xdp_rule rule[2];
		r = nsxdp_rule_from_filter(&f4, 0, 1, &rule[0]);
		if (r == 0 && sample_n) {
			f4.port_lo = f4.port_hi = (uint16_t)sample_port;
			r = nsxdp_rule_sampling(&f4, sample_n, 64, &rule[1]);
		}
		if (r == 0)
			r = nsxdp_set_rules(prog, rule, sample_n ? 2 : 1);
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

	if (!split) {
		struct nsxdp_sampler *sm = NULL;
		if (sample_n && (r = nsxdp_sampler_open(prog, on_sample, NULL, &sm)) < 0)
			fprintf(stderr, "xsk_fwd: sampler: %s\n", strerror(-r));
		forward_loop(in, out, out_if, sm);
		if (sm) {
			nsxdp_sampler_poll(sm, 0);
			printf("samples=%llu\n", (unsigned long long)n_samples);
			nsxdp_sampler_close(sm);
		}
	} else {
		pid_t child = start_child(in, out, out_if);
		int pfd = child > 0 ? (int)syscall(SYS_pidfd_open, child, 0) : -1;
		if (pfd < 0) {
			fprintf(stderr, "xsk_fwd: no child: %s\n", strerror(errno));
			stop = 1;
		}
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		while (!stop && child > 0) {
			if (poll(&p, 1, -1) == 1) {
				int st = 0;
				waitpid(child, &st, 0);
				child = -1;
				/* Our descriptors keep the socket alive: empty its slot. */
				r = nsxdp_clear_xsk(prog, 0);
				printf("child exited status=%d slot cleared=%d\n", st, r);
				fflush(stdout);
			}
		}
		while (!stop)
			poll(NULL, 0, 100);
		if (child > 0) {
			kill(child, SIGTERM);
			waitpid(child, NULL, 0);
		}
		if (pfd >= 0)
			close(pfd);
	}
	print_counters(prog);
	r = nsxdp_close(prog);
	nsxsk_close(in);
	nsxsk_close(out);
	printf("detach=%d pins=%d\n", r, count_pins());
	return r < 0 ? 1 : 0;
}
