package fastpath

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
)

// rig is a worker over detached mbufs and an IO without ports: the
// per-packet path end to end (decide, count, queue, free) without EAL.
type rig struct {
	w    *Worker
	io   *dpdk.IO
	snap atomic.Pointer[Snapshot]
	bufs []*dpdk.Mbuf
}

func newRig(t testing.TB, s *Snapshot, txCap uint32) *rig {
	// tx queues: first one per VM, then one per NIC (for twoByTwo: 0,1
	// reach vm1, vm2; 2,3 reach nic1, nic2).
	var vmTx, nicTx []int
	for range s.VMs {
		vmTx = append(vmTx, len(vmTx))
	}
	for range s.NICs {
		nicTx = append(nicTx, len(vmTx)+len(nicTx))
	}
	io, err := dpdk.NewIO(nil, make([]dpdk.QueueRef, len(vmTx)+len(nicTx)), txCap)
	require.NoError(t, err)
	r := &rig{io: io}
	r.snap.Store(s)
	r.w = NewWorker(WorkerPlan{IO: io, Snap: &r.snap, VMTx: vmTx, NICTx: nicTx, TSCHz: 1, Alloc: r.alloc})
	t.Cleanup(func() {
		for _, m := range r.bufs {
			dpdk.FreeDetachedMbuf(m)
		}
		io.DiscardFreed()
		for i := range vmTx {
			io.Tx(i).Discard()
		}
		for _, q := range nicTx {
			io.Tx(q).Discard()
		}
		io.Close()
	})
	return r
}

// alloc is the worker's mbuf source: detached mbufs, freed with the rig.
func (r *rig) alloc(ms []*dpdk.Mbuf) error {
	for i := range ms {
		ms[i] = dpdk.NewDetachedMbuf(2048)
		r.bufs = append(r.bufs, ms[i])
	}
	return nil
}

func (r *rig) mbufs(frames ...[]byte) []*dpdk.Mbuf {
	out := make([]*dpdk.Mbuf, len(frames))
	for i, f := range frames {
		m := dpdk.NewDetachedMbuf(2048)
		copy(m.Buffer(), f)
		m.SetLen(uint16(len(f)))
		out[i] = m
		r.bufs = append(r.bufs, m)
	}
	return out
}

func TestWorkerEgressQueuesBySrcMACAndCountsDrops(t *testing.T) {
	s := twoByTwo(t)
	r := newRig(t, s, 64)
	pkts := r.mbufs(
		frame(macPeer, macVM1, 64), frame(macPeer, macVM1, 100),
		frame(macPeer, macVM2, 64), // spoofed: vm2's MAC from vm1
		frame(macPeer, macVM1, 8),  // runt
	)
	r.w.egress(s, 0, pkts)
	r.w.publish()

	want := SrcMACHash(macVM1, s.Teams[0].Up)
	assert.EqualValues(t, 2, r.io.Tx(2+want).Len(), "both good frames on vm1's NIC")
	assert.EqualValues(t, 0, r.io.Tx(2+1-want).Len())
	assert.Equal(t, 2, r.io.PendingFree(), "spoofed and runt frames are freed")

	c := r.w.VMCounters(0)
	assert.EqualValues(t, 4, c[RxPackets])
	assert.EqualValues(t, 64+100+64+8, c[RxBytes])
	assert.EqualValues(t, 1, c[Drop(DropSpoofed)])
	assert.EqualValues(t, 1, c[Drop(DropRunt)])
	n := r.w.NICCounters(want)
	assert.EqualValues(t, 2, n[TxPackets])
	assert.EqualValues(t, 164, n[TxBytes])
}

