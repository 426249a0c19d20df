package control

import (
	"maps"
	"slices"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/balance"
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/ctrl/resource"
)

// Controller is the control state the tables are built from: each NIC's
// link, admin state and failover state, each VM's connection, and the VMs
// suspended for a failover. It is not safe for concurrent use: the driver
// serialises Step, Tick and the rest (as raft's node does), and reads the
// tables' inputs back with NIC and VMConnected before it publishes.
type Controller struct {
	m     *model.Model
	nics  []nicSlot
	vms   []vmSlot
	teams map[model.TeamID]*team
	// tables are the tables in force, as the driver last published them:
	// which VMs a failover affects, which NIC a load-based VM is on. Read
	// at the step that needs them, before the driver publishes the tables
	// the step causes.
	tables Tables
	rd     Ready
	// beacon turns the NICs' beacons-heard counters into beacon losses.
	beacon *beaconWatch

	// The DoS responder (dos.go): the detector, per VM slot what each
	// attack's responses changed, and per team the VMs whose attacks
	// moved it onto its dos_standby NICs (which NICs are evacuated is
	// their machine's state: evacuation is one of its faults).
	det         *dos.Detector
	dos         []dosVM
	dosWatched  bool
	dosEvery    time.Duration
	evacuatedBy map[model.TeamID]int

	// The resource manager (resources.go): demand estimates, the
	// over-allocation watch, per load-based team its rebalancer, per team
	// whether it is fresh (shaped, not divided yet), and per slot what
	// was measured and decided.
	est      *resource.Estimator
	over     *resource.OverAllocation
	balancer map[model.TeamID]*balance.Rebalancer
	fresh    map[model.TeamID]bool
	resLast  time.Time
	vmRes    []vmRes
	nicRes   []nicRes
}

// team is one team's failover machine, and per machine index the NIC
// slot.
type team struct {
	machine *nic.Machine
	slots   []int
}

type nicSlot struct {
	id   model.NICID // 0: a free slot
	team model.TeamID
	// local is the NIC's index in its team's machine.
	local int
	// link as last read; seen false until the first read.
	link    Link
	seen    bool
	adminUp bool
	// changes counts the NIC's state transitions since it took the slot.
	changes uint64
}

type vmSlot struct {
	id        model.VMID // 0: a free slot
	connected bool
	// suspendedFor is the NIC slot whose failover the VM is suspended
	// for, or -1.
	suspendedFor int
}

// New returns a controller for model m with room for nicSlots NICs and
// vmSlots VMs, all free: the driver places the NICs and VMs whose ports it
// opened. tables are as Controller.tables (nil: no tables yet).
func New(m *model.Model, nicSlots, vmSlots int, now time.Time, tables Tables) *Controller {
	c := &Controller{m: &model.Model{}, nics: make([]nicSlot, nicSlots), vms: make([]vmSlot, vmSlots),
		teams: map[model.TeamID]*team{}, tables: tables, beacon: newBeaconWatch(nicSlots),
		det: dos.New(make([]dos.Config, vmSlots)), dos: make([]dosVM, vmSlots), evacuatedBy: map[model.TeamID]int{}}
	for v := range c.vms {
		c.vms[v].suspendedFor = -1
	}
	c.initResources(nicSlots, vmSlots)
	c.SetModel(m, now)
	return c
}

// SetModel puts model m in force: a team new in m gets a failover
// machine, the others take m's delays and failback (a delay already
// running keeps its deadline), and a team m no longer names is forgotten.
// Each VM takes its DoS settings from m; an attack on a VM m no longer
// watches ends. The driver unplaces the NICs and VMs m no longer names
// first.
func (c *Controller) SetModel(m *model.Model, now time.Time) {
	old := c.m
	c.m = m
	for _, t := range m.Teams {
		cfg := nic.Config{DownDelay: t.DownDelay, UpDelay: t.UpDelay, Failback: t.Failback}
		if tm := c.teams[t.ID]; tm != nil {
			tm.machine.SetConfig(cfg)
		} else {
			c.teams[t.ID] = &team{machine: nic.New(0, cfg, now)}
		}
	}
	for id := range c.teams {
		if m.Team(id) == nil {
			delete(c.teams, id)
			delete(c.evacuatedBy, id)
		}
	}
	c.configureDoS(now)
	c.configureResources(old)
	c.watchBeacons(now)
	c.rd.Publish = true
}

// PlaceNIC puts NIC id of the model in force in slot, admin up and, until
// its first link read, up in its team (the read that follows may fail it
// over at once). A team an attack moved onto its dos_standby NICs keeps
// off the others until the attack ends, this one included.
func (c *Controller) PlaceNIC(slot int, id model.NICID, now time.Time) {
	n := c.m.NIC(id)
	t := c.teams[n.Team]
	c.nics[slot] = nicSlot{id: id, team: n.Team, local: t.machine.Add(now), adminUp: true}
	t.slots = append(t.slots, slot)
	c.nicRes[slot] = nicRes{}
	c.nicsChanged(n.Team)
	if c.fresh[n.Team] {
		// Seeded before this NIC was placed: its capacity counts too.
		c.seedRates(c.m.TeamIndex(n.Team))
	}
	c.watchBeacons(now)
	c.rd.Publish = true
	if c.evacuatedBy[n.Team] > 0 && !slices.Contains(c.m.Team(n.Team).DoSStandby, id) {
		c.feed(now, slot, nic.DoSEvacuate)
	}
}

