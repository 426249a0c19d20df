package fastpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// team builds one team of nNICs NICs and nVMs VMs (VM i has MAC 02::i+1)
// under policy p; every NIC is usable unless listed in down.
func team(t testing.TB, p Policy, nNICs, nVMs int, down ...int) *Snapshot {
	s := &Snapshot{MaxFrame: 1514, Teams: []Team{{Name: "t", Policy: p}}}
	for i := 0; i < nNICs; i++ {
		s.NICs = append(s.NICs, NIC{Name: "nic", Team: 0, LinkUp: true, AdminUp: true, SpeedBps: 10e9})
		s.Teams[0].NICs = append(s.Teams[0].NICs, i)
	}
	for _, n := range down {
		s.NICs[n].LinkUp = false
	}
	for i := 0; i < nVMs; i++ {
		s.VMs = append(s.VMs, VM{Name: "vm", Team: 0, MACs: []MAC{MAC(0x020000000001 + i)}, Connected: true, Preferred: -1, Assigned: -1})
	}
	require.NoError(t, s.Build())
	return s
}

func rebuild(t testing.TB, s *Snapshot) *Snapshot {
	require.NoError(t, s.Build())
	return s
}

func TestVMAffinitySpreadsByPortOrderFailsOverAndBack(t *testing.T) {
	s := team(t, PolicyVMAffinity, 2, 3)
	assert.Equal(t, []int{0, 1, 0}, []int{s.VMAffinity(0), s.VMAffinity(1), s.VMAffinity(2)})

	s.NICs[0].LinkUp = false
	rebuild(t, s)
	assert.Equal(t, []int{1, 1, 1}, []int{s.VMAffinity(0), s.VMAffinity(1), s.VMAffinity(2)}, "all on the NIC left")

	s.NICs[0].LinkUp = true
	rebuild(t, s)
	assert.Equal(t, []int{0, 1, 0}, []int{s.VMAffinity(0), s.VMAffinity(1), s.VMAffinity(2)}, "back home when it returns")

	s.NICs[0].LinkUp, s.NICs[1].LinkUp = false, false
	rebuild(t, s)
	assert.Equal(t, -1, s.VMAffinity(0))
}

func TestVMAffinityHonoursPreferredNIC(t *testing.T) {
	s := team(t, PolicyVMAffinity, 3, 2)
	s.VMs[0].Preferred = 2
	rebuild(t, s)
	assert.Equal(t, 2, s.VMAffinity(0))
	s.NICs[2].AdminUp = false
	rebuild(t, s)
	assert.Contains(t, []int{0, 1}, s.VMAffinity(0), "admin down counts as unavailable")
	s.NICs[2].AdminUp = true
	s.NICs[2].FailingOver = true
	rebuild(t, s)
	assert.Contains(t, []int{0, 1}, s.VMAffinity(0), "a NIC failing over is avoided")
}

func TestBuildRejectsPreferredNICOfAnotherTeam(t *testing.T) {
	s := team(t, PolicyVMAffinity, 2, 1)
	s.VMs[0].Preferred = 5
	assert.Error(t, s.Build())
}

func TestLoadBasedFollowsAssignmentWhileUsable(t *testing.T) {
	s := team(t, PolicyLoadBased, 2, 2)
	assert.Equal(t, 0, s.LoadBased(0), "without assignment: affinity")
	s.VMs[0].Assigned = 1
	rebuild(t, s)
	assert.Equal(t, 1, s.LoadBased(0))
	s.NICs[1].LinkUp = false
	rebuild(t, s)
	assert.Equal(t, 0, s.LoadBased(0), "assigned NIC lost: affinity again")
}

