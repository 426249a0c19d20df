package vm

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/uplinkd/uplinkd/ctrl/resource"
)

// scripted is a driver for the Manager's logic alone: it records calls,
// fails the first failures of them, and can block until released.
type scripted struct {
	mu       sync.Mutex
	calls    []string
	failures int
	block    chan struct{} // when set, each call waits for it or ctx
}

func (s *scripted) call(ctx context.Context, what string) error {
	s.mu.Lock()
	s.calls = append(s.calls, what)
	fail := s.failures > 0
	if fail {
		s.failures--
	}
	block := s.block
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail {
		return errors.New("engine says no")
	}
	return nil
}

func (s *scripted) Engine() string                            { return "scripted" }
func (s *scripted) Suspend(ctx context.Context) error         { return s.call(ctx, "suspend") }
func (s *scripted) Resume(ctx context.Context) error          { return s.call(ctx, "resume") }
func (s *scripted) Migrate(ctx context.Context, h Host) error { return s.call(ctx, "migrate "+h.Name) }
func (s *scripted) SetCPUWeight(ctx context.Context, w int) error {
	return s.call(ctx, "weight")
}
func (s *scripted) State(context.Context) (State, error) { return Unknown, nil }

func (s *scripted) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// rig is a started Manager over one scripted VM "a" whose results arrive
// on a channel.
func rig(t *testing.T, p Policy, d Driver, hosts ...Host) (*Manager, <-chan Result) {
	results := make(chan Result, 64)
	m := NewManager(nil, Options{Policy: p, Drivers: map[string]Driver{"a": d}, Hosts: hosts,
		OnResult: func(r Result) { results <- r }})
	m.Start()
	t.Cleanup(m.Stop)
	return m, results
}

func next(t *testing.T, results <-chan Result) Result {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
		return Result{}
	}
}

var quick = Policy{Timeout: time.Second, MigrateTimeout: time.Second, Retries: 2, Backoff: time.Millisecond}

func TestActionsAreRetriedThenSucceed(t *testing.T) {
	d := &scripted{failures: 2}
	m, results := rig(t, quick, d)
	require.NoError(t, m.Do("a", Request{Action: Suspend, Reason: "test"}))
	r := next(t, results)
	assert.Equal(t, OK, r.Outcome)
	assert.Equal(t, 3, r.Attempts)
	assert.Equal(t, []string{"suspend", "suspend", "suspend"}, d.Calls())
	ok, failed, _ := m.Counts("a")
	assert.Equal(t, [2]uint64{1, 0}, [2]uint64{ok, failed})
}

func TestActionsFailAfterTheirRetries(t *testing.T) {
	d := &scripted{failures: 10}
	m, results := rig(t, quick, d)
	m.Do("a", Request{Action: Resume})
	r := next(t, results)
	assert.Equal(t, Failed, r.Outcome)
	assert.Equal(t, 3, r.Attempts, "first try and two retries")
	assert.EqualError(t, r.Err, "engine says no")
	_, failed, _ := m.Counts("a")
	assert.EqualValues(t, 1, failed)
}

func TestAnAttemptThatHangsTimesOut(t *testing.T) {
	d := &scripted{block: make(chan struct{})} // never released
	p := quick
	p.Timeout, p.Retries = 20*time.Millisecond, 1
	m, results := rig(t, p, d)
	m.Do("a", Request{Action: Suspend})
	r := next(t, results)
	assert.Equal(t, Failed, r.Outcome)
	assert.ErrorIs(t, r.Err, context.DeadlineExceeded)
	assert.Equal(t, 2, r.Attempts)
}

