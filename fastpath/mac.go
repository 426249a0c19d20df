// Package fastpath is uplinkd's per-packet logic: classify a frame, decide
// where it goes, count it, queue it. Decisions are pure functions over a
// frame's bytes and an immutable Snapshot of the tables that ctrl publishes;
// the Worker glues them to burst I/O. Nothing here allocates, locks or
// blocks per packet.
package fastpath

import (
	"encoding/binary"
	"fmt"
	"net"
)

// MAC is a 48-bit Ethernet address in the low bits of a uint64, so that
// comparing and hashing it is one integer operation.
type MAC uint64

// Broadcast is ff:ff:ff:ff:ff:ff.
const Broadcast MAC = 0xffffffffffff

// MACAt reads the address at b[0:6].
func MACAt(b []byte) MAC {
	_ = b[5]
	return MAC(binary.BigEndian.Uint32(b[0:4]))<<16 | MAC(binary.BigEndian.Uint16(b[4:6]))
}

// ParseMAC parses "02:00:00:00:00:01".
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return 0, err
	}
	if len(hw) != 6 {
		return 0, fmt.Errorf("%q is not a 48-bit MAC address", s)
	}
	return MACAt(hw), nil
}

// IsGroup is true for multicast and broadcast addresses (I/G bit set).
func (m MAC) IsGroup() bool { return m>>40&1 == 1 }

// Put writes the address into b[0:6].
func (m MAC) Put(b []byte) {
	binary.BigEndian.PutUint32(b[0:4], uint32(m>>16))
	binary.BigEndian.PutUint16(b[4:6], uint16(m))
}

func (m MAC) String() string {
	var b [6]byte
	m.Put(b[:])
	return net.HardwareAddr(b[:]).String()
}
