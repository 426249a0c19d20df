package plane

import (
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/ctrl/report"
	"github.com/uplinkd/uplinkd/fastpath"
)

// rateWindow is one reader's previous counters, for rates.
type rateWindow struct {
	last     time.Time
	vmPrev   []fastpath.Counters
	vmPrevOf []uint32 // the VM vmPrev's counters were
	nicPrev  []fastpath.Counters
	nicOf    []uint32 // the NIC nicPrev's counters were
}

func newRateWindow(p *Plane) *rateWindow {
	return &rateWindow{last: time.Now(), vmPrev: make([]fastpath.Counters, len(p.vms)), vmPrevOf: make([]uint32, len(p.vms)),
		nicPrev: make([]fastpath.Counters, len(p.nics)), nicOf: make([]uint32, len(p.nics))}
}

// report reads the worker's counters and the control state into a
// Report, with rates since w's last report.
func (p *Plane) report(w *rateWindow) report.Report {
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
	r := report.Report{Time: now, VMs: make(map[string]report.VMReport, len(p.vms)), NICs: make(map[string]report.NICReport, len(p.nics)),
		Teams: make(map[string]report.TeamReport, len(snap.Teams))}
	for i := range snap.VMs {
		vm := &snap.VMs[i]
		if vm.Absent {
			continue
		}
		// Until the worker takes the tables that gave the VM its slot,
		// the slot's counters are another's: the VM has counted nothing.
		c, _ := p.worker.VMCountersOf(i, vm.ID)
		prev := &w.vmPrev[i]
		if w.vmPrevOf[i] != vm.ID {
			*prev, w.vmPrevOf[i] = fastpath.Counters{}, vm.ID
		}
		r.VMs[vm.Name] = report.VMReport{
			Team: snap.Teams[vm.Team].Name, Connected: vm.Connected,
			OutPPS: rate(c[fastpath.RxPackets], prev[fastpath.RxPackets]), InPPS: rate(c[fastpath.TxPackets], prev[fastpath.TxPackets]),
			OutPkts: c[fastpath.RxPackets], InPkts: c[fastpath.TxPackets], OutBytes: c[fastpath.RxBytes], InBytes: c[fastpath.TxBytes],
			OutBPS: rate(c[fastpath.RxBytes], prev[fastpath.RxBytes]) * 8, AllocBPS: vm.RateBps,
			VLAN: vm.VLAN, Trunk: vm.Trunk, NativeVLAN: vm.NativeVLAN, IPs: prefixes(vm.IPs),
			HeldLoops: c[fastpath.Held], LocalOutPkts: c[fastpath.LocalOut], LocalInPkts: c[fastpath.LocalIn], OverAllocationDecisions: p.decisionCount(i, vm.ID),
			DoS: p.dosReport(i, vm.ID, &c), Drops: dropMap(&c),
		}
		*prev = c
	}
	for i := range snap.NICs {
		n := &snap.NICs[i]
		if n.Absent {
			continue
		}
		// Until the worker takes the tables that gave the NIC its slot,
		// the slot's counters are another's: the NIC has counted nothing.
		c, _ := p.worker.NICCountersOf(i, n.ID)
		prev := &w.nicPrev[i]
		if w.nicOf[i] != n.ID {
			*prev, w.nicOf[i] = fastpath.Counters{}, n.ID
		}
		state, faults, transitions := p.nicState(i, n.ID)
		r.NICs[n.Name] = report.NICReport{
			Team: snap.Teams[n.Team].Name, LinkUp: n.LinkUp, AdminUp: n.AdminUp, FailingOver: n.FailingOver,
			State: state, Faults: faults, Transitions: transitions, SpeedBPS: n.SpeedBps,
			TxBPS: rate(c[fastpath.TxBytes], prev[fastpath.TxBytes]) * 8, TxPPS: rate(c[fastpath.TxPackets], prev[fastpath.TxPackets]),
			RxPPS: rate(c[fastpath.RxPackets], prev[fastpath.RxPackets]), TxPkts: c[fastpath.TxPackets], RxPkts: c[fastpath.RxPackets],
			TxBytes: c[fastpath.TxBytes], RxBytes: c[fastpath.RxBytes],
			Rerouted: c[fastpath.Rerouted], Announced: c[fastpath.Announced],
			BeaconsSent: c[fastpath.BeaconsSent], BeaconsHeard: c[fastpath.BeaconsHeard], Drops: dropMap(&c),
			HW: p.nicHW(i, n.ID),
		}
		*prev = c
	}
	for t := range snap.Teams {
		team := &snap.Teams[t]
		tr := report.TeamReport{Policy: team.Policy.String(), NICs: []string{}, Up: []string{}, VMs: []string{}, CapacityBPS: p.countedCapacity(team.Name)}
		for _, n := range team.NICs {
			tr.NICs = append(tr.NICs, snap.NICs[n].Name)
		}
		for _, n := range team.Up {
			tr.Up = append(tr.Up, snap.NICs[n].Name)
		}
		for _, v := range team.VMs {
			tr.VMs = append(tr.VMs, snap.VMs[v].Name)
		}
		if team.Designated >= 0 {
			tr.Designated = snap.NICs[team.Designated].Name
		}
		tr.NativeVLAN = team.NativeVLAN
		for _, d := range team.Domains {
			if d.VID != fastpath.NoVLAN {
				tr.VLANs = append(tr.VLANs, d.VID)
			}
		}
		slices.Sort(tr.VLANs)
		r.Teams[team.Name] = tr
	}
	ls := p.worker.LoopStats()
	hz := float64(p.TSCHz())
	r.WorkerBusyCycles, r.WorkerPackets = ls.BusyCycles, ls.Packets
	if ls.Packets > 0 {
		r.BusyCyclesPerPkt = float64(ls.BusyCycles) / float64(ls.Packets)
	}
	if ls.BusyLoops > 0 {
		r.PktsPerBusyLoop = float64(ls.Packets) / float64(ls.BusyLoops)
	}
	r.MbufsInUse = p.pool.InUse()
	r.DPDKPorts = dpdk.PortCount()
	r.Goroutines = runtime.NumGoroutine()
	r.MaxLoopGapUS = float64(ls.MaxGapCycles) / hz * 1e6
	r.RecentMaxLoopGapUS = float64(ls.RecentMaxGapCycles) / hz * 1e6
	r.LoopGaps = ls.Gaps[:]
	r.LoopGapBoundsUS = loopGapBoundsUS
	r.LoopGapSeconds = float64(ls.GapCycles) / hz
	return r
}

