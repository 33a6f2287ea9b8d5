/* NFLOG sample channels (SETUP `sample: 1/N`, docs/module-api.md "Sampled
 * modules"): the netfilter plane copies one packet in N of a sampled filter
 * to the NFLOG group of the module's publisher, with the module's id as the
 * prefix (fwd_netfilter.h). netservd binds the group (CAP_NET_ADMIN) and
 * hands the socket to the container, which only reads it: nflog_parse()
 * splits what it reads into samples. Nothing here logs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define NFLOG_PREFIX_MAX 64 /* xt_NFLOG's prefix, NUL included */

/* How the kernel batches a group's copies (nflog_group_bind()): a datagram
 * goes out when it holds NFLOG_BATCH copies, or would pass NFLOG_BATCH_BYTES,
 * or its first copy is NFLOG_FLUSH_CS hundredths of a second old. A datagram
 * is at most NFLOG_BATCH_BYTES, or one copy if that is larger (at most
 * NFLOG_DGRAM_MAX). */
#define NFLOG_BATCH       32
#define NFLOG_FLUSH_CS    5 /* 50 ms */
#define NFLOG_BATCH_BYTES 65536
#define NFLOG_DGRAM_MAX   (0xffff + 4096)

/* One sample, pointing into the buffer given to nflog_parse(). */
struct nflog_sample {
	const uint8_t *data; /* the packet's first bytes (the rule's --nflog-size) */
	uint32_t len;
	uint16_t group;    /* the NFLOG group it came to */
	uint8_t hook;      /* NF_INET_PRE_ROUTING (0) .. NF_INET_POST_ROUTING (4) */
	uint16_t hw_proto; /* ETH_P_IP or ETH_P_IPV6 (host order) */
	uint32_t indev, outdev, mark;
	char prefix[NFLOG_PREFIX_MAX]; /* the rule's prefix ("" if none), NUL-terminated */
};

/* Called for each sample of a datagram. */
typedef void nflog_sample_fn(void *ctx, const struct nflog_sample *s);

/* Binds NFLOG group `group` on a new netlink socket: packets copied (up to
 * copy_max bytes, 1..0xffff; the rule's --nflog-size cuts them shorter),
 * batched as above (a rule without --nflog-threshold uses the batch),
 * a receive buffer of rcvbuf bytes (0: 4 MiB; forced when privileged).
 * Needs CAP_NET_ADMIN. Returns the socket (blocking, close-on-exec) or a
 * negative errno with the reason in err (-EPERM: another socket holds the
 * group, or no CAP_NET_ADMIN: the kernel does not say which). */
int nflog_group_bind(uint16_t group, uint32_t copy_max, uint32_t rcvbuf, char *err, size_t errlen);

/* Splits one datagram read from an NFLOG socket (len bytes) into samples
 * and calls fn for each NFULNL_MSG_PACKET message with a payload; other
 * messages (DONE, errors, ACKs) are skipped. Malformed messages end the
 * walk. Returns the number of samples, or -EBADMSG when the datagram holds
 * a malformed message (the samples before it were delivered). */
int nflog_parse(const uint8_t *buf, size_t len, nflog_sample_fn *fn, void *ctx);
