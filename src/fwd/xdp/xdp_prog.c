/* The XDP program on one interface, through libxdp and libbpf; or its tc
 * twin (netserv_tc) on the interface's clsact ingress, through libbpf. */
#include "fwd/xdp/xdp_prog.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xdp/libxdp.h>

/* Our tc filter's handle and priority on clsact ingress: one of ours left by
 * an earlier netservd is replaced, never doubled. */
#define TC_HANDLE 0x4e53 /* "NS" */
#define TC_PRIO   0x4e53

struct nsxdp_prog {
	struct xdp_program *prog;  /* the XDP program; NULL: the tc one */
	struct bpf_object *tc_obj; /* the tc program's object (nsxdp_open_tc) */
	bool tc_made_qdisc;        /* the clsact qdisc was made here */
	int ifindex;               /* 0: not attached */
	enum xdp_attach_mode mode;
	int rules_fd, config_fd, xsks_fd, counters_fd, hits_fd, samples_fd;
	int loaded_here; /* loaded by nsxdp_load (not by libxdp's attach) */
};

static const char *const counter_names[NETSERV_XDP_N_COUNTERS] = {
        [NETSERV_XDP_RX] = "rx",
        [NETSERV_XDP_MATCHED] = "matched",
        [NETSERV_XDP_REDIRECTED] = "redirected",
        [NETSERV_XDP_NO_SOCKET] = "no_socket",
        [NETSERV_XDP_NOT_FWD] = "not_forwarded",
        [NETSERV_XDP_PASSED] = "passed",
        [NETSERV_XDP_MALFORMED] = "malformed",
        [NETSERV_XDP_FRAGMENT] = "fragment",
        [NETSERV_XDP_EXTHDR] = "ipv6_exthdr",
        [NETSERV_XDP_OTHER] = "other",
        [NETSERV_XDP_SAMPLED] = "sampled",
        [NETSERV_XDP_SAMPLE_LOST] = "sample_lost",
        [NETSERV_XDP_UNSAMPLED] = "unsampled",
};

