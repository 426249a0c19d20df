package control

import (
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/ctrl/resource"
)

// Link is what a port says of its link.
type Link struct {
	Up        bool
	SpeedMbps uint32
	FullDup   bool
}

// Event is an input to Step.
type Event interface{ event() }

// LinkRead is a NIC's link as the driver read it now (an LSC interrupt,
// the link poll, a NIC joining). Only a change does anything.
type LinkRead struct {
	NIC   int // slot
	Link  Link
	Cause string // "start", "event", "poll", "join"
}

// VhostRead is a VM's vhost-user connection as the driver read it now.
// Only a change does anything.
type VhostRead struct {
	VM        int // slot
	Connected bool
	Cause     string
}

// Admin sets a NIC administratively up or down: down carries no new
// traffic, and what was queued for it moves to its team mates.
type Admin struct {
	NIC int // slot
	Up  bool
}

// Beacons says that a NIC's beacons were lost or are heard again (the
// beacon watch counts the intervals).
type Beacons struct {
	NIC   int // slot
	Heard bool
}

// DoSSample is a watched VM's counters as the driver read them now, for
// the DoS detector: everything the network sent the VM, delivered or not,
// and the attack classes the worker counts.
type DoSSample struct {
	VM     int // slot
	Sample dos.Sample
}

// DoSVerdict is an attack's start or end (Event.VM is the slot) as a
// detector decided it. The controller's own detector decides from
// DoSSample; this event lets a test, or another detector, drive the
// responses directly.
type DoSVerdict struct{ dos.Event }

// Usage is the worker's counters as the driver read them now, per slot,
// for the resource manager: what each VM sent and how often the worker
// held it back, what each NIC sent. Each counts from zero since its
// entity took the slot (a free slot: zero).
type Usage struct {
	VMs        []VMUsage
	NICTxBytes []uint64
}

// VMUsage is a VM's bytes sent and held-back bursts so far.
type VMUsage struct{ Bytes, Held uint64 }

// BeaconCounts are the NICs' beacons-heard counters as the driver read
// them now, per slot (0 for a NIC not counted yet), for the beacon watch:
// a NIC whose counter has not moved for its team's beacon_misses looks
// while its link is up has lost its beacons.
type BeaconCounts struct{ Heard []uint64 }

func (BeaconCounts) event() {}
func (Usage) event()        {}
func (LinkRead) event()     {}
func (VhostRead) event()    {}
func (Admin) event()        {}
func (Beacons) event()      {}
func (DoSSample) event()    {}
func (DoSVerdict) event()   {}

// Ready is what must happen after the steps since the last Ready, in this
// order: publish the tables (when Publish), then record the changes (a
// guest told "connected" may send at once, so the tables come first),
// then carry out the VM actions, without holding the lock that
// serialises the controller.
type Ready struct {
	// Publish: the tables' inputs changed.
	Publish     bool
	Links       []LinkChange
	Vhost       []VhostChange
	Transitions []Transition
	Actions     []Action
	// Attacks started or ended, VMs suspended or resumed to protect them
	// from a team mate's attack, NICs a team moved off or back for an
	// attack.
	Attacks     []Attack
	Protects    []Protect
	Evacuations []EvacuationChange
	// VMs the resource manager moved off a hot NIC, and VMs that stayed
	// over their allocation.
	Rebalances      []Rebalance
	OverAllocations []OverAllocation
}

// Tables is what the controller reads of the tables in force (the
// driver's last published ones).
type Tables interface {
	// VMsOn are the VM slots the tables send by NIC slot n: the VMs a
	// failover of n affects.
	VMsOn(n int) []int
	// LoadBasedNIC is the NIC slot a load-based VM (slot v) is on, or -1.
	LoadBasedNIC(v int) int
}

// Rebalance is a VM the resource manager moved off a hot NIC.
type Rebalance struct {
	VM, From, To string
	FromUtil     float64
}

// OverAllocation is a VM that stayed over its allocation, and what is
// decided about it.
type OverAllocation struct {
	VM       string
	Decision resource.Decision
	AllocBps float64
}

// Attack is an attack on a VM that started or ended, with the responses
// it started or undoes.
type Attack struct {
	VM        string
	Event     dos.Event
	Responses []model.Response
}

// Protect is a VM suspended (or resumed) to protect it from the attack
// on its team mate AttackedVM; Removed: resumed because it is removed.
type Protect struct {
	VM, AttackedVM   string
	Suspend, Removed bool
}

// EvacuationChange is a NIC its team moved off for an attack (Evacuated),
// or back.
type EvacuationChange struct {
	NIC, Team string
	Evacuated bool
	Standby   []string
}

// LinkChange is a NIC's link that changed.
type LinkChange struct {
	NIC   int
	Link  Link
	Cause string
}

// VhostChange is a VM's vhost-user connection that changed.
type VhostChange struct {
	VM        int
	Connected bool
	Cause     string
}

// Transition is a NIC's failover state change (NIC is its slot), with the
// VM slots the tables in force sent by it, and the NIC's transitions so
// far, this one included.
type Transition struct {
	nic.Transition
	VMs   []int
	Count uint64
}

// ActionKind is what is done to a VM.
type ActionKind uint8

const (
	Suspend ActionKind = iota
	Resume
	SetCPUWeight
	MigrateAway
	OverAllocated
)

// ReasonRemoved is the reason of the Resume of a VM that is removed while
// suspended.
const ReasonRemoved = "removed from uplinkd"

// AroundFailover says whether the action suspends or resumes the VM
// around its NIC's failover (suspend_on_failover).
func (a Action) AroundFailover() bool { return a.NICName != "" }

// Action is a decision about a VM, carried out by the VM manager.
type Action struct {
	Kind   ActionKind
	VM     string
	Reason string
	// NIC is, for a suspend or resume around a failover, the failing
	// NIC's slot (-1 for other actions), NICName its name and NICState
	// its state then.
	NIC      int
	NICName  string
	NICState nic.State
	// Weight for SetCPUWeight, Avoid (a connection) for MigrateAway,
	// Decision for OverAllocated.
	Weight   int
	Avoid    string
	Decision resource.Decision
}

// NICState is a NIC's state as the tables take it.
type NICState struct {
	Link    Link
	AdminUp bool
	State   nic.State
	// Standby: up but not carrying traffic (failback off, or
	// explicit-failover's standby).
	Standby     bool
	Evacuated   bool
	Faults      []string
	Transitions uint64
}

// FailingOver: a failure was seen, the down-delay runs, the NIC carries
// no new traffic.
func (s NICState) FailingOver() bool { return s.State == nic.StateFailing }

// Usable: the NIC carries traffic.
func (s NICState) Usable() bool { return s.State == nic.StateUp }

// Failed: down or recovering, carrying nothing.
func (s NICState) Failed() bool { return !s.Usable() && !s.FailingOver() }
