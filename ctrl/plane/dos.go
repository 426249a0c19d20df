package plane

import (
	"slices"
	"strings"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/fastpath"
)

// dosGuard is the DoS responder's state: the detector, and what each
// attack's responses changed, so that its end undoes exactly that.
// Callers hold p.mu.
type dosGuard struct {
	det     *dos.Detector
	cfg     []model.DoS // per VM, effective
	watched bool
	every   time.Duration
	// Per VM: under attack now (as answered), the fast-path responses in
	// force, and attacks seen.
	attacked []bool
	// responding[v]: the responses v's attack got at its start, undone at
	// its end even if a reload changed the VM's responses meanwhile.
	responding [][]model.Response
	limit      []bool
	hold       []time.Duration
	attacks    []uint64
	// protecting[v]: the VMs suspended to protect them from v's attack.
	protecting [][]int
	// evacuatedBy[t]: VMs of team t whose attacks moved the team onto its
	// dos_standby NICs. Which NICs are evacuated is the NIC manager's
	// state: evacuation is one of its faults.
	evacuatedBy map[model.TeamID]int
}

const (
	dosTickMax      = 5 * time.Millisecond
	dosTickMin      = time.Millisecond
	normalCPUWeight = 100
)

func newDoSGuard(c *model.Model, slotVM []model.VMID) *dosGuard {
	n := len(slotVM)
	g := &dosGuard{cfg: make([]model.DoS, n), attacked: make([]bool, n), responding: make([][]model.Response, n), limit: make([]bool, n), hold: make([]time.Duration, n),
		attacks: make([]uint64, n), protecting: make([][]int, n),
		evacuatedBy: map[model.TeamID]int{}, every: dosTickMax}
	g.det = dos.New(make([]dos.Config, n))
	g.configure(c, slotVM, time.Time{})
	return g
}

// configure takes each VM's effective DoS settings from c into the guard
// and the detector, keeping what the detector measured. It returns the
// attacks that ended because their VM is no longer watched; the caller
// answers them.
func (g *dosGuard) configure(c *model.Model, slotVM []model.VMID, now time.Time) (ended []dos.Event) {
	g.watched, g.every = false, dosTickMax
	for v, id := range slotVM {
		var d model.DoS // a free slot: not watched
		if vm := c.VM(id); vm != nil {
			d = vm.DoS
		}
		g.cfg[v] = d
		var dc dos.Config
		if d.Enabled {
			g.watched = true
			g.every = min(g.every, max(dosTickMin, d.Window/2))
			dc.Window, dc.Hold = d.Window, d.Hold
			for m, enter := range map[dos.Metric]float64{dos.PPS: d.PPS, dos.BPS: d.BPS, dos.SYN: d.SYNPPS,
				dos.Fragments: d.FragmentsPPS, dos.Amplification: d.AmpPPS, dos.Sources: float64(d.Sources)} {
				dc.Thresholds[m] = dos.Threshold{Enter: enter, Leave: enter * d.LeaveRatio}
			}
		}
		if ev, ok := g.det.SetConfig(v, dc, now); ok {
			ended = append(ended, ev)
		}
	}
	return ended
}

// dosStep is the detector's loop body (every few milliseconds): it reads
// the watched VMs' counters and answers the attacks that start or end.
func (p *Plane) dosStep(now time.Time) {
	p.mu.Lock()
	defer p.unlock()
	g := p.dos
	changed := false
	for v := range g.cfg {
		if !g.cfg[v].Enabled {
			continue
		}
		c, ok := p.worker.VMCountersOf(v, uint32(p.slotVM[v]))
		if !ok {
			continue // a VM new in the slot: the worker has not counted for it yet
		}
		// Everything the network sent the VM, delivered or not: a
		// rate-limited flood must stay visible until it stops.
		s := dos.Sample{
			Packets: c[fastpath.TxPackets] + c[fastpath.Drop(fastpath.DropDoS)] + c[fastpath.Drop(fastpath.DropQueueFull)] +
				c[fastpath.Drop(fastpath.DropVMDown)],
			Bytes: c[fastpath.TxBytes], SYN: c[fastpath.InSYN], Fragments: c[fastpath.InFragments],
			Amplification: c[fastpath.InAmplification], Sources: float64(c[fastpath.InSources]),
		}
		if ev, ok := g.det.Observe(v, now, s); ok {
			p.answer(ev)
			changed = true
		}
	}
	if changed {
		// With the NIC transitions a failover response caused, logged
		// (and suspending VMs) as any other.
		p.commit()
	}
}

