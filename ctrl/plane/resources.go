package plane

import (
	"math"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/balance"
	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/resource"
	"github.com/uplinkd/uplinkd/fastpath"
)

// VMActions carries out what the control plane decides about a VM; the VM
// manager implements it. Calls come from the control loops and must not
// block them.
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

// resources is the resource manager's loop state: every interval it reads
// the worker's counters, estimates each VM's demand, divides each team's
// capacity by reservations, priority and shares (ctrl/resource), moves VMs
// off hot NICs for load-based teams (ctrl/balance), watches for VMs that
// stay over their allocation, and republishes the tables when an
// allocation or assignment changed. The decisions are pure functions and
// state machines; this file is the I/O around them.
type resources struct {
	est      *resource.Estimator
	over     *resource.OverAllocation
	balancer map[model.TeamID]*balance.Rebalancer // per team; nil unless load-based
	last     time.Time
	loops    uint64 // the worker's published loop count at last
	vmPrev   []fastpath.Counters
	nicPrev  []fastpath.Counters
	samples  []resource.Sample
	heldNow  []bool
	vmRate   []float64 // bits/s in the last interval
	nicRate  []float64
	// Decisions counts over-allocation decisions per VM.
	decisions []uint64
}

func newResources(p *Plane) *resources {
	c := p.model()
	slots := len(p.slotVM)
	r := &resources{
		est:       newEstimator(slots),
		over:      resource.NewOverAllocation(slots, c.Resources.OverAllocationAfter, resource.Action(c.Resources.OverAllocationAction.String())),
		balancer:  map[model.TeamID]*balance.Rebalancer{},
		vmPrev:    make([]fastpath.Counters, slots),
		nicPrev:   make([]fastpath.Counters, len(p.slotNIC)),
		samples:   make([]resource.Sample, slots),
		heldNow:   make([]bool, slots),
		vmRate:    make([]float64, slots),
		nicRate:   make([]float64, len(p.slotNIC)),
		decisions: make([]uint64, slots),
	}
	for _, team := range c.Teams {
		r.balancer[team.ID] = newBalancer(team)
	}
	return r
}

// newBalancer is a load-based team's rebalancer, nil for other policies.
func newBalancer(team model.Team) *balance.Rebalancer {
	if team.Policy != model.PolicyLoadBased {
		return nil
	}
	return balance.New(team.RebalanceThreshold, team.RebalanceHold)
}

const (
	// minResourceStep is the shortest interval sampled; the worker
	// publishes its counters about once a millisecond.
	minResourceStep = 3 * time.Millisecond
	// demandTau smooths a VM's measured rate: long enough to span bursts,
	// short enough that capacity a VM stops using is freed within a
	// fraction of a second.
	demandTau = 100 * time.Millisecond
)

func newEstimator(n int) *resource.Estimator {
	e := resource.NewEstimator(n)
	e.Tau = demandTau
	return e
}

// resourceStep is one round of the resource manager.
func (p *Plane) resourceStep(now time.Time) {
	r := p.res
	first := r.last.IsZero()
	dt := now.Sub(r.last)
	if !first && dt < minResourceStep {
		// A late tick followed by a prompt one: the worker has not
		// published new counters yet, and a VM would look calm.
		return
	}
	loops := p.worker.LoopStats().Loops
	if !first && loops == r.loops {
		// The worker published nothing since the last round (its thread
		// was preempted): no news is not calm. Wait for news.
		return
	}
	r.loops = loops
	r.last = now
	// Under p.mu from here: a VM added or removed resets its slot's
	// samples and estimate (resetSlot).
	p.mu.Lock()
	for i, id := range p.slotVM {
		// A free slot, or one whose VM the worker has not counted yet:
		// nothing sent, nothing held (prev is zero from the VM's start).
		c, _ := p.worker.VMCountersOf(i, uint32(id))
		prev := &r.vmPrev[i]
		r.samples[i] = resource.Sample{Bytes: c[fastpath.RxBytes] - prev[fastpath.RxBytes], Backlogged: c[fastpath.Held] > prev[fastpath.Held]}
		r.heldNow[i] = r.samples[i].Backlogged
		if dt > 0 {
			r.vmRate[i] = float64(r.samples[i].Bytes) * 8 / dt.Seconds()
		}
		*prev = c
	}
	for i, id := range p.slotNIC {
		// A NIC the worker has not counted yet has sent nothing.
		c, _ := p.worker.NICCountersOf(i, uint32(id))
		if dt > 0 {
			r.nicRate[i] = float64(c[fastpath.TxBytes]-r.nicPrev[i][fastpath.TxBytes]) * 8 / dt.Seconds()
		}
		r.nicPrev[i] = c
	}
	if first {
		p.unlock()
		return
	}
	r.est.Update(dt, r.samples)
	changed := p.allocate(r.heldNow)
	changed = p.rebalance(now) || changed
	if changed {
		if err := p.publish(); err != nil {
			p.log.Error().Err(err).Msg("publishing tables")
		}
	}
	decisions := r.over.Observe(now, r.heldNow)
	for _, d := range decisions {
		r.decisions[d.VM]++
		p.events.Warn("over_allocation").Str("vm", p.vmName(d.VM)).Str("action", string(d.Action)).
			Time("since", d.Since).Int("repeat", d.Repeat).Float64("alloc_bps", p.alloc[d.VM]).
			Msg("VM stays over its allocation")
	}
	for _, d := range decisions {
		p.act(control.Action{Kind: control.OverAllocated, VM: p.vmName(d.VM), Decision: d})
	}
	p.unlock()
}

