/* A SETUP filter (struct ncm_filter) in the supervisor<->container protocol:
 * {"proto", "port_lo", "port_hi", "src", "dst"}, prefixes as text ("any" or
 * "ADDR/LEN"); a SETUP's filters as an array of those. */
#pragma once

#include <jansson.h>

#include "ncm/ncm.h"

/* Encodes a filter (new reference; NULL when out of memory). */
json_t *proto_filter_to_json(const struct ncm_filter *f);

/* Decodes proto_filter_to_json()'s form into *ret. Returns 0 or -EINVAL (ret
 * untouched). */
int proto_filter_from_json(json_t *j, struct ncm_filter *ret);

/* Encodes a list of filters as a JSON array (new reference; NULL when out of
 * memory). */
json_t *proto_filters_to_json(const struct ncm_filter *v, size_t n);

/* Decodes proto_filters_to_json()'s form into v (room for max filters) and
 * the count into *ret_n. Returns 0 or -EINVAL (not an array, more than max,
 * a malformed filter; v and *ret_n then unspecified). */
int proto_filters_from_json(json_t *j, struct ncm_filter *v, size_t max, size_t *ret_n);
