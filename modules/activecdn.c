/* activecdn: the publisher's CDN on the router (issue #14, seed 003 §6.1).
 * A caching HTTP reverse proxy for one origin, the publisher's, named in the
 * SETUP's properties:
 *   origin=http://192.0.2.7:8080   the origin (a numeric address: the node
 *                                  resolves no names), required
 *   origin_host=www.example.com    the Host: header sent to it (optional)
 *   port=N                         the port to serve (default: the first
 *                                  tcp port of the SETUP's listen: header)
 *   default_max_age=S              freshness of a response without max-age
 *                                  (seconds, default 60)
 *   watermark=TEXT                 draw TEXT (UTF-8; commas escaped as `\,`)
 *                                  on the video of every MPEG-TS segment
 *                                  (media/1), as the papers' GEC9 demo did
 *   watermark_x=N, watermark_y=N   its top-left corner (pixels, default 16)
 *   watermark_size=N               its height (pixels, default: a tenth of
 *                                  the frame's)
 * SETUP with `dependencies: http/1,crypto/1,storage/1` and `listen: tcp:PORT`
 * (with watermark: also media/1).
 *
 * GET and HEAD; single byte ranges (RFC 9110 §14: bytes=a-b, a-, -n; a
 * multi-range request gets the whole object), also of an object still
 * downloading (the client waits for its bytes). A miss starts one origin
 * fetch; the first client and every later one for the same object are served
 * from the store while it fills (they share that fetch). Freshness:
 * Cache-Control s-maxage/max-age (else default_max_age), no-cache (always
 * revalidate), no-store and private (not kept); a stale object is
 * revalidated with If-None-Match / If-Modified-Since, a 304 makes it fresh
 * again. A client's If-None-Match that matches gets 304.
 *
 * The objects live in storage/1: for a target T (path and query), the key
 * K = hex(SHA-256(T)), the body in "K.b" and a small text metadata object in
 * "K.m" (written when the body is complete; at start, bodies without one are
 * dropped). The publisher's storage_quota bounds them: the least recently
 * used objects are evicted to make room. Counters: hits, misses,
 * bytes_from_cache, bytes_from_origin, evictions, revalidations,
 * not_modified, origin_errors, and with watermark: watermarked,
 * watermark_failures.
 *
 * Watermarking: a segment (a target whose path ends in ".ts", or a response
 * of Content-Type video/mp2t) is processed once, when the origin's bytes are
 * all in the store, and the processed bytes replace them (the metadata is
 * written after that: a restart meanwhile fetches it again); every client
 * gets the processed segment. Clients of a segment still downloading or
 * being processed wait for it (no origin bytes are ever served for it). A
 * segment that cannot be processed (not H.264, the time limit, ...) is
 * served as the origin sent it, and one over WM_MAX bytes is not processed
 * and is served as it downloads; both count in watermark_failures. Playlists
 * and other objects pass unchanged. */
#include <netserv.h>

#define ENTRIES   256
#define CLIENTS   256
#define URL_MAX   1024
#define ETAG_MAX  128
#define TYPE_MAX  128
#define CC_MAX    128
#define IOBUF     65536
#define NO_END    0xffffffffu
#define NO_SIZE   0xffffffffu
#define META_SIZE 2048
#define WM_MAX    (4u << 20) /* the largest segment watermarked (memory: 16 MiB) */
#define WM_TEXT   NS_MEDIA_TEXT_MAX

enum state {
	E_FREE = 0,
	E_FETCHING,     /* a download: the body fills as the origin sends it */
	E_COMPLETE,     /* the body is whole in the store */
	E_REVALIDATING, /* complete, and a conditional fetch asks the origin */
};

struct entry {
	enum state state;
	char key[2 * NS_SHA256_LEN + 1];
	char target[URL_MAX];
	int32_t fetch;    /* the fetch id while one runs, else -1 */
	uint32_t status;  /* 200 */
	uint32_t size;    /* NO_SIZE while not known */
	uint32_t have;    /* body bytes in the store */
	bool no_store;    /* served, then forgotten */
	bool headers_in;  /* the clients may start */
	bool media;       /* a segment to watermark when complete: clients wait */
	uint64_t expires; /* ns_time_ms() until which it is fresh */
	uint64_t used;    /* LRU clock */
	char etag[ETAG_MAX], last_modified[64], type[TYPE_MAX], cc[CC_MAX];
};

struct client {
	bool used;
	bool started; /* the response is started */
	bool head;
	bool hit;
	bool want_range;
	uint32_t req;
	int32_t e;
	uint32_t pos, end;  /* [pos, end) still to send; end NO_END: up to the size */
	uint32_t r_first;   /* the requested range, resolved when the size is known */
	uint32_t r_last;    /* NO_END: to the end */
	bool r_suffix;      /* bytes=-N: the last r_last bytes */
	char inm[ETAG_MAX]; /* If-None-Match */
};

