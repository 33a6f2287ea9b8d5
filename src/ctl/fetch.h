/* Module download with libcurl on the event loop (lib/curl_loop.h):
 * the loop never blocks on a transfer. The body is written to a temporary file
 * beside the destination while its SHA-256 is computed; on success the file is
 * renamed to the destination. A file:// URL (when allowed) must name a regular
 * file: it is checked and opened without blocking before curl reads it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct evloop;
struct fetcher;
struct fetch_job;

struct fetch_limits {
	uint32_t timeout_s;    /* whole transfer */
	uint64_t max_size;     /* bytes; larger bodies fail with NCM 413 */
	const char *protocols; /* curl list, e.g. "http,https,file" */
};

/* Called once when a job ends (the job is freed after the call returns).
 * status: 0 on success, or the NCM status code of the failure (413, 422, 502,
 * 504); message: a one-line reason on failure; sha256: the body's hash. */
typedef void fetch_done_fn(void *ctx, int status, const char *message, const uint8_t sha256[32]);

/* Creates a fetcher bound to loop. Returns 0 or a negative errno. */
int fetcher_new(struct evloop *loop, const struct fetch_limits *limits, struct fetcher **ret);

/* Cancels every job (no callbacks) and frees the fetcher; NULL allowed. */
struct fetcher *fetcher_free(struct fetcher *f);

/* Starts downloading url into dest_path. When `expect` is not NULL the body's
 * SHA-256 must equal it, or the job fails with 422 and nothing is left at
 * dest_path. Returns 0 and stores the job in *ret (valid until `done` runs or
 * fetch_cancel()), or a negative errno with the reason in err. */
int fetch_start(struct fetcher *f, const char *url, const char *dest_path, const uint8_t *expect,
                fetch_done_fn *done, void *ctx, struct fetch_job **ret, char *err, size_t errlen);

/* The NCM status for an error of fetch_start(): 422 for a file:// URL that is
 * refused (-EINVAL: not a regular file, a host), 502 for a file that cannot be
 * read (-ENOENT, -EACCES, ...), 500 for the node's own errors. */
int fetch_error_status(int err);

/* Aborts a job without calling its callback; NULL allowed. Returns NULL. */
struct fetch_job *fetch_cancel(struct fetch_job *job);
