package model

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// Compile turns a validated config into a model. prev is the model in
// force (nil at start): an entity whose name it has keeps its ID, a new one
// gets an ID no entity ever had. An error names the key and the reason;
// config.Validate catches them all first, so one here means the two
// disagree.
func Compile(c *config.Config, prev *Model) (*Model, error) {
	m := &Model{
		Resources: Resources{Interval: c.Resources.Interval, OverAllocationAfter: c.Resources.OverAllocationAfter},
		DoSWindow: c.DoSDefaults().Window,
		MaxFrame:  uint32(c.Dataplane.MTU + 14),

		DeprioritisedWeight: c.VMManager.DeprioritisedWeight,
	}
	var err error
	if m.Resources.OverAllocationAction, err = parseOverAllocationAction(c.Resources.OverAllocationAction); err != nil {
		return nil, keyErr("resources.over_allocation_action", err)
	}
	old := prev
	if old == nil {
		old = &Model{}
	}
	m.next = old.next
	m.index = index{team: map[TeamID]int{}, nic: map[NICID]int{}, vm: map[VMID]int{}, host: map[HostID]int{},
		teamName: map[string]TeamID{}, nicName: map[string]NICID{}, vmName: map[string]VMID{}, hostName: map[string]HostID{}}

	for _, i := range order(c.Teams, func(t config.Team) string { return t.Name }, old.index.teamName) {
		t := c.Teams[i]
		key := fmt.Sprintf("teams[%d]", i)
		id := TeamID(stableID(uint32(old.index.teamName[t.Name]), &m.next.team))
		if _, dup := m.index.teamName[t.Name]; dup {
			return nil, keyErr(key+".name", fmt.Errorf("%q is used twice", t.Name))
		}
		pol, err := parsePolicy(t.Policy)
		if err != nil {
			return nil, keyErr(key+".policy", err)
		}
		team := Team{ID: id, Name: t.Name, Policy: pol, DownDelay: t.DownDelay, UpDelay: t.UpDelay,
			Failback: t.Failback == nil || *t.Failback, RebalanceThreshold: t.RebalanceThreshold,
			RebalanceHold: t.RebalanceHold, BeaconInterval: t.BeaconInterval, BeaconMisses: t.BeaconMisses,
			Connection: t.Connection, NativeVLAN: uint16(t.NativeVLAN)}
		if team.RebalanceThreshold == 0 {
			team.RebalanceThreshold = DefaultRebalanceThreshold
		}
		if team.RebalanceHold == 0 {
			team.RebalanceHold = DefaultRebalanceHold
		}
		if team.BeaconMisses == 0 {
			team.BeaconMisses = DefaultBeaconMisses
		}
		if team.Connection == "" {
			team.Connection = t.Name
		}
		m.index.team[id], m.index.teamName[t.Name] = len(m.Teams), id
		m.Teams = append(m.Teams, team)
	}

	for _, i := range order(c.NICs, func(n config.NIC) string { return n.Name }, old.index.nicName) {
		n := c.NICs[i]
		key := fmt.Sprintf("nics[%d]", i)
		if _, dup := m.index.nicName[n.Name]; dup {
			return nil, keyErr(key+".name", fmt.Errorf("%q is used twice", n.Name))
		}
		team := m.TeamNamed(n.Team)
		if team == nil {
			return nil, keyErr(key+".team", fmt.Errorf("%q is not a team in teams[]", n.Team))
		}
		id := NICID(stableID(uint32(old.index.nicName[n.Name]), &m.next.nic))
		nic := NIC{ID: id, Name: n.Name, Team: team.ID, Devargs: n.Vdev, Speed: float64(n.Speed)}
		if n.PCI != "" {
			nic.Devargs, nic.PCI = n.PCI, true
		}
		team.NICs = append(team.NICs, id)
		m.index.nic[id], m.index.nicName[n.Name] = len(m.NICs), id
		m.NICs = append(m.NICs, nic)
	}

	for i, t := range c.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		team := m.TeamNamed(t.Name)
		if team.Policy == PolicyExplicitFailover {
			listed := map[NICID]bool{}
			if team.Active, err = m.teamNICs(team, key+".active", t.Active, listed); err != nil {
				return nil, err
			}
			if team.Standby, err = m.teamNICs(team, key+".standby", t.Standby, listed); err != nil {
				return nil, err
			}
			for _, n := range team.NICs {
				if !listed[n] {
					team.Standby = append(team.Standby, n)
				}
			}
		}
		if team.DoSStandby, err = m.teamNICs(team, key+".dos_standby", t.DoSStandby, map[NICID]bool{}); err != nil {
			return nil, err
		}
	}

	for _, i := range order(c.VMs, func(v config.VM) string { return v.Name }, old.index.vmName) {
		v := c.VMs[i]
		key := fmt.Sprintf("vms[%d]", i)
		vm, err := m.compileVM(c, i, key, v)
		if err != nil {
			return nil, err
		}
		vm.ID = VMID(stableID(uint32(old.index.vmName[v.Name]), &m.next.vm))
		team := m.Team(vm.Team)
		team.VMs = append(team.VMs, vm.ID)
		// Shares set to 1 shape as much as any other setting: the
		// config's, not the defaulted, value decides.
		team.Shaped = team.Shaped || v.Limit != 0 || v.LimitPPS != 0 || v.Reservation != 0 || v.Shares != 0 || v.Priority != 0
		m.index.vm[vm.ID], m.index.vmName[v.Name] = len(m.VMs), vm.ID
		m.VMs = append(m.VMs, vm)
	}
	if err := m.checkMACs(); err != nil {
		return nil, err
	}

	for _, i := range order(c.Hosts, func(h config.Host) string { return h.Name }, old.index.hostName) {
		h := c.Hosts[i]
		if _, dup := m.index.hostName[h.Name]; dup {
			return nil, keyErr(fmt.Sprintf("hosts[%d].name", i), fmt.Errorf("%q is used twice", h.Name))
		}
		id := HostID(stableID(uint32(old.index.hostName[h.Name]), &m.next.host))
		m.index.host[id], m.index.hostName[h.Name] = len(m.Hosts), id
		m.Hosts = append(m.Hosts, Host{ID: id, Name: h.Name, Connection: h.Connection, URI: h.URI, Spare: float64(h.Spare)})
	}
	for _, n := range m.NICs {
		if n.Speed != 0 {
			m.Team(n.Team).Shaped = true
		}
	}
	return m, nil
}

