/* GIST (RFC 5971) wire codec: the common header, the object TLVs and the six
 * message types, decoded into and encoded from struct gist_msg.
 *
 * Layers:
 *   - framing: gist_hdr_decode() / gist_frame_length() look at a buffer's
 *     common header only (interception, relaying, TCP stream framing);
 *   - messages: gist_decode() / gist_encode();
 *   - objects: the MRI on its own (gist_mri_decode() / gist_mri_encode()),
 *     because routing state, cookies and Error objects use its bytes.
 *
 * Ownership: a decoded message copies every fixed-size field (addresses,
 * Session ID, counts) and points into the input buffer for every variable
 * one (cookies, Peer Identity, NSLP data, unknown objects, ...), as struct
 * gist_bytes. The input buffer must outlive the decoded message. To encode,
 * point those fields at the caller's own bytes.
 *
 * Errors: every function that can fail returns a negative errno, writes a
 * one-line reason into the caller's `err` buffer (may be NULL) and, for the
 * decoder, fills a struct gist_err with the GIST error class, code and
 * subcode (RFC 5971 A.4.4) and what gist_error_msg() needs to answer the
 * sender with a GIST Error message. Nothing here logs, allocates or exits.
 *
 * NSIS-ka (the reference implementation) compatibility, see docs/gist.md:
 * the magic number is written on every UDP message, Q-mode or D-mode; the
 * Stack-Configuration-Data option length counts bytes, not words.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GIST_MAGIC       0x4e04bda5u /* first word of every UDP message */
#define GIST_PORT        270         /* UDP port of Q-mode (IANA) */
#define GIST_VERSION     1
#define GIST_HDR_LEN     8 /* common header */
#define GIST_OBJ_HDR_LEN 4 /* object TLV header */
#define GIST_MAGIC_LEN   4
#define GIST_MAX_BODY    (4u * 0xffffu) /* message length field: 16 bits of words */
#define GIST_MAX_MSG     (GIST_MAGIC_LEN + GIST_HDR_LEN + GIST_MAX_BODY)
#define GIST_MAX_OBJ     (4u * 0xfffu) /* object length field: 12 bits of words */
#define GIST_SID_LEN     16
#define GIST_MRI_MAX_LEN 52  /* path-coupled IPv6 with flow label, SPI and ports */
#define GIST_ERR_LEN     256 /* a good size for the err buffers */

/* Bounds of what one decoded message can hold; more is refused. */
#define GIST_MAX_PROFILES 16 /* Stack-Proposal profiles */
#define GIST_MAX_LAYERS   8  /* protocol layers in one profile */
#define GIST_MAX_MPO      16 /* Stack-Configuration-Data MA-protocol-options */
#define GIST_MAX_UNKNOWN  8  /* unknown objects kept (AB = ignore / forward) */
#define GIST_MAX_AI       8  /* Error object additional information fields */

/* ---- Enumerations (RFC 5971 A.1 - A.4) ---------------------------------------- */

enum gist_msg_type {
	GIST_QUERY = 0,
	GIST_RESPONSE = 1,
	GIST_CONFIRM = 2,
	GIST_DATA = 3,
	GIST_ERROR = 4,
	GIST_MA_HELLO = 5,
};

/* Common header flags, as in the byte after the type (bits 0-2). */
#define GIST_F_S 0x80 /* the IP source address is the signalling source */
#define GIST_F_R 0x40 /* a reply is requested (Response: Confirm; MA-Hello) */
#define GIST_F_E 0x20 /* explicitly routed */

enum gist_obj_type {
	GIST_OBJ_MRI = 0,
	GIST_OBJ_SID = 1,
	GIST_OBJ_NLI = 2,
	GIST_OBJ_SP = 3,  /* Stack-Proposal */
	GIST_OBJ_SCD = 4, /* Stack-Configuration-Data */
	GIST_OBJ_QCOOKIE = 5,
	GIST_OBJ_RCOOKIE = 6,
	GIST_OBJ_NAT = 7,  /* NAT-Traversal */
	GIST_OBJ_NSLP = 8, /* NSLP-Data */
	GIST_OBJ_ERROR = 9,
	GIST_OBJ_HELLO = 10, /* Hello-ID */
	GIST_OBJ_NKNOWN = 11,
};
#define GIST_BIT(obj) (1u << (obj))

/* Extensibility flags (A/B) of an object header: what a node that does not
 * know the object type does with it. 11 is invalid. */
