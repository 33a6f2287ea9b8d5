/* Per-publisher policy: what a publisher may ask of this node.
 *
 * A publisher's [publisher NAME] section (etc/netservd.conf) holds its policy:
 * the prefixes it is authorized for (its filters must stay inside them, and so
 * must the source addresses of its crafted packets), the protocols and ports
 * its filters may name, the ports its server modules may listen on, how many
 * modules it may run, whether its SETUPs must pin a module hash, and whether
 * it may prove an address with a reverse-routability check. docs/security.md
 * describes each check.
 *
 * Pure functions over the decoded NCM: no logging, no state. A refusal
 * returns -EPERM (an NCM 403) or -ENOENT (a missing dependency) with a
 * one-line reason in err. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

#define POLICY_MAX_PREFIXES 16
#define POLICY_MAX_RANGES   16
#define POLICY_MAX_PROTOS   8
#define POLICY_MAX_LISTEN   8
#define POLICY_TEXT_LEN     512 /* a list as text (config value) */

/* One-time passwords of the reverse-routability check (ctl/rrc.h). */
#define POLICY_RRC_PASSWORD_MIN 16
#define POLICY_RRC_PASSWORD_MAX 128

/* Default send limits of a publisher (send_rate, send_bytes): packets and
 * bytes per second, all its modules together. */
#define POLICY_DEFAULT_SEND_PPS    1000u
#define POLICY_DEFAULT_SEND_BYTES  (1024u * 1024u)
#define POLICY_DEFAULT_MAX_SOCKETS 1024u
/* Connections one http/1 server of a publisher's module may hold. */
#define POLICY_DEFAULT_HTTP_CONNECTIONS 128u
/* Seconds an origin may send nothing before a module's ns_http_fetch fails
 * (libcurl's low-speed limit: under 1 byte/s for that long). */
#define POLICY_DEFAULT_FETCH_STALL_S 30u

/* Default max_modules of a publisher: one publisher alone cannot fill the
 * node's [modules] max_modules (256 by default). */
#define POLICY_DEFAULT_MAX_MODULES 32u

/* Default storage_quota of a publisher: bytes its modules may keep in the
 * node's object store (storage/1), all together. */
#define POLICY_DEFAULT_STORAGE_QUOTA (64ull * 1024 * 1024)

/* Property keys that start with this are the node's (e.g. netserv.listen). */
#define POLICY_RESERVED_PREFIX "netserv."

struct policy_prefixes {
	size_t n;
	struct ncm_prefix v[POLICY_MAX_PREFIXES]; /* family AF_INET or AF_INET6 */
};

struct policy_range {
	uint16_t lo, hi;
};

struct policy_ports {
	bool any; /* every port (then n is 0) */
	size_t n;
	struct policy_range v[POLICY_MAX_RANGES];
};

/* One listening socket a SETUP asks for (header `listen: tcp:80,udp:5060`). */
struct policy_listen {
	uint8_t proto; /* NCM_PROTO_TCP or NCM_PROTO_UDP */
	uint16_t port;
};

struct ns_policy {
	struct policy_prefixes prefixes; /* authorized prefixes: filters, crafted sources */
	bool has_source;                 /* source_prefixes given (else = prefixes) */
	struct policy_prefixes source;   /* crafted packets' source addresses */
	size_t n_protos;                 /* 0: any protocol */
	uint8_t protos[POLICY_MAX_PROTOS];
	struct policy_ports ports;      /* filter destination ports (default any) */
	struct policy_ports listen_tcp; /* server ports (default none) */
	struct policy_ports listen_udp;
	uint32_t max_modules;            /* 0: only the node's limit */
	int require_hash;                /* -1: the node's [modules] require_hash; 0 no; 1 yes */
	bool rrc;                        /* may prove an address by reverse routability */
	bool has_send_dst;               /* send_destinations given (else any) */
	struct policy_prefixes send_dst; /* where its modules may send */
	uint32_t send_pps;               /* send_rate: packets/s, 0 = no limit */
	uint64_t send_bytes_per_s;       /* send_bytes: bytes/s, 0 = no limit */
	/* server modules (socket/1) */
	bool has_connect;               /* connect_destinations given (else = prefixes) */
	struct policy_prefixes connect; /* where its sockets may connect and send */
	uint32_t max_sockets;           /* sockets and connections, all modules together */
	uint64_t socket_bytes_per_s;    /* socket_bytes: bytes/s sent, 0 = no limit */
	uint32_t http_connections;      /* per http/1 server (1..200) */
	uint32_t fetch_stall_s;         /* ns_http_fetch: a stalled origin fails after (1..3600) */
	uint64_t storage_quota;         /* storage/1 bytes, 0 = no storage */
	bool media; /* media/1: FFmpeg loaded into its container (policy media, default no) */
};

/* Fills the defaults: no prefixes, any protocol and port, no listen ports,
 * max_modules POLICY_DEFAULT_MAX_MODULES, require_hash -1, rrc off, sends to
 * any destination at
 * POLICY_DEFAULT_SEND_PPS and POLICY_DEFAULT_SEND_BYTES, storage_quota
 * POLICY_DEFAULT_STORAGE_QUOTA, fetch_stall POLICY_DEFAULT_FETCH_STALL_S. */
void policy_defaults(struct ns_policy *p);

