/* The publisher's end of the NetServ NSLP, on a caller's event loop: sends
 * requests along a flow from a querier-only GIST node and collects their
 * responses. libnetserv-client (netserv_client.h) runs it on a loop of its
 * own; the tests run it beside fake or real nodes. Internal API. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "gist/gist_api.h"
#include "nslp/nslp.h"

struct evloop;
struct nsc;

/* The outcome of one request. r = 0: `resp` is the response (ownership
 * passes). r < 0: -ETIMEDOUT (no response in time), -EHOSTUNREACH (no
 * NetServ node on the path: GIST found none), -EIO (GIST could not send),
 * -EPROTO (the response did not decode), -ENOMEM; `why` says more. */
typedef void nsc_done_fn(void *ctx, int r, struct nslp_msg *resp, const char *why,
                         uint32_t elapsed_ms);

/* Registers the NSLP with gist (a querier-only node, normally). Returns 0 or
 * a negative errno with the reason in err. */
int nsc_new(struct evloop *loop, struct gist_node *gist, uint16_t nslpid, struct nsc **ret,
            char *err, size_t errlen);

/* Frees; pending requests are dropped without a callback. Free the GIST node
 * first (gist_api.h cannot unregister). NULL allowed; returns NULL. */
struct nsc *nsc_free(struct nsc *c);

/* Sends a request (SETUP, REMOVE, PROBE or TRIGGER) along `flow` on a new
 * session; `done` is called exactly once, from the loop, within timeout_ms
 * (0 = 30000). Returns 0 or a negative errno with the reason in err. */
int nsc_send(struct nsc *c, const struct gist_flow *flow, const struct nslp_msg *req,
             uint32_t timeout_ms, nsc_done_fn *done, void *ctx, char *err, size_t errlen);

/* Fills *flow for signaling from `from` (NULL: the local address toward
 * `to`) toward `to` (numeric IPv4 or IPv6). Returns 0 or -EINVAL /
 * -EHOSTUNREACH with the reason in err. */
int nsc_flow(const char *to, const char *from, struct gist_flow *flow, char *err, size_t errlen);
