package main

// The scale scenario: throughput at 64 B with 1, 2 and 8 VMs and with 1k
// and 100k flows in all (spread over the VMs), two net_null NICs. uplinkd
// runs its flow-hash policy here, where the flow count reaches its
// per-packet work; OVS's balance-slb hashes by source MAC but its flow
// caches see every flow.

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

var (
	scaleRuns  = flag.Int("scale-runs", 3, "scale measurements per cell (0: none)")
	scaleVMs   = flag.String("scale-vms", "1,2,8", "VM counts of the scale scenario")
	scaleFlows = flag.String("scale-flows", "1000,100000", "flow counts (in all) of the scale scenario")
	scalePeers = flag.String("scale-peers", strings.Join(allPeers, ","), "peers of the scale scenario")
)

// scaleNA says why a peer has no figure in a scale cell.
func scaleNA(peer string, vms int) string {
	switch {
	case strings.HasPrefix(peer, "uplinkd-"):
		return "uplinkd's variants are measured in the size sweep; uplinkd (flow-hash) stands for them here"
	case strings.HasPrefix(peer, "testpmd") && vms > 1:
		return "testpmd io forwards each port to one fixed peer port: it cannot merge several VMs onto one NIC or bond"
	}
	return ""
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(f)
		check(err)
		out = append(out, n)
	}
	return out
}

func runScale(dir string) []result {
	var out []result
	for r := 0; r < *scaleRuns; r++ {
		for _, vms := range ints(*scaleVMs) {
			for _, flows := range ints(*scaleFlows) {
				for _, peer := range strings.Split(*scalePeers, ",") {
					if scaleNA(peer, vms) != "" {
						continue
					}
					st := setup{scenario: "scale", vms: vms, flows: flows, macs: throughputMACs, policy: "flow-hash"}
					res, err := measureSetup(dir, peer, 64, st)
					if err != nil {
						fmt.Fprintf(os.Stderr, "scale %s %d VMs %d flows run %d: %v\n", peer, vms, flows, r+1, err)
						os.Exit(1)
					}
					fmt.Printf("  scale %-14s %d VMs %6d flows run %d: %6.2f Mpps  %7.1f cycles/pkt  util %5.1f%%  load %s\n",
						peer, vms, flows, r+1, res.mpps, res.cycles, res.util, res.load)
					out = append(out, res)
				}
			}
		}
	}
	return out
}

func reportScale(w io.Writer, rs []result) {
	fmt.Fprintln(w, "\nscale: 64 B frames, flows in all spread over the VMs, two net_null NICs; uplinkd with flow-hash;")
	fmt.Fprintln(w, "min / median / max over runs; Gbit/s at the median; busy cycles per packet on the switch core;")
	fmt.Fprintf(w, "util %%: busy over all cycles of the switch core in the window, %s below %d %%\n", genBoundMark, genBound)
	fmt.Fprintf(w, "%-4s %-7s %-19s %-22s %-7s %-24s %-26s %s\n", "VMs", "flows", "peer", "Mpps", "Gbit/s", "cycles/pkt", "util %", "vs uplinkd (cycles)")
	for _, peer := range strings.Split(*scalePeers, ",") {
		if strings.HasPrefix(peer, "uplinkd-") {
			fmt.Fprintf(w, "%-4s %-7s %-19s not applicable: %s\n", "any", "any", peer, scaleNA(peer, 1))
		}
	}
	for _, vms := range ints(*scaleVMs) {
		for _, flows := range ints(*scaleFlows) {
			base := 0.0
			for _, peer := range strings.Split(*scalePeers, ",") {
				if why := scaleNA(peer, vms); why != "" {
					if !strings.HasPrefix(peer, "uplinkd-") {
						fmt.Fprintf(w, "%-4d %-7d %-19s not applicable: %s\n", vms, flows, peer, why)
					}
					continue
				}
				var mpps, cyc, util []float64
				for _, r := range rs {
					if r.scenario == "scale" && r.peer == peer && r.vms == vms && r.flows == flows {
						mpps, cyc, util = append(mpps, r.mpps), append(cyc, r.cycles), append(util, r.util)
					}
				}
				if len(cyc) == 0 {
					continue
				}
				m, c := stats(slices.Clone(mpps)), stats(slices.Clone(cyc))
				ratio := ""
				if peer == "uplinkd" {
					base = c.med
				} else if base > 0 {
					ratio = fmt.Sprintf("%.2fx", c.med/base)
				}
				u, mark := utilCell(util)
				fmt.Fprintf(w, "%-4d %-7d %-19s %-22s %-7.2f %-24s %-26s %s\n", vms, flows, peer, m, m.med*64*8/1000, c, u+mark, ratio)
			}
		}
	}
}
