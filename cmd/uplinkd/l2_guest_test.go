package main

import (
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
