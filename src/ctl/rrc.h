/* The reverse-routability check (seed 002 §3.2): a publisher proves that it
 * controls an address by serving a one-time password from it. The SETUP
 * carries the address and the password (headers `rrc-address` and
 * `rrc-password`); the node fetches
 *
 *     http://<rrc-address>:<port>/.well-known/netserv-rrc/<user>
 *
 * and accepts when one line of the body equals the password. The transfer is
 * a libcurl transfer on the event loop (lib/curl_loop.h: the loop never waits
 * on it): plain HTTP to the literal address only, no proxy, no redirects, a
 * small body limit and a timeout. docs/security.md describes the flow. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "ncm/ncm.h"

struct evloop;
struct rrc;
struct rrc_job;

#define RRC_PATH         "/.well-known/netserv-rrc/"
#define RRC_MAX_BODY     4096
#define RRC_PASSWORD_MIN POLICY_RRC_PASSWORD_MIN
#define RRC_PASSWORD_MAX POLICY_RRC_PASSWORD_MAX

/* Called once when a check ends: status 0 (the password was served), or
 * -EACCES (the address served something else), -ETIMEDOUT, -EIO (no answer or
 * an HTTP error), with a one-line reason. */
typedef void rrc_done_fn(void *ctx, int status, const char *reason);

/* Creates the checker. Returns 0 or a negative errno. */
int rrc_new(struct evloop *loop, uint16_t port, uint32_t timeout_s, struct rrc **ret);

/* Cancels every check (no callbacks) and frees; NULL allowed. */
struct rrc *rrc_free(struct rrc *r);

/* Checks a password's syntax (policy_rrc_password_valid()). */
#define rrc_password_valid policy_rrc_password_valid

/* Writes the URL the node fetches for addr (a host address) and user. */
void rrc_url(const struct rrc *r, const struct ncm_prefix *addr, const char *user, char *buf,
             size_t len);

/* Starts a check. Returns 0 and stores the job in *ret (valid until done runs
 * or rrc_cancel()), or a negative errno with the reason in err. */
int rrc_start(struct rrc *r, const struct ncm_prefix *addr, const char *user, const char *password,
              rrc_done_fn *done, void *ctx, struct rrc_job **ret, char *err, size_t errlen);

/* Aborts a check without calling its callback; NULL allowed. Returns NULL. */
struct rrc_job *rrc_cancel(struct rrc_job *job);
