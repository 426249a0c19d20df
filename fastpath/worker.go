package fastpath

import (
	"math"
	"math/bits"
	"sync/atomic"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
)

// Worker is one polling loop: it owns a set of rx queues, a bounded
// software tx queue per destination port, and the counters of the VMs and
// NICs it serves. Only the worker writes them.
type Worker struct {
	io    *dpdk.IO
	snap  *atomic.Pointer[Snapshot]
	rx    []Endpoint
	vmTx  []int // VM index -> tx queue index
	nicTx []int
	// vmRx, nicRx: VM or NIC slot -> its rx queue index (-1: none);
	// active: the rx queues of present NICs and VMs, the only ones the
	// loop looks at; owner, nicOwner: per slot, the entity ID holding it
	// (0: none).
	vmRx     []int
	nicRx    []int
	active   []int
	activeTx []int
	owner    []uint32
	nicOwner []uint32
	// applied is the version of the last tables the worker took: ctrl
	// closes a removed VM's port only once the worker has let go of it.
	applied atomic.Uint64

	vm, nic       []Counters
	vmPub, nicPub []PublishedCounters
	room          []uint32 // per NIC, scratch for back-pressure limits

	vms  []vmState
	nics []nicState
	dos  []dosState
	// dosOn: some VM is watched or has a DoS response on.
	dosOn                   bool
	dosWindow, dosWindowEnd uint64
	// dosStall: the loop stalled longer than a DoS window since the last
	// one closed; dosBacklog: the window open now started then. Such
	// windows hold frames that arrived over the whole stall (the rings'
	// backlog), so their distinct sources say nothing of a window's.
	dosStall, dosBacklog bool
	load                 []float64         // per NIC, pending load in seconds; see loads
	dst                  [dpdk.Burst]int16 // per packet of a burst, its NIC or -1
	// needLoads: some team is least-pending or some VM high priority.
	needLoads bool
	// shaping: some VM's bucket limits it.
	shaping bool

	prev     *Snapshot // the tables before the last change
	stranded bool      // packets wait on an unavailable NIC
	alloc    func([]*dpdk.Mbuf) error
	scratch  []*dpdk.Mbuf // a drained queue while it is rerouted
	ann      []Announcement
	one      [1]*dpdk.Mbuf

	// Beacons, per team: cycles between them (0: none), when next due.
	beaconEvery, beaconNext []uint64
	beaconsOn               bool
	beaconSeq               uint32
	version                 uint64 // snapshot version the buckets were set from

	stats     LoopStats
	gapWindow uint64
	windowEnd uint64
	nextPub   uint64
	pubEvery  uint64
	hz        uint64
	// usPerCycle is 2^32 µs per TSC cycle, rounded up (a gap of exactly
	// 1 µs is 1 µs), to bucket a gap without a division.
	usPerCycle uint64
	lastTSC    uint64
	statsPub   publishedLoopStats
	stop       atomic.Bool
}

// vmState is what the worker keeps per VM between loops.
type vmState struct {
	bucket Bucket
	// limit: this loop's rx limit; tokenBound: the bucket set it.
	limit      uint32
	tokenBound bool
	// held: the VM had more to send than its allocation allowed when last
	// observed (a loop whose limit was 0 observes nothing and keeps it).
	held bool
	turn uint32 // round-robin
}

// nicState is what the worker keeps per NIC to judge its pending load.
type nicState struct {
	secPerByte float64 // 8 / speed: a queued byte's share of pending load
	util       float64 // recent transmit rate / speed, smoothed
	avgFrame   float64 // recent mean frame size queued to it
	lastBytes  uint64
	lastPkts   uint64
	lastTSC    uint64
}

// Endpoint names the VM or NIC behind an rx queue.
type Endpoint struct {
	IsNIC bool
	Index int
}

// WorkerPlan wires a worker to its queues. Rx[i] says whose packets IO's rx
// queue i carries; VMTx[v] and NICTx[n] are the IO tx queue indexes that
// reach VM v and NIC n.
type WorkerPlan struct {
	IO    *dpdk.IO
	Snap  *atomic.Pointer[Snapshot]
	Rx    []Endpoint
	VMTx  []int
	NICTx []int
	// TSCHz is the TSC frequency, for per-second figures.
	TSCHz uint64
	// Alloc fills a slice with fresh mbufs (all or none), for the frames
	// the worker originates: MAC announcements after a failover.
	Alloc func([]*dpdk.Mbuf) error
}

