/* Matching a packet against a SETUP filter (struct ncm_filter) inside the
 * container: one NFQUEUE queue carries every filter of a publisher, and each
 * module sees only the packets its own filter selects. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

/* Returns whether the IPv4/IPv6 packet pkt[0..len) matches f: protocol,
 * destination port range (TCP, UDP, SCTP, UDP-Lite; non-first fragments
 * never match a port), source and destination prefixes. */
bool pkt_filter_match(const struct ncm_filter *f, const uint8_t *pkt, uint32_t len);

/* Returns whether the packet matches at least one of the n filters (a SETUP's
 * list; false for n = 0). */
bool pkt_filters_match(const struct ncm_filter *v, size_t n, const uint8_t *pkt, uint32_t len);
