/* The check netservd makes on the verdicts a container asks it to send on the
 * container's NFQUEUE socket (docs/security.md, "Packet queues"): the
 * container has no CAP_NET_ADMIN, so the kernel would refuse them from it,
 * and the queue socket's owner sends only what passes here. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Checks one datagram of netlink messages: every message must be an NFQUEUE
 * verdict (NFQNL_MSG_VERDICT or NFQNL_MSG_VERDICT_BATCH, flag NLM_F_REQUEST
 * only, nfnetlink version 0) for `queue`, with exactly one verdict header
 * whose verdict is NF_ACCEPT or NF_DROP, plus, for a single VERDICT only, at
 * most one NFQA_PAYLOAD of 20..0xffff bytes, and nothing else; no bytes after
 * the last message. Returns the number of messages (>= 1), or a negative
 * errno (-EPERM: not allowed, -EBADMSG: malformed) with the reason in err. */
int nfq_relay_check(const uint8_t *buf, size_t len, uint16_t queue, char *err, size_t errlen);
