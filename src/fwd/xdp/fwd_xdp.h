/* The AF_XDP forwarding-plane driver (docs/xdp.md): netservd's side of the
 * plane. It attaches the XDP program (netserv_xdp.bpf.o) to every router
 * interface it is given, turns SETUP filters into the program's rules,
 * makes each publisher's AF_XDP sockets (one per interface) for its
 * container to adopt, puts them in the publisher's XSKMAP slot once the
 * container is ready to drain them (fwd_xdp_arm_slot), empties the slot
 * when the container dies, and a watchdog empties it while the container
 * stops draining its receive ring (fail-open: the frames go to the kernel).
 *
 * Slots. filter_add's queue is the publisher's queue number (runtime's
 * queue_base + i); its XSKMAP slot is queue - slot_base, and must be below
 * NETSERV_XDP_MAX_XSKS. One receive queue per interface (veth): a rule
 * redirects rx queue 0 to the slot and passes the other queues' frames.
 *
 * The driver's own state is the rules (filter_add's arguments): they are
 * written to every interface's program as one set.
 *
 * The netfilter driver beside it (fwd_xdp_set_local; netservd's plane has
 * one): what AF_XDP cannot serve goes to it, as NFQUEUE/NFLOG rules that see
 * only the frames the program passed to the kernel: the rules of a queue
 * without a slot (the GIST interception rule), and those of a busy slot (its
 * sockets were refused: another publisher holds the device queue; the
 * publisher's container reads its NFQUEUE queue instead). A slot's rules
 * move to the delegate when it turns busy and back when it gets sockets. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "fwd/fwd.h"

struct evloop;
struct fwd_xdp;

#define FWD_XDP_MAX_IFS 4 /* interfaces; a container gets 2 descriptors per interface */

/* Opens the program object at obj_path and attaches one instance to each of
 * the n interfaces (native XDP, generic when the driver has none). A program
 * of ours that an earlier netservd left on an interface is detached first
 * (replaced, never doubled); a foreign XDP program makes it fail with
 * -EBUSY unless libxdp's dispatcher can share the interface. Stores in
 * *ret_replaced how many of ours it replaced (NULL allowed). Returns 0 and
 * *ret, or a negative errno with the reason in err. */
int fwd_xdp_new(const char *obj_path, const char *const *ifnames, size_t n, uint32_t slot_base,
                struct fwd_xdp **ret, unsigned *ret_replaced, char *err, size_t errlen);

/* Makes ops/local (a netfilter driver; NULL ops: none) serve the rules the
 * program cannot: x then calls its filter_add, sample_add, filter_remove and
 * flush, never frees it, and must be freed first or told NULL before local
 * goes. Without one, filter_add refuses a queue without a slot (-ENOTSUP)
 * and a busy slot's filters (-EBUSY). */
void fwd_xdp_set_local(struct fwd_xdp *x, const struct fwd_ops *ops, void *local);

/* Detaches the programs, closes every socket and frees; NULL allowed.
 * Returns NULL. */
struct fwd_xdp *fwd_xdp_free(struct fwd_xdp *x);

/* Makes the sockets of queue's slot (closing earlier ones): one per
 * interface, not yet in the interface's XSKMAP slot (the slot's frames go
 * to the kernel until fwd_xdp_arm_slot()). Stores in fds[2i],
 * fds[2i + 1] the socket and UMEM descriptors of interface i (netservd keeps
 * them: the caller passes copies and must not close them) and in
 * ifindexes[i] its ifindex, and after the n sockets, in fds[2n], the
 * container's end of the slot's sample channel (-1 if none; netservd keeps
 * it too), on which the samples of the slot's sampling rules come as NFLOG
 * messages (fwd/nflog.h). max: room in ifindexes (fds has 2 * max + 1).
 * Returns the number of sockets or a negative errno with the reason in err;
 * after -EBUSY (the kernel binds one socket per device queue: another
 * publisher's slot has it) the slot's filters go to the netfilter driver
 * beside the plane (without one, filter_add refuses them) until it succeeds;
 * if that driver refuses one of them, none goes there, the slot is not busy
 * (its filters stay with the program: fail-open) and the driver's error is
 * returned instead of -EBUSY. -EAGAIN: the queue is held, but not by another slot (the kernel still
 * releasing this slot's old sockets, or a process outside): the filters stay
 * with the program, whose frames then go to the kernel (fail-open). */
int fwd_xdp_open_slot(struct fwd_xdp *x, unsigned queue, int *fds, int *ifindexes, size_t max,
                      char *err, size_t errlen);

/* The slot's container is ready to drain its sockets (modules installed,
 * loop running): puts each in its interface's XSKMAP slot, all or none, so
 * that the slot's frames go to it from now on, and lets the watchdog watch
 * them. Returns 0 (also when armed already) or a negative errno with the
 * reason in err (-ENOENT: the slot has no sockets). */
int fwd_xdp_arm_slot(struct fwd_xdp *x, unsigned queue, char *err, size_t errlen);

/* The slot's container is gone: empties the slot on every interface at once
 * (its frames go to the kernel) and closes the sockets. No-op for a slot
 * without sockets. */
void fwd_xdp_close_slot(struct fwd_xdp *x, unsigned queue);

/* Starts the watchdog on loop: every period_ms it looks at each socket's
 * receive ring, and a ring with frames waiting whose consumer has not moved
 * for stall_ms gets its slot emptied until the ring is drained. Returns 0 or
 * a negative errno. */
int fwd_xdp_watchdog_start(struct fwd_xdp *x, struct evloop *loop, uint32_t period_ms,
                           uint32_t stall_ms);

/* How many times the watchdog emptied a stalled slot (for tests and status). */
uint64_t fwd_xdp_stalls(const struct fwd_xdp *x);

/* The fwd_ops of this driver; its `fwd` argument is a struct fwd_xdp. */
extern const struct fwd_ops fwd_xdp_ops;
