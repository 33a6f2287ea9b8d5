/* The AF_XDP forwarding-plane driver (see fwd_xdp.h). */
#include "fwd/xdp/fwd_xdp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xdp/libxdp.h>

#include "fwd/xdp/xdp_prog.h"
#include "fwd/xdp/xdp_rule.h"
#include "fwd/xdp/sample_chan.h"
#include "fwd/xdp/xdp_sample.h"
#include "fwd/xdp/xsk.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/log.h"

#define RULE_ID_MAX  FWD_RULE_ID_MAX
#define PROG_NAME    "netserv_xdp" /* the program's function name */
#define ETH_HLEN_XDP 14            /* the samples are frames; modules get IP packets */

struct xrule {
	char id[RULE_ID_MAX + 1];
	struct ncm_filter filters[NCM_MAX_FILTERS];
	size_t n;
	uint32_t slot;
	bool noslot;    /* its queue has no XSKMAP slot (the GIST rule): the delegate's */
	unsigned queue; /* filter_add's queue (the delegate's rule) */
	uint32_t sample_every, sample_bytes; /* > 0: a sampling rule */
	uint32_t sample_asked;               /* sample_add's bytes (the delegate's rule) */
	uint16_t group;
	char tag[FWD_SAMPLE_TAG_MAX + 1];
};

/* What a program rule (by its index in the set written last) belongs to,
 * for the samples it copies. */
struct xrule_at {
	uint32_t slot;
	uint16_t group;
	char tag[FWD_SAMPLE_TAG_MAX + 1];
};

/* One interface's socket of a slot, and what the watchdog knows of it. */
struct xsock {
	struct nsxsk *xsk;
	bool in_map;          /* in the XSKMAP now */
	uint32_t last_cons;   /* the consumer index at the last look */
	uint64_t stalled_at;  /* when frames waited with the consumer still; 0: not */
	uint64_t stall_count; /* times the watchdog emptied the slot */
};

struct xslot {
	struct xsock s[FWD_XDP_MAX_IFS];
	/* Its sockets are in the XSKMAP (fwd_xdp_arm_slot: the container is
	 * ready to drain them); until then its frames go to the kernel and the
	 * watchdog leaves the slot alone. */
	bool armed;
	/* The sample channel (sample_chan.h): the container reads the
	 * samples of the slot's sampling rules on it as NFLOG messages, as on
	 * the netfilter plane; NULL: none. */
	struct sample_chan *chan;
};

struct xif {
	char name[IF_NAMESIZE];
	int ifindex;
	struct nsxdp_prog *prog;
};

struct fwd_xdp {
	struct xif ifs[FWD_XDP_MAX_IFS];
	struct nsxdp_sampler *samplers[FWD_XDP_MAX_IFS];
	struct xrule_at at[NETSERV_XDP_MAX_RULES];
	size_t n_at;
	struct sample_counts samples;
	size_t n_ifs;
	uint32_t slot_base;
	struct xrule *rules;
	size_t n_rules;
	struct xslot *slots[NETSERV_XDP_MAX_XSKS];
	bool busy[NETSERV_XDP_MAX_XSKS]; /* the kernel refused the slot's sockets (-EBUSY) */
	uint64_t closed_at[NETSERV_XDP_MAX_XSKS]; /* when its sockets were last closed (ms) */
	struct evloop *loop;
	struct evloop_timer *timer;
	uint32_t period_ms, stall_ms;
	uint64_t stalls;
	/* The netfilter driver beside the plane (fwd_xdp_set_local), or NULL:
	 * it serves the rules of queues without a slot and of busy slots. */
	const struct fwd_ops *local_ops;
	void *local;
};

static bool on_local(const struct fwd_xdp *x, const struct xrule *r)
{
	return x->local_ops && (r->noslot || x->busy[r->slot]);
}

