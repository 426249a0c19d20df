package plane

import (
	"context"
	"sync"
	"time"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/ctrl/control"
)

// Run follows link state and prints the status line until ctx ends. Link
// changes arrive as events: LSC interrupts, vhost new/destroy device, and
// for PMDs without interrupts a poll every dataplane.link_poll that runs in
// C on EAL's interrupt thread. A slow poll here is the safety net.
func (p *Plane) Run(ctx context.Context) error {
	p.mu.Lock()
	ports := p.openNICs()
	for slot, open := range p.vmOpen {
		if open {
			ports = append(ports, p.vms[slot])
		}
	}
	// Still under p.mu: a VM removed meanwhile would have its port
	// detached under WatchEvents.
	events, err := dpdk.WatchEvents(ctx, ports)
	p.watching = err == nil
	p.mu.Unlock()
	if err != nil {
		return err
	}
	// Every NIC is polled, LSC or not: net_tap claims LSC but its events do
	// not arrive here (its link changes surfaced only at the safety poll,
	// 250 ms late), and a PMD's interrupt path is the part of it least
	// exercised. A poll reads cached or register state and costs nothing
	// on the worker's core.
	p.mu.Lock()
	err = p.pollLinks()
	p.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		p.mu.Lock()
		p.polling = false
		dpdk.StopPollingLinks()
		p.mu.Unlock()
	}()
	defer p.loops.wg.Wait()
	p.mu.Lock()
	p.loops.ctx = ctx
	p.syncLoops()
	p.mu.Unlock()
	poll := time.NewTicker(safetyPoll)
	defer poll.Stop()
	var status <-chan time.Time
	if iv := p.cfg().Status.Interval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		status = t.C
	}
	delay := p.delayTimer()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.delays:
			delay = p.delayTimer()
		case <-delay:
			p.tickDelays()
			delay = p.delayTimer()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			p.log.Debug().Uint16("port_id", ev.Port).Int("type", int(ev.Type)).Msg("port event")
			p.updateLinks("event")
		case <-poll.C:
			p.updateLinks("poll")
		case <-status:
			p.status.print()
		}
	}
}

const safetyPoll = 250 * time.Millisecond

// pollLinks (re)starts the link poll over the NICs there are now: at Run,
// and after a NIC joined or left. Callers hold p.mu.
func (p *Plane) pollLinks() error {
	if p.polling {
		dpdk.StopPollingLinks()
	}
	err := dpdk.PollLinks(p.openNICs(), p.cfg().Dataplane.LinkPoll)
	p.polling = err == nil
	return err
}

// refreshLinks reads every port's link state into the controller; the
// caller commits what changed (tables first, then the lines: whoever
// reads "attached" may send at once). Callers hold p.mu, except during
// Start.
func (p *Plane) refreshLinks(cause string) {
	now := time.Now()
	for i, port := range p.nics {
		if !p.nicOpen[i] {
			continue
		}
		if l, err := port.Link(); err == nil {
			p.ctl.Step(now, control.LinkRead{NIC: i, Link: control.Link(l), Cause: cause})
		}
	}
	for i, port := range p.vms {
		if !p.vmOpen[i] {
			continue
		}
		if l, err := port.Link(); err == nil {
			p.ctl.Step(now, control.VhostRead{VM: i, Connected: l.Up, Cause: cause})
		}
	}
}

func (p *Plane) updateLinks(cause string) {
	p.mu.Lock()
	defer p.unlock()
	p.refreshLinks(cause)
	p.settle()
}

// loops are the plane's periodic loops, which read the worker's counters
// for the controller: the resource manager's, the DoS detector's and the
// beacon watch's. Each runs only while the controller has work for it,
// and a change of the model or of the slots can start, stop or retime it
// (commit syncs them). Guarded by p.mu.
type loops struct {
	ctx              context.Context // Run's; nil until Run
	wg               sync.WaitGroup
	res, dos, beacon loop
}

type loop struct {
	period time.Duration // 0: not running
	stop   context.CancelFunc
}

// syncLoops starts, stops or retimes the loops to match the config in
// force. Callers hold p.mu.
func (p *Plane) syncLoops() {
	l := &p.loops
	if l.ctx == nil || l.ctx.Err() != nil {
		return
	}
	var res, dos time.Duration
	res = p.ctl.ResourcePeriod()
	dos = p.ctl.DoSPeriod()
	l.res.set(l, res, p.resourceStep)
	l.dos.set(l, dos, p.dosStep)
	l.beacon.set(l, p.ctl.BeaconPeriod(), p.beaconStep)
}

func (lp *loop) set(l *loops, period time.Duration, step func(time.Time)) {
	if period == lp.period {
		return
	}
	if lp.stop != nil {
		lp.stop()
		lp.stop = nil
	}
	lp.period = period
	if period > 0 {
		ctx, stop := context.WithCancel(l.ctx)
		lp.stop = stop
		l.wg.Go(func() { every(ctx, period, step) })
	}
}

// every calls step with the time every period until ctx ends: the
// resource manager's and the DoS detector's loops.
func every(ctx context.Context, period time.Duration, step func(time.Time)) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			step(now)
		}
	}
}
