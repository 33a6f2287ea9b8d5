/* `netserv viz`: the visualizer of the NetMonitor module (modules/netmonitor.c).
 *
 * Receives the module's reports (UDP, the text format netmonitor.c
 * documents) and shows the counts live: a page served over HTTP on
 * localhost that updates itself twice a second (GET / the page, GET
 * /data.json the numbers), and/or a terminal table redrawn at each report
 * (--text). One process, one poll() loop; nothing is kept on disk. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/util.h"

static const char viz_usage[] =
        "Usage: netserv viz [--port N] [--http PORT] [--http-addr ADDR] [--text]\n"
        "                   [--duration SECONDS]\n"
        "\n"
        "Receives NetMonitor reports (the module's visualizer_ip/visualizer_port)\n"
        "and shows them live.\n"
        "\n"
        "Options:\n"
        "  -p, --port N          UDP port the reports come to (default 5678), on\n"
        "                        every address of the host, IPv4 and IPv6\n"
        "  -H, --http PORT       serve the live page on http://ADDR:PORT/ (default\n"
        "                        8080; 0: no page); /data.json gives the numbers\n"
        "      --http-addr ADDR  address of the page (default 127.0.0.1)\n"
        "  -t, --text            redraw a table on the terminal at every report\n"
        "  -d, --duration SECONDS  exit after that long (default: until a signal)\n"
        "  -h, --help            show this help\n";

#define MAX_FLOWS     4096
#define MAX_REPORTERS 64
#define ADDR_LEN      64 /* "[v6]:port" */
#define LABEL_LEN     33
#define IP_LEN        46
#define HISTORY       120 /* samples of the packet rate kept for the page's chart */

struct viz_reporter {
	char addr[ADDR_LEN]; /* where the datagrams come from */
	char label[LABEL_LEN];
	uint64_t reports;   /* distinct report numbers seen (part 1 of each) */
	uint64_t datagrams; /* every datagram */
	uint32_t last_seq;
	int64_t first_ms, last_ms; /* local arrival of part 1, monotonic */
	int64_t node_ms;           /* the node's clock in the last report */
	uint64_t packets, bytes;   /* the module's totals */
	uint32_t flows;
	double rate_pps; /* packets per second between the last two reports */
	uint64_t prev_packets;
	int64_t prev_ms;
};

struct viz_flow {
	int reporter; /* index into reporters */
	char src[IP_LEN], dst[IP_LEN];
	unsigned ttl;
	uint64_t pkts, bytes;
	uint64_t prev_pkts;
	int64_t prev_ms, last_ms;
	double rate_pps;
};

struct viz {
	struct viz_reporter reporters[MAX_REPORTERS];
	int n_reporters;
	struct viz_flow flows[MAX_FLOWS];
	int n_flows;
	uint64_t datagrams, bad;
	double history[HISTORY]; /* packets/s of all reporters, at each report */
	int n_history;
	int64_t start_ms;
	bool text, tty;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- reports --------------------------------------------------------------- */

/* The value of "key=" in a header line, copied into buf (cap bytes); false
 * if absent or too long. */
static bool header_field(const char *line, const char *key, char *buf, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *p = line; (p = strstr(p, key)) != NULL; p += kl) {
		if ((p != line && p[-1] != ' ') || p[kl] != '=')
			continue;
		const char *v = p + kl + 1;
		size_t n = strcspn(v, " \n");
		if (n == 0 || n >= cap)
			return false;
		memcpy(buf, v, n);
		buf[n] = '\0';
		return true;
	}
	return false;
}

static bool field_u64(const char *line, const char *key, uint64_t *ret)
{
	char buf[32], *end;
	if (!header_field(line, key, buf, sizeof(buf)))
		return false;
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 10);
	if (errno || *end || buf[0] == '-')
		return false;
	*ret = v;
	return true;
}

static int reporter_of(struct viz *v, const char *addr, const char *label)
{
	for (int i = 0; i < v->n_reporters; i++)
		if (!strcmp(v->reporters[i].addr, addr) && !strcmp(v->reporters[i].label, label))
			return i;
	if (v->n_reporters >= MAX_REPORTERS)
		return -1;
	struct viz_reporter *r = &v->reporters[v->n_reporters];
	memset(r, 0, sizeof(*r));
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	snprintf(r->label, sizeof(r->label), "%s", label);
	return v->n_reporters++;
}

