// Package topology decides how the running topology changes when a reload
// brings a new config: which teams, NICs and VMs leave and join, in what
// order, and whether every step of the way is a config uplinkd could run.
// It decides before anything changes, and only decides: no I/O, no DPDK,
// no clock. The data plane (ctrl/plane) carries the decision out.
package topology

import (
	"errors"
	"fmt"
	"slices"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// Runtime are the names of what was added through the API (uplinkctl
// team, nic or vm add) and the config file does not name: a reload keeps
// them.
type Runtime struct {
	Teams, NICs, VMs map[string]bool
}

// Room is what the worker has room for: its VM and NIC slots, and how
// many of each are free.
type Room struct {
	VMSlots, FreeVMSlots   int
	NICSlots, FreeNICSlots int
}

// Checks are what planning asks of the world without touching it itself.
type Checks struct {
	// Migrating says whether the VM manager is migrating a VM (it cannot
	// be removed meanwhile).
	Migrating func(vm string) bool
	// Socket says why uplinkd could not serve a VM's socket (its
	// directory missing, another process serving it); nil if it can.
	Socket func(config.VM) error
}

// Reload is what a reload changes, decided before anything changes.
type Reload struct {
	// Next is the config to put in force: the file's, with what was added
	// at runtime and the file does not name kept.
	Next *config.Config
	// Staying is Next without the NICs and VMs it adds: the config in
	// force once what leaves has left and before what is new joins.
	Staying *config.Config
	// Changed are the keys that differ (config.Diff); none: nothing to do.
	Changed []string
	// What leaves and what joins, by name, in config order.
	TeamsGone, TeamsAdded, NICsGone, NICsAdded, VMsGone, VMsAdded []string
	// Runtime is what stays a runtime addition: those the file now names
	// are the file's.
	Runtime Runtime
}

// PlanReload decides how the topology goes from old, the config in force,
// to file, a new config file that validated on its own. The order the
// plane follows: VMs that leave, then NICs that leave (each failed over
// first), then what changed for what stays (Staying, which also adds and
// removes teams), then the new NICs, then the new VMs. Every step must be
// a config uplinkd could run; a reload that needs an impossible step (a
// VM moved onto a NIC the same reload adds) is refused, to be made in two.
func PlanReload(old, file *config.Config, rt Runtime, room Room, checks Checks) (Reload, error) {
	next := withRuntime(file, old, rt)
	if next != file {
		// The file validated alone; with what was added at runtime it
		// must too (a file that drops a team a runtime VM is in).
		if err := next.Validate(); err != nil {
			return Reload{}, fmt.Errorf("with the teams, NICs and VMs added at runtime, which a reload keeps: %w", err)
		}
	}
	changed, err := config.CheckReload(old, next)
	if err != nil {
		return Reload{}, err
	}
	r := Reload{Next: next, Changed: changed, Runtime: Runtime{
		Teams: stillRuntime(rt.Teams, file.Teams, teamName),
		NICs:  stillRuntime(rt.NICs, file.NICs, nicName),
		VMs:   stillRuntime(rt.VMs, file.VMs, vmName),
	}}
	r.TeamsGone, r.TeamsAdded = membership(old.Teams, next.Teams, teamName)
	r.NICsGone, r.NICsAdded = membership(old.NICs, next.NICs, nicName)
	r.VMsGone, r.VMsAdded = membership(old.VMs, next.VMs, vmName)
	if len(changed) == 0 {
		return r, nil
	}
	if err := r.check(room, checks); err != nil {
		return Reload{}, err
	}
	staying := *next
	staying.VMs = slices.DeleteFunc(slices.Clone(next.VMs), func(v config.VM) bool { return slices.Contains(r.VMsAdded, v.Name) })
	staying.NICs = slices.DeleteFunc(slices.Clone(next.NICs), func(n config.NIC) bool { return slices.Contains(r.NICsAdded, n.Name) })
	if err := staying.Validate(); err != nil {
		return Reload{}, fmt.Errorf("once what leaves has left and before what is new joins, the config would not hold (%w); make the change in two reloads", err)
	}
	r.Staying = &staying
	return r, nil
}

// check says why the VMs and NICs the reload adds or removes cannot be.
func (r *Reload) check(room Room, checks Checks) error {
	var errs []error
	for i, v := range r.Next.VMs {
		if slices.Contains(r.VMsAdded, v.Name) && checks.Socket != nil {
			if err := checks.Socket(v); err != nil {
				errs = append(errs, fmt.Errorf("vms[%d].%w", i, err))
			}
		}
	}
	if n, free := len(r.VMsAdded), room.FreeVMSlots+len(r.VMsGone); n > free {
		errs = append(errs, fmt.Errorf("vms: %d VMs added, room for %d: dataplane.max_vms is %d", n, free, room.VMSlots))
	}
	for _, name := range r.VMsGone {
		if checks.Migrating != nil && checks.Migrating(name) {
			errs = append(errs, fmt.Errorf("vms: %s is migrating; remove it once the migration ended", name))
		}
	}
	if n, free := len(r.NICsAdded), room.FreeNICSlots+len(r.NICsGone); n > free {
		errs = append(errs, fmt.Errorf("nics: %d NICs added, room for %d: dataplane.max_nics is %d", n, free, room.NICSlots))
	}
	for i, n := range r.Next.NICs {
		if slices.Contains(r.NICsAdded, n.Name) && n.PCI != "" {
			errs = append(errs, fmt.Errorf("nics[%d].pci: a PCI NIC joins at start only (EAL allows the config's PCI addresses); restart uplinkd to add %s", i, n.PCI))
		}
	}
	return errors.Join(errs...)
}

func teamName(t config.Team) string { return t.Name }
func nicName(n config.NIC) string   { return n.Name }
func vmName(v config.VM) string     { return v.Name }

// withRuntime is file with the teams, NICs and VMs added at runtime (in
// old) that it does not name appended; file itself when there are none.
func withRuntime(file, old *config.Config, rt Runtime) *config.Config {
	teams := keep(file.Teams, old.Teams, rt.Teams, teamName)
	nics := keep(file.NICs, old.NICs, rt.NICs, nicName)
	vms := keep(file.VMs, old.VMs, rt.VMs, vmName)
	if len(teams) == len(file.Teams) && len(nics) == len(file.NICs) && len(vms) == len(file.VMs) {
		return file
	}
	out := *file
	out.Teams, out.NICs, out.VMs = teams, nics, vms
	return &out
}

// keep is list with the entries of old that runtime names and list does
// not appended.
func keep[T any](list, old []T, runtime map[string]bool, name func(T) string) []T {
	out := slices.Clip(list)
	for _, x := range old {
		if runtime[name(x)] && !slices.ContainsFunc(list, func(y T) bool { return name(y) == name(x) }) {
			out = append(out, x)
		}
	}
	return out
}

// stillRuntime is runtime without the names list (the file) has.
func stillRuntime[T any](runtime map[string]bool, list []T, name func(T) string) map[string]bool {
	out := map[string]bool{}
	for n := range runtime {
		if !slices.ContainsFunc(list, func(x T) bool { return name(x) == n }) {
			out[n] = true
		}
	}
	return out
}

// membership lists the names old has and next does not, and the other way
// round, in config order.
func membership[T any](old, next []T, name func(T) string) (gone, added []string) {
	in := func(list []T, n string) bool {
		return slices.ContainsFunc(list, func(x T) bool { return name(x) == n })
	}
	for _, x := range old {
		if !in(next, name(x)) {
			gone = append(gone, name(x))
		}
	}
	for _, x := range next {
		if !in(old, name(x)) {
			added = append(added, name(x))
		}
	}
	return gone, added
}
