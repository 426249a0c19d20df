package fastpath

import (
	"encoding/binary"
	"fmt"
)

// VLANs (802.1Q). A team is VLAN-aware when one of its VMs has a VLAN or a
// trunk, or the team has a native VLAN; a team that is not passes frames
// as they are, tags and all, as uplinkd always did. In a VLAN-aware team
// every frame belongs to one VLAN, its L2 domain (team and VLAN): its own
// broadcast domain, with its own MAC table. VLAN 0 stands for the
// untagged domain: the VMs with neither key, and untagged network frames
// when the team has no native VLAN. A frame keeps its PCP bits wherever
// it carries a tag; one that loses its tag (to an access VM) loses them.
// QinQ (802.1ad, stacked tags) is out of scope: a frame's first tag is
// the only one looked at, and an 0x88a8 outer tag is not a VLAN tag here.

// NoVLAN is the untagged domain.
const NoVLAN = 0

// MaxVID is the highest VLAN ID a VM or a team may use (4095 is reserved).
const MaxVID = 4094

// vlanSet is a set of VLAN IDs.
type vlanSet [64]uint64

func (s *vlanSet) add(vid uint16)      { s[vid>>6] |= 1 << (vid & 63) }
func (s *vlanSet) has(vid uint16) bool { return s[vid>>6]&(1<<(vid&63)) != 0 }
func (s *vlanSet) empty() bool         { return *s == vlanSet{} }
func vidOf(tci uint16) uint16          { return tci & 0x0fff }
func withVID(tci, vid uint16) uint16   { return tci&0xf000 | vid }
func (v *VM) vlanAware() bool          { return v.VLAN != 0 || len(v.Trunk) > 0 }
func tagged(frame []byte) bool         { return binary.BigEndian.Uint16(frame[12:14]) == etherTypeVLAN }
func tciAt(frame []byte) uint16        { return binary.BigEndian.Uint16(frame[14:16]) }
func putTCI(frame []byte, tci uint16)  { binary.BigEndian.PutUint16(frame[14:16], tci) }

// Domain is one VLAN of a VLAN-aware team: the VMs that may send and
// receive in it, the flood list of its group frames.
type Domain struct {
	VID uint16
	VMs []int
}

// domain finds the team's domain of a VLAN, nil when no VM is in it.
func (t *Team) domain(vid uint16) *Domain {
	for i := range t.Domains {
		if t.Domains[i].VID == vid {
			return &t.Domains[i]
		}
	}
	return nil
}

// appendVLANs appends to dst the VLANs VM v is in: its access VLAN, or
// its trunk and native VLAN, or the untagged domain. The worker passes a
// buffer on its stack (announcements after a failover): no allocation.
func (v *VM) appendVLANs(dst []uint16) []uint16 {
	switch {
	case v.VLAN != 0:
		return append(dst, v.VLAN)
	case len(v.Trunk) > 0:
		dst = append(dst, v.Trunk...)
		if v.NativeVLAN != 0 && !v.trunks(v.NativeVLAN) {
			dst = append(dst, v.NativeVLAN)
		}
		return dst
	}
	return append(dst, NoVLAN)
}

// vlanError says why the VM's VLAN keys make neither an access port nor
// a trunk (config validation names the key; this guards the tables).
func (v *VM) vlanError() error {
	if v.VLAN > MaxVID || v.NativeVLAN > MaxVID || (v.VLAN != 0 && (len(v.Trunk) > 0 || v.NativeVLAN != 0)) ||
		(v.NativeVLAN != 0 && len(v.Trunk) == 0) {
		return fmt.Errorf("vm %s: VLAN %d, trunk %v, native %d: not an access VLAN or a trunk", v.Name, v.VLAN, v.Trunk, v.NativeVLAN)
	}
	for _, id := range v.Trunk {
		if id == 0 || id > MaxVID {
			return fmt.Errorf("vm %s: trunk VLAN %d out of 1-%d", v.Name, id, MaxVID)
		}
	}
	return nil
}

func (v *VM) trunks(vid uint16) bool {
	for _, t := range v.Trunk {
		if t == vid {
			return true
		}
	}
	return false
}

// VMTagged says whether VM v takes and sends frames of VLAN vid tagged:
// only a trunk's VLANs but its native one are.
func (v *VM) VMTagged(vid uint16) bool {
	return vid != NoVLAN && v.VLAN == 0 && vid != v.NativeVLAN
}

// NICTagged says whether frames of VLAN vid cross team t's NICs tagged:
// all but the untagged domain's and the team's native VLAN's.
func (t *Team) NICTagged(vid uint16) bool { return vid != NoVLAN && vid != t.NativeVLAN }

