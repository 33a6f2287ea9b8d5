/* The netfilter forwarding-plane driver (see fwd_netfilter.h): iptables rules
 * that queue a module's packets to its container, changed in batches through
 * iptables-restore --noflush and read back through iptables-save.
 *
 * Dispatch. A filter on one protocol with ports (tcp, udp, sctp, dccp) whose
 * destination port range lies within one bucket of BUCKET_PORTS ports is
 * "bucketed": its rule goes into a sub-chain of that (protocol, bucket), and
 * the hook chain holds one jump per sub-chain ("-p udp --dport
 * 5056:5087 -j PREFIX-Fu09e.0"), so that a packet walks the jumps and one
 * bucket instead of every rule. Other filters, and sampled ones, stay
 * "plain" rules in the hook chain. Order is kept exactly: sub-chains belong
 * to a "run" (the hex number after the dot), a run's jumps are consecutive in
 * the hook chain, and a plain rule appended after them ends the run (the next
 * bucketed rule starts a new one). Within a run the buckets are disjoint (one
 * protocol, disjoint ports), so a packet meets the rules that can match it in
 * the order they were added, as in one flat chain. Prefixes too long for the
 * sub-chains' names (iptables: 28 characters) get the flat chain. */
#include "fwd/fwd_netfilter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/errbuf.h"
#include "lib/subprocess.h"
#include "lib/util.h"

#define COMMENT_PREFIX  "netserv:"
#define RULE_ID_MAX     FWD_RULE_ID_MAX
#define TOOL_TIMEOUT_MS 15000
#define TOOL_OUT_MAX    (64u << 20) /* iptables-save output we accept */
#define STDERR_KEEP     400
#define BUCKET_PORTS    32     /* ports per dispatch bucket */
#define CHAIN_NAME_MAX  28     /* iptables' limit */
#define SUB_SUFFIX_MAX  11     /* "-Fu7ff.ffff" */
#define RUN_MAX         0xffff /* then: plain rules */

enum tool {
	T_IPT,      /* iptables */
	T_IP6T,     /* ip6tables */
	T_RESTORE4, /* iptables-restore */
	T_RESTORE6, /* ip6tables-restore */
	T_SAVE4,    /* iptables-save */
	T_SAVE6,    /* ip6tables-save */
	T_COUNT,
};

static const char *const tool_names[T_COUNT] = {
        "iptables",          "ip6tables",     "iptables-restore",
        "ip6tables-restore", "iptables-save", "ip6tables-save",
};

/* Our chains, by hook; CH_PROBE only exists for a moment at start. */
enum chain { CH_FWD, CH_IN, CH_OUT, CH_PROBE, CH_COUNT };
static const char *const chain_suffix[CH_COUNT] = {"-FWD", "-IN", "-OUT", "-PRB"};
static const char *const chain_hook[CH_COUNT] = {"FORWARD", "INPUT", "OUTPUT", NULL};

struct fwd_netfilter {
	char prefix[FWD_NF_PREFIX_MAX + 1];
	char chain[CH_COUNT][FWD_NF_PREFIX_MAX + 8];
	unsigned hooks; /* FWD_NF_HOOK_* */
	bool ipv6;
	bool buckets; /* the prefix leaves room for the sub-chains' names */
	char tool[T_COUNT][PATH_MAX];
};

/* Where a filter's rule goes: proto 0 = a plain rule in the hook chain. */
struct bucket {
	char proto; /* 't', 'u', 's', 'd' */
	unsigned index;
};

static const char hook_letter[CH_COUNT] = {'F', 'I', 'O', 'P'};

/* ---- a growing string ----------------------------------------------------- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) _printf_(2, 3);
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 1024;
		while (cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

static void sb_done(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){0};
}

/* ---- running the tools ---------------------------------------------------- */

/* Runs `path argv...` with `input` on stdin (through a socket, so a child that
 * dies early cannot SIGPIPE us), collecting stdout into *ret_out (malloc'd,
 * NUL-terminated; NULL = discard) and the start of stderr into errtext.
 * Returns the exit status (0..255; 128+N for a signal), or a negative errno
 * if the child could not run or timed out. */
static int run_tool(const char *path, char *const argv[], const char *input, size_t inlen,
                    char **ret_out, char *errtext, size_t errtextlen)
{
	struct subprocess sp = {
	        .file = path,
	        .argv = argv,
	        .input = inlen ? input : NULL,
	        .input_len = inlen,
	        .out = ret_out ? SUBPROCESS_CAPTURE : SUBPROCESS_NULL,
	        .out_max = TOOL_OUT_MAX,
	        .err = SUBPROCESS_CAPTURE,
	        .err_max = errtextlen ? errtextlen - 1 : 0,
	        .timeout_ms = TOOL_TIMEOUT_MS,
	};
	struct subprocess_result res;
	int r;

	if (errtext && errtextlen)
		errtext[0] = '\0';
	r = subprocess_run(&sp, &res);
	if (r < 0)
		return r;
	if (errtext && errtextlen)
		snprintf(errtext, errtextlen, "%s", res.err ? res.err : "");
	if (res.timed_out)
		r = -ETIMEDOUT;
	else if (ret_out && res.out_cut)
		r = -ENOMEM;
	else
		r = subprocess_exit_code(&res);
	if (r >= 0 && ret_out)
		*ret_out = TAKE_PTR(res.out);
	subprocess_result_done(&res);
	/* Keep the first line of stderr, trimmed: that is the reason. */
	if (errtext && errtextlen) {
		char *nl = strchr(errtext, '\n');
		if (nl && nl[1] && strncmp(nl + 1, "Error occurred at line", 22) == 0) {
			/* "...: Chain 'X' does not exist\nError occurred at line: 3" */
			char *nl2 = strchr(nl + 1, '\n');
			if (nl2)
				*nl2 = '\0';
			*nl = ' ';
		} else if (nl) {
			*nl = '\0';
		}
	}
	return r;
}

