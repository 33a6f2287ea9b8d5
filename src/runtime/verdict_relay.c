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

/* Datagrams relayed from one channel per wake-up, so that one busy
 * container cannot hold the others' verdicts back (epoll is level-triggered:
 * the rest comes on the next round). */
#define CHANNEL_ROUND 64

/* Events taken per epoll_wait: channels served per round. */
#define WORKER_EVENTS 256

/* A thread of netservd that relays the verdicts of every channel placed on
 * its CPU (or, unpinned, a share of the unpinned ones), at one priority.
 * Created with its first relay, ended with its last (the registry's lock). */
struct relay_worker {
	struct relay_worker *next;
	int cpu;         /* the CPU it is pinned to, or -1 */
	int rt_priority; /* SCHED_FIFO priority asked for, 0: normal */
	unsigned users;  /* relays on it (registry lock) */
	int ep;          /* epoll: the channels (data.ptr: the relay) and wake (NULL) */
	int wake;        /* eventfd: a close waits for a round, or stop */
	pthread_t thread;
	_Atomic bool stop;
	pthread_mutex_t mu; /* rounds, dead */
	pthread_cond_t cv;
	uint64_t rounds; /* epoll rounds finished */
	bool dead;       /* the thread ended: nothing is relayed any more */
	uint8_t buf[NFQ_VERDICT_DGRAM_MAX];
};

static pthread_mutex_t g_workers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct relay_worker *g_workers;

/* Owned by the thread that opened it (netservd's event loop), except what
 * the worker touches: the counters (atomic), why (written once by the
 * worker before it signals `note`). */
struct verdict_relay {
	struct evloop *loop;
	struct relay_worker *w;
	int qfd;  /* netservd's copy of the queue socket */
	int chan; /* netservd's end of the verdict channel */
	int note; /* eventfd: the worker has something to log */
	uint16_t queue;
	char user[64];
	_Atomic uint64_t datagrams, refused, errors;
	_Atomic bool noted; /* why is written (release), once */
	char why[160];
};

/* Relays up to CHANNEL_ROUND datagrams that are ready on r's channel,
 * through buf. Returns false once the container closed its end. */
