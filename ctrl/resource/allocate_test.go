package resource

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var inf = math.Inf(1)

func TestAllocate(t *testing.T) {
	const c = 100.0
	tests := []struct {
		name     string
		capacity float64
		vms      []VM
		want     []float64
	}{
		{
			name:     "no contention: demands met, leftover split by shares",
			capacity: c,
			vms:      []VM{{Shares: 1, Demand: 10}, {Shares: 3, Demand: 20}},
			want:     []float64{10 + 17.5, 20 + 52.5},
		},
		{
			name:     "no contention: leftover capped by limit, rest to the others",
			capacity: c,
			vms:      []VM{{Shares: 1, Demand: 10}, {Shares: 3, Demand: 20, Limit: 30}},
			want:     []float64{70, 30},
		},
		{
			name:     "no contention: leftover beyond every limit stays unallocated",
			capacity: c,
			vms:      []VM{{Shares: 1, Demand: 10, Limit: 20}, {Shares: 5, Demand: 0, Limit: 20}},
			want:     []float64{20, 20},
		},
		{
			name:     "saturating VMs split by shares 1:2:4",
			capacity: c,
			vms:      []VM{{Shares: 1, Demand: inf}, {Shares: 2, Demand: inf}, {Shares: 4, Demand: inf}},
			want:     []float64{c / 7, 2 * c / 7, 4 * c / 7},
		},
		{
			name:     "zero shares count as one",
			capacity: c,
			vms:      []VM{{Shares: 0, Demand: inf}, {Shares: 1, Demand: inf}},
			want:     []float64{50, 50},
		},
		{
			name:     "limit caps a VM and the rest is re-divided",
			capacity: c,
			vms:      []VM{{Shares: 1, Demand: inf, Limit: 10}, {Shares: 1, Demand: inf}, {Shares: 1, Demand: inf}},
			want:     []float64{10, 45, 45},
		},
		{
			name:     "finite demand below fair share is re-divided",
			capacity: c,
			vms:      []VM{{Shares: 4, Demand: 20}, {Shares: 1, Demand: inf}, {Shares: 1, Demand: inf}},
			want:     []float64{20, 40, 40},
		},
		{
			name:     "reservation honoured against far larger shares",
			capacity: c,
			vms:      []VM{{Shares: 1, Reservation: 60, Demand: inf}, {Shares: 100, Demand: inf}},
			want:     []float64{60, 40},
		},
		{
			name:     "reservation counts toward the fair share, not on top",
			capacity: c,
			vms:      []VM{{Shares: 1, Reservation: 10, Demand: inf}, {Shares: 1, Demand: inf}},
			want:     []float64{50, 50},
		},
		{
			name:     "reservation larger than demand gives only demand",
			capacity: c,
			vms:      []VM{{Shares: 1, Reservation: 60, Demand: 20}, {Shares: 1, Demand: inf}},
			want:     []float64{20, 80},
		},
		{
			name:     "reservation larger than limit gives only limit",
			capacity: c,
			vms:      []VM{{Shares: 1, Reservation: 60, Limit: 30, Demand: inf}, {Shares: 1, Demand: inf}},
			want:     []float64{30, 70},
		},
		{
			name:     "high priority with finite demand is met, low ones split the rest",
			capacity: c,
			vms: []VM{
				{Shares: 1, Demand: inf},
				{Shares: 1, Priority: 1, Demand: 30},
				{Shares: 3, Demand: inf},
			},
			want: []float64{17.5, 30, 52.5},
		},
		{
			name:     "high priority saturating takes all but others' reservations",
			capacity: c,
			vms: []VM{
				{Shares: 100, Reservation: 10, Demand: inf},
				{Shares: 100, Demand: inf},
				{Shares: 1, Priority: 5, Demand: inf},
			},
			want: []float64{10, 0, 90},
		},
		{
			name:     "three priority levels, middle one limited",
			capacity: c,
			vms: []VM{
				{Shares: 1, Priority: 2, Demand: 50},
				{Shares: 1, Priority: 1, Demand: inf, Limit: 30},
				{Shares: 1, Priority: 0, Demand: inf},
			},
			want: []float64{50, 30, 20},
		},
		{
			name:     "over-subscribed reservations are scaled down",
			capacity: c,
			vms:      []VM{{Shares: 1, Reservation: 100, Demand: inf}, {Shares: 1, Reservation: 300, Demand: inf}},
			want:     []float64{25, 75},
		},
		{
			name:     "infinite reservation does not poison the sums",
			capacity: c,
			vms:      []VM{{Shares: 1, Reservation: inf, Demand: inf}, {Shares: 1, Reservation: 100, Demand: inf}},
			want:     []float64{50, 50},
		},
		{
			name:     "capacity zero",
			capacity: 0,
			vms:      []VM{{Shares: 1, Reservation: 10, Demand: inf}, {Shares: 1, Demand: 5}},
			want:     []float64{0, 0},
		},
		{
			name:     "capacity NaN",
			capacity: math.NaN(),
			vms:      []VM{{Shares: 1, Demand: inf}},
			want:     []float64{0},
		},
		{
			name:     "capacity infinite gives ceilings",
			capacity: inf,
			vms:      []VM{{Shares: 1, Demand: 5}, {Shares: 1, Demand: inf, Limit: 7}},
			want:     []float64{5, 7},
		},
		{
			name:     "empty",
			capacity: c,
			vms:      nil,
			want:     []float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Allocate(tt.capacity, tt.vms)
			require.Len(t, got, len(tt.want))
			for i := range tt.want {
				assert.InDelta(t, tt.want[i], got[i], 1e-9, "vm %d: got %v", i, got)
			}
		})
	}
}

