package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/fastpath"
)

// These tests run the real thing: uplinkd on DPDK with hugepages, two
// net_tap NICs inside a network namespace the test creates, and uplink-gen
// playing the VMs over vhost-user.

var bins lab.Bins

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "uplinkd-bins-")
		if err != nil {
			panic(err)
		}
		bins, err = lab.Build(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// uplinkd's worker runs on CPU 1; the test, the generators and
		// every process it starts (which inherit the affinity) stay on CPU 0
		// with uplinkd's control threads.
		if err := dpdk.PinThreads([]int{0}, 0, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

const (
	peer = "02:fe:00:00:00:01"
	mtu  = 1500
)

// topology is the demo topology with the lab's prefix and sockets, and
// with each VM's MAC given.
func topology(l *lab.Lab, mac1, mac2 string) string {
	return labConfig(l, "", `policy = "src-mac-hash"`, []string{"", ""},
		vmConf{name: "vm1", mac: mac1}, vmConf{name: "vm2", mac: mac2})
}

// macsOnDifferentNICs picks two VM MACs that src-mac-hash sends out by
// different NICs, and says which NIC index each uses.
func macsOnDifferentNICs(t *testing.T) (mac1, mac2 string, nic1, nic2 int) {
	up := []int{0, 1}
	m1 := fastpath.MAC(0x020000000001)
	n1 := fastpath.SrcMACHash(m1, up)
	for i := 2; i < 64; i++ {
		m2 := fastpath.MAC(0x020000000000 + i)
		if n2 := fastpath.SrcMACHash(m2, up); n2 != n1 {
			return m1.String(), m2.String(), n1, n2
		}
	}
	t.Fatal("no MAC pair on different NICs")
	return
}

func startTwoVMs(t *testing.T, mac1, mac2 string) (*lab.Lab, *lab.Daemon, [2]*lab.Tap) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(topology(l, mac1, mac2))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	return l, d, taps
}

// listeningVMs plays both VMs, sending nothing, and waits until uplinkd
// sees both attached.
func listeningVMs(l *lab.Lab, d *lab.Daemon, mac1, mac2 string) *lab.Gen {
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), mac1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), mac2),
		"--rate", "-1", "--hold")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	return g
}

func TestEgressLeavesByTheNICTheVMsSourceMACHashesTo(t *testing.T) {
	mac1, mac2, nic1, nic2 := macsOnDifferentNICs(t)
	l, d, taps := startTwoVMs(t, mac1, mac2)
	const n = 3000
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), mac1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), mac2),
		"--count", fmt.Sprint(n), "--rate", "30000", "--size", "128", "--flows", "16", "--hold")
	rep := g.WaitProgress("all sent", func(e lab.Event) bool {
		return lab.VM(e, "vm1")["sent"] == n && lab.VM(e, "vm2")["sent"] == n
	})
	assert.EqualValues(t, n, lab.VM(rep, "vm1")["sent"])

	assert.Equal(t, n, taps[nic1].WaitFromSrc(mac1, n, 20*time.Second), "vm1's frames on its NIC's tap")
	assert.Equal(t, n, taps[nic2].WaitFromSrc(mac2, n, 20*time.Second), "vm2's frames on its NIC's tap")
	assert.Zero(t, taps[nic2].FromSrc(mac1), "none of vm1's frames on the other NIC")
	assert.Zero(t, taps[nic1].FromSrc(mac2), "none of vm2's frames on the other NIC")

	g.Finish(true)
	st := d.Stop()
	assert.EqualValues(t, n, st.Num("vms.vm1.out_pkts"))
	assert.EqualValues(t, n, st.Num(fmt.Sprintf("nics.nic%d.tx_pkts", nic1+1)))
	assert.Empty(t, st["vms"].(map[string]any)["vm1"].(map[string]any)["drops"], "no drops")
}

func TestIngressIsDeliveredByDestinationMACToThatVMOnly(t *testing.T) {
	mac1, mac2, _, _ := macsOnDifferentNICs(t)
	l, d, taps := startTwoVMs(t, mac1, mac2)
	g := listeningVMs(l, d, mac1, mac2)

	for i := 0; i < 500; i++ {
		taps[0].Inject(lab.Frame(mac1, peer, 64))
	}
	for i := 0; i < 300; i++ {
		taps[1].Inject(lab.Frame(mac2, peer, 64))
	}
	for i := 0; i < 100; i++ {
		taps[0].Inject(lab.Frame("02:00:00:00:99:99", peer, 64))
	}
	g.WaitProgress("deliveries", func(e lab.Event) bool {
		return lab.VM(e, "vm1")["rx_unicast_own"] == 500 && lab.VM(e, "vm2")["rx_unicast_own"] == 300
	})
	d.WaitStatus("unknown unicast counted", func(e lab.Event) bool {
		return e.Num("nics.nic1.drops.unknown_unicast") == 100
	})
	rep := g.Finish(true)
	assert.EqualValues(t, 500, lab.VM(rep, "vm1")["received"], "vm1 got only its own frames")
	assert.EqualValues(t, 300, lab.VM(rep, "vm2")["received"], "vm2 got only its own frames")
	st := d.Stop()
	assert.EqualValues(t, 500, st.Num("vms.vm1.in_pkts"))
	assert.EqualValues(t, 100, st.Num("nics.nic1.drops.unknown_unicast"))
}

