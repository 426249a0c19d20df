package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

const (
	polMAC3 = "02:00:00:00:00:03"
	polMAC4 = "02:00:00:00:00:04"
)

// removeVM removes vm through uplinkctl and waits for uplinkd to say so.
func removeVM(t *testing.T, l *lab.Lab, d *lab.Daemon, vm string) {
	t.Helper()
	mark := d.Mark()
	mustCtl(t, l, "vm", "remove", vm)
	d.WaitEventSince(mark, vm+" removed", func(e lab.Event) bool { return e.Str("event") == "vm_removed" && e.Str("vm") == vm })
}

// vmChurn is how many times TestVMsComeAndGoWhileOthersLoseNothing adds
// and removes a VM (UPLINKD_VM_CHURN overrides it).
func vmChurn(t *testing.T) int {
	if s := os.Getenv("UPLINKD_VM_CHURN"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 200
}

// leftovers is what a VM added and removed must give back.
type leftovers struct {
	Ports      int `json:"dpdk_ports"`
	Goroutines int `json:"goroutines"`
	FDs        int `json:"-"`
}

// assertGivenBack checks that what the daemon has (DPDK ports, fds,
// goroutines) comes back to start; the API's last connection may still be
// closing.
func assertGivenBack(t *testing.T, l *lab.Lab, d *lab.Daemon, start leftovers) {
	t.Helper()
	var end leftovers
	if !assert.Eventually(t, func() bool { end = readLeftovers(t, l, d); return end == start }, 10*time.Second, 10*time.Millisecond,
		"DPDK ports, fds and goroutines as at the start") {
		t.Logf("at the start %+v, at the end %+v", start, end)
	}
}

func readLeftovers(t *testing.T, l *lab.Lab, d *lab.Daemon) leftovers {
	t.Helper()
	var r leftovers
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "status", "--json")), &r))
	r.FDs = d.OpenFDs()
	return r
}

