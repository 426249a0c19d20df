package main

// The stall scenario: uplinkd forwarding as fast as the generator offers,
// for a minute, quiet and under control-plane load, with the housekeeping
// core (CPU 0) 100 % busy with the generator. The figure is the worker's
// longest loop gap in the window and how many gaps passed 64 µs, 512 µs
// and 4 ms: at 20 Mpps a NIC's rx ring of 1-4k descriptors overflows in
// 0.05-0.2 ms, so on real NICs every such stall is loss.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

var (
	stallRuns    = flag.Int("stall-runs", 2, "worker stall measurements per load (0: none)")
	stallSeconds = flag.Int("stall-seconds", 60, "stall scenario's measured window")
	stallEnv     = flag.String("stall-env", "", "extra uplinkd environment for the stall scenario (comma-separated K=V)")
)

// gapDelta is end - base per histogram bucket (base may be empty).
func gapDelta(base, end []uint64) []uint64 {
	d := make([]uint64, len(end))
	for i := range end {
		d[i] = end[i]
		if i < len(base) {
			d[i] -= base[i]
		}
	}
	return d
}

// windowGap is the longest loop gap of a window: the all-time maximum at
// its end when that rose during the window (exact), else the upper bound
// of the highest histogram bucket the window added to.
func windowGap(baseMax, endMax float64, delta []uint64, bounds []float64) (float64, bool) {
	if endMax > baseMax {
		return endMax, true
	}
	for i := len(delta) - 1; i >= 0; i-- {
		if delta[i] > 0 {
			if i < len(bounds) {
				return bounds[i], false
			}
			return endMax, false
		}
	}
	return 0, false
}

// gapsOver counts a window's gaps of at least us µs (a bucket bound).
func gapsOver(delta []uint64, us float64) uint64 {
	var n uint64
	for i, c := range delta {
		if i >= 23 || float64(uint64(1)<<i) > us {
			n += c
		}
	}
	return n
}

func runStall(dir string) []result {
	var env []string
	if *stallEnv != "" {
		env = strings.Split(*stallEnv, ",")
	}
	var out []result
	for r := 0; r < *stallRuns; r++ {
		for _, loaded := range []bool{false, true} {
			st := throughputSetup("uplinkd")
			st.scenario, st.duration, st.env = "stall", time.Duration(*stallSeconds)*time.Second, env
			if loaded {
				st.scenario, st.load = "stall-loaded", controlPlaneLoad
			}
			res, err := measureSetup(dir, "uplinkd", 64, st)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s run %d: %v\n", st.scenario, r+1, err)
				os.Exit(1)
			}
			fmt.Printf("  %-13s run %d: %6.2f Mpps  longest gap %s  gaps >=64us %d  >=512us %d  >=4ms %d  steal %.1f%%  load %s\n",
				st.scenario, r+1, res.mpps, gapText(res), gapsOver(res.gaps, 64), gapsOver(res.gaps, 512), gapsOver(res.gaps, 4096), res.steal, res.load)
			out = append(out, res)
		}
	}
	return out
}

func gapText(r result) string {
	if r.gapExact {
		return fmt.Sprintf("%8.1f us", r.gapUS)
	}
	return fmt.Sprintf("< %6.0f us", r.gapUS)
}

func reportStall(w io.Writer, rs []result) {
	fmt.Fprintf(w, "\nWorker stalls: uplinkd at 64 B as fast as the generator offers, %d s per run, generator busy-polling CPU 0\n"+
		"(the housekeeping core), quiet and under control-plane load (status and metrics every 100 ms, a reload every second).\n"+
		"Longest loop gap in the window (exact, or '<' the histogram bucket's bound when the all-time maximum predates it)\n", *stallSeconds)
	for _, r := range rs {
		fmt.Fprintf(w, "  %-13s %6.2f Mpps  longest %s  >=64us %6d  >=512us %5d  >=4ms %4d  steal %.1f%%\n",
			r.scenario, r.mpps, gapText(r), gapsOver(r.gaps, 64), gapsOver(r.gaps, 512), gapsOver(r.gaps, 4096), r.steal)
	}
}