static struct entry entries[ENTRIES];
static struct client clients[CLIENTS];
static uint8_t iobuf[IOBUF];
static char origin[URL_MAX], origin_host[256];
static uint32_t default_max_age = 60;
static uint64_t lru_clock;
static int32_t c_hits, c_misses, c_from_cache, c_from_origin, c_evictions, c_revalidations,
        c_not_modified, c_origin_errors, c_watermarked, c_wm_failures;
static char wm_text[WM_TEXT + 1]; /* empty: no watermarking */
static uint32_t wm_x = 16, wm_y = 16, wm_size;
static uint8_t wm_in[WM_MAX], wm_out[WM_MAX];

/* ---- small helpers ----------------------------------------------------------- */

static void key_of(const char *target, uint32_t len, char *out)
{
	uint8_t d[NS_SHA256_LEN];
	ns_hash(NS_SHA256, target, len, d);
	ns_hex(out, d, NS_SHA256_LEN);
	out[2 * NS_SHA256_LEN] = '\0';
}

static void obj_key(const struct entry *e, char kind, char *out)
{
	ns_snprintf(out, NS_STORE_KEY_MAX, "%s.%c", e->key, kind);
}

static void copy_str(char *dst, uint32_t cap, const char *src)
{
	uint32_t n = ns_strlen(src);
	if (n >= cap)
		n = cap - 1;
	ns_memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Parses digits at *p; false if none. */
static bool parse_u32(const char **p, uint32_t *v)
{
	uint64_t x = 0;
	const char *s = *p;
	if (!ns_is_digit(*s))
		return false;
	while (ns_is_digit(*s)) {
		x = x * 10 + (uint64_t)(*s++ - '0');
		if (x > 0xfffffffeu)
			x = 0xfffffffeu;
	}
	*v = (uint32_t)x;
	*p = s;
	return true;
}

/* Finds "name=N" (a Cache-Control directive) in cc; -1 if absent. */
static int64_t cc_value(const char *cc, const char *name)
{
	uint32_t nl = ns_strlen(name);
	for (const char *p = cc; *p; p++) {
		if ((p == cc || p[-1] == ' ' || p[-1] == ',') && ns_memcmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			const char *q = p + nl + 1;
			uint32_t v;
			if (*q == '"')
				q++;
			return parse_u32(&q, &v) ? (int64_t)v : -1;
		}
	}
	return -1;
}

static bool cc_has(const char *cc, const char *name)
{
	uint32_t nl = ns_strlen(name);
	for (const char *p = cc; *p; p++)
		if ((p == cc || p[-1] == ' ' || p[-1] == ',') && ns_memcmp(p, name, nl) == 0 &&
		    (p[nl] == '\0' || p[nl] == ',' || p[nl] == ' ' || p[nl] == '='))
			return true;
	return false;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = ns_lower(*s);
}

/* ---- the store --------------------------------------------------------------- */

static void meta_write(struct entry *e)
{
	char m[META_SIZE], k[NS_STORE_KEY_MAX];
	int32_t n =
	        ns_snprintf(m, sizeof(m),
	                    "target=%s\nsize=%u\nexpires=%llu\nused=%llu\netag=%s\nlm=%s\n"
	                    "type=%s\ncc=%s\n",
	                    e->target, e->size, (unsigned long long)e->expires,
	                    (unsigned long long)e->used, e->etag, e->last_modified, e->type, e->cc);
	if (n <= 0 || n >= (int32_t)sizeof(m))
		return;
	obj_key(e, 'm', k);
	ns_store_put(k, m, (uint32_t)n);
}

static void entry_drop(struct entry *e)
{
	char k[NS_STORE_KEY_MAX];
	if (e->fetch >= 0)
		ns_http_fetch_cancel((uint32_t)e->fetch);
	obj_key(e, 'b', k);
	ns_store_delete(k);
	obj_key(e, 'm', k);
	ns_store_delete(k);
	ns_memset(e, 0, sizeof(*e));
	e->fetch = -1;
}

static uint32_t readers(int32_t ei)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < CLIENTS; i++)
		if (clients[i].used && clients[i].e == ei)
			n++;
	return n;
}

/* Evicts the least recently used complete object nobody reads. */
static bool evict_one(const struct entry *keep)
{
	int32_t best = -1;
	for (int32_t i = 0; i < ENTRIES; i++) {
		struct entry *e = &entries[i];
		if (e == keep || e->state != E_COMPLETE || readers(i))
			continue;
		if (best < 0 || e->used < entries[best].used)
			best = i;
	}
	if (best < 0)
		return false;
	ns_logf(NS_LOG_INFO, "activecdn: evicting %s (%u bytes)", entries[best].target,
	        entries[best].size);
	entry_drop(&entries[best]);
	ns_counter_add(c_evictions, 1);
	return true;
}

