/* netservd configuration: table-driven INI directives (nginx style). */
#include "daemon/config.h"

#include <errno.h>
#include <arpa/inet.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "daemon/sidecar_group.h"
#include "fwd/fwd_openflow.h"
#include "lib/util.h"
#include "ncm/ncm.h"
#include "paths.h"

enum directive_kind { DIR_STRING, DIR_U32, DIR_SIZE, DIR_BOOL, DIR_LOGLEVEL, DIR_I64, DIR_LISTEN };

struct directive {
	const char *section;
	const char *key;
	enum directive_kind kind;
	size_t offset;
	size_t size;       /* strings: buffer size; u32: unused */
	uint32_t min, max; /* u32 bounds */
};

#define STR(sec, key, field)                                                                       \
	{                                                                                          \
		sec, key, DIR_STRING, offsetof(struct ns_config, field),                           \
		        sizeof(((struct ns_config *)0)->field), 0, 0                               \
	}
#define U32(sec, key, field, lo, hi)                                                               \
	{                                                                                          \
		sec, key, DIR_U32, offsetof(struct ns_config, field), 0, lo, hi                    \
	}
#define OTHER(sec, key, kind, field)                                                               \
	{                                                                                          \
		sec, key, kind, offsetof(struct ns_config, field), 0, 0, 0                         \
	}

static const struct directive directives[] = {
        STR("node", "id", node_id),
        STR("node", "state_dir", state_dir),
        STR("node", "admin_socket", admin_socket),
        OTHER("log", "level", DIR_LOGLEVEL, log_level),
        OTHER("log", "syslog", DIR_BOOL, log_syslog),
        U32("fetch", "timeout", fetch_timeout_s, 1, 3600),
        OTHER("fetch", "max_size", DIR_SIZE, fetch_max_size),
        STR("fetch", "protocols", fetch_protocols),
        U32("modules", "default_ttl", default_ttl, 1, 365u * 24 * 3600),
        U32("modules", "max_ttl", max_ttl, 1, 365u * 24 * 3600),
        U32("modules", "max_modules", max_modules, 1, 100000),
        OTHER("modules", "require_hash", DIR_BOOL, require_hash),
        STR("modules", "runtime", runtime),
        OTHER("modules", "max_memory", DIR_SIZE, module_max_memory),
        U32("modules", "compile_timeout", compile_timeout_s, 1, 3600),
        STR("modules", "compile_user", compile_user),
        STR("modules", "compile_cache", compile_cache),
        OTHER("modules", "quick_compile", DIR_BOOL, quick_compile),
        STR("containers", "program", container_program),
        U32("containers", "pool_size", pool_size, 0, 64),
        OTHER("containers", "zygote", DIR_BOOL, zygote),
        U32("containers", "heartbeat_ms", heartbeat_ms, 50, 60000),
        U32("containers", "restart_limit", restart_limit, 1, 32),
        U32("containers", "restart_window", restart_window_s, 1, 86400),
        U32("containers", "install_wait_ms", install_wait_ms, 100, 600000),
        STR("containers", "cgroup", cgroup_prefix),
        STR("containers", "cgroup_delegated", cgroup_delegated),
        U32("containers", "queue_base", queue_base, 0, 65000),
        U32("containers", "uid_base", uid_base, 1000, 4000000000u),
        STR("forwarding", "driver", fwd_driver),
        STR("forwarding", "chain_prefix", fwd_chain_prefix),
        STR("forwarding", "hooks", fwd_hooks),
        STR("forwarding", "interfaces", fwd_interfaces),
        STR("forwarding", "sampler", fwd_sampler),
        U32("forwarding", "stall_ms", xdp_stall_ms, 10, 10000),
        OTHER("openflow", "listen", DIR_LISTEN, of_listen),
        U32("openflow", "signaling_port", of_signaling_port, 1, 0xffffff00u),
        STR("openflow", "nodes", of_nodes),
        STR("openflow", "local_node", of_local_node),
        U32("openflow", "echo_interval_ms", of_echo_interval_ms, 100, 60000),
        U32("openflow", "echo_timeout_ms", of_echo_timeout_ms, 200, 600000),
        OTHER("security", "require_signatures", DIR_BOOL, security.require_signatures),
        OTHER("security", "accept_unbound_signatures", DIR_BOOL,
              security.accept_unbound_signatures),
        STR("security", "keys_dir", security.keys_dir),
        U32("security", "timestamp_window", security.timestamp_window_s, 10, 86400),
        U32("security", "rrc_port", security.rrc_port, 1, 65535),
        U32("security", "rrc_timeout", security.rrc_timeout_s, 1, 60),
        OTHER("containers", "seccomp", DIR_BOOL, security.seccomp),
        OTHER("containers", "landlock", DIR_BOOL, security.landlock),
        OTHER("signaling", "enable", DIR_BOOL, sig_enable),
        U32("signaling", "nslpid", sig_nslpid, 1, 65535),
        U32("signaling", "intercept_queue", sig_queue, 0, 65535),
        U32("signaling", "port", sig_port, 1, 65535),
        U32("signaling", "t1_ms", sig_t1_ms, 10, 60000),
        U32("signaling", "t2_ms", sig_t2_ms, 10, 600000),
        OTHER("signaling", "icmp_last_node", DIR_BOOL, sig_icmp),
        OTHER("signaling", "router_alert", DIR_BOOL, sig_router_alert),
        OTHER("signaling", "router_alert6", DIR_BOOL, sig_router_alert6),
        U32("signaling", "response_timeout", sig_response_timeout_s, 1, 3600),
        OTHER("metrics", "listen", DIR_LISTEN, metrics_listen),
        STR("sidecar", "group", sc_group),
        STR("sidecar", "node", sc_node),
        STR("sidecar", "key_file", sc_key_file),
        STR("sidecar", "peers", sc_peers),
        OTHER("sidecar", "listen", DIR_LISTEN, sc_listen),
        U32("sidecar", "heartbeat_ms", sc_heartbeat_ms, 10, 10000),
        U32("sidecar", "dead_after_ms", sc_dead_after_ms, 30, 60000),
        U32("sidecar", "answer_wait_ms", sc_answer_wait_ms, 100, 60000),
};

