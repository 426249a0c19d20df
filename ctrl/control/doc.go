// Package control is the data plane's controller, in the style of etcd's
// raft: a state machine fed events (a NIC's link, an operator's admin
// up/down, a VM's vhost-user connection, beacons heard or lost, a DoS
// evacuation, NICs and VMs taking or leaving the worker's slots, a new
// model) and time, that says what must happen next in a Ready: whether the
// fastpath tables must be published again, the NIC state transitions and
// link changes to record, and the VM actions to carry out. It does no I/O,
// takes no lock and reads no clock; the caller (ctrl/plane, the driver)
// reads the ports, owns the clock, publishes the tables and carries the
// VM actions out once it has let go of its own lock.
//
// The controller knows NICs and VMs by the worker's slots, the indexes of
// the fastpath tables, and by their entity IDs in the model: a NIC's
// failover state is kept per team (one ctrl/nic machine each, keyed by
// team ID), so that a team or NIC added or removed moves nothing of the
// others'.
//
// The DoS responder (dos.go: the ctrl/dos detector fed counter samples,
// and the responses) and the resource manager (resources.go: demand
// estimates, shares, load-based rebalancing, over-allocation) are part of
// it, and so is the beacon watch (beacons.go). What the driver still
// decides itself is port hot-plug: it opens or closes a VM's or NIC's
// port, then places or unplaces it here.
package control
