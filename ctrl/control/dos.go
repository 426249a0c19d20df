package control

import (
	"slices"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
)

// The DoS responder: the detector (ctrl/dos) takes each watched VM's
// counter samples; an attack's start starts the VM's configured responses
// and its end undoes exactly those, even if a reload changed the VM's
// responses meanwhile. Responses in the fast path (rate-limit, delay) are
// table inputs; the failover response is a NIC failover like a link's,
// with its own cause; the others are VM actions.

// dosVM is one VM slot's DoS state.
type dosVM struct {
	cfg      model.DoS // effective; zero for a free slot: not watched
	attacked bool
	// responding: the responses the attack got at its start, undone at
	// its end.
	responding []model.Response
	limit      bool
	hold       time.Duration
	attacks    uint64
	// protecting: the VM slots suspended to protect them from this VM's
	// attack.
	protecting []int
}

const (
	dosTickMax      = 5 * time.Millisecond
	dosTickMin      = time.Millisecond
	normalCPUWeight = 100
)

// DoSState is a VM's DoS state, as the tables and the reports take it.
type DoSState struct {
	Watched, UnderAttack bool
	// Limit: the rate-limit response is in force, at LimitPPS attack
	// frames per second (0: drop them all).
	Limit    bool
	LimitPPS float64
	// Hold is the delay response's hold of the VM's ingress (0: none).
	Hold    time.Duration
	Attacks uint64
}

// DoS is the DoS state of the VM in slot.
func (c *Controller) DoS(slot int) DoSState {
	s := &c.dos[slot]
	return DoSState{Watched: s.cfg.Enabled, UnderAttack: s.attacked, Limit: s.limit, LimitPPS: s.cfg.AttackLimitPPS,
		Hold: s.hold, Attacks: s.attacks}
}

// DoSPeriod is how often the driver samples the watched VMs' counters
// (DoSSample): half the shortest window, within 1-5 ms; 0 while no VM is
// watched.
func (c *Controller) DoSPeriod() time.Duration {
	if !c.dosWatched {
		return 0
	}
	return c.dosEvery
}

// configureDoS takes each VM's effective DoS settings from the model in
// force into the detector, keeping what it measured; an attack on a VM no
// longer watched ends, and is answered.
func (c *Controller) configureDoS(now time.Time) {
	c.dosWatched, c.dosEvery = false, dosTickMax
	for v := range c.vms {
		var d model.DoS
		if vm := c.m.VM(c.vms[v].id); vm != nil {
			d = vm.DoS
		}
		c.dos[v].cfg = d
		var dc dos.Config
		if d.Enabled {
			c.dosWatched = true
			c.dosEvery = min(c.dosEvery, max(dosTickMin, d.Window/2))
			dc.Window, dc.Hold = d.Window, d.Hold
			for m, enter := range map[dos.Metric]float64{dos.PPS: d.PPS, dos.BPS: d.BPS, dos.SYN: d.SYNPPS,
				dos.Fragments: d.FragmentsPPS, dos.Amplification: d.AmpPPS, dos.Sources: float64(d.Sources)} {
				dc.Thresholds[m] = dos.Threshold{Enter: enter, Leave: enter * d.LeaveRatio}
			}
		}
		if ev, ok := c.det.SetConfig(v, dc, now); ok {
			c.answer(now, ev)
		}
	}
}

// resetDoS gives the VM slot a fresh start: the state of the VM that had
// it is forgotten.
func (c *Controller) resetDoS(slot int, now time.Time) {
	c.dos[slot] = dosVM{}
	c.det.Reset(slot, dos.Config{})
	c.configureDoS(now)
}

// endDoS ends what the VM in slot is in the middle of, while it can still
// be named: its attack (responses undone) and its protection from a team
// mate's attack (resumed).
func (c *Controller) endDoS(slot int, now time.Time) {
	if ev, ok := c.det.SetConfig(slot, dos.Config{}, now); ok {
		c.answer(now, ev)
	}
	for v := range c.dos {
		list := c.dos[v].protecting
		if i := slices.Index(list, slot); i >= 0 {
			c.dos[v].protecting = slices.Delete(list, i, i+1)
			name := c.vmName(slot)
			c.rd.Protects = append(c.rd.Protects, Protect{VM: name, AttackedVM: c.vmName(v), Removed: true})
			c.rd.Actions = append(c.rd.Actions, Action{Kind: Resume, VM: name, NIC: -1, Reason: ReasonRemoved})
		}
	}
}

