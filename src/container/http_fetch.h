/* The outbound half of http/1: a module fetches from an HTTP origin with
 * ns_http_fetch() and reads the response as it arrives (abi/host_api.h).
 *
 * Transfers are libcurl easy handles on one curl_loop (lib/curl_loop.h) on
 * the container's event loop: no threads, and no name resolution at all (the
 * URL's host must be a numeric address; a module that knows its origin by
 * name puts the address in the URL and the name in a Host: header). The
 * address is checked against the publisher's connect_destinations before the
 * transfer starts, and again by libcurl's open-socket callback for the
 * address it actually connects to. Only http:// (no TLS: the container
 * reads no CA files), no redirects followed, no proxies.
 *
 * The module hears its fetches through its ns_http export (events
 * NS_HTTP_FETCH_*), always from the event loop, never from inside one of
 * libcurl's callbacks. The body waits in a bounded buffer per fetch
 * (FETCH_BUF): when the module does not read, the transfer is paused
 * (CURL_WRITEFUNC_PAUSE) and TCP holds the origin back; reading resumes it. */
#pragma once

#include <jansson.h>
#include <stdint.h>

struct evloop;
struct mod;
struct sandbox;

/* Body bytes buffered per fetch before the transfer is paused. */
#define FETCH_BUF (64u * 1024u)
/* Response header bytes kept per fetch (more: the fetch fails, -EMSGSIZE). */
#define FETCH_HDR_MAX (16u * 1024u)
/* Fetches in progress per module. */
#define FETCH_MAX 64

/* Starts libcurl on loop (which must outlive it) with the connect policy sb
 * (borrowed). Called before the sandbox is locked down: libcurl's global
 * initialisation and its multi handle's wake-up pair need calls the seccomp
 * filter does not allow afterwards. Returns 0 or a negative errno. */
int http_fetch_configure(struct evloop *loop, const struct sandbox *sb);

/* Cancels every fetch of a module (its instance is gone: a new one does not
 * know their ids). */
void http_fetch_instance_lost(struct mod *m);

/* Adds the module's fetches to its statistics object ("fetches": started,
 * refused by the policy, running, body bytes read, pauses for backpressure). */
void http_fetch_stats(struct mod *m, json_t *j);

/* The module is being unloaded: cancels its fetches and frees their state. */
void http_fetch_mod_free(struct mod *m);
