/* The netfilter plane's tc sampler (see fwd_tcsample.h). */
#include "fwd/xdp/fwd_tcsample.h"

#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "fwd/xdp/sample_chan.h"
#include "fwd/xdp/xdp_prog.h"
#include "fwd/xdp/xdp_rule.h"
#include "fwd/xdp/xdp_sample.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"

#define RULE_ID_MAX    FWD_RULE_ID_MAX
#define GROUPS         65536 /* NFLOG groups and queues are 16 bits */
#define READ_PERIOD_MS 10    /* the rings are read at least this often */
#define ETH_HLEN_TC    14    /* the program copies frames; modules get IP packets */

/* One sampled SETUP's rule set (fwd_ops.sample_add). */
struct trule {
	char id[RULE_ID_MAX + 1];
	struct ncm_filter filters[NCM_MAX_FILTERS];
	size_t n;
	uint32_t every, snap; /* snap: frame bytes the program copies */
	uint16_t group;
	char tag[FWD_SAMPLE_TAG_MAX + 1];
};

/* Whose a program rule is (by its index in the rules written last). */
struct trule_at {
	uint16_t group;
	char tag[FWD_SAMPLE_TAG_MAX + 1];
};

struct tif {
	char name[IF_NAMESIZE];
	int ifindex;
	struct nsxdp_prog *prog; /* NULL: not attached */
	struct nsxdp_sampler *sampler;
	bool watched; /* the sampler's fd is on the loop */
};

struct fwd_tcs {
	struct evloop *loop;
	char obj[PATH_MAX];
	struct tif ifs[FWD_TCS_MAX_IFS];
	size_t n_ifs;
	bool attached;
	struct evloop_timer *timer;
	struct trule *rules;
	size_t n_rules;
	struct trule_at at[NETSERV_XDP_MAX_RULES];
	size_t n_at;
	struct sample_chan **chans; /* by group */
	const struct fwd_ops *local_ops;
	void *local;
	struct sample_counts samples;
	unsigned replaced; /* earlier netservds' programs taken off at start */
};

/* ---- samples --------------------------------------------------------------- */

static void on_sample(void *ctx, const struct netserv_xdp_sample *smp)
{
	struct fwd_tcs *t = ctx;
	const struct trule_at *at = smp->rule < t->n_at ? &t->at[smp->rule] : NULL;
	if (!at)
		t->samples.lost++;
	else
		sample_chan_deliver(t->chans[at->group], smp, at->group, at->tag, &t->samples);
}

/* Reads every ring and sends the channels' batches. */
static void read_samples(struct fwd_tcs *t)
{
	for (size_t i = 0; i < t->n_ifs; i++)
		if (t->ifs[i].sampler)
			nsxdp_sampler_poll(t->ifs[i].sampler, 0);
	for (size_t k = 0; k < t->n_at; k++)
		sample_chan_send(t->chans[t->at[k].group], &t->samples);
}

static void on_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	read_samples(ctx);
}

/* The last few samples do not wake the reader (the program wakes it per
 * batch): read on a timer too. */
static void on_timer(struct evloop *loop, void *ctx)
{
	struct fwd_tcs *t = ctx;
	t->timer = NULL;
	read_samples(t);
	t->timer = evloop_timer_add(loop, READ_PERIOD_MS, on_timer, t);
}

/* ---- attaching ------------------------------------------------------------ */

static void detach_all(struct fwd_tcs *t)
{
	if (t->attached)
		read_samples(t); /* what is left in the rings */
	for (size_t i = 0; i < t->n_ifs; i++) {
		struct tif *ti = &t->ifs[i];
		if (ti->watched)
			evloop_del_fd(t->loop, nsxdp_sampler_fd(ti->sampler));
		ti->watched = false;
		nsxdp_sampler_close(ti->sampler);
		ti->sampler = NULL;
		nsxdp_close(ti->prog);
		ti->prog = NULL;
	}
	t->timer = evloop_timer_cancel(t->loop, t->timer);
	t->attached = false;
}

/* Puts a program on every interface, all or none. Returns 0 or a negative
 * errno with the reason in err. */
