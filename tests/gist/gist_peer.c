/* gist_peer: a GIST node (gist_api.h) driven from the command line, for the
 * namespace tests (tests/daemon/test_gist_*.sh). It registers NSLPIDs,
 * prints what it receives and the outcome of what it sends, and optionally
 * sends a message at start (the querier), relays what it receives along the
 * path (--forward) or answers it upstream (--echo).
 *
 * Output, one line per event (flushed):
 *   ready port=P id=ID
 *   sent handle=H nslpid=N len=L
 *   recv nslpid=N dir=down|up first=0|1 peer=ADDR port=P peer_id=ID hops=H ttl=T len=L data=TEXT
 *   status handle=H nslpid=N status=sent|last_node|failed ms=M us=U how=TEXT
 *   send-error what=WHAT err=TEXT
 *   stats k=v ...                      (at exit)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "gist/gist_api.h"
#include "gist/gist_wire.h"
#include "lib/evloop.h"

#define MAX_NSLPIDS 8
#define MAX_PENDING 256

static struct evloop *loop;
static struct gist_node *node;
static struct gist_config cfg;
static bool forward, echo;
static unsigned until_up, until_down, until_status, n_up, n_down, n_status;
static bool have_until;
static struct {
	uint32_t handle;
	uint64_t t0; /* us */
} pending[MAX_PENDING];

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: gist_peer [--id NAME] [--querier] [--queue N] [--port P] [--nslpid N]...\n"
	        "                 [--forward] [--echo] [--send TEXT --dst ADDR [--src ADDR]\n"
	        "                 [--send-nslpid N] [--size BYTES] [--count N]]\n"
	        "                 [--until-up N] [--until-down N] [--until-status N] [--timeout "
	        "MS]\n"
	        "                 [--t1 MS] [--t2 MS] [--refresh MS] [--ma-hold MS]\n"
	        "                 [--datagram-max BYTES] [--router-alert] [--no-icmp]\n"
	        "                 [--no-router-alert6] [--ephemeral]\n");
	exit(2);
}

static void check_done(void)
{
	if (have_until && n_up >= until_up && n_down >= until_down && n_status >= until_status)
		evloop_stop(loop);
}

static void remember(uint32_t h)
{
	for (size_t i = 0; i < MAX_PENDING; i++)
		if (!pending[i].handle) {
			pending[i].handle = h;
			pending[i].t0 = now_us();
			return;
		}
}

/* The message text, padded with spaces to whole words. */
static size_t pad(uint8_t *buf, size_t len, size_t cap)
{
	while (len % 4 && len < cap)
		buf[len++] = ' ';
	return len;
}

static void print_data(const uint8_t *d, size_t len)
{
	size_t n = len;

	while (n && d[n - 1] == ' ')
		n--;
	for (size_t i = 0; i < n && i < 80; i++)
		putchar(d[i] >= 0x21 && d[i] < 0x7f ? d[i] : '_');
	if (n > 80)
		fputs("...", stdout);
}

static int do_send(uint16_t nslpid, const uint8_t sid[16], const struct gist_flow *f,
                   const uint8_t *d, size_t len, const char *what)
{
	char err[256] = "";
	uint32_t h;
	int r = gist_send(node, nslpid, sid, f, d, len, &h, err, sizeof(err));

	if (r < 0) {
		printf("send-error what=%s err=%s\n", what, err);
		fflush(stdout);
		return r;
	}
	remember(h);
	printf("sent handle=%u nslpid=%u len=%zu what=%s\n", h, nslpid, len, what);
	fflush(stdout);
	return 0;
}

