package resource

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tick = 10 * time.Millisecond

// bytesAt is what a VM sending at bits per second sends in one tick.
func bytesAt(bits float64) uint64 { return uint64(bits * tick.Seconds() / 8) }

func TestEstimatorBackloggedIsInfinite(t *testing.T) {
	e := NewEstimator(2)
	got := e.Update(tick, []Sample{{Bytes: bytesAt(1e9), Backlogged: true}, {Bytes: bytesAt(1e9)}})
	assert.True(t, math.IsInf(got[0], 1))
	assert.InDelta(t, 1e9*Headroom+MinDemand, got[1], 1)

	// Once the backlog clears, demand falls back to the measured rate.
	got = e.Update(tick, []Sample{{Bytes: bytesAt(1e9)}, {Bytes: bytesAt(1e9)}})
	assert.InDelta(t, 1e9*Headroom+MinDemand, got[0], 1)
}

func TestEstimatorIdleGetsFloor(t *testing.T) {
	e := NewEstimator(3)
	assert.Equal(t, []float64{MinDemand, MinDemand, MinDemand}, e.Update(0, nil), "before any interval")
	// Missing samples count as idle.
	assert.Equal(t, []float64{MinDemand, MinDemand, MinDemand}, e.Update(tick, []Sample{{}}))
}

func TestEstimatorSteadyRateAndDecay(t *testing.T) {
	const rate = 2e9
	e := NewEstimator(1)
	want := rate*Headroom + MinDemand

	// Speeding up is believed at once (last rate), and stays put while the
	// EWMA catches up over many time constants.
	for range int(20 * DefaultTau / tick) {
		require.InDelta(t, want, e.Update(tick, []Sample{{Bytes: bytesAt(rate)}})[0], 1)
	}

	// Slowing down is released gradually through the EWMA ...
	got := e.Update(tick, []Sample{{}})[0]
	assert.Less(t, got, want)
	assert.Greater(t, got, 0.9*want)
	assert.InDelta(t, rate*math.Exp(-tick.Seconds()/DefaultTau.Seconds())*Headroom+MinDemand, got, rate*1e-3)

	// ... and reaches the floor after many time constants.
	for range int(10 * DefaultTau / tick) {
		got = e.Update(tick, []Sample{{}})[0]
	}
	assert.InDelta(t, MinDemand, got, rate*1e-4)
}

func TestEstimatorReusesSlice(t *testing.T) {
	e := NewEstimator(1)
	a := e.Update(tick, []Sample{{Bytes: bytesAt(1e9)}})
	b := e.Update(tick, []Sample{{Backlogged: true}})
	assert.Same(t, &a[0], &b[0])
}
