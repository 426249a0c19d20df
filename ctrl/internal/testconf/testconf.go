// Package testconf holds the configs the control plane's unit tests share
// (ctrl/control's and ctrl/plane's), so that both packages test the same
// topologies.
package testconf

// DoS: team t with NICs n1, n2 and n3 (n3 its dos_standby, connection
// upstream-a), VMs a and b watched with every response, c opted out.
const DoS = `
[dos]
enabled = true
responses = ["rate-limit", "delay", "deprioritise", "suspend", "suspend-others", "failover", "migrate"]
attack_limit_pps = "2k"
delay = "3ms"
[vm_manager]
deprioritised_weight = 20
[[teams]]
name = "t"
policy = "src-mac-hash"
connection = "upstream-a"
dos_standby = ["n3"]
[[nics]]
name = "n1"
vdev = "net_null0"
team = "t"
[[nics]]
name = "n2"
vdev = "net_null1"
team = "t"
[[nics]]
name = "n3"
vdev = "net_null2"
team = "t"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
[[vms]]
name = "b"
socket = "/tmp/b.sock"
macs = ["02:00:00:00:00:02"]
team = "t"
[[vms]]
name = "c"
socket = "/tmp/c.sock"
macs = ["02:00:00:00:00:03"]
team = "t"
dos = { enabled = false }
`

// Shares: team t with one 21 Mbit/s NIC n1, VMs a, b and c with shares 1,
// 2 and 4, c limited to 10 Mbit/s: the team is shaped.
const Shares = `
[[teams]]
name = "t"
policy = "src-mac-hash"
[[nics]]
name = "n1"
vdev = "net_null0"
team = "t"
speed = "21M"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
shares = 1
[[vms]]
name = "b"
socket = "/tmp/b.sock"
macs = ["02:00:00:00:00:02"]
team = "t"
shares = 2
[[vms]]
name = "c"
socket = "/tmp/c.sock"
macs = ["02:00:00:00:00:03"]
team = "t"
shares = 4
limit = "10M"
`