// NewWorker builds a worker. It allocates everything the loop needs.
func NewWorker(p WorkerPlan) *Worker {
	w := &Worker{
		io: p.IO, snap: p.Snap, rx: p.Rx, vmTx: p.VMTx, nicTx: p.NICTx,
		vm: make([]Counters, len(p.VMTx)), nic: make([]Counters, len(p.NICTx)),
		vmPub: make([]PublishedCounters, len(p.VMTx)), nicPub: make([]PublishedCounters, len(p.NICTx)),
		room: make([]uint32, len(p.NICTx)),
		vms:  make([]vmState, len(p.VMTx)), nics: make([]nicState, len(p.NICTx)),
		dos:  make([]dosState, len(p.VMTx)),
		load: make([]float64, len(p.NICTx)),
		hz:   p.TSCHz, alloc: p.Alloc,
	}
	if len(p.NICTx) > 0 {
		w.scratch = make([]*dpdk.Mbuf, 0, p.IO.Tx(p.NICTx[0]).Cap())
	}
	w.vmRx = make([]int, len(p.VMTx))
	w.owner = make([]uint32, len(p.VMTx))
	w.nicRx = make([]int, len(p.NICTx))
	w.nicOwner = make([]uint32, len(p.NICTx))
	w.active = make([]int, 0, len(p.Rx))
	w.activeTx = make([]int, 0, len(p.VMTx)+len(p.NICTx))
	for v := range w.vmRx {
		w.vmRx[v] = -1
	}
	for n := range w.nicRx {
		w.nicRx[n] = -1
	}
	for i, ep := range p.Rx {
		if ep.IsNIC {
			w.nicRx[ep.Index] = i
		} else {
			w.vmRx[ep.Index] = i
			// Not polled until the tables say a VM is there.
			p.IO.SetRxLimit(i, 0)
		}
	}
	for v, q := range p.VMTx {
		w.dos[v].hold = make([]*dpdk.Mbuf, 0, p.IO.Tx(q).Cap())
	}
	if w.hz == 0 {
		w.hz = 1
	}
	w.pubEvery = w.hz / 1000
	w.usPerCycle = uint64(math.Ceil(float64(1<<32) * 1e6 / float64(w.hz)))
	return w
}

// Stop asks the loop to end after its current iteration.
func (w *Worker) Stop() { w.stop.Store(true) }

// VMCounters reads a VM's published counters.
func (w *Worker) VMCounters(v int) Counters { return w.vmPub[v].Load() }

// VMCountersOf reads slot v's published counters if they are VM id's
// (see PublishedCounters.LoadOf).
func (w *Worker) VMCountersOf(v int, id uint32) (Counters, bool) { return w.vmPub[v].LoadOf(id) }

// Applied is the version of the last tables the worker took.
func (w *Worker) Applied() uint64 { return w.applied.Load() }

// NICCounters reads a NIC's published counters.
func (w *Worker) NICCounters(n int) Counters { return w.nicPub[n].Load() }

// NICCountersOf reads NIC slot n's published counters if they are NIC
// id's (see PublishedCounters.LoadOf).
func (w *Worker) NICCountersOf(n int, id uint32) (Counters, bool) { return w.nicPub[n].LoadOf(id) }

// LoopStats reads the published loop statistics.
func (w *Worker) LoopStats() LoopStats { return w.statsPub.load() }

// Run is the loop. It returns when Stop is called, after sending what it
// can of what is queued and freeing the rest (counted as shutdown drops).
func (w *Worker) Run() error {
	s := w.snap.Load()
	w.follow(s)
	for !w.stop.Load() {
		w.setRxLimits(s)
		n := w.io.Step()
		// Decide with the tables published before the packets were
		// received: whoever saw a change announced (a VM attached) may
		// already have sent into it.
		s = w.snap.Load()
		if s.Version != w.version {
			w.follow(s)
		}
		w.account(w.io.StepTSC(), n)
		if n > 0 {
			w.refreshLoads()
			for _, i := range w.active {
				pkts := w.io.Received(i)
				if len(pkts) == 0 {
					continue
				}
				if w.rx[i].IsNIC {
					w.ingress(s, w.rx[i].Index, pkts)
				} else {
					w.egress(s, w.rx[i].Index, pkts)
				}
			}
		}
		w.observeHeld()
		if w.stranded {
			w.rerouteStranded(s)
		}
		if w.beaconsOn {
			w.sendBeacons(s)
		}
		if w.dosOn {
			w.releaseHeld()
			w.closeDoSWindow(s)
		}
		if w.lastTSC >= w.nextPub {
			w.measureNICs(s, w.lastTSC)
			w.publish()
			w.nextPub = w.lastTSC + w.pubEvery
		}
	}
	w.drain()
	w.publish()
	return nil
}

// drainAttempts bounds how long shutdown waits for ports to take what is
// queued; a port whose link is down may never take it.
const drainAttempts = 1000