/* Keys of a [publisher NAME] section, relative to struct sup_publisher. */
#define PU32(key, field, lo, hi)                                                                   \
	{                                                                                          \
		"publisher", key, DIR_U32, offsetof(struct sup_publisher, field), 0, lo, hi        \
	}
static const struct directive publisher_directives[] = {
        {"publisher", "uid", DIR_I64, offsetof(struct sup_publisher, ct.uid), 0, 0, 0},
        {"publisher", "gid", DIR_I64, offsetof(struct sup_publisher, ct.gid), 0, 0, 0},
        PU32("nice", ct.nice, 0, 19),
        PU32("budget_ms", ct.budget_ms, 1, 10000),
        PU32("trap_limit", ct.trap_limit, 1, 1000),
        PU32("trap_window", ct.trap_window_s, 1, 86400),
        PU32("log_rate", ct.log_per_s, 1, 10000),
        {"publisher", "memory", DIR_SIZE, offsetof(struct sup_publisher, cgroup.memory_bytes), 0, 0,
         0},
        PU32("cpu", cgroup.cpu_percent, 1, 100 * 256),
        PU32("pids", cgroup.pids_max, 1, 100000),
        PU32("rt_priority", ct.rt_priority, 1, 99),
        PU32("batch", ct.batch, 1, 256),
        {"publisher", "cpu_pin", DIR_I64, offsetof(struct sup_publisher, ct.cpu), 0, 0, 0},
};

