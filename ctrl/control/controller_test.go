package control

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
)

// t0 is the fake clock's start; every test moves time by hand.
var t0 = time.Unix(1_000_000, 0)

var yes, no = new(true), new(false)

var up = Link{Up: true, SpeedMbps: 10000, FullDup: true}

// compile is the model of a config with teams t (down_delay 100ms,
// up_delay 50ms) and u (no delays), NICs a, b, c in t and d in u, and VMs
// x (suspend_on_failover) and y in t.
func compile(t *testing.T, edit func(*config.Config)) *model.Model { return recompile(t, nil, edit) }

// recompile is compile with the IDs of prev kept, as a reload's.
func recompile(t *testing.T, prev *model.Model, edit func(*config.Config)) *model.Model {
	t.Helper()
	c := &config.Config{Resources: config.Resources{OverAllocationAction: "suspend"},
		Teams: []config.Team{
			{Name: "t", Policy: "src-mac-hash", DownDelay: 100 * time.Millisecond, UpDelay: 50 * time.Millisecond, Failback: yes},
			{Name: "u", Policy: "src-mac-hash", Failback: yes}},
		NICs: []config.NIC{{Name: "a", Team: "t"}, {Name: "b", Team: "t"}, {Name: "c", Team: "t"}, {Name: "d", Team: "u"}},
		VMs: []config.VM{
			{Name: "x", Socket: "/tmp/x.sock", MACs: []string{"02:00:00:00:00:01"}, Team: "t", SuspendOnFailover: true},
			{Name: "y", Socket: "/tmp/y.sock", MACs: []string{"02:00:00:00:00:02"}, Team: "t"}},
	}
	if edit != nil {
		edit(c)
	}
	m, err := model.Compile(c, prev)
	require.NoError(t, err)
	return m
}

// fixture is a controller with the model's NICs in slots 0.. (one slot
// free after them), its VMs in slots 0.., every link read up, and Ready
// drained. homes sends every VM by NIC slot 0 unless a test says
// otherwise.
type fixture struct {
	*Controller
	m     *model.Model
	homes map[int][]int
}

func newFixture(t *testing.T, m *model.Model) *fixture {
	f := &fixture{m: m, homes: map[int][]int{}}
	var all []int
	for v := range m.VMs {
		all = append(all, v)
	}
	f.homes[0] = all
	f.Controller = New(m, len(m.NICs)+1, len(m.VMs)+1, t0, fakeTables{f})
	for i, n := range m.NICs {
		f.PlaceNIC(i, n.ID, t0)
	}
	for v, vm := range m.VMs {
		f.PlaceVM(v, vm.ID, t0)
	}
	for i := range m.NICs {
		f.Step(t0, LinkRead{NIC: i, Link: up, Cause: "start"})
	}
	rd := f.Ready()
	require.Len(t, rd.Links, len(m.NICs), "a NIC's first read is recorded")
	require.Empty(t, rd.Transitions, "links read up: nothing fails over")
	require.False(t, f.HasReady())
	return f
}

// fakeTables answers for the tables in force from the fixture's homes:
// what a test says the tables send by each NIC.
type fakeTables struct{ f *fixture }

func (t fakeTables) VMsOn(n int) []int { return t.f.homes[n] }
func (t fakeTables) LoadBasedNIC(v int) int {
	for _, n := range slices.Sorted(maps.Keys(t.f.homes)) {
		if slices.Contains(t.f.homes[n], v) {
			return n
		}
	}
	return -1
}

// moves are a Ready's transitions as "slot from->to (cause)".
func moves(rd Ready) []string {
	var out []string
	for _, x := range rd.Transitions {
		out = append(out, string(rune('0'+x.NIC))+" "+x.From.String()+"->"+x.To.String()+" ("+x.Cause+")")
	}
	return out
}

