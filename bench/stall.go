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
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	status "github.com/uplinkd/uplinkd/ctrl/report"
	"github.com/uplinkd/uplinkd/fastpath"
)

var (
	stallRuns    = flag.Int("stall-runs", 1, "worker stall measurements per load (0: none)")
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

// gapBounds are the loop-gap histogram's bucket bounds.
var gapBounds = fastpath.GapBoundsUS()

// stallLine is a stall cell: rate, longest gap, gaps of 64 µs, 512 µs and
// 4 ms or more, steal.
func stallLine(r result) string {
	over := func(us float64) uint64 { return status.GapsOver(r.gaps, gapBounds, us) }
	return fmt.Sprintf("%-13s %-13s %6.2f Mpps  longest %s  >=64us %6d  >=512us %5d  >=4ms %4d  steal %.1f%%",
		r.scenario, r.peer, r.mpps, gapText(r), over(64), over(512), over(4096), r.steal)
}

// stallVariants are the stall scenario's uplinkd setups: as shipped, and
// with its control threads at nice 0 (before eal.control_nice), the
// housekeeping core's busy task their equal.
var stallVariants = []struct{ name, eal string }{
	{"uplinkd", ""},
	{"uplinkd-nice0", "control_nice = 0"},
}

func runStall(dir string) []result {
	var env []string
	if *stallEnv != "" {
		env = strings.Split(*stallEnv, ",")
	}
	var out []result
	for r := 0; r < *stallRuns; r++ {
		fl := measureFloor(time.Duration(*stallSeconds) * time.Second)
		fmt.Printf("  run %d: %s\n", r+1, stallLine(fl))
		out = append(out, fl)
		for _, v := range stallVariants {
			for _, loaded := range []bool{false, true} {
				st := throughputSetup("uplinkd")
				st.scenario, st.duration, st.env, st.ealKeys = "stall", time.Duration(*stallSeconds)*time.Second, env, v.eal
				if loaded {
					st.scenario, st.load = "stall-loaded", controlPlaneLoad
				}
				t0, s0 := cpuTimes()
				res, err := measureSetup(dir, "uplinkd", 64, st)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s %s run %d: %v\n", st.scenario, v.name, r+1, err)
					os.Exit(1)
				}
				res.peer = v.name
				if t1, s1 := cpuTimes(); t1 > t0 {
					res.steal = 100 * float64(s1-s0) / float64(t1-t0)
				}
				fmt.Printf("  run %d: %s  load %s\n", r+1, stallLine(res), res.load)
				out = append(out, res)
			}
		}
	}
	return out
}

// measureFloor runs an empty C polling loop on CPU 1 for d while another
// keeps CPU 0 100 % busy: the gaps the machine itself puts into a loop on
// the worker's core with the housekeeping core loaded, which no switch
// can do better than.
func measureFloor(d time.Duration) result {
	hz := tscHz()
	type spun struct {
		hist []uint64
		max  float64
	}
	spin := func(cpu int, done chan<- spun) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		check(unix.SchedSetaffinity(0, &set))
		h, m := dpdk.SpinGaps(d, hz, fastpath.GapBuckets)
		done <- spun{h, m}
	}
	t0, s0 := cpuTimes()
	busy, floor := make(chan spun, 1), make(chan spun, 1)
	go spin(0, busy)
	go spin(1, floor)
	f := <-floor
	<-busy
	res := result{scenario: "stall", peer: "c-loop-floor", size: 64, gaps: f.hist, gapUS: f.max, gapExact: true, load: loadavg()}
	if t1, s1 := cpuTimes(); t1 > t0 {
		res.steal = 100 * float64(s1-s0) / float64(t1-t0)
	}
	return res
}

// tscHz measures the TSC's rate against the monotonic clock.
func tscHz() uint64 {
	t0, c0 := time.Now(), dpdk.TSC()
	time.Sleep(200 * time.Millisecond)
	return uint64(float64(dpdk.TSC()-c0) / time.Since(t0).Seconds())
}

func gapText(r result) string {
	if r.gapExact {
		return fmt.Sprintf("%8.1f us", r.gapUS)
	}
	return fmt.Sprintf("< %6.0f us", r.gapUS)
}

func reportStall(w io.Writer, rs []result) {
	fmt.Fprintf(w, "\nWorker stalls: %d s per run at 64 B as fast as the generator offers, the generator busy-polling CPU 0 (the\n"+
		"housekeeping core), quiet and under control-plane load (status and metrics every 100 ms, a reload every second).\n"+
		"c-loop-floor: an empty C polling loop on CPU 1 while another keeps CPU 0 busy, no switch: the machine's own stalls.\n"+
		"uplinkd-nice0: uplinkd with eal.control_nice = 0 (its control threads the equal of the busy task on CPU 0).\n"+
		"Longest loop gap in the window (exact, or '<' the histogram bucket's bound when the all-time maximum predates it),\n"+
		"then how many gaps were at least 64 us, 512 us and 4 ms long.\n", *stallSeconds)
	for _, r := range rs {
		fmt.Fprintf(w, "  %s\n", stallLine(r))
	}
}
