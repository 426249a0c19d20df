package resource

import "math"

const (
	// Slack is the headroom a VM that is not held back gets above its
	// smoothed rate, as a fraction of it: enough that the jitter of a steady
	// sender does not hold it back every round, small enough that the VMs
	// that are held back keep what it does not use. It is part of the VM's
	// demand, so under contention it comes out of the capacity like
	// everything else.
	Slack = 0.05
	// MinRate (bits/s) is the least a VM's bucket is given while its team
	// has capacity: a bucket rate of 0 means "unlimited" to the worker, so a
	// VM that strict priority leaves nothing gets a trickle instead. The
	// trickles are taken from the capacity before it is divided.
	MinRate = 1000
)

// Member is one VM's standing in a round of its team's scheduling.
type Member struct {
	Shares      uint32  // weight under contention (0 counts as 1)
	Priority    int     // strictly higher priority is served first
	Reservation float64 // bits/s guaranteed when wanted, 0 = none
	Limit       float64 // bits/s hard cap, 0 = none
	Rate        float64 // bits/s it sends at now, smoothed (Estimator.Rate)
	Held        bool    // the worker held it back for lack of tokens in the last interval
	Bucket      float64 // its bucket rate from the previous round, 0 before the first
}

// demand is what the allocator is told the member wants. A member that
// was held back wants more than its bucket gave it: double (not
// everything, so one blip of a high-priority VM cannot starve the rest for
// a round), and at least its reservation and MinDemand; before its first
// bucket nothing is known, so everything. A member that was not held back
// wants what it uses plus Slack.
func (m Member) demand() float64 {
	if !m.Held {
		return nonNegative(m.Rate) * (1 + Slack)
	}
	if m.Bucket <= 0 {
		return math.Inf(1)
	}
	return max(2*m.Bucket, MinDemand, m.Reservation)
}

// BucketRates is one round of a team's resource manager: it returns every
// member's token-bucket rate (bits/s, written to out, which must be as long
// as members, and returned). The rates never add up to more than capacity
// (up to float rounding), never exceed a member's Limit, give each member
// at least MinRate (or an equal part of a smaller capacity), hold the
// reservations of members that want them, and divide a contended capacity
// by priority and shares (Allocate).
//
// A capacity of 0 or less (no usable NIC: the VMs are not polled) keeps
// every member's previous bucket for when a NIC returns.
func BucketRates(capacity float64, members []Member, out []float64) []float64 {
	out = out[:len(members)]
	if !(capacity > 0) || len(members) == 0 {
		for i, m := range members {
			out[i] = m.Bucket
		}
		return out
	}
	floor := min(MinRate, capacity/float64(2*len(members)))
	vms := make([]VM, len(members))
	for i, m := range members {
		vms[i] = VM{Shares: m.Shares, Priority: m.Priority, Reservation: m.Reservation, Limit: m.Limit, Demand: m.demand()}
	}
	alloc := Allocate(capacity-floor*float64(len(members)), vms)
	for i, m := range members {
		out[i] = alloc[i] + floor
		if m.Limit > 0 {
			out[i] = min(out[i], m.Limit)
		}
	}
	return out
}

// InitialBucketRates are the rates a team starts with, before anything is
// measured: every member counts as wanting everything, so the capacity is
// divided by reservations, priority and shares from the first packet on
// instead of leaving the VMs unlimited until the first round.
func InitialBucketRates(capacity float64, members []Member, out []float64) []float64 {
	for i := range members {
		members[i].Held, members[i].Bucket = true, 0
	}
	return BucketRates(capacity, members, out)
}
