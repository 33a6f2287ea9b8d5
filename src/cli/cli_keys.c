/* `netserv keygen`, `netserv sign`, `netserv verify`: the publisher's keys
 * and signed requests (src/policy/auth.h, docs/security.md). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "policy/auth.h"
#include "ctl/rrc.h"
#include "lib/util.h"
#include "ncm/ncm.h"

static const char keygen_usage[] =
        "Usage: netserv keygen [-d DIR] [-c COMMENT] NAME\n"
        "Make an Ed25519 key pair for publisher NAME: DIR/NAME.key (the secret key,\n"
        "mode 0600) and DIR/NAME.pub (the public key, for the nodes' keys_dir).\n"
        "Existing files are never overwritten.\n"
        "\n"
        "  -d, --dir DIR           where to write (default: the current directory)\n"
        "  -c, --comment TEXT      a comment in the public key file\n"
        "  -h, --help              show this help\n";

static const char sign_usage[] =
        "Usage: netserv sign [-k KEY] [OPTIONS] FILE|-\n"
        "Sign the NCM request in FILE (or stdin) and print it: adds timestamp (now)\n"
        "and a fresh nonce, then the Ed25519 signature of the canonical form.\n"
        "\n"
        "  -k, --key KEY           secret key file (default $NETSERV_KEY)\n"
        "  -t, --timestamp SECS    sign with this unix time instead of now\n"
        "  -N, --nonce NONCE       use this nonce instead of a fresh one\n"
        "      --to PREFIX         bind it to the users it signals toward: signal-to\n"
        "                          (an address or prefix); nodes that receive it by\n"
        "                          GIST act only on a path toward PREFIX\n"
        "      --rrc-address ADDR  prove control of ADDR by reverse routability: adds\n"
        "                          rrc-address and rrc-password; serve the password\n"
        "                          (printed on stderr) at the URL shown\n"
        "      --rrc-password PW   the one-time password (default: a fresh one)\n"
        "  -h, --help              show this help\n"
        "\n"
        "Exit status: 0 signed; 2 usage error or unreadable input or key.\n";

static const char verify_usage[] = "Usage: netserv verify -p PUBLIC-KEY FILE|-\n"
                                   "Check the signature of the NCM request in FILE (or stdin).\n"
                                   "Exit status: 0 valid; 1 invalid or unsigned; 2 usage error.\n";

/* Reads FILE or stdin (at most 2 * NCM_MAX_MESSAGE bytes), NUL-terminated. */
static char *read_input(const char *path, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f)
		return NULL;
	size_t cap = 2 * NCM_MAX_MESSAGE + 2, len = 0;
	char *buf = malloc(cap);
	if (buf) {
		len = fread(buf, 1, cap - 2, f);
		if (ferror(f)) {
			free(buf);
			buf = NULL;
		}
	}
	if (f != stdin)
		fclose(f);
	if (!buf)
		return NULL;
	/* A file usually ends after the last header: supply the blank line. */
	if (ncm_frame_length(buf, len, NULL, 0) == 0) {
		if (len > 0 && buf[len - 1] != '\n')
			buf[len++] = '\n';
		buf[len++] = '\n';
	}
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

