package resource

import (
	"cmp"
	"math"
	"slices"
)

// VM is what the allocator knows about one VM on a team, all rates in bits/s.
type VM struct {
	Shares      uint32  // weight under contention, >= 1 (0 is treated as 1)
	Priority    int     // strictly higher priority is served first under contention
	Reservation float64 // guaranteed minimum (if demanded), 0 = none
	Limit       float64 // hard cap, 0 = unlimited
	Demand      float64 // estimated demand; math.Inf(1) when backlogged/unknown
}

// Allocate divides capacity (bits/s) among vms and returns each VM's
// allocation (bits/s, same order). See the package comment for the rules.
// A capacity of +Inf gives every VM its ceiling, min(Demand, Limit).
func Allocate(capacity float64, vms []VM) []float64 {
	n := len(vms)
	alloc := make([]float64, n)
	if !(capacity > 0) || n == 0 { // also catches NaN
		return alloc
	}
	weight := make([]float64, n)
	ceiling := make([]float64, n)
	for i, vm := range vms {
		weight[i] = float64(max(vm.Shares, 1))
		ceiling[i] = min(nonNegative(vm.Demand), limitOf(vm))
	}
	if math.IsInf(capacity, 1) {
		copy(alloc, ceiling)
		return alloc
	}

	// Pass 1: reservations. An infinite reservation (with an infinite
	// ceiling) counts as the whole capacity so the sum stays finite.
	var reserved float64
	for i, vm := range vms {
		alloc[i] = min(nonNegative(vm.Reservation), ceiling[i])
		if math.IsInf(alloc[i], 1) {
			alloc[i] = capacity
		}
		reserved += alloc[i]
	}
	if reserved > capacity {
		scale := capacity / reserved
		for i := range alloc {
			alloc[i] *= scale
		}
		reserved = capacity
	}
	remaining := capacity - reserved

	// Pass 2: priority levels, highest first, each water-filled by shares
	// on top of the reservations it already holds.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(vms[b].Priority, vms[a].Priority)
	})
	for start := 0; start < n; {
		end := start + 1
		for end < n && vms[order[end]].Priority == vms[order[start]].Priority {
			end++
		}
		level := order[start:end]
		before := sumOf(alloc, level)
		water := waterLevel(level, alloc, ceiling, weight, remaining)
		for _, i := range level {
			alloc[i] = min(ceiling[i], max(alloc[i], water*weight[i]))
		}
		remaining = max(0, remaining-(sumOf(alloc, level)-before))
		start = end
	}

	// Pass 3: leftover, only when no VM wants more than it got; under
	// contention any remainder is float dust and must not be handed out.
	if remaining <= 0 {
		return alloc
	}
	for i := range alloc {
		if alloc[i] < ceiling[i] {
			return alloc
		}
	}
	zero := make([]float64, n)
	headroom := make([]float64, n)
	for i, vm := range vms {
		headroom[i] = limitOf(vm) - alloc[i] // +Inf when unlimited
	}
	water := waterLevel(order, zero, headroom, weight, remaining)
	for i := range alloc {
		alloc[i] += min(headroom[i], water*weight[i])
	}
	return alloc
}

// breakpoint is a water level at which one VM starts (slope > 0) or stops
// (slope < 0) absorbing capacity as the water rises.
type breakpoint struct {
	at, slope float64
}

// waterLevel returns the level L at which giving every VM i in idx
// min(ceiling[i], max(base[i], L*weight[i])) hands out exactly budget on top
// of the bases, or +Inf when budget covers every ceiling. base[i] must not
// exceed ceiling[i]; base and budget must be finite.
//
// The total handed out is piecewise linear in L, so instead of iterating
// "fix the capped VMs and re-divide" it walks the sorted breakpoints once.
func waterLevel(idx []int, base, ceiling, weight []float64, budget float64) float64 {
	var need float64
	points := make([]breakpoint, 0, 2*len(idx))
	for _, i := range idx {
		if ceiling[i] <= base[i] {
			continue // already at its ceiling: never absorbs anything
		}
		need += ceiling[i] - base[i]
		points = append(points, breakpoint{base[i] / weight[i], weight[i]})
		if !math.IsInf(ceiling[i], 1) {
			points = append(points, breakpoint{ceiling[i] / weight[i], -weight[i]})
		}
	}
	if need <= budget {
		return math.Inf(1)
	}
	slices.SortFunc(points, func(a, b breakpoint) int { return cmp.Compare(a.at, b.at) })
	var level, given, slope float64
	for _, p := range points {
		if slope > 0 {
			next := given + slope*(p.at-level)
			if next >= budget {
				return level + (budget-given)/slope
			}
			given = next
		}
		level = p.at
		slope += p.slope
	}
	if slope <= 0 { // need exceeded budget only by rounding
		return math.Inf(1)
	}
	return level + (budget-given)/slope
}

// limitOf returns the VM's hard cap, +Inf when it has none.
func limitOf(vm VM) float64 {
	if vm.Limit > 0 {
		return vm.Limit
	}
	return math.Inf(1)
}

// nonNegative maps negative and NaN rates to 0 so bad input cannot poison
// the sums; +Inf passes through.
func nonNegative(x float64) float64 {
	if x > 0 {
		return x
	}
	return 0
}

func sumOf(x []float64, idx []int) float64 {
	var s float64
	for _, i := range idx {
		s += x[i]
	}
	return s
}