func TestWorkerIngressDeliversFloodsAndDrops(t *testing.T) {
	s := twoByTwo(t)
	r := newRig(t, s, 64)
	pkts := r.mbufs(
		frame(macVM2, macPeer, 64),
		frame(Broadcast, macPeer, 64),
		frame(0x020000009999, macPeer, 64),
	)
	r.w.ingress(s, 0, pkts)
	r.w.publish()

	assert.EqualValues(t, 1, r.io.Tx(0).Len(), "vm1 gets the broadcast")
	assert.EqualValues(t, 2, r.io.Tx(1).Len(), "vm2 gets its unicast and the broadcast")
	assert.EqualValues(t, 2, pkts[1].Refcnt(), "one broadcast mbuf, one reference per VM")
	assert.EqualValues(t, 1, pkts[0].Refcnt())
	assert.Equal(t, 1, r.io.PendingFree())
	assert.EqualValues(t, 1, r.w.NICCounters(0)[Drop(DropUnknownUnicast)])
	assert.EqualValues(t, 3, r.w.NICCounters(0)[RxPackets])
	assert.EqualValues(t, 2, r.w.VMCounters(1)[TxPackets])
}

func TestWorkerIngressToDisconnectedVMIsDroppedAndCounted(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[0].Connected = false
	r := newRig(t, s, 64)
	pkts := r.mbufs(frame(macVM1, macPeer, 64), frame(Broadcast, macPeer, 64))
	r.w.ingress(s, 0, pkts)
	r.w.publish()
	assert.EqualValues(t, 0, r.io.Tx(0).Len())
	assert.EqualValues(t, 1, r.io.Tx(1).Len())
	assert.EqualValues(t, 1, pkts[1].Refcnt())
	assert.EqualValues(t, 2, r.w.VMCounters(0)[Drop(DropVMDown)])
	assert.Equal(t, 1, r.io.PendingFree())
}

func TestWorkerIngressQueueBoundDropsAndCounts(t *testing.T) {
	s := twoByTwo(t)
	r := newRig(t, s, 2)
	frames := make([][]byte, 5)
	for i := range frames {
		frames[i] = frame(macVM1, macPeer, 64)
	}
	r.w.ingress(s, 0, r.mbufs(frames...))
	r.w.publish()
	assert.EqualValues(t, 2, r.io.Tx(0).Len())
	assert.EqualValues(t, 3, r.w.VMCounters(0)[Drop(DropQueueFull)])
	assert.Equal(t, 3, r.io.PendingFree())
}

// pollingWorker is a worker that polls twoByTwo's two VMs (rx queues 0, 1)
// and queues to tx queues 0, 1 (the VMs) and 2, 3 (the NICs) of 64 each.
func pollingWorker(t *testing.T, s *Snapshot, hz uint64) (*Worker, *dpdk.IO) {
	io, err := dpdk.NewIO(make([]dpdk.QueueRef, 2), make([]dpdk.QueueRef, 4), 64)
	require.NoError(t, err)
	t.Cleanup(func() { io.Close() })
	var snap atomic.Pointer[Snapshot]
	snap.Store(s)
	w := NewWorker(WorkerPlan{IO: io, Snap: &snap, Rx: []Endpoint{{Index: 0}, {Index: 1}},
		VMTx: []int{0, 1}, NICTx: []int{2, 3}, TSCHz: hz})
	w.followSlots(s) // both VMs present: polled
	return w, io
}

func TestBackPressureLimitsVMPollingToNICRoom(t *testing.T) {
	s := twoByTwo(t)
	w, io := pollingWorker(t, s, 1)

	// Fill NIC 1's queue to 40 of 64: 24 left, shared by both VMs.
	m := dpdk.NewDetachedMbuf(64)
	defer dpdk.FreeDetachedMbuf(m)
	for i := 0; i < 40; i++ {
		require.True(t, io.Tx(2).Push(m))
	}
	w.setRxLimits(s)
	assert.EqualValues(t, 0, w.room[0], "VM limits never add up to more than the NIC can queue")
	io.Tx(2).Discard()

	// No usable NIC: the VMs are not polled at all, their packets wait.
	down := twoByTwo(t, false, false)
	w.setRxLimits(down)
	assert.EqualValues(t, 64, w.room[0])
	assert.EqualValues(t, 64, w.room[1])
}

