/* Listening sockets a container opens for a module: the groundwork for
 * server modules (DESIGN.md: "UDP/TCP sockets on allowed ports"; the module
 * ABI reserves ns_socket for a later revision).
 *
 * A SETUP asks for sockets with the header `listen: tcp:80,udp:5060`; the
 * controller checks them against the publisher's listen_ports, and the
 * container opens them when it installs the module (in its own network
 * namespace when it has one, so that two publishers can both use port 80)
 * and closes them when the module goes. Until modules can take connections
 * themselves, the container answers on their behalf with one line,
 *
 *     netserv <user> <module> <proto>:<port>\n
 *
 * (TCP: sent on accept, then the connection is closed; UDP: sent back to
 * every datagram), which shows who serves the port. */
#pragma once

#include <stddef.h>

struct evloop;
struct sandbox;
struct listener_set;

/* Opens the sockets of `spec` ("tcp:80,udp:5060") for user's module and
 * watches them on loop. Every port must be allowed by the sandbox. Stores
 * the set in *ret (free with listener_set_close()). Returns 0 or a negative
 * errno with the reason in err. */
int listener_set_open(struct evloop *loop, const struct sandbox *sb, const char *user,
                      const char *module, const char *spec, struct listener_set **ret, char *err,
                      size_t errlen);

/* Closes the sockets; NULL allowed. Returns NULL. */
struct listener_set *listener_set_close(struct listener_set *set);

/* Returns how many connections and datagrams the set answered. */
unsigned long listener_set_served(const struct listener_set *set);
