/* The NFQUEUE packet loop (see nfq.h). */
#include "fwd/nfq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "lib/errbuf.h"
#include "lib/util.h"

#define RCVBUF_DEFAULT           (8u << 20)
#define SNDBUF                   (1u << 20)
#define SEND_BUF                 NFQ_VERDICT_DGRAM_MAX /* verdict messages per send, at most */
#define SLOT_EXTRA               2048 /* netlink and attribute headers around a packet */
#define NFQ_QUEUE_MAXLEN_DEFAULT 1024 /* the kernel's NFQNL_QMAX_DEFAULT */

/* One packet of the current round, waiting for its verdict. */
struct pending {
	uint32_t id;
	uint16_t queue;
	uint8_t verdict; /* enum nfq_verdict */
	uint32_t len;    /* NFQ_MODIFIED: the new length */
	uint8_t *data;   /* NFQ_MODIFIED: the new bytes (in the receive slot) */
};

struct nfq_loop {
	struct mnl_socket *nl; /* NULL when adopted (nfq_loop_adopt()) */
	int fd;
	int verdict_fd; /* adopted: verdicts go here instead of on fd; else -1 */
	nfq_packet_fn *fn;
	void *ctx;
	unsigned batch;
	enum nfq_send_mode send_mode;
	uint16_t queues[NFQ_MAX_QUEUES];
	uint32_t last_id[NFQ_MAX_QUEUES]; /* to count gaps */
	size_t n_queues;
	size_t slot_size;
	uint8_t *slots; /* batch receive buffers of slot_size each */
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct pending *pend;
	size_t n_pend, max_pend;
	char *sbuf; /* verdict messages being built */
	size_t sbuf_len;
	struct nfq_stats st;
};

/* ---- configuration -------------------------------------------------------- */

/* Sends one config message with an ACK request and waits for the ACK. */
static int config_send(struct mnl_socket *nl, struct nlmsghdr *nlh, uint32_t seq)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	unsigned portid = mnl_socket_get_portid(nl);

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (r < 0)
			return errno ? -errno : -EPROTO;
		if (r == MNL_CB_STOP || r == MNL_CB_OK)
			return 0;
	}
}

static int queue_setup(struct mnl_socket *nl, uint16_t num, const struct nfq_config *cfg,
                       uint32_t *seq, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int r;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	if ((r = config_send(nl, nlh, ++*seq)) < 0) {
		if (r == -EBUSY)
			return err_set(err, errlen, r, "queue %u is bound by another process", num);
		if (r == -EPERM)
			return err_set(err, errlen, r,
			               "binding queue %u: not permitted (needs CAP_NET_ADMIN)",
			               num);
		return err_set(err, errlen, r, "binding queue %u: %s", num, strerror(-r));
	}

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, num);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET,
	                         (int)(cfg->copy_range ? cfg->copy_range : NFQ_COPY_MAX));
	uint32_t flags = cfg->no_fail_open ? 0 : NFQA_CFG_F_FAIL_OPEN;
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
	if (cfg->parked)
		nfq_nlmsg_cfg_put_qmaxlen(nlh, 0); /* full: every packet fails open */
	else if (cfg->queue_maxlen)
		nfq_nlmsg_cfg_put_qmaxlen(nlh, cfg->queue_maxlen);
	if ((r = config_send(nl, nlh, ++*seq)) < 0)
		return err_set(err, errlen, r, "configuring queue %u: %s", num, strerror(-r));
	return 0;
}