// answer records an attack's start or end and starts or undoes its
// responses.
func (c *Controller) answer(now time.Time, ev dos.Event) {
	v := ev.VM
	s := &c.dos[v]
	name := c.vmName(v)
	if ev.Start {
		s.responding = s.cfg.Responses
		s.attacks++
	}
	c.rd.Attacks = append(c.rd.Attacks, Attack{VM: name, Event: ev, Responses: s.responding})
	c.rd.Publish = true
	s.attacked = ev.Start
	reason := "dos on " + name
	for _, r := range s.responding {
		switch r {
		case model.RespRateLimit:
			s.limit = ev.Start
		case model.RespDelay:
			s.hold = 0
			if ev.Start {
				s.hold = s.cfg.Delay
			}
		case model.RespDeprioritise:
			w := normalCPUWeight
			if ev.Start {
				w = c.m.DeprioritisedWeight
			}
			c.act(Action{Kind: SetCPUWeight, VM: name, Weight: w, Reason: reason})
		case model.RespSuspend:
			if ev.Start {
				c.act(Action{Kind: Suspend, VM: name, Reason: reason})
			} else {
				c.act(Action{Kind: Resume, VM: name, Reason: reason + " over"})
			}
		case model.RespSuspendOthers:
			c.protectOthers(v, ev.Start, reason)
		case model.RespFailover:
			c.evacuate(now, v, ev.Start)
		case model.RespMigrate:
			if ev.Start {
				avoid := ""
				if vm := c.m.VM(c.vms[v].id); vm != nil {
					avoid = c.m.Team(vm.Team).Connection
				}
				c.act(Action{Kind: MigrateAway, VM: name, Avoid: avoid, Reason: reason})
			}
		}
	}
}

// act queues a VM action that is not about a failover.
func (c *Controller) act(a Action) {
	a.NIC = -1
	c.rd.Actions = append(c.rd.Actions, a)
}

// protectOthers suspends the attacked VM's team mates while the attack
// lasts (those not under attack themselves) and resumes them after.
func (c *Controller) protectOthers(v int, start bool, reason string) {
	s := &c.dos[v]
	if start {
		s.protecting = s.protecting[:0]
		if vm := c.m.VM(c.vms[v].id); vm != nil {
			for o := range c.vms {
				if other := c.m.VM(c.vms[o].id); other != nil && o != v && other.Team == vm.Team && !c.dos[o].attacked {
					s.protecting = append(s.protecting, o)
				}
			}
		}
	}
	for _, o := range s.protecting {
		name := c.vmName(o)
		c.rd.Protects = append(c.rd.Protects, Protect{VM: name, AttackedVM: c.vmName(v), Suspend: start})
		if start {
			c.act(Action{Kind: Suspend, VM: name, Reason: "protect from " + reason})
		} else {
			c.act(Action{Kind: Resume, VM: name, Reason: "protect from " + reason + " over"})
		}
	}
	if !start {
		s.protecting = nil
	}
}

// evacuate moves VM v's team onto its dos_standby NICs while v is under
// attack (and back when no attack on the team is left). It is a failover
// like a link's, with the cause dos-evacuate: the other NICs carry
// nothing, their queued packets move, moved MACs are announced,
// suspend_on_failover VMs are suspended around it, the resource manager
// stops counting their capacity, and they come back through the team's
// up_delay and failback.
func (c *Controller) evacuate(now time.Time, v int, start bool) {
	vm := c.m.VM(c.vms[v].id)
	if vm == nil {
		return
	}
	team := c.m.Team(vm.Team)
	t := team.ID
	if start {
		c.evacuatedBy[t]++
	} else if c.evacuatedBy[t] > 0 {
		c.evacuatedBy[t]--
	}
	for _, id := range team.NICs {
		n := slices.IndexFunc(c.nics, func(s nicSlot) bool { return s.id == id })
		if n < 0 {
			continue // joining in this reload: placed later, evacuated then
		}
		// Over every NIC of the team, standby or not: a reload may have
		// changed which NICs are the standby since the attack started.
		want := c.evacuatedBy[t] > 0 && !slices.Contains(team.DoSStandby, id)
		if c.evacuated(n) != want {
			c.feed(now, n, pick(want, nic.DoSEvacuate, nic.DoSReturn))
			var standby []string
			for _, s := range team.DoSStandby {
				standby = append(standby, c.m.NIC(s).Name)
			}
			c.rd.Evacuations = append(c.rd.Evacuations, EvacuationChange{NIC: c.m.NIC(id).Name, Team: team.Name,
				Evacuated: want, Standby: standby})
		}
	}
}

// evacuated says whether the NIC in slot is moved off for an attack.
func (c *Controller) evacuated(slot int) bool {
	s := &c.nics[slot]
	t := c.teams[s.team]
	return s.id != 0 && t != nil && t.machine.Evacuated(s.local)
}

func (c *Controller) vmName(slot int) string {
	if vm := c.m.VM(c.vms[slot].id); vm != nil {
		return vm.Name
	}
	return ""
}
