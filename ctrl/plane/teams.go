package plane

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
)

// A team is added empty and removed empty: NICs join it and VMs are added
// to it afterwards (or in the same reload), and they leave before it goes.
// Teams are known by ID everywhere (the NIC manager's machines, the
// rebalancers, DoS evacuations), so one that comes or goes moves no other
// team's state; the tables index teams by their place in the model, which
// the next tables follow.

// AddTeam adds team t, with no NIC and no VM yet. A team that cannot be
// added changes nothing; the error names the field and the reason.
func (p *Plane) AddTeam(t config.Team) error {
	p.mu.Lock()
	defer p.unlock()
	if p.closed {
		return errors.New("the data plane is stopping")
	}
	old := p.cfg()
	next := *old
	next.Teams = append(slices.Clip(old.Teams), t)
	if err := next.Validate(); err != nil {
		return fieldErr(err, fmt.Sprintf("teams[%d].", len(old.Teams)))
	}
	m, err := model.Compile(&next, p.model())
	if err != nil {
		return fieldErr(err, fmt.Sprintf("teams[%d].", len(old.Teams)))
	}
	team := m.TeamNamed(t.Name)
	p.putModel(&next, m)
	p.runtimeTeams[t.Name] = true
	if err := p.commit(); err != nil {
		return err
	}
	p.events.Info("team_added").Str("team", t.Name).Str("policy", team.Policy.String()).Uint64("tables", p.version).
		Msgf("team %s added", t.Name)
	return nil
}

// RemoveTeam removes team name, which must have neither NICs nor VMs left:
// the error names those it still has.
func (p *Plane) RemoveTeam(name string) error {
	p.mu.Lock()
	defer p.unlock()
	m := p.model()
	team := m.TeamNamed(name)
	if team == nil {
		return fmt.Errorf("no team named %q", name)
	}
	var members []string
	if len(team.NICs) > 0 {
		members = append(members, "NICs "+strings.Join(nicNames(m, team.NICs), ", "))
	}
	if len(team.VMs) > 0 {
		var vms []string
		for _, id := range team.VMs {
			vms = append(vms, m.VM(id).Name)
		}
		members = append(members, "VMs "+strings.Join(vms, ", "))
	}
	if len(members) > 0 {
		return fmt.Errorf("team %s still has %s: remove them first", name, strings.Join(members, " and "))
	}
	old := p.cfg()
	next := *old
	next.Teams = slices.DeleteFunc(slices.Clone(old.Teams), func(t config.Team) bool { return t.Name == name })
	if err := next.Validate(); err != nil {
		return fmt.Errorf("team %s cannot go: %w", name, err)
	}
	nextModel, err := model.Compile(&next, m)
	if err != nil {
		return fmt.Errorf("team %s cannot go: %w", name, err)
	}
	p.putModel(&next, nextModel)
	delete(p.runtimeTeams, name)
	if err := p.commit(); err != nil {
		return err
	}
	p.events.Info("team_removed").Str("team", name).Uint64("tables", p.version).Msgf("team %s removed", name)
	return nil
}