func TestVMsComeAndGoWhileOthersLoseNothing(t *testing.T) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(labConfig(l, "", `policy = "src-mac-hash"`, []string{"", ""},
		vmConf{name: "vm1", mac: polMAC1}, vmConf{name: "vm2", mac: polMAC2}))
	taps := []*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	// vm1 and vm2 send at 5 kpps each until told to stop, and the
	// network sends to vm1, through every add and remove.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "5000", "--size", "128", "--flows", "8", "--duration", "30m", "--hold", "--progress", "50ms")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	in := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "benign", PPS: 1000})
	d.WaitStatus("traffic flowing", func(e lab.Event) bool {
		return e.Num("vms.vm1.out_pkts") > 500 && e.Num("vms.vm2.out_pkts") > 500
	})
	start := readLeftovers(t, l, d)

	// Refused, and nothing changes: the field and the reason named.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"vm1", "--socket", l.Sock("x"), "--mac", "02:00:00:00:00:77", "--team", "uplink"}, `name: "vm1" is used twice`},
		{[]string{"vm3", "--socket", l.Sock("x"), "--mac", polMAC2, "--team", "uplink"}, "macs[0]: " + polMAC2 + " is already vm vm2's"},
		{[]string{"vm3", "--socket", l.Sock("vm1"), "--mac", polMAC3, "--team", "uplink"}, "socket: " + l.Sock("vm1") + " is already vm vm1's socket"},
		{[]string{"vm3", "--socket", l.Sock("x"), "--mac", polMAC3, "--team", "other"}, `team: "other" is not a team`},
		{[]string{"vm3", "--socket", filepath.Join(l.Dir, "nowhere", "vm3.sock"), "--mac", polMAC3, "--team", "uplink"}, "socket: directory " + filepath.Join(l.Dir, "nowhere") + " does not exist"},
		{[]string{"vm3", "--socket", l.Sock("x"), "--mac", polMAC3, "--team", "uplink", "--limit", "fast"}, "limit"},
	} {
		out, err := ctl(t, l, append([]string{"vm", "add"}, bad.args...)...)
		assert.Error(t, err, "accepted: %v", bad.args)
		assert.Contains(t, out, bad.want)
	}
	out, err := ctl(t, l, "vm", "remove", "vm9")
	assert.Error(t, err)
	assert.Contains(t, out, `no VM named "vm9"`)
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "nic1", "--vdev", "net_tap5,iface=dtap5", "--team", "uplink"}, `name: "nic1" is used twice`},
		{[]string{"add", "nic3", "--vdev", "net_tap5,iface=dtap5", "--team", "other"}, `"other" is not a team`},
		{[]string{"add", "nic3", "--vdev", "net_tap0,iface=dtap0", "--team", "uplink"}, "net_tap0"},
		{[]string{"add", "nic3", "--team", "uplink"}, "vdev"},
		{[]string{"add", "nic3", "--pci", "0000:00:1f.6", "--team", "uplink"}, "PCI NIC joins at start only"},
		{[]string{"remove", "nic9"}, `no NIC named "nic9"`},
	} {
		out, err := ctl(t, l, append([]string{"nic"}, bad.args...)...)
		assert.Error(t, err, "accepted: %v", bad.args)
		assert.Contains(t, out, bad.want)
	}

	// uplinkd serves vm3's socket (mode server, the default): each time a
	// new generator, as a guest that boots, connects to it.
	sent3 := 0
	for i := 0; i < 5; i++ {
		mark := d.Mark()
		mustCtl(t, l, "vm", "add", "vm3", "--socket", l.Sock("vm3"), "--mac", polMAC3, "--team", "uplink", "--limit", "100M")
		d.WaitEventSince(mark, "vm3 added", func(e lab.Event) bool { return e.Str("event") == "vm_added" && e.Str("vm") == "vm3" })
		// vm3 passes traffic both ways: 20 frames out to the taps, 5 in.
		g3 := l.StartGen("--vm", lab.VMArg("vm3", l.Sock("vm3"), polMAC3), "--count", "20", "--rate", "20000", "--size", "128", "--hold")
		sent3 += 20
		require.Equal(t, sent3, lab.WaitFromSrcOn(taps, polMAC3, sent3, 20*time.Second), "cycle %d: vm3's frames on the taps", i)
		for range 5 {
			taps[1].Inject(lab.Frame(polMAC3, "02:00:00:00:00:99", 128))
		}
		g3.WaitProgress("vm3 received", func(e lab.Event) bool { return lab.VM(e, "vm3")["rx_unicast_own"] >= 5 })
		if i == 0 {
			// A reload of the file, which does not name vm3, keeps it.
			assert.Contains(t, mustCtl(t, l, "reload"), "nothing changed")
		}
		g3.Finish(true)
		removeVM(t, l, d, "vm3")
	}

	// The hypervisor serves vm4's socket (mode client, as QEMU with
	// server=on): one guest stays, uplinkd connects to it and lets go,
	// again and again: through uplinkctl, then through reloads of a file
	// that names vm4 and one that does not.
	sock4 := l.Sock("vm4")
	g4 := l.LaunchGen("--vm", lab.VMArg("vm4", sock4, polMAC4)+",server=1", "--rate", "2000", "--size", "128", "--duration", "30m",
		"--hold", "--wait-link", "60s")
	require.Eventually(t, func() bool { _, err := os.Stat(sock4); return err == nil }, 30*time.Second, 5*time.Millisecond,
		"the generator serves %s", sock4)
	seen4, got4 := 0, 0
	// cycle adds vm4, checks it passes traffic both ways, and removes it.
	cycle := func(i int, add, remove func()) {
		mark := d.Mark()
		add()
		d.WaitEventSince(mark, "vm4 connected", func(e lab.Event) bool {
			return e.Str("event") == "vm_vhost" && e.Str("vm") == "vm4" && e["connected"] == true
		})
		if i == 0 {
			g4.WaitReady()
		}
		seen4 = lab.WaitFromSrcOn(taps, polMAC4, seen4+20, 20*time.Second)
		require.GreaterOrEqual(t, seen4, 20*(i+1), "cycle %d: vm4's frames on the taps", i)
		for range 5 {
			taps[0].Inject(lab.Frame(polMAC4, "02:00:00:00:00:99", 128))
		}
		got4 += 5
		g4.WaitProgress("vm4 received", func(e lab.Event) bool { return lab.VM(e, "vm4")["rx_unicast_own"] >= float64(got4) })
		mark = d.Mark()
		remove()
		d.WaitEventSince(mark, "vm4 removed", func(e lab.Event) bool { return e.Str("event") == "vm_removed" && e.Str("vm") == "vm4" })
	}
	churn := vmChurn(t)
	for i := 0; i < churn; i++ {
		cycle(i, func() {
			mustCtl(t, l, "vm", "add", "vm4", "--socket", sock4, "--mode", "client", "--mac", polMAC4, "--team", "uplink")
		}, func() { mustCtl(t, l, "vm", "remove", "vm4") })
	}
	without := labConfig(l, "", `policy = "src-mac-hash"`, []string{"", ""}, vmConf{name: "vm1", mac: polMAC1}, vmConf{name: "vm2", mac: polMAC2})
	with := without + fmt.Sprintf("[[vms]]\nname = \"vm4\"\nsocket = %q\nmode = \"client\"\nmacs = [%q]\nteam = \"uplink\"\n", sock4, polMAC4)
	reloads := churn
	for i := 0; i < reloads; i++ {
		cycle(churn+i, func() {
			l.WriteConfig(with)
			assert.Contains(t, mustCtl(t, l, "reload"), "vms")
		}, func() {
			l.WriteConfig(without)
			assert.Contains(t, mustCtl(t, l, "reload"), "vms")
		})
	}
	g4.Finish(true)
	t.Logf("vm3 added, passed traffic both ways and removed 5 times; vm4 %d times by uplinkctl and %d by reload, %d frames out and %d in",
		churn, reloads, seen4, got4)

	// A third NIC joins the team and leaves it, again and again: as many
	// times through uplinkctl as through a reload, in turn. Over three NICs
	// vm1's and vm2's MACs both hash to nic3, so each join moves them to
	// it and each leave fails them over back to nic1 and nic2, announced
	// there, while they send.
	withNIC3 := labConfig(l, "", `policy = "src-mac-hash"`, []string{"", "", ""}, vmConf{name: "vm1", mac: polMAC1}, vmConf{name: "vm2", mac: polMAC2})
	nicChurn := 2 * max(churn/10, 2)
	// nic3's interface comes and goes with it: capture it from before it
	// first comes, so that no frame sent by it goes uncounted.
	tap3 := l.OpenTapOthers("dtap0", "dtap1")
	taps = append(taps, tap3)
	for i := 0; i < nicChurn; i++ {
		byReload := i%2 == 1
		mark := d.Mark()
		if byReload {
			l.WriteConfig(withNIC3)
			assert.Contains(t, mustCtl(t, l, "reload"), "nics")
		} else {
			mustCtl(t, l, "nic", "add", "nic3", "--vdev", "net_tap2,iface=dtap2", "--team", "uplink")
		}
		d.WaitEventSince(mark, "nic3 added", func(e lab.Event) bool { return e.Str("event") == "nic_added" && e.Str("nic") == "nic3" })
		for _, mac := range []string{polMAC1, polMAC2} {
			before := tap3.FromSrc(mac)
			require.GreaterOrEqual(t, tap3.WaitFromSrc(mac, before+50, 20*time.Second), before+50, "cycle %d: %s's frames on nic3", i, mac)
		}
		rarp1, rarp2 := taps[1].RARPs(polMAC1), taps[0].RARPs(polMAC2)
		mark = d.Mark()
		if byReload {
			l.WriteConfig(without)
			assert.Contains(t, mustCtl(t, l, "reload"), "nics")
		} else {
			mustCtl(t, l, "nic", "remove", "nic3")
		}
		ev := d.WaitEventSince(mark, "nic3 removed", func(e lab.Event) bool { return e.Str("event") == "nic_removed" && e.Str("nic") == "nic3" })
		assert.Zero(t, ev.Num("dropped_queued"), "cycle %d: what was queued for nic3 moved to the others", i)
		assert.Greater(t, taps[1].WaitRARPs(polMAC1, rarp1+1, 10*time.Second), rarp1, "cycle %d: vm1 announced on nic2", i)
		assert.Greater(t, taps[0].WaitRARPs(polMAC2, rarp2+1, 10*time.Second), rarp2, "cycle %d: vm2 announced on nic1", i)
	}
	t.Logf("nic3 joined and left %d times, half of them by reload", nicChurn)
	_, err = os.Stat(filepath.Join(l.Dir, "state", "nics", "nic3.json"))
	assert.ErrorIs(t, err, os.ErrNotExist, "a NIC removed is not kept")
	// What vm3 and vm4 came with, they gave back (read while vm1 and vm2
	// are still connected, as at the start). The API's last connection
	// may still be closing.
	assertGivenBack(t, l, d, start)

	// vm1 and vm2 lost nothing: everything sent arrived, both ways.
	final := g.StopSending()
	injected := in.Stop()
	for _, vm := range []struct{ name, mac string }{{"vm1", polMAC1}, {"vm2", polMAC2}} {
		n := int(lab.VM(final, vm.name)["sent"])
		assert.Equal(t, n, lab.WaitFromSrcOn(taps, vm.mac, n, 20*time.Second), "%s's frames on the taps", vm.name)
	}
	g.WaitProgress("flood delivered", func(e lab.Event) bool { return lab.VM(e, "vm1")["rx_unicast_own"] >= float64(injected) })
	rep := g.Finish(true)
	assert.EqualValues(t, injected, lab.VM(rep, "vm1")["rx_unicast_own"], "the network's frames to vm1")
	st := d.Stop() // mbufs in use at stop as at start
	for _, path := range []string{"vms.vm1", "vms.vm2", "nics.nic1", "nics.nic2"} {
		assert.Empty(t, st.At(path+".drops"), "%s dropped nothing", path)
	}
	assert.Nil(t, st.At("nics.nic3"), "nic3 is gone from the report")
	assert.Nil(t, st.At("vms.vm3"), "vm3 is gone from the report")
	assert.Nil(t, st.At("vms.vm4"))
}