static struct viz_flow *flow_of(struct viz *v, int rep, const char *src, const char *dst,
                                unsigned ttl)
{
	for (int i = 0; i < v->n_flows; i++) {
		struct viz_flow *f = &v->flows[i];
		if (f->reporter == rep && f->ttl == ttl && !strcmp(f->src, src) &&
		    !strcmp(f->dst, dst))
			return f;
	}
	if (v->n_flows >= MAX_FLOWS)
		return NULL;
	struct viz_flow *f = &v->flows[v->n_flows++];
	memset(f, 0, sizeof(*f));
	f->reporter = rep;
	f->ttl = ttl;
	snprintf(f->src, sizeof(f->src), "%s", src);
	snprintf(f->dst, sizeof(f->dst), "%s", dst);
	return f;
}

static bool ip_text_ok(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Takes one datagram. Returns 1 if it completed a report (its last part),
 * 0 if not, -1 if it was not a NetMonitor report. */
static int viz_take(struct viz *v, const char *from, char *data, size_t len)
{
	int64_t now = mono_ms();
	data[len] = '\0';
	if (strlen(data) != len || strncmp(data, "NETMON 1 ", 9) != 0)
		return -1;
	char *nl = strchr(data, '\n');
	if (!nl)
		return -1;
	*nl = '\0';
	char label[LABEL_LEN], part_s[32];
	uint64_t seq, node_ms, packets, bytes, flows;
	unsigned part, parts;
	if (!header_field(data, "label", label, sizeof(label)) ||
	    !header_field(data, "part", part_s, sizeof(part_s)) ||
	    sscanf(part_s, "%u/%u", &part, &parts) != 2 || part == 0 || part > parts ||
	    !field_u64(data, "seq", &seq) || !field_u64(data, "time", &node_ms) ||
	    !field_u64(data, "packets", &packets) || !field_u64(data, "bytes", &bytes) ||
	    !field_u64(data, "flows", &flows))
		return -1;
	int rep = reporter_of(v, from, label);
	if (rep < 0)
		return -1;
	struct viz_reporter *r = &v->reporters[rep];
	r->datagrams++;
	if (part == 1 && (r->reports == 0 || seq != r->last_seq)) {
		r->reports++;
		if (!r->first_ms)
			r->first_ms = now;
		r->prev_ms = r->last_ms;
		r->prev_packets = r->packets;
		r->last_ms = now;
		r->last_seq = (uint32_t)seq;
		if (r->prev_ms && now > r->prev_ms && packets >= r->prev_packets)
			r->rate_pps = (double)(packets - r->prev_packets) * 1000.0 /
			              (double)(now - r->prev_ms);
	}
	r->node_ms = (int64_t)node_ms;
	r->packets = packets;
	r->bytes = bytes;
	r->flows = (uint32_t)flows;
	for (char *line = nl + 1; *line;) {
		char *e = strchr(line, '\n');
		if (e)
			*e = '\0';
		char src[IP_LEN], dst[IP_LEN];
		unsigned ttl;
		unsigned long long p, b;
		if (sscanf(line, "%45s %45s %u %llu %llu", src, dst, &ttl, &p, &b) == 5 &&
		    ttl < 256 && ip_text_ok(src) && ip_text_ok(dst)) {
			struct viz_flow *f = flow_of(v, rep, src, dst, ttl);
			if (f) {
				if (f->last_ms && now > f->last_ms && p >= f->pkts) {
					f->prev_pkts = f->pkts;
					f->prev_ms = f->last_ms;
					f->rate_pps = (double)(p - f->pkts) * 1000.0 /
					              (double)(now - f->last_ms);
				}
				f->pkts = p;
				f->bytes = b;
				f->last_ms = now;
			}
		} else {
			v->bad++;
		}
		if (!e)
			break;
		line = e + 1;
	}
	if (part == parts) {
		double sum = 0;
		for (int i = 0; i < v->n_reporters; i++)
			sum += v->reporters[i].rate_pps;
		if (v->n_history == HISTORY)
			memmove(v->history, v->history + 1, sizeof(v->history[0]) * (HISTORY - 1));
		else
			v->n_history++;
		v->history[v->n_history - 1] = sum;
	}
	return part == parts;
}

/* ---- JSON and the terminal view -------------------------------------------- */

static json_t *viz_json(const struct viz *v)
{
	int64_t now = mono_ms();
	json_t *reps = json_array(), *flows = json_array();
	for (int i = 0; i < v->n_reporters; i++) {
		const struct viz_reporter *r = &v->reporters[i];
		double interval = r->reports > 1 ? (double)(r->last_ms - r->first_ms) /
		                                           (double)(r->reports - 1)
		                                 : 0;
		json_array_append_new(
		        reps,
		        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:f}", "from",
		                  r->addr, "label", r->label, "reports", (json_int_t)r->reports,
		                  "seq", (json_int_t)r->last_seq, "packets", (json_int_t)r->packets,
		                  "bytes", (json_int_t)r->bytes, "flows", (json_int_t)r->flows,
		                  "interval_ms", interval, "age_ms", (json_int_t)(now - r->last_ms),
		                  "rate_pps", r->rate_pps));
	}
	for (int i = 0; i < v->n_flows; i++) {
		const struct viz_flow *f = &v->flows[i];
		json_array_append_new(
		        flows, json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:f}", "label",
		                         v->reporters[f->reporter].label, "src", f->src, "dst",
		                         f->dst, "ttl", (int)f->ttl, "packets", (json_int_t)f->pkts,
		                         "bytes", (json_int_t)f->bytes, "rate_pps", f->rate_pps));
	}
	json_t *hist = json_array();
	for (int i = 0; i < v->n_history; i++)
		json_array_append_new(hist, json_real(v->history[i]));
	return json_pack("{s:I, s:I, s:I, s:o, s:o, s:o}", "uptime_ms",
	                 (json_int_t)(now - v->start_ms), "datagrams", (json_int_t)v->datagrams,
	                 "bad_lines", (json_int_t)v->bad, "reporters", reps, "flows", flows,
	                 "history", hist);
}

