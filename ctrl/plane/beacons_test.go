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

func TestBeaconWatchLosesAfterMissesAndHearsAgain(t *testing.T) {
	c := &config.Config{Resources: config.Resources{OverAllocationAction: "suspend"},
		Teams: []config.Team{{Name: "t", Policy: "src-mac-hash", BeaconInterval: 10 * time.Millisecond, BeaconMisses: 2},
			{Name: "plain", Policy: "src-mac-hash"}},
		NICs: []config.NIC{{Name: "a", Team: "t"}, {Name: "b", Team: "t"}, {Name: "c", Team: "plain"}},
	}
	m, err := model.Compile(c, nil)
	require.NoError(t, err)
	b := newBeaconWatch(m, []model.NICID{m.NICs[0].ID, m.NICs[1].ID, m.NICs[2].ID})
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
