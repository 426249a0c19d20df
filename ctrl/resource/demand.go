package resource

import (
	"math"
	"time"
)

const (
	// Headroom multiplies the measured rate so a VM that is growing is not
	// pinned to exactly what it managed to send last time.
	Headroom = 1.25
	// MinDemand (bits/s) is added to every finite demand so an idle VM
	// still gets enough allocation to start sending.
	MinDemand = 1e6
	// DefaultTau is the EWMA time constant NewEstimator uses.
	DefaultTau = time.Second
)

// Sample is one VM's measurement over an interval.
type Sample struct {
	Bytes      uint64 // bytes the VM sent (egress) in the interval
	Backlogged bool   // the worker held back packets of this VM for lack of tokens in the interval
}

// Estimator turns per-interval measurements into per-VM demands.
//
// A VM's rate is smoothed by an EWMA, and the demand uses the larger of the
// EWMA and the last interval's rate: a VM that speeds up is believed at once,
// one that slows down releases its allocation gradually, so a bursty VM is
// not starved between bursts.
type Estimator struct {
	// Tau is the EWMA time constant: after Tau a step change in rate has
	// moved the average about 63% of the way. Tau <= 0 disables smoothing.
	Tau time.Duration

	ewma   []float64 // bits/s
	demand []float64 // bits/s, returned by Update
}

// NewEstimator returns an estimator for n VMs; before the first Update
// every VM's demand is MinDemand.
func NewEstimator(n int) *Estimator {
	e := &Estimator{Tau: DefaultTau, ewma: make([]float64, n), demand: make([]float64, n)}
	for i := range e.demand {
		e.demand[i] = MinDemand
	}
	return e
}

// Update feeds one interval of length dt for every VM and returns demands in
// bits/s. A backlogged VM's demand is +Inf (its true demand is unknown, only
// that it exceeds its allocation); otherwise it is
// max(rate EWMA, last rate) * Headroom + MinDemand.
//
// s[i] is VM i's sample; VMs beyond len(s) count as idle. A dt <= 0 carries
// no rate and returns the previous demands unchanged. The returned slice is
// owned by the Estimator and overwritten by the next Update; copy it to keep it.
func (e *Estimator) Update(dt time.Duration, s []Sample) []float64 {
	if dt <= 0 {
		return e.demand
	}
	secs := dt.Seconds()
	// Exact decay for an interval of any length, so irregular ticks weigh
	// samples by the time they cover. Tau <= 0 gives alpha = 1.
	alpha := 1 - math.Exp(-secs/e.Tau.Seconds())
	for i := range e.demand {
		var smp Sample
		if i < len(s) {
			smp = s[i]
		}
		rate := float64(smp.Bytes) * 8 / secs
		e.ewma[i] += alpha * (rate - e.ewma[i])
		if smp.Backlogged {
			e.demand[i] = math.Inf(1)
			continue
		}
		e.demand[i] = max(e.ewma[i], rate)*Headroom + MinDemand
	}
	return e.demand
}

// Rate is VM i's smoothed rate in bits/s: what it uses now, without the
// headroom its demand carries.
func (e *Estimator) Rate(i int) float64 { return e.ewma[i] }

// Reset forgets VM i's history, for a new VM in its place: idle, as
// before its first Update.
func (e *Estimator) Reset(i int) { e.ewma[i], e.demand[i] = 0, MinDemand }
