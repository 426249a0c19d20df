package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
)

// Admission with real traffic: token-bucket limits, proportional share,
// reservations and priority, measured on the kernel side of a tap NIC, and
// the over-allocation decision. Rates are what the tap received over a
// window the test times itself; the generator offers more than each VM may
// send, so every VM is held back and its virtqueue is its queue.

// oneNICTeam is one tap NIC of the given speed (TOML value; "" for the
// link's) and the given VMs; extra goes at the top level.
func oneNICTeam(l *lab.Lab, speed string, extra string, vms ...vmConf) string {
	nic := ""
	if speed != "" {
		nic = fmt.Sprintf("speed = %q", speed)
	}
	return labConfig(l, extra, `policy = "src-mac-hash"`, []string{nic}, vms...)
}

// genArgs plays vms for sendFor, then holds on, so that what they sent can
// drain from their virtqueues.
func genArgs(l *lab.Lab, size int, vms ...vmConf) []string {
	return genArgsFor(l, sendFor, size, vms...)
}

func genArgsFor(l *lab.Lab, sendFor time.Duration, size int, vms ...vmConf) []string {
	args := []string{"--size", fmt.Sprint(size), "--hold", "--progress", "100ms", "--flows", "4", "--duration", sendFor.String()}
	for _, v := range vms {
		args = append(args, "--vm", fmt.Sprintf("%s,rate=%g", lab.VMArg(v.name, l.Sock(v.name), v.mac), v.rate))
	}
	return args
}

// sendFor covers the warmup and the measurement window.
const sendFor = 7 * time.Second

// measure returns each MAC's bits/s on the tap over window, after the
// rates have had warmup to settle.
func measure(tap *lab.Tap, size int, warmup, window time.Duration) map[string]float64 {
	time.Sleep(warmup)
	c0, t0 := tap.Counts(), time.Now()
	time.Sleep(window) // the measurement window itself, not a wait for an event
	c1, secs := tap.Counts(), time.Since(t0).Seconds()
	out := map[string]float64{}
	for mac, n := range c1 {
		out[mac] = float64(n-c0[mac]) * float64(size) * 8 / secs
	}
	return out
}

// sentAll waits until the generator has stopped sending and returns its
// last progress line.
func sentAll(g *lab.Gen) lab.Event {
	return g.WaitProgress("sending done", func(e lab.Event) bool { return e["sending"] == false })
}

// stopAndCheckNothingLost waits until the generator stopped sending and
// the tap has every frame it sent (its virtqueue drained at the VM's
// rate), and checks that uplinkd dropped nothing.
func stopAndCheckNothingLost(t *testing.T, d *lab.Daemon, g *lab.Gen, tap *lab.Tap, vms ...vmConf) {
	t.Helper()
	rep := sentAll(g)
	for _, v := range vms {
		sent := int(lab.VM(rep, v.name)["sent"])
		got := tap.WaitFromSrc(v.mac, sent, 30*time.Second)
		assert.Equal(t, sent, got, "%s: every frame the generator sent left by the NIC", v.name)
	}
	g.Finish(true)
	assert.Zero(t, tap.KernelDrops(), "the capture lost nothing")
	st := d.Stop()
	for _, v := range vms {
		assert.Empty(t, st["vms"].(map[string]any)[v.name].(map[string]any)["drops"], "%s: no drops", v.name)
		assert.Positive(t, st.Num("vms."+v.name+".held_loops"), "%s was held back", v.name)
	}
}

func TestRateLimitHoldsWithin2PercentAndLosesNothing(t *testing.T) {
	for _, c := range []struct {
		size  int
		limit string
		bps   float64
	}{{64, "10M", 10e6}, {1514, "100M", 100e6}} { // 1514 B: a 1518-byte frame with its CRC
		t.Run(fmt.Sprintf("%dB", c.size), func(t *testing.T) {
			l := lab.New(t, bins)
			offer := 2 * c.bps / 8 / float64(c.size)
			vm := vmConf{name: "vm1", mac: polMAC1, keys: fmt.Sprintf("limit = %q", c.limit), rate: offer}
			d := l.StartUplinkd(oneNICTeam(l, "", "", vm))
			tap := l.OpenTap("dtap0")
			g := l.StartGen(genArgs(l, c.size, vm)...)
			stalls := workerStalls(t, l)
			got := measure(tap, c.size, time.Second, 5*time.Second)[polMAC1]
			assertRate(t, c.bps, got, stalls(), 5*time.Second)
			stopAndCheckNothingLost(t, d, g, tap, vm)
		})
	}
}

