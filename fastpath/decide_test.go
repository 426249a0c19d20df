package fastpath

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMACRoundTrip(t *testing.T) {
	m, err := ParseMAC("02:00:00:00:00:0a")
	require.NoError(t, err)
	assert.Equal(t, MAC(0x02000000000a), m)
	assert.Equal(t, "02:00:00:00:00:0a", m.String())
	assert.True(t, Broadcast.IsGroup())
	assert.True(t, MAC(0x01005e000001).IsGroup())
	assert.False(t, m.IsGroup())
	_, err = ParseMAC("02:00:00:00:00:00:00:01")
	assert.Error(t, err)
}

func TestEgressDropsRuntOversizeSpoofed(t *testing.T) {
	s := twoByTwo(t)
	cases := []struct {
		name  string
		frame []byte
		len   uint32
		want  DropReason
	}{
		{"runt", frame(macPeer, macVM1, 13), 13, DropRunt},
		{"empty", nil, 0, DropRunt},
		{"oversize", frame(macPeer, macVM1, 1515), 1515, DropOversize},
		{"oversize in later segments", frame(macPeer, macVM1, 64), 1600, DropOversize},
		{"spoofed", frame(macPeer, macVM2, 64), 64, DropSpoofed},
		{"largest", frame(macPeer, macVM1, 1514), 1514, NotDropped},
		{"second own MAC", frame(macPeer, macVM1b, 60), 60, NotDropped},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nic, drop := s.Egress(0, c.frame, c.len)
			assert.Equal(t, c.want, drop)
			if c.want == NotDropped {
				assert.Contains(t, []int{0, 1}, nic)
			} else {
				assert.Equal(t, -1, nic)
			}
		})
	}
}

func TestEgressAllowsOneVLANTagOverMTU(t *testing.T) {
	s := twoByTwo(t)
	f := frame(macPeer, macVM1, 1518)
	binary.BigEndian.PutUint16(f[12:14], 0x8100)
	_, drop := s.Egress(0, f, 1518)
	assert.Equal(t, NotDropped, drop)
	_, drop = s.Egress(0, f, 1519)
	assert.Equal(t, DropOversize, drop)
}

func TestSrcMACHashIsStableAndUsesOnlyUpNICs(t *testing.T) {
	both := twoByTwo(t)
	onlySecond := twoByTwo(t, false, true)
	seen := map[int]int{}
	for i := 0; i < 256; i++ {
		src := MAC(0x020000000100 + i)
		n1 := SrcMACHash(src, both.Teams[0].Up)
		assert.Equal(t, n1, SrcMACHash(src, both.Teams[0].Up), "same MAC, same NIC")
		seen[n1]++
		assert.Equal(t, 1, SrcMACHash(src, onlySecond.Teams[0].Up), "only NIC 2 is up")
	}
	// 256 MACs spread over both NICs, neither taking almost all.
	assert.Greater(t, seen[0], 64)
	assert.Greater(t, seen[1], 64)
}

func TestIngressByDestinationMAC(t *testing.T) {
	s := twoByTwo(t)
	cases := []struct {
		name  string
		frame []byte
		vm    int
		flood bool
		drop  DropReason
	}{
		{"to vm1", frame(macVM1, macPeer, 64), 0, false, NotDropped},
		{"to vm1's second MAC", frame(macVM1b, macPeer, 64), 0, false, NotDropped},
		{"to vm2", frame(macVM2, macPeer, 64), 1, false, NotDropped},
		{"broadcast", frame(Broadcast, macPeer, 64), -1, true, NotDropped},
		{"multicast", frame(0x01005e000001, macPeer, 64), -1, true, NotDropped},
		{"unknown unicast", frame(0x020000009999, macPeer, 64), -1, false, DropUnknownUnicast},
		{"looped back from the switch", frame(Broadcast, macVM2, 64), -1, false, DropLooped},
		{"runt", frame(macVM1, macPeer, 10), -1, false, DropRunt},
		{"oversize", frame(macVM1, macPeer, 1600), -1, false, DropOversize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vm, flood, drop := s.Ingress(0, c.frame, uint32(len(c.frame)))
			assert.Equal(t, c.drop, drop)
			assert.Equal(t, c.flood, flood)
			assert.Equal(t, c.vm, vm)
		})
	}
}