void config_defaults(struct ns_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	if (gethostname(cfg->node_id, sizeof(cfg->node_id) - 1) < 0 || !cfg->node_id[0])
		snprintf(cfg->node_id, sizeof(cfg->node_id), "netserv");
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", NETSERV_DEFAULT_STATEDIR);
	snprintf(cfg->admin_socket, sizeof(cfg->admin_socket), "%s", NETSERV_DEFAULT_SOCKET);
	cfg->log_level = LOG_LVL_INFO;
	cfg->fetch_timeout_s = 30;
	cfg->fetch_max_size = 16u << 20;
	snprintf(cfg->fetch_protocols, sizeof(cfg->fetch_protocols), "http,https");
	cfg->default_ttl = 3600;
	cfg->max_ttl = 7 * 24 * 3600;
	cfg->max_modules = 256;
	cfg->require_hash = true;
	snprintf(cfg->runtime, sizeof(cfg->runtime), "wasm");
	cfg->module_max_memory = 16u << 20;
	cfg->compile_timeout_s = 120;
	snprintf(cfg->compile_user, sizeof(cfg->compile_user), "nobody");
	cfg->pool_size = 1;
	cfg->zygote = true;
	cfg->heartbeat_ms = 1000;
	cfg->restart_limit = 3;
	cfg->restart_window_s = 60;
	cfg->install_wait_ms = 10000;
	snprintf(cfg->cgroup_prefix, sizeof(cfg->cgroup_prefix), "netserv");
	snprintf(cfg->cgroup_delegated, sizeof(cfg->cgroup_delegated), "auto");
	cfg->queue_base = 1000;
	cfg->uid_base = 20000;
	snprintf(cfg->fwd_driver, sizeof(cfg->fwd_driver), "netfilter");
	snprintf(cfg->fwd_chain_prefix, sizeof(cfg->fwd_chain_prefix), "NETSERV");
	snprintf(cfg->fwd_hooks, sizeof(cfg->fwd_hooks), "forward,input");
	snprintf(cfg->fwd_sampler, sizeof(cfg->fwd_sampler), "nflog");
	cfg->xdp_stall_ms = 100;
	cfg->of_echo_interval_ms = 1000;
	cfg->of_echo_timeout_ms = 3000;
	config_security_defaults(cfg);
	cfg->sig_enable = false;
	cfg->sig_nslpid = 32767; /* NSLP_ID_NETSERV */
	cfg->sig_queue = 270;
	cfg->sig_port = 270;
	cfg->sig_t1_ms = 100;
	cfg->sig_t2_ms = 3200;
	cfg->sig_icmp = true;
	cfg->sig_router_alert6 = true; /* NSIS-ka intercepts IPv6 Queries only with it */
	cfg->sig_response_timeout_s = 60;
	cfg->sc_heartbeat_ms = 100;
	cfg->sc_dead_after_ms = 500;
	cfg->sc_answer_wait_ms = 3000;
}

void config_free(struct ns_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->publishers);
	free(cfg->policies);
	free(cfg->security.netns);
	cfg->publishers = NULL;
	cfg->policies = NULL;
	cfg->security.netns = NULL;
	cfg->n_publishers = cfg->n_alloc = 0;
}

void config_move(struct ns_config *to, struct ns_config *from)
{
	config_free(to);
	*to = *from;
	from->publishers = NULL;
	from->policies = NULL;
	from->security.netns = NULL;
	from->n_publishers = from->n_alloc = 0;
}

/* Room for one more publisher: the three arrays grow together. */
static int publishers_grow(struct ns_config *cfg)
{
	if (cfg->n_publishers < cfg->n_alloc)
		return 0;
	size_t n = cfg->n_alloc ? cfg->n_alloc * 2 : 16;
	if (n > NS_MAX_PUBLISHERS)
		n = NS_MAX_PUBLISHERS;
	struct sup_publisher *pubs = realloc(cfg->publishers, n * sizeof(*pubs));
	if (pubs)
		cfg->publishers = pubs;
	struct ns_policy *pols = realloc(cfg->policies, n * sizeof(*pols));
	if (pols)
		cfg->policies = pols;
	bool *netns = realloc(cfg->security.netns, n * sizeof(*netns));
	if (netns)
		cfg->security.netns = netns;
	if (!pubs || !pols || !netns)
		return -ENOMEM;
	cfg->n_alloc = n;
	return 0;
}

/* Defaults of a publisher section; the uid comes from its position. */
static void publisher_defaults(struct ns_config *cfg, struct sup_publisher *p, const char *name)
{
	memset(p, 0, sizeof(*p));
	proto_assign_defaults(&p->ct);
	snprintf(p->ct.user, sizeof(p->ct.user), "%s", name);
	p->ct.uid = (int64_t)cfg->uid_base + (int64_t)cfg->n_publishers;
	p->ct.gid = -2; /* = uid unless set */
	p->cgroup.memory_bytes = 256u << 20;
	p->cgroup.pids_max = 64;
	config_security_publisher_defaults(cfg, (size_t)(p - cfg->publishers));
}