/* Installs rule r in the delegate. Returns 0 or a negative errno. */
static int local_add(struct fwd_xdp *x, const struct xrule *r, char *err, size_t errlen)
{
	if (!r->sample_every)
		return x->local_ops->filter_add(x->local, r->id, r->filters, r->n, r->queue, err,
		                                errlen);
	if (!x->local_ops->sample_add)
		return err_set(err, errlen, -ENOTSUP, "the netfilter driver cannot sample");
	struct fwd_sample smp = {.every = r->sample_every,
	                         .bytes = r->sample_asked,
	                         .group = r->group,
	                         .tag = r->tag};
	return x->local_ops->sample_add(x->local, r->id, r->filters, r->n, &smp, err, errlen);
}

/* ---- attaching ------------------------------------------------------------ */

/* Detaches a program of ours that is already on the interface (an earlier
 * netservd's). Returns 1 if it did, 0 if there was none, -EBUSY when a
 * foreign program holds the interface alone, or another negative errno. */
static int replace_ours(const struct xif *xi, char *err, size_t errlen)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(xi->ifindex);
	long e = libxdp_get_error(mp);
	int r = 0;

	if (e || !mp)
		return 0; /* nothing attached (-ENOENT) or unreadable: attaching says */
	if (xdp_multiprog__is_legacy(mp)) {
		struct xdp_program *main = xdp_multiprog__main_prog(mp);
		const char *name = main ? xdp_program__name(main) : "";
		if (name && strcmp(name, PROG_NAME) == 0) {
			r = xdp_multiprog__detach(mp);
			r = r < 0 ? err_set(err, errlen, r, "%s: detaching the old program: %s",
			                    xi->name, strerror(-r))
			          : 1;
		} else {
			r = err_set(err, errlen, -EBUSY,
			            "%s: another XDP program (%s) is attached; netservd does not "
			            "replace programs that are not its own",
			            xi->name, name ? name : "?");
		}
	} else {
		enum xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
		for (struct xdp_program *p = xdp_multiprog__next_prog(NULL, mp); p;
		     p = xdp_multiprog__next_prog(p, mp)) {
			if (strcmp(xdp_program__name(p), PROG_NAME) != 0)
				continue;
			int d = xdp_program__detach(p, xi->ifindex, mode, 0);
			if (d < 0) {
				r = err_set(err, errlen, d, "%s: detaching the old program: %s",
				            xi->name, strerror(-d));
				break;
			}
			r = 1;
		}
	}
	xdp_multiprog__close(mp);
	return r;
}

int fwd_xdp_new(const char *obj_path, const char *const *ifnames, size_t n, uint32_t slot_base,
                struct fwd_xdp **ret, unsigned *ret_replaced, char *err, size_t errlen)
{
	unsigned replaced = 0;
	int r;

