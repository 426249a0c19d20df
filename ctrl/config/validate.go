package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// KeyError is a validation error about one key.
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Reason }

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$`)
	pciRE    = regexp.MustCompile(`^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`)
	vdevRE   = regexp.MustCompile(`^net_[a-z_]+[0-9]+(,.*)?$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)
)

// Validate checks every key and returns all problems found, each naming
// its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &KeyError{Key: key, Reason: fmt.Sprintf(format, a...)})
	}

	e := c.EAL
	if !prefixRE.MatchString(e.FilePrefix) {
		bad("eal.file_prefix", "%q must be 1-40 letters, digits, '-' or '_'", e.FilePrefix)
	}
	if e.MainLcore < 0 || e.MainLcore > 127 {
		bad("eal.main_lcore", "%d is not an lcore (0-127)", e.MainLcore)
	}
	switch {
	case len(e.WorkerLcores) == 0:
		bad("eal.worker_lcores", "at least one worker lcore is needed")
	case len(e.WorkerLcores) > 1:
		bad("eal.worker_lcores", "%v: this version runs exactly one worker", e.WorkerLcores)
	}
	for i, l := range e.WorkerLcores {
		if l < 0 || l > 127 {
			bad(fmt.Sprintf("eal.worker_lcores[%d]", i), "%d is not an lcore (0-127)", l)
		} else if l == e.MainLcore {
			bad(fmt.Sprintf("eal.worker_lcores[%d]", i), "%d is also eal.main_lcore; a worker needs its own core", l)
		}
	}
	if e.WorkerThread != "lcore" && e.WorkerThread != "registered" {
		bad("eal.worker_thread", "%q is not lcore or registered", e.WorkerThread)
	}
	if e.ControlNice < -20 || e.ControlNice > 19 {
		bad("eal.control_nice", "%d is not a nice value (-20 to 19)", e.ControlNice)
	}
	if e.MemoryMB < 64 {
		bad("eal.memory_mb", "%d is too small (at least 64)", e.MemoryMB)
	}
	if !filepath.IsAbs(e.HugeDir) {
		bad("eal.huge_dir", "%q must be an absolute path", e.HugeDir)
	}

	rt := c.Runtime
	switch {
	case rt.GCPercent < -1 || rt.GCPercent == 0:
		bad("runtime.gc_percent", "%d: a percentage of at least 1, or -1 to collect only at runtime.memory_limit_mb", rt.GCPercent)
	case rt.MemoryLimitMB < 0:
		bad("runtime.memory_limit_mb", "%d: MiB, at least 0 (0: no limit)", rt.MemoryLimitMB)
	case rt.MemoryLimitMB > 0 && rt.MemoryLimitMB < 32:
		bad("runtime.memory_limit_mb", "%d MiB is below what the control plane needs (at least 32)", rt.MemoryLimitMB)
	case rt.GCPercent == -1 && rt.MemoryLimitMB == 0:
		bad("runtime.gc_percent", "-1 with no runtime.memory_limit_mb: the heap would grow without bound")
	}

	d := c.Dataplane
	if d.MTU < 68 || d.MTU > 9600 {
		bad("dataplane.mtu", "%d is outside 68-9600", d.MTU)
	}
	if d.Mbufs < 1024 {
		bad("dataplane.mbufs", "%d is too few (at least 1024)", d.Mbufs)
	}
	for key, n := range map[string]int{"dataplane.rx_descriptors": d.RxDescriptors, "dataplane.tx_descriptors": d.TxDescriptors} {
		if n < 64 || n > 8192 {
			bad(key, "%d is outside 64-8192", n)
		}
	}
	if d.TxQueueLen < 32 || d.TxQueueLen > 65536 {
		bad("dataplane.tx_queue_len", "%d is outside 32-65536", d.TxQueueLen)
	}
	if d.MaxNICs < 1 || d.MaxNICs > 64 {
		bad("dataplane.max_nics", "%d is outside 1-64", d.MaxNICs)
	} else if len(c.NICs) > d.MaxNICs {
		bad("dataplane.max_nics", "%d is fewer than the %d NICs of nics[]", d.MaxNICs, len(c.NICs))
	}
	if d.MaxVMs < 1 || d.MaxVMs > 1024 {
		bad("dataplane.max_vms", "%d is outside 1-1024", d.MaxVMs)
	} else if len(c.VMs) > d.MaxVMs {
		bad("dataplane.max_vms", "%d is fewer than the %d VMs of vms[]", d.MaxVMs, len(c.VMs))
	}
	if d.LinkPoll <= 0 {
		bad("dataplane.link_poll", "must be a positive duration such as \"1ms\"")
	}
	if c.Status.Interval < 0 {
		bad("status.interval", "must not be negative")
	}
	r := c.Resources
	if r.Interval < 100*time.Microsecond || r.Interval > time.Second {
		bad("resources.interval", "%s is outside 100us-1s", r.Interval)
	}
	if r.OverAllocationAfter < 0 {
		bad("resources.over_allocation_after", "must not be negative (0 turns decisions off)")
	}
	if !slices.Contains(OverAllocationActions, r.OverAllocationAction) {
		bad("resources.over_allocation_action", "%q is not one of: %s", r.OverAllocationAction, strings.Join(OverAllocationActions, ", "))
	}

	teams := map[string]bool{}
	for i, t := range c.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		checkName(bad, key+".name", t.Name, teams)
		if !slices.Contains(Policies, t.Policy) {
			bad(key+".policy", "%q is not a policy (one of: %s)", t.Policy, strings.Join(Policies, ", "))
		}
		if t.NativeVLAN != 0 {
			checkVLAN(bad, key+".native_vlan", t.NativeVLAN)
		}
		if t.RebalanceThreshold < 0 || t.RebalanceThreshold > 1 {
			bad(key+".rebalance_threshold", "%v is not a utilisation between 0 and 1", t.RebalanceThreshold)
		}
		if t.RebalanceHold < 0 {
			bad(key+".rebalance_hold", "must not be negative")
		}
		if t.DownDelay < 0 || t.DownDelay > time.Minute {
			bad(key+".down_delay", "%s is outside 0-1m", t.DownDelay)
		}
		if t.UpDelay < 0 || t.UpDelay > 10*time.Minute {
			bad(key+".up_delay", "%s is outside 0-10m", t.UpDelay)
		}
		if t.BeaconInterval != 0 && (t.BeaconInterval < time.Millisecond || t.BeaconInterval > 10*time.Second) {
			bad(key+".beacon_interval", "%s is outside 1ms-10s (0 turns beacons off)", t.BeaconInterval)
		}
		if t.BeaconMisses < 0 || t.BeaconMisses > 100 {
			bad(key+".beacon_misses", "%d is outside 1-100 (unset means 3)", t.BeaconMisses)
		}
		if (len(t.Active) > 0 || len(t.Standby) > 0) && t.Policy != "explicit-failover" {
			bad(key+".active", "active and standby lists only apply to policy explicit-failover")
		}
		if t.Policy == "explicit-failover" && len(t.Active) == 0 {
			bad(key+".active", "explicit-failover needs at least one active NIC")
		}
	}
	if len(c.Teams) == 0 {
		bad("teams", "at least one team is needed")
	}

	nics, devs := map[string]bool{}, map[string]string{}
	members := map[string]int{}
	for i, n := range c.NICs {
		key := fmt.Sprintf("nics[%d]", i)
		checkName(bad, key+".name", n.Name, nics)
		switch {
		case n.PCI == "" && n.Vdev == "":
			bad(key, "set either pci or vdev")
		case n.PCI != "" && n.Vdev != "":
			bad(key, "set pci or vdev, not both")
		case n.PCI != "" && !pciRE.MatchString(n.PCI):
			bad(key+".pci", "%q is not a PCI address like 0000:01:00.0", n.PCI)
		case n.Vdev != "" && !vdevRE.MatchString(n.Vdev):
			bad(key+".vdev", "%q is not a vdev like net_tap0,iface=dtap0", n.Vdev)
		}
		dev := n.PCI + n.Vdev
		dev, _, _ = strings.Cut(dev, ",")
		if other, dup := devs[dev]; dup && dev != "" {
			bad(key, "device %s is already nic %s", dev, other)
		}
		devs[dev] = n.Name
		if !teams[n.Team] {
			bad(key+".team", "%q is not a team in teams[]", n.Team)
		}
		members[n.Team]++
	}
	nicTeam := map[string]string{}
	for _, n := range c.NICs {
		nicTeam[n.Name] = n.Team
	}
	teamVMs := map[string][]string{}
	for _, v := range c.VMs {
		teamVMs[v.Team] = append(teamVMs[v.Team], v.Name)
	}
	for i, t := range c.Teams {
		// A team with neither NICs nor VMs is one being set up or taken
		// down while uplinkd runs; one with VMs needs a NIC.
		if members[t.Name] == 0 && len(teamVMs[t.Name]) > 0 && t.Name != "" {
			bad(fmt.Sprintf("teams[%d]", i), "team %q has no NIC for its VMs (%s)", t.Name, strings.Join(teamVMs[t.Name], ", "))
		}
		listed := map[string]bool{}
		for list, names := range map[string][]string{"active": t.Active, "standby": t.Standby} {
			for j, n := range names {
				k := fmt.Sprintf("teams[%d].%s[%d]", i, list, j)
				switch {
				case nicTeam[n] != t.Name:
					bad(k, "%q is not a NIC of team %s", n, t.Name)
				case listed[n]:
					bad(k, "%q is listed twice", n)
				}
				listed[n] = true
			}
		}
	}
	for i, n := range c.NICs {
		if n.Speed != 0 && n.Speed < 1e6 {
			bad(fmt.Sprintf("nics[%d].speed", i), "%v bit/s is below 1M", float64(n.Speed))
		}
	}

	vms, socks, macs := map[string]bool{}, map[string]string{}, map[string]string{}
	reserved := map[string]float64{}
	for i, v := range c.VMs {
		key := fmt.Sprintf("vms[%d]", i)
		checkName(bad, key+".name", v.Name, vms)
		if !filepath.IsAbs(v.Socket) {
			bad(key+".socket", "%q must be an absolute path", v.Socket)
		} else if other, dup := socks[v.Socket]; dup {
			bad(key+".socket", "%s is already vm %s's socket", v.Socket, other)
		}
		socks[v.Socket] = v.Name
		if v.Mode != "" && v.Mode != "server" && v.Mode != "client" {
			bad(key+".mode", "%q is not server or client", v.Mode)
		}
		if len(v.MACs) == 0 {
			bad(key+".macs", "a VM needs at least one MAC address")
		}
		for j, m := range v.MACs {
			mk := fmt.Sprintf("%s.macs[%d]", key, j)
			hw, err := net.ParseMAC(m)
			switch {
			case err != nil || len(hw) != 6:
				bad(mk, "%q is not a MAC address like 02:00:00:00:00:01", m)
			case hw[0]&1 == 1:
				bad(mk, "%s is a multicast address", m)
			default:
				norm := hw.String()
				if other, dup := macs[norm]; dup {
					bad(mk, "%s is already vm %s's", m, other)
				}
				macs[norm] = v.Name
			}
		}
		if !teams[v.Team] {
			bad(key+".team", "%q is not a team in teams[]", v.Team)
		}
		if v.Shares < 0 || v.Shares > 1_000_000 {
			bad(key+".shares", "%d is outside 1-1000000 (unset means 1)", v.Shares)
		}
		if v.Priority < -100 || v.Priority > 100 {
			bad(key+".priority", "%d is outside -100-100", v.Priority)
		}
		if v.Limit != 0 && v.Reservation > v.Limit {
			bad(key+".reservation", "%v bit/s is above the VM's limit %v bit/s", float64(v.Reservation), float64(v.Limit))
		}
		if v.PreferredNIC != "" && nicTeam[v.PreferredNIC] != v.Team {
			bad(key+".preferred_nic", "%q is not a NIC of team %s", v.PreferredNIC, v.Team)
		}
		validateVLANs(bad, key, v)
		for j, ip := range v.IPs {
			if _, err := ParseIPPrefix(ip); err != nil {
				bad(fmt.Sprintf("%s.ips[%d]", key, j), "%q is not an address or a prefix like 10.0.0.1, 2001:db8::1 or 10.0.1.0/24", ip)
			}
		}
		reserved[v.Team] += float64(v.Reservation)
		validateDriver(bad, key, v)
		validateDoS(bad, key+".dos", v.DoS)
	}
	validateDoS(bad, "dos", c.DoS)
	for i, t := range c.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		validateDoS(bad, key+".dos", t.DoS)
		for j, n := range t.DoSStandby {
			if nicTeam[n] != t.Name {
				bad(fmt.Sprintf("%s.dos_standby[%d]", key, j), "%q is not a NIC of team %s", n, t.Name)
			}
		}
		if len(t.DoSStandby) > 0 && len(t.DoSStandby) == members[t.Name] {
			bad(key+".dos_standby", "lists every NIC of the team: there is nothing to fail over from")
		}
	}
	for i, v := range c.VMs {
		d := c.DoSFor(i)
		if slices.Contains(d.Responses, "failover") {
			for _, t := range c.Teams {
				if t.Name == v.Team && len(t.DoSStandby) == 0 {
					bad(fmt.Sprintf("vms[%d].dos.responses", i), "failover needs teams[].dos_standby for team %s", t.Name)
				}
			}
		}
	}
	validateVMManager(bad, c)
	for i, t := range c.Teams {
		var capacity float64
		unknown := false
		for _, n := range c.NICs {
			if n.Team == t.Name {
				capacity += float64(n.Speed)
				unknown = unknown || n.Speed == 0
			}
		}
		if !unknown && reserved[t.Name] > capacity {
			bad(fmt.Sprintf("teams[%d]", i), "its VMs reserve %v bit/s, more than its NICs' speed %v bit/s", reserved[t.Name], capacity)
		}
	}
	return errors.Join(errs...)
}

