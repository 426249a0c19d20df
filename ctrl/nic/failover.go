// Package nic is the NIC manager's failover state machine: per team, which
// members carry traffic, which are failing over, and which are down.
//
// Machine is a pure state machine in the style of etcd's raft: no
// goroutines, no clock reads. The caller feeds it what it observed (link
// status from LSC events or polling, admin up/down from the API, beacon
// loss counted over its own intervals) and decided (the DoS responder
// evacuating a NIC while an attack lasts) and the time, via Step and Tick,
// and gets back the Transitions to carry out and log.
//
// A NIC is healthy when its link is up, it is admin up, it hears beacons
// (a caller that does not probe never reports BeaconLost) and it is not
// evacuated. Each of those that fails is a fault, named by its event's
// cause (Faults). Its states:
//
//	Up ──unhealthy──▶ Failing ──DownDelay──▶ Down ──healthy──▶ Recovering ──UpDelay──▶ Up
//	▲                    │                     ▲                   │
//	└── healthy again ───┘ (a blip)            └── unhealthy ──────┘ (up-delay restarts)
//
// Failing is the "failover in progress" state, and it is visible to the
// selection logic (Usable is false, FailingOver is true) from the Step that
// saw the failure: new traffic leaves the NIC at once, well under a
// millisecond after detection, its queued packets are re-routed, moved VM
// MACs are announced on the new NIC and, by policy, affected VMs may be
// suspended while it lasts. DownDelay only decides whether the failure was a
// blip: a NIC that comes back while Failing returns straight to Up (it never
// failed, so no up-delay and no standby), one that stays unhealthy for
// DownDelay is Down. Admin down is operator intent and a DoS evacuation the
// responder's, not blips: both skip DownDelay. The end of an evacuation is
// a recovery like any other (UpDelay, then Failback decides).
// Every Up→Down path passes through Failing, in the same call when the delay
// is skipped or zero, so the caller has one place to start a failover.
//
// A Down NIC that becomes healthy is Recovering and still carries nothing;
// it must stay healthy for UpDelay before it is Up again, so a flapping link
// does not drag traffic back and forth. Failback decides what Up means then:
// with Failback the NIC takes its traffic back; without it the NIC is Up but
// Standby, usable yet not preferred, so per-VM policies leave VMs where they
// are until the caller calls ClearStandby (an operator, or the NIC the VMs
// moved to failing in turn).
//
// A transition takes effect, and is stamped, at the Step or Tick that
// applies it: a delay that expired between two calls is applied at the
// later one, so the caller ticks about every millisecond or sets a timer
// from NextDeadline. Time that goes backwards counts as no time passing.
package nic

import "time"

// State of one NIC in its team.
type State uint8

const (
	StateUp         State = iota // carries traffic
	StateFailing                 // failure seen, down-delay running; carries no new traffic ("failover in progress")
	StateDown                    // failed; carries nothing
	StateRecovering              // healthy again, up-delay running; carries nothing yet
)

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

var stateNames = [...]string{"up", "failing", "down", "recovering"}

// Config of the machine (per team).
type Config struct {
	// DownDelay is how long a failure must last before the NIC is Down (0:
	// at once). While Failing, the NIC carries no new traffic.
	DownDelay time.Duration
	// UpDelay is how long a Down NIC must stay healthy before it carries
	// traffic again (0: at once).
	UpDelay time.Duration
	// Failback true: a recovered NIC takes its traffic back. False: it comes
	// back Up but Standby until ClearStandby.
	Failback bool
}

// EventKind is what was observed about a NIC.
type EventKind uint8

const (
	LinkUp EventKind = iota
	LinkDown
	AdminUp
	AdminDown
	BeaconLost // no beacon heard from any other member for N intervals (the caller counts intervals)
	BeaconHeard
	// DoSEvacuate: the DoS responder moves the team off the NIC while one
	// of the team's VMs is under attack (the failover response);
	// DoSReturn: the attack is over.
	DoSEvacuate
	DoSReturn
)

var causes = [...]string{LinkUp: "link up", LinkDown: "link down", AdminUp: "admin up",
	AdminDown: "admin down", BeaconLost: "beacons lost", BeaconHeard: "beacons heard",
	DoSEvacuate: "dos-evacuate", DoSReturn: "dos-return"}