int config_parse_size(const char *s, uint64_t *ret)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return -EINVAL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE || end == s)
		return errno == ERANGE ? -ERANGE : -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

int config_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int config_parse_listen(const char *s, struct ns_listen *ret)
{
	struct ns_listen l = {0};
	if (!*s) {
		*ret = l;
		return 0;
	}
	if (strlen(s) >= sizeof(l.text))
		return -EINVAL;
	char host[64];
	const char *port;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(close - s - 1), s + 1);
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
		port = colon + 1;
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (!*port || *end || errno || *port == '-' || *port == '+' || p < 1 || p > 65535)
		return -EINVAL;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l.addr;
	if (*s != '[' && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)p);
		l.addr_len = sizeof(*in4);
	} else if (*s == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		l.addr_len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	snprintf(l.text, sizeof(l.text), "%s", s);
	*ret = l;
	return 0;
}

struct parse_ctx {
	struct ns_config *cfg;
	char msg[200]; /* first error, without file:line */
};

static int apply(struct parse_ctx *pc, void *base, const struct directive *d, const char *value)
{
	char *field = (char *)base + d->offset;
	switch (d->kind) {
	case DIR_STRING:
		if (strlen(value) >= d->size) {
			snprintf(pc->msg, sizeof(pc->msg), "[%s] %s: value longer than %zu bytes",
			         d->section, d->key, d->size - 1);
			return -ERANGE;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case DIR_U32: {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (!*value || *end || errno || *value == '-' || v < d->min || v > d->max) {
			snprintf(pc->msg, sizeof(pc->msg),
			         "[%s] %s: '%s' is not a number in %u..%u", d->section, d->key,
			         value, d->min, d->max);
			return -EINVAL;
		}
		*(uint32_t *)field = (uint32_t)v;
		return 0;
	}
	case DIR_SIZE:
		if (config_parse_size(value, (uint64_t *)field) < 0) {
			snprintf(pc->msg, sizeof(pc->msg),
			         "[%s] %s: '%s' is not a size (e.g. 512K, 16M)", d->section, d->key,
			         value);
			return -EINVAL;
		}
		return 0;
	case DIR_BOOL:
		if (config_parse_bool(value, (bool *)field) < 0) {
			snprintf(pc->msg, sizeof(pc->msg), "[%s] %s: '%s' is not yes or no",
			         d->section, d->key, value);
			return -EINVAL;
		}
		return 0;
	case DIR_I64: {
		char *end;
		errno = 0;
		long long v = strtoll(value, &end, 10);
		if (!*value || *end || errno || v < 0 || v > 4000000000ll) {
			snprintf(pc->msg, sizeof(pc->msg), "[%s] %s: '%s' is not a number",
			         d->section, d->key, value);
			return -EINVAL;
		}
		*(int64_t *)field = v;
		return 0;
	}
	case DIR_LISTEN:
		if (config_parse_listen(value, (struct ns_listen *)field) < 0) {
			snprintf(pc->msg, sizeof(pc->msg),
			         "[%s] %s: '%s' is not ADDRESS:PORT (a numeric IPv4 address or "
			         "[IPv6], port 1..65535)",
			         d->section, d->key, value);
			return -EINVAL;
		}
		return 0;
	case DIR_LOGLEVEL:
		if (log_level_parse(value, (enum log_level *)field) < 0) {
			snprintf(pc->msg, sizeof(pc->msg),
			         "[%s] %s: '%s' is not one of err, warn, notice, info, debug",
			         d->section, d->key, value);
			return -EINVAL;
		}
		return 0;
	}
	return -EINVAL;
}

static bool publisher_name_ok(const char *n)
{
	if (!*n || strlen(n) > NCM_MAX_USER || !((*n >= 'a' && *n <= 'z') || *n == '_'))
		return false;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_' ||
		      *n == '-'))
			return false;
	return true;
}