func checkName(bad func(string, string, ...any), key, name string, seen map[string]bool) {
	switch {
	case !nameRE.MatchString(name):
		bad(key, "%q must be 1-32 letters, digits, '.', '-' or '_'", name)
	case seen[name]:
		bad(key, "%q is used twice", name)
	}
	seen[name] = true
}

// Client reports whether uplinkd connects to the VM's socket (the
// hypervisor serves it) instead of serving it.
func (v *VM) Client() bool { return v.Mode == "client" }

// checkVLAN checks one VLAN ID.
func checkVLAN(bad func(string, string, ...any), key string, id int) {
	if id < 1 || id > 4094 {
		bad(key, "%d is not a VLAN ID (1-4094)", id)
	}
}

// validateVLANs checks a VM's vlan, trunk and native_vlan.
func validateVLANs(bad func(string, string, ...any), key string, v VM) {
	if v.VLAN != 0 {
		checkVLAN(bad, key+".vlan", v.VLAN)
		if len(v.Trunk) > 0 {
			bad(key+".trunk", "a VM is on one VLAN (vlan = %d) or a trunk, not both", v.VLAN)
		}
	}
	seen := map[int]bool{}
	for j, id := range v.Trunk {
		k := fmt.Sprintf("%s.trunk[%d]", key, j)
		checkVLAN(bad, k, id)
		if seen[id] {
			bad(k, "VLAN %d is listed twice", id)
		}
		seen[id] = true
	}
	if v.NativeVLAN != 0 {
		checkVLAN(bad, key+".native_vlan", v.NativeVLAN)
		if len(v.Trunk) == 0 {
			bad(key+".native_vlan", "only a trunk has a native VLAN (set trunk, or vlan for an access VM)")
		}
	}
}

// ParseIPPrefix reads an address (a prefix of its full length) or a
// prefix.
func ParseIPPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
