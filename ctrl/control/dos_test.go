package control

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/dos"
	"github.com/uplinkd/uplinkd/ctrl/internal/testconf"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
)

// dosTOML: VMs a and b watched with every response, c opted out; team t's
// DoS standby is n3; no delays.
const dosTOML = testconf.DoS

func parse(t *testing.T, toml string, prev *model.Model) *model.Model {
	t.Helper()
	c, err := config.Parse([]byte(toml), "toml")
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	m, err := model.Compile(c, prev)
	require.NoError(t, err)
	return m
}

// synFlood starts an attack on VM slot v through the detector: a calm
// sample, then 10,000 SYNs in the next 10 ms (1M/s, over syn_pps).
func synFlood(f *fixture, v int, at time.Time) {
	f.Step(at, DoSSample{VM: v})
	f.Step(at.Add(10*time.Millisecond), DoSSample{VM: v, Sample: dos.Sample{SYN: 10000}})
}

// kinds are a Ready's VM actions as "kind vm".
func kinds(rd Ready) []string {
	names := map[ActionKind]string{Suspend: "suspend", Resume: "resume", SetCPUWeight: "weight", MigrateAway: "migrate",
		OverAllocated: "over"}
	var out []string
	for _, a := range rd.Actions {
		out = append(out, names[a.Kind]+" "+a.VM)
	}
	return out
}

func TestAnAttackStartsEveryResponseAndItsEndUndoesThem(t *testing.T) {
	f := newFixture(t, parse(t, dosTOML, nil))
	assert.Equal(t, 5*time.Millisecond, f.DoSPeriod(), "half the default 10ms window")
	assert.True(t, f.DoS(0).Watched)
	assert.False(t, f.DoS(2).Watched, "c opted out")

	f.Step(t0, DoSSample{VM: 2, Sample: dos.Sample{SYN: 1e9}})
	assert.False(t, f.HasReady(), "c is not watched")
	synFlood(f, 0, t0)
	rd := f.Ready()
	require.Len(t, rd.Attacks, 1)
	assert.Equal(t, "a", rd.Attacks[0].VM)
	assert.True(t, rd.Attacks[0].Event.Start)
	assert.Equal(t, dos.SYN, rd.Attacks[0].Event.Metric)
	assert.Len(t, rd.Attacks[0].Responses, 7)
	assert.True(t, rd.Publish)

	st := f.DoS(0)
	assert.True(t, st.UnderAttack)
	assert.True(t, st.Limit, "rate-limit")
	assert.Equal(t, 2000.0, st.LimitPPS)
	assert.Equal(t, 3*time.Millisecond, st.Hold, "delay")
	assert.Equal(t, uint64(1), st.Attacks)
	assert.Equal(t, []string{"weight a", "suspend a", "suspend b", "suspend c", "migrate a"}, kinds(rd))
	assert.Equal(t, 20, rd.Actions[0].Weight)
	assert.Equal(t, "upstream-a", rd.Actions[4].Avoid)
	for _, a := range rd.Actions {
		assert.False(t, a.AroundFailover(), "DoS actions, not a failover's")
	}
	assert.Equal(t, []Protect{{VM: "b", AttackedVM: "a", Suspend: true}, {VM: "c", AttackedVM: "a", Suspend: true}}, rd.Protects)

	// The failover response: n1 and n2 fail over to n3 with their own
	// cause, though nobody set them admin down.
	assert.Equal(t, []string{"0 up->failing (dos-evacuate)", "0 failing->down (dos-evacuate)",
		"1 up->failing (dos-evacuate)", "1 failing->down (dos-evacuate)"}, moves(rd))
	require.Len(t, rd.Evacuations, 2)
	assert.Equal(t, EvacuationChange{NIC: "n1", Team: "t", Evacuated: true, Standby: []string{"n3"}}, rd.Evacuations[0])
	assert.True(t, f.NIC(0).AdminUp)
	assert.Equal(t, []string{nic.FaultEvacuated}, f.NIC(0).Faults)
	assert.True(t, f.NIC(2).Usable(), "the DoS standby carries the team")

	// The flood stops: the attack ends once the rate is under the leave
	// threshold for the hold; the responses are undone, not the
	// migration.
	at := t0.Add(20 * time.Millisecond)
	for !f.HasReady() && at.Before(t0.Add(10*time.Second)) {
		f.Step(at, DoSSample{VM: 0, Sample: dos.Sample{SYN: 10000}})
		at = at.Add(5 * time.Millisecond)
	}
	rd = f.Ready()
	require.Len(t, rd.Attacks, 1)
	assert.False(t, rd.Attacks[0].Event.Start)
	assert.Equal(t, []string{"weight a", "resume a", "resume b", "resume c"}, kinds(rd))
	assert.Equal(t, 100, rd.Actions[0].Weight)
	st = f.DoS(0)
	assert.False(t, st.UnderAttack || st.Limit)
	assert.Zero(t, st.Hold)
	assert.Equal(t, []string{"0 down->recovering (dos-return)", "0 recovering->up (up-delay elapsed)",
		"1 down->recovering (dos-return)", "1 recovering->up (up-delay elapsed)"}, moves(rd), "no up_delay: up at once")
}

