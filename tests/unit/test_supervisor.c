/* The supervisor's arming of a container's path (runtime/supervisor.c,
 * ct_arm) with a stand-in AF_XDP plane whose arm() fails on demand: a
 * container is armed only once arming succeeded; after a failure its traffic
 * keeps the kernel's path and the supervisor tries again at the next
 * heartbeats, then stops once armed; a restarted container is armed again.
 * And a stand-in sample plane (the tc sampler's channels): a container on
 * the NFQUEUE path gets its channel from it, started without one when it
 * refuses, and the channel is closed when the container dies.
 * And the heartbeat: a container that is not given the CPU is not killed
 * as hung until SUP_STARVED_LIMIT times the usual wait.
 * A real netserv-container (no modules). Needs root. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "../lib/loop_wait.h"
#include "runtime/supervisor.h"

#define NOBODY 65534
#define QUEUE  7

/* The stand-in plane: no sockets (the container gets none), arm() refuses
 * while `refuse` > 0 (counting down). */
static struct plane {
	unsigned opens, closes, arms, armed_ok;
	unsigned refuse;
	unsigned bad_queue; /* calls for another queue than QUEUE */
} P;

static int plane_open(void *ctx, unsigned queue, int *fds, int *ifindexes, size_t max, char *err,
                      size_t errlen)
{
	(void)ctx;
	(void)ifindexes;
	(void)max;
	(void)err;
	(void)errlen;
	P.opens++;
	P.bad_queue += queue != QUEUE;
	fds[0] = -1; /* no sample channel */
	return 0;
}

static int plane_arm(void *ctx, unsigned queue, char *err, size_t errlen)
{
	(void)ctx;
	P.arms++;
	P.bad_queue += queue != QUEUE;
	if (P.refuse > 0) {
		P.refuse--;
		return err_set(err, errlen, -EIO, "XSKMAP slot %u: stand-in refuses", queue);
	}
	P.armed_ok++;
	return 0;
}

static void plane_close(void *ctx, unsigned queue)
{
	(void)ctx;
	P.closes++;
	P.bad_queue += queue != QUEUE;
}

/* The stand-in sample plane: open() refuses while `refuse` > 0, else hands
 * out one end of a socket pair it keeps. */
static struct splane {
	unsigned opens, closes, refuse, bad_queue;
	unsigned queue;
	int pair[2];
} SP = {.pair = {-1, -1}};

static int splane_open(void *ctx, unsigned queue, char *err, size_t errlen)
{
	(void)ctx;
	SP.opens++;
	SP.bad_queue += queue != SP.queue;
	if (SP.refuse > 0) {
		SP.refuse--;
		return err_set(err, errlen, -EMFILE, "stand-in refuses");
	}
	if (SP.pair[0] < 0 && socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, SP.pair) < 0)
		return err_set(err, errlen, -errno, "socketpair");
	return SP.pair[1];
}

static void splane_close(void *ctx, unsigned queue)
{
	(void)ctx;
	SP.closes++;
	SP.bad_queue += queue != SP.queue;
}

struct harness {
	struct evloop *loop;
	struct supervisor *s;
	char cgroup[64];
};

static struct harness H;

static int setup(void **state)
{
	(void)state;
	memset(&H, 0, sizeof(H));
	memset(&P, 0, sizeof(P));
	snprintf(H.cgroup, sizeof(H.cgroup), "netserv-test-sup-%d", (int)getpid());
	assert_int_equal(evloop_new(&H.loop), 0);
	static const struct sup_xdp_plane plane = {
	        .open = plane_open, .arm = plane_arm, .close = plane_close};
	struct sup_config cfg = {.container_bin = BUILD_DIR "/netserv-container",
	                         .xdp = &plane,
	                         .cgroup_prefix = H.cgroup,
	                         .heartbeat_ms = 50};
	char err[256] = "";
	if (supervisor_new(H.loop, &cfg, NULL, NULL, &H.s, err, sizeof(err)) < 0)
		fail_msg("supervisor_new: %s", err);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	supervisor_free(H.s);
	evloop_free(H.loop);
	return 0;
}

