package fastpath

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tagFrame is frame with an 802.1Q tag (tci) after the MACs: n bytes in
// all.
func tagFrame(dst, src MAC, tci uint16, n int) []byte {
	b := frame(dst, src, n)
	binary.BigEndian.PutUint16(b[12:14], etherTypeVLAN)
	binary.BigEndian.PutUint16(b[14:16], tci)
	binary.BigEndian.PutUint16(b[16:18], 0x0800)
	return b
}

// vlanTeam is twoByTwo with vm1 on access VLAN 10 and vm2 a trunk of
// VLANs 10 and 20 with no native VLAN.
func vlanTeam(t testing.TB, edit ...func(*Snapshot)) *Snapshot {
	s := twoByTwo(t)
	s.VMs[0].VLAN = 10
	s.VMs[1].Trunk = []uint16{10, 20}
	for _, e := range edit {
		e(s)
	}
	require.NoError(t, s.Build())
	return s
}

func TestVLANAwarenessAndDomains(t *testing.T) {
	assert.False(t, twoByTwo(t).Teams[0].VLANAware, "a team with no VLAN keys passes frames as they are")
	s := vlanTeam(t)
	assert.True(t, s.Teams[0].VLANAware)
	assert.Equal(t, []Domain{{VID: 10, VMs: []int{0, 1}}, {VID: 20, VMs: []int{1}}}, s.Teams[0].Domains)
	assert.True(t, s.VMs[1].InVLAN(20))
	assert.False(t, s.VMs[0].InVLAN(20))
	assert.False(t, s.VMs[0].InVLAN(NoVLAN))

	s = twoByTwo(t)
	s.Teams[0].NativeVLAN = 30
	require.NoError(t, s.Build())
	assert.True(t, s.Teams[0].VLANAware, "a native VLAN alone makes the team VLAN-aware")
	assert.Equal(t, []Domain{{VID: NoVLAN, VMs: []int{0, 1}}}, s.Teams[0].Domains, "VMs with no keys are the untagged domain")

	for _, bad := range []func(*Snapshot){
		func(s *Snapshot) { s.VMs[0].VLAN = 4095 },
		func(s *Snapshot) { s.VMs[0].Trunk = []uint16{5} },
		func(s *Snapshot) { s.VMs[1].Trunk = []uint16{0} },
		func(s *Snapshot) { s.VMs[0].VLAN, s.VMs[0].NativeVLAN = 0, 7 },
		func(s *Snapshot) { s.Teams[0].NativeVLAN = 5000 },
	} {
		s := twoByTwo(t)
		s.VMs[0].VLAN = 10
		bad(s)
		assert.Error(t, s.Build())
	}
}

