/* The supervisor <-> container messages whose payload is JSON (framed by
 * proto/cmsg.h): one typed struct per message, with its encoder and decoder.
 * This is the one place where a message's fields and their defaults are
 * defined; netservd's config starts a publisher from proto_assign_defaults().
 *
 * Decoders validate types and bounds and return -EINVAL with a one-line
 * reason; absent optional keys take the defaults below. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ncm/ncm.h"
#include "proto/sandbox_config.h"

#define PROTO_USER_MAX 32 /* a publisher's name */
#define PROTO_MAX_XSK  4  /* AF_XDP sockets of an ASSIGN (2 descriptors each) */
/* Descriptors an ASSIGN carries at most: 2 per AF_XDP socket and the sample
 * channel (NFQUEUE: the queue's 2 and the sample channel). */
#define PROTO_ASSIGN_FDS (2 * PROTO_MAX_XSK + 1)

/* Defaults of an ASSIGN (and of a [publisher] section). */
#define PROTO_DEFAULT_NICE          5
#define PROTO_DEFAULT_BUDGET_MS     100u
#define PROTO_DEFAULT_MEM_MAX_PAGES 256u /* 16 MiB */
#define PROTO_DEFAULT_TRAP_LIMIT    5u
#define PROTO_DEFAULT_TRAP_WINDOW_S 60u
#define PROTO_DEFAULT_LOG_PER_S     20u

/* ASSIGN (-> container, once): the publisher it serves and its limits. */
struct proto_assign {
	char user[PROTO_USER_MAX + 1];
	int64_t uid, gid;              /* uid < 1: keep root (tests); gid < 0: = uid */
	int32_t nice;                  /* container nice value */
	uint32_t budget_ms;            /* per module call */
	uint32_t mem_max_pages;        /* per module memory (64 KiB pages) */
	uint32_t trap_limit;           /* traps ... */
	uint32_t trap_window_s;        /* ... within this window fail a module */
	uint32_t log_per_s;            /* module log lines per second */
	int32_t queue;                 /* NFQUEUE the container reads, -1: none */
	uint32_t batch;                /* packets per receive/verdict round, 0: default */
	uint32_t rt_priority;          /* SCHED_FIFO priority, 0: none */
	int64_t cpu;                   /* CPU to pin the container to, -1: none */
	struct sandbox_config sandbox; /* seccomp, landlock, netns, send/listen policy */
	/* The AF_XDP plane (instead of the queue's two descriptors): n_xsk
	 * sockets passed with the ASSIGN as (socket, UMEM) descriptor pairs, the
	 * i-th bound to interface xsk_ifindex[i]. 0: none. */
	uint32_t n_xsk;
	int32_t xsk_ifindex[PROTO_MAX_XSK];
};

/* Fills *a with the defaults (no user, uid/gid -1, no queue, no CPU pin). */
void proto_assign_defaults(struct proto_assign *a);

/* Encodes (new reference; NULL when out of memory). */
json_t *proto_assign_to_json(const struct proto_assign *a);

/* Decodes into *ret (defaults for absent keys). Returns 0 or -EINVAL. */
int proto_assign_from_json(json_t *j, struct proto_assign *ret, char *err, size_t errlen);

/* INSTALL (-> container, with the module's .so as a passed descriptor). */
struct proto_install {
	char module[NCM_MAX_TARGET + 1];
	char so[256];       /* the .so's name, for messages */
	json_t *properties; /* an object; owned: proto_install_clear() */
	size_t n_filters;   /* > 0: the module sees only packets that match one */
	struct ncm_filter filters[NCM_MAX_FILTERS];
	/* "swap": true: the module runs already; replace its code with this
	 * build, keeping its state (modhost_swap); properties and filters are
	 * ignored. */
	bool swap;
	uint32_t sample_every; /* > 0: sampled (SETUP sample: 1/N); it sees no queued packet,
	                          only the copies on the sample channel tagged with its name */
};

/* Encodes (new reference; NULL when out of memory). */
json_t *proto_install_to_json(const struct proto_install *m);

/* Decodes into *ret, which then owns a reference to the properties. Returns 0
 * or -EINVAL (nothing owned). */
int proto_install_from_json(json_t *j, struct proto_install *ret, char *err, size_t errlen);

/* Drops the properties; NULL-safe. */
void proto_install_clear(struct proto_install *m);

/* REMOVE (-> container). */
struct proto_remove {
	char module[NCM_MAX_TARGET + 1];
	bool purge; /* removed for good: delete its stored objects (storage/1)
	               too, even if it is not installed (any more) */
};

json_t *proto_remove_to_json(const struct proto_remove *m);
int proto_remove_from_json(json_t *j, struct proto_remove *ret, char *err, size_t errlen);

/* EVENT (<- container): something happened to a module. */
enum proto_event_kind {
	PROTO_EVENT_TRAP = 1, /* a contained trap, counted (reason: which) */
	PROTO_EVENT_FAILED,   /* the module is out of service (reason: why) */
};

struct proto_event {
	char module[NCM_MAX_TARGET + 1];
	enum proto_event_kind kind;
	char reason[256];
};

/* The wire name of an event kind ("trap", "failed"); "?" when unknown. */
const char *proto_event_name(enum proto_event_kind kind);

json_t *proto_event_to_json(const struct proto_event *e);
int proto_event_from_json(json_t *j, struct proto_event *ret, char *err, size_t errlen);
