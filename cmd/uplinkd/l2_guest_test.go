package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

const (
	otherVLANMAC = "02:00:00:00:00:04"
	spooferMAC   = "02:00:00:00:00:05"
)

// Real guests on one host: A (10.0.0.1) and B (10.0.0.2) on VLAN 10, C
// (10.0.0.3) on VLAN 20, all finding each other by ARP and each allowed
// to send from its own address only. A's pings reach B and come back
// without crossing a NIC; C, on another VLAN, gets no answer from B; D, on
// VLAN 10 but configured with another address than the one it uses, is
// dropped as spoofed_ip and gets none either.
func TestGuestsOnTheHostPingEachOtherInTheirVLANAndNotAcross(t *testing.T) {
	l, d, taps, _ := switchedLab(t, vmConf{name: "vm1", mac: polMAC1, keys: "vlan = 10\nips = [\"10.0.0.1\"]"},
		vmConf{name: "vm2", mac: polMAC2, keys: "vlan = 10\nips = [\"10.0.0.2\"]"},
		vmConf{name: "vm3", mac: otherVLANMAC, keys: "vlan = 20\nips = [\"10.0.0.3\"]"},
		vmConf{name: "vm4", mac: spooferMAC, keys: "vlan = 10\nips = [\"10.0.0.50\"]"})
	img := lab.BuildGuestImage(t)
	l.StartGuest(img, lab.GuestSpec{Name: "b", Socket: l.Sock("vm2"), MAC: polMAC2, Traffic: "none", Addr: "10.0.0.2/24"})
	d.WaitVMConnected("vm2")
	const n = 10
	a := l.StartGuest(img, lab.GuestSpec{Name: "a", Socket: l.Sock("vm1"), MAC: polMAC1, Traffic: "ping", PPS: 5, Dst: "none", PingCount: n})
	sum := a.WaitConsole("packets received", 90*time.Second)
	assert.Contains(t, sum, "10 packets transmitted, 10 packets received", "A's pings answered by B")
	for i, tap := range taps {
		assert.Zero(t, tap.UnicastFromSrc(polMAC1), "none of A's unicast frames crossed dtap%d", i)
		assert.Zero(t, tap.UnicastFromSrc(polMAC2), "none of B's unicast frames crossed dtap%d", i)
	}
	c := l.StartGuest(img, lab.GuestSpec{Name: "c", Socket: l.Sock("vm3"), MAC: otherVLANMAC, Traffic: "ping", PPS: 5, Dst: "none",
		PingCount: 5, Addr: "10.0.0.3/24"})
	assert.Contains(t, c.WaitConsole("packets received", 90*time.Second), "5 packets transmitted, 0 packets received",
		"C, on VLAN 20, gets no answer from B on VLAN 10")
	dg := l.StartGuest(img, lab.GuestSpec{Name: "d", Socket: l.Sock("vm4"), MAC: spooferMAC, Traffic: "ping", PPS: 5, Dst: "none",
		PingCount: 3, Addr: "10.0.0.4/24"})
	assert.Contains(t, dg.WaitConsole("packets received", 90*time.Second), "3 packets transmitted, 0 packets received",
		"D sends from 10.0.0.4, not its 10.0.0.50")
	st := d.Stop()
	assert.Positive(t, st.Num("vms.vm4.drops.spoofed_ip"), "D's ARP requests, dropped and counted")
	assert.Zero(t, st.Num("vms.vm1.drops.spoofed_ip")+st.Num("vms.vm2.drops.spoofed_ip")+st.Num("vms.vm3.drops.spoofed_ip"),
		"the others' ARP and IP passed the check")
	assert.GreaterOrEqual(t, st.Num("vms.vm1.local_out_pkts"), float64(n), "A's echoes switched on the host")
	assert.GreaterOrEqual(t, st.Num("vms.vm2.local_out_pkts"), float64(n), "and B's replies")
	assert.Zero(t, st.Num("vms.vm3.in_pkts"), "nothing of VLAN 10 reached C")
}

// A trunk's guest tags its own frames: with a sub-interface on each of
// VLANs 10 and 20 it reaches a guest on each, and each access guest sees
// untagged frames.
func TestATrunkGuestWithVLANSubInterfacesReachesTwoVLANs(t *testing.T) {
	l, d, taps, _ := switchedLab(t, vmConf{name: "vm1", mac: polMAC1, keys: "vlan = 10"},
		vmConf{name: "vm2", mac: polMAC2, keys: "vlan = 20"}, vmConf{name: "vm3", mac: trunkMAC, keys: "trunk = [10, 20]"})
	img := lab.BuildGuestImage(t)
	l.StartGuest(img, lab.GuestSpec{Name: "on10", Socket: l.Sock("vm1"), MAC: polMAC1, Traffic: "none", Addr: "10.0.10.1/24"})
	l.StartGuest(img, lab.GuestSpec{Name: "on20", Socket: l.Sock("vm2"), MAC: polMAC2, Traffic: "none", Addr: "10.0.20.1/24"})
	const n = 5
	tr := l.StartGuest(img, lab.GuestSpec{Name: "trunk", Socket: l.Sock("vm3"), MAC: trunkMAC, Traffic: "ping", PPS: 5, Dst: "none",
		PingCount: n, VLANs: "10:10.0.10.9/24,20:10.0.20.9/24", Target: "10.0.10.1,10.0.20.1"})
	tr.WaitConsole("all pings done", 90*time.Second)
	out := tr.WaitConsole("packets received", time.Second) // the first summary
	console := tr.Console()
	assert.Contains(t, out, "5 packets transmitted, 5 packets received", "VLAN 10's guest answered")
	assert.Equal(t, 2, strings.Count(console, "5 packets transmitted, 5 packets received"), "and VLAN 20's:\n%s", console)
	st := d.Stop()
	assert.GreaterOrEqual(t, st.Num("vms.vm3.local_out_pkts"), float64(2*n), "the trunk's echoes, switched on the host")
	assert.Zero(t, st.Num("vms.vm3.drops.vlan"), "it tagged only VLANs of its trunk")
	for i, tap := range taps {
		assert.Zero(t, tap.UnicastFromSrc(trunkMAC), "none of its unicast frames crossed dtap%d", i)
	}
}