static void on_recv(void *ctx, const struct gist_recv_info *info, const uint8_t *data, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (info->peer.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&info->peer;
		inet_ntop(AF_INET, &s->sin_addr, addr, sizeof(addr));
		port = ntohs(s->sin_port);
	} else if (info->peer.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&info->peer;
		inet_ntop(AF_INET6, &s->sin6_addr, addr, sizeof(addr));
		port = ntohs(s->sin6_port);
	}
	printf("recv nslpid=%u dir=%s first=%d peer=%s port=%u peer_id=%.*s hops=%u ttl=%u len=%zu "
	       "data=",
	       info->nslpid, info->flow.upstream ? "up" : "down", info->first, addr, port,
	       (int)info->peer_id_len, (const char *)info->peer_id, info->gist_hops, info->ip_ttl,
	       len);
	print_data(data, len);
	putchar('\n');
	fflush(stdout);
	if (info->flow.upstream)
		n_up++;
	else
		n_down++;

	if (forward) {
		/* Along the path, in the direction it travels. */
		do_send(info->nslpid, info->sid, &info->flow, data, len,
		        info->flow.upstream ? "forward-up" : "forward-down");
	}
	if (echo && !info->flow.upstream) {
		static uint8_t buf[20000];
		struct gist_flow f = info->flow;
		int n = snprintf((char *)buf, sizeof(buf), "echo:%s:", cfg.node_id);
		size_t l = (size_t)n + len < sizeof(buf) - 4 ? len : 0;
		memcpy(buf + n, data, l);
		size_t total = pad(buf, (size_t)n + l, sizeof(buf));
		f.upstream = true;
		do_send(info->nslpid, info->sid, &f, buf, total, "echo");
	}
	check_done();
}

static void on_status(void *ctx, uint32_t handle, enum gist_status st, const char *how)
{
	static const char *names[] = {"sent", "last_node", "failed"};
	uint64_t us = 0;

	for (size_t i = 0; i < MAX_PENDING; i++)
		if (pending[i].handle == handle) {
			us = now_us() - pending[i].t0;
			pending[i].handle = 0;
			break;
		}
	printf("status handle=%u nslpid=%u status=%s ms=%llu us=%llu how=%s\n", handle,
	       (unsigned)(uintptr_t)ctx, st <= GIST_FAILED ? names[st] : "?",
	       (unsigned long long)(us / 1000), (unsigned long long)us, how);
	fflush(stdout);
	n_status++;
	check_done();
}

static void on_signal(struct evloop *l, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) > 0)
		evloop_stop(l);
}

static void on_timeout(struct evloop *l, void *ctx)
{
	printf("timeout\n");
	fflush(stdout);
	evloop_stop(l);
}