enum gist_ab {
	GIST_AB_MANDATORY = 0, /* reject the message: Object Type Error */
	GIST_AB_IGNORE = 1,    /* drop the object, process the rest */
	GIST_AB_FORWARD = 2,   /* keep it in forwarded messages, do not store */
	GIST_AB_INVALID = 3,   /* Object Type Error, Invalid Extensibility Flags */
};

enum gist_mrm {
	GIST_MRM_PATH_COUPLED = 0,
	GIST_MRM_LOOSE_END = 1,
};

/* Path-coupled MRI flags; the loose-end MRI has only D. */
#define GIST_MRI_P          0x0800 /* protocol significant */
#define GIST_MRI_T          0x0400 /* DS field significant */
#define GIST_MRI_F          0x0200 /* flow label present (IPv6) */
#define GIST_MRI_S          0x0100 /* SPI present */
#define GIST_MRI_A          0x0080 /* source port significant */
#define GIST_MRI_B          0x0040 /* destination port significant */
#define GIST_MRI_D          0x0020 /* direction: 1 = upstream */
#define GIST_MRI_FLAGS_MASK 0x0fe0

enum gist_ma_proto {
	GIST_MA_TCP = 1,
	GIST_MA_TLS = 2,
};

enum gist_err_class {
	GIST_EC_INFORMATIONAL = 0,
	GIST_EC_SUCCESS = 1,
	GIST_EC_PROTOCOL = 2,
	GIST_EC_TRANSIENT = 3,
	GIST_EC_PERMANENT = 4,
};

enum gist_err_code {
	GIST_E_NONE = 0, /* no GIST error (e.g. a bad argument) */
	GIST_E_HDR_PARSE = 1,
	GIST_E_HOP_LIMIT = 2,
	GIST_E_ENCAPSULATION = 3,
	GIST_E_MISDELIVERED = 4,
	GIST_E_NO_ROUTING_STATE = 5,
	GIST_E_UNKNOWN_NSLPID = 6,
	GIST_E_ENDPOINT_FOUND = 7,
	GIST_E_TOO_LARGE = 8,
	GIST_E_OBJ_TYPE = 9,
	GIST_E_OBJ_VALUE = 10,
	GIST_E_INVALID_TTL = 11,
	GIST_E_MRI_VALIDATION = 12,
};

/* Subcodes of GIST_E_HDR_PARSE. */
enum {
	GIST_SE_UNKNOWN_VERSION = 0,
	GIST_SE_UNKNOWN_TYPE = 1,
	GIST_SE_INVALID_R = 2,
	GIST_SE_BAD_LENGTH = 3,
	GIST_SE_INVALID_E = 4,
	GIST_SE_INVALID_C = 5,
};
/* Subcodes of GIST_E_OBJ_TYPE. */
enum {
	GIST_SE_DUPLICATE = 0,
	GIST_SE_UNRECOGNISED = 1,
	GIST_SE_MISSING = 2,
	GIST_SE_INVALID_OBJECT = 3,
	GIST_SE_UNTRANSLATED = 4,
	GIST_SE_INVALID_AB = 5,
};
/* Subcodes of GIST_E_OBJ_VALUE. */
enum {
	GIST_SE_INCORRECT_LENGTH = 0,
	GIST_SE_VALUE_NOT_SUPPORTED = 1,
	GIST_SE_INVALID_FLAGS = 2,
	GIST_SE_EMPTY_LIST = 3,
	GIST_SE_INVALID_COOKIE = 4,
	GIST_SE_SP_SCD_MISMATCH = 5,
};
/* Subcodes of GIST_E_MRI_VALIDATION. */
enum {
	GIST_SE_MRI_TOO_WILD = 0,
	GIST_SE_IP_VERSION_MISMATCH = 1,
	GIST_SE_INGRESS_FILTER = 2,
};

/* Error object: flags (first byte of its 16-bit flag field). */
#define GIST_EF_S 0x80 /* Session ID present */
#define GIST_EF_M 0x40 /* MRI present */
#define GIST_EF_C 0x20 /* debugging comment present */
#define GIST_EF_D 0x10 /* original message received in D-mode */
#define GIST_EF_Q 0x08 /* original message received Q-mode encapsulated */

/* Error object: additional information field types (A.4.2). */
enum gist_ai_type {
	GIST_AI_MSG_LENGTH = 1, /* calculated message length, words */
	GIST_AI_MTU = 2,
	GIST_AI_OBJ_TYPE = 3,
	GIST_AI_OBJ_VALUE = 4,
};

/* How the bytes arrived (or will leave). UDP covers Q-mode and D-mode and
 * carries the magic number; TCP is C-mode (no magic number, no C flag). */
enum gist_transport {
	GIST_TRANSPORT_UDP = 0,
	GIST_TRANSPORT_TCP = 1,
};