static struct sup_publisher publisher(const char *name)
{
	struct sup_publisher p = {0};
	proto_assign_defaults(&p.ct);
	snprintf(p.ct.user, sizeof(p.ct.user), "%s", name);
	p.ct.uid = NOBODY;
	p.ct.gid = NOBODY;
	p.ct.budget_ms = 50;
	p.ct.mem_max_pages = 64;
	p.ct.trap_limit = 3;
	p.ct.trap_window_s = 60;
	p.ct.log_per_s = 50;
	p.ct.queue = QUEUE;
	return p;
}

static bool armed_n(void *ctx)
{
	return P.armed_ok >= *(unsigned *)ctx;
}

static bool never(void *ctx)
{
	(void)ctx;
	return false;
}

/* Arming refused twice: not armed, tried again at the heartbeats, armed at
 * the third try, then left alone. */
static void test_arm_retried(void **state)
{
	(void)state;
	char err[256] = "";
	struct sup_publisher p = publisher("alice");
	unsigned one = 1, two = 2;

	P.refuse = 2;
	assert_int_equal(supervisor_add_publisher(H.s, &p, err, sizeof(err)), 0);
	if (!loop_wait_until(H.loop, armed_n, &one, 5000))
		fail_msg("not armed within 5 s (%u tries, %u refused)", P.arms, 2 - P.refuse);
	assert_int_equal(P.opens, 1);
	assert_int_equal(P.arms, 3);
	assert_int_equal(P.armed_ok, 1);
	/* Armed: the heartbeats (every 50 ms) do not arm it again. */
	loop_wait_until(H.loop, never, NULL, 300);
	assert_int_equal(P.arms, 3);

	/* A restarted container is armed again (once its assignment is
	 * answered: no modules to reinstall). */
	pid_t old = supervisor_pid(H.s, "alice");
	assert_true(old > 0);
	assert_int_equal(kill(old, SIGKILL), 0);
	if (!loop_wait_until(H.loop, armed_n, &two, 5000))
		fail_msg("the restarted container was not armed within 5 s (%u tries)", P.arms);
	assert_int_equal(P.arms, 4);
	assert_int_equal(P.opens, 2);
	assert_true(P.closes >= 1);
	assert_true(supervisor_pid(H.s, "alice") != old);
	assert_int_equal(P.bad_queue, 0);
}

static bool pid_changed(void *ctx)
{
	pid_t now = supervisor_pid(H.s, "carol");
	return now > 0 && now != *(pid_t *)ctx;
}

/* A container that does not answer because it is not given the CPU (here:
 * stopped, SIGSTOP) is not taken for hung: it stays past three heartbeats
 * (150 ms), runs on when it gets the CPU back, and is killed only when
 * SUP_STARVED_LIMIT times the wait has passed. */
static void test_starved_not_killed(void **state)
{
	(void)state;
	char err[256] = "";
	struct sup_publisher p = publisher("carol");
	assert_int_equal(supervisor_add_publisher(H.s, &p, err, sizeof(err)), 0);
	pid_t old = 0;
	for (int i = 0; i < 100 && (old = supervisor_pid(H.s, "carol")) <= 0; i++)
		loop_wait_until(H.loop, never, NULL, 50);
	assert_true(old > 0);

	assert_int_equal(kill(old, SIGSTOP), 0);
	loop_wait_until(H.loop, never, NULL, 600); /* 12 heartbeats */
	if (supervisor_pid(H.s, "carol") != old)
		fail_msg("a container stopped for 600 ms (heartbeat 50 ms) was killed: "
		         "taken for hung");
	assert_int_equal(kill(old, SIGCONT), 0);
	loop_wait_until(H.loop, never, NULL, 400);
	assert_int_equal(supervisor_pid(H.s, "carol"), old); /* it answered */

	/* Stopped for good: killed after 10 x 150 ms, and restarted. */
	assert_int_equal(kill(old, SIGSTOP), 0);
	uint64_t t0 = evloop_now_ms();
	if (!loop_wait_until(H.loop, pid_changed, &old, 5000))
		fail_msg("a container stopped for 5 s was not killed");
	uint64_t took = evloop_now_ms() - t0;
	/* (the ping it missed may have gone out one heartbeat before it stopped) */
	if (took + 100 < SUP_STARVED_LIMIT * 150 || took > SUP_STARVED_LIMIT * 150 + 2000)
		fail_msg("killed %llu ms after it stopped (expected %u-%u)",
		         (unsigned long long)took, SUP_STARVED_LIMIT * 150 - 100,
		         SUP_STARVED_LIMIT * 150 + 2000);
}

