/* `netserv module run`: a module on the packets of a pcap file, without a
 * node. The module is compiled as the node compiles it (runtime/wasm_check
 * and runtime/aot: wasm2c, cc, the same glue) into a per-user cache, and run
 * by the container's own module host (container/modhost) in its offline
 * mode: a virtual clock that the capture's timestamps drive (timers fire
 * between packets), and crafted packets and log lines printed instead of
 * sent and logged. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pcap/pcap.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "cli/cli.h"
#include "container/modhost.h"
#include "lib/evloop.h"
#include "lib/util.h"
#include "proto/msg.h"
#include "runtime/aot.h"
#include "runtime/wasm_check.h"

#ifndef NETSERV_RUNTIME_SOURCE_DIR
#define NETSERV_RUNTIME_SOURCE_DIR ""
#endif

#define MODULE_MAX_SIZE (64u << 20)

static const char run_usage[] =
        "Usage: netserv module run MODULE.wasm --pcap IN.pcap [OPTIONS]\n"
        "\n"
        "Runs a module on the IP packets of a capture, without a node and without\n"
        "root: compiled as a node compiles it, run by the node's module host on a\n"
        "virtual clock that the capture's timestamps drive (its timers fire between\n"
        "packets). Prints each packet's verdict, the packets the module crafted\n"
        "(printed, never sent), its log lines, and at the end its counters and\n"
        "statistics.\n"
        "\n"
        "Options:\n"
        "  -r, --pcap FILE         the capture (pcap or pcapng; Ethernet, Linux cooked\n"
        "                          or raw IP link types); required\n"
        "  -p, --property K=V      a property of the module (repeatable); the value\n"
        "                          is taken as is, without the SETUP's escapes\n"
        "  -w, --out FILE          write the packets that leave (accepted, modified,\n"
        "                          crafted) into a pcap file (raw IP)\n"
        "  -x, --hex               print modified and crafted packets as hex\n"
        "      --after MS          run the clock MS ms past the last packet (timers)\n"
        "  -q, --quiet             print only the packets that were not accepted\n"
        "                          unchanged or that made the module log or send\n"
        "      --json              one JSON object per line instead of text\n"
        "  -h, --help              show this help\n"
        "\n"
        "Environment:\n"
        "  XDG_CACHE_HOME       the compiled modules go to $XDG_CACHE_HOME/netserv/so\n"
        "                       (else /tmp/netserv-cache-UID/so)\n"
        "  NETSERV_RUNTIME_DIR  the node's runtime sources (glue.c); default: the\n"
        "                       installation's share/netserv/runtime\n"
        "\n"
        "Exit status: 0 the module ran (whatever its verdicts); 1 it could not be\n"
        "compiled or loaded, or the capture could not be read; 2 usage error.\n";

struct run {
	bool hex, json, quiet;
	FILE *out;           /* stdout */
	FILE *ev;            /* where events go now: a packet's buffer, or out */
	char *ev_buf;        /* the current packet's events (open_memstream) */
	size_t ev_len;       /* ... */
	json_t *ev_json;     /* --json: the current packet's events, or NULL */
	pcap_dumper_t *dump; /* --out */
	uint64_t now_ns;     /* the virtual clock of the packet or timer running */
	uint64_t start_ns;   /* the first packet's time */
	uint64_t crafted, logs;
	const char *phase; /* where events happen: "init", "packet", "timer", "fini" */
};

/* Whether events now belong to a packet (printed indented under it) rather
 * than to a phase of their own (printed as "timer: ..."). */
static bool in_packet(const struct run *r)
{
	return !strcmp(r->phase, "packet");
}

/* ---- printing ------------------------------------------------------------- */

