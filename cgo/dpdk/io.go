package dpdk

/*
#include <stdlib.h>
#include <string.h>
#include "uplk.h"
*/
import "C"

import (
	"fmt"
	"time"
	"unsafe"
)

var aLongTimeAgo = time.Unix(1, 0)

// QueueRef names one queue of one port.
type QueueRef struct {
	Port  uint16
	Queue uint16
}

// IO is one worker's burst I/O: the rx queues it polls, a bounded software
// tx queue per destination, and a list of mbufs to free. All of it lives in
// C memory so that one cgo call per loop iteration (Step) can transmit,
// free and receive without cgocheck walking Go memory. An IO belongs to one
// thread.
type IO struct {
	io     *C.struct_uplk_io
	rxq    []C.struct_uplk_rxq
	rxbuf  []*Mbuf
	txq    []TxQueue
	rxon   []uint16
	txon   []uint16
	free   []*Mbuf
	allocs []unsafe.Pointer
}

// TxQueue is a bounded software queue in front of a port's tx queue.
type TxQueue struct {
	q    *C.struct_uplk_txq
	ring []*Mbuf
	mask uint32
}

func cmalloc(n uintptr) unsafe.Pointer {
	p := C.calloc(1, C.size_t(n))
	if p == nil {
		panic("uplinkd: out of C memory")
	}
	return p
}

// NewIO builds the I/O plan for a worker. txCap is each tx queue's bound and
// is rounded up to a power of two.
func NewIO(rx []QueueRef, tx []QueueRef, txCap uint32) (*IO, error) {
	if len(rx) > 1<<15 || len(tx) > 1<<15 {
		return nil, fmt.Errorf("too many queues")
	}
	cp := uint32(1)
	for cp < txCap {
		cp <<= 1
	}
	w := &IO{}
	alloc := func(n uintptr) unsafe.Pointer {
		if n == 0 {
			n = 1
		}
		p := cmalloc(n)
		w.allocs = append(w.allocs, p)
		return p
	}
	w.io = (*C.struct_uplk_io)(alloc(unsafe.Sizeof(C.struct_uplk_io{})))
	w.io.nrx = C.uint16_t(len(rx))
	w.io.ntx = C.uint16_t(len(tx))
	w.io.rx = (*C.struct_uplk_rxq)(alloc(uintptr(len(rx)) * unsafe.Sizeof(C.struct_uplk_rxq{})))
	w.rxq = unsafe.Slice(w.io.rx, len(rx))
	for i, r := range rx {
		w.rxq[i] = C.struct_uplk_rxq{port: C.uint16_t(r.Port), queue: C.uint16_t(r.Queue), max: Burst}
	}
	nrxbuf := len(rx) * Burst
	w.io.rxbuf = (**C.struct_rte_mbuf)(alloc(uintptr(nrxbuf) * unsafe.Sizeof(uintptr(0))))
	w.rxbuf = unsafe.Slice((**Mbuf)(unsafe.Pointer(w.io.rxbuf)), nrxbuf)
	w.io.tx = (*C.struct_uplk_txq)(alloc(uintptr(len(tx)) * unsafe.Sizeof(C.struct_uplk_txq{})))
	ctx := unsafe.Slice(w.io.tx, len(tx))
	w.txq = make([]TxQueue, len(tx))
	for i, t := range tx {
		q := &ctx[i]
		q.port, q.queue, q.mask = C.uint16_t(t.Port), C.uint16_t(t.Queue), C.uint32_t(cp-1)
		q.ring = (**C.struct_rte_mbuf)(alloc(uintptr(cp) * unsafe.Sizeof(uintptr(0))))
		w.txq[i] = TxQueue{q: q, ring: unsafe.Slice((**Mbuf)(unsafe.Pointer(q.ring)), cp), mask: cp - 1}
	}
	// Every queue is on until SetActive says otherwise.
	w.io.rxon = (*C.uint16_t)(alloc(uintptr(len(rx)) * 2))
	w.io.txon = (*C.uint16_t)(alloc(uintptr(len(tx)) * 2))
	w.rxon = unsafe.Slice((*uint16)(unsafe.Pointer(w.io.rxon)), len(rx))
	w.txon = unsafe.Slice((*uint16)(unsafe.Pointer(w.io.txon)), len(tx))
	for i := range w.rxon {
		w.rxon[i] = uint16(i)
	}
	for i := range w.txon {
		w.txon[i] = uint16(i)
	}
	w.io.nrxon, w.io.ntxon = C.uint16_t(len(rx)), C.uint16_t(len(tx))
	// A packet is freed at most once per step; rx bounds how many arrive.
	freeCap := nrxbuf + Burst
	w.io.freecap = C.uint32_t(freeCap)
	w.io.freebuf = (**C.struct_rte_mbuf)(alloc(uintptr(freeCap) * unsafe.Sizeof(uintptr(0))))
	w.free = unsafe.Slice((**Mbuf)(unsafe.Pointer(w.io.freebuf)), freeCap)
	return w, nil
}

