/* The controller side of one OpenFlow 1.3 switch connection, on the event
 * loop: listens on a TCP address, accepts the switch (as `ovs-vsctl
 * set-controller br tcp:ADDR:PORT` makes it connect), negotiates the
 * version (HELLO), learns the datapath id (FEATURES), keeps the connection
 * alive with echoes both ways, and installs the flow table it was given:
 * on every connection it deletes our flows (by cookie) and all groups,
 * adds the table's groups and flows, and a BARRIER confirms them. A switch
 * that reconnects (or a restarted controller) gets the whole table again,
 * once. Bad input (garbage, a length below 8 or above the cap, a message
 * out of order, an unsupported version) resets the connection with the
 * reason given to on_down; the loop and the listening socket carry on.
 *
 * One switch at a time: a new connection replaces the current one (a
 * switch that restarted while its old connection still looked alive).
 * Nothing here logs: events reach the owner through the callbacks, which
 * must not free the connection. A decoded message handed to on_msg points
 * into the receive buffer: valid during the call only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd/of_wire.h"

struct evloop;
struct of_conn;

struct of_conn_cfg {
	const char *listen;           /* "127.0.0.1:6653", "[::1]:6653" */
	unsigned echo_interval_ms;    /* idle time before we send an ECHO (0: 1000) */
	unsigned echo_timeout_ms;     /* silence that declares the switch dead (0: 3000) */
	size_t max_msg;               /* cap on a received message (0: OF_MAX_MSG) */
	uint64_t cookie, cookie_mask; /* our flows: deleted at every connect */
	/* The table was confirmed by a BARRIER_REPLY (after each connect);
	 * n_refused: how many of its messages the switch answered with an
	 * ERROR (also handed to on_msg); 0 means all of it is in place. */
	void (*on_ready)(struct of_conn *c, uint64_t dpid, unsigned n_refused, void *ctx);
	/* The connection closed; why says what happened (the switch's or ours). */
	void (*on_down)(struct of_conn *c, const char *why, void *ctx);
	/* Any other message from the switch (PACKET_IN, FLOW_REMOVED, ERROR,
	 * PORT_STATUS, MULTIPART_REPLY, ...), decoded; may be NULL. */
	void (*on_msg)(struct of_conn *c, const struct of_msg *m, void *ctx);
	void *ctx;
};

/* Starts listening on cfg->listen (*cfg and the address string are copied).
 * Returns 0 and *ret, or a negative errno with the reason in err: -EINVAL
 * (a bad address, an echo timeout not above the interval), the port in use,
 * -ENOMEM. */
int of_conn_new(struct evloop *loop, const struct of_conn_cfg *cfg, struct of_conn **ret, char *err,
                size_t errlen);

/* Closes the connection and the listening socket; NULL allowed. */
void of_conn_free(struct of_conn *c);

/* Returns the port the controller listens on (useful with port 0). */
uint16_t of_conn_port(const struct of_conn *c);

/* Sets the table (FLOW_MOD and GROUP_MOD messages, copied; groups first is
 * not required: they are sent before the flows). Installed now if a switch
 * is connected, else at its connection. Returns 0, -E2BIG (more than 4096
 * messages), -EINVAL (another message type), an encoding error of a
 * message (of_encode()), or -ENOMEM. */
int of_conn_set_table(struct of_conn *c, const struct of_msg *msgs, size_t n);

/* Sets the table as of_conn_set_table() does, but a switch that is ready
 * gets only `delta` (the change from the previous table: FLOW_MODs and
 * GROUP_MODs, in order) instead of the whole table; a switch still syncing
 * gets the whole table again; without a switch it waits for the next
 * connection. Returns as of_conn_set_table() (a send failure resets the
 * connection and still returns 0: the next connection gets the table). */
int of_conn_update_table(struct of_conn *c, const struct of_msg *msgs, size_t n,
                         const struct of_msg *delta, size_t n_delta);

/* Returns the datapath id of the last switch that answered FEATURES (0 if none). */
uint64_t of_conn_dpid(const struct of_conn *c);

/* Sends one message to the connected switch (xid 0 gets one assigned).
 * Returns 0, -ENOTCONN, -ENOBUFS (the send queue is full: the connection is
 * reset) or an encoding error. */
int of_conn_send(struct of_conn *c, const struct of_msg *m);

/* Returns whether a switch is connected and its table confirmed. */
bool of_conn_ready(const struct of_conn *c);
