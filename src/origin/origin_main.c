/* netserv-origin: the publisher's origin server with ActiveCDN's redirect
 * workflow (seed 003 §6.1, figure 7; docs/apps.md). Options, logging and
 * the main loop: periodic PROBEs of the known nodes, REMOVE on SIGUSR1, a
 * clean exit on SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "origin/origin.h"
#include "policy/auth.h"

static const char usage[] =
        "Usage: netserv-origin --root DIR --listen ADDRESS:PORT --publisher NAME\n"
        "                      --module-url URL --module-hash sha256:HEX [OPTIONS]\n"
        "The publisher's origin server with ActiveCDN (seed 003 figure 7): serves\n"
        "the files under DIR; a client whose region has no known ActiveCDN node is\n"
        "served here while a SETUP of the module and then a PROBE go toward it; later\n"
        "requests from that region are redirected (302) to the nearest node where the\n"
        "module is active. SIGUSR1: REMOVE the module from every known node.\n"
        "\n"
        "  -r, --root DIR            the files served (GET, HEAD, single ranges)\n"
        "  -l, --listen ADDR:PORT    numeric address and port to serve on\n"
        "                            ([ADDR]:PORT for IPv6)\n"
        "  -u, --publisher NAME      the publisher (SETUP's user)\n"
        "      --module ID           module id (default NetServ.apps.ActiveCDN_1)\n"
        "      --module-url URL      where the nodes download the module\n"
        "      --module-hash HASH    its sha256:HEX\n"
        "      --module-ttl SECONDS  the module's lifetime on a node (default 300)\n"
        "      --key FILE            the publisher's secret key to sign SETUP and\n"
        "                            REMOVE (default $NETSERV_KEY; none: unsigned)\n"
        "      --origin-url URL      the origin the nodes fetch from (default\n"
        "                            http://ADDR:PORT of --listen)\n"
        "      --node-port PORT      the module's HTTP port on the nodes (default 8080)\n"
        "      --property K=V        another property for the module (repeatable)\n"
        "      --direct PREFIX       paths starting with PREFIX are always served\n"
        "                            here, outside the workflow (repeatable)\n"
        "      --prefix-len N        a client's IPv4 region: its /N (default 24)\n"
        "      --prefix-len6 N       a client's IPv6 region: its /N (default 48)\n"
        "      --probe-interval S    PROBE known nodes every S seconds; a node\n"
        "                            without the module is forgotten (default 30)\n"
        "      --retry S             a failed deployment is retried after S s (default 30)\n"
        "      --timeout S           each signaling exchange (default 10)\n"
        "      --rate BYTES          pace each response body to BYTES/s (K, M suffixes)\n"
        "  -h, --help                this help\n"
        "Each step of the workflow is logged on one line on stderr (step=N).\n";

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void origin_log(const char *fmt, ...)
{
	char line[2048], when[32];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	int n = snprintf(line, sizeof(line), "%s.%03ldZ netserv-origin: ", when,
	                 (long)(tv.tv_usec / 1000));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

/* An unsigned number in [min, max] with an optional K/M/G suffix. */
static int number(const char *opt, const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (end != s && *end && !end[1] && strchr("KMG", *end)) {
		x <<= *end == 'K' ? 10 : *end == 'M' ? 20 : 30;
		end++;
	}
	if (end == s || *end || errno || s[0] == '-' || x < min || x > max) {
		fprintf(stderr, "netserv-origin: %s wants a number in %llu..%llu, not '%s'\n", opt,
		        min, max, s);
		return -EINVAL;
	}
	*v = x;
	return 0;
}

/* "ADDR:PORT" or "[ADDR6]:PORT" into cfg. */
static int parse_listen(char *s, struct origin_config *cfg)
{
	char *colon = strrchr(s, ':'), *end;
	if (!colon || colon == s || colon[1] < '0' || colon[1] > '9')
		return -EINVAL;
	*colon = '\0';
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end || errno || port < 1 || port > 65535)
		return -EINVAL;
	if (s[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		s++;
	}
	cfg->listen_addr = s;
	cfg->listen_port = (uint16_t)port;
	return 0;
}

