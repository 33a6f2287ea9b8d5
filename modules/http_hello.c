/* http_hello: a packet module and an HTTP server at once (the http/1
 * building block; SETUP with `dependencies: http/1` and `listen: tcp:PORT`).
 * It counts the packets its filter steers to it and serves, on the first TCP
 * port of its `listen:` header (default 8080; property `port` overrides):
 *   GET /          "hello\n" (a fixed body: bench/server-module)
 *   GET /counts    {"packets":N,"bytes":N,"requests":N} (JSON)
 *   GET /big       BIG_BYTES of 'x', streamed (ns_http_write, backpressure)
 *   POST /echo     the request body back, streamed
 *   anything else  404 (405 for another method on a known path)
 * HEAD works on every GET path (the node leaves the body out). */
#include <netserv.h>

#define BIG_BYTES (4u << 20)
#define ECHO_MAX  65536
#define STREAMS   32 /* streamed responses at once */

static int32_t c_packets, c_bytes, c_requests;
static uint64_t packets, bytes, requests;

/* A streamed response in progress: what is left to send. */
static struct stream {
	bool used;
	uint32_t req;
	uint32_t left;  /* /big: bytes still to write */
	uint32_t len;   /* /echo: body bytes collected */
	uint32_t off;   /* /echo: bytes written */
	bool echo;
	uint8_t buf[ECHO_MAX];
} streams[STREAMS];

static struct stream *stream_get(uint32_t req, bool create)
{
	struct stream *free_one = 0;
	for (uint32_t i = 0; i < STREAMS; i++) {
		if (streams[i].used && streams[i].req == req)
			return &streams[i];
		if (!streams[i].used && !free_one)
			free_one = &streams[i];
	}
	if (!create || !free_one)
		return 0;
	free_one->used = true;
	free_one->req = req;
	free_one->left = free_one->len = free_one->off = 0;
	free_one->echo = false;
	return free_one;
}

/* The first tcp:PORT of the SETUP's listen header, or 8080. */
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
	c_packets = ns_counter_id("packets");
	c_bytes = ns_counter_id("bytes");
	c_requests = ns_counter_id("requests");
	uint16_t port = (uint16_t)ns_prop_u32("port", listen_port());
	int32_t r = ns_http_listen(0, port);
	if (r < 0)
		ns_logf(NS_LOG_ERR, "cannot serve HTTP on tcp:%u: error %d", port, -r);
	else
		ns_logf(NS_LOG_INFO, "serving HTTP on tcp:%u (server %d)", port, r);
	return 0; /* a packet counter still, without the server */
}

int32_t ns_packet(uint32_t len)
{
	packets++;
	bytes += len;
	ns_counter_add(c_packets, 1);
	ns_counter_add(c_bytes, len);
	return NS_ACCEPT;
}

static void respond_text(uint32_t req, uint32_t status, const char *type, const char *text)
{
	char h[64];
	ns_snprintf(h, sizeof(h), "Content-Type: %s", type);
	ns_http_respond(req, status, h, text, ns_strlen(text));
}

/* Writes what the stream has until the node's buffer is full or it is done. */
static void stream_pump(struct stream *s)
{
	static const char xs[4096] = {[0 ... 4095] = 'x'};
	for (;;) {
		int32_t n;
		if (s->echo) {
			if (s->off >= s->len)
				break;
			n = ns_http_write(s->req, s->buf + s->off, s->len - s->off);
			if (n > 0)
				s->off += (uint32_t)n;
		} else {
			if (!s->left)
				break;
			n = ns_http_write(s->req, xs, s->left < sizeof(xs) ? s->left : sizeof(xs));
			if (n > 0)
				s->left -= (uint32_t)n;
		}
		if (n <= 0)
			return; /* full: NS_HTTP_WRITABLE comes */
	}
	ns_http_end(s->req);
	s->used = false;
}

static void on_request(uint32_t req)
{
	char method[16], target[256];
	int32_t ml = ns_http_info(req, NS_HTTP_METHOD, method, sizeof(method) - 1);
	int32_t tl = ns_http_info(req, NS_HTTP_TARGET, target, sizeof(target) - 1);
	if (ml < 0 || tl < 0) {
		respond_text(req, 400, "text/plain", "bad request\n");
		return;
	}
	method[ml] = target[tl] = '\0';
	requests++;
	ns_counter_add(c_requests, 1);
	bool get = ns_streq(method, "GET") || ns_streq(method, "HEAD");
	if (ns_streq(target, "/")) {
		if (get)
			ns_http_respond(req, 200, "Content-Type: text/plain", "hello\n", 6);
		else
			respond_text(req, 405, "text/plain", "method not allowed\n");
	} else if (ns_streq(target, "/counts")) {
		char j[160];
		ns_snprintf(j, sizeof(j), "{\"packets\":%llu,\"bytes\":%llu,\"requests\":%llu}\n",
		            (unsigned long long)packets, (unsigned long long)bytes,
		            (unsigned long long)requests);
		if (get)
			respond_text(req, 200, "application/json", j);
		else
			respond_text(req, 405, "text/plain", "method not allowed\n");
	} else if (ns_streq(target, "/big") && get) {
		struct stream *s = stream_get(req, true);
		if (!s) {
			respond_text(req, 503, "text/plain", "busy\n");
			return;
		}
		s->left = BIG_BYTES;
		ns_http_respond_start(req, 200, "Content-Type: application/octet-stream");
		stream_pump(s);
	} else if (ns_streq(target, "/echo") && ns_streq(method, "POST")) {
		struct stream *s = stream_get(req, true);
		if (!s)
			respond_text(req, 503, "text/plain", "busy\n");
		else
			s->echo = true; /* the body follows; answered at END */
	} else {
		respond_text(req, 404, "text/plain", "not found\n");
	}
}

void ns_http(uint32_t req, uint32_t event)
{
	struct stream *s = event == NS_HTTP_REQUEST ? 0 : stream_get(req, false);
	switch (event) {
	case NS_HTTP_REQUEST:
		on_request(req);
		break;
	case NS_HTTP_BODY:
		while (s && s->echo && s->len < ECHO_MAX) {
			int32_t n = ns_http_body_read(req, s->buf + s->len, ECHO_MAX - s->len);
			if (n <= 0)
				break;
			s->len += (uint32_t)n;
		}
		break;
	case NS_HTTP_END:
		if (s && s->echo) {
			char h[64];
			ns_snprintf(h, sizeof(h), "Content-Type: application/octet-stream");
			ns_http_respond_start(req, 200, h);
			stream_pump(s);
		}
		break;
	case NS_HTTP_WRITABLE:
		if (s)
			stream_pump(s);
		break;
	case NS_HTTP_CLOSED:
		if (s)
			s->used = false;
		break;
	}
}
