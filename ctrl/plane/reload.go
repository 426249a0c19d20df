package plane

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/resource"
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
func (p *Plane) Reload(next *config.Config) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cfg()
	file := next
	next = p.withRuntimeTeams(p.withRuntimeNICs(p.withRuntimeVMs(next)))
	if next != file {
		// The file validated alone; with what was added at runtime it
		// must too (a file that drops a team a runtime VM is in).
		if err := next.Validate(); err != nil {
			return nil, fmt.Errorf("with the teams, NICs and VMs added at runtime, which a reload keeps: %w", err)
		}
	}
	changed, err := config.CheckReload(old, next)
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		p.events.Info("config_reloaded").Strs("changed", nil).Msg("config reloaded: nothing changed")
		return nil, nil
	}
	// A model or tables that cannot be built, or VMs that cannot be added
	// or removed, refuse the reload before anything changed.
	nextModel, err := model.Compile(next, p.model())
	if err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	if _, err := p.build(nextModel); err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	gone, added := vmMembership(old, next)
	if err := p.checkVMChanges(gone, added, next); err != nil {
		return nil, err
	}
	nicsGone, nicsAdded := nicMembership(old, next)
	// The config in force once the VMs and NICs that leave have left,
	// before the new ones join: each step of the way must be a config
	// uplinkd could run.
	staying := *next
	staying.VMs = slices.DeleteFunc(slices.Clone(next.VMs), func(v config.VM) bool { return slices.Contains(added, v.Name) })
	staying.NICs = slices.DeleteFunc(slices.Clone(next.NICs), func(n config.NIC) bool { return slices.Contains(nicsAdded, n.Name) })
	if err := p.checkNICChanges(nicsGone, nicsAdded, next); err != nil {
		return nil, err
	}
	if err := staying.Validate(); err != nil {
		return nil, fmt.Errorf("once what leaves has left and before what is new joins, the config would not hold (%w); make the change in two reloads", err)
	}
	teamsGone, teamsAdded := membership(old.Teams, next.Teams, func(t config.Team) string { return t.Name })
	// VMs and NICs added at runtime that the file names now are the
	// file's.
	for _, v := range file.VMs {
		delete(p.runtimeVMs, v.Name)
	}
	for _, n := range file.NICs {
		delete(p.runtimeNICs, n.Name)
	}
	for _, t := range file.Teams {
		delete(p.runtimeTeams, t.Name)
	}
	for _, name := range teamsGone {
		delete(p.runtimeTeams, name)
	}
	// VMs that leave go first (their slots may be the new ones'), then
	// NICs that leave fail over, then what changed for what stays (the
	// NICs that left leave their slots), then the new NICs, then the new
	// VMs.
	for _, name := range gone {
		if _, err := p.removeVM(name); err != nil {
			return changed, fmt.Errorf("removing vm %s: %w", name, err)
		}
	}
	var goneIDs []model.NICID
	for _, name := range nicsGone {
		goneIDs = append(goneIDs, p.model().NICNamed(name).ID)
		delete(p.runtimeNICs, name)
	}
	if err := p.failOverLeaving(goneIDs); err != nil {
		return changed, err
	}
	if err := p.applyReload(&staying); err != nil {
		return changed, err
	}
	// What is added can still fail where nothing checks beforehand (a
	// device that does not probe): the rest is added all the same, and
	// the reload says what was not.
	var failed []error
	for _, n := range next.NICs {
		if slices.Contains(nicsAdded, n.Name) {
			if err := p.addNIC(n); err != nil {
				failed = append(failed, fmt.Errorf("adding nic %s: %w", n.Name, err))
			}
		}
	}
	for _, v := range next.VMs {
		if slices.Contains(added, v.Name) {
			if err := p.addVM(v); err != nil {
				failed = append(failed, fmt.Errorf("adding vm %s: %w", v.Name, err))
			}
		}
	}
	if len(failed) > 0 {
		return changed, fmt.Errorf("reloaded, but not all of it: %w", errors.Join(failed...))
	}
	p.events.Info("config_reloaded").Strs("changed", changed).Strs("vms_added", added).Strs("vms_removed", gone).
		Strs("nics_added", nicsAdded).Strs("nics_removed", nicsGone).Strs("teams_added", teamsAdded).Strs("teams_removed", teamsGone).
		Uint64("tables", p.version).Msgf("config reloaded: %d keys changed", len(changed))
	return changed, nil
}

// followRates holds each VM to what model m allows it: a VM of a team
// that is no longer shaped to its limit (0: none), a shaped one to its new
// limit if that is lower, until the resource manager divides the team
// again within an interval. Callers hold p.mu.
func (p *Plane) followRates(m *model.Model) {
	for v, id := range p.slotVM {
		vm := m.VM(id)
		if vm == nil {
			continue
		}
		limit := vm.Limit
		switch {
		case !m.Team(vm.Team).Shaped:
			p.alloc[v] = limit
		case limit > 0 && (p.alloc[v] == 0 || p.alloc[v] > limit):
			p.alloc[v] = limit
		}
	}
}

