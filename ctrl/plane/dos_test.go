package plane

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/control"
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/event"
	"github.com/uplinkd/uplinkd/ctrl/internal/testconf"
	"github.com/uplinkd/uplinkd/ctrl/nic"
	"github.com/uplinkd/uplinkd/fastpath"
)

const dosTOML = testconf.DoS

func TestEveryDoSResponseHappensAndIsUndoneWhenTheAttackEnds(t *testing.T) {
	p := planeFor(t, dosTOML)
	rec := &recordingActions{}
	p.actions = rec
	s := p.snapshotForTest(t)
	assert.True(t, s.VMs[0].DoSWatch)
	assert.False(t, s.VMs[2].DoSWatch, "c opted out")
	assert.Equal(t, 10*time.Millisecond, s.DoSWindow)

	now := time.Now()
	p.answerForTest(dos.Event{VM: 0, Start: true, At: now, Metric: dos.SYN, Value: 9000, Threshold: 5000, Since: now})
	s = p.snapshotForTest(t)
	a := s.VMs[0]
	assert.Equal(t, fastpath.ClassSYN|fastpath.ClassAmplification|fastpath.ClassFragment, a.AttackClasses, "rate-limit")
	assert.Equal(t, 2000.0, a.AttackLimitPPS)
	assert.Equal(t, 3*time.Millisecond, a.HoldIngress, "delay")
	assert.False(t, s.NICs[0].Usable() || s.NICs[1].Usable(), "failover: n1 and n2 carry nothing")
	assert.True(t, s.NICs[0].AdminUp && s.NICs[1].AdminUp, "though nobody set them admin down")
	assert.True(t, s.NICs[2].Usable(), "the team's DoS standby does")
	assert.Equal(t, []int{2}, s.Teams[0].Up)
	assert.Zero(t, s.VMs[1].AttackClasses, "b is not attacked")
	assert.Equal(t, []string{"weight a 20", "suspend a", "suspend b", "suspend c", "migrate a away from upstream-a"}, rec.calls)

	rec.calls = nil
	p.answerForTest(dos.Event{VM: 0, At: now.Add(time.Second), Metric: dos.SYN, Value: 100, Threshold: 2500, Since: now})
	s = p.snapshotForTest(t)
	a = s.VMs[0]
	assert.Zero(t, a.AttackClasses)
	assert.Zero(t, a.HoldIngress)
	assert.True(t, s.NICs[0].Usable() && s.NICs[1].Usable() && s.NICs[2].Usable())
	assert.Equal(t, []string{"weight a 100", "resume a", "resume b", "resume c"}, rec.calls, "migration is not undone")
}

func TestTheTeamStaysOnItsDoSStandbyUntilTheLastAttackEnds(t *testing.T) {
	p := planeFor(t, dosTOML)
	now := time.Now()
	p.answerForTest(dos.Event{VM: 0, Start: true, At: now})
	p.answerForTest(dos.Event{VM: 1, Start: true, At: now})
	p.answerForTest(dos.Event{VM: 0, At: now})
	require.False(t, p.snapshotForTest(t).NICs[0].Usable(), "b is still under attack")
	p.answerForTest(dos.Event{VM: 1, At: now})
	assert.True(t, p.snapshotForTest(t).NICs[0].Usable())
}

func TestAVMsOwnZeroDoSKeysMeanNotWatchedAndDropAll(t *testing.T) {
	// a sets syn_pps and attack_limit_pps to 0 in its own table: SYNs are
	// not watched for it (b's SYNs still are), and its rate limit lets no
	// attack frame through (not "no limit").
	p := planeFor(t, strings.Replace(dosTOML, "name = \"a\"\n", "name = \"a\"\ndos = { syn_pps = 0, attack_limit_pps = 0 }\n", 1))
	now := time.Now()
	for v := range 2 {
		p.sampleForTest(v, now, dos.Sample{})
		p.sampleForTest(v, now.Add(10*time.Millisecond), dos.Sample{SYN: 10000})
	}
	assert.False(t, p.ctl.DoS(0).UnderAttack, "a's SYNs are not watched")
	assert.True(t, p.ctl.DoS(1).UnderAttack, "b's are, at [dos]'s threshold")

	p.answerForTest(dos.Event{VM: 0, Start: true, At: now, Metric: dos.Fragments})
	a := p.snapshotForTest(t).VMs[0]
	assert.NotZero(t, a.AttackClasses, "rate-limit in force")
	assert.Zero(t, a.AttackLimitPPS, "at a's own 0, which the worker reads as drop all")
}

const evacuateTOML = `
[dos]
enabled = true
responses = ["failover"]
[[teams]]
name = "t"
policy = "vm-affinity"
up_delay = "50ms"
dos_standby = ["n2"]
[[nics]]
name = "n1"
vdev = "net_null0"
team = "t"
speed = "30M"
[[nics]]
name = "n2"
vdev = "net_null1"
team = "t"
speed = "10M"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
preferred_nic = "n1"
shares = 1
[[vms]]
name = "b"
socket = "/tmp/b.sock"
macs = ["02:00:00:00:00:02"]
team = "t"
preferred_nic = "n1"
suspend_on_failover = true
`