/* Makes room for `need` more bytes under the publisher's quota. */
static bool make_room(const struct entry *keep, uint64_t need)
{
	struct ns_store_usage u;
	for (;;) {
		if (ns_store_usage(&u) < 0)
			return false;
		if (u.used + need + META_SIZE <= u.quota)
			return true;
		if (!evict_one(keep))
			return false;
	}
}

/* Appends to e's body, evicting others when the quota is reached. */
static int32_t body_append(struct entry *e, const uint8_t *p, uint32_t n)
{
	char k[NS_STORE_KEY_MAX];
	obj_key(e, 'b', k);
	for (;;) {
		int32_t r = ns_store_append(k, p, n);
		if (r != -NS_ENOSPC || !evict_one(e))
			return r;
	}
}

/* Reads a metadata line's value. */
static bool meta_get(const char *m, const char *name, char *out, uint32_t cap)
{
	uint32_t nl = ns_strlen(name);
	for (const char *p = m; *p;) {
		const char *e = p;
		while (*e && *e != '\n')
			e++;
		if ((uint32_t)(e - p) > nl && ns_memcmp(p, name, nl) == 0 && p[nl] == '=') {
			uint32_t vl = (uint32_t)(e - p) - nl - 1;
			if (vl >= cap)
				vl = cap - 1;
			ns_memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p = *e ? e + 1 : e;
	}
	return false;
}

static uint64_t parse_u64(const char *s)
{
	uint64_t v = 0;
	while (ns_is_digit(*s))
		v = v * 10 + (uint64_t)(*s++ - '0');
	return v;
}

/* Rebuilds the table from the store (after a restart or a trap): complete
 * objects with their metadata; anything else is deleted. */
static void load_store(void)
{
	char k[NS_STORE_KEY_MAX + 1], prev[NS_STORE_KEY_MAX + 1];
	static char m[META_SIZE + 1];
	int32_t kl = ns_store_next(0, k, sizeof(k));
	uint32_t n = 0;
	while (kl > 0) {
		ns_memcpy(prev, k, (uint32_t)kl + 1);
		uint32_t hl = 2 * NS_SHA256_LEN;
		bool ok = false;
		if ((uint32_t)kl == hl + 2 && k[hl] == '.' && k[hl + 1] == 'm' && n < ENTRIES) {
			int32_t ml = ns_store_read(k, 0, m, META_SIZE);
			struct entry *e = &entries[n];
			char v[64];
			if (ml > 0) {
				m[ml] = '\0';
				ns_memcpy(e->key, k, hl);
				e->key[hl] = '\0';
				meta_get(m, "target", e->target, URL_MAX);
				meta_get(m, "size", v, sizeof(v));
				e->size = (uint32_t)parse_u64(v);
				meta_get(m, "expires", v, sizeof(v));
				e->expires = parse_u64(v);
				meta_get(m, "used", v, sizeof(v));
				e->used = parse_u64(v);
				meta_get(m, "etag", e->etag, ETAG_MAX);
				meta_get(m, "lm", e->last_modified, sizeof(e->last_modified));
				meta_get(m, "type", e->type, TYPE_MAX);
				meta_get(m, "cc", e->cc, CC_MAX);
				char bk[NS_STORE_KEY_MAX];
				obj_key(e, 'b', bk);
				int32_t bs = ns_store_size(bk);
				if (bs >= 0 && (uint32_t)bs == e->size) {
					e->have = e->size;
					e->state = E_COMPLETE;
					e->status = 200;
					e->fetch = -1;
					e->headers_in = true;
					if (e->used > lru_clock)
						lru_clock = e->used;
					n++;
					ok = true;
				} else {
					ns_store_delete(bk);
				}
			}
			if (!ok) {
				ns_memset(e, 0, sizeof(*e));
				ns_store_delete(k);
			}
		} else if ((uint32_t)kl == hl + 2 && k[hl] == '.' && k[hl + 1] == 'b') {
			/* kept if its metadata (later in key order) says it is whole */
			char mk[NS_STORE_KEY_MAX];
			ns_memcpy(mk, k, hl + 1);
			mk[hl + 1] = 'm';
			mk[hl + 2] = '\0';
			if (ns_store_size(mk) < 0)
				ns_store_delete(k);
		}
		kl = ns_store_next(prev, k, sizeof(k));
	}
	for (uint32_t i = n; i < ENTRIES; i++)
		entries[i].fetch = -1;
	ns_logf(NS_LOG_INFO, "activecdn: %u objects in the store", n);
}

/* ---- clients ----------------------------------------------------------------- */

static void client_free(struct client *c)
{
	int32_t ei = c->e;
	c->used = false;
	if (ei >= 0 && entries[ei].no_store && entries[ei].state == E_COMPLETE && !readers(ei))
		entry_drop(&entries[ei]);
}

static void respond_text(uint32_t req, uint32_t status, const char *text)
{
	ns_http_respond(req, status, "Content-Type: text/plain", text, ns_strlen(text));
}

/* Starts c's response once e's headers and (for a range) size are known. */
static bool client_start(struct client *c)
{
	struct entry *e = &entries[c->e];
	char h[1024];
	uint32_t status = 200;
	int32_t n = ns_snprintf(h, sizeof(h), "X-Cache: %s\r\nAccept-Ranges: bytes\r\n",
	                        c->hit ? "HIT" : "MISS");
	if (e->type[0])
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "Content-Type: %s\r\n", e->type);
	if (e->etag[0])
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "ETag: %s\r\n", e->etag);
	if (e->last_modified[0])
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "Last-Modified: %s\r\n",
		                 e->last_modified);
	if (e->cc[0])
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "Cache-Control: %s\r\n", e->cc);
	if (c->inm[0] && e->etag[0] && (ns_streq(c->inm, e->etag) || ns_streq(c->inm, "*"))) {
		ns_http_respond(c->req, 304, h, 0, 0);
		client_free(c);
		return false;
	}
	c->pos = 0;
	c->end = e->size; /* NO_END while unknown */
	if (c->want_range && e->size != NO_SIZE) {
		uint32_t first = c->r_first, last = c->r_last;
		if (c->r_suffix) {
			if (c->r_last == 0)
				first = e->size; /* bytes=-0: unsatisfiable */
			else
				first = c->r_last >= e->size ? 0 : e->size - c->r_last;
			last = e->size - 1;
		} else if (last == NO_END || last >= e->size) {
			last = e->size - 1;
		}
		if (first >= e->size || e->size == 0) {
			char r[96];
			ns_snprintf(r, sizeof(r),
			            "Content-Type: text/plain\r\nContent-Range: bytes */%u",
			            e->size);
			ns_http_respond(c->req, 416, r, "range not satisfiable\n", 22);
			client_free(c);
			return false;
		}
		c->pos = first;
		c->end = last + 1;
		status = 206;
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n,
		                 "Content-Range: bytes %u-%u/%u\r\n", first, last, e->size);
	}
	if (e->state == E_COMPLETE && e->size != NO_SIZE && e->have == e->size) {
		/* all of it in the store: the node sends it from the file (sendfile),
		 * the bytes do not pass through here */
		char k[NS_STORE_KEY_MAX];
		obj_key(e, 'b', k);
		if (ns_http_respond_stored(c->req, status, h, k, c->pos, c->end - c->pos) == 0) {
			if (c->hit && !c->head)
				ns_counter_add(c_from_cache, c->end - c->pos);
			client_free(c);
			return false;
		} /* else gone meanwhile: streamed, which ends it as incomplete */
	}
	if (c->end != NO_END)
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "Content-Length: %u\r\n",
		                 c->end - c->pos);
	if (ns_http_respond_start(c->req, status, h) < 0) {
		client_free(c);
		return false;
	}
	c->started = true;
	if (c->head) {
		ns_http_end(c->req);
		client_free(c);
		return false;
	}
	return true;
}

