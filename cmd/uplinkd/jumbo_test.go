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
)

// Jumbo frames at dataplane.mtu 9000. DPDK 22.11's net_tap takes frames of
// at most 1522 bytes, so the jumbo NIC here is net_pcap on one end of a
// veth pair at MTU 9000 in the lab's namespace; the test reads and writes
// the other end as it does a tap's kernel side.

const (
	jumboMTU   = 9000
	jumboFrame = jumboMTU + 14
)

// jumboLab starts uplinkd at MTU 9000 with one team of one NIC, nic1 on
// the veth dveth0 (whose far end, dveth1, the returned Tap reads), and the
// given VMs.
func jumboLab(t *testing.T, vms ...vmConf) (*lab.Lab, *lab.Daemon, *lab.Tap) {
	l := lab.New(t, bins)
	l.AddVeth("dveth0", "dveth1", jumboMTU)
	conf := labConfig(l, fmt.Sprintf("mtu = %d", jumboMTU), `policy = "src-mac-hash"`, nil, vms...) +
		"[[nics]]\nname = \"nic1\"\nvdev = \"net_pcap0,rx_iface_in=dveth0,tx_iface=dveth0\"\nteam = \"uplink\"\n"
	d := l.StartUplinkd(conf)
	return l, d, l.OpenTap("dveth1")
}

// vlanFrame is a frame of size bytes with one 802.1Q tag.
func vlanFrame(dst, src string, size int) []byte {
	f := lab.Frame(dst, src, size)
	binary.BigEndian.PutUint16(f[12:14], 0x8100)
	binary.BigEndian.PutUint16(f[14:16], 100)
	binary.BigEndian.PutUint16(f[16:18], 0x0800)
	return f
}

// injectInBatches writes n copies of frame at the NIC's far end, 32 at a
// time, and waits after each batch until delivered says the VMs have
// already+sent of them. net_pcap reads the veth through libpcap's ring, which
// 9014-byte frames written all at once overflow in the kernel before
// uplinkd sees them (169 of 200 arrived in one run), so the test paces
// itself on what arrived instead.
func injectInBatches(tap *lab.Tap, frame []byte, n, already int, delivered func(want int)) {
	for sent := 0; sent < n; {
		batch := min(32, n-sent)
		for range batch {
			tap.Inject(frame)
		}
		sent += batch
		delivered(already + sent)
	}
}

func TestJumboFramesPassBothWaysAtMTU9000(t *testing.T) {
	const mac = polMAC1
	l, d, tap := jumboLab(t, vmConf{name: "vm1", mac: mac})
	const n = 400
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), mac), "--count", fmt.Sprint(n), "--rate", "4000",
		"--size", fmt.Sprint(jumboFrame), "--flows", "8", "--hold")
	d.WaitVMConnected("vm1")

	// VM -> NIC: every 9014-byte frame leaves whole.
	g.WaitProgress("all sent", func(e lab.Event) bool { return lab.VM(e, "vm1")["sent"] == n })
	assert.Equal(t, n, tap.WaitFromSrc(mac, n, 20*time.Second), "the VM's frames on the NIC")
	assert.Equal(t, map[int]int{jumboFrame: n}, tap.Sizes(), "all of them 9014 bytes")

	// NIC -> VM, and the oversize check at MTU + 14, + 4 with a VLAN tag.
	unicastTo := func(vm string) func(int) {
		return func(want int) {
			g.WaitProgress("jumbo deliveries", func(e lab.Event) bool { return lab.VM(e, vm)["rx_unicast_own"] >= float64(want) })
		}
	}
	injectInBatches(tap, lab.Frame(mac, peer, jumboFrame), n, 0, unicastTo("vm1"))
	injectInBatches(tap, vlanFrame(mac, peer, jumboFrame+4), 10, n, unicastTo("vm1"))
	// The far end's MTU is raised to send one byte over; dveth0 still takes
	// it (a veth admits a VLAN tag's 4 bytes over its MTU).
	l.InNS("ip", "link", "set", "dveth1", "mtu", fmt.Sprint(jumboMTU+100))
	for i := 0; i < 7; i++ {
		tap.Inject(lab.Frame(mac, peer, jumboFrame+1))
	}
	rx := g.WaitProgress("jumbo deliveries", func(e lab.Event) bool { return lab.VM(e, "vm1")["rx_unicast_own"] == n+10 })
	assert.EqualValues(t, n*jumboFrame+10*(jumboFrame+4), lab.VM(rx, "vm1")["rx_bytes"], "the VM got every byte")
	st := d.WaitStatus("ingress oversize drops", func(e lab.Event) bool { return e.Num("nics.nic1.drops.oversize") == 7 })
	rep := g.Finish(true)
	assert.EqualValues(t, n+10, lab.VM(rep, "vm1")["received"], "nothing else reached the VM")

	assert.EqualValues(t, n, st.Num("vms.vm1.out_pkts"))
	assert.EqualValues(t, n*jumboFrame, st.Num("vms.vm1.out_bytes"), "VM bytes count whole frames")
	assert.EqualValues(t, n*jumboFrame, st.Num("nics.nic1.tx_bytes"))
	assert.EqualValues(t, n+10, st.Num("vms.vm1.in_pkts"))
	assert.EqualValues(t, n*jumboFrame+10*(jumboFrame+4), st.Num("vms.vm1.in_bytes"))
	assert.EqualValues(t, n+10+7, st.Num("nics.nic1.rx_pkts"))
	d.Stop() // and every mbuf is back
}

