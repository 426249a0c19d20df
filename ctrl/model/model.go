// Package model is the topology uplinkd runs, compiled once per config
// load: teams, NICs, VMs and hosts as typed entities with stable IDs, every
// enum parsed, every rate and duration resolved and every default applied
// here, in one place. Nothing after Compile compares policy strings,
// re-parses MACs or fills in a default; the fastpath tables are compiled
// from a Model, and counters and control state are kept per entity ID, so
// that they survive a reorder of the config and the removal of another
// entity.
//
// A Model is immutable once compiled: a change (a reload, a VM added at
// runtime) compiles a new one from the previous, which keeps the IDs of
// the entities that are still there.
package model

import (
	"net/netip"
	"time"
)

// IDs name entities for the life of the process: an entity keeps its ID
// across reloads for as long as its name stays in the config, and an ID is
// never given to another entity, so state keyed by ID is never confused
// with a removed entity's. 0 is no entity.
type (
	TeamID uint32
	NICID  uint32
	VMID   uint32
	HostID uint32
)

// Model is one compiled topology. Each list is in ID order, the order its
// entities first appeared in: the config's at start, and an entity added
// later comes after every older one. That order is the tables' and the
// workers' (an index in the tables is a position in a list), so a reload
// that only reorders the config moves nothing.
type Model struct {
	Teams []Team
	NICs  []NIC
	VMs   []VM
	Hosts []Host

	Resources Resources
	// DoSWindow is the [dos] window: the period of the fast path's
	// distinct-source count.
	DoSWindow time.Duration
	// MaxFrame is the longest frame accepted, without CRC and VLAN tag:
	// the MTU plus the Ethernet header.
	MaxFrame uint32
	// DeprioritisedWeight is the CPU weight the deprioritise response
	// gives an attacked VM ([vm_manager] deprioritised_weight).
	DeprioritisedWeight int

	// next are the IDs the next new entities get: carried from model to
	// model so that an ID is never reused.
	next  ids
	index index
}

type ids struct{ team, nic, vm, host uint32 }

// index maps IDs and names to positions in the lists.
type index struct {
	team map[TeamID]int
	nic  map[NICID]int
	vm   map[VMID]int
	host map[HostID]int

	teamName map[string]TeamID
	nicName  map[string]NICID
	vmName   map[string]VMID
	hostName map[string]HostID
}

// Team is a set of NICs shared by a set of VMs.
type Team struct {
	ID     TeamID
	Name   string
	Policy Policy
	// NICs and VMs are the team's members, in config order.
	NICs []NICID
	VMs  []VMID
	// Active and Standby order the NICs for explicit-failover: its NICs
	// named in neither list are appended to Standby. Empty for other
	// policies.
	Active, Standby []NICID
	// Failover is the NIC manager's delays and failback.
	DownDelay, UpDelay time.Duration
	Failback           bool
	// Rebalance: a load-based team moves a VM off a NIC that stays above
	// Threshold utilisation for Hold.
	RebalanceThreshold float64
	RebalanceHold      time.Duration
	// BeaconInterval (0: no beacon probing) and BeaconMisses.
	BeaconInterval time.Duration
	BeaconMisses   int
	// NativeVLAN is the VLAN of untagged frames on the team's NICs (0:
	// none).
	NativeVLAN uint16
	// Connection names the upstream network the team attaches to.
	Connection string
	// DoSStandby are the NICs the team fails over to while one of its VMs
	// is under attack.
	DoSStandby []NICID
	// Shaped: some VM of the team has a limit, reservation, shares or
	// priority, or some NIC a configured speed; otherwise the team is a
	// plain bond whose NICs' queues push back, and no allocation runs.
	Shaped bool
}

// Probes says whether the team sends beacons.
func (t *Team) Probes() bool { return t.BeaconInterval > 0 }

// NIC is a physical port.
type NIC struct {
	ID   NICID
	Name string
	Team TeamID
	// Devargs is what DPDK probes: a PCI address or a vdev string.
	Devargs string
	// PCI: Devargs is a PCI address (EAL allows it with -a).
	PCI bool
	// Speed is the configured capacity, bit/s; 0: the link's.
	Speed float64
}

