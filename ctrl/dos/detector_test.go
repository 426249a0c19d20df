package dos

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feed plays a VM's traffic at constant rates through the detector, one
// sample per tick, on a fake clock; it returns the events.
type feed struct {
	d   *Detector
	now time.Time
	s   Sample
}

func newFeed(c Config) *feed {
	return &feed{d: New([]Config{c}), now: time.Unix(1000, 0)}
}

// run advances for dur in 5 ms ticks with these per-second rates.
func (f *feed) run(dur time.Duration, pps, syn float64, sources float64) []Event {
	var evs []Event
	const tick = 5 * time.Millisecond
	for t := time.Duration(0); t < dur; t += tick {
		f.now = f.now.Add(tick)
		f.s.Packets += uint64(pps * tick.Seconds())
		f.s.Bytes += uint64(pps * tick.Seconds() * 100)
		f.s.SYN += uint64(syn * tick.Seconds())
		f.s.Sources = sources
		if ev, ok := f.d.Observe(0, f.now, f.s); ok {
			evs = append(evs, ev)
		}
	}
	return evs
}

func synConfig() Config {
	var c Config
	c.Window, c.Hold = 10*time.Millisecond, 200*time.Millisecond
	c.Thresholds[SYN] = Threshold{Enter: 5000, Leave: 2500}
	c.Thresholds[PPS] = Threshold{Enter: 200000, Leave: 100000}
	c.Thresholds[Sources] = Threshold{Enter: 500, Leave: 250}
	return c
}

func TestAFloodIsDetectedWithinMillisecondsWithItsEvidence(t *testing.T) {
	f := newFeed(synConfig())
	assert.Empty(t, f.run(time.Second, 50000, 1000, 20), "busy but benign")
	start := f.now
	evs := f.run(50*time.Millisecond, 80000, 40000, 20)
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.True(t, ev.Start)
	assert.Equal(t, SYN, ev.Metric)
	assert.Equal(t, 5000.0, ev.Threshold)
	assert.GreaterOrEqual(t, ev.Value, 5000.0)
	assert.LessOrEqual(t, ev.At.Sub(start), 10*time.Millisecond, "detected at %s", ev.At.Sub(start))
	assert.True(t, f.d.Attacked(0))
}

func TestAnAttackEndsOnlyAfterHoldBelowLeave(t *testing.T) {
	f := newFeed(synConfig())
	f.run(100*time.Millisecond, 1000, 0, 5)
	require.Len(t, f.run(100*time.Millisecond, 50000, 40000, 5), 1)

	// Between leave and enter: still under attack, however long.
	assert.Empty(t, f.run(2*time.Second, 50000, 4000, 5))
	assert.True(t, f.d.Attacked(0))

	// Below leave: ends once the hold has passed, with the evidence.
	calm := f.now
	evs := f.run(time.Second, 1000, 100, 5)
	require.Len(t, evs, 1)
	ev := evs[0]
	assert.False(t, ev.Start)
	assert.Equal(t, SYN, ev.Metric, "the last metric above its leave threshold")
	assert.Equal(t, 2500.0, ev.Threshold)
	assert.GreaterOrEqual(t, ev.At.Sub(calm), 200*time.Millisecond)
	assert.Less(t, ev.At.Sub(calm), 300*time.Millisecond)
	assert.False(t, f.d.Attacked(0))
}

func TestAFloodHoveringAtTheThresholdDoesNotFlap(t *testing.T) {
	f := newFeed(synConfig())
	var evs []Event
	for i := 0; i < 40; i++ {
		rate := 4900.0
		if i%2 == 0 {
			rate = 5300
		}
		evs = append(evs, f.run(50*time.Millisecond, 10000, rate, 5)...)
	}
	assert.Len(t, evs, 1, "one start, no end while it hovers: %v", evs)
}

func TestManyDistinctSourcesAreAnAttack(t *testing.T) {
	f := newFeed(synConfig())
	assert.Empty(t, f.run(time.Second, 10000, 0, 200), "200 clients a window: busy, not an attack")
	evs := f.run(100*time.Millisecond, 10000, 0, 3000)
	require.Len(t, evs, 1)
	assert.Equal(t, Sources, evs[0].Metric)
}

func TestAVMWithoutThresholdsIsNotWatched(t *testing.T) {
	f := newFeed(Config{Window: 10 * time.Millisecond})
	assert.Empty(t, f.run(time.Second, 1e7, 1e7, 1e6))
}

func TestRestartedCountersDoNotLookLikeAFlood(t *testing.T) {
	f := newFeed(synConfig())
	f.run(100*time.Millisecond, 1000, 1000, 5)
	f.s = Sample{} // the worker restarted: counters back to 0
	assert.Empty(t, f.run(time.Second, 1000, 1000, 5))
}

func TestANewConfigKeepsWhatWasMeasured(t *testing.T) {
	f := newFeed(synConfig())
	f.run(time.Second, 50000, 3000, 20)
	assert.False(t, f.d.Attacked(0))
	rate := f.d.Rate(0, SYN)

	// A lower SYN threshold: the rate already measured crosses it at the
	// next sample, without a new warm-up.
	lower := synConfig()
	lower.Thresholds[SYN] = Threshold{Enter: 2000, Leave: 1000}
	_, ended := f.d.SetConfig(0, lower, f.now)
	assert.False(t, ended)
	assert.InDelta(t, rate, f.d.Rate(0, SYN), 1)
	evs := f.run(5*time.Millisecond, 50000, 3000, 20)
	require.Len(t, evs, 1)
	assert.True(t, evs[0].Start)

	// Watching switched off under attack ends the attack at once.
	ev, ended := f.d.SetConfig(0, Config{}, f.now)
	require.True(t, ended)
	assert.False(t, ev.Start)
	assert.Equal(t, SYN, ev.Metric)
	assert.Equal(t, evs[0].At, ev.Since)
	assert.False(t, f.d.Attacked(0))
	assert.Empty(t, f.run(time.Second, 50000, 40000, 2000), "not watched")
}

func TestResetGivesTheSlotToANewVMWithNothingMeasured(t *testing.T) {
	c := Config{Window: 0, Thresholds: [NumMetrics]Threshold{PPS: {Enter: 100, Leave: 50}}}
	d := New([]Config{c})
	now := time.Unix(10, 0)
	d.Observe(0, now, Sample{Packets: 0})
	_, ok := d.Observe(0, now.Add(time.Second), Sample{Packets: 1000})
	require.True(t, ok)
	require.True(t, d.Attacked(0))
	d.Reset(0, c)
	assert.False(t, d.Attacked(0))
	// The new VM's counters start from zero: its first sample is a baseline,
	// not a fall from the old VM's counts.
	_, ok = d.Observe(0, now.Add(2*time.Second), Sample{Packets: 10})
	assert.False(t, ok)
	assert.Zero(t, d.Rate(0, PPS))
}
