/* The Linux netfilter forwarding-plane driver: steers the packets a module
 * asked for to its container's NFQUEUE queue(s) with iptables rules.
 *
 * Layout. The driver owns three chains in the *mangle* table of both iptables
 * (IPv4) and ip6tables (IPv6), named after a prefix (default "NETSERV"):
 *
 *     <prefix>-FWD   jumped to from FORWARD  (traffic through the node)
 *     <prefix>-IN    jumped to from INPUT    (traffic to the node)
 *     <prefix>-OUT   jumped to from OUTPUT   (traffic from the node)
 *
 * with one jump rule each, inserted first in the built-in chain. Each filter
 * is one rule per selected chain and family:
 *
 *     -A <prefix>-FWD -p udp --dport 5060 [-s SRC] [-d DST]
 *        -m comment --comment "netserv:<rule_id>"
 *        -j NFQUEUE --queue-num N --queue-bypass          (or --queue-balance A:B)
 *
 * and a sampled filter (sample_add) one rule that copies one packet in N to
 * the owner's NFLOG group, the packet going on unchanged (NFLOG does not end
 * the chain, and the rule holds nothing back):
 *
 *     -A <prefix>-FWD -p udp --dport 5060 -m comment --comment "netserv:<rule_id>"
 *        -m statistic --mode nth --every N --packet 0
 *        -j NFLOG --nflog-prefix "<module id>" --nflog-group G --nflog-size B
 *
 * (the prefix tells the container whose sample it is; the group's binder
 * sets how copies are batched, fwd/nflog.h), inserted at the top of the
 * chain: a queue rule ends the chain for its packets, so a sampling rule
 * after an overlapping one would never see them. Each rule (each chain, family and filter)
 * counts its own packets, so one packet in N of every one of them is copied.
 *
 * Why mangle and not filter: a packet that a queue reader accepts re-enters
 * the stack at the *next hook*, skipping the rest of the table it was queued
 * from. Queueing from filter would let every accepted packet bypass the
 * operator's own filter rules after ours; mangle runs before filter (priority
 * -150 against 0), so an accepted packet still meets the operator's firewall
 * in filter, and a module can only ever drop more, never let more through.
 * Mangle is also where packets are meant to be changed, and it runs after
 * conntrack, so conntrack state is there for a match.
 *
 * Every change goes in as one batch through `iptables-restore --noflush` (and
 * `ip6tables-restore`), so a failed change leaves the table as it was. Rules
 * that are not ours are never touched: ours are recognized by chain name
 * (our chains, and jumps to them), and inside our chains by the comment.
 * The commands run as children (fork/exec with stdin on a socket, no shell),
 * synchronously: a change takes some 5-20 ms.
 *
 * Family. A filter with an IPv4 prefix (src or dst) becomes an iptables rule
 * only, one with an IPv6 prefix an ip6tables rule only, one without either
 * both; icmp is IPv4 only, icmpv6 IPv6 only.
 *
 * The driver keeps no state of its own about rules: iptables is the state, so
 * a daemon restarted after a crash can adopt (FWD_NF_ADOPT) what is there and
 * re-add its filters; filter_add replaces a rule of the same id. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd/fwd.h"

struct fwd_netfilter;

enum {
	FWD_NF_HOOK_FORWARD = 1 << 0, /* filters apply to forwarded traffic */
	FWD_NF_HOOK_INPUT = 1 << 1,   /* ... to traffic for the node itself */
	FWD_NF_HOOK_OUTPUT = 1 << 2,  /* ... to traffic the node sends */
	FWD_NF_HOOKS_DEFAULT = FWD_NF_HOOK_FORWARD | FWD_NF_HOOK_INPUT,
	/* Keep the rules of ours that exist (no cleanup at start); create what
	 * is missing. For a restarted daemon and for tools. */
	FWD_NF_ADOPT = 1 << 8,
	/* Do not use ip6tables (IPv6 filters then fail with -EAFNOSUPPORT). */
	FWD_NF_NO_IPV6 = 1 << 9,
};

#define FWD_NF_PREFIX_DEFAULT "NETSERV"
#define FWD_NF_PREFIX_MAX     24 /* iptables chain names are at most 28 chars */

