package main

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// reloadConfig is the lab topology with one of the variants a reload
// cycles through: policies, limits, shares, DoS watching on and off, the
// VMs in another order.
func reloadConfig(l *lab.Lab, variant int) string {
	top, team := "", `policy = "src-mac-hash"`
	vm1, vm2 := "", ""
	switch variant % 4 {
	case 1:
		team = `policy = "flow-hash"`
		vm1 = `limit = "200M"`
	case 2:
		// Shares make the team shaped: the resource manager's loop starts.
		team = `policy = "round-robin"`
		vm2 = "shares = 3"
		top = "[dos]\nenabled = true"
	case 3:
		team = `policy = "vm-affinity"`
		vm1, vm2 = `preferred_nic = "nic2"`, `preferred_nic = "nic1"`
		// And vm2 listed first: VMs are matched by name, so each keeps
		// its port, MACs, counters and state.
		return labConfig(l, top, team, []string{"", ""},
			vmConf{name: "vm2", mac: polMAC2, keys: vm2}, vmConf{name: "vm1", mac: polMAC1, keys: vm1})
	}
	return labConfig(l, top, team, []string{"", ""},
		vmConf{name: "vm1", mac: polMAC1, keys: vm1}, vmConf{name: "vm2", mac: polMAC2, keys: vm2})
}

func teamPolicy(t *testing.T, l *lab.Lab) string {
	t.Helper()
	var teams map[string]struct {
		Policy string `json:"policy"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "teams", "--json")), &teams))
	return teams["uplink"].Policy
}

func TestReloadUnderTrafficLosesNoPacketAndABadOneIsRefused(t *testing.T) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(reloadConfig(l, 0))
	taps := []*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	// Both VMs send until told to stop, at 10 kpps each.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "10000", "--size", "128", "--flows", "16", "--duration", "10m", "--hold", "--progress", "50ms")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	// And from the network to vm1, through the reloads too.
	in := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "benign", PPS: 2000})

	sent := func(e lab.Event) float64 { return e.Num("vms.vm1.out_pkts") + e.Num("vms.vm2.out_pkts") }
	last := d.WaitStatus("traffic flowing", func(e lab.Event) bool { return sent(e) > 1000 })
	reloads := 0
	for variant := 1; variant <= 8; variant++ {
		// Each reload under traffic: the next waits until 1000 more
		// packets went through.
		before := sent(last)
		last = d.WaitStatus("more traffic", func(e lab.Event) bool { return sent(e) >= before+1000 })
		l.WriteConfig(reloadConfig(l, variant))
		mark := d.Mark()
		if variant%2 == 0 {
			d.Signal(syscall.SIGHUP)
		} else {
			out := mustCtl(t, l, "reload")
			assert.Contains(t, out, "reloaded:")
			assert.Contains(t, out, "teams[0].policy", "the changed keys are listed")
		}
		d.WaitEventSince(mark, "reload", func(e lab.Event) bool { return e.Str("event") == "config_reloaded" })
		reloads++
	}
	assert.Equal(t, "src-mac-hash", teamPolicy(t, l), "the last variant is in force")

	// Bad configs, through the CLI and by SIGHUP, are refused with the key
	// and the reason, and the running config stays.
	good := reloadConfig(l, 1)
	l.WriteConfig(good)
	mustCtl(t, l, "reload")
	for _, bad := range []struct{ config, want string }{
		{strings.Replace(good, `policy = "flow-hash"`, `policy = "fastest"`, 1), `teams[0].policy: "fastest" is not a policy`},
		{strings.Replace(good, "vm1.sock", "vm1-new.sock", 1), "vms[0].socket: cannot change while uplinkd runs"},
		{strings.Replace(good, "[[vms]]", "[[vms]]\ncolour = \"blue\"", 1), "colour"},
	} {
		l.WriteConfig(bad.config)
		out, err := ctl(t, l, "reload")
		assert.Error(t, err, "bad reload accepted")
		assert.Contains(t, out, bad.want)
		assert.Equal(t, "flow-hash", teamPolicy(t, l), "the old config stays in force")
	}
	mark := d.Mark()
	d.Signal(syscall.SIGHUP)
	refused := d.WaitEventSince(mark, "reload refused", func(e lab.Event) bool { return e.Str("event") == "config_reload_refused" })
	assert.Contains(t, refused.Str("error"), "colour")

	// Everything sent arrived: each VM's frames on the taps, the
	// network's in vm1.
	final := g.StopSending()
	injected := in.Stop()
	for _, vm := range []struct{ name, mac string }{{"vm1", polMAC1}, {"vm2", polMAC2}} {
		n := int(lab.VM(final, vm.name)["sent"])
		assert.Equal(t, n, lab.WaitFromSrcOn(taps, vm.mac, n, 20*time.Second), "%s's frames on the taps", vm.name)
	}
	g.WaitProgress("flood delivered", func(e lab.Event) bool { return lab.VM(e, "vm1")["rx_unicast_own"] >= float64(injected) })
	rep := g.Finish(true)
	assert.EqualValues(t, injected, lab.VM(rep, "vm1")["rx_unicast_own"], "the network's frames to vm1")
	assert.Equal(t, lab.VM(final, "vm1")["sent"], lab.VM(rep, "vm1")["sent"], "nothing sent after it stopped")
	for i, tap := range taps {
		assert.Zero(t, tap.KernelDrops(), "tap %d's capture lost nothing", i)
	}
	st := d.Stop()
	for _, path := range []string{"vms.vm1", "vms.vm2", "nics.nic1", "nics.nic2"} {
		assert.Empty(t, st.At(path+".drops"), "%s dropped nothing", path)
	}
	assert.Equal(t, 8, reloads)
}
