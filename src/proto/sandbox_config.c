/* struct sandbox_config <-> the ASSIGN message's "sandbox" object. */
#include "proto/sandbox_config.h"

#include <stdio.h>
#include <string.h>

json_t *sandbox_config_to_json(const struct sandbox_config *c)
{
	return json_pack("{s:b, s:b, s:s, s:s, s:s, s:s}", "seccomp", !c->no_seccomp, "landlock",
	                 !c->no_landlock, "dir", c->dir, "netns", c->netns, "source_prefixes",
	                 c->source_prefixes, "listen_ports", c->listen_ports);
}

static void copy_str(json_t *j, const char *key, char *buf, size_t len)
{
	const char *v = json_string_value(json_object_get(j, key));
	snprintf(buf, len, "%s", v ? v : "");
}

void sandbox_config_from_json(json_t *j, struct sandbox_config *ret)
{
	memset(ret, 0, sizeof(*ret));
	json_t *v = json_object_get(j, "seccomp");
	ret->no_seccomp = json_is_false(v);
	v = json_object_get(j, "landlock");
	ret->no_landlock = json_is_false(v);
	copy_str(j, "dir", ret->dir, sizeof(ret->dir));
	copy_str(j, "netns", ret->netns, sizeof(ret->netns));
	copy_str(j, "source_prefixes", ret->source_prefixes, sizeof(ret->source_prefixes));
	copy_str(j, "listen_ports", ret->listen_ports, sizeof(ret->listen_ports));
}
