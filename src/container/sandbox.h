/* Container hardening: what confines a netserv-container beyond its uid,
 * cgroup and rlimits (docs/security.md):
 *   - an optional network namespace of its own (the papers' lxc mode) with
 *     its own address, joined before the uid drop; the packet queue and the
 *     send sockets, opened earlier, stay in the node's namespace;
 *   - capabilities: none, but CAP_NET_BIND_SERVICE when it must listen on a
 *     port below 1024 in the node's namespace; in no set (bounding, ambient,
 *     inheritable). Its packet queue is bound by netservd, which sends its
 *     verdicts (runtime/verdict_relay.h);
 *   - landlock: files only in the container's own directory (and reading its
 *     own /proc/<pid>); TCP binds only on its allowed listen ports, no TCP
 *     connects unless its policy names connect_destinations (landlock
 *     matches ports, not addresses: the module host checks the address);
 *     no signals or abstract sockets outside the container;
 *   - a seccomp allowlist (libseccomp) of the system calls a container makes,
 *     derived with strace from real containers; any other call kills the
 *     process (SIGSYS) and the supervisor restarts it.
 *
 * struct sandbox_config (proto/sandbox_config.h) travels in the
 * supervisor's ASSIGN message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "proto/sandbox_config.h"

/* ---- in the container ------------------------------------------------------ */

struct sandbox {
	struct sandbox_config cfg;
	struct policy_prefixes sources;
	bool any_dest;                /* send_destinations "" (any) */
	struct policy_prefixes dests; /* else: where modules may send */
	struct policy_ports listen_tcp, listen_udp;
	struct policy_prefixes connect; /* where sockets may connect or send unasked */
	bool in_netns;
	int dir_fd;        /* the own directory, opened before the uid drop */
	char applied[160]; /* what is in force, for the supervisor's log */
};

/* Parses the configuration, opens the own directory and joins the network
 * namespace (needs root: call before the uid drop; the publisher's uid may
 * not be able to reach its directory by path). Returns 0 or a negative errno
 * with the reason. */
int sandbox_init(struct sandbox *sb, const struct sandbox_config *cfg, char *err, size_t errlen);

/* The capabilities to keep across the uid drop, as a CAP_* bit mask:
 * CAP_NET_BIND_SERVICE for a listen port below 1024 outside a namespace of
 * its own, else none. */
uint32_t sandbox_keep_caps(const struct sandbox *sb);

/* After the uid drop: enters the own directory, drops capabilities to `keep`
 * in every set, applies landlock and then the seccomp filter. Landlock that
 * the kernel lacks is reported in sb->applied, not an error. Returns 0 or a
 * negative errno with the reason. */
int sandbox_lockdown(struct sandbox *sb, uint32_t keep, char *err, size_t errlen);

/* The send policy (modhost_send_policy_fn's decision): -EPERM when src is
 * not NULL (NULL: the node picks the address) and outside the allowed source
 * prefixes, or when dst is not NULL (NULL: a modified packet, not a send) and
 * outside the allowed destinations; else 0. */
int sandbox_send_allowed(const struct sandbox *sb, int family, const uint8_t *src,
                         const uint8_t *dst);

/* Whether the module may listen on proto/port (policy_listen, for the
 * listeners the container opens). */
bool sandbox_listen_allowed(const struct sandbox *sb, uint8_t proto, uint16_t port);

/* Whether a socket may connect or send unasked to addr (4 or 16 bytes by
 * family AF_INET/AF_INET6): inside connect_destinations. */
bool sandbox_connect_allowed(const struct sandbox *sb, int family, const uint8_t *addr);
