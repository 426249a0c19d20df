package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// Each NIC-selection policy with real traffic: two VMs send through two tap
// NICs while both are up, while nic2's cable is pulled (ip link set dtap1
// down), and after it is plugged back.

const (
	polMAC1 = "02:00:00:00:00:01"
	polMAC2 = "02:00:00:00:00:02"
)

// twoNICTeam is two tap NICs and two VMs in one team; team, nic, vm1 and
// vm2 are extra TOML keys for the team, each NIC and each VM.
func twoNICTeam(l *lab.Lab, team, nic, vm1, vm2 string) string {
	return labConfig(l, "", team, []string{nic, nic},
		vmConf{name: "vm1", mac: polMAC1, keys: vm1}, vmConf{name: "vm2", mac: polMAC2, keys: vm2})
}

// phase is what each tap captured from each VM in one round of sending.
type phase struct {
	perTap [2]map[string]int
	flows  [2]map[lab.Flow]int
}

func (p phase) on(tap int, mac string) int { return p.perTap[tap][mac] }

// sendRound plays both VMs for n frames each over 16 flows and returns what
// each tap captured of them.
func sendRound(t *testing.T, l *lab.Lab, taps [2]*lab.Tap, n int) phase {
	t.Helper()
	before := [2]map[string]int{taps[0].Counts(), taps[1].Counts()}
	flowsBefore := [2]map[lab.Flow]int{taps[0].Flows(), taps[1].Flows()}
	// The generator holds on after sending: a VM that went away would take
	// what uplinkd had not yet taken from its virtqueue with it.
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--count", fmt.Sprint(n), "--rate", "20000", "--size", "128", "--flows", "16", "--progress", "50ms", "--hold")
	rep := sentAll(g)
	require.EqualValues(t, n, lab.VM(rep, "vm1")["sent"])
	require.EqualValues(t, n, lab.VM(rep, "vm2")["sent"])
	for _, mac := range []string{polMAC1, polMAC2} {
		waitTotal(t, taps, mac, before[0][mac]+before[1][mac]+n)
	}
	g.Finish(true)
	var p phase
	for i := range taps {
		p.perTap[i] = map[string]int{}
		for mac, c := range taps[i].Counts() {
			p.perTap[i][mac] = c - before[i][mac]
		}
		p.flows[i] = map[lab.Flow]int{}
		for f, c := range taps[i].Flows() {
			if d := c - flowsBefore[i][f]; d > 0 {
				p.flows[i][f] = d
			}
		}
	}
	return p
}

// waitTotal waits until both taps together captured want frames from mac.
func waitTotal(t *testing.T, taps [2]*lab.Tap, mac string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for taps[0].FromSrc(mac)+taps[1].FromSrc(mac) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d+%d frames captured, want %d", mac, taps[0].FromSrc(mac), taps[1].FromSrc(mac), want)
		}
		// Each tap wakes its waiter on every frame; wait on the one
		// still short, briefly, then look at both again.
		taps[0].WaitFromSrc(mac, want-taps[1].FromSrc(mac), 50*time.Millisecond)
	}
	assert.Equal(t, want, taps[0].FromSrc(mac)+taps[1].FromSrc(mac), "%s: no frame twice", mac)
}

// policyCase says what each round must look like.
type policyCase struct {
	team, vm1, vm2 string
	// bothUp checks a round with both NICs up; first is the first such
	// round, for checks that the return restores the same mapping.
	bothUp func(t *testing.T, p, first phase)
}

const roundFrames = 1000