func TestOnlyTheDesignatedReceiversGroupFramesAreDelivered(t *testing.T) {
	bcast := frame(Broadcast, macPeer, 64)
	group := func(s *Snapshot, nic int) DropReason {
		_, _, drop := s.Ingress(nic, bcast, 64)
		return drop
	}
	s := twoByTwo(t)
	assert.Equal(t, 0, s.Teams[0].Designated, "the first usable NIC")
	assert.Equal(t, NotDropped, group(s, 0))
	assert.Equal(t, DropDuplicateGroup, group(s, 1), "the switch's second copy")
	vm, _, drop := s.Ingress(1, frame(macVM2, macPeer, 64), 64)
	assert.Equal(t, NotDropped, drop, "unicast arrives by any NIC")
	assert.Equal(t, 1, vm)
	_, _, drop = s.Ingress(1, frame(Broadcast, macVM1, 64), 64)
	assert.Equal(t, DropLooped, drop, "our own frame back stays looped")

	// A failover moves the designation.
	s = twoByTwo(t, false, true)
	assert.Equal(t, 1, s.Teams[0].Designated)
	assert.Equal(t, NotDropped, group(s, 1))

	// A NIC back on standby (failback off) is passed over while another
	// can receive.
	s = twoByTwo(t)
	s.NICs[0].Standby = true
	require.NoError(t, s.Build())
	assert.Equal(t, 1, s.Teams[0].Designated)

	// explicit-failover: the NIC that carries the team's traffic.
	s = twoByTwo(t)
	s.Teams[0].Policy, s.Teams[0].Active, s.Teams[0].Standby = PolicyExplicitFailover, []int{1}, []int{0}
	require.NoError(t, s.Build())
	assert.Equal(t, 1, s.Teams[0].Designated)

	// No usable NIC: one whose link is up still hears the network (its
	// beacons were lost, say); none at all: nothing is delivered.
	s = twoByTwo(t)
	s.NICs[0].Failed = true
	s.NICs[1].Failed = true
	require.NoError(t, s.Build())
	assert.Equal(t, 0, s.Teams[0].Designated)
	s = twoByTwo(t, false, false)
	assert.Equal(t, -1, s.Teams[0].Designated)
	assert.Equal(t, DropDuplicateGroup, group(s, 0))
}

func TestLocalSwitchingDecisions(t *testing.T) {
	s := twoByTwo(t)
	for _, c := range []struct {
		name  string
		from  int
		dst   MAC
		to    int
		flood bool
	}{
		{"to another local VM", 0, macVM2, 1, false},
		{"to its second MAC", 1, macVM1b, 0, false},
		{"broadcast", 0, Broadcast, -1, true},
		{"multicast", 1, 0x333300000001, -1, true},
		{"to the network", 0, macPeer, -1, false},
		{"to itself: for the network, as a switch would drop it", 0, macVM1, -1, false},
	} {
		to, flood := s.Local(c.from, c.dst)
		assert.Equal(t, c.to, to, c.name)
		assert.Equal(t, c.flood, flood, c.name)
	}
	// A VM of another team is not local.
	s.Teams = append(s.Teams, Team{Name: "team1"})
	s.VMs[1].Team = 1
	require.NoError(t, s.Build())
	to, _ := s.Local(0, macVM2)
	assert.Equal(t, -1, to)
}

func TestIngressUnicastToAnotherTeamIsUnknown(t *testing.T) {
	s := twoByTwo(t)
	s.Teams = append(s.Teams, Team{Name: "team1"})
	s.VMs[1].Team = 1
	require.NoError(t, s.Build())
	_, _, drop := s.Ingress(0, frame(macVM2, macPeer, 64), 64)
	assert.Equal(t, DropUnknownUnicast, drop)
}

func TestBuildRejectsDuplicateMACsAndBadReferences(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[1].MACs = []MAC{macVM1}
	assert.ErrorContains(t, s.Build(), "belongs to both vm vm1 and vm vm2")

	s = twoByTwo(t)
	s.NICs[0].Team = 3
	assert.ErrorContains(t, s.Build(), "nic nic1: team 3 does not exist")
}

func TestMACTableFindsEveryKey(t *testing.T) {
	tab := newMACTable(1000)
	for i := 0; i < 1000; i++ {
		tab.put(MAC(0x020000000000+i*7919), i)
	}
	for i := 0; i < 1000; i++ {
		v, ok := tab.get(MAC(0x020000000000 + i*7919))
		require.True(t, ok)
		require.Equal(t, i, v)
	}
	_, ok := tab.get(0x02ffffffffff)
	assert.False(t, ok)
	empty := macTable{}
	_, ok = empty.get(1)
	assert.False(t, ok)
}
