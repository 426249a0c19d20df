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

func TestFailoverLosesNothingAndAnnouncesMovedMACs(t *testing.T) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(twoNICTeam(l, "policy = \"vm-affinity\"\nup_delay = \"300ms\"", "", `preferred_nic = "nic2"`, `preferred_nic = "nic1"`))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "20000", "--size", "128", "--duration", "3s", "--hold", "--progress", "100ms")
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
	l := lab.New(t, bins)
	d := l.StartUplinkd(twoNICTeam(l, "policy = \"vm-affinity\"\nfailback = false", "", `preferred_nic = "nic2"`, `preferred_nic = "nic1"`))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
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