func TestDoNeverWaitsForAStuckEngine(t *testing.T) {
	d := &scripted{block: make(chan struct{})}
	p := quick
	p.Timeout, p.QueueLen = time.Hour, 4
	m, results := rig(t, p, d)
	// One request in flight (stuck), four waiting: the sixth is refused,
	// at once, rather than blocking the control loop that asked.
	var errs []error
	for i := 0; i < 6; i++ {
		errs = append(errs, m.Do("a", Request{Action: SetCPUWeight, Weight: 10 + i}))
		if i == 0 {
			require.Eventually(t, func() bool { return len(d.Calls()) == 1 }, 10*time.Second, time.Millisecond)
		}
	}
	for i := 0; i < 5; i++ {
		assert.NoError(t, errs[i], "request %d", i)
	}
	assert.ErrorIs(t, errs[5], ErrQueueFull)
	close(d.block)
	for i := 0; i < 5; i++ {
		assert.Equal(t, OK, next(t, results).Outcome)
	}
}

func TestRequestsForTheStateAVMIsInAreSkipped(t *testing.T) {
	d := &scripted{}
	m, results := rig(t, quick, d)
	for _, a := range []Action{Suspend, Suspend, Resume, Resume} {
		m.Do("a", Request{Action: a})
	}
	m.Do("a", Request{Action: SetCPUWeight, Weight: 10})
	m.Do("a", Request{Action: SetCPUWeight, Weight: 10})
	var outcomes []Outcome
	for i := 0; i < 6; i++ {
		outcomes = append(outcomes, next(t, results).Outcome)
	}
	assert.Equal(t, []Outcome{OK, Skipped, OK, Skipped, OK, Skipped}, outcomes)
	assert.Equal(t, []string{"suspend", "resume", "weight"}, d.Calls())
}

func TestAFailedSuspendIsTriedAgainNextTime(t *testing.T) {
	d := &scripted{failures: 3}
	m, results := rig(t, quick, d)
	m.Do("a", Request{Action: Suspend})
	assert.Equal(t, Failed, next(t, results).Outcome)
	m.Do("a", Request{Action: Suspend})
	assert.Equal(t, OK, next(t, results).Outcome, "nothing was known to be suspended: not skipped")
}

func TestAMigratedVMIsLeftAlone(t *testing.T) {
	d := &scripted{}
	hosts := []Host{{Name: "b", Connection: "net-b", URI: "tcp:b", Spare: 1e9}}
	m, results := rig(t, quick, d, hosts...)
	m.OverAllocated("a", resource.Decision{Action: resource.ActionMigrate})
	r := next(t, results)
	assert.Equal(t, OK, r.Outcome)
	assert.Equal(t, "b", r.Request.Host.Name)
	m.OverAllocated("a", resource.Decision{Action: resource.ActionMigrate, Repeat: 1})
	m.Suspend("a", "failover")
	assert.Equal(t, Skipped, next(t, results).Outcome)
	assert.Equal(t, Skipped, next(t, results).Outcome)
	assert.Equal(t, []string{"migrate b"}, d.Calls())
}

func TestOverAllocationSuspends(t *testing.T) {
	d := &scripted{}
	m, results := rig(t, quick, d)
	m.OverAllocated("a", resource.Decision{Action: resource.ActionSuspend})
	r := next(t, results)
	assert.Equal(t, Suspend, r.Request.Action)
	assert.Equal(t, "over allocation", r.Request.Reason)
}

func TestUnknownVMAndBadWeightAreErrors(t *testing.T) {
	d := &scripted{}
	m, results := rig(t, quick, d)
	assert.ErrorContains(t, m.Do("zz", Request{Action: Suspend}), `vm "zz": not managed`)
	m.Do("a", Request{Action: SetCPUWeight, Weight: 0})
	r := next(t, results)
	assert.Equal(t, Failed, r.Outcome)
	assert.ErrorContains(t, r.Err, "outside 1-10000")
	assert.Empty(t, d.Calls(), "the engine is not asked for a weight it cannot have")
}

