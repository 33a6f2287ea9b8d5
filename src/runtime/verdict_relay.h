/* A publisher's packet queue, held by netservd (docs/security.md, "Packet
 * queues"): netservd binds the NFQUEUE socket and hands a copy to the
 * container, which reads packets on it with no capability; the container
 * sends its verdicts over a SOCK_SEQPACKET channel, and the relay checks each
 * datagram (fwd/nfq_relay.h: verdicts for this queue only) and sends it on
 * netservd's copy of the socket. The relaying is done by worker threads
 * placed like the containers (they are on the packet path): one per CPU and
 * priority serves, with one epoll set, every channel placed there (unpinned
 * ones share up to one worker per online CPU); a worker starts with its first
 * relay and ends with its last. What a relay refuses is logged from
 * netservd's event loop. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct evloop;
struct verdict_relay;

/* What a relay has done since it was opened. */
struct verdict_relay_stats {
	uint64_t datagrams; /* datagrams relayed */
	uint64_t refused;   /* datagrams refused (not only verdicts for the queue) */
	uint64_t errors;    /* datagrams the kernel socket did not take */
};

/* Where the relay's worker thread runs: with the container. */
struct verdict_relay_sched {
	uint32_t batch;  /* the container's packets per round (0: default) */
	int cpu;         /* pinned to this CPU, -1: not pinned */
	int rt_priority; /* SCHED_FIFO priority, 0: normal */
};

/* Binds `queue` for `user`'s container, parked (the kernel accepts its
 * packets at once, fail-open, until verdict_relay_arm()), makes the verdict
 * channel and hands it to the worker thread placed as sched says (started if
 * there is none); refusals are logged on loop.
 * Stores in fds[0] a copy of the queue socket and in fds[1] the container's
 * end of the channel: the caller passes both to the container and closes
 * them. Needs CAP_NET_ADMIN. Returns 0 or a negative errno (-EBUSY: another
 * socket holds the queue) with the reason in err. */
int verdict_relay_open(struct evloop *loop, const char *user, uint16_t queue,
                       const struct verdict_relay_sched *sched, struct verdict_relay **ret,
                       int fds[2], char *err, size_t errlen);

/* The container reads its queue now (assigned, modules installed): the
 * queue takes packets from here on. Returns 0 or a negative errno with the
 * reason in err. */
int verdict_relay_arm(struct verdict_relay *r, char *err, size_t errlen);

/* Takes the channel out of its worker (waits until the worker cannot be
 * using it; the last relay of a worker stops and joins it) and closes
 * netservd's copies: the queue unbinds as soon as
 * the container's copy is closed too (its process gone), and the rule's
 * --queue-bypass lets the traffic through. NULL allowed. Returns NULL. */
struct verdict_relay *verdict_relay_close(struct verdict_relay *r);

/* Copies the counters. */
void verdict_relay_stats(const struct verdict_relay *r, struct verdict_relay_stats *ret);
