/* ka_ping: bench/fwd_ping.c whose pings are SIP keep-alive NOTIFYs
 * (bench/ka_sip.h), so that the KeepAlive module inspects them as it does
 * the load; the sequence number travels in the Call-ID. The same options and
 * output as fwd_ping; -l is the UDP payload length (at least KA_MIN_LEN).
 *
 * It is fwd_ping.c itself, compiled with its send and recv wrapped: send
 * writes the NOTIFY of the sequence number fwd_ping put at the start of its
 * buffer; recv gives fwd_ping back that number at the start of what came. */
#include <sys/socket.h>
#include <sys/types.h>

#include "ka_sip.h"

static ssize_t ka_send(int fd, const void *buf, size_t len, int flags);
static ssize_t ka_recv(int fd, void *buf, size_t len, int flags);
#define send ka_send
#define recv ka_recv
#include "fwd_ping.c"
#undef send
#undef recv

static ssize_t ka_send(int fd, const void *buf, size_t len, int flags)
{
	char msg[MAX_BYTES];
	uint64_t seq;
	memcpy(&seq, buf, sizeof(seq));
	if (len > sizeof(msg) || ka_notify(msg, len, seq) < 0) {
		fprintf(stderr, "ka_ping: -l must be %d..%d\n", KA_MIN_LEN, MAX_BYTES);
		exit(2);
	}
	return send(fd, msg, len, flags);
}

static ssize_t ka_recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = recv(fd, buf, len, flags);
	if (n > 0 && fd >= 0) {
		int64_t seq = ka_seq(buf, (size_t)n);
		if (seq >= 0 && (size_t)n >= sizeof(uint64_t)) {
			uint64_t s = (uint64_t)seq;
			memcpy(buf, &s, sizeof(s));
		}
	}
	return n;
}
