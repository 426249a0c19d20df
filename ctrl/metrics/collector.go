// Package metrics exports uplinkd's Report as Prometheus metrics, read
// at scrape time: nothing is kept between scrapes, and the fast path pays
// nothing for them.
package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/uplinkd/uplinkd/ctrl/report"
)

// ActionCounts is how many of a VM's actions ended ok, failed and skipped.
type ActionCounts func(vm string) (ok, failed, skipped uint64)

// Collector turns a Report into metrics on every scrape.
type Collector struct {
	read    func() report.Report
	actions ActionCounts
}

// New makes a collector over report (and, when not nil, VM action counts).
func New(read func() report.Report, actions ActionCounts) *Collector {
	return &Collector{read: read, actions: actions}
}

var (
	vmPackets   = desc("vm_packets_total", "Frames a VM sent (out) or was delivered (in).", "vm", "direction")
	vmBytes     = desc("vm_bytes_total", "Bytes a VM sent (out) or was delivered (in).", "vm", "direction")
	vmLocal     = desc("vm_local_packets_total", "Frames switched between the VM and other VMs of its team on this host (also in vm_packets_total); they never reach a NIC.", "vm", "direction")
	vmDrops     = desc("vm_drops_total", "Frames from or to a VM dropped, by reason.", "vm", "reason")
	vmConnected = desc("vm_connected", "1 while the VM's virtio device is attached.", "vm")
	vmAlloc     = desc("vm_allocation_bits_per_second", "The VM's egress allocation now (0: unlimited).", "vm")
	vmOverAlloc = desc("vm_over_allocation_decisions_total", "Decisions about the VM staying over its allocation.", "vm")
	vmAttack    = desc("vm_dos_under_attack", "1 while the VM is under a denial-of-service attack.", "vm")
	vmAttacks   = desc("vm_dos_attacks_total", "Denial-of-service attacks detected on the VM.", "vm")
	vmDoS       = desc("vm_dos_frames_total", "Frames to the VM by DoS class.", "vm", "class")
	vmActions   = desc("vm_actions_total", "VM actions by result.", "vm", "result")
	nicPackets  = desc("nic_packets_total", "Frames queued to (tx) or received from (rx) a NIC.", "nic", "direction")
	nicBytes    = desc("nic_bytes_total", "Bytes queued to (tx) or received from (rx) a NIC.", "nic", "direction")
	nicDrops    = desc("nic_drops_total", "Frames from or to a NIC dropped, by reason.", "nic", "reason")
	nicHWPkts   = desc("nic_hw_packets_total", "Frames the NIC's driver counted it received (rx) or sent (tx).", "nic", "direction")
	nicHWDrops  = desc("nic_hw_drops_total", "Frames the NIC's driver dropped before the worker saw them or in sending, by reason (imissed: rx ring full, rx_nombuf: no mbuf to refill it, ierrors, oerrors).", "nic", "reason")
	nicLink     = desc("nic_link_up", "1 while the NIC's link is up.", "nic")
	nicAdmin    = desc("nic_admin_up", "1 while the NIC is administratively up.", "nic")
	nicState    = desc("nic_state", "1 for the NIC's failover state (up, failing, down, recovering), 0 for the others.", "nic", "state")
	nicFault    = desc("nic_fault", "1 while the fault (link down, admin down, beacons lost, dos-evacuate) keeps the NIC from carrying traffic.", "nic", "fault")
	nicFailover = desc("nic_state_transitions_total", "Failover state machine transitions of the NIC.", "nic")
	nicRerouted = desc("nic_rerouted_packets_total", "Packets queued for the NIC that left by another after a failover.", "nic")
	nicAnnounce = desc("nic_announcements_total", "RARP announcements of moved VM MACs sent on the NIC.", "nic")
	mbufs       = desc("mbufs_in_use", "Packet buffers taken from the pool.")
	cycles      = desc("busy_cycles_per_packet", "TSC cycles of busy worker loop iterations per packet, since start.")
	loopGap     = desc("worker_max_loop_gap_seconds", "Longest gap between two worker loop iterations in the last second.")
	loopGaps    = desc("worker_loop_gap_seconds", "Gaps between two worker loop iterations since start: a stall of the worker is lost packets at line rate.")
)

