package main

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/fastpath"
)

const trunkMAC = "02:00:00:00:00:03"

// The upstream switch here is a Linux bridge, but this machine's kernel
// (6.18.44-fc) is built without CONFIG_BRIDGE_VLAN_FILTERING and
// CONFIG_VLAN_8021Q: the bridge cannot filter by VLAN, and there are no
// VLAN sub-interfaces for gateways. It forwards tagged frames as they
// are, so the test reads each frame's VLAN on the wire (the captures
// take it from the kernel's auxiliary data) and injects tagged frames.

// taggedFrame is lab.Frame with an 802.1Q tag of VLAN vid: size bytes.
func taggedFrame(dst, src string, vid uint16, size int) []byte {
	f := lab.Frame(dst, src, size)
	copy(f[16:], f[12:size-4])
	binary.BigEndian.PutUint16(f[12:14], 0x8100)
	binary.BigEndian.PutUint16(f[14:16], vid)
	return f
}

func TestVLANsAreSeparateDomainsAndAMovedMACIsAnnouncedInItsVLAN(t *testing.T) {
	l, d, taps, bridge := switchedLab(t, vmConf{name: "vm1", mac: polMAC1, keys: "vlan = 10"},
		vmConf{name: "vm2", mac: polMAC2, keys: "vlan = 20"}, vmConf{name: "vm3", mac: trunkMAC, keys: "trunk = [10, 20]"})
	const n, m = 300, 100
	// vm1 (access VLAN 10) sends to the network, vm2 (access VLAN 20)
	// broadcasts, vm3 (trunk) sends frames tagged 20.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1)+",rate=1000",
		"--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2)+",dst=ff:ff:ff:ff:ff:ff,rate=1000",
		"--vm", lab.VMArg("vm3", l.Sock("vm3"), trunkMAC)+",vlan=20,rate=1000",
		"--duration", "10m", "--hold", "--progress", "50ms")
	for _, vm := range []string{"vm1", "vm2", "vm3"} {
		d.WaitVMConnected(vm)
	}
	on := func(mac string, vid int) int { return taps[0].FromSrcIn(mac, vid) + taps[1].FromSrcIn(mac, vid) }
	for _, c := range []struct {
		mac string
		vid int
	}{{polMAC1, 10}, {polMAC2, 20}, {trunkMAC, 20}} {
		require.GreaterOrEqual(t, lab.WaitFromSrcOn(taps[:], c.mac, n, 20*time.Second), n)
		assert.Equal(t, taps[0].FromSrc(c.mac)+taps[1].FromSrc(c.mac), on(c.mac, c.vid), "every frame from %s left tagged %d", c.mac, c.vid)
	}
	prog := g.WaitProgress("vm3 got vm2's broadcasts on the host", func(e lab.Event) bool { return lab.VM(e, "vm3")["rx_broadcast"] > 0 })
	assert.Zero(t, lab.VM(prog, "vm1")["rx_broadcast"], "VLAN 20's broadcasts do not reach VLAN 10")

	// m broadcasts in VLAN 10 and m in VLAN 30 from the switch, which
	// sends each out of both ports: VLAN 10's reach vm1 (untagged) and
	// vm3 once each, not vm2; VLAN 30 has no VM.
	var frames [][]byte
	for i := 0; i < m; i++ {
		frames = append(frames, taggedFrame("ff:ff:ff:ff:ff:ff", peer, 10, 64), taggedFrame("ff:ff:ff:ff:ff:ff", peer, 30, 64))
	}
	bridge.Inject(frames...)
	g.WaitProgress("VLAN 10's broadcasts delivered", func(e lab.Event) bool { return lab.VM(e, "vm1")["rx_broadcast"] >= m })
	st := d.WaitStatus("vm3's too, and VLAN 30's dropped", func(e lab.Event) bool {
		return e.Num("vms.vm3.in_pkts")-e.Num("vms.vm3.local_in_pkts") >= m &&
			e.Num("nics.nic1.drops.vlan")+e.Num("nics.nic2.drops.vlan") >= m
	})

	// vm1's NIC pulled: vm1's MAC is announced on the other NIC tagged
	// with VLAN 10, the bridge's table moves it there, and vm1's frames
	// go on, in VLAN 10.
	home := fastpath.SrcMACHash(mustMAC(t, polMAC1), []int{0, 1})
	other := taps[1-home]
	mark := d.Mark()
	l.InNS("ip", "link", "set", fmt.Sprintf("dtap%d", home), "down")
	d.WaitEventSince(mark, "vm1's NIC down", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == fmt.Sprintf("nic%d", home+1) && e.Str("to") == "down"
	})
	require.Positive(t, other.WaitRARPs(polMAC1, 1, 10*time.Second))
	assert.Equal(t, other.RARPs(polMAC1), other.RARPsIn(polMAC1, 10), "announced in VLAN 10")
	want := fmt.Sprintf("%s dev dtap%d master br0", polMAC1, 1-home)
	assert.Contains(t, l.NSOutput("bridge", "fdb", "show", "br", "br0"), want, "the bridge's table moved vm1's MAC")
	got := other.FromSrcIn(polMAC1, 10)
	require.GreaterOrEqual(t, other.WaitFromSrc(polMAC1, other.FromSrc(polMAC1)+200, 20*time.Second), 200)
	assert.Greater(t, other.FromSrcIn(polMAC1, 10), got, "vm1's frames go on in VLAN 10")
	rep := g.Finish(true)

	assert.EqualValues(t, m, lab.VM(rep, "vm1")["rx_broadcast"], "vm1: each of VLAN 10's broadcasts once")
	assert.Zero(t, lab.VM(rep, "vm2")["rx_broadcast"], "vm2: none of VLAN 10's, nor its own")
	assert.EqualValues(t, m, st.Num("vms.vm3.in_pkts")-st.Num("vms.vm3.local_in_pkts"), "vm3: each of VLAN 10's broadcasts once")
	for _, vm := range []string{"vm1", "vm2", "vm3"} {
		assert.Zero(t, st.Num("vms."+vm+".drops.vlan"), "%s sent only in its VLANs", vm)
	}
	assert.True(t, strings.Contains(mustCtl(t, l, "status"), "trunk 10,20"), "uplinkctl shows the trunk")
	d.Stop()
}

func mustMAC(t *testing.T, s string) fastpath.MAC {
	m, err := fastpath.ParseMAC(s)
	require.NoError(t, err)
	return m
}