// Step transmits what the tx queues hold, frees what was dropped, then
// polls every rx queue whose limit is above zero. It returns the number of
// packets received. One cgo call.
func (w *IO) Step() int { return int(C.uplk_step(w.io)) }

// Flush transmits and frees without polling.
func (w *IO) Flush() int { return int(C.uplk_flush(w.io)) }

// StepTSC is the TSC value read when the last Step began.
func (w *IO) StepTSC() uint64 { return uint64(w.io.tsc) }

// Sent is how many packets the PMDs accepted in the last Step.
func (w *IO) Sent() int { return int(w.io.txsent) }

// Received is rx queue i's packets from the last Step; valid until the next.
func (w *IO) Received(i int) []*Mbuf {
	n := int(w.rxq[i].n)
	return w.rxbuf[i*Burst : i*Burst+n : i*Burst+n]
}

// SetRxLimit caps how many packets rx queue i may yield next Step (0 to
// Burst). A limit below Burst leaves packets in the queue: back-pressure.
func (w *IO) SetRxLimit(i int, n int) {
	if n > Burst {
		n = Burst
	}
	if n < 0 {
		n = 0
	}
	w.rxq[i].max = C.uint16_t(n)
}

// SetRxQueue points rx queue i at another port's queue: a port added
// while the worker runs takes a slot that was set up for it. Only the
// worker's thread may call it.
func (w *IO) SetRxQueue(i int, q QueueRef) {
	w.rxq[i].port = C.uint16_t(q.Port)
	w.rxq[i].queue = C.uint16_t(q.Queue)
}

// SetActive says which rx queues Step polls and which tx queues it
// flushes; the others cost nothing. A tx queue left out must be empty, and
// an rx queue left out must have had its last packets taken (see
// ClearReceived). Only the worker's thread may call it.
func (w *IO) SetActive(rx, tx []int) {
	for k, i := range rx {
		w.rxon[k] = uint16(i)
	}
	for k, i := range tx {
		w.txon[k] = uint16(i)
	}
	w.io.nrxon, w.io.ntxon = C.uint16_t(len(rx)), C.uint16_t(len(tx))
}

// ClearReceived forgets rx queue i's packets from the last Step: the
// caller took them, or they are an earlier port's, long handled.
func (w *IO) ClearReceived(i int) { w.rxq[i].n = 0 }

// RxLimit is rx queue i's limit for the next Step.
func (w *IO) RxLimit(i int) int { return int(w.rxq[i].max) }

// Tx is tx queue i.
func (w *IO) Tx(i int) *TxQueue { return &w.txq[i] }

// Free schedules m to be freed at the next Step. When the list is full it
// frees what it holds at once, and sends nothing: a queue being drained
// must not be transmitted from under its Drain.
func (w *IO) Free(m *Mbuf) {
	n := uint32(w.io.nfree)
	if n == uint32(w.io.freecap) {
		C.uplk_free_pending(w.io)
		n = 0
	}
	w.free[n] = m
	w.io.nfree = C.uint32_t(n + 1)
}