/* Sends c what the store has for it; ends it when all is sent. */
static void client_pump(struct client *c)
{
	struct entry *e = &entries[c->e];
	char k[NS_STORE_KEY_MAX];
	if (!c->started && !client_start(c))
		return;
	obj_key(e, 'b', k);
	for (;;) {
		uint32_t end = c->end;
		if (end == NO_END && e->size != NO_SIZE)
			end = c->end = e->size;
		if (c->pos >= end)
			break;
		uint32_t lim = end < e->have ? end : e->have;
		if (c->pos >= lim)
			return; /* waiting for the origin */
		uint32_t want = lim - c->pos < IOBUF ? lim - c->pos : IOBUF;
		int32_t r = ns_store_read(k, c->pos, iobuf, want);
		if (r <= 0) { /* gone: the client must see an incomplete body */
			ns_http_abort(c->req);
			client_free(c);
			return;
		}
		int32_t w = ns_http_write(c->req, iobuf, (uint32_t)r);
		if (w <= 0)
			return; /* WRITABLE follows */
		c->pos += (uint32_t)w;
		if (c->hit)
			ns_counter_add(c_from_cache, w);
		if (w < r)
			return;
	}
	ns_http_end(c->req);
	client_free(c);
}

/* The entry's download failed: clients not started get 502, the others are
 * cut short (ns_http_abort: they see an incomplete body). */
static void entry_fail(int32_t ei, uint32_t status)
{
	for (uint32_t i = 0; i < CLIENTS; i++) {
		struct client *c = &clients[i];
		if (!c->used || c->e != ei)
			continue;
		if (!c->started)
			respond_text(c->req, status,
			             status == 502 ? "bad gateway\n" : "origin error\n");
		else
			ns_http_abort(c->req); /* an incomplete body, not one that looks whole */
		c->used = false;
	}
	entry_drop(&entries[ei]);
}

