package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/configs"
)

// withVM1 adds keys to the demo's first VM (and team keys to its team).
func withVM1(vmKeys, teamKeys string) []byte {
	s := strings.Replace(string(configs.Demo), `name = "vm1"`, "name = \"vm1\"\n"+vmKeys, 1)
	return []byte(strings.Replace(s, `name = "uplink"`, "name = \"uplink\"\n"+teamKeys, 1))
}

func TestVLANKeysDecode(t *testing.T) {
	c, err := Parse(withVM1("trunk = [10, 20]\nnative_vlan = 5", "native_vlan = 7"), "toml")
	require.NoError(t, err)
	assert.Equal(t, []int{10, 20}, c.VMs[0].Trunk)
	assert.Equal(t, 5, c.VMs[0].NativeVLAN)
	assert.Equal(t, 7, c.Teams[0].NativeVLAN)
	c, err = Parse(withVM1("vlan = 10", ""), "toml")
	require.NoError(t, err)
	assert.Equal(t, 10, c.VMs[0].VLAN)
}

func TestVLANValidationNamesKeyAndReason(t *testing.T) {
	for _, c := range []struct{ vm, team, want string }{
		{"vlan = 4095", "", "vms[0].vlan: 4095 is not a VLAN ID (1-4094)"},
		{"vlan = -1", "", "vms[0].vlan: -1 is not a VLAN ID (1-4094)"},
		{"vlan = 10\ntrunk = [20]", "", "vms[0].trunk: a VM is on one VLAN (vlan = 10) or a trunk, not both"},
		{"trunk = [10, 0]", "", "vms[0].trunk[1]: 0 is not a VLAN ID (1-4094)"},
		{"trunk = [10, 10]", "", "vms[0].trunk[1]: VLAN 10 is listed twice"},
		{"native_vlan = 5", "", "vms[0].native_vlan: only a trunk has a native VLAN"},
		{"trunk = [10]\nnative_vlan = 9999", "", "vms[0].native_vlan: 9999 is not a VLAN ID"},
		{"", "native_vlan = 5000", "teams[0].native_vlan: 5000 is not a VLAN ID"},
		{`vlan = "ten"`, "", "vms[0].vlan"},
	} {
		_, err := Parse(withVM1(c.vm, c.team), "toml")
		assert.ErrorContains(t, err, c.want, c.vm+c.team)
	}
}

func TestReloadTakesVLANs(t *testing.T) {
	next := demo(t)
	next.VMs[0].VLAN = 10
	next.VMs[1].Trunk = []int{10, 20}
	next.Teams[0].NativeVLAN = 30
	changed, err := CheckReload(demo(t), next)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"vms[0].vlan", "vms[1].trunk", "teams[0].native_vlan"}, changed)
}

func TestIPsDecodeAndAreValidatedByKey(t *testing.T) {
	c, err := Parse(withVM1(`ips = ["10.0.0.1", "2001:db8::1", "10.0.1.0/24"]`, ""), "toml")
	require.NoError(t, err)
	assert.Equal(t, []string{"10.0.0.1", "2001:db8::1", "10.0.1.0/24"}, c.VMs[0].IPs)
	_, err = Parse(withVM1(`ips = ["10.0.0.1", "10.0.0.300"]`, ""), "toml")
	assert.ErrorContains(t, err, `vms[0].ips[1]: "10.0.0.300" is not an address or a prefix`)
	_, err = Parse(withVM1(`ips = ["10.0.0.0/33"]`, ""), "toml")
	assert.ErrorContains(t, err, "vms[0].ips[0]")
	p, err := ParseIPPrefix("::ffff:10.0.0.1")
	require.NoError(t, err)
	assert.Equal(t, "10.0.0.1/32", p.String(), "an IPv4-mapped address is the IPv4 one")
	next := demo(t)
	next.VMs[0].IPs = []string{"10.0.0.1"}
	changed, err := CheckReload(demo(t), next)
	require.NoError(t, err)
	assert.Equal(t, []string{"vms[0].ips"}, changed)
}
