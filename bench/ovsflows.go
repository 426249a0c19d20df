package main

// OVS must forward the VMs' frames the way a production bridge does: to
// the bond alone. Its NORMAL action floods a frame whose destination it
// has not learned, to the bond and to the bridge's internal port (a kernel
// tap), which would charge OVS for a copy no real host makes. A bridge in
// service has learned the MACs behind its uplinks; the bench gives it that
// entry, and checks the datapath's flows before each measurement.

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// bondMembers are the ports startOVS puts in bond0.
var bondMembers = []string{"p0", "p1"}

// learnDst adds a static forwarding entry for mac on a bond member, VLAN
// 0: OVS refuses fdb/add on the bond itself, and an entry on a member
// stands for the whole bond (NORMAL then outputs to the bond, which picks
// the member).
func (o *ovs) learnDst(mac string) error {
	if out, err := o.appctl("fdb/add", "br0", bondMembers[0], "0", mac); err != nil {
		return fmt.Errorf("ovs-appctl fdb/add br0 %s 0 %s: %v: %s", bondMembers[0], mac, err, out)
	}
	return nil
}

// checkVMFlows reads the datapath's flows and fails unless every flow
// from a VM port (vm1, vm2, ...) outputs to bond members only, and at
// least one such flow exists.
func (o *ovs) checkVMFlows() error {
	show, err := o.appctl("dpctl/show")
	if err != nil {
		return fmt.Errorf("ovs-appctl dpctl/show: %v: %s", err, show)
	}
	dump, err := o.appctl("dpctl/dump-flows")
	if err != nil {
		return fmt.Errorf("ovs-appctl dpctl/dump-flows: %v: %s", err, dump)
	}
	if err := vmFlowsToBond(show, dump); err != nil {
		return fmt.Errorf("OVS does not forward the VMs' frames to the bond alone, so its cycles would include flooding: %v\n"+
			"dpctl/dump-flows:\n%s", err, dump)
	}
	return nil
}

var (
	dpPortRE  = regexp.MustCompile(`port (\d+): (\S+)`)
	inPortRE  = regexp.MustCompile(`(?:^|,)in_port\(([^)]+)\)`)
	actionsRE = regexp.MustCompile(`actions:(.*)$`)
)

// vmFlowsToBond checks dpctl/dump-flows output (ports by number or name,
// named by dpctl/show's "port N: NAME" lines).
func vmFlowsToBond(show, dump string) error {
	names := map[string]string{}
	for _, m := range dpPortRE.FindAllStringSubmatch(show, -1) {
		names[m[1]] = m[2]
	}
	name := func(p string) string {
		if n, ok := names[p]; ok {
			return n
		}
		return p
	}
	vmFlows := 0
	for _, line := range strings.Split(dump, "\n") {
		in := inPortRE.FindStringSubmatch(line)
		act := actionsRE.FindStringSubmatch(line)
		if in == nil || act == nil || !strings.HasPrefix(name(in[1]), "vm") {
			continue
		}
		vmFlows++
		outs := flowOutputs(act[1])
		if len(outs) == 0 {
			return fmt.Errorf("a flow from %s outputs nowhere (actions:%s)", name(in[1]), act[1])
		}
		for _, p := range outs {
			if !slices.Contains(bondMembers, name(p)) {
				return fmt.Errorf("a flow from %s outputs to %s, not only to the bond's members %s (actions:%s)",
					name(in[1]), name(p), strings.Join(bondMembers, ", "), act[1])
			}
		}
	}
	if vmFlows == 0 {
		return fmt.Errorf("no datapath flow from a VM port after the warm-up")
	}
	return nil
}

// flowOutputs is the output ports of a datapath flow's actions: the
// top-level actions that are a bare port number or name (an output), not
// drop or an action with arguments (set(...), push_vlan(...), ...).
func flowOutputs(actions string) []string {
	var outs []string
	depth, start := 0, 0
	field := func(end int) {
		a := strings.TrimSpace(actions[start:end])
		if a != "" && a != "drop" && !strings.ContainsAny(a, "()=") {
			outs = append(outs, a)
		}
	}
	for i, c := range actions {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				field(i)
				start = i + 1
			}
		}
	}
	field(len(actions))
	return outs
}