static enum tool restore_tool(int family)
{
	return family == AF_INET6 ? T_RESTORE6 : T_RESTORE4;
}

/* Feeds one batch to {ip,ip6}tables-restore --noflush. */
static int apply(struct fwd_netfilter *nf, int family, const struct sbuf *batch, char *err,
                 size_t errlen)
{
	char errtext[STDERR_KEEP];
	const char *path = nf->tool[restore_tool(family)];
	char *argv[] = {(char *)tool_names[restore_tool(family)], "--noflush", "--wait=5", NULL};

	if (batch->oom)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	int r = run_tool(path, argv, batch->p, batch->len, NULL, errtext, sizeof(errtext));
	if (r < 0)
		return err_set(err, errlen, r, "%s: %s", path, strerror(-r));
	if (r != 0)
		return err_set(err, errlen, -EIO, "%s failed (status %d): %s", argv[0], r,
		               errtext[0] ? errtext : "no message");
	return 0;
}

/* Reads the mangle table of one family (with counters: every rule line
 * starts "[packets:bytes] "); *ret is malloc'd text. */
static int dump(struct fwd_netfilter *nf, int family, bool counters, char **ret, char *err,
                size_t errlen)
{
	char errtext[STDERR_KEEP];
	enum tool t = family == AF_INET6 ? T_SAVE6 : T_SAVE4;
	char *argv[] = {(char *)tool_names[t], "-t", "mangle", counters ? "-c" : NULL, NULL};

	int r = run_tool(nf->tool[t], argv, NULL, 0, ret, errtext, sizeof(errtext));
	if (r < 0)
		return err_set(err, errlen, r, "%s: %s", nf->tool[t], strerror(-r));
	if (r != 0) {
		free(*ret);
		*ret = NULL;
		return err_set(err, errlen, -EIO, "%s failed (status %d): %s", tool_names[t], r,
		               errtext[0] ? errtext : "no message");
	}
	return 0;
}

/* ---- reading iptables-save output ----------------------------------------- */

/* Splits a rule line into words (double quotes group, backslash escapes).
 * Returns the number of words, at most max; the words point into `work`. */
static size_t split_words(const char *line, char *work, size_t worklen, char **words, size_t max)
{
	size_t n = 0, w = 0;
	const char *s = line;

	while (*s && n < max) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		if (w + 1 >= worklen)
			break;
		words[n++] = work + w;
		bool quoted = false;
		while (*s && (quoted || (*s != ' ' && *s != '\t')) && w + 1 < worklen) {
			if (*s == '"') {
				quoted = !quoted;
				s++;
			} else if (*s == '\\' && s[1]) {
				work[w++] = s[1];
				s += 2;
			} else {
				work[w++] = *s++;
			}
		}
		work[w++] = '\0';
	}
	return n;
}

struct rule_info {
	char chain[64];    /* the chain the rule is in */
	char target[64];   /* its -j target, or "" */
	char comment[256]; /* its comment, or "" */
};

static void parse_rule(const char *line, struct rule_info *ri)
{
	char work[4096], *words[128];
	size_t n = split_words(line, work, sizeof(work), words, ARRAY_SIZE(words));

	*ri = (struct rule_info){0};
	if (n >= 2)
		snprintf(ri->chain, sizeof(ri->chain), "%s", words[1]);
	for (size_t i = 2; i + 1 < n; i++) {
		if (strcmp(words[i], "-j") == 0 || strcmp(words[i], "--jump") == 0)
			snprintf(ri->target, sizeof(ri->target), "%s", words[i + 1]);
		else if (strcmp(words[i], "--comment") == 0)
			snprintf(ri->comment, sizeof(ri->comment), "%s", words[i + 1]);
	}
}