func TestAVMAddedAtRuntimeIsKeptAcrossARestartUnlessTransient(t *testing.T) {
	l := lab.New(t, bins)
	conf := labConfig(l, "", `policy = "src-mac-hash"`, []string{""}, vmConf{name: "vm1", mac: polMAC1})
	d := l.StartUplinkd(conf)
	mustCtl(t, l, "vm", "add", "vm3", "--socket", l.Sock("vm3"), "--mac", polMAC3, "--team", "uplink", "--limit", "100M")
	mustCtl(t, l, "vm", "add", "vm4", "--socket", l.Sock("vm4"), "--mac", polMAC4, "--team", "uplink", "--transient")
	mustCtl(t, l, "nic", "add", "nic2", "--vdev", "net_tap1,iface=dtap1", "--team", "uplink", "--speed", "1G")
	mustCtl(t, l, "nic", "add", "nic3", "--vdev", "net_tap2,iface=dtap2", "--team", "uplink", "--transient")
	assert.FileExists(t, filepath.Join(l.Dir, "state", "nics", "nic2.json"))
	assert.NoFileExists(t, filepath.Join(l.Dir, "state", "nics", "nic3.json"), "a transient NIC is not kept")
	kept := filepath.Join(l.Dir, "state", "vms")
	assert.FileExists(t, filepath.Join(kept, "vm3.json"))
	assert.NoFileExists(t, filepath.Join(kept, "vm4.json"), "a transient VM is not kept")
	d.Stop()

	// The same config file: vm3 is back, vm4 is not.
	d = l.StartUplinkd(conf)
	var vms map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "vms", "--json")), &vms))
	assert.Contains(t, vms, "vm1")
	assert.Contains(t, vms, "vm3")
	assert.NotContains(t, vms, "vm4")
	var nics map[string]struct {
		SpeedBPS float64 `json:"speed_bps"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "nics", "--json")), &nics))
	assert.Contains(t, nics, "nic1")
	assert.Contains(t, nics, "nic2", "the NIC added at runtime is back")
	assert.Equal(t, 1e9, nics["nic2"].SpeedBPS, "with its speed")
	assert.NotContains(t, nics, "nic3")
	// And it carries traffic both ways with what it was added with.
	tap := l.OpenTap("dtap0")
	g := l.StartGen("--vm", lab.VMArg("vm3", l.Sock("vm3"), polMAC3), "--count", "20", "--rate", "20000", "--size", "128", "--hold")
	assert.Equal(t, 20, tap.WaitFromSrc(polMAC3, 20, 20*time.Second), "vm3's frames on the tap")
	for range 5 {
		tap.Inject(lab.Frame(polMAC3, "02:00:00:00:00:99", 128))
	}
	g.WaitProgress("vm3 received", func(e lab.Event) bool { return lab.VM(e, "vm3")["rx_unicast_own"] >= 5 })
	var status struct {
		VMs map[string]struct {
			AllocBPS float64 `json:"alloc_bps"`
		} `json:"vms"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "status", "--json")), &status))
	assert.Equal(t, 100e6, status.VMs["vm3"].AllocBPS, "its limit came back too")
	g.Finish(true)

	// Removed, it is forgotten.
	removeVM(t, l, d, "vm3")
	assert.NoFileExists(t, filepath.Join(kept, "vm3.json"))
	mustCtl(t, l, "nic", "remove", "nic2")
	assert.NoFileExists(t, filepath.Join(l.Dir, "state", "nics", "nic2.json"))
	d.Stop()
	d = l.StartUplinkd(conf)
	var after map[string]any
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "vms", "--json")), &after))
	assert.Contains(t, after, "vm1")
	assert.NotContains(t, after, "vm3")
	d.Stop()
}