// Fault names, as Faults reports them: the causes of the events that make
// a NIC unhealthy.
const (
	FaultLinkDown    = "link down"
	FaultAdminDown   = "admin down"
	FaultBeaconsLost = "beacons lost"
	FaultEvacuated   = "dos-evacuate"
)

// Event is what the NIC manager observed.
type Event struct {
	NIC  int
	Kind EventKind
}

// Transition is one state change, for logging and counting.
type Transition struct {
	NIC      int
	From, To State
	Cause    string // "link down", "admin down", "beacons lost", "dos-evacuate", "down-delay elapsed", "up-delay elapsed", "link up", "dos-return", "link flapped", ...
	At       time.Time
	Duration time.Duration // time spent in From
}

// Machine is the failover state of one team's NICs.
type Machine struct {
	cfg  Config
	now  time.Time // latest time seen; earlier times are clamped to it
	nics []nicState
}

type nicState struct {
	linkDown, adminDown, beaconLost, evacuated bool
	state                                      State
	since                                      time.Time // entered state
	deadline                                   time.Time // delay expiry while Failing or Recovering
	standby                                    bool
}

func (n *nicState) healthy() bool {
	return !n.linkDown && !n.adminDown && !n.beaconLost && !n.evacuated
}

// intended says an event is a decision rather than an observation: it
// cannot be a blip, so it skips DownDelay.
func intended(k EventKind) bool { return k == AdminDown || k == DoSEvacuate }

// New returns a machine for n NICs, all link up, admin up, hearing beacons
// and Up since now.
func New(n int, cfg Config, now time.Time) *Machine {
	m := &Machine{cfg: cfg, now: now, nics: make([]nicState, max(n, 0))}
	for i := range m.nics {
		m.nics[i].since = now
	}
	return m
}

// Add makes room for a NIC that joins the team and returns its index: it
// is link up, admin up, hearing beacons and Up since now, as at New; the
// caller feeds what it observes of it next (its link may be down).
func (m *Machine) Add(now time.Time) int {
	m.nics = append(m.nics, nicState{state: StateUp, since: m.clamp(now)})
	return len(m.nics) - 1
}

// Remove forgets NIC nic, which left the team; the NICs after it move
// down an index. The caller fails the NIC over first (AdminDown), so that
// its traffic has moved before it goes.
func (m *Machine) Remove(nic int) {
	if nic >= 0 && nic < len(m.nics) {
		m.nics = append(m.nics[:nic], m.nics[nic+1:]...)
	}
}

// Len is the number of NICs in the team.
func (m *Machine) Len() int { return len(m.nics) }

// SetConfig changes the delays and failback (a config reload). A delay
// already running keeps its deadline; the new values apply to the
// failures and recoveries that start from now on.
func (m *Machine) SetConfig(cfg Config) { m.cfg = cfg }

// Step applies one event at time now and returns the transitions it caused,
// nil if none. Delays that expired by now are applied first (see Tick), so
// a delay expiring exactly at now wins over the event. An event for a NIC
// out of range is ignored; time still passes.
func (m *Machine) Step(now time.Time, ev Event) []Transition {
	now = m.clamp(now)
	out := m.expire(now, nil)
	if ev.NIC < 0 || ev.NIC >= len(m.nics) {
		return out
	}
	if int(ev.Kind) >= len(causes) {
		return out
	}
	n, cause := &m.nics[ev.NIC], causes[ev.Kind]
	switch ev.Kind {
	case LinkUp, LinkDown:
		n.linkDown = ev.Kind == LinkDown
	case AdminUp, AdminDown:
		n.adminDown = ev.Kind == AdminDown
	case DoSEvacuate, DoSReturn:
		n.evacuated = ev.Kind == DoSEvacuate
	default:
		n.beaconLost = ev.Kind == BeaconLost
	}

	healthy := n.healthy()
	switch n.state {
	case StateUp:
		if !healthy {
			out = m.move(out, ev.NIC, StateFailing, cause, now)
			if intended(ev.Kind) || m.cfg.DownDelay <= 0 {
				out = m.move(out, ev.NIC, StateDown, cause, now)
			}
		}
	case StateFailing:
		if healthy {
			flap := "link flapped"
			if ev.Kind == BeaconHeard {
				flap = "beacons flapped"
			}
			out = m.move(out, ev.NIC, StateUp, flap, now)
		} else if intended(ev.Kind) {
			out = m.move(out, ev.NIC, StateDown, cause, now)
		}
	case StateDown:
		if healthy {
			out = m.move(out, ev.NIC, StateRecovering, cause, now)
			if m.cfg.UpDelay <= 0 {
				out = m.recovered(out, ev.NIC, now)
			}
		}
	case StateRecovering:
		if !healthy {
			out = m.move(out, ev.NIC, StateDown, cause, now)
		}
	}
	return out
}

