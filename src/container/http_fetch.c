/* Outbound HTTP for modules (see http_fetch.h): the ns_http_fetch* imports
 * over libcurl's multi interface on the container's event loop. */
#include "container/http_fetch.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "abi/glue.h"
#include "container/http_block.h"
#include "container/modhost_internal.h"
#include "container/sandbox.h"
#include "lib/curl_loop.h"
#include "lib/evloop.h"

#define FETCH_SLOT_BITS 6 /* FETCH_MAX slots */

struct fetch_mod;

struct fetch {
	struct fetch_mod *fm;
	uint32_t id;
	CURL *easy;
	struct curl_slist *hdrs;
	bool running;      /* in the curl_loop */
	bool paused;       /* the write callback said CURL_WRITEFUNC_PAUSE */
	bool headers_in;   /* the final response's headers are complete */
	bool headers_told; /* HEADERS delivered */
	bool data_armed;   /* DATA may be delivered (until delivered, then until read) */
	bool done;         /* the transfer ended (result says how) */
	int result;        /* 0 or -errno once done */
	long status;
	char *hdr; /* the final response's header lines, "Name: value\r\n" */
	size_t hdr_len;
	uint8_t *buf; /* body bytes not read yet: buf[off, len) */
	size_t len, off, cap;
};

struct fetch_mod {
	struct mod *m;
	struct fetch *slots[FETCH_MAX];
	uint32_t gen[FETCH_MAX];
	struct evloop_timer *kick; /* delivers pending events from the loop */
};

static struct evloop *g_loop;
static struct curl_loop *g_cl;
static const struct sandbox *g_sb;

int http_fetch_configure(struct evloop *loop, const struct sandbox *sb)
{
	g_loop = loop;
	g_sb = sb;
	if (g_cl)
		return 0;
	return curl_loop_new(loop, &g_cl);
}

/* ---- state ------------------------------------------------------------------- */

static struct fetch *fetch_find(struct mod *m, uint32_t id)
{
	struct fetch_mod *fm = m->fetch;
	if (!fm)
		return NULL;
	struct fetch *f = fm->slots[id & (FETCH_MAX - 1)];
	return f && f->id == id ? f : NULL;
}

static void fetch_free(struct fetch *f)
{
	struct fetch_mod *fm = f->fm;
	if (f->running && g_cl)
		curl_loop_remove(g_cl, f->easy);
	uint32_t slot = f->id & (FETCH_MAX - 1);
	if (fm->slots[slot] == f)
		fm->slots[slot] = NULL;
	curl_easy_cleanup(f->easy);
	curl_slist_free_all(f->hdrs);
	free(f->hdr);
	free(f->buf);
	free(f);
}

static void on_kick(struct evloop *loop, void *ctx);

static void kick(struct fetch_mod *fm)
{
	if (!fm->kick && g_loop)
		fm->kick = evloop_timer_add(g_loop, 0, on_kick, fm);
}

static int tell(struct fetch *f, uint32_t event)
{
	return modhost_http_call(f->fm->m, f->id, event);
}

/* Delivers what is due, fetch by fetch. Each call into the module may cancel
 * fetches, start new ones, or trap (which cancels all of them): the slot is
 * looked up again after every call. */
static void on_kick(struct evloop *loop, void *ctx)
{
	struct fetch_mod *fm = ctx;
	struct mod *m = fm->m;
	(void)loop;
	fm->kick = NULL;
	for (uint32_t i = 0; i < FETCH_MAX; i++) {
		struct fetch *f = fm->slots[i];
		if (!f)
			continue;
		uint32_t id = f->id;
		if (f->headers_in && !f->headers_told) {
			f->headers_told = true;
			if (tell(f, NS_HTTP_FETCH_HEADERS) < 0 || m->fetch != fm ||
			    !(f = fetch_find(m, id)))
				continue;
		}
		if (f->headers_told && f->data_armed && f->len > f->off) {
			f->data_armed = false;
			if (tell(f, NS_HTTP_FETCH_DATA) < 0 || m->fetch != fm ||
			    !(f = fetch_find(m, id)))
				continue;
		}
		if (f->done && (f->result < 0 || f->len == f->off)) {
			/* after a failure, unread bytes are dropped */
			tell(f, NS_HTTP_FETCH_DONE);
			if (m->fetch == fm && (f = fetch_find(m, id)))
				fetch_free(f);
		}
	}
}

