/* uplk.h: the few C helpers the Go binding needs where DPDK offers only
 * macros, inline functions with awkward types, or per-packet loops that must
 * not cross the cgo boundary once per packet. No policy lives here. */
#ifndef UPLK_H
#define UPLK_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ethdev.h>
#include <rte_dev.h>
#include <rte_bus.h>
#include <rte_ring.h>
#include <rte_eth_vhost.h>

#define UPLK_BURST 32

/* One rx queue polled by uplk_step. Go sets max (0 skips the queue this
 * step: back-pressure); C writes n. */
struct uplk_rxq {
	uint16_t port;
	uint16_t queue;
	uint16_t max;
	uint16_t n;
};

/* A bounded software tx queue in front of one (port, queue). Go appends at
 * tail, C transmits from head; both run on the same worker thread, so the
 * indexes need no synchronisation. Indexes run free; slot = index & mask. */
struct uplk_txq {
	uint16_t port;
	uint16_t queue;
	uint32_t mask;
	uint32_t head;
	uint32_t tail;
	struct rte_mbuf **ring;
};

/* Everything one worker hands to C per loop iteration. Only the queues
 * listed in rxon and txon are polled and flushed: a worker has queues for
 * every VM slot, most of them free. */
struct uplk_io {
	uint16_t nrx;
	uint16_t ntx;
	uint16_t nrxon;
	uint16_t ntxon;
	uint16_t *rxon;
	uint16_t *txon;
	uint32_t nfree;
	uint32_t freecap;
	uint32_t txsent;     /* accepted by PMDs in the last step */
	uint64_t tsc;        /* TSC when the last step started */
	struct uplk_rxq *rx;
	struct rte_mbuf **rxbuf; /* nrx * UPLK_BURST slots */
	struct uplk_txq *tx;
	struct rte_mbuf **freebuf;
};

int uplk_errno(void);
int uplk_eal_init(int argc, char **argv, int *err);
uint16_t uplk_step(struct uplk_io *io);
unsigned uplk_flush(struct uplk_io *io);
void uplk_free_pending(struct uplk_io *io);
int uplk_port_setup(uint16_t port, uint16_t nrxq, uint16_t ntxq, uint16_t nb_desc,
		    struct rte_mempool *mp, uint16_t mtu, int *err);
int uplk_port_mtu_max(uint16_t port, uint32_t *mtu, uint32_t *max_frame, const char **driver);
int uplk_port_by_name(const char *name, uint16_t *port);
int uplk_dev_probe(const char *devargs, int *err);
int uplk_port_detach(uint16_t port);
int uplk_launch(unsigned lcore, uintptr_t handle);
int uplk_thread_register(void);
int uplk_event_fd(void);
int uplk_events_register(uint16_t port);
int uplk_events_unregister(uint16_t port);
int uplk_event_pop(uint16_t *port, uint32_t *type);
int uplk_link_poll_start(const uint16_t *ports, int n, uint64_t us);
void uplk_link_poll_stop(void);
struct rte_mempool *uplk_pool_create(const char *name, unsigned n, unsigned cache,
				     uint16_t dataroom, int socket, int *err);
uint32_t uplk_pool_in_use(struct rte_mempool *mp);
int uplk_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **m, unsigned n);
void uplk_free_bulk(struct rte_mbuf **m, unsigned n);
void uplk_set_len(struct rte_mbuf *m, uint16_t len);
uint64_t uplk_tsc(void);
uint64_t uplk_tsc_hz(void);
uint16_t uplk_refcnt_offset(void);

#endif
