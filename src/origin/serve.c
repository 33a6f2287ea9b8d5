/* The origin's HTTP server (libmicrohttpd, a thread per connection): GET and
 * HEAD of the files under the root, single byte ranges, ETag/If-None-Match,
 * Last-Modified, Cache-Control; optionally paced (--rate). Each request is
 * routed by regions.c: served here (and maybe a deployment started after
 * its response is queued), or redirected (302) to the region's node. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "origin/http_parse.h"
#include "origin/origin.h"

#define PATH_MAX_LEN 1024
#define CHUNK        16384

static const struct origin_config *cfg;
static struct MHD_Daemon *daemon_;
static int root_fd = -1;

struct body {
	int fd;
	uint64_t offset, len;
	struct timespec start;
};

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg,
                            const char *hname, const char *hvalue)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(msg), (void *)msg, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (hname)
		MHD_add_response_header(r, hname, hvalue);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	        {".ts", "video/mp2t"},         {".m3u8", "application/vnd.apple.mpegurl"},
	        {".mp4", "video/mp4"},         {".html", "text/html"},
	        {".txt", "text/plain"},        {".png", "image/png"},
	        {".wasm", "application/wasm"},
	};
	size_t pl = strlen(path);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t el = strlen(types[i].ext);
		if (pl > el && strcmp(path + pl - el, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}

/* Paced body reader: sends at most cfg->rate bytes per second. */
static ssize_t read_paced(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body *b = cls;
	if (pos >= b->len)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (max > CHUNK)
		max = CHUNK;
	if (max > b->len - pos)
		max = (size_t)(b->len - pos);
	/* wait until pos bytes are due */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double elapsed = (double)(now.tv_sec - b->start.tv_sec) +
	                 (double)(now.tv_nsec - b->start.tv_nsec) / 1e9;
	double due = (double)pos / (double)cfg->rate;
	if (due > elapsed) {
		double s = due - elapsed;
		struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
		nanosleep(&ts, NULL);
	}
	ssize_t n = pread(b->fd, buf, max, (off_t)(b->offset + pos));
	if (n <= 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n;
}

static void free_paced(void *cls)
{
	struct body *b = cls;
	close(b->fd);
	free(b);
}

static void client_address(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	out[0] = '\0';
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
		          (socklen_t)cap);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)cap);
	}
}

/* Serves path from the root: 200, 206, 304, 404 or 416. */
static enum MHD_Result serve_file(struct MHD_Connection *c, const char *client, const char *path,
                                  const char *label)
{
	int fd = openat(root_fd, path + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		if (label)
			origin_log("%s serve client=%s path=%s status=404", label, client, path);
		return text(c, 404, "not found\n", NULL, NULL);
	}
	char etag[64], lm[64], cc[32], cr[96];
	struct tm tm;
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
	         (unsigned long long)st.st_mtime);
	gmtime_r(&st.st_mtime, &tm);
	strftime(lm, sizeof(lm), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(cc, sizeof(cc), "max-age=3600");
	uint64_t size = (uint64_t)st.st_size, first = 0, last = size ? size - 1 : 0;
	const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	unsigned status = 200;
	struct MHD_Response *r = NULL;
	if (inm && (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0)) {
		close(fd);
		status = 304;
		r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	} else {
		int rr =
		        origin_parse_range(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range"),
		                           size, &first, &last);
		if (rr < 0) {
			close(fd);
			snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)size);
			if (label)
				origin_log("%s serve client=%s path=%s status=416", label, client,
				           path);
			return text(c, 416, "range not satisfiable\n", "Content-Range", cr);
		}
		uint64_t len = size ? last - first + 1 : 0;
		if (rr > 0) {
			status = 206;
			snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
			         (unsigned long long)last, (unsigned long long)size);
		}
		if (cfg->rate) {
			struct body *b = calloc(1, sizeof(*b));
			if (b) {
				b->fd = fd;
				b->offset = first;
				b->len = len;
				clock_gettime(CLOCK_MONOTONIC, &b->start);
				r = MHD_create_response_from_callback(len, CHUNK, read_paced, b,
				                                      free_paced);
				if (!r)
					free(b);
			}
		} else {
			r = MHD_create_response_from_fd_at_offset64(len, fd, first);
		}
		if (!r)
			close(fd);
		else if (status == 206)
			MHD_add_response_header(r, "Content-Range", cr);
	}
	if (!r)
		return text(c, 500, "out of memory\n", NULL, NULL);
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Last-Modified", lm);
	MHD_add_response_header(r, "Cache-Control", cc);
	MHD_add_response_header(r, "Accept-Ranges", "bytes");
	if (status != 304)
		MHD_add_response_header(r, "Content-Type", content_type(path));
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	if (label)
		origin_log("%s serve client=%s path=%s status=%u bytes=%llu", label, client, path,
		           status, status == 304 ? 0ULL : (unsigned long long)(last - first + 1));
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	static int first_call;
	if (!*con_cls) { /* headers in: wait for the body (if any) */
		*con_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_data_size) { /* a body nobody asked for: read and ignored */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return text(c, 405, "method not allowed\n", "Allow", "GET, HEAD");
	if (strlen(url) > PATH_MAX_LEN)
		return text(c, 414, "target too long\n", NULL, NULL);
	if (!origin_path_ok(url))
		return text(c, 400, "bad path\n", NULL, NULL);
	char client[INET6_ADDRSTRLEN], loc[3 * PATH_MAX_LEN + 128];
	client_address(c, client, sizeof(client));
	bool deploy = false;
	enum route_kind k = regions_route(client, url, loc, sizeof(loc), &deploy);
	if (k == ROUTE_REDIRECT) {
		char enc[3 * PATH_MAX_LEN + 1], *slash = strstr(loc, "://");
		slash = slash ? strchr(slash + 3, '/') : NULL;
		if (slash && origin_encode_path(url, enc, sizeof(enc)))
			snprintf(slash, sizeof(loc) - (size_t)(slash - loc), "%s", enc);
		return text(c, 302, "found\n", "Location", loc);
	}
	enum MHD_Result ret = serve_file(c, client, url, k == ROUTE_SERVE ? "step=2" : NULL);
	if (deploy)
		regions_deploy(client);
	return ret;
}

int serve_start(const struct origin_config *c, char *err, size_t errlen)
{
	cfg = c;
	root_fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		snprintf(err, errlen, "%s: %s", c->root, strerror(errno));
		return -errno;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	if (inet_pton(AF_INET, c->listen_addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(c->listen_port);
	} else if (inet_pton(AF_INET6, c->listen_addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(c->listen_port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(err, errlen, "--listen: '%s' is not a numeric address", c->listen_addr);
		close(root_fd);
		return -EINVAL;
	}
	daemon_ = MHD_start_daemon(flags, c->listen_port, NULL, NULL, on_request, NULL,
	                           MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	                           MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_TIMEOUT,
	                           60u, MHD_OPTION_END);
	if (!daemon_) {
		snprintf(err, errlen, "cannot serve on %s port %u", c->listen_addr, c->listen_port);
		close(root_fd);
		return -EADDRINUSE;
	}
	return 0;
}

void serve_stop(void)
{
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
	if (root_fd >= 0)
		close(root_fd);
	root_fd = -1;
}