void http_fetch_instance_lost(struct mod *m)
{
	struct fetch_mod *fm = m->fetch;
	if (!fm)
		return;
	for (uint32_t i = 0; i < FETCH_MAX; i++)
		if (fm->slots[i])
			fetch_free(fm->slots[i]);
}

void http_fetch_mod_free(struct mod *m)
{
	struct fetch_mod *fm = m->fetch;
	if (!fm)
		return;
	http_fetch_instance_lost(m);
	fm->kick = evloop_timer_cancel(g_loop, fm->kick);
	free(fm);
	m->fetch = NULL;
}

void http_fetch_stats(struct mod *m, json_t *j)
{
	if (!m->fetches && !m->fetch_refused)
		return;
	uint32_t running = 0;
	for (uint32_t i = 0; m->fetch && i < FETCH_MAX; i++)
		running += m->fetch->slots[i] != NULL;
	json_object_set_new(
	        j, "fetches",
	        json_pack("{s:I, s:I, s:I, s:I, s:I}", "started", (json_int_t)m->fetches, "refused",
	                  (json_int_t)m->fetch_refused, "running", (json_int_t)running, "bytes",
	                  (json_int_t)m->fetch_bytes, "pauses", (json_int_t)m->fetch_pauses));
}

/* ---- libcurl's callbacks (no calls into the module from here) ---------------- */

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct fetch *f = ctx;
	size_t len = size * n;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a status line: a new response */
		f->hdr_len = 0;
		return len;
	}
	if (len <= 2 && (len == 0 || p[0] == '\r' || p[0] == '\n')) { /* the end of a head */
		long status = 0;
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && !f->headers_in) {
			f->status = status;
			f->headers_in = true;
			kick(f->fm);
		}
		return len;
	}
	if (f->hdr_len + len > FETCH_HDR_MAX)
		return 0; /* aborts: CURLE_WRITE_ERROR */
	if (!f->hdr && !(f->hdr = malloc(FETCH_HDR_MAX)))
		return 0;
	memcpy(f->hdr + f->hdr_len, p, len);
	f->hdr_len += len;
	return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *ctx)
{
	struct fetch *f = ctx;
	size_t len = size * n;
	if (f->len - f->off >= FETCH_BUF) {
		f->paused = true; /* libcurl keeps these bytes and offers them again */
		f->fm->m->fetch_pauses++;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (f->off) {
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	if (f->len + len > f->cap) {
		size_t cap = f->len + len > FETCH_BUF ? f->len + len : FETCH_BUF;
		uint8_t *b = realloc(f->buf, cap);
		if (!b)
			return 0; /* aborts */
		f->buf = b;
		f->cap = cap;
	}
	memcpy(f->buf + f->len, p, len);
	f->len += len;
	if (!f->headers_in) { /* a body without a blank line first: cannot be */
		f->headers_in = true;
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
	}
	kick(f->fm);
	return len;
}

/* Whether the publisher may connect to sa (the family's address bytes). */
static bool dest_allowed(const struct sockaddr *sa)
{
	if (!g_sb)
		return false;
	if (sa->sa_family == AF_INET)
		return sandbox_connect_allowed(
		        g_sb, AF_INET,
		        (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return sandbox_connect_allowed(
		        g_sb, AF_INET6,
		        (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)
		                ->sin6_addr);
	return false;
}

/* CURLOPT_OPENSOCKETFUNCTION: the address libcurl is about to connect to is
 * checked once more (it is the one of the URL: nothing is resolved). */
static curl_socket_t on_open_socket(void *ctx, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)ctx;
	if (purpose != CURLSOCKTYPE_IPCXN || !dest_allowed(&a->addr))
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int result_errno(CURLcode r)
{
	switch (r) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_PARTIAL_FILE:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
		return -EPROTO;
	default:
		return -EIO;
	}
}

static void on_done(void *ctx, CURL *easy, CURLcode result)
{
	struct fetch *f = ctx;
	(void)easy;
	f->running = false;
	f->done = true;
	f->result = result_errno(result);
	if (!f->headers_in && result == CURLE_OK) { /* e.g. a HEAD: headers and nothing else */
		f->headers_in = true;
		curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
	}
	kick(f->fm);
}

/* ---- the imports ------------------------------------------------------------- */

#define DECLARE_IMPORT(name, rw, pw, cret, cparams) cret Z_netservZ_##name cparams;
NS_IMPORTS_HTTP(DECLARE_IMPORT)

static int add_req_header(void *ctx, const char *name, const char *value)
{
	struct curl_slist **l = ctx;
	char line[1100];
	snprintf(line, sizeof(line), "%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* Checks a URL: http://, a numeric host inside the connect policy. */
static int url_check(const char *url)
{
	CURLU *u = curl_url();
	if (!u)
		return -ENOMEM;
	char *scheme = NULL, *host = NULL;
	int r = -EINVAL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "http") != 0) {
		r = -EPROTONOSUPPORT;
		goto out;
	}
	struct sockaddr_storage ss = {0};
	size_t hl = strlen(host);
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		ss.ss_family = AF_INET;
	} else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &((struct sockaddr_in6 *)&ss)->sin6_addr) != 1)
			goto out; /* a zone id, or not an address */
		ss.ss_family = AF_INET6;
	} else {
		r = -EHOSTUNREACH; /* a name: nothing is resolved */
		goto out;
	}
	r = dest_allowed((struct sockaddr *)&ss) ? 0 : -EPERM;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