static int cmp_flow(const void *a, const void *b)
{
	const struct viz_flow *x = *(const struct viz_flow *const *)a;
	const struct viz_flow *y = *(const struct viz_flow *const *)b;
	return x->pkts < y->pkts ? 1 : x->pkts > y->pkts ? -1 : 0;
}

static void viz_print(const struct viz *v)
{
	const struct viz_flow *sorted[MAX_FLOWS];
	uint64_t max = 1;
	for (int i = 0; i < v->n_flows; i++) {
		sorted[i] = &v->flows[i];
		if (v->flows[i].pkts > max)
			max = v->flows[i].pkts;
	}
	qsort(sorted, (size_t)v->n_flows, sizeof(sorted[0]), cmp_flow);
	if (v->tty)
		fputs("\033[H\033[2J", stdout);
	else
		fputs("----\n", stdout);
	for (int i = 0; i < v->n_reporters; i++) {
		const struct viz_reporter *r = &v->reporters[i];
		double interval = r->reports > 1 ? (double)(r->last_ms - r->first_ms) /
		                                           (double)(r->reports - 1)
		                                 : 0;
		printf("NetMonitor %s from %s: report %u (%llu received, every %.0f ms): "
		       "%llu packets, %llu bytes, %u flows, %.0f packets/s\n",
		       r->label, r->addr, r->last_seq, (unsigned long long)r->reports, interval,
		       (unsigned long long)r->packets, (unsigned long long)r->bytes, r->flows,
		       r->rate_pps);
	}
	printf("%-40s %-40s %4s %10s %12s %9s\n", "source", "destination", "ttl", "packets",
	       "bytes", "pkts/s");
	int shown = v->n_flows < 40 ? v->n_flows : 40;
	for (int i = 0; i < shown; i++) {
		const struct viz_flow *f = sorted[i];
		char bar[21];
		int n = (int)(20 * f->pkts / max);
		memset(bar, '#', (size_t)n);
		bar[n] = '\0';
		printf("%-40s %-40s %4u %10llu %12llu %9.0f %s\n", f->src, f->dst, f->ttl,
		       (unsigned long long)f->pkts, (unsigned long long)f->bytes, f->rate_pps, bar);
	}
	if (v->n_flows > shown)
		printf("... and %d more flows\n", v->n_flows - shown);
	fflush(stdout);
}

/* ---- HTTP ------------------------------------------------------------------ */

static const char page[] =
#include "cli/viz_page.inc"
        ;

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	                 status, type, len);
	send_all(fd, head, (size_t)n);
	send_all(fd, body, len);
}

/* Serves one connection: reads the request head (1 s at most), answers, closes. */
static void serve(struct viz *v, int lfd)
{
	_cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct timeval tv = {.tv_sec = 1};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char req[4096];
	size_t len = 0;
	while (len < sizeof(req) - 1) {
		ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[len] = '\0';
	char method[8], path[256];
	if (sscanf(req, "%7s %255s", method, path) != 2) {
		respond(fd, "400 Bad Request", "text/plain", "bad request\n", 12);
		return;
	}
	if (strcmp(method, "GET") != 0) {
		respond(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
		return;
	}
	if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		respond(fd, "200 OK", "text/html; charset=utf-8", page, sizeof(page) - 1);
	} else if (!strcmp(path, "/data.json")) {
		json_t *j = viz_json(v);
		char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (s)
			respond(fd, "200 OK", "application/json", s, strlen(s));
		else
			respond(fd, "500 Internal Server Error", "text/plain", "no memory\n", 10);
		free(s);
	} else {
		respond(fd, "404 Not Found", "text/plain", "not found\n", 10);
	}
}

/* ---- sockets ----------------------------------------------------------------- */

/* The UDP socket for reports: IPv6 with IPv4 mapped, else IPv4 only. */
static int open_udp(unsigned port)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		int off = 0;
		struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
		                          .sin6_port = htons((uint16_t)port),
		                          .sin6_addr = IN6ADDR_ANY_INIT};
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) == 0 &&
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int open_http(const char *addr, unsigned port)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		return -EINVAL;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 16) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static void addr_text(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(s->sin_port));
		return;
	}
	const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
	if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
		inet_ntop(AF_INET, &s->sin6_addr.s6_addr[12], ip, sizeof(ip));
		snprintf(buf, cap, "%s:%u", ip, ntohs(s->sin6_port));
	} else {
		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(buf, cap, "[%s]:%u", ip, ntohs(s->sin6_port));
	}
}

