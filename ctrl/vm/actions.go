package vm

import (
	"github.com/uplinkd/uplinkd/ctrl/resource"
)

// The Manager is the control plane's VMActions (ctrl/plane): these turn
// the plane's decisions into requests.

// Suspend asks for vm to be suspended (a failover of its NIC began).
func (m *Manager) Suspend(vm, reason string) { m.Do(vm, Request{Action: Suspend, Reason: reason}) }

// Resume asks for vm to run again.
func (m *Manager) Resume(vm, reason string) { m.Do(vm, Request{Action: Resume, Reason: reason}) }

// SetCPUWeight asks for vm's CPU weight (100 normal, lower deprioritises).
func (m *Manager) SetCPUWeight(vm string, weight int, reason string) {
	m.Do(vm, Request{Action: SetCPUWeight, Weight: weight, Reason: reason})
}

// OverAllocated carries out the resource manager's decision about a VM
// that stays over its allocation: suspend it, or migrate it to the host
// with the most spare capacity. Repeats of a decision are idempotent.
func (m *Manager) OverAllocated(vm string, d resource.Decision) {
	switch d.Action {
	case resource.ActionSuspend:
		m.Do(vm, Request{Action: Suspend, Reason: "over allocation"})
	case resource.ActionMigrate:
		m.MigrateAway(vm, "", "over allocation")
	}
}

// Hosts are the migration targets now.
func (m *Manager) Hosts() []Host {
	m.hostsMu.Lock()
	defer m.hostsMu.Unlock()
	return m.hosts
}

// SetHosts replaces the migration targets (a config reload); requests
// already queued keep the host they were given.
func (m *Manager) SetHosts(hosts []Host) {
	m.hostsMu.Lock()
	m.hosts = hosts
	m.hostsMu.Unlock()
}

// MigrateAway migrates vm to a host not attached by connection avoid
// ("" for any), the one with the most spare capacity. With no such host
// the request is logged as failed.
func (m *Manager) MigrateAway(vm, avoid, reason string) {
	h, ok := SelectHost(m.Hosts(), avoid, 0)
	if !ok {
		m.events.Error("vm_action").Str("vm", vm).Str("action", string(Migrate)).Str("reason", reason).
			Str("avoid_connection", avoid).Str("result", string(Failed)).Msg("no host to migrate to")
		return
	}
	m.Do(vm, Request{Action: Migrate, Reason: reason, Host: h})
}