u32 Z_netservZ_ns_http_fetch(struct Z_netserv_instance_t *ctx, u32 method, u32 url, u32 url_len,
                             u32 headers, u32 hlen)
{
	IMPORT_BEGIN(ctx);
	const char *u = (const char *)mem_at(m, url, url_len);
	const char *h = (const char *)mem_at(m, headers, hlen);
	if (method != NS_FETCH_GET && method != NS_FETCH_HEAD)
		IMPORT_RETURN(-EINVAL);
	if (!m->g->http)
		IMPORT_RETURN(-EINVAL); /* nobody to hear the events */
	if (!g_cl)
		IMPORT_RETURN(-EPERM);
	char us[2048];
	if (url_len == 0 || url_len >= sizeof(us) || memchr(u, 0, url_len))
		IMPORT_RETURN(-EINVAL);
	memcpy(us, u, url_len);
	us[url_len] = '\0';
	int r = url_check(us);
	if (r < 0) {
		if (r == -EPERM)
			m->fetch_refused++;
		IMPORT_RETURN(r);
	}
	if (!m->fetch && !(m->fetch = calloc(1, sizeof(*m->fetch))))
		IMPORT_RETURN(-ENOMEM);
	struct fetch_mod *fm = m->fetch;
	fm->m = m;
	uint32_t slot;
	for (slot = 0; slot < FETCH_MAX && fm->slots[slot]; slot++)
		;
	if (slot == FETCH_MAX)
		IMPORT_RETURN(-EMFILE);
	struct fetch *f = calloc(1, sizeof(*f));
	if (!f || !(f->easy = curl_easy_init())) {
		free(f);
		IMPORT_RETURN(-ENOMEM);
	}
	f->fm = fm;
	f->data_armed = true;
	r = http_headers_parse(h, hlen, add_req_header, &f->hdrs);
	if (r < 0) {
		curl_slist_free_all(f->hdrs);
		curl_easy_cleanup(f->easy);
		free(f);
		IMPORT_RETURN(r);
	}
	CURL *e = f->easy;
	curl_easy_setopt(e, CURLOPT_URL, us);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	/* a stalled origin: under 1 byte/s for the publisher's fetch_stall (30 s)
	 * (a paused transfer is exempt) */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	uint32_t stall = g_sb ? g_sb->cfg.fetch_stall_s : 0;
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
	                 (long)(stall ? stall : POLICY_DEFAULT_FETCH_STALL_S));
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, f);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->hdrs);
	if (method == NS_FETCH_HEAD)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	fm->gen[slot] = (fm->gen[slot] + 1) & ((1u << (31 - FETCH_SLOT_BITS)) - 1);
	f->id = fm->gen[slot] << FETCH_SLOT_BITS | slot;
	r = curl_loop_add(g_cl, e, on_done, f);
	if (r < 0) {
		curl_slist_free_all(f->hdrs);
		curl_easy_cleanup(e);
		free(f);
		IMPORT_RETURN(r);
	}
	f->running = true;
	fm->slots[slot] = f;
	m->fetches++;
	IMPORT_RETURN(f->id);
}

