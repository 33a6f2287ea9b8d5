/* stored_http: http/1's ns_http_respond_stored case by case, for
 * tests/daemon/test_http_module.sh. At ns_init it stores the object "obj" =
 * "0123456789" and serves HTTP on property `port` (default 8081):
 *   GET /whole     the whole object (200)
 *   GET /range     bytes 2..4 of it (206, "234")
 *   GET /beyond    offset 8, 5 bytes: past its end (-EINVAL)
 *   GET /missing   an object that does not exist (-ENOENT)
 *   GET /replaced  the object, then replaces it by "ABCDEFGHIJ" at once: the
 *                  response under way keeps the bytes it started with
 *   GET /now       the object as it is now
 * A refused call is answered 500 with "error N" (N = -errno). A publisher
 * without storage (storage_quota = 0) stores nothing: then every GET says
 * "error 1" (-EPERM). */
#include <netserv.h>

int32_t ns_init(void)
{
	int32_t r = ns_store_put("obj", "0123456789", 10);
	if (r != 0 && r != -NS_EPERM)
		return -NS_EIO;
	int32_t srv = ns_http_listen(0, (uint16_t)ns_prop_u32("port", 8081));
	return srv < 0 ? srv : 0;
}

static void answer(uint32_t req, int32_t r)
{
	char text[32];
	if (r == 0)
		return;
	uint32_t n = (uint32_t)ns_snprintf(text, sizeof(text), "error %d\n", -r);
	ns_http_respond(req, 500, "Content-Type: text/plain", text, n);
}

void ns_http(uint32_t req, uint32_t event)
{
	char t[64];
	if (event != NS_HTTP_REQUEST)
		return;
	int32_t n = ns_http_info(req, NS_HTTP_TARGET, t, sizeof(t) - 1);
	t[n > 0 ? n : 0] = 0;
	const char *type = "Content-Type: text/plain";
	if (ns_streq(t, "/whole") || ns_streq(t, "/now"))
		answer(req, ns_http_respond_stored(req, 200, type, "obj", 0, 10));
	else if (ns_streq(t, "/range"))
		answer(req, ns_http_respond_stored(req, 206, "Content-Range: bytes 2-4/10", "obj",
		                                   2, 3));
	else if (ns_streq(t, "/beyond"))
		answer(req, ns_http_respond_stored(req, 206, type, "obj", 8, 5));
	else if (ns_streq(t, "/missing"))
		answer(req, ns_http_respond_stored(req, 200, type, "nope", 0, 1));
	else if (ns_streq(t, "/replaced")) {
		answer(req, ns_http_respond_stored(req, 200, type, "obj", 0, 10));
		ns_store_put("obj", "ABCDEFGHIJ", 10);
	} else
		ns_http_respond(req, 404, type, "not found\n", 10);
}
