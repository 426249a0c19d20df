package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/ctrl/report"
)

// Denial of service: floods from "the network" (frames written into a
// tap's kernel side) at vm1, while vm2 carries normal traffic, both played
// by uplink-gen (vm1 only receives) or by real guests.

// dosTop is the [dos] table of these tests: thresholds a 20 kpps flood
// crosses fourfold, a short hold, and the responses under test.
func dosTop(responses string, extra string) string {
	return fmt.Sprintf("[dos]\nenabled = true\nsyn_pps = \"5k\"\namplification_pps = \"5k\"\nfragments_pps = \"5k\"\n"+
		"sources = 500\nhold = \"150ms\"\nattack_limit_pps = \"500\"\nresponses = [%s]\n%s", responses, extra)
}

// dosLab starts uplinkd with vm1 and vm2 on nic1 of a two-tap team, and
// uplink-gen playing vm1 (receiving only) and vm2 (sending 10 kpps).
func dosLab(t *testing.T, responses, extra, team string) (*lab.Lab, *lab.Daemon, [2]*lab.Tap, *lab.Gen) {
	return dosLabWith(t, responses, extra, team, "", "")
}

// dosLabWith is dosLab with nic, the TOML keys of both NICs, and vm2, more
// of vm2's.
func dosLabWith(t *testing.T, responses, extra, team, nic, vm2 string) (*lab.Lab, *lab.Daemon, [2]*lab.Tap, *lab.Gen) {
	l := lab.New(t, bins)
	d := l.StartUplinkd(labConfig(l, dosTop(responses, extra), "policy = \"vm-affinity\"\n"+team, []string{nic, nic},
		vmConf{name: "vm1", mac: polMAC1, keys: `preferred_nic = "nic1"`}, vmConf{name: "vm2", mac: polMAC2, keys: "preferred_nic = \"nic1\"\n" + vm2}))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1)+",rate=-1", "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2)+",rate=10000",
		"--size", "128", "--duration", "60s", "--progress", "50ms")
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")
	require.Positive(t, taps[0].WaitFromSrc(polMAC2, 2000, 20*time.Second), "vm2's traffic flows on nic1")
	return l, d, taps, g
}

func isDoS(kind, vm string) func(lab.Event) bool {
	return func(e lab.Event) bool { return e.Str("event") == kind && e.Str("vm") == vm }
}

func eventTime(t *testing.T, e lab.Event) time.Time {
	at, err := time.Parse(time.RFC3339Nano, e.Str("time"))
	require.NoError(t, err)
	return at
}

// vm2Rate is how many frames/s of vm2's reached tap over n status lines.
func vm2Rate(d *lab.Daemon, tap *lab.Tap, n int) float64 {
	before, start := tap.FromSrc(polMAC2), time.Now()
	d.WaitStatusLines(n)
	return float64(tap.FromSrc(polMAC2)-before) / time.Since(start).Seconds()
}

func TestFloodsAreDetectedWithin50msAndTheOtherVMKeepsItsThroughput(t *testing.T) {
	for _, c := range []struct{ kind, metric string }{{"syn", "syn_pps"}, {"amplification", "amplification_pps"}} {
		t.Run(c.kind, func(t *testing.T) {
			_, d, taps, g := dosLab(t, `"rate-limit"`, "", "")
			before := vm2Rate(d, taps[0], 20)

			mark := d.Mark()
			f := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: c.kind, PPS: 20000, Sources: 1000})
			start := d.WaitEventSince(mark, "attack on vm1 detected", isDoS("dos_start", "vm1"))
			latency := eventTime(t, start).Sub(f.Started())
			t.Logf("%s flood detected after %s: %s %.0f >= %.0f", c.kind, latency.Round(100*time.Microsecond),
				start.Str("metric"), start.Num("value"), start.Num("threshold"))
			assert.LessOrEqual(t, latency, 50*time.Millisecond, "detected within 50 ms of the flood's start")
			assert.Equal(t, c.metric, start.Str("metric"), "the evidence names the counter")
			assert.GreaterOrEqual(t, start.Num("value"), start.Num("threshold"))
			assert.Equal(t, 5000.0, start.Num("threshold"))
			assert.Zero(t, d.CountSince(mark, isDoS("dos_start", "vm2")), "vm2 is not attacked")

			during := vm2Rate(d, taps[0], 20)
			t.Logf("vm2: %.0f frames/s before the flood, %.0f during", before, during)
			assert.GreaterOrEqual(t, during, 0.95*before, "the other VM keeps at least 95 %% of its throughput")

			f.Stop()
			end := d.WaitEventSince(mark, "attack on vm1 over", isDoS("dos_end", "vm1"))
			assert.Less(t, end.Num("value"), end.Num("threshold"))
			g.Finish(true)
			d.Stop()
		})
	}
}

