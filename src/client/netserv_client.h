/* libnetserv-client: on-path signaling for publishers' servers.
 *
 * A publisher sends a NetServ request (SETUP, REMOVE, PROBE, or any of them
 * wrapped in a TRIGGER for reverse-path installs) toward one of its users;
 * every NetServ node on the path acts on it, and the response comes back
 * with one entry per node, in path order. This is what `netserv setup|remove|
 * probe --to ADDRESS` does, as a C call:
 *
 *     struct netserv_client_options o = {.to = "192.0.2.7", .timeout_ms = 10000};
 *     struct netserv_result *res;
 *     char err[NETSERV_CLIENT_ERR_LEN];
 *     int r = netserv_client_send(&o, ncm_text, strlen(ncm_text), &res, err, sizeof(err));
 *     if (r < 0)
 *             fprintf(stderr, "%s\n", err);          // nobody answered
 *     else
 *             for (size_t i = 0; i < res->n_nodes; i++)
 *                     printf("%s %d\n", res->nodes[i].node, res->nodes[i].code);
 *     netserv_result_free(res);
 *
 * The request is the NCM text of docs/protocol.md (signed by the caller if
 * the nodes require it: the signature travels unchanged; a signed request
 * carries `signal-to: <to>` among the signed headers, else the nodes refuse
 * it, docs/security.md). Each call runs its
 * own GIST querier (an ephemeral UDP port, no privileges needed) and blocks
 * until the response, an error, or the timeout; calls are independent and
 * may run in parallel threads. Link with -lnetserv-client. */
#ifndef NETSERV_CLIENT_H
#define NETSERV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NETSERV_CLIENT_ERR_LEN 256

struct netserv_client_options {
	const char *to;      /* the user's address: numeric IPv4 or IPv6 (required) */
	const char *from;    /* flow source; NULL = this host's address toward `to` */
	unsigned timeout_ms; /* whole exchange; 0 = 30000 */
	bool trigger;        /* wrap the request in a TRIGGER (round trip) */
	uint16_t nslpid;     /* 0 = the NetServ NSLP's (32767) */
	unsigned t1_ms;      /* GIST first retransmission; 0 = GIST's default */
	unsigned t2_ms;      /* GIST gives up at this back-off; 0 = GIST's default */
};

/* One NetServ node's answer. Strings are NUL-terminated and owned by the
 * result; optional ones are NULL when absent. */
struct netserv_node_answer {
	const char *node;      /* the node's identity */
	const char *address;   /* its address on the path, or "" if unknown */
	const char *method;    /* what it answered: "SETUP", "REMOVE" or "PROBE" */
	const char *target;    /* the request's target (module id, or what was probed) */
	const char *probed;    /* PROBE: what was asked (`probe` items) */
	int code;              /* its status code (200, 403, ...) */
	const char *reason;    /* its reason phrase */
	unsigned elapsed_ms;   /* from the request's arrival at the node to its answer */
	const char *last_node; /* on the last node: how it knew ("icmp port unreachable") */
	size_t n_headers;      /* its NCM answer's headers, in order */
	const char *const *names;
	const char *const *values;
	const char *body; /* the answer's body, or NULL */
	size_t body_len;
};

struct netserv_result {
	const char *method; /* what was sent: "SETUP", ..., "TRIGGER" */
	const char *target;
	const char *to;      /* the address signaled toward */
	int code;            /* overall: 2xx when every node succeeded */
	const char *reason;  /* overall reason ("router-c: ..." names the node) */
	unsigned elapsed_ms; /* from sending to the response */
	size_t n_nodes;      /* the response stack, in path order */
	const struct netserv_node_answer *nodes;
};

/* Sends the request in `ncm` (len bytes of NCM text: SETUP, REMOVE, PROBE,
 * or TRIGGER with a `trigger:` header) and waits for the response.
 *
 * Returns 0 and a result in *ret whenever the path answered, also when nodes
 * refused (check code, and each node's code). Otherwise a negative errno with
 * the reason in err: -EINVAL (bad options or NCM), -EHOSTUNREACH (no NetServ
 * node on the path), -ETIMEDOUT (no response in time), -EPROTO (a malformed
 * response), -EIO (GIST could not send), -ENOMEM. *ret is untouched then. */
int netserv_client_send(const struct netserv_client_options *opts, const char *ncm, size_t len,
                        struct netserv_result **ret, char *err, size_t errlen);

/* Frees a result; NULL allowed. Returns NULL. */
struct netserv_result *netserv_result_free(struct netserv_result *r);

/* The result as JSON text (one object: method, target, to, code, reason,
 * elapsed_ms, and nodes: [{node, address, method, target, probed, code,
 * reason, elapsed_ms, last_node, headers: [[name, value], ...], body}]).
 * Caller frees; NULL on allocation failure. */
char *netserv_result_json(const struct netserv_result *r);

#ifdef __cplusplus
}
#endif

#endif /* NETSERV_CLIENT_H */
