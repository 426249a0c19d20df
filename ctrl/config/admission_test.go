package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/configs"
	"github.com/uplinkd/uplinkd/fastpath"
)

func TestPolicyNamesAreTheFastpaths(t *testing.T) {
	assert.Equal(t, fastpath.PolicyNames(), Policies)
}

func TestRatesParseWithSIPrefixesAndUnits(t *testing.T) {
	for in, want := range map[string]float64{
		"200M": 200e6, "1.5G": 1.5e9, "10Gbit": 10e9, "64kbps": 64e3, "1000": 1000, " 5 M ": 5e6, "2.5Gbit/s": 2.5e9,
	} {
		got, err := parseRate(in, "bit/s", "bits", "bps", "bit")
		require.NoError(t, err, in)
		assert.InDelta(t, want, got, 1e-6*want, in)
	}
	for _, bad := range []string{"fast", "-5M", "M", "10X"} {
		_, err := parseRate(bad, "bit")
		assert.Error(t, err, bad)
	}
}

// withVMKeys adds keys to the demo's first VM, or to its team or first NIC.
func withKeys(t *testing.T, section, keys string) (*Config, error) {
	t.Helper()
	src := string(configs.Demo)
	anchor := map[string]string{
		"vm":   `macs = ["02:00:00:00:00:01"]`,
		"team": `policy = "src-mac-hash"`,
		"nic":  `vdev = "net_tap0,iface=dtap0"`,
		"top":  `[dataplane]`,
	}[section]
	require.Contains(t, src, anchor)
	if section == "team" && strings.HasPrefix(keys, "policy") {
		return Parse([]byte(strings.Replace(src, anchor, keys, 1)), "toml")
	}
	if section == "top" {
		return Parse([]byte(strings.Replace(src, anchor, keys+"\n"+anchor, 1)), "toml")
	}
	return Parse([]byte(strings.Replace(src, anchor, anchor+"\n"+keys, 1)), "toml")
}

func TestAdmissionKeysDecode(t *testing.T) {
	c, err := withKeys(t, "vm", "limit = \"100M\"\nlimit_pps = \"50k\"\nreservation = 20000000\nshares = 4\npriority = 2\npreferred_nic = \"nic2\"")
	require.NoError(t, err)
	v := c.VMs[0]
	assert.Equal(t, BitRate(100e6), v.Limit)
	assert.Equal(t, PacketRate(50e3), v.LimitPPS)
	assert.Equal(t, BitRate(20e6), v.Reservation)
	assert.Equal(t, 4, v.Shares)
	assert.Equal(t, 2, v.Priority)
	assert.Equal(t, "nic2", v.PreferredNIC)

	c, err = withKeys(t, "team", "policy = \"explicit-failover\"\nactive = [\"nic2\"]\nstandby = [\"nic1\"]")
	require.NoError(t, err)
	assert.Equal(t, []string{"nic2"}, c.Teams[0].Active)
	assert.Equal(t, "5ms", c.Resources.Interval.String(), "default")
	assert.Equal(t, "suspend", c.Resources.OverAllocationAction, "default")
}