func TestAVMsFramesBelongToTheVLANsItMayUse(t *testing.T) {
	s := vlanTeam(t, func(s *Snapshot) {
		s.VMs = append(s.VMs, VM{Name: "vm3", Team: 0, MACs: []MAC{0x020000000003}, Connected: true, Preferred: -1, Assigned: -1})
	})
	type want struct {
		vid    uint16
		tagged bool
		tci    uint16
		drop   DropReason
	}
	for _, c := range []struct {
		name  string
		vm    int
		frame []byte
		want  want
	}{
		{"access, untagged", 0, frame(macPeer, macVM1, 64), want{10, false, 0, NotDropped}},
		{"access, tagged with its VLAN", 0, tagFrame(macPeer, macVM1, 0x200a, 64), want{10, true, 0x200a, NotDropped}},
		{"access, priority-tagged: its VLAN, PCP kept", 0, tagFrame(macPeer, macVM1, 0xa000, 64), want{10, true, 0xa00a, NotDropped}},
		{"access, another VLAN", 0, tagFrame(macPeer, macVM1, 20, 64), want{0, false, 0, DropVLAN}},
		{"trunk, a listed VLAN", 1, tagFrame(macPeer, macVM2, 0x6014, 64), want{20, true, 0x6014, NotDropped}},
		{"trunk, an unlisted VLAN", 1, tagFrame(macPeer, macVM2, 30, 64), want{0, false, 0, DropVLAN}},
		{"trunk with no native VLAN, untagged", 1, frame(macPeer, macVM2, 64), want{0, false, 0, DropVLAN}},
		{"trunk, a tag cut short", 1, tagFrame(macPeer, macVM2, 20, 64)[:16], want{0, false, 0, DropVLAN}},
		{"no VLAN keys, untagged: the untagged domain", 2, frame(macPeer, 0x020000000003, 64), want{NoVLAN, false, 0, NotDropped}},
		{"no VLAN keys, tagged", 2, tagFrame(macPeer, 0x020000000003, 10, 64), want{0, false, 0, DropVLAN}},
	} {
		vid, tagged, tci, drop := s.VMFrameVLAN(c.vm, c.frame)
		assert.Equal(t, c.want, want{vid, tagged, tci, drop}, c.name)
	}
	s = vlanTeam(t, func(s *Snapshot) { s.VMs[1].NativeVLAN = 30 })
	vid, tagged, _, drop := s.VMFrameVLAN(1, frame(macPeer, macVM2, 64))
	assert.Equal(t, []any{uint16(30), false, NotDropped}, []any{vid, tagged, drop}, "a trunk's untagged frames are its native VLAN's")
	assert.True(t, s.VMs[1].InVLAN(30))
	assert.False(t, s.VMs[1].VMTagged(30), "and reach it untagged")
	assert.True(t, s.VMs[1].VMTagged(20))
	assert.False(t, s.VMs[0].VMTagged(10), "an access VM's frames are untagged")
}

func TestNetworkFramesReachOnlyTheVMsOfTheirVLAN(t *testing.T) {
	s := vlanTeam(t)
	type got struct {
		vm    int
		flood []int
		vid   uint16
		drop  DropReason
	}
	for _, c := range []struct {
		name  string
		nic   int
		frame []byte
		want  got
	}{
		{"unicast to the access VM in its VLAN", 1, tagFrame(macVM1, macPeer, 10, 64), got{0, nil, 10, NotDropped}},
		{"to the access VM's MAC in another VLAN", 1, tagFrame(macVM1, macPeer, 20, 64), got{-1, nil, 0, DropUnknownUnicast}},
		{"to the trunk in its second VLAN", 0, tagFrame(macVM2, macPeer, 20, 64), got{1, nil, 20, NotDropped}},
		{"broadcast in VLAN 10: both", 0, tagFrame(Broadcast, macPeer, 10, 64), got{-1, []int{0, 1}, 10, NotDropped}},
		{"broadcast in VLAN 20: the trunk", 0, tagFrame(Broadcast, macPeer, 20, 64), got{-1, []int{1}, 20, NotDropped}},
		{"broadcast in a VLAN no VM is in", 0, tagFrame(Broadcast, macPeer, 30, 64), got{-1, nil, 0, DropVLAN}},
		{"untagged, no native VLAN, no VM untagged", 0, frame(Broadcast, macPeer, 64), got{-1, nil, 0, DropVLAN}},
		{"the second copy of a broadcast", 1, tagFrame(Broadcast, macPeer, 10, 64), got{-1, nil, 0, DropDuplicateGroup}},
		{"our own frame back", 0, tagFrame(Broadcast, macVM2, 20, 64), got{-1, nil, 0, DropLooped}},
	} {
		vm, dom, vid, _, _, drop := s.IngressVLAN(c.nic, c.frame, uint32(len(c.frame)))
		var flood []int
		if dom != nil {
			flood = dom.VMs
		}
		assert.Equal(t, c.want, got{vm, flood, vid, drop}, c.name)
	}
	s = vlanTeam(t, func(s *Snapshot) { s.Teams[0].NativeVLAN = 10 })
	vm, _, vid, tagged, _, drop := s.IngressVLAN(0, frame(macVM1, macPeer, 64), 64)
	assert.Equal(t, []any{0, uint16(10), false, NotDropped}, []any{vm, vid, tagged, drop}, "untagged frames are the native VLAN's")
	assert.False(t, s.Teams[0].NICTagged(10), "and leave untagged")
	assert.True(t, s.Teams[0].NICTagged(20))
}

