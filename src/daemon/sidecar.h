/* The operator's view of the OpenFlow sidecar over the admin socket
 * (`netserv sidecar status|drain NAME|undrain NAME`): requests
 * "STATUS sidecar" with `action: status|drain|undrain` and `node: NAME`. */
#pragma once

struct ncm_msg;

/* Answers one such request against fwd (a struct fwd_openflow *, NULL when
 * the driver is not openflow: 404 saying so): 200 with
 * the switch (`switch: connected|disconnected dpid=...`), one `node:` header
 * per node (`NAME port=N up|down [mac=...]`), one `module:` per rule id
 * (`ID flows=N`) and `flows:`; 404 for an unknown node, 400 for a bad
 * action. Returns the response (caller frees), NULL if out of memory. */
struct ncm_msg *sidecar_admin(void *fwd, const struct ncm_msg *req);