static int parse_addr(const char *s, int *family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"id", 1, 0, 'i'},
	        {"querier", 0, 0, 'Q'},
	        {"queue", 1, 0, 'q'},
	        {"port", 1, 0, 'p'},
	        {"nslpid", 1, 0, 'n'},
	        {"forward", 0, 0, 'F'},
	        {"echo", 0, 0, 'E'},
	        {"send", 1, 0, 's'},
	        {"dst", 1, 0, 'd'},
	        {"src", 1, 0, 'S'},
	        {"send-nslpid", 1, 0, 'N'},
	        {"size", 1, 0, 'z'},
	        {"count", 1, 0, 'c'},
	        {"until-up", 1, 0, 'U'},
	        {"until-down", 1, 0, 'D'},
	        {"until-status", 1, 0, 'T'},
	        {"timeout", 1, 0, 't'},
	        {"t1", 1, 0, '1'},
	        {"t2", 1, 0, '2'},
	        {"refresh", 1, 0, 'r'},
	        {"ma-hold", 1, 0, 'h'},
	        {"datagram-max", 1, 0, 'm'},
	        {"router-alert", 0, 0, 'R'},
	        {"no-icmp", 0, 0, 'I'},
	        {"no-router-alert6", 0, 0, 'y'},
	        {"ephemeral", 0, 0, 'P'},
	        {0, 0, 0, 0},
	};
	uint16_t nslpids[MAX_NSLPIDS];
	size_t n_nslpids = 0, size = 0;
	const char *send_text = NULL, *dst = NULL, *src = NULL;
	int send_nslpid = -1, timeout = 0, count = 1, c;
	char err[256] = "";

	gist_config_defaults(&cfg);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			cfg.node_id = optarg;
			break;
		case 'Q':
			cfg.querier_only = true;
			break;
		case 'q':
			cfg.intercept_queue = atoi(optarg);
			break;
		case 'p':
			cfg.port = (uint16_t)atoi(optarg);
			break;
		case 'n':
			if (n_nslpids == MAX_NSLPIDS)
				usage();
			nslpids[n_nslpids++] = (uint16_t)atoi(optarg);
			break;
		case 'F':
			forward = true;
			break;
		case 'E':
			echo = true;
			break;
		case 's':
			send_text = optarg;
			break;
		case 'd':
			dst = optarg;
			break;
		case 'S':
			src = optarg;
			break;
		case 'N':
			send_nslpid = atoi(optarg);
			break;
		case 'z':
			size = (size_t)atol(optarg);
			break;
		case 'c':
			count = atoi(optarg);
			break;
		case 'U':
			until_up = (unsigned)atoi(optarg);
			have_until = true;
			break;
		case 'D':
			until_down = (unsigned)atoi(optarg);
			have_until = true;
			break;
		case 'T':
			until_status = (unsigned)atoi(optarg);
			have_until = true;
			break;
		case 't':
			timeout = atoi(optarg);
			break;
		case '1':
			cfg.t1_ms = (uint32_t)atoi(optarg);
			break;
		case '2':
			cfg.t2_ms = (uint32_t)atoi(optarg);
			break;
		case 'r':
			cfg.refresh_ms = (uint32_t)atoi(optarg);
			break;
		case 'h':
			cfg.ma_hold_ms = (uint32_t)atoi(optarg);
			break;
		case 'm':
			cfg.datagram_max = (size_t)atol(optarg);
			break;
		case 'R':
			cfg.router_alert = true;
			break;
		case 'y':
			cfg.router_alert6 = false;
			break;
		case 'P':
			cfg.querier_port = false;
			break;
		case 'I':
			cfg.icmp_last_node = false;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (send_text && !dst))
		usage();

	static char idbuf[32];
	if (!cfg.node_id) {
		snprintf(idbuf, sizeof(idbuf), "peer-%d", (int)getpid());
		cfg.node_id = idbuf;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (evloop_new(&loop) < 0)
		return 1;
	if (gist_node_new(loop, &cfg, &node, err, sizeof(err)) < 0) {
		fprintf(stderr, "gist_peer: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < n_nslpids; i++)
		gist_register(node, nslpids[i], on_recv, on_status, (void *)(uintptr_t)nslpids[i]);

	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	int sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	evloop_add_fd(loop, sfd, EPOLLIN, on_signal, NULL);
	if (timeout > 0)
		evloop_timer_add(loop, (uint64_t)timeout, on_timeout, NULL);

	printf("ready id=%s\n", cfg.node_id);

	if (send_text) {
		struct gist_flow f = {0};
		uint8_t sid[16];
		static uint8_t buf[20000];
		size_t len = strlen(send_text);
		if (parse_addr(dst, &f.family, f.dst) < 0)
			usage();
		if (src) {
			int fam;
			if (parse_addr(src, &fam, f.src) < 0 || fam != f.family)
				usage();
		}
		if (len > sizeof(buf) - 4 || size > sizeof(buf) - 4)
			usage();
		memcpy(buf, send_text, len);
		for (size_t i = len; i < size; i++)
			buf[i] = (uint8_t)('a' + i % 26);
		if (size > len)
			len = size;
		len = pad(buf, len, sizeof(buf));
		gist_new_sid(sid);
		for (int i = 0; i < count; i++)
			do_send(send_nslpid >= 0 ? (uint16_t)send_nslpid : nslpids[0], sid, &f, buf,
			        len, "send");
	}

	evloop_run(loop);

	struct gist_stats st;
	gist_get_stats(node, &st);
	printf("stats queries_sent=%llu queries_received=%llu queries_relayed=%llu responses=%llu "
	       "confirms=%llu data_sent=%llu data_received=%llu errors_sent=%llu "
	       "errors_received=%llu retransmissions=%llu last_node_icmp=%llu "
	       "last_node_timeout=%llu routing_states=%llu mas_open=%llu\n",
	       (unsigned long long)st.queries_sent, (unsigned long long)st.queries_received,
	       (unsigned long long)st.queries_relayed, (unsigned long long)st.responses,
	       (unsigned long long)st.confirms, (unsigned long long)st.data_sent,
	       (unsigned long long)st.data_received, (unsigned long long)st.errors_sent,
	       (unsigned long long)st.errors_received, (unsigned long long)st.retransmissions,
	       (unsigned long long)st.last_node_icmp, (unsigned long long)st.last_node_timeout,
	       (unsigned long long)st.routing_states, (unsigned long long)st.mas_open);
	gist_node_free(node);
	evloop_free(loop);
	close(sfd);
	return 0;
}
