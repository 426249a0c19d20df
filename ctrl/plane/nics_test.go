package plane

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/model"
	"github.com/uplinkd/uplinkd/ctrl/nic"
)

// The NIC manager maps NIC slots to its teams' machines: a NIC that leaves
// or joins a team moves no other NIC's slot or state, and its transitions
// come back with the slot.
func TestNICManagerKeepsEachSlotsStateAsNICsJoinAndLeave(t *testing.T) {
	c := &config.Config{Resources: config.Resources{OverAllocationAction: "suspend"},
		Teams: []config.Team{{Name: "t", Policy: "src-mac-hash", DownDelay: 10 * time.Millisecond}, {Name: "u", Policy: "src-mac-hash"}},
		NICs:  []config.NIC{{Name: "a", Team: "t"}, {Name: "b", Team: "t"}, {Name: "c", Team: "t"}, {Name: "d", Team: "u"}},
	}
	m, err := model.Compile(c, nil)
	require.NoError(t, err)
	slots := []model.NICID{m.NICs[0].ID, m.NICs[1].ID, m.NICs[2].ID, m.NICs[3].ID, 0}
	t0 := time.Unix(1000, 0)
	mgr := newNICManager(m, slots, t0)
	slotsOf := func(tr []nic.Transition) (out []int) {
		for _, x := range tr {
			out = append(out, x.NIC)
		}
		return out
	}

	// a fails (a down-delay runs); b leaves; c, after it in the team, keeps
	// its slot and its own state.
	assert.Equal(t, []int{0}, slotsOf(mgr.step(t0, 0, nic.LinkDown)))
	mgr.remove(1)
	assert.Equal(t, nic.StateDown, mgr.state(1), "a free slot carries nothing")
	assert.False(t, mgr.usable(1))
	assert.Nil(t, mgr.step(t0, 1, nic.LinkDown), "an event for a free slot is nobody's")
	assert.True(t, mgr.usable(2))
	assert.True(t, mgr.failingOver(0))
	assert.Equal(t, []int{2, 2}, slotsOf(mgr.step(t0, 2, nic.AdminDown)), "failing, then down: admin down skips the delay")
	assert.Equal(t, []string{"admin down"}, mgr.faults(2))

	// e joins team u in b's old slot: up, and its events are its own.
	mgr.add(1, m.NICs[3].Team, t0)
	assert.True(t, mgr.usable(1))
	assert.Zero(t, mgr.changes[1], "b's transitions are not e's")
	assert.Equal(t, []int{1, 1}, slotsOf(mgr.step(t0, 1, nic.LinkDown)), "failing, then down: u has no down-delay")
	assert.True(t, mgr.usable(3), "d, e's team mate, is untouched")

	// Time passes for every team; a's down-delay ends, in slot 0.
	tr := mgr.tick(t0.Add(10 * time.Millisecond))
	assert.Equal(t, []int{0}, slotsOf(tr))
	assert.Equal(t, nic.StateDown, tr[0].To)

	// A team with no NIC left goes with its machine.
	mgr.remove(3)
	mgr.remove(1)
	mgr.removeTeam(m.NICs[3].Team)
	assert.Len(t, mgr.machines, 1)
}
