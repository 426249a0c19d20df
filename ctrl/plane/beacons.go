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
	misses []int         // per NIC slot: intervals its team allows
	on     []bool        // per NIC slot: its team probes
	heard  []uint64      // per NIC slot: counter at the last look
	quiet  []int         // per NIC slot: intervals without a beacon
	lost   []bool        // per NIC slot: BeaconLost was sent
}

func newBeaconWatch(m *model.Model, slotNIC []model.NICID) *beaconWatch {
	n := len(slotNIC)
	b := &beaconWatch{misses: make([]int, n), on: make([]bool, n),
		heard: make([]uint64, n), quiet: make([]int, n), lost: make([]bool, n)}
	for slot, id := range slotNIC {
		b.place(m, slot, id)
	}
	return b
}

// place starts watching slot afresh for NIC id (0: none) of model m.
// every, the look's period, is set at start: a NIC that joins a team
// probes at its team's interval only if some team probed at start.
func (b *beaconWatch) place(m *model.Model, slot int, id model.NICID) {
	b.on[slot], b.misses[slot], b.heard[slot], b.quiet[slot], b.lost[slot] = false, 0, 0, 0, false
	n := m.NIC(id)
	if n == nil {
		return
	}
	t := m.Team(n.Team)
	if !t.Probes() {
		return
	}
	b.on[slot] = true
	b.misses[slot] = t.BeaconMisses
	if b.every == 0 || t.BeaconInterval < b.every {
		b.every = t.BeaconInterval
	}
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

// watchBeacons is one look, with its consequences published. Under p.mu:
// a NIC that joins or leaves changes the slots looked at.
func (p *Plane) watchBeacons() {
	p.mu.Lock()
	defer p.mu.Unlock()
	events := p.beacon.look(func(i int) uint64 {
		c, ok := p.worker.NICCountersOf(i, uint32(p.slotNIC[i]))
		if !ok {
			// The worker has not taken the tables that gave the NIC its
			// slot: it has heard nothing yet.
			return 0
		}
		return c[fastpath.BeaconsHeard]
	}, func(i int) bool { return p.nicLink[i].Up })
	if len(events) == 0 {
		return
	}
	p.applyNICEvents(events...)
}
