/* OpenFlow 1.3 (wire version 0x04) codec: the messages a controller of one
 * switch needs (docs/openflow.md), decoded into and encoded from struct
 * of_msg. Written for the OpenFlow forwarding-plane driver (issue #16).
 *
 * Layers:
 *   - framing: of_frame_length() and struct of_rx split a TCP byte stream
 *     into messages (the 8-byte header carries the length);
 *   - messages: of_decode() / of_encode();
 *   - objects: the OXM match, actions, instructions and group buckets, inside
 *     the messages; flow-stats entries one by one (of_flow_stats_next()).
 *
 * Ownership: a decoded message copies every fixed-size field (match fields,
 * actions, buckets) into bounded arrays and points into the input buffer for
 * the variable ones (echo and error data, packet data, flow-stats entries), as
 * struct of_bytes. The input must outlive the decoded message. To encode,
 * point those at the caller's own bytes.
 *
 * Errors: every function that can fail returns a negative errno and writes a
 * one-line reason into the caller's `err` buffer (may be NULL). Nothing here
 * logs, allocates or exits. The decoder reads only inside the buffer given.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OF_VERSION  0x04  /* OpenFlow 1.3 */
#define OF_HDR_LEN  8     /* version, type, length, xid */
#define OF_MAX_MSG  65535 /* the header's 16-bit length; also our cap */
#define OF_ERR_LEN  256   /* a good size for the err buffers */
#define OF_TCP_PORT 6653  /* IANA */

/* Bounds of what one decoded message holds; more is refused (-E2BIG). */
#define OF_MAX_ACTIONS 16 /* actions in one list */
#define OF_MAX_INSTR   4  /* instructions in one flow */
#define OF_MAX_BUCKETS 32 /* buckets in one group */

enum of_type {
	OFPT_HELLO = 0,
	OFPT_ERROR = 1,
	OFPT_ECHO_REQUEST = 2,
	OFPT_ECHO_REPLY = 3,
	OFPT_EXPERIMENTER = 4,
	OFPT_FEATURES_REQUEST = 5,
	OFPT_FEATURES_REPLY = 6,
	OFPT_GET_CONFIG_REQUEST = 7,
	OFPT_GET_CONFIG_REPLY = 8,
	OFPT_SET_CONFIG = 9,
	OFPT_PACKET_IN = 10,
	OFPT_FLOW_REMOVED = 11,
	OFPT_PORT_STATUS = 12,
	OFPT_PACKET_OUT = 13,
	OFPT_FLOW_MOD = 14,
	OFPT_GROUP_MOD = 15,
	OFPT_PORT_MOD = 16,
	OFPT_TABLE_MOD = 17,
	OFPT_MULTIPART_REQUEST = 18,
	OFPT_MULTIPART_REPLY = 19,
	OFPT_BARRIER_REQUEST = 20,
	OFPT_BARRIER_REPLY = 21,
};

/* Reserved port numbers, group numbers and buffer ids. */
#define OFPP_MAX         0xffffff00u
#define OFPP_IN_PORT     0xfffffff8u
#define OFPP_TABLE       0xfffffff9u
#define OFPP_NORMAL      0xfffffffau
#define OFPP_FLOOD       0xfffffffbu
#define OFPP_ALL         0xfffffffcu
#define OFPP_CONTROLLER  0xfffffffdu
#define OFPP_LOCAL       0xfffffffeu
#define OFPP_ANY         0xffffffffu
#define OFPG_MAX         0xffffff00u
#define OFPG_ALL         0xfffffffcu /* delete: every group */
#define OFPG_ANY         0xffffffffu
#define OFP_NO_BUFFER    0xffffffffu
#define OFPCML_NO_BUFFER 0xffffu /* OUTPUT to the controller: whole packet */
#define OFPTT_ALL        0xff

enum of_flow_mod_command {
	OFPFC_ADD = 0,
	OFPFC_MODIFY = 1,
	OFPFC_MODIFY_STRICT = 2,
	OFPFC_DELETE = 3,
	OFPFC_DELETE_STRICT = 4,
};

/* FLOW_MOD and flow-stats flags. */
#define OFPFF_SEND_FLOW_REM 0x0001
#define OFPFF_CHECK_OVERLAP 0x0002
#define OFPFF_RESET_COUNTS  0x0004
#define OFPFF_NO_PKT_COUNTS 0x0008
#define OFPFF_NO_BYT_COUNTS 0x0010

enum of_group_mod_command {
	OFPGC_ADD = 0,
	OFPGC_MODIFY = 1,
	OFPGC_DELETE = 2,
};

