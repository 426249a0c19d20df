package fastpath

import (
	"fmt"
	"net/netip"
	"time"
)

// EthHdrLen is the length of an untagged Ethernet header.
const EthHdrLen = 14

// Snapshot is the immutable view of the tables a worker decides with. ctrl
// builds a new one on every change and publishes it through an atomic
// pointer; a worker loads it once per loop iteration (read-copy-update).
type Snapshot struct {
	Version uint64
	// MaxFrame is the longest frame accepted, without CRC: MTU plus the
	// Ethernet header, plus 4 bytes when the frame carries a VLAN tag.
	MaxFrame uint32
	VMs      []VM
	NICs     []NIC
	Teams    []Team
	// DoSWindow is how long the distinct-source sketches count before the
	// worker publishes their estimate and starts afresh (0: 10 ms).
	DoSWindow time.Duration
	vmByMAC   macTable
}

// VM is one virtual machine's vNIC as the fast path sees it, in one slot
// of the worker's: a VM added while uplinkd runs takes a free slot, and
// one removed leaves its slot Absent.
type VM struct {
	// ID is the VM's entity ID (0: none given); a slot whose ID changes
	// has a new VM in it, whose counters and state start from zero.
	ID uint32
	// Absent: no VM holds the slot; it is not polled and owns no MAC.
	Absent bool
	// Port is the DPDK port of the VM's vhost-user device.
	Port uint16
	Name string
	Team int
	MACs []MAC
	// Connected: the guest's virtio device is attached to the vhost port.
	Connected bool
	// RateBps and RatePps are the VM's egress allocation now: its limit, or
	// less when ctrl's resource manager divides a contended team by
	// shares. 0 means unlimited. The worker's token buckets follow them.
	RateBps, RatePps float64
	// Priority: VMs above 0 are high priority; they take the least loaded
	// usable NIC whatever the team's policy.
	Priority int
	// Preferred is the NIC the VM uses under vm-affinity while it is
	// usable, or -1 to spread VMs over the team's NICs by port order.
	Preferred int
	// Assigned is the NIC load-based balancing put the VM on, or -1.
	Assigned int
	// Slot is the VM's position among its team's VMs; derived by Build.
	Slot int
	// DoSWatch: count the VM's traffic for DoS detection (classes and
	// distinct sources, both directions).
	DoSWatch bool
	// AttackClasses and AttackLimitPPS are the rate-limit response: frames
	// from the network of these classes to the VM pass at most this many
	// per second (0: not one); the rest are dropped as dos.
	AttackClasses  DoSClass
	AttackLimitPPS float64
	// VLAN is the VM's access VLAN (1-4094; 0: none): its frames are
	// untagged, and tagged with it on the NICs. Trunk lists the VLANs whose
	// tagged frames the VM sends and receives (with VLAN 0), and
	// NativeVLAN the VLAN of its untagged frames (0: none may pass). A VM
	// with neither is in the untagged domain.
	VLAN       uint16
	Trunk      []uint16
	NativeVLAN uint16
	vlans      *vlanSet // a trunk's VLANs and native VLAN; derived by Build
	// IPs are the addresses the VM may send ARP and IP from (none: any);
	// guard is them ready for the check, derived by Build.
	IPs   []netip.Prefix
	guard *ipGuard
	// HoldIngress is the delay response: frames to the VM are held and
	// delivered in a batch this often, so the guest is interrupted less
	// (0: delivered at once).
	HoldIngress time.Duration
}

// NIC is one physical NIC, in one NIC slot of the worker's: a NIC that
// joins a team while uplinkd runs takes a free slot, and one that leaves
// leaves its slot Absent.
type NIC struct {
	// ID is the NIC's entity ID (0: none given); a slot whose ID changes
	// has a new NIC in it, whose counters and state start from zero.
	ID uint32
	// Absent: no NIC holds the slot; it is not polled, carries nothing
	// and belongs to no team.
	Absent bool
	// Port is the NIC's DPDK port.
	Port   uint16
	Name   string
	Team   int
	LinkUp bool
	// AdminUp is false when an operator set the NIC down.
	AdminUp bool
	// FailingOver is set by the NIC manager while traffic moves off this
	// NIC; selection treats the NIC as unavailable meanwhile.
	FailingOver bool
	// Failed is the NIC manager's verdict that the NIC may not carry
	// traffic even if its link is up: beacons lost, or its up-delay is
	// still running after a failure.
	Failed bool
	// Standby: the NIC came back from a failure with failback off; VMs
	// that moved away stay away, and it carries traffic only when no other
	// NIC can.
	Standby bool
	// SpeedBps is the capacity selection and shares count with.
	SpeedBps float64
	// MAC is the port's own address, the source of its beacons.
	MAC MAC
}

// Usable says the NIC may carry new traffic now.
func (n *NIC) Usable() bool { return !n.Absent && n.LinkUp && n.AdminUp && !n.FailingOver && !n.Failed }

