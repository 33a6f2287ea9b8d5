/* Module downloads: limits, the body hashed into a temporary file, the rename;
 * the transfers run on the event loop through lib/curl_loop.h. */
#include "ctl/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/curl_loop.h"
#include "lib/util.h"
#include "ncm/ncm.h"

struct fetch_job {
	struct fetcher *f;
	CURL *easy;
	int fd;
	int src_fd; /* file:// only: the checked regular file curl reads */
	char *url;  /* as the publisher gave it, for messages */
	char *tmp_path;
	char *dest_path;
	bool has_expect;
	uint8_t expect[32];
	uint64_t received;
	bool too_large;
	bool is_file; /* a file:// URL */
	crypto_hash_sha256_state sha;
	fetch_done_fn *done;
	void *ctx;
	char curl_err[CURL_ERROR_SIZE];
	struct fetch_job *next;
};

struct fetcher {
	struct curl_loop *cl;
	struct fetch_limits limits;
	char *protocols;
	struct fetch_job *jobs;
};

static void job_unlink(struct fetch_job *job)
{
	for (struct fetch_job **pp = &job->f->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
}

static void job_free(struct fetch_job *job, bool keep_file)
{
	if (job->easy) {
		curl_loop_remove(job->f->cl, job->easy); /* -ENOENT once it ended */
		curl_easy_cleanup(job->easy);
	}
	safe_close(job->fd);
	safe_close(job->src_fd);
	if (!keep_file && job->tmp_path)
		unlink(job->tmp_path);
	free(job->tmp_path);
	free(job->dest_path);
	free(job->url);
	free(job);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct fetch_job *job = userp;
	size_t len = size * nmemb;
	if (job->received + len > job->f->limits.max_size) {
		job->too_large = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	for (size_t off = 0; off < len;) {
		ssize_t n = write(job->fd, data + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(job->curl_err, sizeof(job->curl_err), "writing %s: %s",
			         job->tmp_path, strerror(errno));
			return 0;
		}
		off += (size_t)n;
	}
	crypto_hash_sha256_update(&job->sha, (const unsigned char *)data, len);
	job->received += len;
	return len;
}

/* Works out the outcome of a finished transfer; returns 0 or an NCM status. */
static int job_outcome(struct fetch_job *job, CURLcode rc, const uint8_t sha[32], char *msg,
                       size_t msglen)
{
	long http = 0;
	const char *url = NULL;
	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &http);
	if (job->src_fd >= 0)
		url = job->url; /* curl's is /proc/self/fd/N */
	else
		curl_easy_getinfo(job->easy, CURLINFO_EFFECTIVE_URL, &url);
	if (!url)
		url = "?";

	if (job->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(msg, msglen, "module at %s is larger than the node's limit of %llu bytes",
		         url, (unsigned long long)job->f->limits.max_size);
		return NCM_TOO_LARGE;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(msg, msglen, "fetching %s timed out after %u s", url,
		         job->f->limits.timeout_s);
		return NCM_GATEWAY_TIMEOUT;
	}
	if (rc != CURLE_OK) {
		snprintf(msg, msglen, "fetching %s failed: %s", url,
		         job->curl_err[0] ? job->curl_err : curl_easy_strerror(rc));
		return NCM_BAD_GATEWAY;
	}
	if (http >= 400) {
		snprintf(msg, msglen, "fetching %s failed: HTTP status %ld", url, http);
		return NCM_BAD_GATEWAY;
	}
	if (job->has_expect && memcmp(sha, job->expect, 32) != 0) {
		char want[80], got[80];
		ncm_hash_format(job->expect, want, sizeof(want));
		/* A file:// URL names a file of the node: its hash is not the
		 * publisher's to learn (any file the daemon can read would be
		 * fingerprinted by a SETUP with a wrong hash). */
		if (job->is_file)
			snprintf(msg, msglen, "module-hash mismatch: expected %s", want);
		else
			snprintf(msg, msglen, "module-hash mismatch: expected %s, got %s", want,
			         ncm_hash_format(sha, got, sizeof(got)));
		return NCM_UNPROCESSABLE;
	}
	if (fsync(job->fd) < 0 || rename(job->tmp_path, job->dest_path) < 0) {
		snprintf(msg, msglen, "storing module as %s: %s", job->dest_path, strerror(errno));
		return NCM_INTERNAL_ERROR;
	}
	return 0;
}

/* Parses url as curl does; returns its scheme (lower case) and, for file://,
 * its decoded path and host in *path and *host (NULL otherwise). The caller
 * frees all three with curl_free(). The scheme is NULL if url does not parse. */
static char *url_parts(const char *url, char **path, char **host)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	*path = *host = NULL;
	if (u && curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    strcmp(scheme, "file") == 0) {
		curl_url_get(u, CURLUPART_PATH, path, CURLU_URLDECODE);
		curl_url_get(u, CURLUPART_HOST, host, 0);
	}
	curl_url_cleanup(u);
	return scheme;
}

