/* `netserv setup|remove|probe --to ADDRESS ...`: the publisher's side of
 * on-path signaling, through libnetserv-client. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "client/netserv_client.h"
#include "lib/util.h"
#include "ncm/ncm.h"
#include "policy/auth.h"

static const char signal_usage[] =
        "Usage: netserv setup|remove|probe --to ADDRESS [OPTIONS]\n"
        "Signal a request toward a user's ADDRESS: every NetServ node on the path\n"
        "acts on it (SETUP installs a module, REMOVE removes it, PROBE reports), and\n"
        "the response lists each node's answer in path order.\n"
        "\n"
        "The request, either whole:\n"
        "  -n, --ncm FILE|-        the NCM in FILE or stdin (e.g. a signed SETUP)\n"
        "or from fields:\n"
        "  -m, --module ID         module id (the target; PROBE: what to probe, default *)\n"
        "  -u, --user NAME         publisher (default $NETSERV_USER)\n"
        "      --url URL           where the nodes fetch the module (SETUP)\n"
        "      --hash sha256:HEX   the module's SHA-256 (SETUP)\n"
        "      --ttl SECONDS       lifetime; a repeated SETUP refreshes it\n"
        "      --filter-proto P    traffic steered to the module: udp, tcp, ...\n"
        "      --filter-port N[-M] ... its destination port(s)\n"
        "      --filter-src PREFIX ... its source prefix\n"
        "      --filter-dst PREFIX ... its destination prefix\n"
        "      --property K=V      a property for the module (repeatable); V is sent\n"
        "                          escaped, so it may hold commas\n"
        "      --probe ITEMS       PROBE: what to report, e.g. node,capabilities,modules\n"
        "  -H, --header NAME:VALUE any other header (repeatable: timestamp, nonce, ...)\n"
        "SETUP and REMOVE are signed with the secret key in $NETSERV_KEY when set\n"
        "(netserv keygen; a request given signed with --ncm goes as it is); so is a\n"
        "PROBE with --user, and its answer shows that publisher's modules' log lines.\n"
        "\n"
        "Options:\n"
        "  -t, --to ADDRESS        the user's IPv4 or IPv6 address (required)\n"
        "      --from ADDRESS      the flow's source (default: this host's address toward\n"
        "                          ADDRESS)\n"
        "      --trigger           round trip: the last node sends the request back\n"
        "                          toward this host, for the nodes on the reverse path\n"
        "  -T, --timeout SECONDS   how long to wait for the response (default 30)\n"
        "      --nslpid N          NSLPID (default 32767, the NetServ NSLP's)\n"
        "  -j, --json              print the response as JSON\n"
        "  -h, --help              show this help\n"
        "\n"
        "Exit status: 0 every node succeeded; 1 a node answered with an error;\n"
        "2 usage error or unreadable input; 3 no answer (no NetServ node on the\n"
        "path, or none in time); 4 a malformed response.\n";

enum {
	OPT_URL = 256,
	OPT_HASH,
	OPT_TTL,
	OPT_FPROTO,
	OPT_FPORT,
	OPT_FSRC,
	OPT_FDST,
	OPT_PROPERTY,
	OPT_PROBE,
	OPT_FROM,
	OPT_TRIGGER,
	OPT_NSLPID,
};

/* Reads a whole file (or stdin) into a NUL-terminated buffer. */
static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			if (cap > 4 * NCM_MAX_MESSAGE) {
				free(buf);
				buf = NULL;
				errno = EFBIG;
				break;
			}
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		return NULL;
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static void print_text(const struct netserv_result *r)
{
	printf("%s %s toward %s: %d %s\n", r->method, r->target, r->to, r->code, r->reason);
	printf("%zu NetServ node%s answered in %u ms%s\n", r->n_nodes, r->n_nodes == 1 ? "" : "s",
	       r->elapsed_ms, r->n_nodes ? ", in path order:" : "");
	for (size_t i = 0; i < r->n_nodes; i++) {
		const struct netserv_node_answer *a = &r->nodes[i];
		printf("  %zu. %s (%s): %s %d %s, %u ms", i + 1, a->node,
		       a->address[0] ? a->address : "address unknown", a->method, a->code,
		       a->reason, a->elapsed_ms);
		if (a->last_node)
			printf(", last node (%s)", a->last_node);
		printf("\n");
		for (size_t j = 0; j < a->n_headers; j++)
			printf("       %s: %s\n", a->names[j], a->values[j]);
		if (a->body)
			printf("       (body: %zu bytes)\n", a->body_len);
	}
}

