package control

import (
	"time"

	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
)

// beaconWatch turns the worker's per-NIC beacons-heard counters into
// BeaconLost and BeaconHeard events for the NIC manager: a NIC whose
// counter has not moved for its team's beacon_misses intervals while its
// link is up has lost its beacons; one whose counter moves again hears
// them.
type beaconWatch struct {
	every  time.Duration // the shortest beacon interval of any probing team; 0: off
	misses []int         // per NIC slot: intervals its team allows
	on     []bool        // per NIC slot: its team probes
	heard  []uint64      // per NIC slot: counter at the last look
	quiet  []int         // per NIC slot: intervals without a beacon
	lost   []bool        // per NIC slot: BeaconLost was sent
	id     []model.NICID // per NIC slot: the NIC the state above is of
}

// newBeaconWatch watches n NIC slots, all free.
func newBeaconWatch(n int) *beaconWatch {
	return &beaconWatch{misses: make([]int, n), on: make([]bool, n),
		heard: make([]uint64, n), quiet: make([]int, n), lost: make([]bool, n), id: make([]model.NICID, n)}
}

// configure watches the NICs of probing teams with at least two NICs (a
// NIC hears only its team mates' beacons), after a NIC joined or left or
// the model changed, and looks as often as the shortest beacon interval
// of any probing team asks. A NIC new in its slot starts afresh; one no
// longer watched whose beacons were lost gets a BeaconHeard event,
// returned for the NIC manager, to clear that fault.
func (b *beaconWatch) configure(m *model.Model, slotNIC []model.NICID) (events []nic.Event) {
	b.every = 0
	for _, t := range m.Teams {
		if t.Probes() && (b.every == 0 || t.BeaconInterval < b.every) {
			b.every = t.BeaconInterval
		}
	}
	for slot, id := range slotNIC {
		if id != b.id[slot] {
			b.id[slot], b.heard[slot], b.quiet[slot], b.lost[slot] = id, 0, 0, false
		}
		want := false
		if n := m.NIC(id); n != nil {
			t := m.Team(n.Team)
			want = t.Probes() && len(t.NICs) >= 2
			b.misses[slot] = t.BeaconMisses
		}
		if !want && b.lost[slot] {
			events = append(events, nic.Event{NIC: slot, Kind: nic.BeaconHeard})
		}
		if !want {
			b.heard[slot], b.quiet[slot], b.lost[slot] = 0, 0, false
		}
		b.on[slot] = want
	}
	return events
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

// BeaconPeriod is how often the driver reads the NICs' beacons-heard
// counters (BeaconCounts): the shortest beacon interval of any probing
// team, 0 if none probes.
func (c *Controller) BeaconPeriod() time.Duration { return c.beacon.every }

// watchBeacons has the beacon watch take the NICs in their slots and the
// model in force anew, and feeds what that clears.
func (c *Controller) watchBeacons(now time.Time) {
	ids := make([]model.NICID, len(c.nics))
	for i := range c.nics {
		ids[i] = c.nics[i].id
	}
	c.beaconEvents(now, c.beacon.configure(c.m, ids))
}

// lookAtBeacons compares each watched NIC's counter with the last look.
func (c *Controller) lookAtBeacons(now time.Time, heard []uint64) {
	c.beaconEvents(now, c.beacon.look(func(i int) uint64 {
		if i < len(heard) {
			return heard[i]
		}
		return 0
	}, func(i int) bool { return c.nics[i].link.Up }))
}

func (c *Controller) beaconEvents(now time.Time, events []nic.Event) {
	for _, ev := range events {
		c.feed(now, ev.NIC, ev.Kind)
	}
}
