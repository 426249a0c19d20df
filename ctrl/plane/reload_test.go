package plane

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/fastpath"
)

func parse(t *testing.T, toml string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(toml), "toml")
	require.NoError(t, err)
	return c
}

func TestReloadSwapsPolicyAndRatesIntoNewTables(t *testing.T) {
	p := planeFor(t, dosTOML)
	before := p.snapshotForTest(t)
	require.Equal(t, fastpath.PolicySrcMACHash, before.Teams[0].Policy)
	require.False(t, p.model().Teams[0].Shaped)

	next := strings.Replace(dosTOML, `policy = "src-mac-hash"`, `policy = "flow-hash"`, 1)
	next = strings.Replace(next, "name = \"b\"\n", "name = \"b\"\nlimit = \"20M\"\nshares = 3\n", 1)
	changed, err := p.Reload(parse(t, next))
	require.NoError(t, err)
	assert.Equal(t, []string{"teams[0].policy", "vms[1].limit", "vms[1].shares"}, changed)

	s := p.snap.Load()
	assert.Greater(t, s.Version, before.Version)
	assert.Equal(t, fastpath.PolicyFlowHash, s.Teams[0].Policy)
	assert.Equal(t, 20e6, s.VMs[1].RateBps, "held to its new limit until the resource manager divides the team")
	assert.True(t, p.model().Teams[0].Shaped, "shares make the team shaped")
	assert.NotZero(t, p.ctl.ResourcePeriod(), "the resource loop runs")
	assert.Equal(t, "flow-hash", p.cfg().Teams[0].Policy)

	// The same config again changes nothing, not even the tables' version.
	changed, err = p.Reload(parse(t, next))
	require.NoError(t, err)
	assert.Empty(t, changed)
	assert.Same(t, s, p.snap.Load())
}

func TestABadReloadChangesNothing(t *testing.T) {
	p := planeFor(t, dosTOML)
	before := p.snapshotForTest(t)
	old := p.cfg()
	next := strings.Replace(dosTOML, `policy = "src-mac-hash"`, `policy = "flow-hash"`, 1)
	next = strings.Replace(next, `vdev = "net_null1"`, `vdev = "net_null7"`, 1)
	changed, err := p.Reload(parse(t, next))
	require.EqualError(t, err, "nics[1].vdev: cannot change while uplinkd runs (a NIC's device and team are set when it joins; remove it and add it again to change them); restart uplinkd to change it")
	assert.Nil(t, changed)
	assert.Same(t, old, p.cfg(), "the old config stays in force")
	assert.Same(t, before, p.snap.Load(), "and so do its tables")
}

// attack starts a real attack on VM v in the detector and answers it.
func attack(t *testing.T, p *Plane, v int, now time.Time) {
	t.Helper()
	p.sampleForTest(v, now, dos.Sample{})
	require.False(t, p.ctl.DoS(v).UnderAttack)
	p.sampleForTest(v, now.Add(10*time.Millisecond), dos.Sample{SYN: 10000})
	require.True(t, p.ctl.DoS(v).UnderAttack)
}

func TestAnAttackOnAVMNoLongerWatchedEndsAndIsUndone(t *testing.T) {
	p := planeFor(t, strings.Replace(dosTOML, `"suspend-others", "failover", "migrate"`, `"failover"`, 1))
	rec := &recordingActions{}
	p.actions = rec
	attack(t, p, 0, time.Now())
	s := p.snapshotForTest(t)
	require.NotZero(t, s.VMs[0].AttackClasses)
	require.False(t, s.NICs[0].Usable(), "evacuated")

	next := strings.Replace(dosTOML, "name = \"a\"\n", "name = \"a\"\ndos = { enabled = false }\n", 1)
	next = strings.Replace(next, `dos_standby = ["n3"]`, `dos_standby = ["n2"]`, 1)
	_, err := p.Reload(parse(t, next))
	require.NoError(t, err)
	assert.False(t, p.ctl.DoS(0).UnderAttack)
	s = p.snap.Load()
	assert.False(t, s.VMs[0].DoSWatch)
	assert.Zero(t, s.VMs[0].AttackClasses, "rate limit lifted")
	assert.Zero(t, s.VMs[0].HoldIngress, "delay lifted")
	assert.True(t, s.NICs[0].Usable() && s.NICs[1].Usable() && s.NICs[2].Usable(), "every NIC back, whichever is the standby now")
	assert.Equal(t, []string{"weight a 20", "suspend a", "weight a 100", "resume a"}, rec.calls,
		"the responses the attack started with are undone")
}

func TestAnAttackEndsWithTheResponsesItStartedWith(t *testing.T) {
	p := planeFor(t, dosTOML)
	rec := &recordingActions{}
	p.actions = rec
	now := time.Now()
	attack(t, p, 0, now)
	rec.calls = nil
	_, err := p.Reload(parse(t, strings.Replace(dosTOML, `responses = ["rate-limit", "delay", "deprioritise", "suspend", "suspend-others", "failover", "migrate"]`,
		`responses = ["rate-limit"]`, 1)))
	require.NoError(t, err)
	assert.True(t, p.ctl.DoS(0).UnderAttack, "still watched: the attack goes on")
	assert.NotZero(t, p.snap.Load().VMs[0].HoldIngress, "the delay started with it stays")
	p.answerForTest(dos.Event{VM: 0, At: now.Add(time.Second), Since: now})
	s := p.snapshotForTest(t)
	assert.Zero(t, s.VMs[0].HoldIngress)
	assert.True(t, s.NICs[0].Usable())
	assert.Equal(t, []string{"weight a 100", "resume a", "resume b", "resume c"}, rec.calls)
}