static void wake(int32_t ei)
{
	for (uint32_t i = 0; i < CLIENTS; i++)
		if (clients[i].used && clients[i].e == ei && clients[i].started)
			client_pump(&clients[i]);
}

static void start_all(int32_t ei)
{
	for (uint32_t i = 0; i < CLIENTS; i++)
		if (clients[i].used && clients[i].e == ei && !clients[i].started)
			client_pump(&clients[i]);
}

/* ---- the origin -------------------------------------------------------------- */

static int32_t entry_of_fetch(uint32_t id)
{
	for (int32_t i = 0; i < ENTRIES; i++)
		if (entries[i].state != E_FREE && entries[i].fetch == (int32_t)id)
			return i;
	return -1;
}

static int32_t origin_fetch(struct entry *e, bool conditional)
{
	char url[2 * URL_MAX], h[512];
	int32_t n = 0;
	ns_snprintf(url, sizeof(url), "%s%s", origin, e->target);
	h[0] = '\0';
	if (origin_host[0])
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "Host: %s\r\n", origin_host);
	if (conditional && e->etag[0])
		n += ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "If-None-Match: %s\r\n", e->etag);
	if (conditional && e->last_modified[0])
		ns_snprintf(h + n, sizeof(h) - (uint32_t)n, "If-Modified-Since: %s\r\n",
		            e->last_modified);
	int32_t id = ns_http_fetch(NS_FETCH_GET, url, h);
	if (id < 0)
		ns_logf(NS_LOG_WARN, "activecdn: cannot fetch %s: error %d", url, -id);
	return id;
}

/* A segment that will not be watermarked: counted, served as it comes. */
static void media_skip(struct entry *e, const char *why)
{
	ns_logf(NS_LOG_WARN, "activecdn: not watermarking %s: %s (served as is)", e->target, why);
	ns_counter_add(c_wm_failures, 1);
	e->media = false;
}

/* A segment to watermark: its path ends in ".ts" or it is video/mp2t. */
static bool is_segment(const struct entry *e)
{
	if (!wm_text[0])
		return false;
	uint32_t n = 0;
	while (e->target[n] && e->target[n] != '?')
		n++;
	if (n >= 3 && ns_memcmp(e->target + n - 3, ".ts", 3) == 0)
		return true;
	char t[TYPE_MAX];
	copy_str(t, sizeof(t), e->type);
	lower(t);
	return ns_memcmp(t, "video/mp2t", 10) == 0 && (t[10] == '\0' || t[10] == ';');
}

static void read_freshness(struct entry *e, uint32_t id)
{
	char cc[CC_MAX];
	if (ns_http_fetch_header(id, "Cache-Control", cc, sizeof(cc)) < 0)
		cc[0] = '\0';
	copy_str(e->cc, CC_MAX, cc);
	lower(cc);
	int64_t age = cc_value(cc, "s-maxage");
	if (age < 0)
		age = cc_value(cc, "max-age");
	if (age < 0)
		age = default_max_age;
	if (cc_has(cc, "no-cache"))
		age = 0;
	e->no_store = cc_has(cc, "no-store") || cc_has(cc, "private");
	e->expires = (uint64_t)ns_time_ms() + (uint64_t)age * 1000u;
}