func TestALinkThatGoesDownFailsOverAfterTheDownDelay(t *testing.T) {
	f := newFixture(t, compile(t, nil))

	f.Step(t0, LinkRead{NIC: 0, Link: up, Cause: "poll"})
	assert.False(t, f.HasReady(), "a read that changes nothing decides nothing")

	f.Step(t0, LinkRead{NIC: 0, Link: Link{}, Cause: "event"})
	rd := f.Ready()
	assert.True(t, rd.Publish)
	assert.Equal(t, []LinkChange{{NIC: 0, Link: Link{}, Cause: "event"}}, rd.Links)
	assert.Equal(t, []string{"0 up->failing (link down)"}, moves(rd))
	assert.Equal(t, []int{0, 1}, rd.Transitions[0].VMs, "the VMs the tables in force send by it")
	st := f.NIC(0)
	assert.True(t, st.FailingOver())
	assert.False(t, st.Failed(), "failing: no new traffic, but not failed yet")
	assert.Equal(t, []string{nic.FaultLinkDown}, st.Faults)
	d, ok := f.Deadline()
	require.True(t, ok)
	assert.Equal(t, t0.Add(100*time.Millisecond), d)

	f.Tick(t0.Add(99 * time.Millisecond))
	assert.False(t, f.HasReady(), "the down-delay runs")
	f.Tick(d)
	rd = f.Ready()
	assert.Equal(t, []string{"0 failing->down (down-delay elapsed)"}, moves(rd))
	assert.True(t, rd.Publish)
	assert.True(t, f.NIC(0).Failed())
	assert.Equal(t, uint64(2), f.NIC(0).Transitions)
	assert.Equal(t, uint64(2), rd.Transitions[0].Count)
	_, ok = f.Deadline()
	assert.False(t, ok, "nothing runs")

	// Back: recovering through the up-delay, then up.
	at := d.Add(time.Second)
	f.Step(at, LinkRead{NIC: 0, Link: up, Cause: "poll"})
	assert.Equal(t, []string{"0 down->recovering (link up)"}, moves(f.Ready()))
	f.Tick(at.Add(50 * time.Millisecond))
	assert.Equal(t, []string{"0 recovering->up (up-delay elapsed)"}, moves(f.Ready()))
	assert.True(t, f.NIC(0).Usable())
}

func TestASpeedChangeIsPublishedWithoutAFailover(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, LinkRead{NIC: 1, Link: Link{Up: true, SpeedMbps: 1000}, Cause: "event"})
	rd := f.Ready()
	assert.True(t, rd.Publish, "the tables carry the speed")
	assert.Len(t, rd.Links, 1)
	assert.Empty(t, rd.Transitions)
	assert.Equal(t, uint32(1000), f.NIC(1).Link.SpeedMbps)
}

// A NIC is up in its team until its first read; a first read that says
// down fails it over (uplinkd started with a cable out).
func TestANICWhoseFirstReadIsDownFailsOver(t *testing.T) {
	m := compile(t, nil)
	c := New(m, 4, 2, t0, nil)
	c.PlaceNIC(3, m.NICs[3].ID, t0)
	c.Step(t0, LinkRead{NIC: 3, Link: Link{}, Cause: "start"})
	rd := c.Ready()
	assert.Equal(t, []LinkChange{{NIC: 3, Cause: "start"}}, rd.Links, "recorded although it equals the zero link")
	assert.Equal(t, []string{"3 up->failing (link down)", "3 failing->down (link down)"}, moves(rd),
		"u has no down-delay")
	assert.True(t, c.NIC(3).Failed())
}

func TestAdminDownSkipsTheDownDelayAndAdminUpRecovers(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, Admin{NIC: 1, Up: false})
	rd := f.Ready()
	assert.Equal(t, []string{"1 up->failing (admin down)", "1 failing->down (admin down)"}, moves(rd))
	st := f.NIC(1)
	assert.False(t, st.AdminUp)
	assert.Equal(t, nic.StateDown, st.State)
	assert.Equal(t, []string{nic.FaultAdminDown}, st.Faults)

	f.Step(t0, Admin{NIC: 1, Up: false})
	assert.False(t, f.HasReady(), "down already")

	f.Step(t0.Add(time.Second), Admin{NIC: 1, Up: true})
	assert.Equal(t, []string{"1 down->recovering (admin up)"}, moves(f.Ready()))
	assert.True(t, f.NIC(1).AdminUp)
}

func TestVhostConnectionsAreRecordedAndPublishedOnChange(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	assert.False(t, f.VMConnected(0))
	f.Step(t0, VhostRead{VM: 0, Connected: true, Cause: "event"})
	rd := f.Ready()
	assert.True(t, rd.Publish)
	assert.Equal(t, []VhostChange{{VM: 0, Connected: true, Cause: "event"}}, rd.Vhost)
	assert.True(t, f.VMConnected(0))

	f.Step(t0, VhostRead{VM: 0, Connected: true, Cause: "poll"})
	assert.False(t, f.HasReady())
	f.Step(t0, VhostRead{VM: 2, Connected: true, Cause: "poll"})
	assert.False(t, f.HasReady(), "a free slot is nobody's")

	f.Step(t0, VhostRead{VM: 0, Connected: false, Cause: "event"})
	assert.Equal(t, []VhostChange{{VM: 0, Connected: false, Cause: "event"}}, f.Ready().Vhost)
	assert.False(t, f.VMConnected(0))
}

