package plane

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/fastpath"
)

// nicManager runs one failover state machine (ctrl/nic) per team and maps
// the plane's NIC indexes to the machine's. It is fed link and admin
// events and time; what it decides reaches the worker as the NICs'
// FailingOver, Failed and Standby flags in the next tables.
type nicManager struct {
	machines []*nic.Machine // per team
	team     []int          // per NIC: its team
	local    []int          // per NIC: its index in its team's machine
	global   [][]int        // per team: local index -> NIC
	changes  []uint64       // per NIC: state transitions so far
}

func newNICManager(p *Plane, now time.Time) *nicManager {
	c := p.model()
	m := &nicManager{team: make([]int, len(c.NICs)), local: make([]int, len(c.NICs)),
		global: make([][]int, len(c.Teams)), changes: make([]uint64, len(c.NICs))}
	for i, n := range c.NICs {
		t := c.TeamIndex(n.Team)
		m.team[i], m.local[i] = t, len(m.global[t])
		m.global[t] = append(m.global[t], i)
	}
	for t, team := range c.Teams {
		m.machines = append(m.machines, nic.New(len(m.global[t]), failoverConfig(team), now))
	}
	return m
}

// failoverConfig is a team's delays and failback.
func failoverConfig(team model.Team) nic.Config {
	return nic.Config{DownDelay: team.DownDelay, UpDelay: team.UpDelay, Failback: team.Failback}
}

// step feeds one event about NIC i and returns the transitions, with NIC
// indexes the plane's.
func (m *nicManager) step(now time.Time, i int, kind nic.EventKind) []nic.Transition {
	t := m.team[i]
	return m.toPlane(t, m.machines[t].Step(now, nic.Event{NIC: m.local[i], Kind: kind}))
}

// tick lets delays elapse on every team.
func (m *nicManager) tick(now time.Time) []nic.Transition {
	var out []nic.Transition
	for t, mc := range m.machines {
		out = append(out, m.toPlane(t, mc.Tick(now))...)
	}
	return out
}

func (m *nicManager) toPlane(t int, tr []nic.Transition) []nic.Transition {
	for k := range tr {
		if tr[k].To == nic.StateFailing {
			// The team's other NICs take the traffic now: none of them
			// is standby any more, so a NIC returning later (failback
			// off) does not pull VMs back to itself.
			for l := range m.global[t] {
				if l != tr[k].NIC {
					m.machines[t].ClearStandby(l)
				}
			}
		}
		tr[k].NIC = m.global[t][tr[k].NIC]
		m.changes[tr[k].NIC]++
	}
	return tr
}

// nextDeadline is the earliest delay expiry of any team.
func (m *nicManager) nextDeadline() (time.Time, bool) {
	var best time.Time
	found := false
	for _, mc := range m.machines {
		if d, ok := mc.NextDeadline(); ok && (!found || d.Before(best)) {
			best, found = d, true
		}
	}
	return best, found
}

func (m *nicManager) state(i int) nic.State { return m.machines[m.team[i]].State(m.local[i]) }
func (m *nicManager) usable(i int) bool     { return m.machines[m.team[i]].Usable(m.local[i]) }
func (m *nicManager) failingOver(i int) bool {
	return m.machines[m.team[i]].FailingOver(m.local[i])
}
func (m *nicManager) standby(i int) bool { return m.machines[m.team[i]].Standby(m.local[i]) }
func (m *nicManager) evacuated(i int) bool {
	return m.machines[m.team[i]].Evacuated(m.local[i])
}
func (m *nicManager) faults(i int) []string { return m.machines[m.team[i]].Faults(m.local[i]) }

// logTransitions writes one line per transition, with the VMs that used
// the NIC in snap, the tables before the change, and suspends or resumes
// the VMs that asked for it around a failover. Callers hold p.mu.
func (p *Plane) logTransitions(snap *fastpath.Snapshot, tr []nic.Transition) {
	for _, x := range tr {
		var vms []string
		var idx []int
		if snap != nil {
			for v := range snap.VMs {
				for _, mac := range snap.VMs[v].MACs {
					if snap.HomeNIC(v, mac) == x.NIC {
						vms = append(vms, snap.VMs[v].Name)
						idx = append(idx, v)
						break
					}
				}
			}
		}
		p.suspendAround(x, idx)
		lvl := zerolog.InfoLevel
		if x.To != nic.StateUp {
			lvl = zerolog.WarnLevel
		}
		p.events.WithLevel(lvl, "nic_state").Str("nic", p.model().NICs[x.NIC].Name).Str("from", x.From.String()).
			Str("to", x.To.String()).Str("cause", x.Cause).Dur("in_previous_state", x.Duration).
			Strs("vms", vms).Uint64("transitions", p.nicMgr.changes[x.NIC]).
			Msg(fmt.Sprintf("NIC %s %s -> %s (%s)%s", p.model().NICs[x.NIC].Name, x.From, x.To, x.Cause, vmList(vms)))
	}
}

// vmList ends a transition's message with the VMs it affects: the console
// shows the message, not the vms field.
func vmList(vms []string) string {
	if len(vms) == 0 {
		return ""
	}
	return "; VMs: " + strings.Join(vms, ", ")
}

// suspendAround suspends, when a failover of a NIC starts, the VMs that
// used it and asked for suspend_on_failover, and resumes them when it ends
// (the NIC is down and their traffic moved, or it came back).
func (p *Plane) suspendAround(x nic.Transition, affected []int) {
	name := p.model().NICs[x.NIC].Name
	switch {
	case x.To == nic.StateFailing:
		for _, v := range affected {
			if vm := p.vmAt(v); vm == nil || !vm.SuspendOnFailover || p.suspendedFor[v] >= 0 {
				continue
			}
			p.suspendedFor[v] = x.NIC
			vm := p.vmName(v)
			p.events.Warn("vm_suspend").Str("vm", vm).Str("nic", name).Msg("suspending VM during failover")
			if p.actions != nil {
				p.actions.Suspend(vm, "failover of "+name)
			}
		}
	case x.From == nic.StateFailing:
		for v, n := range p.suspendedFor {
			if n != x.NIC {
				continue
			}
			p.suspendedFor[v] = -1
			vm := p.vmName(v)
			p.events.Info("vm_resume").Str("vm", vm).Str("nic", name).Str("nic_state", x.To.String()).
				Msg("resuming VM after failover")
			if p.actions != nil {
				p.actions.Resume(vm, "failover of "+name+" over")
			}
		}
	}
}