func TestPacketRateLimit(t *testing.T) {
	l := lab.New(t, bins)
	vm := vmConf{name: "vm1", mac: polMAC1, keys: `limit_pps = "15k"`, rate: 30000}
	d := l.StartUplinkd(oneNICTeam(l, "", "", vm))
	tap := l.OpenTap("dtap0")
	g := l.StartGen(genArgs(l, 64, vm)...)
	stalls := workerStalls(t, l)
	got := measure(tap, 64, time.Second, 3*time.Second)[polMAC1] / 8 / 64
	assertRate(t, 15000, got, stalls(), 3*time.Second)
	stopAndCheckNothingLost(t, d, g, tap, vm)
}

// The NIC is scheduled at 21 Mbit/s; 1000-byte frames; every VM offers
// more than the whole NIC.
const (
	shareSize  = 1000
	shareSpeed = 21e6
	saturating = 2 * shareSpeed / 8 / shareSize
)

func TestSharesDivideAContendedNIC(t *testing.T) {
	l := lab.New(t, bins)
	vms := []vmConf{
		{name: "vm1", mac: polMAC1, keys: "shares = 1", rate: saturating},
		{name: "vm2", mac: polMAC2, keys: "shares = 2", rate: saturating},
		{name: "vm3", mac: "02:00:00:00:00:03", keys: "shares = 4", rate: saturating},
	}
	d := l.StartUplinkd(oneNICTeam(l, "21M", "", vms...))
	tap := l.OpenTap("dtap0")
	g := l.StartGen(genArgs(l, shareSize, vms...)...)
	got := measure(tap, shareSize, time.Second, 5*time.Second)
	for i, v := range vms {
		want := shareSpeed * []float64{1, 2, 4}[i] / 7
		assert.InEpsilon(t, want, got[v.mac], 0.05, "%s: want %.0f bit/s, got %.0f", v.name, want, got[v.mac])
	}
	stopAndCheckNothingLost(t, d, g, tap, vms...)
}

func TestReservationIsHonouredAgainstLargerShares(t *testing.T) {
	l := lab.New(t, bins)
	vms := []vmConf{
		{name: "vm1", mac: polMAC1, keys: "shares = 1\nreservation = \"12M\"", rate: saturating},
		{name: "vm2", mac: polMAC2, keys: "shares = 6", rate: saturating},
	}
	d := l.StartUplinkd(oneNICTeam(l, "21M", "", vms...))
	tap := l.OpenTap("dtap0")
	g := l.StartGen(genArgs(l, shareSize, vms...)...)
	got := measure(tap, shareSize, time.Second, 5*time.Second)
	// By shares alone vm1 would get 3 Mbit/s.
	assert.InEpsilon(t, 12e6, got[polMAC1], 0.05, "vm1 gets its reservation: %.0f", got[polMAC1])
	assert.InEpsilon(t, 9e6, got[polMAC2], 0.05, "vm2 gets the rest: %.0f", got[polMAC2])
	stopAndCheckNothingLost(t, d, g, tap, vms...)
}

func TestHighPriorityVMKeepsItsFullDemand(t *testing.T) {
	l := lab.New(t, bins)
	demand := 5e6 / 8 / shareSize // 5 Mbit/s
	vms := []vmConf{
		{name: "vm1", mac: polMAC1, keys: "shares = 1", rate: saturating},
		{name: "vm2", mac: polMAC2, keys: "shares = 1", rate: saturating},
		{name: "vm3", mac: "02:00:00:00:00:03", keys: "shares = 1\npriority = 1", rate: demand},
	}
	d := l.StartUplinkd(oneNICTeam(l, "21M", "", vms...))
	tap := l.OpenTap("dtap0")
	g := l.StartGen(genArgs(l, shareSize, vms...)...)
	got := measure(tap, shareSize, time.Second, 5*time.Second)
	assert.InEpsilon(t, 5e6, got["02:00:00:00:00:03"], 0.03, "vm3 gets all it asks for: %.0f", got["02:00:00:00:00:03"])
	assert.InEpsilon(t, 8e6, got[polMAC1], 0.05, "vm1 and vm2 split the rest: %.0f", got[polMAC1])
	assert.InEpsilon(t, 8e6, got[polMAC2], 0.05, "vm1 and vm2 split the rest: %.0f", got[polMAC2])

	rep := sentAll(g)
	sent := int(lab.VM(rep, "vm3")["sent"])
	assert.Equal(t, sent, tap.WaitFromSrc("02:00:00:00:00:03", sent, 30*time.Second))
	g.Finish(true)
	st := d.Stop()
	assert.Empty(t, st["vms"].(map[string]any)["vm3"].(map[string]any)["drops"])
}

