/* What confines a container (container/sandbox.h), as the supervisor sends
 * it in the ASSIGN message's "sandbox" object. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

struct sandbox_config {
	bool no_seccomp;        /* [containers] seccomp = no */
	bool no_landlock;       /* [containers] landlock = no */
	char dir[256];          /* the container's own directory; "" none */
	char netns[64];         /* network namespace to join (/run/netns/NAME); "" none */
	char netns_address[64]; /* daemon side: the container's address, "10.77.1.2/24" */
	char netns_gateway[48]; /* daemon side: the node's end of the veth, "10.77.1.1" */
	char source_prefixes[POLICY_TEXT_LEN]; /* crafted packets' sources; "" none */
	char listen_ports[256];                /* allowed listening ports, "tcp:80,udp:5060-5070" */
	/* What its modules may send (ns_send_udp, ns_send_packet), all modules
	 * together: destinations ("" any, else a prefix list, "none" none) and
	 * a rate (token buckets one second deep; 0 = no limit). Absent keys take
	 * the policy defaults (POLICY_DEFAULT_SEND_*). */
	char send_destinations[POLICY_TEXT_LEN];
	uint32_t send_pps;
	uint64_t send_bytes_per_s;
	/* Server modules' sockets (socket/1): where they may connect or send
	 * unasked ("none" none; absent: none), how many sockets and connections
	 * (absent: POLICY_DEFAULT_MAX_SOCKETS), bytes/s sent (0 = no limit). */
	char connect_destinations[POLICY_TEXT_LEN];
	uint32_t max_sockets;
	uint64_t socket_bytes_per_s;
	uint32_t http_connections; /* per http/1 server (policy http_connections) */
	uint32_t fetch_stall_s;    /* ns_http_fetch's stall limit, s (policy fetch_stall) */
	uint64_t storage_quota;    /* storage/1 bytes (policy storage_quota), 0: no storage */
	bool media;                /* media/1: load FFmpeg (policy media) */
};

/* The ASSIGN message's "sandbox" object and back. from_json fills defaults
 * (everything on, nothing allowed) for absent keys. */
json_t *sandbox_config_to_json(const struct sandbox_config *cfg);
void sandbox_config_from_json(json_t *j, struct sandbox_config *ret);
