package main

// The latency scenario: one VM sends 64-byte frames at a fixed rate, well
// below any peer's limit, through the switch onto a bond of two NICs that
// are vhost-user ports (net_vhost) whose far ends the generator itself
// plays (uplink-gen --nic), so one TSC stamps each frame at send and reads
// it at receive. (memif would be the natural wire, but Debian's DPDK
// 22.11 memif PMD crashes its process on close now and then.) Percentiles
// of that one-way latency (p50, p99, p99.9), measured after a warm-up,
// quiet and again under control-plane load: the switch's status and
// counters read every 100 ms and a config change applied every second,
// through each switch's own interfaces (uplinkd's API socket; ovs-appctl
// and ovs-vsctl). Go's runtime can pause uplinkd's control threads; this
// is where a pause reaching the worker would show, with the worker's
// longest loop gap beside it.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

var (
	latRuns  = flag.Int("latency-runs", 3, "latency measurements per peer and load (0: none)")
	latRate  = flag.Int("latency-rate", 100000, "latency scenario's offered rate, frames/s")
	latPeers = flag.String("latency-peers", strings.Join(allPeers, ","), "peers of the latency scenario")
)

type latency struct{ p50, p99, p999, max float64 } // microseconds

func latencyOf(rep genReport) latency {
	m, _ := rep["latency"].(map[string]any)
	f := func(k string) float64 { v, _ := m[k].(float64); return v }
	return latency{f("p50_us"), f("p99_us"), f("p999_us"), f("max_us")}
}

// wireNICs are the latency scenario's NICs: vhost-user servers the
// generator connects to.
func wireNICs(dir string) []string {
	var nics []string
	for i := 0; i < 2; i++ {
		nics = append(nics, fmt.Sprintf("net_vhost%d,iface=%s,queues=1", 10+i, wireSocket(dir, i)))
	}
	return nics
}

func wireSocket(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("nic%d.sock", i)) }

func latencySetup(dir string, loaded bool) setup {
	st := setup{scenario: "latency", vms: 1, flows: 1024, nics: wireNICs(dir),
		genArgs: []string{"--latency", "--rate", fmt.Sprint(*latRate)}}
	for i := range st.nics {
		st.genArgs = append(st.genArgs, "--nic", "socket="+wireSocket(dir, i))
		st.wires = append(st.wires, wireSocket(dir, i))
	}
	if loaded {
		st.scenario = "latency-loaded"
		st.load = controlPlaneLoad
	}
	return st
}

// latencyNA says why a peer has no figure under load.
func latencyNA(peer string, loaded bool) string {
	switch {
	case strings.HasPrefix(peer, "uplinkd-"):
		return "uplinkd's variants differ in fast-path work, measured in the throughput scenario; uplinkd as shipped stands for them here"
	case strings.HasPrefix(peer, "testpmd-bond"):
		return "the bonding PMD cannot enslave the vhost-user ports this scenario's wires are (they refuse its MAC change)"
	case loaded && strings.HasPrefix(peer, "testpmd"):
		return "testpmd has no control plane to poll or reconfigure while it forwards"
	}
	return ""
}