	if (n == 0 || n > FWD_XDP_MAX_IFS)
		return err_set(err, errlen, -EINVAL, "want 1..%d interfaces", FWD_XDP_MAX_IFS);
	struct fwd_xdp *x = calloc(1, sizeof(*x));
	if (!x)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	x->slot_base = slot_base;
	for (size_t i = 0; i < n; i++) {
		struct xif *xi = &x->ifs[i];
		snprintf(xi->name, sizeof(xi->name), "%s", ifnames[i]);
		xi->ifindex = (int)if_nametoindex(ifnames[i]);
		if (!xi->ifindex) {
			r = err_set(err, errlen, -ENODEV, "no interface %s", ifnames[i]);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (x->ifs[j].ifindex == xi->ifindex) {
				r = err_set(err, errlen, -EINVAL, "interface %s listed twice",
				            ifnames[i]);
				goto fail;
			}
		if ((r = replace_ours(xi, err, errlen)) < 0)
			goto fail;
		replaced += (unsigned)r;
		char e[256];
		if ((r = nsxdp_open(obj_path, &xi->prog, e, sizeof(e))) < 0 ||
		    (r = nsxdp_attach(xi->prog, xi->ifindex, 1, e, sizeof(e))) < 0) {
			err_set(err, errlen, r, "%s: %s", xi->name, e);
			goto fail;
		}
		x->n_ifs = i + 1;
	}
	if (ret_replaced)
		*ret_replaced = replaced;
	*ret = x;
	return 0;
fail:
	fwd_xdp_free(x);
	return r;
}

static void slot_free(struct fwd_xdp *x, uint32_t slot)
{
	struct xslot *s = x->slots[slot];
	if (!s)
		return;
	for (size_t i = 0; i < x->n_ifs; i++) {
		if (s->s[i].in_map)
			nsxdp_clear_xsk(x->ifs[i].prog, slot);
		nsxsk_close(s->s[i].xsk);
	}
	sample_chan_close(s->chan);
	free(s);
	x->slots[slot] = NULL;
	x->closed_at[slot] = evloop_now_ms();
}

/* The kernel releases a closed socket's hold on its device queue a little
 * later (deferred work): a socket made again for the same queue right after
 * may see -EBUSY for some milliseconds. */
#define REOPEN_WINDOW_MS 1000
#define REOPEN_WAIT_MS   250

static int open_socket(struct fwd_xdp *x, uint32_t slot, const char *ifname, struct nsxsk **ret,
                       char *err, size_t errlen)
{
	uint64_t start = evloop_now_ms();
	bool recent = x->closed_at[slot] && start - x->closed_at[slot] < REOPEN_WINDOW_MS;
	for (;;) {
		int r = nsxsk_open(ifname, 0, ret, err, errlen);
		if (r != -EBUSY || !recent || evloop_now_ms() - start >= REOPEN_WAIT_MS)
			return r;
		poll(NULL, 0, 5);
	}
}

void fwd_xdp_set_local(struct fwd_xdp *x, const struct fwd_ops *ops, void *local)
{
	x->local_ops = ops;
	x->local = ops ? local : NULL;
}

struct fwd_xdp *fwd_xdp_free(struct fwd_xdp *x)
{
	if (!x)
		return NULL;
	evloop_timer_cancel(x->loop, x->timer);
	for (size_t i = 0; i < FWD_XDP_MAX_IFS; i++) {
		if (x->samplers[i] && x->loop)
			evloop_del_fd(x->loop, nsxdp_sampler_fd(x->samplers[i]));
		nsxdp_sampler_close(x->samplers[i]);
	}
	for (uint32_t k = 0; k < NETSERV_XDP_MAX_XSKS; k++)
		slot_free(x, k);
	for (size_t i = 0; i < FWD_XDP_MAX_IFS; i++) {
		if (!x->ifs[i].prog)
			continue;
		int r = nsxdp_close(x->ifs[i].prog);
		if (r < 0)
			log_warn("xdp: detaching from %s: %s", x->ifs[i].name, strerror(-r));
	}
	free(x->rules);
	free(x);
	return NULL;
}

/* ---- sockets -------------------------------------------------------------- */

static int push_rules(struct fwd_xdp *x, const struct xrule *rules, size_t n_rules, char *err,
                      size_t errlen);

/* The slot's sockets were refused because another publisher holds the device
 * queue (busy), or were made: with a delegate, a slot's rules move to it
 * while the slot is busy, and back to the program when it gets sockets.
 * Returns 0, or a negative errno with the reason in err when the delegate
 * refused one of the rules: then none of them went there (those that did
 * are taken back) and the slot is not busy, its rules still the program's. */
static int set_busy(struct fwd_xdp *x, uint32_t slot, bool busy, char *err, size_t errlen)
{
	char e[256];
	int r;

	if (x->busy[slot] == busy)
		return 0;
	if (!x->local_ops) {
		x->busy[slot] = busy;
		return 0;
	}
	if (busy) /* the delegate first: the program keeps the frames meanwhile */
		for (size_t k = 0; k < x->n_rules; k++) {
			if (x->rules[k].noslot || x->rules[k].slot != slot)
				continue;
			if ((r = local_add(x, &x->rules[k], e, sizeof(e))) < 0) {
				for (size_t j = 0; j < k; j++)
					if (!x->rules[j].noslot && x->rules[j].slot == slot)
						x->local_ops->filter_remove(x->local,
						                            x->rules[j].id);
				return err_set(err, errlen, r,
				               "another publisher holds the device queue, and the "
				               "netfilter driver refused rule %s: %s",
				               x->rules[k].id, e);
			}
		}
	x->busy[slot] = busy;
	if ((r = push_rules(x, x->rules, x->n_rules, e, sizeof(e))) < 0)
		log_warn("xdp: slot %u: writing the rules: %s", slot, e);
	if (!busy)
		for (size_t k = 0; k < x->n_rules; k++)
			if (!x->rules[k].noslot && x->rules[k].slot == slot)
				x->local_ops->filter_remove(x->local, x->rules[k].id);
	log_notice("xdp: slot %u: its rules go to %s", slot,
	           busy ? "netfilter (NFQUEUE: another publisher holds the device queue)"
	                : "the XDP program (AF_XDP)");
	return 0;
}

static int slot_of(const struct fwd_xdp *x, unsigned queue, uint32_t *ret)
{
	unsigned q = FWD_QUEUE_FIRST(queue);
	if (q < x->slot_base || q - x->slot_base >= NETSERV_XDP_MAX_XSKS)
		return -ERANGE;
	*ret = q - x->slot_base;
	return 0;
}

int fwd_xdp_open_slot(struct fwd_xdp *x, unsigned queue, int *fds, int *ifindexes, size_t max,
                      char *err, size_t errlen)
{
	uint32_t slot;
	int r;

	if (slot_of(x, queue, &slot) < 0)
		return err_set(err, errlen, -ERANGE,
		               "queue %u has no XSKMAP slot (slots are queue_base .. + %d)", queue,
		               NETSERV_XDP_MAX_XSKS - 1);
	if (max < x->n_ifs)
		return err_set(err, errlen, -ENOSPC, "room for %zu sockets, %zu interfaces", max,
		               x->n_ifs);
	slot_free(x, slot);
	struct xslot *s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	x->slots[slot] = s;
	const char *failed = ""; /* the interface whose socket failed */
	for (size_t i = 0; i < x->n_ifs; i++) {
		char e[256];
		if ((r = open_socket(x, slot, x->ifs[i].name, &s->s[i].xsk, e, sizeof(e))) < 0) {
			failed = x->ifs[i].name;
			err_set(err, errlen, r, "%s%s", e,
			        r == -ENOBUFS ? " (a UMEM is pinned memory: netservd needs "
			                        "CAP_IPC_LOCK or a higher RLIMIT_MEMLOCK)"
			                      : "");
			goto fail;
		}
		fds[2 * i] = nsxsk_fd(s->s[i].xsk);
		fds[2 * i + 1] = nsxsk_umem_fd(s->s[i].xsk);
		ifindexes[i] = x->ifs[i].ifindex;
	}
	fds[2 * x->n_ifs] = -1;
	if ((r = sample_chan_open(&s->chan)) < 0)
		log_warn("xdp: slot %u: no sample channel (sampled modules will not install): %s",
		         slot, strerror(-r));
	else
		fds[2 * x->n_ifs] = sample_chan_fd(s->chan);
	set_busy(x, slot, false, NULL, 0); /* to the program: nothing to refuse */
	return (int)x->n_ifs;
fail:;
	uint64_t closed = x->closed_at[slot];
	slot_free(x, slot);
	x->closed_at[slot] = closed; /* no socket of this try held the queue */
	/* Busy: another publisher's sockets hold the device queue. An -EBUSY
	 * with no other slot open is the kernel still releasing this slot's
	 * old sockets (or a process outside netservd): the rules stay with the
	 * program, fail-open, as for any other failure. */
	bool other = false;
	for (uint32_t k = 0; k < NETSERV_XDP_MAX_XSKS && !other; k++)
		other = k != slot && x->slots[k];
	if (r == -EBUSY && other) {
		int b = set_busy(x, slot, true, err, errlen);
		if (b < 0)
			return b; /* its rules stay with the program (fail-open) */
	} else {
		set_busy(x, slot, false, NULL, 0);
	}
	if (r == -EBUSY && !other) /* the kernel's "busy" would say another publisher */
		r = err_set(err, errlen, -EAGAIN,
		            "%s: its device queue is held, but by no other publisher's sockets "
		            "(the kernel may still be releasing this slot's old ones)",
		            failed);
	return r;
}

int fwd_xdp_arm_slot(struct fwd_xdp *x, unsigned queue, char *err, size_t errlen)
{
	uint32_t slot;
	if (slot_of(x, queue, &slot) < 0 || !x->slots[slot])
		return err_set(err, errlen, -ENOENT, "queue %u has no sockets", queue);
	struct xslot *s = x->slots[slot];
	if (s->armed)
		return 0;
	for (size_t i = 0; i < x->n_ifs; i++) {
		int r = nsxdp_set_xsk(x->ifs[i].prog, slot, nsxsk_fd(s->s[i].xsk));
		if (r < 0) {
			/* All or none: what went in comes out (fail-open). */
			for (size_t k = 0; k < i; k++) {
				nsxdp_clear_xsk(x->ifs[k].prog, slot);
				s->s[k].in_map = false;
			}
			return err_set(err, errlen, r, "%s: XSKMAP slot %u: %s", x->ifs[i].name,
			               slot, strerror(-r));
		}
		uint32_t prod;
		s->s[i].in_map = true;
		s->s[i].stalled_at = 0;
		nsxsk_rx_ring_state(s->s[i].xsk, &prod, &s->s[i].last_cons);
	}
	s->armed = true;
	return 0;
}

void fwd_xdp_close_slot(struct fwd_xdp *x, unsigned queue)
{
	uint32_t slot, waiting = 0;
	if (slot_of(x, queue, &slot) < 0 || !x->slots[slot])
		return;
	for (size_t i = 0; i < x->n_ifs; i++) {
		uint32_t prod, cons;
		if (!x->slots[slot]->s[i].xsk)
			continue;
		nsxsk_rx_ring_state(x->slots[slot]->s[i].xsk, &prod, &cons);
		waiting += prod - cons;
	}
	slot_free(x, slot);
	log_notice("xdp: slot %u emptied (its container is gone): its traffic goes to the kernel; "
	           "%u frames were waiting in its receive rings (lost)",
	           slot, waiting);
}

/* ---- samples --------------------------------------------------------------- */

/* One sample from a program's ring, to its owner's channel, tagged with the
 * module id. */
static void on_xdp_sample(void *ctx, const struct netserv_xdp_sample *smp)
{
	struct fwd_xdp *x = ctx;
	const struct xrule_at *at = smp->rule < x->n_at ? &x->at[smp->rule] : NULL;
	struct xslot *s = at ? x->slots[at->slot] : NULL;
	if (!at)
		x->samples.lost++;
	else
		sample_chan_deliver(s ? s->chan : NULL, smp, at->group, at->tag, &x->samples);
}

static void read_samples(struct fwd_xdp *x)
{
	for (size_t i = 0; i < x->n_ifs; i++)
		if (x->samplers[i])
			nsxdp_sampler_poll(x->samplers[i], 0);
	for (uint32_t k = 0; k < NETSERV_XDP_MAX_XSKS; k++)
		if (x->slots[k])
			sample_chan_send(x->slots[k]->chan, &x->samples);
}

static void on_samples_readable(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	(void)loop;
	(void)fd;
	(void)events;
	read_samples(ctx);
}

/* ---- the watchdog --------------------------------------------------------- */

static void watch_socket(struct fwd_xdp *x, size_t i, uint32_t slot, struct xsock *xs, uint64_t now)
{
	uint32_t prod, cons;

	nsxsk_rx_ring_state(xs->xsk, &prod, &cons);
	if (xs->in_map) {
		if (prod != cons && cons == xs->last_cons) {
			if (!xs->stalled_at)
				xs->stalled_at = now;
			else if (now - xs->stalled_at >= x->stall_ms &&
			         nsxdp_clear_xsk(x->ifs[i].prog, slot) == 0) {
				xs->in_map = false;
				xs->stall_count++;
				x->stalls++;
				log_warn("xdp: slot %u on %s: %u frames wait and the container has "
				         "read none for %llu ms: its traffic goes to the kernel "
				         "until "
				         "it drains",
				         slot, x->ifs[i].name, prod - cons,
				         (unsigned long long)(now - xs->stalled_at));
			}
		} else {
			xs->stalled_at = 0;
		}
	} else if (prod == cons && nsxdp_set_xsk(x->ifs[i].prog, slot, nsxsk_fd(xs->xsk)) == 0) {
		xs->in_map = true;
		xs->stalled_at = 0;
		log_notice("xdp: slot %u on %s drained: its traffic goes to the container again",
		           slot, x->ifs[i].name);
	}
	xs->last_cons = cons;
}

static void on_watchdog(struct evloop *loop, void *ctx)
{
	struct fwd_xdp *x = ctx;
	uint64_t now = evloop_now_ms();

	x->timer = NULL;
	read_samples(x); /* the last few, which do not wake the reader */
	for (uint32_t k = 0; k < NETSERV_XDP_MAX_XSKS; k++) {
		if (!x->slots[k] || !x->slots[k]->armed)
			continue;
		for (size_t i = 0; i < x->n_ifs; i++)
			if (x->slots[k]->s[i].xsk)
				watch_socket(x, i, k, &x->slots[k]->s[i], now);
	}
	x->timer = evloop_timer_add(loop, x->period_ms, on_watchdog, x);
}

int fwd_xdp_watchdog_start(struct fwd_xdp *x, struct evloop *loop, uint32_t period_ms,
                           uint32_t stall_ms)
{
	x->loop = loop;
	x->period_ms = period_ms ? period_ms : 10;
	x->stall_ms = stall_ms;
	for (size_t i = 0; i < x->n_ifs; i++) {
		int r = nsxdp_sampler_open(x->ifs[i].prog, on_xdp_sample, x, &x->samplers[i]);
		if (r < 0) {
			log_warn("xdp: %s: no samples reader (sampled modules get nothing): %s",
			         x->ifs[i].name, strerror(-r));
			continue;
		}
		r = evloop_add_fd(loop, nsxdp_sampler_fd(x->samplers[i]), EPOLLIN,
		                  on_samples_readable, x);
		if (r < 0)
			log_warn("xdp: %s: watching the samples ring: %s (read on the timer)",
			         x->ifs[i].name, strerror(-r));
	}
	x->timer = evloop_timer_add(loop, x->period_ms, on_watchdog, x);
	return x->timer ? 0 : -ENOMEM;
}

uint64_t fwd_xdp_stalls(const struct fwd_xdp *x)
{
	return x->stalls;
}

/* ---- the fwd_ops ---------------------------------------------------------- */

/* Writes every rule to every interface's program. */
static int push_rules(struct fwd_xdp *x, const struct xrule *rules, size_t n_rules, char *err,
                      size_t errlen)
{
	struct netserv_xdp_rule out[NETSERV_XDP_MAX_RULES];
	struct xrule_at at[NETSERV_XDP_MAX_RULES];
	size_t n = 0;
	int r;

	/* Sampling rules first: they do not end the program's scan, so a
	 * redirecting rule after them still takes the frames they sample. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < n_rules; k++) {
			if ((rules[k].sample_every == 0) != (pass == 1) || on_local(x, &rules[k]))
				continue;
			for (size_t j = 0; j < rules[k].n; j++) {
				if (n == NETSERV_XDP_MAX_RULES)
					return err_set(err, errlen, -ENOSPC,
					               "the XDP program holds at most %d filters",
					               NETSERV_XDP_MAX_RULES);
				if (rules[k].sample_every)
					r = nsxdp_rule_sampling(&rules[k].filters[j],
					                        rules[k].sample_every,
					                        rules[k].sample_bytes, &out[n]);
				else
					r = nsxdp_rule_from_filter(&rules[k].filters[j],
					                           rules[k].slot, 1, &out[n]);
				at[n].slot = rules[k].slot;
				at[n].group = rules[k].group;
				snprintf(at[n].tag, sizeof(at[n].tag), "%s", rules[k].tag);
				if (r < 0)
					return err_set(err, errlen, r,
					               "filter %zu of %s: not a valid filter",
					               j + 1, rules[k].id);
				n++;
			}
		}
	for (size_t i = 0; i < x->n_ifs; i++)
		if ((r = nsxdp_set_rules(x->ifs[i].prog, out, n)) < 0)
			return err_set(err, errlen, r, "%s: writing the rules: %s", x->ifs[i].name,
			               strerror(-r));
	memcpy(x->at, at, n * sizeof(*at));
	x->n_at = n;
	return 0;
}

static ssize_t find_rule(const struct fwd_xdp *x, const char *id)
{
	for (size_t k = 0; k < x->n_rules; k++)
		if (strcmp(x->rules[k].id, id) == 0)
			return (ssize_t)k;
	return -1;
}

static int rules_add(struct fwd_xdp *x, const char *rule_id, const struct ncm_filter *filters,
                     size_t n, unsigned queue, const struct fwd_sample *smp, char *err,
                     size_t errlen)
{
	struct xrule nr = {0};
	uint32_t slot;
	int r;

	if (!fwd_rule_id_valid(rule_id))
		return err_set(err, errlen, -EINVAL, "bad rule id");
	if (!filters || n == 0 || n > NCM_MAX_FILTERS)
		return err_set(err, errlen, -EINVAL, "want 1..%d filters", NCM_MAX_FILTERS);
	if (slot_of(x, queue, &slot) < 0) {
		if (!x->local_ops)
			return err_set(err, errlen, -ENOTSUP,
			               "queue %u has no XSKMAP slot, and no netfilter driver "
			               "beside the AF_XDP plane serves it",
			               FWD_QUEUE_FIRST(queue));
		nr.noslot = true;
		slot = 0;
	} else if (x->busy[slot] && !x->local_ops) {
		return err_set(err, errlen, -EBUSY,
		               "the publisher's container has no AF_XDP sockets (the kernel binds "
		               "one per device queue) and no netfilter driver is beside the "
		               "AF_XDP plane");
	}
	snprintf(nr.id, sizeof(nr.id), "%s", rule_id);
	memcpy(nr.filters, filters, n * sizeof(*filters));
	nr.n = n;
	nr.slot = slot;
	nr.queue = queue;
	if (smp) {
		if (smp->every == 0 || smp->bytes == 0 || !smp->tag || !*smp->tag ||
		    strlen(smp->tag) > FWD_SAMPLE_TAG_MAX)
			return err_set(err, errlen, -EINVAL, "bad sample (1/%u, %u bytes)",
			               smp->every, smp->bytes);
		nr.sample_every = smp->every;
		nr.sample_asked = smp->bytes;
		/* The program copies frames: the Ethernet header and then the
		 * module's bytes, at most NETSERV_XDP_SNAP_MAX in all. */
		nr.sample_bytes = smp->bytes > NETSERV_XDP_SNAP_MAX - ETH_HLEN_XDP
		                          ? NETSERV_XDP_SNAP_MAX
		                          : smp->bytes + ETH_HLEN_XDP;
		nr.group = smp->group;
		snprintf(nr.tag, sizeof(nr.tag), "%s", smp->tag);
		if (!on_local(x, &nr) && (!x->slots[slot] || !x->slots[slot]->chan))
			return err_set(err, errlen, -ENOENT,
			               "the publisher's container has no sample channel");
	}