static struct ncm_msg *parse_input(const char *path)
{
	size_t len;
	_cleanup_free_ char *text = read_input(path, &len);
	if (!text) {
		fprintf(stderr, "netserv: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct ncm_msg *m = NULL;
	char err[NCM_ERR_LEN];
	if (ncm_parse(text, len, &m, err, sizeof(err)) < 0) {
		fprintf(stderr, "netserv: %s: not an NCM: %s\n", path, err);
		return NULL;
	}
	if (m->method == NCM_METHOD_NONE) {
		fprintf(stderr, "netserv: %s: a response, not a request\n", path);
		return ncm_free(m);
	}
	return m;
}

static int print_msg(const struct ncm_msg *m)
{
	char *wire = NULL;
	size_t len;
	if (ncm_serialize(m, &wire, &len) < 0) {
		fprintf(stderr, "netserv: out of memory\n");
		return CLI_ERR_USAGE;
	}
	fwrite(wire, 1, len, stdout);
	free(wire);
	return CLI_OK;
}

int cli_sign_request(struct ncm_msg *m, const char *key_path, const char *to)
{
	if (!key_path || !*key_path)
		return 0;
	if (m->method != NCM_METHOD_SETUP && m->method != NCM_METHOD_REMOVE &&
	    m->method != NCM_METHOD_TRIGGER &&
	    (m->method != NCM_METHOD_PROBE || !ncm_get(m, "user")))
		return 0; /* a PROBE is signed when it names its user */
	const char *sig = ncm_get(m, "signature");
	if (sig && *sig)
		return 0; /* signed already: sent as it is */
	uint8_t sk[AUTH_SECRET_LEN];
	char err[NCM_ERR_LEN];
	int r = auth_load_secret(key_path, sk, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "netserv: %s\n", err);
		return r;
	}
	r = auth_sign(m, sk, to, -1, NULL, err, sizeof(err));
	sodium_memzero(sk, sizeof(sk));
	if (r < 0) {
		fprintf(stderr, "netserv: cannot sign: %s\n", err);
		return r;
	}
	return 1;
}

static int cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"dir", required_argument, NULL, 'd'},
	        {"comment", required_argument, NULL, 'c'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *dir = ".", *comment = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "d:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'c':
			comment = optarg;
			break;
		case 'h':
			fputs(keygen_usage, stdout);
			return CLI_OK;
		default:
			fputs(keygen_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(keygen_usage, stderr);
		return CLI_ERR_USAGE;
	}
	const char *name = argv[optind];
	if (!*name || strchr(name, '/')) {
		fprintf(stderr, "netserv: keygen: NAME must not be empty or contain '/'\n");
		return CLI_ERR_USAGE;
	}
	uint8_t pk[AUTH_PUBLIC_LEN], sk[AUTH_SECRET_LEN];
	char pub[AUTH_KEY_TEXT], sec[AUTH_KEY_TEXT], path_pub[4096], path_key[4096];
	char err[NCM_ERR_LEN], why[64];
	snprintf(why, sizeof(why), "%s", name);
	if (auth_keygen(pk, sk) < 0 ||
	    auth_format_public(pk, comment ? comment : why, pub, sizeof(pub)) < 0 ||
	    auth_format_secret(sk, sec, sizeof(sec)) < 0) {
		fprintf(stderr, "netserv: keygen failed (bad comment?)\n");
		return CLI_ERR_USAGE;
	}
	snprintf(path_key, sizeof(path_key), "%s/%s.key", dir, name);
	snprintf(path_pub, sizeof(path_pub), "%s/%s.pub", dir, name);
	struct stat st;
	if (stat(path_pub, &st) == 0) {
		fprintf(stderr, "netserv: %s exists: not overwritten\n", path_pub);
		return CLI_ERR_USAGE;
	}
	int r = auth_write_file(path_key, sec, 0600, err, sizeof(err));
	sodium_memzero(sec, sizeof(sec));
	sodium_memzero(sk, sizeof(sk));
	if (r < 0 || auth_write_file(path_pub, pub, 0644, err, sizeof(err)) < 0) {
		fprintf(stderr, "netserv: %s%s\n", err, r == -EEXIST ? " (not overwritten)" : "");
		return CLI_ERR_USAGE;
	}
	printf("secret key: %s (keep it; mode 0600)\npublic key: %s (give it to the nodes: "
	       "<keys_dir>/<user>.pub)\n",
	       path_key, path_pub);
	return CLI_OK;
}

enum { OPT_RRC_ADDRESS = 256, OPT_RRC_PASSWORD, OPT_TO };

