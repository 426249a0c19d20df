package balance

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	gbit      = 1e9
	threshold = 0.75
	hold      = 30 * time.Millisecond
	tick      = 5 * time.Millisecond
)

var t0 = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return t0.Add(d) }

// team is a caller that measures NIC load as the sum of its VMs' loads and
// applies every move before the next Step, as the control loop will.
type team struct {
	r     *Rebalancer
	nics  []NIC
	vms   []VM
	moves []Move
}

// newTeam builds 10 Gbit/s NICs, all usable, and VMs with the given loads
// in Gbit/s on the given NICs.
func newTeam(nics int, vms ...VM) *team {
	tm := &team{r: New(threshold, hold), vms: vms}
	for range nics {
		tm.nics = append(tm.nics, NIC{Usable: true, Capacity: 10 * gbit})
	}
	for i := range tm.vms {
		tm.vms[i].Load *= gbit
	}
	return tm
}

func (tm *team) step(now time.Time) []Move {
	for i := range tm.nics {
		tm.nics[i].Load = 0
	}
	for _, v := range tm.vms {
		if v.NIC >= 0 {
			tm.nics[v.NIC].Load += v.Load
		}
	}
	moves := tm.r.Step(now, tm.nics, tm.vms)
	for _, m := range moves {
		tm.vms[m.VM].NIC = m.To
	}
	tm.moves = append(tm.moves, moves...)
	return moves
}

// run steps every tick over [from, to] and returns the moves made.
func (tm *team) run(from, to time.Duration) []Move {
	var moves []Move
	for d := from; d <= to; d += tick {
		moves = append(moves, tm.step(at(d))...)
	}
	return moves
}

func TestNoMoveBelowThreshold(t *testing.T) {
	// NIC 0 at exactly 75 %: not above the threshold.
	tm := newTeam(2, VM{Load: 5, NIC: 0}, VM{Load: 2.5, NIC: 0})
	assert.Empty(t, tm.run(0, time.Second))
}

func TestNoMoveBeforeHold(t *testing.T) {
	tm := newTeam(2, VM{Load: 5, NIC: 0}, VM{Load: 4, NIC: 0})
	for _, d := range []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond, hold - time.Nanosecond} {
		assert.Nil(t, tm.step(at(d)), "at %v", d)
	}
	assert.Equal(t, []Move{{VM: 0, From: 0, To: 1}}, tm.step(at(hold)))
}

func TestMovesLargestFittingVMToCoolestNIC(t *testing.T) {
	tm := newTeam(3,
		VM{Load: 6, NIC: 0},   // does not fit on NIC 2 (2 + 6 > 7.5)
		VM{Load: 2.5, NIC: 0}, // the largest that fits
		VM{Load: 1, NIC: 0},
		VM{Load: 5, NIC: 1}, // NIC 1 at 50 %
		VM{Load: 2, NIC: 2}, // NIC 2 at 20 %: the coolest
		VM{Load: 2.5, NIC: 0},
	)
	assert.Nil(t, tm.step(at(0)))
	assert.Equal(t, []Move{{VM: 1, From: 0, To: 2}}, tm.step(at(hold)), "largest fitting, lowest index on a tie")
}

func TestHoldRestartsAfterMove(t *testing.T) {
	// NIC 0 at 95 %, still at 80 % after one move of 1.5 Gbit/s.
	tm := newTeam(3,
		VM{Load: 1.5, NIC: 0}, VM{Load: 1.5, NIC: 0}, VM{Load: 1.5, NIC: 0},
		VM{Load: 1.5, NIC: 0}, VM{Load: 1.5, NIC: 0}, VM{Load: 1.5, NIC: 0},
		VM{Load: 0.5, NIC: 0},
		VM{Load: 4, NIC: 1},
		VM{Load: 4.5, NIC: 2},
	)
	assert.Empty(t, tm.run(0, hold-tick))
	require.Equal(t, []Move{{VM: 0, From: 0, To: 1}}, tm.step(at(hold)))
	assert.Empty(t, tm.run(hold+tick, 2*hold-tick), "still hot, but the next move waits another Hold")
	assert.Equal(t, []Move{{VM: 1, From: 0, To: 2}}, tm.step(at(2*hold)), "NIC 2 is now the coolest")
	assert.Empty(t, tm.run(2*hold+tick, time.Second), "NIC 0 at 65 %: relieved")
}

func TestTimerRestartsWhenLoadDips(t *testing.T) {
	tm := newTeam(2, VM{Load: 5, NIC: 0}, VM{Load: 4, NIC: 0})
	assert.Empty(t, tm.run(0, 20*time.Millisecond))
	tm.vms[1].Load = 2 * gbit // 70 %
	assert.Nil(t, tm.step(at(25*time.Millisecond)))
	tm.vms[1].Load = 4 * gbit
	assert.Empty(t, tm.run(30*time.Millisecond, 30*time.Millisecond+hold-tick))
	assert.Len(t, tm.step(at(30*time.Millisecond+hold)), 1)
}

func TestNoMoveThatWouldOverloadDestination(t *testing.T) {
	tm := newTeam(2,
		VM{Load: 5, NIC: 0}, VM{Load: 4, NIC: 0}, // 90 %
		VM{Load: 4, NIC: 1}, // room for 3.5 only
	)
	assert.Empty(t, tm.run(0, time.Second))
}