// TestAllocateProperties checks the invariants on random teams, including
// infinite demands, zero shares, limits, reservations and mixed priorities.
func TestAllocateProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rate := func() float64 { return rng.Float64() * 1e10 }
	for round := range 500 {
		capacity := rate()
		if round%50 == 0 {
			capacity = 0
		}
		vms := make([]VM, 1+rng.IntN(12))
		for i := range vms {
			vm := VM{Shares: uint32(rng.IntN(6)), Priority: rng.IntN(3)}
			switch rng.IntN(3) {
			case 0:
				vm.Demand = inf
			case 1:
				vm.Demand = rate() / float64(len(vms))
			}
			if rng.IntN(2) == 0 {
				vm.Limit = rate() / 4
			}
			if rng.IntN(3) == 0 {
				vm.Reservation = rate() / 8
			}
			vms[i] = vm
		}

		got := Allocate(capacity, vms)
		require.Len(t, got, len(vms))
		var sum, wanted, reserved float64
		for i, vm := range vms {
			ceiling := min(vm.Demand, limitOf(vm))
			wanted += ceiling
			reserved += min(vm.Reservation, ceiling)
			require.False(t, math.IsNaN(got[i]), "round %d vm %d", round, i)
			require.GreaterOrEqual(t, got[i], 0.0, "round %d vm %d", round, i)
			if vm.Limit > 0 {
				require.LessOrEqual(t, got[i], vm.Limit*(1+1e-12), "round %d vm %d", round, i)
			}
			sum += got[i]
		}
		require.LessOrEqual(t, sum, capacity*(1+1e-9), "round %d: %v of %v", round, got, capacity)
		if capacity == 0 {
			continue
		}
		if wanted >= capacity {
			// Work-conserving under contention: nothing wanted is left idle.
			require.InEpsilon(t, capacity, sum, 1e-9, "round %d", round)
		} else {
			for i, vm := range vms {
				require.GreaterOrEqual(t, got[i], min(vm.Demand, limitOf(vm))*(1-1e-9), "round %d vm %d", round, i)
			}
		}
		if reserved <= capacity {
			for i, vm := range vms {
				r := min(vm.Reservation, vm.Demand, limitOf(vm))
				require.GreaterOrEqual(t, got[i], r*(1-1e-9), "round %d vm %d reservation", round, i)
			}
		}
	}
}

func BenchmarkAllocate(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	vms := make([]VM, 64)
	for i := range vms {
		vms[i] = VM{Shares: uint32(1 + rng.IntN(8)), Priority: rng.IntN(3), Demand: inf}
		if i%3 == 0 {
			vms[i].Demand = rng.Float64() * 1e9
		}
		if i%4 == 0 {
			vms[i].Limit = 5e8
		}
		if i%5 == 0 {
			vms[i].Reservation = 1e8
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Allocate(25e9, vms)
	}
}
