/* The container supervisor in netservd: one netserv-container process per
 * publisher, pre-forked, driven over a SOCK_SEQPACKET socketpair (install,
 * remove, stats, heartbeat, packet injection), restarted when it dies or
 * stops answering, with its modules reinstalled in their load order. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runtime/cgroup.h"
#include "abi/host_api.h"
#include "ctl/runtime.h"
#include "proto/msg.h"

struct evloop;
struct supervisor;

/* A publisher's container: what its ASSIGN carries (proto/msg.h), and the
 * limits of its cgroup. */
struct sup_publisher {
	struct proto_assign ct;  /* ct.user names the publisher; uid/gid -1: keep ours */
	struct cg_limits cgroup; /* container-wide limits */
};

/* The AF_XDP plane, when netservd drives one: the supervisor asks it for a
 * publisher's sockets when its container starts (instead of binding an
 * NFQUEUE queue), tells it when the container is ready to drain them, and
 * when the container is gone. */
struct sup_xdp_plane {
	/* Makes the sockets of `queue`: fds[2i], fds[2i + 1] (socket, UMEM;
	 * kept by the plane, passed as copies) and ifindexes[i], i < max, and
	 * after the n sockets fds[2n], the container's end of its sample
	 * channel (kept by the plane too), or -1 (fds has 2 * max + 1).
	 * Returns how many or a negative errno with the reason in err:
	 * -EBUSY when another publisher holds the device queue (the plane
	 * then steers this one's filters to its NFQUEUE queue, which the
	 * supervisor binds and hands over as on the netfilter plane). */
	int (*open)(void *ctx, unsigned queue, int *fds, int *ifindexes, size_t max, char *err,
	            size_t errlen);
	/* The container of `queue` is ready to drain its sockets (assigned,
	 * its modules reinstalled): its frames go to them from now on, not
	 * before (until then they go to the kernel). Returns 0 or a negative
	 * errno with the reason in err. */
	int (*arm)(void *ctx, unsigned queue, char *err, size_t errlen);
	/* The container of `queue` is gone: its frames must go to the kernel. */
	void (*close)(void *ctx, unsigned queue);
	void *ctx;
};

/* Sample channels made by the plane (the netfilter plane's tc sampler,
 * fwd/xdp/fwd_tcsample.h): a container on the NFQUEUE path gets its channel
 * from here instead of the NFLOG group of its queue number. */
struct sup_sample_plane {
	/* The container end of queue's channel (kept by the plane: the
	 * supervisor passes a copy), or a negative errno with the reason in
	 * err. */
	int (*open)(void *ctx, unsigned queue, char *err, size_t errlen);
	/* The container of `queue` is gone. */
	void (*close)(void *ctx, unsigned queue);
	void *ctx;
};

/* How many times the usual wait (3 heartbeats) a container that was not
 * given the CPU gets before it is killed all the same. */
#define SUP_STARVED_LIMIT 10u

struct sup_config {
	const char *container_bin; /* path of netserv-container */
	/* The AF_XDP plane (NULL: publishers' queues are NFQUEUE queues). */
	const struct sup_xdp_plane *xdp;
	/* NULL: the NFLOG group of the container's queue is its channel. */
	const struct sup_sample_plane *samples;
	const char *cgroup_prefix; /* e.g. "netserv": groups are <prefix>/<user> */
	/* PING period. 3 missed answers kill the container, unless it ran less
	 * than one period on a CPU meanwhile: it was not given the CPU (an
	 * overloaded node) and is left SUP_STARVED_LIMIT times as long. */
	uint32_t heartbeat_ms;
	uint32_t pool_size; /* spare containers kept pre-forked */
	/* A module that was running when its container stopped answering or
	 * crashed, restart_limit times within restart_window_s, fails (it is not
	 * reinstalled; the event says why). 0: 3 restarts, 60 s. */
	uint32_t restart_limit;
	uint32_t restart_window_s;
	/* An INSTALL that comes while the publisher's container restarts waits
	 * this long for it (0: 10 s), then fails with -ETIMEDOUT. */
	uint32_t install_wait_ms;
	/* true: fork and exec every container; false: fork them from one
	 * pre-started netserv-container --zygote (runtime/zygote_host.h), which
	 * is faster and shares its libraries' relocated pages, at the price of
	 * one address-space layout for all containers. */
	bool exec_each;
};

