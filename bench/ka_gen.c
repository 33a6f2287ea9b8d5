/* ka_gen: bench/fwd_gen.c sending SIP keep-alive NOTIFYs (bench/ka_sip.h)
 * instead of its fixed 'abbb...' payload, for configuration 6 of the
 * forwarding benchmark (bench/forwarding-keepalive). The same options and
 * output as fwd_gen; -l is the UDP payload length (at least KA_MIN_LEN).
 *
 * It is fwd_gen.c itself, compiled with its send call wrapped: every slot of
 * fwd_gen sends one frame, and the wrapper writes the NOTIFY into that frame
 * before the first send (the UDP checksum stays 0: none, as fwd_gen's). */
#include <sys/socket.h>

#include "ka_sip.h"

static int ka_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags);
#define sendmmsg ka_sendmmsg
#include "fwd_gen.c"
#undef sendmmsg

static int ka_sendmmsg(int fd, struct mmsghdr *msgs, unsigned n, int flags)
{
	static bool ready;
	if (!ready && n > 0) {
		struct iovec *iov = msgs[0].msg_hdr.msg_iov;
		if (iov->iov_len <= HDR_LEN ||
		    ka_notify((char *)iov->iov_base + HDR_LEN, iov->iov_len - HDR_LEN, 1) < 0) {
			fprintf(stderr, "ka_gen: -l must be %d..%d\n", KA_MIN_LEN, MAX_PAYLOAD);
			exit(2);
		}
		ready = true;
	}
	return sendmmsg(fd, msgs, n, flags);
}
