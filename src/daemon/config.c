/* netservd configuration: table-driven INI directives (nginx style). */
#include "daemon/config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "paths.h"

enum directive_kind { DIR_STRING, DIR_U32, DIR_SIZE, DIR_BOOL, DIR_LOGLEVEL };

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

struct parse_ctx {
	struct ns_config *cfg;
	char msg[200]; /* first error, without file:line */
};

static int apply(struct parse_ctx *pc, const struct directive *d, const char *value)
{
	char *field = (char *)pc->cfg + d->offset;
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

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *pc = user;
	if (pc->msg[0])
		return 0;
	bool section_known = false;
	for (size_t i = 0; i < sizeof(directives) / sizeof(directives[0]); i++) {
		const struct directive *d = &directives[i];
		if (strcmp(d->section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(d->key, name) == 0)
			return apply(pc, d, value) == 0;
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

static int finish(struct parse_ctx *pc, int line, const char *name, char *err, size_t errlen)
{
	if (line == 0 && !pc->msg[0]) {
		if (pc->cfg->default_ttl > pc->cfg->max_ttl) {
			snprintf(err, err ? errlen : 0,
			         "%s: [modules] default_ttl %u is larger than max_ttl %u", name,
			         pc->cfg->default_ttl, pc->cfg->max_ttl);
			return -EINVAL;
		}
		if (!pc->cfg->state_dir[0] || !pc->cfg->admin_socket[0]) {
			snprintf(err, err ? errlen : 0,
			         "%s: [node] state_dir and admin_socket must not be empty", name);
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