/* A reply to a request: status 0 or a negative errno; `reply` is the JSON
 * payload (borrowed; NULL for PACKET), `raw`/`raw_len` the raw payload. */
typedef void sup_reply_fn(void *ctx, int status, json_t *reply, const uint8_t *raw, size_t raw_len);

/* Something happened to a module or container (ctl/runtime.h; reason may be
 * NULL). */
typedef void sup_event_fn(void *ctx, const char *user, const char *module, enum runtime_event event,
                          const char *reason);

/* Creates the supervisor and its spare pool. Returns 0 or a negative errno
 * with the reason in err. */
int supervisor_new(struct evloop *loop, const struct sup_config *cfg, sup_event_fn *event,
                   void *ctx, struct supervisor **ret, char *err, size_t errlen);

/* Kills every container and frees; NULL allowed. Returns NULL. */
struct supervisor *supervisor_free(struct supervisor *s);

/* Registers a publisher and gives it a container (from the pool or new).
 * Returns 0, -EEXIST, or a negative errno. */
int supervisor_add_publisher(struct supervisor *s, const struct sup_publisher *p, char *err,
                             size_t errlen);

/* Unregisters a publisher (a configuration reload removed it): its container
 * is killed and not restarted, its modules forgotten, requests still waiting
 * for it answered with -ECONNRESET, its cgroup removed. Returns 0 or
 * -ENOENT. */
int supervisor_remove_publisher(struct supervisor *s, const char *user);

/* Returns whether `user` is a registered publisher. */
bool supervisor_has_publisher(const struct supervisor *s, const char *user);

/* Installs a compiled module in user's container (appended to the load
 * order); while the container restarts, the install waits for it (at most
 * install_wait_ms). The n filters (none: every packet of the container) select the packets the
 * module sees (a packet that matches any of them). On success it is remembered and reinstalled
 * after a restart. reply is called exactly once (unless supervisor_forget(ctx)). properties and
 * filter are borrowed. sample_every > 0: the module is sampled (SETUP `sample: 1/N`): it sees
 * only the copies on its container's sample channel tagged with its name, never a queued
 * packet. */
int supervisor_install(struct supervisor *s, const char *user, const char *module,
                       const char *so_path, json_t *properties, const struct ncm_filter *filters,
                       size_t n_filters, uint32_t sample_every, sup_reply_fn *reply, void *ctx);

/* Replaces the code of an installed module in user's running container with
 * another build of it (so_path), keeping the module's state (container:
 * modhost_swap); on success a restart reinstalls that build. reply (may be
 * NULL) is called once with the container's answer. Returns 0, -ENOENT (no
 * such publisher or module), -EAGAIN (the container is not running: the
 * module keeps its build), or another negative errno. */
int supervisor_swap(struct supervisor *s, const char *user, const char *module, const char *so_path,
                    sup_reply_fn *reply, void *ctx);

/* Removes a module (and forgets it for restarts). reply may be NULL. */
int supervisor_remove(struct supervisor *s, const char *user, const char *module,
                      sup_reply_fn *reply, void *ctx);

/* Deletes what a module removed for good stored (storage/1): its container
 * does it (after the module's REMOVE), or, between two containers, the node.
 * Returns 0 or a negative errno. */
int supervisor_purge(struct supervisor *s, const char *user, const char *module);

/* Asks for user's container statistics (JSON). */
int supervisor_stats(struct supervisor *s, const char *user, sup_reply_fn *reply, void *ctx);

/* Runs a synthetic packet through user's modules; the reply's raw payload is
 * a struct cmsg_packet followed by the packet as it leaves. */
int supervisor_packet(struct supervisor *s, const char *user, const uint8_t *data, uint32_t len,
                      const struct ns_pkt_meta *meta, sup_reply_fn *reply, void *ctx);

/* Returns the pid of user's container (0 if none is running). */
pid_t supervisor_pid(const struct supervisor *s, const char *user);

/* Returns how many datagrams user's containers sent on their verdict
 * channel that netservd refused (runtime/verdict_relay.h), all together. */
uint64_t supervisor_verdicts_refused(const struct supervisor *s, const char *user);

/* Returns how many times user's container was (re)started. */
unsigned supervisor_starts(const struct supervisor *s, const char *user);

/* Returns the status of all containers as a new JSON array. */
json_t *supervisor_status(const struct supervisor *s);

/* Drops every pending reply addressed to ctx. */
void supervisor_forget(struct supervisor *s, void *ctx);
