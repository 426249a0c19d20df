package resource

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// step is one Observe of a single-VM watcher and the Repeat expected, -1 for none.
type step struct {
	ms     int
	over   bool
	repeat int
	since  int
}

func TestOverAllocationSingleVM(t *testing.T) {
	tests := []struct {
		name  string
		after time.Duration
		steps []step
	}{
		{
			name:  "fires after After and repeats every After",
			after: 100 * time.Millisecond,
			steps: []step{
				{ms: 0, over: true, repeat: -1},
				{ms: 50, over: true, repeat: -1},
				{ms: 99, over: true, repeat: -1},
				{ms: 100, over: true, repeat: 0, since: 0},
				{ms: 150, over: true, repeat: -1},
				{ms: 205, over: true, repeat: 1, since: 0},
				{ms: 299, over: true, repeat: -1},
				{ms: 300, over: true, repeat: 2, since: 0},
			},
		},
		{
			name:  "calm stops it, re-arms from the next over",
			after: 100 * time.Millisecond,
			steps: []step{
				{ms: 0, over: true, repeat: -1},
				{ms: 100, over: true, repeat: 0, since: 0},
				{ms: 150, over: false, repeat: -1},
				{ms: 160, over: true, repeat: -1},
				{ms: 200, over: true, repeat: -1},
				{ms: 259, over: true, repeat: -1},
				{ms: 260, over: true, repeat: 0, since: 160},
			},
		},
		{
			name:  "sparse observes do not replay missed periods",
			after: 100 * time.Millisecond,
			steps: []step{
				{ms: 0, over: true, repeat: -1},
				{ms: 350, over: true, repeat: 0, since: 0},
				{ms: 399, over: true, repeat: -1},
				{ms: 400, over: true, repeat: 1, since: 0},
			},
		},
		{
			name:  "disabled with After 0",
			after: 0,
			steps: []step{
				{ms: 0, over: true, repeat: -1},
				{ms: 100, over: true, repeat: -1},
				{ms: 100000, over: true, repeat: -1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOverAllocation(1, tt.after, ActionMigrate)
			for _, s := range tt.steps {
				got := o.Observe(at(s.ms), []bool{s.over})
				if s.repeat < 0 {
					assert.Empty(t, got, "at %dms", s.ms)
					continue
				}
				want := Decision{VM: 0, Action: ActionMigrate, Since: at(s.since), At: at(s.ms), Repeat: s.repeat}
				assert.Equal(t, []Decision{want}, got, "at %dms", s.ms)
			}
		})
	}
}

func TestOverAllocationVMsAreIndependent(t *testing.T) {
	o := NewOverAllocation(3, 100*time.Millisecond, ActionSuspend)

	assert.Empty(t, o.Observe(at(0), []bool{true, false, false}))
	assert.Empty(t, o.Observe(at(50), []bool{true, true, false}))
	got := o.Observe(at(100), []bool{true, true}) // VM 2 missing: not over
	assert.Equal(t, []Decision{{VM: 0, Action: ActionSuspend, Since: at(0), At: at(100)}}, got)
	got = o.Observe(at(150), []bool{false, true, true})
	assert.Equal(t, []Decision{{VM: 1, Action: ActionSuspend, Since: at(50), At: at(150)}}, got)

	since, ok := o.Over(1)
	assert.True(t, ok)
	assert.Equal(t, at(50), since)
	since, ok = o.Over(2)
	assert.True(t, ok)
	assert.Equal(t, at(150), since)
	_, ok = o.Over(0)
	assert.False(t, ok, "VM 0 calmed down")
	_, ok = o.Over(3)
	assert.False(t, ok, "out of range")
}

func TestOverAllocationDisabledStillTracks(t *testing.T) {
	o := NewOverAllocation(1, 0, ActionSuspend)
	assert.Empty(t, o.Observe(at(0), []bool{true}))
	assert.Empty(t, o.Observe(at(5000), []bool{true}))
	since, ok := o.Over(0)
	assert.True(t, ok)
	assert.Equal(t, at(0), since)
}

func TestResetForgetsAVMsEpisodeAndHistory(t *testing.T) {

	o := NewOverAllocation(2, time.Second, ActionSuspend)
	o.Observe(t0, []bool{true, true})
	o.Reset(1)
	_, over := o.Over(1)
	assert.False(t, over)
	_, over = o.Over(0)
	assert.True(t, over, "the other VM keeps its episode")

	e := NewEstimator(2)
	e.Update(time.Second, []Sample{{Bytes: 1e6}, {Bytes: 1e6}})
	e.Reset(1)
	assert.Zero(t, e.Rate(1))
	assert.Positive(t, e.Rate(0))
}
