/* The NetServ NSLP: the binary messages that travel as GIST NSLP-Data
 * between a publisher and the NetServ nodes on the path toward its users
 * (seed 002 section 2.1, seed 003 sections 4.1 and 8), and their mapping to
 * and from the text NCM that the controller consumes.
 *
 * Messages (docs/protocol.md, "NetServ NSLP", is the specification):
 *   SETUP, REMOVE, PROBE   a request: the NCM's target and every header as
 *                          TLV objects, in message order;
 *   TRIGGER                round-trip signaling: wraps a SETUP, REMOVE or
 *                          PROBE that the last node sends back toward the
 *                          sender on a new upstream flow (reverse-path
 *                          installs);
 *   RESPONSE               the overall status (class, code, reason) and the
 *                          response stack: one entry per NetServ node, in
 *                          path order, with the node's identity, address,
 *                          status, what it answered, and its controller's
 *                          answer (headers and body).
 *
 * The mapping between an NCM request and its binary form is lossless: every
 * header survives with its name, value and position, so the canonical form
 * (ncm_canonical()) and the signature are the same on every node as on the
 * publisher. Known headers whose value is in canonical text form travel as
 * typed objects (a TTL as 32 bits, a module hash as 32 bytes); anything else,
 * including a known header in a non-canonical spelling, travels as a generic
 * name/value object.
 *
 * Every function that can fail returns 0 (or a length) or a negative errno
 * with a one-line reason in the caller's err buffer (may be NULL):
 * -EBADMSG malformed, -EMSGSIZE truncated or over a limit, -EPROTO another
 * version, -EINVAL a bad argument, -ENOMEM. Nothing here logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"

/* The NSLPID of the NetServ NSLP in GIST: from the range RFC 5971 section 9
 * sets aside for private and experimental use (32704..32767). */
#define NSLP_ID_NETSERV 32767u
#define NSLP_ID_EXP_MIN 32704u
#define NSLP_ID_EXP_MAX 32767u

#define NSLP_VERSION     1
#define NSLP_HDR_LEN     8
#define NSLP_OBJ_HDR_LEN 4
#define NSLP_MAX_MSG     (1024 * 1024) /* a whole message, any type */
#define NSLP_MAX_ENTRIES 64            /* response stack */
#define NSLP_MAX_OBJECTS 512           /* objects in one message or entry */
#define NSLP_ERR_LEN     256

enum nslp_type {
	NSLP_SETUP = 1,
	NSLP_REMOVE = 2,
	NSLP_PROBE = 3,
	NSLP_TRIGGER = 4,
	NSLP_RESPONSE = 5,
};

/* Object types (12 bits). docs/protocol.md lists the value formats. */
enum nslp_obj {
	NSLP_OBJ_TARGET = 0x001,    /* string: module id / what is probed */
	NSLP_OBJ_HEADER = 0x002,    /* name length (8), name, value */
	NSLP_OBJ_WRAPPED = 0x003,   /* TRIGGER: a whole request message */
	NSLP_OBJ_STATUS = 0x004,    /* method (8), class (8), code (8), 0, reason */
	NSLP_OBJ_ENTRY = 0x005,     /* response stack entry: nested objects */
	NSLP_OBJ_BODY = 0x006,      /* bytes of an entry's NCM body */
	NSLP_OBJ_NODE_ID = 0x040,   /* entry: string */
	NSLP_OBJ_NODE_ADDR = 0x041, /* entry: family (8) = 4 or 6, 0 (24), address */
	NSLP_OBJ_PROBED = 0x042,    /* entry: the request's `probe` items */
	NSLP_OBJ_ELAPSED = 0x043,   /* entry: 32 bits, ms the node took */
	NSLP_OBJ_LAST_NODE = 0x044, /* entry: how the node learned it was last */
	NSLP_OBJ_TYPED_MIN = 0x100, /* typed header objects: 0x100.. (nslp.c table) */
	NSLP_OBJ_TYPED_MAX = 0x1ff,
};

/* Object header A/B bits: what a node does with an object type it does not
 * know (as GIST's). */
enum nslp_ab {
	NSLP_AB_MANDATORY = 0, /* refuse the message */
	NSLP_AB_IGNORE = 1,    /* skip the object */
	NSLP_AB_FORWARD = 2,   /* skip it here; it stays in the forwarded bytes */
};

