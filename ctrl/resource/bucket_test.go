package resource

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// round is the resource manager's interval in these simulations.
const round = 5 * time.Millisecond

// simVM is a VM in a fluid model of the data plane: it offers a load
// (bits/s, +Inf for a saturating sender) from the round it connects on,
// sends what its bucket lets through, and is held back when it offers more.
type simVM struct {
	Member
	connect int                 // first round it sends in
	offer   func(r int) float64 // bits/s offered in round r
}

// team runs the estimator and BucketRates together as ctrl/plane does,
// round after round, and checks the invariants after every round.
type team struct {
	t        *testing.T
	vms      []simVM
	capacity func(r int) float64
	est      *Estimator
	rates    []float64
}

func newTeam(t *testing.T, capacity func(int) float64, vms ...simVM) *team {
	tm := &team{t: t, vms: vms, capacity: capacity, est: NewEstimator(len(vms)), rates: make([]float64, len(vms))}
	tm.est.Tau = 100 * time.Millisecond
	members := tm.members()
	InitialBucketRates(capacity(0), members, tm.rates)
	tm.check(-1, capacity(0), members)
	return tm
}

func (tm *team) members() []Member {
	m := make([]Member, len(tm.vms))
	for i, v := range tm.vms {
		m[i] = v.Member
		m[i].Bucket = tm.rates[i]
	}
	return m
}

// run simulates rounds [from, to).
func (tm *team) run(from, to int) {
	for r := from; r < to; r++ {
		samples := make([]Sample, len(tm.vms))
		held := make([]bool, len(tm.vms))
		for i, v := range tm.vms {
			offer := 0.0
			if r >= v.connect {
				offer = v.offer(r)
			}
			sent := min(offer, tm.rates[i])
			held[i] = offer > tm.rates[i]
			samples[i] = Sample{Bytes: uint64(sent * round.Seconds() / 8), Backlogged: held[i]}
		}
		tm.est.Update(round, samples)
		members := tm.members()
		for i := range members {
			members[i].Rate, members[i].Held = tm.est.Rate(i), held[i]
		}
		capacity := tm.capacity(r)
		BucketRates(capacity, members, tm.rates)
		tm.check(r, capacity, members)
	}
}

// check asserts what must hold after every round whatever the demands.
func (tm *team) check(r int, capacity float64, members []Member) {
	t := tm.t
	t.Helper()
	var sum, reserved float64
	for _, m := range members {
		reserved += m.Reservation
	}
	for i, m := range members {
		got := tm.rates[i]
		sum += got
		require.Positive(t, got, "round %d vm %d: 0 would mean unlimited", r, i)
		if m.Limit > 0 {
			require.LessOrEqual(t, got, m.Limit*(1+1e-12), "round %d vm %d above its limit", r, i)
		}
		if capacity > 0 && m.Held && reserved <= capacity {
			require.GreaterOrEqual(t, got, min(m.Reservation, limitOf(VM{Limit: m.Limit}))*(1-1e-9),
				"round %d vm %d: held back below its reservation", r, i)
		}
	}
	if capacity > 0 {
		require.LessOrEqual(t, sum, capacity*(1+1e-9), "round %d: rates %v add up to more than the capacity %v", r, tm.rates, capacity)
	}
}

func saturating(int) float64 { return inf }
func steady(bps float64) func(int) float64 {
	return func(int) float64 { return bps }
}
func constant(c float64) func(int) float64 { return func(int) float64 { return c } }

// TestBucketRatesVMsConnectingOneByOne replays what failed in CI: three
// saturating VMs with shares 1, 2 and 4 connect one after another to a
// 21 Mbit/s NIC. No round hands out more than the NIC, and once all are
// backlogged the NIC is divided by shares.
func TestBucketRatesVMsConnectingOneByOne(t *testing.T) {
	tm := newTeam(t, constant(21e6),
		simVM{Member: Member{Shares: 1}, connect: 40, offer: saturating},
		simVM{Member: Member{Shares: 2}, connect: 20, offer: saturating},
		simVM{Member: Member{Shares: 4}, connect: 0, offer: saturating},
	)
	tm.run(0, 400)
	for i, share := range []float64{1, 2, 4} {
		assert.InEpsilon(t, 21e6*share/7, tm.rates[i], 0.01, "vm %d", i)
	}
}

