// Package plane brings the data plane up and down: EAL, the mbuf pool, NIC
// and vhost-user ports, the worker, and the control loop that follows link
// state and prints status. It turns configuration into fastpath tables and
// publishes them; it never touches packet memory.
package plane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/event"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/fastpath"
)

// Plane is a running data plane.
type Plane struct {
	// conf is the config in force: replaced whole by a reload (under mu),
	// so that a reader without mu sees one config or the other.
	conf atomic.Pointer[config.Config]
	// topo is conf compiled: the entities everything after the config's
	// load works with. Replaced with conf.
	topo atomic.Pointer[model.Model]
	log  zerolog.Logger
	pool *dpdk.Pool
	// nics: per NIC slot of the worker's, the NIC's port (valid while
	// nicOpen); slotNIC: the NIC in each slot (0: free), nicSlot the
	// reverse. Every per-NIC slice below is indexed by slot, and so are
	// the tables' NICs.
	nics    []dpdk.Port
	nicOpen []bool
	slotNIC []model.NICID
	nicSlot map[model.NICID]int
	// runtimeNICs, runtimeTeams: the NICs and teams added through the
	// API, which the config file does not name (a reload keeps them).
	runtimeNICs, runtimeTeams map[string]bool
	// vms: per VM slot of the worker's, the VM's vhost-user port (valid
	// while vmOpen); slotVM: the VM in each slot (0: free), vmSlot the
	// reverse. Every per-VM slice below is indexed by slot.
	vms    []dpdk.Port
	vmOpen []bool
	slotVM []model.VMID
	vmSlot map[model.VMID]int
	// watching: Run watches the ports' events; a port added later joins.
	// polling: Run polls the NICs' links (the list is redone when a NIC
	// joins or leaves).
	watching, polling bool
	// runtimeVMs: the VMs added while uplinkd runs, which the config file
	// does not name (a reload keeps them).
	runtimeVMs map[string]bool
	// orphans: ports of removed VMs and NICs the worker did not let go
	// of, closed at shutdown.
	orphans []dpdk.Port
	io      *dpdk.IO
	// events records what happens, whatever the log level; log takes
	// the other lines.
	events *event.Log

	worker *fastpath.Worker
	lcore  *dpdk.Lcore
	snap   atomic.Pointer[fastpath.Snapshot]

	mu sync.Mutex // guards the state below and publishing
	// ctl is the controller (ctrl/control): failover, vhost connections,
	// beacons, DoS responses, shares and rebalancing. Fed under mu; what it
	// decides (Ready) is carried out by commit, its VM actions once mu is
	// let go (unlock), in the order decided (acts).
	ctl *control.Controller
	// later: VM actions decided under mu, carried out by unlock.
	later     []control.Action
	acts      sequencer
	nicMAC    []fastpath.MAC
	version   uint64
	poolStart uint32

	delays chan struct{} // wakes Run to re-arm the NIC delay timer

	loops loops
	// resLoops is the worker's loop count at the resource manager's last
	// round, if there was one (resRead).
	resLoops uint64
	resRead  bool
	actions  VMActions

	status *statusPrinter
	// readers guards the API's and the metrics' rate windows.
	readers            sync.Mutex
	apiWin, metricsWin *rateWindow

	undo   []func()
	closed bool
}

// EALArgs builds the EAL command line from the config.
func EALArgs(c *config.Config) []string {
	e := c.EAL
	lcores := strconv.Itoa(e.MainLcore)
	if e.WorkerThread != "registered" { // registered workers are not EAL lcores
		for _, l := range e.WorkerLcores {
			lcores += "," + strconv.Itoa(l)
		}
	}
	args := []string{"uplinkd", "-l", lcores, "--main-lcore", strconv.Itoa(e.MainLcore),
		"--file-prefix", e.FilePrefix, "-m", strconv.Itoa(e.MemoryMB), "--huge-dir", e.HugeDir,
		"--log-level", e.LogLevel}
	pci := false
	for _, n := range c.NICs {
		if n.PCI != "" {
			args = append(args, "-a", n.PCI)
			pci = true
		}
	}
	if !pci {
		args = append(args, "--no-pci")
	}
	return append(args, e.ExtraArgs...)
}

