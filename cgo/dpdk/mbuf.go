package dpdk

/*
#include "uplk.h"
*/
import "C"

import "unsafe"

// Mbuf is a DPDK packet buffer. Its methods read and write fields in place:
// plain Go over C memory, no cgo call.
type Mbuf C.struct_rte_mbuf

var refcntOffset = uintptr(C.uplk_refcnt_offset())

// Data is the first segment's bytes. The slice aliases packet memory and is
// valid until the mbuf is sent or freed.
func (m *Mbuf) Data() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(m.buf_addr, uintptr(m.data_off))), int(m.data_len))
}

// PktLen is the frame's length over all segments.
func (m *Mbuf) PktLen() uint32 { return uint32(m.pkt_len) }

// SetLen sets a single-segment mbuf's data and packet length.
func (m *Mbuf) SetLen(n uint16) {
	m.data_len = C.uint16_t(n)
	m.pkt_len = C.uint32_t(n)
}

// Prepend grows the first segment by n bytes at its front, out of the
// headroom (a VLAN tag pushed); false when the headroom is shorter.
func (m *Mbuf) Prepend(n uint16) bool {
	if uint16(m.data_off) < n {
		return false
	}
	m.data_off -= C.uint16_t(n)
	m.data_len += C.uint16_t(n)
	m.pkt_len += C.uint32_t(n)
	return true
}

// Adj trims n bytes off the first segment's front (a VLAN tag popped);
// false when the segment is shorter.
func (m *Mbuf) Adj(n uint16) bool {
	if uint16(m.data_len) < n {
		return false
	}
	m.data_off += C.uint16_t(n)
	m.data_len -= C.uint16_t(n)
	m.pkt_len -= C.uint32_t(n)
	return true
}

// Room is how many bytes the first segment can hold after data_off.
func (m *Mbuf) Room() int { return int(m.buf_len) - int(m.data_off) }

// Buffer is the first segment's whole room, for writing a frame before
// SetLen.
func (m *Mbuf) Buffer() []byte {
	return unsafe.Slice((*byte)(unsafe.Add(m.buf_addr, uintptr(m.data_off))), m.Room())
}

// SetRefcnt sets the reference count of an mbuf that this thread owns
// alone (just received, not yet queued anywhere): used to send one mbuf to
// several ports without copying it. Every segment gets it: a free goes
// segment by segment, so a chained frame with only its head counted would
// lose its tail at the first port's free.
func (m *Mbuf) SetRefcnt(n uint16) {
	for s := m; s != nil; s = (*Mbuf)(unsafe.Pointer(s.next)) {
		*(*uint16)(unsafe.Add(unsafe.Pointer(s), refcntOffset)) = n
	}
}

// Segs is how many segments the frame spans.
func (m *Mbuf) Segs() int { return int(m.nb_segs) }

// Refcnt reads the reference count.
func (m *Mbuf) Refcnt() uint16 {
	return *(*uint16)(unsafe.Add(unsafe.Pointer(m), refcntOffset))
}

// FreeBulk returns mbufs to their pools, one cgo call for all.
func FreeBulk(ms []*Mbuf) {
	if len(ms) == 0 {
		return
	}
	C.uplk_free_bulk((**C.struct_rte_mbuf)(unsafe.Pointer(&ms[0])), C.uint(len(ms)))
}
