package control

import (
	"math"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/balance"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/resource"
)

// The resource manager: every interval the driver reads the worker's
// counters into a Usage; the controller estimates each VM's demand,
// divides each shaped team's capacity by reservations, priority and shares
// (ctrl/resource), moves VMs off hot NICs for load-based teams
// (ctrl/balance), watches for VMs that stay over their allocation, and
// asks for new tables when an allocation or assignment changed.

const (
	// minResourceStep is the shortest interval sampled; the worker
	// publishes its counters about once a millisecond.
	minResourceStep = 3 * time.Millisecond
	// demandTau smooths a VM's measured rate: long enough to span bursts,
	// short enough that capacity a VM stops using is freed within a
	// fraction of a second.
	demandTau = 100 * time.Millisecond
)

// vmRes is one VM slot's resource state.
type vmRes struct {
	// alloc is the VM's bucket rate, bits/s (0: unlimited); assigned its
	// load-based NIC slot, or -1.
	alloc    float64
	assigned int
	prev     VMUsage
	sample   resource.Sample
	held     bool
	rate     float64 // bits/s in the last interval
	// decisions counts over-allocation decisions.
	decisions uint64
}

type nicRes struct {
	prevTx uint64
	rate   float64 // bits/s sent in the last interval
}

func (c *Controller) initResources(nicSlots, vmSlots int) {
	c.est = resource.NewEstimator(vmSlots)
	c.est.Tau = demandTau
	c.over = resource.NewOverAllocation(vmSlots, 0, "")
	c.balancer, c.fresh = map[model.TeamID]*balance.Rebalancer{}, map[model.TeamID]bool{}
	c.vmRes, c.nicRes = make([]vmRes, vmSlots), make([]nicRes, nicSlots)
	for v := range c.vmRes {
		c.vmRes[v].assigned = -1
	}
}

// Alloc is the bucket rate of the VM in slot, bits/s (0: unlimited).
func (c *Controller) Alloc(slot int) float64 { return c.vmRes[slot].alloc }

// Assigned is the NIC slot the resource manager moved the VM in slot to
// (load-based), or -1.
func (c *Controller) Assigned(slot int) int { return c.vmRes[slot].assigned }

// Decisions counts the over-allocation decisions about the VM in slot.
func (c *Controller) Decisions(slot int) uint64 { return c.vmRes[slot].decisions }

// ResourcePeriod is how often the driver reads the counters (Usage): the
// model's resources.interval while a team is shaped or load-based, else 0.
func (c *Controller) ResourcePeriod() time.Duration {
	for _, t := range c.m.Teams {
		if t.Shaped || t.Policy == model.PolicyLoadBased {
			return c.m.Resources.Interval
		}
	}
	return 0
}

// UsageDue says whether a Usage read now would be taken: a late tick
// followed by a prompt one would find the worker's counters unchanged,
// and a VM would look calm.
func (c *Controller) UsageDue(now time.Time) bool {
	return c.resLast.IsZero() || now.Sub(c.resLast) >= minResourceStep
}

// TeamCapacity is team id's capacity as the resource manager divides it:
// its usable NICs' speeds.
func (c *Controller) TeamCapacity(id model.TeamID) float64 {
	t := c.m.TeamIndex(id)
	if t < 0 {
		return 0
	}
	return c.teamCapacity(t, c.usable)
}

// usage is one round of the resource manager.
func (c *Controller) usage(now time.Time, u Usage) {
	if !c.UsageDue(now) {
		return
	}
	first := c.resLast.IsZero()
	dt := now.Sub(c.resLast)
	c.resLast = now
	samples, held := make([]resource.Sample, len(c.vmRes)), make([]bool, len(c.vmRes))
	for i := range c.vmRes {
		r := &c.vmRes[i]
		var cur VMUsage
		if i < len(u.VMs) {
			cur = u.VMs[i]
		}
		r.sample = resource.Sample{Bytes: cur.Bytes - r.prev.Bytes, Backlogged: cur.Held > r.prev.Held}
		r.held = r.sample.Backlogged
		if dt > 0 {
			r.rate = float64(r.sample.Bytes) * 8 / dt.Seconds()
		}
		r.prev = cur
		samples[i], held[i] = r.sample, r.held
	}
	for i := range c.nicRes {
		var tx uint64
		if i < len(u.NICTxBytes) {
			tx = u.NICTxBytes[i]
		}
		r := &c.nicRes[i]
		if dt > 0 {
			r.rate = float64(tx-r.prevTx) * 8 / dt.Seconds()
		}
		r.prevTx = tx
	}
	if first {
		return
	}
	c.est.Update(dt, samples)
	if c.allocate(held) {
		c.rd.Publish = true
	}
	if c.rebalance(now) {
		c.rd.Publish = true
	}
	for _, d := range c.over.Observe(now, held) {
		c.vmRes[d.VM].decisions++
		name := c.vmName(d.VM)
		c.rd.OverAllocations = append(c.rd.OverAllocations, OverAllocation{VM: name, Decision: d, AllocBps: c.vmRes[d.VM].alloc})
		c.act(Action{Kind: OverAllocated, VM: name, Decision: d})
	}
}

