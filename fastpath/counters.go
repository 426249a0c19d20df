package fastpath

import (
	"math/bits"
	"sync/atomic"
)

// Counter indexes a port's counters. For a VM, Rx is what the VM sent
// (egress) and Tx what was delivered to it; for a NIC, Rx is what arrived
// from the network and Tx what was queued to it. Drops are counted under
// the entity the frame came from, except vm_down and queue_full, which are
// counted under the destination.
type Counter int

const (
	RxPackets Counter = iota
	RxBytes
	TxPackets
	TxBytes
	// Held (VMs): loop iterations in which the VM had more to send than
	// its allocation allowed; its packets waited in its virtqueue.
	Held
	// Rerouted (NICs): packets queued for this NIC when it became
	// unavailable that went out by another NIC instead.
	Rerouted
	// Announced (NICs): RARP frames sent on this NIC for VM MACs that
	// moved to it.
	Announced
	// BeaconsSent and BeaconsHeard (NICs): beacons this NIC sent, and
	// beacons it received from other members of its team.
	BeaconsSent
	BeaconsHeard
	// DoS counters, for VMs whose config watches them: In* count frames
	// from the network to the VM, Out* frames the VM sent. *Sources is a
	// gauge: distinct source addresses in the last completed DoS window.
	InSYN
	InFragments
	InAmplification
	InSources
	OutSYN
	OutFragments
	OutAmplification
	OutSources
	// HeldDeliveries (VMs): frames delivered late, in a batch, while the
	// VM's ingress was held (the DoS "delay" response).
	HeldDeliveries
	// LocalOut and LocalIn (VMs): frames switched between two VMs of the
	// same team on this host, which never reach a NIC. LocalOut counts
	// the copies a VM's frames were delivered as (a broadcast to three
	// local VMs is three), LocalIn the frames delivered to a VM this way.
	// Both are also in the VMs' Rx and Tx counters.
	LocalOut
	LocalIn
	dropBase
	NumCounters = int(dropBase) + int(NumDropReasons)
)

// Drop is the counter of a drop reason.
func Drop(r DropReason) Counter { return dropBase + Counter(r) }

// Counters is a snapshot of one port's counters.
type Counters [NumCounters]uint64

// PublishedCounters is the copy of a port's counters that other goroutines
// read. The owning worker counts in plain memory and publishes here about
// once a millisecond, so the per-packet path pays no atomic operation.
type PublishedCounters struct {
	v [NumCounters]atomic.Uint64
	// owner is the entity ID the counters belong to (0: unknown); the
	// worker stores it after the counters when a VM takes a slot.
	owner atomic.Uint32
}

// LoadOf reads the published counters if they are entity id's: false
// while the slot still shows another's (the worker has not yet taken the
// tables that gave id the slot).
func (p *PublishedCounters) LoadOf(id uint32) (Counters, bool) {
	if p.owner.Load() != id {
		return Counters{}, false
	}
	return p.Load(), true
}

// Load reads the published counters.
func (p *PublishedCounters) Load() Counters {
	var c Counters
	for i := range c {
		c[i] = p.v[i].Load()
	}
	return c
}

func (p *PublishedCounters) store(c *Counters) {
	for i := range c {
		p.v[i].Store(c[i])
	}
}

// LoopStats describe a worker's loop. Cycles are TSC cycles.
type LoopStats struct {
	Loops uint64
	// BusyCycles: cycles of iterations that received or sent packets.
	BusyCycles uint64
	// BusyLoops: iterations that received or sent packets; Packets /
	// BusyLoops is how full the bursts are, which is what per-loop costs
	// are spread over.
	BusyLoops uint64
	// Packets received; BusyCycles / Packets is the cost per packet.
	Packets uint64
	// MaxGapCycles: the longest time between two iterations since start;
	// a Go runtime pause or a preempted thread shows up here.
	MaxGapCycles uint64
	// RecentMaxGapCycles: the same over the last completed second.
	RecentMaxGapCycles uint64
	// Gaps counts the gaps between iterations by length: see GapBucket.
	// A maximum says that the worker stalled once; the histogram says how
	// often, which is what loss at a given rate follows.
	Gaps [GapBuckets]uint64
	// GapCycles is the sum of all gaps: the loop's running time.
	GapCycles uint64
}

// GapBuckets is the number of buckets of the loop-gap histogram: bucket 0
// counts gaps under 1 µs, bucket k (0 < k < GapBuckets-1) gaps from
// 2^(k-1) µs up to but not including 2^k µs, and the last bucket every
// gap from 2^(GapBuckets-2) µs (about 4 s) up.
const GapBuckets = 24

// GapBoundUS is bucket k's upper bound in microseconds (exclusive); the
// last bucket has none and gets 0.
func GapBoundUS(k int) float64 {
	if k >= GapBuckets-1 {
		return 0
	}
	return float64(uint64(1) << k)
}

// GapBoundsUS are the upper bounds of every bucket but the last.
func GapBoundsUS() []float64 {
	b := make([]float64, GapBuckets-1)
	for k := range b {
		b[k] = GapBoundUS(k)
	}
	return b
}

// gapBucket is the bucket of a gap of us microseconds.
func gapBucket(us uint64) int { return min(bits.Len64(us), GapBuckets-1) }

type publishedLoopStats struct {
	loops, busy, busyLoops, packets, maxGap, recentGap, gapCycles atomic.Uint64
	gaps                                                          [GapBuckets]atomic.Uint64
}

func (p *publishedLoopStats) load() LoopStats {
	s := LoopStats{
		Loops: p.loops.Load(), BusyCycles: p.busy.Load(), BusyLoops: p.busyLoops.Load(), Packets: p.packets.Load(),
		MaxGapCycles: p.maxGap.Load(), RecentMaxGapCycles: p.recentGap.Load(), GapCycles: p.gapCycles.Load(),
	}
	for k := range s.Gaps {
		s.Gaps[k] = p.gaps[k].Load()
	}
	return s
}
