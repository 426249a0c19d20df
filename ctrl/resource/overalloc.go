package resource

import "time"

// Action is what to do about a VM that stays over its allocation.
type Action string

const (
	ActionSuspend Action = "suspend"
	ActionMigrate Action = "migrate"
)

// Decision says a VM stayed over its allocation too long.
type Decision struct {
	VM     int       // index of the VM
	Action Action    // the watcher's configured action
	Since  time.Time // start of the current continuous over-allocation
	At     time.Time // the Observe time that produced this decision
	Repeat int       // 0 for the first decision of this episode, then 1, 2, ...
}

// OverAllocation watches for VMs that are persistently over their
// allocation. It only decides; carrying the action out (and not repeating
// it needlessly, using Repeat) is the caller's business.
type OverAllocation struct {
	// After is how long a VM must be continuously over before a decision,
	// and the period of repeats while it stays over. <= 0 disables decisions.
	After  time.Duration
	Action Action

	vms []overState
}

type overState struct {
	over    bool
	since   time.Time
	periods int64 // the next decision is due once since+periods*After is reached
	repeat  int
}

// NewOverAllocation returns a watcher for n VMs.
func NewOverAllocation(n int, after time.Duration, action Action) *OverAllocation {
	return &OverAllocation{After: after, Action: action, vms: make([]overState, n)}
}

// Observe feeds whether each VM is over its allocation (backlogged) at time
// now and returns the decisions due, nil if none. VMs beyond len(over) count
// as not over. One false observation ends an episode: the VM calmed down and
// must be over for After again before the next decision.
//
// A VM gets at most one decision per Observe. If Observes are sparse and
// several periods passed, the missed ones are not replayed: the next decision
// is due at the first multiple of After (counted from Since) after now.
func (o *OverAllocation) Observe(now time.Time, over []bool) []Decision {
	var out []Decision
	for i := range o.vms {
		st := &o.vms[i]
		if i >= len(over) || !over[i] {
			*st = overState{}
			continue
		}
		if !st.over {
			*st = overState{over: true, since: now, periods: 1}
		}
		if o.After <= 0 {
			continue
		}
		elapsed := now.Sub(st.since)
		if elapsed < time.Duration(st.periods)*o.After {
			continue
		}
		out = append(out, Decision{VM: i, Action: o.Action, Since: st.since, At: now, Repeat: st.repeat})
		st.repeat++
		st.periods = int64(elapsed/o.After) + 1
	}
	return out
}

// Reset forgets vm's episode, for a new VM in its place.
func (o *OverAllocation) Reset(vm int) { o.vms[vm] = overState{} }

// Over reports whether vm is currently over its allocation and since when.
func (o *OverAllocation) Over(vm int) (since time.Time, ok bool) {
	if vm < 0 || vm >= len(o.vms) || !o.vms[vm].over {
		return time.Time{}, false
	}
	return o.vms[vm].since, true
}