static bool parse_port(const char *s, bool zero_ok, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v > 65535 || (!zero_ok && v == 0))
		return false;
	*ret = (unsigned)v;
	return true;
}

int cli_viz_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"port", required_argument, NULL, 'p'},
	        {"http", required_argument, NULL, 'H'},
	        {"http-addr", required_argument, NULL, 'A'},
	        {"text", no_argument, NULL, 't'},
	        {"duration", required_argument, NULL, 'd'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	unsigned port = 5678, http = 8080;
	const char *http_addr = "127.0.0.1";
	double duration = 0;
	bool text = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:H:td:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!parse_port(optarg, false, &port)) {
				fprintf(stderr, "netserv viz: bad --port '%s'\n", optarg);
				return CLI_ERR_USAGE;
			}
			break;
		case 'H':
			if (!parse_port(optarg, true, &http)) {
				fprintf(stderr, "netserv viz: bad --http '%s'\n", optarg);
				return CLI_ERR_USAGE;
			}
			break;
		case 'A':
			http_addr = optarg;
			break;
		case 't':
			text = true;
			break;
		case 'd': {
			char *end;
			duration = strtod(optarg, &end);
			if (*end || duration <= 0) {
				fprintf(stderr, "netserv viz: bad --duration '%s'\n", optarg);
				return CLI_ERR_USAGE;
			}
			break;
		}
		case 'h':
			fputs(viz_usage, stdout);
			return CLI_OK;
		default:
			fputs(viz_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (optind != argc) {
		fputs(viz_usage, stderr);
		return CLI_ERR_USAGE;
	}
	if (!text && http == 0) {
		fprintf(stderr, "netserv viz: nothing to show: give --text or an --http port\n");
		return CLI_ERR_USAGE;
	}

	_cleanup_close_ int ufd = open_udp(port);
	if (ufd < 0) {
		fprintf(stderr, "netserv viz: UDP port %u: %s\n", port, strerror(-ufd));
		return CLI_ERR_CONNECT;
	}
	_cleanup_close_ int hfd = -1;
	if (http) {
		hfd = open_http(http_addr, http);
		if (hfd < 0) {
			fprintf(stderr, "netserv viz: HTTP on %s port %u: %s\n", http_addr, http,
			        strerror(-hfd));
			return CLI_ERR_CONNECT;
		}
	}
	_cleanup_free_ struct viz *v = calloc(1, sizeof(*v));
	if (!v)
		return CLI_ERR_CONNECT;
	v->start_ms = mono_ms();
	v->text = text;
	v->tty = isatty(STDOUT_FILENO);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "netserv viz: reports on UDP port %u", port);
	if (http)
		fprintf(stderr, "; live page on http://%s%s%s:%u/",
		        strchr(http_addr, ':') ? "[" : "", http_addr,
		        strchr(http_addr, ':') ? "]" : "", http);
	fputc('\n', stderr);

	int64_t end = duration > 0 ? v->start_ms + (int64_t)(duration * 1000) : 0;
	static char buf[65536];
	while (!stop) {
		struct pollfd pfd[2] = {{.fd = ufd, .events = POLLIN},
		                        {.fd = hfd, .events = POLLIN}};
		int timeout = -1;
		if (end) {
			int64_t left = end - mono_ms();
			if (left <= 0)
				break;
			timeout = (int)left;
		}
		int n = poll(pfd, hfd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "netserv viz: poll: %s\n", strerror(errno));
			return CLI_ERR_CONNECT;
		}
		if (n <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t r = recvfrom(ufd, buf, sizeof(buf) - 1, 0, (struct sockaddr *)&from,
			                     &fl);
			if (r >= 0) {
				char who[ADDR_LEN];
				addr_text(&from, who, sizeof(who));
				v->datagrams++;
				int done = viz_take(v, who, buf, (size_t)r);
				if (done < 0)
					v->bad++;
				else if (done && v->text)
					viz_print(v);
			}
		}
		if (hfd >= 0 && (pfd[1].revents & POLLIN))
			serve(v, hfd);
	}
	return CLI_OK;
}
