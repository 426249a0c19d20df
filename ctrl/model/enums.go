package model

import (
	"fmt"
	"net"
)

// Policy is how a team spreads its VMs' packets over its NICs. The values
// are fastpath.Policy's, in the same order (a test in ctrl/plane keeps the
// two equal), so the tables take it with a conversion and the model stays
// free of cgo.
type Policy uint8

// The policies, in fastpath.Policy's order.
const (
	PolicySrcMACHash Policy = iota
	PolicyVMAffinity
	PolicyFlowHash
	PolicyRoundRobin
	PolicyLeastPending
	PolicyLoadBased
	PolicyExplicitFailover
	numPolicies
)

var policyNames = [numPolicies]string{
	"src-mac-hash", "vm-affinity", "flow-hash", "round-robin", "least-pending", "load-based", "explicit-failover",
}

func (p Policy) String() string {
	if p < numPolicies {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", p)
}

// PolicyNames lists every policy's config name, in Policy order.
func PolicyNames() []string { return policyNames[:] }

func parsePolicy(s string) (Policy, error) {
	for p, n := range policyNames {
		if n == s {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("%q is not a policy", s)
}

// Driver is the engine a VM's actions go through.
type Driver uint8

// The drivers.
const (
	DriverNone Driver = iota
	DriverQMP
	DriverLibvirt
	DriverExec
	numDrivers
)

var driverNames = [numDrivers]string{"none", "qmp", "libvirt", "exec"}

func (d Driver) String() string {
	if d < numDrivers {
		return driverNames[d]
	}
	return fmt.Sprintf("driver(%d)", d)
}

func parseDriver(s string) (Driver, error) {
	if s == "" {
		return DriverNone, nil
	}
	for d, n := range driverNames {
		if n == s {
			return Driver(d), nil
		}
	}
	return 0, fmt.Errorf("%q is not a driver", s)
}

// Response is what the DoS responder does while a VM is under attack.
type Response uint8

// The responses, in the order the config documents them.
const (
	RespRateLimit Response = iota
	RespDelay
	RespDeprioritise
	RespSuspend
	RespSuspendOthers
	RespFailover
	RespMigrate
	numResponses
)

var responseNames = [numResponses]string{"rate-limit", "delay", "deprioritise", "suspend", "suspend-others", "failover", "migrate"}

func (r Response) String() string {
	if r < numResponses {
		return responseNames[r]
	}
	return fmt.Sprintf("response(%d)", r)
}

func parseResponse(s string) (Response, error) {
	for r, n := range responseNames {
		if n == s {
			return Response(r), nil
		}
	}
	return 0, fmt.Errorf("%q is not a DoS response", s)
}

// OverAllocationAction is what a persistently over-allocated VM gets.
type OverAllocationAction uint8

// The over-allocation actions.
const (
	OverSuspend OverAllocationAction = iota
	OverMigrate
)

func (a OverAllocationAction) String() string {
	if a == OverMigrate {
		return "migrate"
	}
	return "suspend"
}

func parseOverAllocationAction(s string) (OverAllocationAction, error) {
	switch s {
	case "suspend":
		return OverSuspend, nil
	case "migrate":
		return OverMigrate, nil
	}
	return 0, fmt.Errorf("%q is not suspend or migrate", s)
}

// MAC is a 48-bit Ethernet address in the low bits of a uint64, most
// significant byte first: fastpath.MAC's encoding, so the tables take it
// with a conversion.
type MAC uint64

// ParseMAC reads "02:00:00:00:00:01"; group addresses are refused, a VM
// cannot own one.
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return 0, fmt.Errorf("%q is not a MAC address like 02:00:00:00:00:01", s)
	}
	if hw[0]&1 == 1 {
		return 0, fmt.Errorf("%s is a multicast address", s)
	}
	var m MAC
	for _, b := range hw {
		m = m<<8 | MAC(b)
	}
	return m, nil
}

func (m MAC) String() string {
	var b [6]byte
	for i := range b {
		b[i] = byte(m >> (40 - 8*i))
	}
	return net.HardwareAddr(b[:]).String()
}
