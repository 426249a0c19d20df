package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/configs"
)

// demoIn writes the demo config with its state in dir and returns its path.
func demoIn(t *testing.T, dir string) string {
	t.Helper()
	conf := strings.Replace(string(configs.Demo), "[state]\ndir = \"\"", "[state]\ndir = \""+dir+"\"", 1)
	require.Contains(t, conf, dir)
	path := filepath.Join(dir, "uplinkd.toml")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	return path
}

func TestDropInsJoinTheFilesVMsAndTheFileWins(t *testing.T) {
	dir := t.TempDir()
	path := demoIn(t, dir)
	c, err := Load(path)
	require.NoError(t, err)
	assert.Len(t, c.VMs, 2, "no drop-in yet")

	vms := filepath.Join(dir, "vms")
	require.NoError(t, WriteDropIn(vms, "vm3", map[string]any{"name": "vm3", "socket": "/tmp/vm3.sock",
		"macs": []any{"02:00:00:00:00:33"}, "team": "uplink", "limit": "200M"}))
	// The file's vm1 wins over a drop-in of the same name.
	require.NoError(t, WriteDropIn(vms, "vm1", map[string]any{"name": "vm1", "socket": "/tmp/other.sock",
		"macs": []any{"02:00:00:00:00:44"}, "team": "uplink"}))
	c, err = Load(path)
	require.NoError(t, err)
	require.Len(t, c.VMs, 3)
	assert.Equal(t, "vm3", c.VMs[2].Name)
	assert.Equal(t, BitRate(200e6), c.VMs[2].Limit)
	assert.NotEqual(t, "/tmp/other.sock", c.VMs[0].Socket)
	ents, err := os.ReadDir(vms)
	require.NoError(t, err)
	assert.Len(t, ents, 2, "no temporary file left")

	require.NoError(t, RemoveDropIn(vms, "vm3"))
	require.NoError(t, RemoveDropIn(vms, "vm3"), "removing what is not kept is no error")
	c, err = Load(path)
	require.NoError(t, err)
	assert.Len(t, c.VMs, 2)

	// A bad drop-in refuses the config, naming the file and the key.
	require.NoError(t, WriteDropIn(vms, "vm5", map[string]any{"name": "vm5", "socket": "/tmp/vm5.sock",
		"macs": []any{"02:00:00:00:00:01"}, "team": "uplink"}))
	_, err = Load(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(vms, "vm5.json")+": macs[0]")
}
