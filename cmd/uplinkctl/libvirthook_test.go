package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hookDomain = `<domain type='qemu'>
  <name>vnf-a</name>
  <metadata>
    <other:thing xmlns:other="https://example.com/x"><other:team>nope</other:team></other:thing>
    <uplinkd:vm xmlns:uplinkd="https://uplinkd.dev/xmlns/libvirt/1">
      <uplinkd:team>backup</uplinkd:team>
      <uplinkd:limit>2G</uplinkd:limit>
    </uplinkd:vm>
  </metadata>
  <devices>
    <interface type='network'><mac address='52:54:00:00:00:09'/><source network='default'/></interface>
    <interface type='vhostuser'>
      <mac address='02:00:00:00:0a:01'/>
      <source type='unix' path='/run/vhost/vnf-a-0.sock' mode='client'/>
      <model type='virtio'/>
    </interface>
    <interface type='vhostuser'>
      <mac address='02:00:00:00:0a:02'/>
      <source type='unix' path='/var/lib/libvirt/qemu/vnf-a-1.sock' mode='server'/>
    </interface>
  </devices>
</domain>`

func TestLibvirtHookTurnsVhostUserInterfacesIntoVMs(t *testing.T) {
	vms, err := hookVMs([]byte(hookDomain), "uplink")
	require.NoError(t, err)
	require.Len(t, vms, 2, "only the vhostuser interfaces")
	assert.Equal(t, map[string]any{"name": "vnf-a", "socket": "/run/vhost/vnf-a-0.sock", "mode": "server",
		"macs": []string{"02:00:00:00:0a:01"}, "team": "backup", "limit": "2G", "driver": "libvirt", "domain": "vnf-a"}, vms[0])
	assert.Equal(t, "vnf-a.1", vms[1]["name"])
	assert.Equal(t, "client", vms[1]["mode"], "QEMU serves the socket: uplinkd connects")

	vms, err = hookVMs([]byte(`<domain><name>plain</name><devices><interface type='vhostuser'>
		<mac address='02:00:00:00:0b:01'/><source type='unix' path='/run/p.sock' mode='client'/></interface></devices></domain>`), "uplink")
	require.NoError(t, err)
	assert.Equal(t, "uplink", vms[0]["team"], "no metadata: the default team")

	_, err = hookVMs([]byte(`<domain><name>bad</name><devices><interface type='vhostuser'><source path='/x'/></interface></devices></domain>`), "uplink")
	assert.ErrorContains(t, err, "without a MAC address")
}