enum of_group_type {
	OFPGT_ALL = 0,
	OFPGT_SELECT = 1,
	OFPGT_INDIRECT = 2,
	OFPGT_FF = 3,
};

enum of_multipart_type {
	OFPMP_FLOW = 1,
};
#define OFPMPF_MORE 0x0001 /* request/reply flags: more parts follow */

/* ERROR types and the codes this codec's users send. */
enum of_error_type {
	OFPET_HELLO_FAILED = 0,
	OFPET_BAD_REQUEST = 1,
	OFPET_BAD_ACTION = 2,
	OFPET_BAD_INSTRUCTION = 3,
	OFPET_BAD_MATCH = 4,
	OFPET_FLOW_MOD_FAILED = 5,
	OFPET_GROUP_MOD_FAILED = 6,
};
#define OFPHFC_INCOMPATIBLE 0 /* HELLO_FAILED: no common version */
#define OFPBRC_BAD_VERSION  0 /* BAD_REQUEST codes */
#define OFPBRC_BAD_TYPE     1
#define OFPBRC_BAD_LEN      6

/* Fields of struct of_match, as bits of `fields` (and of `masked` for the
 * four maskable address fields). Prerequisites as in OpenFlow 1.3 (7.2.3.8):
 * IP_PROTO needs ETH_TYPE IPv4 or IPv6, IPV4_* ETH_TYPE 0x0800, IPV6_*
 * ETH_TYPE 0x86dd, TCP_* IP_PROTO 6, UDP_* IP_PROTO 17. */
#define OF_M_IN_PORT  0x0001u
#define OF_M_ETH_TYPE 0x0002u
#define OF_M_IP_PROTO 0x0004u
#define OF_M_IPV4_SRC 0x0008u
#define OF_M_IPV4_DST 0x0010u
#define OF_M_IPV6_SRC 0x0020u
#define OF_M_IPV6_DST 0x0040u
#define OF_M_TCP_SRC  0x0080u
#define OF_M_TCP_DST  0x0100u
#define OF_M_UDP_SRC  0x0200u
#define OF_M_UDP_DST  0x0400u
#define OF_M_ADDRS    (OF_M_IPV4_SRC | OF_M_IPV4_DST | OF_M_IPV6_SRC | OF_M_IPV6_DST)

enum of_action_type {
	OFPAT_OUTPUT = 0,
	OFPAT_GROUP = 22,
	OFPAT_SET_FIELD = 25, /* here: eth_dst only */
};

enum of_instr_type {
	OFPIT_GOTO_TABLE = 1,
	OFPIT_WRITE_ACTIONS = 3,
	OFPIT_APPLY_ACTIONS = 4,
	OFPIT_CLEAR_ACTIONS = 5,
};

/* ---- Structures ------------------------------------------------------------- */

/* Bytes inside someone else's buffer. */
struct of_bytes {
	const uint8_t *p;
	size_t len;
};

struct of_hdr {
	uint8_t version; /* encoded: 0 means OF_VERSION */
	uint8_t type;    /* enum of_type */
	uint16_t length; /* decoded: the message length; encoded: computed */
	uint32_t xid;
};

/* A match: the fields present (OF_M_*), their values, the masks of those in
 * `masked`. Decoded values are stored ANDed with their mask. OXM fields this
 * codec does not know are skipped on decode and counted in n_unknown. */
struct of_match {
	uint32_t fields;
	uint32_t masked;
	uint32_t in_port;
	uint16_t eth_type;
	uint8_t ip_proto;
	uint8_t ipv4_src[4], ipv4_src_mask[4];
	uint8_t ipv4_dst[4], ipv4_dst_mask[4];
	uint8_t ipv6_src[16], ipv6_src_mask[16];
	uint8_t ipv6_dst[16], ipv6_dst_mask[16];
	uint16_t tp_src, tp_dst; /* TCP or UDP, by the OF_M_ bit */
	uint16_t n_unknown;
};

struct of_action {
	uint16_t type;      /* enum of_action_type */
	uint32_t port;      /* OUTPUT */
	uint16_t max_len;   /* OUTPUT: bytes to the controller */
	uint32_t group_id;  /* GROUP */
	uint8_t eth_dst[6]; /* SET_FIELD */
};

struct of_actions {
	uint8_t n; /* 0..OF_MAX_ACTIONS */
	struct of_action a[OF_MAX_ACTIONS];
};

struct of_instr {
	uint16_t type;             /* enum of_instr_type */
	uint8_t table_id;          /* GOTO_TABLE */
	struct of_actions actions; /* WRITE_ACTIONS, APPLY_ACTIONS */
};

