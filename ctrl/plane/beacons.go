package plane

import (
	"time"

	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/fastpath"
)

// beaconStep is the beacon watch's loop body: the NICs' beacons-heard
// counters read into the controller.
func (p *Plane) beaconStep(now time.Time) {
	p.mu.Lock()
	defer p.unlock()
	heard := make([]uint64, len(p.slotNIC))
	for i, id := range p.slotNIC {
		// A NIC the worker has not counted for yet has heard nothing.
		c, _ := p.worker.NICCountersOf(i, uint32(id))
		heard[i] = c[fastpath.BeaconsHeard]
	}
	p.ctl.Step(now, control.BeaconCounts{Heard: heard})
	p.settle()
}