enum {
	OPT_MODULE = 256,
	OPT_MODULE_URL,
	OPT_MODULE_HASH,
	OPT_MODULE_TTL,
	OPT_KEY,
	OPT_ORIGIN_URL,
	OPT_NODE_PORT,
	OPT_PROPERTY,
	OPT_DIRECT,
	OPT_PREFIX_LEN,
	OPT_PREFIX_LEN6,
	OPT_PROBE_INTERVAL,
	OPT_RETRY,
	OPT_TIMEOUT,
	OPT_RATE,
};

static int parse_options(int argc, char **argv, struct origin_config *cfg)
{
	static const struct option opts[] = {
	        {"root", required_argument, NULL, 'r'},
	        {"listen", required_argument, NULL, 'l'},
	        {"publisher", required_argument, NULL, 'u'},
	        {"module", required_argument, NULL, OPT_MODULE},
	        {"module-url", required_argument, NULL, OPT_MODULE_URL},
	        {"module-hash", required_argument, NULL, OPT_MODULE_HASH},
	        {"module-ttl", required_argument, NULL, OPT_MODULE_TTL},
	        {"key", required_argument, NULL, OPT_KEY},
	        {"origin-url", required_argument, NULL, OPT_ORIGIN_URL},
	        {"node-port", required_argument, NULL, OPT_NODE_PORT},
	        {"property", required_argument, NULL, OPT_PROPERTY},
	        {"direct", required_argument, NULL, OPT_DIRECT},
	        {"prefix-len", required_argument, NULL, OPT_PREFIX_LEN},
	        {"prefix-len6", required_argument, NULL, OPT_PREFIX_LEN6},
	        {"probe-interval", required_argument, NULL, OPT_PROBE_INTERVAL},
	        {"retry", required_argument, NULL, OPT_RETRY},
	        {"timeout", required_argument, NULL, OPT_TIMEOUT},
	        {"rate", required_argument, NULL, OPT_RATE},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	unsigned long long v;
	char *listen = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "r:l:u:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			cfg->root = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'u':
			cfg->publisher = optarg;
			break;
		case OPT_MODULE:
			cfg->module = optarg;
			break;
		case OPT_MODULE_URL:
			cfg->module_url = optarg;
			break;
		case OPT_MODULE_HASH:
			cfg->module_hash = optarg;
			break;
		case OPT_MODULE_TTL:
			if (number("--module-ttl", optarg, 1, 86400 * 30, &v) < 0)
				return -EINVAL;
			cfg->module_ttl = (unsigned)v;
			break;
		case OPT_KEY:
			cfg->key_path = optarg;
			break;
		case OPT_ORIGIN_URL:
			cfg->origin_url = optarg;
			break;
		case OPT_NODE_PORT:
			if (number("--node-port", optarg, 1, 65535, &v) < 0)
				return -EINVAL;
			cfg->node_port = (uint16_t)v;
			break;
		case OPT_PROPERTY:
			if (!strchr(optarg, '=') || optarg[0] == '=' ||
			    cfg->n_props == ORIGIN_MAX_PROPS) {
				fprintf(stderr,
				        "netserv-origin: --property wants KEY=VALUE (at most "
				        "%d)\n",
				        ORIGIN_MAX_PROPS);
				return -EINVAL;
			}
			cfg->props[cfg->n_props++] = optarg;
			break;
		case OPT_DIRECT:
			if (optarg[0] != '/' || cfg->n_direct == ORIGIN_MAX_DIRECT) {
				fprintf(stderr,
				        "netserv-origin: --direct wants a path prefix /... "
				        "(at most %d)\n",
				        ORIGIN_MAX_DIRECT);
				return -EINVAL;
			}
			cfg->direct[cfg->n_direct++] = optarg;
			break;
		case OPT_PREFIX_LEN:
			if (number("--prefix-len", optarg, 0, 32, &v) < 0)
				return -EINVAL;
			cfg->prefix_len = (unsigned)v;
			break;
		case OPT_PREFIX_LEN6:
			if (number("--prefix-len6", optarg, 0, 128, &v) < 0)
				return -EINVAL;
			cfg->prefix_len6 = (unsigned)v;
			break;
		case OPT_PROBE_INTERVAL:
			if (number("--probe-interval", optarg, 1, 86400, &v) < 0)
				return -EINVAL;
			cfg->probe_interval = (unsigned)v;
			break;
		case OPT_RETRY:
			if (number("--retry", optarg, 0, 86400, &v) < 0)
				return -EINVAL;
			cfg->retry = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			if (number("--timeout", optarg, 1, 600, &v) < 0)
				return -EINVAL;
			cfg->timeout_ms = (unsigned)v * 1000;
			break;
		case OPT_RATE:
			if (number("--rate", optarg, 1, 1ULL << 40, &v) < 0)
				return -EINVAL;
			cfg->rate = v;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "netserv-origin: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->root || !listen || !cfg->publisher || !cfg->module_url || !cfg->module_hash) {
		fprintf(stderr, "netserv-origin: --root, --listen, --publisher, --module-url and "
		                "--module-hash are required (--help)\n");
		return -EINVAL;
	}
	static char listen_copy[128]; /* parse_listen cuts it; argv stays as given */
	if (strlen(listen) >= sizeof(listen_copy) ||
	    parse_listen(strcpy(listen_copy, listen), cfg) < 0) {
		fprintf(stderr, "netserv-origin: --listen wants ADDRESS:PORT, not '%s'\n", listen);
		return -EINVAL;
	}
	if (!cfg->origin_url) {
		static char url[128];
		bool v6 = strchr(cfg->listen_addr, ':') != NULL;
		snprintf(url, sizeof(url), "http://%s%s%s:%u", v6 ? "[" : "", cfg->listen_addr,
		         v6 ? "]" : "", cfg->listen_port);
		cfg->origin_url = url;
	}
	if (!cfg->key_path) {
		const char *k = getenv("NETSERV_KEY");
		cfg->key_path = k && *k ? k : NULL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct origin_config cfg = {
	        .module = "NetServ.apps.ActiveCDN_1",
	        .module_ttl = 300,
	        .node_port = 8080,
	        .prefix_len = 24,
	        .prefix_len6 = 48,
	        .probe_interval = 30,
	        .retry = 30,
	        .timeout_ms = 10000,
	};
	char err[256];
	if (parse_options(argc, argv, &cfg) < 0)
		return 2;
	if (auth_init() < 0) {
		fprintf(stderr, "netserv-origin: cannot initialize libsodium\n");
		return 1;
	}
	/* Signals are taken by this thread only (sigtimedwait below): block them
	 * before any other thread starts. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (regions_init(&cfg) < 0 || serve_start(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "netserv-origin: %s\n", err);
		return 1;
	}
	origin_log("serving %s on %s port %u; module %s from %s; region /%u (IPv6 /%u)", cfg.root,
	           cfg.listen_addr, cfg.listen_port, cfg.module, cfg.module_url, cfg.prefix_len,
	           cfg.prefix_len6);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	next.tv_sec += cfg.probe_interval;
	for (;;) {
		struct timespec now, wait = {0, 0};
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec >= next.tv_sec) {
			regions_probe_all();
			clock_gettime(CLOCK_MONOTONIC, &next);
			next.tv_sec += cfg.probe_interval;
			continue;
		}
		wait.tv_sec = next.tv_sec - now.tv_sec;
		int sig = sigtimedwait(&set, NULL, &wait);
		if (sig == SIGUSR1)
			regions_remove_all();
		else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
			break;
	}
	origin_log("stopping");
	serve_stop();
	regions_done();
	return 0;
}
