/* The OpenFlow sidecar's node group (issue #16; docs/openflow.md "Group
 * channel"): the NetServ nodes on the ports of one OpenFlow switch know
 * each other over an authenticated UDP channel (daemon/sidecar_wire.h).
 *
 *  - Membership: every node sends a HEARTBEAT to every peer each
 *    heartbeat_ms; a peer that sends nothing valid for dead_after_ms is down,
 *    up again with its next valid message. Each change (and every member's
 *    state at start) is reported through a callback (name, OpenFlow port,
 *    MAC, up), the forwarding driver's fwd_openflow_set_nodes() input.
 *  - Installing on all: a publisher's signed SETUP or REMOVE that this node
 *    accepted (admin socket or signaling) is sent, as the publisher's bytes,
 *    to every member that is up; each applies it as if it had come by
 *    signaling (the publisher's signature is checked there too) and answers
 *    with its outcome. The originating node's response gets one
 *    `group-node: NAME STATUS REASON` header per node (at most
 *    answer_wait_ms later).
 *  - State: the group's requests, SETUPs not expired and REMOVEs, each with
 *    a version (a Lamport clock over the group); heartbeats carry the
 *    sender's version, and a member behind gets the newer entries replayed
 *    (a restarted or new node ends with the group's modules). The entries
 *    are kept in <state_dir>/group.state, so the group's state survives the
 *    restart of any node.
 *
 * The core (sgroup_new, _input, _tick, _submit) does no I/O of its own: it
 * sends and submits through struct sgroup_ops, so that tests drive several
 * groups in one process; sgroup_start() is the daemon's glue (socket,
 * timer, controller hooks). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ctl/controller.h"
#include "daemon/sidecar_wire.h"

struct ns_config;
struct evloop;
struct sgroup;

#define SG_MAX_PEERS 32

/* A member as configured: NAME@ADDR:PORT[:OFPORT[:MAC]]. */
struct sg_peer_cfg {
	char name[SG_MAX_NAME + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	uint32_t of_port; /* 0: not given */
	uint8_t mac[6];
	bool has_mac;
};

/* Parses a comma-separated peer list into peers (at most max). Returns the
 * number parsed, or -EINVAL with the reason in err. */
int sgroup_parse_peers(const char *text, struct sg_peer_cfg *peers, size_t max, char *err,
                       size_t errlen);

/* Checks the [sidecar] section of cfg (names, peers, timers; not the key
 * file, read at start). Returns 0 or -EINVAL with the reason in err. */
int sgroup_config_check(const struct ns_config *cfg, char *err, size_t errlen);

/* Reads the group key from path: the BLAKE2b-256 hash of the file's bytes
 * (16..4096 of them). The file must be a regular file readable by nobody but
 * its owner. Returns 0 or a negative errno with the reason in err. */
int sgroup_read_key(const char *path, uint8_t key[SG_KEY_LEN], char *err, size_t errlen);

/* Reports that member name went up or down (of_port 0: not configured). */
typedef void sgroup_member_fn(void *ctx, const char *name, uint32_t of_port, const uint8_t mac[6],
                              bool has_mac, bool up);

/* What the core does its I/O with. */
struct sgroup_ops {
	/* Sends one datagram; returns 0 or a negative errno. */
	int (*send)(void *ctx, const struct sockaddr *to, socklen_t tolen, const uint8_t *buf,
	            size_t len);
	/* Applies a request on this node (controller_submit_direct()). */
	void (*submit)(void *ctx, const struct ncm_msg *req, const struct ncm_prefix *path_dst,
	               ctl_reply_fn *reply, void *rctx);
	/* Applies a replayed request (state sync) on this node, its module
	 * to expire at not_after_ms at the latest (controller_submit_replayed());
	 * NULL: submit. */
	void (*submit_replayed)(void *ctx, const struct ncm_msg *req,
	                        const struct ncm_prefix *path_dst, int64_t not_after_ms,
	                        ctl_reply_fn *reply, void *rctx);
	/* Drops the pending reply of rctx (controller_forget()). */
	void (*forget)(void *ctx, void *rctx);
	sgroup_member_fn *member; /* NULL allowed */
	void *ctx;
	void *member_ctx;
};

struct sgroup_settings {
	const char *group;
	const char *node;
	uint8_t key[SG_KEY_LEN];
	const struct sg_peer_cfg *peers; /* copied; an entry named `node` is this node */
	size_t n_peers;
	uint32_t heartbeat_ms, dead_after_ms, answer_wait_ms;
	const char *state_path; /* the entries' file; NULL: not kept */
};

/* Creates the core at monotonic time now_ms and loads state_path. Reports
 * every member's initial state (this node up, the others down) through
 * ops->member. Returns 0 or a negative errno with the reason in err. */
int sgroup_new(const struct sgroup_settings *s, const struct sgroup_ops *ops, uint64_t now_ms,
               struct sgroup **ret, char *err, size_t errlen);

/* Frees; requests waiting for members are answered with what is known, the
 * members' pending applications are forgotten. NULL allowed; returns NULL. */
struct sgroup *sgroup_free(struct sgroup *g);

/* Takes one datagram from `from`. Returns 0 if it was accepted, or a
 * negative errno (refused: the reason, fit for a log line, in err). */
int sgroup_input(struct sgroup *g, const uint8_t *buf, size_t len, const struct sockaddr *from,
                 socklen_t fromlen, uint64_t now_ms, char *err, size_t errlen);

/* Sends heartbeats, marks silent members down, ends the waits that are
 * over, drops expired entries. Call it every heartbeat_ms. */
void sgroup_tick(struct sgroup *g, uint64_t now_ms);

/* The controller's submit hook (struct ctl_group_hooks): takes a signed
 * SETUP or REMOVE (returns true), applies it here through ops->submit, and
 * when it succeeded sends it to the members; anything else is not taken
 * (false). */
bool sgroup_submit(struct sgroup *g, const struct ncm_msg *req, const struct ncm_prefix *path_dst,
                   ctl_reply_fn *reply, void *ctx);

/* The requester ctx went away: its response is not sent. */
void sgroup_forget(struct sgroup *g, void *ctx);

/* Adds `group: NAME` and one `group-node: NAME up|down` per member to a
 * PROBE response. */
void sgroup_probe(struct sgroup *g, struct ncm_msg *response);

/* The group as a new JSON object: name, node, version, entries, members
 * (name, up, of_port, mac, version, last_heard_ms, changes), refusals. */
json_t *sgroup_status(struct sgroup *g);

/* A member as the OpenFlow driver needs it (struct fwd_of_node's fields). */
struct sg_member_info {
	char name[SG_MAX_NAME + 1];
	uint32_t of_port;
	uint8_t mac[6];
	bool has_mac;
	bool up;
	bool self;
};

/* Copies at most max members, this node included, in configuration order,
 * into out; returns how many there are (more than max: the rest is cut).
 * A membership callback calls it to rebuild the driver's whole node list. */
size_t sgroup_members(const struct sgroup *g, struct sg_member_info *out, size_t max);

/* The state version, and whether member name is up (false: unknown). */
uint64_t sgroup_version(const struct sgroup *g);
bool sgroup_member_up(const struct sgroup *g, const char *name);

/* The daemon's group: reads the key, opens the socket on [sidecar] listen,
 * creates the core with <state_dir>/group.state, hooks it into ctl
 * (controller_set_group()) and ticks it on loop. member (NULL: log only)
 * gets the membership changes, which are also logged ("group G: member N
 * up|down"). Returns 0 or a negative errno with the reason in err. */
int sgroup_start(struct evloop *loop, const struct ns_config *cfg, struct controller *ctl,
                 sgroup_member_fn *member, void *member_ctx, struct sgroup **ret, char *err,
                 size_t errlen);

/* Unhooks from the controller, closes the socket, frees; NULL allowed. */
struct sgroup *sgroup_stop(struct sgroup *g);
