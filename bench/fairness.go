package main

// The fairness scenario: four VMs with shares 1, 2, 3 and 4 all send as
// fast as the generator can into a team whose two NICs are scheduled at
// 100 Mbit/s each, so every VM is backlogged and the resource manager
// divides 200 Mbit/s by shares. Each VM's achieved rate is read from
// uplinkd's API after a 1 s warm-up and again at the end; Jain's index of
// achieved over configured share, (Σx)² / (n·Σx²) with x = rate / share,
// is 1 when every VM got exactly its share and 1/n at worst.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

var fairRuns = flag.Int("fairness-runs", 3, "fairness measurements (0: none)")

const (
	fairVMs      = 4
	fairNICSpeed = 100e6 // bits/s each, two NICs
)

type fairResult struct {
	rates []float64 // bits/s per VM
	jain  float64
}

// fairnessNA says why a peer has no fairness figure.
func fairnessNA(peer string) string {
	switch {
	case peer == "uplinkd":
		return ""
	case strings.HasPrefix(peer, "uplinkd-"):
		return "the same resource manager as uplinkd; measured once"
	case strings.HasPrefix(peer, "testpmd-bond"):
		return "the bonding PMD balances by hash: it has no per-VM shares or rates to configure"
	case peer == "testpmd-io":
		return "testpmd io forwards one port to one port: no VMs to share among"
	case strings.HasPrefix(peer, "ovs-"):
		return "OVS-DPDK polices a port to a fixed rate (ingress_policing_rate, egress-policer QoS) but cannot divide a bond's capacity by weight"
	}
	return "unknown peer"
}

func jain(x []float64) float64 {
	var sum, sq float64
	for _, v := range x {
		sum += v
		sq += v * v
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(x)) * sq)
}

// vmBytes reads every VM's out_bytes from uplinkd's API.
func vmBytes(api string) (map[string]float64, error) {
	resp, err := apiClient(api).Get("http://uplinkd/v1/vms")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var vms map[string]struct {
		OutBytes float64 `json:"out_bytes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&vms); err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for name, v := range vms {
		out[name] = v.OutBytes
	}
	return out, nil
}

func measureFairness(dir string) (fairResult, error) {
	var res fairResult
	var t0, t1 time.Time
	var b0, b1 map[string]float64
	var loadErr error
	st := setup{scenario: "fairness", vms: fairVMs, flows: 64 * fairVMs,
		nicKeys: fmt.Sprintf("speed = \"%.0f\"\n", fairNICSpeed),
		vmKeys:  func(i int) string { return fmt.Sprintf("shares = %d\n", i+1) },
		// Reads the VMs' counters after the warm-up and when the
		// generator is done.
		load: func(sw *switchRun, stop <-chan struct{}) {
			select {
			case <-stop:
				loadErr = fmt.Errorf("the generator ended within the warm-up")
				return
			case <-time.After(time.Second):
			}
			t0 = time.Now()
			if b0, loadErr = vmBytes(sw.api); loadErr != nil {
				return
			}
			<-stop
			t1 = time.Now()
			b1, loadErr = vmBytes(sw.api)
		}}
	if _, err := measureSetup(dir, "uplinkd", 64, st); err != nil {
		return res, err
	}
	if loadErr != nil {
		return res, loadErr
	}
	var x []float64
	for i := 0; i < fairVMs; i++ {
		name := fmt.Sprintf("vm%d", i+1)
		rate := (b1[name] - b0[name]) * 8 / t1.Sub(t0).Seconds()
		res.rates = append(res.rates, rate)
		x = append(x, rate/float64(i+1))
	}
	res.jain = jain(x)
	return res, nil
}

func runFairness(dir string) []fairResult {
	var out []fairResult
	for r := 0; r < *fairRuns; r++ {
		res, err := measureFairness(dir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fairness run %d: %v\n", r+1, err)
			os.Exit(1)
		}
		fmt.Printf("  fairness run %d: Jain %.4f  rates (Mbit/s) %s\n", r+1, res.jain, mbits(res.rates))
		out = append(out, res)
	}
	return out
}

func mbits(r []float64) string {
	var s []string
	for _, v := range r {
		s = append(s, fmt.Sprintf("%.1f", v/1e6))
	}
	return strings.Join(s, " / ")
}

func reportFairness(w io.Writer, rs []fairResult) {
	total := 2 * fairNICSpeed
	var want []float64
	for i := 0; i < fairVMs; i++ {
		want = append(want, total*float64(i+1)/(fairVMs*(fairVMs+1)/2))
	}
	fmt.Fprintf(w, "\nfairness: %d VMs with shares 1..%d, all backlogged (64 B, as fast as the generator goes), into two NICs scheduled at %.0f Mbit/s each;\n"+
		"achieved rate from uplinkd's counters after a 1 s warm-up; Jain's index of achieved / configured share (1 = exact)\n",
		fairVMs, fairVMs, fairNICSpeed/1e6)
	fmt.Fprintf(w, "%-19s %-26s %s\n", "peer", "Jain's index", "achieved Mbit/s per VM, median run (configured share)")
	var j []float64
	for _, r := range rs {
		j = append(j, r.jain)
	}
	for _, peer := range strings.Split(*peerList, ",") {
		if why := fairnessNA(peer); why != "" {
			fmt.Fprintf(w, "%-19s not applicable: %s\n", peer, why)
			continue
		}
		if len(rs) == 0 {
			continue
		}
		m := stats(j)
		med := rs[0]
		for _, r := range rs {
			if r.jain == m.med {
				med = r
			}
		}
		var cells []string
		for i, v := range med.rates {
			cells = append(cells, fmt.Sprintf("%.1f (%.1f)", v/1e6, want[i]/1e6))
		}
		fmt.Fprintf(w, "%-19s %-26s %s\n", peer, fmt.Sprintf("%.4f / %.4f / %.4f", m.min, m.med, m.max), strings.Join(cells, ", "))
	}
}
