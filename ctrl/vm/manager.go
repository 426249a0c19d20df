package vm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/uplinkd/uplinkd/ctrl/event"
)

// Request is one action asked of a VM.
type Request struct {
	Action Action
	Reason string // why, for the audit line: "failover of nic1", "dos on vm1"
	Host   Host   // Migrate: the target
	Weight int    // SetCPUWeight
}

// Result is how a request ended.
type Result struct {
	VM       string
	Engine   string
	Request  Request
	Outcome  Outcome
	Attempts int
	Took     time.Duration
	Err      error
}

// Outcome is a request's end.
type Outcome string

const (
	OK      Outcome = "ok"
	Failed  Outcome = "failed"
	Skipped Outcome = "skipped" // already in the asked state, or migrated away
)

// Policy is how hard the Manager tries.
type Policy struct {
	Timeout        time.Duration // one attempt of any action but a migration
	MigrateTimeout time.Duration // one attempt of a migration
	Retries        int           // attempts after the first
	Backoff        time.Duration // wait before retry n is n × Backoff
	QueueLen       int           // requests waiting per VM; more are refused
}

// DefaultPolicy is what config's defaults amount to.
var DefaultPolicy = Policy{Timeout: 10 * time.Second, MigrateTimeout: 5 * time.Minute, Retries: 2, Backoff: time.Second, QueueLen: 16}

// ErrQueueFull says a VM has too many requests waiting.
var ErrQueueFull = errors.New("request queue full")

// Manager runs every VM's requests on that VM's own goroutine, so a slow
// or dead hypervisor holds up only its VM, and the caller never waits.
type Manager struct {
	events *event.Log
	policy Policy
	// hostsMu guards hosts, which a config reload replaces.
	hostsMu sync.Mutex
	hosts   []Host
	// vmsMu guards vms: VMs are added and removed while uplinkd runs.
	vmsMu  sync.RWMutex
	vms    map[string]*runner
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// onResult, when set, sees every Result (metrics, tests).
	onResult func(Result)
}

// runner is one VM: its driver, its queue, and what is known of the VM's
// state, which is what makes requests idempotent.
type runner struct {
	name  string
	drv   Driver
	queue chan Request
	// Known state after the last successful action (owned by the runner
	// goroutine): nil/0 means not known, so the action is carried out.
	paused   *bool
	weight   int
	migrated string // the host it went to; further requests are skipped
	counts   [3]atomic.Uint64
	// migrating: a migration is in flight; stop ends the runner.
	migrating atomic.Bool
	stop      chan struct{}
}

// Options are what a Manager is made of.
type Options struct {
	Policy  Policy
	Drivers map[string]Driver // per VM name
	Hosts   []Host            // migration targets
	// OnResult, when set, sees every Result (metrics, tests); it runs on
	// the VM's goroutine and must not block.
	OnResult func(Result)
}

// NewManager makes a manager that records its actions in events; start
// it with Start.
func NewManager(events *event.Log, o Options) *Manager {
	p := o.Policy
	if p.QueueLen <= 0 {
		p.QueueLen = DefaultPolicy.QueueLen
	}
	m := &Manager{events: events, policy: p, hosts: o.Hosts, vms: make(map[string]*runner, len(o.Drivers)), onResult: o.OnResult}
	for name, d := range o.Drivers {
		m.vms[name] = m.newRunner(name, d)
	}
	return m
}

func (m *Manager) newRunner(name string, d Driver) *runner {
	return &runner{name: name, drv: d, queue: make(chan Request, m.policy.QueueLen), stop: make(chan struct{})}
}

// Start runs the VMs' goroutines until Stop.
func (m *Manager) Start() {
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.vmsMu.RLock()
	defer m.vmsMu.RUnlock()
	for _, r := range m.vms {
		m.wg.Add(1)
		go m.run(r)
	}
}

// Add manages a VM added while uplinkd runs.
func (m *Manager) Add(vm string, d Driver) error {
	m.vmsMu.Lock()
	defer m.vmsMu.Unlock()
	if _, ok := m.vms[vm]; ok {
		return fmt.Errorf("vm %q: already managed", vm)
	}
	r := m.newRunner(vm, d)
	m.vms[vm] = r
	if m.ctx != nil {
		m.wg.Add(1)
		go m.run(r)
	}
	return nil
}

// Remove stops managing vm once the requests already queued for it are
// carried out. It refuses while a migration of vm is in flight.
func (m *Manager) Remove(vm string) error {
	m.vmsMu.Lock()
	defer m.vmsMu.Unlock()
	r, ok := m.vms[vm]
	if !ok {
		return nil
	}
	if r.migrating.Load() {
		return fmt.Errorf("vm %q is migrating; remove it once the migration ended", vm)
	}
	delete(m.vms, vm)
	close(r.stop)
	return nil
}

// Migrating says whether a migration of vm is in flight.
func (m *Manager) Migrating(vm string) bool {
	r := m.runner(vm)
	return r != nil && r.migrating.Load()
}

func (m *Manager) runner(vm string) *runner {
	m.vmsMu.RLock()
	defer m.vmsMu.RUnlock()
	return m.vms[vm]
}

// Stop abandons waiting requests, cancels the ones in flight and waits
// for every VM's goroutine.
func (m *Manager) Stop() {
	m.cancel()
	m.wg.Wait()
}

// Do queues req for vm and returns at once.
func (m *Manager) Do(vm string, req Request) error {
	r := m.runner(vm)
	if r == nil {
		return fmt.Errorf("vm %q: not managed", vm)
	}
	select {
	case r.queue <- req:
		return nil
	default:
		m.events.Error("vm_action").Str("vm", vm).Str("action", string(req.Action)).Str("reason", req.Reason).
			Str("result", "refused").Msg("VM action refused: queue full")
		return fmt.Errorf("vm %q: %s: %w", vm, req.Action, ErrQueueFull)
	}
}