func TestOverAllocationDecisionFiresAndStopsWhenTheVMCalmsDown(t *testing.T) {
	l := lab.New(t, bins)
	vm := vmConf{name: "vm1", mac: polMAC1, keys: `limit = "5M"`, rate: 2 * 5e6 / 8 / shareSize}
	d := l.StartUplinkd(oneNICTeam(l, "", "[resources]\nover_allocation_after = \"300ms\"\nover_allocation_action = \"migrate\"", vm))
	tap := l.OpenTap("dtap0")
	mark := d.Mark()
	g := l.StartGen(genArgsFor(l, 1500*time.Millisecond, shareSize, vm)...)
	first := d.WaitEventSince(mark, "over-allocation decision", func(e lab.Event) bool { return e.Str("event") == "over_allocation" })
	assert.Equal(t, "vm1", first.Str("vm"))
	assert.Equal(t, "migrate", first.Str("action"))
	d.WaitEventSince(mark, "a repeated decision", func(e lab.Event) bool {
		return e.Str("event") == "over_allocation" && e.Num("repeat") >= 1
	})

	// Calm down: stop sending; once the virtqueue has drained the VM is
	// under its allocation and no decision follows.
	rep := sentAll(g)
	sent := int(lab.VM(rep, "vm1")["sent"])
	require.Equal(t, sent, tap.WaitFromSrc(polMAC1, sent, 30*time.Second))
	calm := d.WaitEventSince(d.Mark(), "a status line after the drain", func(e lab.Event) bool { return e.Str("event") == "status" })
	calmMark := d.Mark()
	before := calm.Num("vms.vm1.over_allocation_decisions")
	// Status lines come every 50 ms: wait for 30 of them, three times the
	// decision period, and look for decisions among the events in between.
	n := 0
	d.WaitEventSince(calmMark, "30 status lines", func(e lab.Event) bool {
		if e.Str("event") == "status" {
			n++
		}
		return n >= 30
	})
	g.Finish(true)
	st := d.Stop()
	assert.Positive(t, before)
	assert.LessOrEqual(t, st.Num("vms.vm1.over_allocation_decisions"), before+1,
		"at most the decision already due when the VM calmed down")
}

// workerStalls starts counting the time uplinkd's worker spends in loop
// gaps of 1 ms or more; the function it returns says how much that was
// since, at most (each gap counted at its histogram bucket's bound). A
// shaped VM's tokens accrue only 2 ms ahead, so a worker stalled for
// 100 ms (this CI's VM stalls any loop that long now and then, C as much
// as Go: see the bench's c-loop-floor) sends that much less: the limit is
// a ceiling, and the shortfall is the stall, not the shaper.
func workerStalls(t *testing.T, l *lab.Lab) func() time.Duration {
	read := func() float64 {
		var r loopGaps
		require.NoError(t, json.Unmarshal([]byte(apiGet(t, l, "/v1/status")), &r))
		var us float64
		for i, c := range r.Counts {
			switch {
			case i == len(r.BoundsUS):
				us += float64(c) * r.MaxUS
			case r.BoundsUS[i] > 1024:
				us += float64(c) * r.BoundsUS[i]
			}
		}
		return us
	}
	base := read()
	return func() time.Duration { return time.Duration((read() - base) * float64(time.Microsecond)) }
}

// assertRate checks a shaped rate: never more than 2 % over the limit, and
// not more than 2 % under it beyond what the worker's stalls in the
// window took.
func assertRate(t *testing.T, limit, got float64, stalled, window time.Duration) {
	t.Helper()
	assert.LessOrEqual(t, got, limit*1.02, "over the limit %.0f", limit)
	floor := limit * (1 - 0.02 - stalled.Seconds()/window.Seconds())
	assert.GreaterOrEqual(t, got, floor, "limit %.0f, got %.0f; the worker stalled for at most %s", limit, got, stalled)
}
