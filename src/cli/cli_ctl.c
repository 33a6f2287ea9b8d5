/* `netserv ctl`: talk to the local netservd over its admin socket. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "daemon/config.h"
#include "lib/util.h"
#include "ncm/ncm.h"
#include "paths.h"

static const char ctl_usage[] =
        "Usage: netserv ctl [--key FILE] [--socket PATH | --config FILE] [--timeout SECONDS]\n"
        "                   COMMAND\n"
        "\n"
        "Commands:\n"
        "  send FILE|-       send the NCM in FILE (or stdin) and print the response;\n"
        "                    the exit status is 1 if the response is an error\n"
        "  status [--json]   show the node's identity and modules\n"
        "\n"
        "Options:\n"
        "  -k, --key FILE        sign SETUP, REMOVE and TRIGGER requests that are not\n"
        "                        signed yet with this secret key (default $NETSERV_KEY)\n"
        "  -s, --socket PATH     admin socket (default $NETSERV_SOCKET or\n"
        "                        " NETSERV_DEFAULT_SOCKET ")\n"
        "  -c, --config FILE     use the admin socket of netservd's configuration FILE\n"
        "                        ([node] admin_socket)\n"
        "  -T, --timeout SECONDS how long to wait for the answer (default 120)\n"
        "  -h, --help            show this help\n";

struct ctl_opts {
	const char *key; /* sign unsigned requests with it (NULL: no) */
	const char *socket;
	int timeout_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends `req` and reads the whole answer into *ret. Returns a cli_exit code. */
static int exchange(const struct ctl_opts *o, const char *req, size_t req_len, char **ret,
                    size_t *ret_len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(o->socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "netserv: socket path too long: %s\n", o->socket);
		return CLI_ERR_USAGE;
	}
	memcpy(sa.sun_path, o->socket, strlen(o->socket) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "netserv: cannot connect to %s: %s (is netservd running?)\n",
		        o->socket, strerror(errno));
		return CLI_ERR_CONNECT;
	}
	for (size_t off = 0; off < req_len;) {
		ssize_t n = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "netserv: sending to %s: %s\n", o->socket, strerror(errno));
			return CLI_ERR_CONNECT;
		}
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);

	size_t cap = 65536, len = 0;
	_cleanup_free_ char *buf = malloc(cap);
	if (!buf)
		return CLI_ERR_CONNECT;
	int64_t deadline = mono_ms() + o->timeout_ms;
	for (;;) {
		int left = (int)(deadline - mono_ms());
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = left > 0 ? poll(&pfd, 1, left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			fprintf(stderr, "netserv: no answer from %s within %d s\n", o->socket,
			        o->timeout_ms / 1000);
			return CLI_ERR_CONNECT;
		}
		if (len == cap) {
			if (cap >= NCM_MAX_MESSAGE + NCM_MAX_BODY + 1) {
				fprintf(stderr, "netserv: answer too large\n");
				return CLI_ERR_PROTOCOL;
			}
			char *p = realloc(buf, cap * 2);
			if (!p)
				return CLI_ERR_CONNECT;
			buf = p;
			cap *= 2;
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "netserv: reading from %s: %s\n", o->socket,
			        strerror(errno));
			return CLI_ERR_CONNECT;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return CLI_OK;
}

/* Parses an answer; returns its code (>= 100) or -1 after printing why. */
static int parse_answer(const char *buf, size_t len, struct ncm_msg **ret)
{
	char err[NCM_ERR_LEN];
	if (len == 0) {
		fprintf(stderr, "netserv: the node closed the connection without an answer\n");
		return -1;
	}
	if (ncm_parse(buf, len, ret, err, sizeof(err)) < 0 || (*ret)->method != NCM_METHOD_NONE) {
		fprintf(stderr, "netserv: malformed answer from the node: %s\n", err);
		return -1;
	}
	return (*ret)->code;
}

static char *read_all(FILE *f, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			if (cap > NCM_MAX_MESSAGE * 2) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		return NULL;
	}
	*ret_len = len;
	return buf;
}