// answer logs an attack's start or end and starts or undoes its responses.
func (p *Plane) answer(ev dos.Event) {
	g, v := p.dos, ev.VM
	vm := p.vmName(v)
	if ev.Start {
		g.responding[v] = g.cfg[v].Responses
	}
	responses := g.responding[v]
	if ev.Start {
		g.attacks[v]++
		p.events.Warn("dos_start").Str("vm", vm).Str("metric", ev.Metric.String()).Float64("value", ev.Value).
			Float64("threshold", ev.Threshold).Strs("responses", responseNames(responses)).
			Msgf("VM %s under attack: %s %.0f >= %.0f; responding: %s", vm, ev.Metric, ev.Value, ev.Threshold,
				strings.Join(responseNames(responses), ", "))
	} else {
		p.events.Info("dos_end").Str("vm", vm).Str("metric", ev.Metric.String()).Float64("value", ev.Value).
			Float64("threshold", ev.Threshold).Dur("lasted", ev.At.Sub(ev.Since)).
			Msgf("attack on VM %s over: %s %.0f < %.0f", vm, ev.Metric, ev.Value, ev.Threshold)
	}
	g.attacked[v] = ev.Start
	reason := "dos on " + vm
	for _, r := range responses {
		switch r {
		case model.RespRateLimit:
			g.limit[v] = ev.Start
		case model.RespDelay:
			g.hold[v] = 0
			if ev.Start {
				g.hold[v] = g.cfg[v].Delay
			}
		case model.RespDeprioritise:
			w := normalCPUWeight
			if ev.Start {
				w = p.cfg().VMManager.DeprioritisedWeight
			}
			p.act(control.Action{Kind: control.SetCPUWeight, VM: vm, Weight: w, Reason: reason})
		case model.RespSuspend:
			if ev.Start {
				p.act(control.Action{Kind: control.Suspend, VM: vm, Reason: reason})
			} else {
				p.act(control.Action{Kind: control.Resume, VM: vm, Reason: reason + " over"})
			}
		case model.RespSuspendOthers:
			p.protectOthers(v, ev.Start, reason)
		case model.RespFailover:
			p.evacuate(v, ev.Start)
		case model.RespMigrate:
			if ev.Start {
				p.act(control.Action{Kind: control.MigrateAway, VM: vm, Avoid: p.teamConnection(v), Reason: reason})
			}
		}
	}
}

// protectOthers suspends the attacked VM's team mates while the attack
// lasts (those not under attack themselves) and resumes them after.
func (p *Plane) protectOthers(v int, start bool, reason string) {
	g := p.dos
	if start {
		g.protecting[v] = g.protecting[v][:0]
		team := p.vmAt(v).Team
		for o := range p.slotVM {
			if other := p.vmAt(o); other != nil && o != v && other.Team == team && !g.attacked[o] {
				g.protecting[v] = append(g.protecting[v], o)
			}
		}
	}
	for _, o := range g.protecting[v] {
		name := p.vmName(o)
		p.events.Info("dos_protect").Str("vm", name).Str("attacked_vm", p.vmName(v)).Bool("suspend", start).
			Msg("protecting VM from an attack on its team mate")
		if start {
			p.act(control.Action{Kind: control.Suspend, VM: name, Reason: "protect from " + reason})
		} else {
			p.act(control.Action{Kind: control.Resume, VM: name, Reason: "protect from " + reason + " over"})
		}
	}
	if !start {
		g.protecting[v] = nil
	}
}

// evacuate moves VM v's team onto its dos_standby NICs while v is under
// attack (and back when no attack on the team is left). It is a failover
// like a link's: the NIC manager fails the other NICs with the cause
// dos-evacuate, so they carry nothing, their queued packets move, moved
// MACs are announced, suspend_on_failover VMs are suspended around it, the
// resource manager stops counting their capacity, and they come back
// through the team's up_delay and failback. The transitions join
// the controller for the caller to commit.
func (p *Plane) evacuate(v int, start bool) {
	g, m := p.dos, p.model()
	team := m.Team(p.vmAt(v).Team)
	t := team.ID
	if start {
		g.evacuatedBy[t]++
	} else if g.evacuatedBy[t] > 0 {
		g.evacuatedBy[t]--
	}
	for _, id := range team.NICs {
		n := p.nicIndex(id)
		if n < 0 {
			continue // joining in this reload: not evacuated yet
		}
		// Over every NIC of the team, standby or not: a reload may have
		// changed which NICs are the standby since the attack started.
		want := g.evacuatedBy[t] > 0 && !slices.Contains(team.DoSStandby, id)
		if was := p.ctl.NIC(n).Evacuated; was != want {
			p.ctl.Step(time.Now(), control.Evacuation{NIC: n, Evacuate: want})
			p.events.Warn("dos_failover").Str("nic", p.nicName(n)).Str("team", team.Name).Bool("evacuated", want).
				Strs("standby", nicNames(m, team.DoSStandby)).Msg("team fails over to its DoS standby NICs")
		}
	}
}

func (p *Plane) teamConnection(v int) string {
	m := p.model()
	return m.Team(p.vmAt(v).Team).Connection
}

// nicNames are NICs' names, for logs.
func nicNames(m *model.Model, ids []model.NICID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = m.NIC(id).Name
	}
	return out
}

// responseNames are the config's names of responses, for logs.
func responseNames(rs []model.Response) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// dosTables fills the snapshot's DoS fields for VM v.
func (p *Plane) dosTables(v int, vm *fastpath.VM) {
	g := p.dos
	vm.DoSWatch = g.cfg[v].Enabled
	if g.limit[v] {
		vm.AttackClasses = fastpath.ClassSYN | fastpath.ClassAmplification | fastpath.ClassFragment
		vm.AttackLimitPPS = g.cfg[v].AttackLimitPPS
	}
	vm.HoldIngress = g.hold[v]
}
