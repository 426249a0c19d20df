package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// Failover with real traffic: two VMs send through two tap NICs, each VM on
// its own NIC (vm-affinity), and nic2's cable is pulled while they send.

// crossedPair starts uplinkd on two tap NICs with vm1 preferring nic2 and
// vm2 nic1, so that both NICs carry a VM; team is the team's TOML keys.
func crossedPair(t *testing.T, team string) (*lab.Lab, *lab.Daemon, [2]*lab.Tap) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(twoNICTeam(l, team, "", `preferred_nic = "nic2"`, `preferred_nic = "nic1"`))
	return l, d, [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
}

// playBoth plays both VMs at rate frames/s of 128 bytes for duration, then
// holds on so that what they queued can leave.
func playBoth(l *lab.Lab, rate, duration string) *lab.Gen {
	return l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", rate, "--size", "128", "--duration", duration, "--hold", "--progress", "100ms")
}

func TestFailoverLosesNothingAndAnnouncesMovedMACs(t *testing.T) {
	l, d, taps := crossedPair(t, "policy = \"vm-affinity\"\nup_delay = \"300ms\"")
	g := playBoth(l, "20000", "3s")
	require.GreaterOrEqual(t, taps[1].WaitFromSrc(polMAC1, 2000, 20*time.Second), 2000, "vm1 flows on nic2")

	mark := d.Mark()
	d.SetLink("dtap1", "nic2", false)
	down := d.WaitEventSince(mark, "nic2 down", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == "down"
	})
	assert.Equal(t, []any{"vm1"}, down["vms"], "the transition names the VM it affects")
	before := taps[0].FromSrc(polMAC1)
	assert.Greater(t, taps[0].WaitFromSrc(polMAC1, before+1000, 20*time.Second), before+999, "vm1 continues on nic1")
	assert.Equal(t, 1, taps[0].WaitRARPs(polMAC1, 1, 20*time.Second), "vm1's MAC announced once on nic1")
	assert.Zero(t, taps[0].RARPs(polMAC2), "vm2 did not move: not announced")

	rep := sentAll(g)
	for _, vm := range []struct{ name, mac string }{{"vm1", polMAC1}, {"vm2", polMAC2}} {
		sent := int(lab.VM(rep, vm.name)["sent"])
		waitTotal(t, taps, vm.mac, sent)
	}
	g.Finish(true)

	mark = d.Mark()
	d.SetLink("dtap1", "nic2", true)
	up := d.WaitEventSince(mark, "nic2 up after its up-delay", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == "up"
	})
	assert.Equal(t, "recovering", up.Str("from"))
	assert.Equal(t, "up-delay elapsed", up.Str("cause"))
	assert.Equal(t, 1, taps[1].WaitRARPs(polMAC1, 1, 20*time.Second), "failback: vm1's MAC announced on nic2 again")

	st := d.Stop()
	for _, vm := range []string{"vm1", "vm2"} {
		assert.Empty(t, st["vms"].(map[string]any)[vm].(map[string]any)["drops"], "%s: no drops", vm)
	}
	assert.Empty(t, st["nics"].(map[string]any)["nic2"].(map[string]any)["drops"], "nic2: no drops")
}

func TestWithoutFailbackVMsStayWhereTheyWent(t *testing.T) {
	l, d, taps := crossedPair(t, "policy = \"vm-affinity\"\nfailback = false")
	d.SetLink("dtap1", "nic2", false)
	mark := d.Mark()
	d.SetLink("dtap1", "nic2", true)
	d.WaitEventSince(mark, "nic2 up", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == "up"
	})
	p := sendRound(t, l, taps, roundFrames)
	assert.Equal(t, roundFrames, p.on(0, polMAC1), "vm1 stays on nic1")
	assert.Equal(t, roundFrames, p.on(0, polMAC2), "vm2 stays on nic1")
	assert.Zero(t, taps[1].RARPs(polMAC1), "nothing moved back, nothing announced")
	d.Stop()
}

func TestBothNICsDownForASecondLosesNothing(t *testing.T) {
	l, d, taps := crossedPair(t, `policy = "vm-affinity"`)
	g := playBoth(l, "20000", "3s")
	require.GreaterOrEqual(t, taps[0].WaitFromSrc(polMAC2, 1000, 20*time.Second), 1000)

	d.SetLink("dtap0", "nic1", false)
	d.SetLink("dtap1", "nic2", false)
	time.Sleep(time.Second) // the outage itself
	d.SetLink("dtap0", "nic1", true)
	d.SetLink("dtap1", "nic2", true)

	// The VMs were not polled while no NIC could carry their frames; the
	// generator could not queue more than its virtqueues hold, and what it
	// did queue goes out now.
	rep := sentAll(g)
	for _, vm := range []struct{ name, mac string }{{"vm1", polMAC1}, {"vm2", polMAC2}} {
		waitTotal(t, taps, vm.mac, int(lab.VM(rep, vm.name)["sent"]))
	}
	g.Finish(true)
	st := d.Stop()
	for _, k := range []string{"vms.vm1", "vms.vm2", "nics.nic1", "nics.nic2"} {
		assert.Zero(t, st.Drops(k), "%s: no drops", k)
	}
}