// VM is a virtual machine's vNIC, a vhost-user port.
type VM struct {
	ID   VMID
	Name string
	Team TeamID
	// Socket is the vhost-user socket; Client: the hypervisor serves it
	// and uplinkd connects.
	Socket string
	Client bool
	MACs   []MAC
	// Limit (bit/s), LimitPPS and Reservation (bit/s); 0: none.
	Limit, LimitPPS, Reservation float64
	// Shares weigh the VM under contention (at least 1).
	Shares   uint32
	Priority int
	// VLAN (access), Trunk and NativeVLAN (a trunk's untagged VLAN); all
	// zero: the untagged domain.
	VLAN       uint16
	Trunk      []uint16
	NativeVLAN uint16
	// IPs are the addresses the VM may send ARP and IP from (none: any).
	IPs []netip.Prefix
	// Preferred is the VM's NIC under vm-affinity and load-based; 0: none.
	Preferred         NICID
	SuspendOnFailover bool
	Action            Action
	DoS               DoS
}

// Action is the engine the VM manager reaches a VM through.
type Action struct {
	Driver Driver
	// QMP is QEMU's QMP socket (qmp).
	QMP string
	// LibvirtURI, LibvirtSocket ("": libvirt's default) and Domain (the
	// VM's name unless set) for libvirt.
	LibvirtURI, LibvirtSocket, Domain string
	// Exec is the hook command (exec).
	Exec []string
}

// DoS is one VM's effective denial-of-service settings: the [dos] table,
// overridden by its team's, overridden by its own. Rates are per second; a
// threshold of 0 is not watched.
type DoS struct {
	Enabled                                bool
	Window, Hold, Delay                    time.Duration
	PPS, BPS, SYNPPS, FragmentsPPS, AmpPPS float64
	Sources                                int
	LeaveRatio                             float64
	Responses                              []Response
	AttackLimitPPS                         float64
}

// Has says whether the settings include response r.
func (d *DoS) Has(r Response) bool {
	for _, x := range d.Responses {
		if x == r {
			return true
		}
	}
	return false
}

// Host is another host VMs may be migrated to.
type Host struct {
	ID         HostID
	Name       string
	Connection string
	URI        string
	Spare      float64 // bit/s
}

// Resources is the resource manager's settings.
type Resources struct {
	Interval             time.Duration
	OverAllocationAfter  time.Duration
	OverAllocationAction OverAllocationAction
}

// Team returns the team with this ID, or nil.
func (m *Model) Team(id TeamID) *Team {
	if i, ok := m.index.team[id]; ok {
		return &m.Teams[i]
	}
	return nil
}

// NIC returns the NIC with this ID, or nil.
func (m *Model) NIC(id NICID) *NIC {
	if i, ok := m.index.nic[id]; ok {
		return &m.NICs[i]
	}
	return nil
}

// VM returns the VM with this ID, or nil.
func (m *Model) VM(id VMID) *VM {
	if i, ok := m.index.vm[id]; ok {
		return &m.VMs[i]
	}
	return nil
}

// Host returns the host with this ID, or nil.
func (m *Model) Host(id HostID) *Host {
	if i, ok := m.index.host[id]; ok {
		return &m.Hosts[i]
	}
	return nil
}

// TeamIndex, NICIndex and VMIndex are an entity's position in its list,
// or -1.
func (m *Model) TeamIndex(id TeamID) int { return indexOf(m.index.team, id) }

// NICIndex is a NIC's position in m.NICs, or -1.
func (m *Model) NICIndex(id NICID) int { return indexOf(m.index.nic, id) }

// VMIndex is a VM's position in m.VMs, or -1.
func (m *Model) VMIndex(id VMID) int { return indexOf(m.index.vm, id) }

func indexOf[K comparable](idx map[K]int, id K) int {
	if i, ok := idx[id]; ok {
		return i
	}
	return -1
}

// TeamNamed, NICNamed, VMNamed and HostNamed look an entity up by name;
// nil if there is none.
func (m *Model) TeamNamed(name string) *Team { return m.Team(m.index.teamName[name]) }

// NICNamed looks a NIC up by name.
func (m *Model) NICNamed(name string) *NIC { return m.NIC(m.index.nicName[name]) }

// VMNamed looks a VM up by name.
func (m *Model) VMNamed(name string) *VM { return m.VM(m.index.vmName[name]) }

// HostNamed looks a host up by name.
func (m *Model) HostNamed(name string) *Host { return m.Host(m.index.hostName[name]) }

// The defaults a config may leave out, applied by Compile.
const (
	DefaultShares             = 1
	DefaultRebalanceThreshold = 0.75
	DefaultRebalanceHold      = 30 * time.Millisecond
	DefaultBeaconMisses       = 3
	// UnknownLinkSpeed stands in for the speed of a NIC that has none
	// configured and whose link reports none, bit/s.
	UnknownLinkSpeed = 10e9
)
