/* The admin socket: a UNIX stream socket (mode 0600) that takes one NCM per
 * connection (any method, STATUS included), hands it to the controller and
 * writes back the response, then closes. Used by `netserv ctl`. */
#pragma once

#include <stddef.h>

struct evloop;
struct controller;
struct admin;

/* Listens on path (removing a stale socket first). Returns 0 and stores the
 * server in *ret, or a negative errno with the reason in err. */
int admin_new(struct evloop *loop, struct controller *ctl, const char *path, struct admin **ret,
              char *err, size_t errlen);

/* Closes every connection and the socket, and unlinks it; NULL allowed. */
struct admin *admin_free(struct admin *a);
