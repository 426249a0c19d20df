package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/ctrl/report"
)

// Operating uplinkd: uplinkctl against a running daemon, its metrics, its
// API socket's permissions.

// opsLab runs uplinkd with two VMs on two taps, vm1's actions going to a
// real hook script that records them, one migration target, and
// uplink-gen playing both VMs.
func opsLab(t *testing.T) (*lab.Lab, *lab.Daemon, string, *lab.Gen) {
	l := lab.New(t, bins)
	hookLog := filepath.Join(l.Dir, "hook.log")
	hook := filepath.Join(l.Dir, "vm-hook")
	require.NoError(t, os.WriteFile(hook, []byte("#!/bin/sh\necho \"$*\" >> "+hookLog+"\n"), 0o755))
	d := l.StartUplinkd(opsConfig(l, ""))
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "5000", "--size", "128", "--duration", "60s", "--progress", "100ms")
	d.WaitStatus("both VMs sending", func(e lab.Event) bool {
		return e.Num("vms.vm1.out_pkts") > 1000 && e.Num("vms.vm2.out_pkts") > 1000
	})
	return l, d, hookLog, g
}

// opsConfig is opsLab's config with top's keys added.
func opsConfig(l *lab.Lab, top string) string {
	hook := filepath.Join(l.Dir, "vm-hook")
	return labConfig(l, top+"\n[[hosts]]\nname = \"b\"\nconnection = \"other\"\nuri = \"tcp:192.0.2.2:4444\"",
		`policy = "vm-affinity"`, []string{"", ""},
		vmConf{name: "vm1", mac: polMAC1, keys: "preferred_nic = \"nic1\"\ndriver = \"exec\"\nexec = [\"" + hook + "\"]"},
		vmConf{name: "vm2", mac: polMAC2, keys: `preferred_nic = "nic2"`})
}

// ctl runs uplinkctl against the lab's daemon and returns its output.
func ctl(t *testing.T, l *lab.Lab, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(bins.Ctl, append([]string{"--api", l.APISocket()}, args...)...).CombinedOutput()
	return string(out), err
}

func mustCtl(t *testing.T, l *lab.Lab, args ...string) string {
	t.Helper()
	out, err := ctl(t, l, args...)
	require.NoError(t, err, "uplinkctl %s: %s", strings.Join(args, " "), out)
	return out
}