func TestExplicitFailoverOrder(t *testing.T) {
	s := team(t, PolicyExplicitFailover, 3, 2)
	s.Teams[0].Active = []int{1}
	s.Teams[0].Standby = []int{2, 0}
	rebuild(t, s)
	assert.Equal(t, 1, s.ExplicitFailover(0))
	for _, c := range []struct {
		down []int
		want int
	}{{[]int{1}, 2}, {[]int{1, 2}, 0}, {[]int{2}, 1}, {[]int{0, 1, 2}, -1}} {
		for n := range s.NICs {
			s.NICs[n].LinkUp = true
		}
		for _, n := range c.down {
			s.NICs[n].LinkUp = false
		}
		rebuild(t, s)
		assert.Equal(t, c.want, s.ExplicitFailover(0), "down %v", c.down)
		nic, fixed := s.BurstNIC(0, nil)
		assert.True(t, fixed)
		assert.Equal(t, c.want, nic, "every VM follows the list")
	}
}

func TestRoundRobinAlternatesOverUsableNICs(t *testing.T) {
	var turn uint32
	var got []int
	for i := 0; i < 6; i++ {
		got = append(got, RoundRobin([]int{0, 2, 3}, &turn))
	}
	assert.Equal(t, []int{0, 2, 3, 0, 2, 3}, got)
}

func TestLeastPendingPicksSmallestLoadFirstOnTie(t *testing.T) {
	load := []float64{0.5, 0.2, 0.2, 0.1}
	assert.Equal(t, 3, LeastPending([]int{0, 1, 2, 3}, load))
	assert.Equal(t, 1, LeastPending([]int{0, 1, 2}, load))
	assert.Equal(t, 0, LeastPending([]int{0}, load))
}

func TestHighPriorityVMTakesLeastLoadedNICWhateverThePolicy(t *testing.T) {
	s := team(t, PolicyVMAffinity, 2, 2)
	s.VMs[0].Priority = 1
	rebuild(t, s)
	nic, fixed := s.BurstNIC(0, []float64{0.9, 0.1})
	assert.True(t, fixed)
	assert.Equal(t, 1, nic)
	nic, _ = s.BurstNIC(0, []float64{0.1, 0.9})
	assert.Equal(t, 0, nic)
	nic, _ = s.BurstNIC(1, []float64{0.9, 0.1})
	assert.Equal(t, 1, nic, "a normal VM keeps its affinity NIC")
}

func TestPerPacketPolicies(t *testing.T) {
	for _, p := range []Policy{PolicySrcMACHash, PolicyFlowHash, PolicyRoundRobin, PolicyLeastPending} {
		s := team(t, p, 2, 1)
		_, fixed := s.BurstNIC(0, make([]float64, 2))
		assert.False(t, fixed, p.String())
	}
	s := team(t, PolicyFlowHash, 2, 1)
	up := s.Teams[0].Up
	// Non-IP frames fall back to the source MAC.
	arp := frame(Broadcast, s.VMs[0].MACs[0], 60)
	arp[12], arp[13] = 0x08, 0x06
	assert.Equal(t, SrcMACHash(s.VMs[0].MACs[0], up), s.PacketNIC(PolicyFlowHash, up, arp, s.VMs[0].MACs[0], nil, nil))
}

func TestParsePolicyRoundTrip(t *testing.T) {
	for _, n := range PolicyNames() {
		p, err := ParsePolicy(n)
		require.NoError(t, err)
		assert.Equal(t, n, p.String())
	}
	_, err := ParsePolicy("random")
	assert.Error(t, err)
}

func TestEgressUnderEachPolicyHasANICOrSaysWhyNot(t *testing.T) {
	for _, p := range []Policy{PolicySrcMACHash, PolicyVMAffinity, PolicyFlowHash, PolicyRoundRobin,
		PolicyLeastPending, PolicyLoadBased} {
		s := team(t, p, 2, 1)
		f := frame(macPeer, s.VMs[0].MACs[0], 64)
		nic, drop := s.Egress(0, f, 64)
		assert.Equal(t, NotDropped, drop, p.String())
		assert.Contains(t, []int{0, 1}, nic)
		s = team(t, p, 2, 1, 0, 1)
		_, drop = s.Egress(0, f, 64)
		assert.Equal(t, DropNoNIC, drop, p.String())
	}
}