func TestAdmissionPollsOnlyWhatTokensAllow(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[0].RatePps = 1000 // depth 2 packets
	s.Version = 1
	w, io := pollingWorker(t, s, fakeHz)
	w.follow(s)

	w.lastTSC = 1
	w.setRxLimits(s)
	assert.Equal(t, 0, io.RxLimit(0), "an empty bucket: vm1 is not polled")
	assert.Equal(t, dpdk.Burst, io.RxLimit(1), "vm2 is unlimited")
	assert.True(t, w.vms[0].tokenBound)

	w.lastTSC = 1 + fakeHz/1000 // 1 ms: one packet's worth
	w.setRxLimits(s)
	assert.Equal(t, 1, io.RxLimit(0))

	w.lastTSC = 1 + fakeHz // a second later: the depth, not a second's worth
	w.setRxLimits(s)
	assert.Equal(t, 2, io.RxLimit(0))
}

func TestAffinityVMIsNotHeldBackByAnotherNICsFullQueue(t *testing.T) {
	s := twoByTwo(t)
	s.Teams[0].Policy = PolicyVMAffinity
	require.NoError(t, s.Build())
	w, io := pollingWorker(t, s, 1)
	m := dpdk.NewDetachedMbuf(64)
	defer dpdk.FreeDetachedMbuf(m)
	for i := 0; i < 64; i++ { // nic2 (vm2's) is stuck full
		require.True(t, io.Tx(3).Push(m))
	}
	defer io.Tx(3).Discard()
	w.setRxLimits(s)
	assert.Equal(t, dpdk.Burst, io.RxLimit(0), "vm1 uses nic1 only")
	assert.Equal(t, 0, io.RxLimit(1), "vm2 waits for nic2")
}

func TestEgressSpreadsPerPolicyAndPaysTokens(t *testing.T) {
	s := twoByTwo(t)
	s.Teams[0].Policy = PolicyRoundRobin
	require.NoError(t, s.Build())
	r := newRig(t, s, 64)
	frames := make([][]byte, 6)
	for i := range frames {
		frames[i] = frame(macPeer, macVM1, 100)
	}
	r.w.egress(s, 0, r.mbufs(frames...))
	assert.EqualValues(t, 3, r.io.Tx(2).Len())
	assert.EqualValues(t, 3, r.io.Tx(3).Len())

	// least-pending: the NIC with the longer queue gets nothing new.
	s.Teams[0].Policy = PolicyLeastPending
	require.NoError(t, s.Build())
	r.w.follow(s)
	r.w.nics[0].avgFrame, r.w.nics[1].avgFrame = 100, 100
	r.io.Tx(3).Discard()
	r.w.refreshLoads()
	r.w.egress(s, 0, r.mbufs(frames[:2]...))
	assert.EqualValues(t, 3, r.io.Tx(2).Len())
	assert.EqualValues(t, 2, r.io.Tx(3).Len())
}

