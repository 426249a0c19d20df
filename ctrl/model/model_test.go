package model

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

const base = `
[[teams]]
name = "uplink"
policy = "explicit-failover"
active = ["nic2"]

[[teams]]
name = "backup"
policy = "load-based"
failback = false
beacon_interval = "100ms"
connection = "isp-b"
dos_standby = ["nic4"]

[[nics]]
name = "nic1"
vdev = "net_tap0,iface=dtap0"
team = "uplink"
[[nics]]
name = "nic2"
pci = "0000:3b:00.0"
team = "uplink"
[[nics]]
name = "nic3"
vdev = "net_tap2,iface=dtap2"
team = "backup"
[[nics]]
name = "nic4"
vdev = "net_tap3,iface=dtap3"
team = "backup"

[[vms]]
name = "vm1"
socket = "/run/u/vm1.sock"
macs = ["02:00:00:00:00:01", "02:00:00:00:00:11"]
team = "uplink"
driver = "libvirt"

[[vms]]
name = "vm2"
socket = "/run/u/vm2.sock"
macs = ["02:00:00:00:00:02"]
team = "backup"
mode = "client"
limit = "200M"
preferred_nic = "nic4"
[vms.dos]
enabled = true
responses = ["delay", "migrate"]

[[hosts]]
name = "host-b"
connection = "isp-b"
uri = "tcp:10.0.0.2:4444"
`

func compile(t *testing.T, toml string, prev *Model) *Model {
	t.Helper()
	c, err := config.Parse([]byte(toml), "toml")
	require.NoError(t, err)
	m, err := Compile(c, prev)
	require.NoError(t, err)
	return m
}

func TestCompileParsesEnumsAndAppliesEveryDefault(t *testing.T) {
	m := compile(t, base, nil)
	up, backup := m.TeamNamed("uplink"), m.TeamNamed("backup")
	require.NotNil(t, up)
	require.NotNil(t, backup)
	assert.Equal(t, PolicyExplicitFailover, up.Policy)
	assert.Equal(t, PolicyLoadBased, backup.Policy)

	nic1, nic2, nic4 := m.NICNamed("nic1"), m.NICNamed("nic2"), m.NICNamed("nic4")
	assert.Equal(t, []NICID{nic2.ID}, up.Active)
	assert.Equal(t, []NICID{nic1.ID}, up.Standby, "a NIC in neither list is standby")
	assert.Equal(t, []NICID{nic1.ID, nic2.ID}, up.NICs)
	assert.True(t, nic2.PCI)
	assert.Equal(t, "0000:3b:00.0", nic2.Devargs)
	assert.Equal(t, "net_tap0,iface=dtap0", nic1.Devargs)

	assert.True(t, up.Failback, "failback defaults on")
	assert.False(t, backup.Failback)
	assert.Equal(t, DefaultRebalanceThreshold, backup.RebalanceThreshold)
	assert.Equal(t, DefaultRebalanceHold, backup.RebalanceHold)
	assert.Equal(t, DefaultBeaconMisses, backup.BeaconMisses)
	assert.True(t, backup.Probes())
	assert.False(t, up.Probes())
	assert.Equal(t, "uplink", up.Connection, "connection defaults to the team's name")
	assert.Equal(t, "isp-b", backup.Connection)
	assert.Equal(t, []NICID{nic4.ID}, backup.DoSStandby)
	assert.False(t, up.Shaped)
	assert.True(t, backup.Shaped, "vm2 has a limit")

	vm1, vm2 := m.VMNamed("vm1"), m.VMNamed("vm2")
	assert.Equal(t, []MAC{0x020000000001, 0x020000000011}, vm1.MACs)
	assert.Equal(t, uint32(DefaultShares), vm1.Shares)
	assert.Equal(t, DriverLibvirt, vm1.Action.Driver)
	assert.Equal(t, "vm1", vm1.Action.Domain, "the domain defaults to the VM's name")
	assert.Equal(t, NICID(0), vm1.Preferred)
	assert.False(t, vm1.Client)
	assert.True(t, vm2.Client)
	assert.Equal(t, DriverNone, vm2.Action.Driver)
	assert.Equal(t, 200e6, vm2.Limit)
	assert.Equal(t, nic4.ID, vm2.Preferred)
	assert.Equal(t, []VMID{vm1.ID}, up.VMs)
	assert.Equal(t, backup.ID, vm2.Team)

	assert.False(t, vm1.DoS.Enabled)
	assert.True(t, vm2.DoS.Enabled)
	assert.Equal(t, []Response{RespDelay, RespMigrate}, vm2.DoS.Responses)
	assert.True(t, vm2.DoS.Has(RespMigrate))
	assert.False(t, vm2.DoS.Has(RespRateLimit))
	assert.Equal(t, 10*time.Millisecond, vm2.DoS.Window, "[dos] defaults reach the VM")
	assert.Equal(t, 5000.0, vm2.DoS.SYNPPS)
	assert.Equal(t, []Response{RespRateLimit}, vm1.DoS.Responses)

	assert.Equal(t, OverSuspend, m.Resources.OverAllocationAction)
	assert.Equal(t, uint32(1514), m.MaxFrame)
	assert.Equal(t, "tcp:10.0.0.2:4444", m.HostNamed("host-b").URI)
}