static int on_publisher_entry(struct parse_ctx *pc, const char *name, const char *key,
                              const char *value)
{
	struct ns_config *cfg = pc->cfg;
	if (!publisher_name_ok(name)) {
		snprintf(pc->msg, sizeof(pc->msg),
		         "[publisher %s]: not a valid user name ([a-z_][a-z0-9_-]*, at most %d)",
		         name, NCM_MAX_USER);
		return 0;
	}
	struct sup_publisher *p = NULL;
	/* A section's keys come one after the other: try the last one first. */
	if (cfg->n_publishers && strcmp(cfg->publishers[cfg->n_publishers - 1].ct.user, name) == 0)
		p = &cfg->publishers[cfg->n_publishers - 1];
	for (size_t i = 0; !p && i < cfg->n_publishers; i++)
		if (strcmp(cfg->publishers[i].ct.user, name) == 0)
			p = &cfg->publishers[i];
	if (!p) {
		if (cfg->n_publishers >= NS_MAX_PUBLISHERS) {
			snprintf(pc->msg, sizeof(pc->msg),
			         "[publisher %s]: more than %d publishers (the node's limit)", name,
			         NS_MAX_PUBLISHERS);
			return 0;
		}
		if (publishers_grow(cfg) < 0) {
			snprintf(pc->msg, sizeof(pc->msg), "[publisher %s]: out of memory", name);
			return 0;
		}
		p = &cfg->publishers[cfg->n_publishers];
		publisher_defaults(cfg, p, name);
		cfg->n_publishers++;
	}
	if (!*key)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(publisher_directives); i++)
		if (strcmp(publisher_directives[i].key, key) == 0)
			return apply(pc, p, &publisher_directives[i], value) == 0;
	int sec = config_security_publisher(cfg, (size_t)(p - cfg->publishers), key, value, pc->msg,
	                                    sizeof(pc->msg));
	if (sec != 0)
		return sec > 0;
	snprintf(pc->msg, sizeof(pc->msg), "unknown key '%s' in section [publisher %s]", key, name);
	return 0;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *pc = user;
	if (pc->msg[0])
		return 0;
	if (strncmp(section, "publisher ", 10) == 0)
		return on_publisher_entry(pc, section + 10, name, value);
	bool section_known = false;
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++) {
		const struct directive *d = &directives[i];
		if (strcmp(d->section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(d->key, name) == 0)
			return apply(pc, pc->cfg, d, value) == 0;
	}
	if (section_known)
		snprintf(pc->msg, sizeof(pc->msg), "unknown key '%s' in section [%s]", name,
		         section);
	else if (!*section)
		snprintf(pc->msg, sizeof(pc->msg), "key '%s' outside of any section", name);
	else
		snprintf(pc->msg, sizeof(pc->msg), "unknown section [%s]", section);
	return 0;
}

int config_interfaces(const char *list, char names[][16], size_t max)
{
	char buf[sizeof(((struct ns_config *)0)->fwd_interfaces)];
	size_t n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *save = NULL, *w = strtok_r(buf, ", \t", &save); w;
	     w = strtok_r(NULL, ", \t", &save)) {
		size_t len = strlen(w);
		if (len >= 16 || strpbrk(w, "/:"))
			return -EINVAL;
		if (n == max)
			return -E2BIG;
		memcpy(names[n++], w, len + 1);
	}
	return (int)n;
}

/* [forwarding]: a known driver and sampler; for xdp, and for sampler = tc,
 * 1..4 valid interface names. */
static int check_forwarding(const struct ns_config *cfg, char *msg, size_t len)
{
	const char *d = cfg->fwd_driver;
	char names[4][16];

	if (strcmp(d, "netfilter") != 0 && strcmp(d, "xdp") != 0 && strcmp(d, "openflow") != 0 &&
	    strcmp(d, "none") != 0) {
		snprintf(msg, len,
		         "[forwarding] driver '%s' is not netfilter, xdp, openflow or none", d);
		return -EINVAL;
	}
	bool tc = strcmp(cfg->fwd_sampler, "tc") == 0;
	if (!tc && strcmp(cfg->fwd_sampler, "nflog") != 0) {
		snprintf(msg, len, "[forwarding] sampler '%s' is not nflog or tc",
		         cfg->fwd_sampler);
		return -EINVAL;
	}
	if (tc && strcmp(d, "netfilter") != 0) {
		snprintf(msg, len,
		         "[forwarding] sampler = tc is for driver = netfilter (the xdp plane "
		         "samples in its XDP program)");
		return -EINVAL;
	}
	if (strcmp(d, "xdp") != 0 && !tc)
		return 0;
	int n = config_interfaces(cfg->fwd_interfaces, names, 4);
	if (n == 0) {
		snprintf(msg, len,
		         "[forwarding] %s needs interfaces = the router interfaces to "
		         "attach to (e.g. interfaces = eth0, eth1)",
		         tc ? "sampler = tc" : "driver = xdp");
		return -EINVAL;
	}
	if (n < 0) {
		const char *why =
		        n == -E2BIG ? "at most 4 interfaces"
		                    : "an interface name is 1..15 characters without '/' or ':'";
		if ((size_t)snprintf(msg, len, "[forwarding] interfaces '%.60s': %s",
		                     cfg->fwd_interfaces, why) >= len)
			msg[len - 1] = '\0';
		return -EINVAL;
	}
	return 0;
}