static void set_buffer(int fd, int force_opt, int opt, uint32_t bytes)
{
	int v = (int)bytes;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static int config_check(const struct nfq_config *cfg, nfq_packet_fn *fn, bool need_fn, char *err,
                        size_t errlen)
{
	if (!cfg || (need_fn && !fn) || cfg->n_queues == 0 || cfg->n_queues > NFQ_MAX_QUEUES ||
	    !cfg->queues)
		return err_set(err, errlen, -EINVAL, "want 1..%d queues and a callback",
		               NFQ_MAX_QUEUES);
	if (cfg->batch > NFQ_MAX_BATCH)
		return err_set(err, errlen, -EINVAL, "batch %u is over %d", cfg->batch,
		               NFQ_MAX_BATCH);
	if (cfg->copy_range > NFQ_COPY_MAX)
		return err_set(err, errlen, -EINVAL, "copy range %u is over %d", cfg->copy_range,
		               NFQ_COPY_MAX);
	for (size_t i = 0; i < cfg->n_queues; i++)
		for (size_t j = 0; j < i; j++)
			if (cfg->queues[i] == cfg->queues[j])
				return err_set(err, errlen, -EINVAL, "queue %u given twice",
				               cfg->queues[i]);
	return 0;
}

/* Opens the netlink socket, binds and configures the queues of cfg, and makes
 * it non-blocking. Returns 0 with the socket in *ret, or a negative errno. */
static int socket_open(const struct nfq_config *cfg, struct mnl_socket **ret, char *err,
                       size_t errlen)
{
	uint32_t seq = (uint32_t)time(NULL);
	int r;
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		return err_set(err, errlen, -errno, "netlink socket: %s", strerror(errno));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return err_set(err, errlen, r, "netlink bind: %s", strerror(-r));
	}
	int fd = mnl_socket_get_fd(nl);
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, cfg->rcvbuf ? cfg->rcvbuf : RCVBUF_DEFAULT);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, SNDBUF);
	for (size_t i = 0; i < cfg->n_queues; i++) {
		if ((r = queue_setup(nl, cfg->queues[i], cfg, &seq, err, errlen)) < 0) {
			mnl_socket_close(nl);
			return r;
		}
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		mnl_socket_close(nl);
		return err_set(err, errlen, r, "fcntl: %s", strerror(-r));
	}
	*ret = nl;
	return 0;
}

/* Allocates a loop for cfg (checked) with its buffers; no socket yet. */
static struct nfq_loop *loop_new(const struct nfq_config *cfg, nfq_packet_fn *fn, void *ctx)
{
	struct nfq_loop *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->fd = -1;
	q->verdict_fd = -1;
	q->fn = fn;
	q->ctx = ctx;
	q->batch = cfg->batch ? cfg->batch : NFQ_DEFAULT_BATCH;
	q->send_mode = cfg->send_mode;
	q->n_queues = cfg->n_queues;
	memcpy(q->queues, cfg->queues, cfg->n_queues * sizeof(q->queues[0]));
	uint32_t copy = cfg->copy_range ? cfg->copy_range : NFQ_COPY_MAX;
	q->slot_size = ((size_t)copy + SLOT_EXTRA + 7) & ~(size_t)7;
	q->max_pend = 2 * (size_t)q->batch;
	q->slots = malloc(q->slot_size * q->batch);
	q->msgs = calloc(q->batch, sizeof(*q->msgs));
	q->iov = calloc(q->batch, sizeof(*q->iov));
	q->pend = calloc(q->max_pend, sizeof(*q->pend));
	q->sbuf = malloc(SEND_BUF);
	if (!q->slots || !q->msgs || !q->iov || !q->pend || !q->sbuf)
		return nfq_loop_close(q);
	return q;
}

int nfq_loop_open(const struct nfq_config *cfg, nfq_packet_fn *fn, void *ctx, struct nfq_loop **ret,
                  char *err, size_t errlen)
{
	int r = config_check(cfg, fn, true, err, errlen);
	if (r < 0)
		return r;
	struct nfq_loop *q = loop_new(cfg, fn, ctx);
	if (!q)
		return err_set(err, errlen, -ENOMEM, "out of memory");
	if ((r = socket_open(cfg, &q->nl, err, errlen)) < 0) {
		nfq_loop_close(q);
		return r;
	}
	q->fd = mnl_socket_get_fd(q->nl);
	*ret = q;
	return 0;
}