const char *nsxdp_counter_name(unsigned i)
{
	return i < NETSERV_XDP_N_COUNTERS ? counter_names[i] : "?";
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libxdp and libbpf print their own warnings (the dispatcher's fallback,
 * say) to stderr by default: keep them quiet; errors come back to us. */
static int quiet_xdp(enum libxdp_print_level l, const char *f, va_list ap)
{
	return 0;
}

static int quiet_bpf(enum libbpf_print_level l, const char *f, va_list ap)
{
	return 0;
}

/* Keeps libxdp and libbpf quiet unless NETSERV_XDP_DEBUG is set. */
static void quiet_libs(void)
{
	if (!getenv("NETSERV_XDP_DEBUG")) {
		libxdp_set_print(quiet_xdp);
		libbpf_set_print(quiet_bpf);
	}
}

int nsxdp_open(const char *obj_path, struct nsxdp_prog **ret, char *err, size_t errlen)
{
	quiet_libs();
	struct nsxdp_prog *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rules_fd = p->config_fd = p->xsks_fd = p->counters_fd = p->hits_fd = p->samples_fd = -1;
	p->prog = xdp_program__open_file(obj_path, "xdp", NULL);
	long e = libxdp_get_error(p->prog);
	if (e) {
		seterr(err, errlen, "opening %s: %s", obj_path, strerror((int)-e));
		free(p);
		return e < 0 ? (int)e : -EINVAL;
	}
	*ret = p;
	return 0;
}

int nsxdp_open_tc(const char *obj_path, struct nsxdp_prog **ret, char *err, size_t errlen)
{
	quiet_libs();
	struct nsxdp_prog *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->rules_fd = p->config_fd = p->xsks_fd = p->counters_fd = p->hits_fd = p->samples_fd = -1;
	p->tc_obj = bpf_object__open_file(obj_path, NULL);
	long e = libbpf_get_error(p->tc_obj);
	if (e) {
		seterr(err, errlen, "opening %s: %s", obj_path, strerror((int)-e));
		free(p);
		return e < 0 ? (int)e : -EINVAL;
	}
	/* Only the tc program is loaded from this object. */
	struct bpf_program *bp;
	bool found = false;
	bpf_object__for_each_program(bp, p->tc_obj)
	{
		bool tc = strcmp(bpf_program__name(bp), "netserv_tc") == 0;
		bpf_program__set_autoload(bp, tc);
		found |= tc;
	}
	if (!found) {
		seterr(err, errlen, "%s has no program netserv_tc", obj_path);
		bpf_object__close(p->tc_obj);
		free(p);
		return -ENOENT;
	}
	*ret = p;
	return 0;
}

static struct bpf_object *prog_obj(const struct nsxdp_prog *p)
{
	return p->tc_obj ? p->tc_obj : xdp_program__bpf_obj(p->prog);
}

static int find_maps(struct nsxdp_prog *p, char *err, size_t errlen)
{
	struct bpf_object *obj = prog_obj(p);
	const char *names[] = {"netserv_rules",    "netserv_config",    "netserv_xsks",
	                       "netserv_counters", "netserv_rule_hits", "netserv_samples"};
	int *fds[] = {&p->rules_fd,    &p->config_fd, &p->xsks_fd,
	              &p->counters_fd, &p->hits_fd,   &p->samples_fd};

	for (int i = 0; i < 6; i++) {
		*fds[i] = obj ? bpf_object__find_map_fd_by_name(obj, names[i]) : -ENOENT;
		if (*fds[i] < 0) {
			seterr(err, errlen, "the program has no map %s", names[i]);
			return -ENOENT;
		}
	}
	return 0;
}

int nsxdp_load(struct nsxdp_prog *p, char *err, size_t errlen)
{
	struct bpf_object *obj = prog_obj(p);
	if (!obj)
		return -EINVAL;
	int r = bpf_object__load(obj);
	if (r < 0) {
		seterr(err, errlen, "loading the %s program: %s", p->tc_obj ? "tc" : "XDP",
		       strerror(-r));
		return r;
	}
	p->loaded_here = 1;
	return find_maps(p, err, errlen);
}

static int tc_prog_fd(const struct nsxdp_prog *p)
{
	struct bpf_program *bp = bpf_object__find_program_by_name(p->tc_obj, "netserv_tc");
	return bp ? bpf_program__fd(bp) : -ENOENT;
}

/* Attaches the tc program (loaded by nsxdp_load) to ifindex's clsact ingress. */
static int attach_tc(struct nsxdp_prog *p, int ifindex, char *err, size_t errlen)
{
	char name[IF_NAMESIZE] = "?";
	if_indextoname((unsigned)ifindex, name);
	int r = p->rules_fd < 0 ? nsxdp_load(p, err, errlen) : 0;
	if (r < 0)
		return r;
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	r = bpf_tc_hook_create(&hook);
	if (r < 0 && r != -EEXIST) {
		seterr(err, errlen, "%s: making its clsact qdisc: %s", name, strerror(-r));
		return r;
	}
	p->tc_made_qdisc = r == 0;
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = TC_PRIO,
	                    .prog_fd = tc_prog_fd(p), .flags = BPF_TC_F_REPLACE);
	r = bpf_tc_attach(&hook, &o);
	if (r < 0) {
		seterr(err, errlen, "%s: attaching the tc program: %s", name, strerror(-r));
		if (p->tc_made_qdisc)
			bpf_tc_hook_destroy(&hook);
		p->tc_made_qdisc = false;
		return r;
	}
	p->ifindex = ifindex;
	return 0;
}

/* Takes whatever program is at our handle and priority off ifindex's clsact
 * ingress. Returns 0 or a negative errno. */
static int tc_detach_ours(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = TC_PRIO);
	return bpf_tc_detach(&hook, &o);
}

/* Takes the tc program off its interface: its filter, and the clsact qdisc if
 * it was made here; nothing if another instance has replaced the filter since
 * (a new netservd's). Returns 0 or a negative errno. */
static int detach_tc(struct nsxdp_prog *p)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = p->ifindex,
	                    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = TC_PRIO);
	struct bpf_prog_info info = {0};
	__u32 info_len = sizeof(info);
	int r = bpf_tc_query(&hook, &o);
	if (r == 0 && bpf_obj_get_info_by_fd(tc_prog_fd(p), &info, &info_len) == 0 &&
	    o.prog_id != info.id) {
		p->ifindex = 0;
		return 0; /* not ours any more */
	}
	r = tc_detach_ours(p->ifindex);
	if (p->tc_made_qdisc) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS; /* the whole clsact */
		int q = bpf_tc_hook_destroy(&hook);
		if (r == 0)
			r = q;
	}
	p->ifindex = 0;
	return r;
}