func TestLocalSwitchingStaysInTheVLAN(t *testing.T) {
	s := vlanTeam(t)
	to, dom := s.LocalVLAN(0, 10, macVM2)
	assert.Equal(t, 1, to, "the trunk is in VLAN 10")
	assert.Nil(t, dom)
	to, _ = s.LocalVLAN(1, 20, macVM1)
	assert.Equal(t, -1, to, "vm1 is not in VLAN 20: for the network")
	_, dom = s.LocalVLAN(1, 20, Broadcast)
	assert.Equal(t, []int{1}, dom.VMs, "VLAN 20's flood list: the sender alone")
}

func TestAMovedMACIsAnnouncedInEachOfItsVLANs(t *testing.T) {
	old := vlanTeam(t, func(s *Snapshot) { s.Teams[0].NativeVLAN = 20 })
	s := vlanTeam(t, func(s *Snapshot) { s.Teams[0].NativeVLAN = 20; s.NICs[SrcMACHash(macVM2, []int{0, 1})].LinkUp = false })
	got := s.Moves(old, nil)
	to := 1 - SrcMACHash(macVM2, []int{0, 1})
	assert.Contains(t, got, Announcement{NIC: to, MAC: macVM2, VID: 10})
	assert.Contains(t, got, Announcement{NIC: to, MAC: macVM2, VID: NoVLAN}, "VLAN 20 is the team's native: untagged")

	b := make([]byte, RARPLen+4)
	n := PutRARPIn(b, macVM2, 10)
	assert.Equal(t, RARPLen+4, n)
	assert.Equal(t, []byte{0x81, 0x00, 0x00, 0x0a, 0x80, 0x35}, b[12:18])
	assert.Equal(t, macVM2, MACAt(b[6:12]))
	assert.Equal(t, RARPLen, PutRARPIn(b, macVM2, NoVLAN))
	assert.Equal(t, []byte{0x80, 0x35}, b[12:14])
}

