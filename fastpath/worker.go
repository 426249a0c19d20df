package fastpath

import (
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

	vm, nic       []Counters
	vmPub, nicPub []PublishedCounters
	room          []uint32 // per NIC, scratch for back-pressure limits

	stats     LoopStats
	gapWindow uint64
	windowEnd uint64
	nextPub   uint64
	pubEvery  uint64
	hz        uint64
	lastTSC   uint64
	statsPub  publishedLoopStats
	stop      atomic.Bool
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
}

// NewWorker builds a worker. It allocates everything the loop needs.
func NewWorker(p WorkerPlan) *Worker {
	w := &Worker{
		io: p.IO, snap: p.Snap, rx: p.Rx, vmTx: p.VMTx, nicTx: p.NICTx,
		vm: make([]Counters, len(p.VMTx)), nic: make([]Counters, len(p.NICTx)),
		vmPub: make([]PublishedCounters, len(p.VMTx)), nicPub: make([]PublishedCounters, len(p.NICTx)),
		room: make([]uint32, len(p.NICTx)),
		hz:   p.TSCHz,
	}
	if w.hz == 0 {
		w.hz = 1
	}
	w.pubEvery = w.hz / 1000
	return w
}

// Stop asks the loop to end after its current iteration.
func (w *Worker) Stop() { w.stop.Store(true) }

// VMCounters reads a VM's published counters.
func (w *Worker) VMCounters(v int) Counters { return w.vmPub[v].Load() }

// NICCounters reads a NIC's published counters.
func (w *Worker) NICCounters(n int) Counters { return w.nicPub[n].Load() }

// LoopStats reads the published loop statistics.
func (w *Worker) LoopStats() LoopStats { return w.statsPub.load() }

// Run is the loop. It returns when Stop is called, after sending what it
// can of what is queued and freeing the rest (counted as shutdown drops).
func (w *Worker) Run() error {
	s := w.snap.Load()
	for !w.stop.Load() {
		w.setRxLimits(s)
		n := w.io.Step()
		// Decide with the tables published before the packets were
		// received: whoever saw a change announced (a VM attached) may
		// already have sent into it.
		s = w.snap.Load()
		w.account(n)
		if n > 0 {
			for i := range w.rx {
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
		if w.lastTSC >= w.nextPub {
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

// setRxLimits is egress back-pressure: a VM's vhost queue is polled only
// for as many packets as every usable NIC of its team can still queue, so
// a slow or stuck NIC leaves packets in the VM's virtqueue instead of
// dropping them, and a team with no usable NIC is not polled at all.
func (w *Worker) setRxLimits(s *Snapshot) {
	for n, q := range w.nicTx {
		w.room[n] = w.io.Tx(q).Space()
	}
	for i, ep := range w.rx {
		if ep.IsNIC {
			continue
		}
		up := s.Teams[s.VMs[ep.Index].Team].Up
		limit := uint32(dpdk.Burst)
		if len(up) == 0 {
			limit = 0
		}
		for _, n := range up {
			limit = min(limit, w.room[n])
		}
		for _, n := range up {
			w.room[n] -= limit
		}
		w.io.SetRxLimit(i, int(limit))
	}
}

func (w *Worker) account(received int) {
	now := w.io.StepTSC()
	if w.lastTSC != 0 {
		gap := now - w.lastTSC
		if received > 0 || w.io.Sent() > 0 {
			w.stats.BusyCycles += gap
		}
		w.stats.MaxGapCycles = max(w.stats.MaxGapCycles, gap)
		w.gapWindow = max(w.gapWindow, gap)
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
	w.statsPub.packets.Store(w.stats.Packets)
	w.statsPub.maxGap.Store(w.stats.MaxGapCycles)
	w.statsPub.recentGap.Store(w.stats.RecentMaxGapCycles)
}

// egress handles a burst a VM sent.
func (w *Worker) egress(s *Snapshot, v int, pkts []*dpdk.Mbuf) {
	c := &w.vm[v]
	for _, m := range pkts {
		l := m.PktLen()
		c[RxPackets]++
		c[RxBytes] += uint64(l)
		nic, drop := s.Egress(v, m.Data(), l)
		if drop != NotDropped {
			c[Drop(drop)]++
			w.io.Free(m)
			continue
		}
		nc := &w.nic[nic]
		if !w.io.Tx(w.nicTx[nic]).Push(m) {
			nc[Drop(DropQueueFull)]++
			w.io.Free(m)
			continue
		}
		nc[TxPackets]++
		nc[TxBytes] += uint64(l)
	}
}

// ingress handles a burst a NIC received.
func (w *Worker) ingress(s *Snapshot, nic int, pkts []*dpdk.Mbuf) {
	c := &w.nic[nic]
	team := &s.Teams[s.NICs[nic].Team]
	for _, m := range pkts {
		l := m.PktLen()
		c[RxPackets]++
		c[RxBytes] += uint64(l)
		v, flood, drop := s.Ingress(nic, m.Data(), l)
		switch {
		case drop != NotDropped:
			c[Drop(drop)]++
			w.io.Free(m)
		case flood:
			// One mbuf, one reference per VM it was queued to.
			k := uint16(0)
			for _, v := range team.VMs {
				if w.deliver(s, v, m, l) {
					k++
				}
			}
			if k == 0 {
				w.io.Free(m)
			} else if k > 1 {
				m.SetRefcnt(k)
			}
		default:
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
	if !w.io.Tx(w.vmTx[v]).Push(m) {
		c[Drop(DropQueueFull)]++
		return false
	}
	c[TxPackets]++
	c[TxBytes] += uint64(l)
	return true
}
