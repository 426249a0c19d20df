package main

// The zero-loss scenario (RFC 2544's NDR, and the PDR at 0.5 % loss): for
// each peer, a binary search for the highest rate the generator can offer
// at 64 B, at a fixed rate, with nothing lost over a window. The
// generator offers each frame once at its time (uplink-gen --fixed-rate):
// a frame the VM's ring refuses because the switch has not drained it is
// lost, as on a real NIC whose rx ring overflows. The NICs are net_null
// sinks, which take everything, so the ring is where a switch loses; a
// stall of the switch's core longer than the ring lasts at the rate is
// loss. The peer's maximum throughput (as fast as the generator offers,
// what the ring takes) is measured first and bounds the search.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

var (
	ndrRuns    = flag.Int("ndr-runs", 1, "NDR and PDR searches per peer (0: none)")
	ndrPeers   = flag.String("ndr-peers", "uplinkd,uplinkd-vmaware,testpmd-io,testpmd-bond2,ovs-slb", "peers of the zero-loss scenario")
	ndrSeconds = flag.Int("ndr-seconds", 30, "each zero-loss trial's measured window")
	ndrSteps   = flag.Int("ndr-steps", 6, "binary search steps for the NDR and again for the PDR")
)

// pdrLoss is the loss the PDR allows.
const pdrLoss = 0.005

// genSkipLimit: a trial in which the generator missed more than this
// share of its frame slots (it fell a ring behind the rate: its own core
// was taken from it) measured the generator, and does not pass.
const genSkipLimit = 0.01

type ndrTrial struct {
	mpps, loss float64
	skipped    float64
}

type ndrResult struct {
	peer     string
	max      float64 // Mpps, as fast as the generator offers
	ndr, pdr float64 // Mpps; 0: lost at every rate tried
	floor    float64 // the lowest rate tried
	trials   []ndrTrial
}

func runNDR(dir string) []ndrResult {
	var out []ndrResult
	for r := 0; r < *ndrRuns; r++ {
		for _, peer := range strings.Split(*ndrPeers, ",") {
			res, err := measureNDR(dir, peer)
			if err != nil {
				fmt.Fprintf(os.Stderr, "zero loss %s run %d: %v\n", peer, r+1, err)
				os.Exit(1)
			}
			fmt.Printf("  zero loss %-15s run %d: max %6.2f  NDR %s  PDR %s Mpps\n", peer, r+1, res.max, ndrText(res.ndr, res.floor), ndrText(res.pdr, res.floor))
			out = append(out, res)
		}
	}
	return out
}

func measureNDR(dir, peer string) (ndrResult, error) {
	res := ndrResult{peer: peer}
	m, err := measureRetrying(dir, peer, 64, 0)
	if err != nil {
		return res, err
	}
	res.max = m.mpps
	trial := func(mpps float64) (float64, error) {
		st := throughputSetup(peer)
		st.scenario, st.duration = "ndr", time.Duration(*ndrSeconds)*time.Second
		st.genArgs = []string{"--fixed-rate", "--rate", fmt.Sprint(mpps * 1e6 / float64(st.vms))}
		t, err := measureSetup(dir, peer, 64, st)
		if err != nil && t.offered == 0 {
			return 0, err
		}
		if t.offered == 0 {
			return 0, fmt.Errorf("%s at %.3f Mpps: nothing offered", peer, mpps)
		}
		loss := t.refused / t.offered
		if t.skipped > genSkipLimit*(t.offered+t.skipped) {
			// The generator could not keep the rate: no claim either way,
			// so the rate does not pass.
			loss = 1
		}
		res.trials = append(res.trials, ndrTrial{mpps, t.refused / t.offered, t.skipped})
		fmt.Printf("    %-15s %7.3f Mpps: lost %.4f%% (%.0f of %.0f offered), the generator missed %.0f slots (its own stalls)\n",
			peer, mpps, 100*t.refused/t.offered, t.refused, t.offered, t.skipped)
		return loss, nil
	}
	search := func(tolerance float64) (float64, error) {
		lo, hi, best := 0.0, res.max, 0.0
		for range *ndrSteps {
			mid := (lo + hi) / 2
			loss, err := trial(mid)
			if err != nil {
				return 0, err
			}
			if loss <= tolerance {
				best, lo = mid, mid
			} else {
				hi = mid
			}
		}
		return best, nil
	}
	res.floor = res.max / float64(uint(1)<<*ndrSteps)
	if res.ndr, err = search(0); err != nil {
		return res, err
	}
	res.pdr, err = search(pdrLoss)
	return res, err
}

func ndrText(v, floor float64) string {
	if v == 0 {
		return fmt.Sprintf("< %.3f", floor)
	}
	return fmt.Sprintf("%7.3f", v)
}

func reportNDR(w io.Writer, rs []ndrResult) {
	fmt.Fprintf(w, "\nZero-loss throughput at 64 B: binary search (%d steps each) for the highest fixed rate with no frame lost (NDR) and\n"+
		"with at most %.1f %% lost (PDR) over %d s; lost: frames the generator offered at their time that the VM's ring refused\n"+
		"(the NICs are sinks that take everything); slots the generator itself missed, more than a ring behind their time, are\n"+
		"skipped, not sent in a burst (a trial where they pass 1 %% does not pass). max: as fast as the generator offers, what\n"+
		"the ring takes. '<': lost at every rate tried, the lowest being max / 2^steps.\n", *ndrSteps, 100*pdrLoss, *ndrSeconds)
	fmt.Fprintf(w, "%-17s %8s %10s %10s %9s\n", "peer", "max", "NDR", "PDR", "NDR/max")
	for _, r := range rs {
		fmt.Fprintf(w, "%-17s %8.2f %10s %10s %8.1f%%\n", r.peer, r.max, ndrText(r.ndr, r.floor), ndrText(r.pdr, r.floor), 100*r.ndr/r.max)
	}
}