/* Applies one key of a [publisher NAME] section if it is a policy key:
 * prefixes, source_prefixes, filter_protocols, filter_ports, listen_ports,
 * max_modules, require_hash, rrc, send_destinations, send_rate, send_bytes,
 * connect_destinations, max_sockets, socket_bytes, http_connections,
 * fetch_stall, storage_quota. Returns 1 when applied,
 * 0 when `key` is not a policy key, or -EINVAL with the reason in err. */
int policy_set(struct ns_policy *p, const char *key, const char *value, char *err, size_t errlen);

/* Checks a publisher's policy once its section is complete (source prefixes
 * inside the authorized ones). Returns 0 or -EINVAL with the reason. */
int policy_finish(const struct ns_policy *p, char *err, size_t errlen);

/* Parses a list of prefixes separated by commas or blanks: addresses,
 * address/len, "any" (0.0.0.0/0 and ::/0) or "none" (empty). */
int policy_parse_prefixes(const char *s, struct policy_prefixes *ret, char *err, size_t errlen);

/* Parses "any", "none" or a list of ports and ranges ("5060, 8000-8100"). */
int policy_parse_ports(const char *s, struct policy_ports *ret, char *err, size_t errlen);

/* Parses listen ports: items "tcp:80", "udp:5060-5070", or a bare port or
 * range (both protocols); "none" for none. */
int policy_parse_listen_ports(const char *s, struct policy_ports *tcp, struct policy_ports *udp,
                              char *err, size_t errlen);

/* Parses the SETUP header `listen` ("tcp:80,udp:5060"; one port per item).
 * Stores at most POLICY_MAX_LISTEN items. Returns the count or -EINVAL. */
int policy_parse_listen(const char *s, struct policy_listen *v, char *err, size_t errlen);

/* Formats prefixes (comma-separated) or listen ports ("tcp:80,udp:5060-5070")
 * into buf; "" for an empty list. Returns buf. */
char *policy_format_prefixes(const struct policy_prefixes *l, char *buf, size_t len);
char *policy_format_listen_ports(const struct policy_ports *tcp, const struct policy_ports *udp,
                                 char *buf, size_t len);

/* Returns whether prefix `inner` lies inside `outer` (same family). */
bool policy_prefix_within(const struct ncm_prefix *inner, const struct ncm_prefix *outer);

/* Returns whether the list covers p. A p of family 0 ("any") is covered only
 * by a list that holds both 0.0.0.0/0 and ::/0. */
bool policy_prefixes_cover(const struct policy_prefixes *l, const struct ncm_prefix *p);

/* Returns whether some packet can match both filters (issue #12: two
 * publishers' filters must not overlap). Exact for what the forwarding plane
 * matches: protocol (NCM_PROTO_ANY matches all), destination port ranges
 * (port_lo 0 = every port), source and destination prefixes (family 0 = any
 * address; IPv4 never meets IPv6; ICMP is IPv4 only, ICMPv6 IPv6 only). */
bool policy_filters_overlap(const struct ncm_filter *a, const struct ncm_filter *b);

/* Returns whether some filter of list a overlaps some filter of list b
 * (policy_filters_overlap() on every pair); stores the first such pair's
 * indexes in *ret_a, *ret_b (either may be NULL). Empty lists overlap nothing. */
bool policy_filter_lists_overlap(const struct ncm_filter *a, size_t na, const struct ncm_filter *b,
                                 size_t nb, size_t *ret_a, size_t *ret_b);

/* Returns whether one address (4 or 16 bytes by family) is in the list. */
bool policy_addr_allowed(const struct policy_prefixes *l, int family, const uint8_t *addr);

/* Returns whether port is in the set. */
bool policy_port_allowed(const struct policy_ports *ports, uint16_t port);

/* The crafted-packet source prefixes of a publisher (source or prefixes). */
const struct policy_prefixes *policy_source(const struct ns_policy *p);

/* Checks the syntax of a reverse-routability password: POLICY_RRC_PASSWORD_MIN
 * ..MAX characters of [A-Za-z0-9+/=_-]. Returns 0 or -EINVAL. */
int policy_rrc_password_valid(const char *password);

/* Checks a SETUP against the policy: each of its filters (prefix, protocol,
 * ports; the reason names the filter that fails, "filter 2"),
 * the listening sockets it asks for, and reserved property keys. `proven`,
 * when not NULL, is an address the publisher proved to control (reverse
 * routability): a filter inside it passes the prefix check. Returns 0 or
 * -EPERM with the reason in err. */
int policy_check_setup(const struct ns_policy *p, const struct ncm_request *req,
                       const struct policy_listen *listen, size_t n_listen,
                       const struct ncm_prefix *proven, char *err, size_t errlen);

/* Where a publisher's sockets may connect and send unasked (the
 * connect_destinations, or its prefixes when not given). */
const struct policy_prefixes *policy_connect(const struct ns_policy *p);

/* Checks that every name in the SETUP's `dependencies` is one of the node's
 * building blocks (comma-separated list) or, when installed is not NULL, a
 * module for which installed(ctx, name) is true. Returns 0 or -ENOENT with
 * the first missing name in err. */
int policy_check_dependencies(const struct ncm_request *req, const char *building_blocks,
                              bool (*installed)(void *ctx, const char *name), void *ctx, char *err,
                              size_t errlen);