func TestSuspendOthersSparesVMsUnderAttackThemselves(t *testing.T) {
	toml := strings.Replace(dosTOML, "name = \"a\"\n", "name = \"a\"\ndos = { responses = [\"suspend-others\"] }\n", 1)
	toml = strings.Replace(toml, "name = \"b\"\n", "name = \"b\"\ndos = { responses = [\"rate-limit\"] }\n", 1)
	f := newFixture(t, parse(t, toml, nil))
	synFlood(f, 1, t0)
	assert.Empty(t, kinds(f.Ready()), "b's attack: rate-limit only")
	synFlood(f, 0, t0)
	assert.Equal(t, []string{"suspend c"}, kinds(f.Ready()), "b is under attack too: left running")
	f.Step(t0, DoSVerdict{dos.Event{VM: 0, At: t0}})
	assert.Equal(t, []string{"resume c"}, kinds(f.Ready()))
}

func TestTheTeamStaysOnItsDoSStandbyUntilTheLastAttackEnds(t *testing.T) {
	f := newFixture(t, parse(t, dosTOML, nil))
	f.Step(t0, DoSVerdict{dos.Event{VM: 0, Start: true, At: t0}})
	f.Step(t0, DoSVerdict{dos.Event{VM: 1, Start: true, At: t0}})
	f.Step(t0, DoSVerdict{dos.Event{VM: 0, At: t0}})
	f.Ready()
	assert.True(t, f.NIC(0).Evacuated, "b is still under attack")

	// A NIC that joins meanwhile keeps off too.
	m := parse(t, dosTOML+"[[nics]]\nname = \"n4\"\nvdev = \"net_null3\"\nteam = \"t\"\n", f.m)
	f.SetModel(m, t0)
	f.PlaceNIC(3, m.NICNamed("n4").ID, t0)
	assert.Equal(t, []string{"3 up->failing (dos-evacuate)", "3 failing->down (dos-evacuate)"}, moves(f.Ready()))

	f.Step(t0, DoSVerdict{dos.Event{VM: 1, At: t0}})
	assert.Len(t, moves(f.Ready()), 6, "n1, n2 and n4 return, each through recovering")
	assert.False(t, f.NIC(0).Evacuated || f.NIC(3).Evacuated)
}

func TestAVMRemovedUnderAttackEndsItAndResumesTheVMsItProtected(t *testing.T) {
	f := newFixture(t, parse(t, dosTOML, nil))
	synFlood(f, 0, t0)
	f.Ready()
	f.UnplaceVM(1, t0) // b, suspended to protect it from a's attack
	rd := f.Ready()
	assert.Equal(t, []Protect{{VM: "b", AttackedVM: "a", Removed: true}}, rd.Protects)
	assert.Equal(t, []Action{{Kind: Resume, VM: "b", NIC: -1, Reason: ReasonRemoved}}, rd.Actions)

	f.UnplaceVM(0, t0) // a itself
	rd = f.Ready()
	require.Len(t, rd.Attacks, 1)
	assert.False(t, rd.Attacks[0].Event.Start, "its attack ends with it")
	assert.Equal(t, []string{"weight a", "resume a", "resume c"}, kinds(rd), "b is no longer a's to resume")
	assert.False(t, f.DoS(0).Watched, "a free slot")
	assert.False(t, f.NIC(0).Evacuated, "the team is back on its NICs")

	// The slot's next VM starts afresh.
	f.PlaceVM(0, f.m.VMs[0].ID, t0)
	assert.Zero(t, f.DoS(0).Attacks)
	assert.False(t, f.DoS(0).UnderAttack)
}

func TestAReloadThatStopsWatchingAVMEndsItsAttack(t *testing.T) {
	f := newFixture(t, parse(t, dosTOML, nil))
	synFlood(f, 0, t0)
	f.Ready()
	next := strings.Replace(dosTOML, "name = \"a\"\n", "name = \"a\"\ndos = { enabled = false }\n", 1)
	next = strings.Replace(next, `dos_standby = ["n3"]`, `dos_standby = ["n2"]`, 1)
	f.SetModel(parse(t, next, f.m), t0.Add(time.Second))
	rd := f.Ready()
	require.Len(t, rd.Attacks, 1)
	assert.False(t, rd.Attacks[0].Event.Start)
	assert.Equal(t, []string{"weight a", "resume a", "resume b", "resume c"}, kinds(rd), "the responses it started with")
	for n := range 3 {
		assert.False(t, f.NIC(n).Evacuated, "every NIC back, whichever is the standby now")
	}
	assert.False(t, f.DoS(0).Watched)
	assert.True(t, f.DoS(1).Watched)

	none := strings.Replace(next, "[dos]\nenabled = true", "[dos]\nenabled = false", 1)
	f.SetModel(parse(t, none, f.m), t0.Add(time.Second))
	assert.Zero(t, f.DoSPeriod(), "no VM watched: no sampling")
}
