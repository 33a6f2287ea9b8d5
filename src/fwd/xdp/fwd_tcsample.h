/* The netfilter plane's tc sampler (docs/xdp.md, "Sampling on the netfilter
 * plane"; [forwarding] sampler = tc). A forwarding driver in front of the
 * netfilter driver: it serves sampled filters (fwd_ops.sample_add) with the
 * tc program netserv_tc (netserv_xdp.bpf.o) on the clsact ingress of the
 * router's interfaces, and hands every other call (the filters that take
 * packets into a container's path, GIST's interception) to the netfilter
 * driver. A sampled packet then costs no netfilter rule and no xtables match:
 * the program parses the frame, matches the sampling rules and copies one in
 * N to its samples ring; netservd reads the rings and hands the copies to
 * the owner's container on a sample channel (sample_chan.h) that it made
 * for the container instead of binding an NFLOG group. The program is on the
 * interfaces only while there is a sampling rule: a node without a sampled
 * module pays nothing for it. What it sees differs from NFLOG rules in the
 * FORWARD chain: every IPv4/IPv6 frame that comes in on the interfaces
 * (forwarded or addressed to the node), not the node's own packets, and no
 * VLAN-tagged frames, fragments or IPv6 extension-header chains (passed,
 * not sampled: xdp_abi.h's counters). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "fwd/fwd.h"

struct evloop;
struct fwd_tcs;

#define FWD_TCS_MAX_IFS 4

/* Checks that the object at obj_path has the tc program and the n (1..
 * FWD_TCS_MAX_IFS) interfaces exist; attaches nothing yet, and takes off
 * a program an earlier netservd left on them (fwd_tcs_replaced). ops/local: the
 * netfilter driver, which gets every call but sampling (never freed here; it
 * must outlive t). Reads the samples rings on loop. Returns 0 and *ret, or a
 * negative errno with the reason in err. */
int fwd_tcs_new(struct evloop *loop, const char *obj_path, const char *const *ifnames, size_t n,
                const struct fwd_ops *ops, void *local, struct fwd_tcs **ret, char *err,
                size_t errlen);

/* Takes the program off the interfaces, closes every channel and frees;
 * NULL allowed. Returns NULL. */
struct fwd_tcs *fwd_tcs_free(struct fwd_tcs *t);

/* Makes the sample channel of the container whose queue (and NFLOG group
 * number) is `group`, closing an earlier one. Returns the container's end
 * (kept by t: pass a copy) or a negative errno with the reason in err. */
int fwd_tcs_channel_open(struct fwd_tcs *t, uint16_t group, char *err, size_t errlen);

/* The container of `group` is gone: closes its channel (its sampling rules
 * stay; their copies are dropped until a new channel). No-op without one. */
void fwd_tcs_channel_close(struct fwd_tcs *t, uint16_t group);

/* How many programs of an earlier netservd fwd_tcs_new took off. */
unsigned fwd_tcs_replaced(const struct fwd_tcs *t);

/* Samples handed to channels, and lost (no channel, or a container that
 * does not read), since the start. */
void fwd_tcs_stats(const struct fwd_tcs *t, uint64_t *samples, uint64_t *lost);

/* The driver (name "netfilter": it is that plane). */
extern const struct fwd_ops fwd_tcs_ops;
