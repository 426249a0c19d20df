package plane

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/fastpath"
)

// A NIC joins or leaves a team while uplinkd runs as a change of the
// model, like a VM: the config in force plus or minus one [[nics]] entry
// is validated and compiled, and the NIC takes or leaves a NIC slot of the
// worker's. A NIC that joins is probed (DPDK device hot-plug), started and
// polled from the worker's next loop; the team's hashing spreads VMs over
// it at once and the VMs that move are announced on it. A NIC that leaves
// fails over first, as an admin down does: its team mates take its
// traffic and what was queued for it, and the VMs that moved are
// announced on their new NIC. Only once the worker has taken those tables
// does the NIC leave its slot, and only once the worker has let go of the
// slot is its port closed.

// AddNIC adds NIC n to its team and starts using it. A NIC that cannot be
// added changes nothing; the error names the field and the reason.
func (p *Plane) AddNIC(n config.NIC) error {
	p.mu.Lock()
	defer p.unlock()
	if err := p.addNIC(n); err != nil {
		return err
	}
	p.runtimeNICs[n.Name] = true
	return nil
}

// addNIC is AddNIC; callers hold p.mu.
func (p *Plane) addNIC(n config.NIC) error {
	if p.closed {
		return errors.New("the data plane is stopping")
	}
	old := p.cfg()
	next := *old
	next.NICs = append(slices.Clip(old.NICs), n)
	if err := next.Validate(); err != nil {
		return fieldErr(err, fmt.Sprintf("nics[%d].", len(old.NICs)))
	}
	slot := slices.Index(p.slotNIC, 0)
	if slot < 0 {
		return fmt.Errorf("no room for another NIC: all %d of dataplane.max_nics are in use", len(p.slotNIC))
	}
	m, err := model.Compile(&next, p.model())
	if err != nil {
		return fieldErr(err, fmt.Sprintf("nics[%d].", len(old.NICs)))
	}
	mn := m.NICNamed(n.Name)
	if mn.PCI {
		// EAL was told which PCI devices it may use at start (-a).
		return fmt.Errorf("pci: a PCI NIC joins at start only (EAL allows the config's PCI addresses); add %s to the config file and restart", n.PCI)
	}
	if err := p.openNICPort(slot, mn, "port "+n.Name); err != nil {
		return err
	}
	port := p.nics[slot]
	if p.watching {
		if err := port.Watch(); err != nil {
			p.log.Warn().Err(err).Str("nic", n.Name).Msg("the NIC's link is seen by the link poll only")
		}
	}
	now := time.Now()
	p.putModel(&next, m)
	p.nicMAC[slot] = fastpath.MACAt(port.MAC())
	p.ctl.PlaceNIC(slot, mn.ID, now)
	// The NIC joins up; what its link says now is its first event.
	// (A failed read feeds nothing: the poll reads it next.)
	l, err := port.Link()
	if err == nil {
		p.ctl.Step(now, control.LinkRead{NIC: slot, Link: control.Link(l), Cause: "join"})
	}
	if err := p.commit(); err != nil {
		return err
	}
	p.repoll()
	p.events.Info("nic_added").Str("nic", n.Name).Str("team", n.Team).Str("devargs", mn.Devargs).
		Str("port", port.Name).Int("slot", slot).Bool("link_up", l.Up).Uint64("tables", p.version).
		Msgf("NIC %s joined team %s", n.Name, n.Team)
	return nil
}

// RemoveNIC takes NIC name out of its team: a failover first (its traffic
// and queued packets move to its team mates, moved VMs are announced),
// then the worker stops polling it and its port is closed. It returns the
// NIC's final counters.
func (p *Plane) RemoveNIC(name string) (fastpath.Counters, error) {
	p.mu.Lock()
	defer p.unlock()
	old := p.cfg()
	next := *old
	next.NICs = slices.DeleteFunc(slices.Clone(old.NICs), func(n config.NIC) bool { return n.Name == name })
	if len(next.NICs) == len(old.NICs) {
		return fastpath.Counters{}, fmt.Errorf("no NIC named %q", name)
	}
	if err := next.Validate(); err != nil {
		return fastpath.Counters{}, fmt.Errorf("nic %s cannot leave: %w", name, err)
	}
	if _, err := model.Compile(&next, p.model()); err != nil {
		return fastpath.Counters{}, fmt.Errorf("nic %s cannot leave: %w", name, err)
	}
	gone := p.model().NICNamed(name)
	if err := p.failOverLeaving([]model.NICID{gone.ID}); err != nil {
		return fastpath.Counters{}, err
	}
	nextModel, err := model.Compile(&next, p.model())
	if err != nil {
		return fastpath.Counters{}, err
	}
	// The NIC leaves the controller while the model in force still
	// names it.
	slots := p.releaseGoneNICs(p.model(), nextModel)
	p.putModel(&next, nextModel)
	delete(p.runtimeNICs, name)
	if err := p.commit(); err != nil {
		return fastpath.Counters{}, err
	}
	final := p.closeReleasedNICs(slots)
	c, ok := final[gone.ID]
	if !ok {
		return c, errors.New("the worker did not let go of the NIC's port; it stays open until uplinkd stops")
	}
	return c, nil
}

