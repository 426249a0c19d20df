package nic

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const ms = time.Millisecond

func at(d time.Duration) time.Time { return t0.Add(d) }

// op is one Step (ev set) or Tick (tick) on NIC 0 at t0+at, and the
// transitions it must return as "from>to:cause".
type op struct {
	at   time.Duration
	ev   EventKind
	tick bool
	want []string
}

func tick(d time.Duration, want ...string) op { return op{at: d, tick: true, want: want} }
func ev(d time.Duration, k EventKind, want ...string) op {
	return op{at: d, ev: k, want: want}
}

func short(ts []Transition) []string {
	var s []string
	for _, t := range ts {
		s = append(s, t.From.String()+">"+t.To.String()+":"+t.Cause)
	}
	return s
}

func TestPaths(t *testing.T) {
	delays := Config{DownDelay: 30 * ms, UpDelay: 100 * ms, Failback: true}
	tests := []struct {
		name string
		cfg  Config
		ops  []op
		end  State
	}{
		{"link down, down-delay boundary", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			tick(30*ms - 1),
			tick(30*ms, "failing>down:down-delay elapsed"),
			tick(time.Second),
		}, StateDown},
		{"flap while failing returns to up, never down", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			ev(29*ms, LinkUp, "failing>up:link flapped"),
			tick(time.Second),
		}, StateUp},
		{"admin down bypasses down-delay", delays, []op{
			ev(0, AdminDown, "up>failing:admin down", "failing>down:admin down"),
		}, StateDown},
		{"admin down while failing goes down at once", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			ev(5*ms, AdminDown, "failing>down:admin down"),
		}, StateDown},
		{"recovery, up-delay boundary", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			ev(30*ms, LinkUp, "failing>down:down-delay elapsed", "down>recovering:link up"),
			tick(130*ms - 1),
			tick(130*ms, "recovering>up:up-delay elapsed"),
		}, StateUp},
		{"flap while recovering restarts the up-delay", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			ev(40*ms, LinkUp, "failing>down:down-delay elapsed", "down>recovering:link up"),
			ev(100*ms, LinkDown, "recovering>down:link down"),
			ev(120*ms, LinkUp, "down>recovering:link up"),
			tick(219 * ms),
			tick(220*ms, "recovering>up:up-delay elapsed"),
		}, StateUp},
		{"beacons lost and heard with link up", delays, []op{
			ev(0, BeaconLost, "up>failing:beacons lost"),
			ev(10*ms, BeaconHeard, "failing>up:beacons flapped"),
			ev(20*ms, BeaconLost, "up>failing:beacons lost"),
			tick(50*ms, "failing>down:down-delay elapsed"),
			ev(60*ms, LinkDown),
			ev(70*ms, LinkUp),
			ev(80*ms, BeaconHeard, "down>recovering:beacons heard"),
			tick(180*ms, "recovering>up:up-delay elapsed"),
		}, StateUp},
		{"healthy needs link, admin and beacons", delays, []op{
			ev(0, AdminDown, "up>failing:admin down", "failing>down:admin down"),
			ev(1*ms, LinkDown),
			ev(2*ms, AdminUp),
			ev(3*ms, BeaconLost),
			ev(4*ms, LinkUp),
			ev(5*ms, LinkUp),
			ev(6*ms, BeaconHeard, "down>recovering:beacons heard"),
			ev(7*ms, AdminDown, "recovering>down:admin down"),
		}, StateDown},
		{"zero delays return both transitions", Config{Failback: true}, []op{
			ev(0, LinkDown, "up>failing:link down", "failing>down:link down"),
			ev(1*ms, LinkUp, "down>recovering:link up", "recovering>up:up-delay elapsed"),
		}, StateUp},
		{"dos evacuation skips down-delay, its end recovers through up-delay", delays, []op{
			ev(0, DoSEvacuate, "up>failing:dos-evacuate", "failing>down:dos-evacuate"),
			tick(time.Second),
			ev(time.Second, DoSReturn, "down>recovering:dos-return"),
			tick(time.Second + 100*ms - 1),
			tick(time.Second+100*ms, "recovering>up:up-delay elapsed"),
		}, StateUp},
		{"dos evacuation while failing goes down at once", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			ev(5*ms, DoSEvacuate, "failing>down:dos-evacuate"),
		}, StateDown},
		{"dos evacuation while recovering restarts the recovery", delays, []op{
			ev(0, LinkDown, "up>failing:link down"),
			ev(30*ms, LinkUp, "failing>down:down-delay elapsed", "down>recovering:link up"),
			ev(50*ms, DoSEvacuate, "recovering>down:dos-evacuate"),
			tick(time.Second),
		}, StateDown},
		{"an evacuated NIC that lost its link recovers when both are over", delays, []op{
			ev(0, DoSEvacuate, "up>failing:dos-evacuate", "failing>down:dos-evacuate"),
			ev(1*ms, LinkDown),
			ev(2*ms, DoSReturn),
			ev(3*ms, DoSEvacuate),
			ev(4*ms, DoSReturn),
			ev(5*ms, LinkUp, "down>recovering:link up"),
		}, StateRecovering},
		{"unknown event kind ignored", delays, []op{
			ev(0, EventKind(99)),
		}, StateUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(1, tt.cfg, t0)
			for _, o := range tt.ops {
				var got []Transition
				if o.tick {
					got = m.Tick(at(o.at))
				} else {
					got = m.Step(at(o.at), Event{NIC: 0, Kind: o.ev})
				}
				assert.Equal(t, o.want, short(got), "at %v", o.at)
				for _, tr := range got {
					assert.Equal(t, at(o.at), tr.At)
				}
			}
			assert.Equal(t, tt.end, m.State(0))
			assert.Equal(t, tt.end == StateUp, m.Usable(0))
			assert.Equal(t, tt.end == StateFailing, m.FailingOver(0))
		})
	}
}

