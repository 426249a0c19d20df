/* framepool.c: send prepared frames without copying them and without
 * holding extra references.
 *
 * A frame pool has no per-lcore cache and a single-producer,
 * single-consumer ring: a first-in, first-out queue of mbufs. The generator
 * writes a frame into every mbuf once; allocation resets only the mbuf's
 * header, never its data, so each allocation hands back a prepared frame,
 * and the PMD's free after transmission puts it at the back of the queue.
 * The frames therefore go out in the order they were prepared, round after
 * round, every flow included.
 *
 * Why not an extra reference per send: the virtio PMD
 * pushes its virtio-net header into the headroom of an mbuf only when the
 * mbuf is not shared (refcnt 1); a shared one costs a second descriptor per
 * frame, which makes the switch on the other side do more work per packet
 * than a real guest's single-buffer frames ask of it. */
#include "framepool.h"

struct rte_mempool *uplk_frame_pool_create(const char *name, unsigned n, uint16_t dataroom,
					   int socket, int *err)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create_by_ops(name, n, 0, 0, dataroom, socket, "ring_sp_sc");
	*err = mp == NULL ? rte_errno : 0;
	return mp;
}

/* Take n prepared frames from mp and send them; the unsent go back to the
 * pool. Returns how many the PMD accepted, 0 when the pool has fewer than n
 * frames (the rest are still in the PMD's ring).
 *
 * The frames are taken as they are, without rte_pktmbuf_reset: a
 * single-segment, unshared mbuf comes back from the PMD's free with its
 * header as it was sent (lengths, data offset, one segment, no flags), so
 * the header PrepareFrames wrote is still the one to send. */
uint16_t uplk_tx_frames(uint16_t port, uint16_t queue, struct rte_mempool *mp,
			struct rte_mbuf **pkts, uint16_t n)
{
	if (rte_mempool_get_bulk(mp, (void **)pkts, n) != 0)
		return 0;
	uint16_t sent = rte_eth_tx_burst(port, queue, pkts, n);
	if (sent < n)
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
	return sent;
}
