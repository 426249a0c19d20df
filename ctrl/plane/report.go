package plane

import (
	"time"

	"github.com/uplinkd/uplinkd/fastpath"
)

// Report is the daemon's state and counters at one moment: what the status
// line logs, the API serves and the metrics export. Rates are over the
// window since the previous report of the same reader.
type Report struct {
	Time               time.Time             `json:"time"`
	VMs                map[string]VMReport   `json:"vms"`
	NICs               map[string]NICReport  `json:"nics"`
	Teams              map[string]TeamReport `json:"teams"`
	MbufsInUse         uint32                `json:"mbufs_in_use"`
	BusyCyclesPerPkt   float64               `json:"busy_cycles_per_pkt"`
	PktsPerBusyLoop    float64               `json:"pkts_per_busy_loop"`
	MaxLoopGapUS       float64               `json:"max_loop_gap_us"`
	RecentMaxLoopGapUS float64               `json:"recent_max_loop_gap_us"`
}

// VMReport is one VM. Out is what it sent, in what was delivered to it.
type VMReport struct {
	Team                    string            `json:"team"`
	Connected               bool              `json:"connected"`
	OutPPS                  float64           `json:"out_pps"`
	InPPS                   float64           `json:"in_pps"`
	OutPkts                 uint64            `json:"out_pkts"`
	InPkts                  uint64            `json:"in_pkts"`
	OutBytes                uint64            `json:"out_bytes"`
	InBytes                 uint64            `json:"in_bytes"`
	OutBPS                  float64           `json:"out_bps"`
	AllocBPS                float64           `json:"alloc_bps"`
	HeldLoops               uint64            `json:"held_loops"`
	OverAllocationDecisions uint64            `json:"over_allocation_decisions"`
	DoS                     *DoSReport        `json:"dos,omitempty"`
	Drops                   map[string]uint64 `json:"drops"`
}

// DoSReport is a watched VM's DoS state and counters.
type DoSReport struct {
	UnderAttack     bool   `json:"under_attack"`
	Attacks         uint64 `json:"attacks"`
	InSYN           uint64 `json:"in_syn"`
	InFragments     uint64 `json:"in_fragments"`
	InAmplification uint64 `json:"in_amplification"`
	InSources       uint64 `json:"in_sources"`
	OutSYN          uint64 `json:"out_syn"`
	HeldDeliveries  uint64 `json:"held_deliveries"`
}

// NICReport is one NIC. Tx is what was queued to it, rx what it received.
type NICReport struct {
	Team         string            `json:"team"`
	LinkUp       bool              `json:"link_up"`
	AdminUp      bool              `json:"admin_up"`
	FailingOver  bool              `json:"failing_over"`
	State        string            `json:"state"`
	Transitions  uint64            `json:"transitions"`
	SpeedBPS     float64           `json:"speed_bps"`
	TxBPS        float64           `json:"tx_bps"`
	TxPPS        float64           `json:"tx_pps"`
	RxPPS        float64           `json:"rx_pps"`
	TxPkts       uint64            `json:"tx_pkts"`
	RxPkts       uint64            `json:"rx_pkts"`
	TxBytes      uint64            `json:"tx_bytes"`
	RxBytes      uint64            `json:"rx_bytes"`
	Rerouted     uint64            `json:"rerouted"`
	Announced    uint64            `json:"announced"`
	BeaconsSent  uint64            `json:"beacons_sent"`
	BeaconsHeard uint64            `json:"beacons_heard"`
	Drops        map[string]uint64 `json:"drops"`
}

// TeamReport is one team: its policy, its NICs and VMs in config order.
type TeamReport struct {
	Policy string   `json:"policy"`
	NICs   []string `json:"nics"`
	Up     []string `json:"usable_nics"`
	VMs    []string `json:"vms"`
}

// rateWindow is one reader's previous counters, for rates.
type rateWindow struct {
	last    time.Time
	vmPrev  []fastpath.Counters
	nicPrev []fastpath.Counters
}

func newRateWindow(p *Plane) *rateWindow {
	return &rateWindow{last: time.Now(), vmPrev: make([]fastpath.Counters, len(p.vms)), nicPrev: make([]fastpath.Counters, len(p.nics))}
}

