/* ka_gen: bench/fwd_gen.c sending SIP keep-alive NOTIFYs (bench/ka_sip.h)
 * instead of its fixed 'abbb...' payload, for configuration 6 of the
 * forwarding benchmark (bench/forwarding-keepalive). The same options and
 * output as fwd_gen; -l is the UDP payload length (at least KA_MIN_LEN).
 *
 * It is fwd_gen.c itself, compiled with its send call wrapped: fwd_gen sends
 * one prebuilt frame per flow (-n), and the wrapper writes the NOTIFY into
 * each frame before its first send (the UDP checksum stays 0: none, as
 * fwd_gen's). */
#include <sys/socket.h>

#include "ka_sip.h"

static int ka_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags);
#define sendmmsg ka_sendmmsg
#include "fwd_gen.c"
#undef sendmmsg

static int ka_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
	/* A frame fwd_gen built still starts its payload with 'a': the NOTIFY
	 * goes in once per frame (one per flow with -n), then it is left alone. */
	for (unsigned i = 0; i < n; i++) {
		struct iovec *iov = msgs[i].msg_hdr.msg_iov;
		char *payload = (char *)iov->iov_base + HDR_LEN;
		if (iov->iov_len <= HDR_LEN || payload[0] != 'a')
			continue;
		if (ka_notify(payload, iov->iov_len - HDR_LEN, 1) < 0) {
			fprintf(stderr, "ka_gen: -l must be %d..%d\n", KA_MIN_LEN, MAX_PAYLOAD);
			exit(2);
		}
	}
	return sendmmsg(fd, msgs, n, flags);
}
