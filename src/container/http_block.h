/* The http/1 building block: an HTTP/1.1 server (libmicrohttpd) run by the
 * container for a module, which answers requests through its ns_http export
 * and the ns_http_* imports (abi/host_api.h) instead of parsing HTTP in wasm.
 *
 * Each ns_http_listen() starts one libmicrohttpd daemon in its external epoll
 * mode: its epoll fd is watched by the container's event loop, MHD_run() is
 * called when it is readable and when MHD_get_timeout() says. No threads: the
 * module host is single-threaded and its trap machinery process-wide. Every
 * call into the module goes through modhost_http_call() (time budget, trap
 * containment). A request waiting for its module's answer is suspended; a
 * streamed response is pulled by libmicrohttpd from a bounded buffer (the
 * connection is suspended while it is empty, the module hears WRITABLE when
 * room frees up): a slow client holds memory only up to that bound. Per
 * daemon: a connection limit (the publisher's policy, http_connections), an
 * idle timeout, a deadline for a request's headers (a slow-loris client that
 * sends a byte a second is cut off) and a memory limit per connection. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct mod;
struct sandbox;

/* Bytes a streamed response buffers between ns_http_write and the client. */
#define HTTP_STREAM_BUF (64u * 1024u)
/* Request body bytes buffered before the module reads them (more: 413). */
#define HTTP_BODY_MAX (1024u * 1024u)

struct http_block_limits {
	uint32_t connections;      /* per server (MHD_OPTION_CONNECTION_LIMIT) */
	uint32_t timeout_s;        /* idle connection timeout (MHD_OPTION_CONNECTION_TIMEOUT) */
	uint32_t header_timeout_s; /* to send a request's headers (slow clients) */
	uint32_t conn_memory;      /* bytes per connection (MHD_OPTION_CONNECTION_MEMORY_LIMIT) */
};

/* Sets the listen policy (sb, borrowed, must outlive the servers) and the
 * limits for servers started later in this process. */
void http_block_configure(const struct sandbox *sb, const struct http_block_limits *lim);

/* The module's instance is gone (trap, failure): requests waiting for it
 * are answered 500 (503 when it failed for good), streamed responses in
 * progress are cut; its servers stay. */
void http_block_instance_lost(struct mod *m);

/* The module is being unloaded: stops its servers and frees their state. */
void http_block_mod_free(struct mod *m);

/* Called for each header line of a module's response header text. */
typedef int http_header_fn(void *ctx, const char *name, const char *value);

/* Parses a module's response headers: "Name: value" lines separated by
 * "\r\n" or "\n" (blank lines skipped), names of token characters, values
 * without control characters (no response splitting), blanks around the
 * value trimmed; calls fn for each. Returns the number of headers, -EINVAL
 * for a malformed line, or fn's negative return. */
int http_headers_parse(const char *text, size_t len, http_header_fn *fn, void *ctx);