/* One node's part of a response. Strings are NUL-terminated, owned. */
struct nslp_entry {
	char *node_id;          /* the node's identity ([node] id) */
	int family;             /* AF_INET, AF_INET6, or 0 if not known */
	uint8_t addr[16];       /* its address on the path (toward the sender) */
	enum nslp_type method;  /* what it answered: SETUP, REMOVE or PROBE */
	char *target;           /* the request's target */
	char *probed;           /* PROBE: the request's `probe` items, or NULL */
	uint32_t elapsed_ms;    /* from the request's arrival to its answer */
	char *last_node;        /* the last node: how it knew ("icmp port unreachable") */
	struct ncm_msg *answer; /* the node's NCM response (code, reason, headers, body) */
};

/* A decoded message. Requests: `req` is the NCM (method = type). TRIGGER:
 * `req` is the wrapped request (method SETUP, REMOVE or PROBE). Response:
 * what it answers, the overall status and the stack. */
struct nslp_msg {
	enum nslp_type type;
	uint16_t flags; /* reserved: 0 */
	struct ncm_msg *req;
	/* NSLP_RESPONSE: */
	enum nslp_type answers; /* the request type it answers */
	int code;               /* overall: 100..599 (class = code / 100) */
	char *reason;
	struct nslp_entry *entries;
	size_t n_entries;
};

/* Names: "SETUP", ..., "RESPONSE"; NULL if unknown. */
const char *nslp_type_name(unsigned type);

/* The NCM method of a request type and back (TRIGGER included); 0 / NCM_METHOD_NONE
 * if there is none. */
enum ncm_method nslp_type_method(enum nslp_type t);
enum nslp_type nslp_method_type(enum ncm_method m);

/* Builds a request message from an NCM request. SETUP, REMOVE and PROBE map
 * one to one. A TRIGGER NCM names the wrapped method in its `trigger` header
 * (`trigger:setup`); the wrapped request is the NCM with that method and
 * without the `trigger` header, so it is exactly what the publisher signed.
 * Copies everything; caller owns *ret (nslp_msg_free()). */
int nslp_from_ncm(const struct ncm_msg *ncm, struct nslp_msg **ret, char *err, size_t errlen);

/* The inverse of nslp_from_ncm() for a request or TRIGGER: a new NCM
 * (a TRIGGER gets `trigger:<method>` as its first header). Caller owns *ret. */
int nslp_to_ncm(const struct nslp_msg *m, struct ncm_msg **ret, char *err, size_t errlen);

/* Encodes a message. Stores a malloc'd buffer in *ret (caller frees) and its
 * length (a multiple of 4) in *ret_len; on failure *ret is untouched. */
int nslp_encode(const struct nslp_msg *m, uint8_t **ret, size_t *ret_len, char *err, size_t errlen);

/* Decodes one message from buf (len bytes, as GIST delivered the NSLP-Data:
 * zero padding after the message is allowed). Every string is checked as the
 * NCM codec would accept it, and every NCM it builds passes ncm_parse() of its
 * own serialization. Unknown objects with A/B = ignore or forward are
 * skipped; unknown mandatory ones are an error. Caller owns *ret; on failure
 * *ret is untouched. */
int nslp_decode(const uint8_t *buf, size_t len, struct nslp_msg **ret, char *err, size_t errlen);

/* Reads only the message header: type and total length. Returns 0 or an
 * error as nslp_decode(). */
int nslp_peek(const uint8_t *buf, size_t len, enum nslp_type *ret_type, size_t *ret_len);

/* Frees a message; NULL allowed. Returns NULL. */
struct nslp_msg *nslp_msg_free(struct nslp_msg *m);

/* Releases what an entry holds and zeroes it. */
void nslp_entry_done(struct nslp_entry *e);

/* Deep-copies an entry into *dst. Returns 0 or -ENOMEM (dst zeroed). */
int nslp_entry_copy(struct nslp_entry *dst, const struct nslp_entry *src);

/* A new empty response to request type `answers`, overall code and reason
 * (NULL = the standard phrase). NULL on allocation failure or a bad code. */
struct nslp_msg *nslp_response_new(enum nslp_type answers, int code, const char *reason);

/* Appends a copy of *e to the response's stack. Returns 0, -ENOMEM or
 * -EMSGSIZE (NSLP_MAX_ENTRIES). */
int nslp_response_add(struct nslp_msg *resp, const struct nslp_entry *e);

/* Sets the overall status of a response from its stack: the first entry
 * that is not 2xx decides (code, and "NODE: reason" as the reason), else 200
 * OK. An empty stack keeps what the response has. Returns 0 or -ENOMEM. */
int nslp_response_summarize(struct nslp_msg *resp);