// nicStates are the failover state machine's states (ctrl/nic).
var nicStates = []string{"up", "failing", "down", "recovering"}

// nicFaults are the NIC manager's faults (ctrl/nic's Fault names).
var nicFaults = []string{"link down", "admin down", "beacons lost", "dos-evacuate"}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("uplinkd_"+name, help, labels, nil)
}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vmPackets, vmBytes, vmLocal, vmDrops, vmConnected, vmAlloc, vmOverAlloc, vmAttack, vmAttacks, vmDoS,
		vmActions, nicPackets, nicBytes, nicDrops, nicHWPkts, nicHWDrops, nicLink, nicAdmin, nicState, nicFault, nicFailover, nicRerouted, nicAnnounce, mbufs, cycles, loopGap, loopGaps} {
		ch <- d
	}
}

// Collect reads a report and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	r := c.read()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for name, v := range r.VMs {
		counter(vmPackets, v.OutPkts, name, "out")
		counter(vmPackets, v.InPkts, name, "in")
		counter(vmBytes, v.OutBytes, name, "out")
		counter(vmBytes, v.InBytes, name, "in")
		counter(vmLocal, v.LocalOutPkts, name, "out")
		counter(vmLocal, v.LocalInPkts, name, "in")
		for reason, n := range v.Drops {
			counter(vmDrops, n, name, reason)
		}
		gauge(vmConnected, b(v.Connected), name)
		gauge(vmAlloc, v.AllocBPS, name)
		counter(vmOverAlloc, v.OverAllocationDecisions, name)
		if d := v.DoS; d != nil {
			gauge(vmAttack, b(d.UnderAttack), name)
			counter(vmAttacks, d.Attacks, name)
			counter(vmDoS, d.InSYN, name, "syn")
			counter(vmDoS, d.InFragments, name, "fragment")
			counter(vmDoS, d.InAmplification, name, "amplification")
		}
		if c.actions != nil {
			ok, failed, skipped := c.actions(name)
			counter(vmActions, ok, name, "ok")
			counter(vmActions, failed, name, "failed")
			counter(vmActions, skipped, name, "skipped")
		}
	}
	for name, n := range r.NICs {
		counter(nicPackets, n.TxPkts, name, "tx")
		counter(nicPackets, n.RxPkts, name, "rx")
		counter(nicBytes, n.TxBytes, name, "tx")
		counter(nicBytes, n.RxBytes, name, "rx")
		for reason, k := range n.Drops {
			counter(nicDrops, k, name, reason)
		}
		if hw := n.HW; hw != nil {
			counter(nicHWPkts, hw.RxPackets, name, "rx")
			counter(nicHWPkts, hw.TxPackets, name, "tx")
			for i, k := range hw.Drops() {
				counter(nicHWDrops, k, name, report.HWDropReasons[i])
			}
		}
		gauge(nicLink, b(n.LinkUp), name)
		gauge(nicAdmin, b(n.AdminUp), name)
		for _, st := range nicStates {
			gauge(nicState, b(n.State == st), name, st)
		}
		for _, f := range nicFaults {
			gauge(nicFault, b(slices.Contains(n.Faults, f)), name, f)
		}
		counter(nicFailover, n.Transitions, name)
		counter(nicRerouted, n.Rerouted, name)
		counter(nicAnnounce, n.Announced, name)
	}
	gauge(mbufs, float64(r.MbufsInUse))
	gauge(cycles, r.BusyCyclesPerPkt)
	gauge(loopGap, r.RecentMaxLoopGapUS/1e6)
	if len(r.LoopGaps) > 0 {
		ch <- loopGapHistogram(r)
	}
}

// loopGapHistogram is the report's loop gaps as a Prometheus histogram:
// cumulative counts per upper bound, in seconds.
func loopGapHistogram(r report.Report) prometheus.Metric {
	buckets := make(map[float64]uint64, len(r.LoopGapBoundsUS))
	var n uint64
	for i, c := range r.LoopGaps {
		n += c
		if i < len(r.LoopGapBoundsUS) {
			buckets[r.LoopGapBoundsUS[i]/1e6] = n
		}
	}
	return prometheus.MustNewConstHistogram(loopGaps, n, r.LoopGapSeconds, buckets)
}