func TestNoMoveThatDoesNotHelp(t *testing.T) {
	// The idle VM fits anywhere, but moving it relieves nothing.
	tm := newTeam(2, VM{Load: 9, NIC: 0}, VM{Load: 0, NIC: 0})
	assert.Empty(t, tm.run(0, time.Second))
}

func TestNoMoveToUnusableNIC(t *testing.T) {
	tm := newTeam(3,
		VM{Load: 5, NIC: 0}, VM{Load: 4, NIC: 0}, // 90 %
		VM{Load: 8, NIC: 2}, // 80 %: usable but too hot to take a VM
	)
	tm.nics[1].Usable = false // idle, but down
	assert.Empty(t, tm.run(0, time.Second))

	tm.nics[1].Capacity = 0 // no capacity counts as unusable too
	tm.nics[1].Usable = true
	assert.Empty(t, tm.run(time.Second, 2*time.Second))
}

func TestUnusableNICTimerResets(t *testing.T) {
	tm := newTeam(2, VM{Load: 5, NIC: 0}, VM{Load: 4, NIC: 0})
	assert.Empty(t, tm.run(0, 20*time.Millisecond))
	tm.nics[0].Usable = false
	assert.Nil(t, tm.step(at(25*time.Millisecond)), "down: failover's job")
	tm.nics[0].Usable = true
	assert.Empty(t, tm.run(30*time.Millisecond, 30*time.Millisecond+hold-tick), "up again: Hold starts over")
	assert.Len(t, tm.step(at(30*time.Millisecond+hold)), 1)
}

func TestHotNICsShareACoolNICWithoutOverfillingIt(t *testing.T) {
	tm := newTeam(3,
		VM{Load: 3, NIC: 0}, VM{Load: 6, NIC: 0}, // 90 %
		VM{Load: 3, NIC: 1}, VM{Load: 5, NIC: 1}, // 80 %
		VM{Load: 2, NIC: 2}, // room for 5.5: one 3 Gbit/s VM, not two
	)
	assert.Nil(t, tm.step(at(0)))
	assert.Equal(t, []Move{{VM: 0, From: 0, To: 2}}, tm.step(at(hold)), "hottest NIC first")
}

func TestBothHotNICsMoveWhenThereIsRoom(t *testing.T) {
	tm := newTeam(4,
		VM{Load: 3, NIC: 0}, VM{Load: 5, NIC: 0}, // 80 %
		VM{Load: 3, NIC: 1}, VM{Load: 6, NIC: 1}, // 90 %
		VM{Load: 1, NIC: 2},
		VM{Load: 1, NIC: 3},
	)
	assert.Nil(t, tm.step(at(0)))
	assert.Equal(t, []Move{{VM: 3, From: 1, To: 2}, {VM: 1, From: 0, To: 3}}, tm.step(at(hold)),
		"NIC 2 is 70 % after the first move, so NIC 3 is the coolest for the second")
}

func TestRelievedNICDoesNotTakeAVMInTheSameStep(t *testing.T) {
	tm := newTeam(3,
		VM{Load: 6, NIC: 0}, VM{Load: 3, NIC: 0}, // 90 %, 30 % after its move
		VM{Load: 3, NIC: 1}, VM{Load: 5, NIC: 1}, // 80 %
		VM{Load: 1, NIC: 2},
	)
	assert.Nil(t, tm.step(at(0)))
	assert.Equal(t, []Move{{VM: 0, From: 0, To: 2}}, tm.step(at(hold)),
		"NIC 1 may not move onto NIC 0 on loads planned, not measured")
}

func TestNoOscillation(t *testing.T) {
	// Two VMs of 60 % and 50 % of a NIC, both on NIC 0.
	tm := newTeam(2, VM{Load: 6, NIC: 0}, VM{Load: 5, NIC: 0})
	tm.run(0, 10*time.Second)
	assert.Equal(t, []Move{{VM: 0, From: 0, To: 1}}, tm.moves, "exactly one move, then stable")
	assert.Equal(t, []VM{{Load: 6 * gbit, NIC: 1}, {Load: 5 * gbit, NIC: 0}}, tm.vms)
}

func TestRelievedWellInside100ms(t *testing.T) {
	// The load crosses the threshold just after a step at 10 ms intervals.
	tm := newTeam(2, VM{Load: 5, NIC: 0}, VM{Load: 2, NIC: 0})
	assert.Nil(t, tm.step(at(0)))
	tm.vms[1].Load = 4 * gbit
	var relieved time.Duration
	for d := 10 * time.Millisecond; d <= 100*time.Millisecond && relieved == 0; d += 10 * time.Millisecond {
		if len(tm.step(at(d))) > 0 {
			relieved = d
		}
	}
	assert.Equal(t, 40*time.Millisecond, relieved)
}

func TestNICCountChanges(t *testing.T) {
	tm := newTeam(2, VM{Load: 5, NIC: 0}, VM{Load: 4, NIC: 0})
	assert.Nil(t, tm.step(at(0)))
	tm.nics = append(tm.nics, NIC{Usable: true, Capacity: 10 * gbit})
	assert.Nil(t, tm.step(at(10*time.Millisecond)))
	assert.Equal(t, []Move{{VM: 0, From: 0, To: 1}}, tm.step(at(hold)), "NIC 0's timer kept, coolest is the lowest index")
	tm.nics = tm.nics[:1]
	tm.vms = []VM{{Load: 9 * gbit, NIC: 0}}
	assert.Empty(t, tm.run(hold+tick, time.Second), "one NIC left: nowhere to go")
}