func (w *Worker) drain() {
	w.dropHeld()
	for i := 0; i < drainAttempts && w.queued() > 0; i++ {
		w.io.Flush()
	}
	for v, q := range w.vmTx {
		w.vm[v][Drop(DropShutdown)] += uint64(w.io.Tx(q).Len())
	}
	for n, q := range w.nicTx {
		w.nic[n][Drop(DropShutdown)] += uint64(w.io.Tx(q).Len())
	}
}

func (w *Worker) queued() uint32 {
	var n uint32
	for _, q := range w.vmTx {
		n += w.io.Tx(q).Len()
	}
	for _, q := range w.nicTx {
		n += w.io.Tx(q).Len()
	}
	return n
}

// follow takes a new snapshot: VMs that came or went, token buckets from
// the allocations, loads, beacons, DoS responses, failover.
func (w *Worker) follow(s *Snapshot) {
	w.followSlots(s)
	w.shaping = false
	for v := range w.vms {
		vs := &w.vms[v]
		vs.bucket.SetRate(s.VMs[v].RateBps, s.VMs[v].RatePps, w.hz)
		vs.held = vs.held && vs.bucket.Limited()
		w.shaping = w.shaping || vs.bucket.Limited()
	}
	for n := range w.nics {
		speed := defaultSpeedBps
		if n < len(s.NICs) && s.NICs[n].SpeedBps > 0 {
			speed = s.NICs[n].SpeedBps
		}
		w.nics[n].secPerByte = 8 / speed
	}
	w.needLoads = false
	for _, t := range s.Teams {
		w.needLoads = w.needLoads || t.Policy == PolicyLeastPending
	}
	for _, v := range s.VMs {
		w.needLoads = w.needLoads || v.Priority > 0
	}
	w.beaconEvery = w.beaconEvery[:0]
	w.beaconsOn = false
	for _, t := range s.Teams {
		every := uint64(t.BeaconInterval.Seconds() * float64(w.hz))
		w.beaconEvery = append(w.beaconEvery, every)
		w.beaconsOn = w.beaconsOn || every > 0
	}
	for len(w.beaconNext) < len(s.Teams) {
		w.beaconNext = append(w.beaconNext, 0)
	}
	w.followDoS(s)
	w.version = s.Version
	if w.prev != nil {
		w.failover(w.prev, s)
	}
	w.prev = s
	w.applied.Store(s.Version)
}

// followSlots finds the VM and NIC slots whose entity changed and lists
// the queues to poll and flush.
func (w *Worker) followSlots(s *Snapshot) {
	w.active = w.active[:0]
	for i, ep := range w.rx {
		absent := false
		if n := ep.Index; ep.IsNIC {
			nic := &s.NICs[n]
			if id := holder(nic.ID, nic.Absent); id != w.nicOwner[n] {
				w.rebindNIC(n, nic, id)
			}
			absent = nic.Absent
		} else {
			vm := &s.VMs[n]
			if id := holder(vm.ID, vm.Absent); id != w.owner[n] {
				w.rebind(n, vm, id)
			}
			absent = vm.Absent
		}
		if !absent {
			w.active = append(w.active, i)
		}
	}
	w.activeTx = w.activeTx[:0]
	for n, q := range w.nicTx {
		if w.nicRx[n] < 0 || !s.NICs[n].Absent { // a slot this worker does not poll, or a present NIC
			w.activeTx = append(w.activeTx, q)
		}
	}
	for v, q := range w.vmTx {
		if w.vmRx[v] < 0 || !s.VMs[v].Absent { // a slot this worker does not poll, or a present VM
			w.activeTx = append(w.activeTx, q)
		}
	}
	w.io.SetActive(w.active, w.activeTx)
}

// holder is the entity ID holding a slot: 0 for an absent one.
func holder(id uint32, absent bool) uint32 {
	if absent {
		return 0
	}
	return id
}

// rebindNIC hands NIC slot n from its NIC to NIC id (0: none). A NIC
// leaves its team by a failover first (ctrl sets it down and waits for
// the worker to take those tables), so its queue is normally empty by
// now; what is still there found no other NIC of the team usable, and
// what the NIC received in this loop has no tables to be judged by: both
// are freed and counted as no-nic drops in the counters the NIC leaves
// behind.
// The new NIC's counters and state start from zero, on its own port.
func (w *Worker) rebindNIC(n int, nic *NIC, id uint32) {
	q := w.io.Tx(w.nicTx[n])
	i := w.nicRx[n]
	if w.nicOwner[n] != 0 {
		got := 0
		if i >= 0 {
			got = w.freeReceived(i)
		}
		c := &w.nic[n]
		c[Drop(DropNoNIC)] += uint64(got + q.Drain(w.io))
		w.nicPub[n].store(c)
	}
	w.nicOwner[n] = id
	if id == 0 {
		return
	}
	w.nic[n] = Counters{}
	w.nics[n] = nicState{}
	w.load[n] = 0
	if i >= 0 {
		w.io.ClearReceived(i)
		w.io.SetRxQueue(i, dpdk.QueueRef{Port: nic.Port})
	}
	q.SetQueue(dpdk.QueueRef{Port: nic.Port})
	w.nicPub[n].store(&w.nic[n])
	w.nicPub[n].owner.Store(id)
}