func TestFailoverReroutesQueuedPacketsAndAnnouncesMovedMACs(t *testing.T) {
	s := twoByTwo(t)
	s.Teams[0].Policy = PolicyVMAffinity // vm1 on nic1, vm2 on nic2
	s.Version = 1
	require.NoError(t, s.Build())
	r := newRig(t, s, 64)
	r.w.follow(s)
	r.w.egress(s, 0, r.mbufs(frame(macPeer, macVM1, 64), frame(macPeer, macVM1, 64), frame(macPeer, macVM1, 64)))
	require.EqualValues(t, 3, r.io.Tx(2).Len(), "queued on nic1")

	down := twoByTwo(t, false, true)
	down.Teams[0].Policy = PolicyVMAffinity
	down.Version = 2
	require.NoError(t, down.Build())
	r.w.follow(down)

	assert.EqualValues(t, 0, r.io.Tx(2).Len(), "nothing left behind on the failed NIC")
	require.EqualValues(t, 3+2, r.io.Tx(3).Len(), "rerouted to nic2, plus a RARP for each of vm1's two MACs")
	r.w.publish()
	assert.EqualValues(t, 3, r.w.NICCounters(0)[Rerouted])
	assert.EqualValues(t, 0, r.w.NICCounters(0)[TxPackets])
	assert.EqualValues(t, 3, r.w.NICCounters(1)[TxPackets])
	assert.EqualValues(t, 2, r.w.NICCounters(1)[Announced])

	var rarps []MAC
	for {
		m, ok := r.io.Tx(3).Pop()
		if !ok {
			break
		}
		if d := m.Data(); len(d) == RARPLen && d[12] == 0x80 && d[13] == 0x35 {
			rarps = append(rarps, MACAt(d[6:12]))
		}
	}
	assert.ElementsMatch(t, []MAC{macVM1, macVM1b}, rarps, "vm2 did not move: no RARP for it")

	// Back up: vm1 returns to nic1 and is announced there.
	up := twoByTwo(t)
	up.Teams[0].Policy = PolicyVMAffinity
	up.Version = 3
	require.NoError(t, up.Build())
	r.w.follow(up)
	assert.EqualValues(t, 2, r.io.Tx(2).Len(), "vm1's MACs announced on nic1 again")
	r.io.Tx(2).Discard()
}

func TestFailoverWithNoNICLeftKeepsPacketsQueued(t *testing.T) {
	s := twoByTwo(t)
	s.Teams[0].Policy = PolicyVMAffinity
	s.Version = 1
	require.NoError(t, s.Build())
	r := newRig(t, s, 64)
	r.w.follow(s)
	r.w.egress(s, 0, r.mbufs(frame(macPeer, macVM1, 64), frame(macPeer, macVM1, 64)))
	none := twoByTwo(t, false, false)
	none.Teams[0].Policy = PolicyVMAffinity
	none.Version = 2
	require.NoError(t, none.Build())
	r.w.follow(none)
	assert.EqualValues(t, 2, r.io.Tx(2).Len(), "they wait for a NIC to return")
	assert.Zero(t, r.io.PendingFree(), "nothing freed")
}

func TestBeaconsAreSentPerIntervalAndHeardNotDelivered(t *testing.T) {
	s := twoByTwo(t)
	s.Teams[0].BeaconInterval = time.Millisecond
	s.NICs[0].MAC, s.NICs[1].MAC = 0x020000000a01, 0x020000000a02
	s.Version = 1
	require.NoError(t, s.Build())
	r := newRig(t, s, 64)
	r.w.hz = fakeHz
	r.w.follow(s)
	r.w.lastTSC = 10
	r.w.sendBeacons(s)
	r.w.lastTSC = 10 + fakeHz/2000 // half an interval later: nothing new
	r.w.sendBeacons(s)
	assert.EqualValues(t, 1, r.io.Tx(2).Len())
	assert.EqualValues(t, 1, r.io.Tx(3).Len())
	r.w.lastTSC = 10 + fakeHz/1000
	r.w.sendBeacons(s)
	assert.EqualValues(t, 2, r.io.Tx(2).Len())

	// nic2's beacon, heard on nic1: counted, consumed, not flooded.
	b, _ := r.io.Tx(3).Pop()
	own, _ := r.io.Tx(2).Pop()
	r.w.ingress(s, 0, []*dpdk.Mbuf{b, own})
	r.w.publish()
	assert.EqualValues(t, 1, r.w.NICCounters(0)[BeaconsHeard], "its own beacon does not count")
	assert.EqualValues(t, 2, r.w.NICCounters(1)[BeaconsSent])
	assert.Zero(t, r.io.Tx(0).Len()+r.io.Tx(1).Len(), "no VM gets a beacon")
	r.io.Tx(2).Discard()
	r.io.Tx(3).Discard()
}

