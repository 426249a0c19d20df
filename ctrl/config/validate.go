package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
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
	if e.MemoryMB < 64 {
		bad("eal.memory_mb", "%d is too small (at least 64)", e.MemoryMB)
	}
	if !filepath.IsAbs(e.HugeDir) {
		bad("eal.huge_dir", "%q must be an absolute path", e.HugeDir)
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
	if d.LinkPoll <= 0 {
		bad("dataplane.link_poll", "must be a positive duration such as \"1ms\"")
	}
	if c.Status.Interval < 0 {
		bad("status.interval", "must not be negative")
	}

	teams := map[string]bool{}
	for i, t := range c.Teams {
		key := fmt.Sprintf("teams[%d]", i)
		checkName(bad, key+".name", t.Name, teams)
		if !slices.Contains(Policies, t.Policy) {
			bad(key+".policy", "%q is not a policy (one of: %s)", t.Policy, strings.Join(Policies, ", "))
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
	for i, t := range c.Teams {
		if members[t.Name] == 0 && t.Name != "" {
			bad(fmt.Sprintf("teams[%d]", i), "team %q has no NIC", t.Name)
		}
	}

	vms, socks, macs := map[string]bool{}, map[string]string{}, map[string]string{}
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