	/* The new list: the old one with this id replaced or appended. */
	ssize_t at = find_rule(x, rule_id);
	size_t cnt = x->n_rules + (at < 0);
	struct xrule *list = malloc(cnt * sizeof(*list));
	if (!list)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	if (x->n_rules)
		memcpy(list, x->rules, x->n_rules * sizeof(*list));
	list[at < 0 ? (ssize_t)x->n_rules : at] = nr;
	bool was_local = at >= 0 && on_local(x, &x->rules[at]), local = on_local(x, &nr);
	if (local && (r = local_add(x, &nr, err, errlen)) < 0) {
		free(list);
		return r;
	}
	if ((r = push_rules(x, list, cnt, err, errlen)) < 0) {
		free(list);
		push_rules(x, x->rules, x->n_rules, NULL, 0); /* all or none */
		if (local && !was_local)
			x->local_ops->filter_remove(x->local, rule_id);
		else if (local) { /* the delegate's old rule back */
			char e[256];
			local_add(x, &x->rules[at], e, sizeof(e));
		}
		return r;
	}
	if (was_local && !local)
		x->local_ops->filter_remove(x->local, rule_id);
	free(x->rules);
	x->rules = list;
	x->n_rules = cnt;
	return 0;
}

static int xdp_filter_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                          size_t n, unsigned queue, char *err, size_t errlen)
{
	return rules_add(fwd, rule_id, filters, n, queue, NULL, err, errlen);
}

