/* Inside an AF_XDP socket of xsk.c: shared by xsk.c (sockets made here) and
 * xsk_adopt.c (sockets made by another process and handed over). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include "fwd/xdp/xsk.h"

#define FRAME_SIZE NSXSK_FRAME_SIZE
#define RX_FRAMES  2048u /* all in the fill ring at the start */
#define TX_FRAMES  2048u
#define N_FRAMES   (RX_FRAMES + TX_FRAMES)
#define RING       2048u

struct nsxsk {
	struct xsk_umem *umem;  /* NULL when adopted */
	struct xsk_socket *xsk; /* NULL when adopted */
	int fd;                 /* the socket */
	int umem_fd;            /* the UMEM's memfd */
	void *maps[4];          /* adopted: the rings' mappings (fill, comp, rx, tx) */
	size_t map_len[4];
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	uint8_t *buf;
	uint64_t free_tx[TX_FRAMES]; /* a stack of free transmit frames */
	uint32_t n_free_tx;
	uint32_t tx_outstanding;
	struct nsxsk_stats st;
};
