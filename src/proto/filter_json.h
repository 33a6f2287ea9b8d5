/* A SETUP filter (struct ncm_filter) in the supervisor<->container protocol:
 * {"proto", "port_lo", "port_hi", "src", "dst"}, prefixes as text ("any" or
 * "ADDR/LEN"). */
#pragma once

#include <jansson.h>

#include "ncm/ncm.h"

/* Encodes a filter (new reference; NULL when out of memory). */
json_t *proto_filter_to_json(const struct ncm_filter *f);

/* Decodes proto_filter_to_json()'s form into *ret. Returns 0 or -EINVAL (ret
 * untouched). */
int proto_filter_from_json(json_t *j, struct ncm_filter *ret);
