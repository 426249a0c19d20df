// Package vm is uplinkd's VM manager: the actions that only a hypervisor
// can take on a VM — suspend, resume, migrate to another host, lower or
// restore its CPU weight — carried out through the engines real hosts
// use: QEMU's QMP, libvirt, or an exec hook for anything else (OpenStack,
// KubeVirt). The control loops ask; the Manager queues the request for
// the VM's own goroutine and returns at once, so neither the fastpath nor
// a control loop ever waits for a hypervisor. Each action has a timeout,
// is retried, is logged as an audit line, and is idempotent: asking twice
// for the state a VM is already in does nothing the second time.
package vm