static bool opens_n(void *ctx)
{
	return SP.opens >= *(unsigned *)ctx;
}

/* A container on the NFQUEUE path with a sample plane: refused once, it
 * starts without a channel (and nothing is closed for it); its replacement
 * gets one; that one's death closes it. */
static void test_sample_plane(void **state)
{
	(void)state;
	char err[256] = "";
	struct evloop *loop;
	struct supervisor *s;
	char cgroup[64];
	unsigned one = 1, two = 2;

	memset(&SP, 0, sizeof(SP));
	SP.pair[0] = SP.pair[1] = -1;
	SP.queue = 40000 + (unsigned)getpid() % 20000; /* a queue of this run */
	SP.refuse = 1;
	snprintf(cgroup, sizeof(cgroup), "netserv-test-sup-s%d", (int)getpid());
	assert_int_equal(evloop_new(&loop), 0);
	static const struct sup_sample_plane plane = {.open = splane_open, .close = splane_close};
	struct sup_config cfg = {.container_bin = BUILD_DIR "/netserv-container",
	                         .samples = &plane,
	                         .cgroup_prefix = cgroup,
	                         .heartbeat_ms = 50};
	if (supervisor_new(loop, &cfg, NULL, NULL, &s, err, sizeof(err)) < 0)
		fail_msg("supervisor_new: %s", err);
	struct sup_publisher p = publisher("bob");
	p.ct.queue = (int32_t)SP.queue;
	assert_int_equal(supervisor_add_publisher(s, &p, err, sizeof(err)), 0);
	if (!loop_wait_until(loop, opens_n, &one, 5000))
		fail_msg("no channel asked for within 5 s");
	pid_t old = 0;
	for (int i = 0; i < 100 && (old = supervisor_pid(s, "bob")) <= 0; i++)
		loop_wait_until(loop, never, NULL, 50);
	assert_true(old > 0); /* it runs without a channel */
	assert_int_equal(SP.closes, 0);
	assert_int_equal(kill(old, SIGKILL), 0);
	if (!loop_wait_until(loop, opens_n, &two, 5000))
		fail_msg("the restarted container asked for no channel within 5 s");
	assert_int_equal(SP.closes, 0); /* the refused one had nothing to close */
	pid_t now = 0;
	for (int i = 0; i < 100 && ((now = supervisor_pid(s, "bob")) <= 0 || now == old); i++)
		loop_wait_until(loop, never, NULL, 50);
	assert_true(now > 0 && now != old);
	assert_int_equal(kill(now, SIGKILL), 0);
	for (int i = 0; i < 100 && SP.closes == 0; i++)
		loop_wait_until(loop, never, NULL, 50);
	assert_int_equal(SP.closes, 1);
	assert_int_equal(SP.bad_queue, 0);
	supervisor_free(s);
	evloop_free(loop);
	close(SP.pair[0]);
	close(SP.pair[1]);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP containers need root\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_arm_retried, setup, teardown),
	        cmocka_unit_test(test_sample_plane),
	        cmocka_unit_test_setup_teardown(test_starved_not_killed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