// Team is a set of NICs shared by a set of VMs.
type Team struct {
	Name   string
	Policy Policy
	NICs   []int
	VMs    []int
	// Active and Standby order the NICs for explicit-failover: the first
	// usable NIC of Active, else of Standby, carries every VM.
	Active, Standby []int
	// Up lists the usable NICs, in NICs order; derived by Build.
	Up []int
	// Designated is the NIC whose broadcast and multicast frames from the
	// network are delivered (-1: none); the others' copies are dropped as
	// duplicate_group. Derived by Build, like Linux bonding's active
	// slave: the NIC explicit-failover uses, else the first usable NIC
	// that is not on standby, else the first usable, else the first whose
	// link is up. It moves with every failover.
	Designated int
	// NativeVLAN is the VLAN of untagged frames on the team's NICs, and
	// frames of it leave untagged (0: untagged frames are the untagged
	// domain's).
	NativeVLAN uint16
	// VLANAware: some VM of the team has a VLAN or trunk, or the team a
	// native VLAN; Domains are its VLANs and their VMs. Derived by Build.
	VLANAware bool
	Domains   []Domain
	// BeaconInterval: every NIC of the team whose link is up sends a
	// beacon this often (0: no beacons).
	BeaconInterval time.Duration
}

// Build derives the lookup tables and checks references. ctrl calls it
// before publishing; it allocates, so it never runs on a worker.
func (s *Snapshot) Build() error {
	for t := range s.Teams {
		s.Teams[t].Up = s.Teams[t].Up[:0]
		s.Teams[t].VMs = s.Teams[t].VMs[:0]
	}
	for i := range s.NICs {
		t := s.NICs[i].Team
		if s.NICs[i].Absent {
			continue
		}
		if t < 0 || t >= len(s.Teams) {
			return fmt.Errorf("nic %s: team %d does not exist", s.NICs[i].Name, t)
		}
	}
	for t := range s.Teams {
		if s.Teams[t].NativeVLAN > MaxVID {
			return fmt.Errorf("team %s: native VLAN %d out of 1-%d", s.Teams[t].Name, s.Teams[t].NativeVLAN, MaxVID)
		}
		up := []int{}
		for _, n := range s.Teams[t].NICs {
			if n < 0 || n >= len(s.NICs) || s.NICs[n].Absent {
				return fmt.Errorf("team %s: nic %d does not exist", s.Teams[t].Name, n)
			}
			if s.NICs[n].Usable() {
				up = append(up, n)
			}
		}
		s.Teams[t].Up = up
		s.Teams[t].Designated = s.designated(t)
	}
	n := 0
	for _, vm := range s.VMs {
		n += len(vm.MACs)
	}
	s.vmByMAC = newMACTable(n)
	for i, vm := range s.VMs {
		if vm.Absent {
			continue
		}
		if vm.Team < 0 || vm.Team >= len(s.Teams) {
			return fmt.Errorf("vm %s: team %d does not exist", vm.Name, vm.Team)
		}
		for _, n := range []int{vm.Preferred, vm.Assigned} {
			if n >= len(s.NICs) || (n >= 0 && (s.NICs[n].Absent || s.NICs[n].Team != vm.Team)) {
				return fmt.Errorf("vm %s: nic %d is not in its team", vm.Name, n)
			}
		}
		s.VMs[i].guard = newIPGuard(vm.IPs)
		s.VMs[i].Slot = len(s.Teams[vm.Team].VMs)
		s.Teams[vm.Team].VMs = append(s.Teams[vm.Team].VMs, i)
		if err := vm.vlanError(); err != nil {
			return err
		}
		for _, m := range vm.MACs {
			if prev, ok := s.vmByMAC.get(m); ok {
				return fmt.Errorf("MAC %s belongs to both vm %s and vm %s", m, s.VMs[prev].Name, vm.Name)
			}
			s.vmByMAC.put(m, i)
		}
	}
	s.buildVLANs()
	return nil
}

// designated picks team t's designated receiver; Up must be derived.
func (s *Snapshot) designated(t int) int {
	team := &s.Teams[t]
	if team.Policy == PolicyExplicitFailover {
		if n := s.ExplicitFailover(t); n >= 0 {
			return n
		}
	}
	for _, n := range team.Up {
		if !s.NICs[n].Standby {
			return n
		}
	}
	if len(team.Up) > 0 {
		return team.Up[0]
	}
	for _, n := range team.NICs {
		if s.NICs[n].LinkUp && s.NICs[n].AdminUp {
			return n
		}
	}
	return -1
}

// VMByMAC finds the VM that owns a MAC.
func (s *Snapshot) VMByMAC(m MAC) (int, bool) { return s.vmByMAC.get(m) }

// macTable is an open-addressing hash from MAC to VM index: a lookup is a
// multiply, a shift and usually one probe, with no allocation.
type macTable struct {
	keys  []MAC
	vals  []int32
	shift uint
}

const emptyKey = ^MAC(0)

func newMACTable(n int) macTable {
	size, shift := 8, uint(61)
	for size < 2*n {
		size <<= 1
		shift--
	}
	t := macTable{keys: make([]MAC, size), vals: make([]int32, size), shift: shift}
	for i := range t.keys {
		t.keys[i] = emptyKey
	}
	return t
}

func (t *macTable) slot(m MAC) uint64 { return uint64(m) * 0x9E3779B97F4A7C15 >> t.shift }

func (t *macTable) put(m MAC, v int) {
	mask := uint64(len(t.keys) - 1)
	for i := t.slot(m); ; i = (i + 1) & mask {
		if t.keys[i] == emptyKey || t.keys[i] == m {
			t.keys[i], t.vals[i] = m, int32(v)
			return
		}
	}
}

func (t *macTable) get(m MAC) (int, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	mask := uint64(len(t.keys) - 1)
	for i := t.slot(m); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case m:
			return int(t.vals[i]), true
		case emptyKey:
			return 0, false
		}
	}
}