// allocate recomputes every shaped VM's bucket rate from its team's
// capacity, the VMs' measured rates and whether the worker held them back
// (ctrl/resource.BucketRates); it reports whether a rate moved by more than
// 1 %.
func (c *Controller) allocate(held []bool) bool {
	changed := false
	for t, team := range c.m.Teams {
		if !team.Shaped {
			continue
		}
		delete(c.fresh, team.ID)
		idx, members := c.teamMembers(t)
		for k, i := range idx {
			members[k].Rate = c.est.Rate(i)
			members[k].Held = held[i]
			members[k].Bucket = c.vmRes[i].alloc
		}
		rates := resource.BucketRates(c.teamCapacity(t, c.usable), members, make([]float64, len(members)))
		for k, i := range idx {
			if differs(rates[k], c.vmRes[i].alloc) {
				c.vmRes[i].alloc = rates[k]
				changed = true
			}
		}
	}
	return changed
}

func differs(a, b float64) bool {
	return math.Abs(a-b) > 0.01*math.Max(a, b)
}

// seedRates gives a shaped team's VMs their first bucket rates, before
// anything is measured, from the capacity its NICs will have: a shaped VM
// is never unlimited, not even for the first round. Until the team is
// first divided it is fresh: a VM placed meanwhile seeds it again, with
// itself counted.
func (c *Controller) seedRates(t int) {
	idx, members := c.teamMembers(t)
	rates := resource.InitialBucketRates(c.teamCapacity(t, func(int) bool { return true }), members, make([]float64, len(members)))
	for k, i := range idx {
		c.vmRes[i].alloc = rates[k]
	}
	c.fresh[c.m.Teams[t].ID] = true
}

// placeRate is the first bucket rate of the VM just placed in slot: on a
// shaped team its share of the capacity as if every VM were backlogged,
// until the next round measures it (the others keep theirs, unless the
// team is fresh); else its limit.
func (c *Controller) placeRate(slot int) {
	vm := c.m.VM(c.vms[slot].id)
	t := c.m.TeamIndex(vm.Team)
	team := &c.m.Teams[t]
	switch {
	case !team.Shaped:
		c.vmRes[slot].alloc = vm.Limit
	case c.fresh[team.ID]:
		c.seedRates(t)
	default:
		idx, members := c.teamMembers(t)
		rates := resource.InitialBucketRates(c.teamCapacity(t, func(int) bool { return true }), members, make([]float64, len(members)))
		for k, i := range idx {
			if i == slot {
				c.vmRes[slot].alloc = rates[k]
			}
		}
	}
}

// followRates holds each VM to what the model in force allows it: a VM of
// a team no longer shaped gets its limit (0: unlimited); a shaped VM its
// limit if that is lower, until the next round divides the team again.
func (c *Controller) followRates() {
	for v := range c.vms {
		vm := c.m.VM(c.vms[v].id)
		if vm == nil {
			continue
		}
		r := &c.vmRes[v]
		switch limit := vm.Limit; {
		case !c.m.Team(vm.Team).Shaped:
			r.alloc = limit
		case limit > 0 && (r.alloc == 0 || r.alloc > limit):
			r.alloc = limit
		}
	}
}

// configureResources follows a new model: a team newly shaped is seeded,
// a load-based team whose rebalancing changed starts afresh, a team gone
// is forgotten, each VM is held to its limit, and the over-allocation
// watch takes the model's settings.
func (c *Controller) configureResources(old *model.Model) {
	for t, team := range c.m.Teams {
		was := old.Team(team.ID)
		if was == nil {
			was = &model.Team{}
		}
		if team.Shaped && !was.Shaped {
			c.seedRates(t)
		}
		if c.balancer[team.ID] == nil || team.Policy != model.PolicyLoadBased ||
			team.RebalanceThreshold != was.RebalanceThreshold || team.RebalanceHold != was.RebalanceHold {
			c.balancer[team.ID] = newBalancer(team)
		}
	}
	for id := range c.balancer {
		if c.m.Team(id) == nil {
			delete(c.balancer, id)
			delete(c.fresh, id)
		}
	}
	c.followRates()
	for v := range c.vms {
		if vm := c.m.VM(c.vms[v].id); vm != nil && c.balancer[vm.Team] == nil {
			c.vmRes[v].assigned = -1
		}
	}
	c.over.After = c.m.Resources.OverAllocationAfter
	c.over.Action = resource.Action(c.m.Resources.OverAllocationAction.String())
}

