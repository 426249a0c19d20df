package plane

import (
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/fastpath"
)

// statusPrinter writes the foreground status line: per VM packets/s in
// and out, per NIC link and packets/s, plus totals, drops by reason and the
// worker's longest loop gap.
type statusPrinter struct {
	p      *Plane
	last   time.Time
	vmPrev []fastpath.Counters
	nicPrv []fastpath.Counters
}

func newStatusPrinter(p *Plane) *statusPrinter {
	return &statusPrinter{p: p, last: time.Now(),
		vmPrev: make([]fastpath.Counters, len(p.vms)), nicPrv: make([]fastpath.Counters, len(p.nics))}
}

func (s *statusPrinter) print() {
	p := s.p
	now := time.Now()
	secs := now.Sub(s.last).Seconds()
	s.last = now
	rate := func(cur, prev uint64) float64 { return float64(cur-prev) / secs }
	snap := p.snap.Load()

	var line strings.Builder
	vms := zerolog.Dict()
	for i := range p.vms {
		c := p.worker.VMCounters(i)
		vms.Dict(snap.VMs[i].Name, zerolog.Dict().
			Bool("connected", snap.VMs[i].Connected).
			Float64("out_pps", rate(c[fastpath.RxPackets], s.vmPrev[i][fastpath.RxPackets])).
			Float64("in_pps", rate(c[fastpath.TxPackets], s.vmPrev[i][fastpath.TxPackets])).
			Uint64("out_pkts", c[fastpath.RxPackets]).Uint64("in_pkts", c[fastpath.TxPackets]).
			Float64("out_bps", rate(c[fastpath.RxBytes], s.vmPrev[i][fastpath.RxBytes])*8).
			Float64("alloc_bps", snap.VMs[i].RateBps).
			Uint64("held_loops", c[fastpath.Held]).
			Uint64("over_allocation_decisions", p.decisionCount(i)).
			Dict("dos", p.dosStatus(i, &c)).
			Dict("drops", drops(&c)))
		fmt.Fprintf(&line, "%s out %s in %s | ", snap.VMs[i].Name,
			si(rate(c[fastpath.RxPackets], s.vmPrev[i][fastpath.RxPackets])),
			si(rate(c[fastpath.TxPackets], s.vmPrev[i][fastpath.TxPackets])))
		s.vmPrev[i] = c
	}
	nics := zerolog.Dict()
	for i := range p.nics {
		c := p.worker.NICCounters(i)
		nics.Dict(snap.NICs[i].Name, zerolog.Dict().
			Bool("link_up", snap.NICs[i].LinkUp).Bool("admin_up", snap.NICs[i].AdminUp).
			Bool("failing_over", snap.NICs[i].FailingOver).Str("state", p.nicState(i)).Float64("speed_bps", snap.NICs[i].SpeedBps).
			Float64("tx_bps", rate(c[fastpath.TxBytes], s.nicPrv[i][fastpath.TxBytes])*8).
			Float64("tx_pps", rate(c[fastpath.TxPackets], s.nicPrv[i][fastpath.TxPackets])).
			Float64("rx_pps", rate(c[fastpath.RxPackets], s.nicPrv[i][fastpath.RxPackets])).
			Uint64("tx_pkts", c[fastpath.TxPackets]).Uint64("rx_pkts", c[fastpath.RxPackets]).
			Uint64("rerouted", c[fastpath.Rerouted]).Uint64("announced", c[fastpath.Announced]).
			Uint64("beacons_sent", c[fastpath.BeaconsSent]).Uint64("beacons_heard", c[fastpath.BeaconsHeard]).
			Dict("drops", drops(&c)))
		link := "down"
		if snap.NICs[i].LinkUp {
			link = "up"
		}
		fmt.Fprintf(&line, "%s %s tx %s rx %s | ", snap.NICs[i].Name, link,
			si(rate(c[fastpath.TxPackets], s.nicPrv[i][fastpath.TxPackets])),
			si(rate(c[fastpath.RxPackets], s.nicPrv[i][fastpath.RxPackets])))
		s.nicPrv[i] = c
	}
	ls := p.worker.LoopStats()
	hz := float64(p.TSCHz())
	cpp, fill := 0.0, 0.0
	if ls.Packets > 0 {
		cpp = float64(ls.BusyCycles) / float64(ls.Packets)
	}
	if ls.BusyLoops > 0 {
		fill = float64(ls.Packets) / float64(ls.BusyLoops)
	}
	p.log.Info().Str("event", "status").Dict("vms", vms).Dict("nics", nics).
		Uint32("mbufs_in_use", p.pool.InUse()).
		Float64("busy_cycles_per_pkt", cpp).
		Float64("pkts_per_busy_loop", fill).
		Float64("max_loop_gap_us", float64(ls.MaxGapCycles)/hz*1e6).
		Float64("recent_max_loop_gap_us", float64(ls.RecentMaxGapCycles)/hz*1e6).
		Msg(line.String() + "pps")
}

// si formats a rate compactly: 950, 12.3k, 4.56M.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func drops(c *fastpath.Counters) *zerolog.Event {
	d := zerolog.Dict()
	for r := fastpath.DropReason(1); r < fastpath.NumDropReasons; r++ {
		if n := c[fastpath.Drop(r)]; n > 0 {
			d.Uint64(r.String(), n)
		}
	}
	return d
}

// dosStatus is a VM's DoS state and counters (empty when not watched).
func (p *Plane) dosStatus(vm int, c *fastpath.Counters) *zerolog.Event {
	d := zerolog.Dict()
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.dos
	if !g.cfg[vm].On() {
		return d
	}
	return d.Bool("under_attack", g.attacked[vm]).Uint64("attacks", g.attacks[vm]).
		Uint64("in_syn", c[fastpath.InSYN]).Uint64("in_fragments", c[fastpath.InFragments]).
		Uint64("in_amplification", c[fastpath.InAmplification]).Uint64("in_sources", c[fastpath.InSources]).
		Uint64("out_syn", c[fastpath.OutSYN]).Uint64("held_deliveries", c[fastpath.HeldDeliveries])
}

func (p *Plane) decisionCount(vm int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res.decisions[vm]
}

func (p *Plane) nicState(i int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nicMgr.state(i).String()
}
