/* netservd <-> the container zygote (docs/architecture.md "Containers"): one
 * netserv-container started with --zygote forks every other container, so
 * that they share its loaded and relocated libraries instead of each paying
 * an exec and the dynamic linker. A request is one SOCK_SEQPACKET datagram
 * carrying the new container's control socket and, optionally, its busy
 * page (SCM_RIGHTS); the answer is the new container's pid or a negative
 * errno (int32). The new container is netservd's child (CLONE_PARENT). */
#pragma once

#include <stdint.h>

#define ZYGOTE_SPAWN 0x5a59474fu /* "ZYGO" */

/* Asks for a container with control socket ctl (and busy page busy, or -1).
 * Returns 0 or a negative errno. */
int zygote_send_spawn(int fd, int ctl, int busy);

/* Receives a request: *ctl and *busy (-1 when none) are the passed fds.
 * Returns 1, 0 when the socket was closed, or a negative errno (-EBADMSG for
 * a malformed request, whose fds are closed). */
int zygote_recv_spawn(int fd, int *ctl, int *busy);
