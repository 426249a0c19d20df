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
	d := l.StartUplinkd(twoNICTeam(l, `policy = "vm-affinity"`, "", `preferred_nic = "nic2"`, `preferred_nic = "nic1"`))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "20000", "--size", "128", "--duration", "3s", "--hold", "--progress", "100ms")
	require.GreaterOrEqual(t, taps[1].WaitFromSrc(polMAC1, 2000, 20*time.Second), 2000, "vm1 flows on nic2")

	d.SetLink("dtap1", "nic2", false)
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

	d.SetLink("dtap1", "nic2", true)
	assert.Equal(t, 1, taps[1].WaitRARPs(polMAC1, 1, 20*time.Second), "failback: vm1's MAC announced on nic2 again")

	st := d.Stop()
	for _, vm := range []string{"vm1", "vm2"} {
		assert.Empty(t, st["vms"].(map[string]any)[vm].(map[string]any)["drops"], "%s: no drops", vm)
	}
	assert.Empty(t, st["nics"].(map[string]any)["nic2"].(map[string]any)["drops"], "nic2: no drops")
}
