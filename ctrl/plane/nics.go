package plane

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/fastpath"
)

// nicManager runs one failover state machine (ctrl/nic) per team and maps
// the plane's NIC slots to the machine's indexes. It is fed link and admin
// events and time; what it decides reaches the worker as the NICs'
// FailingOver, Failed and Standby flags in the next tables. Teams are
// known by ID, so that a team added or removed while uplinkd runs moves
// no other team's machine; a NIC that joins or leaves a team moves only
// its team mates' indexes.
type nicManager struct {
	machines map[model.TeamID]*nic.Machine
	team     []model.TeamID         // per slot: its NIC's team (0: free slot)
	local    []int                  // per slot: its index in its team's machine
	global   map[model.TeamID][]int // per team: machine index -> slot
	changes  []uint64               // per slot: state transitions of its NIC so far
}

func newNICManager(m *model.Model, slotNIC []model.NICID, now time.Time) *nicManager {
	mgr := &nicManager{machines: map[model.TeamID]*nic.Machine{}, team: make([]model.TeamID, len(slotNIC)),
		local: make([]int, len(slotNIC)), global: map[model.TeamID][]int{}, changes: make([]uint64, len(slotNIC))}
	for _, t := range m.Teams {
		mgr.addTeam(t, now)
	}
	for slot, id := range slotNIC {
		if n := m.NIC(id); n != nil {
			mgr.add(slot, n.Team, now)
		}
	}
	return mgr
}

// addTeam gives a team its machine (a team added while uplinkd runs).
func (m *nicManager) addTeam(t model.Team, now time.Time) {
	if m.machines[t.ID] == nil {
		m.machines[t.ID] = nic.New(0, failoverConfig(t), now)
	}
}

// removeTeam forgets a team that has no NIC left.
func (m *nicManager) removeTeam(id model.TeamID) {
	delete(m.machines, id)
	delete(m.global, id)
}

// add puts the NIC in slot into team t's machine, up (its link is fed
// next).
func (m *nicManager) add(slot int, t model.TeamID, now time.Time) {
	m.team[slot], m.local[slot], m.changes[slot] = t, m.machines[t].Add(now), 0
	m.global[t] = append(m.global[t], slot)
}

// remove takes the NIC in slot out of its team's machine; its team mates
// after it move down an index.
func (m *nicManager) remove(slot int) {
	t := m.team[slot]
	if t == 0 {
		return
	}
	m.machines[t].Remove(m.local[slot])
	g := m.global[t]
	i := m.local[slot]
	m.global[t] = append(g[:i], g[i+1:]...)
	for l, s := range m.global[t] {
		m.local[s] = l
	}
	m.team[slot], m.local[slot] = 0, 0
}

// failoverConfig is a team's delays and failback.
func failoverConfig(team model.Team) nic.Config {
	return nic.Config{DownDelay: team.DownDelay, UpDelay: team.UpDelay, Failback: team.Failback}
}

// step feeds one event about the NIC in slot i and returns the
// transitions, with the plane's slots for NICs.
func (m *nicManager) step(now time.Time, i int, kind nic.EventKind) []nic.Transition {
	t := m.team[i]
	if t == 0 {
		return nil
	}
	return m.toPlane(t, m.machines[t].Step(now, nic.Event{NIC: m.local[i], Kind: kind}))
}

// tick lets delays elapse on every team.
func (m *nicManager) tick(now time.Time) []nic.Transition {
	var out []nic.Transition
	// In ID order, which is the teams' order: the log reads the same
	// every time.
	for _, t := range slices.Sorted(maps.Keys(m.machines)) {
		out = append(out, m.toPlane(t, m.machines[t].Tick(now))...)
	}
	return out
}

func (m *nicManager) toPlane(t model.TeamID, tr []nic.Transition) []nic.Transition {
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

// machine is the machine of slot i's team; nil for a free slot, which
// every query below answers as a NIC that is down and carries nothing.
func (m *nicManager) machine(i int) *nic.Machine { return m.machines[m.team[i]] }

func (m *nicManager) state(i int) nic.State {
	if mc := m.machine(i); mc != nil {
		return mc.State(m.local[i])
	}
	return nic.StateDown
}
func (m *nicManager) usable(i int) bool      { return m.state(i) == nic.StateUp }
func (m *nicManager) failingOver(i int) bool { return m.state(i) == nic.StateFailing }
func (m *nicManager) standby(i int) bool {
	mc := m.machine(i)
	return mc != nil && mc.Standby(m.local[i])
}
func (m *nicManager) evacuated(i int) bool {
	mc := m.machine(i)
	return mc != nil && mc.Evacuated(m.local[i])
}
func (m *nicManager) faults(i int) []string {
	if mc := m.machine(i); mc != nil {
		return mc.Faults(m.local[i])
	}
	return nil
}

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
		p.events.WithLevel(lvl, "nic_state").Str("nic", p.nicName(x.NIC)).Str("from", x.From.String()).
			Str("to", x.To.String()).Str("cause", x.Cause).Dur("in_previous_state", x.Duration).
			Strs("vms", vms).Uint64("transitions", p.nicMgr.changes[x.NIC]).
			Msg(fmt.Sprintf("NIC %s %s -> %s (%s)%s", p.nicName(x.NIC), x.From, x.To, x.Cause, vmList(vms)))
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
	name := p.nicName(x.NIC)
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