func TestFlapStormKeepsTheDaemonUpAndCountersConsistent(t *testing.T) {
	l, d, taps := crossedPair(t, `policy = "vm-affinity"`)
	g := playBoth(l, "10000", "12s")
	require.GreaterOrEqual(t, taps[1].WaitFromSrc(polMAC1, 500, 20*time.Second), 500)

	// 200 flaps of nic2 in about 10 s, paced, without waiting for uplinkd
	// to notice each one.
	for i := 0; i < 200; i++ {
		l.InNS("ip", "link", "set", "dtap1", "down")
		time.Sleep(20 * time.Millisecond)
		l.InNS("ip", "link", "set", "dtap1", "up")
		time.Sleep(20 * time.Millisecond)
	}
	d.WaitStatus("nic2 up after the storm", func(e lab.Event) bool { return e.Str("nics.nic2.state") == "up" })

	rep := sentAll(g)
	sent := lab.VM(rep, "vm1")["sent"] + lab.VM(rep, "vm2")["sent"]
	// Everything the VMs sent was taken from their virtqueues...
	d.WaitStatus("all taken from the VMs", func(e lab.Event) bool {
		return e.Num("vms.vm1.out_pkts")+e.Num("vms.vm2.out_pkts") == sent
	})
	g.Finish(true)
	st := d.Stop()
	// ... and each frame taken is either queued to a NIC (and sent, or
	// freed at shutdown and counted) or dropped with a reason.
	out := st.Num("vms.vm1.out_pkts") + st.Num("vms.vm2.out_pkts")
	queued := st.Num("nics.nic1.tx_pkts") + st.Num("nics.nic2.tx_pkts")
	assert.Equal(t, out, queued+st.Drops("vms.vm1")+st.Drops("vms.vm2"), "VM frames = NIC frames + VM drops")
	assert.Positive(t, st.Num("nics.nic2.rerouted")+st.Num("nics.nic1.announced"), "the flaps moved traffic")
	// Frames written into a tap after its interface went down and before
	// uplinkd heard so are dropped by the kernel, as a real NIC puts frames
	// on a dead wire before the link-down reaches its driver (about a
	// millisecond's worth per flap here): the capture sees nearly all.
	queuedOut := queued - st.Drops("nics.nic1") - st.Drops("nics.nic2")
	seen := float64(taps[0].Total() + taps[1].Total())
	assert.LessOrEqual(t, seen, queuedOut, "nothing seen twice")
	assert.Greater(t, seen, 0.95*queuedOut, "lost only in detection windows")
	assert.Zero(t, taps[0].KernelDrops()+taps[1].KernelDrops(), "the capture lost nothing")
	t.Logf("frames lost in the %d flaps' detection windows: %.0f of %.0f", 200, queuedOut-seen, queuedOut)
}

func TestANICWhoseBeaconsAreCutIsFailedOverWhileItsLinkStaysUp(t *testing.T) {
	l, d, _ := crossedPair(t, "policy = \"vm-affinity\"\nbeacon_interval = \"10ms\"\nbeacon_misses = 3")
	// The "switch": both taps' kernel sides on one bridge, so each NIC's
	// beacons reach the other.
	l.InNS("ip", "link", "add", "br0", "type", "bridge")
	l.InNS("ip", "link", "set", "dtap0", "master", "br0")
	l.InNS("ip", "link", "set", "dtap1", "master", "br0")
	l.InNS("ip", "link", "set", "br0", "up")
	d.WaitStatus("beacons heard both ways", func(e lab.Event) bool {
		return e.Num("nics.nic1.beacons_heard") > 10 && e.Num("nics.nic2.beacons_heard") > 10
	})

	// Cut what reaches nic2: the bridge stops flooding multicast (beacons)
	// to dtap1, while nic1 still hears nic2 and nic2's link stays up.
	mark := d.Mark()
	l.InNS("bridge", "link", "set", "dev", "dtap1", "mcast_flood", "off")
	failed := d.WaitEventSince(mark, "nic2 failed", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == "down"
	})
	assert.Equal(t, "beacons lost", failed.Str("cause"))
	st := d.WaitStatus("nic2 down, link up, nic1 up", func(e lab.Event) bool { return e.Str("nics.nic2.state") == "down" })
	assert.Equal(t, true, st.At("nics.nic2.link_up"), "the link light shows nothing wrong")
	assert.Equal(t, "up", st.Str("nics.nic1.state"))

	// Mend it: nic2 hears beacons again and comes back.
	mark = d.Mark()
	l.InNS("bridge", "link", "set", "dev", "dtap1", "mcast_flood", "on")
	d.WaitEventSince(mark, "nic2 back", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == "up"
	})
	d.Stop()
}
