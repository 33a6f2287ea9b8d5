/* The security part of netservd's configuration (see config_security.h). */
#include "daemon/config_security.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"
#include "daemon/config.h"
#include "paths.h"

void config_security_defaults(struct ns_config *cfg)
{
	struct ns_security *s = &cfg->security;
	memset(s, 0, sizeof(*s));
	s->require_signatures = true;
	snprintf(s->keys_dir, sizeof(s->keys_dir), "%s", NETSERV_DEFAULT_KEYSDIR);
	s->timestamp_window_s = 300;
	s->rrc_port = 80;
	s->rrc_timeout_s = 5;
	s->seccomp = true;
	s->landlock = true;
}

void config_security_publisher_defaults(struct ns_config *cfg, size_t i)
{
	policy_defaults(&cfg->policies[i]);
	memset(&cfg->publishers[i].ct.sandbox, 0, sizeof(cfg->publishers[i].ct.sandbox));
	cfg->security.netns[i] = false;
}

/* "10.77.1.2/24" or "2001:db8::2/64" (host bits allowed: an interface
 * address); or, with want_len false, one address. */
static bool addr_ok(const char *s, bool want_len)
{
	char a[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(a) || (slash != NULL) != want_len)
		return false;
	memcpy(a, s, n);
	a[n] = '\0';
	uint8_t buf[16];
	int family = strchr(a, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, a, buf) != 1)
		return false;
	if (!slash)
		return true;
	char *end;
	unsigned long len = strtoul(slash + 1, &end, 10);
	return slash[1] && !*end && len >= 1 && len <= (family == AF_INET ? 30u : 126u);
}

int config_security_publisher(struct ns_config *cfg, size_t i, const char *key, const char *value,
                              char *msg, size_t msglen)
{
	char why[200];
	struct sandbox_config *sb = &cfg->publishers[i].ct.sandbox;
	const char *name = cfg->publishers[i].ct.user;
	int r = policy_set(&cfg->policies[i], key, value, why, sizeof(why));
	if (r < 0) {
		snprintf(msg, msglen, "[publisher %s] %s", name, why);
		return -1;
	}
	if (r > 0)
		return 1;
	if (strcmp(key, "netns") == 0) {
		if (config_parse_bool(value, &cfg->security.netns[i]) < 0) {
			snprintf(msg, msglen, "[publisher %s] netns: '%s' is not yes or no", name,
			         value);
			return -1;
		}
		return 1;
	}
	if (strcmp(key, "netns_address") == 0 || strcmp(key, "netns_gateway") == 0) {
		bool is_addr = key[6] == 'a';
		if (!addr_ok(value, is_addr)) {
			snprintf(msg, msglen, "[publisher %s] %s: '%s' is not %s", name, key, value,
			         is_addr ? "an address with its prefix length (10.77.1.2/24)"
			                 : "an address (10.77.1.1)");
			return -1;
		}
		snprintf(is_addr ? sb->netns_address : sb->netns_gateway,
		         is_addr ? sizeof(sb->netns_address) : sizeof(sb->netns_gateway), "%s",
		         value);
		return 1;
	}
	return 0;
}

int config_security_finish(struct ns_config *cfg, char *msg, size_t msglen)
{
	char why[200];
	for (size_t i = 0; i < cfg->n_publishers; i++) {
		struct sup_publisher *p = &cfg->publishers[i];
		struct ns_policy *pol = &cfg->policies[i];
		struct sandbox_config *sb = &p->ct.sandbox;
		if (policy_finish(pol, why, sizeof(why)) < 0) {
			snprintf(msg, msglen, "[publisher %s] %s", p->ct.user, why);
			return -EINVAL;
		}
		policy_format_prefixes(policy_source(pol), sb->source_prefixes,
		                       sizeof(sb->source_prefixes));
		policy_format_listen_ports(&pol->listen_tcp, &pol->listen_udp, sb->listen_ports,
		                           sizeof(sb->listen_ports));
		if (!pol->has_send_dst)
			sb->send_destinations[0] = '\0'; /* any */
		else if (pol->send_dst.n == 0)
			snprintf(sb->send_destinations, sizeof(sb->send_destinations), "none");
		else
			policy_format_prefixes(&pol->send_dst, sb->send_destinations,
			                       sizeof(sb->send_destinations));
		sb->send_pps = pol->send_pps;
		sb->send_bytes_per_s = pol->send_bytes_per_s;
		if (policy_connect(pol)->n == 0)
			snprintf(sb->connect_destinations, sizeof(sb->connect_destinations),
			         "none");
		else
			policy_format_prefixes(policy_connect(pol), sb->connect_destinations,
			                       sizeof(sb->connect_destinations));
		sb->max_sockets = pol->max_sockets;
		sb->socket_bytes_per_s = pol->socket_bytes_per_s;
		sb->http_connections = pol->http_connections;
		sb->fetch_stall_s = pol->fetch_stall_s;
		sb->storage_quota = pol->storage_quota;
		sb->media = pol->media;
		sb->no_seccomp = !cfg->security.seccomp;
		sb->no_landlock = !cfg->security.landlock;
		if ((size_t)snprintf(sb->dir, sizeof(sb->dir), "%s/containers/%s", cfg->state_dir,
		                     p->ct.user) >= sizeof(sb->dir)) {
			snprintf(msg, msglen,
			         "[node] state_dir is too long for container directories");
			return -EINVAL;
		}
		sb->netns[0] = '\0';
		if (!cfg->security.netns[i])
			continue;
		if (!sb->netns_address[0] || !sb->netns_gateway[0]) {
			snprintf(msg, msglen,
			         "[publisher %s] netns = yes needs netns_address and netns_gateway",
			         p->ct.user);
			return -EINVAL;
		}
		/* The namespace's name: the cgroup prefix (unique per node) and the
		 * publisher, '/' made '-'. */
		int n = snprintf(sb->netns, sizeof(sb->netns), "%s-%s", cfg->cgroup_prefix,
		                 p->ct.user);
		if (n < 0 || (size_t)n >= sizeof(sb->netns)) {
			snprintf(msg, msglen, "[publisher %s] network namespace name too long",
			         p->ct.user);
			return -EINVAL;
		}
		for (char *c = sb->netns; *c; c++)
			if (*c == '/')
				*c = '-';
	}
	return 0;
}