int nfq_queue_bind(const struct nfq_config *cfg, char *err, size_t errlen)
{
	struct mnl_socket *nl;
	int r = config_check(cfg, NULL, false, err, errlen);
	if (r == 0 && cfg->parked && cfg->no_fail_open)
		r = err_set(err, errlen, -EINVAL, "a parked queue needs fail-open");
	if (r < 0 || (r = socket_open(cfg, &nl, err, errlen)) < 0)
		return r;
	/* libmnl's handle owns its fd: keep a duplicate, close the handle. */
	int fd = fcntl(mnl_socket_get_fd(nl), F_DUPFD_CLOEXEC, 3);
	r = -errno;
	mnl_socket_close(nl);
	if (fd < 0)
		return err_set(err, errlen, r, "fcntl: %s", strerror(-r));
	return fd;
}

int nfq_queue_unpark(int fd, const struct nfq_config *cfg, char *err, size_t errlen)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int r = config_check(cfg, NULL, false, err, errlen);
	if (r < 0)
		return r;
	for (size_t i = 0; i < cfg->n_queues; i++) {
		struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, cfg->queues[i]);
		nfq_nlmsg_cfg_put_qmaxlen(nlh, cfg->queue_maxlen ? cfg->queue_maxlen
		                                                 : NFQ_QUEUE_MAXLEN_DEFAULT);
		nlh->nlmsg_seq = (uint32_t)time(NULL);
		struct sockaddr_nl to = {.nl_family = AF_NETLINK};
		if (sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
			return err_set(err, errlen, -errno, "queue %u: setting its length: %s",
			               cfg->queues[i], strerror(errno));
	}
	return 0;
}

int nfq_loop_adopt(const struct nfq_config *cfg, int nl_fd, int verdict_fd, nfq_packet_fn *fn,
                   void *ctx, struct nfq_loop **ret, char *err, size_t errlen)
{
	int r = config_check(cfg, fn, true, err, errlen);
	if (r == 0 && (nl_fd < 0 || verdict_fd < 0))
		r = err_set(err, errlen, -EBADF, "no queue socket or verdict channel");
	if (r < 0) {
		if (nl_fd >= 0)
			close(nl_fd);
		if (verdict_fd >= 0)
			close(verdict_fd);
		return r;
	}
	struct nfq_loop *q = loop_new(cfg, fn, ctx);
	if (!q) {
		close(nl_fd);
		close(verdict_fd);
		return err_set(err, errlen, -ENOMEM, "out of memory");
	}
	q->fd = nl_fd;
	q->verdict_fd = verdict_fd;
	*ret = q;
	return 0;
}

struct nfq_loop *nfq_loop_close(struct nfq_loop *q)
{
	if (!q)
		return NULL;
	if (q->nl)
		mnl_socket_close(q->nl);
	else if (q->fd >= 0)
		close(q->fd);
	if (q->verdict_fd >= 0)
		close(q->verdict_fd);
	free(q->slots);
	free(q->msgs);
	free(q->iov);
	free(q->pend);
	free(q->sbuf);
	free(q);
	return NULL;
}

int nfq_loop_fd(const struct nfq_loop *q)
{
	return q->fd;
}

void nfq_loop_stats(const struct nfq_loop *q, struct nfq_stats *ret)
{
	*ret = q->st;
}

/* ---- verdicts ------------------------------------------------------------- */

