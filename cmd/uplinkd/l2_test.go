package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// switchedLab cables both tap NICs into one Linux bridge in the lab's
// namespace, the upstream switch: it floods broadcasts and unknown
// unicast out of every port, as a top-of-rack switch does.
func switchedLab(t *testing.T, vms ...vmConf) (*lab.Lab, *lab.Daemon, [2]*lab.Tap, *lab.Tap) {
	l := lab.New(t, bins)
	if len(vms) == 0 {
		vms = []vmConf{{name: "vm1", mac: polMAC1}, {name: "vm2", mac: polMAC2}}
	}
	d := l.StartUplinkd(labConfig(l, "", `policy = "src-mac-hash"`, []string{"", ""}, vms...))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	l.InNS("ip", "link", "add", "br0", "type", "bridge")
	for _, tap := range []string{"dtap0", "dtap1"} {
		l.InNS("ip", "link", "set", tap, "master", "br0")
	}
	l.InNS("ip", "link", "set", "br0", "up")
	return l, d, taps, l.OpenTap("br0")
}

func TestVMToVMStaysOnTheHostAndEachBroadcastArrivesOnce(t *testing.T) {
	l, d, taps, bridge := switchedLab(t)
	const n, m = 500, 200
	// vm1 sends n unicast frames to vm2; vm2 sends n broadcasts.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1)+",dst="+polMAC2,
		"--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2)+",dst=ff:ff:ff:ff:ff:ff",
		"--rate", "2000", "--count", fmt.Sprint(n), "--hold", "--progress", "50ms")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	g.WaitProgress("vm2 got vm1's frames, vm1 vm2's broadcasts", func(e lab.Event) bool {
		return lab.VM(e, "vm2")["rx_unicast_own"] >= n && lab.VM(e, "vm1")["rx_broadcast"] >= n
	})
	// vm2's broadcasts leave by one NIC and the bridge floods them back
	// in by the other: dropped there as looped, never delivered again.
	lab.WaitFromSrcOn(taps[:], polMAC2, 2*n, 20*time.Second)

	// m broadcasts from the switch: it sends each out of both ports.
	frames := make([][]byte, m)
	for i := range frames {
		frames[i] = lab.Frame("ff:ff:ff:ff:ff:ff", peer, 64)
	}
	bridge.Inject(frames...)
	g.WaitProgress("the switch's broadcasts delivered", func(e lab.Event) bool {
		return lab.VM(e, "vm2")["rx_broadcast"] >= m
	})
	st := d.WaitStatus("both copies of each seen", func(e lab.Event) bool {
		return e.Num("nics.nic1.rx_pkts")+e.Num("nics.nic2.rx_pkts") >= 2*m+n
	})
	assert.Equal(t, "nic1", designated(t, l))

	// The designated NIC's cable pulled: the other takes over, and the
	// switch's broadcasts still arrive once.
	mark := d.Mark()
	l.InNS("ip", "link", "set", "dtap0", "down")
	d.WaitEventSince(mark, "nic1 down", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic1" && e.Str("to") == "down"
	})
	assert.Equal(t, "nic2", designated(t, l), "the designation moved with the failover")
	bridge.Inject(frames...)
	g.WaitProgress("the switch's broadcasts delivered by nic2", func(e lab.Event) bool {
		return lab.VM(e, "vm2")["rx_broadcast"] >= 2*m
	})
	rep := g.Finish(true)

	vm1, vm2 := lab.VM(rep, "vm1"), lab.VM(rep, "vm2")
	assert.EqualValues(t, n, vm2["rx_unicast_own"], "vm2 got each of vm1's frames once")
	assert.EqualValues(t, n+2*m, vm1["rx_broadcast"], "vm1 got vm2's broadcasts and the switch's, each once")
	assert.EqualValues(t, 2*m, vm2["rx_broadcast"], "vm2 got the switch's broadcasts once, not its own")
	for i, tap := range taps {
		assert.Zero(t, tap.FromSrc(polMAC1), "nothing vm1 sent to vm2 crossed dtap%d", i)
		assert.Zero(t, tap.KernelDrops(), "dtap%d's capture lost nothing", i)
	}
	assert.EqualValues(t, n, st.Num("vms.vm1.local_out_pkts"))
	assert.EqualValues(t, n, st.Num("vms.vm2.local_in_pkts"))
	assert.EqualValues(t, n, st.Num("vms.vm2.local_out_pkts"), "one local copy of each broadcast")
	assert.EqualValues(t, n, st.Num("nics.nic1.tx_pkts")+st.Num("nics.nic2.tx_pkts"), "only the broadcasts left, once each")
	// The taps' kernel sides send a couple of multicast frames of their
	// own as they come up, also dropped on the NIC that is not designated.
	assert.GreaterOrEqual(t, st.Num("nics.nic1.drops.duplicate_group")+st.Num("nics.nic2.drops.duplicate_group"), float64(m),
		"the second copy of each of the switch's broadcasts")
	assert.EqualValues(t, n, st.Num("nics.nic1.drops.looped")+st.Num("nics.nic2.drops.looped"))
	d.Stop()
}

// designated is the team's designated receiver, as uplinkctl shows it.
func designated(t *testing.T, l *lab.Lab) string {
	t.Helper()
	var teams map[string]struct {
		Designated string `json:"designated_receiver"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "teams", "--json")), &teams))
	return teams["uplink"].Designated
}

func TestAVMSendingFromAnAddressNotItsOwnIsDroppedAndCounted(t *testing.T) {
	// uplink-gen sends vm1's frames from 10.0.0.1 and vm2's from 10.0.0.2.
	l, d, taps, _ := switchedLab(t, vmConf{name: "vm1", mac: polMAC1, keys: `ips = ["10.0.0.1", "2001:db8::1"]`},
		vmConf{name: "vm2", mac: polMAC2, keys: `ips = ["10.0.0.2/31"]`}, vmConf{name: "vm3", mac: trunkMAC, keys: `ips = ["10.0.0.99"]`})
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--vm", lab.VMArg("vm3", l.Sock("vm3"), trunkMAC), "--rate", "1000", "--count", "200", "--progress", "50ms")
	for _, vm := range []string{"vm1", "vm2", "vm3"} {
		d.WaitVMConnected(vm)
	}
	rep := g.Finish(false)
	for _, mac := range []string{polMAC1, polMAC2} {
		assert.Equal(t, 200, lab.WaitFromSrcOn(taps[:], mac, 200, 20*time.Second), "%s sends from its own address", mac)
	}
	st := d.WaitStatus("vm3's frames counted", func(e lab.Event) bool { return e.Num("vms.vm3.out_pkts") >= 200 })
	assert.EqualValues(t, lab.VM(rep, "vm3")["sent"], st.Num("vms.vm3.drops.spoofed_ip"), "vm3 sent from 10.0.0.3: every frame dropped")
	assert.Zero(t, taps[0].FromSrc(trunkMAC)+taps[1].FromSrc(trunkMAC))
	assert.Zero(t, st.Num("vms.vm1.drops.spoofed_ip")+st.Num("vms.vm2.drops.spoofed_ip"))
	assert.Contains(t, mustCtl(t, l, "status"), "spoofed_ip=200")
	d.Stop()
}