// resetVMRes gives the VM slot a fresh start: what the resource manager
// knew of the VM that had it is forgotten.
func (c *Controller) resetVMRes(slot int) {
	// The worker counts a VM new in the slot from zero: so does prev.
	c.vmRes[slot] = vmRes{assigned: -1}
	c.est.Reset(slot)
	c.over.Reset(slot)
}

// nicsChanged starts a team's rebalancer afresh when its NICs changed:
// its hot-NIC timers are by position among the team's NICs, which moved.
func (c *Controller) nicsChanged(id model.TeamID) {
	if t := c.m.Team(id); t != nil {
		c.balancer[id] = newBalancer(*t)
	}
}

// newBalancer is a load-based team's rebalancer, nil for other policies.
func newBalancer(team model.Team) *balance.Rebalancer {
	if team.Policy != model.PolicyLoadBased {
		return nil
	}
	return balance.New(team.RebalanceThreshold, team.RebalanceHold)
}

// teamMembers lists team t's placed VMs (their slots) and what the
// resource manager knows of them from the model.
func (c *Controller) teamMembers(t int) ([]int, []resource.Member) {
	var idx []int
	var members []resource.Member
	for _, id := range c.m.Teams[t].VMs {
		slot := c.vmSlotOf(id)
		if slot < 0 {
			continue // in the model, placed next
		}
		v := c.m.VM(id)
		idx = append(idx, slot)
		members = append(members, resource.Member{Shares: v.Shares, Priority: v.Priority,
			Reservation: v.Reservation, Limit: v.Limit})
	}
	return idx, members
}

// teamCapacity is the sum of the speeds of team t's NICs that count.
func (c *Controller) teamCapacity(t int, counts func(slot int) bool) float64 {
	capacity := 0.0
	for _, id := range c.m.Teams[t].NICs {
		if i := c.nicSlotOf(id); i >= 0 && counts(i) {
			capacity += c.NICSpeed(i)
		}
	}
	return capacity
}

// NICSpeed is the capacity the NIC in slot is scheduled at, bits/s: its
// configured speed, else its link's. A link that reports no speed counts
// as model.UnknownLinkSpeed.
func (c *Controller) NICSpeed(slot int) float64 {
	if n := c.m.NIC(c.nics[slot].id); n != nil && n.Speed > 0 {
		return n.Speed
	}
	if s := c.nics[slot].link.SpeedMbps; s > 0 && s != math.MaxUint32 {
		return float64(s) * 1e6
	}
	return model.UnknownLinkSpeed
}

// usable says whether the NIC in slot carries traffic.
func (c *Controller) usable(slot int) bool {
	s := &c.nics[slot]
	t := c.teams[s.team]
	return s.id != 0 && t != nil && t.machine.Usable(s.local)
}

// rebalance steps each load-based team's balancer and applies its moves.
func (c *Controller) rebalance(now time.Time) bool {
	moved := false
	for t := range c.m.Teams {
		team := &c.m.Teams[t]
		b := c.balancer[team.ID]
		if b == nil {
			continue
		}
		var nicIdx []int
		var nics []balance.NIC
		local := map[int]int{}
		for _, id := range team.NICs {
			i := c.nicSlotOf(id)
			if i < 0 {
				continue
			}
			local[i] = len(nicIdx)
			nicIdx = append(nicIdx, i)
			nics = append(nics, balance.NIC{Usable: c.usable(i), Capacity: c.NICSpeed(i), Load: c.nicRes[i].rate})
		}
		var vmIdx []int
		var vms []balance.VM
		for _, id := range team.VMs {
			i := c.vmSlotOf(id)
			if i < 0 {
				continue
			}
			on := -1
			if c.tables != nil {
				if n := c.tables.LoadBasedNIC(i); n >= 0 {
					if l, ok := local[n]; ok {
						on = l
					}
				}
			}
			vmIdx = append(vmIdx, i)
			vms = append(vms, balance.VM{Load: c.vmRes[i].rate, NIC: on})
		}
		for _, m := range b.Step(now, nics, vms) {
			vm, from, to := vmIdx[m.VM], nicIdx[m.From], nicIdx[m.To]
			c.vmRes[vm].assigned = to
			moved = true
			c.rd.Rebalances = append(c.rd.Rebalances, Rebalance{VM: c.vmName(vm), From: c.nicName(from), To: c.nicName(to),
				FromUtil: nics[m.From].Load / nics[m.From].Capacity})
		}
	}
	return moved
}

// vmSlotOf is VM id's slot, -1 if it has none.
func (c *Controller) vmSlotOf(id model.VMID) int {
	for i := range c.vms {
		if c.vms[i].id == id {
			return i
		}
	}
	return -1
}

// nicSlotOf is NIC id's slot, -1 if it has none.
func (c *Controller) nicSlotOf(id model.NICID) int {
	for i := range c.nics {
		if c.nics[i].id == id {
			return i
		}
	}
	return -1
}