static void on_fetch_headers(uint32_t id)
{
	int32_t ei = entry_of_fetch(id);
	if (ei < 0) {
		ns_http_fetch_cancel(id);
		return;
	}
	struct entry *e = &entries[ei];
	uint32_t status = (uint32_t)ns_http_fetch_info(id, NS_FETCH_STATUS, 0, 0);
	if (e->state == E_REVALIDATING && status == 304) {
		ns_counter_add(c_not_modified, 1);
		read_freshness(e, id);
		e->state = E_COMPLETE;
		e->fetch = -1;
		ns_http_fetch_cancel(id);
		meta_write(e);
		start_all(ei);
		return;
	}
	if (status != 200) {
		ns_logf(NS_LOG_INFO, "activecdn: origin answered %u for %s", status, e->target);
		ns_counter_add(c_origin_errors, 1);
		e->fetch = -1;
		ns_http_fetch_cancel(id);
		entry_fail(ei, status >= 500 ? 502 : status);
		return;
	}
	if (e->state == E_REVALIDATING) { /* changed: download it again */
		char k[NS_STORE_KEY_MAX];
		for (uint32_t i = 0; i < CLIENTS; i++)
			if (clients[i].used && clients[i].e == ei && clients[i].started) {
				ns_http_abort(clients[i].req); /* an old copy being read: cut */
				clients[i].used = false;
			}
		obj_key(e, 'b', k);
		ns_store_delete(k);
		obj_key(e, 'm', k);
		ns_store_delete(k);
		e->have = 0;
		e->state = E_FETCHING;
	}
	char v[64];
	e->size = NO_SIZE;
	if (ns_http_fetch_header(id, "Content-Length", v, sizeof(v)) > 0) {
		const char *p = v;
		uint32_t len;
		struct ns_store_usage u;
		if (parse_u32(&p, &len) && !*p) {
			/* larger than the store takes: a clear 502 now rather than a
			 * body cut at the quota */
			if (len >= NS_STORE_OBJECT_MAX ||
			    (ns_store_usage(&u) == 0 && (uint64_t)len + META_SIZE > u.quota)) {
				ns_logf(NS_LOG_WARN,
				        "activecdn: %s: Content-Length %s is more than the store "
				        "takes",
				        e->target, v);
				ns_counter_add(c_origin_errors, 1);
				e->fetch = -1;
				ns_http_fetch_cancel(id);
				entry_fail(ei, 502);
				return;
			}
			e->size = len;
		}
	}
	if (ns_http_fetch_header(id, "ETag", e->etag, ETAG_MAX) < 0)
		e->etag[0] = '\0';
	if (ns_http_fetch_header(id, "Last-Modified", e->last_modified, sizeof(e->last_modified)) <
	    0)
		e->last_modified[0] = '\0';
	if (ns_http_fetch_header(id, "Content-Type", e->type, TYPE_MAX) < 0)
		e->type[0] = '\0';
	read_freshness(e, id);
	e->status = 200;
	e->headers_in = true;
	e->media = is_segment(e);
	if (e->media && e->size != NO_SIZE && e->size > WM_MAX)
		media_skip(e, "too large"); /* streamed as it comes */
	if (e->size != NO_SIZE)
		make_room(e, e->size);
	if (!e->media) /* a segment's clients wait for the processed bytes */
		start_all(ei);
}

static void on_fetch_data(uint32_t id)
{
	int32_t ei = entry_of_fetch(id);
	if (ei < 0) {
		ns_http_fetch_cancel(id);
		return;
	}
	struct entry *e = &entries[ei];
	for (;;) {
		int32_t n = ns_http_fetch_read(id, iobuf, IOBUF);
		if (n <= 0)
			break;
		ns_counter_add(c_from_origin, n);
		int32_t r = body_append(e, iobuf, (uint32_t)n);
		if (r < 0) {
			ns_logf(NS_LOG_WARN, "activecdn: cannot store %s: error %d", e->target, -r);
			e->fetch = -1;
			ns_http_fetch_cancel(id);
			entry_fail(ei, 502);
			return;
		}
		e->have = (uint32_t)r;
	}
	if (e->media && e->have > WM_MAX) { /* no Content-Length, and too large */
		media_skip(e, "too large");
		start_all(ei);
	}
	wake(ei);
}

/* Replaces e's complete body in the store by the watermarked one (media/1);
 * on failure it stays as the origin sent it. */
static void watermark(struct entry *e)
{
	char k[NS_STORE_KEY_MAX];
	obj_key(e, 'b', k);
	int32_t r = -NS_EFBIG;
	if (e->have <= WM_MAX && ns_store_read(k, 0, wm_in, e->have) == (int32_t)e->have)
		r = ns_media_overlay_text(wm_in, e->have, wm_out, WM_MAX, wm_text, wm_x, wm_y,
		                          wm_size);
	if (r > 0 && (uint32_t)r > e->have)
		make_room(e, (uint32_t)r - e->have);
	if (r > 0)
		r = ns_store_put(k, wm_out, (uint32_t)r) == 0 ? r : -NS_ENOSPC;
	if (r <= 0) {
		ns_logf(NS_LOG_WARN, "activecdn: cannot watermark %s: error %d (served as is)",
		        e->target, -r);
		ns_counter_add(c_wm_failures, 1);
		return;
	}
	e->size = e->have = (uint32_t)r;
	ns_counter_add(c_watermarked, 1);
	ns_logf(NS_LOG_INFO, "activecdn: watermarked %s (%u bytes)", e->target, e->size);
}

static void on_fetch_done(uint32_t id)
{
	int32_t ei = entry_of_fetch(id);
	if (ei < 0)
		return;
	struct entry *e = &entries[ei];
	int32_t r = ns_http_fetch_info(id, NS_FETCH_RESULT, 0, 0);
	e->fetch = -1;
	if (r < 0 || !e->headers_in || (e->size != NO_SIZE && e->have != e->size)) {
		ns_logf(NS_LOG_WARN, "activecdn: fetching %s failed: error %d", e->target, -r);
		ns_counter_add(c_origin_errors, 1);
		entry_fail(ei, 502);
		return;
	}
	if (e->state == E_REVALIDATING) { /* a 304 was handled at HEADERS */
		e->state = E_COMPLETE;
		return;
	}
	e->size = e->have;
	bool waited = e->media; /* its clients wait for the processed bytes */
	if (e->media)
		watermark(e);
	e->media = false;
	e->state = E_COMPLETE;
	if (!e->no_store)
		meta_write(e);
	if (waited)
		start_all(ei);
	wake(ei);
	if (e->no_store && !readers(ei))
		entry_drop(e);
}