func TestUplinkctlDrivesARunningDaemon(t *testing.T) {
	l, d, hookLog, g := opsLab(t)

	st := mustCtl(t, l, "status")
	for _, want := range []string{"VM", "vm1", "vm2", "NIC", "nic1", "nic2", "TEAM", "vm-affinity", "busy cycles/pkt"} {
		assert.Contains(t, st, want)
	}
	var vms map[string]struct {
		Connected bool   `json:"connected"`
		OutPkts   uint64 `json:"out_pkts"`
		Team      string `json:"team"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "vms", "--json")), &vms))
	assert.True(t, vms["vm1"].Connected)
	assert.Positive(t, vms["vm2"].OutPkts)
	assert.Equal(t, "uplink", vms["vm1"].Team)
	assert.Contains(t, mustCtl(t, l, "teams"), "nic1,nic2")
	assert.Regexp(t, `(?m)^nic1\s+uplink\s+up\s+up\s+up\s`, mustCtl(t, l, "nics"))

	// Admin down through the CLI: the NIC manager fails nic1 over.
	mark := d.Mark()
	assert.Contains(t, mustCtl(t, l, "nic", "down", "nic1"), "nic1: admin down")
	d.WaitEventSince(mark, "nic1 down by admin", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic1" && e.Str("to") == "down"
	})
	var nics map[string]struct {
		AdminUp bool   `json:"admin_up"`
		State   string `json:"state"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustCtl(t, l, "nics", "--json")), &nics))
	assert.False(t, nics["nic1"].AdminUp)
	assert.Equal(t, "down", nics["nic1"].State)
	mustCtl(t, l, "nic", "up", "nic1")
	d.WaitEventSince(mark, "nic1 up again", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic1" && e.Str("to") == "up"
	})

	// VM actions go through vm1's driver, here a hook script.
	mark = d.Mark()
	mustCtl(t, l, "vm", "suspend", "vm1")
	mustCtl(t, l, "vm", "resume", "vm1")
	mustCtl(t, l, "vm", "migrate", "vm1", "--host", "b")
	d.WaitEventSince(mark, "vm1 migrated", vmActionOf("vm1", "migrate", "ok"))
	hooked, err := os.ReadFile(hookLog)
	require.NoError(t, err)
	assert.Equal(t, "suspend vm1\nresume vm1\nmigrate vm1 tcp:192.0.2.2:4444 b\n", string(hooked))

	// Mistakes are refused with the reason.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nic", "down", "nic9"}, `no NIC named "nic9"`},
		{[]string{"vm", "suspend", "vm9"}, `no VM named "vm9"`},
		{[]string{"vm", "migrate", "vm1", "--host", "nowhere"}, `"nowhere" is not one of [[hosts]]`},
	} {
		out, err := ctl(t, l, c.args...)
		assert.Error(t, err, "uplinkctl %v", c.args)
		assert.Contains(t, out, c.want)
	}

	// events: what happened, and --follow for what happens next.
	evs := mustCtl(t, l, "events")
	assert.Regexp(t, `nic_state\s+NIC nic1 up -> failing \(admin down\)`, evs)
	assert.Contains(t, evs, "VM vm1 migrate: ok")
	assert.NotContains(t, evs, "status", "status lines are not events")
	var page struct{ Next uint64 }
	require.NoError(t, json.Unmarshal([]byte(apiGet(t, l, "/v1/events?since=18446744073709551615")), &page))
	follow := exec.Command(bins.Ctl, "--api", l.APISocket(), "events", "--follow", "--since", fmt.Sprint(page.Next), "--count", "1", "--json")
	var followed strings.Builder
	follow.Stdout = &followed
	require.NoError(t, follow.Start())
	mustCtl(t, l, "nic", "down", "nic2")
	require.NoError(t, follow.Wait())
	assert.Contains(t, followed.String(), `"event":"nic_state"`)
	assert.Contains(t, followed.String(), `"nic":"nic2"`)
	mustCtl(t, l, "nic", "up", "nic2")

	// top: a screen per interval.
	top := mustCtl(t, l, "top", "--iterations", "2", "--interval", "100ms")
	assert.Equal(t, 2, strings.Count(top, "\033[H\033[2J"), "two screens")
	assert.Equal(t, 2, strings.Count(top, "OUT PPS"))
	g.Finish(true)
	d.Stop()
}