static int our_chain(const struct fwd_netfilter *nf, const char *name)
{
	for (int c = 0; c < CH_COUNT; c++)
		if (strcmp(nf->chain[c], name) == 0)
			return c;
	return -1;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* A dispatch sub-chain of ours, "PREFIX-<hook><proto><bucket>.<run>": returns
 * its hook chain (CH_*) and stores its run, or -1. */
static int our_sub(const struct fwd_netfilter *nf, const char *name, unsigned *ret_run)
{
	size_t pl = strlen(nf->prefix);
	const char *s = name + pl;
	int c = -1;

	if (strncmp(name, nf->prefix, pl) != 0 || s[0] != '-')
		return -1;
	for (int k = CH_FWD; k <= CH_OUT; k++)
		if (s[1] == hook_letter[k])
			c = k;
	if (c < 0 || !strchr("tusd", s[2]) || !s[2] || !is_hex(s[3]) || !is_hex(s[4]) ||
	    !is_hex(s[5]) || s[6] != '.' || !s[7])
		return -1;
	unsigned run = 0;
	for (const char *r = s + 7; *r; r++) {
		if (!is_hex(*r) || r - (s + 7) >= 4)
			return -1;
		run = run * 16 + (unsigned)(*r <= '9' ? *r - '0' : *r - 'a' + 10);
	}
	if (ret_run)
		*ret_run = run;
	return c;
}

static void sub_name(const struct fwd_netfilter *nf, int c, const struct bucket *bk, unsigned run,
                     char *buf, size_t len)
{
	snprintf(buf, len, "%s-%c%c%03x.%x", nf->prefix, hook_letter[c], bk->proto, bk->index, run);
}

/* Ours at all: a hook chain or a sub-chain (its hook chain), or -1. */
static int our_any(const struct fwd_netfilter *nf, const char *name)
{
	int c = our_chain(nf, name);
	return c >= 0 ? c : our_sub(nf, name, NULL);
}

/* What a dump holds of ours. */
struct ours {
	bool chain[CH_COUNT];     /* our chain exists */
	unsigned jumps[CH_COUNT]; /* jump rules to it */
	struct sbuf subs;         /* our sub-chains' names, each ending in '\n' */
	bool has_run[CH_COUNT];   /* some sub-chain of the hook exists */
	unsigned max_run[CH_COUNT];
};

typedef void rule_fn(void *ctx, const char *line, uint64_t packets, uint64_t bytes);

/* Calls fn for each "-A" line of the dump (without its newline and without
 * the "[packets:bytes] " of a dump with counters, which go to fn apart). */
static void for_each_rule(const char *text, rule_fn *fn, void *ctx)
{
	const char *s = text;
	char line[4096];

	while (s && *s) {
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		unsigned long long pk = 0, by = 0;
		int skip = 0;
		if (n > 0 && s[0] == '[' && sscanf(s, "[%llu:%llu] %n", &pk, &by, &skip) == 2 &&
		    skip > 0 && (size_t)skip < n) {
			s += skip;
			n -= (size_t)skip;
		}
		if (n >= 3 && strncmp(s, "-A ", 3) == 0 && n < sizeof(line)) {
			memcpy(line, s, n);
			line[n] = '\0';
			fn(ctx, line, pk, by);
		}
		s = e ? e + 1 : NULL;
	}
}

static bool sub_exists(const struct ours *o, const char *name)
{
	size_t n = strlen(name);

	for (const char *s = o->subs.p; s && *s;) {
		const char *e = strchr(s, '\n');
		if ((size_t)(e - s) == n && strncmp(s, name, n) == 0)
			return true;
		s = e + 1;
	}
	return false;
}

static void scan_chains(const struct fwd_netfilter *nf, const char *text, struct ours *o)
{
	const char *s = text;
	char name[128];

	sb_done(&o->subs);
	*o = (struct ours){0};
	while (s && *s) {
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n > 1 && s[0] == ':') {
			size_t k = 0;
			while (k + 1 < n && k + 1 < sizeof(name) && s[k + 1] != ' ') {
				name[k] = s[k + 1];
				k++;
			}
			name[k] = '\0';
			int c = our_chain(nf, name);
			unsigned run;
			if (c >= 0) {
				o->chain[c] = true;
			} else if ((c = our_sub(nf, name, &run)) >= 0) {
				sb_add(&o->subs, "%s\n", name);
				if (!o->has_run[c] || run > o->max_run[c])
					o->max_run[c] = run;
				o->has_run[c] = true;
			}
		}
		s = e ? e + 1 : NULL;
	}
}

/* Context for the rule walkers. */
struct walk {
	const struct fwd_netfilter *nf;
	struct sbuf *batch;
	struct ours *ours;
	const char *comment; /* delete rules in our chains with this comment */
	bool jumps;          /* delete jump rules to our chains */
	unsigned found;
	/* The last rule of each hook chain that stays: a jump to a sub-chain
	 * (its run in last_run) or not. */
	bool last_is_jump[CH_COUNT];
	unsigned last_run[CH_COUNT];
};

static void walk_rule(void *ctx, const char *line, uint64_t packets, uint64_t bytes)
{
	struct walk *w = ctx;
	struct rule_info ri;

	parse_rule(line, &ri);
	int in_ours = our_any(w->nf, ri.chain);
	int to_ours = our_any(w->nf, ri.target);
	if (in_ours < 0 && to_ours >= 0) {
		if (w->ours && our_chain(w->nf, ri.target) >= 0)
			w->ours->jumps[to_ours]++;
		if (w->jumps) {
			sb_add(w->batch, "-D %s\n", line + 3);
			w->found++;
		}
	} else if (in_ours >= 0 && w->comment && strcmp(ri.comment, w->comment) == 0) {
		sb_add(w->batch, "-D %s\n", line + 3);
		w->found++;
	} else if (in_ours >= 0 && our_chain(w->nf, ri.chain) == in_ours) {
		unsigned run = 0;
		w->last_is_jump[in_ours] = our_sub(w->nf, ri.target, &run) == in_ours;
		w->last_run[in_ours] = run;
	}
}

/* ---- rule specifications -------------------------------------------------- */

static bool proto_has_ports(uint8_t p)
{
	return p == NCM_PROTO_TCP || p == NCM_PROTO_UDP || p == NCM_PROTO_SCTP ||
	       p == 33 /* dccp */;
}

