/* The control protocol between netservd's supervisor and a netserv-container,
 * over an AF_UNIX SOCK_SEQPACKET socketpair: one message per datagram, a fixed
 * header followed by a payload (JSON text for control messages, binary for
 * PACKET). Every request carries a sequence number echoed by its REPLY. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "abi/host_api.h"

enum cmsg_type {
	CMSG_HELLO = 1,   /* container -> supervisor at start: {"pid"} */
	CMSG_ASSIGN = 2,  /* -> container: publisher, uid/gid, limits, queue; with a queue, its
	                   * socket (bound by netservd) and the verdict channel's end */
	CMSG_INSTALL = 3, /* -> container: {"module","so","properties"} + the .so's fd */
	CMSG_REMOVE = 4,  /* -> container: {"module"} */
	CMSG_STATS = 5,   /* -> container: {} ; reply: stats JSON */
	CMSG_PING = 6,    /* heartbeat */
	CMSG_PACKET = 7,  /* -> container: struct cmsg_packet + bytes; reply the same */
	CMSG_REPLY = 8,   /* <- container: status (0 or -errno) + JSON {"error"} */
	CMSG_EVENT = 9,   /* <- container: {"module","event","reason"} */
};

struct cmsg_hdr {
	uint32_t type;
	uint32_t seq;
	int32_t status; /* replies: 0 or a negative errno */
	uint32_t len;   /* payload bytes after the header */
};

/* PACKET payload: this header, then `len` packet bytes. In a reply, `verdict`
 * is the dispatcher's verdict and the bytes are the packet as it leaves. */
struct cmsg_packet {
	uint32_t verdict; /* reply: enum ns_verdict */
	uint32_t len;
	struct ns_pkt_meta meta;
};

#define CMSG_MAX (sizeof(struct cmsg_hdr) + sizeof(struct cmsg_packet) + NS_PACKET_MAX + 64)

/* Sends one message (header + payload). Returns 0 or a negative errno. */
int cmsg_send(int fd, uint32_t type, uint32_t seq, int32_t status, const void *payload, size_t len);

/* Like cmsg_send(), passing file descriptor pass_fd along (SCM_RIGHTS). */
int cmsg_send_fd(int fd, uint32_t type, uint32_t seq, int32_t status, const void *payload,
                 size_t len, int pass_fd);

/* File descriptors one message may carry, at most. */
#define CMSG_MAX_FDS 9 /* PROTO_ASSIGN_FDS (msg.h) */

/* Like cmsg_send(), passing the nfds (<= CMSG_MAX_FDS) file descriptors fds
 * along in one SCM_RIGHTS message. */
int cmsg_send_fds(int fd, uint32_t type, uint32_t seq, int32_t status, const void *payload,
                  size_t len, const int *fds, size_t nfds);

/* Sends a message whose payload is `j` serialized (NULL: empty object). */
int cmsg_send_json(int fd, uint32_t type, uint32_t seq, int32_t status, const json_t *j);

/* Receives one message into buf (at least CMSG_MAX bytes). Stores the header
 * in *hdr and returns a pointer to the payload, or NULL with *err set to a
 * negative errno (-EAGAIN: nothing ready; -ECONNRESET: peer gone; -EBADMSG:
 * malformed). */
const uint8_t *cmsg_recv(int fd, uint8_t *buf, size_t cap, struct cmsg_hdr *hdr, int *err);

/* Like cmsg_recv(); a passed file descriptor is stored in *ret_fd (-1 when
 * none came; the caller owns it). */
const uint8_t *cmsg_recv_fd(int fd, uint8_t *buf, size_t cap, struct cmsg_hdr *hdr, int *err,
                            int *ret_fd);

/* Like cmsg_recv(); stores the passed file descriptors in fds[0 .. max) in
 * their order (-1 where none came; more than max are closed; the caller owns
 * them). */
const uint8_t *cmsg_recv_fds(int fd, uint8_t *buf, size_t cap, struct cmsg_hdr *hdr, int *err,
                             int *fds, size_t max);

/* Parses a JSON payload; returns a new reference or NULL. */
json_t *cmsg_json(const uint8_t *payload, size_t len);