/* Sampling rules: the program copies one frame in `every` to its samples
 * ring and passes them all on; netservd reads the rings (on_xdp_sample) and
 * hands the copies to the owner's container on its sample channel. */
static int xdp_sample_add(void *fwd, const char *rule_id, const struct ncm_filter *filters,
                          size_t n, const struct fwd_sample *sample, char *err, size_t errlen)
{
	if (!sample)
		return err_set(err, errlen, -EINVAL, "no sample");
	return rules_add(fwd, rule_id, filters, n, sample->group, sample, err, errlen);
}

static int xdp_filter_remove(void *fwd, const char *rule_id)
{
	struct fwd_xdp *x = fwd;
	ssize_t at = fwd_rule_id_valid(rule_id) ? find_rule(x, rule_id) : -1;

	if (at < 0)
		return -ENOENT;
	if (on_local(x, &x->rules[at]))
		x->local_ops->filter_remove(x->local, rule_id);
	memmove(&x->rules[at], &x->rules[at + 1],
	        (x->n_rules - (size_t)at - 1) * sizeof(*x->rules));
	x->n_rules--;
	return push_rules(x, x->rules, x->n_rules, NULL, 0);
}

static int xdp_flush(void *fwd, char *err, size_t errlen)
{
	struct fwd_xdp *x = fwd;
	int r = 0;
	x->n_rules = 0;
	if (x->local_ops)
		r = x->local_ops->flush(x->local, err, errlen);
	int p = push_rules(x, NULL, 0, err, errlen);
	return r < 0 ? r : p;
}