// Tick lets time pass to now and returns the transitions of the delays that
// expired (at exactly the delay, not a nanosecond before), nil if none.
func (m *Machine) Tick(now time.Time) []Transition {
	return m.expire(m.clamp(now), nil)
}

// NextDeadline is the earliest pending delay expiry; false when no delay is
// running.
func (m *Machine) NextDeadline() (time.Time, bool) {
	var next time.Time
	ok := false
	for i := range m.nics {
		n := &m.nics[i]
		if n.state != StateFailing && n.state != StateRecovering {
			continue
		}
		if !ok || n.deadline.Before(next) {
			next, ok = n.deadline, true
		}
	}
	return next, ok
}

// State of nic; StateDown for a NIC out of range.
func (m *Machine) State(nic int) State {
	if nic < 0 || nic >= len(m.nics) {
		return StateDown
	}
	return m.nics[nic].state
}

// Faults are what keeps nic from being healthy now, in a fixed order
// (FaultLinkDown, FaultAdminDown, FaultBeaconsLost, FaultEvacuated); nil
// when nothing does (it may still be Recovering).
func (m *Machine) Faults(nic int) []string {
	if nic < 0 || nic >= len(m.nics) {
		return nil
	}
	n := &m.nics[nic]
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{n.linkDown, FaultLinkDown}, {n.adminDown, FaultAdminDown}, {n.beaconLost, FaultBeaconsLost}, {n.evacuated, FaultEvacuated}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return f
}

// Evacuated reports whether the DoS responder has moved the team off nic.
func (m *Machine) Evacuated(nic int) bool {
	return nic >= 0 && nic < len(m.nics) && m.nics[nic].evacuated
}

// Usable reports whether nic may carry traffic (StateUp, standby or not).
func (m *Machine) Usable(nic int) bool { return m.State(nic) == StateUp }

// FailingOver reports whether nic is Failing: a failover is in progress.
func (m *Machine) FailingOver(nic int) bool { return m.State(nic) == StateFailing }

// Standby reports whether nic is Up but came back from a failure without
// Failback: usable, yet per-VM policies should not move VMs back to it.
func (m *Machine) Standby(nic int) bool {
	return m.State(nic) == StateUp && m.nics[nic].standby
}

// ClearStandby lets nic take its traffic back.
func (m *Machine) ClearStandby(nic int) {
	if nic >= 0 && nic < len(m.nics) {
		m.nics[nic].standby = false
	}
}

func (m *Machine) clamp(now time.Time) time.Time {
	if now.Before(m.now) {
		return m.now
	}
	m.now = now
	return now
}

// expire applies the delays due at now, in NIC order.
func (m *Machine) expire(now time.Time, out []Transition) []Transition {
	for i := range m.nics {
		n := &m.nics[i]
		if n.deadline.After(now) {
			continue
		}
		switch n.state {
		case StateFailing:
			out = m.move(out, i, StateDown, "down-delay elapsed", now)
		case StateRecovering:
			out = m.recovered(out, i, now)
		}
	}
	return out
}

func (m *Machine) recovered(out []Transition, i int, now time.Time) []Transition {
	m.nics[i].standby = !m.cfg.Failback
	return m.move(out, i, StateUp, "up-delay elapsed", now)
}

func (m *Machine) move(out []Transition, i int, to State, cause string, now time.Time) []Transition {
	n := &m.nics[i]
	out = append(out, Transition{NIC: i, From: n.state, To: to, Cause: cause, At: now, Duration: now.Sub(n.since)})
	n.state, n.since = to, now
	switch to {
	case StateFailing:
		n.deadline = now.Add(m.cfg.DownDelay)
	case StateRecovering:
		n.deadline = now.Add(m.cfg.UpDelay)
	}
	return out
}