static const char *proto_word(uint8_t p, char *buf, size_t len)
{
	switch (p) {
	case NCM_PROTO_TCP:
		return "tcp";
	case NCM_PROTO_UDP:
		return "udp";
	case NCM_PROTO_SCTP:
		return "sctp";
	case 33:
		return "dccp";
	case NCM_PROTO_ICMP:
		return "icmp";
	case NCM_PROTO_ICMPV6:
		return "icmpv6";
	default:
		snprintf(buf, len, "%u", p);
		return buf;
	}
}

static int check_prefix(const struct ncm_prefix *p, const char *which, char *err, size_t errlen)
{
	if (p->family != 0 && p->family != AF_INET && p->family != AF_INET6)
		return err_set(err, errlen, -EINVAL, "filter-%s: unknown address family", which);
	if ((p->family == AF_INET && p->len > 32) || (p->family == AF_INET6 && p->len > 128))
		return err_set(err, errlen, -EINVAL, "filter-%s: bad prefix length", which);
	return 0;
}

/* The spec of one filter for one family: the NFQUEUE target toward `queues`,
 * or, with a sample, a statistic match and the NFLOG target. */
static int rule_spec(const char *rule_id, const struct ncm_filter *f, unsigned queues,
                     const struct fwd_sample *sample, int family, char *buf, size_t len, char *err,
                     size_t errlen)
{
	unsigned q_first = FWD_QUEUE_FIRST(queues), q_last = FWD_QUEUE_LAST(queues);
	char pbuf[8], a[INET6_ADDRSTRLEN + 8];
	int r;

	if (!fwd_rule_id_valid(rule_id))
		return err_set(err, errlen, -EINVAL,
		               "bad rule id: want 1..%d of [A-Za-z0-9._+:*/@=-]", RULE_ID_MAX);
	if (!f)
		return err_set(err, errlen, -EINVAL, "no filter");
	if ((r = check_prefix(&f->src, "src", err, errlen)) < 0 ||
	    (r = check_prefix(&f->dst, "dst", err, errlen)) < 0)
		return r;
	if (f->src.family && f->dst.family && f->src.family != f->dst.family)
		return err_set(err, errlen, -EINVAL,
		               "filter-src and filter-dst are of different address families");
	if (f->port_lo || f->port_hi) {
		if (!proto_has_ports(f->proto))
			return err_set(err, errlen, -EINVAL,
			               "filter-port needs filter-proto tcp, udp, sctp or dccp");
		if (f->port_lo == 0 || f->port_hi < f->port_lo)
			return err_set(err, errlen, -EINVAL, "bad port range %u-%u", f->port_lo,
			               f->port_hi);
	}
	if (!sample && q_last < q_first)
		return err_set(err, errlen, -EINVAL, "bad queue range %u:%u", q_first, q_last);
	if (sample && (sample->every == 0 || sample->every > NCM_SAMPLE_EVERY_MAX))
		return err_set(err, errlen, -EINVAL, "bad sample 1/%u: want 1/1..1/%u",
		               sample->every, NCM_SAMPLE_EVERY_MAX);
	if (sample && (!sample->tag || strlen(sample->tag) > FWD_SAMPLE_TAG_MAX ||
	               strchr(sample->tag, '/') || !fwd_rule_id_valid(sample->tag)))
		return err_set(err, errlen, -EINVAL,
		               "bad sample tag: want 1..%d of [A-Za-z0-9._+:*@=-] (the module id)",
		               FWD_SAMPLE_TAG_MAX);
	if (sample && (sample->bytes == 0 || sample->bytes > NCM_SAMPLE_BYTES_MAX))
		return err_set(err, errlen, -EINVAL, "bad sample size %u: want 1..%u bytes",
		               sample->bytes, NCM_SAMPLE_BYTES_MAX);

	int fam = f->src.family ? f->src.family : f->dst.family;
	if (f->proto == NCM_PROTO_ICMP && fam == AF_INET6)
		return err_set(err, errlen, -EINVAL, "icmp with an IPv6 prefix (want icmpv6)");
	if (f->proto == NCM_PROTO_ICMPV6 && fam == AF_INET)
		return err_set(err, errlen, -EINVAL, "icmpv6 with an IPv4 prefix (want icmp)");
	if ((fam && fam != family) || (f->proto == NCM_PROTO_ICMP && family != AF_INET) ||
	    (f->proto == NCM_PROTO_ICMPV6 && family != AF_INET6))
		return 0; /* not for this family */

	struct sbuf b = {0};
	if (f->proto)
		sb_add(&b, "-p %s ", proto_word(f->proto, pbuf, sizeof(pbuf)));
	if (f->port_lo) {
		if (f->port_hi > f->port_lo)
			sb_add(&b, "--dport %u:%u ", f->port_lo, f->port_hi);
		else
			sb_add(&b, "--dport %u ", f->port_lo);
	}
	if (f->src.family && f->src.len)
		sb_add(&b, "-s %s ", ncm_prefix_format(&f->src, a, sizeof(a)));
	if (f->dst.family && f->dst.len)
		sb_add(&b, "-d %s ", ncm_prefix_format(&f->dst, a, sizeof(a)));
	sb_add(&b, "-m comment --comment \"" COMMENT_PREFIX "%s\" ", rule_id);
	if (sample) {
		/* Each rule counts for itself: one packet in `every` of those it
		 * sees, the first one included. NFLOG does not end the chain: the
		 * packet goes on as if the rule were not there. */
		if (sample->every > 1)
			sb_add(&b, "-m statistic --mode nth --every %u --packet 0 ", sample->every);
		sb_add(&b, "-j NFLOG --nflog-prefix \"%s\" --nflog-group %u --nflog-size %u",
		       sample->tag, sample->group, sample->bytes);
	} else if (q_last > q_first)
		sb_add(&b, "-j NFQUEUE --queue-balance %u:%u --queue-bypass", q_first, q_last);
	else
		sb_add(&b, "-j NFQUEUE --queue-num %u --queue-bypass", q_first);
	if (b.oom) {
		sb_done(&b);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	if (b.len >= len) {
		sb_done(&b);
		return err_set(err, errlen, -ENOSPC, "rule too long");
	}
	memcpy(buf, b.p, b.len + 1);
	r = (int)b.len;
	sb_done(&b);
	return r;
}

int fwd_netfilter_rule_spec(const char *rule_id, const struct ncm_filter *f, unsigned queues,
                            int family, char *buf, size_t len, char *err, size_t errlen)
{
	return rule_spec(rule_id, f, queues, NULL, family, buf, len, err, errlen);
}

int fwd_netfilter_sample_spec(const char *rule_id, const struct ncm_filter *f,
                              const struct fwd_sample *sample, int family, char *buf, size_t len,
                              char *err, size_t errlen)
{
	if (!sample)
		return err_set(err, errlen, -EINVAL, "no sample");
	return rule_spec(rule_id, f, 0, sample, family, buf, len, err, errlen);
}

/* ---- set-up and teardown -------------------------------------------------- */

static int families(const struct fwd_netfilter *nf, int out[2])
{
	out[0] = AF_INET;
	out[1] = AF_INET6;
	return nf->ipv6 ? 2 : 1;
}

static bool find_tool(const char *name, char *path, size_t len)
{
	static const char *const extra[] = {"/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin",
	                                    "/bin"};
	const char *env = getenv("PATH");
	char dirs[4096];

	snprintf(dirs, sizeof(dirs), "%s", env ? env : "");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		if (!*d)
			continue;
		snprintf(path, len, "%s/%s", d, name);
		if (access(path, X_OK) == 0)
			return true;
	}
	for (size_t i = 0; i < ARRAY_SIZE(extra); i++) {
		snprintf(path, len, "%s/%s", extra[i], name);
		if (access(path, X_OK) == 0)
			return true;
	}
	path[0] = '\0';
	return false;
}