struct of_instrs {
	uint8_t n; /* 0..OF_MAX_INSTR */
	struct of_instr i[OF_MAX_INSTR];
};

struct of_hello {
	bool has_bitmap;
	uint32_t bitmap; /* versions 0..31: bit 4 = OpenFlow 1.3 */
};

struct of_error {
	uint16_t type; /* enum of_error_type */
	uint16_t code;
	struct of_bytes data; /* normally the start of the offending message */
};

struct of_features {
	uint64_t datapath_id;
	uint32_t n_buffers;
	uint8_t n_tables;
	uint8_t auxiliary_id;
	uint32_t capabilities;
};

struct of_switch_config {
	uint16_t flags;
	uint16_t miss_send_len;
};

struct of_flow_mod {
	uint64_t cookie, cookie_mask;
	uint8_t table_id;
	uint8_t command; /* enum of_flow_mod_command */
	uint16_t idle_timeout, hard_timeout;
	uint16_t priority;
	uint32_t buffer_id; /* OFP_NO_BUFFER */
	uint32_t out_port;  /* delete: OFPP_ANY or a port */
	uint32_t out_group; /* delete: OFPG_ANY or a group */
	uint16_t flags;     /* OFPFF_* */
	struct of_match match;
	struct of_instrs instrs;
};

struct of_bucket {
	uint16_t weight; /* SELECT */
	uint32_t watch_port, watch_group;
	struct of_actions actions;
};

struct of_group_mod {
	uint16_t command; /* enum of_group_mod_command */
	uint8_t type;     /* enum of_group_type */
	uint32_t group_id;
	uint8_t n_buckets; /* 0..OF_MAX_BUCKETS */
	struct of_bucket buckets[OF_MAX_BUCKETS];
};

struct of_packet_in {
	uint32_t buffer_id;
	uint16_t total_len;
	uint8_t reason; /* 0 no match, 1 action, 2 invalid TTL */
	uint8_t table_id;
	uint64_t cookie;
	struct of_match match;
	struct of_bytes data;
};

struct of_packet_out {
	uint32_t buffer_id;
	uint32_t in_port;
	struct of_actions actions;
	struct of_bytes data;
};

/* One entry of a flow-stats reply. */
struct of_flow_stats {
	uint8_t table_id;
	uint32_t duration_sec, duration_nsec;
	uint16_t priority, idle_timeout, hard_timeout, flags;
	uint64_t cookie, packet_count, byte_count;
	struct of_match match;
	struct of_instrs instrs;
};

/* MULTIPART_REQUEST / _REPLY of type OFPMP_FLOW (the only one here). */
struct of_multipart {
	uint16_t type;  /* enum of_multipart_type */
	uint16_t flags; /* OFPMPF_MORE */
	/* Request: which flows. */
	uint8_t table_id; /* OFPTT_ALL */
	uint32_t out_port, out_group;
	uint64_t cookie, cookie_mask;
	struct of_match match;
	/* Reply: decoded, `body` holds n_stats checked entries (read them with
	 * of_flow_stats_next()); to encode, point `stats` at n_stats entries. */
	struct of_bytes body;
	size_t n_stats;
	const struct of_flow_stats *stats;
};

struct of_port {
	uint32_t port_no;
	uint8_t hw_addr[6];
	char name[16]; /* NUL-terminated (the wire's 16 bytes, cut at 15) */
	uint32_t config, state, curr, advertised, supported, peer;
	uint32_t curr_speed, max_speed;
};

struct of_port_status {
	uint8_t reason; /* 0 add, 1 delete, 2 modify */
	struct of_port desc;
};

struct of_flow_removed {
	uint64_t cookie;
	uint16_t priority;
	uint8_t reason; /* 0 idle timeout, 1 hard timeout, 2 delete, 3 group delete */
	uint8_t table_id;
	uint32_t duration_sec, duration_nsec;
	uint16_t idle_timeout, hard_timeout;
	uint64_t packet_count, byte_count;
	struct of_match match;
};

struct of_msg {
	struct of_hdr hdr;
	union {
		struct of_hello hello;               /* HELLO */
		struct of_error error;               /* ERROR */
		struct of_bytes echo;                /* ECHO_REQUEST, ECHO_REPLY */
		struct of_features features;         /* FEATURES_REPLY */
		struct of_switch_config config;      /* SET_CONFIG */
		struct of_flow_mod flow_mod;         /* FLOW_MOD */
		struct of_group_mod group_mod;       /* GROUP_MOD */
		struct of_packet_in packet_in;       /* PACKET_IN */
		struct of_packet_out packet_out;     /* PACKET_OUT */
		struct of_multipart multipart;       /* MULTIPART_REQUEST, _REPLY */
		struct of_port_status port_status;   /* PORT_STATUS */
		struct of_flow_removed flow_removed; /* FLOW_REMOVED */
	};
};

