package fastpath

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	macVM1  = MAC(0x020000000001)
	macVM2  = MAC(0x020000000002)
	macVM1b = MAC(0x020000000011)
	macPeer = MAC(0x02fe00000001)
)

// frame builds an untagged IPv4/UDP-looking frame of n bytes.
func frame(dst, src MAC, n int) []byte {
	b := make([]byte, n)
	if n >= 12 {
		dst.Put(b[0:6])
		src.Put(b[6:12])
	}
	if n >= 14 {
		binary.BigEndian.PutUint16(b[12:14], 0x0800)
	}
	return b
}

// twoByTwo is the demo topology: one team, two NICs, two VMs.
func twoByTwo(t testing.TB, up ...bool) *Snapshot {
	if len(up) == 0 {
		up = []bool{true, true}
	}
	s := &Snapshot{
		MaxFrame: 1500 + EthHdrLen,
		VMs: []VM{
			{Name: "vm1", Team: 0, MACs: []MAC{macVM1, macVM1b}, Connected: true, Preferred: -1, Assigned: -1},
			{Name: "vm2", Team: 0, MACs: []MAC{macVM2}, Connected: true, Preferred: -1, Assigned: -1},
		},
		NICs: []NIC{
			{Name: "nic1", Team: 0, LinkUp: up[0], AdminUp: true, SpeedBps: 10e9},
			{Name: "nic2", Team: 0, LinkUp: up[1], AdminUp: true, SpeedBps: 10e9},
		},
		Teams: []Team{{Name: "team0", NICs: []int{0, 1}}},
	}
	require.NoError(t, s.Build())
	return s
}
