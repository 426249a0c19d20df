package main

// Sending as fast as a replayed capture: each VM's frames are prepared once
// in a frame pool of its own (dpdk.NewFramePool, first in, first out), and
// every send takes the next prepared frames out of it, the PMD putting them
// back after transmission. No copy per frame and no shared mbufs (which
// the virtio PMD would send with a second descriptor each), one cgo call
// per burst. The latency mode copies instead (see latency.go).

import (
	"fmt"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/fastpath"
)

// framePoolSize is how many prepared frames a VM gets: a whole number of
// rounds over its flows, and at least twice what its virtqueue and a burst
// can hold, so that the pool never runs dry while the PMD holds frames it
// has not yet given back.
func framePoolSize(flows, queueSize int) int {
	least := 2 * (queueSize + dpdk.Burst)
	if flows >= least {
		return flows
	}
	return (least + flows - 1) / flows * flows
}

// srcMAC is the source MAC of flow f of a VM that sends from nmacs
// addresses: base, base+0x100, base+0x200, ... (the fifth byte counts up,
// so the last byte, which names the VM, stays).
func srcMAC(base fastpath.MAC, nmacs int, f int) fastpath.MAC {
	return base + fastpath.MAC(f%nmacs)<<8
}

// newFramePool prepares VM v's frames: frame i is flow i mod flows, from
// source MAC number (flow mod the VM's MAC count).
func newFramePool(i int, v vmSpec, flows, size, queueSize int) (*dpdk.Pool, error) {
	n := framePoolSize(flows, queueSize)
	pool, err := dpdk.NewFramePool(fmt.Sprintf("gen_frames_%d", i), uint32(n), frameDataRoom(size))
	if err != nil {
		return nil, err
	}
	err = dpdk.PrepareFrames(pool, func(i int, m *dpdk.Mbuf) {
		f := i % flows
		buildFrameIn(m.Buffer(), v.Dst, srcMAC(v.MAC, v.MACs, f), size, uint32(f), v.VLAN)
		m.SetLen(uint16(size))
	})
	if err != nil {
		pool.Free()
		return nil, err
	}
	return pool, nil
}

// sendBurst is the most frames one VM sends per loop: the rx side's burst
// times four, so that the loop's fixed cost (its checks, the receive
// polls, the cgo call) is spread over more frames and the generator stays
// ahead of the switch.
const sendBurst = 4 * dpdk.Burst