func TestAVMsFrameOverMTU9000IsDroppedAsOversize(t *testing.T) {
	const mac = polMAC1
	l, d, tap := jumboLab(t, vmConf{name: "vm1", mac: mac})
	const n = 50
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), mac), "--count", fmt.Sprint(n), "--rate", "4000",
		"--size", fmt.Sprint(jumboFrame+1), "--hold")
	g.WaitProgress("all sent", func(e lab.Event) bool { return lab.VM(e, "vm1")["sent"] == n })
	st := d.WaitStatus("oversize drops", func(e lab.Event) bool { return e.Num("vms.vm1.drops.oversize") == n })
	assert.Zero(t, st.Num("nics.nic1.tx_pkts"))
	assert.Zero(t, tap.FromSrc(mac), "nothing left by the NIC")
	g.Finish(true)
	d.Stop()
}

func TestAnMTUTheNICCannotCarryIsRefusedAtStart(t *testing.T) {
	l := lab.New(t, bins)
	l.WriteConfig(labConfig(l, fmt.Sprintf("mtu = %d", jumboMTU), `policy = "src-mac-hash"`, []string{""},
		vmConf{name: "vm1", mac: polMAC1}))
	out, err := l.RunUplinkd()
	require.Error(t, err, "uplinkd started with an MTU its tap NIC cannot carry:\n%s", out)
	assert.Contains(t, out, "nics[0] (nic1): dataplane.mtu 9000 is more than net_tap0 (net_tap) can carry: its maximum MTU is 1504 (frames of up to 1522 bytes)")
	assert.False(t, strings.Contains(out, `"event":"ready"`), "it never became ready")
	assert.Empty(t, l.HugepageFiles(l.Prefix("d")), "and left no hugepage files")
}

func TestJumboBroadcastIsFloodedWholeToEveryVM(t *testing.T) {
	l, d, tap := jumboLab(t, vmConf{name: "vm1", mac: polMAC1}, vmConf{name: "vm2", mac: polMAC2})
	// --size sizes the generator's mbufs for what it receives.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "-1", "--size", fmt.Sprint(jumboFrame), "--hold")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	const n = 200
	injectInBatches(tap, lab.Frame("ff:ff:ff:ff:ff:ff", peer, jumboFrame), n, 0, func(want int) {
		g.WaitProgress("floods", func(e lab.Event) bool {
			return lab.VM(e, "vm1")["rx_broadcast"] >= float64(want) && lab.VM(e, "vm2")["rx_broadcast"] >= float64(want)
		})
	})
	rep := g.WaitProgress("floods", func(e lab.Event) bool {
		return lab.VM(e, "vm1")["rx_broadcast"] == n && lab.VM(e, "vm2")["rx_broadcast"] == n
	})
	for _, vm := range []string{"vm1", "vm2"} {
		assert.EqualValues(t, n*jumboFrame, lab.VM(rep, vm)["rx_bytes"], vm)
	}
	g.Finish(true)
	d.Stop() // one mbuf per frame, two references: every one back
}

// A real guest at MTU 9000 pings the far end of the NIC with 8972-byte
// payloads: 9014-byte frames both ways, none fragmented.
func TestAGuestAtMTU9000PingsTheFarEndWithJumboFrames(t *testing.T) {
	l, d, tap := jumboLab(t, vmConf{name: "vm1", mac: guestMAC})
	img := lab.BuildGuestImage(t)
	// The far end: the kernel's IP stack on dveth1, at the address the
	// guest pings, with the MAC the guest sends to; neighbours are static
	// so that every frame is an echo.
	l.InNS("ip", "link", "set", "dveth1", "address", peer)
	l.InNS("ip", "addr", "add", "10.0.0.2/24", "dev", "dveth1")
	l.InNS("ip", "neigh", "add", "10.0.0.1", "lladdr", guestMAC, "dev", "dveth1", "nud", "permanent")
	const n = 5
	g := l.StartGuest(img, lab.GuestSpec{Name: "g1", Socket: l.Sock("vm1"), MAC: guestMAC, Traffic: "ping", PPS: 5, Dst: peer,
		MTU: jumboMTU, PingCount: n, PingSize: jumboMTU - 28})
	d.WaitVMConnected("vm1")
	sum := g.WaitConsole("packets received", 60*time.Second)
	assert.Contains(t, sum, fmt.Sprintf("%d packets transmitted, %d packets received", n, n), "every echo answered")
	assert.Contains(t, g.Console(), fmt.Sprintf("%d bytes from 10.0.0.2", jumboMTU-28+8), "replies came whole")
	assert.Equal(t, n, tap.Sizes()[jumboFrame], "the echoes reached the far end as single 9014-byte frames")
	st := d.Stop()
	assert.EqualValues(t, n, st.Num("vms.vm1.in_pkts"), "the replies, delivered")
	assert.EqualValues(t, n*jumboFrame, st.Num("vms.vm1.in_bytes"))
	assert.Zero(t, st.Drops("vms.vm1")+st.Drops("nics.nic1"), "nothing dropped")
}
