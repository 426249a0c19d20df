package plane

import "testing"

func TestThePoolsDataRoomHoldsTheLongestFrameTheMTUAdmitsInOneSegment(t *testing.T) {
	for _, c := range []struct {
		mtu  int
		want uint16
	}{
		{1500, 2176},            // DPDK's default room already holds 1500 + 14 + 4 + 4
		{9000, 128 + 9000 + 22}, // headroom, Ethernet header, VLAN tag, 4 bytes over
		{9600, 128 + 9600 + 22},
	} {
		if got := PoolDataRoom(c.mtu); got != c.want {
			t.Errorf("PoolDataRoom(%d) = %d, want %d", c.mtu, got, c.want)
		}
	}
}
