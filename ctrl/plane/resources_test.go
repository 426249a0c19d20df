package plane

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/internal/testconf"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/ctrl/resource"
	"github.com/uplinkd/uplinkd/fastpath"
)

const sharesTOML = testconf.Shares

// planeFor is a Plane with tables but no DPDK: enough for the resource
// manager's decisions, which read config and link state only.
func planeFor(t *testing.T, toml string) *Plane {
	t.Helper()
	cfg, err := config.Parse([]byte(toml), "toml")
	require.NoError(t, err)
	p := &Plane{log: zerolog.Nop()}
	require.NoError(t, p.setConfig(cfg))
	p.allocSlots(cfg.Dataplane.MaxVMs)
	for i, v := range p.model().VMs {
		p.placeVM(i, v.ID)
	}
	p.allocNICSlots(cfg.Dataplane.MaxNICs)
	for i, n := range p.model().NICs {
		p.placeNIC(i, n.ID)
	}
	p.initTables()
	for i, id := range p.slotNIC {
		if id != 0 {
			p.ctl.Step(time.Now(), control.LinkRead{NIC: i, Link: control.Link{Up: true, SpeedMbps: 10000}})
		}
	}
	p.ctl.Ready()
	return p
}

// commitForTest commits what the controller decided and carries out the
// VM actions, as a caller of the plane's would.
func (p *Plane) commitForTest(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	err := p.commit()
	p.unlock()
	require.NoError(t, err)
}

func TestAllocationRampsHeldVMsToTheirShares(t *testing.T) {
	p := planeFor(t, sharesTOML)
	// Before anything is measured the team is already divided by shares
	// (the limit capping c): never unlimited.
	s := p.snapshotForTest(t)
	assert.InDelta(t, 11e6/3, s.VMs[0].RateBps, 1e3)
	assert.InDelta(t, 10e6, s.VMs[2].RateBps, 1e3)

	// Held VMs ask for double what they got; they settle where they
	// started.
	p.heldRounds(time.Now(), 10, 0, 1, 2)
	s = p.snap.Load()
	assert.InDelta(t, 11e6/3, s.VMs[0].RateBps, 1e3, "published to the worker")
	assert.InDelta(t, 22e6/3, s.VMs[1].RateBps, 1e3)
	assert.InDelta(t, 10e6, s.VMs[2].RateBps, 1e3)
}

// heldRounds runs n rounds of the resource manager, 5ms apart from at
// on, in which the worker held back the VMs in slots held, and commits
// each; it returns the time of the last. The counters start from zero at
// each call, so each call's first round only records them.
func (p *Plane) heldRounds(at time.Time, n int, held ...int) time.Time {
	u := control.Usage{VMs: make([]control.VMUsage, len(p.slotVM)), NICTxBytes: make([]uint64, len(p.slotNIC))}
	for range n + 1 {
		at = at.Add(5 * time.Millisecond)
		p.stepForTest(at, u)
		for _, v := range held {
			u.VMs[v].Held++
		}
	}
	return at
}

func (p *Plane) snapshotForTest(t *testing.T) *fastpath.Snapshot {
	t.Helper()
	require.NoError(t, p.publish())
	return p.snap.Load()
}

// recordingActions is the VM manager stand-in: it records what it is
// asked to do.
type recordingActions struct{ calls []string }

func (r *recordingActions) OverAllocated(vm string, d resource.Decision) {
	r.calls = append(r.calls, "over "+vm+" "+string(d.Action))
}
func (r *recordingActions) Migrating(string) bool     { return false }
func (r *recordingActions) Suspend(vm, reason string) { r.calls = append(r.calls, "suspend "+vm) }
func (r *recordingActions) Resume(vm, reason string)  { r.calls = append(r.calls, "resume "+vm) }
func (r *recordingActions) SetCPUWeight(vm string, w int, reason string) {
	r.calls = append(r.calls, fmt.Sprintf("weight %s %d", vm, w))
}
func (r *recordingActions) MigrateAway(vm, avoid, reason string) {
	r.calls = append(r.calls, "migrate "+vm+" away from "+avoid)
}

func TestVMsThatAskForItAreSuspendedWhileTheirNICFailsOver(t *testing.T) {
	p := planeFor(t, `
[[teams]]
name = "t"
policy = "vm-affinity"
down_delay = "100ms"
[[nics]]
name = "n1"
vdev = "net_null0"
team = "t"
[[nics]]
name = "n2"
vdev = "net_null1"
team = "t"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
preferred_nic = "n1"
suspend_on_failover = true
[[vms]]
name = "b"
socket = "/tmp/b.sock"
macs = ["02:00:00:00:00:02"]
team = "t"
preferred_nic = "n1"
[[vms]]
name = "c"
socket = "/tmp/c.sock"
macs = ["02:00:00:00:00:03"]
team = "t"
preferred_nic = "n2"
suspend_on_failover = true
`)
	rec := &recordingActions{}
	p.actions = rec
	p.snapshotForTest(t)
	now := time.Now()
	p.ctl.Step(now, control.LinkRead{NIC: 0, Link: control.Link{}})
	p.commitForTest(t)
	assert.Equal(t, []string{"suspend a"}, rec.calls, "only a: b did not ask, c is on n2")
	assert.True(t, p.ctl.NIC(0).FailingOver())

	p.ctl.Tick(now.Add(100 * time.Millisecond))
	p.commitForTest(t)
	assert.Equal(t, []string{"suspend a", "resume a"}, rec.calls, "resumed once the NIC is down and a moved")
	assert.Equal(t, nic.StateDown, p.ctl.NIC(0).State)
}

func TestAdminDownThroughTheDaemonTakesTheNICOutAndBack(t *testing.T) {
	p := planeFor(t, sharesWithSecondNIC(`policy = "vm-affinity"`))
	p.snapshotForTest(t)
	require.NoError(t, p.SetNICAdmin("n1", false))
	s := p.snap.Load()
	assert.False(t, s.NICs[0].AdminUp)
	assert.False(t, s.NICs[0].Usable())
	assert.Equal(t, []int{1}, s.Teams[0].Up)
	assert.Equal(t, nic.StateDown, p.ctl.NIC(0).State, "admin down skips the down-delay")

	require.NoError(t, p.SetNICAdmin("n1", true))
	assert.True(t, p.snap.Load().NICs[0].Usable())
	assert.ErrorContains(t, p.SetNICAdmin("n9", false), `no NIC named "n9"`)
}

// sharesWithSecondNIC is sharesTOML with the team's policy keys replaced
// and a second NIC, n2.
func sharesWithSecondNIC(policy string) string {
	return strings.Replace(sharesTOML, `policy = "src-mac-hash"`, policy, 1) + `
[[nics]]
name = "n2"
vdev = "net_null1"
team = "t"
speed = "21M"
`
}