// Start brings the data plane up. On error, whatever it had set up is torn
// down again, hugepage files included. Events (ready, link and state
// changes, ...) go to events, other lines to log.
func Start(cfg *config.Config, log zerolog.Logger, events *event.Log) (p *Plane, err error) {
	p = &Plane{log: log, events: events}
	if err := p.setConfig(cfg); err != nil {
		return nil, err
	}
	// The error returns below set p to nil: tear down what this plane set up.
	started := p
	defer func() {
		if err != nil {
			started.teardown()
		}
	}()
	args := EALArgs(cfg)
	log.Info().Strs("args", args[1:]).Msg("starting EAL")
	p.onUndo(func() {
		if err := dpdk.RemoveRuntimeFiles(cfg.EAL.HugeDir, cfg.EAL.FilePrefix); err != nil {
			log.Error().Err(err).Msg("removing hugepage files")
		}
	})
	if err := dpdk.Init(args); err != nil {
		return nil, err
	}
	p.onUndo(func() { dpdk.Cleanup() })
	// dpdk-dumpcap and dpdk-pdump attach through this; without DPDK's
	// multi-process support (e.g. --in-memory in eal.extra_args) there is
	// nothing for them to attach to, which is no reason to refuse to run.
	if err := dpdk.EnableCapture(); err != nil {
		log.Warn().Err(err).Msg("packet capture (dpdk-dumpcap, dpdk-pdump) cannot attach: rte_pdump_init failed")
	} else {
		p.onUndo(dpdk.DisableCapture)
	}

	d := cfg.Dataplane
	room := PoolDataRoom(d.MTU)
	if p.pool, err = dpdk.NewPool("uplinkd_pkts", uint32(d.Mbufs), 256, room); err != nil {
		return nil, fmt.Errorf("dataplane.mbufs: %d mbufs of %d bytes (data room for dataplane.mtu %d) in eal.memory_mb %d: %w",
			d.Mbufs, room, d.MTU, cfg.EAL.MemoryMB, err)
	}
	p.onUndo(p.pool.Free)

	// NICs take the first NIC slots in the model's order; the rest wait
	// for NICs that join a team while uplinkd runs.
	m := p.model()
	p.allocNICSlots(d.MaxNICs)
	p.onUndo(p.closeNICPorts)
	for i, n := range m.NICs {
		if err := p.openNICPort(i, &n, fmt.Sprintf("nics[%d] (%s)", i, n.Name)); err != nil {
			return nil, err
		}
	}
	// The VMs of the config take the first slots; the rest wait for VMs
	// added while uplinkd runs.
	slots := d.MaxVMs
	p.allocSlots(slots)
	p.onUndo(p.closeVMPorts)
	for i, v := range m.VMs {
		if !v.Client {
			if err := os.MkdirAll(filepath.Dir(v.Socket), 0o755); err != nil {
				return nil, fmt.Errorf("vms[%d].socket: %w", i, err)
			}
			os.Remove(v.Socket) // a stale socket from a crashed run
		}
		if err := p.openVMPort(i, &v); err != nil {
			return nil, fmt.Errorf("vms[%d] (%s): %w", i, v.Name, err)
		}
	}

	// Rx and tx queues: VM slots first, then NIC slots, each port's queue
	// 0. A free slot's queues point at port 0 until a VM or NIC takes it.
	var rx, tx []dpdk.QueueRef
	plan := fastpath.WorkerPlan{Snap: &p.snap, TSCHz: dpdk.TSCHz(), Alloc: p.pool.AllocBulk}
	for i, port := range p.vms {
		rx = append(rx, dpdk.QueueRef{Port: port.ID})
		plan.Rx = append(plan.Rx, fastpath.Endpoint{Index: i})
		plan.VMTx = append(plan.VMTx, len(tx))
		tx = append(tx, dpdk.QueueRef{Port: port.ID})
	}
	for i, port := range p.nics { // a free slot's port is the zero Port
		rx = append(rx, dpdk.QueueRef{Port: port.ID})
		plan.Rx = append(plan.Rx, fastpath.Endpoint{IsNIC: true, Index: i})
		plan.NICTx = append(plan.NICTx, len(tx))
		tx = append(tx, dpdk.QueueRef{Port: port.ID})
	}
	if p.io, err = dpdk.NewIO(rx, tx, uint32(d.TxQueueLen)); err != nil {
		return nil, err
	}
	plan.IO = p.io
	p.initTables()
	for i, port := range p.nics {
		if p.nicOpen[i] {
			p.nicMAC[i] = fastpath.MACAt(port.MAC())
		}
	}
	p.refreshLinks("start")
	if err := p.commit(); err != nil {
		return nil, err
	}
	p.poolStart = p.pool.InUse()

	p.worker = fastpath.NewWorker(plan)
	p.status = newStatusPrinter(p)
	lcore := uint(cfg.EAL.WorkerLcores[0])
	if cfg.EAL.WorkerThread == "registered" {
		p.lcore, err = dpdk.LaunchRegistered(int(lcore), p.worker.Run)
	} else {
		p.lcore, err = dpdk.Launch(lcore, p.worker.Run)
	}
	if err != nil {
		return nil, err
	}
	// Keep the worker's core for the worker: every other thread the
	// process has now (Go's, EAL's) moves to the main lcore's CPU at
	// eal.control_nice, and threads the Go runtime starts later inherit
	// both.
	workerTID := p.lcore.ThreadID()
	if cpu := dpdk.LcoreCPU(uint(cfg.EAL.MainLcore)); cpu >= 0 {
		if err := dpdk.PinThreads([]int{cpu}, cfg.EAL.ControlNice, map[int]bool{workerTID: true}); err != nil {
			log.Warn().Err(err).Msg("pinning control threads")
		}
	}
	events.Info("ready").Uint("lcore", lcore).Str("worker_thread", cfg.EAL.WorkerThread).Int("worker_tid", workerTID).
		Uint32("mbufs_in_use", p.poolStart).Int("nics", len(m.NICs)).Int("nic_slots", len(p.nics)).Int("vms", len(m.VMs)).Int("vm_slots", slots).
		Msg("data plane running")
	return p, nil
}