func TestSelectHost(t *testing.T) {
	hosts := []Host{
		{Name: "b", Connection: "net-a", URI: "tcp:b", Spare: 9e9},
		{Name: "c", Connection: "net-b", URI: "tcp:c", Spare: 2e9},
		{Name: "d", Connection: "net-c", URI: "tcp:d", Spare: 5e9},
		{Name: "e", Connection: "net-c", URI: "", Spare: 99e9}, // no URI: not a target
	}
	h, ok := SelectHost(hosts, "", 0)
	assert.True(t, ok)
	assert.Equal(t, "b", h.Name, "most spare capacity")
	h, _ = SelectHost(hosts, "net-a", 0)
	assert.Equal(t, "d", h.Name, "another connection than the one under attack")
	h, _ = SelectHost(hosts, "net-a", 3e9)
	assert.Equal(t, "d", h.Name)
	_, ok = SelectHost(hosts, "net-a", 6e9)
	assert.False(t, ok, "nobody has the room")
	_, ok = SelectHost(nil, "", 0)
	assert.False(t, ok)
}

func TestNiceForWeight(t *testing.T) {
	assert.Equal(t, 0, niceForWeight(100))
	assert.Equal(t, 10, niceForWeight(10), "a tenth of the CPU is about ten nice steps")
	assert.Equal(t, 19, niceForWeight(1))
	assert.Equal(t, -20, niceForWeight(10000))
	assert.Less(t, niceForWeight(50), niceForWeight(20))
}

func TestReloadedHostsAreWhereVMsMigrate(t *testing.T) {
	d := &scripted{}
	m, results := rig(t, quick, d, Host{Name: "b", Connection: "net-a", URI: "tcp:b", Spare: 1e9})
	m.MigrateAway("a", "net-a", "dos")
	assert.Empty(t, d.Calls(), "no host off net-a yet")
	m.SetHosts([]Host{{Name: "c", Connection: "net-c", URI: "tcp:c", Spare: 1e9}})
	m.MigrateAway("a", "net-a", "dos")
	r := next(t, results)
	assert.Equal(t, OK, r.Outcome)
	assert.Equal(t, "c", r.Request.Host.Name)
}

func TestVMsAddedAndRemovedWhileRunningAndNotDuringAMigration(t *testing.T) {
	d := &scripted{block: make(chan struct{})}
	m, results := rig(t, quick, &scripted{})
	require.NoError(t, m.Add("b", d))
	assert.Error(t, m.Add("b", d), "added twice")
	assert.Equal(t, "scripted", m.Engine("b"))

	require.NoError(t, m.Do("b", Request{Action: Migrate, Host: Host{Name: "h", URI: "tcp:192.0.2.1:1"}}))
	require.Eventually(t, func() bool { return m.Migrating("b") }, 10*time.Second, time.Millisecond)
	assert.ErrorContains(t, m.Remove("b"), "migrating", "refused while its migration is in flight")
	close(d.block)
	assert.Equal(t, OK, next(t, results).Outcome)
	assert.False(t, m.Migrating("b"))

	require.NoError(t, m.Remove("b"))
	assert.Equal(t, "", m.Engine("b"))
	assert.Error(t, m.Do("b", Request{Action: Suspend}), "no longer managed")
	assert.NoError(t, m.Remove("b"), "removing what is not there is no error")
}

func TestARemovedVMsQueuedRequestsAreStillCarriedOut(t *testing.T) {
	d := &scripted{block: make(chan struct{})}
	m, results := rig(t, quick, &scripted{})
	require.NoError(t, m.Add("b", d))
	require.NoError(t, m.Do("b", Request{Action: Suspend}))
	require.Eventually(t, func() bool { return len(d.Calls()) == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, m.Do("b", Request{Action: Resume}), "queued behind the suspend in flight")
	require.NoError(t, m.Remove("b"))
	close(d.block)
	assert.Equal(t, OK, next(t, results).Outcome)
	assert.Equal(t, OK, next(t, results).Outcome, "the resume asked before the removal")
	assert.Equal(t, []string{"suspend", "resume"}, d.Calls())
}
