package fastpath

import "github.com/uplinkd/uplinkd/cgo/dpdk"

// The worker's part in denial-of-service defence: counting watched VMs'
// traffic by class and distinct sources, and the two responses that live
// on the fast path — rate-limiting attack traffic to a VM, and holding a
// VM's deliveries to release them in batches. ctrl decides; the snapshot
// says what to do; this file does it without allocating.

// dosState is the worker's per-VM DoS state.
type dosState struct {
	in, out Sketch
	attack  Bucket // the rate-limit response's packets/s
	// hold is the delay response's FIFO of deliveries not yet released
	// (cap: the VM's tx queue), holdEvery the release period in cycles,
	// holdNext the next release.
	hold      []*dpdk.Mbuf
	holdEvery uint64
	holdNext  uint64
}

const defaultDoSWindow = 0.010 // seconds

// followDoS sets the DoS responses from a new snapshot.
func (w *Worker) followDoS(s *Snapshot) {
	w.dosOn = false
	for v := range w.dos {
		d, vm := &w.dos[v], &s.VMs[v]
		d.attack.SetRate(0, vm.AttackLimitPPS, w.hz)
		d.holdEvery = uint64(vm.HoldIngress.Seconds() * float64(w.hz))
		w.dosOn = w.dosOn || vm.DoSWatch || vm.AttackClasses != 0 || d.holdEvery > 0 || len(d.hold) > 0
	}
	win := s.DoSWindow.Seconds()
	if win <= 0 {
		win = defaultDoSWindow
	}
	w.dosWindow = uint64(win * float64(w.hz))
}

// countDoS adds a burst of frames to a VM's class counters and sketch,
// base being InSYN or OutSYN.
func countDoS(c *Counters, sk *Sketch, base Counter, pkts []*dpdk.Mbuf) {
	for _, m := range pkts {
		class, h, ok := ClassifyDoS(m.Data())
		if !ok {
			continue
		}
		sk.Add(h)
		switch class {
		case ClassSYN:
			c[base]++
		case ClassFragment:
			c[base+1]++
		case ClassAmplification:
			c[base+2]++
		}
	}
}

// admitIngress counts a frame from the network to VM v and applies the
// rate-limit response; false means it was dropped (and counted).
func (w *Worker) admitIngress(vm *VM, v int, m *dpdk.Mbuf) bool {
	if !vm.DoSWatch && vm.AttackClasses == 0 {
		return true // another VM is watched: this one's frames are not parsed
	}
	class, h, ok := ClassifyDoS(m.Data())
	if !ok {
		return true
	}
	c, d := &w.vm[v], &w.dos[v]
	if vm.DoSWatch {
		d.in.Add(h)
		switch class {
		case ClassSYN:
			c[InSYN]++
		case ClassFragment:
			c[InFragments]++
		case ClassAmplification:
			c[InAmplification]++
		}
	}
	if class&vm.AttackClasses == 0 {
		return true
	}
	// A limit of 0 lets none through; the bucket would read 0 as no limit.
	if vm.AttackLimitPPS > 0 {
		d.attack.Refill(w.lastTSC)
		if d.attack.Allow(1) == 1 {
			d.attack.Take(1, 0)
			return true
		}
	}
	c[Drop(DropDoS)]++
	w.io.Free(m)
	return false
}

// holdDelivery queues m for VM v's next batch instead of its tx queue;
// false when the batch is full (the caller delivers at once).
func (w *Worker) holdDelivery(v int, m *dpdk.Mbuf) bool {
	d := &w.dos[v]
	if len(d.hold) == cap(d.hold) {
		return false
	}
	if len(d.hold) == 0 {
		d.holdNext = w.lastTSC + d.holdEvery
	}
	d.hold = append(d.hold, m)
	return true
}

// releaseHeld delivers each held VM's batch when it is due (or at once
// when the response ended), as much as its tx queue takes; the rest waits
// for the next loop.
func (w *Worker) releaseHeld() {
	for v := range w.dos {
		d := &w.dos[v]
		if len(d.hold) == 0 || (d.holdEvery > 0 && w.lastTSC < d.holdNext) {
			continue
		}
		q := w.io.Tx(w.vmTx[v])
		n := 0
		for _, m := range d.hold {
			if !q.Push(m) {
				break
			}
			n++
		}
		w.vm[v][HeldDeliveries] += uint64(n)
		rest := copy(d.hold, d.hold[n:])
		clear(d.hold[rest:])
		d.hold = d.hold[:rest]
	}
}

// closeDoSWindow publishes each watched VM's distinct-source estimates for
// the window that ended and starts the next.
func (w *Worker) closeDoSWindow(s *Snapshot) {
	if w.lastTSC < w.dosWindowEnd {
		return
	}
	w.dosWindowEnd = w.lastTSC + w.dosWindow
	// A window around a stall of the worker took the backlog: the sources
	// keep the last clean window's count (the class counters are totals,
	// rated by the controller over its own period, and need no such care).
	backlog := w.dosStall || w.dosBacklog
	w.dosBacklog, w.dosStall = w.dosStall, false
	for v := range w.dos {
		if v >= len(s.VMs) || !s.VMs[v].DoSWatch {
			continue
		}
		d := &w.dos[v]
		if !backlog {
			w.vm[v][InSources] = uint64(d.in.Estimate() + 0.5)
			w.vm[v][OutSources] = uint64(d.out.Estimate() + 0.5)
		}
		d.in.Reset()
		d.out.Reset()
	}
}

// dropHeld frees what is still held at shutdown, counted as shutdown.
func (w *Worker) dropHeld() {
	for v := range w.dos {
		w.vm[v][Drop(DropShutdown)] += uint64(w.dropHeldOf(v))
	}
}

// dropHeldOf frees VM v's held deliveries and returns how many.
func (w *Worker) dropHeldOf(v int) int {
	d := &w.dos[v]
	n := len(d.hold)
	for _, m := range d.hold {
		w.io.Free(m)
	}
	clear(d.hold)
	d.hold = d.hold[:0]
	return n
}

// reset forgets a VM's DoS state for the next VM in its slot; the hold
// queue (empty) keeps its memory.
func (d *dosState) reset() {
	*d = dosState{hold: d.hold[:0]}
}
