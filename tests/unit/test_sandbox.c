/* Container hardening, attacked from inside: the test build of the container
 * (netserv-container-testing, src/container/container_testing.c) runs
 * commands carried by "NSTEST ..." packets, as a module that escaped
 * WebAssembly would. Checks: no capabilities, no_new_privs, seccomp in force;
 * landlock confines files to the container's own directory and TCP binds to
 * its listen ports; a forbidden system call kills the container and the
 * supervisor restarts it with its modules; crafted packets with a foreign
 * source address are refused and counted. Needs root. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/cmsg.h"
#include "lib/evloop.h"
#include "../lib/loop_wait.h"
#include "ncm/ncm.h"
#include "runtime/runtime_wasm.h"
#include "runtime/sandbox_host.h"

#define NOBODY 65534

static struct {
	struct evloop *loop;
	void *rt;
	char dir[64];
	char cgroup[64];
	char event[32], event_reason[256];
	unsigned restarts;
} H;

/* Runs the loop until *flag is set or ms pass; returns *flag. */
static bool run_until(bool *flag, unsigned ms)
{
	return loop_wait_flag(H.loop, flag, ms);
}

static void sleep_loop(unsigned ms)
{
	bool never = false;
	run_until(&never, ms);
}

static void on_event(void *ctx, const char *user, const char *module, enum runtime_event event,
                     const char *reason)
{
	snprintf(H.event, sizeof(H.event), "%s", runtime_event_name(event));
	snprintf(H.event_reason, sizeof(H.event_reason), "%s", reason ? reason : "");
	if (event == RUNTIME_EVENT_RESTARTED)
		H.restarts++;
}

static struct sup_publisher publisher(const char *name, int64_t uid)
{
	struct sup_publisher p = {0};
	snprintf(p.ct.user, sizeof(p.ct.user), "%s", name);
	p.ct.uid = uid;
	p.ct.gid = uid;
	p.ct.budget_ms = 100;
	p.ct.mem_max_pages = 64;
	p.ct.trap_limit = 3;
	p.ct.trap_window_s = 60;
	p.ct.log_per_s = 50;
	p.ct.queue = -1;
	p.ct.cpu = -1;
	p.cgroup.pids_max = 16;
	snprintf(p.ct.sandbox.dir, sizeof(p.ct.sandbox.dir), "%s/containers/%s", H.dir, name);
	snprintf(p.ct.sandbox.source_prefixes, sizeof(p.ct.sandbox.source_prefixes),
	         "192.0.2.0/24");
	snprintf(p.ct.sandbox.listen_ports, sizeof(p.ct.sandbox.listen_ports), "tcp:18080");
	return p;
}

static int setup(void **state)
{
	memset(&H, 0, sizeof(H));
	snprintf(H.dir, sizeof(H.dir), "/tmp/netserv-sb.XXXXXX");
	assert_non_null(mkdtemp(H.dir));
	chmod(H.dir, 0711);
	snprintf(H.cgroup, sizeof(H.cgroup), "netserv-sbtest-%d", (int)getpid());
	assert_int_equal(evloop_new(&H.loop), 0);
	char so_dir[128], err[256];
	snprintf(so_dir, sizeof(so_dir), "%s/so", H.dir);
	struct sup_publisher pubs[1] = {publisher("alice", NOBODY)};
	assert_int_equal(sandbox_host_prepare(&pubs[0], err, sizeof(err)), 0);
	struct runtime_wasm_config cfg = {
	        .aot = {.cache_dir = so_dir, .runtime_dir = SOURCE_DIR "/src/abi"},
	        .sup = {.container_bin = BUILD_DIR "/netserv-container-testing",
	                .cgroup_prefix = H.cgroup,
	                .heartbeat_ms = 200,
	                .pool_size = 0},
	        .publishers = pubs,
	        .n_publishers = 1,
	};
	if (runtime_wasm_new(H.loop, &cfg, &H.rt, err, sizeof(err)) < 0)
		fail_msg("runtime_wasm_new: %s", err);
	runtime_wasm_ops.set_event_handler(H.rt, on_event, NULL);
	struct supervisor *s = runtime_wasm_supervisor(H.rt);
	for (int i = 0; i < 500 && !supervisor_pid(s, "alice"); i++)
		sleep_loop(10);
	assert_true(supervisor_pid(s, "alice") > 0);
	return 0;
}

static int teardown(void **state)
{
	runtime_wasm_free(H.rt);
	evloop_free(H.loop);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", H.dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct install_result {
	bool done;
	int status;
	char reason[512];
};

static void on_install_done(void *ctx, int status, const char *reason, long queue)
{
	struct install_result *ir = ctx;
	ir->done = true;
	ir->status = status;
	/* These publishers read no NFQUEUE (ASSIGN queue -1). */
	assert_int_equal(queue, -ENOENT);
	snprintf(ir->reason, sizeof(ir->reason), "%s", reason ? reason : "");
}

