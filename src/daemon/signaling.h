/* netservd's signaling: a GIST node with interception of Queries through the
 * forwarding plane, and the NetServ NSLP on it, feeding the controller. */
#pragma once

#include <stddef.h>

#include "ctl/controller.h"
#include "daemon/config.h"
#include "fwd/fwd.h"

struct evloop;
struct signaling;

/* Starts GIST ([signaling] port, intercept_queue, t1_ms, t2_ms,
 * icmp_last_node) and the NSLP (nslpid, response_timeout), then installs the
 * interception rule (rule id "gist": UDP to port 270, to intercept_queue)
 * with fwd_ops, unless that is fwd_none_ops. Borrowed: loop, ctl, fwd (they
 * must outlive it). Returns 0 or a negative errno with the reason in err. */
int signaling_start(struct evloop *loop, const struct ns_config *cfg, struct controller *ctl,
                    const struct fwd_ops *fwd_ops, void *fwd, struct signaling **ret, char *err,
                    size_t errlen);

/* Removes the rule, stops GIST, then the NSLP; NULL allowed. Returns NULL. */
struct signaling *signaling_stop(struct signaling *s);

struct prom_buf;
/* Appends the GIST and NSLP metrics (docs/operations.md) of s (a struct
 * signaling *, as a void * for metrics_set_extra()) to b. */
void signaling_metrics(void *s, struct prom_buf *b);
