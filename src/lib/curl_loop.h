/* libcurl transfers on the event loop (lib/evloop.h): the glue between
 * libcurl's multi-socket interface (CURLMOPT_SOCKETFUNCTION and
 * TIMERFUNCTION, curl_multi_socket_action(), curl_multi_info_read()) and the
 * loop, written once for its users (ctl/fetch.c: module downloads; ctl/rrc.c:
 * the reverse-routability check).
 *
 * The caller prepares an easy handle (URL, limits, write callback: what is
 * its own) and hands it to curl_loop_add(); the loop drives it and calls
 * `done` once with libcurl's result. Nothing here ever blocks: name
 * resolution, connects and transfers progress only when their sockets are
 * ready or libcurl's timer expires, in the loop's callbacks.
 *
 * Ownership: the caller owns every easy handle, before, during and after its
 * transfer; this module never frees one. The curl_loop owns its multi handle,
 * its timer and the loop watches on libcurl's sockets.
 *
 * Link: the library ns_curl_loop (ns_lib + libcurl), apart from ns_lib so that
 * what does not fetch (the container, the CLI, the codecs) does not link
 * libcurl. */
#pragma once

#include <curl/curl.h>

struct evloop;
struct curl_loop;

/* Called once when a transfer ends, on the loop's thread. `result` is
 * libcurl's (CURLE_OK, CURLE_COULDNT_CONNECT, CURLE_OPERATION_TIMEDOUT, the
 * error a write callback caused, ...); the HTTP status and the other
 * CURLINFO_* are read from `easy` as usual. The handle is already out of the
 * loop: the callback may curl_easy_cleanup() it, or set it up again and
 * curl_loop_add() it. It may also add or remove other transfers, but must not
 * curl_loop_free() the curl_loop. */
typedef void curl_loop_done_fn(void *ctx, CURL *easy, CURLcode result);

/* Creates a curl_loop on loop (which must outlive it) and stores it in *ret;
 * initializes libcurl (curl_global_init(), counted: curl_loop_free() undoes
 * it). Returns 0, -ENOMEM or -EIO (libcurl could not initialize). */
int curl_loop_new(struct evloop *loop, struct curl_loop **ret);

/* Removes every transfer still running without calling its `done` (the easy
 * handles stay the callers'), closes libcurl's connections and frees; NULL
 * allowed. Not from inside a `done` callback. Returns NULL. */
struct curl_loop *curl_loop_free(struct curl_loop *cl);

/* Starts the transfer of easy. `done` is called once when it ends (never from
 * inside curl_loop_add()), unless curl_loop_remove() or curl_loop_free() come
 * first. The handle must not be in a curl_loop already; CURLOPT_PRIVATE stays
 * the caller's. Returns 0, -EEXIST (easy is already in this loop), -ENOMEM,
 * -EBUSY (called from inside one of libcurl's callbacks, e.g. a write
 * function) or -EIO (libcurl refused the handle). */
int curl_loop_add(struct curl_loop *cl, CURL *easy, curl_loop_done_fn *done, void *ctx);

/* Cancels the transfer of easy: its `done` is not called, its connection is
 * closed if the transfer was under way, and the handle is the caller's again.
 * Safe from the loop's callbacks, including another transfer's `done`.
 * Returns 0, -ENOENT when easy is not in the loop (it already ended, or was
 * never added), or -EBUSY from inside one of libcurl's callbacks (e.g. a
 * write function: return 0 there to abort instead), where nothing changes. */
int curl_loop_remove(struct curl_loop *cl, CURL *easy);