// order is the order a list's entities are compiled and listed in: those
// the previous model had by ID (its order), then the new ones in config
// order, which gives them ascending IDs. After a restart the config's
// order rules.
func order[T any, ID ~uint32](list []T, name func(T) string, prev map[string]ID) []int {
	out := make([]int, len(list))
	for i := range out {
		out[i] = i
	}
	rank := func(i int) (bool, uint32) {
		id, had := prev[name(list[i])]
		return !had, uint32(id)
	}
	slices.SortStableFunc(out, func(a, b int) int {
		newA, idA := rank(a)
		newB, idB := rank(b)
		switch {
		case newA != newB:
			if newA {
				return 1
			}
			return -1
		case newA:
			return 0 // both new: config order
		}
		return cmp.Compare(idA, idB)
	})
	return out
}

// stableID is the ID an entity had (was), or the next never-used one.
func stableID(was uint32, next *uint32) uint32 {
	if was != 0 {
		return was
	}
	*next++
	return *next
}

func keyErr(key string, err error) error { return &config.KeyError{Key: key, Reason: err.Error()} }

// teamNICs resolves a list of NIC names of team t, each once.
func (m *Model) teamNICs(t *Team, key string, names []string, listed map[NICID]bool) ([]NICID, error) {
	var out []NICID
	for j, name := range names {
		n := m.NICNamed(name)
		switch {
		case n == nil || n.Team != t.ID:
			return nil, keyErr(fmt.Sprintf("%s[%d]", key, j), fmt.Errorf("%q is not a NIC of team %s", name, t.Name))
		case listed[n.ID]:
			return nil, keyErr(fmt.Sprintf("%s[%d]", key, j), fmt.Errorf("%q is listed twice", name))
		}
		listed[n.ID] = true
		out = append(out, n.ID)
	}
	return out, nil
}

