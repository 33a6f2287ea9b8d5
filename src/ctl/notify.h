/* Notifications of a module's events to its publisher (issue #20): the
 * SETUP's `notification:` header names a UDP destination, `udp:ADDR:PORT`
 * (ADDR a numeric IPv4 address or a bracketed IPv6 one, `udp:[::1]:PORT`),
 * and the controller sends there one small JSON object per event:
 *
 *   {"node":"...","user":"...","module":"...","event":"failed",
 *    "reason":"...","time_ms":1700000000000,"dropped":0}
 *
 * (event: active, failed, trap, restarted, removed, expired; reason null
 * when there is none; dropped: the events of this module that the rate
 * limit refused before this one). One datagram, at most NOTIFY_MAX_BYTES:
 * a longer reason is cut. Sent from a non-blocking socket: a full socket
 * buffer drops the notification (counted), it never blocks netservd.
 * Rate-limited per module (NOTIFY_BURST per NOTIFY_INTERVAL_MS).
 * https URLs are not supported (refused with a reason). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/ratelimit.h"

#define NOTIFY_MAX_BYTES   1199 /* one datagram: under 1200 bytes */
#define NOTIFY_BURST       10
#define NOTIFY_INTERVAL_MS 1000

struct notify_dest {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint16_t port;
};

/* One event, as encoded. Strings may be NULL (reason: none). */
struct notify_event {
	const char *node, *user, *module, *event, *reason;
	int64_t time_ms;
	uint64_t dropped;
};

/* A module's sending state: its rate limit and what it refused. */
struct notify_state {
	struct ratelimit rl; /* NOTIFY_STATE_INIT */
	uint64_t sent, dropped, failed;
};

#define NOTIFY_STATE_INIT                                                                          \
	{                                                                                          \
		.rl = RATELIMIT_INIT(NOTIFY_INTERVAL_MS, NOTIFY_BURST)                             \
	}

/* Parses a notification header's value. Returns 0, -ENOTSUP (an https or
 * other URL: not supported) or -EINVAL, with the reason in err. */
int notify_dest_parse(const char *s, struct notify_dest *ret, char *err, size_t errlen);

/* Writes the event as one JSON object into buf (cap bytes, terminated),
 * cutting the reason so that it fits NOTIFY_MAX_BYTES. Returns its length,
 * or -ENOSPC (cap too small even without a reason) / -ENOMEM. */
int notify_encode(const struct notify_event *e, char *buf, size_t cap);

struct notifier;

/* Creates a notifier (its sockets are opened on first use). Returns 0 or
 * -ENOMEM. */
int notifier_new(struct notifier **ret);

/* Closes the sockets and frees; NULL allowed. Returns NULL. */
struct notifier *notifier_free(struct notifier *n);

/* Sends e (its dropped field is filled from st) to the destination named by
 * header, unless st's rate limit refuses it (then counted in st->dropped).
 * Never blocks. Returns 0 sent, -EAGAIN rate-limited or the socket buffer
 * full, -EINVAL a bad header, or another negative errno of the send. */
int notifier_send(struct notifier *n, const char *header, struct notify_state *st,
                  struct notify_event *e);
