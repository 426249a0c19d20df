package plane

import (
	"fmt"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/resource"
)

// Reload puts a new config in force without stopping the worker: the keys
// config.Reloadable lists (policies, limits, shares, DoS settings, NIC
// speeds, failover delays) change; anything else that differs refuses the
// whole reload, naming the key, and the old config stays. The worker
// moves to the new tables at its next loop, as it does after a link
// change: packets in flight keep their queues, token buckets keep their
// tokens, a VM whose NIC changed is announced on its new one. It returns
// the keys that changed.
func (p *Plane) Reload(next *config.Config) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.cfg()
	next = p.withRuntimeVMs(next)
	changed, err := config.CheckReload(old, next)
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		p.events.Info("config_reloaded").Strs("changed", nil).Msg("config reloaded: nothing changed")
		return nil, nil
	}
	// A model or tables that cannot be built refuse the reload before
	// anything changed.
	oldModel := p.model()
	nextModel, err := model.Compile(next, oldModel)
	if err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	if _, err := p.build(nextModel); err != nil {
		return nil, fmt.Errorf("new config: %w", err)
	}
	now, before := time.Now(), p.snap.Load()
	p.topo.Store(nextModel)
	p.conf.Store(next)
	for t, team := range nextModel.Teams {
		was := oldModel.Teams[t]
		if team.Shaped && !was.Shaped {
			p.seedRates(t)
		}
		p.nicMgr.machines[t].SetConfig(failoverConfig(team))
		if p.res.balancer[t] == nil || team.Policy != model.PolicyLoadBased ||
			team.RebalanceThreshold != was.RebalanceThreshold || team.RebalanceHold != was.RebalanceHold {
			p.res.balancer[t] = newBalancer(team)
		}
	}
	for v, id := range p.slotVM {
		vm := nextModel.VM(id)
		if vm == nil {
			continue
		}
		t := nextModel.TeamIndex(vm.Team)
		limit := vm.Limit
		switch {
		case !nextModel.Teams[t].Shaped:
			p.alloc[v] = limit
		case limit > 0 && (p.alloc[v] == 0 || p.alloc[v] > limit):
			// The resource manager divides the team again within an
			// interval; until then the VM is held to its new limit.
			p.alloc[v] = limit
		}
		if p.res.balancer[t] == nil {
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
		return changed, err
	}
	p.events.Info("config_reloaded").Strs("changed", changed).Uint64("tables", p.version).
		Msgf("config reloaded: %d keys changed", len(changed))
	return changed, nil
}