/* For driver = openflow, the [openflow] section (the driver's name:
 * check_forwarding). */
static int config_check_openflow(const struct ns_config *cfg, char *msg, size_t len)
{
	const char *d = cfg->fwd_driver;
	if (strcmp(d, "openflow") != 0)
		return 0;
	if (!cfg->of_listen.text[0] || !cfg->of_signaling_port) {
		snprintf(msg, len,
		         "driver = openflow needs [openflow] listen (ADDRESS:PORT the switch "
		         "connects to) and signaling_port (the signaling node's switch port)");
		return -EINVAL;
	}
	if (cfg->of_echo_timeout_ms <= cfg->of_echo_interval_ms) {
		snprintf(msg, len,
		         "[openflow] echo_timeout_ms %u must be above echo_interval_ms %u",
		         cfg->of_echo_timeout_ms, cfg->of_echo_interval_ms);
		return -EINVAL;
	}
	struct fwd_of_node nodes[FWD_OF_MAX_NODES];
	size_t n = 0;
	char why[160];
	if (fwd_openflow_parse_nodes(cfg->of_nodes, nodes, FWD_OF_MAX_NODES, &n, why, sizeof(why)) <
	    0) {
		snprintf(msg, len, "[openflow] nodes: %s", why);
		return -EINVAL;
	}
	if (!cfg->of_local_node[0])
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(nodes[i].name, cfg->of_local_node) == 0)
			return 0;
	snprintf(msg, len, "[openflow] local_node '%s' is not one of [openflow] nodes",
	         cfg->of_local_node);
	return -EINVAL;
}