static void print_hex(FILE *f, const uint8_t *p, uint32_t len)
{
	fputs("  hex ", f);
	for (uint32_t i = 0; i < len; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
}

static char *hex_string(const uint8_t *p, uint32_t len)
{
	char *s = malloc((size_t)len * 2 + 1);
	if (!s)
		return NULL;
	for (uint32_t i = 0; i < len; i++)
		snprintf(s + 2 * i, 3, "%02x", p[i]);
	s[2 * (size_t)len] = '\0';
	return s;
}

/* One line about an IP packet: "udp 10.0.0.1:5061 > 10.0.0.2:5060 (412 bytes)". */
static void describe(const uint8_t *p, uint32_t len, char *buf, size_t cap)
{
	char src[INET6_ADDRSTRLEN] = "?", dst[INET6_ADDRSTRLEN] = "?";
	uint32_t proto, off;
	if (len >= 20 && p[0] >> 4 == 4) {
		inet_ntop(AF_INET, p + 12, src, sizeof(src));
		inet_ntop(AF_INET, p + 16, dst, sizeof(dst));
		proto = p[9];
		off = (uint32_t)(p[0] & 0x0f) * 4;
		if ((p[6] & 0x1f) || p[7]) /* a later fragment: no ports */
			off = UINT32_MAX;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		inet_ntop(AF_INET6, p + 8, src, sizeof(src));
		inet_ntop(AF_INET6, p + 24, dst, sizeof(dst));
		proto = p[6];
		off = 40;
	} else {
		snprintf(buf, cap, "not IP (%" PRIu32 " bytes)", len);
		return;
	}
	const char *name = proto == 17 ? "udp" : proto == 6 ? "tcp" : NULL;
	bool v6 = p[0] >> 4 == 6;
	if (name && off != UINT32_MAX && off + 4 <= len)
		snprintf(buf, cap, "%s %s%s%s:%u > %s%s%s:%u (%" PRIu32 " bytes)", name,
		         v6 ? "[" : "", src, v6 ? "]" : "", (unsigned)(p[off] << 8 | p[off + 1]),
		         v6 ? "[" : "", dst, v6 ? "]" : "",
		         (unsigned)(p[off + 2] << 8 | p[off + 3]), len);
	else if (name)
		snprintf(buf, cap, "%s %s > %s (%" PRIu32 " bytes)", name, src, dst, len);
	else
		snprintf(buf, cap, "proto %" PRIu32 " %s > %s (%" PRIu32 " bytes)", proto, src, dst,
		         len);
}

static void dump_packet(struct run *r, const uint8_t *p, uint32_t len)
{
	if (!r->dump)
		return;
	struct pcap_pkthdr h = {.caplen = len, .len = len};
	h.ts.tv_sec = (time_t)(r->now_ns / 1000000000u);
	h.ts.tv_usec = (suseconds_t)(r->now_ns % 1000000000u); /* nanosecond precision */
	pcap_dump((u_char *)r->dump, &h, p);
}

/* modhost_offline.sent */
static void on_sent(void *ctx, const char *module, const struct modhost_send *s)
{
	struct run *r = ctx;
	char what[200], dst[INET6_ADDRSTRLEN];
	r->crafted++;
	if (s->udp) {
		inet_ntop(s->family, s->dst, dst, sizeof(dst));
		snprintf(what, sizeof(what), "udp to %s%s%s:%u (%" PRIu32 " bytes of payload)",
		         s->family == AF_INET6 ? "[" : "", dst, s->family == AF_INET6 ? "]" : "",
		         s->dport, s->len);
	} else {
		describe(s->data, s->len, what, sizeof(what));
		dump_packet(r, s->data, s->len);
	}
	if (r->json) {
		char *hex = hex_string(s->data, s->len);
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s?}", "event", "send", "phase",
		                      r->phase, "module", module, "what", what, "hex", hex);
		free(hex);
		if (r->ev_json)
			json_array_append_new(r->ev_json, j);
		else {
			json_dumpf(j, r->out, JSON_COMPACT);
			fputc('\n', r->out);
			json_decref(j);
		}
		return;
	}
	fprintf(r->ev, "%s%s send %s %s\n", in_packet(r) ? " " : r->phase, in_packet(r) ? "" : ":",
	        s->udp ? "datagram" : "packet", what);
	if (r->hex)
		print_hex(r->ev, s->data, s->len);
}

static const char *level_name(uint32_t level)
{
	static const char *const names[] = {"err", "warn", "info", "debug"};
	return level < ARRAY_SIZE(names) ? names[level] : "log";
}