int cli_signal_main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"ncm", required_argument, NULL, 'n'},
	        {"module", required_argument, NULL, 'm'},
	        {"user", required_argument, NULL, 'u'},
	        {"url", required_argument, NULL, OPT_URL},
	        {"hash", required_argument, NULL, OPT_HASH},
	        {"ttl", required_argument, NULL, OPT_TTL},
	        {"filter-proto", required_argument, NULL, OPT_FPROTO},
	        {"filter-port", required_argument, NULL, OPT_FPORT},
	        {"filter-src", required_argument, NULL, OPT_FSRC},
	        {"filter-dst", required_argument, NULL, OPT_FDST},
	        {"property", required_argument, NULL, OPT_PROPERTY},
	        {"probe", required_argument, NULL, OPT_PROBE},
	        {"header", required_argument, NULL, 'H'},
	        {"to", required_argument, NULL, 't'},
	        {"from", required_argument, NULL, OPT_FROM},
	        {"trigger", no_argument, NULL, OPT_TRIGGER},
	        {"timeout", required_argument, NULL, 'T'},
	        {"nslpid", required_argument, NULL, OPT_NSLPID},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *cmd = argv[0];
	enum ncm_method method = !strcmp(cmd, "setup")    ? NCM_METHOD_SETUP
	                         : !strcmp(cmd, "remove") ? NCM_METHOD_REMOVE
	                                                  : NCM_METHOD_PROBE;
	const char *ncm_path = NULL, *module = NULL, *user = getenv("NETSERV_USER");
	struct {
		const char *name, *value;
	} fields[64];
	size_t n_fields = 0;
	char props[NCM_MAX_LINE] = "";
	struct netserv_client_options o = {.timeout_ms = 30000};
	bool json = false, have_fields = false;
	int c;

