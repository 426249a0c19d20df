package plane

import (
	"errors"
	"fmt"
	"slices"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/topology"
)

// Reload puts a new config in force without stopping the worker: the keys
// config.Reloadable lists (policies, limits, shares, DoS settings, NIC
// speeds, failover delays) change, and teams, NICs and VMs the file gained
// or lost are added or removed; anything else that differs refuses the
// whole reload, naming the key, and the old config stays. Once it has
// started changing things, a NIC or VM that fails to join (a device that
// does not probe) does not stop the others; the error names it. The worker
// moves to the new tables at its next loop, as it does after a link
// change: packets in flight keep their queues, token buckets keep their
// tokens, a VM whose NIC changed is announced on its new one. It returns
// the keys that changed.
func (p *Plane) Reload(file *config.Config) ([]string, error) {
	p.mu.Lock()
	defer p.unlock()
	plan, err := topology.PlanReload(p.cfg(), file, topology.Runtime{Teams: p.runtimeTeams, NICs: p.runtimeNICs, VMs: p.runtimeVMs},
		p.room(), topology.Checks{Migrating: p.migrating, Socket: checkSocket})
	if err != nil {
		return nil, err
	}
	changed, next := plan.Changed, plan.Next
	if len(changed) == 0 {
		// Runtime additions the file now names are the file's, even when
		// it names them as they are.
		p.runtimeTeams, p.runtimeNICs, p.runtimeVMs = plan.Runtime.Teams, plan.Runtime.NICs, plan.Runtime.VMs
		p.events.Info("config_reloaded").Strs("changed", nil).Msg("config reloaded: nothing changed")
		return nil, nil
	}
	// A model or tables that cannot be built refuse the reload before
	// anything changed.
	nextModel, err := model.Compile(next, p.model())
	if err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	if _, err := p.build(nextModel); err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	p.runtimeTeams, p.runtimeNICs, p.runtimeVMs = plan.Runtime.Teams, plan.Runtime.NICs, plan.Runtime.VMs
	// In the plan's order: VMs that leave (their slots may be the new
	// ones'), NICs that leave (failed over first), what changed for what
	// stays (the NICs that left leave their slots, teams come and go),
	// the new NICs, the new VMs.
	for _, name := range plan.VMsGone {
		if _, err := p.removeVM(name); err != nil {
			return changed, fmt.Errorf("removing vm %s: %w", name, err)
		}
	}
	var goneIDs []model.NICID
	for _, name := range plan.NICsGone {
		goneIDs = append(goneIDs, p.model().NICNamed(name).ID)
	}
	if err := p.failOverLeaving(goneIDs); err != nil {
		return changed, err
	}
	if err := p.applyReload(plan.Staying); err != nil {
		return changed, err
	}
	// What is added can still fail where nothing checks beforehand (a
	// device that does not probe): the rest is added all the same, and
	// the reload says what was not.
	var failed []error
	for _, n := range next.NICs {
		if slices.Contains(plan.NICsAdded, n.Name) {
			if err := p.addNIC(n); err != nil {
				failed = append(failed, fmt.Errorf("adding nic %s: %w", n.Name, err))
			}
		}
	}
	for _, v := range next.VMs {
		if slices.Contains(plan.VMsAdded, v.Name) {
			if err := p.addVM(v); err != nil {
				failed = append(failed, fmt.Errorf("adding vm %s: %w", v.Name, err))
			}
		}
	}
	if len(failed) > 0 {
		return changed, fmt.Errorf("reloaded, but not all of it: %w", errors.Join(failed...))
	}
	p.events.Info("config_reloaded").Strs("changed", changed).Strs("vms_added", plan.VMsAdded).Strs("vms_removed", plan.VMsGone).
		Strs("nics_added", plan.NICsAdded).Strs("nics_removed", plan.NICsGone).
		Strs("teams_added", plan.TeamsAdded).Strs("teams_removed", plan.TeamsGone).
		Uint64("tables", p.version).Msgf("config reloaded: %d keys changed", len(changed))
	return changed, nil
}

// room is how many VM and NIC slots the worker has and how many are free.
func (p *Plane) room() topology.Room {
	r := topology.Room{VMSlots: len(p.slotVM), NICSlots: len(p.slotNIC)}
	for _, id := range p.slotVM {
		if id == 0 {
			r.FreeVMSlots++
		}
	}
	for _, id := range p.slotNIC {
		if id == 0 {
			r.FreeNICSlots++
		}
	}
	return r
}

// migrating says whether the VM manager migrates vm.
func (p *Plane) migrating(vm string) bool { return p.actions != nil && p.actions.Migrating(vm) }

// applyReload puts next in force for the VMs running now (next names the
// same VMs). Callers hold p.mu.
func (p *Plane) applyReload(next *config.Config) error {
	oldModel := p.model()
	nextModel, err := model.Compile(next, oldModel)
	if err != nil {
		return fmt.Errorf("new config: %w", err)
	}
	leaving := p.releaseGoneNICs(oldModel, nextModel)
	// Teams are matched by ID: one added or removed moves no other's
	// state. The controller gives a new team its failover machine, the others
	// their new delays, seeds the teams newly shaped and holds each VM to
	// its new limit.
	p.putModel(next, nextModel)
	// With the NIC transitions of attacks the reload ended (a failover
	// response undone). build succeeded above with the same inputs: an
	// error here is a bug.
	if err := p.commit(); err != nil {
		return err
	}
	p.closeReleasedNICs(leaving)
	return nil
}