// freeReceived frees what rx queue i received in this loop's Step, for a
// slot whose entity left: it goes nowhere. It returns how many.
func (w *Worker) freeReceived(i int) int {
	got := w.io.Received(i)
	for _, m := range got {
		w.io.Free(m)
	}
	w.io.ClearReceived(i)
	return len(got)
}

// rebind hands VM slot v from its VM to VM id (0: none). What was queued
// for the VM that left cannot reach it any more: it is freed and counted
// as vm-down drops, in the counters it leaves behind. The new VM's
// counters and state start from zero, on its own port.
func (w *Worker) rebind(v int, vm *VM, id uint32) {
	q := w.io.Tx(w.vmTx[v])
	i := w.vmRx[v]
	if w.owner[v] != 0 {
		// What the VM sent in this loop's Step, received before these
		// tables, goes nowhere either.
		got := w.freeReceived(i)
		w.io.SetRxLimit(i, 0)
		c := &w.vm[v]
		c[Drop(DropVMDown)] += uint64(got + q.Drain(w.io) + w.dropHeldOf(v))
		w.vmPub[v].store(c)
	}
	w.owner[v] = id
	if id == 0 {
		return
	}
	w.vm[v] = Counters{}
	w.vms[v] = vmState{}
	w.dos[v].reset()
	w.io.ClearReceived(i) // an earlier VM's, handled long ago
	w.io.SetRxQueue(i, dpdk.QueueRef{Port: vm.Port})
	q.SetQueue(dpdk.QueueRef{Port: vm.Port})
	w.vmPub[v].store(&w.vm[v])
	w.vmPub[v].owner.Store(id)
}

// failover follows a change of tables that took NICs away or moved VMs:
// what was queued for a NIC that is no longer available goes out by the
// NIC its VM uses now (the rest waits in its queue for the NIC's return),
// and each VM MAC whose NIC changed is announced on its new NIC with a RARP,
// so that the physical switches learn where it went.
func (w *Worker) failover(old, s *Snapshot) {
	// Announce first: the switch learns the new port before the traffic
	// arrives, and the announcement finds room in the queue.
	w.ann = s.Moves(old, w.ann[:0])
	for _, a := range w.ann {
		w.announce(a)
	}
	w.rerouteStranded(s)
}

// rerouteStranded reroutes the packets queued for NICs that are not
// available. What finds no room elsewhere stays, and is tried again next
// loop (w.stranded) until it leaves or the NIC returns.
func (w *Worker) rerouteStranded(s *Snapshot) {
	w.stranded = false
	for n, q := range w.nicTx {
		if n >= len(s.NICs) || s.NICs[n].Usable() || w.io.Tx(q).Len() == 0 {
			continue
		}
		if len(s.Teams[s.NICs[n].Team].Up) > 0 { // else nowhere to go yet
			w.reroute(s, n)
		}
		w.stranded = w.stranded || w.io.Tx(q).Len() > 0
	}
}

// reroute moves NIC n's queued packets to the NICs their VMs use now.
func (w *Worker) reroute(s *Snapshot, n int) {
	q := w.io.Tx(w.nicTx[n])
	w.scratch = w.scratch[:0]
	for {
		m, ok := q.Pop()
		if !ok {
			break
		}
		w.scratch = append(w.scratch, m)
	}
	var moved, movedBytes uint64
	for _, m := range w.scratch {
		to := -1
		if d := m.Data(); len(d) >= EthHdrLen {
			src := MACAt(d[6:12])
			if v, ok := s.VMByMAC(src); ok {
				to = s.PickNIC(v, d, src, &w.vms[v].turn, w.load)
			}
		}
		if to >= 0 && to != n && w.io.Tx(w.nicTx[to]).Push(m) {
			w.nic[to][TxPackets]++
			w.nic[to][TxBytes] += uint64(m.PktLen())
			moved++
			movedBytes += uint64(m.PktLen())
			continue
		}
		q.Push(m) // nowhere else to go: wait for the NIC to return
	}
	// The packets count where they went, not where they were queued first.
	w.nic[n][Rerouted] += moved
	w.nic[n][TxPackets] -= moved
	w.nic[n][TxBytes] -= movedBytes
}