// Engine names the engine that drives vm ("" if not managed).
func (m *Manager) Engine(vm string) string {
	if r := m.runner(vm); r != nil {
		return r.drv.Engine()
	}
	return ""
}

// Counts returns how many of vm's requests ended ok, failed and skipped.
func (m *Manager) Counts(vm string) (ok, failed, skipped uint64) {
	r := m.runner(vm)
	if r == nil {
		return 0, 0, 0
	}
	return r.counts[0].Load(), r.counts[1].Load(), r.counts[2].Load()
}

// State asks vm's engine for its state, within the action timeout. It
// blocks: for the API and tests, never for a control loop.
func (m *Manager) State(vm string) (State, error) {
	r := m.runner(vm)
	if r == nil {
		return Unknown, fmt.Errorf("vm %q: not managed", vm)
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.policy.Timeout)
	defer cancel()
	return r.drv.State(ctx)
}

func (m *Manager) run(r *runner) {
	defer m.wg.Done()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-r.stop:
			// Removed: what was asked before (a resume, a weight
			// restored) is still carried out.
			for {
				select {
				case req := <-r.queue:
					m.finish(r, m.carryOut(r, req))
				default:
					return
				}
			}
		case req := <-r.queue:
			m.finish(r, m.carryOut(r, req))
		}
	}
}

// carryOut runs one request with its timeout and retries.
func (m *Manager) carryOut(r *runner, req Request) Result {
	res := Result{VM: r.name, Engine: r.drv.Engine(), Request: req}
	if req.Action == SetCPUWeight {
		if res.Err = checkWeight(req.Weight); res.Err != nil {
			res.Outcome = Failed
			return res
		}
	}
	if why := r.skip(req); why != "" {
		res.Outcome, res.Err = Skipped, errors.New(why)
		return res
	}
	timeout := m.policy.Timeout
	if req.Action == Migrate {
		timeout = m.policy.MigrateTimeout
	}
	start := time.Now()
	for res.Attempts = 1; ; res.Attempts++ {
		ctx, cancel := context.WithTimeout(m.ctx, timeout)
		res.Err = r.apply(ctx, req)
		cancel()
		if res.Err == nil || res.Attempts > m.policy.Retries || m.ctx.Err() != nil {
			break
		}
		m.events.Warn("vm_action_retry").Str("vm", r.name).Str("engine", res.Engine).
			Str("action", string(req.Action)).Int("attempt", res.Attempts).Err(res.Err).Msg("VM action failed; retrying")
		select {
		case <-time.After(time.Duration(res.Attempts) * m.policy.Backoff):
		case <-m.ctx.Done():
		}
	}
	res.Took = time.Since(start)
	res.Outcome = OK
	if res.Err != nil {
		res.Outcome = Failed
	}
	return res
}

// skip says why req needs no action, or "".
func (r *runner) skip(req Request) string {
	switch {
	case r.migrated != "":
		return "migrated to " + r.migrated
	case req.Action == Suspend && r.paused != nil && *r.paused:
		return "already suspended"
	case req.Action == Resume && r.paused != nil && !*r.paused:
		return "already running"
	case req.Action == SetCPUWeight && r.weight == req.Weight:
		return fmt.Sprintf("cpu weight already %d", req.Weight)
	}
	return ""
}

// apply carries req out once and records what it changed.
func (r *runner) apply(ctx context.Context, req Request) error {
	var err error
	switch req.Action {
	case Suspend, Resume:
		if req.Action == Suspend {
			err = r.drv.Suspend(ctx)
		} else {
			err = r.drv.Resume(ctx)
		}
		if err == nil {
			paused := req.Action == Suspend
			r.paused = &paused
		}
	case Migrate:
		if req.Host.URI == "" {
			return errors.New("no migration target")
		}
		r.migrating.Store(true)
		defer r.migrating.Store(false)
		if err = r.drv.Migrate(ctx, req.Host); err == nil {
			r.migrated = req.Host.Name
		}
	case SetCPUWeight:
		if err = r.drv.SetCPUWeight(ctx, req.Weight); err == nil {
			r.weight = req.Weight
		}
	default:
		err = fmt.Errorf("unknown action %q", req.Action)
	}
	return err
}

// finish writes the audit line and counts the result.
func (m *Manager) finish(r *runner, res Result) {
	lvl := zerolog.InfoLevel
	switch res.Outcome {
	case OK:
		r.counts[0].Add(1)
	case Failed:
		r.counts[1].Add(1)
		lvl = zerolog.ErrorLevel
	case Skipped:
		r.counts[2].Add(1)
	}
	ev := m.events.WithLevel(lvl, "vm_action").Str("vm", res.VM).Str("engine", res.Engine).Str("action", string(res.Request.Action)).
		Str("reason", res.Request.Reason).Str("result", string(res.Outcome)).Int("attempts", res.Attempts).Dur("took", res.Took)
	switch res.Request.Action {
	case Migrate:
		ev = ev.Str("host", res.Request.Host.Name).Str("uri", res.Request.Host.URI)
	case SetCPUWeight:
		ev = ev.Int("weight", res.Request.Weight)
	}
	if res.Err != nil {
		ev = ev.Str("error", res.Err.Error())
	}
	ev.Msg(fmt.Sprintf("VM %s %s: %s", res.VM, res.Request.Action, res.Outcome))
	if m.onResult != nil {
		m.onResult(res)
	}
}
