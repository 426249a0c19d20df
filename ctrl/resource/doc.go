// Package resource is the resource manager's pure logic: how a team's egress
// capacity is divided among its VMs, how much each VM wants, and when a VM
// has been over its allocation long enough that a hypervisor action is due.
//
// Nothing here does I/O, starts goroutines or reads a clock: callers feed
// measurements and time.Time values in and get allocations and decisions
// out, so tests drive everything with a fake clock (as etcd's raft does).
//
// # Allocation
//
// Allocate divides a capacity (bits/s) among VMs in three passes. A VM's
// ceiling is min(Demand, Limit), with Limit 0 meaning no limit.
//
//  1. Reservations. Each VM first gets min(Reservation, ceiling): a
//     reservation is a guarantee, but only for bandwidth the VM wants. If the
//     reservations add up to more than the capacity (config validation should
//     prevent that) they are all scaled down in proportion.
//  2. Strict priority with weighted max-min fairness. Priority levels are
//     served highest first; a lower level only gets what higher levels leave.
//     Within a level the capacity left is water-filled by Shares: every VM
//     ends at min(ceiling, max(reservation, level*Shares)) for one common
//     water level. So a reservation counts toward the VM's fair share rather
//     than being added on top of it, and a VM whose ceiling is below its fair
//     share is held at its ceiling while the rest goes to the others.
//  3. Work-conserving leftover. Only if every VM got its ceiling and capacity
//     remains, the leftover itself is split by Shares (water-filled again,
//     capped by Limit only, ignoring priority), so a VM that ramps up finds
//     headroom already in its token bucket instead of waiting a round.
//
// The allocations never add up to more than the capacity (up to float
// rounding), never exceed a non-zero Limit and are never negative.
//
// # Bucket rates
//
// BucketRates is one round of a team's resource manager, what ctrl/plane
// runs every interval: it tells Allocate what each VM wants (a VM held back
// by its bucket wants double what it got, at least its reservation; one that
// was not wants its smoothed rate plus Slack) and turns the allocation into
// token-bucket rates. Every bit of headroom is part of a demand, so the
// rates, too, never add up to more than the capacity: a VM's bucket is never
// raised above its allocation after the fact. InitialBucketRates divides a
// team before anything is measured, so a shaped VM is never unlimited.
package resource