static int attach_all(struct fwd_tcs *t, char *err, size_t errlen)
{
	int r = 0;
	for (size_t i = 0; i < t->n_ifs && r == 0; i++) {
		struct tif *ti = &t->ifs[i];
		char e[256] = "";
		if ((r = nsxdp_open_tc(t->obj, &ti->prog, e, sizeof(e))) < 0 ||
		    (r = nsxdp_attach(ti->prog, ti->ifindex, 0, e, sizeof(e))) < 0) {
			err_set(err, errlen, r, "tc sampler on %s: %s", ti->name, e);
			break;
		}
		if ((r = nsxdp_sampler_open(ti->prog, on_sample, t, &ti->sampler)) < 0) {
			err_set(err, errlen, r, "tc sampler on %s: reading its samples: %s",
			        ti->name, strerror(-r));
			break;
		}
		/* Without the wake-up the timer still reads it. */
		ti->watched = evloop_add_fd(t->loop, nsxdp_sampler_fd(ti->sampler), EPOLLIN,
		                            on_readable, t) == 0;
	}
	t->attached = true; /* for detach_all, on failure too */
	if (r == 0 && !(t->timer = evloop_timer_add(t->loop, READ_PERIOD_MS, on_timer, t)))
		r = err_set(err, errlen, -ENOMEM, "out of memory");
	if (r < 0)
		detach_all(t);
	return r;
}

/* Makes the programs match `list`: attached with its rules, or taken off
 * when it is empty. Returns 0 or a negative errno with the reason in err. */
static int push(struct fwd_tcs *t, const struct trule *list, size_t cnt, char *err, size_t errlen)
{
	struct netserv_xdp_rule out[NETSERV_XDP_MAX_RULES];
	struct trule_at at[NETSERV_XDP_MAX_RULES];
	size_t n = 0;
	int r;

	for (size_t k = 0; k < cnt; k++)
		for (size_t j = 0; j < list[k].n; j++) {
			if (n == NETSERV_XDP_MAX_RULES)
				return err_set(err, errlen, -ENOSPC,
				               "the tc sampler holds at most %d sampled filters",
				               NETSERV_XDP_MAX_RULES);
			r = nsxdp_rule_sampling(&list[k].filters[j], list[k].every, list[k].snap,
			                        &out[n]);
			if (r < 0)
				return err_set(err, errlen, r,
				               "filter %zu of %s: not a valid filter", j + 1,
				               list[k].id);
			at[n].group = list[k].group;
			memcpy(at[n].tag, list[k].tag, sizeof(at[n].tag));
			n++;
		}
	if (n == 0) {
		detach_all(t);
		t->n_at = 0;
		return 0;
	}
	if (!t->attached && (r = attach_all(t, err, errlen)) < 0)
		return r;
	read_samples(t); /* the samples of the old rules go by the old table */
	for (size_t i = 0; i < t->n_ifs; i++)
		if ((r = nsxdp_set_rules(t->ifs[i].prog, out, n)) < 0)
			return err_set(err, errlen, r, "%s: writing the tc sampler's rules: %s",
			               t->ifs[i].name, strerror(-r));
	memcpy(t->at, at, n * sizeof(*at));
	t->n_at = n;
	return 0;
}

static ssize_t find_rule(const struct fwd_tcs *t, const char *id)
{
	for (size_t k = 0; k < t->n_rules; k++)
		if (strcmp(t->rules[k].id, id) == 0)
			return (ssize_t)k;
	return -1;
}

/* Removes the sampling rule set `id`. Returns 0, -ENOENT, or the error of
 * writing the programs' rules (the set then stays). */
static int tc_remove(struct fwd_tcs *t, const char *id)
{
	ssize_t at = fwd_rule_id_valid(id) ? find_rule(t, id) : -1;
	if (at < 0)
		return -ENOENT;
	struct trule *list = t->rules, gone = list[at];
	size_t cnt = t->n_rules;
	memmove(&list[at], &list[at + 1], (cnt - (size_t)at - 1) * sizeof(*list));
	int r = push(t, list, cnt - 1, NULL, 0);
	if (r < 0) { /* put it back where it was */
		memmove(&list[at + 1], &list[at], (cnt - (size_t)at - 1) * sizeof(*list));
		list[at] = gone;
		return r;
	}
	t->n_rules = cnt - 1;
	return 0;
}

/* ---- the fwd_ops ---------------------------------------------------------- */