// UnplaceNIC frees the NIC slot: the NIC leaves its team's machine (its
// team mates after it move down an index), and the VMs suspended for its
// failover are resumed. The driver fails the NIC over first (Admin down),
// so that its traffic has moved.
func (c *Controller) UnplaceNIC(slot int, now time.Time) {
	s := &c.nics[slot]
	if s.id == 0 {
		return
	}
	c.resumeSuspendedFor(slot, "NIC "+c.nicName(slot)+" left its team", nic.StateDown)
	if t := c.teams[s.team]; t != nil {
		t.machine.Remove(s.local)
		t.slots = slices.Delete(t.slots, s.local, s.local+1)
		for l, other := range t.slots {
			c.nics[other].local = l
		}
	}
	c.nicsChanged(s.team)
	for v := range c.vmRes {
		if c.vmRes[v].assigned == slot {
			c.vmRes[v].assigned = -1
		}
	}
	c.nicRes[slot] = nicRes{}
	*s = nicSlot{}
	c.watchBeacons(now)
	c.rd.Publish = true
}

// PlaceVM puts VM id of the model in force in slot, not connected, its
// DoS state fresh.
func (c *Controller) PlaceVM(slot int, id model.VMID, now time.Time) {
	c.vms[slot] = vmSlot{id: id, suspendedFor: -1}
	c.resetDoS(slot, now)
	c.resetVMRes(slot)
	c.placeRate(slot)
	c.rd.Publish = true
}

// UnplaceVM frees the VM slot. What the VM is in the middle of ends first,
// while it can still be named: an attack (its responses undone), a
// suspension to protect it from a team mate's attack, a suspension for a
// failover.
func (c *Controller) UnplaceVM(slot int, now time.Time) {
	s := &c.vms[slot]
	if s.id == 0 {
		return
	}
	c.endDoS(slot, now)
	if n := s.suspendedFor; n >= 0 {
		if vm := c.m.VM(s.id); vm != nil {
			c.rd.Actions = append(c.rd.Actions, Action{Kind: Resume, VM: vm.Name, NIC: n, NICName: c.nicName(n),
				NICState: c.NIC(n).State, Reason: ReasonRemoved})
		}
	}
	*s = vmSlot{suspendedFor: -1}
	c.resetDoS(slot, now)
	c.resetVMRes(slot)
	c.rd.Publish = true
}

// Step applies one event at time now. Delays that expired by now apply
// first.
func (c *Controller) Step(now time.Time, ev Event) {
	switch e := ev.(type) {
	case LinkRead:
		s := &c.nics[e.NIC]
		if s.id == 0 || (s.seen && s.link == e.Link) {
			return
		}
		// Until its first read the NIC is up in its team: what the read
		// says is a change if it is down.
		wasUp := s.link.Up || !s.seen
		s.link, s.seen = e.Link, true
		c.rd.Links = append(c.rd.Links, LinkChange{NIC: e.NIC, Link: e.Link, Cause: e.Cause})
		c.rd.Publish = true // the speed is in the tables
		if e.Link.Up != wasUp {
			c.feed(now, e.NIC, pick(e.Link.Up, nic.LinkUp, nic.LinkDown))
		}
	case VhostRead:
		s := &c.vms[e.VM]
		if s.id == 0 || s.connected == e.Connected {
			return
		}
		s.connected = e.Connected
		c.rd.Vhost = append(c.rd.Vhost, VhostChange{VM: e.VM, Connected: e.Connected, Cause: e.Cause})
		c.rd.Publish = true
	case Admin:
		s := &c.nics[e.NIC]
		if s.id == 0 || s.adminUp == e.Up {
			return
		}
		s.adminUp = e.Up
		c.rd.Publish = true // the tables carry it (a NIC admin down sends no beacons), transition or not
		c.feed(now, e.NIC, pick(e.Up, nic.AdminUp, nic.AdminDown))
	case Beacons:
		c.feed(now, e.NIC, pick(e.Heard, nic.BeaconHeard, nic.BeaconLost))
	case BeaconCounts:
		c.lookAtBeacons(now, e.Heard)
	case DoSSample:
		if c.vms[e.VM].id == 0 || !c.dos[e.VM].cfg.Enabled {
			return
		}
		if ev, ok := c.det.Observe(e.VM, now, e.Sample); ok {
			c.answer(now, ev)
		}
	case DoSVerdict:
		if c.vms[e.VM].id != 0 {
			c.answer(now, e.Event)
		}
	case Usage:
		c.usage(now, e)
	}
}

func pick(b bool, yes, no nic.EventKind) nic.EventKind {
	if b {
		return yes
	}
	return no
}

// Tick lets the teams' down- and up-delays elapse.
func (c *Controller) Tick(now time.Time) {
	// In ID order, which is the teams' order: the log reads the same
	// every time.
	for _, id := range slices.Sorted(maps.Keys(c.teams)) {
		c.transitions(id, c.teams[id].machine.Tick(now))
	}
}

