package main

// The README's headline comes from here: a markdown table of the
// throughput sweep's medians, per size, so that what the README says is
// what a run measured, generator-bound cells marked as such.

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

func reportHeadline(w io.Writer, rs []result) {
	fmt.Fprintf(w, "Busy cycles per packet on the switch core (medians of %d runs) and the ratio to testpmd io; "+
		"util: the switch core's busy share of the window (median), *%s* below %d %%. CPU: %s.\n\n",
		*runs, genBoundMark, genBound, cpuModel())
	for _, size := range sizesOf(rs) {
		med := map[string]float64{}
		util := map[string]float64{}
		for _, peer := range strings.Split(*peerList, ",") {
			var cyc, u []float64
			for _, r := range rs {
				if r.scenario == "throughput" && r.size == size && r.peer == peer {
					cyc, u = append(cyc, r.cycles), append(u, r.util)
				}
			}
			if len(cyc) > 0 {
				med[peer], util[peer] = stats(cyc).med, stats(u).med
			}
		}
		floor := med["testpmd-io"]
		fmt.Fprintf(w, "%d B frames:\n\n| peer | cycles/pkt | ratio to testpmd io | util %% |\n|---|---|---|---|\n", size)
		for _, peer := range strings.Split(*peerList, ",") {
			c, ok := med[peer]
			if !ok {
				continue
			}
			ratio := "-"
			if floor > 0 {
				ratio = fmt.Sprintf("%.2f", c/floor)
			}
			u := fmt.Sprintf("%.0f", util[peer])
			if util[peer] < genBound {
				u += " *" + genBoundMark + "*"
			}
			fmt.Fprintf(w, "| %s | %.1f | %s | %s |\n", peer, c, ratio, u)
		}
		fmt.Fprintln(w)
		if v := med["uplinkd-vmaware"]; v > 0 {
			var parts []string
			for _, bond := range []string{"testpmd-bond2", "ovs-slb"} {
				if med[bond] > 0 {
					parts = append(parts, fmt.Sprintf("%s %.2fx", bond, med[bond]/v))
				}
			}
			if len(parts) > 0 {
				bound := slices.ContainsFunc([]string{"uplinkd-vmaware", "testpmd-bond2", "ovs-slb"},
					func(p string) bool { _, ok := med[p]; return ok && util[p] < genBound })
				note := ""
				if bound {
					note = fmt.Sprintf(" (a side is %s: the ratio includes idle-burst overhead)", genBoundMark)
				}
				fmt.Fprintf(w, "At %d B, cycles per packet against uplinkd-vmaware's: %s%s.\n\n", size, strings.Join(parts, ", "), note)
			}
		}
	}
}