// TestBucketRatesSteadySenderKeepsItsRateTheRestShare: a high-priority VM
// sending 5 Mbit/s keeps it, with a little slack; two saturating VMs split
// the rest, which is all the NIC has left.
func TestBucketRatesSteadySenderKeepsItsRateTheRestShare(t *testing.T) {
	tm := newTeam(t, constant(21e6),
		simVM{Member: Member{Shares: 1}, offer: saturating},
		simVM{Member: Member{Shares: 1}, offer: saturating},
		simVM{Member: Member{Shares: 1, Priority: 1}, offer: steady(5e6)},
	)
	tm.run(0, 400)
	assert.InEpsilon(t, 5e6*(1+Slack), tm.rates[2], 0.01)
	assert.InEpsilon(t, (21e6-5e6*(1+Slack))/2, tm.rates[0], 0.01)
	assert.InEpsilon(t, tm.rates[0], tm.rates[1], 0.01)
}

// TestBucketRatesReservationAndIdleVMs: a VM with a reservation gets it
// against larger shares; when the others go idle it gets the NIC; when it
// goes idle itself its reservation is not kept for it.
func TestBucketRatesReservationAndIdleVMs(t *testing.T) {
	busyUntil := func(end int) func(int) float64 {
		return func(r int) float64 {
			if r < end {
				return inf
			}
			return 0
		}
	}
	tm := newTeam(t, constant(21e6),
		simVM{Member: Member{Shares: 1, Reservation: 12e6}, offer: busyUntil(600)},
		simVM{Member: Member{Shares: 6}, offer: busyUntil(300)},
	)
	tm.run(0, 300)
	assert.InEpsilon(t, 12e6, tm.rates[0], 0.01)
	assert.InEpsilon(t, 9e6, tm.rates[1], 0.01)
	tm.run(300, 600)
	assert.Greater(t, tm.rates[0], 18e6, "the other went idle")
	tm.run(600, 900)
	assert.Greater(t, tm.rates[1], 12e6, "an idle VM's reservation goes to who can use it")
}

// TestBucketRatesProperties drives random teams through random start-ups:
// VMs connecting at random rounds, demands that ramp, jump and go idle,
// NICs lost and back. The invariants hold after every round.
func TestBucketRatesProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for team := range 40 {
		n := 1 + rng.IntN(6)
		base := 1e6 + rng.Float64()*1e9
		vms := make([]simVM, n)
		var reserved float64
		for i := range vms {
			m := Member{Shares: uint32(rng.IntN(8)), Priority: rng.IntN(2)}
			if rng.IntN(3) == 0 {
				m.Limit = base * rng.Float64()
			}
			if rng.IntN(3) == 0 && reserved < base/2 {
				m.Reservation = base / 2 / float64(n) * rng.Float64()
				reserved += m.Reservation
			}
			// A load that ramps from 0 to peak, then holds, then jumps
			// to saturating or goes idle.
			peak, ramp, change, after := base*rng.Float64()*2, 1+rng.IntN(100), rng.IntN(300), []float64{0, inf}[rng.IntN(2)]
			vms[i] = simVM{Member: m, connect: rng.IntN(100), offer: func(r int) float64 {
				switch {
				case r > change+ramp:
					return after
				case r < ramp:
					return peak * float64(r) / float64(ramp)
				}
				return peak
			}}
		}
		lostFrom, lostTo := rng.IntN(300), rng.IntN(300)
		capacity := func(r int) float64 {
			if r >= lostFrom && r < lostTo {
				return base / 2 // one of two NICs gone
			}
			return base
		}
		t.Run(fmt.Sprintf("team%d", team), func(t *testing.T) {
			newTeam(t, capacity, vms...).run(0, 400)
		})
	}
}

func TestBucketRatesKeepsBucketsWithoutCapacity(t *testing.T) {
	out := BucketRates(0, []Member{{Bucket: 3e6, Held: true}, {Bucket: 4e6}}, make([]float64, 2))
	assert.Equal(t, []float64{3e6, 4e6}, out, "no usable NIC: the VMs are not polled, their rates wait for its return")
}