// A team comes empty and goes empty: a NIC joins it and a VM is added to
// it, the VM's traffic leaves by the NIC, and the team goes once both
// have gone; through uplinkctl, through a reload, and across a restart.
func TestTeamsComeAndGoWithTheirNICsAndVMs(t *testing.T) {
	l := lab.New(t, bins)
	conf := labConfig(l, "", `policy = "src-mac-hash"`, []string{""}, vmConf{name: "vm1", mac: polMAC1})
	d := l.StartUplinkd(conf)
	teams := func() map[string]any {
		var ts map[string]any
		require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "teams", "--json")), &ts))
		return ts
	}
	// vm2 in team t2 sends 20 frames; they leave by t2's NIC, dtap1.
	sendVM2 := func(what string) {
		tap := l.OpenTap("dtap1")
		defer tap.Close()
		g := l.StartGen("--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2), "--count", "20", "--rate", "20000", "--size", "128")
		assert.Equal(t, 20, tap.WaitFromSrc(polMAC2, 20, 20*time.Second), "%s: vm2's frames leave by t2's NIC", what)
		g.Finish(false)
	}

	out, err := ctl(t, l, "team", "add", "t2", "--policy", "fast")
	assert.Error(t, err)
	assert.Contains(t, out, `policy: "fast" is not a policy`)
	mustCtl(t, l, "team", "add", "t2", "--policy", "round-robin")
	assert.Contains(t, teams(), "t2")
	mustCtl(t, l, "nic", "add", "nic2", "--vdev", "net_tap1,iface=dtap1", "--team", "t2")
	mustCtl(t, l, "vm", "add", "vm2", "--socket", l.Sock("vm2"), "--mac", polMAC2, "--team", "t2")
	sendVM2("uplinkctl")
	out, err = ctl(t, l, "team", "remove", "t2")
	assert.Error(t, err)
	assert.Contains(t, out, "team t2 still has NICs nic2 and VMs vm2: remove them first")
	out, err = ctl(t, l, "nic", "remove", "nic2")
	assert.Error(t, err)
	assert.Contains(t, out, `team "t2" has no NIC for its VMs (vm2)`, "a team's last NIC stays while it has VMs")
	removeVM(t, l, d, "vm2")
	mustCtl(t, l, "nic", "remove", "nic2")
	mustCtl(t, l, "team", "remove", "t2")
	assert.NotContains(t, teams(), "t2")
	for _, dir := range []string{"teams", "nics", "vms"} {
		entries, _ := os.ReadDir(filepath.Join(l.Dir, "state", dir))
		assert.Empty(t, entries, "nothing kept in state.dir/%s", dir)
	}

	// The same through the file, twice.
	withT2 := conf + fmt.Sprintf("[[teams]]\nname = \"t2\"\npolicy = \"round-robin\"\n"+
		"[[nics]]\nname = \"nic2\"\nvdev = \"net_tap1,iface=dtap1\"\nteam = \"t2\"\n"+
		"[[vms]]\nname = \"vm2\"\nsocket = %q\nmacs = [%q]\nteam = \"t2\"\n", l.Sock("vm2"), polMAC2)
	for i := 0; i < 2; i++ {
		l.WriteConfig(withT2)
		assert.Contains(t, mustCtl(t, l, "reload"), "teams")
		sendVM2(fmt.Sprintf("reload %d", i))
		l.WriteConfig(conf)
		assert.Contains(t, mustCtl(t, l, "reload"), "teams")
		assert.NotContains(t, teams(), "t2")
	}

	// A team added at runtime, with its NIC, comes back after a restart.
	mustCtl(t, l, "team", "add", "t3", "--policy", "src-mac-hash")
	mustCtl(t, l, "nic", "add", "nic3", "--vdev", "net_tap2,iface=dtap2", "--team", "t3")
	d.Stop()
	d = l.StartUplinkd(conf)
	assert.Contains(t, teams(), "t3")
	assert.Equal(t, []any{"nic3"}, teams()["t3"].(map[string]any)["nics"])
	mustCtl(t, l, "nic", "remove", "nic3")
	mustCtl(t, l, "team", "remove", "t3")
	d.Stop()
}