int nsxdp_tc_clear(int ifindex)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = TC_HANDLE, .priority = TC_PRIO);
	quiet_libs();
	int r = bpf_tc_query(&hook, &o);
	if (r == -ENOENT || r == -EINVAL) /* no filter there, or no clsact qdisc */
		return 0;
	if (r < 0)
		return r;
	r = tc_detach_ours(ifindex);
	return r < 0 ? r : 1;
}

int nsxdp_attach(struct nsxdp_prog *p, int ifindex, int allow_generic, char *err, size_t errlen)
{
	if (p->ifindex)
		return -EBUSY;
	if (p->tc_obj)
		return attach_tc(p, ifindex, err, errlen);
	enum xdp_attach_mode mode = XDP_MODE_NATIVE;
	int r = xdp_program__attach(p->prog, ifindex, mode, 0);
	if (r < 0 && allow_generic) {
		mode = XDP_MODE_SKB;
		r = xdp_program__attach(p->prog, ifindex, mode, 0);
	}
	if (r < 0) {
		char buf[128];
		libxdp_strerror(r, buf, sizeof(buf));
		seterr(err, errlen, "attaching XDP to ifindex %d: %s", ifindex, buf);
		return r;
	}
	p->ifindex = ifindex;
	p->mode = mode;
	r = find_maps(p, err, errlen);
	if (r < 0) {
		xdp_program__detach(p->prog, ifindex, mode, 0);
		p->ifindex = 0;
	}
	return r;
}

const char *nsxdp_mode(const struct nsxdp_prog *p)
{
	if (!p->ifindex)
		return "none";
	if (p->tc_obj)
		return "tc";
	return p->mode == XDP_MODE_NATIVE ? "native" : "generic";
}

int nsxdp_close(struct nsxdp_prog *p)
{
	int r = 0;

	if (!p)
		return 0;
	if (p->tc_obj) {
		if (p->ifindex)
			r = detach_tc(p);
		bpf_object__close(p->tc_obj);
		free(p);
		return r;
	}
	if (p->ifindex)
		r = xdp_program__detach(p->prog, p->ifindex, p->mode, 0);
	xdp_program__close(p->prog);
	free(p);
	return r;
}

int nsxdp_set_rules(struct nsxdp_prog *p, const struct netserv_xdp_rule *rules, size_t n)
{
	__u32 zero = 0;
	struct netserv_xdp_config cfg;

	if (n > NETSERV_XDP_MAX_RULES)
		return -E2BIG;
	if (p->rules_fd < 0)
		return -EBADF;
	if (bpf_map_lookup_elem(p->config_fd, &zero, &cfg) < 0)
		return -errno;
	/* Write the set the program does not read, then switch to it; its
	 * rules' hit counts start from zero. */
	__u32 next = cfg.active ? 0 : 1;
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	uint64_t *zero_hits = calloc((size_t)ncpu, sizeof(uint64_t));
	if (!zero_hits)
		return -ENOMEM;
	for (__u32 i = 0; i < n; i++) {
		__u32 key = next * NETSERV_XDP_MAX_RULES + i;
		if (bpf_map_update_elem(p->rules_fd, &key, &rules[i], BPF_ANY) < 0 ||
		    bpf_map_update_elem(p->hits_fd, &key, zero_hits, BPF_ANY) < 0) {
			int r = -errno;
			free(zero_hits);
			return r;
		}
	}
	free(zero_hits);
	cfg.n_rules[next] = (__u32)n;
	cfg.active = next;
	cfg.flags = 0;
	if (bpf_map_update_elem(p->config_fd, &zero, &cfg, BPF_ANY) < 0)
		return -errno;
	return 0;
}

