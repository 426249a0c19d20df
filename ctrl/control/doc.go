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
// Still in ctrl/plane, to come here: the DoS responder's and the resource
// manager's state (they are pure already, in ctrl/dos and ctrl/resource,
// but are driven from the plane under its lock).
package control