// vmMembership lists the VMs old has and next does not, and the other way
// round.
func vmMembership(old, next *config.Config) (gone, added []string) {
	return membership(old.VMs, next.VMs, func(v config.VM) string { return v.Name })
}

// nicMembership is vmMembership for NICs.
func nicMembership(old, next *config.Config) (gone, added []string) {
	return membership(old.NICs, next.NICs, func(n config.NIC) string { return n.Name })
}

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

// checkNICChanges says why the NICs a reload adds or removes cannot be:
// no slot for them, or a PCI NIC (EAL allows PCI devices at start only).
func (p *Plane) checkNICChanges(gone, added []string, next *config.Config) error {
	if len(gone) == 0 && len(added) == 0 {
		return nil
	}
	free := 0
	for _, id := range p.slotNIC {
		if id == 0 {
			free++
		}
	}
	if len(added) > free+len(gone) {
		return fmt.Errorf("nics: %d NICs added, room for %d: dataplane.max_nics is %d", len(added), free+len(gone), len(p.slotNIC))
	}
	for i, n := range next.NICs {
		if slices.Contains(added, n.Name) && n.PCI != "" {
			return fmt.Errorf("nics[%d].pci: a PCI NIC joins at start only (EAL allows the config's PCI addresses); restart uplinkd to add %s", i, n.PCI)
		}
	}
	return nil
}

// checkVMChanges says why VMs a reload adds or removes cannot be.
func (p *Plane) checkVMChanges(gone, added []string, next *config.Config) error {
	for i, v := range next.VMs {
		if slices.Contains(added, v.Name) {
			if err := checkSocket(v); err != nil {
				return fmt.Errorf("vms[%d].%w", i, err)
			}
		}
	}
	free := 0
	for _, id := range p.slotVM {
		if id == 0 {
			free++
		}
	}
	if len(added) > free+len(gone) {
		return fmt.Errorf("vms: %d VMs added, room for %d: dataplane.max_vms is %d", len(added), free+len(gone), len(p.slotVM))
	}
	for _, name := range gone {
		if p.actions != nil && p.actions.Migrating(name) {
			return fmt.Errorf("vms: %s is migrating; remove it once the migration ended", name)
		}
	}
	return nil
}

// applyReload puts next in force for the VMs running now (next names the
// same VMs). Callers hold p.mu.
func (p *Plane) applyReload(next *config.Config) error {
	oldModel := p.model()
	nextModel, err := model.Compile(next, oldModel)
	if err != nil {
		return fmt.Errorf("new config: %w", err)
	}
	now, before := time.Now(), p.snap.Load()
	p.topo.Store(nextModel)
	p.conf.Store(next)
	leaving := p.releaseGoneNICs(oldModel, nextModel)
	// Teams are matched by ID: one added or removed moves no other's
	// state. A new team starts as a team does at start.
	for t, team := range nextModel.Teams {
		was := oldModel.Team(team.ID)
		if was == nil {
			p.nicMgr.addTeam(team, now)
			was = &model.Team{}
		}
		if team.Shaped && !was.Shaped {
			p.seedRates(t)
		}
		p.nicMgr.machines[team.ID].SetConfig(failoverConfig(team))
		if p.res.balancer[team.ID] == nil || team.Policy != model.PolicyLoadBased ||
			team.RebalanceThreshold != was.RebalanceThreshold || team.RebalanceHold != was.RebalanceHold {
			p.res.balancer[team.ID] = newBalancer(team)
		}
	}
	for _, team := range oldModel.Teams {
		if nextModel.Team(team.ID) == nil {
			p.nicMgr.removeTeam(team.ID)
			delete(p.res.balancer, team.ID)
			delete(p.dos.evacuatedBy, team.ID)
		}
	}
	p.followRates(nextModel)
	for v, id := range p.slotVM {
		if vm := nextModel.VM(id); vm != nil && p.res.balancer[vm.Team] == nil {
			p.assigned[v] = -1
		}
	}
	p.res.over.After = nextModel.Resources.OverAllocationAfter
	p.res.over.Action = resource.Action(nextModel.Resources.OverAllocationAction.String())
	for _, ev := range p.dos.configure(nextModel, p.slotVM, now) {
		p.answer(ev)
	}
	p.syncLoops()
	// With the NIC transitions of attacks the reload ended (a failover
	// response undone). build succeeded above with the same inputs: an
	// error here is a bug.
	if err := p.publishTransitions(before); err != nil {
		return err
	}
	p.closeReleasedNICs(leaving)
	return nil
}