#define FIELD(n, v)                                                                                \
	do {                                                                                       \
		if (n_fields == ARRAY_SIZE(fields)) {                                              \
			fprintf(stderr, "netserv: too many headers\n");                            \
			return CLI_ERR_USAGE;                                                      \
		}                                                                                  \
		fields[n_fields].name = (n);                                                       \
		fields[n_fields++].value = (v);                                                    \
		have_fields = true;                                                                \
	} while (0)

	optind = 1;
	while ((c = getopt_long(argc, argv, "n:m:u:H:t:T:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			ncm_path = optarg;
			break;
		case 'm':
			module = optarg;
			have_fields = true;
			break;
		case 'u':
			user = optarg;
			have_fields = true;
			break;
		case OPT_URL:
			FIELD("url", optarg);
			break;
		case OPT_HASH:
			FIELD("module-hash", optarg);
			break;
		case OPT_TTL:
			FIELD("ttl", optarg);
			break;
		case OPT_FPROTO:
			FIELD("filter-proto", optarg);
			break;
		case OPT_FPORT:
			FIELD("filter-port", optarg);
			break;
		case OPT_FSRC:
			FIELD("filter-src", optarg);
			break;
		case OPT_FDST:
			FIELD("filter-dst", optarg);
			break;
		case OPT_PROPERTY: {
			/* K=V: the value is escaped (docs/protocol.md), so it may hold
			 * commas, backslashes, any byte */
			const char *eq = strchr(optarg, '=');
			size_t used = strlen(props);
			int n;
			if (!eq) {
				fprintf(stderr, "netserv: --property wants KEY=VALUE\n");
				return CLI_ERR_USAGE;
			}
			n = snprintf(props + used, sizeof(props) - used, "%s%.*s=", used ? "," : "",
			             (int)(eq - optarg), optarg);
			if (n < 0 || (size_t)n >= sizeof(props) - used ||
			    ncm_prop_escape(eq + 1, props + used + n,
			                    sizeof(props) - used - (size_t)n) < 0) {
				fprintf(stderr, "netserv: properties too long\n");
				return CLI_ERR_USAGE;
			}
			have_fields = true;
			break;
		}
		case OPT_PROBE:
			FIELD("probe", optarg);
			break;
		case 'H': {
			char *colon = strchr(optarg, ':');
			if (!colon || colon == optarg) {
				fprintf(stderr, "netserv: --header wants NAME:VALUE, not '%s'\n",
				        optarg);
				return CLI_ERR_USAGE;
			}
			*colon = '\0';
			FIELD(optarg, colon + 1);
			break;
		}
		case 't':
			o.to = optarg;
			break;
		case OPT_FROM:
			o.from = optarg;
			break;
		case OPT_TRIGGER:
			o.trigger = true;
			break;
		case 'T': {
			char *end;
			double s = strtod(optarg, &end);
			if (*end || s <= 0 || s > 3600) {
				fprintf(stderr, "netserv: --timeout wants seconds, 0..3600\n");
				return CLI_ERR_USAGE;
			}
			o.timeout_ms = (unsigned)(s * 1000);
			break;
		}
		case OPT_NSLPID: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 65535) {
				fprintf(stderr, "netserv: --nslpid wants 1..65535\n");
				return CLI_ERR_USAGE;
			}
			o.nslpid = (uint16_t)v;
			break;
		}
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(signal_usage, stdout);
			return CLI_OK;
		default:
			fputs(signal_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
#undef FIELD
	if (optind < argc) {
		fprintf(stderr, "netserv: unexpected argument '%s'\n", argv[optind]);
		return CLI_ERR_USAGE;
	}
	if (!o.to) {
		fprintf(stderr, "netserv: %s needs --to ADDRESS (the user to signal toward)\n",
		        cmd);
		return CLI_ERR_USAGE;
	}
	if (ncm_path && have_fields) {
		fprintf(stderr, "netserv: --ncm and request fields do not mix\n");
		return CLI_ERR_USAGE;
	}

	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (ncm_path) {
		text = read_file(ncm_path, &len);
		if (!text) {
			fprintf(stderr, "netserv: cannot read %s: %s\n", ncm_path, strerror(errno));
			return CLI_ERR_USAGE;
		}
		/* A file usually ends after the last header: supply the blank line. */
		if (ncm_frame_length(text, len, NULL, 0) == 0) {
			char *p = realloc(text, len + 3);
			if (!p)
				return CLI_ERR_USAGE;
			text = p;
			if (len > 0 && text[len - 1] != '\n')
				text[len++] = '\n';
			text[len++] = '\n';
			text[len] = '\0';
		}
		struct ncm_msg *m = NULL;
		char err[NCM_ERR_LEN];
		if (ncm_parse(text, len, &m, err, sizeof(err)) < 0) {
			fprintf(stderr, "netserv: %s: %s\n", ncm_path, err);
			return CLI_ERR_USAGE;
		}
		/* Not signed yet and a key in $NETSERV_KEY: sign it, bound to --to
		 * (cli_keys.c). */
		int sr = cli_sign_request(m, getenv("NETSERV_KEY"), o.to);
		if (sr < 0) {
			ncm_free(m);
			return CLI_ERR_USAGE;
		}
		if (sr > 0) {
			free(text);
			text = NULL;
			if (ncm_serialize(m, &text, &len) < 0) {
				ncm_free(m);
				return CLI_ERR_USAGE;
			}
		}
		enum ncm_method fm = m->method;
		if (fm == NCM_METHOD_TRIGGER) {
			const char *inner = ncm_get(m, "trigger");
			fm = inner && !strcasecmp(inner, "setup")    ? NCM_METHOD_SETUP
			     : inner && !strcasecmp(inner, "remove") ? NCM_METHOD_REMOVE
			                                             : NCM_METHOD_PROBE;
		}
		ncm_free(m);
		if (fm != method) {
			fprintf(stderr, "netserv: %s: not a %s request\n", ncm_path,
			        ncm_method_name(method));
			return CLI_ERR_USAGE;
		}
	} else {
		if (method != NCM_METHOD_PROBE && !module) {
			fprintf(stderr, "netserv: %s needs --module ID (or --ncm FILE)\n", cmd);
			return CLI_ERR_USAGE;
		}
		struct ncm_msg *m = ncm_request_new(method, module ? module : "*");
		if (!m) {
			fprintf(stderr, "netserv: '%s' is not a valid module id\n", module);
			return CLI_ERR_USAGE;
		}
		int r = 0;
		if (user) /* a PROBE with --user is signed: it sees its modules' logs */
			r = ncm_add(m, "user", user);
		for (size_t i = 0; r == 0 && i < n_fields; i++)
			r = ncm_add(m, fields[i].name, fields[i].value);
		if (r == 0 && props[0])
			r = ncm_add(m, "properties", props);
		if (r == 0 && cli_sign_request(m, getenv("NETSERV_KEY"), o.to) < 0) {
			ncm_free(m);
			return CLI_ERR_USAGE;
		}
		if (r == 0)
			r = ncm_serialize(m, &text, &len);
		ncm_free(m);
		if (r < 0) {
			fprintf(stderr, "netserv: the request's headers are not valid NCM\n");
			return CLI_ERR_USAGE;
		}
	}

	struct netserv_result *res = NULL;
	char err[NETSERV_CLIENT_ERR_LEN];
	int r = netserv_client_send(&o, text, len, &res, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "netserv: %s\n", err);
		switch (r) {
		case -EINVAL:
			return CLI_ERR_USAGE;
		case -EPROTO:
			return CLI_ERR_PROTOCOL;
		default:
			return CLI_ERR_CONNECT;
		}
	}
	if (json) {
		char *j = netserv_result_json(res);
		if (j)
			printf("%s\n", j);
		free(j);
	} else {
		print_text(res);
	}
	int code = res->code;
	netserv_result_free(res);
	return code >= 200 && code < 300 ? CLI_OK : CLI_ERR_RESPONSE;
}