func TestWorkerTagsUntagsAndCopiesByVLAN(t *testing.T) {
	s := vlanTeam(t)
	r := newRig(t, s, 64)
	// vm1 (access 10): a frame for the network leaves tagged 10; a
	// broadcast reaches vm2 (trunk: tagged) and a NIC (tagged) as one
	// copy, and the untagged original is freed.
	out := r.mbufs(frame(macPeer, macVM1, 64), frame(Broadcast, macVM1, 64), tagFrame(macPeer, macVM1, 20, 64))
	r.w.egress(s, 0, out)
	r.w.publish()
	nic := SrcMACHash(macVM1, s.Teams[0].Up)
	q := r.io.Tx(2 + nic)
	require.EqualValues(t, 2, q.Len())
	first, _ := q.Pop()
	assert.Equal(t, 68, len(first.Data()), "tag pushed into the headroom")
	assert.Equal(t, []byte{0x81, 0x00, 0x00, 0x0a, 0x08, 0x00}, first.Data()[12:18])
	assert.Equal(t, macPeer, MACAt(first.Data()[0:6]))
	assert.Equal(t, macVM1, MACAt(first.Data()[6:12]))
	bcast, _ := q.Pop()
	assert.Equal(t, []byte{0x81, 0x00, 0x00, 0x0a}, bcast.Data()[12:16])
	require.EqualValues(t, 1, r.io.Tx(1).Len())
	toVM2, _ := r.io.Tx(1).Pop()
	assert.Same(t, bcast, toVM2, "vm2 and the NIC share the tagged copy")
	assert.EqualValues(t, 2, bcast.Refcnt())
	assert.Equal(t, 2, r.io.PendingFree(), "the untagged original and the frame in VLAN 20")
	assert.EqualValues(t, 1, r.w.VMCounters(0)[Drop(DropVLAN)])
	assert.EqualValues(t, 1, r.w.VMCounters(0)[LocalOut])
	assert.EqualValues(t, 2, r.w.NICCounters(nic)[TxPackets])

	// From the network, VLAN 10: a unicast for vm1 loses its tag in place;
	// a broadcast reaches vm1 untagged (a copy) and vm2 tagged (as it came).
	s = vlanTeam(t)
	r = newRig(t, s, 64)
	in := r.mbufs(tagFrame(macVM1, macPeer, 0x200a, 64), tagFrame(Broadcast, macPeer, 10, 64), tagFrame(Broadcast, macPeer, 30, 64))
	r.w.ingress(s, 0, in)
	r.w.publish()
	require.EqualValues(t, 2, r.io.Tx(0).Len())
	uni, _ := r.io.Tx(0).Pop()
	assert.Same(t, in[0], uni)
	assert.Equal(t, 60, len(uni.Data()))
	assert.Equal(t, []byte{0x08, 0x00}, uni.Data()[12:14])
	assert.Equal(t, macVM1, MACAt(uni.Data()[0:6]))
	untagged, _ := r.io.Tx(0).Pop()
	assert.NotSame(t, in[1], untagged)
	assert.Equal(t, 60, len(untagged.Data()))
	tagged, _ := r.io.Tx(1).Pop()
	assert.Same(t, in[1], tagged)
	assert.EqualValues(t, 1, in[1].Refcnt())
	assert.EqualValues(t, 1, r.w.NICCounters(0)[Drop(DropVLAN)], "VLAN 30: no VM is in it")
}

// FuzzVLANClassification feeds any bytes to the VLAN decisions, from a
// VM of each kind and from the network: nothing panics, a frame is only
// ever placed in a VLAN its VM is in, and a network frame goes only to
// VMs of its VLAN.
func FuzzVLANClassification(f *testing.F) {
	f.Add(frame(macPeer, macVM1, 64))
	f.Add(tagFrame(Broadcast, macVM2, 0xa014, 64))
	f.Add(tagFrame(macVM1, macPeer, 10, 18))
	f.Add(tagFrame(macVM2, macPeer, 0, 64)[:17])
	f.Add([]byte{})
	s := vlanTeam(f, func(s *Snapshot) {
		s.VMs = append(s.VMs, VM{Name: "vm3", Team: 0, MACs: []MAC{0x020000000003}, Trunk: []uint16{20, 30}, NativeVLAN: 5,
			Connected: true, Preferred: -1, Assigned: -1})
		s.Teams[0].NativeVLAN = 30
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		for v := range s.VMs {
			if len(b) < EthHdrLen {
				break
			}
			vid, isTagged, tci, drop := s.VMFrameVLAN(v, b)
			if drop == NotDropped {
				require.True(t, s.VMs[v].InVLAN(vid), "vm %d put in VLAN %d", v, vid)
				require.Equal(t, tagged(b), isTagged)
				if isTagged {
					require.Equal(t, vid, vidOf(tci))
				}
			}
		}
		for nic := range s.NICs {
			vm, dom, vid, _, _, drop := s.IngressVLAN(nic, b, uint32(len(b)))
			if drop != NotDropped {
				continue
			}
			if vm >= 0 {
				require.True(t, s.VMs[vm].InVLAN(vid))
			}
			if dom != nil {
				require.Equal(t, vid, dom.VID)
				for _, u := range dom.VMs {
					require.True(t, s.VMs[u].InVLAN(vid))
				}
			}
		}
	})
}