/* Puts a scratch chain with NFQUEUE rules in, to learn whether the kernel and
 * iptables can do what we need; the caller's next batch removes it. */
static int probe(struct fwd_netfilter *nf, int family, char *err, size_t errlen)
{
	struct sbuf b = {0};
	char e[NCM_ERR_LEN];
	const char *ch = nf->chain[CH_PROBE];

	sb_add(&b, "*mangle\n:%s - [0:0]\n", ch);
	sb_add(&b,
	       "-A %s -p udp --dport 9 -m comment --comment \"netserv-probe\" -j NFQUEUE "
	       "--queue-num 0 --queue-bypass\n",
	       ch);
	sb_add(&b, "-A %s -p tcp --dport 9:10 -j NFQUEUE --queue-balance 0:1 --queue-bypass\n", ch);
	sb_add(&b, "COMMIT\n");
	int r = apply(nf, family, &b, e, sizeof(e));
	sb_done(&b);
	if (r < 0)
		return err_set(err, errlen, r == -EIO ? -ENOTSUP : r,
		               "%s cannot install an NFQUEUE rule (needs the kernel's xt_NFQUEUE "
		               "and nfnetlink_queue, the comment and %s matches): %s",
		               tool_names[family == AF_INET6 ? T_IP6T : T_IPT], "udp/tcp", e);
	return 0;
}

/* Appends to b what removes our jumps and chains found in dump `text` (with
 * `all` false: the probe chain only); fills *o with what is left. */
static void remove_ours(struct fwd_netfilter *nf, const char *text, bool all, struct sbuf *b,
                        struct ours *o)
{
	scan_chains(nf, text, o);
	struct walk w = {.nf = nf, .batch = b, .ours = o, .jumps = all};
	for_each_rule(text, walk_rule, &w);
	/* Every chain flushed before any is deleted: the hook chains jump to
	 * the sub-chains. */
	for (int c = 0; c < CH_COUNT; c++)
		if (o->chain[c] && (all || c == CH_PROBE))
			sb_add(b, "-F %s\n", nf->chain[c]);
	if (all && o->subs.len) {
		for (const char *s = o->subs.p; *s;) {
			const char *e = strchr(s, '\n');
			sb_add(b, "-F %.*s\n", (int)(e - s), s);
			s = e + 1;
		}
		for (const char *s = o->subs.p; *s;) {
			const char *e = strchr(s, '\n');
			sb_add(b, "-X %.*s\n", (int)(e - s), s);
			s = e + 1;
		}
	}
	for (int c = 0; c < CH_COUNT; c++) {
		if (!o->chain[c] || (!all && c != CH_PROBE))
			continue;
		sb_add(b, "-X %s\n", nf->chain[c]);
		o->chain[c] = false;
	}
	if (all)
		memset(o->jumps, 0, sizeof(o->jumps));
}