static int cmd_sign(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"key", required_argument, NULL, 'k'},
	        {"timestamp", required_argument, NULL, 't'},
	        {"nonce", required_argument, NULL, 'N'},
	        {"rrc-address", required_argument, NULL, OPT_RRC_ADDRESS},
	        {"rrc-password", required_argument, NULL, OPT_RRC_PASSWORD},
	        {"to", required_argument, NULL, OPT_TO},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *key = getenv("NETSERV_KEY"), *nonce = NULL, *rrc_addr = NULL, *rrc_pw = NULL,
	           *to = NULL;
	long long ts = -1;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "k:t:N:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key = optarg;
			break;
		case 't': {
			char *end;
			ts = strtoll(optarg, &end, 10);
			if (*end || ts < 0) {
				fprintf(stderr, "netserv: sign: bad --timestamp '%s'\n", optarg);
				return CLI_ERR_USAGE;
			}
			break;
		}
		case 'N':
			nonce = optarg;
			break;
		case OPT_RRC_ADDRESS:
			rrc_addr = optarg;
			break;
		case OPT_RRC_PASSWORD:
			rrc_pw = optarg;
			break;
		case OPT_TO: {
			struct ncm_prefix p;
			if (ncm_prefix_parse(optarg, &p) < 0 || p.family == 0) {
				fprintf(stderr,
				        "netserv: sign: bad --to '%s' (an address or prefix)\n",
				        optarg);
				return CLI_ERR_USAGE;
			}
			to = optarg;
			break;
		}
		case 'h':
			fputs(sign_usage, stdout);
			return CLI_OK;
		default:
			fputs(sign_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (optind != argc - 1 || !key || !*key) {
		if (!key || !*key)
			fprintf(stderr, "netserv: sign: no key (-k KEY or $NETSERV_KEY)\n");
		fputs(sign_usage, stderr);
		return CLI_ERR_USAGE;
	}
	struct ncm_msg *m = parse_input(argv[optind]);
	if (!m)
		return CLI_ERR_USAGE;
	if (to) /* --to replaces what the request named */
		ncm_del(m, AUTH_BINDING_HEADER);
	char fresh[AUTH_NONCE_LEN + 1];
	if (rrc_addr) {
		if (!rrc_pw) {
			auth_nonce(fresh); /* 22 random characters: a fine password */
			rrc_pw = fresh;
		}
		if (rrc_password_valid(rrc_pw) < 0) {
			fprintf(stderr,
			        "netserv: sign: --rrc-password: want %d..%d characters of "
			        "[A-Za-z0-9+/=_-]\n",
			        RRC_PASSWORD_MIN, RRC_PASSWORD_MAX);
			ncm_free(m);
			return CLI_ERR_USAGE;
		}
		if (ncm_set(m, "rrc-address", rrc_addr) < 0 ||
		    ncm_set(m, "rrc-password", rrc_pw) < 0) {
			fprintf(stderr, "netserv: sign: bad --rrc-address\n");
			ncm_free(m);
			return CLI_ERR_USAGE;
		}
		const char *user = ncm_get(m, "user");
		fprintf(stderr,
		        "netserv: serve this line at http://%s%s%s/.well-known/netserv-rrc/%s "
		        "until "
		        "the nodes have checked it:\n%s\n",
		        strchr(rrc_addr, ':') ? "[" : "", rrc_addr,
		        strchr(rrc_addr, ':') ? "]" : "", user ? user : "USER", rrc_pw);
	}
	uint8_t sk[AUTH_SECRET_LEN];
	char err[NCM_ERR_LEN];
	int r = auth_load_secret(key, sk, err, sizeof(err));
	if (r == 0)
		r = auth_sign(m, sk, to, ts, nonce, err, sizeof(err));
	sodium_memzero(sk, sizeof(sk));
	if (r < 0) {
		fprintf(stderr, "netserv: sign: %s\n", err);
		ncm_free(m);
		return CLI_ERR_USAGE;
	}
	r = print_msg(m);
	ncm_free(m);
	return r;
}

static int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"public-key", required_argument, NULL, 'p'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *pub = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pub = optarg;
			break;
		case 'h':
			fputs(verify_usage, stdout);
			return CLI_OK;
		default:
			fputs(verify_usage, stderr);
			return CLI_ERR_USAGE;
		}
	}
	if (optind != argc - 1 || !pub) {
		fputs(verify_usage, stderr);
		return CLI_ERR_USAGE;
	}
	uint8_t pk[AUTH_PUBLIC_LEN];
	char err[NCM_ERR_LEN];
	if (auth_load_public(pub, pk, err, sizeof(err)) < 0) {
		fprintf(stderr, "netserv: verify: %s\n", err);
		return CLI_ERR_USAGE;
	}
	struct ncm_msg *m = parse_input(argv[optind]);
	if (!m)
		return CLI_ERR_USAGE;
	int r = auth_verify(m, pk, err, sizeof(err));
	ncm_free(m);
	if (r < 0) {
		printf("invalid: %s\n", err);
		return CLI_ERR_RESPONSE;
	}
	printf("valid\n");
	return CLI_OK;
}

int cli_keys_main(int argc, char **argv)
{
	if (!strcmp(argv[0], "keygen"))
		return cmd_keygen(argc, argv);
	if (!strcmp(argv[0], "sign"))
		return cmd_sign(argc, argv);
	return cmd_verify(argc, argv);
}