func TestEgressEachAgreesWithPacketNIC(t *testing.T) {
	for _, p := range []Policy{PolicySrcMACHash, PolicyFlowHash, PolicyRoundRobin, PolicyLeastPending} {
		s := team(t, p, 3, 1)
		s.VMs[0].MACs = append(s.VMs[0].MACs, 0x020000000077) // two MACs: src-mac-hash picks per packet
		require.NoError(t, s.Build())
		r := newRig(t, s, 1024) // tx queue 0 reaches the VM, 1-3 the NICs
		r.w.follow(s)
		frames := burstOf(s.VMs[0].MACs[0])
		for i := 0; i < len(frames); i += 3 {
			s.VMs[0].MACs[1].Put(frames[i][6:12])
		}
		pkts := r.mbufs(frames...)
		r.w.egress(s, 0, pkts)

		// The same decisions, one by one, through PacketNIC.
		var turn uint32
		load := make([]float64, 3)
		want := map[int]int{}
		for _, f := range frames {
			n := s.PacketNIC(p, s.Teams[0].Up, f, MACAt(f[6:12]), &turn, load)
			if p == PolicyLeastPending {
				load[n] += float64(len(f)) * 8 / s.NICs[n].SpeedBps
			}
			want[n]++
		}
		for n := 0; n < 3; n++ {
			assert.EqualValues(t, want[n], r.io.Tx(1+n).Len(), "%s: nic %d", p, n)
			r.io.Tx(1 + n).Discard()
		}
	}
}

func TestLoopGapsAreCountedByLengthAndTheWindowKeepsItsMaximum(t *testing.T) {
	const hz = 1_000_000_000 // a cycle is a nanosecond
	w, _ := pollingWorker(t, twoByTwo(t), hz)
	now := uint64(5_000)
	step := func(ns uint64) {
		now += ns
		w.account(now, 0)
	}
	w.account(now, 0) // the first iteration has no gap
	step(999)         // < 1 µs
	step(1_000)       // 1 µs: [1, 2)
	step(3_999)       // [2, 4)
	step(700_000)     // [512, 1024)
	step(9_000_000)   // 9 ms: [8192, 16384)
	step(10_000_000_000)
	w.publish()
	ls := w.LoopStats()
	want := [GapBuckets]uint64{}
	want[0], want[1], want[2], want[10], want[14], want[GapBuckets-1] = 1, 1, 1, 1, 1, 1
	assert.Equal(t, want, ls.Gaps, "a 10 s gap lands in the last, open bucket")
	assert.EqualValues(t, 999+1_000+3_999+700_000+9_000_000+10_000_000_000, ls.GapCycles)
	assert.EqualValues(t, 10_000_000_000, ls.MaxGapCycles)
	assert.EqualValues(t, 10_000_000_000, ls.RecentMaxGapCycles, "the window that closed with the 10 s gap")

	// The next windows keep only their own maximum.
	step(2_000)
	step(hz)
	w.publish()
	assert.EqualValues(t, hz, w.LoopStats().RecentMaxGapCycles)
	step(3_000)
	step(hz - 3_000)
	w.publish()
	assert.EqualValues(t, hz-3_000, w.LoopStats().RecentMaxGapCycles)
	assert.EqualValues(t, 10_000_000_000, w.LoopStats().MaxGapCycles)
	assert.Equal(t, float64(1), GapBoundUS(0))
	assert.Equal(t, float64(1<<14), GapBoundUS(14))
	assert.Zero(t, GapBoundUS(GapBuckets-1), "the last bucket has no bound")
}