func TestVMsThatAskForItAreSuspendedAroundTheirNICsFailover(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, LinkRead{NIC: 0, Link: Link{}})
	rd := f.Ready()
	require.Len(t, rd.Actions, 1, "x asked, y did not")
	assert.Equal(t, Action{Kind: Suspend, VM: "x", NIC: 0, NICName: "a", NICState: nic.StateFailing, Reason: "failover of a"}, rd.Actions[0])
	assert.Equal(t, 0, f.SuspendedFor(0))

	// b fails too while x's suspension lasts: x is suspended once.
	f.homes[1] = []int{0}
	f.Step(t0, LinkRead{NIC: 1, Link: Link{}})
	assert.Empty(t, f.Ready().Actions)

	f.Tick(t0.Add(100 * time.Millisecond))
	rd = f.Ready()
	assert.Equal(t, []string{"0 failing->down (down-delay elapsed)", "1 failing->down (down-delay elapsed)"}, moves(rd))
	require.Len(t, rd.Actions, 1)
	assert.Equal(t, Action{Kind: Resume, VM: "x", NIC: 0, NICName: "a", NICState: nic.StateDown, Reason: "failover of a over"}, rd.Actions[0])
	assert.Equal(t, -1, f.SuspendedFor(0))
}

func TestAVMRemovedOrANICThatLeavesEndsASuspension(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, LinkRead{NIC: 0, Link: Link{}})
	require.Len(t, f.Ready().Actions, 1)
	f.UnplaceVM(0, t0)
	rd := f.Ready()
	assert.Equal(t, []Action{{Kind: Resume, VM: "x", NIC: 0, NICName: "a", NICState: nic.StateFailing, Reason: ReasonRemoved}}, rd.Actions)
	assert.True(t, rd.Publish)
	assert.False(t, f.VMConnected(0))
	f.UnplaceVM(0, t0)
	assert.False(t, f.HasReady(), "a free slot has nothing to free")

	// x is back in the slot, suspended again; then a leaves the team
	// while its down-delay runs.
	f.PlaceVM(0, f.m.VMs[0].ID, t0)
	f.Step(t0, LinkRead{NIC: 0, Link: up})
	f.Ready()
	f.Step(t0.Add(time.Second), LinkRead{NIC: 0, Link: Link{}})
	require.Len(t, f.Ready().Actions, 1)
	f.UnplaceNIC(0, t0)
	assert.Equal(t, []Action{{Kind: Resume, VM: "x", NIC: 0, NICName: "a", NICState: nic.StateDown, Reason: "NIC a left its team"}},
		f.Ready().Actions)
	_, ok := f.Deadline()
	assert.False(t, ok, "a's down-delay left with it")
}

// NICs are kept per team by slot: a NIC that leaves or joins a team moves
// no other NIC's slot or state, and its transitions come back with its
// slot.
func TestEachSlotKeepsItsStateAsNICsJoinAndLeave(t *testing.T) {
	m := compile(t, func(c *config.Config) { c.Teams[1].DownDelay = 0 })
	f := newFixture(t, m)

	// a fails (a down-delay runs); b leaves; c, after it in the team,
	// keeps its slot and its own state.
	f.Step(t0, LinkRead{NIC: 0, Link: Link{}})
	assert.Equal(t, []string{"0 up->failing (link down)"}, moves(f.Ready()))
	f.UnplaceNIC(1, t0)
	assert.True(t, f.Ready().Publish)
	assert.Equal(t, nic.StateDown, f.NIC(1).State, "a free slot carries nothing")
	f.Step(t0, LinkRead{NIC: 1, Link: Link{}})
	f.Step(t0, Admin{NIC: 1})
	assert.False(t, f.HasReady(), "events for a free slot are nobody's")
	assert.True(t, f.NIC(2).Usable())
	assert.True(t, f.NIC(0).FailingOver())
	f.Step(t0, Admin{NIC: 2})
	assert.Equal(t, []string{"2 up->failing (admin down)", "2 failing->down (admin down)"}, moves(f.Ready()))

	// d's team mate e joins team u in b's old slot: up, its transitions
	// its own.
	e := recompile(t, m, func(c *config.Config) {
		c.Teams[1].DownDelay = 0
		c.NICs = append(c.NICs, config.NIC{Name: "e", Team: "u"})
	})
	f.SetModel(e, t0)
	f.PlaceNIC(1, e.NICNamed("e").ID, t0)
	assert.True(t, f.NIC(1).Usable())
	assert.Zero(t, f.NIC(1).Transitions, "b's transitions are not e's")
	f.Step(t0, LinkRead{NIC: 1, Link: Link{}, Cause: "join"})
	assert.Equal(t, []string{"1 up->failing (link down)", "1 failing->down (link down)"}, moves(f.Ready()), "u has no down-delay")
	assert.True(t, f.NIC(3).Usable(), "d, e's team mate, is untouched")

	// Time passes for every team: a's down-delay ends, in slot 0.
	f.Tick(t0.Add(100 * time.Millisecond))
	assert.Equal(t, []string{"0 failing->down (down-delay elapsed)"}, moves(f.Ready()))
}

