package plane

import (
	"time"

	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/fastpath"
)

// beaconWatch turns the worker's per-NIC beacons-heard counters into
// BeaconLost and BeaconHeard events for the NIC manager: a NIC whose
// counter has not moved for its team's beacon_misses intervals while its
// link is up has lost its beacons; one whose counter moves again hears
// them.
type beaconWatch struct {
	every  time.Duration // the shortest beacon interval of any team; 0: off
	misses []int         // per NIC: intervals its team allows
	on     []bool        // per NIC: its team probes
	heard  []uint64      // per NIC: counter at the last look
	quiet  []int         // per NIC: intervals without a beacon
	lost   []bool        // per NIC: BeaconLost was sent
}

func newBeaconWatch(m *model.Model) *beaconWatch {
	b := &beaconWatch{misses: make([]int, len(m.NICs)), on: make([]bool, len(m.NICs)),
		heard: make([]uint64, len(m.NICs)), quiet: make([]int, len(m.NICs)), lost: make([]bool, len(m.NICs))}
	for i, n := range m.NICs {
		t := m.Team(n.Team)
		if !t.Probes() {
			continue
		}
		b.on[i] = true
		b.misses[i] = t.BeaconMisses
		if b.every == 0 || t.BeaconInterval < b.every {
			b.every = t.BeaconInterval
		}
	}
	return b
}

// look compares each probing NIC's counter with the last look and returns
// the events to feed the NIC manager. linkUp says which links are up: a NIC
// with its link down hears nothing, and that is the link's story to tell.
func (b *beaconWatch) look(heard func(int) uint64, linkUp func(int) bool) (events []nic.Event) {
	for i := range b.on {
		if !b.on[i] {
			continue
		}
		h := heard(i)
		moved := h != b.heard[i]
		b.heard[i] = h
		switch {
		case moved:
			b.quiet[i] = 0
			if b.lost[i] {
				b.lost[i] = false
				events = append(events, nic.Event{NIC: i, Kind: nic.BeaconHeard})
			}
		case linkUp(i):
			b.quiet[i]++
			if b.quiet[i] >= b.misses[i] && !b.lost[i] {
				b.lost[i] = true
				events = append(events, nic.Event{NIC: i, Kind: nic.BeaconLost})
			}
		default:
			b.quiet[i] = 0
		}
	}
	return events
}

// watchBeacons is one look, with its consequences published.
func (p *Plane) watchBeacons() {
	events := p.beacon.look(func(i int) uint64 { return p.worker.NICCounters(i)[fastpath.BeaconsHeard] },
		func(i int) bool { return p.nicLinkUp(i) })
	if len(events) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.applyNICEvents(events...)
}

func (p *Plane) nicLinkUp(i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nicLink[i].Up
}