// Close frees every mbuf still queued and the C memory. It returns how many
// queued packets it freed.
func (w *IO) Close() int {
	n := 0
	for i := range w.txq {
		n += w.txq[i].Drain(w)
	}
	C.uplk_flush(w.io)
	// Nothing is left in the queues, so flush sent nothing more.
	for _, p := range w.allocs {
		C.free(p)
	}
	w.allocs = nil
	return n
}

// SetQueue points the queue at another port's queue. It must be empty.
func (q *TxQueue) SetQueue(to QueueRef) {
	if q.q.head != q.q.tail {
		panic("uplinkd: TxQueue.SetQueue on a queue that holds packets")
	}
	q.q.port = C.uint16_t(to.Port)
	q.q.queue = C.uint16_t(to.Queue)
}

// Len is how many packets wait in the queue.
func (q *TxQueue) Len() uint32 { return uint32(q.q.tail - q.q.head) }

// Cap is the queue's bound.
func (q *TxQueue) Cap() uint32 { return q.mask + 1 }

// Space is how many more packets fit.
func (q *TxQueue) Space() uint32 { return q.mask + 1 - uint32(q.q.tail-q.q.head) }

// Push appends m; false when the queue is full (the caller keeps m).
func (q *TxQueue) Push(m *Mbuf) bool {
	t := uint32(q.q.tail)
	if t-uint32(q.q.head) > q.mask {
		return false
	}
	q.ring[t&q.mask] = m
	q.q.tail = C.uint32_t(t + 1)
	return true
}

// Pop takes the oldest queued mbuf out of the queue; false when empty.
func (q *TxQueue) Pop() (*Mbuf, bool) {
	h := uint32(q.q.head)
	if h == uint32(q.q.tail) {
		return nil, false
	}
	m := q.ring[h&q.mask]
	q.q.head = C.uint32_t(h + 1)
	return m, true
}

// Drain hands every queued mbuf to w.Free and returns how many.
func (q *TxQueue) Drain(w *IO) int {
	n := 0
	for q.q.head != q.q.tail {
		m := q.ring[uint32(q.q.head)&q.mask]
		q.q.head++ // out of the queue before it is freed
		w.Free(m)
		n++
	}
	return n
}

// TxBurst sends mbufs, giving up those accepted; returns how many were.
// The caller still owns (and must free) ms[n:].
func TxBurst(q QueueRef, ms []*Mbuf) int {
	if len(ms) == 0 {
		return 0
	}
	return int(C.rte_eth_tx_burst(C.uint16_t(q.Port), C.uint16_t(q.Queue), (**C.struct_rte_mbuf)(unsafe.Pointer(&ms[0])), C.uint16_t(len(ms))))
}

// RxBurst receives into ms (C memory from NewBurstBuf), returns the count.
func RxBurst(q QueueRef, ms []*Mbuf) int {
	if len(ms) == 0 {
		return 0
	}
	return int(C.rte_eth_rx_burst(C.uint16_t(q.Port), C.uint16_t(q.Queue), (**C.struct_rte_mbuf)(unsafe.Pointer(&ms[0])), C.uint16_t(len(ms))))
}

// NewBurstBuf is an mbuf pointer array in C memory, which cgo passes to C
// without walking it. Release it with FreeBurstBuf.
func NewBurstBuf(n int) []*Mbuf {
	return unsafe.Slice((**Mbuf)(cmalloc(uintptr(n)*unsafe.Sizeof(uintptr(0)))), n)
}

// FreeBurstBuf releases a NewBurstBuf array (not the mbufs in it).
func FreeBurstBuf(b []*Mbuf) {
	if len(b) > 0 {
		C.free(unsafe.Pointer(&b[0]))
	}
}