/* ---- Message structure -------------------------------------------------------- */

/* Bytes inside someone else's buffer. */
struct gist_bytes {
	const uint8_t *p;
	size_t len;
};

union gist_ip {
	uint8_t b[16]; /* IPv4: the first 4 bytes; the rest zero */
	uint32_t w[4];
};

struct gist_hdr {
	uint8_t version; /* decoded: always GIST_VERSION; encoded: ignored */
	uint8_t hops;    /* GIST hop count */
	uint16_t length; /* decoded: body length in words; encoded: computed */
	uint16_t nslpid;
	uint8_t type;  /* enum gist_msg_type (7 bits) */
	bool c;        /* Q-mode encapsulated */
	uint8_t flags; /* GIST_F_S | GIST_F_R | GIST_F_E (reserved bits: 0) */
};

struct gist_mri {
	uint8_t mrm;    /* enum gist_mrm */
	bool nat;       /* N flag: the MRI was translated by a NAT */
	uint8_t ipver;  /* 4 or 6 */
	uint16_t flags; /* GIST_MRI_*; loose-end: only GIST_MRI_D */
	union gist_ip src, dst;
	/* Path-coupled only: */
	uint8_t src_prefix, dst_prefix; /* bits */
	uint8_t protocol;               /* IP protocol */
	uint8_t dscp;                   /* 6 bits */
	uint32_t flow_label;            /* 20 bits; with GIST_MRI_F */
	uint32_t spi;                   /* with GIST_MRI_S */
	uint16_t src_port, dst_port;    /* on the wire with GIST_MRI_A or _B */
};

struct gist_nli {
	struct gist_bytes pi; /* Peer Identity, 1..255 bytes (NSIS-ka: 16) */
	uint8_t ip_ttl;       /* NSIS-ka: 0 in a Response, 64 otherwise */
	uint8_t ipver;        /* 4 or 6: of if_addr */
	uint32_t rs_validity; /* routing state validity time, ms */
	union gist_ip if_addr;
};

struct gist_profile {
	uint8_t n; /* 1..GIST_MAX_LAYERS */
	uint8_t proto[GIST_MAX_LAYERS];
};

struct gist_sp {
	uint8_t n; /* 1..GIST_MAX_PROFILES */
	struct gist_profile prof[GIST_MAX_PROFILES];
};

struct gist_mpo {
	uint8_t proto;          /* enum gist_ma_proto */
	uint8_t profile;        /* 1-based index into the Stack-Proposal; 0: all */
	bool d;                 /* do not use this protocol (D flag) */
	struct gist_bytes data; /* TCP/TLS in a Response: the port, 2 bytes */
};

struct gist_scd {
	uint8_t n;        /* 0..GIST_MAX_MPO */
	uint32_t ma_hold; /* MA hold time, ms (NSIS-ka: 180000) */
	struct gist_mpo mpo[GIST_MAX_MPO];
};

/* NAT-Traversal: parsed for consistency, kept as bytes. */
struct gist_nat {
	struct gist_bytes mri;   /* original MRI, body only */
	uint8_t type_count;      /* entries in the list of translated objects */
	uint8_t nat_count;       /* NATs traversed */
	struct gist_bytes types; /* type_count 16-bit entries, padding included */
	struct gist_bytes info;  /* opaque per-NAT information, up to the end */
};

struct gist_ai {
	uint16_t type; /* enum gist_ai_type, or unknown */
	/* GIST_AI_MSG_LENGTH, _MTU, _OBJ_TYPE: the 16-bit value. */
	uint16_t value;
	/* GIST_AI_OBJ_VALUE: real object length (words, 12 bits), byte offset
	 * of the bad field in the object, and the object, header included.
	 * Unknown types: data holds the raw value. */
	uint16_t real_len;
	uint16_t offset;
	struct gist_bytes data;
};

struct gist_error_obj {
	uint8_t eclass; /* enum gist_err_class */
	uint16_t code;  /* enum gist_err_code */
	uint8_t subcode;
	uint8_t flags;              /* GIST_EF_*: S and M follow the presence of sid/mri */
	uint8_t orig[GIST_HDR_LEN]; /* the common header of the offending message */
	bool has_sid;
	uint8_t sid[GIST_SID_LEN];
	bool has_mri;
	struct gist_mri mri;
	uint8_t n_ai;
	struct gist_ai ai[GIST_MAX_AI];
	struct gist_bytes comment; /* with C: NUL-terminated UTF-8 + NUL padding */
};

/* An object that this codec does not know, kept to be forwarded or re-encoded
 * byte for byte. */