/* Cleanup (unless adopting) and creation of our chains, for one family. */
static int setup_family(struct fwd_netfilter *nf, int family, bool adopt, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	struct sbuf b = {0};
	struct ours o = {0};
	int r;

	if ((r = probe(nf, family, err, errlen)) < 0)
		return r;
	if ((r = dump(nf, family, false, &text, err, errlen)) < 0)
		return r;
	sb_add(&b, "*mangle\n");
	remove_ours(nf, text, !adopt, &b, &o);
	for (int c = CH_FWD; c <= CH_OUT; c++) {
		if (!(nf->hooks & (1u << c)))
			continue;
		if (!o.chain[c])
			sb_add(&b, ":%s - [0:0]\n", nf->chain[c]);
		if (o.jumps[c] == 0)
			sb_add(&b, "-I %s 1 -j %s\n", chain_hook[c], nf->chain[c]);
	}
	sb_add(&b, "COMMIT\n");
	r = apply(nf, family, &b, err, errlen);
	sb_done(&b);
	sb_done(&o.subs);
	return r;
}

static int teardown_family(struct fwd_netfilter *nf, int family, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	struct sbuf b = {0};
	struct ours o = {0};
	int r;

	if ((r = dump(nf, family, false, &text, err, errlen)) < 0)
		return r;
	sb_add(&b, "*mangle\n");
	size_t empty = b.len;
	remove_ours(nf, text, true, &b, &o);
	sb_done(&o.subs);
	if (b.len == empty) {
		sb_done(&b);
		return 0;
	}
	sb_add(&b, "COMMIT\n");
	r = apply(nf, family, &b, err, errlen);
	sb_done(&b);
	return r;
}

static bool valid_prefix(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > FWD_NF_PREFIX_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int fwd_netfilter_new(const char *chain_prefix, unsigned flags, struct fwd_netfilter **ret,
                      char *err, size_t errlen)
{
	_cleanup_free_ struct fwd_netfilter *nf = NULL;
	const char *prefix = chain_prefix ? chain_prefix : FWD_NF_PREFIX_DEFAULT;
	char missing[256] = "";
	int fams[2], nfam, r;

	if (!valid_prefix(prefix))
		return err_set(err, errlen, -EINVAL,
		               "bad chain prefix '%s': want 1..%d of [A-Za-z0-9_-]", prefix,
		               FWD_NF_PREFIX_MAX);
	nf = calloc(1, sizeof(*nf));
	if (!nf)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	snprintf(nf->prefix, sizeof(nf->prefix), "%s", prefix);
	for (int c = 0; c < CH_COUNT; c++)
		snprintf(nf->chain[c], sizeof(nf->chain[c]), "%s%s", prefix, chain_suffix[c]);
	nf->hooks = flags & (FWD_NF_HOOK_FORWARD | FWD_NF_HOOK_INPUT | FWD_NF_HOOK_OUTPUT);
	if (!nf->hooks)
		nf->hooks = FWD_NF_HOOKS_DEFAULT;
	nf->ipv6 = !(flags & FWD_NF_NO_IPV6);
	nf->buckets = strlen(prefix) + SUB_SUFFIX_MAX <= CHAIN_NAME_MAX;

	for (int t = 0; t < T_COUNT; t++) {
		bool v6tool = t == T_IP6T || t == T_RESTORE6 || t == T_SAVE6;
		if (v6tool && !nf->ipv6)
			continue;
		if (!find_tool(tool_names[t], nf->tool[t], sizeof(nf->tool[t])))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
			         "%s%s", missing[0] ? ", " : "", tool_names[t]);
	}
	if (missing[0])
		return err_set(err, errlen, -ENOENT,
		               "netfilter driver: missing %s (Debian package iptables)", missing);

	nfam = families(nf, fams);
	for (int i = 0; i < nfam; i++) {
		if ((r = setup_family(nf, fams[i], flags & FWD_NF_ADOPT, err, errlen)) < 0) {
			/* Leave nothing half made behind. */
			for (int j = 0; j <= i; j++)
				teardown_family(nf, fams[j], NULL, 0);
			return r;
		}
	}
	*ret = TAKE_PTR(nf);
	return 0;
}

struct fwd_netfilter *fwd_netfilter_detach(struct fwd_netfilter *nf)
{
	free(nf);
	return NULL;
}

struct fwd_netfilter *fwd_netfilter_free(struct fwd_netfilter *nf)
{
	int fams[2];

	if (!nf)
		return NULL;
	int n = families(nf, fams);
	for (int i = 0; i < n; i++)
		teardown_family(nf, fams[i], NULL, 0);
	free(nf);
	return NULL;
}

/* ---- the fwd_ops ---------------------------------------------------------- */

/* For one family: deletes the rules called rule_id in our chains and appends
 * each of the n specs (none: a removal) to each of our hook chains, or with
 * `head` inserts them at the top, in one batch. Stores in *found how many
 * rules were deleted. */
static const char *bucket_proto(char p)
{
	return p == 't' ? "tcp" : p == 'u' ? "udp" : p == 's' ? "sctp" : "dccp";
}

/* Appends spec to hook chain c, into its bucket's sub-chain of the current
 * run if it has one (see the top of this file); *run_open says whether the
 * hook chain ends with the current run's jumps, *run is that run. */