/* modhost_offline.log */
static void on_log(void *ctx, const char *module, uint32_t level, const char *line)
{
	struct run *r = ctx;
	r->logs++;
	if (r->json) {
		json_t *j =
		        json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "log", "phase", r->phase,
		                  "module", module, "level", level_name(level), "text", line);
		if (r->ev_json)
			json_array_append_new(r->ev_json, j);
		else {
			json_dumpf(j, r->out, JSON_COMPACT);
			fputc('\n', r->out);
			json_decref(j);
		}
		return;
	}
	fprintf(r->ev, "%s%s log %s: %s\n", in_packet(r) ? " " : r->phase, in_packet(r) ? "" : ":",
	        level_name(level), line);
}

/* ---- compiling ------------------------------------------------------------- */

/* The runtime sources (glue.c and its headers): $NETSERV_RUNTIME_DIR, this
 * build tree's src/abi (a build with NETSERV_BUILD_TREE_PATHS), the
 * installation beside this program, the configured one. */
static const char *runtime_dir(char *buf, size_t len)
{
	char probe[PATH_MAX + 64];
	const char *env = getenv("NETSERV_RUNTIME_DIR");
	if (env && *env)
		return env;
	if (*NETSERV_RUNTIME_SOURCE_DIR) {
		snprintf(probe, sizeof(probe), "%s/glue.c", NETSERV_RUNTIME_SOURCE_DIR);
		if (access(probe, R_OK) == 0)
			return NETSERV_RUNTIME_SOURCE_DIR;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(probe, sizeof(probe), "%s/../share/netserv/runtime", exe);
			if (len >= PATH_MAX && realpath(probe, buf)) {
				char glue[PATH_MAX + 16];
				snprintf(glue, sizeof(glue), "%s/glue.c", buf);
				if (access(glue, R_OK) == 0)
					return buf;
			}
		}
	}
	return aot_default_runtime_dir();
}

