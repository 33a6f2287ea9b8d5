/* fwdctl: drives the netfilter forwarding-plane driver from the shell, for
 * tests. Each call makes a driver, does one thing and detaches (the rules stay
 * in iptables, which holds all the state):
 *
 *   fwdctl [-p PREFIX] [-H forward,input,output] [-n] COMMAND ...
 *     init                  remove leftovers of PREFIX, create our chains
 *     add ID [proto=P] [port=A[-B]] [src=PFX] [dst=PFX] [queue=N[:M]]
 *     remove ID             exit status 3 if there was no such rule
 *     flush                 remove every filter of ours, keep the chains
 *     fini                  remove our chains and jumps
 *     counters ID           print "packets=N bytes=B" of the rules called ID
 *     spec ID [filter...]   print the rule for IPv4 and IPv6, change nothing
 *   -n: no IPv6 (ip6tables unused). Exit status 0, 1 on error, 2 on usage. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "fwd/fwd_netfilter.h"
#include "ncm/ncm.h"

static void usage(void)
{
	fprintf(stderr, "usage: fwdctl [-p PREFIX] [-H forward,input,output] [-n] "
	                "init|add|remove|flush|fini|counters|spec ...\n");
	exit(2);
}

static int parse_u16(const char *s, unsigned *ret)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || v > 65535)
		return -EINVAL;
	*ret = (unsigned)v;
	return (int)(end - s);
}

/* Parses "key=value" words into a filter and a queue range. */
static int parse_filter(int argc, char **argv, struct ncm_filter *f, unsigned *queue)
{
	static const struct {
		const char *name;
		unsigned proto;
	} protos[] = {{"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}, {"sctp", 132}};

	*f = (struct ncm_filter){0};
	*queue = 0;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		const char *k = argv[i], *v = eq + 1;
		unsigned a, b;
		int n;
		if (strcmp(k, "proto") == 0) {
			bool known = false;
			for (size_t j = 0; j < sizeof(protos) / sizeof(protos[0]); j++)
				if (strcasecmp(v, protos[j].name) == 0) {
					f->proto = (uint8_t)protos[j].proto;
					known = true;
				}
			if (!known) {
				if (parse_u16(v, &a) <= 0 || a > 255)
					return -EINVAL;
				f->proto = (uint8_t)a;
			}
		} else if (strcmp(k, "port") == 0) {
			if ((n = parse_u16(v, &a)) <= 0)
				return -EINVAL;
			b = a;
			if (v[n] == '-' && parse_u16(v + n + 1, &b) <= 0)
				return -EINVAL;
			f->port_lo = (uint16_t)a;
			f->port_hi = (uint16_t)b;
		} else if (strcmp(k, "src") == 0) {
			if (ncm_prefix_parse(v, &f->src) < 0)
				return -EINVAL;
		} else if (strcmp(k, "dst") == 0) {
			if (ncm_prefix_parse(v, &f->dst) < 0)
				return -EINVAL;
		} else if (strcmp(k, "queue") == 0) {
			if ((n = parse_u16(v, &a)) <= 0)
				return -EINVAL;
			b = a;
			if (v[n] == ':' && parse_u16(v + n + 1, &b) <= 0)
				return -EINVAL;
			*queue = FWD_QUEUE_RANGE(a, b);
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *prefix = NULL;
	unsigned flags = 0;
	char err[NCM_ERR_LEN] = "";
	int c, r;

	while ((c = getopt(argc, argv, "+p:H:n")) != -1) {
		switch (c) {
		case 'p':
			prefix = optarg;
			break;
		case 'H':
			for (char *save = NULL, *h = strtok_r(optarg, ",", &save); h;
			     h = strtok_r(NULL, ",", &save)) {
				if (strcmp(h, "forward") == 0)
					flags |= FWD_NF_HOOK_FORWARD;
				else if (strcmp(h, "input") == 0)
					flags |= FWD_NF_HOOK_INPUT;
				else if (strcmp(h, "output") == 0)
					flags |= FWD_NF_HOOK_OUTPUT;
				else
					usage();
			}
			break;
		case 'n':
			flags |= FWD_NF_NO_IPV6;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	const char *cmd = argv[optind++];
	int nargs = argc - optind;
	char **args = argv + optind;

	if (strcmp(cmd, "spec") == 0) {
		struct ncm_filter f;
		unsigned q;
		char buf[1024];
		if (nargs < 1 || parse_filter(nargs - 1, args + 1, &f, &q) < 0)
			usage();
		for (int fam = 0; fam < 2; fam++) {
			r = fwd_netfilter_rule_spec(args[0], &f, q, fam ? AF_INET6 : AF_INET, buf,
			                            sizeof(buf), err, sizeof(err));
			if (r < 0) {
				fprintf(stderr, "fwdctl: %s\n", err);
				return 1;
			}
			printf("%s %s\n", fam ? "ipv6" : "ipv4", r ? buf : "-");
		}
		return 0;
	}

	bool init = strcmp(cmd, "init") == 0;
	struct fwd_netfilter *nf;
	r = fwd_netfilter_new(prefix, flags | (init ? 0 : FWD_NF_ADOPT), &nf, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "fwdctl: %s\n", err);
		return 1;
	}
	int rc = 0;
	if (init) {
		if (nargs)
			usage();
	} else if (strcmp(cmd, "add") == 0) {
		struct ncm_filter f;
		unsigned q;
		if (nargs < 1 || parse_filter(nargs - 1, args + 1, &f, &q) < 0)
			usage();
		r = fwd_netfilter_ops.filter_add(nf, args[0], &f, 1, q, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "fwdctl: add %s: %s\n", args[0], err);
			rc = 1;
		}
	} else if (strcmp(cmd, "remove") == 0) {
		if (nargs != 1)
			usage();
		r = fwd_netfilter_ops.filter_remove(nf, args[0]);
		if (r < 0) {
			fprintf(stderr, "fwdctl: remove %s: %s\n", args[0], strerror(-r));
			rc = r == -ENOENT ? 3 : 1;
		}
	} else if (strcmp(cmd, "counters") == 0) {
		uint64_t pk, by;
		if (nargs != 1)
			usage();
		r = fwd_netfilter_counters(nf, args[0], &pk, &by, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "fwdctl: counters %s: %s\n", args[0], err);
			rc = r == -ENOENT ? 3 : 1;
		} else {
			printf("packets=%llu bytes=%llu\n", (unsigned long long)pk,
			       (unsigned long long)by);
		}
	} else if (strcmp(cmd, "flush") == 0) {
		r = fwd_netfilter_ops.flush(nf, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "fwdctl: flush: %s\n", err);
			rc = 1;
		}
	} else if (strcmp(cmd, "fini") == 0) {
		fwd_netfilter_free(nf);
		return 0;
	} else {
		fwd_netfilter_detach(nf);
		usage();
	}
	fwd_netfilter_detach(nf);
	return rc;
}
