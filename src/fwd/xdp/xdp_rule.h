/* A SETUP filter (struct ncm_filter) as a rule of the XDP program's rules
 * map (struct netserv_xdp_rule): the same match as container/pkt_filter.c
 * makes, for frames the program parses (no fragments, no IPv6 extension
 * headers). */
#pragma once

#include <stdint.h>

#include "fwd/xdp/xdp_abi.h"
#include "ncm/ncm.h"

/* Fills *ret from f, redirecting to XSKMAP slots [xsk_base, xsk_base +
 * queues). Returns 0, or -EINVAL for a prefix of a bad family or length, an
 * inverted port range, or slots outside the XSKMAP. */
int nsxdp_rule_from_filter(const struct ncm_filter *f, uint32_t xsk_base, uint32_t queues,
                           struct netserv_xdp_rule *ret);

/* Fills *ret from f as a sampling rule: the first `snap` bytes of one in
 * every `n` matching frames go to the samples ring, and every matching frame
 * goes on to the kernel. Returns 0, or -EINVAL for a bad filter (as above),
 * n = 0, or snap outside 1..NETSERV_XDP_SNAP_MAX. */
int nsxdp_rule_sampling(const struct ncm_filter *f, uint32_t n, uint32_t snap,
                        struct netserv_xdp_rule *ret);
