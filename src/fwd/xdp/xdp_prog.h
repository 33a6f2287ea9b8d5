/* The XDP program of the AF_XDP plane on one interface: loading it with
 * libxdp (so that it can share the interface with other XDP programs where
 * libxdp's dispatcher works), its rules, its XSKMAP slots, its counters.
 * One instance per interface: each has maps of its own. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "fwd/xdp/xdp_abi.h"

struct nsxdp_prog;

/* Opens the program's object file (netserv_xdp.bpf.o) without loading it.
 * Returns 0 and *ret, or a negative errno with the reason in err. */
int nsxdp_open(const char *obj_path, struct nsxdp_prog **ret, char *err, size_t errlen);

/* Opens the object's tc program instead (netserv_tc, the netfilter plane's
 * sampler: sampling rules only, every frame passed on); the calls below then
 * act on it: nsxdp_attach puts it on the interface's clsact ingress (making
 * the qdisc if there is none, replacing a filter of ours left there; ignores
 * allow_generic), nsxdp_mode says "tc", nsxdp_close takes it off (and the
 * qdisc if made here; neither if another instance has replaced it since), nsxdp_test_run runs it on
 * an skb (a TC_ACT_*), and the XSKMAP calls are for the XDP program only. Returns 0 and *ret, or a
 * negative errno with the reason in err. */
int nsxdp_open_tc(const char *obj_path, struct nsxdp_prog **ret, char *err, size_t errlen);

/* Takes a tc program of ours (an earlier netservd's, at our handle and
 * priority) off the interface's clsact ingress. Returns 1 if there was one,
 * 0 if not, or a negative errno. */
int nsxdp_tc_clear(int ifindex);

/* Loads the program into the kernel without attaching it (for test runs).
 * Returns 0 or a negative errno with the reason in err. */
int nsxdp_load(struct nsxdp_prog *p, char *err, size_t errlen);

/* Attaches the program to the interface: native XDP, or generic (skb) mode
 * when the driver has no native XDP and `allow_generic` is set. Returns 0 or
 * a negative errno with the reason in err. */
int nsxdp_attach(struct nsxdp_prog *p, int ifindex, int allow_generic, char *err, size_t errlen);

/* The mode in use: "native", "generic" or "none" (not attached). */
const char *nsxdp_mode(const struct nsxdp_prog *p);

/* Detaches (if attached) and frees. Returns 0 or the detach's negative errno;
 * p is freed either way. NULL is a no-op. */
int nsxdp_close(struct nsxdp_prog *p);

/* Replaces the rules: rules[0..n) matched in order (n <= NETSERV_XDP_MAX_RULES),
 * written into the set the program does not use and switched to at once: a
 * frame sees the old rules or the new ones. Not for concurrent callers; two
 * replacements must be further apart than one frame's matching (they are:
 * microseconds). Returns 0 or a negative errno. */
int nsxdp_set_rules(struct nsxdp_prog *p, const struct netserv_xdp_rule *rules, size_t n);

/* How many frames rule `rule` of the current rules matched since they were
 * set, into *ret. Returns 0 or a negative errno. */
int nsxdp_rule_hits(struct nsxdp_prog *p, uint32_t rule, uint64_t *ret);

/* The samples ring's map descriptor (a BPF ring buffer of struct
 * netserv_xdp_sample; xdp_sample.h reads it), or -1 before loading. */
int nsxdp_samples_fd(const struct nsxdp_prog *p);

/* Puts the AF_XDP socket xsk_fd into XSKMAP slot `slot`. Returns 0 or a
 * negative errno. */
int nsxdp_set_xsk(struct nsxdp_prog *p, uint32_t slot, int xsk_fd);

/* Empties XSKMAP slot `slot` (a closed socket leaves it by itself; the
 * kernel cannot tell user space whether a slot is full). Returns 0 or a
 * negative errno. */
int nsxdp_clear_xsk(struct nsxdp_prog *p, uint32_t slot);

/* Sums the per-CPU counters into out[NETSERV_XDP_N_COUNTERS]. Returns 0 or a
 * negative errno. */
int nsxdp_counters(struct nsxdp_prog *p, uint64_t out[NETSERV_XDP_N_COUNTERS]);

/* Zeroes the counters. Returns 0 or a negative errno. */
int nsxdp_counters_reset(struct nsxdp_prog *p);

/* Runs the program once on frame[0..len) (BPF_PROG_TEST_RUN) as if received on
 * ingress_ifindex rx queue rxq. Returns the XDP action (>= 0) or a negative
 * errno. */
int nsxdp_test_run(struct nsxdp_prog *p, const void *frame, uint32_t len, int ingress_ifindex,
                   uint32_t rxq);

/* The counters' names, for reports ("rx", "matched", ...). */
const char *nsxdp_counter_name(unsigned i);