// sendBeacons queues a beacon on every NIC with its link up of each team
// whose interval has passed.
func (w *Worker) sendBeacons(s *Snapshot) {
	now := w.lastTSC
	for t, every := range w.beaconEvery {
		if every == 0 || now < w.beaconNext[t] {
			continue
		}
		w.beaconNext[t] = now + every
		w.beaconSeq++
		for _, n := range s.Teams[t].NICs {
			if nic := &s.NICs[n]; nic.LinkUp && nic.AdminUp {
				w.originate(n, func(b []byte) int { return PutBeacon(b, nic.MAC, t, n, w.beaconSeq) }, BeaconsSent)
			}
		}
	}
}

// hearBeacon counts a beacon NIC n received from another member of its
// team; beacons are consumed, never delivered to VMs.
func (w *Worker) hearBeacon(s *Snapshot, n int, frame []byte) {
	team, from, ok := ParseBeacon(frame)
	if ok && team == s.NICs[n].Team && from != n {
		w.nic[n][BeaconsHeard]++
	}
}

// originate queues a frame the worker builds itself on NIC n and counts it
// under c.
func (w *Worker) originate(n int, build func([]byte) int, c Counter) {
	if w.alloc == nil || w.alloc(w.one[:]) != nil {
		w.nic[n][Drop(DropNoMbuf)]++
		return
	}
	m := w.one[0]
	m.SetLen(uint16(build(m.Buffer())))
	if !w.io.Tx(w.nicTx[n]).Push(m) {
		w.nic[n][Drop(DropQueueFull)]++
		w.io.Free(m)
		return
	}
	w.nic[n][c]++
}

// announce queues a RARP for a.MAC on a.NIC.
func (w *Worker) announce(a Announcement) {
	w.originate(a.NIC, func(b []byte) int { return PutRARPIn(b, a.MAC, a.VID) }, Announced)
}

// setRxLimits is egress admission by back-pressure: a VM's vhost queue is
// polled only for as many packets as its token bucket allows and as the
// NICs it may use can still queue. What it may not send yet stays in its
// virtqueue — the guest's own queue is the defer queue, and nothing is
// lost. A slow or stuck NIC holds back only the VMs that use it, and a
// VM with no usable NIC is not polled at all.
func (w *Worker) setRxLimits(s *Snapshot) {
	for n, q := range w.nicTx {
		w.room[n] = w.io.Tx(q).Space()
	}
	now := w.lastTSC
	w.refreshLoads()
	for _, i := range w.active {
		ep := w.rx[i]
		if ep.IsNIC {
			continue
		}
		v := ep.Index
		vs := &w.vms[v]
		room := uint32(dpdk.Burst)
		nic, fixed := s.BurstNIC(v, w.load)
		up := s.Teams[s.VMs[v].Team].Up
		if fixed {
			up = nil
			if nic >= 0 {
				room = min(room, w.room[nic])
			} else {
				room = 0
			}
		} else if len(up) == 0 {
			room = 0
		}
		for _, n := range up {
			room = min(room, w.room[n])
		}
		limit := room
		vs.tokenBound = false
		if vs.bucket.Limited() {
			vs.bucket.Refill(now)
			limit = vs.bucket.Allow(room)
			vs.tokenBound = limit < room
		}
		if fixed && nic >= 0 {
			w.room[nic] -= limit
		}
		for _, n := range up {
			w.room[n] -= limit
		}
		vs.limit = limit
		w.io.SetRxLimit(i, int(limit))
	}
}

// observeHeld notes, after a loop's egress, which VMs had more to send
// than their tokens allowed: a VM held back took all the packets it was
// allowed, or more bytes than its bucket held. ctrl reads the Held counter
// to tell a VM's demand from its allocation.
func (w *Worker) observeHeld() {
	if !w.shaping { // a plain bond: nothing is held back by tokens
		return
	}
	for _, i := range w.active {
		ep := w.rx[i]
		if ep.IsNIC {
			continue
		}
		vs := &w.vms[ep.Index]
		if vs.limit > 0 {
			vs.held = (vs.tokenBound && uint32(len(w.io.Received(i))) == vs.limit) || vs.bucket.InDebt()
		}
		if vs.held {
			w.vm[ep.Index][Held]++
		}
	}
}

// refreshLoads fills w.load with each NIC's pending transfer load when
// some VM's choice needs it (a least-pending team, or a high-priority VM):
// the time its software queue takes to drain at link speed plus its recent
// utilisation over a millisecond. It runs once before polling and once
// before deciding, not once per VM.
func (w *Worker) refreshLoads() {
	if !w.needLoads {
		return
	}
	for n := range w.nics {
		ns := &w.nics[n]
		w.load[n] = float64(w.io.Tx(w.nicTx[n]).Len())*ns.avgFrame*ns.secPerByte + ns.util*utilHorizon
	}
}

