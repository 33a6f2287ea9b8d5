/* The security part of netservd's configuration (etc/netservd.conf,
 * docs/security.md): the [security] section, the [containers] hardening
 * switches, and the policy and sandbox keys of [publisher NAME] sections.
 * config.c calls these hooks; the values live in struct ns_config. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ns_config;

struct ns_security {
	/* [security] */
	bool require_signatures;        /* refuse unsigned SETUP/REMOVE/TRIGGER */
	bool accept_unbound_signatures; /* by GIST, accept signed requests without signal-to */
	char keys_dir[PATH_MAX];        /* <keys_dir>/<user>.pub */
	uint32_t timestamp_window_s;    /* accepted |now - timestamp| */
	uint32_t rrc_port;              /* reverse-routability check: HTTP port */
	uint32_t rrc_timeout_s;
	/* [containers] */
	bool seccomp;  /* the system-call allowlist */
	bool landlock; /* file and port confinement */
	/* [publisher NAME] netns = yes; one per publisher (config.h's n_alloc) */
	bool *netns;
};

/* Fills the defaults of [security] and [containers] security keys. */
void config_security_defaults(struct ns_config *cfg);

/* Defaults of publisher i's policy and sandbox. */
void config_security_publisher_defaults(struct ns_config *cfg, size_t i);

/* Applies a key of publisher i's section if it is a security key (policy:
 * prefixes, source_prefixes, filter_protocols, filter_ports, listen_ports,
 * max_modules, require_hash, rrc; sandbox: netns, netns_address,
 * netns_gateway). Returns 1 when applied, 0 when not such a key, -1 with the
 * reason in msg. */
int config_security_publisher(struct ns_config *cfg, size_t i, const char *key, const char *value,
                              char *msg, size_t msglen);

/* Checks and completes the security settings once the file is read: each
 * publisher's policy, its sandbox (own directory, network namespace, the
 * send and listen policy the container enforces). Returns 0 or -EINVAL with
 * the reason in msg. */
int config_security_finish(struct ns_config *cfg, char *msg, size_t msglen);
