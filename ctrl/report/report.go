// Package report is the shape of uplinkd's state as the outside sees it:
// the status line's fields, the API's answers, what the metrics export
// and what uplinkctl prints. Plain data, no cgo: uplinkctl links it
// without DPDK.
package report

import (
	"fmt"
	"time"
)

// Report is the daemon's state and counters at one moment: what the status
// line logs, the API serves and the metrics export. Rates are over the
// window since the previous report of the same reader.
type Report struct {
	Time             time.Time             `json:"time"`
	VMs              map[string]VMReport   `json:"vms"`
	NICs             map[string]NICReport  `json:"nics"`
	Teams            map[string]TeamReport `json:"teams"`
	MbufsInUse       uint32                `json:"mbufs_in_use"`
	BusyCyclesPerPkt float64               `json:"busy_cycles_per_pkt"`
	// WorkerBusyCycles and WorkerPackets are the worker's totals since
	// start, for a cost per packet over a window of one's choosing.
	WorkerBusyCycles   uint64  `json:"worker_busy_cycles"`
	WorkerPackets      uint64  `json:"worker_packets"`
	PktsPerBusyLoop    float64 `json:"pkts_per_busy_loop"`
	MaxLoopGapUS       float64 `json:"max_loop_gap_us"`
	RecentMaxLoopGapUS float64 `json:"recent_max_loop_gap_us"`
	// LoopGaps counts the gaps between the worker's iterations since start
	// by length: LoopGaps[i] those shorter than LoopGapBoundsUS[i] and not
	// shorter than the bound before; the last count, one past the bounds,
	// those at least as long as the last bound. LoopGapSeconds is their sum.
	LoopGaps        []uint64  `json:"loop_gaps"`
	LoopGapBoundsUS []float64 `json:"loop_gap_bounds_us"`
	LoopGapSeconds  float64   `json:"loop_gap_seconds"`
	// DPDKPorts and Goroutines show what VMs added and removed at runtime
	// leave behind: both come back to where they were.
	DPDKPorts  int `json:"dpdk_ports"`
	Goroutines int `json:"goroutines"`
}

// VMReport is one VM. Out is what it sent, in what was delivered to it.
type VMReport struct {
	Team      string  `json:"team"`
	Connected bool    `json:"connected"`
	OutPPS    float64 `json:"out_pps"`
	InPPS     float64 `json:"in_pps"`
	OutPkts   uint64  `json:"out_pkts"`
	InPkts    uint64  `json:"in_pkts"`
	OutBytes  uint64  `json:"out_bytes"`
	InBytes   uint64  `json:"in_bytes"`
	OutBPS    float64 `json:"out_bps"`
	AllocBPS  float64 `json:"alloc_bps"`
	HeldLoops uint64  `json:"held_loops"`
	// VLAN, Trunk and NativeVLAN are the VM's VLANs (see config).
	VLAN       uint16   `json:"vlan,omitempty"`
	Trunk      []uint16 `json:"trunk,omitempty"`
	NativeVLAN uint16   `json:"native_vlan,omitempty"`
	// IPs are the addresses the VM may send from (empty: any).
	IPs []string `json:"ips,omitempty"`
	// LocalOutPkts and LocalInPkts are the frames switched to and from
	// other VMs of its team on this host (in OutPkts and InPkts too);
	// they never reach a NIC. A group frame counts once per VM it reached.
	LocalOutPkts            uint64            `json:"local_out_pkts"`
	LocalInPkts             uint64            `json:"local_in_pkts"`
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
	Team        string `json:"team"`
	LinkUp      bool   `json:"link_up"`
	AdminUp     bool   `json:"admin_up"`
	FailingOver bool   `json:"failing_over"`
	State       string `json:"state"`
	// Faults are what keeps the NIC from carrying traffic now, by the NIC
	// manager: link down, admin down, beacons lost, dos-evacuate (the DoS
	// failover response moved its team off it); empty when none.
	Faults       []string          `json:"faults"`
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
	// HW is what the NIC's driver counted (rte_eth_stats); nil when the
	// driver would not say.
	HW *NICHWReport `json:"hw,omitempty"`
}

// NICHWReport is a NIC's own counters, as its driver keeps them: what the
// NIC itself received and sent, and the frames it dropped before uplinkd's
// worker saw them (Drops in NICReport are the worker's).
type NICHWReport struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	// IMissed: the rx ring was full, the worker did not poll in time.
	IMissed uint64 `json:"imissed"`
	// RxNoMbuf: no mbuf in the pool to refill the rx ring.
	RxNoMbuf uint64 `json:"rx_nombuf"`
	IErrors  uint64 `json:"ierrors"`
	OErrors  uint64 `json:"oerrors"`
}

// HWDropReasons names the NIC's own drop counters, in NICHWReport's order.
var HWDropReasons = []string{"imissed", "rx_nombuf", "ierrors", "oerrors"}

// Drops is the NIC's own drop counters by reason, in HWDropReasons' order.
func (h *NICHWReport) Drops() [4]uint64 {
	return [4]uint64{h.IMissed, h.RxNoMbuf, h.IErrors, h.OErrors}
}

// DropTotal sums the NIC's own drop counters.
func (h *NICHWReport) DropTotal() uint64 { return h.IMissed + h.RxNoMbuf + h.IErrors + h.OErrors }

// TeamReport is one team: its policy, its NICs and VMs in config order.
type TeamReport struct {
	Policy string   `json:"policy"`
	NICs   []string `json:"nics"`
	Up     []string `json:"usable_nics"`
	VMs    []string `json:"vms"`
	// Designated is the NIC whose broadcasts and multicasts from the
	// network reach the VMs ("" when none can); the other NICs' copies
	// are dropped as duplicate_group.
	Designated string `json:"designated_receiver"`
	// NativeVLAN is the VLAN of untagged frames on the NICs; VLANs are
	// the VLANs the team's VMs are in, each a broadcast domain (empty for a
	// team that passes frames as they are).
	NativeVLAN uint16   `json:"native_vlan,omitempty"`
	VLANs      []uint16 `json:"vlans,omitempty"`
	// CapacityBPS is the speed of the NICs the NIC manager lets carry
	// traffic: what the resource manager divides among the team's VMs.
	CapacityBPS float64 `json:"capacity_bps"`
}

// SI formats a rate compactly: 950, 12.3k, 4.56M, 10.0G.
func SI(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.1fG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// LoopGapsOver is how many loop gaps were at least us microseconds long,
// counted in whole buckets: us should be one of LoopGapBoundsUS.
func (r Report) LoopGapsOver(us float64) uint64 { return GapsOver(r.LoopGaps, r.LoopGapBoundsUS, us) }

// GapsOver counts the gaps of a loop-gap histogram (counts, and the bounds
// of all but the last, open bucket) in the buckets whose bound is above us.
func GapsOver(counts []uint64, boundsUS []float64, us float64) uint64 {
	var n uint64
	for i, c := range counts {
		if i == len(boundsUS) || boundsUS[i] > us {
			n += c
		}
	}
	return n
}
