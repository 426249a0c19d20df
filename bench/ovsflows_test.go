package main

import (
	"strings"
	"testing"
)

// dpctl/show and dpctl/dump-flows as OVS 3.1's userspace datapath prints
// them for the throughput topology: p0 and p1 the bond's members, br0 the
// bridge's internal port, vm1 the VM.
const testDPShow = `netdev@ovs-netdev:
  lookups: hit:0 missed:9 lost:0
  flows: 8
  port 0: ovs-netdev (tap)
  port 1: br0 (tap)
  port 2: p0 (dpdk: configured_rx_queues=1)
  port 3: p1 (dpdk: configured_rx_queues=1)
  port 4: vm1 (dpdkvhostuserclient: configured_rx_queues=1)
`

func testFlow(src, actions string) string {
	return "recirc_id(0),in_port(4),packet_type(ns=0,id=0),eth(src=" + src +
		",dst=02:fe:00:00:00:01),eth_type(0x0800),ipv4(frag=no), packets:766827, bytes:46009620, used:0.000s, actions:" + actions
}

func TestVMFlowsToBond(t *testing.T) {
	head := "flow-dump from pmd on cpu core: 1\n"
	for _, c := range []struct {
		name, dump, wantErr string
	}{
		{"to the members", head + testFlow("02:00:00:00:00:01", "2") + "\n" + testFlow("02:00:00:00:01:01", "3") + "\n", ""},
		{"flooded to the internal port", head + testFlow("02:00:00:00:00:01", "2") + "\n" + testFlow("02:00:00:00:01:01", "1,3") + "\n",
			"outputs to br0"},
		{"dropped", head + testFlow("02:00:00:00:00:01", "drop") + "\n", "outputs nowhere"},
		{"sent to userspace", head + testFlow("02:00:00:00:00:01", "userspace(pid=0,slow_path(action))") + "\n", "outputs nowhere"},
		{"no VM flow", head, "no datapath flow from a VM port"},
		{"names instead of numbers", head + strings.Replace(testFlow("02:00:00:00:00:01", "p0,br0"), "in_port(4)", "in_port(vm1)", 1), "outputs to br0"},
	} {
		err := vmFlowsToBond(testDPShow, c.dump)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.wantErr)
		}
	}
}

func TestFlowOutputs(t *testing.T) {
	got := strings.Join(flowOutputs("set(eth(src=02:00:00:00:00:01)),push_vlan(vid=5,pcp=0),2,3"), " ")
	if got != "2 3" {
		t.Errorf("flowOutputs = %q, want \"2 3\"", got)
	}
}
