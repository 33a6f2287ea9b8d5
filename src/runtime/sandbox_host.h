/* What a publisher's container sandbox needs from the node, prepared by
 * netservd at start (container/sandbox.h is the container's side):
 *   - its own directory, sandbox.dir (mode 0700, owned by the publisher's
 *     uid), the only place where landlock lets the container touch files;
 *   - in netns mode (the papers' lxc mode), a named network namespace
 *     (/run/netns/<sandbox.netns>) joined by the container, linked to the
 *     node by a veth pair: "eth0" inside with sandbox.netns_address and a
 *     default route via sandbox.netns_gateway, the node's end (named
 *     "nsv<hash>") with the gateway address; every port is unprivileged in
 *     there, so the container can serve port 80 without capabilities.
 * It runs ip(8) (iproute2) as direct children and waits for them: at start
 * and exit only, never from the event loop's handlers. */
#pragma once

#include <stddef.h>

#include "runtime/supervisor.h"

/* Prepares publisher p's directory and network namespace (replacing a stale
 * namespace of the same name). Returns 0 or a negative errno with the reason
 * in err. */
int sandbox_host_prepare(const struct sup_publisher *p, char *err, size_t errlen);

/* Deletes the network namespace (and with it the veth pair); the directory
 * stays (it will hold the publisher's data). */
void sandbox_host_cleanup(const struct sup_publisher *p);

/* Deletes module's objects from p's store (<dir>/store/m.<module>, the
 * layout of container/store_objects.h) from the node's side, while p has no
 * container. Returns 0 (also when there are none) or a negative errno. */
int sandbox_host_purge(const struct sup_publisher *p, const char *module);

/* The node's end of the veth pair of a namespace name ("nsv" + 8 hex). */
void sandbox_host_ifname(const char *netns, char buf[16]);
