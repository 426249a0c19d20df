package control

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
)

func TestBeaconWatchLosesAfterMissesAndHearsAgain(t *testing.T) {
	c := &config.Config{Resources: config.Resources{OverAllocationAction: "suspend"},
		Teams: []config.Team{{Name: "t", Policy: "src-mac-hash", BeaconInterval: 10 * time.Millisecond, BeaconMisses: 2},
			{Name: "plain", Policy: "src-mac-hash"}},
		NICs: []config.NIC{{Name: "a", Team: "t"}, {Name: "b", Team: "t"}, {Name: "c", Team: "plain"}},
	}
	m, err := model.Compile(c, nil)
	require.NoError(t, err)
	b := newBeaconWatch(3)
	assert.Empty(t, b.configure(m, []model.NICID{m.NICs[0].ID, m.NICs[1].ID, m.NICs[2].ID}))
	assert.Equal(t, 10*time.Millisecond, b.every)
	heard := []uint64{0, 0, 0}
	up := []bool{true, true, true}
	look := func() []nic.Event {
		return b.look(func(i int) uint64 { return heard[i] }, func(i int) bool { return up[i] })
	}
	heard[0], heard[1] = 1, 1
	assert.Empty(t, look())
	heard[0]++ // a hears b; b hears nothing from now on
	assert.Empty(t, look(), "one miss is allowed")
	heard[0]++
	assert.Equal(t, []nic.Event{{NIC: 1, Kind: nic.BeaconLost}}, look(), "the second miss fails b; c does not probe")
	heard[0]++
	assert.Empty(t, look(), "said once")
	heard[1]++
	assert.Equal(t, []nic.Event{{NIC: 1, Kind: nic.BeaconHeard}}, look())

	up[0] = false // a's link is down: silence is the link's story
	for range 3 {
		heard[1]++
		assert.Empty(t, look())
	}
}

// A NIC hears only its team mates' beacons: a team left with one NIC is
// not watched, and a beacon loss it had is cleared; a NIC new in a slot
// starts afresh.
func TestBeaconWatchFollowsNICsJoiningAndLeaving(t *testing.T) {
	c := &config.Config{Resources: config.Resources{OverAllocationAction: "suspend"},
		Teams: []config.Team{{Name: "t", Policy: "src-mac-hash", BeaconInterval: 10 * time.Millisecond, BeaconMisses: 1}},
		NICs:  []config.NIC{{Name: "a", Team: "t"}, {Name: "b", Team: "t"}},
	}
	m, err := model.Compile(c, nil)
	require.NoError(t, err)
	slots := []model.NICID{m.NICs[0].ID, m.NICs[1].ID, 0}
	b := newBeaconWatch(3)
	assert.Empty(t, b.configure(m, slots))
	assert.Equal(t, []bool{true, true, false}, b.on)
	heard := []uint64{0, 1, 0}
	look := func() []nic.Event {
		return b.look(func(i int) uint64 { return heard[i] }, func(int) bool { return true })
	}
	assert.Equal(t, []nic.Event{{NIC: 0, Kind: nic.BeaconLost}}, look(), "a hears nothing")

	// b leaves: a alone hears nothing and is not watched; its loss is
	// cleared (b's state goes with b).
	c.NICs = c.NICs[:1]
	m, err = model.Compile(c, m)
	require.NoError(t, err)
	slots[1] = 0
	assert.Equal(t, []nic.Event{{NIC: 0, Kind: nic.BeaconHeard}}, b.configure(m, slots), "a's loss is cleared")
	assert.Equal(t, []bool{false, false, false}, b.on)
	assert.Empty(t, look())

	// c joins in another slot: both watched again, c from scratch.
	c.NICs = append(c.NICs, config.NIC{Name: "c", Team: "t"})
	m, err = model.Compile(c, m)
	require.NoError(t, err)
	slots[2] = m.NICNamed("c").ID
	assert.Empty(t, b.configure(m, slots))
	assert.Equal(t, []bool{true, false, true}, b.on)
	heard[0], heard[2] = 1, 1
	assert.Empty(t, look(), "both heard")
}

// A team that probes and is added while uplinkd runs is watched as one
// there at start: the look's period follows the model.
func TestATeamAddedLaterIsWatchedForBeaconLoss(t *testing.T) {
	m := compile(t, nil)
	c := New(m, 6, 2, t0, nil)
	for i, n := range m.NICs {
		c.PlaceNIC(i, n.ID, t0)
		c.Step(t0, LinkRead{NIC: i, Link: up})
	}
	c.Ready()
	assert.Zero(t, c.BeaconPeriod(), "nobody probes")
	c.Step(t0, BeaconCounts{Heard: make([]uint64, 6)})
	assert.False(t, c.HasReady(), "nothing watched")

	withP := func(nics ...string) func(*config.Config) {
		return func(cf *config.Config) {
			cf.Teams = append(cf.Teams, config.Team{Name: "p", Policy: "src-mac-hash", BeaconInterval: 20 * time.Millisecond,
				BeaconMisses: 2})
			for _, n := range nics {
				cf.NICs = append(cf.NICs, config.NIC{Name: n, Team: "p"})
			}
		}
	}
	probing := recompile(t, m, withP("p1", "p2"))
	c.SetModel(probing, t0)
	for i, name := range []string{"p1", "p2"} {
		c.PlaceNIC(4+i, probing.NICNamed(name).ID, t0)
		c.Step(t0, LinkRead{NIC: 4 + i, Link: up})
	}
	c.Ready()
	assert.Equal(t, 20*time.Millisecond, c.BeaconPeriod())
	heard := []uint64{0, 0, 0, 0, 1, 1}
	c.Step(t0, BeaconCounts{Heard: heard})
	heard[4]++ // p1 hears p2; p2 hears nothing from now on
	c.Step(t0.Add(20*time.Millisecond), BeaconCounts{Heard: heard})
	assert.Empty(t, moves(c.Ready()), "one miss is allowed")
	heard[4]++
	c.Step(t0.Add(40*time.Millisecond), BeaconCounts{Heard: heard})
	assert.Equal(t, []string{"5 up->failing (beacons lost)", "5 failing->down (beacons lost)"}, moves(c.Ready()),
		"p has no down-delay; t's NICs do not probe")

	// p1 leaves: p2 alone hears nothing, is watched no more, and its loss
	// is cleared.
	c.Step(t0, Admin{NIC: 4})
	c.UnplaceNIC(4, t0)
	c.SetModel(recompile(t, probing, withP("p2")), t0)
	assert.Contains(t, moves(c.Ready()), "5 down->recovering (beacons heard)")
	assert.Nil(t, c.NIC(5).Faults)
}
