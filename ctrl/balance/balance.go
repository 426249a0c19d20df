// Package balance is the load-based policy's rebalancer: VMs keep their NIC
// (affinity) until a NIC runs hot, then one VM at a time moves to the
// coolest NIC that can take it.
//
// Rebalancer is a pure state machine in the style of etcd's raft: it has no
// goroutines and reads no clock. The caller feeds it the time and the loads
// the NIC manager measured, applies the moves it returns (by publishing a
// new fastpath snapshot), and sends fresh loads on the next Step.
//
// Timing: VMware's load-based teaming checks every 30 s at 75 %. With
// Hold = 30 ms and a caller stepping every 5–10 ms, a NIC that runs hot is
// first seen at most one step after it crosses the threshold and moved from
// Hold later, so it is relieved within ~40 ms (plus the lag of the load
// measurement window), well inside the required 100 ms. A NIC that needs
// several moves gets one per Hold, so the fast path and the load figures
// catch up with each move before the next is planned.
package balance

import (
	"cmp"
	"slices"
	"time"
)

// NIC is one team member's load as the NIC manager measured it.
type NIC struct {
	Usable bool
	// Capacity is the link speed in bits/s; a NIC with no capacity is
	// treated as unusable.
	Capacity float64
	// Load is the bits/s it sent recently.
	Load float64
}

// VM is one VM's recent egress load and the NIC it is assigned to.
type VM struct {
	// Load is the bits/s it sent recently.
	Load float64
	// NIC is an index into the nics passed to Step, or -1 for none.
	NIC int
}

// Move reassigns VM from NIC From to NIC To (indices into Step's vms and
// nics).
type Move struct {
	VM, From, To int
}

// Rebalancer decides load-based moves. The zero value with Threshold and
// Hold set is ready to use; New is the same.
type Rebalancer struct {
	// Threshold is the utilisation (Load/Capacity, 0..1) a NIC must stay
	// above to run hot, e.g. 0.75.
	Threshold float64
	// Hold is how long a NIC must stay above Threshold, without a break,
	// before a VM moves off it, e.g. 30 ms. It filters bursts, and after a
	// move it gives the fast path time to follow before the next one.
	Hold time.Duration

	above []aboveSince // per NIC index
	// Scratch reused across Steps.
	load []float64 // bits/s per NIC with this Step's moves applied
	hot  []int
}

type aboveSince struct {
	above bool
	since time.Time
}

// New returns a Rebalancer that moves a VM off a NIC that stayed above
// threshold utilisation for hold. The config layer validates both.
func New(threshold float64, hold time.Duration) *Rebalancer {
	return &Rebalancer{Threshold: threshold, Hold: hold}
}

// Step looks at the loads at time now and returns at most one move per hot
// NIC per call, hottest NIC first; nil when nothing moves. NIC indices must
// mean the same NIC from call to call. now must not go backwards.
//
// Moves within one call see each other: a NIC that receives a VM is that
// much less cool for the next hot NIC, so two hot NICs never both fill the
// same cool one past Threshold; and a NIC that was measured above
// Threshold never receives a VM, even after shedding one in this call.
func (r *Rebalancer) Step(now time.Time, nics []NIC, vms []VM) []Move {
	r.track(now, nics)

	r.load = r.load[:0]
	r.hot = r.hot[:0]
	for i, n := range nics {
		r.load = append(r.load, n.Load)
		if r.above[i].above && now.Sub(r.above[i].since) >= r.Hold {
			r.hot = append(r.hot, i)
		}
	}
	slices.SortStableFunc(r.hot, func(a, b int) int {
		return cmp.Compare(utilisation(nics[b], r.load[b]), utilisation(nics[a], r.load[a]))
	})

	var moves []Move
	for _, src := range r.hot {
		dst := r.coolest(nics, src)
		if dst < 0 {
			continue
		}
		vm := r.largestFitting(nics, vms, src, dst)
		if vm < 0 {
			continue
		}
		moves = append(moves, Move{VM: vm, From: src, To: dst})
		r.load[src] -= vms[vm].Load
		r.load[dst] += vms[vm].Load
		// Restart the clock: the caller's loads are stale until it has
		// applied the move, and the next move off this NIC waits a Hold.
		r.above[src].since = now
	}
	return moves
}

// track updates each NIC's "above since" time. A NIC that is not usable
// has its timer reset: failover moves its VMs, not the rebalancer.
func (r *Rebalancer) track(now time.Time, nics []NIC) {
	if len(r.above) > len(nics) {
		r.above = r.above[:len(nics)]
	}
	for len(r.above) < len(nics) {
		r.above = append(r.above, aboveSince{})
	}
	for i, n := range nics {
		a := &r.above[i]
		if !usable(n) || utilisation(n, n.Load) <= r.Threshold {
			*a = aboveSince{}
			continue
		}
		if !a.above {
			*a = aboveSince{above: true, since: now}
		}
	}
}

// coolest is the usable NIC other than src with the lowest utilisation
// below Threshold, the lowest index on a tie, or -1. A NIC measured above
// Threshold never qualifies, even when a move planned in this Step has
// taken load off it: its figures are the least trustworthy until the
// caller reports fresh ones.
func (r *Rebalancer) coolest(nics []NIC, src int) int {
	best, bestUtil := -1, r.Threshold
	for i, n := range nics {
		if i == src || !usable(n) || utilisation(n, n.Load) >= r.Threshold {
			continue
		}
		if u := utilisation(n, r.load[i]); u < bestUtil {
			best, bestUtil = i, u
		}
	}
	return best
}

// largestFitting is the largest VM on src whose move leaves dst at or
// below Threshold and lowers the higher of the two NICs' utilisations, the
// lowest index on a tie, or -1. Moving the largest VM that fits relieves
// the hot NIC most per move, and the fit rule means a move never makes the
// destination hot, so VMs do not bounce back.
func (r *Rebalancer) largestFitting(nics []NIC, vms []VM, src, dst int) int {
	before := max(utilisation(nics[src], r.load[src]), utilisation(nics[dst], r.load[dst]))
	best := -1
	for i, v := range vms {
		if v.NIC != src || (best >= 0 && v.Load <= vms[best].Load) {
			continue
		}
		dstAfter := utilisation(nics[dst], r.load[dst]+v.Load)
		srcAfter := utilisation(nics[src], r.load[src]-v.Load)
		if dstAfter <= r.Threshold && max(srcAfter, dstAfter) < before {
			best = i
		}
	}
	return best
}

func usable(n NIC) bool { return n.Usable && n.Capacity > 0 }

func utilisation(n NIC, load float64) float64 { return load / n.Capacity }
