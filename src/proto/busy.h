/* What a container is running right now, in one page of shared memory (a
 * memfd the supervisor creates and hands to the container as --busy-fd): the
 * container writes the module and the call before every call into wasm (the
 * names only when they change) and sets `running`, which it clears after; the supervisor reads it
 * when the container stops answering or dies, to know which module was running. A stuck or dead
 * container cannot answer a question, but its page can still be read.
 *
 * The container is not trusted: the supervisor only uses the name to pick
 * one of that publisher's own modules, and copies it bounded. */
#pragma once

#include <stdint.h>

#include "ncm/ncm.h"

#define PROTO_BUSY_SIZE 4096

struct proto_busy {
	volatile uint32_t seq;                    /* odd while the container writes */
	volatile uint64_t since_ms;               /* CLOCK_MONOTONIC ms the call began */
	volatile uint32_t running;                /* 1 while a module runs */
	volatile char call[16];                   /* "ns_packet", "ns_timer", ... */
	volatile char module[NCM_MAX_TARGET + 1]; /* the last module that ran (kept
	                                             while running is 0) */
	volatile uint32_t media;                  /* 1 inside a media/1 call: the supervisor waits
	                                             up to NS_MEDIA_TIME_MS longer for a ping */
};

_Static_assert(sizeof(struct proto_busy) <= PROTO_BUSY_SIZE, "busy page");
