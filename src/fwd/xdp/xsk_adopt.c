/* Adopting an AF_XDP socket made by another process: the container's side
 * of sockets that netservd creates (docs/xdp.md). Raw AF_XDP calls: libxdp's
 * xsk API only maps the rings of sockets it creates itself. */
#include <errno.h>
#include <linux/if_xdp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fwd/xdp/xsk.h"
#include "fwd/xdp/xsk_int.h"

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Maps one ring of n entries of `esize` bytes at page offset pgoff. */
static void *map_ring(int fd, const struct xdp_ring_offset *o, size_t esize, off_t pgoff,
                      size_t *len)
{
	*len = o->desc + (size_t)RING * esize;
	void *p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
	return p == MAP_FAILED ? NULL : p;
}

/* Points ring r (an xsk_ring_prod or xsk_ring_cons: the same layout) into its
 * mapping; a producer's free count starts a full ring ahead (as libxdp does). */
#define RING_INIT(r, map, o, producer_side)                                                        \
	do {                                                                                       \
		(r)->mask = RING - 1;                                                              \
		(r)->size = RING;                                                                  \
		(r)->producer = (__u32 *)((char *)(map) + (o)->producer);                          \
		(r)->consumer = (__u32 *)((char *)(map) + (o)->consumer);                          \
		(r)->ring = (char *)(map) + (o)->desc;                                             \
		(r)->flags = (__u32 *)((char *)(map) + (o)->flags);                                \
		(r)->cached_prod = __atomic_load_n((r)->producer, __ATOMIC_ACQUIRE);               \
		(r)->cached_cons = __atomic_load_n((r)->consumer, __ATOMIC_ACQUIRE) +              \
		                   ((producer_side) ? RING : 0);                                   \
	} while (0)

int nsxsk_adopt(int xsk_fd, int umem_fd, struct nsxsk **ret, char *err, size_t errlen)
{
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	struct stat st;
	int r;

	if (fstat(umem_fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size != (size_t)N_FRAMES * FRAME_SIZE) {
		seterr(err, errlen, "the UMEM is %lld bytes, not %zu", (long long)st.st_size,
		       (size_t)N_FRAMES * FRAME_SIZE);
		return -EINVAL;
	}
	if (getsockopt(xsk_fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0) {
		r = -errno;
		seterr(err, errlen, "not an AF_XDP socket: %s", strerror(-r));
		return r;
	}
	struct nsxsk *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->fd = -1;
	x->umem_fd = -1;
	x->buf = mmap(NULL, (size_t)N_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	              umem_fd, 0);
	if (x->buf == MAP_FAILED) {
		r = -errno;
		x->buf = NULL;
		seterr(err, errlen, "mapping the UMEM: %s", strerror(-r));
		goto fail;
	}
	x->maps[0] =
	        map_ring(xsk_fd, &off.fr, sizeof(__u64), XDP_UMEM_PGOFF_FILL_RING, &x->map_len[0]);
	x->maps[1] = map_ring(xsk_fd, &off.cr, sizeof(__u64), XDP_UMEM_PGOFF_COMPLETION_RING,
	                      &x->map_len[1]);
	x->maps[2] = map_ring(xsk_fd, &off.rx, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING,
	                      &x->map_len[2]);
	x->maps[3] = map_ring(xsk_fd, &off.tx, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING,
	                      &x->map_len[3]);
	for (int i = 0; i < 4; i++)
		if (!x->maps[i]) {
			r = -errno;
			seterr(err, errlen, "mapping the socket's rings: %s", strerror(-r));
			goto fail;
		}
	RING_INIT(&x->fill, x->maps[0], &off.fr, 1);
	RING_INIT(&x->comp, x->maps[1], &off.cr, 0);
	RING_INIT(&x->rx, x->maps[2], &off.rx, 0);
	RING_INIT(&x->tx, x->maps[3], &off.tx, 1);
	for (uint32_t i = 0; i < TX_FRAMES; i++)
		x->free_tx[x->n_free_tx++] = (uint64_t)(RX_FRAMES + i) * FRAME_SIZE;
	x->fd = xsk_fd;
	x->umem_fd = umem_fd;
	*ret = x;
	return 0;
fail:
	nsxsk_close(x); /* fd and umem_fd are -1: the caller keeps them */
	return r;
}