/* Checks that the tools exist (iptables, ip6tables, iptables-restore,
 * ip6tables-restore, iptables-save, ip6tables-save, in PATH or /usr/sbin,
 * /sbin) and that the kernel takes an NFQUEUE rule with a comment and a port
 * match (a probe batch in a scratch chain, which is then removed). Without
 * FWD_NF_ADOPT it removes leftovers of ours (our jump rules and our chains,
 * from a previous run that did not exit cleanly), then creates our chains and
 * jumps for the hooks in `flags` (FWD_NF_HOOK_*; none given = the default
 * FORWARD and INPUT).
 *
 * chain_prefix: [A-Za-z0-9_-], 1..FWD_NF_PREFIX_MAX characters, NULL for
 * FWD_NF_PREFIX_DEFAULT. Tests use a unique prefix per run so parallel runs
 * never share a chain. Filters on one port protocol within one 32-port bucket
 * go into sub-chains "PREFIX-<hook><proto><bucket>.<run>" behind one jump
 * each (fwd_netfilter.c); a prefix longer than 17 characters leaves no room
 * for those names and gets one flat chain per hook (same order, slower with
 * many filters).
 *
 * Returns 0 and stores the driver in *ret (free with fwd_netfilter_free()),
 * or a negative errno with the reason in err (which names what is missing):
 * -ENOENT (a tool missing), -ENOTSUP (the kernel refused the probe rule),
 * -EINVAL (bad prefix), -EIO (a command failed), -ENOMEM. */
int fwd_netfilter_new(const char *chain_prefix, unsigned flags, struct fwd_netfilter **ret,
                      char *err, size_t errlen);

/* Removes our jump rules and chains (with every filter in them) and frees
 * the driver; NULL allowed. Returns NULL. */
struct fwd_netfilter *fwd_netfilter_free(struct fwd_netfilter *nf);

/* Frees the driver and leaves its chains and rules in place (the packets
 * keep flowing to the queues, bypassing them if no reader is bound). NULL
 * allowed. Returns NULL. */
struct fwd_netfilter *fwd_netfilter_detach(struct fwd_netfilter *nf);

/* Builds the rule specification for a filter, for one family (AF_INET or
 * AF_INET6), without the chain: "-p udp --dport 5060 -m comment --comment
 * \"netserv:id\" -j NFQUEUE --queue-num 3 --queue-bypass". Returns the length,
 * 0 if the filter does not apply to that family, or -EINVAL (bad filter or
 * rule id; reason in err) or -ENOSPC (buf too small). Exposed for tests. */
int fwd_netfilter_rule_spec(const char *rule_id, const struct ncm_filter *filter, unsigned queues,
                            int family, char *buf, size_t len, char *err, size_t errlen);

/* Like fwd_netfilter_rule_spec() for a sampled filter: "... -m statistic
 * --mode nth --every N --packet 0 -j NFLOG --nflog-prefix "TAG" --nflog-group
 * G --nflog-size B" (no statistic match for 1/1). Returns the length, 0
 * if the filter does not apply to that family, -EINVAL (bad filter, rule id
 * or sample) or -ENOSPC. Exposed for tests. */
int fwd_netfilter_sample_spec(const char *rule_id, const struct ncm_filter *filter,
                              const struct fwd_sample *sample, int family, char *buf, size_t len,
                              char *err, size_t errlen);

/* Sums the packet and byte counters of the rules called rule_id (all our
 * chains, both families): every packet the filter matched, including the
 * ones the kernel let past the container because its queue was full or no
 * one read it (fail-open, queue bypass), which no queue counter shows.
 * Compare with the container's own count of packets to learn how many
 * bypassed it. Returns 0, -ENOENT (no such rule) or another negative errno
 * with the reason in err. */
int fwd_netfilter_counters(struct fwd_netfilter *nf, const char *rule_id, uint64_t *ret_packets,
                           uint64_t *ret_bytes, char *err, size_t errlen);

/* The fwd_ops of this driver; its `fwd` argument is a struct fwd_netfilter.
 * filter_add's queue argument may be a FWD_QUEUE_RANGE(). */
extern const struct fwd_ops fwd_netfilter_ops;