int nsxdp_rule_hits(struct nsxdp_prog *p, uint32_t rule, uint64_t *ret)
{
	__u32 zero = 0;
	struct netserv_xdp_config cfg;

	if (rule >= NETSERV_XDP_MAX_RULES)
		return -EINVAL;
	if (p->hits_fd < 0)
		return -EBADF;
	if (bpf_map_lookup_elem(p->config_fd, &zero, &cfg) < 0)
		return -errno;
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	__u32 key = (cfg.active ? NETSERV_XDP_MAX_RULES : 0) + rule;
	int r = bpf_map_lookup_elem(p->hits_fd, &key, v) < 0 ? -errno : 0;
	*ret = 0;
	for (int c = 0; r == 0 && c < ncpu; c++)
		*ret += v[c];
	free(v);
	return r;
}

int nsxdp_samples_fd(const struct nsxdp_prog *p)
{
	return p->samples_fd;
}

int nsxdp_set_xsk(struct nsxdp_prog *p, uint32_t slot, int xsk_fd)
{
	if (p->xsks_fd < 0)
		return -EBADF;
	if (slot >= NETSERV_XDP_MAX_XSKS)
		return -EINVAL;
	return bpf_map_update_elem(p->xsks_fd, &slot, &xsk_fd, BPF_ANY) < 0 ? -errno : 0;
}

int nsxdp_clear_xsk(struct nsxdp_prog *p, uint32_t slot)
{
	if (p->xsks_fd < 0)
		return -EBADF;
	if (slot >= NETSERV_XDP_MAX_XSKS)
		return -EINVAL;
	return bpf_map_delete_elem(p->xsks_fd, &slot) < 0 ? -errno : 0;
}

int nsxdp_counters(struct nsxdp_prog *p, uint64_t out[NETSERV_XDP_N_COUNTERS])
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	if (p->counters_fd < 0)
		return -EBADF;
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (__u32 i = 0; i < NETSERV_XDP_N_COUNTERS; i++) {
		if (bpf_map_lookup_elem(p->counters_fd, &i, v) < 0) {
			int r = -errno;
			free(v);
			return r;
		}
		out[i] = 0;
		for (int c = 0; c < ncpu; c++)
			out[i] += v[c];
	}
	free(v);
	return 0;
}

int nsxdp_counters_reset(struct nsxdp_prog *p)
{
	int ncpu = libbpf_num_possible_cpus();
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	uint64_t *v = calloc((size_t)ncpu, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int r = 0;
	for (__u32 i = 0; i < NETSERV_XDP_N_COUNTERS && r == 0; i++)
		if (bpf_map_update_elem(p->counters_fd, &i, v, BPF_ANY) < 0)
			r = -errno;
	free(v);
	return r;
}

/* nsxdp_test_run for the tc program: an skb of the frame. */
static int test_run_tc(struct nsxdp_prog *p, const void *frame, uint32_t len, int ingress_ifindex)
{
	struct __sk_buff ctx = {.ingress_ifindex = (__u32)ingress_ifindex};
	unsigned char out[4096];
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
	                    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
	                    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int fd = tc_prog_fd(p);
	if (fd < 0)
		return -EBADF;
	if (bpf_prog_test_run_opts(fd, &o) < 0)
		return -errno;
	return (int)o.retval;
}

int nsxdp_test_run(struct nsxdp_prog *p, const void *frame, uint32_t len, int ingress_ifindex,
                   uint32_t rxq)
{
	if (p->tc_obj)
		return test_run_tc(p, frame, len, ingress_ifindex);
	struct xdp_md ctx = {.data = 0,
	                     .data_meta = 0,
	                     .data_end = len,
	                     .ingress_ifindex = (__u32)ingress_ifindex,
	                     .rx_queue_index = rxq};
	unsigned char out[4096];
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
	                    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
	                    .ctx_size_in = sizeof(ctx), .repeat = 1);
	int fd = xdp_program__fd(p->prog);
	if (fd < 0) { /* loaded by nsxdp_load: libbpf knows the fd */
		struct bpf_object *obj = xdp_program__bpf_obj(p->prog);
		struct bpf_program *bp = obj ? bpf_object__next_program(obj, NULL) : NULL;
		fd = bp ? bpf_program__fd(bp) : -1;
	}
	if (fd < 0)
		return -EBADF;
	if (bpf_prog_test_run_opts(fd, &o) < 0)
		return -errno;
	return (int)o.retval;
}