static int finish(struct parse_ctx *pc, int line, const char *name, char *err, size_t errlen)
{
	if (line == 0 && !pc->msg[0]) {
		if (pc->cfg->default_ttl > pc->cfg->max_ttl) {
			snprintf(err, err ? errlen : 0,
			         "%s: [modules] default_ttl %u is larger than max_ttl %u", name,
			         pc->cfg->default_ttl, pc->cfg->max_ttl);
			return -EINVAL;
		}
		for (size_t i = 0; i < pc->cfg->n_publishers; i++)
			if (pc->cfg->publishers[i].ct.gid == -2)
				pc->cfg->publishers[i].ct.gid = pc->cfg->publishers[i].ct.uid;
		if (strcmp(pc->cfg->cgroup_delegated, "auto") != 0 &&
		    strcmp(pc->cfg->cgroup_delegated, "yes") != 0 &&
		    strcmp(pc->cfg->cgroup_delegated, "no") != 0) {
			snprintf(err, err ? errlen : 0,
			         "%s: [containers] cgroup_delegated '%s' is not auto, yes or no",
			         name, pc->cfg->cgroup_delegated);
			return -EINVAL;
		}
		if (config_check_openflow(pc->cfg, pc->msg, sizeof(pc->msg)) < 0) {
			snprintf(err, err ? errlen : 0, "%s: %s", name, pc->msg);
			return -EINVAL;
		}
		if (strcmp(pc->cfg->runtime, "wasm") != 0 &&
		    strcmp(pc->cfg->runtime, "none") != 0) {
			snprintf(err, err ? errlen : 0,
			         "%s: [modules] runtime '%s' is not wasm or none", name,
			         pc->cfg->runtime);
			return -EINVAL;
		}
		if (check_forwarding(pc->cfg, pc->msg, sizeof(pc->msg)) < 0) {
			snprintf(err, err ? errlen : 0, "%s: %s", name, pc->msg);
			return -EINVAL;
		}
		if (!pc->cfg->state_dir[0] || !pc->cfg->admin_socket[0]) {
			snprintf(err, err ? errlen : 0,
			         "%s: [node] state_dir and admin_socket must not be empty", name);
			return -EINVAL;
		}
		/* Publisher i reads NFQUEUE queue_base + i (runtime/runtime_wasm.h). */
		uint64_t last_queue = (uint64_t)pc->cfg->queue_base + pc->cfg->n_publishers;
		if (pc->cfg->n_publishers && last_queue - 1 > UINT16_MAX) {
			snprintf(err, err ? errlen : 0,
			         "%s: [containers] queue_base %u with %zu publishers needs NFQUEUE "
			         "numbers up to %llu, past 65535: lower queue_base to at most %zu",
			         name, pc->cfg->queue_base, pc->cfg->n_publishers,
			         (unsigned long long)(last_queue - 1),
			         (size_t)UINT16_MAX + 1 - pc->cfg->n_publishers);
			return -EINVAL;
		}
		if (sgroup_config_check(pc->cfg, pc->msg, sizeof(pc->msg)) < 0) {
			snprintf(err, err ? errlen : 0, "%s: %s", name, pc->msg);
			return -EINVAL;
		}
		if (config_security_finish(pc->cfg, pc->msg, sizeof(pc->msg)) < 0) {
			snprintf(err, err ? errlen : 0, "%s: %s", name, pc->msg);
			return -EINVAL;
		}
		return 0;
	}
	if (line < 0) {
		snprintf(err, err ? errlen : 0, "%s: cannot open: %s", name, strerror(errno));
		return -ENOENT;
	}
	snprintf(err, err ? errlen : 0, "%s:%d: %s", name, line,
	         pc->msg[0] ? pc->msg : "syntax error");
	return -EINVAL;
}

int config_load(struct ns_config *cfg, const char *path, char *err, size_t errlen)
{
	struct parse_ctx pc = {.cfg = cfg};
	int line = ini_parse(path, on_entry, &pc);
	return finish(&pc, line, path, err, errlen);
}

int config_load_string(struct ns_config *cfg, const char *name, const char *text, char *err,
                       size_t errlen)
{
	struct parse_ctx pc = {.cfg = cfg};
	int line = ini_parse_string(text, on_entry, &pc);
	return finish(&pc, line, name, err, errlen);
}

/* The settings a reload applies; every other directive needs a restart. */
static const char *const live_settings[] = {
        "log.level",
        "log.syslog",
        "modules.default_ttl",
        "modules.max_ttl",
        "modules.max_modules",
        "modules.require_hash",
        "containers.uid_base", /* only the default uid of publishers: compared per publisher */
        "security.require_signatures",
        "security.accept_unbound_signatures",
        "security.keys_dir",
        "security.timestamp_window",
};

static bool is_live(const struct directive *d)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", d->section, d->key);
	for (size_t i = 0; i < ARRAY_SIZE(live_settings); i++)
		if (strcmp(live_settings[i], name) == 0)
			return true;
	return false;
}

static size_t directive_size(const struct directive *d)
{
	switch (d->kind) {
	case DIR_STRING:
		return d->size;
	case DIR_U32:
		return sizeof(uint32_t);
	case DIR_SIZE:
	case DIR_I64:
		return sizeof(uint64_t);
	case DIR_BOOL:
		return sizeof(bool);
	case DIR_LOGLEVEL:
		return sizeof(enum log_level);
	case DIR_LISTEN:
		return sizeof(struct ns_listen);
	}
	return 0;
}

