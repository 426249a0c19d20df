package plane

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/fastpath"
)

// A VM added or removed while uplinkd runs is an ordinary change of the
// model: the config in force plus or minus one [[vms]] entry is validated
// and compiled as a reload's would be, the VM takes or leaves a slot of
// the worker's, and the other VMs' slots, counters and state are not
// touched. The worker starts polling an added VM at its next loop; a
// removed VM's port is closed once the worker has let go of it.

// workerLetGo bounds the wait for the worker to take the tables that
// removed a VM (it takes them within a loop, microseconds).
const workerLetGo = 2 * time.Second

// AddVM adds VM v and starts serving it. A VM that cannot be added
// changes nothing; the error names the field (macs[0], socket, team) and
// the reason.
func (p *Plane) AddVM(v config.VM) error {
	p.mu.Lock()
	defer p.unlock()
	if err := p.addVM(v); err != nil {
		return err
	}
	p.runtimeVMs[v.Name] = true
	return nil
}

// addVM is AddVM; callers hold p.mu.
func (p *Plane) addVM(v config.VM) error {
	if p.closed {
		return errors.New("the data plane is stopping")
	}
	old := p.cfg()
	next := *old
	next.VMs = append(slices.Clip(old.VMs), v)
	if err := next.Validate(); err != nil {
		return vmFieldErr(err, len(old.VMs))
	}
	slot := slices.Index(p.slotVM, 0)
	if slot < 0 {
		return fmt.Errorf("no room for another VM: all %d of dataplane.max_vms are in use", len(p.slotVM))
	}
	if err := checkSocket(v); err != nil {
		return err
	}
	m, err := model.Compile(&next, p.model())
	if err != nil {
		return vmFieldErr(err, len(old.VMs))
	}
	vm := m.VMNamed(v.Name)
	if err := p.openVMPort(slot, vm); err != nil {
		return fmt.Errorf("vhost-user port: %w", err)
	}
	if p.watching {
		if err := p.vms[slot].Watch(); err != nil {
			p.log.Warn().Err(err).Str("vm", v.Name).Msg("the VM's connection is seen by the link poll only")
		}
	}
	p.putModel(&next, m)
	// The controller gives the VM its first rate: on a shaped team its
	// share as if every VM were backlogged, until the resource manager
	// measures it.
	p.ctl.PlaceVM(slot, vm.ID, time.Now())
	if err := p.commit(); err != nil {
		return err
	}
	p.events.Info("vm_added").Str("vm", v.Name).Str("socket", v.Socket).Bool("client", vm.Client).
		Str("port", p.vms[slot].Name).Int("slot", slot).Uint64("tables", p.version).
		Msgf("VM %s added on port %s", v.Name, p.vms[slot].Name)
	return nil
}

// RemoveVM stops serving VM name: a failover suspension or an attack on
// it ends first (its responses undone), the worker stops polling it and
// frees what was queued for it (counted as vm-down drops), and its port
// is closed. It returns the VM's final counters.
func (p *Plane) RemoveVM(name string) (fastpath.Counters, error) {
	p.mu.Lock()
	defer p.unlock()
	return p.removeVM(name)
}

// removeVM is RemoveVM; callers hold p.mu.
func (p *Plane) removeVM(name string) (fastpath.Counters, error) {
	m := p.model()
	vm := m.VMNamed(name)
	if vm == nil {
		return fastpath.Counters{}, fmt.Errorf("no VM named %q", name)
	}
	if p.actions != nil && p.actions.Migrating(name) {
		return fastpath.Counters{}, fmt.Errorf("vm %s is migrating; remove it once the migration ended", name)
	}
	slot := p.vmSlot[vm.ID]
	old := p.cfg()
	next := *old
	next.VMs = slices.DeleteFunc(slices.Clone(old.VMs), func(c config.VM) bool { return c.Name == name })
	nextModel, err := model.Compile(&next, m)
	if err != nil {
		return fastpath.Counters{}, err
	}
	now := time.Now()
	// The controller ends what the VM is in the middle of while it is
	// still there to be named: an attack's responses, a suspension to
	// protect it or for a failover.
	p.ctl.UnplaceVM(slot, now)
	p.placeVM(slot, 0)
	delete(p.runtimeVMs, name)
	// The VM may have been what shaped its team: the controller holds the
	// others to their limits.
	p.putModel(&next, nextModel)
	if err := p.commit(); err != nil {
		return fastpath.Counters{}, err
	}
	// The port may close once the worker has taken these tables: it no
	// longer polls the port, and what was queued for it is freed.
	if !p.awaitWorker(p.version) {
		// The worker is gone or stuck: closing the port under it could
		// crash it. The port stays open until uplinkd stops; the slot is
		// free for the next VM.
		p.orphans = append(p.orphans, p.vms[slot])
		p.vmOpen[slot] = false
		p.events.Error("vm_removed").Str("vm", name).Msg("the worker did not let go of the VM's port; it stays open until uplinkd stops")
		return fastpath.Counters{}, errors.New("the worker did not let go of the VM's port")
	}
	final, _ := p.worker.VMCountersOf(slot, uint32(vm.ID))
	port := p.vms[slot]
	if p.watching {
		if err := port.Unwatch(); err != nil {
			p.log.Warn().Err(err).Str("port", port.Name).Msg("unwatching a removed VM's port")
		}
	}
	p.closeVMPort(slot)
	p.events.Info("vm_removed").Str("vm", name).Str("port", port.Name).Int("slot", slot).
		Uint64("out_pkts", final[fastpath.RxPackets]).Uint64("in_pkts", final[fastpath.TxPackets]).
		Uint64("dropped_queued", final[fastpath.Drop(fastpath.DropVMDown)]).
		Msgf("VM %s removed", name)
	return final, nil
}

// vmFieldErr turns validation errors about vms[i] into errors about the
// VM's own fields (macs[0]: ...), the way an operator adding one VM names
// them.
func vmFieldErr(err error, i int) error { return fieldErr(err, fmt.Sprintf("vms[%d].", i)) }

// fieldErr strips prefix (vms[3]., nics[2].) from the validation errors
// about the one entity being added.
func fieldErr(err error, prefix string) error {
	var msgs []string
	for _, e := range unjoin(err) {
		msg := e.Error()
		if strings.HasPrefix(msg, prefix) {
			msg = strings.TrimPrefix(msg, prefix)
		}
		msgs = append(msgs, msg)
	}
	return errors.New(strings.Join(msgs, "; "))
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkSocket refuses a socket uplinkd cannot serve: one in a directory
// that does not exist, or one another process answers on.
func checkSocket(v config.VM) error {
	if v.Client() {
		return nil
	}
	dir := filepath.Dir(v.Socket)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("socket: directory %s does not exist", dir)
	}
	st, err := os.Lstat(v.Socket)
	switch {
	case err != nil:
		return nil // nothing there: the port creates it
	case st.Mode()&os.ModeSocket == 0:
		return fmt.Errorf("socket: %s exists and is not a socket", v.Socket)
	}
	if c, err := net.DialTimeout("unix", v.Socket, 100*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("socket: another process serves %s", v.Socket)
	}
	os.Remove(v.Socket) // a stale socket from an earlier run
	return nil
}
