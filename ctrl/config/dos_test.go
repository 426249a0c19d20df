package config

import (
	"fmt"
	"reflect"
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
		{"vm", "dos = { leave_ratio = 0 }", "vms[0].dos.leave_ratio: 0 would end no attack"},
		{"vm", "dos = { hold = \"-1s\" }", "vms[0].dos.hold: -1s is outside 0-10m"},
		{"vm", "dos = { sources = -1 }", "vms[0].dos.sources: -1 is negative"},
		{"team", "policy = \"src-mac-hash\"\n[teams.dos]\nleave_ratio = 0.0", "teams[0].dos.leave_ratio: 0 would end no attack"},
		{"top", "[dos]\nleave_ratio = 0", "dos.leave_ratio: 0 would end no attack"},
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

// dosKeyCase is one overridable key: a value for [dos], another for the
// team, the key's 0, and how to read it from the effective settings.
type dosKeyCase struct {
	key                string
	top, team, zero    string // TOML values
	topV, teamV, zeroV any
	get                func(DoSSettings) any
}

var dosKeyCases = []dosKeyCase{
	{"enabled", "true", "true", "false", true, true, false, func(d DoSSettings) any { return d.Enabled }},
	{"window", `"20ms"`, `"30ms"`, `"0s"`, 20 * time.Millisecond, 30 * time.Millisecond, time.Duration(0), func(d DoSSettings) any { return d.Window }},
	{"hold", `"1s"`, `"2s"`, `"0s"`, time.Second, 2 * time.Second, time.Duration(0), func(d DoSSettings) any { return d.Hold }},
	{"delay", `"7ms"`, `"9ms"`, `"0s"`, 7 * time.Millisecond, 9 * time.Millisecond, time.Duration(0), func(d DoSSettings) any { return d.Delay }},
	{"pps", `"1M"`, `"2M"`, "0", PacketRate(1e6), PacketRate(2e6), PacketRate(0), func(d DoSSettings) any { return d.PPS }},
	{"bps", `"1G"`, `"2G"`, "0", BitRate(1e9), BitRate(2e9), BitRate(0), func(d DoSSettings) any { return d.BPS }},
	{"syn_pps", `"8k"`, `"9k"`, "0", PacketRate(8e3), PacketRate(9e3), PacketRate(0), func(d DoSSettings) any { return d.SYNPPS }},
	{"fragments_pps", `"8k"`, `"9k"`, "0", PacketRate(8e3), PacketRate(9e3), PacketRate(0), func(d DoSSettings) any { return d.FragmentsPPS }},
	{"amplification_pps", `"8k"`, `"9k"`, "0", PacketRate(8e3), PacketRate(9e3), PacketRate(0), func(d DoSSettings) any { return d.AmplificationPPS }},
	{"sources", "800", "900", "0", 800, 900, 0, func(d DoSSettings) any { return d.Sources }},
	// leave_ratio has no 0 to keep: validation refuses it (below).
	{"leave_ratio", "0.25", "0.75", "", 0.25, 0.75, nil, func(d DoSSettings) any { return d.LeaveRatio }},
	{"responses", `["delay"]`, `["suspend", "migrate"]`, "[]", []string{"delay"}, []string{"suspend", "migrate"}, []string{}, func(d DoSSettings) any { return d.Responses }},
	{"attack_limit_pps", `"2k"`, `"3k"`, "0", PacketRate(2e3), PacketRate(3e3), PacketRate(0), func(d DoSSettings) any { return d.AttackLimitPPS }},
}

// dosOverrideConfig is a team "t" with VMs a and b; top, team and vm are
// the key's settings in [dos], the team's dos table and a's (""
// for none).
func dosOverrideConfig(t *testing.T, key, top, team, vm string) *Config {
	t.Helper()
	set := func(v string) string {
		if v == "" {
			return ""
		}
		return key + " = " + v
	}
	vmDoS := ""
	if vm != "" {
		vmDoS = "dos = { " + set(vm) + " }"
	}
	src := fmt.Sprintf(`
[dos]
%s
[[teams]]
name = "t"
policy = "src-mac-hash"
[teams.dos]
%s
[[nics]]
name = "n1"
vdev = "net_null0"
team = "t"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
%s
[[vms]]
name = "b"
socket = "/tmp/b.sock"
macs = ["02:00:00:00:00:02"]
team = "t"
`, set(top), set(team), vmDoS)
	c, err := Parse([]byte(src), "toml")
	require.NoError(t, err, src)
	return c
}

func TestEveryDoSKeyInheritsWhenLeftOutAndKeepsAnExplicitZero(t *testing.T) {
	for _, k := range dosKeyCases {
		t.Run(k.key, func(t *testing.T) {
			c := dosOverrideConfig(t, k.key, k.top, "", "")
			assert.Equal(t, k.topV, k.get(c.DoSFor(0)), "left out at the team and the VM: [dos]'s")

			c = dosOverrideConfig(t, k.key, k.top, k.team, "")
			assert.Equal(t, k.teamV, k.get(c.DoSFor(0)), "left out at the VM: the team's")
			assert.Equal(t, k.topV, k.get(c.DoSDefaults()), "[dos] itself unchanged")

			if k.zero == "" {
				return
			}
			c = dosOverrideConfig(t, k.key, k.top, k.team, k.zero)
			assert.Equal(t, k.zeroV, k.get(c.DoSFor(0)), "0 at the VM is the VM's")
			assert.Equal(t, k.teamV, k.get(c.DoSFor(1)), "and its team mate keeps the team's")

			c = dosOverrideConfig(t, k.key, k.top, k.zero, "")
			assert.Equal(t, k.zeroV, k.get(c.DoSFor(0)), "0 at the team is the team's")

			c = dosOverrideConfig(t, k.key, k.zero, k.team, k.top)
			assert.Equal(t, k.zeroV, k.get(c.DoSDefaults()), "0 in [dos] is kept too")
			assert.Equal(t, k.topV, k.get(c.DoSFor(0)))
		})
	}
}

func TestTheOverrideTableCoversEveryDoSKey(t *testing.T) {
	covered := map[string]bool{}
	for _, k := range dosKeyCases {
		covered[k.key] = true
	}
	typ := reflect.TypeOf(DoS{})
	for i := 0; i < typ.NumField(); i++ {
		key := typ.Field(i).Tag.Get("mapstructure")
		assert.True(t, covered[key], "dos.%s has no case in dosKeyCases", key)
		kind := typ.Field(i).Type.Kind()
		assert.True(t, kind == reflect.Pointer || kind == reflect.Slice, "dos.%s cannot tell left out (nil) from 0", key)
	}
}