static int install(const char *name, const char *wasm, const char *props, char *reason, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), BUILD_DIR "/modules/%s.wasm", wasm);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t buf[1 << 16], sha[32];
	crypto_hash_sha256_state st;
	crypto_hash_sha256_init(&st);
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	fclose(f);
	crypto_hash_sha256_final(&st, sha);
	char ncm[512];
	snprintf(ncm, sizeof(ncm), "SETUP %s NETSERV/0.1\nuser:alice\nurl:file:///x\n%s%s%s\n",
	         name, props ? "properties:" : "", props ? props : "", props ? "\n" : "");
	struct ncm_msg *msg = NULL;
	struct ncm_request req;
	assert_int_equal(ncm_parse(ncm, strlen(ncm), &msg, NULL, 0), 0);
	assert_int_equal(ncm_request_decode(msg, &req, NULL, 0), 0);
	struct runtime_module rm = {.user = "alice",
	                            .module_id = name,
	                            .wasm_path = path,
	                            .sha256 = sha,
	                            .request = &req};
	struct install_result ir = {0};
	char err[512] = "";
	if (runtime_wasm_ops.install(H.rt, &rm, on_install_done, &ir, err, sizeof(err)) < 0) {
		ir.status = 500;
		snprintf(ir.reason, sizeof(ir.reason), "%s", err);
	} else {
		assert_true(run_until(&ir.done, 60000));
	}
	ncm_request_done(&req);
	ncm_free(msg);
	if (reason)
		snprintf(reason, len, "%s", ir.reason);
	return ir.status;
}

struct packet_result {
	bool done;
	int status;
	uint32_t verdict;
	char text[2048];
};

static void on_packet_reply(void *ctx, int status, json_t *reply, const uint8_t *raw, size_t len)
{
	struct packet_result *pr = ctx;
	pr->done = true;
	pr->status = status;
	if (status == 0 && len >= sizeof(struct cmsg_packet)) {
		struct cmsg_packet h;
		memcpy(&h, raw, sizeof(h));
		pr->verdict = h.verdict;
		size_t n = h.len < sizeof(pr->text) - 1 ? h.len : sizeof(pr->text) - 1;
		memcpy(pr->text, raw + sizeof(h), n);
		pr->text[n] = '\0';
	}
}

/* A UDP/IPv4 packet 10.0.0.1:4000 -> 10.0.0.2:5060 carrying payload. */
static uint32_t udp_packet(uint8_t *out, const char *payload)
{
	size_t plen = strlen(payload);
	uint32_t total = (uint32_t)(28 + plen);
	memset(out, 0, 28);
	out[0] = 0x45;
	out[2] = (uint8_t)(total >> 8);
	out[3] = (uint8_t)total;
	out[8] = 64;
	out[9] = 17;
	out[12] = 10, out[15] = 1, out[16] = 10, out[19] = 2;
	out[20] = 4000 >> 8, out[21] = 4000 & 0xff, out[22] = 5060 >> 8, out[23] = 5060 & 0xff;
	out[24] = (uint8_t)((8 + plen) >> 8);
	out[25] = (uint8_t)(8 + plen);
	memcpy(out + 28, payload, plen);
	return total;
}

static struct packet_result send_text(const char *payload)
{
	uint8_t pkt[512];
	uint32_t len = udp_packet(pkt, payload);
	struct packet_result pr = {0};
	struct ns_pkt_meta meta = {.hook = 2};
	assert_int_equal(supervisor_packet(runtime_wasm_supervisor(H.rt), "alice", pkt, len, &meta,
	                                   on_packet_reply, &pr),
	                 0);
	assert_true(run_until(&pr.done, 10000));
	return pr;
}

/* Runs an NSTEST command; returns the errno it reported. */
static int nstest(const char *cmd)
{
	char payload[256];
	snprintf(payload, sizeof(payload), "NSTEST %s", cmd);
	struct packet_result pr = send_text(payload);
	assert_int_equal(pr.status, 0);
	const char *colon = strrchr(pr.text, ':');
	if (strncmp(pr.text, "NSTEST-RESULT ", 14) != 0 || !colon)
		fail_msg("no NSTEST result: '%s'", pr.text);
	return atoi(colon + 1);
}

static long long proc_status_hex(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	long long v = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtoll(line + n + 1, NULL,
			            strcmp(field, "Seccomp") == 0 ||
			                            strcmp(field, "NoNewPrivs") == 0
			                    ? 10
			                    : 16);
	fclose(f);
	return v;
}

static void test_privileges(void **state)
{
	pid_t pid = supervisor_pid(runtime_wasm_supervisor(H.rt), "alice");
	assert_int_equal(proc_status_hex(pid, "Seccomp"), 2); /* a filter */
	assert_int_equal(proc_status_hex(pid, "NoNewPrivs"), 1);
	/* Without a packet queue it keeps no capability, in no set. */
	assert_int_equal(proc_status_hex(pid, "CapEff"), 0);
	assert_int_equal(proc_status_hex(pid, "CapPrm"), 0);
	assert_int_equal(proc_status_hex(pid, "CapInh"), 0);
	assert_int_equal(proc_status_hex(pid, "CapAmb"), 0);
	assert_int_equal(proc_status_hex(pid, "CapBnd"), 0);
}