static void append_rule(struct fwd_netfilter *nf, int c, const char *spec, const struct bucket *bk,
                        struct ours *o, bool *run_open, unsigned *run, struct sbuf *decl,
                        struct sbuf *b)
{
	char sub[CHAIN_NAME_MAX + 8];

	if (!bk->proto || !nf->buckets ||
	    (!*run_open && o->has_run[c] && o->max_run[c] >= RUN_MAX)) {
		sb_add(b, "-A %s %s\n", nf->chain[c], spec);
		*run_open = false;
		return;
	}
	if (!*run_open) {
		*run = o->has_run[c] ? o->max_run[c] + 1 : 0;
		o->has_run[c] = true;
		o->max_run[c] = *run;
		*run_open = true;
	}
	sub_name(nf, c, bk, *run, sub, sizeof(sub));
	if (!sub_exists(o, sub)) {
		sb_add(decl, ":%s - [0:0]\n", sub);
		sb_add(b, "-A %s -p %s --dport %u:%u -j %s\n", nf->chain[c],
		       bucket_proto(bk->proto), bk->index * BUCKET_PORTS,
		       bk->index * BUCKET_PORTS + BUCKET_PORTS - 1, sub);
		sb_add(&o->subs, "%s\n", sub);
	}
	sb_add(b, "-A %s %s\n", sub, spec);
}

static int replace_family(struct fwd_netfilter *nf, int family, const char *rule_id,
                          char *const *specs, const struct bucket *bks, size_t n, bool head,
                          unsigned *found, char *err, size_t errlen)
{
	_cleanup_free_ char *text = NULL;
	char comment[sizeof(COMMENT_PREFIX) + RULE_ID_MAX + 1];
	struct sbuf b = {0}, decl = {0};
	struct ours o = {0};
	int r;

	*found = 0;
	if ((r = dump(nf, family, false, &text, err, errlen)) < 0)
		return r;
	snprintf(comment, sizeof(comment), COMMENT_PREFIX "%s", rule_id);
	/* New chains are declared first, the rules follow. */
	sb_add(&decl, "*mangle\n");
	scan_chains(nf, text, &o);
	struct walk w = {.nf = nf, .batch = &b, .comment = comment};
	for_each_rule(text, walk_rule, &w);
	*found = w.found;
	for (int c = CH_FWD; c <= CH_OUT; c++) {
		if (!(nf->hooks & (1u << c)))
			continue;
		bool run_open = w.last_is_jump[c];
		unsigned run = w.last_run[c];
		for (size_t k = 0; k < n; k++) {
			if (head) /* k-th of them at k + 1: their own order kept */
				sb_add(&b, "-I %s %zu %s\n", nf->chain[c], k + 1, specs[k]);
			else
				append_rule(nf, c, specs[k], &bks[k], &o, &run_open, &run, &decl,
				            &b);
		}
	}
	sb_done(&o.subs);
	if (n == 0 && w.found == 0) {
		sb_done(&b);
		sb_done(&decl);
		return 0;
	}
	if (b.oom)
		decl.oom = true;
	else
		sb_add(&decl, "%.*s", (int)b.len, b.p ? b.p : "");
	sb_add(&decl, "COMMIT\n");
	r = apply(nf, family, &decl, err, errlen);
	sb_done(&b);
	sb_done(&decl);
	return r;
}

#define SPEC_MAX 1024

static int rules_add(void *fwd, const char *rule_id, const struct ncm_filter *filters, size_t n,
                     unsigned queue, const struct fwd_sample *sample, char *err, size_t errlen)
{
	struct fwd_netfilter *nf = fwd;
	char spec[2][NCM_MAX_FILTERS][SPEC_MAX];
	char *specs[2][NCM_MAX_FILTERS];
	struct bucket bks[2][NCM_MAX_FILTERS];
	size_t n_specs[2] = {0, 0};
	int fams[2], nfam, r;
	unsigned found;

	if (!filters || n == 0 || n > NCM_MAX_FILTERS)
		return err_set(err, errlen, -EINVAL, "want 1..%d filters", NCM_MAX_FILTERS);
	nfam = families(nf, fams);
	for (size_t k = 0; k < n; k++) {
		int any = 0;
		for (int i = 0; i < 2; i++) {
			int fam = i == 0 ? AF_INET : AF_INET6;
			char *buf = spec[i][n_specs[i]];
			r = rule_spec(rule_id, &filters[k], queue, sample, fam, buf, SPEC_MAX, err,
			              errlen);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			if (i == 1 && !nf->ipv6)
				return err_set(
				        err, errlen, -EAFNOSUPPORT,
				        "IPv6 filter, but the driver runs without ip6tables");
			const struct ncm_filter *f = &filters[k];
			struct bucket bk = {0};
			if (!sample && proto_has_ports(f->proto) && f->port_lo &&
			    f->port_lo / BUCKET_PORTS == f->port_hi / BUCKET_PORTS) {
				bk.proto = f->proto == NCM_PROTO_TCP    ? 't'
				           : f->proto == NCM_PROTO_UDP  ? 'u'
				           : f->proto == NCM_PROTO_SCTP ? 's'
				                                        : 'd';
				bk.index = f->port_lo / BUCKET_PORTS;
			}
			bks[i][n_specs[i]] = bk;
			specs[i][n_specs[i]++] = buf;
			any++;
		}
		if (!any && n > 1)
			return err_set(err, errlen, -EINVAL, "filter %zu matches no address family",
			               k + 1);
		if (!any)
			return err_set(err, errlen, -EINVAL,
			               "the filter matches no address family");
	}
	for (int i = 0; i < nfam; i++) {
		int s = fams[i] == AF_INET ? 0 : 1;
		/* Sampled rules go first: NFLOG ends nothing, so they hide no packet
		 * from a queue rule after them, while a queue rule before them would
		 * take the packets they should sample (the same publisher's
		 * overlapping filters). */
		r = replace_family(nf, fams[i], rule_id, specs[s], bks[s], n_specs[s],
		                   sample != NULL, &found, err, errlen);
		if (r < 0) {
			/* Undo the families done so far: no half-installed filter. */
			for (int j = 0; j < i; j++)
				replace_family(nf, fams[j], rule_id, NULL, NULL, 0, false, &found,
				               NULL, 0);
			return r;
		}
	}
	return 0;
}

