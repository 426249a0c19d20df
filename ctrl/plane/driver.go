package plane

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/fastpath"
)

// The plane drives the controller (ctrl/control): it feeds it what the
// ports say and what the operator asks, under p.mu, and carries out its
// Ready: the tables published, the changes recorded, the VM actions run
// once p.mu is let go.

// commit carries out what the controller decided since the last commit:
// it publishes the tables if their inputs changed (a change of the model
// or of the slots always does), then records the NIC transitions, link and
// connection changes, queues the VM actions for unlock and re-arms Run's
// delay timer. Callers hold p.mu, except during Start.
func (p *Plane) commit() error {
	rd := p.ctl.Ready()
	before := p.snap.Load()
	var err error
	if rd.Publish {
		if err = p.publish(); err != nil {
			p.log.Error().Err(err).Msg("publishing tables")
		}
	}
	p.recordDoS(rd)
	p.recordResources(rd)
	p.record(before, rd)
	p.later = append(p.later, rd.Actions...)
	p.kickDelays()
	// A change of the model or of the slots may start, stop or retime a
	// loop.
	p.syncLoops()
	return err
}

// settle commits if the controller decided anything. Callers hold p.mu.
func (p *Plane) settle() {
	if p.ctl.HasReady() {
		p.commit()
	}
}

// unlock lets go of p.mu, then carries out the VM actions decided under
// it: a VM manager slow to take one holds up no link event, no status
// line and no API request. Actions reach the VM manager in the order they
// were decided, whichever goroutine decided them (a ticket taken under
// p.mu): a Suspend decided before a Resume is never overtaken by it.
func (p *Plane) unlock() {
	acts, a := p.later, p.actions
	p.later = nil
	if len(acts) == 0 {
		p.mu.Unlock()
		return
	}
	ticket := p.acts.take()
	p.mu.Unlock()
	p.acts.wait(ticket)
	defer p.acts.done()
	if a == nil {
		return // logged and counted only
	}
	for _, x := range acts {
		switch x.Kind {
		case control.Suspend:
			a.Suspend(x.VM, x.Reason)
		case control.Resume:
			a.Resume(x.VM, x.Reason)
		case control.SetCPUWeight:
			a.SetCPUWeight(x.VM, x.Weight, x.Reason)
		case control.MigrateAway:
			a.MigrateAway(x.VM, x.Avoid, x.Reason)
		case control.OverAllocated:
			a.OverAllocated(x.VM, x.Decision)
		}
	}
}

// planeTables are the tables in force, as the controller reads them.
type planeTables struct{ p *Plane }

// VMsOn are the VM slots the tables in force send by NIC slot n: the VMs
// a failover of n affects.
func (t planeTables) VMsOn(n int) []int {
	s := t.p.snap.Load()
	if s == nil {
		return nil
	}
	var out []int
	for v := range s.VMs {
		for _, mac := range s.VMs[v].MACs {
			if s.HomeNIC(v, mac) == n {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// LoadBasedNIC is the NIC slot the tables in force send load-based VM
// slot v by, or -1.
func (t planeTables) LoadBasedNIC(v int) int {
	s := t.p.snap.Load()
	if s == nil {
		return -1
	}
	return s.LoadBased(v)
}

// record writes the events of a Ready: one line per NIC transition, with
// the VMs that used the NIC in before (the tables before the change), per
// VM suspended or resumed around a failover, and per link or connection
// change.
func (p *Plane) record(before *fastpath.Snapshot, rd control.Ready) {
	for _, x := range rd.Transitions {
		var vms []string
		if before != nil {
			for _, v := range x.VMs {
				if v < len(before.VMs) {
					vms = append(vms, before.VMs[v].Name)
				}
			}
		}
		name := p.nicName(x.NIC)
		lvl := zerolog.InfoLevel
		if x.To != nic.StateUp {
			lvl = zerolog.WarnLevel
		}
		p.events.WithLevel(lvl, "nic_state").Str("nic", name).Str("from", x.From.String()).
			Str("to", x.To.String()).Str("cause", x.Cause).Dur("in_previous_state", x.Duration).
			Strs("vms", vms).Uint64("transitions", x.Count).
			Msg(fmt.Sprintf("NIC %s %s -> %s (%s)%s", name, x.From, x.To, x.Cause, vmList(vms)))
	}
	for _, a := range rd.Actions {
		switch {
		case !a.AroundFailover():
			// The DoS responder's, recorded with the attack.
		case a.Kind == control.Suspend:
			p.events.Warn("vm_suspend").Str("vm", a.VM).Str("nic", a.NICName).Msg("suspending VM during failover")
		case a.Reason == control.ReasonRemoved:
			p.events.Info("vm_resume").Str("vm", a.VM).Str("nic", a.NICName).Msg("resuming VM that is being removed")
		default:
			p.events.Info("vm_resume").Str("vm", a.VM).Str("nic", a.NICName).Str("nic_state", a.NICState.String()).
				Msg("resuming VM after failover")
		}
	}
	for _, l := range rd.Links {
		p.events.Info("nic_link").Str("nic", p.nicName(l.NIC)).Bool("up", l.Link.Up).Uint32("speed_mbps", l.Link.SpeedMbps).
			Str("cause", l.Cause).Msg("link changed")
	}
	for _, v := range rd.Vhost {
		p.events.Info("vm_vhost").Str("vm", p.vmName(v.VM)).Bool("connected", v.Connected).Str("cause", v.Cause).
			Msg("link changed")
	}
}

// vmList ends a transition's message with the VMs it affects: the console
// shows the message, not the vms field.
func vmList(vms []string) string {
	if len(vms) == 0 {
		return ""
	}
	return "; VMs: " + strings.Join(vms, ", ")
}

// sequencer orders the carrying out of VM actions by the ticket their
// decider took under p.mu.
type sequencer struct {
	mu            sync.Mutex
	turn          sync.Cond
	next, serving uint64
}

// take is the next ticket. Callers hold p.mu.
func (s *sequencer) take() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.next
	s.next++
	return t
}

// wait returns once every earlier ticket is done.
func (s *sequencer) wait(t uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.turn.L == nil {
		s.turn.L = &s.mu
	}
	for s.serving != t {
		s.turn.Wait()
	}
}

// done lets the next ticket go.
func (s *sequencer) done() {
	s.mu.Lock()
	s.serving++
	if s.turn.L != nil {
		s.turn.Broadcast()
	}
	s.mu.Unlock()
}

// kickDelays asks Run to re-arm its timer for the NIC delays.
func (p *Plane) kickDelays() {
	select {
	case p.delays <- struct{}{}:
	default:
	}
}

// tickDelays lets NIC down- and up-delays elapse.
func (p *Plane) tickDelays() {
	p.mu.Lock()
	defer p.unlock()
	p.ctl.Tick(time.Now())
	p.settle()
}

// delayTimer is when the next NIC delay expires, or nil.
func (p *Plane) delayTimer() <-chan time.Time {
	p.mu.Lock()
	d, ok := p.ctl.Deadline()
	p.mu.Unlock()
	if !ok {
		return nil
	}
	return time.After(time.Until(d))
}