static int send_flush(struct nfq_loop *q)
{
	if (q->sbuf_len == 0)
		return 0;
	size_t len = q->sbuf_len;
	q->sbuf_len = 0;
	q->st.sends++;
	for (;;) {
		/* Adopted: one datagram to the queue's owner, which relays it
		 * (blocking: a slow relay holds the loop back, it loses nothing). */
		ssize_t n = q->verdict_fd >= 0 ? send(q->verdict_fd, q->sbuf, len, MSG_NOSIGNAL)
		                               : mnl_socket_sendto(q->nl, q->sbuf, len);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Appends a verdict message (VERDICT or VERDICT_BATCH) to the send buffer,
 * flushing first if it would not fit. */
static int send_add(struct nfq_loop *q, int type, uint16_t queue, uint32_t id, int verdict,
                    const uint8_t *data, uint32_t len)
{
	size_t need = MNL_ALIGN(sizeof(struct nlmsghdr)) + MNL_ALIGN(sizeof(struct nfgenmsg)) +
	              MNL_ALIGN(sizeof(struct nlattr) + sizeof(struct nfqnl_msg_verdict_hdr)) +
	              (data ? MNL_ALIGN(sizeof(struct nlattr) + len) : 0);
	int r;

	if (q->sbuf_len + need > SEND_BUF && (r = send_flush(q)) < 0)
		return r;
	struct nlmsghdr *nlh = nfq_nlmsg_put(q->sbuf + q->sbuf_len, type, queue);
	nfq_nlmsg_verdict_put(nlh, (int)id, verdict);
	if (data)
		nfq_nlmsg_verdict_put_pkt(nlh, data, len);
	q->sbuf_len += nlh->nlmsg_len;
	q->st.verdict_msgs++;
	if (q->send_mode == NFQ_SEND_EACH)
		return send_flush(q);
	return 0;
}

/* Sends the verdicts of the round, queue by queue in id order. */
static int send_verdicts(struct nfq_loop *q)
{
	int r = 0;

	for (size_t qi = 0; qi < q->n_queues; qi++) {
		uint16_t queue = q->queues[qi];
		/* The current run of equal plain verdicts on this queue. */
		int run_verdict = -1;
		uint32_t run_last = 0, run_n = 0;

		for (size_t i = 0; i <= q->n_pend; i++) {
			struct pending *p = i < q->n_pend ? &q->pend[i] : NULL;
			if (p && p->queue != queue)
				continue;
			int v = !p ? -1 : p->verdict == NFQ_DROP ? NF_DROP : NF_ACCEPT;
			bool plain = p && p->verdict != NFQ_MODIFIED;
			/* End the run when this packet cannot join it. */
			if (run_n &&
			    (!plain || v != run_verdict || q->send_mode != NFQ_SEND_BATCH)) {
				int type = run_n > 1 ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT;
				if ((r = send_add(q, type, queue, run_last, run_verdict, NULL, 0)) <
				    0)
					goto out;
				run_n = 0;
			}
			if (!p)
				break;
			if (plain) {
				run_verdict = v;
				run_last = p->id;
				run_n++;
			} else if ((r = send_add(q, NFQNL_MSG_VERDICT, queue, p->id, NF_ACCEPT,
			                         p->data, p->len)) < 0) {
				goto out;
			}
		}
	}
	r = send_flush(q);
out:
	q->n_pend = 0;
	q->sbuf_len = 0;
	return r;
}

/* ---- receiving ------------------------------------------------------------ */

static int queue_index(const struct nfq_loop *q, uint16_t num)
{
	for (size_t i = 0; i < q->n_queues; i++)
		if (q->queues[i] == num)
			return (int)i;
	return -1;
}

/* Handles one packet message: the callback, then a pending verdict. */
static void handle_packet(struct nfq_loop *q, const struct nlmsghdr *nlh, uint8_t *slot_end)
{
	struct nlattr *attr[NFQA_MAX + 1] = {0};
	struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
	struct nfq_pkt_meta meta = {0};

	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return;
	struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	meta.id = ntohl(ph->packet_id);
	meta.hw_proto = ntohs(ph->hw_protocol);
	meta.hook = ph->hook;
	meta.queue = ntohs(nfg->res_id);
	if (attr[NFQA_MARK])
		meta.mark = ntohl(mnl_attr_get_u32(attr[NFQA_MARK]));
	if (attr[NFQA_IFINDEX_INDEV])
		meta.indev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
	if (attr[NFQA_IFINDEX_OUTDEV])
		meta.outdev = ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_OUTDEV]));

	uint8_t *data = slot_end;
	uint32_t len = 0;
	if (attr[NFQA_PAYLOAD]) {
		data = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		len = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	meta.wire_len = len;
	if (attr[NFQA_CAP_LEN]) {
		meta.wire_len = ntohl(mnl_attr_get_u32(attr[NFQA_CAP_LEN]));
		if (meta.wire_len > len)
			q->st.truncated++;
	}
	size_t room = (size_t)(slot_end - data);
	meta.cap = room > NFQ_COPY_MAX ? NFQ_COPY_MAX : (uint32_t)room;

	int qi = queue_index(q, meta.queue);
	if (qi >= 0) {
		/* Ids start at 1 when a queue is bound, and go up by one per
		 * packet the kernel numbers. */
		if (meta.id > q->last_id[qi] + 1)
			q->st.missed += meta.id - q->last_id[qi] - 1;
		q->last_id[qi] = meta.id;
	}
	q->st.packets++;
	q->st.bytes += meta.wire_len;

	uint32_t newlen = len;
	int v = q->fn(q->ctx, data, &newlen, &meta);
	if (v == NFQ_MODIFIED && newlen > meta.cap)
		v = -EMSGSIZE;
	if (v != NFQ_ACCEPT && v != NFQ_DROP && v != NFQ_MODIFIED) {
		q->st.callback_errors++;
		v = NFQ_ACCEPT;
	}
	if (v == NFQ_ACCEPT)
		q->st.accepted++;
	else if (v == NFQ_DROP)
		q->st.dropped++;
	else
		q->st.modified++;

	if (q->n_pend == q->max_pend)
		send_verdicts(q); /* only if one datagram held many packets */
	q->pend[q->n_pend++] = (struct pending){
	        .id = meta.id,
	        .queue = meta.queue,
	        .verdict = (uint8_t)v,
	        .len = newlen,
	        .data = data,
	};
}