/* Whether the comma list of protocols names proto. */
static bool protocol_allowed(const char *list, const char *proto)
{
	size_t len = strlen(proto);
	for (const char *p = list; *p;) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n == len && strncasecmp(p, proto, len) == 0)
			return true;
		p += n;
	}
	return false;
}

static const char *file_type(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFDIR:
		return "a directory";
	default:
		return "not a regular file";
	}
}

/* file://: libcurl would open() the path itself, blocking: on a FIFO the
 * event loop waits for a writer (forever), and opening a device has its own
 * effects. So the path is checked and opened here, and curl reads that open
 * file through /proc/self/fd/N: the same inode, whatever happens to the path
 * afterwards.
 *
 * stat() first, so that a device or FIFO named directly is not even opened;
 * then open(O_NONBLOCK) (a FIFO swapped in between returns at once, a device
 * open cannot wait for a carrier) and fstat() of what was opened: that one
 * decides, so the race between stat() and open() lets nothing through. Not
 * O_NOFOLLOW: a symlink to a regular file is an ordinary layout, and what
 * matters is what the fd is, which fstat() tells.
 *
 * Returns the fd, -EINVAL (with the reason in err) for something that is not
 * a regular file, or another negative errno (err says why). */
static int open_regular(const char *url, const char *path, const char *host, char *err,
                        size_t errlen)
{
	if (host && *host && strcmp(host, "localhost") != 0 && strcmp(host, "127.0.0.1") != 0) {
		snprintf(err, errlen, "%s: a file:// URL must not name a host", url);
		return -EINVAL;
	}
	if (!path || !*path) {
		snprintf(err, errlen, "%s: no path", url);
		return -EINVAL;
	}
	struct stat st;
	if (stat(path, &st) < 0) {
		int r = -errno;
		snprintf(err, errlen, "fetching %s failed: %s", url, strerror(errno));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "fetching %s refused: %s, the node reads only regular files",
		         url, file_type(st.st_mode));
		return -EINVAL;
	}
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		snprintf(err, errlen, "fetching %s failed: %s", url, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		snprintf(err, errlen, "fetching %s failed: %s", url, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) { /* swapped after the stat() */
		snprintf(err, errlen, "fetching %s refused: %s, the node reads only regular files",
		         url, file_type(st.st_mode));
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int fetch_error_status(int err)
{
	switch (err) {
	case -EINVAL:
		return NCM_UNPROCESSABLE;
	case -ENOMEM:
	case -EIO:
	case -EMFILE:
	case -ENFILE:
	case -ENOSPC:
	case -EDQUOT:
		return NCM_INTERNAL_ERROR;
	default:
		return NCM_BAD_GATEWAY; /* the file named by a file:// URL */
	}
}

static void on_transfer_done(void *ctx, CURL *easy, CURLcode rc)
{
	struct fetch_job *job = ctx;
	uint8_t sha[32];
	char msg[512] = "";
	crypto_hash_sha256_final(&job->sha, sha);
	int status = job_outcome(job, rc, sha, msg, sizeof(msg));
	job_unlink(job);
	fetch_done_fn *done = job->done;
	void *done_ctx = job->ctx;
	job_free(job, status == 0);
	done(done_ctx, status, status ? msg : NULL, sha);
}

int fetcher_new(struct evloop *loop, const struct fetch_limits *limits, struct fetcher **ret)
{
	if (sodium_init() < 0)
		return -EIO;
	struct fetcher *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->limits = *limits;
	f->protocols = strdup(limits->protocols ? limits->protocols : "http,https,file");
	if (!f->protocols) {
		fetcher_free(f);
		return -ENOMEM;
	}
	f->limits.protocols = f->protocols;
	int r = curl_loop_new(loop, &f->cl);
	if (r < 0) {
		fetcher_free(f);
		return r;
	}
	*ret = f;
	return 0;
}

struct fetcher *fetcher_free(struct fetcher *f)
{
	if (!f)
		return NULL;
	while (f->jobs) {
		struct fetch_job *job = f->jobs;
		f->jobs = job->next;
		job_free(job, false);
	}
	curl_loop_free(f->cl);
	free(f->protocols);
	free(f);
	return NULL;
}

int fetch_start(struct fetcher *f, const char *url, const char *dest_path, const uint8_t *expect,
                fetch_done_fn *done, void *ctx, struct fetch_job **ret, char *err, size_t errlen)
{
	struct fetch_job *job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->f = f;
	job->fd = -1;
	job->done = done;
	job->ctx = ctx;
	if (expect) {
		job->has_expect = true;
		memcpy(job->expect, expect, 32);
	}
	job->src_fd = -1;
	crypto_hash_sha256_init(&job->sha);
	job->url = strdup(url);
	if (!job->url) {
		job_free(job, false);
		return -ENOMEM;
	}
	char *path, *host, *scheme = url_parts(url, &path, &host);
	job->is_file = scheme && strcmp(scheme, "file") == 0;
	char src_url[64] = "";
	if (job->is_file && protocol_allowed(f->protocols, "file")) {
		int r = open_regular(url, path, host, err, err ? errlen : 0);
		if (r >= 0) {
			job->src_fd = r;
			snprintf(src_url, sizeof(src_url), "file:///proc/self/fd/%d", r);
		}
		if (r < 0) {
			curl_free(scheme);
			curl_free(path);
			curl_free(host);
			job_free(job, false);
			return r;
		}
	}
	curl_free(scheme);
	curl_free(path);
	curl_free(host);
	if (asprintf(&job->tmp_path, "%s.part.XXXXXX", dest_path) < 0) {
		job->tmp_path = NULL;
		job_free(job, false);
		return -ENOMEM;
	}
	job->dest_path = strdup(dest_path);
	if (!job->dest_path) {
		job_free(job, false);
		return -ENOMEM;
	}
	job->fd = mkostemp(job->tmp_path, O_CLOEXEC);
	if (job->fd < 0) {
		int r = -errno;
		snprintf(err, err ? errlen : 0, "creating %s: %s", job->tmp_path, strerror(errno));
		free(job->tmp_path);
		job->tmp_path = NULL; /* nothing to unlink */
		job_free(job, false);
		return r;
	}
	job->easy = curl_easy_init();
	if (!job->easy) {
		job_free(job, false);
		return -ENOMEM;
	}
	CURL *e = job->easy;
	curl_easy_setopt(e, CURLOPT_URL, src_url[0] ? src_url : url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, f->protocols);
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)f->limits.timeout_s);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)f->limits.timeout_s);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->limits.max_size);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FAILONERROR, 0L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "netservd/0.1");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, job);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->curl_err);
	if (curl_loop_add(f->cl, e, on_transfer_done, job) < 0) {
		snprintf(err, err ? errlen : 0, "cannot start transfer of %s", url);
		curl_easy_cleanup(e);
		job->easy = NULL;
		job_free(job, false);
		return -EIO;
	}
	job->next = f->jobs;
	f->jobs = job;
	if (ret)
		*ret = job;
	return 0;
}

struct fetch_job *fetch_cancel(struct fetch_job *job)
{
	if (!job)
		return NULL;
	job_unlink(job);
	job_free(job, false);
	return NULL;
}