struct gist_unknown {
	uint16_t type;          /* 12 bits */
	uint8_t ab;             /* enum gist_ab: GIST_AB_IGNORE or GIST_AB_FORWARD */
	uint8_t pos;            /* how many known objects precede it */
	struct gist_bytes body; /* without the object header */
};

struct gist_msg {
	bool magic; /* decoded: the magic number was present; encoded: write it */
	struct gist_hdr hdr;
	uint32_t present;            /* GIST_BIT(GIST_OBJ_*) of the objects below */
	uint8_t ab[GIST_OBJ_NKNOWN]; /* A/B bits of the known objects (normally 0) */
	struct gist_nat nat;
	struct gist_mri mri;
	uint8_t sid[GIST_SID_LEN];
	struct gist_nli nli;
	struct gist_bytes qcookie;
	struct gist_bytes rcookie;
	struct gist_sp sp;
	struct gist_scd scd;
	struct gist_bytes nslp; /* NSLP-Data: a multiple of 4 bytes */
	struct gist_error_obj error;
	uint32_t hello_id;
	uint8_t n_unknown;
	struct gist_unknown unknown[GIST_MAX_UNKNOWN];
};

/* What went wrong in a decode, and what an Error message about it needs. */
struct gist_err {
	uint8_t eclass; /* enum gist_err_class */
	uint16_t code;  /* enum gist_err_code; GIST_E_NONE: nothing to report */
	uint8_t subcode;
	bool answer; /* RFC 5971 allows an Error reply (not about an Error) */
	enum gist_transport transport;
	bool qmode; /* the message was Q-mode encapsulated (C flag) */
	bool has_hdr;
	uint8_t hdr[GIST_HDR_LEN]; /* the offending message's common header */
	bool has_sid;
	uint8_t sid[GIST_SID_LEN];
	bool has_mri;
	struct gist_mri mri;
	uint16_t msg_len; /* Message Length Info: calculated length, words */
	uint16_t mtu;     /* MTU Info (Message Too Large), set by the caller */
	bool has_obj_type;
	uint16_t obj_type;     /* Object Type Info: offending or missing type */
	struct gist_bytes obj; /* Object Value Info: the object (in the input) */
	uint16_t obj_offset;   /* byte offset of the bad field in obj */
};

/* ---- Names, for logs ---------------------------------------------------------- */

const char *gist_msg_type_name(unsigned type); /* "Query"; "?" if unknown */
const char *gist_obj_type_name(unsigned type); /* "MRI", "NLI", ... */
const char *gist_err_code_name(unsigned code); /* "Endpoint Found" */
const char *gist_err_class_name(unsigned ecl); /* "Permanent-Failure" */

/* ---- Framing ------------------------------------------------------------------ */

/* Decodes the common header at the start of buf (after the magic number if
 * transport is UDP and it is there). Checks the version and that the whole
 * message is present. Returns the offset of the common header (0 or 4) and
 * fills *hdr and *magic (either may be NULL), or returns -EMSGSIZE (too
 * short) or -EPROTO (not GIST version 1, or the C flag over TCP or without
 * the magic number). */
int gist_hdr_decode(const uint8_t *buf, size_t len, enum gist_transport transport,
                    struct gist_hdr *hdr, bool *magic);

/* For a TCP stream: returns the length of the first complete message in
 * buf, 0 if more bytes are needed, or -EPROTO if it cannot be GIST. */
long gist_frame_length(const uint8_t *buf, size_t len);

/* Rewrites the GIST hop count of the message in buf (with or without magic
 * number), e.g. to relay a Query for an NSLPID this node does not run.
 * Returns 0 or -EMSGSIZE / -EPROTO like gist_hdr_decode(). */
int gist_set_hops(uint8_t *buf, size_t len, enum gist_transport transport, uint8_t hops);

/* ---- Messages ----------------------------------------------------------------- */

/* Clears *m and sets the header for a new message: version 1, the type, the
 * NSLPID, GIST hops 1 (32 for a Query, as NSIS-ka), C for a Query, S, and the
 * magic number for the UDP types (everything but MA-Hello). */
void gist_msg_init(struct gist_msg *m, enum gist_msg_type type, uint16_t nslpid);