func TestBenignTrafficFromManyFlowsIsNotFlagged(t *testing.T) {
	_, d, taps, g := dosLab(t, `"rate-limit"`, "", "")
	mark := d.Mark()
	// 20 kpps of established TCP and ordinary UDP from 2000 clients: as
	// busy as the floods, but nothing an attack is made of.
	f := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "benign", PPS: 20000, Sources: 2000})
	st := d.WaitStatusLines(40) // 2 s
	f.Stop()
	assert.Zero(t, d.CountSince(mark, isDoS("dos_start", "vm1")), "no attack reported")
	assert.Equal(t, false, st.At("vms.vm1.dos.under_attack"))
	assert.Zero(t, st.Num("vms.vm1.drops.dos"))
	assert.Zero(t, st.Num("vms.vm1.dos.in_syn"), "ACKs are not SYNs")
	assert.Positive(t, st.Num("vms.vm1.dos.in_sources"))
	g.Finish(true)
	d.Stop()
}

func TestRateLimitDropsTheFloodAndLiftsAfterIt(t *testing.T) {
	_, d, taps, g := dosLab(t, `"rate-limit"`, "", "")
	mark := d.Mark()
	f := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "syn", PPS: 20000, Sources: 1000})
	d.WaitEventSince(mark, "attack on vm1", isDoS("dos_start", "vm1"))
	st := d.WaitStatusLines(20)
	dropped, delivered := st.Num("vms.vm1.drops.dos"), st.Num("vms.vm1.in_pkts")
	assert.Positive(t, dropped, "SYNs above attack_limit_pps are dropped as dos")
	sent := f.Stop()
	t.Logf("flood: %d SYNs sent, %.0f dropped, %.0f delivered to vm1", sent, dropped, delivered)
	assert.Greater(t, dropped, 2*delivered, "most of a 20 kpps flood is dropped at a 500/s limit")
	d.WaitEventSince(mark, "attack over", isDoS("dos_end", "vm1"))

	// After the attack, SYNs at a normal rate all reach the VM.
	st = d.WaitStatusLines(1)
	f = taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "syn", PPS: 1000, Sources: 10})
	after := d.WaitStatus("200 more SYNs at vm1", func(e lab.Event) bool {
		return e.Num("vms.vm1.dos.in_syn") >= st.Num("vms.vm1.dos.in_syn")+200
	})
	f.Stop()
	assert.Equal(t, st.Num("vms.vm1.drops.dos"), after.Num("vms.vm1.drops.dos"), "the limit is lifted")
	g.Finish(true)
	d.Stop()
}

func TestDelayHoldsDeliveriesInBatchesDuringTheAttackOnly(t *testing.T) {
	_, d, taps, g := dosLab(t, `"delay"`, "delay = \"20ms\"", "")
	mark := d.Mark()
	f := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "syn", PPS: 20000, Sources: 1000})
	d.WaitEventSince(mark, "attack on vm1", isDoS("dos_start", "vm1"))
	st := d.WaitStatusLines(10)
	assert.Positive(t, st.Num("vms.vm1.dos.held_deliveries"), "deliveries to vm1 go in batches")
	assert.Zero(t, st.Num("vms.vm1.drops.dos"), "delay drops nothing")
	f.Stop()
	d.WaitEventSince(mark, "attack over", isDoS("dos_end", "vm1"))

	st = d.WaitStatusLines(2)
	f = taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "benign", PPS: 1000, Sources: 10})
	after := d.WaitStatus("500 more frames delivered to vm1", func(e lab.Event) bool {
		return e.Num("vms.vm1.in_pkts") >= st.Num("vms.vm1.in_pkts")+500
	})
	f.Stop()
	assert.Equal(t, st.Num("vms.vm1.dos.held_deliveries"), after.Num("vms.vm1.dos.held_deliveries"), "delivered at once again")
	g.Finish(true)
	d.Stop()
}

// nicState matches nic's nic_state transitions to state by cause.
func nicState(nic, to, cause string) func(lab.Event) bool {
	return func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == nic && e.Str("to") == to && e.Str("cause") == cause
	}
}

// apiStatus is the daemon's report, read through its API.
func apiStatus(t *testing.T, l *lab.Lab) report.Report {
	var r report.Report
	require.NoError(t, json.Unmarshal([]byte(apiGet(t, l, "/v1/status")), &r))
	return r
}

