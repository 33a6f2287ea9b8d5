/* A publisher's packet queue held by netservd (see verdict_relay.h). */
#include "runtime/verdict_relay.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/nfq.h"
#include "fwd/nfq_relay.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/log.h"

/* Datagrams relayed per wake-up, at most: the loop has other work. */
#define RELAY_BURST 64
/* The channel's buffers: a few rounds of verdicts with changed packets. */
#define CHANNEL_BUF (4u << 20)

struct verdict_relay {
	struct evloop *loop;
	int qfd;       /* netservd's copy of the queue socket */
	int chan;      /* netservd's end of the verdict channel */
	bool watching; /* chan is on the loop */
	uint16_t queue;
	char user[64];
	struct verdict_relay_stats st;
	uint8_t buf[NFQ_VERDICT_DGRAM_MAX];
};

static void on_channel(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct verdict_relay *r = ctx;
	(void)loop;
	for (int i = 0; i < RELAY_BURST; i++) {
		ssize_t n = recv(fd, r->buf, sizeof(r->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN; a broken channel ends with the container */
		}
		if (n == 0) {
			/* The container closed it (it is dying): stop watching. */
			evloop_del_fd(r->loop, fd);
			r->watching = false;
			return;
		}
		char why[160];
		int c = (size_t)n > sizeof(r->buf)
		                ? err_set(why, sizeof(why), -EMSGSIZE, "datagram of %zd bytes", n)
		                : nfq_relay_check(r->buf, (size_t)n, r->queue, why, sizeof(why));
		if (c < 0) {
			if (r->st.refused++ == 0)
				log_warn("security: container %s sent on its verdict channel what "
				         "is not a verdict for its queue %u: %s (refused; counted, "
				         "logged once)",
				         r->user, r->queue, why);
			continue;
		}
		if (send(r->qfd, r->buf, (size_t)n, MSG_DONTWAIT) < 0) {
			if (r->st.errors++ == 0)
				log_warn("container %s: sending verdicts on queue %u: %s", r->user,
				         r->queue, strerror(errno));
			continue;
		}
		r->st.datagrams++;
	}
}

static void set_buf(int fd, int force_opt, int opt)
{
	int v = (int)CHANNEL_BUF;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

int verdict_relay_open(struct evloop *loop, const char *user, uint16_t queue, uint32_t batch,
                       struct verdict_relay **ret, int fds[2], char *err, size_t errlen)
{
	struct nfq_config cfg = {.queues = &queue, .n_queues = 1, .batch = batch};
	int sv[2] = {-1, -1}, r;
	fds[0] = fds[1] = -1;
	struct verdict_relay *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	vr->loop = loop;
	vr->queue = queue;
	vr->chan = -1;
	snprintf(vr->user, sizeof(vr->user), "%s", user);
	vr->qfd = nfq_queue_bind(&cfg, err, errlen);
	if (vr->qfd < 0) {
		r = vr->qfd;
		free(vr);
		return r;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		r = err_set(err, errlen, -errno, "socketpair: %s", strerror(errno));
		goto fail;
	}
	/* The container's end blocks (its verdicts wait for us, none is lost);
	 * ours does not. Room for whole rounds both ways. */
	set_buf(sv[1], SO_SNDBUFFORCE, SO_SNDBUF);
	set_buf(sv[0], SO_RCVBUFFORCE, SO_RCVBUF);
	if (shutdown(sv[0], SHUT_WR) < 0 ||
	    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) < 0) {
		r = err_set(err, errlen, -errno, "verdict channel: %s", strerror(errno));
		goto fail;
	}
	vr->chan = sv[0];
	sv[0] = -1;
	if ((r = evloop_add_fd(loop, vr->chan, EPOLLIN, on_channel, vr)) < 0) {
		err_set(err, errlen, r, "watching the verdict channel: %s", strerror(-r));
		goto fail;
	}
	vr->watching = true;
	fds[0] = fcntl(vr->qfd, F_DUPFD_CLOEXEC, 3);
	if (fds[0] < 0) {
		r = err_set(err, errlen, -errno, "fcntl: %s", strerror(errno));
		evloop_del_fd(loop, vr->chan);
		goto fail;
	}
	fds[1] = sv[1];
	*ret = vr;
	return 0;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (vr->chan >= 0)
		close(vr->chan);
	close(vr->qfd);
	free(vr);
	return r;
}

struct verdict_relay *verdict_relay_close(struct verdict_relay *r)
{
	if (!r)
		return NULL;
	if (r->watching)
		evloop_del_fd(r->loop, r->chan);
	close(r->chan);
	close(r->qfd);
	free(r);
	return NULL;
}

void verdict_relay_stats(const struct verdict_relay *r, struct verdict_relay_stats *ret)
{
	*ret = r->st;
}