static int nf_filter_add(void *fwd, const char *rule_id, const struct ncm_filter *filters, size_t n,
                         unsigned queue, char *err, size_t errlen)
{
	return rules_add(fwd, rule_id, filters, n, queue, NULL, err, errlen);
}

static int nf_sample_add(void *fwd, const char *rule_id, const struct ncm_filter *filters, size_t n,
                         const struct fwd_sample *sample, char *err, size_t errlen)
{
	if (!sample)
		return err_set(err, errlen, -EINVAL, "no sample");
	return rules_add(fwd, rule_id, filters, n, 0, sample, err, errlen);
}

static int nf_filter_remove(void *fwd, const char *rule_id)
{
	struct fwd_netfilter *nf = fwd;
	int fams[2], n, r, first_err = 0;
	unsigned found, total = 0;

	if (!fwd_rule_id_valid(rule_id))
		return -ENOENT;
	n = families(nf, fams);
	for (int i = 0; i < n; i++) {
		r = replace_family(nf, fams[i], rule_id, NULL, NULL, 0, false, &found, NULL, 0);
		if (r < 0 && !first_err)
			first_err = r;
		total += found;
	}
	if (first_err)
		return first_err;
	return total ? 0 : -ENOENT;
}

static int nf_flush(void *fwd, char *err, size_t errlen)
{
	struct fwd_netfilter *nf = fwd;
	int fams[2], n, r;

	n = families(nf, fams);
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *text = NULL;
		struct sbuf b = {0};
		struct ours o = {0};
		if ((r = dump(nf, fams[i], false, &text, err, errlen)) < 0)
			return r;
		scan_chains(nf, text, &o);
		sb_add(&b, "*mangle\n");
		for (int c = CH_FWD; c <= CH_OUT; c++)
			if (nf->hooks & (1u << c))
				sb_add(&b, "-F %s\n", nf->chain[c]);
		/* The sub-chains go: nothing jumps to them any more. */
		for (const char *s = o.subs.p; s && *s;) {
			const char *e = strchr(s, '\n');
			char name[CHAIN_NAME_MAX + 8];
			snprintf(name, sizeof(name), "%.*s", (int)(e - s), s);
			int c = our_sub(nf, name, NULL);
			if (c >= 0 && (nf->hooks & (1u << c)))
				sb_add(&b, "-F %s\n-X %s\n", name, name);
			s = e + 1;
		}
		sb_done(&o.subs);
		sb_add(&b, "COMMIT\n");
		r = apply(nf, fams[i], &b, err, errlen);
		sb_done(&b);
		if (r < 0)
			return r;
	}
	return 0;
}

struct count_walk {
	const struct fwd_netfilter *nf;
	const char *comment;
	uint64_t packets, bytes;
	unsigned found;
};

static void count_rule(void *ctx, const char *line, uint64_t packets, uint64_t bytes)
{
	struct count_walk *w = ctx;
	struct rule_info ri;

	parse_rule(line, &ri);
	if (our_any(w->nf, ri.chain) >= 0 && strcmp(ri.comment, w->comment) == 0) {
		w->packets += packets;
		w->bytes += bytes;
		w->found++;
	}
}

int fwd_netfilter_counters(struct fwd_netfilter *nf, const char *rule_id, uint64_t *ret_packets,
                           uint64_t *ret_bytes, char *err, size_t errlen)
{
	char comment[sizeof(COMMENT_PREFIX) + RULE_ID_MAX + 1];
	int fams[2], n, r;

	if (!fwd_rule_id_valid(rule_id))
		return err_set(err, errlen, -EINVAL, "bad rule id");
	snprintf(comment, sizeof(comment), COMMENT_PREFIX "%s", rule_id);
	struct count_walk w = {.nf = nf, .comment = comment};
	n = families(nf, fams);
	for (int i = 0; i < n; i++) {
		_cleanup_free_ char *text = NULL;
		if ((r = dump(nf, fams[i], true, &text, err, errlen)) < 0)
			return r;
		for_each_rule(text, count_rule, &w);
	}
	if (!w.found)
		return err_set(err, errlen, -ENOENT, "no rule %s", rule_id);
	*ret_packets = w.packets;
	*ret_bytes = w.bytes;
	return 0;
}

const struct fwd_ops fwd_netfilter_ops = {
        .name = "netfilter",
        .filter_add = nf_filter_add,
        .sample_add = nf_sample_add,
        .filter_remove = nf_filter_remove,
        .flush = nf_flush,
};