// defaultSpeedBps stands in for a NIC whose speed nobody knows.
const defaultSpeedBps = 10e9

// utilHorizon weighs recent utilisation against queued bytes: a NIC busy
// at 100 % counts as much as one with a millisecond of queue.
const utilHorizon = 0.001

// measureNICs updates each NIC's smoothed utilisation and mean frame size
// from its counters; it runs at publish time, about once a millisecond.
func (w *Worker) measureNICs(s *Snapshot, now uint64) {
	for n := range w.nics {
		ns := &w.nics[n]
		c := &w.nic[n]
		if ns.lastTSC != 0 && now > ns.lastTSC {
			dt := float64(now-ns.lastTSC) / float64(w.hz)
			db, dp := c[TxBytes]-ns.lastBytes, c[TxPackets]-ns.lastPkts
			speed := defaultSpeedBps
			if n < len(s.NICs) && s.NICs[n].SpeedBps > 0 {
				speed = s.NICs[n].SpeedBps
			}
			ns.util += (float64(db)*8/dt/speed - ns.util) / 4
			if dp > 0 {
				ns.avgFrame = float64(db) / float64(dp)
			}
		}
		ns.lastBytes, ns.lastPkts, ns.lastTSC = c[TxBytes], c[TxPackets], now
	}
}

// account counts the iteration that began at now, which received
// received packets: its gap from the previous one into the histogram and
// the maxima, its cycles as busy when it moved packets.
func (w *Worker) account(now uint64, received int) {
	if w.lastTSC != 0 {
		gap := now - w.lastTSC
		if received > 0 || w.io.Sent() > 0 {
			w.stats.BusyCycles += gap
			w.stats.BusyLoops++
		}
		w.stats.MaxGapCycles = max(w.stats.MaxGapCycles, gap)
		w.gapWindow = max(w.gapWindow, gap)
		if w.dosOn && gap > w.dosWindow {
			w.dosStall = true
		}
		hi, lo := bits.Mul64(gap, w.usPerCycle)
		w.stats.Gaps[gapBucket(hi<<32|lo>>32)]++
		w.stats.GapCycles += gap
	}
	if now >= w.windowEnd {
		w.stats.RecentMaxGapCycles = w.gapWindow
		w.gapWindow = 0
		w.windowEnd = now + w.hz
	}
	w.lastTSC = now
	w.stats.Loops++
	w.stats.Packets += uint64(received)
}

func (w *Worker) publish() {
	for i := range w.vm {
		w.vmPub[i].store(&w.vm[i])
	}
	for i := range w.nic {
		w.nicPub[i].store(&w.nic[i])
	}
	w.statsPub.loops.Store(w.stats.Loops)
	w.statsPub.busy.Store(w.stats.BusyCycles)
	w.statsPub.busyLoops.Store(w.stats.BusyLoops)
	w.statsPub.packets.Store(w.stats.Packets)
	w.statsPub.maxGap.Store(w.stats.MaxGapCycles)
	w.statsPub.recentGap.Store(w.stats.RecentMaxGapCycles)
	w.statsPub.gapCycles.Store(w.stats.GapCycles)
	for k := range w.stats.Gaps {
		w.statsPub.gaps[k].Store(w.stats.Gaps[k])
	}
}

// egress handles a burst a VM sent: vet each frame, pick its NIC, queue
// it, pay the VM's tokens. When the NIC does not depend on the packet (a
// per-VM policy, or src-mac-hash for a VM with one MAC) it is picked once
// for the burst.
func (w *Worker) egress(s *Snapshot, v int, pkts []*dpdk.Mbuf) {
	vm := &s.VMs[v]
	team := &s.Teams[vm.Team]
	load := w.load
	nic, fixed := s.BurstNIC(v, load)
	if !fixed && team.Policy == PolicySrcMACHash && len(vm.MACs) == 1 {
		nic, fixed = -1, true
		if len(team.Up) > 0 {
			nic = SrcMACHash(vm.MACs[0], team.Up)
		}
	}
	if vm.DoSWatch {
		countDoS(&w.vm[v], &w.dos[v].out, OutSYN, pkts)
	}
	var bytes uint64
	switch {
	case team.VLANAware:
		bytes = w.egressVLAN(s, v, pkts)
	case fixed:
		bytes = w.egressTo(s, v, nic, pkts)
	default:
		bytes = w.egressEach(s, v, pkts, load)
	}
	c := &w.vm[v]
	c[RxPackets] += uint64(len(pkts))
	c[RxBytes] += bytes
	w.vms[v].bucket.Take(uint32(len(pkts)), bytes)
}

