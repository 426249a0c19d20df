package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/configs"
)

func TestDoSSettingsInheritKeyByKey(t *testing.T) {
	src := string(configs.Demo)
	// Defaults, a team override and a VM override.
	src = strings.Replace(src, "[dataplane]", "[dos]\nenabled = true\nsyn_pps = \"8k\"\n[dataplane]", 1)
	src = strings.Replace(src, `policy = "src-mac-hash"`, "policy = \"src-mac-hash\"\nconnection = \"upstream-a\"\ndos_standby = [\"nic2\"]\n[teams.dos]\nresponses = [\"rate-limit\", \"suspend\"]\nhold = \"1s\"", 1)
	src = strings.Replace(src, `macs = ["02:00:00:00:00:02"]`, "macs = [\"02:00:00:00:00:02\"]\ndos = { syn_pps = \"20k\", enabled = false }", 1)
	c, err := Parse([]byte(src), "toml")
	require.NoError(t, err)
	vm1, vm2 := c.DoSFor(0), c.DoSFor(1)
	assert.True(t, vm1.On())
	assert.Equal(t, PacketRate(8000), vm1.SYNPPS, "[dos]")
	assert.Equal(t, time.Second, vm1.Hold, "the team's")
	assert.Equal(t, []string{"rate-limit", "suspend"}, vm1.Responses, "the team's")
	assert.Equal(t, 10*time.Millisecond, vm1.Window, "default")
	assert.Equal(t, PacketRate(5000), vm1.AmplificationPPS, "default")
	assert.False(t, vm2.On(), "vm2 opts out")
	assert.Equal(t, PacketRate(20000), vm2.SYNPPS, "its own")
	assert.Equal(t, "upstream-a", c.Teams[0].Connection)
	assert.Equal(t, []string{"nic2"}, c.Teams[0].DoSStandby)
}

func TestDoSValidationNamesKeyAndReason(t *testing.T) {
	cases := []struct{ section, keys, want string }{
		{"top", "[dos]\nresponses = [\"reboot\"]", `dos.responses[0]: "reboot" is not one of`},
		{"top", "[dos]\nleave_ratio = 2.0", "dos.leave_ratio: 2 is outside 0-1"},
		{"top", "[dos]\nresponses = [\"failover\"]", "vms[0].dos.responses: failover needs teams[].dos_standby for team uplink"},
		{"vm", "dos = { delay = \"5s\" }", "vms[0].dos.delay: 5s is outside 0-1s"},
		{"team", "policy = \"src-mac-hash\"\ndos_standby = [\"nic9\"]", `teams[0].dos_standby[0]: "nic9" is not a NIC of team uplink`},
		{"team", "policy = \"src-mac-hash\"\ndos_standby = [\"nic1\", \"nic2\"]", "teams[0].dos_standby: lists every NIC of the team"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			_, err := withKeys(t, c.section, c.keys)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
