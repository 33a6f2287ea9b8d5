/* One AF_XDP socket bound to an interface queue, with a UMEM of its own
 * (libxdp's xsk API): the fill ring kept full of free frames, batched
 * receive, batched transmit of copies with completions reclaimed. Copy mode
 * (XDP_COPY): what veth and drivers without zero-copy support offer. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct nsxsk;

/* The size of one UMEM frame: a received frame's data may grow to
 * NSXSK_FRAME_SIZE - room bytes in place. */
#define NSXSK_FRAME_SIZE 2048u

/* A received frame: its bytes stay valid until nsxsk_rx_release(). */
struct nsxsk_frame {
	uint8_t *data;
	uint32_t len;
	uint32_t room; /* bytes of headroom before data (the XDP metadata's room) */
	uint64_t addr; /* the UMEM address, for nsxsk_rx_release */
};

/* Counters of one socket. */
struct nsxsk_stats {
	uint64_t rx, tx, tx_full;                      /* ours */
	uint64_t rx_dropped, rx_ring_full, fill_empty; /* the kernel's (XDP_STATISTICS) */
};

/* Creates the UMEM and the socket on ifname's queue `queue`, in copy mode;
 * loads no XDP program (the caller's puts the socket in its XSKMAP). Returns
 * 0 and *ret, or a negative errno with the reason in err. */
int nsxsk_open(const char *ifname, uint32_t queue, struct nsxsk **ret, char *err, size_t errlen);

/* The socket's descriptor: for the XSKMAP, and for poll(). */
int nsxsk_fd(const struct nsxsk *x);

/* The UMEM's memfd: with nsxsk_fd, what another process needs to adopt the
 * socket (nsxsk_adopt). */
int nsxsk_umem_fd(const struct nsxsk *x);

/* Takes over, in another process, a socket that nsxsk_open made: maps the
 * UMEM (umem_fd) and the socket's four rings (xsk_fd), both received from
 * the maker (SCM_RIGHTS, or inherited). Needs no capability. The maker must
 * not use the socket's rings any more; the fill ring is as nsxsk_open left
 * it (all receive frames in it) and every transmit frame is free. On
 * success the descriptors belong to *ret (nsxsk_close closes them); on
 * failure they stay the caller's. Returns 0 or a negative errno with the
 * reason in err. */
int nsxsk_adopt(int xsk_fd, int umem_fd, struct nsxsk **ret, char *err, size_t errlen);

/* Takes up to n received frames from the rx ring into out[]. Returns how many. */
unsigned nsxsk_rx(struct nsxsk *x, struct nsxsk_frame *out, unsigned n);

/* Gives n received frames back to the kernel (the fill ring). */
void nsxsk_rx_release(struct nsxsk *x, const struct nsxsk_frame *f, unsigned n);

/* Queues copies of n frames for transmission and kicks the kernel. Returns how
 * many were queued (fewer when the tx ring or the free frames run out). */
unsigned nsxsk_tx_copy(struct nsxsk *x, const struct nsxsk_frame *f, unsigned n);

/* Takes back completed transmissions and asks the kernel to send what is
 * still queued (copy mode sends only when asked). */
void nsxsk_tx_kick(struct nsxsk *x);

/* The rx ring's producer (the kernel's) and consumer (the reader's)
 * indexes as last published: for a watcher in the process that made the
 * socket while another process reads it (netservd's watchdog). */
void nsxsk_rx_ring_state(const struct nsxsk *x, uint32_t *ret_prod, uint32_t *ret_cons);

/* Reads the counters. Returns 0 or a negative errno. */
int nsxsk_get_stats(struct nsxsk *x, struct nsxsk_stats *ret);

/* Closes the socket and frees the UMEM. NULL is a no-op. */
void nsxsk_close(struct nsxsk *x);
