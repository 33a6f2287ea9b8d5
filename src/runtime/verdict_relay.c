/* A publisher's packet queue held by netservd (see verdict_relay.h). */
#include "runtime/verdict_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fwd/nfq.h"
#include "fwd/nfq_relay.h"
#include "lib/errbuf.h"
#include "lib/evloop.h"
#include "lib/log.h"

/* The channel's buffers: a few rounds of verdicts with changed packets. */
#define CHANNEL_BUF (4u << 20)

/* Owned by the thread that opened it (netservd's event loop), except what
 * the relay thread touches: buf, the counters (atomic), why (written once by
 * the relay thread before it signals `note`). */
struct verdict_relay {
	struct evloop *loop;
	int qfd;  /* netservd's copy of the queue socket */
	int chan; /* netservd's end of the verdict channel */
	int stop; /* eventfd: the relay thread ends */
	int note; /* eventfd: the relay thread has something to log */
	pthread_t thread;
	uint16_t queue;
	char user[64];
	_Atomic uint64_t datagrams, refused, errors;
	_Atomic bool noted; /* why is written (release), once */
	char why[160];
	uint8_t buf[NFQ_VERDICT_DGRAM_MAX];
};

/* Relays what is ready on the channel. Returns false once the container
 * closed its end. */
static bool relay_ready(struct verdict_relay *r)
{
	for (;;) {
		ssize_t n = recv(r->chan, r->buf, sizeof(r->buf), MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR || errno == EWOULDBLOCK;
		if (n == 0)
			return false;
		char why[160];
		int c = (size_t)n > sizeof(r->buf)
		                ? err_set(why, sizeof(why), -EMSGSIZE, "datagram of %zd bytes", n)
		                : nfq_relay_check(r->buf, (size_t)n, r->queue, why, sizeof(why));
		if (c < 0) {
			if (atomic_fetch_add(&r->refused, 1) == 0) {
				memcpy(r->why, why, sizeof(r->why));
				atomic_store_explicit(&r->noted, true, memory_order_release);
				uint64_t one = 1;
				if (write(r->note, &one, sizeof(one)) < 0) {
					/* counted anyway; the log line is lost */
				}
			}
			continue;
		}
		if (send(r->qfd, r->buf, (size_t)n, MSG_DONTWAIT) < 0) {
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		atomic_fetch_add(&r->datagrams, 1);
	}
}

static void *relay_thread(void *arg)
{
	struct verdict_relay *r = arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = r->chan};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, r->chan, &ev) < 0)
		goto out; /* no relaying: the queue fails open when full */
	ev.data.fd = r->stop;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, r->stop, &ev) < 0)
		goto out;
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (got[i].data.fd == r->stop)
				goto out;
			if (!relay_ready(r)) /* the container is gone: wait for stop */
				epoll_ctl(ep, EPOLL_CTL_DEL, r->chan, NULL);
		}
	}
out:
	if (ep >= 0)
		close(ep);
	return NULL;
}

/* On netservd's loop: the relay thread refused something; say it once. */
static void on_note(struct evloop *loop, int fd, uint32_t events, void *ctx)
{
	struct verdict_relay *r = ctx;
	uint64_t v;
	(void)loop;
	(void)events;
	if (read(fd, &v, sizeof(v)) < 0)
		return;
	if (atomic_load_explicit(&r->noted, memory_order_acquire))
		log_warn("security: container %s sent on its verdict channel what is not a verdict "
		         "for its queue %u: %s (refused; counted, logged once)",
		         r->user, r->queue, r->why);
}

static void set_buf(int fd, int force_opt, int opt)
{
	int v = (int)CHANNEL_BUF;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static void fds_close(struct verdict_relay *r)
{
	int *fds[] = {&r->qfd, &r->chan, &r->stop, &r->note};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

int verdict_relay_open(struct evloop *loop, const char *user, uint16_t queue,
                       const struct verdict_relay_sched *sched, struct verdict_relay **ret,
                       int fds[2], char *err, size_t errlen)
{
	struct nfq_config cfg = {.queues = &queue, .n_queues = 1, .batch = sched->batch};
	int sv[2] = {-1, -1}, r;
	fds[0] = fds[1] = -1;
	struct verdict_relay *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	vr->loop = loop;
	vr->queue = queue;
	vr->chan = vr->stop = vr->note = -1;
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
	 * ours is read when ready. Room for whole rounds. */
	set_buf(sv[1], SO_SNDBUFFORCE, SO_SNDBUF);
	set_buf(sv[0], SO_RCVBUFFORCE, SO_RCVBUF);
	vr->chan = sv[0];
	sv[0] = -1;
	vr->stop = eventfd(0, EFD_CLOEXEC);
	vr->note = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vr->stop < 0 || vr->note < 0 || shutdown(vr->chan, SHUT_WR) < 0) {
		r = err_set(err, errlen, -errno, "verdict channel: %s", strerror(errno));
		goto fail;
	}
	if ((r = evloop_add_fd(loop, vr->note, EPOLLIN, on_note, vr)) < 0) {
		err_set(err, errlen, r, "watching the verdict relay: %s", strerror(-r));
		goto fail;
	}
	fds[0] = fcntl(vr->qfd, F_DUPFD_CLOEXEC, 3);
	if (fds[0] < 0) {
		r = err_set(err, errlen, -errno, "fcntl: %s", strerror(errno));
		evloop_del_fd(loop, vr->note);
		goto fail;
	}
	/* The relay is on the packet path: it runs where the container runs. */
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (sched->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(sched->cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (sched->rt_priority > 0) {
		struct sched_param sp = {.sched_priority = sched->rt_priority};
		pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
		pthread_attr_setschedparam(&attr, &sp);
	}
	r = -pthread_create(&vr->thread, &attr, relay_thread, vr);
	if (r == -EPERM && sched->rt_priority > 0) {
		/* No real-time budget here (a cgroup's): run it as the rest. */
		log_warn("verdict relay for %s: SCHED_FIFO %d refused, runs at normal priority",
		         user, sched->rt_priority);
		pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
		r = -pthread_create(&vr->thread, &attr, relay_thread, vr);
	}
	pthread_attr_destroy(&attr);
	if (r < 0) {
		err_set(err, errlen, r, "verdict relay thread: %s", strerror(-r));
		close(fds[0]);
		fds[0] = -1;
		evloop_del_fd(loop, vr->note);
		goto fail;
	}
	char name[16];
	snprintf(name, sizeof(name), "nsrelay-%s", user);
	pthread_setname_np(vr->thread, name);
	fds[1] = sv[1];
	*ret = vr;
	return 0;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	fds_close(vr);
	free(vr);
	return r;
}

struct verdict_relay *verdict_relay_close(struct verdict_relay *r)
{
	if (!r)
		return NULL;
	uint64_t one = 1;
	/* A blocking eventfd far from overflow: the write cannot fail. */
	(void)!write(r->stop, &one, sizeof(one));
	pthread_join(r->thread, NULL);
	evloop_del_fd(r->loop, r->note);
	fds_close(r);
	free(r);
	return NULL;
}

void verdict_relay_stats(const struct verdict_relay *r, struct verdict_relay_stats *ret)
{
	ret->datagrams = atomic_load(&r->datagrams);
	ret->refused = atomic_load(&r->refused);
	ret->errors = atomic_load(&r->errors);
}
