package plane

import (
	"strings"
	"time"

	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/fastpath"
)

// The DoS responder lives in the controller (ctrl/control); the plane
// reads the watched VMs' counters for it every few milliseconds and puts
// its responses in the tables.

// dosStep is the detector's loop body: it reads the watched VMs' counters
// into the controller and commits the attacks that start or end.
func (p *Plane) dosStep(now time.Time) {
	p.mu.Lock()
	defer p.unlock()
	for v := range p.slotVM {
		if !p.ctl.DoS(v).Watched {
			continue
		}
		c, ok := p.worker.VMCountersOf(v, uint32(p.slotVM[v]))
		if !ok {
			continue // a VM new in the slot: the worker has not counted for it yet
		}
		// Everything the network sent the VM, delivered or not: a
		// rate-limited flood must stay visible until it stops.
		s := dos.Sample{
			Packets: c[fastpath.TxPackets] + c[fastpath.Drop(fastpath.DropDoS)] + c[fastpath.Drop(fastpath.DropQueueFull)] +
				c[fastpath.Drop(fastpath.DropVMDown)],
			Bytes: c[fastpath.TxBytes], SYN: c[fastpath.InSYN], Fragments: c[fastpath.InFragments],
			Amplification: c[fastpath.InAmplification], Sources: float64(c[fastpath.InSources]),
		}
		p.ctl.Step(now, control.DoSSample{VM: v, Sample: s})
	}
	p.settle()
}

// recordDoS writes the DoS responder's lines of a Ready.
func (p *Plane) recordDoS(rd control.Ready) {
	for _, a := range rd.Attacks {
		ev := a.Event
		if ev.Start {
			names := responseNames(a.Responses)
			p.events.Warn("dos_start").Str("vm", a.VM).Str("metric", ev.Metric.String()).Float64("value", ev.Value).
				Float64("threshold", ev.Threshold).Strs("responses", names).
				Msgf("VM %s under attack: %s %.0f >= %.0f; responding: %s", a.VM, ev.Metric, ev.Value, ev.Threshold,
					strings.Join(names, ", "))
		} else {
			p.events.Info("dos_end").Str("vm", a.VM).Str("metric", ev.Metric.String()).Float64("value", ev.Value).
				Float64("threshold", ev.Threshold).Dur("lasted", ev.At.Sub(ev.Since)).
				Msgf("attack on VM %s over: %s %.0f < %.0f", a.VM, ev.Metric, ev.Value, ev.Threshold)
		}
	}
	for _, x := range rd.Protects {
		msg := "protecting VM from an attack on its team mate"
		if x.Removed {
			msg = "resuming a protected VM that is being removed"
		}
		p.events.Info("dos_protect").Str("vm", x.VM).Str("attacked_vm", x.AttackedVM).Bool("suspend", x.Suspend).Msg(msg)
	}
	for _, x := range rd.Evacuations {
		p.events.Warn("dos_failover").Str("nic", x.NIC).Str("team", x.Team).Bool("evacuated", x.Evacuated).
			Strs("standby", x.Standby).Msg("team fails over to its DoS standby NICs")
	}
}

// nicNames are NICs' names, for logs.
func nicNames(m *model.Model, ids []model.NICID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = m.NIC(id).Name
	}
	return out
}

// responseNames are the config's names of responses, for logs.
func responseNames(rs []model.Response) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// dosTables fills the snapshot's DoS fields for VM v.
func (p *Plane) dosTables(v int, vm *fastpath.VM) {
	st := p.ctl.DoS(v)
	vm.DoSWatch = st.Watched
	if st.Limit {
		vm.AttackClasses = fastpath.ClassSYN | fastpath.ClassAmplification | fastpath.ClassFragment
		vm.AttackLimitPPS = st.LimitPPS
	}
	vm.HoldIngress = st.Hold
}
