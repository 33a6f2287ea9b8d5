/* struct ncm_filter <-> JSON, for the INSTALL message. */
#include "proto/filter_json.h"

#include <errno.h>
#include <string.h>

static json_t *prefix_json(const struct ncm_prefix *p)
{
	char buf[64];
	return json_string(ncm_prefix_format(p, buf, sizeof(buf)));
}

json_t *proto_filter_to_json(const struct ncm_filter *f)
{
	return json_pack("{s:i, s:i, s:i, s:o, s:o}", "proto", f->proto, "port_lo", f->port_lo,
	                 "port_hi", f->port_hi, "src", prefix_json(&f->src), "dst",
	                 prefix_json(&f->dst));
}

static int prefix_from(json_t *j, struct ncm_prefix *ret)
{
	const char *s = json_string_value(j);
	if (!s)
		return -EINVAL;
	if (strcmp(s, "any") == 0) {
		memset(ret, 0, sizeof(*ret));
		return 0;
	}
	return ncm_prefix_parse(s, ret) < 0 ? -EINVAL : 0;
}

int proto_filter_from_json(json_t *j, struct ncm_filter *ret)
{
	struct ncm_filter f = {0};
	json_t *proto = json_object_get(j, "proto"), *lo = json_object_get(j, "port_lo"),
	       *hi = json_object_get(j, "port_hi");
	if (!json_is_integer(proto) || !json_is_integer(lo) || !json_is_integer(hi))
		return -EINVAL;
	json_int_t p = json_integer_value(proto), l = json_integer_value(lo),
	           h = json_integer_value(hi);
	if (p < 0 || p > 255 || l < 0 || l > 65535 || h < l || h > 65535)
		return -EINVAL;
	f.proto = (uint8_t)p;
	f.port_lo = (uint16_t)l;
	f.port_hi = (uint16_t)h;
	if (prefix_from(json_object_get(j, "src"), &f.src) < 0 ||
	    prefix_from(json_object_get(j, "dst"), &f.dst) < 0)
		return -EINVAL;
	*ret = f;
	return 0;
}

json_t *proto_filters_to_json(const struct ncm_filter *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, proto_filter_to_json(&v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

int proto_filters_from_json(json_t *j, struct ncm_filter *v, size_t max, size_t *ret_n)
{
	size_t n = json_array_size(j);
	if (!json_is_array(j) || n > max)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (proto_filter_from_json(json_array_get(j, i), &v[i]) < 0)
			return -EINVAL;
	*ret_n = n;
	return 0;
}