// cfg is the config in force.
func (p *Plane) cfg() *config.Config { return p.conf.Load() }

// Config is the config in force: the file's, with the VMs added and
// removed at runtime.
func (p *Plane) Config() *config.Config { return p.cfg() }

// model is the config in force, compiled.
func (p *Plane) model() *model.Model { return p.topo.Load() }

// setConfig compiles c, the previous model's IDs kept, and puts both in
// force. Callers hold p.mu, or own p.
func (p *Plane) setConfig(c *config.Config) error {
	m, err := model.Compile(c, p.model())
	if err != nil {
		return err
	}
	p.putModel(c, m)
	return nil
}

// putModel puts config c and its model m in force, the controller's
// included. Callers hold p.mu, or own p.
func (p *Plane) putModel(c *config.Config, m *model.Model) {
	p.topo.Store(m)
	p.conf.Store(c)
	if p.ctl != nil {
		p.ctl.SetModel(m, time.Now())
	}
}

func (p *Plane) onUndo(f func()) { p.undo = append(p.undo, f) }

// initTables sets the control state the tables are built from: links
// unknown, NICs admin up, nothing failing over, a shaped team's capacity
// divided among its VMs as if all were backlogged (a plain bond's VMs get
// their limit, 0 for none) until the resource manager measures, no
// load-based assignment.
func (p *Plane) initTables() {
	c := p.model()
	slots, nics := len(p.slotVM), len(p.slotNIC)
	now := time.Now()
	p.nicMAC = make([]fastpath.MAC, nics)
	p.ctl = control.New(c, nics, slots, now, planeTables{p})
	for slot, id := range p.slotNIC {
		if id != 0 {
			p.ctl.PlaceNIC(slot, id, now)
		}
	}
	for slot, id := range p.slotVM {
		if id != 0 {
			p.ctl.PlaceVM(slot, id, now)
		}
	}
	p.delays = make(chan struct{}, 1)
}

// SetVMActions sets who carries out decisions about VMs (the VM manager).
// Without one they are logged and counted only.
func (p *Plane) SetVMActions(a VMActions) {
	p.mu.Lock()
	p.actions = a
	p.mu.Unlock()
}