// allocate recomputes every shaped VM's bucket rate from its team's
// capacity, the VMs' measured rates and whether the worker held them back
// (ctrl/resource.BucketRates); it reports whether a rate moved by more than
// 1 %. Callers hold p.mu.
func (p *Plane) allocate(held []bool) bool {
	changed := false
	for t, team := range p.model().Teams {
		if !team.Shaped {
			continue
		}
		idx, members := p.teamMembers(t)
		for k, i := range idx {
			members[k].Rate = p.res.est.Rate(i)
			members[k].Held = held[i]
			members[k].Bucket = p.alloc[i]
		}
		rates := resource.BucketRates(p.teamCapacity(t, p.nicUsable), members, make([]float64, len(members)))
		for k, i := range idx {
			if differs(rates[k], p.alloc[i]) {
				p.alloc[i] = rates[k]
				changed = true
			}
		}
	}
	return changed
}

// seedRates gives a shaped team's VMs their first bucket rates, before
// anything is measured, from the capacity its NICs will have: a shaped VM
// is never unlimited, not even for the first round. Callers hold p.mu
// (or own p, before Start).
func (p *Plane) seedRates(t int) {
	idx, members := p.teamMembers(t)
	capacity := p.teamCapacity(t, func(int) bool { return true })
	rates := resource.InitialBucketRates(capacity, members, make([]float64, len(members)))
	for k, i := range idx {
		p.alloc[i] = rates[k]
	}
}

// teamMembers lists team t's VMs (their indexes) and what the resource
// manager knows of them from the model.
func (p *Plane) teamMembers(t int) ([]int, []resource.Member) {
	m := p.model()
	var idx []int
	var members []resource.Member
	for _, id := range m.Teams[t].VMs {
		v := m.VM(id)
		idx = append(idx, p.vmSlot[id])
		members = append(members, resource.Member{Shares: v.Shares, Priority: v.Priority,
			Reservation: v.Reservation, Limit: v.Limit})
	}
	return idx, members
}

// teamCapacity is the sum of the speeds of team t's NICs that count.
func (p *Plane) teamCapacity(t int, counts func(nic int) bool) float64 {
	m := p.model()
	capacity := 0.0
	for _, id := range m.Teams[t].NICs {
		if i := p.nicIndex(id); i >= 0 && counts(i) {
			capacity += p.nicSpeed(i)
		}
	}
	return capacity
}

func differs(a, b float64) bool {
	return math.Abs(a-b) > 0.01*math.Max(a, b)
}

// rebalance steps each load-based team's balancer and applies its moves.
// Callers hold p.mu.
func (p *Plane) rebalance(now time.Time) bool {
	c := p.model()
	moved := false
	for t := range c.Teams {
		b := p.res.balancer[c.Teams[t].ID]
		if b == nil {
			continue
		}
		var nicIdx []int
		var nics []balance.NIC
		local := map[int]int{}
		for _, id := range c.Teams[t].NICs {
			i := p.nicIndex(id)
			local[i] = len(nicIdx)
			nicIdx = append(nicIdx, i)
			nics = append(nics, balance.NIC{Usable: p.nicUsable(i), Capacity: p.nicSpeed(i), Load: p.res.nicRate[i]})
		}
		snap := p.snap.Load()
		var vmIdx []int
		var vms []balance.VM
		for _, id := range c.Teams[t].VMs {
			i := p.vmSlot[id]
			on := -1
			if n := snap.LoadBased(i); n >= 0 {
				on = local[n]
			}
			vmIdx = append(vmIdx, i)
			vms = append(vms, balance.VM{Load: p.res.vmRate[i], NIC: on})
		}
		for _, m := range b.Step(now, nics, vms) {
			vm, from, to := vmIdx[m.VM], nicIdx[m.From], nicIdx[m.To]
			p.assigned[vm] = to
			moved = true
			p.events.Info("rebalance").Str("vm", p.vmName(vm)).Str("from", p.nicName(from)).
				Str("to", p.nicName(to)).Float64("from_util", nics[m.From].Load/nics[m.From].Capacity).
				Msg("moved a VM off a hot NIC")
		}
	}
	return moved
}

// nicSpeed is the capacity a NIC is scheduled at, bits/s: its configured
// speed, else its link's. A link that reports no speed counts as
// model.UnknownLinkSpeed.
func (p *Plane) nicSpeed(i int) float64 {
	if n := p.nicAt(i); n != nil && n.Speed > 0 {
		return n.Speed
	}
	if s := p.ctl.NIC(i).Link.SpeedMbps; s > 0 && s != math.MaxUint32 {
		return float64(s) * 1e6
	}
	return model.UnknownLinkSpeed
}

// nicUsable is the NIC manager's verdict; it has seen every link and
// admin change.
func (p *Plane) nicUsable(i int) bool { return p.ctl.NIC(i).Usable() }
