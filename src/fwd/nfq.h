/* The containers' NFQUEUE packet loop: receives the packets that the
 * forwarding plane queued to this container, hands each to a callback, and
 * returns the verdicts. libmnl + the libnetfilter_queue message helpers, one
 * netlink socket for all the container's queues.
 *
 *   - full-packet copy (NFQNL_COPY_PACKET, up to 0xffff bytes);
 *   - fail-open (NFQA_CFG_F_FAIL_OPEN): when the kernel queue is full, or the
 *     socket cannot take a packet, the kernel accepts it instead of dropping;
 *     with --queue-bypass on the rule, a queue nobody reads is bypassed too;
 *   - a large receive buffer (SO_RCVBUFFORCE when privileged);
 *   - batched receive (recvmmsg, up to `batch` packets per call) and batched
 *     verdicts: per round, runs of equal verdicts on one queue become one
 *     NFQNL_MSG_VERDICT_BATCH, a changed packet gets its own verdict carrying
 *     the new bytes (NFQA_PAYLOAD), and all the round's verdict messages go
 *     in one send. Rounds of ~32 packets are the default: a long verdict
 *     syscall stalls the veth NAPI ring (notes/machine.md).
 *
 * It is fd-based and never blocks once open: register nfq_loop_fd() for
 * EPOLLIN (evloop_add_fd) and call nfq_loop_process() when it is readable.
 * Nothing here logs; errors are negative errno values with a reason in the
 * err buffer. The functions are nfq_loop_*, not nfq_*: libnetfilter_queue
 * already has nfq_open(), nfq_close() and nfq_fd(). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NFQ_MAX_QUEUES    16
#define NFQ_MAX_BATCH     256
#define NFQ_DEFAULT_BATCH 32
#define NFQ_COPY_MAX      0xffff

struct nfq_loop;

/* What the callback returns. */
enum nfq_verdict {
	NFQ_ACCEPT = 0,   /* let the packet go on, unchanged */
	NFQ_DROP = 1,     /* drop it */
	NFQ_MODIFIED = 2, /* let it go on with the bytes data[0 .. *len) */
};

/* How verdicts are sent (for measuring; NFQ_SEND_BATCH is the best here). */
enum nfq_send_mode {
	NFQ_SEND_BATCH = 0, /* runs of equal verdicts as one VERDICT_BATCH; one send per round */
	NFQ_SEND_ONE_SEND,  /* one VERDICT message per packet; one send per round */
	NFQ_SEND_EACH,      /* one VERDICT message and one send per packet */
};

/* What the kernel says about a packet. */
struct nfq_pkt_meta {
	uint32_t id;       /* the kernel's packet id (increasing, per queue) */
	uint16_t queue;    /* the queue it came from */
	uint8_t hook;      /* NF_INET_PRE_ROUTING (0) .. NF_INET_POST_ROUTING (4) */
	uint16_t hw_proto; /* ETH_P_IP or ETH_P_IPV6 (host order) */
	uint32_t indev;    /* input ifindex, 0 if none (locally generated) */
	uint32_t outdev;   /* output ifindex, 0 if none (to the node itself) */
	uint32_t mark;     /* the packet's mark */
	uint32_t wire_len; /* the packet's full length; > *len when the copy is shorter */
	uint32_t cap;      /* bytes `data` can hold: the callback may grow *len up to this */
};

/* Called once per packet with its bytes (an IPv4 or IPv6 packet). The packet
 * may be changed in place, and its length in *len changed up to meta->cap;
 * return NFQ_MODIFIED for the change to count. Any other return value than
 * the enum nfq_verdict ones (e.g. a negative errno) means NFQ_ACCEPT,
 * unchanged, and counts as a callback error. */
typedef int nfq_packet_fn(void *ctx, uint8_t *data, uint32_t *len, const struct nfq_pkt_meta *meta);

struct nfq_config {
	const uint16_t *queues; /* queue numbers to bind, 1..NFQ_MAX_QUEUES of them */
	size_t n_queues;
	unsigned batch;        /* packets per receive/verdict round, 1..NFQ_MAX_BATCH; 0 = 32 */
	uint32_t rcvbuf;       /* socket receive buffer in bytes; 0 = 8 MiB */
	uint32_t queue_maxlen; /* the kernel's queue length; 0 = its default (1024) */
	uint32_t copy_range;   /* bytes of each packet copied; 0 = NFQ_COPY_MAX */
	bool no_fail_open;     /* drop, not accept, when the queue or socket is full */
	/* nfq_queue_bind(): bind each queue parked, with a length of 0, so that
	 * the kernel accepts every packet at once (fail-open: none is queued)
	 * until nfq_queue_unpark() gives it queue_maxlen. Needs fail-open. */
	bool parked;
	enum nfq_send_mode send_mode;
};