static bool relay_ready(struct verdict_relay *r, uint8_t *buf, size_t bufsize)
{
	for (int i = 0; i < CHANNEL_ROUND; i++) {
		ssize_t n = recv(r->chan, buf, bufsize, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR || errno == EWOULDBLOCK;
		if (n == 0)
			return false;
		char why[160];
		int c = (size_t)n > bufsize
		                ? err_set(why, sizeof(why), -EMSGSIZE, "datagram of %zd bytes", n)
		                : nfq_relay_check(buf, (size_t)n, r->queue, why, sizeof(why));
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
		if (send(r->qfd, buf, (size_t)n, MSG_DONTWAIT) < 0) {
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		atomic_fetch_add(&r->datagrams, 1);
	}
	return true;
}

static void *worker_thread(void *arg)
{
	struct relay_worker *w = arg;
	struct epoll_event *got = calloc(WORKER_EVENTS, sizeof(*got));
	while (got && !atomic_load(&w->stop)) {
		int n = epoll_wait(w->ep, got, WORKER_EVENTS, -1);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct verdict_relay *r = got[i].data.ptr;
			if (!r) {
				uint64_t v;
				(void)!read(w->wake, &v, sizeof(v));
				continue;
			}
			/* The container is gone: its relay is closed soon. */
			if (!relay_ready(r, w->buf, sizeof(w->buf)))
				epoll_ctl(w->ep, EPOLL_CTL_DEL, r->chan, NULL);
		}
		/* No event of this round is looked at any more: a relay taken
		 * out of ep before the round began may now be freed. */
		pthread_mutex_lock(&w->mu);
		w->rounds++;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	free(got);
	pthread_mutex_lock(&w->mu);
	w->dead = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void worker_free(struct relay_worker *w)
{
	if (w->ep >= 0)
		close(w->ep);
	if (w->wake >= 0)
		close(w->wake);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* Starts a worker placed as sched says in *ret. Returns 0 or a negative
 * errno with err. */
static int worker_new(const char *user, const struct verdict_relay_sched *sched,
                      struct relay_worker **ret, char *err, size_t errlen)
{
	struct relay_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	w->cpu = sched->cpu;
	w->rt_priority = sched->rt_priority;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (w->ep < 0 || w->wake < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake, &ev) < 0) {
		int r = err_set(err, errlen, -errno, "verdict relay: %s", strerror(errno));
		worker_free(w);
		return r;
	}
	/* The relay is on the packet path: it runs where the containers run. */
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
	int r = -pthread_create(&w->thread, &attr, worker_thread, w);
	if (r == -EPERM && sched->rt_priority > 0) {
		/* No real-time budget here (a cgroup's): run it as the rest. */
		log_warn("verdict relay for %s: SCHED_FIFO %d refused, runs at normal priority",
		         user, sched->rt_priority);
		pthread_attr_setinheritsched(&attr, PTHREAD_INHERIT_SCHED);
		r = -pthread_create(&w->thread, &attr, worker_thread, w);
	}
	pthread_attr_destroy(&attr);
	if (r < 0) {
		err_set(err, errlen, r, "verdict relay thread: %s", strerror(-r));
		worker_free(w);
		return r;
	}
	char name[32];
	if (sched->cpu >= 0)
		snprintf(name, sizeof(name), "nsrelay-c%u", (unsigned)sched->cpu % 100000u);
	else
		snprintf(name, sizeof(name), "nsrelay-any");
	name[15] = '\0'; /* a thread's name: 15 bytes */
	pthread_setname_np(w->thread, name);
	*ret = w;
	return 0;
}

/* Stores in *ret the worker for a relay placed as sched says: the one of
 * its CPU and priority; unpinned, the least used of up to one per online
 * CPU. Counts the new user. Returns 0 or a negative errno with err. */
static int worker_get(const char *user, const struct verdict_relay_sched *sched,
                      struct relay_worker **ret, char *err, size_t errlen)
{
	int r = 0;
	pthread_mutex_lock(&g_workers_lock);
	struct relay_worker *best = NULL;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN), same = 0;
	for (struct relay_worker *w = g_workers; w; w = w->next) {
		if (w->rt_priority != sched->rt_priority ||
		    w->cpu != (sched->cpu >= 0 ? sched->cpu : -1))
			continue;
		same++;
		if (!best || w->users < best->users)
			best = w;
	}
	if (best && sched->cpu < 0 && best->users > 0 && same < cpus)
		best = NULL; /* another unpinned worker, up to one per CPU */
	if (!best) {
		struct verdict_relay_sched s = *sched;
		if (s.cpu < 0)
			s.cpu = -1;
		r = worker_new(user, &s, &best, err, errlen);
		if (r == 0) {
			best->next = g_workers;
			g_workers = best;
		}
	}
	if (r == 0) {
		best->users++;
		*ret = best;
	}
	pthread_mutex_unlock(&g_workers_lock);
	return r;
}

/* Drops a user of w; the last one stops the thread and frees it. */
static void worker_put(struct relay_worker *w)
{
	pthread_mutex_lock(&g_workers_lock);
	if (--w->users == 0) {
		for (struct relay_worker **pp = &g_workers; *pp; pp = &(*pp)->next) {
			if (*pp == w) {
				*pp = w->next;
				break;
			}
		}
		atomic_store(&w->stop, true);
		uint64_t one = 1;
		(void)!write(w->wake, &one, sizeof(one));
		pthread_join(w->thread, NULL);
		worker_free(w);
	}
	pthread_mutex_unlock(&g_workers_lock);
}

/* Takes r's channel out of its worker and waits until the worker can no
 * longer be looking at r (one round that began after the removal). */
static void worker_forget(struct relay_worker *w, struct verdict_relay *r)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, r->chan, NULL);
	pthread_mutex_lock(&w->mu);
	uint64_t until = w->rounds + 1;
	uint64_t one = 1;
	(void)!write(w->wake, &one, sizeof(one));
	while (w->rounds < until && !w->dead)
		pthread_cond_wait(&w->cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
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
	int *fds[] = {&r->qfd, &r->chan, &r->note};
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
	/* Parked: the kernel accepts the queue's packets (fail-open) until the
	 * container is ready to drain it (verdict_relay_arm). */
	struct nfq_config cfg = {
	        .queues = &queue, .n_queues = 1, .batch = sched->batch, .parked = true};
	int sv[2] = {-1, -1}, r;
	fds[0] = fds[1] = -1;
	struct verdict_relay *vr = calloc(1, sizeof(*vr));
	if (!vr)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	vr->loop = loop;
	vr->queue = queue;
	vr->chan = vr->note = -1;
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
	vr->note = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vr->note < 0 || shutdown(vr->chan, SHUT_WR) < 0) {
		r = err_set(err, errlen, -errno, "verdict channel: %s", strerror(errno));
		goto fail;
	}
	fds[0] = fcntl(vr->qfd, F_DUPFD_CLOEXEC, 3);
	if (fds[0] < 0) {
		r = err_set(err, errlen, -errno, "fcntl: %s", strerror(errno));
		goto fail;
	}
	if ((r = evloop_add_fd(loop, vr->note, EPOLLIN, on_note, vr)) < 0) {
		err_set(err, errlen, r, "watching the verdict relay: %s", strerror(-r));
		goto fail;
	}
	if ((r = worker_get(user, sched, &vr->w, err, errlen)) < 0) {
		evloop_del_fd(loop, vr->note);
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = vr};
	if (epoll_ctl(vr->w->ep, EPOLL_CTL_ADD, vr->chan, &ev) < 0) {
		r = err_set(err, errlen, -errno, "verdict relay: %s", strerror(errno));
		worker_put(vr->w);
		evloop_del_fd(loop, vr->note);
		goto fail;
	}
	fds[1] = sv[1];
	*ret = vr;
	return 0;
fail:
	if (fds[0] >= 0)
		close(fds[0]);
	fds[0] = -1;
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	fds_close(vr);
	free(vr);
	return r;
}

int verdict_relay_arm(struct verdict_relay *r, char *err, size_t errlen)
{
	struct nfq_config cfg = {.queues = &r->queue, .n_queues = 1};
	return nfq_queue_unpark(r->qfd, &cfg, err, errlen);
}

struct verdict_relay *verdict_relay_close(struct verdict_relay *r)
{
	if (!r)
		return NULL;
	worker_forget(r->w, r);
	worker_put(r->w);
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
