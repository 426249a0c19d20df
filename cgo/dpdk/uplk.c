#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include "uplk.h"

int uplk_errno(void) { return rte_errno; }

int uplk_eal_init(int argc, char **argv, int *err)
{
	int ret = rte_eal_init(argc, argv);
	*err = ret < 0 ? rte_errno : 0;
	return ret;
}

/* Transmit what each software queue holds, at most in two contiguous
 * chunks (the ring may wrap). What the PMD refuses stays queued. */
static inline uint32_t txq_flush(struct uplk_txq *q)
{
	uint32_t sent = 0;
	while (q->head != q->tail) {
		uint32_t start = q->head & q->mask;
		uint32_t len = q->tail - q->head;
		uint32_t room = q->mask + 1 - start;
		if (len > room)
			len = room;
		if (len > UINT16_MAX)
			len = UINT16_MAX;
		uint16_t n = rte_eth_tx_burst(q->port, q->queue, &q->ring[start], (uint16_t)len);
		q->head += n;
		sent += n;
		if (n < len)
			break;
	}
	return sent;
}

void uplk_free_pending(struct uplk_io *io)
{
	if (io->nfree) {
		rte_pktmbuf_free_bulk(io->freebuf, io->nfree);
		io->nfree = 0;
	}
}

unsigned uplk_flush(struct uplk_io *io)
{
	uint32_t sent = 0;
	for (uint16_t k = 0; k < io->ntxon; k++)
		sent += txq_flush(&io->tx[io->txon[k]]);
	uplk_free_pending(io);
	return sent;
}

/* One worker iteration's I/O in one cgo call: send what the previous
 * iteration queued, free what it dropped, then poll every rx queue. */
uint16_t uplk_step(struct uplk_io *io)
{
	io->tsc = rte_rdtsc();
	io->txsent = uplk_flush(io);
	uint16_t total = 0;
	for (uint16_t k = 0; k < io->nrxon; k++) {
		uint16_t i = io->rxon[k];
		struct uplk_rxq *r = &io->rx[i];
		r->n = 0;
		if (r->max == 0)
			continue;
		r->n = rte_eth_rx_burst(r->port, r->queue, &io->rxbuf[i * UPLK_BURST], r->max);
		total += r->n;
	}
	return total;
}

int uplk_port_setup(uint16_t port, uint16_t nrxq, uint16_t ntxq, uint16_t nb_desc,
		    struct rte_mempool *mp, uint16_t mtu, int *err)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	int ret;

	memset(&conf, 0, sizeof(conf));
	ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0) { *err = -ret; return -1; }
	if (info.dev_flags && (*info.dev_flags & RTE_ETH_DEV_INTR_LSC))
		conf.intr_conf.lsc = 1;
	/* The caller checked mtu against uplk_port_mtu_max: ethdev refuses
	 * one the device cannot carry, and configure fails with EINVAL. */
	conf.rxmode.mtu = mtu;
	ret = rte_eth_dev_configure(port, nrxq, ntxq, &conf);
	if (ret != 0) { *err = -ret; return -2; }
	uint16_t nrx = nb_desc, ntx = nb_desc;
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if (ret != 0) { *err = -ret; return -3; }
	int socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = 0;
	for (uint16_t q = 0; q < nrxq; q++) {
		ret = rte_eth_rx_queue_setup(port, q, nrx, socket, NULL, mp);
		if (ret != 0) { *err = -ret; return -4; }
	}
	for (uint16_t q = 0; q < ntxq; q++) {
		ret = rte_eth_tx_queue_setup(port, q, ntx, socket, NULL);
		if (ret != 0) { *err = -ret; return -5; }
	}
	*err = 0;
	return 0;
}

/* The largest MTU a port carries, by the rule rte_eth_dev_configure checks
 * rxmode.mtu with: at most max_mtu, and MTU plus the device's L2 overhead
 * (max_rx_pktlen - max_mtu when the PMD reports both, else Ethernet header
 * and CRC) at most max_rx_pktlen. */
int uplk_port_mtu_max(uint16_t port, uint32_t *mtu, uint32_t *max_frame, const char **driver)
{
	struct rte_eth_dev_info info;
	int ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0)
		return ret;
	uint32_t overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
	if (info.max_mtu != UINT16_MAX && info.max_rx_pktlen > info.max_mtu)
		overhead = info.max_rx_pktlen - info.max_mtu;
	uint32_t max = info.max_mtu;
	if (info.max_rx_pktlen >= overhead && info.max_rx_pktlen - overhead < max)
		max = info.max_rx_pktlen - overhead;
	*mtu = max;
	*max_frame = info.max_rx_pktlen;
	*driver = info.driver_name;
	return 0;
}

int uplk_port_by_name(const char *name, uint16_t *port)
{
	return rte_eth_dev_get_port_by_name(name, port);
}

int uplk_dev_probe(const char *devargs, int *err)
{
	int ret = rte_dev_probe(devargs);
	*err = ret < 0 ? -ret : 0;
	return ret;
}

/* Close a port and, for hot-plugged devices, remove the device so that a
 * vhost socket or a tap interface disappears with it. */