int config_keep_restart_settings(struct ns_config *next, const struct ns_config *running,
                                 char *list, size_t listlen)
{
	int n = 0;
	size_t used = 0;
	if (listlen)
		list[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(directives); i++) {
		const struct directive *d = &directives[i];
		if (is_live(d))
			continue;
		char *dst = (char *)next + d->offset;
		const char *src = (const char *)running + d->offset;
		bool same = d->kind == DIR_STRING ? strcmp(dst, src) == 0
		            : d->kind == DIR_LISTEN
		                    ? strcmp(((const struct ns_listen *)dst)->text,
		                             ((const struct ns_listen *)src)->text) == 0
		                    : memcmp(dst, src, directive_size(d)) == 0;
		if (same)
			continue;
		memcpy(dst, src, directive_size(d));
		int w = snprintf(list + used, listlen - used, "%s[%s] %s", n ? ", " : "",
		                 d->section, d->key);
		if (w > 0 && (size_t)w < listlen - used)
			used += (size_t)w;
		n++;
	}
	return n;
}

_printf_(3, 4) static void warnf(config_warn_fn *warn, void *ctx, const char *fmt, ...)
{
	char msg[PATH_MAX + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(ctx, msg);
}

/* Trims spaces at both ends, in place. */
static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int config_warnings(const struct ns_config *cfg, const char *path, config_warn_fn *warn, void *ctx)
{
	int n = 0;
	struct {
		char name[96];
		int line;
		bool has_keys;
	} *secs = calloc(cfg->n_publishers + 64, sizeof(*secs));
	size_t n_secs = 0, max_secs = secs ? cfg->n_publishers + 64 : 0;
	FILE *f = fopen(path, "re");
	if (f) {
		char buf[1024];
		int line = 0;
		while (fgets(buf, sizeof(buf), f)) {
			line++;
			char *t = trim(buf);
			if (!*t || *t == ';' || *t == '#')
				continue;
			if (*t != '[') {
				if (n_secs)
					secs[n_secs - 1].has_keys = true;
				continue;
			}
			char *close = strchr(t, ']');
			if (!close)
				continue;
			*close = '\0';
			const char *name = trim(t + 1);
			for (size_t i = 0; i < n_secs; i++) {
				if (strcmp(secs[i].name, name) != 0)
					continue;
				warnf(warn, ctx,
				      "%s:%d: section [%s] appears again (first at line %d): its "
				      "keys "
				      "are merged",
				      path, line, name, secs[i].line);
				n++;
				break;
			}
			if (n_secs < max_secs) {
				snprintf(secs[n_secs].name, sizeof(secs[n_secs].name), "%s", name);
				secs[n_secs].line = line;
				secs[n_secs].has_keys = false;
				n_secs++;
			}
		}
		fclose(f);
	}
	for (size_t i = 0; i < n_secs; i++) {
		if (strncmp(secs[i].name, "publisher", 9) != 0 || secs[i].has_keys)
			continue;
		bool later = false; /* a repeated section with keys */
		for (size_t j = 0; j < n_secs; j++)
			later |= j != i && secs[j].has_keys &&
			         strcmp(secs[j].name, secs[i].name) == 0;
		if (later)
			continue;
		const char *name = secs[i].name + 9;
		while (*name == ' ')
			name++;
		if (!publisher_name_ok(name))
			warnf(warn, ctx,
			      "%s:%d: [%s]: '%s' is not a valid publisher name ([a-z_][a-z0-9_-]*, "
			      "at most %d characters); the section is ignored",
			      path, secs[i].line, secs[i].name, name, NCM_MAX_USER);
		else
			warnf(warn, ctx,
			      "%s:%d: [%s] has no keys: it is ignored (add at least one key, e.g. "
			      "prefixes)",
			      path, secs[i].line, secs[i].name);
		n++;
	}
	free(secs);
	const char *kd = cfg->security.keys_dir;
	if (access(kd, R_OK | X_OK) < 0) {
		warnf(warn, ctx, "[security] keys_dir %s: %s: no publisher can sign a request", kd,
		      strerror(errno));
		return n + 1;
	}
	for (size_t i = 0; i < cfg->n_publishers; i++) {
		char key[PATH_MAX + 64];
		snprintf(key, sizeof(key), "%s/%s.pub", kd, cfg->publishers[i].ct.user);
		if (access(key, R_OK) == 0)
			continue;
		warnf(warn, ctx,
		      "[publisher %s]: no public key %s (%s): its signed requests are "
		      "refused until it is there",
		      cfg->publishers[i].ct.user, key, strerror(errno));
		n++;
	}
	return n;
}
