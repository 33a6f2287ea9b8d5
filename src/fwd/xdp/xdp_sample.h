/* Reading the XDP program's samples ring: the frames that sampling rules
 * (nsxdp_rule_sampling) copied, for monitoring modules. */
#pragma once

#include "fwd/xdp/xdp_abi.h"
#include "fwd/xdp/xdp_prog.h"

struct nsxdp_sampler;

/* Called for each sample, in ring order; s is valid during the call only. */
typedef void (*nsxdp_sample_fn)(void *ctx, const struct netserv_xdp_sample *s);

/* Opens a reader of p's samples ring calling fn(ctx, sample). Returns 0 and
 * *ret, or a negative errno. */
int nsxdp_sampler_open(struct nsxdp_prog *p, nsxdp_sample_fn fn, void *ctx,
                       struct nsxdp_sampler **ret);

/* A descriptor that polls readable when NETSERV_XDP_SAMPLE_BATCH samples
 * wait (for an event loop): read on a timer too, for the last few. */
int nsxdp_sampler_fd(const struct nsxdp_sampler *s);

/* Hands the waiting samples to fn, waiting up to timeout_ms (0: not at all)
 * for the first. Returns how many, or a negative errno. */
int nsxdp_sampler_poll(struct nsxdp_sampler *s, int timeout_ms);

/* Closes the reader. NULL is a no-op. */
void nsxdp_sampler_close(struct nsxdp_sampler *s);
