package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// vmConf is one VM of a lab topology, and what the generator offers for it.
type vmConf struct {
	name, mac, keys string
	rate            float64 // frames/s
}

// labConfig is uplinkd's config for a lab: one team "uplink" with the TOML
// keys team, one tap NIC (dtap0, dtap1, ...) per entry of nics with those
// keys, and vms; top is extra TOML tables ("[resources]...").
func labConfig(l *lab.Lab, top, team string, nics []string, vms ...vmConf) string {
	var b strings.Builder
	// The API on the lab's own socket; no metrics over TCP (the lab's
	// namespace has no loopback up), they are on the socket too.
	// VMs added at runtime are kept in the lab, not in the host's state.
	fmt.Fprintf(&b, "[eal]\nfile_prefix = %q\nmemory_mb = 128\n[api]\nsocket = %q\n[metrics]\nlisten = \"\"\n[state]\ndir = %q\n[dataplane]\nmbufs = 4095\n%s\n",
		l.Prefix("d"), l.APISocket(), filepath.Join(l.Dir, "state"), top)
	fmt.Fprintf(&b, "[[teams]]\nname = \"uplink\"\n%s\n", team)
	for i, keys := range nics {
		fmt.Fprintf(&b, "[[nics]]\nname = \"nic%d\"\nvdev = \"net_tap%d,iface=dtap%d\"\nteam = \"uplink\"\n%s\n", i+1, i, i, keys)
	}
	for _, v := range vms {
		fmt.Fprintf(&b, "[[vms]]\nname = %q\nsocket = %q\nmacs = [%q]\nteam = \"uplink\"\n%s\n", v.name, l.Sock(v.name), v.mac, v.keys)
	}
	return b.String()
}