func TestNextDeadline(t *testing.T) {
	m := New(3, Config{DownDelay: 30 * ms, UpDelay: 100 * ms}, t0)
	_, ok := m.NextDeadline()
	assert.False(t, ok)

	m.Step(at(0), Event{NIC: 0, Kind: LinkDown})
	m.Step(at(10*ms), Event{NIC: 1, Kind: LinkDown})
	m.Step(at(10*ms), Event{NIC: 2, Kind: AdminDown}) // no delay
	d, ok := m.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, at(30*ms), d)

	m.Tick(d)
	d, ok = m.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, at(40*ms), d)

	m.Step(at(35*ms), Event{NIC: 0, Kind: LinkUp}) // recovering until 135
	m.Tick(at(40 * ms))
	d, ok = m.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, at(135*ms), d)

	m.Tick(d)
	_, ok = m.NextDeadline()
	assert.False(t, ok)
}

func TestStandbyWithoutFailback(t *testing.T) {
	for _, failback := range []bool{false, true} {
		m := New(2, Config{UpDelay: 10 * ms, Failback: failback}, t0)
		for round, base := range []time.Duration{0, time.Second} {
			m.Step(at(base), Event{NIC: 0, Kind: LinkDown})
			assert.False(t, m.Standby(0), "down is not standby")
			m.Step(at(base+1*ms), Event{NIC: 0, Kind: LinkUp})
			m.Tick(at(base + 11*ms))
			require.Equal(t, StateUp, m.State(0))
			assert.True(t, m.Usable(0), "standby is still usable")
			assert.Equal(t, !failback, m.Standby(0), "failback %v round %d", failback, round)
			m.Tick(at(base + 500*ms))
			assert.Equal(t, !failback, m.Standby(0), "stays standby")
			m.ClearStandby(0)
			assert.False(t, m.Standby(0))
		}
		assert.False(t, m.Standby(1))
	}

	// A blip under DownDelay is not a failure: no standby.
	m := New(1, Config{DownDelay: 30 * ms}, t0)
	m.Step(at(0), Event{NIC: 0, Kind: LinkDown})
	m.Step(at(5*ms), Event{NIC: 0, Kind: LinkUp})
	assert.False(t, m.Standby(0))
}

