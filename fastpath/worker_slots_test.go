package fastpath

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
)

// withVM2 is twoByTwo with vm2's slot held by VM id (0: absent).
func withVM2(t *testing.T, id uint32, version uint64) *Snapshot {
	s := twoByTwo(t)
	s.VMs[0].ID = 1
	s.VMs[1].ID, s.VMs[1].Port = id, 7
	if id == 0 {
		s.VMs[1] = VM{Absent: true, Team: 0, Preferred: -1, Assigned: -1}
	}
	s.Version = version
	require.NoError(t, s.Build())
	return s
}

func TestASlotTakesAVMAndGivesItBackWithoutPollingOrLeaking(t *testing.T) {
	s := withVM2(t, 0, 1)
	w, io := pollingWorker(t, s, 1)
	t.Cleanup(io.DiscardFreed)
	w.follow(s)
	w.setRxLimits(s)
	assert.Equal(t, []int{0}, w.active, "an empty slot is not looked at")
	assert.Equal(t, []int{2, 3, 0}, w.activeTx, "nor its queue flushed")
	assert.Equal(t, 0, io.RxLimit(1), "nor polled")
	assert.EqualValues(t, 1, w.Applied())
	_, ok := s.VMByMAC(macVM2)
	assert.False(t, ok, "an empty slot owns no MAC")

	// VM 5 takes the slot: polled, its counters its own from zero.
	w.vm[1][RxPackets] = 99 // left by an earlier VM
	s = withVM2(t, 5, 2)
	w.follow(s)
	w.setRxLimits(s)
	assert.Equal(t, []int{0, 1}, w.active)
	assert.Equal(t, []int{2, 3, 0, 1}, w.activeTx)
	assert.Equal(t, dpdk.Burst, io.RxLimit(1))
	c, ok := w.VMCountersOf(1, 5)
	require.True(t, ok)
	assert.Zero(t, c[RxPackets])
	assert.EqualValues(t, 2, w.Applied())

	// Something is queued for it, it sent a packet in this loop's Step,
	// and it leaves: both freed and counted as its vm-down drops, in the
	// counters it leaves behind.
	m := dpdk.NewDetachedMbuf(64)
	defer dpdk.FreeDetachedMbuf(m)
	sent := dpdk.NewDetachedMbuf(64)
	defer dpdk.FreeDetachedMbuf(sent)
	require.True(t, io.Tx(1).Push(m))
	io.FakeReceived(1, []*dpdk.Mbuf{sent})
	s = withVM2(t, 0, 3)
	w.follow(s)
	assert.Zero(t, io.Tx(1).Len())
	assert.Equal(t, 2, io.PendingFree(), "the queued and the received packet are freed")
	assert.Empty(t, io.Received(1))
	assert.Equal(t, 0, io.RxLimit(1), "no longer polled")
	c, ok = w.VMCountersOf(1, 5)
	require.True(t, ok, "the counters are still the VM's that left")
	assert.EqualValues(t, 2, c[Drop(DropVMDown)])
	assert.EqualValues(t, 3, w.Applied(), "ctrl may close the port now")
	io.DiscardFreed()

	// The next VM in the slot does not see them.
	s = withVM2(t, 6, 4)
	w.follow(s)
	_, ok = w.VMCountersOf(1, 5)
	assert.False(t, ok)
	c, ok = w.VMCountersOf(1, 6)
	require.True(t, ok)
	assert.Zero(t, c[Drop(DropVMDown)])
}

// withNIC2 is twoByTwo with nic2's slot held by NIC id (0: absent).
func withNIC2(t *testing.T, id uint32, version uint64) *Snapshot {
	s := twoByTwo(t)
	s.NICs[0].ID = 1
	s.NICs[1].ID, s.NICs[1].Port = id, 9
	if id == 0 {
		s.NICs[1] = NIC{Absent: true}
		s.Teams[0].NICs = []int{0}
	}
	s.Version = version
	require.NoError(t, s.Build())
	return s
}

func TestASlotTakesANICAndGivesItBackWithoutPollingOrLeaking(t *testing.T) {
	io, err := dpdk.NewIO(make([]dpdk.QueueRef, 4), make([]dpdk.QueueRef, 4), 64)
	require.NoError(t, err)
	t.Cleanup(func() { io.Close() })
	t.Cleanup(io.DiscardFreed)
	var snap atomic.Pointer[Snapshot]
	s := withNIC2(t, 0, 1)
	snap.Store(s)
	w := NewWorker(WorkerPlan{IO: io, Snap: &snap, Rx: []Endpoint{{Index: 0}, {Index: 1}, {IsNIC: true, Index: 0}, {IsNIC: true, Index: 1}},
		VMTx: []int{0, 1}, NICTx: []int{2, 3}, TSCHz: 1})
	w.follow(s)
	assert.Equal(t, []int{0, 1, 2}, w.active, "an empty NIC slot is not polled")
	assert.Equal(t, []int{2, 0, 1}, w.activeTx, "nor its queue flushed")
	assert.Equal(t, []int{0}, s.Teams[0].Up)

	// NIC 7 takes the slot: polled, its counters its own from zero.
	w.nic[1][TxPackets] = 99 // left by an earlier NIC
	s = withNIC2(t, 7, 2)
	w.follow(s)
	assert.Equal(t, []int{0, 1, 2, 3}, w.active)
	assert.Equal(t, []int{2, 3, 0, 1}, w.activeTx)
	assert.Equal(t, []int{0, 1}, s.Teams[0].Up)
	c, ok := w.NICCountersOf(1, 7)
	require.True(t, ok)
	assert.Zero(t, c[TxPackets])

	// It leaves with a packet queued (its team had nowhere else to put
	// it) and one received in this loop: both freed and counted as its
	// no-nic drops, in the counters it leaves behind.
	m := dpdk.NewDetachedMbuf(64)
	defer dpdk.FreeDetachedMbuf(m)
	got := dpdk.NewDetachedMbuf(64)
	defer dpdk.FreeDetachedMbuf(got)
	require.True(t, io.Tx(3).Push(m))
	io.FakeReceived(3, []*dpdk.Mbuf{got})
	s = withNIC2(t, 0, 3)
	w.follow(s)
	assert.Zero(t, io.Tx(3).Len())
	assert.Equal(t, 2, io.PendingFree(), "the queued and the received packet are freed")
	assert.Equal(t, []int{0, 1, 2}, w.active, "no longer polled")
	c, ok = w.NICCountersOf(1, 7)
	require.True(t, ok, "the counters are still the NIC's that left")
	assert.EqualValues(t, 2, c[Drop(DropNoNIC)])
	assert.EqualValues(t, 3, w.Applied(), "ctrl may detach the port now")
	io.DiscardFreed()

	// The next NIC in the slot does not see them.
	s = withNIC2(t, 8, 4)
	w.follow(s)
	_, ok = w.NICCountersOf(1, 7)
	assert.False(t, ok)
	c, ok = w.NICCountersOf(1, 8)
	require.True(t, ok)
	assert.Zero(t, c[Drop(DropNoNIC)])
}
