/* Forwarding one frame that the XDP program redirected to user space: what
 * the kernel's forwarding would have done to it, with the FIB's answer the
 * program left in the metadata. A pure function of the bytes (fuzzed by
 * tests/fuzz/fuzz_xdp_fwd.c). */
#pragma once

#include <stdint.h>

#include "fwd/xdp/xdp_abi.h"

/* Reads the metadata the XDP program put in the `room` bytes before frame
 * (room: the headroom user space knows is there). Returns 0 and *ret, or
 * -ENODATA when it is not there or not the program's. */
int nsxdp_meta_get(const uint8_t *frame, uint32_t room, struct netserv_xdp_meta *ret);

/* Forwards frame[0..len) in place: Ethernet addresses from m, TTL (IPv4, with
 * the header checksum updated incrementally, RFC 1624) or hop limit (IPv6)
 * decremented. Checks the frame again, not trusting the metadata: returns 0,
 * -EINVAL for a frame that is not an IPv4/IPv6 packet of m's family whose
 * header fits, or -ETIMEDOUT for a TTL/hop limit <= 1 (the kernel's to answer). */
int nsxdp_forward_frame(uint8_t *frame, uint32_t len, const struct netserv_xdp_meta *m);