/* ---- requests ---------------------------------------------------------------- */

/* Parses a Range header into c (single ranges; anything else: ignored). */
static void parse_range(struct client *c, const char *v)
{
	const char *p = v;
	uint32_t a = 0, b = NO_END;
	if (ns_memcmp(p, "bytes=", 6) != 0)
		return;
	p += 6;
	for (const char *q = p; *q; q++)
		if (*q == ',')
			return; /* several ranges: the whole object */
	if (*p == '-') {
		p++;
		if (!parse_u32(&p, &b) || *p)
			return;
		c->r_suffix = true;
	} else {
		if (!parse_u32(&p, &a) || *p++ != '-')
			return;
		if (*p && (!parse_u32(&p, &b) || *p || b < a))
			return;
	}
	c->want_range = true;
	c->r_first = a;
	c->r_last = b;
}

static struct client *client_new(uint32_t req)
{
	for (uint32_t i = 0; i < CLIENTS; i++)
		if (!clients[i].used) {
			ns_memset(&clients[i], 0, sizeof(clients[i]));
			clients[i].used = true;
			clients[i].req = req;
			clients[i].e = -1;
			return &clients[i];
		}
	return 0;
}

static struct client *client_of(uint32_t req)
{
	for (uint32_t i = 0; i < CLIENTS; i++)
		if (clients[i].used && clients[i].req == req)
			return &clients[i];
	return 0;
}

static int32_t entry_find(const char *key)
{
	for (int32_t i = 0; i < ENTRIES; i++)
		if (entries[i].state != E_FREE && ns_streq(entries[i].key, key))
			return i;
	return -1;
}

static int32_t entry_new(void)
{
	for (int32_t i = 0; i < ENTRIES; i++)
		if (entries[i].state == E_FREE)
			return i;
	return evict_one(0) ? entry_new() : -1;
}

static void on_request(uint32_t req)
{
	char method[16], target[URL_MAX], v[256];
	int32_t ml = ns_http_info(req, NS_HTTP_METHOD, method, sizeof(method) - 1);
	int32_t tl = ns_http_info(req, NS_HTTP_TARGET, target, sizeof(target) - 1);
	if (ml < 0) {
		respond_text(req, 400, "bad request\n");
		return;
	}
	if (tl < 0) {
		respond_text(req, 414, "target too long\n");
		return;
	}
	method[ml] = target[tl] = '\0';
	bool head = ns_streq(method, "HEAD");
	if (!head && !ns_streq(method, "GET")) {
		ns_http_respond(req, 405, "Allow: GET, HEAD", "method not allowed\n", 19);
		return;
	}
	if (target[0] != '/') {
		respond_text(req, 400, "bad target\n");
		return;
	}
	struct client *c = client_new(req);
	if (!c) {
		respond_text(req, 503, "busy\n");
		return;
	}
	c->head = head;
	if (ns_http_header(req, "Range", v, sizeof(v)) > 0)
		parse_range(c, v);
	if (ns_http_header(req, "If-None-Match", c->inm, sizeof(c->inm)) < 0)
		c->inm[0] = '\0';
	char key[2 * NS_SHA256_LEN + 1];
	key_of(target, (uint32_t)tl, key);
	int32_t ei = entry_find(key);
	uint64_t now = (uint64_t)ns_time_ms();
	if (ei >= 0) {
		struct entry *e = &entries[ei];
		c->e = ei;
		e->used = ++lru_clock;
		bool stale = e->state == E_COMPLETE && now >= e->expires;
		bool alone = readers(ei) == 1; /* nobody else reads the old copy */
		if (stale && alone && (e->etag[0] || e->last_modified[0])) {
			int32_t id = origin_fetch(e, true); /* ask the origin */
			if (id >= 0) {
				e->fetch = id;
				e->state = E_REVALIDATING;
				ns_counter_add(c_revalidations, 1);
			}
		} else if (stale && alone) { /* no validators: fetch it again */
			c->e = -1;
			entry_drop(e);
			ei = -1;
		}
		if (ei >= 0) {
			c->hit = true;
			ns_counter_add(c_hits, 1);
			if (e->state == E_COMPLETE ||
			    (e->state == E_FETCHING && e->headers_in && !e->media))
				client_pump(c);
			return;
		}
	}
	ns_counter_add(c_misses, 1);
	ei = entry_new();
	if (ei < 0) {
		c->used = false;
		respond_text(req, 503, "cache full\n");
		return;
	}
	struct entry *e = &entries[ei];
	ns_memset(e, 0, sizeof(*e));
	ns_memcpy(e->key, key, sizeof(key));
	copy_str(e->target, URL_MAX, target);
	e->state = E_FETCHING;
	e->size = NO_SIZE;
	e->used = ++lru_clock;
	c->e = ei;
	ns_logf(NS_LOG_INFO, "activecdn: miss %s: fetching it from the origin", e->target);
	int32_t id = origin_fetch(e, false);
	if (id < 0) {
		e->fetch = -1;
		ns_counter_add(c_origin_errors, 1);
		entry_fail(ei, 502);
		return;
	}
	e->fetch = id;
}