func TestOutOfRangeAndBackwardsTime(t *testing.T) {
	m := New(1, Config{DownDelay: 30 * ms}, t0)
	for _, nic := range []int{-1, 1, 100} {
		assert.Empty(t, m.Step(at(0), Event{NIC: nic, Kind: LinkDown}))
		assert.Equal(t, StateDown, m.State(nic))
		assert.False(t, m.Usable(nic))
		assert.False(t, m.Standby(nic))
		m.ClearStandby(nic)
	}
	assert.Empty(t, New(-1, Config{}, t0).Tick(at(time.Second)))

	m.Step(at(100*ms), Event{NIC: 0, Kind: LinkDown})
	assert.Empty(t, m.Tick(at(50*ms)), "no elapse going backwards")
	got := m.Step(at(10*ms), Event{NIC: 0, Kind: LinkUp})
	require.Len(t, got, 1)
	assert.Equal(t, at(100*ms), got[0].At, "clamped to the latest time seen")
	assert.Equal(t, time.Duration(0), got[0].Duration)
}

func TestNICsAreIndependent(t *testing.T) {
	m := New(3, Config{DownDelay: 30 * ms, UpDelay: 50 * ms, Failback: true}, t0)
	assert.Equal(t, []string{"up>failing:link down"}, short(m.Step(at(0), Event{NIC: 0, Kind: LinkDown})))
	assert.Equal(t, []string{"up>failing:beacons lost"}, short(m.Step(at(20*ms), Event{NIC: 2, Kind: BeaconLost})))
	assert.True(t, m.FailingOver(2), "failover in progress is visible")
	assert.False(t, m.Usable(2))
	assert.True(t, m.Usable(1))
	got := m.Tick(at(30 * ms))
	require.Len(t, got, 1)
	assert.Equal(t, 0, got[0].NIC)
	got = m.Step(at(40*ms), Event{NIC: 2, Kind: BeaconHeard})
	require.Len(t, got, 1)
	assert.Equal(t, Transition{NIC: 2, From: StateFailing, To: StateUp, Cause: "beacons flapped", At: at(40 * ms), Duration: 20 * ms}, got[0])
	assert.Equal(t, []State{StateDown, StateUp, StateUp}, []State{m.State(0), m.State(1), m.State(2)})
}

func TestFlapStorm(t *testing.T) {
	m := New(2, Config{DownDelay: 0, UpDelay: 100 * ms, Failback: true}, t0)
	var all []Transition
	events := 0
	for d := time.Duration(0); d <= 10*time.Second; d += ms {
		all = append(all, m.Tick(at(d))...)
		if d%(50*ms) == 0 && d < 10*time.Second {
			k := LinkDown
			if events%2 == 1 {
				k = LinkUp
			}
			all = append(all, m.Step(at(d), Event{NIC: 0, Kind: k})...)
			events++
		}
	}
	require.Equal(t, 200, events)
	assert.Equal(t, StateRecovering, m.State(0), "last event was link up, 50ms ago")
	all = append(all, m.Tick(at(10*time.Second+50*ms))...)
	assert.Equal(t, StateUp, m.State(0), "settles once the storm stops")
	assert.True(t, m.Usable(1), "NIC 1 untouched")

	state := []State{StateUp, StateUp}
	since := []time.Time{t0, t0}
	var sum time.Duration
	ups := 0
	for _, tr := range all {
		require.Equal(t, 0, tr.NIC)
		require.Equal(t, state[tr.NIC], tr.From, "chain broken at %v", tr.At)
		require.Equal(t, tr.At.Sub(since[tr.NIC]), tr.Duration)
		require.NotEqual(t, tr.From, tr.To)
		state[tr.NIC], since[tr.NIC] = tr.To, tr.At
		sum += tr.Duration
		if tr.To == StateUp {
			ups++
		}
	}
	assert.Equal(t, m.State(0), state[0])
	assert.Equal(t, all[len(all)-1].At.Sub(t0), sum, "durations sum to the elapsed time")
	assert.Equal(t, 1, ups, "the up-delay never elapsed during the storm")
}

