/* AF_XDP sockets with libxdp's xsk API. */
#include "fwd/xdp/xsk.h"
#include "fwd/xdp/xsk_int.h"
#include "fwd/xdp/xdp_abi.h"

#include <errno.h>
#include <linux/if_xdp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/xsk.h>

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int nsxsk_open(const char *ifname, uint32_t queue, struct nsxsk **ret, char *err, size_t errlen)
{
	struct nsxsk *x = calloc(1, sizeof(*x));
	int r;

	if (!x)
		return -ENOMEM;
	/* The UMEM in a memfd, so that another process (the publisher's
	 * container) can map the same frames (nsxsk_adopt). */
	x->fd = -1;
	x->umem_fd = memfd_create("netserv-umem", MFD_CLOEXEC);
	if (x->umem_fd < 0 || ftruncate(x->umem_fd, (off_t)N_FRAMES * FRAME_SIZE) < 0) {
		r = -errno;
		if (x->umem_fd >= 0)
			close(x->umem_fd);
		free(x);
		seterr(err, errlen, "memfd for the UMEM: %s", strerror(-r));
		return r;
	}
	x->buf = mmap(NULL, (size_t)N_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	              x->umem_fd, 0);
	if (x->buf == MAP_FAILED) {
		r = -errno;
		close(x->umem_fd);
		free(x);
		seterr(err, errlen, "mmap of the UMEM: %s", strerror(-r));
		return r;
	}
	struct xsk_umem_config uc = {.fill_size = RING,
	                             .comp_size = RING,
	                             .frame_size = FRAME_SIZE,
	                             .frame_headroom = 0,
	                             .flags = 0};
	r = xsk_umem__create(&x->umem, x->buf, (uint64_t)N_FRAMES * FRAME_SIZE, &x->fill, &x->comp,
	                     &uc);
	if (r < 0) {
		seterr(err, errlen, "creating the UMEM: %s", strerror(-r));
		goto fail;
	}
	struct xsk_socket_config sc = {.rx_size = RING,
	                               .tx_size = RING,
	                               .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	                               .xdp_flags = 0,
	                               .bind_flags = XDP_COPY};
	r = xsk_socket__create(&x->xsk, ifname, queue, x->umem, &x->rx, &x->tx, &sc);
	if (r < 0) {
		seterr(err, errlen, "AF_XDP socket on %s queue %u: %s", ifname, queue,
		       strerror(-r));
		goto fail;
	}
	x->fd = xsk_socket__fd(x->xsk);
	uint32_t idx = 0; /* libxdp sets it only when it returns a count */
	if (xsk_ring_prod__reserve(&x->fill, RX_FRAMES, &idx) != RX_FRAMES) {
		r = -ENOSPC;
		seterr(err, errlen, "filling the fill ring");
		goto fail;
	}
	for (uint32_t i = 0; i < RX_FRAMES; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = (uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(&x->fill, RX_FRAMES);
	for (uint32_t i = 0; i < TX_FRAMES; i++)
		x->free_tx[x->n_free_tx++] = (uint64_t)(RX_FRAMES + i) * FRAME_SIZE;
	*ret = x;
	return 0;
fail:
	nsxsk_close(x);
	return r;
}

int nsxsk_fd(const struct nsxsk *x)
{
	return x->fd;
}

int nsxsk_umem_fd(const struct nsxsk *x)
{
	return x->umem_fd;
}

unsigned nsxsk_rx(struct nsxsk *x, struct nsxsk_frame *out, unsigned n)
{
	uint32_t idx = 0; /* libxdp sets it only when it returns a count */
	unsigned got = xsk_ring_cons__peek(&x->rx, n, &idx);

	for (unsigned i = 0; i < got; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);
		uint64_t addr = xsk_umem__extract_addr(d->addr) + xsk_umem__extract_offset(d->addr);
		out[i].data = xsk_umem__get_data(x->buf, addr);
		out[i].len = d->len;
		out[i].room = (uint32_t)(addr % FRAME_SIZE);
		out[i].addr = addr;
		/* The program's metadata comes first (netserv_xdp, xdp_abi.h):
		 * the frame starts after it, the metadata is the last bytes of
		 * its room. */
		if (out[i].len >= sizeof(struct netserv_xdp_meta)) {
			out[i].data += sizeof(struct netserv_xdp_meta);
			out[i].len -= (uint32_t)sizeof(struct netserv_xdp_meta);
			out[i].room += (uint32_t)sizeof(struct netserv_xdp_meta);
		}
	}
	if (got)
		xsk_ring_cons__release(&x->rx, got);
	x->st.rx += got;
	return got;
}

void nsxsk_rx_release(struct nsxsk *x, const struct nsxsk_frame *f, unsigned n)
{
	uint32_t idx = 0; /* libxdp sets it only when it returns a count */

	/* The fill ring holds every rx frame, so there is always room. */
	if (xsk_ring_prod__reserve(&x->fill, n, &idx) != n)
		return;
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = f[i].addr - f[i].addr % FRAME_SIZE;
	xsk_ring_prod__submit(&x->fill, n);
}

/* Takes completed transmissions back into the free stack. */
static void reclaim(struct nsxsk *x)
{
	uint32_t idx = 0; /* libxdp sets it only when it returns a count */
	unsigned done = xsk_ring_cons__peek(&x->comp, RING, &idx);

	for (unsigned i = 0; i < done; i++)
		x->free_tx[x->n_free_tx++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
	if (done)
		xsk_ring_cons__release(&x->comp, done);
	x->tx_outstanding -= done;
}

unsigned nsxsk_tx_copy(struct nsxsk *x, const struct nsxsk_frame *f, unsigned n)
{
	uint32_t idx = 0; /* libxdp sets it only when it returns a count */
	unsigned want = n;

	reclaim(x);
	/* A frame larger than ours ends the batch (rx frames never are). */
	for (unsigned i = 0; i < n; i++)
		if (f[i].len > FRAME_SIZE) {
			n = i;
			break;
		}
	if (n > x->n_free_tx)
		n = x->n_free_tx;
	unsigned k = n ? xsk_ring_prod__reserve(&x->tx, n, &idx) : 0;
	for (unsigned i = 0; i < k; i++) {
		uint64_t a = x->free_tx[--x->n_free_tx];
		memcpy(xsk_umem__get_data(x->buf, a), f[i].data, f[i].len);
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&x->tx, idx + i);
		d->addr = a;
		d->len = f[i].len;
		d->options = 0;
	}
	if (k) {
		xsk_ring_prod__submit(&x->tx, k);
		x->tx_outstanding += k;
	}
	x->st.tx += k;
	x->st.tx_full += want - k;
	/* Copy mode transmits only when asked. EAGAIN, EBUSY, ENOBUFS: the
	 * kernel is behind; the frames stay queued for the next kick. */
	if (x->tx_outstanding)
		(void)sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
	return k;
}

void nsxsk_tx_kick(struct nsxsk *x)
{
	reclaim(x);
	if (x->tx_outstanding)
		(void)sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0);
}