void ns_http(uint32_t id, uint32_t event)
{
	struct client *c;
	switch (event) {
	case NS_HTTP_REQUEST:
		on_request(id);
		break;
	case NS_HTTP_WRITABLE:
		if ((c = client_of(id)))
			client_pump(c);
		break;
	case NS_HTTP_CLOSED:
		if ((c = client_of(id)))
			client_free(c);
		break;
	case NS_HTTP_FETCH_HEADERS:
		on_fetch_headers(id);
		break;
	case NS_HTTP_FETCH_DATA:
		on_fetch_data(id);
		break;
	case NS_HTTP_FETCH_DONE:
		on_fetch_done(id);
		break;
	}
}

static uint16_t listen_port(void)
{
	char v[128];
	int32_t n = ns_prop_get("netserv.listen", v, sizeof(v));
	for (int32_t i = 0; n > 0 && i + 4 < n; i++) {
		if (v[i] == 't' && v[i + 1] == 'c' && v[i + 2] == 'p' && v[i + 3] == ':') {
			uint32_t port = 0;
			for (int32_t j = i + 4; j < n && v[j] >= '0' && v[j] <= '9'; j++)
				port = port * 10 + (uint32_t)(v[j] - '0');
			if (port > 0 && port < 65536)
				return (uint16_t)port;
		}
	}
	return 8080;
}

int32_t ns_init(void)
{
	c_hits = ns_counter_id("hits");
	c_misses = ns_counter_id("misses");
	c_from_cache = ns_counter_id("bytes_from_cache");
	c_from_origin = ns_counter_id("bytes_from_origin");
	c_evictions = ns_counter_id("evictions");
	c_revalidations = ns_counter_id("revalidations");
	c_not_modified = ns_counter_id("not_modified");
	c_origin_errors = ns_counter_id("origin_errors");
	int32_t n = ns_prop_get("origin", origin, sizeof(origin) - 1);
	if (n > 0)
		origin[n] = '\0';
	if (n <= 7 || ns_memcmp(origin, "http://", 7) != 0) {
		ns_logs(NS_LOG_ERR, "activecdn: property origin=http://ADDRESS[:PORT] is required");
		return -NS_EINVAL;
	}
	if (origin[n - 1] == '/')
		origin[n - 1] = '\0';
	ns_prop_str("origin_host", origin_host, sizeof(origin_host), "");
	uint64_t age;
	if (ns_prop_uint("default_max_age", 0, 86400 * 365, 60, &age) < 0) {
		ns_logs(NS_LOG_ERR, "activecdn: bad property default_max_age");
		return -NS_EINVAL;
	}
	default_max_age = (uint32_t)age;
	if (ns_prop_str("watermark", wm_text, sizeof(wm_text), "") < 0) {
		ns_logs(NS_LOG_ERR, "activecdn: property watermark is too long");
		return -NS_EINVAL;
	}
	uint64_t x, y, size;
	if (ns_prop_uint("watermark_x", 0, 16384, 16, &x) < 0 ||
	    ns_prop_uint("watermark_y", 0, 16384, 16, &y) < 0 ||
	    ns_prop_uint("watermark_size", 0, 1024, 0, &size) < 0) {
		ns_logs(NS_LOG_ERR, "activecdn: bad property watermark_x, _y or _size");
		return -NS_EINVAL;
	}
	wm_x = (uint32_t)x, wm_y = (uint32_t)y, wm_size = (uint32_t)size;
	if (wm_text[0]) {
		c_watermarked = ns_counter_id("watermarked");
		c_wm_failures = ns_counter_id("watermark_failures");
	}
	load_store();
	uint16_t port = (uint16_t)ns_prop_u32("port", listen_port());
	int32_t r = ns_http_listen(0, port);
	if (r < 0) {
		ns_logf(NS_LOG_ERR, "activecdn: cannot serve HTTP on tcp:%u: error %d", port, -r);
		return r;
	}
	ns_logf(NS_LOG_INFO, "activecdn: serving tcp:%u for %s", port, origin);
	return 0;
}