// Deadline is when the next delay of any team expires: the driver calls
// Tick then.
func (c *Controller) Deadline() (time.Time, bool) {
	var best time.Time
	found := false
	for _, t := range c.teams {
		if d, ok := t.machine.NextDeadline(); ok && (!found || d.Before(best)) {
			best, found = d, true
		}
	}
	return best, found
}

// HasReady says whether Ready has anything.
func (c *Controller) HasReady() bool {
	r := &c.rd
	return r.Publish || len(r.Links)+len(r.Vhost)+len(r.Transitions)+len(r.Actions)+len(r.Attacks)+len(r.Protects)+
		len(r.Evacuations)+len(r.Rebalances)+len(r.OverAllocations) > 0
}

// Ready returns what the steps since the last Ready decided, and forgets
// it.
func (c *Controller) Ready() Ready {
	rd := c.rd
	c.rd = Ready{}
	return rd
}

// feed gives the NIC in slot's team machine one event.
func (c *Controller) feed(now time.Time, slot int, kind nic.EventKind) {
	s := &c.nics[slot]
	t := c.teams[s.team]
	if s.id == 0 || t == nil {
		return
	}
	c.transitions(s.team, t.machine.Step(now, nic.Event{NIC: s.local, Kind: kind}))
}

// transitions takes team id's machine's transitions into Ready, with NIC
// slots for machine indexes, and suspends or resumes the VMs that asked
// for it around a failover.
func (c *Controller) transitions(id model.TeamID, tr []nic.Transition) {
	t := c.teams[id]
	for _, x := range tr {
		if x.To == nic.StateFailing {
			// The team's other NICs take the traffic now: none of them
			// is standby any more, so a NIC returning later (failback
			// off) does not pull VMs back to itself.
			for l := range t.slots {
				if l != x.NIC {
					t.machine.ClearStandby(l)
				}
			}
		}
		x.NIC = t.slots[x.NIC]
		c.nics[x.NIC].changes++
		var vms []int
		if c.tables != nil {
			vms = c.tables.VMsOn(x.NIC)
		}
		c.rd.Transitions = append(c.rd.Transitions, Transition{Transition: x, VMs: vms, Count: c.nics[x.NIC].changes})
		c.suspendAround(x, vms)
		c.rd.Publish = true
	}
}

// suspendAround suspends, when a failover of a NIC starts, the VMs that
// used it and asked for suspend_on_failover, and resumes them when it ends
// (the NIC is down and their traffic moved, or it came back).
func (c *Controller) suspendAround(x nic.Transition, affected []int) {
	name := c.nicName(x.NIC)
	switch {
	case x.To == nic.StateFailing:
		for _, v := range affected {
			if v < 0 || v >= len(c.vms) {
				continue
			}
			s := &c.vms[v]
			vm := c.m.VM(s.id)
			if vm == nil || !vm.SuspendOnFailover || s.suspendedFor >= 0 {
				continue
			}
			s.suspendedFor = x.NIC
			c.rd.Actions = append(c.rd.Actions, Action{Kind: Suspend, VM: vm.Name, NIC: x.NIC, NICName: name, NICState: x.To,
				Reason: "failover of " + name})
		}
	case x.From == nic.StateFailing:
		c.resumeSuspendedFor(x.NIC, "failover of "+name+" over", x.To)
	}
}

// resumeSuspendedFor resumes the VMs suspended for the failover of the
// NIC in slot n.
func (c *Controller) resumeSuspendedFor(n int, reason string, state nic.State) {
	for v := range c.vms {
		s := &c.vms[v]
		if s.suspendedFor != n {
			continue
		}
		s.suspendedFor = -1
		if vm := c.m.VM(s.id); vm != nil {
			c.rd.Actions = append(c.rd.Actions, Action{Kind: Resume, VM: vm.Name, NIC: n, NICName: c.nicName(n),
				NICState: state, Reason: reason})
		}
	}
}

func (c *Controller) nicName(slot int) string {
	if n := c.m.NIC(c.nics[slot].id); n != nil {
		return n.Name
	}
	return ""
}

// NIC is the state of the NIC in slot, as the tables take it; a free
// slot's NIC is down and carries nothing.
func (c *Controller) NIC(slot int) NICState {
	s := &c.nics[slot]
	t := c.teams[s.team]
	if s.id == 0 || t == nil {
		return NICState{State: nic.StateDown}
	}
	mc := t.machine
	return NICState{Link: s.link, AdminUp: s.adminUp, State: mc.State(s.local), Standby: mc.Standby(s.local),
		Evacuated: mc.Evacuated(s.local), Faults: mc.Faults(s.local), Transitions: s.changes}
}

// VMConnected says whether the VM in slot has its vhost-user connection
// up.
func (c *Controller) VMConnected(slot int) bool { return c.vms[slot].connected }

// SuspendedFor is the NIC slot whose failover the VM in slot is suspended
// for, or -1.
func (c *Controller) SuspendedFor(slot int) int { return c.vms[slot].suspendedFor }