func TestIDsAreStableAcrossReorderAndRemovalAndNeverReused(t *testing.T) {
	first := compile(t, base, nil)
	vm1, vm2 := first.VMNamed("vm1").ID, first.VMNamed("vm2").ID
	nic3 := first.NICNamed("nic3").ID
	assert.NotEqual(t, vm1, vm2)
	assert.NotZero(t, vm1, "0 is no entity")

	// The config lists vm2 first and drops nic3 and vm1, then adds vm3.
	c, err := config.Parse([]byte(base), "toml")
	require.NoError(t, err)
	c.VMs[0], c.VMs[1] = c.VMs[1], c.VMs[0]
	c.NICs = append(c.NICs[:2], c.NICs[3])
	c.NICs[0], c.NICs[1] = c.NICs[1], c.NICs[0]
	second, err := Compile(c, first)
	require.NoError(t, err)
	assert.Equal(t, first.TeamNamed("uplink").NICs, second.TeamNamed("uplink").NICs, "a team's NICs keep their order")
	assert.Equal(t, vm1, second.VMNamed("vm1").ID, "a reorder keeps IDs")
	assert.Equal(t, vm2, second.VMNamed("vm2").ID)
	assert.Equal(t, []VMID{vm1, vm2}, []VMID{second.VMs[0].ID, second.VMs[1].ID}, "and the order: the tables' indexes stay")
	assert.Nil(t, second.NIC(nic3), "a removed NIC is gone")
	assert.Equal(t, first.NICNamed("nic4").ID, second.NICNamed("nic4").ID)
	assert.Equal(t, 1, second.VMIndex(vm2))
	assert.Equal(t, -1, second.NICIndex(nic3))

	c.VMs = c.VMs[:1]
	third, err := Compile(c, second)
	require.NoError(t, err)
	assert.Nil(t, third.VM(vm1))
	v := c.VMs[0]
	v.Name, v.Socket, v.MACs = "vm1", "/run/u/vm1b.sock", []string{"02:00:00:00:00:31"}
	c.VMs = append(c.VMs, v)
	fourth, err := Compile(c, third)
	require.NoError(t, err)
	back := fourth.VMNamed("vm1").ID
	assert.NotEqual(t, vm1, back, "a VM removed and added again is a new entity")
	assert.Greater(t, back, vm2, "IDs are never given twice")
	assert.Equal(t, []VMID{vm2, back}, []VMID{fourth.VMs[0].ID, fourth.VMs[1].ID}, "a new VM comes after the older ones")

	// Errors name the key of the config as written, whatever the order.
	c.VMs[0].Team = "nope"
	_, err = Compile(c, fourth)
	assert.ErrorContains(t, err, `vms[0].team: "nope" is not a team`)
}

func TestCompileNamesTheKeyOfWhatValidationMissed(t *testing.T) {
	c, err := config.Parse([]byte(base), "toml")
	require.NoError(t, err)
	c.VMs[1].MACs = []string{"02:00:00:00:00:11"}
	_, err = Compile(c, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "vms[1].macs[0]: 02:00:00:00:00:11 is already vm vm1's")

	c, _ = config.Parse([]byte(base), "toml")
	c.Teams[0].Policy = "hash"
	_, err = Compile(c, nil)
	assert.ErrorContains(t, err, `teams[0].policy: "hash" is not a policy`)

	c, _ = config.Parse([]byte(base), "toml")
	c.VMs[0].PreferredNIC = "nic3"
	_, err = Compile(c, nil)
	assert.ErrorContains(t, err, `vms[0].preferred_nic: "nic3" is not a NIC of team uplink`)
}

func TestModelSpeaksTheConfigsVocabulary(t *testing.T) {
	assert.Equal(t, config.Policies, PolicyNames())
	assert.Equal(t, config.Drivers, driverNames[:])
	assert.Equal(t, config.DoSResponses, responseNames[:])
	assert.Equal(t, config.OverAllocationActions, []string{OverSuspend.String(), OverMigrate.String()})
}

func TestMACParsingRefusesGroupAddresses(t *testing.T) {
	m, err := ParseMAC("02:00:00:0a:0b:0c")
	require.NoError(t, err)
	assert.Equal(t, "02:00:00:0a:0b:0c", m.String())
	_, err = ParseMAC("01:00:5e:00:00:01")
	assert.ErrorContains(t, err, "multicast")
	_, err = ParseMAC("nope")
	assert.Error(t, err)
}