/* Counters since nfq_loop_open(). */
struct nfq_stats {
	uint64_t packets;         /* packets received */
	uint64_t bytes;           /* their full lengths, summed */
	uint64_t accepted;        /* verdicts: accept (unchanged) */
	uint64_t dropped;         /* verdicts: drop */
	uint64_t modified;        /* verdicts: accept with new bytes */
	uint64_t truncated;       /* packets longer than the copy */
	uint64_t callback_errors; /* callback returned no verdict, or grew past cap */
	uint64_t enobufs;         /* socket overruns the kernel reported (ENOBUFS) */
	uint64_t missed;          /* gaps in the packet ids: packets numbered by the kernel
	                           * whose message we never got (overruns; accepted when
	                           * fail-open). Packets bypassed because the queue was
	                           * full are not numbered: the kernel counts those
	                           * nowhere; compare the rule's counter with
	                           * packets + missed. */
	uint64_t verdict_errors;  /* the kernel refused a verdict message */
	uint64_t rounds;          /* receive calls that returned packets */
	uint64_t verdict_msgs;    /* verdict messages sent */
	uint64_t sends;           /* send calls for verdicts */
};

/* Opens a netlink socket, binds each queue (fails with -EBUSY if another
 * socket holds one), and configures them. Needs CAP_NET_ADMIN. Returns 0 and
 * stores the loop in *ret (free with nfq_loop_close()), or a negative errno with
 * the reason in err. */
int nfq_loop_open(const struct nfq_config *cfg, nfq_packet_fn *fn, void *ctx, struct nfq_loop **ret,
                  char *err, size_t errlen);

/* Opens a netlink socket, binds each queue of cfg (-EBUSY if another socket
 * holds one) and configures them as nfq_loop_open() does, non-blocking, for a
 * process without CAP_NET_ADMIN to read with nfq_loop_adopt() while the
 * caller relays its verdicts. Needs CAP_NET_ADMIN. Returns the socket (close
 * every copy to unbind) or a negative errno with the reason in err. */
int nfq_queue_bind(const struct nfq_config *cfg, char *err, size_t errlen);

/* Gives the queues of cfg, bound parked by nfq_queue_bind() on fd (a copy of
 * that socket), their length (cfg->queue_maxlen, 0: the kernel's default):
 * packets are queued to the socket from now on. Sends without asking for an
 * acknowledgement (another process reads the socket): a refusal reaches
 * the reader as an error message (nfq_stats.verdict_errors). Needs
 * CAP_NET_ADMIN. Returns 0 or a negative errno with the reason in err. */
int nfq_queue_unpark(int fd, const struct nfq_config *cfg, char *err, size_t errlen);

/* Like nfq_loop_open() on a socket nfq_queue_bind() made for cfg->queues:
 * receives on nl_fd, and sends each round's verdict messages as one datagram
 * on verdict_fd (blocking), to the socket's owner, which checks them
 * (nfq_relay_check()) and sends them on its copy of nl_fd: the kernel takes
 * verdicts only from a sender with CAP_NET_ADMIN. Takes both fds (closed on
 * failure too). Returns 0 or a negative errno with the reason in err. */
int nfq_loop_adopt(const struct nfq_config *cfg, int nl_fd, int verdict_fd, nfq_packet_fn *fn,
                   void *ctx, struct nfq_loop **ret, char *err, size_t errlen);

/* Largest datagram nfq_loop_adopt() sends on its verdict channel. */
#define NFQ_VERDICT_DGRAM_MAX (256u << 10)

/* Closes the socket (the kernel unbinds the queues; with --queue-bypass the
 * traffic then flows past) and frees; NULL allowed. Returns NULL. */
struct nfq_loop *nfq_loop_close(struct nfq_loop *q);

/* The socket to watch for EPOLLIN. */
int nfq_loop_fd(const struct nfq_loop *q);

/* Handles the packets that are ready, in rounds of up to `batch`, until the
 * socket is empty or `budget` packets were handled (0 = no limit; under
 * sustained load that may never return, so an event loop passes a budget,
 * e.g. 256, and is called again while the fd stays readable). Returns the
 * number handled (0 if none was ready), or a negative errno if the socket
 * failed (overruns are counted, not returned). */
int nfq_loop_process(struct nfq_loop *q, unsigned budget);

/* Copies the counters. */
void nfq_loop_stats(const struct nfq_loop *q, struct nfq_stats *ret);