/* Creates dir and its parents (mode for the ones created). Returns 0 or -errno. */
static int mkdir_p(char *dir, mode_t mode)
{
	for (char *s = dir + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		int r = mkdir(dir, mode);
		*s = '/';
		if (r < 0 && errno != EEXIST)
			return -errno;
	}
	return mkdir(dir, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/* The per-user cache: $XDG_CACHE_HOME/netserv/so, else
 * /tmp/netserv-cache-UID/so in a 0700 directory this user owns. */
static int cache_dir(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && *xdg == '/') {
		snprintf(buf, len, "%s/netserv/so", xdg);
		return mkdir_p(buf, 0700);
	}
	char top[64];
	snprintf(top, sizeof(top), "/tmp/netserv-cache-%u", (unsigned)getuid());
	if (mkdir(top, 0700) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (lstat(top, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077)) {
		fprintf(stderr, "netserv: %s is not a private directory of this user\n", top);
		return -EPERM;
	}
	snprintf(buf, len, "%s/so", top);
	return mkdir_p(buf, 0700);
}

struct compile_wait {
	struct evloop *loop;
	bool done;
	int status;
	char so[PATH_MAX];
};

static void on_compiled(void *ctx, const struct aot_result *res)
{
	struct compile_wait *w = ctx;
	w->done = true;
	w->status = res->status;
	if (res->status == 0)
		snprintf(w->so, sizeof(w->so), "%s", res->so_path);
	else
		fprintf(stderr, "netserv: cannot compile the module: %s\n%s", res->reason,
		        res->log && *res->log ? res->log : "");
	evloop_stop(w->loop);
}

/* Checks and compiles the module as a node does (wasm_check, then aot into
 * the cache). Returns 0 with the .so's path in so, or a negative errno after
 * printing why. */
static int compile_module(const char *wasm_path, char *so, size_t solen)
{
	uint8_t *wasm = NULL;
	size_t len = 0, cap = 0;
	FILE *f = fopen(wasm_path, "rb");
	if (!f) {
		fprintf(stderr, "netserv: cannot read %s: %s\n", wasm_path, strerror(errno));
		return -errno;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *n = cap <= MODULE_MAX_SIZE ? realloc(wasm, cap) : NULL;
			if (!n) {
				fprintf(stderr, "netserv: %s: too big\n", wasm_path);
				free(wasm);
				fclose(f);
				return -EFBIG;
			}
			wasm = n;
		}
		size_t n = fread(wasm + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	struct wasm_check_limits lim = {.max_memory_pages = 65536};
	struct wasm_check_result chk;
	char why[WASM_CHECK_ERR_LEN];
	int r = wasm_check(wasm, len, &lim, &chk, why, sizeof(why));
	uint8_t sha[32];
	crypto_hash_sha256(sha, wasm, len);
	free(wasm);
	if (r < 0) {
		fprintf(stderr, "netserv: invalid module %s: %s\n", wasm_path, why);
		return r;
	}

	char cache[PATH_MAX], rt_buf[PATH_MAX], work[] = "/tmp/netserv-run-XXXXXX";
	bool have_work = false;
	if ((r = cache_dir(cache, sizeof(cache))) < 0) {
		fprintf(stderr, "netserv: cannot create the module cache %s: %s\n", cache,
		        strerror(-r));
		return r;
	}
	/* As root the compiler tools run as the sandbox user, who must reach
	 * their work directory: not in a home of mode 0700. */
	if (geteuid() == 0) {
		if (!mkdtemp(work) || chmod(work, 0711) < 0) {
			fprintf(stderr, "netserv: cannot create a work directory: %s\n",
			        strerror(errno));
			return -errno;
		}
		have_work = true;
	}
	struct aot_config cfg = {
	        .cache_dir = cache,
	        .work_dir = have_work ? work : NULL,
	        .runtime_dir = runtime_dir(rt_buf, sizeof(rt_buf)),
	};
	struct compile_wait w = {0};
	struct aot *aot = NULL;
	char err[AOT_ERR_LEN];
	if ((r = evloop_new(&w.loop)) < 0) {
		fprintf(stderr, "netserv: %s\n", strerror(-r));
		goto out;
	}
	if ((r = aot_new(w.loop, &cfg, &aot, err, sizeof(err))) < 0 ||
	    (r = aot_compile(aot, wasm_path, sha, &chk, on_compiled, &w, NULL, err, sizeof(err))) <
	            0) {
		fprintf(stderr, "netserv: cannot compile the module: %s\n", err);
		goto out;
	}
	while (!w.done && (r = evloop_run(w.loop)) == 0)
		;
	r = w.done ? w.status : r;
	if (r == 0)
		snprintf(so, solen, "%s", w.so);
out:
	aot_free(aot);
	evloop_free(w.loop);
	if (have_work)
		rmdir(work);
	return r;
}

/* ---- the capture ------------------------------------------------------------- */

/* Finds the IP packet in a frame of link type dlt. Returns its offset, or -1
 * (not IP: *why says what it is). */
static long ip_offset(int dlt, const uint8_t *p, uint32_t len, char *why, size_t cap)
{
	uint32_t off, type;
	switch (dlt) {
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return 0;
	case DLT_NULL:
	case DLT_LOOP:
		return len >= 4 ? 4 : -1;
	case DLT_EN10MB:
		off = 12;
		if (len < 14)
			break;
		type = (uint32_t)p[off] << 8 | p[off + 1];
		while ((type == 0x8100 || type == 0x88a8) && off + 6 <= len) {
			off += 4; /* VLAN tags */
			type = (uint32_t)p[off] << 8 | p[off + 1];
		}
		if (type == 0x0800 || type == 0x86dd)
			return off + 2;
		snprintf(why, cap, "ethertype 0x%04x", type);
		return -1;
	case DLT_LINUX_SLL:
		if (len < 16)
			break;
		type = (uint32_t)p[14] << 8 | p[15];
		if (type == 0x0800 || type == 0x86dd)
			return 16;
		snprintf(why, cap, "protocol 0x%04x", type);
		return -1;
#ifdef DLT_LINUX_SLL2
	case DLT_LINUX_SLL2:
		if (len < 20)
			break;
		type = (uint32_t)p[0] << 8 | p[1];
		if (type == 0x0800 || type == 0x86dd)
			return 20;
		snprintf(why, cap, "protocol 0x%04x", type);
		return -1;
#endif
	default:
		snprintf(why, cap, "link type %s", pcap_datalink_val_to_name(dlt) ?: "unknown");
		return -1;
	}
	snprintf(why, cap, "a short frame");
	return -1;
}

static uint64_t ts_ns(const struct pcap_pkthdr *h)
{
	/* opened with nanosecond precision: tv_usec holds ns */
	return (uint64_t)h->ts.tv_sec * 1000000000u + (uint64_t)h->ts.tv_usec;
}

static const char *verdict_name(uint32_t v)
{
	return v == NS_DROP ? "drop" : v == NS_MODIFIED ? "modified" : "accept";
}

/* Runs one packet (number n) and prints its verdict and events. */
static void run_packet(struct run *r, struct modhost *h, uint64_t n, const uint8_t *ip,
                       uint32_t len, uint8_t *buf)
{
	char what[200];
	describe(ip, len, what, sizeof(what));
	memcpy(buf, ip, len);
	uint32_t out_len = len;
	struct ns_pkt_meta meta = {.hook = 2 /* forward */, .rx_time_ns = r->now_ns};
	if (r->json)
		r->ev_json = json_array();
	else
		r->ev = open_memstream(&r->ev_buf, &r->ev_len);
	if (!r->ev)
		r->ev = r->out;
	r->phase = "packet";
	uint32_t v = modhost_packet(h, buf, &out_len, NS_PACKET_MAX, &meta);
	r->phase = "timer";
	if (r->ev != r->out)
		fclose(r->ev);
	r->ev = r->out;
	if (v != NS_DROP)
		dump_packet(r, buf, out_len);
	double t = (double)(r->now_ns - r->start_ns) / 1e9;
	if (r->quiet && v == NS_ACCEPT &&
	    (r->json ? json_array_size(r->ev_json) == 0 : !r->ev_buf || !*r->ev_buf)) {
		json_decref(r->ev_json);
		r->ev_json = NULL;
		free(r->ev_buf);
		r->ev_buf = NULL;
		return;
	}
	if (r->json) {
		json_t *j =
		        json_pack("{s:I, s:f, s:s, s:s, s:o}", "packet", (json_int_t)n, "time", t,
		                  "what", what, "verdict", verdict_name(v), "events", r->ev_json);
		if (v == NS_MODIFIED) {
			char *hex = hex_string(buf, out_len);
			json_object_set_new(j, "modified", json_string(hex ? hex : ""));
			free(hex);
		}
		json_dumpf(j, r->out, JSON_COMPACT);
		fputc('\n', r->out);
		json_decref(j);
		r->ev_json = NULL;
		return;
	}
	fprintf(r->out, "%" PRIu64 " +%.6fs %s: %s", n, t, what, verdict_name(v));
	if (v == NS_MODIFIED)
		fprintf(r->out, " (%" PRIu32 " bytes)", out_len);
	fputc('\n', r->out);
	if (v == NS_MODIFIED && r->hex)
		print_hex(r->out, buf, out_len);
	if (r->ev_buf) {
		fputs(r->ev_buf, r->out);
		free(r->ev_buf);
		r->ev_buf = NULL;
	}
}

/* The counters and statistics at the end. */
static void print_stats(struct run *r, struct modhost *h, uint64_t packets, uint64_t skipped)
{
	json_t *stats = modhost_stats(h);
	if (r->json) {
		json_t *j = json_pack("{s:I, s:I, s:O}", "packets", (json_int_t)packets, "skipped",
		                      (json_int_t)skipped, "stats", stats);
		json_dumpf(j, r->out, JSON_COMPACT);
		fputc('\n', r->out);
		json_decref(j);
		json_decref(stats);
		return;
	}
	fprintf(r->out, "end: %" PRIu64 " packets, %" PRIu64 " not IP\n", packets, skipped);
	size_t i;
	json_t *m;
	json_array_foreach(stats, i, m)
	{
		const char *k;
		json_t *v;
		json_object_foreach(json_object_get(m, "counters"), k, v)
		{
			fprintf(r->out, "counter %s: %" JSON_INTEGER_FORMAT "\n", k,
			        json_integer_value(v));
		}
		static const char *const keys[] = {
		        "packets",       "accepted",     "dropped",   "modified",
		        "traps",         "timer_calls",  "sends",     "sends_refused",
		        "sends_limited", "policy_drops", "log_lines", "log_suppressed"};
		fprintf(r->out, "stats: state=%s", json_string_value(json_object_get(m, "state")));
		for (size_t k2 = 0; k2 < ARRAY_SIZE(keys); k2++)
			fprintf(r->out, " %s=%" JSON_INTEGER_FORMAT, keys[k2],
			        json_integer_value(json_object_get(m, keys[k2])));
		fputc('\n', r->out);
		const char *trap = json_string_value(json_object_get(m, "last_trap"));
		if (trap)
			fprintf(r->out, "last trap: %s\n", trap);
		const char *reason = json_string_value(json_object_get(m, "reason"));
		if (reason)
			fprintf(r->out, "failed: %s\n", reason);
	}
	json_decref(stats);
}

/* ---- the command ----------------------------------------------------------------- */

/* The module's name: its file name without .wasm. */
static void module_name(const char *path, char *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	size_t n = strlen(base);
	if (n > 5 && !strcmp(base + n - 5, ".wasm"))
		n -= 5;
	snprintf(buf, len, "%.*s", (int)n, base);
}

int cli_module_run_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"pcap", required_argument, NULL, 'r'},
	        {"property", required_argument, NULL, 'p'},
	        {"out", required_argument, NULL, 'w'},
	        {"hex", no_argument, NULL, 'x'},
	        {"after", required_argument, NULL, 'A'},
	        {"json", no_argument, NULL, 'J'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	struct run r = {.out = stdout, .ev = stdout, .phase = "init"};
	const char *pcap_path = NULL, *out_path = NULL;
	uint64_t after_ms = 0;
	json_t *props = json_object();
	struct modhost *h = NULL;
	struct evloop *loop = NULL;
	pcap_t *pc = NULL, *dead = NULL;
	uint8_t *buf = NULL;
	int ret = CLI_ERR_USAGE, c;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:p:w:xqh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			pcap_path = optarg;
			break;
		case 'p': {
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg) {
				fprintf(stderr, "netserv: --property wants KEY=VALUE, not '%s'\n",
				        optarg);
				goto out;
			}
			char key[128];
			if ((size_t)(eq - optarg) >= sizeof(key)) {
				fprintf(stderr, "netserv: property name too long\n");
				goto out;
			}
			snprintf(key, sizeof(key), "%.*s", (int)(eq - optarg), optarg);
			json_object_set_new(props, key, json_string(eq + 1));
			break;
		}
		case 'w':
			out_path = optarg;
			break;
		case 'x':
			r.hex = true;
			break;
		case 'A':
			errno = 0;
			after_ms = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-' ||
			    after_ms > 365ull * 86400000) {
				fprintf(stderr, "netserv: bad --after '%s' (milliseconds)\n",
				        optarg);
				goto out;
			}
			break;
		case 'J':
			r.json = true;
			break;
		case 'q':
			r.quiet = true;
			break;
		case 'h':
			fputs(run_usage, stdout);
			ret = CLI_OK;
			goto out;
		default:
			fputs(run_usage, stderr);
			goto out;
		}
	}
	if (optind != argc - 1 || !pcap_path) {
		fprintf(stderr, "netserv: module run needs %s\n\n%s",
		        optind >= argc      ? "a module"
		        : optind < argc - 1 ? "one module"
		                            : "--pcap FILE",
		        run_usage);
		goto out;
	}
	const char *wasm_path = argv[optind];

	ret = CLI_ERR_RESPONSE;
	char errbuf[PCAP_ERRBUF_SIZE];
	pc = pcap_open_offline_with_tstamp_precision(pcap_path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc) {
		fprintf(stderr, "netserv: cannot read %s: %s\n", pcap_path, errbuf);
		goto out;
	}
	int dlt = pcap_datalink(pc);
	if (out_path) {
		dead = pcap_open_dead_with_tstamp_precision(DLT_RAW, 65535,
		                                            PCAP_TSTAMP_PRECISION_NANO);
		r.dump = dead ? pcap_dump_open(dead, out_path) : NULL;
		if (!r.dump) {
			fprintf(stderr, "netserv: cannot write %s: %s\n", out_path,
			        dead ? pcap_geterr(dead) : "out of memory");
			goto out;
		}
	}
	buf = malloc(NS_PACKET_MAX);
	char so[PATH_MAX];
	if (!buf || compile_module(wasm_path, so, sizeof(so)) < 0)
		goto out;

	/* The first packet sets the clock at which the module starts. */
	struct pcap_pkthdr *ph;
	const u_char *frame;
	int nr = pcap_next_ex(pc, &ph, &frame);
	r.start_ns = r.now_ns = nr == 1 ? ts_ns(ph) : 0;

	/* The limits a node gives a publisher by default (proto/msg.h). */
	struct modhost_limits lim = {
	        .budget_ms = PROTO_DEFAULT_BUDGET_MS,
	        .mem_max_pages = PROTO_DEFAULT_MEM_MAX_PAGES,
	        .trap_limit = PROTO_DEFAULT_TRAP_LIMIT,
	        .trap_window_s = PROTO_DEFAULT_TRAP_WINDOW_S,
	        .log_per_s = PROTO_DEFAULT_LOG_PER_S,
	};
	char err[512];
	int e;
	if ((e = evloop_new(&loop)) < 0 ||
	    (e = modhost_new(loop, &lim, NULL, NULL, NULL, &h, err, sizeof(err))) < 0) {
		fprintf(stderr, "netserv: cannot start the module host: %s\n",
		        loop ? err : strerror(-e));
		goto out;
	}
	struct modhost_offline off = {
	        .sent = on_sent,
	        .log = on_log,
	        .ctx = &r,
	        .mono_ns = r.now_ns,
	        .real_ms = r.now_ns / 1000000u,
	};
	modhost_set_offline(h, &off);
	char name[128];
	module_name(wasm_path, name, sizeof(name));
	if (modhost_install(h, name, so, -1, props, NULL, 0, err, sizeof(err)) < 0) {
		fflush(r.out);
		fprintf(stderr, "netserv: the module does not start: %s\n", err);
		goto out;
	}
	r.phase = "timer";

	uint64_t n = 0, packets = 0, skipped = 0;
	for (; nr == 1; nr = pcap_next_ex(pc, &ph, &frame)) {
		n++;
		uint64_t t = ts_ns(ph);
		if (t < r.now_ns)
			t = r.now_ns; /* out of order: the clock does not go back */
		r.now_ns = t;
		modhost_clock_advance(h, t);
		char why[80] = "";
		long off_ip = ip_offset(dlt, frame, ph->caplen, why, sizeof(why));
		double rel = (double)(t - r.start_ns) / 1e9;
		if (off_ip < 0 || ph->caplen < ph->len ||
		    ph->caplen - (uint32_t)off_ip > NS_PACKET_MAX) {
			skipped++;
			if (ph->caplen < ph->len)
				snprintf(why, sizeof(why), "truncated capture");
			else if (off_ip >= 0)
				snprintf(why, sizeof(why), "longer than %u bytes", NS_PACKET_MAX);
			if (r.json)
				fprintf(r.out, "{\"packet\":%" PRIu64 ",\"skipped\":\"%s\"}\n", n,
				        why);
			else
				fprintf(r.out, "%" PRIu64 " +%.6fs skipped: %s\n", n, rel, why);
			continue;
		}
		packets++;
		run_packet(&r, h, n, frame + off_ip, ph->caplen - (uint32_t)off_ip, buf);
	}
	if (nr == PCAP_ERROR) /* a truncated file: what was read ran */
		fprintf(stderr, "netserv: %s: %s\n", pcap_path, pcap_geterr(pc));
	r.now_ns += after_ms * 1000000u;
	modhost_clock_advance(h, r.now_ns);
	print_stats(&r, h, packets, skipped);
	r.phase = "fini";
	h = modhost_free(h); /* ns_fini, which may log */
	ret = CLI_OK;
out:
	fflush(stdout);
	modhost_free(h);
	evloop_free(loop);
	if (r.dump)
		pcap_dump_close(r.dump);
	if (dead)
		pcap_close(dead);
	if (pc)
		pcap_close(pc);
	free(buf);
	json_decref(props);
	return ret;
}
