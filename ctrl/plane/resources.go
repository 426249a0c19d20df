package plane

import (
	"time"

	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/resource"
	"github.com/uplinkd/uplinkd/fastpath"
)

// VMActions carries out what the control plane decides about a VM; the VM
// manager implements it. Calls come from the control loops, never under
// the plane's lock, and must not block them.
type VMActions interface {
	// OverAllocated: the VM stayed over its allocation (the decision says
	// whether to suspend or migrate it).
	OverAllocated(vm string, d resource.Decision)
	// Suspend and Resume bracket a failover that affects a VM configured
	// with suspend_on_failover.
	Suspend(vm, reason string)
	Resume(vm, reason string)
	// SetCPUWeight deprioritises a VM (or restores it, at 100) while an
	// attack lasts.
	SetCPUWeight(vm string, weight int, reason string)
	// MigrateAway moves a VM to a host attached by another network than
	// avoid (the one under attack).
	MigrateAway(vm, avoid, reason string)
	// Migrating says whether a migration of vm is in flight: it is not
	// removed meanwhile.
	Migrating(vm string) bool
}

// The resource manager lives in the controller (ctrl/control); the plane
// reads the worker's counters for it every resources.interval and
// publishes the rates and assignments it decides.

// resourceStep is one round of the resource manager: the worker's
// counters read into the controller.
func (p *Plane) resourceStep(now time.Time) {
	p.mu.Lock()
	defer p.unlock()
	if !p.ctl.UsageDue(now) {
		return
	}
	loops := p.worker.LoopStats().Loops
	if p.resRead && loops == p.resLoops {
		// The worker published nothing since the last round (its thread
		// was preempted): no news is not calm. Wait for news.
		return
	}
	p.resLoops, p.resRead = loops, true
	u := control.Usage{VMs: make([]control.VMUsage, len(p.slotVM)), NICTxBytes: make([]uint64, len(p.slotNIC))}
	for i, id := range p.slotVM {
		// A free slot, or one whose VM the worker has not counted yet:
		// nothing sent, nothing held.
		c, _ := p.worker.VMCountersOf(i, uint32(id))
		u.VMs[i] = control.VMUsage{Bytes: c[fastpath.RxBytes], Held: c[fastpath.Held]}
	}
	for i, id := range p.slotNIC {
		c, _ := p.worker.NICCountersOf(i, uint32(id))
		u.NICTxBytes[i] = c[fastpath.TxBytes]
	}
	p.ctl.Step(now, u)
	p.settle()
}

// recordResources writes the resource manager's lines of a Ready.
func (p *Plane) recordResources(rd control.Ready) {
	for _, r := range rd.Rebalances {
		p.events.Info("rebalance").Str("vm", r.VM).Str("from", r.From).Str("to", r.To).Float64("from_util", r.FromUtil).
			Msg("moved a VM off a hot NIC")
	}
	for _, o := range rd.OverAllocations {
		d := o.Decision
		p.events.Warn("over_allocation").Str("vm", o.VM).Str("action", string(d.Action)).
			Time("since", d.Since).Int("repeat", d.Repeat).Float64("alloc_bps", o.AllocBps).
			Msg("VM stays over its allocation")
	}
}