// nicStateEvents are the nic_state events recorded, as their JSON.
func nicStateEvents(t *testing.T, events *event.Log) []map[string]any {
	var out []map[string]any
	all, _ := events.Since(0, 0)
	for _, ev := range all {
		line, err := json.Marshal(ev)
		require.NoError(t, err)
		var e map[string]any
		require.NoError(t, json.Unmarshal(line, &e), string(line))
		if e["event"] == "nic_state" {
			out = append(out, e)
		}
	}
	return out
}

func TestTheFailoverResponseIsANICFailoverWithItsOwnCause(t *testing.T) {
	p := planeFor(t, evacuateTOML)
	p.events = event.New(64)
	rec := &recordingActions{}
	p.actions = rec
	at := p.heldRounds(time.Now(), 10, 0, 1)
	require.InDelta(t, 40e6, p.ctl.Alloc(0)+p.ctl.Alloc(1), 1e3, "both NICs' capacity")
	before := p.snapshotForTest(t)

	p.answerForTest(dos.Event{VM: 0, Start: true, At: time.Now()})
	p.commitForTest(t)
	s := p.snap.Load()
	assert.True(t, s.NICs[0].AdminUp, "n1 is still admin up")
	assert.False(t, s.NICs[0].Usable(), "but carries nothing")
	assert.True(t, s.NICs[0].Failed)
	assert.Equal(t, []int{1}, s.Teams[0].Up)
	assert.Equal(t, nic.StateDown, p.ctl.NIC(0).State)
	assert.Equal(t, []string{nic.FaultEvacuated}, p.ctl.NIC(0).Faults)
	assert.Nil(t, p.ctl.NIC(1).Faults, "the DoS standby is not evacuated")
	var moves []fastpath.Announcement
	assert.Len(t, s.Moves(before, moves), 2, "a's and b's MACs move to n2 and are announced there")

	evs := nicStateEvents(t, p.events)
	require.Len(t, evs, 2)
	assert.Equal(t, []any{"up", "failing", "dos-evacuate"}, []any{evs[0]["from"], evs[0]["to"], evs[0]["cause"]})
	assert.Equal(t, []any{"failing", "down", "dos-evacuate"}, []any{evs[1]["from"], evs[1]["to"], evs[1]["cause"]})
	assert.Equal(t, "n1", evs[0]["nic"])
	assert.Equal(t, []any{"a", "b"}, evs[0]["vms"])
	assert.Equal(t, []string{"suspend b", "resume b"}, rec.calls, "b asked to be suspended around its NIC's failover")

	at = p.heldRounds(at, 10, 0, 1)
	assert.InDelta(t, 10e6, p.ctl.Alloc(0)+p.ctl.Alloc(1), 1e3, "the resource manager divides n2's capacity only")

	// The attack ends: n1 recovers through the team's up_delay.
	p.events = event.New(64)
	p.answerForTest(dos.Event{VM: 0, At: time.Now()})
	p.commitForTest(t)
	assert.Equal(t, nic.StateRecovering, p.ctl.NIC(0).State)
	assert.Nil(t, p.ctl.NIC(0).Faults)
	assert.False(t, p.snap.Load().NICs[0].Usable(), "not before its up-delay")
	evs = nicStateEvents(t, p.events)
	require.Len(t, evs, 1)
	assert.Equal(t, []any{"down", "recovering", "dos-return"}, []any{evs[0]["from"], evs[0]["to"], evs[0]["cause"]})

	p.ctl.Tick(time.Now().Add(time.Second))
	p.commitForTest(t)
	assert.True(t, p.snap.Load().NICs[0].Usable(), "back after its up-delay")
	p.heldRounds(at.Add(time.Second), 10, 0, 1)
	assert.InDelta(t, 40e6, p.ctl.Alloc(0)+p.ctl.Alloc(1), 1e3, "and counted again")
}

// answerForTest has the controller answer an attack's start or end, and
// commits it as dosStep does: under p.mu, the VM actions carried out once
// it is let go.
func (p *Plane) answerForTest(ev dos.Event) { p.stepForTest(ev.At, control.DoSVerdict{Event: ev}) }

// sampleForTest feeds VM slot v's counters to the detector at now, and
// commits what follows.
func (p *Plane) sampleForTest(v int, now time.Time, s dos.Sample) {
	p.stepForTest(now, control.DoSSample{VM: v, Sample: s})
}

func (p *Plane) stepForTest(now time.Time, ev control.Event) {
	p.mu.Lock()
	p.ctl.Step(now, ev)
	p.commit()
	p.unlock()
}