static int cmd_send(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc != 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		FILE *out = argc == 2 ? stdout : stderr;
		fputs("Usage: netserv ctl send FILE|-\n"
		      "Send the NCM in FILE ('-' for stdin) to the node and print the\n"
		      "response. A missing blank line at the end is added. Exit status 1\n"
		      "if the response is an error (4xx/5xx).\n",
		      out);
		return argc == 2 ? CLI_OK : CLI_ERR_USAGE;
	}
	const char *path = argv[1];
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f) {
		fprintf(stderr, "netserv: cannot open %s: %s\n", path, strerror(errno));
		return CLI_ERR_USAGE;
	}
	size_t len = 0;
	_cleanup_free_ char *req = read_all(f, &len);
	if (f != stdin)
		fclose(f);
	if (!req) {
		fprintf(stderr, "netserv: cannot read %s: %s\n", path, strerror(errno));
		return CLI_ERR_USAGE;
	}
	/* A file usually ends after the last header: supply the blank line. */
	char err[NCM_ERR_LEN];
	if (ncm_frame_length(req, len, err, sizeof(err)) == 0) {
		char *p = realloc(req, len + 3);
		if (!p)
			return CLI_ERR_USAGE;
		req = p;
		if (len > 0 && req[len - 1] != '\n')
			req[len++] = '\n';
		req[len++] = '\n';
	}
	if (o->key && *o->key) {
		/* Sign what is not signed yet; what does not parse goes as it is
		 * (the node says what is wrong with it). */
		struct ncm_msg *m = NULL;
		if (ncm_parse(req, len, &m, NULL, 0) == 0) {
			int r = cli_sign_request(m, o->key, NULL);
			char *wire = NULL;
			size_t wire_len = 0;
			if (r > 0 && ncm_serialize(m, &wire, &wire_len) == 0) {
				free(req);
				req = wire;
				len = wire_len;
			}
			ncm_free(m);
			if (r < 0)
				return CLI_ERR_USAGE;
		}
	}
	_cleanup_free_ char *ans = NULL;
	size_t ans_len = 0;
	int rc = exchange(o, req, len, &ans, &ans_len);
	if (rc != CLI_OK)
		return rc;
	struct ncm_msg *m = NULL;
	int code = parse_answer(ans, ans_len, &m);
	ncm_free(m);
	if (code < 0)
		return CLI_ERR_PROTOCOL;
	fwrite(ans, 1, ans_len, stdout);
	return code >= 200 && code < 300 ? CLI_OK : CLI_ERR_RESPONSE;
}

static void print_status_text(json_t *st)
{
	json_t *node = json_object_get(st, "node");
	printf("node %s (netservd %s), up %lld s\n", json_string_value(json_object_get(node, "id")),
	       json_string_value(json_object_get(node, "version")),
	       (long long)json_integer_value(json_object_get(node, "uptime_s")));
	printf("capabilities: %s\n", json_string_value(json_object_get(node, "capabilities")));
	/* The OpenFlow sidecar's node group ([sidecar]), one line. */
	json_t *group = json_object_get(st, "group");
	if (group) {
		size_t k;
		json_t *gm;
		printf("group %s:", json_string_value(json_object_get(group, "name")));
		json_array_foreach(json_object_get(group, "members"), k, gm) printf(
		        "%s %s %s%s", k ? "," : "", json_string_value(json_object_get(gm, "name")),
		        json_is_true(json_object_get(gm, "up")) ? "up" : "down",
		        json_is_true(json_object_get(gm, "self")) ? " (self)" : "");
		printf("; version %lld, %zu request(s)\n",
		       (long long)json_integer_value(json_object_get(group, "version")),
		       json_array_size(json_object_get(group, "entries")));
	}
	json_t *fwd = json_object_get(node, "forwarding");
	if (json_is_object(fwd)) {
		const char *state = json_string_value(json_object_get(fwd, "state"));
		bool has = state && *state;
		printf("forwarding: %s%s%s%s\n", json_string_value(json_object_get(fwd, "driver")),
		       has ? " (" : "", has ? state : "", has ? ")" : "");
	}
	json_t *mods = json_object_get(st, "modules");
	printf("%zu module(s)\n", json_array_size(mods));
	if (json_array_size(mods) == 0)
		return;
	printf("%-12s %-36s %-11s %8s %10s %6s  %s\n", "USER", "MODULE", "STATE", "TTL", "PACKETS",
	       "TRAPS", "REASON");
	size_t i;
	json_t *m;
	json_array_foreach(mods, i, m)
	{
		const char *reason = json_string_value(json_object_get(m, "reason"));
		json_t *rt = json_object_get(m, "runtime"); /* null: not in a container */
		char pkts[24] = "-", traps[24] = "-";
		if (json_is_object(rt)) {
			snprintf(pkts, sizeof(pkts), "%lld",
			         (long long)json_integer_value(json_object_get(rt, "packets")));
			snprintf(traps, sizeof(traps), "%lld",
			         (long long)json_integer_value(json_object_get(rt, "traps")));
		}
		printf("%-12s %-36s %-11s %7llds %10s %6s  %s\n",
		       json_string_value(json_object_get(m, "user")),
		       json_string_value(json_object_get(m, "module")),
		       json_string_value(json_object_get(m, "state")),
		       (long long)json_integer_value(json_object_get(m, "ttl_remaining")), pkts,
		       traps, reason ? reason : "");
		/* A server module's ports and connections (socket/1). */
		json_t *socks = json_object_get(rt, "sockets");
		if (socks) {
			size_t k;
			json_t *p;
			printf("%-12s   sockets: listening", "");
			json_array_foreach(json_object_get(socks, "listening"), k, p)
			        printf("%s%s", k ? "," : " ", json_string_value(p));
			printf(" connections=%lld refused=%lld\n",
			       (long long)json_integer_value(json_object_get(socks, "connections")),
			       (long long)json_integer_value(json_object_get(socks, "refused")) +
			               json_integer_value(
			                       json_object_get(socks, "connections_refused")));
		}
		/* The module's own counters (ns_counter_*), on the next line. */
		json_t *counters = json_object_get(rt, "counters");
		if (json_object_size(counters) == 0)
			continue;
		const char *name;
		json_t *v;
		unsigned n = 0;
		printf("%-12s   counters:", "");
		json_object_foreach(counters, name, v)
		{
			if (n++ == 16) {
				printf(" ... (%zu; --json has all)", json_object_size(counters));
				break;
			}
			printf(" %s=%lld", name, (long long)json_integer_value(v));
		}
		printf("\n");
	}
}

