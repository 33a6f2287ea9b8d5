/* The controller's interface toward the forwarding plane: steering the
 * traffic a module asked for (its SETUP filter) to its publisher's container,
 * and intercepting signaling. One driver is active per node: Linux netfilter
 * (NFQUEUE), AF_XDP (fwd/xdp/fwd_xdp.h), or fwd_none (no plane). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ncm/ncm.h"

/* A rule id (fwd_ops' rule_id, "user/module"): 1..FWD_RULE_ID_MAX letters,
 * digits and the characters . _ + : * / @ = -. Returns whether id is one. */
#define FWD_RULE_ID_MAX 200
static inline bool fwd_rule_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > FWD_RULE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("._+:*/@=-", c)))
			return false;
	}
	return true;
}

/* Queue numbers are 16 bits; filter_add's `queue` carries a range of them:
 * the low 16 bits are the first queue, the high 16 bits the last (0 = the same
 * as the first). A plain queue number is the range of that one queue. */
#define FWD_QUEUE_RANGE(first, last) ((unsigned)(first) | ((unsigned)(last) << 16))
#define FWD_QUEUE_FIRST(q)           ((q)&0xffffu)
#define FWD_QUEUE_LAST(q)            ((q) >> 16 ? (q) >> 16 : (q)&0xffffu)

/* How a sampled filter copies packets (fwd_ops.sample_add): one packet in
 * `every` (1..NCM_SAMPLE_EVERY_MAX), its first `bytes` bytes (1..
 * NCM_SAMPLE_BYTES_MAX), to the owner's sample channel `group`, each copy
 * marked with `tag` (1..FWD_SAMPLE_TAG_MAX of [A-Za-z0-9._+:*@=-], the
 * module id: the container hands the copy to that module only). The packet
 * itself is not held: it goes on unchanged at once. On netfilter the group
 * is an NFLOG group (the node binds it and hands the socket to the
 * container); on AF_XDP the XDP program's sampling rules (xdp_sample.h) do
 * the counting and copy to the container's socket. */
#define FWD_SAMPLE_TAG_MAX 63 /* NFLOG prefixes are 64 bytes with the NUL */
struct fwd_sample {
	uint32_t every;
	uint32_t bytes;
	uint16_t group;
	const char *tag;
};

struct fwd_ops {
	const char *name; /* reported as capability "fwd:<name>" */

	/* Steers packets matching any of the n filters (1..NCM_MAX_FILTERS) to
	 * the queue(s) of the owner's container: one rule set per filter, all
	 * called `rule_id` (user/module) for later removal, replacing the rules
	 * of that name, all or none. `queue` is one queue number or a
	 * FWD_QUEUE_RANGE() (several queues, packets spread over them by flow).
	 * Returns 0 or a negative errno with the reason in err. */
	int (*filter_add)(void *fwd, const char *rule_id, const struct ncm_filter *filters,
	                  size_t n, unsigned queue, char *err, size_t errlen);

	/* Like filter_add, but the packets matching the filters are sampled as
	 * `sample` says instead of taken into the container's path (rules
	 * called rule_id; filter_remove removes them). NULL: the plane cannot
	 * sample, and the controller refuses sampled SETUPs with a clear
	 * reason. Returns 0 or a negative errno with the reason in err. */
	int (*sample_add)(void *fwd, const char *rule_id, const struct ncm_filter *filters,
	                  size_t n, const struct fwd_sample *sample, char *err, size_t errlen);

	/* Removes every rule called rule_id. Returns 0 or -ENOENT. */
	int (*filter_remove)(void *fwd, const char *rule_id);

	/* Removes every rule of ours (at start and at exit). */
	int (*flush)(void *fwd, char *err, size_t errlen);

	/* Optional (NULL: none): one line on the plane's state for status, e.g.
	 * the interfaces and their XDP mode. Returns 0 or a negative errno. */
	int (*describe)(void *fwd, char *buf, size_t len);
};

/* The stand-in: no forwarding plane; adding a filter fails with -ENOTSUP. */
extern const struct fwd_ops fwd_none_ops;
