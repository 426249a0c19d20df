package plane

import (
	"fmt"
	"github.com/uplinkd/uplinkd/ctrl/report"
	"strings"
)

// statusPrinter writes the foreground status line: per VM packets/s in
// and out, per NIC link, packets/s and the drops its driver counted (when
// any) in its message; the whole Report, the NICs' driver counters
// included, in its fields (JSON consumers read those).
type statusPrinter struct {
	p   *Plane
	win *rateWindow
}

func newStatusPrinter(p *Plane) *statusPrinter {
	return &statusPrinter{p: p, win: newRateWindow(p)}
}

func (s *statusPrinter) print() {
	p := s.p
	r := p.report(s.win)
	snap := p.snap.Load()
	var line strings.Builder
	for _, vm := range snap.VMs {
		if vm.Absent {
			continue
		}
		v := r.VMs[vm.Name]
		fmt.Fprintf(&line, "%s out %s in %s | ", vm.Name, report.SI(v.OutPPS), report.SI(v.InPPS))
	}
	for _, n := range snap.NICs {
		if n.Absent {
			continue
		}
		x := r.NICs[n.Name]
		link := "down"
		if x.LinkUp {
			link = "up"
		}
		fmt.Fprintf(&line, "%s %s tx %s rx %s", n.Name, link, report.SI(x.TxPPS), report.SI(x.RxPPS))
		if x.HW != nil && x.HW.DropTotal() > 0 {
			fmt.Fprintf(&line, " hw-drops %d", x.HW.DropTotal())
		}
		line.WriteString(" | ")
	}
	p.log.Info().Str("event", "status").Interface("vms", r.VMs).Interface("nics", r.NICs).
		Uint32("mbufs_in_use", r.MbufsInUse).
		Float64("busy_cycles_per_pkt", r.BusyCyclesPerPkt).
		Uint64("worker_busy_cycles", r.WorkerBusyCycles).Uint64("worker_packets", r.WorkerPackets).
		Float64("pkts_per_busy_loop", r.PktsPerBusyLoop).
		Float64("max_loop_gap_us", r.MaxLoopGapUS).
		Float64("recent_max_loop_gap_us", r.RecentMaxLoopGapUS).
		Uints64("loop_gaps", r.LoopGaps).
		Msg(line.String() + "pps")
}