// egressTo queues a burst's good frames to one NIC (-1: none usable), in
// one pass: the common case, kept apart from egressEach's two passes and
// queueTo, which cost it about 0.9 ns per packet. It returns the bytes
// taken from the VM.
func (w *Worker) egressTo(s *Snapshot, v, nic int, pkts []*dpdk.Mbuf) (bytes uint64) {
	c := &w.vm[v]
	var q *dpdk.TxQueue
	if nic >= 0 {
		q = w.io.Tx(w.nicTx[nic])
	}
	lc := localCache{on: len(s.Teams[s.VMs[v].Team].VMs) > 1, dst: emptyKey}
	var sent, sentBytes, full uint64
	for _, m := range pkts {
		l := m.PktLen()
		bytes += uint64(l)
		frame := m.Data()
		_, drop := s.EgressCheck(v, frame, l)
		if drop == NotDropped && lc.on {
			if d := MACAt(frame[0:6]); d != lc.dst {
				lc.lookup(s, v, d)
			}
			if (lc.to >= 0 || lc.flood) && w.switchLocal(s, v, m, lc.to, lc.flood, l) {
				continue
			}
		}
		if drop == NotDropped && q == nil {
			drop = DropNoNIC
		}
		if drop != NotDropped {
			c[Drop(drop)]++
			w.io.Free(m)
			continue
		}
		if !q.Push(m) {
			full++
			w.io.Free(m)
			continue
		}
		sent++
		sentBytes += uint64(l)
	}
	if nic >= 0 {
		nc := &w.nic[nic]
		nc[TxPackets] += sent
		nc[TxBytes] += sentBytes
		nc[Drop(DropQueueFull)] += full
	}
	return bytes
}

// egressEach picks a NIC per frame (src-mac-hash over several MACs,
// flow-hash, round-robin, least-pending), then queues the burst NIC by NIC
// so that each queue's state stays in registers. It returns the bytes
// taken.
func (w *Worker) egressEach(s *Snapshot, v int, pkts []*dpdk.Mbuf, load []float64) (bytes uint64) {
	c := &w.vm[v]
	vs := &w.vms[v]
	team := &s.Teams[s.VMs[v].Team]
	up := team.Up
	policy := team.Policy
	lc := localCache{on: len(team.VMs) > 1, dst: emptyKey}
	dst := &w.dst
	for i, m := range pkts {
		l := m.PktLen()
		bytes += uint64(l)
		frame := m.Data()
		src, drop := s.EgressCheck(v, frame, l)
		if drop == NotDropped && lc.on {
			if d := MACAt(frame[0:6]); d != lc.dst {
				lc.lookup(s, v, d)
			}
			if (lc.to >= 0 || lc.flood) && w.switchLocal(s, v, m, lc.to, lc.flood, l) {
				dst[i] = -1
				continue
			}
		}
		if drop == NotDropped && len(up) == 0 {
			drop = DropNoNIC
		}
		if drop != NotDropped {
			c[Drop(drop)]++
			w.io.Free(m)
			dst[i] = -1
			continue
		}
		// Snapshot.PacketNIC's switch, inlined: calling it per packet cost
		// 1.3 ns of 7.5 in BenchmarkEgressBurstPerPacket.
		// TestEgressEachAgreesWithPacketNIC keeps the two the same.
		var nic int
		switch policy {
		case PolicyLeastPending:
			nic = LeastPending(up, load)
			load[nic] += float64(l) * w.nics[nic].secPerByte
		case PolicyRoundRobin:
			nic = RoundRobin(up, &vs.turn)
		case PolicyFlowHash:
			if h, ok := FlowHash(frame); ok {
				nic = PickByHash(h, up)
			} else {
				nic = SrcMACHash(src, up)
			}
		default:
			nic = SrcMACHash(src, up)
		}
		dst[i] = int16(nic)
	}
	for _, nic := range up {
		w.queueTo(nic, pkts)
	}
	return bytes
}

// queueTo queues to NIC nic the packets of a burst that egressEach picked
// it for (w.dst), and counts them.
func (w *Worker) queueTo(nic int, pkts []*dpdk.Mbuf) {
	q := w.io.Tx(w.nicTx[nic])
	var sent, sentBytes, full uint64
	for i, m := range pkts {
		if w.dst[i] != int16(nic) {
			continue
		}
		if !q.Push(m) {
			full++
			w.io.Free(m)
			continue
		}
		sent++
		sentBytes += uint64(m.PktLen())
	}
	nc := &w.nic[nic]
	nc[TxPackets] += sent
	nc[TxBytes] += sentBytes
	nc[Drop(DropQueueFull)] += full
}