static int tcs_sample_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                          size_t n, const struct fwd_sample *smp, char *err, size_t errlen)
{
	struct fwd_tcs *t = fwd;
	struct trule nr = {0};
	int r;

	if (!fwd_rule_id_valid(rule_id))
		return err_set(err, errlen, -EINVAL,
		               "bad rule id: want 1..%d of [A-Za-z0-9._+:*/@=-]", RULE_ID_MAX);
	if (!filters || n == 0 || n > NCM_MAX_FILTERS)
		return err_set(err, errlen, -EINVAL, "want 1..%d filters", NCM_MAX_FILTERS);
	if (!smp)
		return err_set(err, errlen, -EINVAL, "no sample");
	if (smp->every == 0 || smp->every > NCM_SAMPLE_EVERY_MAX)
		return err_set(err, errlen, -EINVAL, "bad sample 1/%u: want 1/1..1/%u", smp->every,
		               NCM_SAMPLE_EVERY_MAX);
	if (smp->bytes == 0 || smp->bytes > NCM_SAMPLE_BYTES_MAX)
		return err_set(err, errlen, -EINVAL, "bad sample size %u: want 1..%u bytes",
		               smp->bytes, NCM_SAMPLE_BYTES_MAX);
	if (!smp->tag || strlen(smp->tag) > FWD_SAMPLE_TAG_MAX || strchr(smp->tag, '/') ||
	    !fwd_rule_id_valid(smp->tag))
		return err_set(err, errlen, -EINVAL,
		               "bad sample tag: want 1..%d of [A-Za-z0-9._+:*@=-] (the module id)",
		               FWD_SAMPLE_TAG_MAX);
	if (!t->chans[smp->group])
		return err_set(err, errlen, -ENOENT,
		               "the publisher's container has no sample channel (group %u)",
		               smp->group);
	snprintf(nr.id, sizeof(nr.id), "%s", rule_id);
	memcpy(nr.filters, filters, n * sizeof(*filters));
	nr.n = n;
	nr.every = smp->every;
	/* The program copies frames: the Ethernet header and then the
	 * module's bytes, at most NETSERV_XDP_SNAP_MAX in all. */
	nr.snap = smp->bytes > NETSERV_XDP_SNAP_MAX - ETH_HLEN_TC ? NETSERV_XDP_SNAP_MAX
	                                                          : smp->bytes + ETH_HLEN_TC;
	nr.group = smp->group;
	snprintf(nr.tag, sizeof(nr.tag), "%s", smp->tag);

	/* The new list: the old one with this id replaced or appended. */
	ssize_t at = find_rule(t, rule_id);
	size_t cnt = t->n_rules + (at < 0);
	struct trule *list = malloc(cnt * sizeof(*list));
	if (!list)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	if (t->n_rules)
		memcpy(list, t->rules, t->n_rules * sizeof(*list));
	list[at < 0 ? (ssize_t)t->n_rules : at] = nr;
	if ((r = push(t, list, cnt, err, errlen)) < 0) {
		free(list);
		push(t, t->rules, t->n_rules, NULL, 0); /* all or none */
		return r;
	}
	free(t->rules);
	t->rules = list;
	t->n_rules = cnt;
	/* These rules replace any of the same name the netfilter driver has
	 * (the module was on the path before). */
	t->local_ops->filter_remove(t->local, rule_id);
	return 0;
}

static int tcs_filter_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                          size_t n, unsigned queue, char *err, size_t errlen)
{
	struct fwd_tcs *t = fwd;
	int r = t->local_ops->filter_add(t->local, rule_id, filters, n, queue, err, errlen);
	if (r == 0 && fwd_rule_id_valid(rule_id) && find_rule(t, rule_id) >= 0 &&
	    (r = tc_remove(t, rule_id)) < 0) { /* it was sampled before */
		t->local_ops->filter_remove(t->local, rule_id);
		return err_set(err, errlen, r, "removing its sampling rules: %s", strerror(-r));
	}
	return r;
}

static int tcs_filter_remove(void *fwd, const char *rule_id)
{
	struct fwd_tcs *t = fwd;
	int a = tc_remove(t, rule_id);
	int b = t->local_ops->filter_remove(t->local, rule_id);
	if (a < 0 && a != -ENOENT)
		return a;
	return a == 0 ? 0 : b;
}

static int tcs_flush(void *fwd, char *err, size_t errlen)
{
	struct fwd_tcs *t = fwd;
	push(t, NULL, 0, NULL, 0);
	free(t->rules);
	t->rules = NULL;
	t->n_rules = 0;
	return t->local_ops->flush(t->local, err, errlen);
}

