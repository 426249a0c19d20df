package dpdk

/*
#include <stdlib.h>
#include "framepool.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// NewFramePool creates a pool of n mbufs for prepared frames: no per-lcore
// cache and a single-producer, single-consumer ring, so mbufs come back out
// in the order they went in. One thread only may allocate from it and free
// into it (the generator's, which also runs the PMD that frees them).
// Prepare it with PrepareFrames, send from it with TxFrames.
func NewFramePool(name string, n uint32, dataRoom uint16) (*Pool, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.int
	p := C.uplk_frame_pool_create(cname, C.uint(n), C.uint16_t(dataRoom), C.SOCKET_ID_ANY, &cerr)
	if p == nil {
		return nil, fmt.Errorf("frame pool %q (%d mbufs): %w", name, n, Errno(cerr))
	}
	return &Pool{p: p, name: name, size: n}, nil
}

// PrepareFrames writes a frame into every mbuf of a frame pool, in the
// order they will be sent: build(i, m) fills the i-th frame and sets its
// length (SetLen), once: TxFrames sends the mbufs as they are. The mbufs go
// back to the pool in that order.
func PrepareFrames(p *Pool, build func(i int, m *Mbuf)) error {
	all := NewBurstBuf(int(p.size))
	defer FreeBurstBuf(all)
	if err := p.AllocBulk(all); err != nil {
		return err
	}
	for i, m := range all {
		build(i, m)
	}
	FreeBulk(all)
	return nil
}

// TxFrames sends the next len(ms) prepared frames of frame pool p (ms is
// scratch space in C memory, from NewBurstBuf); returns how many were
// accepted, 0 when fewer than len(ms) frames are free. One cgo call.
func TxFrames(q QueueRef, p *Pool, ms []*Mbuf) int {
	if len(ms) == 0 {
		return 0
	}
	return int(C.uplk_tx_frames(C.uint16_t(q.Port), C.uint16_t(q.Queue), p.p,
		(**C.struct_rte_mbuf)(unsafe.Pointer(&ms[0])), C.uint16_t(len(ms))))
}