// SetNICAdmin sets a NIC administratively up or down; a NIC that is down
// carries no new traffic, and what was queued for it moves to the others.
func (p *Plane) SetNICAdmin(name string, up bool) error {
	p.mu.Lock()
	defer p.unlock()
	n := p.model().NICNamed(name)
	if n == nil {
		return fmt.Errorf("no NIC named %q", name)
	}
	p.ctl.Step(time.Now(), control.Admin{NIC: p.nicSlot[n.ID], Up: up})
	if !p.ctl.HasReady() {
		return nil
	}
	return p.commit()
}

// PoolDataRoom is the data room of the packet pool's mbufs for an MTU: one
// segment holds the longest frame the MTU admits (a VLAN tag included) and
// 4 bytes more, so that every frame a port receives arrives whole in one
// segment, and one just over the limit is counted oversize rather than cut
// short by the PMD. Single-segment frames keep every PMD's rx path simple
// (no scatter offload to negotiate; net_vhost offers none) and every frame
// check a plain read of the first segment; the price is memory, about
// 9.3 KiB per mbuf at MTU 9000 instead of 2.1.
func PoolDataRoom(mtu int) uint16 {
	return dpdk.DataRoomFor(mtu + fastpath.EthHdrLen + 4 + 4)
}

// startPort sets a probed port up for the data plane, or detaches it.
func (p *Plane) startPort(what string, port dpdk.Port, devargs string) error {
	err := p.setUp(what, port, devargs)
	if err != nil {
		open := true
		p.closePort(&port, &open)
	}
	return err
}

// openNICPort probes, starts and records NIC n's port in slot; what
// names the NIC in an error.
func (p *Plane) openNICPort(slot int, n *model.NIC, what string) error {
	port, err := dpdk.Probe(n.Devargs)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := p.startPort(what, port, n.Devargs); err != nil {
		return err
	}
	p.nics[slot], p.nicOpen[slot] = port, true
	p.placeNIC(slot, n.ID)
	return nil
}

// allocNICSlots makes room for n NICs.
func (p *Plane) allocNICSlots(n int) {
	p.nics, p.nicOpen, p.slotNIC, p.nicSlot = make([]dpdk.Port, n), make([]bool, n), make([]model.NICID, n), map[model.NICID]int{}
	p.runtimeNICs, p.runtimeTeams = map[string]bool{}, map[string]bool{}
}

// placeNIC puts NIC id in slot (0: frees the slot).
func (p *Plane) placeNIC(slot int, id model.NICID) { place(p.slotNIC, p.nicSlot, slot, id) }

// closeNICPort stops and detaches slot's port.
func (p *Plane) closeNICPort(slot int) { p.closePort(&p.nics[slot], &p.nicOpen[slot]) }

// place puts entity id in slot of a slot table (per slot the ID, and the
// reverse); id 0 frees the slot.
func place[ID model.VMID | model.NICID](bySlot []ID, slotOf map[ID]int, slot int, id ID) {
	if old := bySlot[slot]; old != 0 {
		delete(slotOf, old)
	}
	bySlot[slot] = id
	if id != 0 {
		slotOf[id] = slot
	}
}

// closePort stops and detaches a slot's port if it is open.
func (p *Plane) closePort(port *dpdk.Port, open *bool) {
	if !*open {
		return
	}
	*open = false
	if err := port.Detach(); err != nil {
		p.log.Error().Err(err).Str("port", port.Name).Msg("detach")
	}
}

func (p *Plane) closeNICPorts() {
	for slot := range p.nics {
		p.closeNICPort(slot)
	}
}

// openNICs are the ports of the NICs in their slots.
func (p *Plane) openNICs() []dpdk.Port {
	var out []dpdk.Port
	for slot, open := range p.nicOpen {
		if open {
			out = append(out, p.nics[slot])
		}
	}
	return out
}