func TestAdmissionValidationNamesKeyAndReason(t *testing.T) {
	cases := []struct{ section, keys, want string }{
		{"vm", `limit = "lots"`, `"lots" is not a rate`},
		{"vm", `shares = -1`, "vms[0].shares: -1 is outside"},
		{"vm", `preferred_nic = "nic9"`, `vms[0].preferred_nic: "nic9" is not a NIC of team uplink`},
		{"vm", "limit = \"10M\"\nreservation = \"20M\"", "vms[0].reservation: 2e+07 bit/s is above the VM's limit"},
		{"team", `policy = "explicit-failover"`, "teams[0].active: explicit-failover needs at least one active NIC"},
		{"team", "policy = \"explicit-failover\"\nactive = [\"nic1\", \"nic1\"]", `teams[0].active[1]: "nic1" is listed twice`},
		{"team", "policy = \"vm-affinity\"\nactive = [\"nic1\"]", "only apply to policy explicit-failover"},
		{"team", "policy = \"explicit-failover\"\nactive = [\"nicX\"]", `teams[0].active[0]: "nicX" is not a NIC of team uplink`},
		{"team", "policy = \"load-based\"\nrebalance_threshold = 1.5", "teams[0].rebalance_threshold: 1.5 is not a utilisation"},
		{"nic", `speed = "100"`, "nics[0].speed: 100 bit/s is below 1M"},
		{"top", "[resources]\ninterval = \"10us\"", "resources.interval: 10µs is outside 100us-1s"},
		{"top", "[resources]\nover_allocation_action = \"reboot\"", `resources.over_allocation_action: "reboot" is not one of: suspend, migrate`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			_, err := withKeys(t, c.section, c.keys)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestReservationsMustFitTheTeamsKnownSpeed(t *testing.T) {
	src := string(configs.Demo)
	src = strings.Replace(src, `iface=dtap0"`, "iface=dtap0\"\nspeed = \"5M\"", 1)
	src = strings.Replace(src, `iface=dtap1"`, "iface=dtap1\"\nspeed = \"5M\"", 1)
	ok := strings.Replace(src, `macs = ["02:00:00:00:00:01"]`, "macs = [\"02:00:00:00:00:01\"]\nreservation = \"10M\"", 1)
	_, err := Parse([]byte(ok), "toml")
	require.NoError(t, err)
	over := strings.Replace(src, `macs = ["02:00:00:00:00:01"]`, "macs = [\"02:00:00:00:00:01\"]\nreservation = \"15M\"", 1)
	_, err = Parse([]byte(over), "toml")
	assert.ErrorContains(t, err, "teams[0]: its VMs reserve 1.5e+07 bit/s, more than its NICs' speed 1e+07 bit/s")
}

func TestWorkerThreadModel(t *testing.T) {
	src := strings.Replace(string(configs.Demo), "main_lcore = 0", "main_lcore = 0\nworker_thread = \"fiber\"", 1)
	_, err := Parse([]byte(src), "toml")
	assert.ErrorContains(t, err, `eal.worker_thread: "fiber" is not lcore or registered`)
	c, err := Parse(configs.Demo, "toml")
	require.NoError(t, err)
	assert.Equal(t, "lcore", c.EAL.WorkerThread)
}

func TestControlNice(t *testing.T) {
	c, err := Parse(configs.Demo, "toml")
	require.NoError(t, err)
	assert.Equal(t, -20, c.EAL.ControlNice, "the runtime's threads run first on the housekeeping core by default")
	for _, bad := range []string{"-21", "20"} {
		src := strings.Replace(string(configs.Demo), "main_lcore = 0", "main_lcore = 0\ncontrol_nice = "+bad, 1)
		_, err := Parse([]byte(src), "toml")
		assert.ErrorContains(t, err, "eal.control_nice: "+bad+" is not a nice value (-20 to 19)")
	}
}

func TestRuntimeGCSettings(t *testing.T) {
	c, err := Parse(configs.Demo, "toml")
	require.NoError(t, err)
	assert.Equal(t, Runtime{GCPercent: 1000, MemoryLimitMB: 512}, c.Runtime, "collections are rare by default, under a ceiling")
	for src, want := range map[string]string{
		"gc_percent = 0":                       "runtime.gc_percent: 0: a percentage of at least 1, or -1",
		"gc_percent = -5":                      "runtime.gc_percent: -5: a percentage of at least 1, or -1",
		"memory_limit_mb = -1":                 "runtime.memory_limit_mb: -1: MiB, at least 0",
		"memory_limit_mb = 8":                  "runtime.memory_limit_mb: 8 MiB is below what the control plane needs",
		"gc_percent = -1\nmemory_limit_mb = 0": "runtime.gc_percent: -1 with no runtime.memory_limit_mb: the heap would grow without bound",
		"gc_percent = \"lots\"":                "runtime.gc_percent",
	} {
		_, err := Parse([]byte(string(configs.Demo)+"\n[runtime]\n"+src+"\n"), "toml")
		assert.ErrorContains(t, err, want, src)
	}
	c, err = Parse([]byte(string(configs.Demo)+"\n[runtime]\ngc_percent = -1\nmemory_limit_mb = 64\n"), "toml")
	require.NoError(t, err, "collecting only at the limit is a valid choice")
	assert.Equal(t, Runtime{GCPercent: -1, MemoryLimitMB: 64}, c.Runtime)
}