static int cmd_status(const struct ctl_opts *o, int argc, char **argv)
{
	bool as_json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			as_json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			puts("Usage: netserv ctl status [--json]\n"
			     "Show the node's identity, capabilities and modules.");
			return CLI_OK;
		} else {
			fprintf(stderr, "netserv: ctl status: unknown argument '%s'\n", argv[i]);
			return CLI_ERR_USAGE;
		}
	}
	static const char req[] = "STATUS node NETSERV/0.1\n\n";
	_cleanup_free_ char *ans = NULL;
	size_t ans_len = 0;
	int rc = exchange(o, req, sizeof(req) - 1, &ans, &ans_len);
	if (rc != CLI_OK)
		return rc;
	struct ncm_msg *m = NULL;
	int code = parse_answer(ans, ans_len, &m);
	if (code < 0)
		return CLI_ERR_PROTOCOL;
	if (code != 200) {
		const char *reason = ncm_get(m, "reason");
		fprintf(stderr, "netserv: status failed: %d %s\n", code,
		        reason ? reason : m->reason);
		ncm_free(m);
		return CLI_ERR_RESPONSE;
	}
	json_error_t jerr;
	json_t *st = json_loadb(m->body ? m->body : "", m->body_len, 0, &jerr);
	if (!st) {
		fprintf(stderr, "netserv: status is not JSON: %s\n", jerr.text);
		ncm_free(m);
		return CLI_ERR_PROTOCOL;
	}
	if (as_json)
		printf("%.*s\n", (int)m->body_len, m->body);
	else
		print_status_text(st);
	json_decref(st);
	ncm_free(m);
	return CLI_OK;
}

static const char sidecar_usage[] =
        "Usage: netserv sidecar [--socket PATH | --config FILE] status|drain NAME|undrain NAME\n"
        "The OpenFlow sidecar of a node whose [forwarding] driver is openflow:\n"
        "  status        the switch (connected, datapath id), the nodes (up or down),\n"
        "                the flows per module\n"
        "  drain NAME    take node NAME out of the group: its flows move to the others\n"
        "                (none left: filtered traffic goes straight through)\n"
        "  undrain NAME  put it back\n";

