/* fetcher: fetches property `url` once and reads the body slowly (a timer
 * reads `chunk` bytes every `every_ms`; DATA events are ignored), so that
 * the node must pause the transfer (backpressure, test_activecdn.sh).
 * Counters: status, bytes, crc (CRC-32 of the body, low 31 bits), result
 * (0 done, else -errno: NS_FETCH_RESULT at DONE), done (1).
 * With property `cancel_after` (bytes), it cancels the fetch under way once
 * it has read that many: counters cancelled (1: ns_http_fetch_cancel said 0,
 * else 100 + its -errno), read_after (-errno of a read of the dead id: 2,
 * -ENOENT) and late (events for the cancelled id afterwards: must stay 0). */
#include <netserv.h>

static int32_t fid = -1, cancelled = -1;
static uint32_t crc, chunk, cancel_after;
static uint64_t got;
static int32_t c_status, c_bytes, c_crc, c_result, c_done, c_cancelled, c_read_after, c_late;
static uint8_t buf[65536];

int32_t ns_init(void)
{
	char url[512];
	c_status = ns_counter_id("status");
	c_bytes = ns_counter_id("bytes");
	c_crc = ns_counter_id("crc");
	c_result = ns_counter_id("result");
	c_done = ns_counter_id("done");
	c_cancelled = ns_counter_id("cancelled");
	c_read_after = ns_counter_id("read_after");
	c_late = ns_counter_id("late");
	cancel_after = ns_prop_u32("cancel_after", 0);
	if (ns_prop_str("url", url, sizeof(url), "") < 0 || !url[0]) {
		ns_logs(NS_LOG_ERR, "fetcher: property url is required");
		return -NS_EINVAL;
	}
	chunk = ns_prop_u32("chunk", 4096);
	if (chunk > sizeof(buf))
		chunk = sizeof(buf);
	fid = ns_http_fetch(NS_FETCH_GET, url, 0);
	if (fid < 0) {
		ns_logf(NS_LOG_ERR, "fetcher: ns_http_fetch: error %d", -fid);
		return 0;
	}
	return ns_timer_set(1, ns_prop_u32("every_ms", 5), true);
}

void ns_timer(uint32_t id)
{
	(void)id;
	if (fid < 0)
		return;
	int32_t n = ns_http_fetch_read((uint32_t)fid, buf, chunk);
	if (n > 0) {
		crc = ns_crc32(crc, buf, (uint32_t)n);
		got += (uint32_t)n;
		ns_counter_add(c_bytes, n);
	}
	if (cancel_after && got >= cancel_after) {
		int32_t r = ns_http_fetch_cancel((uint32_t)fid);
		ns_counter_add(c_cancelled, r == 0 ? 1 : 100 - r);
		ns_counter_add(c_read_after, -ns_http_fetch_read((uint32_t)fid, buf, 1));
		cancelled = fid;
		fid = -1;
		ns_timer_cancel(1);
	}
}

void ns_http(uint32_t id, uint32_t event)
{
	if (cancelled >= 0 && (int32_t)id == cancelled)
		ns_counter_add(c_late, 1);
	if ((int32_t)id != fid)
		return;
	if (event == NS_HTTP_FETCH_HEADERS)
		ns_counter_add(c_status, ns_http_fetch_info(id, NS_FETCH_STATUS, 0, 0));
	if (event == NS_HTTP_FETCH_DONE) {
		ns_counter_add(c_result, ns_http_fetch_info(id, NS_FETCH_RESULT, 0, 0));
		ns_counter_add(c_crc, crc & 0x7fffffff);
		ns_counter_add(c_done, 1);
		ns_timer_cancel(1);
		fid = -1;
	}
}