// The failover response is a failover of the NIC manager's, with its own
// cause: everything a link failover does follows it, and nothing pretends
// an operator set the NICs down.
func TestFailoverMovesTheTeamToItsDoSStandbyNICsAndBack(t *testing.T) {
	hookLog := filepath.Join(t.TempDir(), "hook.log")
	hook := filepath.Join(filepath.Dir(hookLog), "vm-hook")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\necho \"$*\" >> "+hookLog+"\n"), 0o755))
	l, d, taps, g := dosLabWith(t, `"failover"`, "", "dos_standby = [\"nic2\"]\nup_delay = \"300ms\"", `speed = "100M"`,
		"suspend_on_failover = true\ndriver = \"exec\"\nexec = [\""+hook+"\"]")
	require.Equal(t, 200e6, apiStatus(t, l).Teams["uplink"].CapacityBPS, "both NICs count")

	mark := d.Mark()
	f := taps[0].Flood(lab.FloodSpec{Dst: polMAC1, Kind: "syn", PPS: 20000, Sources: 1000})
	d.WaitEventSince(mark, "attack on vm1", isDoS("dos_start", "vm1"))
	failing := d.WaitEventSince(mark, "nic1 failing over for the attack", nicState("nic1", "failing", "dos-evacuate"))
	assert.Equal(t, []any{"vm1", "vm2"}, failing["vms"], "the transition names the VMs it moves")
	d.WaitEventSince(mark, "nic1 down for the attack", nicState("nic1", "down", "dos-evacuate"))
	before := taps[1].FromSrc(polMAC2)
	assert.GreaterOrEqual(t, taps[1].WaitFromSrc(polMAC2, before+2000, 20*time.Second), before+2000, "vm2's traffic leaves by nic2")
	assert.GreaterOrEqual(t, taps[1].WaitRARPs(polMAC2, 1, 20*time.Second), 1, "and its MAC is announced there")
	suspend := d.WaitEventSince(mark, "vm2 suspended around nic1's failover", vmActionOf("vm2", "suspend", "ok"))
	assert.Equal(t, "failover of nic1", suspend.Str("reason"))
	d.WaitEventSince(mark, "vm2 resumed once its traffic moved", vmActionOf("vm2", "resume", "ok"))

	st := apiStatus(t, l)
	nic1 := st.NICs["nic1"]
	assert.True(t, nic1.AdminUp, "nobody set nic1 admin down")
	assert.Equal(t, "down", nic1.State)
	assert.Equal(t, []string{"dos-evacuate"}, nic1.Faults, "the API says why")
	assert.Empty(t, st.NICs["nic2"].Faults)
	assert.Equal(t, []string{"nic2"}, st.Teams["uplink"].Up)
	assert.Equal(t, 100e6, st.Teams["uplink"].CapacityBPS, "the resource manager counts nic2 only")
	fams := scrape(t, l)
	assert.Equal(t, 1.0, value(t, fams, "uplinkd_nic_admin_up", map[string]string{"nic": "nic1"}))
	assert.Equal(t, 1.0, value(t, fams, "uplinkd_nic_fault", map[string]string{"nic": "nic1", "fault": "dos-evacuate"}))
	assert.Equal(t, 0.0, value(t, fams, "uplinkd_nic_fault", map[string]string{"nic": "nic1", "fault": "admin down"}))
	assert.Equal(t, 1.0, value(t, fams, "uplinkd_nic_state", map[string]string{"nic": "nic1", "state": "down"}))
	line := d.WaitStatusLines(1)
	assert.Equal(t, []any{"dos-evacuate"}, line.At("nics.nic1.faults"), "and so does the status line")
	assert.Equal(t, true, line.At("nics.nic1.admin_up"))

	f.Stop()
	d.WaitEventSince(mark, "attack over", isDoS("dos_end", "vm1"))
	d.WaitEventSince(mark, "nic1 recovering", nicState("nic1", "recovering", "dos-return"))
	d.WaitEventSince(mark, "nic1 up after its up-delay", nicState("nic1", "up", "up-delay elapsed"))
	back := taps[0].FromSrc(polMAC2)
	assert.GreaterOrEqual(t, taps[0].WaitFromSrc(polMAC2, back+2000, 20*time.Second), back+2000, "and comes back to nic1")
	assert.GreaterOrEqual(t, taps[0].WaitRARPs(polMAC2, 1, 20*time.Second), 1, "announced there again")
	st = apiStatus(t, l)
	assert.Empty(t, st.NICs["nic1"].Faults)
	assert.Equal(t, 200e6, st.Teams["uplink"].CapacityBPS)
	hooked, err := os.ReadFile(hookLog)
	require.NoError(t, err)
	assert.Equal(t, "suspend vm2\nresume vm2\n", string(hooked), "the exec driver carried out both")
	g.Finish(true)
	end := d.Stop()
	assert.Zero(t, end.Drops("vms.vm2"), "vm2 lost nothing on the way")
}