static void test_landlock_files(void **state)
{
	/* Files of the node: refused, even world-readable ones. */
	assert_int_equal(nstest("open /etc/passwd"), EACCES);
	char path[160];
	snprintf(path, sizeof(path), "open %s/so", H.dir);
	assert_int_equal(nstest(path), EACCES);
	/* Its own directory (the working directory) and its own /proc entry. */
	assert_int_equal(nstest("create data.txt"), 0);
	snprintf(path, sizeof(path), "%s/containers/alice/data.txt", H.dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, NOBODY);
	assert_int_equal(nstest("open /proc/self/status"), 0);
	assert_int_equal(nstest("create /tmp/escaped.txt"), EACCES);
}

static void test_landlock_ports(void **state)
{
	assert_int_equal(nstest("bind 18080"), 0);
	assert_int_equal(nstest("bind 18081"), EACCES);
}

static void wait_restart(unsigned before)
{
	for (int i = 0; i < 500 && H.restarts == before; i++)
		sleep_loop(10);
	assert_true(H.restarts > before);
}

static void test_seccomp_kills_and_restarts(void **state)
{
	char why[512];
	struct supervisor *s = runtime_wasm_supervisor(H.rt);
	assert_int_equal(install("c", "counter", NULL, why, sizeof(why)), 0);
	pid_t old = supervisor_pid(s, "alice");
	unsigned starts = supervisor_starts(s, "alice"), restarts = H.restarts;
	/* socket(AF_NETLINK): not on the allowlist. */
	struct packet_result pr = send_text("NSTEST netlink");
	assert_int_equal(pr.status, -ECONNRESET);
	wait_restart(restarts);
	assert_non_null(strstr(H.event_reason, "signal 31 (SYS)"));
	assert_int_equal(supervisor_starts(s, "alice"), starts + 1);
	pid_t now = 0;
	for (int i = 0; i < 300 && !(now = supervisor_pid(s, "alice")); i++)
		sleep_loop(10);
	assert_true(now > 0 && now != old);
	/* Its modules are back: the counter counts again. */
	sleep_loop(50);
	pr = send_text("hello");
	assert_int_equal(pr.status, 0);
	assert_int_equal(pr.verdict, NS_ACCEPT);
	/* execve: the classic escape, also killed. */
	restarts = H.restarts;
	pr = send_text("NSTEST exec");
	assert_int_equal(pr.status, -ECONNRESET);
	wait_restart(restarts);
	assert_non_null(strstr(H.event_reason, "SYS"));
	/* The restarted container is as confined as the first. */
	for (int i = 0; i < 300 && !(now = supervisor_pid(s, "alice")); i++)
		sleep_loop(10);
	assert_int_equal(proc_status_hex(now, "Seccomp"), 2);
	assert_int_equal(runtime_wasm_ops.remove(H.rt, "alice", "c"), 0);
	sleep_loop(20);
}

struct stats_result {
	bool done;
	json_t *stats;
};

static void on_stats(void *ctx, json_t *stats)
{
	struct stats_result *sr = ctx;
	sr->done = true;
	sr->stats = json_incref(stats);
}

static long long stat_of(const char *module, const char *field, const char *counter)
{
	struct stats_result sr = {0};
	runtime_wasm_ops.stats(H.rt, on_stats, &sr);
	assert_true(run_until(&sr.done, 5000));
	char key[128];
	snprintf(key, sizeof(key), "alice/%s", module);
	json_t *m = json_object_get(sr.stats, key);
	if (counter)
		m = json_object_get(json_object_get(m, "counters"), counter);
	else
		m = json_object_get(m, field);
	long long v = m ? json_integer_value(m) : -1;
	json_decref(sr.stats);
	return v;
}

static void test_crafted_source_policy(void **state)
{
	char why[512];
	/* Inside its prefixes (192.0.2.0/24): sent. */
	assert_int_equal(install("own", "spoofer", "src=192.0.2.1,dst=127.0.0.1", why, sizeof(why)),
	                 0);
	send_text("x");
	assert_int_equal(stat_of("own", NULL, "sent"), 1);
	assert_int_equal(stat_of("own", "sends_refused", NULL), 0);
	assert_int_equal(runtime_wasm_ops.remove(H.rt, "alice", "own"), 0);
	sleep_loop(20);
	/* Someone else's address: refused, and counted by the node. */
	assert_int_equal(
	        install("foreign", "spoofer", "src=198.51.100.1,dst=127.0.0.1", why, sizeof(why)),
	        0);
	send_text("x");
	send_text("y");
	assert_int_equal(stat_of("foreign", NULL, "refused"), 2);
	assert_int_equal(stat_of("foreign", NULL, "sent"), 0);
	assert_int_equal(stat_of("foreign", "sends_refused", NULL), 2);
	assert_int_equal(runtime_wasm_ops.remove(H.rt, "alice", "foreign"), 0);
	sleep_loop(20);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return 0;
	}
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_privileges),
	        cmocka_unit_test(test_landlock_files),
	        cmocka_unit_test(test_landlock_ports),
	        cmocka_unit_test(test_crafted_source_policy),
	        cmocka_unit_test(test_seccomp_kills_and_restarts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