func (m *Model) compileVM(c *config.Config, i int, key string, v config.VM) (VM, error) {
	if _, dup := m.index.vmName[v.Name]; dup {
		return VM{}, keyErr(key+".name", fmt.Errorf("%q is used twice", v.Name))
	}
	team := m.TeamNamed(v.Team)
	if team == nil {
		return VM{}, keyErr(key+".team", fmt.Errorf("%q is not a team in teams[]", v.Team))
	}
	vm := VM{Name: v.Name, Team: team.ID, Socket: v.Socket, Client: v.Mode == "client",
		Limit: float64(v.Limit), LimitPPS: float64(v.LimitPPS), Reservation: float64(v.Reservation),
		Shares: uint32(max(v.Shares, DefaultShares)), Priority: v.Priority, SuspendOnFailover: v.SuspendOnFailover,
		VLAN: uint16(v.VLAN), NativeVLAN: uint16(v.NativeVLAN)}
	for _, id := range v.Trunk {
		vm.Trunk = append(vm.Trunk, uint16(id))
	}
	for j, ip := range v.IPs {
		p, err := config.ParseIPPrefix(ip)
		if err != nil {
			return VM{}, keyErr(fmt.Sprintf("%s.ips[%d]", key, j), err)
		}
		vm.IPs = append(vm.IPs, p)
	}
	if v.Mode != "" && v.Mode != "server" && v.Mode != "client" {
		return VM{}, keyErr(key+".mode", fmt.Errorf("%q is not server or client", v.Mode))
	}
	for j, s := range v.MACs {
		mac, err := ParseMAC(s)
		if err != nil {
			return VM{}, keyErr(fmt.Sprintf("%s.macs[%d]", key, j), err)
		}
		vm.MACs = append(vm.MACs, mac)
	}
	if v.PreferredNIC != "" {
		n := m.NICNamed(v.PreferredNIC)
		if n == nil || n.Team != team.ID {
			return VM{}, keyErr(key+".preferred_nic", fmt.Errorf("%q is not a NIC of team %s", v.PreferredNIC, team.Name))
		}
		vm.Preferred = n.ID
	}
	drv, err := parseDriver(v.Driver)
	if err != nil {
		return VM{}, keyErr(key+".driver", err)
	}
	vm.Action = Action{Driver: drv, QMP: v.QMP, LibvirtURI: v.LibvirtURI, LibvirtSocket: v.LibvirtSocket,
		Domain: v.Domain, Exec: v.Exec}
	if vm.Action.Domain == "" {
		vm.Action.Domain = v.Name
	}
	d := c.DoSFor(i)
	vm.DoS = DoS{Enabled: d.Enabled, Window: d.Window, Hold: d.Hold, Delay: d.Delay, PPS: float64(d.PPS),
		BPS: float64(d.BPS), SYNPPS: float64(d.SYNPPS), FragmentsPPS: float64(d.FragmentsPPS),
		AmpPPS: float64(d.AmplificationPPS), Sources: d.Sources, LeaveRatio: d.LeaveRatio,
		AttackLimitPPS: float64(d.AttackLimitPPS)}
	for j, s := range d.Responses {
		r, err := parseResponse(s)
		if err != nil {
			return VM{}, keyErr(fmt.Sprintf("%s.dos.responses[%d]", key, j), err)
		}
		vm.DoS.Responses = append(vm.DoS.Responses, r)
	}
	return vm, nil
}

// checkMACs refuses a MAC two VMs claim: ingress could deliver it to
// only one.
func (m *Model) checkMACs() error {
	owner := map[MAC]string{}
	for i, vm := range m.VMs {
		for j, mac := range vm.MACs {
			if other, dup := owner[mac]; dup {
				return keyErr(fmt.Sprintf("vms[%d].macs[%d]", i, j), fmt.Errorf("%s is already vm %s's", mac, other))
			}
			owner[mac] = vm.Name
		}
	}
	return nil
}