// localCache is Snapshot.Local for the frames of one burst, looked up
// once per destination MAC in a row: a burst's frames mostly go to one
// peer (the gateway), and the lookup per frame cost 3.8 ns of 9.5 in
// BenchmarkEgressBurst.
type localCache struct {
	on    bool // the team has other VMs
	dst   MAC
	to    int
	flood bool
}

// lookup caches where VM v's frames to d go; the loops compare the
// destination inline, since a call per frame costs what the cache saves.
func (c *localCache) lookup(s *Snapshot, v int, d MAC) {
	c.dst = d
	c.to, c.flood = s.Local(v, d)
}

// switchLocal delivers VM v's frame to the VMs of its team on this host
// it is for (to, or all of them but v for flood), by the path frames
// from the network take (DoS admission, hold, counts). It says whether
// the frame is done with: true for a frame to one local VM, delivered or
// dropped there; false for a group frame after its local copies, which
// still goes out by a NIC: its mbuf then holds a reference for each copy
// and one for the NIC (a NIC that cannot take it frees just its own).
func (w *Worker) switchLocal(s *Snapshot, v int, m *dpdk.Mbuf, to int, flood bool, l uint32) bool {
	c := &w.vm[v]
	if flood {
		if k := w.flood(s, s.Teams[s.VMs[v].Team].VMs, v, m, l); k > 0 {
			m.SetRefcnt(k + 1)
			c[LocalOut] += uint64(k)
		}
		return false
	}
	if w.deliverOne(s, to, m, l) {
		w.vm[to][LocalIn]++
		c[LocalOut]++
	}
	return true
}

// flood queues m to every VM of vms but from (a local sender; -1 for a
// frame from the network), one reference each, and returns how many took
// it: the caller sets the reference count once it knows every holder.
func (w *Worker) flood(s *Snapshot, vms []int, from int, m *dpdk.Mbuf, l uint32) uint16 {
	k := uint16(0)
	for _, u := range vms {
		if u != from && w.deliver(s, u, m, l) {
			if from >= 0 {
				w.vm[u][LocalIn]++
			}
			k++
		}
	}
	return k
}

// deliverOne delivers m to VM to alone, through DoS admission; true when
// it was queued. It frees what it does not deliver.
func (w *Worker) deliverOne(s *Snapshot, to int, m *dpdk.Mbuf, l uint32) bool {
	if w.dosOn && !w.admitIngress(&s.VMs[to], to, m) {
		return false
	}
	if !w.deliver(s, to, m, l) {
		w.io.Free(m)
		return false
	}
	return true
}

// ingress handles a burst a NIC received.
func (w *Worker) ingress(s *Snapshot, nic int, pkts []*dpdk.Mbuf) {
	c := &w.nic[nic]
	team := &s.Teams[s.NICs[nic].Team]
	for _, m := range pkts {
		l := m.PktLen()
		c[RxPackets]++
		c[RxBytes] += uint64(l)
		d := m.Data()
		if IsBeaconType(d) {
			w.hearBeacon(s, nic, d)
			w.io.Free(m)
			continue
		}
		if team.VLANAware {
			w.ingressVLAN(s, nic, m, l)
			continue
		}
		v, flood, drop := s.Ingress(nic, d, l)
		switch {
		case drop != NotDropped:
			c[Drop(drop)]++
			w.io.Free(m)
		case flood:
			// One mbuf, one reference per VM it was queued to.
			if k := w.flood(s, team.VMs, -1, m, l); k == 0 {
				w.io.Free(m)
			} else if k > 1 {
				m.SetRefcnt(k)
			}
		default:
			// deliverOne, inline: the call cost 1.9 ns a frame in
			// BenchmarkIngressBurst.
			if w.dosOn && !w.admitIngress(&s.VMs[v], v, m) {
				continue
			}
			if !w.deliver(s, v, m, l) {
				w.io.Free(m)
			}
		}
	}
}

func (w *Worker) deliver(s *Snapshot, v int, m *dpdk.Mbuf, l uint32) bool {
	c := &w.vm[v]
	if !s.VMs[v].Connected {
		c[Drop(DropVMDown)]++
		return false
	}
	if d := &w.dos[v]; (d.holdEvery > 0 || len(d.hold) > 0) && w.holdDelivery(v, m) {
		// Held for the VM's next batch: counted as delivered now.
	} else if !w.io.Tx(w.vmTx[v]).Push(m) {
		c[Drop(DropQueueFull)]++
		return false
	}
	c[TxPackets]++
	c[TxBytes] += uint64(l)
	return true
}
