/* netservd's configuration file (INI; etc/netservd.conf documents every key). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy/policy.h"
#include "daemon/config_security.h"
#include "lib/log.h"
#include "runtime/supervisor.h"

/* The most [publisher NAME] sections a node takes (docs/operations.md
 * "Many publishers"): each is a container, a uid, a cgroup, an NFQUEUE
 * number and a few file descriptors. The arrays grow with the file. */
#define NS_MAX_PUBLISHERS 4096

/* An address to listen on, "IPv4:PORT" or "[IPv6]:PORT" (numeric). */
struct ns_listen {
	char text[64]; /* as configured; "" = not listening */
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

struct ns_config {
	/* [node] */
	char node_id[64];         /* identity reported by PROBE; default: hostname */
	char state_dir[PATH_MAX]; /* SQLite database and module cache */
	char admin_socket[108];   /* UNIX socket path (sun_path size) */
	/* [log] */
	enum log_level log_level;
	bool log_syslog;
	/* [fetch] */
	uint32_t fetch_timeout_s;
	uint64_t fetch_max_size;  /* bytes */
	char fetch_protocols[64]; /* curl protocol list, e.g. "http,https,file" */
	/* [modules] */
	uint32_t default_ttl;       /* seconds, when a SETUP has no ttl */
	uint32_t max_ttl;           /* longer ttls are cut to this */
	uint32_t max_modules;       /* per node */
	bool require_hash;          /* refuse a SETUP without module-hash */
	char runtime[16];           /* "wasm" or "none" */
	uint64_t module_max_memory; /* bytes of linear memory a module may use */
	uint32_t compile_timeout_s;
	char compile_user[33]; /* the AOT compiler runs as this user */
	/* Compiled modules; "": <state_dir>/so. Nodes on one machine with the
	 * same settings may share one (runtime/aot.h: a module compiles once). */
	char compile_cache[PATH_MAX];
	/* Tiered compile: a quick -O0 build first, the -O2 one swapped in with
	 * the module's state when ready (runtime_wasm.h). */
	bool quick_compile;
	/* [containers] */
	char container_program[PATH_MAX]; /* "" = netserv-container beside netservd */
	uint32_t pool_size;               /* spare containers kept pre-forked */
	bool zygote;                      /* fork containers from one zygote */
	uint32_t heartbeat_ms;
	uint32_t restart_limit;    /* restarts a module may cause within ... */
	uint32_t restart_window_s; /* ... this window before it fails */
	uint32_t install_wait_ms;  /* an install waits this long for a restart */
	char cgroup_prefix[64];
	char cgroup_delegated[8]; /* auto, yes, no: cgroup_delegate() */
	uint32_t queue_base;      /* NFQUEUE number of the first publisher */
	uint32_t uid_base;        /* default uid of publisher i: uid_base + i */
	/* [forwarding] */
	char fwd_driver[16]; /* "netfilter", "xdp", "openflow" or "none" */
	char fwd_chain_prefix[32];
	char fwd_hooks[64];       /* comma list of forward, input, output */
	char fwd_interfaces[128]; /* xdp, sampler tc: the router interfaces, comma/space list */
	char fwd_sampler[8];      /* netfilter: "nflog" (rules) or "tc" (fwd_tcsample.h) */
	uint32_t xdp_stall_ms;    /* xdp: a ring not drained this long goes to the kernel */
	/* [openflow] the sidecar's switch (driver = openflow, fwd/fwd_openflow.h) */
	struct ns_listen of_listen;   /* the switch connects here */
	uint32_t of_signaling_port;   /* the signaling node's switch port */
	char of_nodes[1024];          /* NAME:PORT[:MAC], ... (checked by config_load) */
	char of_local_node[32];       /* this node is that one of them ("" = none) */
	uint32_t of_echo_interval_ms; /* keep-alive toward the switch */
	uint32_t of_echo_timeout_ms;
	/* [signaling] (GIST and the NetServ NSLP) */
	bool sig_enable;
	uint32_t sig_nslpid;             /* NSLPID of the NetServ NSLP */
	uint32_t sig_queue;              /* NFQUEUE for intercepted GIST Queries */
	uint32_t sig_port;               /* GIST D-mode/C-mode port */
	uint32_t sig_t1_ms, sig_t2_ms;   /* GIST retransmission: first, give up at */
	bool sig_icmp;                   /* last node by ICMP port unreachable */
	bool sig_router_alert;           /* IPv4 Queries carry the Router Alert option */
	bool sig_router_alert6;          /* IPv6 Queries carry the hop-by-hop Router Alert */
	uint32_t sig_response_timeout_s; /* wait for the next node's response */
	/* [sidecar] the OpenFlow sidecar's node group (daemon/sidecar_group.h,
	 * docs/openflow.md "Group channel"); no group when sc_group is "" */
	char sc_group[32];
	char sc_node[32];           /* this node's name in the group */
	char sc_key_file[PATH_MAX]; /* the group's shared secret, not world-readable */
	char sc_peers[4096];        /* NAME@ADDR:PORT[:OFPORT[:MAC]], ... */
	struct ns_listen sc_listen;
	uint32_t sc_heartbeat_ms;
	uint32_t sc_dead_after_ms;
	uint32_t sc_answer_wait_ms; /* a SETUP waits this long for the members */
	/* [metrics] Prometheus endpoint (docs/operations.md) */
	struct ns_listen metrics_listen;
	/* [security], [containers] seccomp/landlock (daemon/config_security.h) */
	struct ns_security security;
	/* [publisher NAME] sections; policies[i] is publishers[i]'s (policy/policy.h);
	 * allocated as the file is read (config_free), n_alloc entries each */
	struct ns_policy *policies;
	struct sup_publisher *publishers;
	size_t n_publishers, n_alloc;
};

/* Fills *cfg with the built-in defaults (no publishers; nothing to free yet). */
void config_defaults(struct ns_config *cfg);

/* Frees the publisher arrays of a config filled by config_defaults and
 * config_load; the config is then empty of publishers. NULL allowed. */
void config_free(struct ns_config *cfg);

/* Moves *from into *to (freeing what *to held); *from is left empty. */
void config_move(struct ns_config *to, struct ns_config *from);

/* Reads an INI file over the values already in *cfg. Unknown sections or keys
 * and bad values are errors. Returns 0, or a negative errno with
 * "FILE:LINE: reason" in err. */
int config_load(struct ns_config *cfg, const char *path, char *err, size_t errlen);

/* Parses a config from a string (for tests); `name` is used in messages. */
int config_load_string(struct ns_config *cfg, const char *name, const char *text, char *err,
                       size_t errlen);

/* A reload (docs/operations.md "Reload"): for every setting of `next` that
 * cannot change while netservd runs and differs from `running`, appends
 * "[section] key" to list (comma separated) and puts the running value back
 * into next. Publishers are not compared here. Returns how many differ. */
int config_keep_restart_settings(struct ns_config *next, const struct ns_config *running,
                                 char *list, size_t listlen);

/* Receives one warning of config_warnings(). */
typedef void config_warn_fn(void *ctx, const char *msg);

/* What is legal but probably wrong in a configuration cfg read from path: a
 * section that appears twice (its keys are merged), a [publisher NAME]
 * section without keys (ignored) or with an invalid name, a missing
 * keys_dir, a publisher without <keys_dir>/<name>.pub. Returns how many. */
int config_warnings(const struct ns_config *cfg, const char *path, config_warn_fn *warn, void *ctx);

/* Parses "123", "64K", "16M", "1G" into bytes. Returns 0 or -EINVAL/-ERANGE. */
int config_parse_size(const char *s, uint64_t *ret);

/* Parses "IPv4:PORT" or "[IPv6]:PORT" (numeric address, port 1..65535); ""
 * leaves it off. Returns 0 or -EINVAL. */
int config_parse_listen(const char *s, struct ns_listen *ret);

/* Parses yes/no/true/false/on/off/1/0. Returns 0 or -EINVAL. */
int config_parse_bool(const char *s, bool *ret);

/* Splits an [forwarding] interfaces list (commas or blanks) into names[0..max)
 * (each < 16 bytes). Returns how many, -EINVAL for a bad name, -E2BIG for
 * more than max. */
int config_interfaces(const char *list, char names[][16], size_t max);