func TestPoliciesRouteAndFollowANICThatIsLostAndReturns(t *testing.T) {
	cases := map[string]policyCase{
		"src-mac-hash": {team: `policy = "src-mac-hash"`, bothUp: func(t *testing.T, p, first phase) {
			for _, mac := range []string{polMAC1, polMAC2} {
				oneNIC(t, p, mac)
				assert.Equal(t, first.on(0, mac), p.on(0, mac), "%s returns to its NIC", mac)
			}
		}},
		"vm-affinity": {team: `policy = "vm-affinity"`, vm1: `preferred_nic = "nic2"`, vm2: `preferred_nic = "nic1"`,
			bothUp: func(t *testing.T, p, _ phase) {
				assert.Equal(t, roundFrames, p.on(1, polMAC1), "vm1 on its preferred nic2")
				assert.Equal(t, roundFrames, p.on(0, polMAC2), "vm2 on its preferred nic1")
			}},
		// Below its rebalance threshold, load-based is vm-affinity.
		"load-based": {team: `policy = "load-based"`, vm1: `preferred_nic = "nic2"`, vm2: `preferred_nic = "nic1"`,
			bothUp: func(t *testing.T, p, _ phase) {
				assert.Equal(t, roundFrames, p.on(1, polMAC1), "vm1 on its preferred nic2")
				assert.Equal(t, roundFrames, p.on(0, polMAC2), "vm2 on its preferred nic1")
			}},
		"explicit-failover": {team: "policy = \"explicit-failover\"\nactive = [\"nic2\"]\nstandby = [\"nic1\"]",
			bothUp: func(t *testing.T, p, _ phase) {
				assert.Equal(t, roundFrames, p.on(1, polMAC1), "everything on the active NIC")
				assert.Equal(t, roundFrames, p.on(1, polMAC2), "everything on the active NIC")
			}},
		"round-robin": {team: `policy = "round-robin"`, bothUp: func(t *testing.T, p, _ phase) {
			for _, mac := range []string{polMAC1, polMAC2} {
				assert.InDelta(t, roundFrames/2, p.on(0, mac), 1, "%s alternates", mac)
				assert.InDelta(t, roundFrames/2, p.on(1, mac), 1, "%s alternates", mac)
			}
		}},
		"flow-hash": {team: `policy = "flow-hash"`, bothUp: func(t *testing.T, p, first phase) {
			used := [2]int{}
			for i := range p.flows {
				for f := range p.flows[i] {
					assert.Zero(t, p.flows[1-i][f], "flow %v on one NIC only", f)
					assert.NotZero(t, first.flows[i][f], "flow %v back on its first NIC", f)
					used[i]++
				}
			}
			assert.NotZero(t, used[0], "32 flows use both NICs")
			assert.NotZero(t, used[1], "32 flows use both NICs")
		}},
		"least-pending": {team: `policy = "least-pending"`, bothUp: func(t *testing.T, p, _ phase) {
			for tap := range 2 {
				n := p.on(tap, polMAC1) + p.on(tap, polMAC2)
				assert.Greater(t, n, 2*roundFrames/10, "tap %d carries a fair part", tap)
			}
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			l := lab.New(t, bins)
			d := l.StartUplinkd(twoNICTeam(l, c.team, "", c.vm1, c.vm2))
			taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}

			first := sendRound(t, l, taps, roundFrames)
			c.bothUp(t, first, first)

			d.SetLink("dtap1", "nic2", false)
			lost := sendRound(t, l, taps, roundFrames)
			assert.Equal(t, roundFrames, lost.on(0, polMAC1), "vm1 all on nic1 while nic2 is down")
			assert.Equal(t, roundFrames, lost.on(0, polMAC2), "vm2 all on nic1 while nic2 is down")

			d.SetLink("dtap1", "nic2", true)
			back := sendRound(t, l, taps, roundFrames)
			c.bothUp(t, back, first)

			st := d.Stop()
			for _, vm := range []string{"vm1", "vm2"} {
				assert.Empty(t, st["vms"].(map[string]any)[vm].(map[string]any)["drops"], "%s: no drops", vm)
			}
		})
	}
}

// oneNIC checks that all of a VM's frames in a round left by one NIC.
func oneNIC(t *testing.T, p phase, mac string) {
	t.Helper()
	assert.True(t, p.on(0, mac) == 0 || p.on(1, mac) == 0, "%s on one NIC: %d and %d", mac, p.on(0, mac), p.on(1, mac))
}

func TestLoadBasedMovesAVMOffAHotNIC(t *testing.T) {
	l := lab.New(t, bins)
	// Both VMs prefer nic1; each sends 8 Mbit/s, so nic1 runs at 80 % of
	// its 20 Mbit/s, above the 50 % threshold, and one VM must move.
	d := l.StartUplinkd(twoNICTeam(l, "policy = \"load-based\"\nrebalance_threshold = 0.5\nrebalance_hold = \"30ms\"",
		`speed = "20M"`, `preferred_nic = "nic1"`, `preferred_nic = "nic1"`))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	mark := d.Mark()
	g := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1), "--vm", lab.VMArg("vm2", l.Sock("vm2"), polMAC2),
		"--rate", "1000", "--size", "1000", "--hold")
	ev := d.WaitEventSince(mark, "rebalance", func(e lab.Event) bool { return e.Str("event") == "rebalance" })
	assert.Equal(t, "nic1", ev.Str("from"))
	assert.Equal(t, "nic2", ev.Str("to"))
	moved := map[string]string{"vm1": polMAC1, "vm2": polMAC2}[ev.Str("vm")]
	require.NotEmpty(t, moved)
	stay := polMAC1
	if moved == polMAC1 {
		stay = polMAC2
	}
	assert.Greater(t, taps[1].WaitFromSrc(moved, 200, 20*time.Second), 199, "the moved VM's frames leave by nic2")
	assert.Zero(t, taps[1].FromSrc(stay), "the other VM stays on nic1")
	g.Finish(true)
	d.Stop()
}