// loopGapBoundsUS are the loop-gap histogram's bucket bounds, read only.
var loopGapBoundsUS = fastpath.GapBoundsUS()

// APIReport is a Report for the API, with rates since the previous one it
// served.
func (p *Plane) APIReport() report.Report {
	p.readers.Lock()
	defer p.readers.Unlock()
	if p.apiWin == nil {
		p.apiWin = newRateWindow(p)
	}
	return p.report(p.apiWin)
}

// MetricsReport is a Report for the metrics (which export counters, not
// the rates, so one window serves every scrape).
func (p *Plane) MetricsReport() report.Report {
	p.readers.Lock()
	defer p.readers.Unlock()
	if p.metricsWin == nil {
		p.metricsWin = newRateWindow(p)
	}
	return p.report(p.metricsWin)
}

// nicHW reads NIC i's own counters from its driver: once per report, from
// this thread while the worker polls the port (stats_get only reads).
// Nil, and logged, if the driver refuses; nil if NIC id has left slot i
// (under p.mu: the port is not detached while it is read).
func (p *Plane) nicHW(i int, id uint32) *report.NICHWReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uint32(p.slotNIC[i]) != id || !p.nicOpen[i] {
		return nil
	}
	s, err := p.nics[i].Stats()
	if err != nil {
		p.log.Warn().Err(err).Msg("nic counters")
		return nil
	}
	return hwReport(s)
}

func hwReport(s dpdk.Stats) *report.NICHWReport {
	return &report.NICHWReport{RxPackets: s.IPackets, TxPackets: s.OPackets,
		IMissed: s.IMissed, RxNoMbuf: s.RxNoMbuf, IErrors: s.IErrors, OErrors: s.OErrors}
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

// dosReport is the DoS state and counters of VM id in slot vm, nil when
// not watched (or when the VM left the slot since the snapshot was read).
func (p *Plane) dosReport(vm int, id uint32, c *fastpath.Counters) *report.DoSReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.ctl.DoS(vm)
	if !st.Watched || uint32(p.slotVM[vm]) != id {
		return nil
	}
	return &report.DoSReport{UnderAttack: st.UnderAttack, Attacks: st.Attacks,
		InSYN: c[fastpath.InSYN], InFragments: c[fastpath.InFragments], InAmplification: c[fastpath.InAmplification],
		InSources: c[fastpath.InSources], OutSYN: c[fastpath.OutSYN], HeldDeliveries: c[fastpath.HeldDeliveries]}
}

// decisionCount counts the over-allocation decisions about VM id in slot
// vm (0 if it left the slot since the snapshot was read).
func (p *Plane) decisionCount(vm int, id uint32) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uint32(p.slotVM[vm]) != id {
		return 0
	}
	return p.ctl.Decisions(vm)
}

func (p *Plane) nicState(i int, id uint32) (state string, faults []string, transitions uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uint32(p.slotNIC[i]) != id {
		// The NIC left its slot since the snapshot was read.
		return nic.StateDown.String(), []string{}, 0
	}
	st := p.ctl.NIC(i)
	faults = st.Faults
	if faults == nil {
		faults = []string{}
	}
	return st.State.String(), faults, st.Transitions
}

// countedCapacity is team t's capacity as the resource manager divides it.
// The report reads a snapshot without p.mu: the team is found by name in
// the model in force, and one removed since counts nothing.
func (p *Plane) countedCapacity(name string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.model()
	team := m.TeamNamed(name)
	if team == nil {
		return 0
	}
	return p.ctl.TeamCapacity(team.ID)
}

// prefixes are addresses as the config writes them: a full-length prefix
// as an address.
func prefixes(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		if p.IsSingleIP() {
			out = append(out, p.Addr().String())
		} else {
			out = append(out, p.String())
		}
	}
	return out
}
