/* A container's sample channel fed by netservd: the copies that a BPF
 * program's sampling rules put in its samples ring (xdp_sample.h), handed
 * to the owner's container as NFLOG messages (fwd/nflog.h: what it reads on
 * the netfilter plane's NFLOG socket too), batched into datagrams on a
 * socket pair whose one end the container reads. Used by the AF_XDP plane
 * (fwd_xdp.h) and by the netfilter plane's tc sampler (fwd_tcsample.h).
 * Never blocks, never logs. */
#pragma once

#include <stdint.h>

#include "fwd/xdp/xdp_abi.h"

/* A datagram on the channel is at most this long; the channel's buffers. */
#define SAMPLE_CHAN_DGRAM_MAX 65536
#define SAMPLE_CHAN_BUF       (4 << 20)

struct sample_chan;

/* Makes a channel. Returns 0 and *ret, or a negative errno. */
int sample_chan_open(struct sample_chan **ret);

/* The container's end (read only: shut for writing); the channel keeps it,
 * callers pass copies. */
int sample_chan_fd(const struct sample_chan *c);

/* Adds one sample (a frame: its Ethernet header is cut off; the module gets
 * the IP packet) to the batch as an NFULNL_MSG_PACKET of NFLOG group `group`
 * with prefix `tag`, sending the batch first if it would not fit. Returns 0,
 * -EINVAL for a sample shorter than an Ethernet header or a tag longer than
 * FWD_SAMPLE_TAG_MAX (dropped), or -EAGAIN when sending the earlier batch
 * found the container's buffer full (that batch is lost, this sample kept). */
int sample_chan_put(struct sample_chan *c, const struct netserv_xdp_sample *s, uint16_t group,
                    const char *tag);

/* Sends the batch, if any. Returns 0, or -EAGAIN when the container's buffer
 * is full (the batch is lost). */
int sample_chan_flush(struct sample_chan *c);

/* What a driver counts of the samples from its programs' rings: handed to
 * a channel, and lost (the owner has no channel, a sample that cannot be
 * encoded, or a batch the container's buffer refused: one each). */
struct sample_counts {
	uint64_t handed, lost;
};

/* sample_chan_put() with the outcome counted in *n; c NULL (the owner has
 * no channel): the sample is lost. */
void sample_chan_deliver(struct sample_chan *c, const struct netserv_xdp_sample *s, uint16_t group,
                         const char *tag, struct sample_counts *n);

/* sample_chan_flush() with a refused batch counted lost in *n; c NULL: a
 * no-op. */
void sample_chan_send(struct sample_chan *c, struct sample_counts *n);

/* Closes both ends (the container keeps its copy). NULL is a no-op. */
void sample_chan_close(struct sample_chan *c);