static int tcs_describe(void *fwd, char *buf, size_t len)
{
	struct fwd_tcs *t = fwd;
	char ifs[FWD_TCS_MAX_IFS * (IF_NAMESIZE + 2)] = "";
	for (size_t i = 0; i < t->n_ifs; i++) {
		strcat(ifs, i ? ", " : "");
		strcat(ifs, t->ifs[i].name);
	}
	snprintf(buf, len, "tc sampler on %s (%s); samples %llu, lost %llu", ifs,
	         t->attached ? "attached" : "idle: no sampled module",
	         (unsigned long long)t->samples.handed, (unsigned long long)t->samples.lost);
	return 0;
}

const struct fwd_ops fwd_tcs_ops = {
        .name = "netfilter",
        .filter_add = tcs_filter_add,
        .sample_add = tcs_sample_add,
        .filter_remove = tcs_filter_remove,
        .flush = tcs_flush,
        .describe = tcs_describe,
};

/* ---- life ----------------------------------------------------------------- */

int fwd_tcs_new(struct evloop *loop, const char *obj_path, const char *const *ifnames, size_t n,
                const struct fwd_ops *ops, void *local, struct fwd_tcs **ret, char *err,
                size_t errlen)
{
	if (n == 0 || n > FWD_TCS_MAX_IFS)
		return err_set(err, errlen, -EINVAL, "want 1..%d interfaces", FWD_TCS_MAX_IFS);
	if (!ops || !loop)
		return err_set(err, errlen, -EINVAL, "no netfilter driver");
	if (strlen(obj_path) >= PATH_MAX)
		return err_set(err, errlen, -ENAMETOOLONG, "object path too long");
	/* The object must have the program: open it once to see. */
	struct nsxdp_prog *probe;
	char e[256] = "";
	int r = nsxdp_open_tc(obj_path, &probe, e, sizeof(e));
	if (r < 0)
		return err_set(err, errlen, r, "%s", e);
	nsxdp_close(probe);
	struct fwd_tcs *t = calloc(1, sizeof(*t));
	if (!t || !(t->chans = calloc(GROUPS, sizeof(*t->chans)))) {
		free(t);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		unsigned idx = ifnames[i] ? if_nametoindex(ifnames[i]) : 0;
		if (!idx || strlen(ifnames[i]) >= IF_NAMESIZE) {
			r = err_set(err, errlen, -ENODEV, "no interface %s",
			            ifnames[i] ? ifnames[i] : "(null)");
			free(t->chans);
			free(t);
			return r;
		}
		snprintf(t->ifs[i].name, sizeof(t->ifs[i].name), "%s", ifnames[i]);
		t->ifs[i].ifindex = (int)idx;
	}
	/* An earlier netservd's program goes now, not at the first sampled
	 * module: its ring has no reader, and it costs every packet. */
	for (size_t i = 0; i < n; i++)
		if (nsxdp_tc_clear(t->ifs[i].ifindex) > 0)
			t->replaced++;
	t->n_ifs = n;
	t->loop = loop;
	snprintf(t->obj, sizeof(t->obj), "%s", obj_path);
	t->local_ops = ops;
	t->local = local;
	*ret = t;
	return 0;
}

struct fwd_tcs *fwd_tcs_free(struct fwd_tcs *t)
{
	if (!t)
		return NULL;
	detach_all(t);
	for (size_t g = 0; g < GROUPS; g++)
		sample_chan_close(t->chans[g]);
	free(t->chans);
	free(t->rules);
	free(t);
	return NULL;
}

int fwd_tcs_channel_open(struct fwd_tcs *t, uint16_t group, char *err, size_t errlen)
{
	struct sample_chan *c;
	fwd_tcs_channel_close(t, group);
	int r = sample_chan_open(&c);
	if (r < 0)
		return err_set(err, errlen, r, "a sample channel: %s", strerror(-r));
	t->chans[group] = c;
	return sample_chan_fd(c);
}

void fwd_tcs_channel_close(struct fwd_tcs *t, uint16_t group)
{
	sample_chan_close(t->chans[group]);
	t->chans[group] = NULL;
}

unsigned fwd_tcs_replaced(const struct fwd_tcs *t)
{
	return t->replaced;
}

void fwd_tcs_stats(const struct fwd_tcs *t, uint64_t *samples, uint64_t *lost)
{
	*samples = t->samples.handed;
	*lost = t->samples.lost;
}