// apiGet reads path from the lab daemon's API socket.
func apiGet(t *testing.T, l *lab.Lab, path string) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", l.APISocket())
	}}, Timeout: 10 * time.Second}
	resp, err := c.Get("http://uplinkd" + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// scrape reads /metrics from the API socket.
func scrape(t *testing.T, l *lab.Lab) map[string]*dto.MetricFamily {
	body := apiGet(t, l, "/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, "metrics parse:\n%s", body)
	return families
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "no metric %s", name)
	for _, m := range f.Metric {
		match := true
		for k, v := range labels {
			found := false
			for _, lp := range m.Label {
				found = found || (lp.GetName() == k && lp.GetValue() == v)
			}
			match = match && found
		}
		if match {
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("%s%v: no such series", name, labels)
	return 0
}

func TestMetricsAreScrapedAndParseAsPrometheusText(t *testing.T) {
	l, d, _, g := opsLab(t)
	fams := scrape(t, l)
	assert.Positive(t, value(t, fams, "uplinkd_vm_packets_total", map[string]string{"vm": "vm1", "direction": "out"}))
	assert.Positive(t, value(t, fams, "uplinkd_nic_packets_total", map[string]string{"nic": "nic2", "direction": "tx"}))
	assert.Equal(t, 1.0, value(t, fams, "uplinkd_nic_link_up", map[string]string{"nic": "nic1"}))
	assert.Equal(t, 1.0, value(t, fams, "uplinkd_nic_state", map[string]string{"nic": "nic1", "state": "up"}))
	assert.Equal(t, 0.0, value(t, fams, "uplinkd_nic_state", map[string]string{"nic": "nic1", "state": "down"}))
	assert.Equal(t, 1.0, value(t, fams, "uplinkd_vm_connected", map[string]string{"vm": "vm2"}))
	assert.Positive(t, value(t, fams, "uplinkd_mbufs_in_use", nil))

	// Counters move, and a failover and a VM action show.
	mark := d.Mark()
	mustCtl(t, l, "nic", "down", "nic2")
	d.WaitEventSince(mark, "nic2 down", func(e lab.Event) bool {
		return e.Str("event") == "nic_state" && e.Str("nic") == "nic2" && e.Str("to") == "down"
	})
	mustCtl(t, l, "vm", "suspend", "vm1")
	d.WaitEventSince(mark, "vm1 suspended", vmActionOf("vm1", "suspend", "ok"))
	again := scrape(t, l)
	assert.Greater(t, value(t, again, "uplinkd_vm_packets_total", map[string]string{"vm": "vm1", "direction": "out"}),
		value(t, fams, "uplinkd_vm_packets_total", map[string]string{"vm": "vm1", "direction": "out"}))
	assert.Equal(t, 1.0, value(t, again, "uplinkd_nic_state", map[string]string{"nic": "nic2", "state": "down"}))
	assert.Equal(t, 0.0, value(t, again, "uplinkd_nic_admin_up", map[string]string{"nic": "nic2"}))
	assert.GreaterOrEqual(t, value(t, again, "uplinkd_nic_state_transitions_total", map[string]string{"nic": "nic2"}), 2.0)
	assert.Equal(t, 1.0, value(t, again, "uplinkd_vm_actions_total", map[string]string{"vm": "vm1", "result": "ok"}))
	for name := range again {
		assert.True(t, strings.HasPrefix(name, "uplinkd_") || strings.HasPrefix(name, "go_"), name)
	}

	// Go's collector is there, with the runtime keys in force, and a
	// reload changes them.
	assert.Equal(t, 1000.0, value(t, again, "go_gc_gogc_percent", nil))
	assert.Equal(t, float64(512<<20), value(t, again, "go_gc_gomemlimit_bytes", nil))
	l.WriteConfig(opsConfig(l, "[runtime]\ngc_percent = 300\nmemory_limit_mb = 0"))
	assert.Contains(t, mustCtl(t, l, "reload"), "runtime.gc_percent")
	reloaded := scrape(t, l)
	assert.Equal(t, 300.0, value(t, reloaded, "go_gc_gogc_percent", nil))
	assert.Greater(t, value(t, reloaded, "go_gc_gomemlimit_bytes", nil), float64(1<<60), "no limit")
	g.Finish(true)
	d.Stop()
}

func TestTheAPISocketIsRefusedToNonRootUsers(t *testing.T) {
	l, d, _, g := opsLab(t)
	fi, err := os.Stat(l.APISocket())
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "api socket mode")

	// Let nobody reach the socket's directory and run uplinkctl: only the
	// socket's own mode stands in the way.
	require.NoError(t, os.Chmod(l.Dir, 0o755))
	ctlCopy := filepath.Join(os.TempDir(), "uplinkctl-"+l.ID)
	data, err := os.ReadFile(bins.Ctl)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ctlCopy, data, 0o755))
	t.Cleanup(func() { os.Remove(ctlCopy) })

	cmd := exec.Command(ctlCopy, "--api", l.APISocket(), "status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	assert.Error(t, err, "nobody must not reach uplinkd")
	assert.Contains(t, string(out), "permission denied")
	assert.Contains(t, mustCtl(t, l, "status"), "vm1", "root still does")
	g.Finish(true)
	d.Stop()
}

// loopGaps is the loop-gap part of the API's status.
type loopGaps struct {
	Counts    []uint64  `json:"loop_gaps"`
	BoundsUS  []float64 `json:"loop_gap_bounds_us"`
	Seconds   float64   `json:"loop_gap_seconds"`
	MaxUS     float64   `json:"max_loop_gap_us"`
	RecentMax float64   `json:"recent_max_loop_gap_us"`
}

func (g loopGaps) total() (n uint64) {
	for _, c := range g.Counts {
		n += c
	}
	return n
}

func TestTheWorkersLoopGapsAreExportedAndMove(t *testing.T) {
	l, d, _, g := opsLab(t)
	// The status line: the histogram, and a window maximum once the
	// worker's first one-second window has closed.
	st := d.WaitStatus("a closed loop-gap window", func(e lab.Event) bool { return e.Num("recent_max_loop_gap_us") > 0 })
	counts, _ := st.At("loop_gaps").([]any)
	require.NotEmpty(t, counts, "the status line carries the histogram")

	read := func() loopGaps {
		var r loopGaps
		require.NoError(t, json.Unmarshal([]byte(apiGet(t, l, "/v1/status")), &r))
		return r
	}
	first := read()
	require.Len(t, first.Counts, len(first.BoundsUS)+1, "one count per bound and one past the last")
	assert.Equal(t, 1.0, first.BoundsUS[0])
	for i := 1; i < len(first.BoundsUS); i++ {
		assert.Equal(t, 2*first.BoundsUS[i-1], first.BoundsUS[i], "log2 buckets")
	}
	assert.Positive(t, first.RecentMax)
	assert.LessOrEqual(t, first.RecentMax, first.MaxUS)
	// The window's maximum is a gap the histogram counted: its bucket and
	// the ones above hold at least one.
	over := report.GapsOver(first.Counts, first.BoundsUS, first.RecentMax)
	assert.Positive(t, over, "the window maximum %.1f us is in the histogram %v", first.RecentMax, first.Counts)

	// The worker keeps looping: every count only grows, and the total does.
	fams := scrape(t, l)
	h := fams["uplinkd_worker_loop_gap_seconds"]
	require.NotNil(t, h, "the histogram is exported")
	require.Equal(t, dto.MetricType_HISTOGRAM, h.GetType())
	hist := h.Metric[0].Histogram
	assert.GreaterOrEqual(t, hist.GetSampleCount(), first.total(), "scraped after the API read")
	require.Len(t, hist.Bucket, len(first.BoundsUS)+1, "the text format adds the +Inf bucket")
	assert.Equal(t, hist.GetSampleCount(), hist.Bucket[len(first.BoundsUS)].GetCumulativeCount())
	for i := 1; i < len(first.BoundsUS); i++ {
		assert.GreaterOrEqual(t, hist.Bucket[i].GetCumulativeCount(), hist.Bucket[i-1].GetCumulativeCount())
		assert.Equal(t, 2*hist.Bucket[i-1].GetUpperBound(), hist.Bucket[i].GetUpperBound())
	}
	assert.Positive(t, hist.GetSampleSum())
	d.WaitStatus("more loops", func(e lab.Event) bool {
		var n float64
		cs, _ := e.At("loop_gaps").([]any)
		for _, c := range cs {
			f, _ := c.(float64)
			n += f
		}
		return n > float64(hist.GetSampleCount())
	})
	second := read()
	assert.Greater(t, second.total(), first.total())
	assert.Greater(t, second.Seconds, first.Seconds)
	for i := range first.Counts {
		assert.GreaterOrEqual(t, second.Counts[i], first.Counts[i], "bucket %d", i)
	}
	assert.Regexp(t, `loop gaps since start: \d+ of 64 us or more, \d+ of 512 us or more, \d+ of 4 ms or more`, mustCtl(t, l, "status"))
	g.Finish(true)
	d.Stop()
}

func TestOnlyTheWorkerRunsOnItsCoreAndTheRestRunFirstOnTheirs(t *testing.T) {
	l, d, _, g := opsLab(t)
	ready := d.WaitEvent("ready", func(e lab.Event) bool { return e.Str("event") == "ready" })
	worker := int(ready.Num("worker_tid"))
	require.NotZero(t, worker)
	// Make the runtime busy with what starts threads: API calls, a scrape,
	// a reload, while the worker forwards.
	for range 20 {
		apiGet(t, l, "/v1/status")
		scrape(t, l)
	}
	mustCtl(t, l, "reload")
	threads := d.Threads()
	require.Greater(t, len(threads), 3)
	seen := false
	for _, th := range threads {
		if th.TID == worker {
			seen = true
			assert.Equal(t, "1", th.CPUs, "the worker is on its lcore's CPU")
			continue
		}
		assert.Equal(t, "0", th.CPUs, "thread %d (%s) is off the worker's core", th.TID, th.Name)
		assert.Equal(t, -20, th.Nice, "thread %d (%s) runs at eal.control_nice", th.TID, th.Name)
	}
	assert.True(t, seen, "the worker thread %d is uplinkd's", worker)
	g.Finish(true)
	d.Stop()
}