func TestSetConfigAppliesToDelaysStartingAfter(t *testing.T) {
	m := New(2, Config{DownDelay: 30 * ms, Failback: true}, t0)
	m.Step(at(0), Event{NIC: 0, Kind: LinkDown})
	m.SetConfig(Config{DownDelay: 200 * ms, Failback: false})
	assert.Equal(t, []string{"failing>down:down-delay elapsed"}, short(m.Tick(at(30*ms))), "a running delay keeps its deadline")

	m.Step(at(40*ms), Event{NIC: 1, Kind: LinkDown})
	assert.Empty(t, m.Tick(at(100*ms)), "the new, longer down-delay")
	assert.Equal(t, []string{"failing>down:down-delay elapsed"}, short(m.Tick(at(240*ms))))

	m.Step(at(300*ms), Event{NIC: 0, Kind: LinkUp})
	m.Tick(at(300 * ms))
	assert.True(t, m.Standby(0), "failback off now")
}

func TestFaultsNameWhatKeepsANICUnhealthy(t *testing.T) {
	m := New(2, Config{UpDelay: 10 * ms, Failback: false}, t0)
	assert.Nil(t, m.Faults(0))
	m.Step(at(0), Event{NIC: 0, Kind: DoSEvacuate})
	assert.Equal(t, []string{FaultEvacuated}, m.Faults(0))
	assert.True(t, m.Evacuated(0))
	assert.False(t, m.Evacuated(1))
	m.Step(at(1*ms), Event{NIC: 0, Kind: LinkDown})
	m.Step(at(2*ms), Event{NIC: 0, Kind: BeaconLost})
	m.Step(at(3*ms), Event{NIC: 0, Kind: AdminDown})
	assert.Equal(t, []string{FaultLinkDown, FaultAdminDown, FaultBeaconsLost, FaultEvacuated}, m.Faults(0))
	for _, k := range []EventKind{LinkUp, BeaconHeard, AdminUp, DoSReturn} {
		m.Step(at(4*ms), Event{NIC: 0, Kind: k})
	}
	assert.Nil(t, m.Faults(0), "no fault left")
	assert.False(t, m.Evacuated(0))
	assert.Equal(t, StateRecovering, m.State(0), "yet not Up before its up-delay")
	m.Tick(at(14 * ms))
	assert.True(t, m.Standby(0), "back from an evacuation without failback: standby, as from any failure")
	assert.Nil(t, m.Faults(5), "out of range")
	assert.False(t, m.Evacuated(-1))
}

func TestANICJoinsUpAndOneThatLeavesTakesOnlyItsOwnState(t *testing.T) {
	m := New(2, Config{DownDelay: 30 * ms, UpDelay: 100 * ms}, t0)
	// NIC 0 is failing over; NIC 1 is down for good.
	require.Equal(t, []string{"up>failing:link down"}, short(m.Step(at(1*ms), Event{NIC: 0, Kind: LinkDown})))
	m.Step(at(1*ms), Event{NIC: 1, Kind: AdminDown})

	n := m.Add(at(2 * ms))
	assert.Equal(t, 2, n)
	assert.Equal(t, 3, m.Len())
	assert.True(t, m.Usable(n), "a NIC joins up: its link is reported next")
	assert.Empty(t, m.Faults(n))
	assert.Equal(t, []string{"up>failing:link down"}, short(m.Step(at(3*ms), Event{NIC: n, Kind: LinkDown})))

	// NIC 0 leaves: the others move down an index with their state, and
	// NIC 0's running down-delay goes with it.
	m.Remove(0)
	assert.Equal(t, 2, m.Len())
	assert.Equal(t, StateDown, m.State(0), "the admin-down NIC, now index 0")
	assert.Equal(t, []string{FaultAdminDown}, m.Faults(0))
	assert.Equal(t, StateFailing, m.State(1), "the new NIC, now index 1")
	d, ok := m.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, at(33*ms), d, "only the new NIC's delay is left")
	assert.Equal(t, []string{"failing>down:down-delay elapsed"}, short(m.Tick(at(33*ms))))

	m.Remove(5) // out of range: nothing
	assert.Equal(t, 2, m.Len())
}
