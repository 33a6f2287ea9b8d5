/* The sidecar group channel's wire format (docs/openflow.md, "Group
 * channel"): UDP datagrams between the NetServ nodes of one OpenFlow
 * sidecar group, each authenticated with the group's key (HMAC-SHA-512-256,
 * libsodium's crypto_auth) and carrying a per-sender sequence number and a
 * timestamp against replay.
 *
 *   0  'N' 'S' 'G'  version (1)
 *   4  type (u8)  flags (u8)  body length (u16)
 *   8  sequence (u64)  sender's clock, unix ms (u64)
 *  24  group name (u8 length, bytes)  sender name (u8 length, bytes)
 *      body (type-specific, below)
 *      MAC (32 bytes) over everything before it
 *
 * Bodies (integers big-endian):
 *   HEARTBEAT  state version (u64)
 *   REQUEST    id (u32)  entry version (u64)  expires, unix ms (u64)
 *              destination family (u8: 0 none, 4, 6)  prefix length (u8)
 *              address (16)  NCM length (u16)  NCM text (a publisher's
 *              signed SETUP or REMOVE, as the publisher sent it)
 *   ANSWER     id (u32)  NCM status (u16)  reason (u8 length, bytes)
 *
 * The decoder copies fixed fields and points into the input for the NCM
 * text; nothing allocates or logs; errors are negative errno values with a
 * one-line reason. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_VERSION    1
#define SG_MAX_NAME   31    /* group and node names */
#define SG_MAX_MSG    16384 /* a whole datagram */
#define SG_MAX_NCM    (SG_MAX_MSG - 160)
#define SG_MAX_REASON 200
#define SG_KEY_LEN    32
#define SG_MAC_LEN    32

enum sg_type {
	SG_HEARTBEAT = 1,
	SG_REQUEST = 2,
	SG_ANSWER = 3,
};

/* Flags (header byte 5). */
#define SG_F_STARTING 0x01 /* HEARTBEAT: the sender started less than a period ago */
#define SG_F_REPLAY   0x02 /* REQUEST: a state sync, not a new request */

struct sg_msg {
	uint8_t type; /* enum sg_type */
	uint8_t flags;
	uint64_t seq;
	uint64_t time_ms;
	char group[SG_MAX_NAME + 1];
	char sender[SG_MAX_NAME + 1];
	/* HEARTBEAT */
	uint64_t version;
	/* REQUEST and ANSWER */
	uint32_t id;
	/* REQUEST */
	uint64_t entry_version;
	uint64_t expires_ms;
	uint8_t dst_family; /* 0: none (the admin socket), 4 or 6 */
	uint8_t dst_len;
	uint8_t dst_addr[16];
	const uint8_t *ncm; /* decode: points into the input */
	size_t ncm_len;
	/* ANSWER */
	uint16_t status;
	char reason[SG_MAX_REASON + 1];
};

/* Whether name is a valid group or node name: 1..31 of [A-Za-z0-9._-]. */
bool sg_name_ok(const char *name);

/* Encodes m with its MAC under key into buf (cap bytes). Returns the length,
 * or -EINVAL (a bad field: name, type, lengths) or -EMSGSIZE (does not fit
 * cap or SG_MAX_MSG), with the reason in err. */
int sg_encode(const struct sg_msg *m, const uint8_t key[SG_KEY_LEN], uint8_t *buf, size_t cap,
              char *err, size_t errlen);

/* Decodes one datagram into *m and checks its MAC under key (NULL: not
 * checked, for the fuzzer and tests). Returns 0, -EMSGSIZE (too short or too
 * long), -EPROTO (bad magic or unknown version), -EBADMSG (malformed) or
 * -EACCES (the MAC does not verify), with the reason in err. m->ncm points
 * into buf. */
int sg_decode(const uint8_t *buf, size_t len, const uint8_t key[SG_KEY_LEN], struct sg_msg *m,
              char *err, size_t errlen);

/* The name of a type, "?" for an unknown one. */
const char *sg_type_name(uint8_t type);
