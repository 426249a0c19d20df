package dpdk

/*
#include <stdlib.h>
#include "uplk.h"

static struct rte_mbuf *uplk_fake_mbuf(uint16_t room)
{
	struct rte_mbuf *m = calloc(1, sizeof(*m) + RTE_PKTMBUF_HEADROOM + room);
	if (m == NULL)
		return NULL;
	m->buf_addr = (char *)(m + 1);
	m->buf_len = RTE_PKTMBUF_HEADROOM + room;
	m->data_off = RTE_PKTMBUF_HEADROOM;
	m->nb_segs = 1;
	m->refcnt = 1;
	return m;
}
*/
import "C"

import "unsafe"

// NewDetachedMbuf allocates an mbuf outside any pool, in C memory, for
// benchmarks and tests of per-packet code that run without EAL. Never send
// it to a port; release it with FreeDetachedMbuf.
func NewDetachedMbuf(room uint16) *Mbuf {
	return (*Mbuf)(unsafe.Pointer(C.uplk_fake_mbuf(C.uint16_t(room))))
}

// ChainDetached appends next to m's chain of detached mbufs, as a PMD
// chains the segments of a frame longer than one mbuf's room.
func ChainDetached(m, next *Mbuf) {
	last := m
	for last.next != nil {
		last = (*Mbuf)(unsafe.Pointer(last.next))
	}
	last.next = (*C.struct_rte_mbuf)(unsafe.Pointer(next))
	m.nb_segs++
	m.pkt_len += C.uint32_t(next.data_len)
}

// FreeDetachedMbuf releases a NewDetachedMbuf.
func FreeDetachedMbuf(m *Mbuf) { C.free(unsafe.Pointer(m)) }

// Discard forgets what the queue holds without sending or freeing it. Only
// for detached mbufs in tests and benchmarks.
func (q *TxQueue) Discard() { q.q.head = q.q.tail }

// DiscardFreed forgets the mbufs scheduled for freeing. Only for detached
// mbufs in tests and benchmarks.
func (w *IO) DiscardFreed() { w.io.nfree = 0 }

// PendingFree is the number of mbufs scheduled for freeing.
func (w *IO) PendingFree() int { return int(w.io.nfree) }

// FakeReceived makes ms rx queue i's packets of the last Step, for tests
// without ports.
func (w *IO) FakeReceived(i int, ms []*Mbuf) {
	copy(w.rxbuf[i*Burst:], ms)
	w.rxq[i].n = C.uint16_t(len(ms))
}
