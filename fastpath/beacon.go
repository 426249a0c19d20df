package fastpath

import "encoding/binary"

// Beacons are how team members check the path between them, beyond what
// a link light shows: every NIC sends one at an interval, and a NIC that
// hears none from any other member of its team for a few intervals is
// failed (a dead upstream port, a broken switch). The frame goes to a
// locally administered multicast address, so switches flood it to the
// team's other ports, with an IEEE local-experimental ethertype.

// BeaconMAC is where beacons are sent.
const BeaconMAC = MAC(0x030075706c6b)

// EtherTypeBeacon is IEEE 802 local experimental ethertype 1.
const EtherTypeBeacon = 0x88B5

const (
	beaconMagic = 0x55504c4b42434e31 // "UPLKBCN1"
	// BeaconLen is a beacon's length without CRC (the Ethernet minimum).
	BeaconLen = 60
)

// PutBeacon writes into b (at least BeaconLen bytes) NIC nic's beacon for
// team, sent from src, and returns its length.
func PutBeacon(b []byte, src MAC, team, nic int, seq uint32) int {
	b = b[:BeaconLen]
	clear(b)
	BeaconMAC.Put(b[0:6])
	src.Put(b[6:12])
	binary.BigEndian.PutUint16(b[12:14], EtherTypeBeacon)
	binary.BigEndian.PutUint64(b[14:22], beaconMagic)
	binary.BigEndian.PutUint16(b[22:24], uint16(team))
	binary.BigEndian.PutUint16(b[24:26], uint16(nic))
	binary.BigEndian.PutUint32(b[26:30], seq)
	return BeaconLen
}

// IsBeaconType says whether a frame carries the beacon ethertype: the
// cheap test the ingress path makes on every frame.
func IsBeaconType(frame []byte) bool {
	return len(frame) >= EthHdrLen && frame[12] == 0x88 && frame[13] == 0xB5
}

// ParseBeacon reads a beacon's team and sending NIC; ok is false for any
// other frame.
func ParseBeacon(frame []byte) (team, nic int, ok bool) {
	if len(frame) < 30 || !IsBeaconType(frame) || MACAt(frame[0:6]) != BeaconMAC ||
		binary.BigEndian.Uint64(frame[14:22]) != beaconMagic {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint16(frame[22:24])), int(binary.BigEndian.Uint16(frame[24:26])), true
}