u32 Z_netservZ_ns_http_fetch_info(struct Z_netserv_instance_t *ctx, u32 id, u32 what, u32 buf,
                                  u32 cap)
{
	IMPORT_BEGIN(ctx);
	uint8_t *out = mem_at(m, buf, cap);
	struct fetch *f = fetch_find(m, id);
	if (!f)
		IMPORT_RETURN(-ENOENT);
	switch (what) {
	case NS_FETCH_STATUS:
		IMPORT_RETURN(f->headers_in ? f->status : 0);
	case NS_FETCH_RESULT:
		IMPORT_RETURN(f->done ? f->result : -EINPROGRESS);
	case NS_FETCH_HEADERS:
		if (!f->headers_in)
			IMPORT_RETURN(0);
		if (f->hdr_len > cap)
			IMPORT_RETURN(-ENOSPC);
		memcpy(out, f->hdr, f->hdr_len);
		IMPORT_RETURN(f->hdr_len);
	default:
		IMPORT_RETURN(-EINVAL);
	}
}

u32 Z_netservZ_ns_http_fetch_header(struct Z_netserv_instance_t *ctx, u32 id, u32 name,
                                    u32 name_len, u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	const char *nm = (const char *)mem_at(m, name, name_len);
	uint8_t *out = mem_at(m, buf, cap);
	struct fetch *f = fetch_find(m, id);
	if (!f)
		IMPORT_RETURN(-ENOENT);
	if (name_len == 0)
		IMPORT_RETURN(-EINVAL);
	if (!f->headers_in)
		IMPORT_RETURN(-ENOENT);
	size_t i = 0;
	while (i < f->hdr_len) {
		const char *line = f->hdr + i;
		const char *nl = memchr(line, '\n', f->hdr_len - i);
		size_t ll = nl ? (size_t)(nl - line) : f->hdr_len - i;
		i += ll + 1;
		if (ll > name_len && line[name_len] == ':' &&
		    strncasecmp(line, nm, name_len) == 0) {
			const char *v = line + name_len + 1, *ve = line + ll;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			size_t vl = (size_t)(ve - v);
			if (vl > cap)
				IMPORT_RETURN(-ENOSPC);
			memcpy(out, v, vl);
			IMPORT_RETURN(vl);
		}
	}
	IMPORT_RETURN(-ENOENT);
}

u32 Z_netservZ_ns_http_fetch_read(struct Z_netserv_instance_t *ctx, u32 id, u32 buf, u32 cap)
{
	IMPORT_BEGIN(ctx);
	uint8_t *out = mem_at(m, buf, cap);
	struct fetch *f = fetch_find(m, id);
	if (!f)
		IMPORT_RETURN(-ENOENT);
	size_t n = f->len - f->off;
	if (n > cap)
		n = cap;
	memcpy(out, f->buf + f->off, n);
	f->off += n;
	if (f->off == f->len)
		f->off = f->len = 0;
	f->data_armed = true;
	if (f->paused && f->len - f->off < FETCH_BUF / 2 && f->running) {
		f->paused = false;
		/* may hand over what libcurl held back at once (on_write) */
		curl_easy_pause(f->easy, CURLPAUSE_CONT);
	}
	if (f->len > f->off || f->done)
		kick(f->fm);
	m->fetch_bytes += n;
	IMPORT_RETURN(n);
}

u32 Z_netservZ_ns_http_fetch_cancel(struct Z_netserv_instance_t *ctx, u32 id)
{
	IMPORT_BEGIN(ctx);
	struct fetch *f = fetch_find(m, id);
	if (!f)
		IMPORT_RETURN(-ENOENT);
	fetch_free(f);
	IMPORT_RETURN(0);
}
