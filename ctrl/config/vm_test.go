package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVMManagerKeysDecodeWithDefaults(t *testing.T) {
	c, err := withKeys(t, "vm", "driver = \"qmp\"\nqmp = \"/run/qemu/vm1.qmp\"")
	require.NoError(t, err)
	assert.Equal(t, "qmp", c.VMs[0].Driver)
	assert.Equal(t, "/run/qemu/vm1.qmp", c.VMs[0].QMP)
	assert.Equal(t, 10*time.Second, c.VMManager.Timeout, "default")
	assert.Equal(t, 5*time.Minute, c.VMManager.MigrateTimeout, "default")
	assert.Equal(t, 2, c.VMManager.Retries, "default")
	assert.Equal(t, 10, c.VMManager.DeprioritisedWeight, "default")

	c, err = withKeys(t, "top", "[[hosts]]\nname = \"host-b\"\nconnection = \"upstream-b\"\nuri = \"tcp:10.0.0.2:4444\"\nspare = \"20G\"\n[vm_manager]\nretries = 5")
	require.NoError(t, err)
	assert.Equal(t, []Host{{Name: "host-b", Connection: "upstream-b", URI: "tcp:10.0.0.2:4444", Spare: 20e9}}, c.Hosts)
	assert.Equal(t, 5, c.VMManager.Retries)

	c, err = withKeys(t, "vm", "driver = \"exec\"\nexec = [\"/usr/local/sbin/vm-hook\", \"--site\", \"a\"]")
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/local/sbin/vm-hook", "--site", "a"}, c.VMs[0].Exec)
}

func TestVMManagerValidationNamesKeyAndReason(t *testing.T) {
	cases := []struct{ section, keys, want string }{
		{"vm", `driver = "virtualbox"`, `vms[0].driver: "virtualbox" is not one of [none qmp libvirt exec]`},
		{"vm", `driver = "qmp"`, `vms[0].qmp: driver qmp needs the QMP socket's absolute path`},
		{"vm", "driver = \"exec\"\nexec = [\"vm-hook\"]", `vms[0].exec: driver exec needs a command whose first word is an absolute path`},
		{"vm", `qmp = "/run/q.sock"`, `vms[0].qmp: set, but the VM's driver is "", not qmp`},
		{"vm", "driver = \"libvirt\"\nlibvirt_socket = \"libvirt-sock\"", `vms[0].libvirt_socket: "libvirt-sock" must be an absolute path`},
		{"top", "[vm_manager]\ntimeout = \"0s\"", "vm_manager.timeout: 0s must be positive"},
		{"top", "[vm_manager]\nretries = -1", "vm_manager.retries: -1 is outside 0-20"},
		{"top", "[vm_manager]\ndeprioritised_weight = 0", "vm_manager.deprioritised_weight: 0 is outside 1-10000"},
		{"top", "[[hosts]]\nname = \"b\"\nconnection = \"x\"", "hosts[0].uri: a migration target needs a URI"},
		{"top", "[[hosts]]\nname = \"b\"\nuri = \"tcp:b:1\"", "hosts[0].connection: name the network"},
		{"top", "[[hosts]]\nname = \"b\"\nuri = \"tcp:b:1\"\nconnection = \"x\"\n[[hosts]]\nname = \"b\"\nuri = \"tcp:c:1\"\nconnection = \"y\"", `hosts[1].name: "b" is used twice`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			_, err := withKeys(t, c.section, c.keys)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestDecodeVMReadsOneEntryWithTheFilesNamesAndRates(t *testing.T) {
	v, err := DecodeVM(map[string]any{"name": "vm3", "socket": "/run/u/vm3.sock", "macs": "02:00:00:00:00:03,02:00:00:00:00:13",
		"team": "uplink", "limit": "200M", "shares": "4", "dos": map[string]any{"enabled": true}})
	require.NoError(t, err)
	assert.Equal(t, []string{"02:00:00:00:00:03", "02:00:00:00:00:13"}, v.MACs)
	assert.Equal(t, BitRate(200e6), v.Limit)
	assert.Equal(t, 4, v.Shares)
	require.NotNil(t, v.DoS.Enabled)
	assert.True(t, *v.DoS.Enabled)

	_, err = DecodeVM(map[string]any{"name": "vm3", "colour": "blue"})
	assert.ErrorContains(t, err, "colour")
	_, err = DecodeVM(map[string]any{"name": "vm3", "limit": "fast"})
	assert.ErrorContains(t, err, "limit")
}
