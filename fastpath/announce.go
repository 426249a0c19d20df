package fastpath

import "encoding/binary"

// RARPLen is the length of a RARP frame without CRC, padded to the
// Ethernet minimum.
const RARPLen = 60

const etherTypeRARP = 0x8035

// PutRARP writes into b (at least RARPLen bytes) the reverse-ARP request a
// VM's MAC is announced with after it moved to another NIC: a broadcast
// from the MAC itself, so every switch on the way learns the MAC's new
// port. It is what QEMU sends after a live migration, for the same reason.
// It returns the frame's length.
func PutRARP(b []byte, mac MAC) int { return PutRARPIn(b, mac, NoVLAN) }

// PutRARPIn is PutRARP in VLAN vid: tagged with it, unless NoVLAN. A
// switch learns MACs per VLAN, so a VM in several is announced in each.
// b must hold RARPLen + 4 bytes for a tagged one.
func PutRARPIn(b []byte, mac MAC, vid uint16) int {
	n := RARPLen
	if vid != NoVLAN {
		n += 4
	}
	b = b[:n]
	clear(b)
	Broadcast.Put(b[0:6])
	mac.Put(b[6:12])
	if vid != NoVLAN {
		binary.BigEndian.PutUint16(b[12:14], etherTypeVLAN)
		binary.BigEndian.PutUint16(b[14:16], vid)
		b = b[4:]
	}
	binary.BigEndian.PutUint16(b[12:14], etherTypeRARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol: IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], 3) // reverse request
	mac.Put(a[8:14])                      // sender hardware address
	mac.Put(a[18:24])                     // target hardware address
	return n
}

// HomeNIC is where the physical network should learn mac (one of vm's
// MACs) to be: the NIC its frames leave by when that does not depend on the
// packet, or, for policies that spread one MAC over several NICs, the
// team's first available NIC. -1 when the team has none.
func (s *Snapshot) HomeNIC(vm int, mac MAC) int {
	v := &s.VMs[vm]
	t := &s.Teams[v.Team]
	if len(t.Up) == 0 {
		return -1
	}
	if v.Priority <= 0 {
		if n, fixed := s.BurstNIC(vm, nil); fixed {
			return n
		}
		if t.Policy == PolicySrcMACHash {
			return SrcMACHash(mac, t.Up)
		}
	}
	return t.Up[0]
}

// Announcement is one MAC to announce on one NIC, in VLAN VID (tagged;
// NoVLAN: untagged).
type Announcement struct {
	NIC int
	MAC MAC
	VID uint16
}

// Moves lists the MACs whose home NIC differs between old and s and that
// have a home in s, appended to dst. Both snapshots describe the same VMs.
func (s *Snapshot) Moves(old *Snapshot, dst []Announcement) []Announcement {
	for v := range s.VMs {
		if v >= len(old.VMs) {
			break
		}
		vm := &s.VMs[v]
		team := &s.Teams[vm.Team]
		for _, mac := range vm.MACs {
			now := s.HomeNIC(v, mac)
			if now < 0 || now == old.HomeNIC(v, mac) {
				continue
			}
			if !team.VLANAware {
				dst = append(dst, Announcement{NIC: now, MAC: mac})
				continue
			}
			var buf [8]uint16
			for _, id := range vm.appendVLANs(buf[:0]) {
				if !team.NICTagged(id) {
					id = NoVLAN
				}
				dst = append(dst, Announcement{NIC: now, MAC: mac, VID: id})
			}
		}
	}
	return dst
}
