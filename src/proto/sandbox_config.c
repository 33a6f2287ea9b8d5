/* struct sandbox_config <-> the ASSIGN message's "sandbox" object. */
#include "proto/sandbox_config.h"

#include <stdio.h>
#include <string.h>

json_t *sandbox_config_to_json(const struct sandbox_config *c)
{
	return json_pack(
	        "{s:b, s:b, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:b}",
	        "seccomp", !c->no_seccomp, "landlock", !c->no_landlock, "dir", c->dir, "netns",
	        c->netns, "source_prefixes", c->source_prefixes, "listen_ports", c->listen_ports,
	        "send_destinations", c->send_destinations, "send_pps", (json_int_t)c->send_pps,
	        "send_bytes_per_s", (json_int_t)c->send_bytes_per_s, "connect_destinations",
	        c->connect_destinations, "max_sockets", (json_int_t)c->max_sockets,
	        "socket_bytes_per_s", (json_int_t)c->socket_bytes_per_s, "http_connections",
	        (json_int_t)c->http_connections, "fetch_stall_s", (json_int_t)c->fetch_stall_s,
	        "storage_quota", (json_int_t)c->storage_quota, "media", c->media);
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
	ret->media = json_is_true(json_object_get(j, "media"));
	copy_str(j, "dir", ret->dir, sizeof(ret->dir));
	copy_str(j, "netns", ret->netns, sizeof(ret->netns));
	copy_str(j, "source_prefixes", ret->source_prefixes, sizeof(ret->source_prefixes));
	copy_str(j, "listen_ports", ret->listen_ports, sizeof(ret->listen_ports));
	copy_str(j, "send_destinations", ret->send_destinations, sizeof(ret->send_destinations));
	v = json_object_get(j, "send_pps");
	ret->send_pps = json_is_integer(v) && json_integer_value(v) >= 0 &&
	                                json_integer_value(v) <= UINT32_MAX
	                        ? (uint32_t)json_integer_value(v)
	                        : POLICY_DEFAULT_SEND_PPS;
	v = json_object_get(j, "send_bytes_per_s");
	ret->send_bytes_per_s = json_is_integer(v) && json_integer_value(v) >= 0
	                                ? (uint64_t)json_integer_value(v)
	                                : POLICY_DEFAULT_SEND_BYTES;
	copy_str(j, "connect_destinations", ret->connect_destinations,
	         sizeof(ret->connect_destinations));
	if (!ret->connect_destinations[0])
		snprintf(ret->connect_destinations, sizeof(ret->connect_destinations), "none");
	v = json_object_get(j, "max_sockets");
	ret->max_sockets =
	        json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 100000
	                ? (uint32_t)json_integer_value(v)
	                : POLICY_DEFAULT_MAX_SOCKETS;
	v = json_object_get(j, "socket_bytes_per_s");
	ret->socket_bytes_per_s = json_is_integer(v) && json_integer_value(v) >= 0
	                                  ? (uint64_t)json_integer_value(v)
	                                  : 0;
	v = json_object_get(j, "http_connections");
	ret->http_connections =
	        json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 200
	                ? (uint32_t)json_integer_value(v)
	                : POLICY_DEFAULT_HTTP_CONNECTIONS;
	v = json_object_get(j, "fetch_stall_s");
	ret->fetch_stall_s =
	        json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= 3600
	                ? (uint32_t)json_integer_value(v)
	                : POLICY_DEFAULT_FETCH_STALL_S;
	v = json_object_get(j, "storage_quota");
	ret->storage_quota = json_is_integer(v) && json_integer_value(v) >= 0
	                             ? (uint64_t)json_integer_value(v)
	                             : 0; /* absent: no storage */
}