void nsxsk_rx_ring_state(const struct nsxsk *x, uint32_t *ret_prod, uint32_t *ret_cons)
{
	*ret_prod = __atomic_load_n(x->rx.producer, __ATOMIC_ACQUIRE);
	*ret_cons = __atomic_load_n(x->rx.consumer, __ATOMIC_ACQUIRE);
}

int nsxsk_get_stats(struct nsxsk *x, struct nsxsk_stats *ret)
{
	struct xdp_statistics s;
	socklen_t len = sizeof(s);

	if (getsockopt(x->fd, SOL_XDP, XDP_STATISTICS, &s, &len) < 0)
		return -errno;
	*ret = x->st;
	ret->rx_dropped = s.rx_dropped;
	ret->rx_ring_full = s.rx_ring_full;
	ret->fill_empty = s.rx_fill_ring_empty_descs;
	return 0;
}

void nsxsk_close(struct nsxsk *x)
{
	if (!x)
		return;
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	else if (x->fd >= 0)
		close(x->fd); /* adopted */
	if (x->umem)
		xsk_umem__delete(x->umem);
	for (int i = 0; i < 4; i++)
		if (x->maps[i])
			munmap(x->maps[i], x->map_len[i]);
	if (x->buf && x->buf != MAP_FAILED)
		munmap(x->buf, (size_t)N_FRAMES * FRAME_SIZE);
	if (x->umem_fd >= 0)
		close(x->umem_fd);
	free(x);
}