// VMFrameVLAN classifies a frame VM v sent in a VLAN-aware team: the VLAN
// it belongs to, whether it carries a tag now, and its TCI (the priority
// bits of a tagged frame; 0 for an untagged one), or DropVLAN for a VLAN
// the VM may not use. A priority-tagged frame (VID 0) belongs to the VLAN
// an untagged one would, and its tag gets that VID.
func (s *Snapshot) VMFrameVLAN(v int, frame []byte) (vid uint16, isTagged bool, tci uint16, drop DropReason) {
	vm := &s.VMs[v]
	untaggedOK := vm.VLAN != 0 || len(vm.Trunk) == 0 || vm.NativeVLAN != 0
	untaggedVID := vm.VLAN
	if vm.VLAN == 0 {
		untaggedVID = vm.NativeVLAN // NoVLAN for a VM with no VLAN keys
	}
	if !tagged(frame) {
		if untaggedOK {
			return untaggedVID, false, 0, NotDropped
		}
		return 0, false, 0, DropVLAN
	}
	if len(frame) < EthHdrLen+4 {
		return 0, false, 0, DropVLAN
	}
	tci = tciAt(frame)
	switch id := vidOf(tci); {
	case id == 0 && untaggedOK && untaggedVID != NoVLAN:
		return untaggedVID, true, withVID(tci, untaggedVID), NotDropped
	case id != 0 && (id == vm.VLAN || id == vm.NativeVLAN || vm.trunks(id)):
		return id, true, tci, NotDropped
	}
	return 0, false, 0, DropVLAN
}

// NICFrameVLAN classifies a frame from the network in a VLAN-aware team:
// its VLAN, whether it carries a tag, and its TCI. Untagged and
// priority-tagged frames belong to the team's native VLAN (the untagged
// domain when it has none); a tag cut short is no tag.
func (s *Snapshot) NICFrameVLAN(team int, frame []byte) (vid uint16, isTagged bool, tci uint16) {
	if len(frame) < EthHdrLen+4 || !tagged(frame) {
		return s.Teams[team].NativeVLAN, false, 0
	}
	tci = tciAt(frame)
	if vidOf(tci) == 0 {
		return s.Teams[team].NativeVLAN, true, withVID(tci, s.Teams[team].NativeVLAN)
	}
	return vidOf(tci), true, tci
}

// InVLAN says whether the VM sends and receives in VLAN vid.
func (v *VM) InVLAN(vid uint16) bool {
	switch {
	case v.VLAN != 0:
		return vid == v.VLAN
	case v.vlans != nil:
		return v.vlans.has(vid)
	}
	return vid == NoVLAN
}

// buildVLANs derives each team's VLAN-awareness and domains and each
// trunk VM's set of VLANs.
func (s *Snapshot) buildVLANs() {
	for t := range s.Teams {
		s.Teams[t].VLANAware = s.Teams[t].NativeVLAN != 0
		s.Teams[t].Domains = s.Teams[t].Domains[:0]
	}
	for i := range s.VMs {
		vm := &s.VMs[i]
		vm.vlans = nil
		if vm.Absent {
			continue
		}
		if len(vm.Trunk) > 0 {
			vm.vlans = &vlanSet{}
			for _, id := range vm.appendVLANs(nil) {
				vm.vlans.add(id)
			}
		}
		s.Teams[vm.Team].VLANAware = s.Teams[vm.Team].VLANAware || vm.vlanAware()
	}
	for t := range s.Teams {
		team := &s.Teams[t]
		if !team.VLANAware {
			continue
		}
		for _, v := range team.VMs {
			for _, id := range s.VMs[v].appendVLANs(nil) {
				d := team.domain(id)
				if d == nil {
					team.Domains = append(team.Domains, Domain{VID: id})
					d = &team.Domains[len(team.Domains)-1]
				}
				d.VMs = append(d.VMs, v)
			}
		}
	}
}

// IngressVLAN decides a frame NIC nic received in a VLAN-aware team, as
// Ingress does in one that is not: the VM it goes to (vm >= 0), or the
// domain to flood (a group frame on the designated receiver), or why it
// is dropped. A frame of a VLAN no VM of the team is in is dropped as
// vlan; a unicast frame to a MAC not in its VLAN is unknown there.
func (s *Snapshot) IngressVLAN(nic int, frame []byte, pktLen uint32) (vm int, flood *Domain, vid uint16, isTagged bool, tci uint16, drop DropReason) {
	if drop := s.vetIngress(frame, pktLen); drop != NotDropped {
		return -1, nil, 0, false, 0, drop
	}
	team := s.NICs[nic].Team
	vid, isTagged, tci = s.NICFrameVLAN(team, frame)
	t := &s.Teams[team]
	if dst := MACAt(frame[0:6]); dst.IsGroup() {
		if t.Designated != nic {
			return -1, nil, 0, false, 0, DropDuplicateGroup
		}
		if d := t.domain(vid); d != nil {
			return -1, d, vid, isTagged, tci, NotDropped
		}
		return -1, nil, 0, false, 0, DropVLAN
	} else if v, ok := s.vmByMAC.get(dst); ok && s.VMs[v].Team == team && s.VMs[v].InVLAN(vid) {
		return v, nil, vid, isTagged, tci, NotDropped
	}
	if t.domain(vid) == nil {
		return -1, nil, 0, false, 0, DropVLAN
	}
	return -1, nil, 0, false, 0, DropUnknownUnicast
}

// LocalVLAN is Local within VLAN vid of a VLAN-aware team: the local VM a
// frame of VM vm to dst goes to, or the domain a group frame floods.
func (s *Snapshot) LocalVLAN(vm int, vid uint16, dst MAC) (to int, flood *Domain) {
	if dst.IsGroup() {
		return -1, s.Teams[s.VMs[vm].Team].domain(vid)
	}
	u, ok := s.vmByMAC.get(dst)
	if !ok || u == vm || s.VMs[u].Team != s.VMs[vm].Team || !s.VMs[u].InVLAN(vid) {
		return -1, nil
	}
	return u, nil
}