static int xdp_describe(void *fwd, char *buf, size_t len)
{
	struct fwd_xdp *x = fwd;
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < x->n_ifs && off < len; i++) {
		int k = snprintf(buf + off, len - off, "%s%s %s", i ? ", " : "", x->ifs[i].name,
		                 nsxdp_mode(x->ifs[i].prog));
		if (k < 0)
			return -EIO;
		off += (size_t)k;
	}
	if (off < len) {
		int k = snprintf(buf + off, len - off, "; rules:");
		off += k > 0 ? (size_t)k : 0;
	}
	for (size_t j = 0; j < x->n_rules && off < len; j++) {
		int k = snprintf(buf + off, len - off, "%s %s", j ? "," : "", x->rules[j].id);
		off += k > 0 ? (size_t)k : 0;
		if (x->rules[j].n > 1 && off < len) {
			k = snprintf(buf + off, len - off, " (%zu filters)", x->rules[j].n);
			off += k > 0 ? (size_t)k : 0;
		}
	}
	/* Which path each publisher's traffic takes (by its slot: the user of
	 * its first rule), and the rules of queues without a slot. */
	for (size_t j = 0; j < x->n_rules && off < len; j++) {
		const struct xrule *r = &x->rules[j];
		bool seen = false;
		for (size_t i = 0; i < j && !seen; i++)
			seen = !r->noslot && !x->rules[i].noslot && x->rules[i].slot == r->slot;
		if (seen)
			continue;
		const char *path = on_local(x, r)             ? "nfqueue"
		                   : !x->slots[r->slot]       ? "no socket"
		                   : x->slots[r->slot]->armed ? "af_xdp"
		                                              : "starting";
		const char *slash = strchr(r->id, '/');
		int idlen = r->noslot || !slash ? (int)strlen(r->id) : (int)(slash - r->id);
		int k = snprintf(buf + off, len - off, "%s%.*s %s", j ? ", " : "; paths: ", idlen,
		                 r->id, path);
		off += k > 0 ? (size_t)k : 0;
	}
	if (off < len)
		snprintf(buf + off, len - off, "; stalls %llu; samples %llu, lost %llu",
		         (unsigned long long)x->stalls, (unsigned long long)x->samples.handed,
		         (unsigned long long)x->samples.lost);
	return 0;
}

const struct fwd_ops fwd_xdp_ops = {
        .name = "xdp",
        .filter_add = xdp_filter_add,
        .sample_add = xdp_sample_add,
        .filter_remove = xdp_filter_remove,
        .flush = xdp_flush,
        .describe = xdp_describe,
};
