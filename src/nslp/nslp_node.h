/* The NetServ NSLP on a NetServ node (netservd): the signaling logic above
 * GIST (seed 002 section 2.1, seed 003 sections 4.1 and 8).
 *
 * A request (SETUP, REMOVE, PROBE) that GIST delivers is handed, as an NCM,
 * to the node's controller, and at the same time forwarded unchanged to the
 * next NetServ node along the same flow and session (gist_send()). When GIST
 * reports that there is no further node (GIST_LAST_NODE: ICMP port
 * unreachable from the flow's destination, or the back-off ran out), this
 * node is the last one and starts the response. Responses return hop by hop:
 * each node waits for its own controller's answer and the next node's
 * response, puts its own entry in front of the stack the next node sent, and
 * sends the result upstream. So the stack is in path order, and a node whose
 * controller refused a request says so in its entry (and in the overall
 * status) instead of staying silent.
 *
 * TRIGGER (round-trip signaling for reverse-path installs): nodes on the way
 * forward it without acting; the last node hands the wrapped request to its
 * own controller and sends it on a new flow from the user back to the sender
 * (a new session, source and destination swapped), so that the NetServ
 * nodes on the reverse path act on it; the reverse leg's response stack,
 * starting with the last node's own entry, becomes the TRIGGER's response,
 * which travels back along the forward path.
 *
 * A node that gets no answer from the next node (or from its own controller)
 * within the response timeout answers with what it has, and an overall 504. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

struct gist_flow; /* gist/gist_api.h */

struct evloop;
struct gist_node;
struct nslp_node;

/* The controller as the NSLP sees it (ctl/controller.h in netservd; a fake
 * in tests). `answer` has the type of ctl_reply_fn: it receives the response
 * (ownership passes) exactly once, unless forget(actx) runs first. */
typedef void nslp_answer_fn(void *actx, struct ncm_msg *response);
struct nslp_ctl_ops {
	/* flow: the MRI of the message that carried req (its path) */
	void (*submit)(void *ctl, const struct ncm_msg *req, const struct gist_flow *flow,
	               nslp_answer_fn *answer, void *actx);
	void (*forget)(void *ctl, void *actx);
};

struct nslp_node_config {
	uint16_t nslpid;              /* 0 = NSLP_ID_NETSERV */
	const char *node_id;          /* reported in response entries */
	uint32_t response_timeout_ms; /* per request, from its arrival; 0 = 60000 */
	uint32_t linger_ms;           /* keep an answered session to drop repeats; 0 = 5000 */
	uint32_t max_sessions;        /* 0 = 1024 */
};

struct nslp_node_stats {
	uint64_t requests;  /* requests received (TRIGGER included) */
	uint64_t malformed; /* messages that did not decode */
	uint64_t forwarded; /* requests passed on to a next node */
	uint64_t last_node; /* requests for which this node was the last */
	uint64_t responses; /* responses sent upstream */
	uint64_t timeouts;  /* answers sent without the next node's */
	uint64_t triggers;  /* reverse flows started (last node of a TRIGGER) */
	uint64_t sessions;  /* sessions now */
};

/* Registers the NetServ NSLP with gist (borrowed: it must outlive the node)
 * and starts answering. Returns 0 or a negative errno with the reason in err
 * (-EEXIST: the NSLPID is taken). */
int nslp_node_new(struct evloop *loop, struct gist_node *gist, const struct nslp_node_config *cfg,
                  const struct nslp_ctl_ops *ops, void *ctl, struct nslp_node **ret, char *err,
                  size_t errlen);

/* Drops every session (pending controller answers are forgotten) and frees;
 * NULL allowed. Returns NULL. gist_api.h has no way to unregister, so free
 * the GIST node first: it would call into a freed NSLP node otherwise. */
struct nslp_node *nslp_node_free(struct nslp_node *n);

void nslp_node_get_stats(const struct nslp_node *n, struct nslp_node_stats *ret);