// setUp configures and starts a probed port for the data plane.
func (p *Plane) setUp(what string, port dpdk.Port, devargs string) error {
	d := p.cfg().Dataplane
	lim, err := port.MTULimit()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if d.MTU > lim.MaxMTU {
		return fmt.Errorf("%s: dataplane.mtu %d is more than %s (%s) can carry: its maximum MTU is %d (frames of up to %d bytes)",
			what, d.MTU, port.Name, lim.Driver, lim.MaxMTU, lim.MaxFrame)
	}
	if err := port.Configure(1, 1, uint16(d.RxDescriptors), p.pool, uint16(d.MTU)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := port.Start(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := port.SetPromiscuous(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	p.log.Info().Str("port", port.Name).Uint16("port_id", port.ID).Str("devargs", devargs).Msg("port started")
	return nil
}

// vmPortName is the DPDK name of a VM's vhost-user port (dpdk-dumpcap -i
// takes it).
func vmPortName(v *model.VM) string { return "net_vhost_" + v.Name }

// openVMPort creates, starts and records VM v's port in slot.
func (p *Plane) openVMPort(slot int, v *model.VM) error {
	devargs := dpdk.VhostDevargs(vmPortName(v), v.Socket, v.Client, 1)
	port, err := dpdk.Probe(devargs)
	if err != nil {
		return err
	}
	if err := p.startPort("port "+port.Name, port, devargs); err != nil {
		return err
	}
	p.vms[slot], p.vmOpen[slot] = port, true
	p.placeVM(slot, v.ID)
	return nil
}

// allocSlots makes room for n VMs.
func (p *Plane) allocSlots(n int) {
	p.vms, p.vmOpen, p.slotVM, p.vmSlot = make([]dpdk.Port, n), make([]bool, n), make([]model.VMID, n), map[model.VMID]int{}
	p.runtimeVMs = map[string]bool{}
}

// placeVM puts VM id in slot (0: frees the slot).
func (p *Plane) placeVM(slot int, id model.VMID) { place(p.slotVM, p.vmSlot, slot, id) }

// closeVMPort stops and detaches slot's port.
func (p *Plane) closeVMPort(slot int) { p.closePort(&p.vms[slot], &p.vmOpen[slot]) }

func (p *Plane) closeVMPorts() {
	for slot := range p.vms {
		p.closeVMPort(slot)
	}
	for _, port := range p.orphans {
		if err := port.Detach(); err != nil {
			p.log.Error().Err(err).Str("port", port.Name).Msg("detach")
		}
	}
	p.orphans = nil
}

// vmAt is the VM in slot v, nil if the slot is free.
func (p *Plane) vmAt(v int) *model.VM {
	if id := p.slotVM[v]; id != 0 {
		return p.model().VM(id)
	}
	return nil
}

// vmName is slot v's VM's name ("" for a free slot).
func (p *Plane) vmName(v int) string {
	if vm := p.vmAt(v); vm != nil {
		return vm.Name
	}
	return ""
}

// Close stops the worker, frees what is still queued (counting it), closes
// the ports, checks that every mbuf came back and removes EAL's files. It
// returns an error if mbufs leaked.
func (p *Plane) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.lcore != nil {
		p.worker.Stop()
		if err := p.lcore.Wait(); err != nil {
			errs = append(errs, err)
		}
		// The worker published its final counters as it returned.
		p.status.print()
	}
	if p.io != nil {
		freed := p.io.Close()
		withPorts := p.pool.InUse()
		// The ports' rx rings hold mbufs until the ports close, and a NIC
		// that joined or left while uplinkd ran changed how many: with
		// every port closed, every mbuf is back, or one leaked.
		p.closeVMPorts()
		p.closeNICPorts()
		end := p.pool.InUse()
		lvl := zerolog.InfoLevel
		if end != 0 {
			lvl = zerolog.ErrorLevel
			errs = append(errs, fmt.Errorf("mbuf leak: %d still in use once every port closed (%d at start, %d at stop with the ports open)",
				end, p.poolStart, withPorts))
		}
		p.events.WithLevel(lvl, "stopped").Uint32("mbufs_in_use_start", p.poolStart).Uint32("mbufs_in_use_stop", withPorts).
			Uint32("mbufs_in_use_end", end).Int("freed_queued", freed).Msg("worker stopped, ports closed")
	}
	p.teardown()
	return errors.Join(errs...)
}

func (p *Plane) teardown() {
	for i := len(p.undo) - 1; i >= 0; i-- {
		p.undo[i]()
	}
	p.undo = nil
}

// publish builds a snapshot from config and link state and swaps it in.
// Callers hold p.mu, except during Start.
func (p *Plane) publish() error {
	s, err := p.build(p.model())
	if err != nil {
		return err
	}
	p.version++
	s.Version = p.version
	p.snap.Store(s)
	return nil
}

// build makes the tables for model m (the one in force, or one a reload
// tries) from the control state. Callers hold p.mu, except during Start.
func (p *Plane) build(m *model.Model) (*fastpath.Snapshot, error) {
	s := &fastpath.Snapshot{MaxFrame: m.MaxFrame, DoSWindow: m.DoSWindow}
	for _, t := range m.Teams {
		s.Teams = append(s.Teams, fastpath.Team{Name: t.Name, Policy: fastpath.Policy(t.Policy), BeaconInterval: t.BeaconInterval,
			Active: p.nicIndexes(t.Active), Standby: p.nicIndexes(t.Standby), NativeVLAN: t.NativeVLAN})
	}
	s.NICs = make([]fastpath.NIC, len(p.slotNIC))
	for i := range s.NICs {
		s.NICs[i] = fastpath.NIC{Absent: true}
	}
	// The model's NICs in its order, each in its slot: a team's NICs are
	// listed in the model's order, which hashing policies count in. A NIC
	// without a slot is one a reload is about to add: the tables that
	// check the reload leave it out.
	for _, n := range m.NICs {
		i, ok := p.nicSlot[n.ID]
		if !ok {
			continue
		}
		t := m.TeamIndex(n.Team)
		st := p.ctl.NIC(i)
		s.NICs[i] = fastpath.NIC{ID: uint32(n.ID), Port: p.nics[i].ID, Name: n.Name, Team: t, LinkUp: st.Link.Up,
			AdminUp: st.AdminUp, FailingOver: st.FailingOver(), Failed: st.Failed(), Standby: st.Standby,
			SpeedBps: p.ctl.NICSpeed(i), MAC: p.nicMAC[i]}
		s.Teams[t].NICs = append(s.Teams[t].NICs, i)
	}
	for i, id := range p.slotVM {
		v := m.VM(id)
		if v == nil {
			s.VMs = append(s.VMs, fastpath.VM{Absent: true, Preferred: -1, Assigned: -1})
			continue
		}
		vm := fastpath.VM{ID: uint32(id), Port: p.vms[i].ID, Name: v.Name, Team: m.TeamIndex(v.Team), Connected: p.ctl.VMConnected(i),
			RateBps: p.ctl.Alloc(i), RatePps: v.LimitPPS, Priority: v.Priority,
			Preferred: -1, Assigned: p.ctl.Assigned(i), VLAN: v.VLAN, Trunk: v.Trunk, NativeVLAN: v.NativeVLAN, IPs: v.IPs}
		if v.Preferred != 0 {
			vm.Preferred = p.nicIndex(v.Preferred)
		}
		p.dosTables(i, &vm)
		for _, mac := range v.MACs {
			vm.MACs = append(vm.MACs, fastpath.MAC(mac))
		}
		s.VMs = append(s.VMs, vm)
	}
	if err := s.Build(); err != nil {
		return nil, err
	}
	return s, nil
}

// nicIndexes are the tables' indexes (slots) of NICs.
func (p *Plane) nicIndexes(ids []model.NICID) []int {
	var out []int
	for _, id := range ids {
		if i := p.nicIndex(id); i >= 0 {
			out = append(out, i)
		}
	}
	return out
}

// nicIndex is NIC id's slot, its index in the tables; -1 if it has none.
func (p *Plane) nicIndex(id model.NICID) int {
	if i, ok := p.nicSlot[id]; ok {
		return i
	}
	return -1
}

// nicAt is the NIC in slot n, nil if the slot is free.
func (p *Plane) nicAt(n int) *model.NIC {
	if id := p.slotNIC[n]; id != 0 {
		return p.model().NIC(id)
	}
	return nil
}

// nicName is slot n's NIC's name ("" for a free slot).
func (p *Plane) nicName(n int) string {
	if nic := p.nicAt(n); nic != nil {
		return nic.Name
	}
	return ""
}

// TSCHz is the TSC frequency.
func (p *Plane) TSCHz() uint64 { return dpdk.TSCHz() }
