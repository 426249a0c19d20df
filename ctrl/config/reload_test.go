package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/configs"
)

func demo(t *testing.T, edit ...func(string) string) *Config {
	t.Helper()
	s := string(configs.Demo)
	for _, e := range edit {
		s = e(s)
	}
	c, err := Parse([]byte(s), "toml")
	require.NoError(t, err)
	return c
}

func TestReloadTakesPolicyLimitsAndResponses(t *testing.T) {
	old := demo(t)
	next := demo(t)
	next.Teams[0].Policy = "flow-hash"
	next.VMs[1].Limit = 5e6
	next.VMs[0].Shares = 4
	next.NICs[1].Speed = 1e9
	next.DoS.Responses = []string{"delay"}
	next.Hosts = append(next.Hosts, Host{Name: "b", URI: "tcp:192.0.2.2:4444"})
	changed, err := CheckReload(old, next)
	require.NoError(t, err)
	assert.Equal(t, []string{"dos.responses", "teams[0].policy", "nics[1].speed", "vms[0].shares", "vms[1].limit", "hosts"}, changed)

	changed, err = CheckReload(old, demo(t))
	require.NoError(t, err)
	assert.Empty(t, changed, "the same config changes nothing")
}

func TestReloadPairsNamedTablesByName(t *testing.T) {
	old := demo(t)
	next := demo(t)
	next.VMs[0], next.VMs[1] = next.VMs[1], next.VMs[0]
	next.NICs[0], next.NICs[1] = next.NICs[1], next.NICs[0]
	changed, err := CheckReload(old, next)
	require.NoError(t, err)
	assert.Empty(t, changed, "a reorder changes nothing")

	next.VMs[0].Limit = 5e6 // vm2, listed first now
	next.VMs[1].Socket = "/tmp/elsewhere.sock"
	changed, err = CheckReload(old, next)
	var ke *KeyError
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, "vms[1].socket", ke.Key, "the key is where the new config has it")
	next.VMs[1].Socket = old.VMs[0].Socket
	changed, err = CheckReload(old, next)
	require.NoError(t, err)
	assert.Equal(t, []string{"vms[0].limit"}, changed)

	// A VM added and one removed: the list's membership changed, which a
	// running uplinkd applies; the VM that stays is compared by name.
	v := next.VMs[0]
	v.Name, v.Socket, v.MACs = "vm9", "/tmp/vm9.sock", []string{"02:00:00:00:00:99"}
	next.VMs = []VM{next.VMs[1], v}
	next.VMs[0].Shares = 7
	changed, err = CheckReload(old, next)
	require.NoError(t, err)
	assert.Equal(t, []string{"vms", "vms[0].shares"}, changed)

	// So does a NIC's, and a team's.
	next.NICs = append(slices.Clone(next.NICs), NIC{Name: "nic9", Vdev: "net_tap9", Team: next.NICs[0].Team})
	next.Teams = append(slices.Clone(next.Teams), Team{Name: "t9", Policy: "src-mac-hash"})
	changed, err = CheckReload(old, next)
	require.NoError(t, err)
	assert.Equal(t, []string{"teams", "nics", "vms", "vms[0].shares"}, changed)
}

func TestReloadRefusesWhatIsFixedNamingKeyAndReason(t *testing.T) {
	cases := map[string]struct {
		edit      func(*Config)
		key, want string
	}{
		"file prefix":   {func(c *Config) { c.EAL.FilePrefix = "other" }, "eal.file_prefix", "EAL is initialised once"},
		"mbufs":         {func(c *Config) { c.Dataplane.Mbufs = 8191 }, "dataplane.mbufs", "mbuf pool"},
		"vm socket":     {func(c *Config) { c.VMs[1].Socket = "/tmp/x.sock" }, "vms[1].socket", "vhost-user port"},
		"nic vdev":      {func(c *Config) { c.NICs[0].Vdev = "net_tap9,iface=x" }, "nics[0].vdev", "remove it and add it again"},
		"api socket":    {func(c *Config) { c.API.Socket = "/tmp/a.sock" }, "api.socket", "API socket"},
		"beacons":       {func(c *Config) { c.Teams[0].BeaconMisses = 5 }, "teams[0].beacon_misses", "beacon probing"},
		"vm driver":     {func(c *Config) { c.VMs[0].Driver = "exec" }, "vms[0].driver", "action driver"},
		"vm_manager":    {func(c *Config) { c.VMManager.Retries = 9 }, "vm_manager.retries", "VM manager"},
		"metrics addr":  {func(c *Config) { c.Metrics.Listen = "" }, "metrics.listen", "metrics listener"},
		"worker thread": {func(c *Config) { c.EAL.WorkerThread = "registered" }, "eal.worker_thread", "EAL"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next := demo(t)
			next.Teams[0].Policy = "round-robin" // a reloadable change alongside
			tc.edit(next)
			changed, err := CheckReload(demo(t), next)
			require.Error(t, err)
			assert.Nil(t, changed)
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
			assert.Equal(t, tc.key, ke.Key)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "restart uplinkd")
		})
	}
}

func TestEveryReloadablePatternIsAKey(t *testing.T) {
	ref, err := Reference(".")
	require.NoError(t, err)
	for _, p := range Reloadable {
		// The reference writes list elements' keys under [[list]].
		last := p[strings.LastIndex(p, ".")+1:]
		assert.Contains(t, ref, last, "pattern %s", p)
		assert.True(t, KeyReloads(strings.ReplaceAll(p, "[]", "[3]")), p)
	}
	assert.Contains(t, ref, "# type: string; reloads")
	assert.Contains(t, ref, "# type: string; fixed while uplinkd runs")
}

func TestReloadTakesTheRuntimeGCSettings(t *testing.T) {
	next := demo(t)
	next.Runtime = Runtime{GCPercent: 200, MemoryLimitMB: 0}
	changed, err := CheckReload(demo(t), next)
	require.NoError(t, err)
	assert.Equal(t, []string{"runtime.gc_percent", "runtime.memory_limit_mb"}, changed)
}
