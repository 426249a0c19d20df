/* framepool.h: a traffic generator's pool of prepared frames. Declared apart
 * from uplk.h because only the generator uses it. */
#ifndef UPLK_FRAMEPOOL_H
#define UPLK_FRAMEPOOL_H

#include "uplk.h"

struct rte_mempool *uplk_frame_pool_create(const char *name, unsigned n, uint16_t dataroom,
					   int socket, int *err);
uint16_t uplk_tx_frames(uint16_t port, uint16_t queue, struct rte_mempool *mp,
			struct rte_mbuf **pkts, uint16_t n);

#endif
