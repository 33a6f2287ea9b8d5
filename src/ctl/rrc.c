/* The reverse-routability check (see rrc.h): the request, the body limit and
 * what the body must hold; the transfer runs on the event loop through
 * lib/curl_loop.h. */
#include "ctl/rrc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/curl_loop.h"
#include "lib/util.h"

struct rrc_job {
	struct rrc *r;
	CURL *easy;
	char *password;
	char *url;
	char body[RRC_MAX_BODY + 1];
	size_t len;
	bool too_large;
	rrc_done_fn *done;
	void *ctx;
	struct rrc_job *next;
};

struct rrc {
	struct curl_loop *cl;
	uint16_t port;
	uint32_t timeout_s;
	struct rrc_job *jobs;
};

static void job_unlink(struct rrc_job *job)
{
	for (struct rrc_job **pp = &job->r->jobs; *pp; pp = &(*pp)->next) {
		if (*pp == job) {
			*pp = job->next;
			break;
		}
	}
}

static void job_free(struct rrc_job *job)
{
	if (job->easy) {
		curl_loop_remove(job->r->cl, job->easy); /* -ENOENT once it ended */
		curl_easy_cleanup(job->easy);
	}
	if (job->password)
		sodium_memzero(job->password, strlen(job->password));
	free(job->password);
	free(job->url);
	free(job);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct rrc_job *job = userp;
	size_t len = size * nmemb;
	if (job->len + len > RRC_MAX_BODY) {
		job->too_large = true;
		return 0;
	}
	memcpy(job->body + job->len, data, len);
	job->len += len;
	job->body[job->len] = '\0';
	return len;
}

/* Whether one line of the body is exactly the password (blanks and CR around
 * it ignored). The comparison does not leak the password's content. */
static bool body_has(const struct rrc_job *job)
{
	size_t plen = strlen(job->password);
	const char *p = job->body, *end = job->body + job->len;
	bool found = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		const char *a = p, *b = e;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if ((size_t)(b - a) == plen && sodium_memcmp(a, job->password, plen) == 0)
			found = true;
		p = nl ? nl + 1 : end;
	}
	return found;
}

static int job_outcome(struct rrc_job *job, CURLcode rc, char *msg, size_t msglen)
{
	long http = 0;
	curl_easy_getinfo(job->easy, CURLINFO_RESPONSE_CODE, &http);
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(msg, msglen, "reverse-routability check: %s did not answer within %u s",
		         job->url, job->r->timeout_s);
		return -ETIMEDOUT;
	}
	if (job->too_large) {
		snprintf(msg, msglen, "reverse-routability check: %s sent more than %d bytes",
		         job->url, RRC_MAX_BODY);
		return -EACCES;
	}
	if (rc != CURLE_OK) {
		snprintf(msg, msglen, "reverse-routability check: fetching %s failed: %s", job->url,
		         curl_easy_strerror(rc));
		return -EIO;
	}
	if (http != 200) {
		snprintf(msg, msglen, "reverse-routability check: %s answered HTTP status %ld",
		         job->url, http);
		return -EIO;
	}
	if (!body_has(job)) {
		snprintf(msg, msglen,
		         "reverse-routability check: %s does not serve the SETUP's rrc-password",
		         job->url);
		return -EACCES;
	}
	return 0;
}

static void on_transfer_done(void *ctx, CURL *easy, CURLcode rc)
{
	struct rrc_job *job = ctx;
	char msg[512] = "";
	int status = job_outcome(job, rc, msg, sizeof(msg));
	job_unlink(job);
	rrc_done_fn *done = job->done;
	void *done_ctx = job->ctx;
	job_free(job);
	done(done_ctx, status, status ? msg : NULL);
}

int rrc_new(struct evloop *loop, uint16_t port, uint32_t timeout_s, struct rrc **ret)
{
	if (sodium_init() < 0)
		return -EIO;
	struct rrc *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->port = port ? port : 80;
	r->timeout_s = timeout_s ? timeout_s : 5;
	int rc = curl_loop_new(loop, &r->cl);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*ret = r;
	return 0;
}

struct rrc *rrc_free(struct rrc *r)
{
	if (!r)
		return NULL;
	while (r->jobs) {
		struct rrc_job *job = r->jobs;
		r->jobs = job->next;
		job_free(job);
	}
	curl_loop_free(r->cl);
	free(r);
	return NULL;
}

void rrc_url(const struct rrc *r, const struct ncm_prefix *addr, const char *user, char *buf,
             size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	inet_ntop(addr->family, addr->addr, a, sizeof(a));
	snprintf(buf, len, "http://%s%s%s:%u" RRC_PATH "%s", addr->family == AF_INET6 ? "[" : "", a,
	         addr->family == AF_INET6 ? "]" : "", r->port, user);
}

int rrc_start(struct rrc *r, const struct ncm_prefix *addr, const char *user, const char *password,
              rrc_done_fn *done, void *ctx, struct rrc_job **ret, char *err, size_t errlen)
{
	if ((addr->family != AF_INET && addr->family != AF_INET6) ||
	    addr->len != (addr->family == AF_INET ? 32 : 128)) {
		snprintf(err, err ? errlen : 0, "header 'rrc-address': want one address");
		return -EINVAL;
	}
	if (rrc_password_valid(password) < 0) {
		snprintf(err, err ? errlen : 0,
		         "header 'rrc-password': want %d..%d characters of [A-Za-z0-9+/=_-]",
		         RRC_PASSWORD_MIN, RRC_PASSWORD_MAX);
		return -EINVAL;
	}
	struct rrc_job *job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	char url[256];
	rrc_url(r, addr, user, url, sizeof(url));
	job->r = r;
	job->done = done;
	job->ctx = ctx;
	job->password = strdup(password);
	job->url = strdup(url);
	job->easy = curl_easy_init();
	if (!job->password || !job->url || !job->easy) {
		job_free(job);
		return -ENOMEM;
	}
	CURL *e = job->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)r->timeout_s);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)r->timeout_s);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)RRC_MAX_BODY);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "netservd/0.1 (reverse-routability check)");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, job);
	if (curl_loop_add(r->cl, e, on_transfer_done, job) < 0) {
		snprintf(err, err ? errlen : 0, "cannot start the check of %s", url);
		job_free(job);
		return -EIO;
	}
	job->next = r->jobs;
	r->jobs = job;
	if (ret)
		*ret = job;
	return 0;
}

struct rrc_job *rrc_cancel(struct rrc_job *job)
{
	if (!job)
		return NULL;
	job_unlink(job);
	job_free(job);
	return NULL;
}
