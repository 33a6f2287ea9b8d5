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

struct ncm_msg;
/* Answers an admin request that is not the controller's: returns the
 * response (the admin server frees it), NULL if out of memory. */
typedef struct ncm_msg *admin_handler_fn(void *ctx, const struct ncm_msg *req);

/* Routes STATUS requests whose target is `target` (e.g. "sidecar") to fn
 * instead of the controller; one such route (a new one replaces it). */
void admin_set_handler(struct admin *a, const char *target, admin_handler_fn *fn, void *ctx);

/* Closes every connection and the socket, and unlinks it; NULL allowed. */
struct admin *admin_free(struct admin *a);