func TestVMToVMFramesAreSwitchedLocallyAndGroupFramesAlsoLeaveByOneNIC(t *testing.T) {
	// vm1 has two MACs (a NIC per frame: egressEach), vm2 one (a NIC per
	// burst: egressTo); both paths switch locally.
	for _, policy := range []Policy{PolicySrcMACHash, PolicyFlowHash} {
		s := twoByTwo(t)
		s.Teams[0].Policy = policy
		require.NoError(t, s.Build())
		r := newRig(t, s, 64)
		from1 := r.mbufs(frame(macVM2, macVM1, 64), frame(Broadcast, macVM1b, 80), frame(macPeer, macVM1, 64))
		from2 := r.mbufs(frame(macVM1b, macVM2, 90), frame(0x01005e000001, macVM2, 70))
		r.w.egress(s, 0, from1)
		r.w.egress(s, 1, from2)
		r.w.publish()

		assert.EqualValues(t, 2, r.io.Tx(0).Len(), "%s: vm1 gets vm2's unicast and multicast", policy)
		assert.EqualValues(t, 2, r.io.Tx(1).Len(), "%s: vm2 gets vm1's unicast and broadcast", policy)
		assert.EqualValues(t, 3, r.io.Tx(2).Len()+r.io.Tx(3).Len(), "%s: the NICs get the two group frames and the one for the network", policy)
		assert.EqualValues(t, 2, from1[1].Refcnt(), "one broadcast mbuf: vm2's reference and the NIC's")
		assert.EqualValues(t, 2, from2[1].Refcnt())
		assert.EqualValues(t, 1, from1[0].Refcnt())
		assert.Zero(t, r.io.PendingFree())

		c1, c2 := r.w.VMCounters(0), r.w.VMCounters(1)
		assert.EqualValues(t, 3, c1[RxPackets], "everything a VM sends is its out")
		assert.EqualValues(t, 2, c1[LocalOut])
		assert.EqualValues(t, 2, c1[LocalIn])
		assert.EqualValues(t, 2, c1[TxPackets])
		assert.EqualValues(t, 2, c2[LocalOut])
		assert.EqualValues(t, 2, c2[LocalIn])
		assert.EqualValues(t, 64+80, c2[TxBytes])
		n1, n2 := r.w.NICCounters(0), r.w.NICCounters(1)
		assert.EqualValues(t, 3, n1[TxPackets]+n2[TxPackets], "only what leaves counts on the NICs")
		assert.EqualValues(t, 80+64+70, n1[TxBytes]+n2[TxBytes])
	}
}

func TestLocalDeliveryDropsCountAtTheDestinationAndNothingLeaks(t *testing.T) {
	s := twoByTwo(t, false, false) // no usable NIC
	s.VMs[1].Connected = false
	r := newRig(t, s, 64)
	pkts := r.mbufs(frame(macVM2, macVM1, 64), frame(Broadcast, macVM1, 64))
	r.w.egress(s, 0, pkts)
	r.w.publish()
	assert.EqualValues(t, 2, r.w.VMCounters(1)[Drop(DropVMDown)], "vm2's drops: it is not connected")
	assert.EqualValues(t, 1, r.w.VMCounters(0)[Drop(DropNoNIC)], "the broadcast's network copy had no NIC")
	assert.Zero(t, r.w.VMCounters(0)[LocalOut])
	assert.Equal(t, 2, r.io.PendingFree(), "both freed")
	assert.EqualValues(t, 1, pkts[1].Refcnt(), "no copy was made")

	// vm2 back, still no NIC: the broadcast's local copy is delivered and
	// the NIC's reference given back.
	s = twoByTwo(t, false, false)
	r = newRig(t, s, 64)
	b := r.mbufs(frame(Broadcast, macVM1, 64))
	r.w.egress(s, 0, b)
	r.w.publish()
	assert.EqualValues(t, 1, r.io.Tx(1).Len())
	assert.EqualValues(t, 2, b[0].Refcnt(), "vm2's reference, and the one the free drops")
	assert.Equal(t, 1, r.io.PendingFree())
	assert.EqualValues(t, 1, r.w.VMCounters(0)[LocalOut])
}