/* Walks the netlink messages of one datagram. */
static void handle_datagram(struct nfq_loop *q, uint8_t *buf, size_t n, uint8_t *slot_end)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	int left = (int)n;

	while (mnl_nlmsg_ok(nlh, left)) {
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(*e)) && e->error != 0)
				q->st.verdict_errors++;
		} else if (NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_QUEUE &&
		           NFNL_MSG_TYPE(nlh->nlmsg_type) == NFQNL_MSG_PACKET) {
			handle_packet(q, nlh, slot_end);
		}
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

int nfq_loop_process(struct nfq_loop *q, unsigned budget)
{
	unsigned done = 0;

	for (;;) {
		unsigned want = q->batch;
		if (budget && budget - done < want)
			want = budget - done;
		if (want == 0)
			break;
		for (unsigned i = 0; i < want; i++) {
			q->iov[i].iov_base = q->slots + i * q->slot_size;
			q->iov[i].iov_len = q->slot_size;
			q->msgs[i].msg_hdr =
			        (struct msghdr){.msg_iov = &q->iov[i], .msg_iovlen = 1};
			q->msgs[i].msg_len = 0;
		}
		int n = recvmmsg(q->fd, q->msgs, want, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				q->st.enobufs++;
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		q->st.rounds++;
		unsigned before = (unsigned)q->st.packets;
		for (int i = 0; i < n; i++) {
			uint8_t *slot = q->slots + (size_t)i * q->slot_size;
			handle_datagram(q, slot, q->msgs[i].msg_len, slot + q->slot_size);
		}
		done += (unsigned)q->st.packets - before;
		int r = send_verdicts(q);
		if (r < 0 && r != -ENOBUFS && r != -ENOMEM)
			return r;
		if ((unsigned)n < want)
			break; /* drained */
	}
	return (int)done;
}
