package fastpath

import "fmt"

// Policy is how a team spreads its VMs' packets over its NICs.
type Policy uint8

const (
	// PolicySrcMACHash: a hash of the source MAC picks the NIC.
	PolicySrcMACHash Policy = iota
	// PolicyVMAffinity: each VM on its preferred NIC (or one spread by
	// port order) while that NIC is usable, on another usable one
	// otherwise, and back when it returns.
	PolicyVMAffinity
	// PolicyFlowHash: a hash of the IPv4/IPv6 5-tuple picks the NIC, so one
	// flow keeps its order.
	PolicyFlowHash
	// PolicyRoundRobin: one VM's packets take the usable NICs in turn.
	PolicyRoundRobin
	// PolicyLeastPending: each packet takes the NIC with the smallest
	// pending transfer load.
	PolicyLeastPending
	// PolicyLoadBased: vm-affinity, with ctrl moving VMs off a NIC that
	// stays above a utilisation threshold.
	PolicyLoadBased
	// PolicyExplicitFailover: every VM on the first usable NIC of the
	// active list, else of the standby list.
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

// ParsePolicy reads a policy's config name.
func ParsePolicy(s string) (Policy, error) {
	for p, n := range policyNames {
		if n == s {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("%q is not a policy", s)
}

// PolicyNames lists every policy's config name.
func PolicyNames() []string { return policyNames[:] }

// VMAffinity is the NIC a VM uses under vm-affinity: its preferred NIC
// while usable; without a preference, the team NIC at its slot in port
// order while usable; otherwise a usable NIC spread by slot. -1 when the
// team has no usable NIC.
func (s *Snapshot) VMAffinity(vm int) int {
	v := &s.VMs[vm]
	t := &s.Teams[v.Team]
	home := v.Preferred
	if home < 0 && len(t.NICs) > 0 {
		home = t.NICs[v.Slot%len(t.NICs)]
	}
	if home >= 0 && s.NICs[home].Usable() && !s.NICs[home].Standby {
		return home
	}
	if len(t.Up) == 0 {
		return -1
	}
	// Spread over the usable NICs that are not standby, if any.
	active := 0
	for _, n := range t.Up {
		if !s.NICs[n].Standby {
			active++
		}
	}
	if active == 0 {
		return t.Up[v.Slot%len(t.Up)]
	}
	k := v.Slot % active
	for _, n := range t.Up {
		if !s.NICs[n].Standby {
			if k == 0 {
				return n
			}
			k--
		}
	}
	return -1
}

// LoadBased is the NIC a VM uses under load-based: where ctrl's balancer
// assigned it while that NIC is usable, else its vm-affinity NIC.
func (s *Snapshot) LoadBased(vm int) int {
	if a := s.VMs[vm].Assigned; a >= 0 && s.NICs[a].Usable() {
		return a
	}
	return s.VMAffinity(vm)
}

// ExplicitFailover is the first usable NIC of the team's active list,
// else of its standby list, or -1.
func (s *Snapshot) ExplicitFailover(team int) int {
	t := &s.Teams[team]
	// A NIC back from a failure with failback off is passed over while
	// any other listed NIC can carry the traffic.
	for _, standbyToo := range [2]bool{false, true} {
		for _, list := range [2][]int{t.Active, t.Standby} {
			for _, n := range list {
				if s.NICs[n].Usable() && (standbyToo || !s.NICs[n].Standby) {
					return n
				}
			}
		}
	}
	return -1
}

// LeastPending is the NIC in up with the smallest pending load (load is
// indexed by NIC); the first wins a tie. up must not be empty.
func LeastPending(up []int, load []float64) int {
	best := up[0]
	for _, n := range up[1:] {
		if load[n] < load[best] {
			best = n
		}
	}
	return best
}

// RoundRobin is the next NIC in up after the one *turn points at, and
// advances the turn. up must not be empty.
func RoundRobin(up []int, turn *uint32) int {
	n := up[*turn%uint32(len(up))]
	*turn++
	return n
}

// BurstNIC is the NIC a whole burst from vm leaves by, for a VM whose NIC
// does not depend on the packet: a high-priority VM takes the least
// loaded usable NIC; per-VM policies give their NIC. ok is false when the
// NIC is chosen per packet. nic is -1 when no NIC is usable.
func (s *Snapshot) BurstNIC(vm int, load []float64) (nic int, ok bool) {
	v := &s.VMs[vm]
	t := &s.Teams[v.Team]
	if v.Priority > 0 {
		if len(t.Up) == 0 {
			return -1, true
		}
		if load == nil {
			return t.Up[0], true
		}
		return LeastPending(t.Up, load), true
	}
	switch t.Policy {
	case PolicyVMAffinity:
		return s.VMAffinity(vm), true
	case PolicyLoadBased:
		return s.LoadBased(vm), true
	case PolicyExplicitFailover:
		return s.ExplicitFailover(v.Team), true
	}
	return -1, false
}

// PacketNIC is the NIC one frame of a per-packet policy leaves by. src is
// the frame's (already checked) source MAC. up must not be empty.
func (s *Snapshot) PacketNIC(p Policy, up []int, frame []byte, src MAC, turn *uint32, load []float64) int {
	switch p {
	case PolicyFlowHash:
		if h, ok := FlowHash(frame); ok {
			return PickByHash(h, up)
		}
	case PolicyRoundRobin:
		return RoundRobin(up, turn)
	case PolicyLeastPending:
		return LeastPending(up, load)
	}
	return SrcMACHash(src, up)
}

// PickNIC is the NIC a vetted frame of vm leaves by under its team's
// policy, or -1 when the team has no usable NIC. The worker's egress does
// the same, split into a per-burst and a per-packet part.
func (s *Snapshot) PickNIC(vm int, frame []byte, src MAC, turn *uint32, load []float64) int {
	if nic, fixed := s.BurstNIC(vm, load); fixed {
		return nic
	}
	t := &s.Teams[s.VMs[vm].Team]
	if len(t.Up) == 0 {
		return -1
	}
	return s.PacketNIC(t.Policy, t.Up, frame, src, turn, load)
}