func TestTheNICsThatTakeOverAreStandbyNoMore(t *testing.T) {
	m := compile(t, func(c *config.Config) {
		c.Teams[0] = config.Team{Name: "t", Policy: "vm-affinity", Failback: no}
	})
	f := newFixture(t, m)
	f.Step(t0, LinkRead{NIC: 1, Link: Link{}})
	f.Step(t0, LinkRead{NIC: 1, Link: up})
	f.Tick(t0.Add(time.Second))
	require.True(t, f.NIC(1).Usable())
	assert.True(t, f.NIC(1).Standby, "back without failback: standby")
	f.Step(t0.Add(2*time.Second), LinkRead{NIC: 0, Link: Link{}})
	assert.False(t, f.NIC(1).Standby, "a failed: b carries the traffic and is standby no more")
	f.Step(t0.Add(3*time.Second), LinkRead{NIC: 0, Link: up})
	f.Tick(t0.Add(4 * time.Second))
	assert.True(t, f.NIC(0).Standby, "now a is the one back without failback")
}

func TestLostBeaconsAreAFaultOfTheirOwn(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, Beacons{NIC: 2, Heard: false})
	assert.Equal(t, []string{"2 up->failing (beacons lost)"}, moves(f.Ready()))
	f.Step(t0, Admin{NIC: 2})
	assert.Equal(t, []string{"2 failing->down (admin down)"}, moves(f.Ready()), "an intended move skips the delay")
	assert.ElementsMatch(t, []string{nic.FaultBeaconsLost, nic.FaultAdminDown}, f.NIC(2).Faults)

	f.Step(t0, Beacons{NIC: 2, Heard: true})
	assert.Empty(t, moves(f.Ready()), "still admin down")
	f.Step(t0, Admin{NIC: 2, Up: true})
	assert.Equal(t, []string{"2 down->recovering (admin up)"}, moves(f.Ready()))
	assert.Nil(t, f.NIC(2).Faults)
}

func TestTeamsComeAndGoWithTheModelAndKeepTheirDelaysRunning(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, LinkRead{NIC: 0, Link: Link{}})
	f.Ready()

	// A reload shortens t's down-delay: the running one keeps its
	// deadline, the next failure takes the new one.
	short := recompile(t, f.m, func(c *config.Config) { c.Teams[0].DownDelay = 10 * time.Millisecond })
	f.SetModel(short, t0)
	assert.True(t, f.Ready().Publish)
	d, _ := f.Deadline()
	assert.Equal(t, t0.Add(100*time.Millisecond), d)
	f.Step(t0, LinkRead{NIC: 1, Link: Link{}})
	f.Ready()
	d, _ = f.Deadline()
	assert.Equal(t, t0.Add(10*time.Millisecond), d)

	// Team v is added, then u goes once its NIC has left.
	withV := recompile(t, short, func(c *config.Config) {
		c.Teams[0].DownDelay = 10 * time.Millisecond
		c.Teams = append(c.Teams, config.Team{Name: "v", Policy: "src-mac-hash"})
	})
	f.SetModel(withV, t0)
	f.adminDown(t0, 3)
	f.UnplaceNIC(3, t0)
	noU := recompile(t, withV, func(c *config.Config) {
		c.Teams[0].DownDelay = 10 * time.Millisecond
		c.Teams = []config.Team{c.Teams[0], {Name: "v", Policy: "src-mac-hash"}}
		c.NICs = c.NICs[:3]
	})
	f.SetModel(noU, t0)
	assert.Len(t, f.teams, 2, "t and v")
	assert.NotNil(t, f.teams[noU.TeamNamed("v").ID])
	assert.Nil(t, f.teams[withV.TeamNamed("u").ID])
}

// adminDown sets NIC n admin down at now and drains Ready.
func (f *fixture) adminDown(now time.Time, n int) {
	f.Step(now, Admin{NIC: n})
	f.Ready()
}

// Admin state is a table input of its own (a NIC admin down sends no
// beacons): it is published even when the NIC is down already.
func TestAdminDownOfANICAlreadyDownIsPublished(t *testing.T) {
	f := newFixture(t, compile(t, nil))
	f.Step(t0, LinkRead{NIC: 3, Link: Link{}})
	require.True(t, f.NIC(3).Failed(), "u has no down-delay")
	f.Ready()
	f.Step(t0, Admin{NIC: 3})
	rd := f.Ready()
	assert.Empty(t, rd.Transitions, "down already")
	assert.True(t, rd.Publish)
	assert.False(t, f.NIC(3).AdminUp)
}