/* Decodes one whole message: buf holds exactly one UDP payload (magic number
 * optional, recorded in m->magic) or exactly one framed TCP message. Checks
 * the header, every object's length and values, duplicates, objects not
 * allowed or missing for the message type and the encapsulation.
 *
 * Returns 0 and fills *m (which points into buf). On failure returns
 * -EMSGSIZE (truncated, lengths inconsistent), -EPROTO (not version 1),
 * -EBADMSG (anything else) or -EINVAL (buf NULL), leaves *m untouched, writes
 * a reason to err and fills *ge (if not NULL) with the GIST error to answer
 * with (ge->code GIST_E_NONE only for -EINVAL). Hop count, NSLPID, routing
 * state and cookies are the caller's to check. */
int gist_decode(const uint8_t *buf, size_t len, enum gist_transport transport, struct gist_msg *m,
                struct gist_err *ge, char *err, size_t errlen);

/* Encodes *m into buf (size bytes): the magic number if m->magic, the common
 * header (length computed), then the objects in the RFC 5971 order (NAT,
 * MRI, SID, NLI, Query-Cookie, Responder-Cookie, SP, SCD, NSLP-Data, Error,
 * Hello-ID), each unknown object in front of the known object it preceded.
 * With buf NULL (size 0) only computes the length.
 *
 * Returns the message length in bytes, -ENOSPC if buf is too small (nothing
 * useful written), -EMSGSIZE if the message or an object exceeds what the
 * length fields can express, or -EINVAL if *m is not a valid message (a
 * missing object, a bad field); err says why. */
ssize_t gist_encode(const struct gist_msg *m, uint8_t *buf, size_t size, char *err, size_t errlen);

/* Drops the unknown objects marked GIST_AB_IGNORE, keeping the GIST_AB_FORWARD
 * ones, as a node that forwards the message must. */
void gist_msg_strip_ignored(struct gist_msg *m);

/* Fills *out with an Error message reporting *ge (as filled by gist_decode()
 * or by the caller: class, code, subcode and the optional information), with
 * the NLI if nli is not NULL: NSLPID 0, hops 1, the magic number on UDP.
 * out->error points into *ge (the object bytes) so *ge must outlive it.
 * Returns 0, or -EINVAL if ge->code is GIST_E_NONE. */
int gist_error_msg(const struct gist_err *ge, const struct gist_nli *nli,
                   enum gist_transport transport, struct gist_msg *out);

/* Sets *ge to a fresh error about message *m (its header, SID and MRI as far
 * as present), e.g. GIST_E_ENDPOINT_FOUND or GIST_E_UNKNOWN_NSLPID found by
 * the state machine rather than the decoder. */
void gist_err_from_msg(struct gist_err *ge, const struct gist_msg *m, enum gist_transport transport,
                       uint8_t eclass, uint16_t code, uint8_t subcode);

/* ---- MRI ---------------------------------------------------------------------- */

/* Decodes an MRI body (no object header) of exactly len bytes. Returns 0 or
 * -EBADMSG (subcode and reason in *subcode / err if not NULL). */
int gist_mri_decode(const uint8_t *body, size_t len, struct gist_mri *mri, uint8_t *subcode,
                    char *err, size_t errlen);

/* Encodes an MRI body (no object header). Returns its length (at most
 * GIST_MRI_MAX_LEN), -ENOSPC or -EINVAL. The bytes are canonical: equal
 * MRIs encode equal, which suits routing-state keys and cookie hashing. */
ssize_t gist_mri_encode(const struct gist_mri *mri, uint8_t *buf, size_t size);

/* Flips the direction (D) flag: a Response carries the Query's MRI inverted. */
void gist_mri_invert(struct gist_mri *mri);

/* Returns whether two MRIs are the same flow (all fields, D included). */
bool gist_mri_equal(const struct gist_mri *a, const struct gist_mri *b);

/* ---- Stack-Configuration-Data helpers ----------------------------------------- */

/* Returns the port of an MA-protocol-option carrying one (TCP, TLS: the first
 * two bytes of its data), or -ENOENT. */
int gist_mpo_port(const struct gist_mpo *mpo);

/* Chooses a messaging association from a Response's Stack-Proposal and
 * Stack-Configuration-Data (RFC 5971 5.7, A.3.3): the first profile of *sp
 * whose protocol layers are exactly stack[0..nstack) (top first, e.g. {TCP},
 * or later {TLS, TCP}), and the port the SCD gives for that profile: an
 * option for the profile's last layer (TCP) tagged with that profile or 0
 * (all profiles), without the D flag, carrying a port. An option for another
 * profile never counts, whatever its protocol (NSIS-ka tags its TLS port,
 * 30001, as a TCP option of profile 2). Returns the 1-based profile and the
 * port in *port, or -ENOENT. */
int gist_scd_choose(const struct gist_sp *sp, const struct gist_scd *scd, const uint8_t *stack,
                    size_t nstack, uint16_t *port);
