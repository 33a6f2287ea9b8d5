/* netserv-origin: the publisher's origin server with the ActiveCDN redirect
 * workflow of seed 003 §6.1, figure 7 (docs/apps.md). Shared declarations of
 * its three parts: the options and main loop (origin_main.c), the HTTP
 * server (serve.c) and the regions with their signaling (regions.c). */
#ifndef NETSERV_ORIGIN_H
#define NETSERV_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORIGIN_MAX_PROPS  16
#define ORIGIN_MAX_DIRECT 8

struct origin_config {
	const char *root;                    /* the directory served */
	const char *listen_addr;             /* numeric address to serve on */
	uint16_t listen_port;                /* its port */
	const char *origin_url;              /* what the nodes fetch from (property origin=) */
	const char *publisher;               /* SETUP's user */
	const char *module;                  /* module id */
	const char *module_url;              /* where nodes download it */
	const char *module_hash;             /* sha256:HEX */
	const char *key_path;                /* the publisher's secret key; NULL: unsigned */
	unsigned module_ttl;                 /* SETUP's ttl, seconds */
	uint16_t node_port;                  /* the module's HTTP port on the nodes */
	unsigned prefix_len;                 /* IPv4 region */
	unsigned prefix_len6;                /* IPv6 region */
	unsigned probe_interval;             /* seconds between PROBEs of known nodes */
	unsigned retry;                      /* seconds before a failed deployment is retried */
	unsigned timeout_ms;                 /* each signaling exchange */
	uint64_t rate;                       /* bytes/s per response body; 0 = unpaced */
	const char *props[ORIGIN_MAX_PROPS]; /* more module properties, K=V */
	size_t n_props;
	const char *direct[ORIGIN_MAX_DIRECT]; /* path prefixes never redirected */
	size_t n_direct;
};

/* Writes one log line "netserv-origin: TEXT" with a timestamp to stderr,
 * whole (lines of several threads never mix). */
void origin_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- regions.c -------------------------------------------------------------- */

enum route_kind {
	ROUTE_SERVE,    /* serve it here: no node known (signaling may start) */
	ROUTE_REDIRECT, /* 302 to url */
	ROUTE_DIRECT,   /* serve it here, outside the workflow (a node, a direct path) */
};

/* Sets up the region table for cfg (kept by pointer). Returns 0 or -errno. */
int regions_init(const struct origin_config *cfg);

/* Decides how to answer a request for path from client (numeric address)
 * and logs the decision (figure 7 steps 1, 7, 8); for a redirect, writes the
 * node's URL for path into url. *deploy is set when the client's region has
 * no node and none is being deployed: the caller then calls
 * regions_deploy() once its response is queued. */
enum route_kind regions_route(const char *client, const char *path, char *url, size_t cap,
                              bool *deploy);

/* Deploys toward client's region in a thread of its own (steps 3-6: SETUP,
 * then PROBE, then the nodes that answer are recorded). */
void regions_deploy(const char *client);

/* PROBEs every region's node and forgets those where the module is gone. */
void regions_probe_all(void);

/* Sends REMOVE toward every region with a node, and forgets them. */
void regions_remove_all(void);

/* Waits for the background deployments and frees the table. */
void regions_done(void);

/* ---- serve.c ---------------------------------------------------------------- */

/* Starts the HTTP server (threads of its own). Returns 0 or -errno. */
int serve_start(const struct origin_config *cfg, char *err, size_t errlen);

/* Stops it. */
void serve_stop(void);

#endif /* NETSERV_ORIGIN_H */