int uplk_port_detach(uint16_t port)
{
	struct rte_eth_dev_info info;
	struct rte_device *dev = NULL;
	if (rte_eth_dev_info_get(port, &info) == 0)
		dev = info.device;
	rte_eth_dev_stop(port);
	int ret = rte_eth_dev_close(port);
	if (dev)
		ret = rte_dev_remove(dev);
	return ret;
}

/* Link, vhost and removal events arrive on EAL's interrupt thread. They are
 * queued in a ring and announced on an eventfd so that a goroutine can wait
 * on them without polling and without calling into Go from that thread. */
static struct rte_ring *ev_ring;
static int ev_fd = -1;

int uplk_event_fd(void)
{
	if (ev_fd >= 0)
		return ev_fd;
	ev_ring = rte_ring_create("uplk_events", 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
	if (ev_ring == NULL)
		return -1;
	ev_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return ev_fd;
}

static int on_event(uint16_t port, enum rte_eth_event_type type, void *arg, void *out)
{
	(void)arg; (void)out;
	uintptr_t v = ((uintptr_t)type << 16) | port;
	if (ev_ring && rte_ring_enqueue(ev_ring, (void *)(v + 1)) == 0) {
		uint64_t one = 1;
		ssize_t r = write(ev_fd, &one, sizeof(one));
		(void)r;
	}
	return 0;
}

int uplk_events_register(uint16_t port)
{
	int ret = rte_eth_dev_callback_register(port, RTE_ETH_EVENT_INTR_LSC, on_event, NULL);
	if (ret == 0)
		ret = rte_eth_dev_callback_register(port, RTE_ETH_EVENT_INTR_RMV, on_event, NULL);
	return ret;
}

int uplk_events_unregister(uint16_t port)
{
	int ret = rte_eth_dev_callback_unregister(port, RTE_ETH_EVENT_INTR_LSC, on_event, NULL);
	int ret2 = rte_eth_dev_callback_unregister(port, RTE_ETH_EVENT_INTR_RMV, on_event, NULL);
	return ret != 0 ? ret : ret2;
}

int uplk_event_pop(uint16_t *port, uint32_t *type)
{
	void *p;
	if (ev_ring == NULL || rte_ring_dequeue(ev_ring, &p) != 0)
		return 0;
	uintptr_t v = (uintptr_t)p - 1;
	*port = (uint16_t)(v & 0xffff);
	*type = (uint32_t)(v >> 16);
	return 1;
}

struct rte_mempool *uplk_pool_create(const char *name, unsigned n, unsigned cache,
				     uint16_t dataroom, int socket, int *err)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, dataroom, socket);
	*err = mp == NULL ? rte_errno : 0;
	return mp;
}

uint32_t uplk_pool_in_use(struct rte_mempool *mp) { return rte_mempool_in_use_count(mp); }

int uplk_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **m, unsigned n)
{
	return rte_pktmbuf_alloc_bulk(mp, m, n);
}

void uplk_free_bulk(struct rte_mbuf **m, unsigned n) { rte_pktmbuf_free_bulk(m, n); }

void uplk_set_len(struct rte_mbuf *m, uint16_t len)
{
	m->data_len = len;
	m->pkt_len = len;
}

/* rte_errno is thread-local: read it in the call that failed. */
int uplk_thread_register(void)
{
	if (rte_thread_register() != 0)
		return -rte_errno;
	return (int)rte_lcore_id();
}

uint64_t uplk_tsc(void) { return rte_rdtsc(); }
uint64_t uplk_tsc_hz(void) { return rte_get_tsc_hz(); }
uint16_t uplk_refcnt_offset(void) { return offsetof(struct rte_mbuf, refcnt); }

/* Link polling for PMDs that raise no LSC interrupt runs as an EAL alarm on
 * the interrupt thread and reports changes through the same event ring, so
 * no Go code wakes up every millisecond: measured, a 1 ms Go ticker cost a
 * generator sharing the control core a third of its throughput. */
#include <rte_alarm.h>
#define UPLK_MAX_POLL 64
static uint16_t poll_ports[UPLK_MAX_POLL];
static int8_t poll_last[UPLK_MAX_POLL];
static int poll_n;
static uint64_t poll_us;

static void poll_cb(void *arg)
{
	(void)arg;
	for (int i = 0; i < poll_n; i++) {
		struct rte_eth_link l;
		if (rte_eth_link_get_nowait(poll_ports[i], &l) != 0)
			continue;
		if ((int8_t)l.link_status != poll_last[i]) {
			poll_last[i] = (int8_t)l.link_status;
			on_event(poll_ports[i], RTE_ETH_EVENT_INTR_LSC, NULL, NULL);
		}
	}
	rte_eal_alarm_set(poll_us, poll_cb, NULL);
}

int uplk_link_poll_start(const uint16_t *ports, int n, uint64_t us)
{
	if (n > UPLK_MAX_POLL)
		return -E2BIG;
	for (int i = 0; i < n; i++) {
		poll_ports[i] = ports[i];
		poll_last[i] = -1;
	}
	poll_n = n;
	poll_us = us;
	return rte_eal_alarm_set(us, poll_cb, NULL);
}

void uplk_link_poll_stop(void) { rte_eal_alarm_cancel(poll_cb, (void *)-1); }