// controlPlaneLoad reads the switch's status and counters every 100 ms
// and changes its config every second, until stop.
func controlPlaneLoad(sw *switchRun, stop <-chan struct{}) {
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	reload := time.NewTicker(time.Second)
	defer reload.Stop()
	var api *http.Client
	if sw.api != "" {
		api = apiClient(sw.api)
	}
	call := func(method, path string) {
		req, _ := http.NewRequest(method, "http://uplinkd"+path, nil)
		if resp, err := api.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	base, _ := os.ReadFile(sw.cfg)
	n := 0
	for {
		select {
		case <-stop:
			return
		case <-poll.C:
			if api != nil {
				call("GET", "/v1/status")
				call("GET", "/metrics")
			} else if sw.ovs != nil {
				sw.ovs.appctl("dpif-netdev/pmd-stats-show")
				sw.ovs.vsctl("list", "Interface")
			}
		case <-reload.C:
			n++
			if api != nil {
				// A reloadable key that changes nothing on the fast path:
				// the reload's own cost (parse, validate, new tables).
				conf := string(base) + fmt.Sprintf("[resources]\nover_allocation_after = \"%ds\"\n", 2+n%2)
				os.WriteFile(sw.cfg, []byte(conf), 0o600)
				call("POST", "/v1/reload")
			} else if sw.ovs != nil {
				sw.ovs.vsctl("set", "Port", "bond0", fmt.Sprintf("other_config:bond-rebalance-interval=%d", 10000+n%2))
			}
		}
	}
}

func runLatency(dir string) []result {
	var out []result
	for r := 0; r < *latRuns; r++ {
		for _, loaded := range []bool{false, true} {
			for _, peer := range strings.Split(*latPeers, ",") {
				if latencyNA(peer, loaded) != "" {
					continue
				}
				ldir := filepath.Join(dir, "latency")
				os.RemoveAll(ldir)
				check(os.MkdirAll(ldir, 0o755))
				res, err := measureSetup(ldir, peer, 64, latencySetup(ldir, loaded))
				if err != nil {
					fmt.Fprintf(os.Stderr, "latency %s run %d: %v\n", peer, r+1, err)
					os.Exit(1)
				}
				fmt.Printf("  %-15s %-14s run %d: p50 %7.1f  p99 %7.1f  p99.9 %7.1f  max %8.1f us  loop gap %7.1f us  load %s\n",
					res.scenario, peer, r+1, res.lat.p50, res.lat.p99, res.lat.p999, res.lat.max, res.gapUS, res.load)
				out = append(out, res)
			}
		}
	}
	return out
}

func reportLatency(w io.Writer, rs []result) {
	fmt.Fprintf(w, "\nlatency: one VM at %d frames/s of 64 B through the switch onto a bond of two NICs (vhost-user wires) the generator plays;\n"+
		"one-way, generator TSC at send to receive, after a 1 s warm-up, %d s window; min / median / max over runs (us).\n"+
		"loaded: the switch's status and counters read every 100 ms and a config change applied every second\n", *latRate, *seconds)
	fmt.Fprintf(w, "%-19s %-7s %-22s %-22s %-22s %-24s %s\n", "peer", "load", "p50", "p99", "p99.9", "max", "switch max loop gap")
	for _, peer := range strings.Split(*latPeers, ",") {
		for _, loaded := range []bool{false, true} {
			name := map[bool]string{false: "quiet", true: "loaded"}[loaded]
			if why := latencyNA(peer, loaded); why != "" {
				fmt.Fprintf(w, "%-19s %-7s not applicable: %s\n", peer, name, why)
				continue
			}
			scen := map[bool]string{false: "latency", true: "latency-loaded"}[loaded]
			var p50, p99, p999, mx, gap []float64
			for _, r := range rs {
				if r.peer == peer && r.scenario == scen {
					p50, p99, p999 = append(p50, r.lat.p50), append(p99, r.lat.p99), append(p999, r.lat.p999)
					mx, gap = append(mx, r.lat.max), append(gap, r.gapUS)
				}
			}
			if len(p50) == 0 {
				continue
			}
			g := "-"
			if strings.HasPrefix(peer, "uplinkd") {
				g = stats(gap).String()
			}
			fmt.Fprintf(w, "%-19s %-7s %-22s %-22s %-22s %-24s %s\n", peer, name, stats(p50), stats(p99), stats(p999), stats(mx), g)
		}
	}
}

// apiClient speaks HTTP to uplinkd's API socket.
func apiClient(sock string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// pinProcess moves every thread of the bench to cpu; threads started
// later inherit it. The bench's own work (the control-plane load, the
// captures) stays off the switch core.
func pinProcess(cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			unix.SchedSetaffinity(tid, &set)
		}
	}
}
