package plane

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/fastpath"
)

const dosTOML = `
[dos]
enabled = true
responses = ["rate-limit", "delay", "deprioritise", "suspend", "suspend-others", "failover", "migrate"]
attack_limit_pps = "2k"
delay = "3ms"
[vm_manager]
deprioritised_weight = 20
[[teams]]
name = "t"
policy = "src-mac-hash"
connection = "upstream-a"
dos_standby = ["n3"]
[[nics]]
name = "n1"
vdev = "net_null0"
team = "t"
[[nics]]
name = "n2"
vdev = "net_null1"
team = "t"
[[nics]]
name = "n3"
vdev = "net_null2"
team = "t"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
[[vms]]
name = "b"
socket = "/tmp/b.sock"
macs = ["02:00:00:00:00:02"]
team = "t"
[[vms]]
name = "c"
socket = "/tmp/c.sock"
macs = ["02:00:00:00:00:03"]
team = "t"
dos = { enabled = false }
`

func TestEveryDoSResponseHappensAndIsUndoneWhenTheAttackEnds(t *testing.T) {
	p := planeFor(t, dosTOML)
	rec := &recordingActions{}
	p.actions = rec
	s := p.snapshotForTest(t)
	assert.True(t, s.VMs[0].DoSWatch)
	assert.False(t, s.VMs[2].DoSWatch, "c opted out")
	assert.Equal(t, 10*time.Millisecond, s.DoSWindow)

	now := time.Now()
	p.answer(dos.Event{VM: 0, Start: true, At: now, Metric: dos.SYN, Value: 9000, Threshold: 5000, Since: now})
	s = p.snapshotForTest(t)
	a := s.VMs[0]
	assert.Equal(t, fastpath.ClassSYN|fastpath.ClassAmplification|fastpath.ClassFragment, a.AttackClasses, "rate-limit")
	assert.Equal(t, 2000.0, a.AttackLimitPPS)
	assert.Equal(t, 3*time.Millisecond, a.HoldIngress, "delay")
	assert.False(t, s.NICs[0].AdminUp || s.NICs[1].AdminUp, "failover: n1 and n2 carry nothing")
	assert.True(t, s.NICs[2].AdminUp, "the team's DoS standby does")
	assert.Equal(t, []int{2}, s.Teams[0].Up)
	assert.Zero(t, s.VMs[1].AttackClasses, "b is not attacked")
	assert.Equal(t, []string{"weight a 20", "suspend a", "suspend b", "suspend c", "migrate a away from upstream-a"}, rec.calls)

	rec.calls = nil
	p.answer(dos.Event{VM: 0, At: now.Add(time.Second), Metric: dos.SYN, Value: 100, Threshold: 2500, Since: now})
	s = p.snapshotForTest(t)
	a = s.VMs[0]
	assert.Zero(t, a.AttackClasses)
	assert.Zero(t, a.HoldIngress)
	assert.True(t, s.NICs[0].AdminUp && s.NICs[1].AdminUp && s.NICs[2].AdminUp)
	assert.Equal(t, []string{"weight a 100", "resume a", "resume b", "resume c"}, rec.calls, "migration is not undone")
}

func TestTheTeamStaysOnItsDoSStandbyUntilTheLastAttackEnds(t *testing.T) {
	p := planeFor(t, dosTOML)
	now := time.Now()
	p.answer(dos.Event{VM: 0, Start: true, At: now})
	p.answer(dos.Event{VM: 1, Start: true, At: now})
	p.answer(dos.Event{VM: 0, At: now})
	require.False(t, p.snapshotForTest(t).NICs[0].AdminUp, "b is still under attack")
	p.answer(dos.Event{VM: 1, At: now})
	assert.True(t, p.snapshotForTest(t).NICs[0].AdminUp)
}

func TestSuspendOthersSparesVMsUnderAttackThemselves(t *testing.T) {
	p := planeFor(t, dosTOML)
	rec := &recordingActions{}
	p.actions = rec
	p.dos.cfg[0].Responses = []string{"suspend-others"}
	p.dos.cfg[1].Responses = []string{"rate-limit"}
	p.answer(dos.Event{VM: 1, Start: true})
	p.answer(dos.Event{VM: 0, Start: true})
	assert.Equal(t, []string{"suspend c"}, rec.calls, "b is under attack too: left running")
	p.answer(dos.Event{VM: 0})
	assert.Equal(t, []string{"suspend c", "resume c"}, rec.calls)
}

func TestAVMsOwnZeroDoSKeysMeanNotWatchedAndDropAll(t *testing.T) {
	// a sets syn_pps and attack_limit_pps to 0 in its own table: SYNs are
	// not watched for it (b's SYNs still are), and its rate limit lets no
	// attack frame through (not "no limit").
	p := planeFor(t, strings.Replace(dosTOML, "name = \"a\"\n", "name = \"a\"\ndos = { syn_pps = 0, attack_limit_pps = 0 }\n", 1))
	now := time.Now()
	for v := range 2 {
		p.dos.det.Observe(v, now, dos.Sample{})
	}
	_, started := p.dos.det.Observe(0, now.Add(10*time.Millisecond), dos.Sample{SYN: 10000})
	assert.False(t, started, "a's SYNs are not watched")
	ev, started := p.dos.det.Observe(1, now.Add(10*time.Millisecond), dos.Sample{SYN: 10000})
	require.True(t, started, "b's are, at [dos]'s threshold")
	assert.Equal(t, dos.SYN, ev.Metric)

	p.answer(dos.Event{VM: 0, Start: true, At: now, Metric: dos.Fragments})
	a := p.snapshotForTest(t).VMs[0]
	assert.NotZero(t, a.AttackClasses, "rate-limit in force")
	assert.Zero(t, a.AttackLimitPPS, "at a's own 0, which the worker reads as drop all")
}