func TestBroadcastAndMulticastAreFloodedToEveryVM(t *testing.T) {
	mac1, mac2, _, _ := macsOnDifferentNICs(t)
	l, d, taps := startTwoVMs(t, mac1, mac2)
	g := listeningVMs(l, d, mac1, mac2)
	for i := 0; i < 200; i++ {
		taps[0].Inject(lab.Frame("ff:ff:ff:ff:ff:ff", peer, 60))
	}
	for i := 0; i < 50; i++ {
		taps[0].Inject(lab.Frame("01:00:5e:00:00:fb", peer, 60))
	}
	// nic1 is the team's designated receiver: what a switch floods to
	// nic2 too is that second copy, dropped.
	for i := 0; i < 30; i++ {
		taps[1].Inject(lab.Frame("01:00:5e:00:00:fb", peer, 60))
	}
	// Our own VM's broadcast coming back from the switch is not flooded.
	for i := 0; i < 20; i++ {
		taps[1].Inject(lab.Frame("ff:ff:ff:ff:ff:ff", mac1, 60))
	}
	g.WaitProgress("floods", func(e lab.Event) bool {
		for _, vm := range []string{"vm1", "vm2"} {
			if lab.VM(e, vm)["rx_broadcast"] != 200 || lab.VM(e, vm)["rx_multicast"] != 50 {
				return false
			}
		}
		return true
	})
	d.WaitStatus("looped frames and second copies counted", func(e lab.Event) bool {
		return e.Num("nics.nic2.drops.looped") == 20 && e.Num("nics.nic2.drops.duplicate_group") >= 30
	})
	rep := g.Finish(true)
	for _, vm := range []string{"vm1", "vm2"} {
		assert.EqualValues(t, 250, lab.VM(rep, vm)["received"], vm)
	}
	d.Stop()
}

func TestSpoofedSourceMACIsDroppedAndCounted(t *testing.T) {
	mac1, mac2, _, _ := macsOnDifferentNICs(t)
	l, d, taps := startTwoVMs(t, mac1, mac2)
	const n = 400
	spoofed := "02:00:00:00:66:66"
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), spoofed), "--count", fmt.Sprint(n), "--rate", "20000", "--hold")
	g.WaitProgress("all sent", func(e lab.Event) bool { return lab.VM(e, "vm1")["sent"] == n })
	st := d.WaitStatus("spoofed drops", func(e lab.Event) bool { return e.Num("vms.vm1.drops.spoofed") == n })
	assert.EqualValues(t, n, st.Num("vms.vm1.out_pkts"))
	assert.Zero(t, st.Num("nics.nic1.tx_pkts")+st.Num("nics.nic2.tx_pkts"), "nothing queued to a NIC")
	assert.Zero(t, taps[0].FromSrc(spoofed)+taps[1].FromSrc(spoofed), "nothing left by a tap")
	g.Finish(true)
	d.Stop()
}

func TestRuntAndOversizeFramesAreDroppedAndCounted(t *testing.T) {
	mac1, mac2, _, _ := macsOnDifferentNICs(t)
	l, d, taps := startTwoVMs(t, mac1, mac2)
	const n = 200
	runt := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), mac1), "--count", fmt.Sprint(n), "--size", "13", "--rate", "20000", "--hold")
	runt.WaitProgress("runts sent", func(e lab.Event) bool { return lab.VM(e, "vm1")["sent"] == n })
	d.WaitStatus("runt drops", func(e lab.Event) bool { return e.Num("vms.vm1.drops.runt") == n })
	runt.Finish(true)

	big := l.StartGen("--vm", lab.VMArg("vm2", l.Sock("vm2"), mac2), "--count", fmt.Sprint(n), "--size", fmt.Sprint(mtu+14+1), "--rate", "20000", "--hold")
	big.WaitProgress("oversize sent", func(e lab.Event) bool { return lab.VM(e, "vm2")["sent"] == n })
	d.WaitStatus("oversize drops", func(e lab.Event) bool { return e.Num("vms.vm2.drops.oversize") == n })
	big.Finish(true)

	// From the network too: a jumbo frame on a 1500-byte team.
	l.InNS("ip", "link", "set", "dtap0", "mtu", "9000")
	for i := 0; i < 10; i++ {
		taps[0].Inject(lab.Frame(mac1, peer, 2000))
	}
	st := d.WaitStatus("ingress oversize drops", func(e lab.Event) bool { return e.Num("nics.nic1.drops.oversize") == 10 })
	assert.Zero(t, taps[0].Total()+taps[1].Total(), "no runt or oversize frame left by a tap")
	require.NotNil(t, st)
	d.Stop()
}
