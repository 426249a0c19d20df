package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/configs"
)

func TestDemoConfigIsValid(t *testing.T) {
	c, err := Parse(configs.Demo, "toml")
	require.NoError(t, err)
	assert.Len(t, c.NICs, 2)
	assert.Len(t, c.VMs, 2)
	assert.Equal(t, "uplinkd-demo", c.EAL.FilePrefix)
	assert.Equal(t, time.Millisecond, c.Dataplane.LinkPoll, "default applies")
	assert.Equal(t, 1024, c.Dataplane.TxQueueLen)
}

const yamlDemo = `
eal: {file_prefix: y1, worker_lcores: [1]}
state: {dir: ""}
teams: [{name: t, policy: src-mac-hash}]
nics:
  - {name: n1, vdev: "net_tap0,iface=x0", team: t}
  - {name: n2, pci: "0000:01:00.0", team: t}
vms:
  - {name: v1, socket: /tmp/v1.sock, macs: ["02:00:00:00:00:01"], team: t, mode: client}
`

func TestYAMLAndTOMLShareOneSchema(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "u.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yamlDemo), 0o600))
	c, err := Load(p)
	require.NoError(t, err)
	assert.Equal(t, "0000:01:00.0", c.NICs[1].PCI)
	assert.True(t, c.VMs[0].Client())
	assert.Equal(t, 1500, c.Dataplane.MTU)
}

func TestValidationNamesKeyAndReason(t *testing.T) {
	cases := map[string]struct{ toml, want string }{
		"bad MAC": {`[[vms]]
name="v"
socket="/s"
macs=["nope"]
team="uplink"`, `vms[2].macs[0]: "nope" is not a MAC address`},
		"unknown team": {`[[vms]]
name="v"
socket="/s"
macs=["02:00:00:00:00:09"]
team="other"`, `vms[2].team: "other" is not a team`},
		"duplicate MAC": {`[[vms]]
name="v"
socket="/s"
macs=["02:00:00:00:00:01"]
team="uplink"`, `vms[2].macs[0]: 02:00:00:00:00:01 is already vm vm1's`},
		"multicast MAC": {`[[vms]]
name="v"
socket="/s"
macs=["01:00:5e:00:00:01"]
team="uplink"`, `is a multicast address`},
		"relative socket": {`[[vms]]
name="v"
socket="rel.sock"
macs=["02:00:00:00:00:09"]
team="uplink"`, `vms[2].socket: "rel.sock" must be an absolute path`},
		"nic without device": {`[[nics]]
name="n3"
team="uplink"`, `nics[2]: set either pci or vdev`},
		"bad pci": {`[[nics]]
name="n3"
pci="01:00"
team="uplink"`, `nics[2].pci: "01:00" is not a PCI address`},
		"duplicate device": {`[[nics]]
name="n3"
vdev="net_tap0,iface=other"
team="uplink"`, `nics[2]: device net_tap0 is already nic nic1`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(append(append([]byte{}, configs.Demo...), "\n"+c.toml+"\n"...), "toml")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestValidationOfScalars(t *testing.T) {
	cases := map[string]struct{ from, to, want string }{
		"mtu":          {"mtu = 1500", "mtu = 20", "dataplane.mtu: 20 is outside 68-9600"},
		"policy":       {`policy = "src-mac-hash"`, `policy = "random"`, `teams[0].policy: "random" is not a policy`},
		"worker lcore": {"worker_lcores = [1]", "worker_lcores = [0]", "eal.worker_lcores[0]: 0 is also eal.main_lcore"},
		"prefix":       {`file_prefix = "uplinkd-demo"`, `file_prefix = "a/b"`, "eal.file_prefix"},
		"duration":     {`interval = "1s"`, `interval = "soon"`, "status.interval"},
		"unknown key":  {"mtu = 1500", "mtu = 1500\nmtuu = 9000", "mtuu"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			src := string(configs.Demo)
			require.Contains(t, src, c.from)
			_, err := Parse([]byte(strings.Replace(src, c.from, c.to, 1)), "toml")
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestSyntaxErrorIsReported(t *testing.T) {
	_, err := Parse([]byte("[eal\nx="), "toml")
	assert.Error(t, err)
	_, err = Load("/nonexistent/uplinkd.toml")
	assert.ErrorContains(t, err, "/nonexistent/uplinkd.toml")
}