/* ---- Names, for logs ------------------------------------------------------------ */

const char *of_type_name(unsigned type); /* "FLOW_MOD"; "?" if unknown */

/* ---- Framing -------------------------------------------------------------------- */

/* Decodes the header at the start of buf (no version check). Returns 0, or
 * -EMSGSIZE if fewer than OF_HDR_LEN bytes are there. */
int of_hdr_decode(const uint8_t *buf, size_t len, struct of_hdr *hdr);

/* For a TCP stream: returns the length of the first complete message in buf,
 * 0 if more bytes are needed, -EBADMSG if its length field is below
 * OF_HDR_LEN, or -EMSGSIZE if it is above max (at most OF_MAX_MSG). */
long of_frame_length(const uint8_t *buf, size_t len, size_t max);

/* A connection's receive buffer: read() into of_rx_space(), of_rx_commit()
 * what was read, then take the complete messages with of_rx_next(). */
struct of_rx {
	size_t len;   /* bytes held */
	size_t start; /* where the next message begins */
	size_t max;   /* message cap: 0 means OF_MAX_MSG */
	uint8_t buf[2 * OF_MAX_MSG];
};

/* Empties rx and sets its message cap (0: OF_MAX_MSG). */
void of_rx_reset(struct of_rx *rx, size_t max);

/* Returns where to read to, and in *room how many bytes fit (never 0 while
 * every message taken so far was complete and within the cap). */
uint8_t *of_rx_space(struct of_rx *rx, size_t *room);

/* Records that n bytes were written into the space of_rx_space() returned. */
void of_rx_commit(struct of_rx *rx, size_t n);

/* Takes the next complete message: returns its length and sets *msg (valid
 * until the next call on rx), 0 if none is complete yet, or -EBADMSG /
 * -EMSGSIZE as of_frame_length() (the stream is then unusable: reset it). */
long of_rx_next(struct of_rx *rx, const uint8_t **msg, char *err, size_t errlen);

/* ---- Messages ------------------------------------------------------------------- */

/* Clears *m and sets its header: version 0x04, the type and the xid. The body
 * fields that have a "none" value get it (buffer ids OFP_NO_BUFFER, out_port
 * OFPP_ANY, out_group OFPG_ANY, table OFPTT_ALL for a flow-stats request,
 * a HELLO's bitmap {1.3}). */
void of_msg_init(struct of_msg *m, enum of_type type, uint32_t xid);

/* Decodes one whole message of exactly len bytes. Checks the header (version
 * 0x04, except HELLO, which may carry any; the length), every inner length,
 * match prerequisites and duplicates, and the bounds above.
 * Returns 0 and fills *m (pointing into buf), or -EMSGSIZE (truncated,
 * inconsistent lengths), -EPROTO (not version 0x04), -EOPNOTSUPP (a message
 * or multipart type this codec does not handle: m->hdr is filled), -E2BIG
 * (more actions, instructions or buckets than the bounds), -EBADMSG
 * (anything else), -EINVAL (buf NULL); err says why. */
int of_decode(const uint8_t *buf, size_t len, struct of_msg *m, char *err, size_t errlen);

/* Encodes *m into buf (size bytes), its length computed into the header.
 * With buf NULL (size 0) only computes the length. Returns the length,
 * -ENOSPC if buf is too small, -EMSGSIZE above OF_MAX_MSG, -E2BIG past a
 * bound, or -EINVAL if *m is not valid (an unknown type, a missing match
 * prerequisite, an action not allowed there); err says why. */
ssize_t of_encode(const struct of_msg *m, uint8_t *buf, size_t size, char *err, size_t errlen);

/* Iterates over a decoded flow-stats reply: *pos starts at 0. Returns 1 and
 * fills *fs with the next entry, 0 at the end, or a negative errno (not
 * after a successful of_decode(), which checked every entry). */
int of_flow_stats_next(const struct of_multipart *mp, size_t *pos, struct of_flow_stats *fs,
                       char *err, size_t errlen);

/* Fills *m with an ERROR of type/code about the message in bad (its first 64
 * bytes as data, as OpenFlow asks), xid taken from it when it has a header. */
void of_error_about(struct of_msg *m, uint16_t type, uint16_t code, const uint8_t *bad,
                    size_t badlen);
