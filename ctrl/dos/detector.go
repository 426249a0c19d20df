// Package dos is the denial-of-service detector: a pure state machine per
// VM, fed the worker's cumulative counters and the time, that smooths each
// rate with an EWMA and reports an attack's start when one crosses its
// enter threshold and its end when every rate has stayed below its leave
// threshold for a hold time (hysteresis: a flood hovering at the threshold
// does not flap). Events carry their evidence. ctrl/plane feeds it and
// carries out the responses.
package dos

import (
	"math"
	"time"
)

// Metric is a rate the detector watches, of traffic from the network to
// the VM.
type Metric int

const (
	PPS           Metric = iota // packets/s
	BPS                         // bits/s
	SYN                         // TCP SYN without ACK /s
	Fragments                   // IP fragments /s
	Amplification               // UDP from amplification ports /s
	Sources                     // distinct source addresses per window
	NumMetrics
)

var metricNames = [NumMetrics]string{"pps", "bps", "syn_pps", "fragments_pps", "amplification_pps", "sources"}

func (m Metric) String() string { return metricNames[m] }

// Threshold is a metric's hysteresis: an attack starts at Enter and may
// end below Leave. Enter 0: not watched.
type Threshold struct{ Enter, Leave float64 }

// Config is one VM's detection settings.
type Config struct {
	// Window is the EWMA's time constant: a step in a rate is two-thirds
	// seen after one window.
	Window time.Duration
	// Hold: every rate must stay below its leave threshold this long
	// before the attack ends.
	Hold       time.Duration
	Thresholds [NumMetrics]Threshold
}

// Watching says whether any metric has a threshold.
func (c *Config) Watching() bool {
	for _, t := range c.Thresholds {
		if t.Enter > 0 {
			return true
		}
	}
	return false
}

// Sample is what the worker counted for one VM: cumulative counts, and the
// distinct-source gauge of its last window.
type Sample struct {
	Packets, Bytes, SYN, Fragments, Amplification uint64
	Sources                                       float64
}

func (s *Sample) counts() [Sources]uint64 {
	return [Sources]uint64{s.Packets, s.Bytes * 8, s.SYN, s.Fragments, s.Amplification}
}

// Event is an attack's start or end.
type Event struct {
	VM    int
	Start bool
	At    time.Time
	// The evidence: at the start, the metric that crossed its enter
	// threshold; at the end, the metric that was last above its leave
	// threshold; with the smoothed value and the threshold it crossed.
	Metric    Metric
	Value     float64
	Threshold float64
	// Since: when the attack started (at the end: its duration is At-Since).
	Since time.Time
}

type vmState struct {
	seen     bool
	last     time.Time
	counts   [Sources]uint64
	rate     [NumMetrics]float64
	attacked bool
	since    time.Time
	calm     time.Time // when every rate fell below leave; zero while not
	lastHot  Metric
}

// Detector watches every VM.
type Detector struct {
	cfg []Config
	vms []vmState
}

// New makes a detector for VMs with cfg[i] each.
func New(cfg []Config) *Detector {
	return &Detector{cfg: cfg, vms: make([]vmState, len(cfg))}
}

// SetConfig changes VM v's settings (a config reload) and keeps what was
// measured: the smoothed rates carry on under the new thresholds. A VM
// under attack that is no longer watched has its attack ended, returned
// as ev (ok); one still watched ends by the new leave thresholds.
func (d *Detector) SetConfig(v int, c Config, now time.Time) (ev Event, ok bool) {
	d.cfg[v] = c
	st := &d.vms[v]
	if c.Watching() || !st.attacked {
		return Event{}, false
	}
	m := st.lastHot
	ev = Event{VM: v, At: now, Metric: m, Value: st.rate[m], Since: st.since}
	*st = vmState{}
	return ev, true
}

// Reset gives VM v's place to a new VM with settings c: nothing measured
// yet, no attack. End v's attack first (SetConfig with an empty Config).
func (d *Detector) Reset(v int, c Config) {
	d.cfg[v] = c
	d.vms[v] = vmState{}
}

// Attacked says whether VM v is under attack now.
func (d *Detector) Attacked(v int) bool { return d.vms[v].attacked }

// Rate is VM v's smoothed rate of m.
func (d *Detector) Rate(v int, m Metric) float64 { return d.vms[v].rate[m] }

// Observe feeds VM v's counters at now and returns the start or end of an
// attack, if one happened (ok).
func (d *Detector) Observe(v int, now time.Time, s Sample) (ev Event, ok bool) {
	c, st := &d.cfg[v], &d.vms[v]
	if !c.Watching() {
		return Event{}, false
	}
	counts := s.counts()
	if !st.seen || !now.After(st.last) {
		if !st.seen {
			st.seen, st.last, st.counts = true, now, counts
		}
		return Event{}, false
	}
	dt := now.Sub(st.last).Seconds()
	alpha := 1.0
	if c.Window > 0 {
		alpha = 1 - math.Exp(-dt/c.Window.Seconds())
	}
	for m := Metric(0); m < Sources; m++ {
		if counts[m] < st.counts[m] { // counters restarted: start afresh
			st.counts[m] = counts[m]
		}
		r := float64(counts[m]-st.counts[m]) / dt
		st.rate[m] += alpha * (r - st.rate[m])
	}
	st.rate[Sources] += alpha * (s.Sources - st.rate[Sources])
	st.last, st.counts = now, counts

	if !st.attacked {
		for m, t := range c.Thresholds {
			if t.Enter > 0 && st.rate[m] >= t.Enter {
				st.attacked, st.since, st.calm, st.lastHot = true, now, time.Time{}, Metric(m)
				return Event{VM: v, Start: true, At: now, Metric: Metric(m), Value: st.rate[m], Threshold: t.Enter, Since: now}, true
			}
		}
		return Event{}, false
	}
	for m, t := range c.Thresholds {
		if t.Enter > 0 && st.rate[m] >= t.Leave {
			st.calm, st.lastHot = time.Time{}, Metric(m)
			return Event{}, false
		}
	}
	if st.calm.IsZero() {
		st.calm = now
	}
	if now.Sub(st.calm) < c.Hold {
		return Event{}, false
	}
	st.attacked = false
	m := st.lastHot
	return Event{VM: v, At: now, Metric: m, Value: st.rate[m], Threshold: c.Thresholds[m].Leave, Since: st.since}, true
}