/* `netserv sidecar ACTION [NAME]`: argv[0] is "sidecar". */
static int cmd_sidecar(const struct ctl_opts *o, int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(sidecar_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_ERR_USAGE : CLI_OK;
	}
	const char *action = argv[1];
	bool named = !strcmp(action, "drain") || !strcmp(action, "undrain");
	if ((!named && strcmp(action, "status") != 0) || argc != (named ? 3 : 2)) {
		fputs(sidecar_usage, stderr);
		return CLI_ERR_USAGE;
	}
	struct ncm_msg *req = ncm_request_new(NCM_METHOD_STATUS, "sidecar");
	char *text = NULL;
	size_t len = 0;
	if (!req || ncm_add(req, "action", action) < 0 ||
	    (named && ncm_add(req, "node", argv[2]) < 0) || ncm_serialize(req, &text, &len) < 0) {
		ncm_free(req);
		fprintf(stderr, "netserv: out of memory\n");
		return CLI_ERR_USAGE;
	}
	ncm_free(req);
	_cleanup_free_ char *ans = NULL;
	size_t ans_len = 0;
	int rc = exchange(o, text, len, &ans, &ans_len);
	free(text);
	if (rc != CLI_OK)
		return rc;
	struct ncm_msg *m = NULL;
	int code = parse_answer(ans, ans_len, &m);
	if (code < 0)
		return CLI_ERR_PROTOCOL;
	if (code != 200) {
		const char *reason = ncm_get(m, "reason");
		fprintf(stderr, "netserv: sidecar %s: %d %s\n", action, code,
		        reason ? reason : m->reason);
		ncm_free(m);
		return CLI_ERR_RESPONSE;
	}
	for (size_t i = 0; i < m->n_headers; i++)
		printf("%s: %s\n", m->headers[i].name, m->headers[i].value);
	ncm_free(m);
	return CLI_OK;
}

static int ctl_run(int argc, char **argv, bool sidecar);

int cli_ctl_main(int argc, char **argv)
{
	return ctl_run(argc, argv, false);
}

int cli_sidecar_main(int argc, char **argv)
{
	return ctl_run(argc, argv, true);
}

static int ctl_run(int argc, char **argv, bool sidecar)
{
	static const struct option opts[] = {
	        {"key", required_argument, NULL, 'k'},    {"socket", required_argument, NULL, 's'},
	        {"config", required_argument, NULL, 'c'}, {"timeout", required_argument, NULL, 'T'},
	        {"help", no_argument, NULL, 'h'},         {0},
	};
	struct ctl_opts o = {.key = getenv("NETSERV_KEY"),
	                     .socket = getenv("NETSERV_SOCKET"),
	                     .timeout_ms = 120000};
	if (!o.socket || !*o.socket)
		o.socket = NETSERV_DEFAULT_SOCKET;
	const char *config = NULL, *socket_opt = NULL;
	int c;
	optind = 1;
	/* '+' stops at the first non-option: the subcommand has its own. */
	while ((c = getopt_long(argc, argv, "+k:s:c:T:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o.key = optarg;
			break;
		case 's':
			socket_opt = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'T': {
			char *end;
			long t = strtol(optarg, &end, 10);
			if (*end || t <= 0 || t > 86400) {
				fprintf(stderr, "netserv: bad --timeout '%s'\n", optarg);
				return CLI_ERR_USAGE;
			}
			o.timeout_ms = (int)t * 1000;
			break;
		}
		case 'h':
			fputs(sidecar ? sidecar_usage : ctl_usage, stdout);
			return CLI_OK;
		default:
			fputs(sidecar ? sidecar_usage : ctl_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(sidecar ? sidecar_usage : ctl_usage, stderr);
		return CLI_ERR_USAGE;
	}
	if (socket_opt && config) {
		fputs("netserv: ctl: --socket and --config both name the socket: give one\n",
		      stderr);
		return CLI_ERR_USAGE;
	}
	/* --socket or --config, then $NETSERV_SOCKET, then the default. */
	static struct ns_config cfg; /* large: not on the stack */
	if (socket_opt) {
		o.socket = socket_opt;
	} else if (config) {
		char err[512];
		config_defaults(&cfg);
		if (config_load(&cfg, config, err, sizeof(err)) < 0) {
			fprintf(stderr, "netserv: %s\n", err);
			return CLI_ERR_USAGE;
		}
		o.socket = cfg.admin_socket;
	}
	if (sidecar)
		return cmd_sidecar(&o, argc - optind + 1, argv + optind - 1);
	const char *sub = argv[optind];
	if (!strcmp(sub, "sidecar"))
		return cmd_sidecar(&o, argc - optind, argv + optind);
	if (!strcmp(sub, "send"))
		return cmd_send(&o, argc - optind, argv + optind);
	if (!strcmp(sub, "status"))
		return cmd_status(&o, argc - optind, argv + optind);
	fprintf(stderr, "netserv: ctl: unknown command '%s'\n\n%s", sub, ctl_usage);
	return CLI_ERR_USAGE;
}
