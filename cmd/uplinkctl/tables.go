package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/uplinkd/uplinkd/ctrl/report"
)

func (c *client) table() *tabwriter.Writer { return tabwriter.NewWriter(c.out, 0, 0, 2, ' ', 0) }

func (c *client) printStatus(r report.Report) {
	c.printVMs(r)
	fmt.Fprintln(c.out)
	c.printNICs(r)
	fmt.Fprintln(c.out)
	c.printTeams(r)
	fmt.Fprintf(c.out, "\nmbufs in use %d   busy cycles/pkt %.1f   pkts/busy loop %.1f   loop gap max %.0f us (last second %.0f us)\n",
		r.MbufsInUse, r.BusyCyclesPerPkt, r.PktsPerBusyLoop, r.MaxLoopGapUS, r.RecentMaxLoopGapUS)
	if len(r.LoopGaps) > 0 {
		// Past 64 µs a stall starts to overflow a NIC's rx ring at line rate.
		fmt.Fprintf(c.out, "loop gaps since start: %d of 64 us or more, %d of 512 us or more, %d of 4 ms or more\n",
			r.LoopGapsOver(64), r.LoopGapsOver(512), r.LoopGapsOver(4096))
	}
}

func (c *client) printVMs(r report.Report) {
	w := c.table()
	fmt.Fprintln(w, "VM\tTEAM\tVLAN\tLINK\tOUT PPS\tIN PPS\tOUT BIT/S\tALLOC BIT/S\tOUT PKTS\tIN PKTS\tLOCAL OUT/IN\tDOS\tDROPS")
	for _, name := range slices.Sorted(maps.Keys(r.VMs)) {
		v := r.VMs[name]
		link := "down"
		if v.Connected {
			link = "up"
		}
		alloc := "-"
		if v.AllocBPS > 0 {
			alloc = report.SI(v.AllocBPS)
		}
		dos := "-"
		if v.DoS != nil {
			dos = "watched"
			if v.DoS.UnderAttack {
				dos = "UNDER ATTACK"
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d/%d\t%s\t%s\n", name, v.Team, vlanText(v), link, report.SI(v.OutPPS), report.SI(v.InPPS), report.SI(v.OutBPS),
			alloc, v.OutPkts, v.InPkts, v.LocalOutPkts, v.LocalInPkts, dos, drops(v.Drops))
	}
	w.Flush()
}

func (c *client) printNICs(r report.Report) {
	w := c.table()
	fmt.Fprintln(w, "NIC\tTEAM\tLINK\tADMIN\tSTATE\tFAULTS\tTX PPS\tRX PPS\tTX BIT/S\tTX PKTS\tRX PKTS\tREROUTED\tANNOUNCED\tDROPS\tHW RX PKTS\tHW TX PKTS\tHW DROPS")
	for _, name := range slices.Sorted(maps.Keys(r.NICs)) {
		n := r.NICs[name]
		link, admin := "down", "down"
		if n.LinkUp {
			link = "up"
		}
		if n.AdminUp {
			admin = "up"
		}
		hwRx, hwTx, hwDrops := "-", "-", "-"
		if hw := n.HW; hw != nil {
			hwRx, hwTx, hwDrops = fmt.Sprint(hw.RxPackets), fmt.Sprint(hw.TxPackets), hwDropList(hw)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", name, n.Team, link, admin, n.State, list(n.Faults), report.SI(n.TxPPS), report.SI(n.RxPPS),
			report.SI(n.TxBPS), n.TxPkts, n.RxPkts, n.Rerouted, n.Announced, drops(n.Drops), hwRx, hwTx, hwDrops)
	}
	w.Flush()
}

func (c *client) printTeams(r report.Report) {
	w := c.table()
	fmt.Fprintln(w, "TEAM\tPOLICY\tNICS\tUSABLE\tGROUP RX\tCAPACITY BIT/S\tVMS")
	for _, name := range slices.Sorted(maps.Keys(r.Teams)) {
		t := r.Teams[name]
		group := t.Designated
		if group == "" {
			group = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, t.Policy, list(t.NICs), list(t.Up), group, report.SI(t.CapacityBPS), list(t.VMs))
	}
	w.Flush()
}

// vlanText is a VM's VLANs: "10", "trunk 10,20 native 5", or "-".
func vlanText(v report.VMReport) string {
	switch {
	case v.VLAN != 0:
		return fmt.Sprint(v.VLAN)
	case len(v.Trunk) > 0:
		ids := make([]string, len(v.Trunk))
		for i, id := range v.Trunk {
			ids[i] = fmt.Sprint(id)
		}
		t := "trunk " + strings.Join(ids, ",")
		if v.NativeVLAN != 0 {
			t += fmt.Sprintf(" native %d", v.NativeVLAN)
		}
		return t
	}
	return "-"
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func drops(d map[string]uint64) string {
	if len(d) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, d[k]))
	}
	return strings.Join(parts, " ")
}

// hwDropList is a NIC's own drops: 0 when none, else the reasons that
// counted, like drops.
func hwDropList(hw *report.NICHWReport) string {
	if hw.DropTotal() == 0 {
		return "0"
	}
	var parts []string
	for i, k := range hw.Drops() {
		if k > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", report.HWDropReasons[i], k))
		}
	}
	return strings.Join(parts, " ")
}
