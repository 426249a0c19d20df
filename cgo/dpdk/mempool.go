package dpdk

/*
#include <stdlib.h>
#include "uplk.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Pool is a packet mbuf mempool.
type Pool struct {
	p    *C.struct_rte_mempool
	name string
	size uint32
}

// DefaultDataRoom fits a 1518-byte frame plus headroom in one segment.
const DefaultDataRoom = C.RTE_MBUF_DEFAULT_BUF_SIZE

// Headroom is the room an mbuf keeps in front of a received frame.
const Headroom = C.RTE_PKTMBUF_HEADROOM

// DataRoomFor is the data room of mbufs that hold a frame of up to
// maxFrame bytes in one segment: never less than DefaultDataRoom.
func DataRoomFor(maxFrame int) uint16 {
	return uint16(max(DefaultDataRoom, Headroom+maxFrame))
}

// NewPool creates a pool of n mbufs with a per-lcore cache.
func NewPool(name string, n, cache uint32, dataRoom uint16) (*Pool, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cerr C.int
	p := C.uplk_pool_create(cname, C.uint(n), C.uint(cache), C.uint16_t(dataRoom), C.SOCKET_ID_ANY, &cerr)
	if p == nil {
		return nil, fmt.Errorf("mbuf pool %q (%d mbufs): %w", name, n, Errno(cerr))
	}
	return &Pool{p: p, name: name, size: n}, nil
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Size is the number of mbufs in the pool.
func (p *Pool) Size() uint32 { return p.size }

// InUse counts mbufs taken from the pool, including those held by PMD rx
// rings. Per-lcore caches count as free.
func (p *Pool) InUse() uint32 { return uint32(C.uplk_pool_in_use(p.p)) }

// Free releases the pool; every mbuf must be back.
func (p *Pool) Free() { C.rte_mempool_free(p.p) }

// AllocBulk fills dst with fresh mbufs, all or none.
func (p *Pool) AllocBulk(dst []*Mbuf) error {
	if len(dst) == 0 {
		return nil
	}
	if C.uplk_alloc_bulk(p.p, (**C.struct_rte_mbuf)(unsafe.Pointer(&dst[0])), C.uint(len(dst))) != 0 {
		return fmt.Errorf("pool %s: cannot allocate %d mbufs (in use %d of %d)", p.name, len(dst), p.InUse(), p.size)
	}
	return nil
}