// failOverLeaving fails over the NICs about to leave, as an admin down
// would, and waits until the worker has taken those tables: their traffic
// and queued packets have moved and the moved VMs are announced. Callers
// hold p.mu.
func (p *Plane) failOverLeaving(ids []model.NICID) error {
	now := time.Now()
	for _, id := range ids {
		p.ctl.Step(now, control.Admin{NIC: p.nicSlot[id], Up: false})
	}
	if !p.ctl.HasReady() {
		return nil
	}
	if err := p.commit(); err != nil {
		return err
	}
	p.awaitWorker(p.version)
	return nil
}

// releaseGoneNICs frees the slots of the NICs that were in model old and
// are not in m: the next tables leave them Absent. Callers hold p.mu, call
// it while old is in force (the controller names the NICs leaving) and
// commit next.
func (p *Plane) releaseGoneNICs(old, m *model.Model) (slots []releasedNIC) {
	for slot, id := range p.slotNIC {
		if id == 0 || m.NIC(id) != nil {
			continue
		}
		slots = append(slots, releasedNIC{slot: slot, id: id, name: old.NIC(id).Name})
		p.ctl.UnplaceNIC(slot, time.Now())
		p.placeNIC(slot, 0)
		p.nicMAC[slot] = 0
	}
	return slots
}

// releasedNIC is a NIC that left its slot, whose port is still open.
type releasedNIC struct {
	slot int
	id   model.NICID
	name string
}

// closeReleasedNICs closes the ports of NICs that left their slots, once
// the worker has taken the tables without them, and returns their final
// counters. A worker that does not let go leaves the port open until
// uplinkd stops. Callers hold p.mu.
func (p *Plane) closeReleasedNICs(gone []releasedNIC) map[model.NICID]fastpath.Counters {
	if len(gone) == 0 {
		return nil
	}
	final := map[model.NICID]fastpath.Counters{}
	let := p.awaitWorker(p.version)
	// The link poll reads the ports on EAL's interrupt thread: it stops
	// before a port closes, and starts again over the NICs that stay.
	if p.polling {
		dpdk.StopPollingLinks()
	}
	defer p.repoll()
	for _, g := range gone {
		port := p.nics[g.slot]
		if !let {
			p.orphans = append(p.orphans, port)
			p.nicOpen[g.slot] = false
			p.events.Error("nic_removed").Str("nic", g.name).Msg("the worker did not let go of the NIC's port; it stays open until uplinkd stops")
			continue
		}
		c, _ := p.worker.NICCountersOf(g.slot, uint32(g.id))
		final[g.id] = c
		if p.watching {
			if err := port.Unwatch(); err != nil {
				p.log.Warn().Err(err).Str("port", port.Name).Msg("unwatching a removed NIC's port")
			}
		}
		p.closeNICPort(g.slot)
		p.events.Info("nic_removed").Str("nic", g.name).Str("port", port.Name).Int("slot", g.slot).
			Uint64("tx_pkts", c[fastpath.TxPackets]).Uint64("rx_pkts", c[fastpath.RxPackets]).
			Uint64("rerouted", c[fastpath.Rerouted]).Uint64("dropped_queued", c[fastpath.Drop(fastpath.DropNoNIC)]).
			Msgf("NIC %s left its team", g.name)
	}
	return final
}

// awaitWorker waits until the worker has taken tables version v (within
// a loop, microseconds) and says whether it did; a worker that is not
// running has nothing to let go of. Callers hold p.mu.
func (p *Plane) awaitWorker(v uint64) bool {
	if p.lcore == nil {
		return true
	}
	deadline := time.Now().Add(workerLetGo)
	for p.worker.Applied() < v && time.Now().Before(deadline) {
		time.Sleep(20 * time.Microsecond)
	}
	return p.worker.Applied() >= v
}

// repoll redoes the link poll over the NICs there are now, if Run polls.
// Callers hold p.mu.
func (p *Plane) repoll() {
	if !p.polling {
		return
	}
	if err := p.pollLinks(); err != nil {
		p.log.Warn().Err(err).Msg("link polling; links are read every 250ms")
	}
}