// report reads the worker's counters and the control state into a
// Report, with rates since w's last report.
func (p *Plane) report(w *rateWindow) Report {
	now := time.Now()
	secs := now.Sub(w.last).Seconds()
	w.last = now
	rate := func(cur, prev uint64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(cur-prev) / secs
	}
	snap := p.snap.Load()
	r := Report{Time: now, VMs: make(map[string]VMReport, len(p.vms)), NICs: make(map[string]NICReport, len(p.nics)),
		Teams: make(map[string]TeamReport, len(snap.Teams))}
	for i := range p.vms {
		c := p.worker.VMCounters(i)
		prev := &w.vmPrev[i]
		vm := &snap.VMs[i]
		r.VMs[vm.Name] = VMReport{
			Team: snap.Teams[vm.Team].Name, Connected: vm.Connected,
			OutPPS: rate(c[fastpath.RxPackets], prev[fastpath.RxPackets]), InPPS: rate(c[fastpath.TxPackets], prev[fastpath.TxPackets]),
			OutPkts: c[fastpath.RxPackets], InPkts: c[fastpath.TxPackets], OutBytes: c[fastpath.RxBytes], InBytes: c[fastpath.TxBytes],
			OutBPS: rate(c[fastpath.RxBytes], prev[fastpath.RxBytes]) * 8, AllocBPS: vm.RateBps,
			HeldLoops: c[fastpath.Held], OverAllocationDecisions: p.decisionCount(i),
			DoS: p.dosReport(i, &c), Drops: dropMap(&c),
		}
		*prev = c
	}
	for i := range p.nics {
		c := p.worker.NICCounters(i)
		prev := &w.nicPrev[i]
		n := &snap.NICs[i]
		state, transitions := p.nicState(i)
		r.NICs[n.Name] = NICReport{
			Team: snap.Teams[n.Team].Name, LinkUp: n.LinkUp, AdminUp: n.AdminUp, FailingOver: n.FailingOver,
			State: state, Transitions: transitions, SpeedBPS: n.SpeedBps,
			TxBPS: rate(c[fastpath.TxBytes], prev[fastpath.TxBytes]) * 8, TxPPS: rate(c[fastpath.TxPackets], prev[fastpath.TxPackets]),
			RxPPS: rate(c[fastpath.RxPackets], prev[fastpath.RxPackets]), TxPkts: c[fastpath.TxPackets], RxPkts: c[fastpath.RxPackets],
			TxBytes: c[fastpath.TxBytes], RxBytes: c[fastpath.RxBytes],
			Rerouted: c[fastpath.Rerouted], Announced: c[fastpath.Announced],
			BeaconsSent: c[fastpath.BeaconsSent], BeaconsHeard: c[fastpath.BeaconsHeard], Drops: dropMap(&c),
		}
		*prev = c
	}
	for t := range snap.Teams {
		team := &snap.Teams[t]
		tr := TeamReport{Policy: team.Policy.String(), NICs: []string{}, Up: []string{}, VMs: []string{}}
		for _, n := range team.NICs {
			tr.NICs = append(tr.NICs, snap.NICs[n].Name)
		}
		for _, n := range team.Up {
			tr.Up = append(tr.Up, snap.NICs[n].Name)
		}
		for _, v := range team.VMs {
			tr.VMs = append(tr.VMs, snap.VMs[v].Name)
		}
		r.Teams[team.Name] = tr
	}
	ls := p.worker.LoopStats()
	hz := float64(p.TSCHz())
	if ls.Packets > 0 {
		r.BusyCyclesPerPkt = float64(ls.BusyCycles) / float64(ls.Packets)
	}
	if ls.BusyLoops > 0 {
		r.PktsPerBusyLoop = float64(ls.Packets) / float64(ls.BusyLoops)
	}
	r.MbufsInUse = p.pool.InUse()
	r.MaxLoopGapUS = float64(ls.MaxGapCycles) / hz * 1e6
	r.RecentMaxLoopGapUS = float64(ls.RecentMaxGapCycles) / hz * 1e6
	return r
}

func dropMap(c *fastpath.Counters) map[string]uint64 {
	d := map[string]uint64{}
	for r := fastpath.DropReason(1); r < fastpath.NumDropReasons; r++ {
		if n := c[fastpath.Drop(r)]; n > 0 {
			d[r.String()] = n
		}
	}
	return d
}

// dosReport is VM vm's DoS state and counters, nil when not watched.
func (p *Plane) dosReport(vm int, c *fastpath.Counters) *DoSReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.dos
	if !g.cfg[vm].On() {
		return nil
	}
	return &DoSReport{UnderAttack: g.attacked[vm], Attacks: g.attacks[vm],
		InSYN: c[fastpath.InSYN], InFragments: c[fastpath.InFragments], InAmplification: c[fastpath.InAmplification],
		InSources: c[fastpath.InSources], OutSYN: c[fastpath.OutSYN], HeldDeliveries: c[fastpath.HeldDeliveries]}
}

func (p *Plane) decisionCount(vm int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.res.decisions[vm]
}

func (p *Plane) nicState(i int) (string, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nicMgr.state(i).String(), p.nicMgr.changes[i]
}
