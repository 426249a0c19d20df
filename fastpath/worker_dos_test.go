package fastpath

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// to readdresses an IP frame built by ethIP: from the network (peer) to
// dst.
func to(dst MAC, f []byte) []byte {
	dst.Put(f[0:6])
	macPeer.Put(f[6:12])
	return f
}

func synFrom(src string) []byte {
	return ethIP(etherTypeIPv4, ip4(ipProtoTCP, src, v4b, 0, 0, tcp(40000, 80, tcpFlagSYN)))
}

func TestDoSCountersCountAWatchedVMsTrafficBothWays(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[1].DoSWatch = true
	r := newRig(t, s, 1024)
	r.w.follow(s)
	var in [][]byte
	for i := 0; i < 200; i++ {
		in = append(in, to(macVM2, synFrom(fmt.Sprintf("198.51.100.%d", i))))
	}
	in = append(in,
		to(macVM2, ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 0, 0, l4(53, 33000, 8)))),
		to(macVM2, ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 0x2000, 0, l4(1, 2, 8)))),
		to(macVM2, ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(80, 40000, tcpFlagACK)))),
		to(macVM1, synFrom(v4a)), // vm1 is not watched
	)
	for i := 0; i < len(in); i += 32 {
		r.w.ingress(s, 0, r.mbufs(in[i:min(i+32, len(in))]...))
	}
	out := ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4b, v4a, 0, 0, tcp(40000, 80, tcpFlagSYN)))
	macVM2.Put(out[6:12])
	r.w.egress(s, 1, r.mbufs(out, out, out))
	r.w.lastTSC = 1 << 40 // past the window's end
	r.w.closeDoSWindow(s)
	r.w.publish()

	c := r.w.VMCounters(1)
	assert.EqualValues(t, 200, c[InSYN])
	assert.EqualValues(t, 1, c[InAmplification])
	assert.EqualValues(t, 1, c[InFragments])
	assert.EqualValues(t, 3, c[OutSYN])
	assert.InEpsilon(t, 201, float64(c[InSources]), 0.4, "200 spoofed sources and one real: %d", c[InSources])
	assert.EqualValues(t, 1, c[OutSources])
	assert.Zero(t, r.w.VMCounters(0)[InSYN], "vm1 is not watched")
	assert.EqualValues(t, 203, c[TxPackets], "counting drops nothing")
}

func TestRateLimitResponseDropsAttackTrafficAboveItsRate(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[1].AttackClasses = ClassSYN | ClassAmplification
	s.VMs[1].AttackLimitPPS = 10 // with the rig's 1 Hz TSC: one token a cycle, depth 1
	r := newRig(t, s, 1024)
	r.w.follow(s)
	syns := func() [][]byte {
		var f [][]byte
		for i := 0; i < 5; i++ {
			f = append(f, to(macVM2, synFrom(v4a)))
		}
		return append(f, to(macVM2, ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(80, 40000, tcpFlagACK)))))
	}
	for tsc := uint64(1); tsc <= 3; tsc++ {
		r.w.lastTSC = tsc
		r.w.ingress(s, 0, r.mbufs(syns()...))
	}
	r.w.publish()
	c := r.w.VMCounters(1)
	// The bucket starts empty: the first loop passes no SYN, each later one
	// the one token it earned. Every ACK passes.
	assert.EqualValues(t, 2+3, c[TxPackets])
	assert.EqualValues(t, 13, c[Drop(DropDoS)])
	assert.Equal(t, 13, r.io.PendingFree(), "dropped frames are freed")
}

func TestRateLimitOfZeroDropsEveryAttackFrame(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[1].AttackClasses = ClassSYN
	s.VMs[1].AttackLimitPPS = 0 // attack_limit_pps = 0: drop them all
	r := newRig(t, s, 1024)
	r.w.follow(s)
	for tsc := uint64(1); tsc <= 3; tsc++ {
		r.w.lastTSC = tsc * 1000 // long enough for any bucket to refill
		r.w.ingress(s, 0, r.mbufs(to(macVM2, synFrom(v4a)), to(macVM2, synFrom(v4a)),
			to(macVM2, ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(80, 40000, tcpFlagACK))))))
	}
	r.w.publish()
	c := r.w.VMCounters(1)
	assert.EqualValues(t, 6, c[Drop(DropDoS)], "no SYN passes a limit of 0")
	assert.EqualValues(t, 3, c[TxPackets], "frames outside the attack classes still do")
	assert.Equal(t, 6, r.io.PendingFree(), "dropped frames are freed")
}

func TestDelayResponseHoldsDeliveriesAndReleasesThemInABatch(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[0].HoldIngress = 10 * time.Second // 10 cycles of the rig's 1 Hz TSC
	r := newRig(t, s, 1024)
	r.w.follow(s)
	r.w.lastTSC = 100
	r.w.ingress(s, 0, r.mbufs(frame(macVM1, macPeer, 64), frame(macVM1, macPeer, 64), frame(Broadcast, macPeer, 64)))
	assert.EqualValues(t, 0, r.io.Tx(0).Len(), "held")
	assert.EqualValues(t, 1, r.io.Tx(1).Len(), "vm2's broadcast is not held")
	r.w.lastTSC = 109
	r.w.releaseHeld()
	assert.EqualValues(t, 0, r.io.Tx(0).Len(), "not yet due")
	r.w.lastTSC = 110
	r.w.releaseHeld()
	assert.EqualValues(t, 3, r.io.Tx(0).Len(), "one batch")
	r.w.publish()
	assert.EqualValues(t, 3, r.w.VMCounters(0)[HeldDeliveries])
	assert.EqualValues(t, 3, r.w.VMCounters(0)[TxPackets])

	// Held again, then the response ends: what waits goes at the next
	// release, ahead of what arrives after.
	r.w.ingress(s, 0, r.mbufs(frame(macVM1, macPeer, 64)))
	off := *s
	off.VMs = append([]VM(nil), s.VMs...)
	off.VMs[0].HoldIngress = 0
	off.Version++
	r.w.follow(&off)
	r.w.ingress(&off, 0, r.mbufs(frame(macVM1, macPeer, 64)))
	assert.EqualValues(t, 3, r.io.Tx(0).Len(), "still behind the held one")
	r.w.releaseHeld()
	assert.EqualValues(t, 5, r.io.Tx(0).Len())
}

func TestHeldDeliveriesAreFreedAndCountedAtShutdown(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[0].HoldIngress = time.Hour
	r := newRig(t, s, 1024)
	r.w.follow(s)
	r.w.ingress(s, 0, r.mbufs(frame(macVM1, macPeer, 64), frame(macVM1, macPeer, 64)))
	r.w.dropHeld()
	r.w.publish()
	assert.EqualValues(t, 2, r.w.VMCounters(0)[Drop(DropShutdown)])
	assert.Equal(t, 2, r.io.PendingFree())
}

func TestTheWindowsAroundAStallDoNotCountTheBacklogsSources(t *testing.T) {
	s := twoByTwo(t)
	s.VMs[1].DoSWatch = true
	r := newRig(t, s, 1024)
	r.w.hz = fakeHz
	r.w.follow(s)
	window := r.w.dosWindow
	sources := func(n int) {
		var in [][]byte
		for i := range n {
			in = append(in, to(macVM2, synFrom(fmt.Sprintf("198.51.%d.%d", i/200, i%200))))
		}
		for i := 0; i < len(in); i += 32 {
			r.w.ingress(s, 0, r.mbufs(in[i:min(i+32, len(in))]...))
		}
		r.io.Tx(0).Discard()
	}
	now := uint64(1000)
	loop := func(gap uint64) { // one iteration gap cycles after the last, then its window check
		now += gap
		r.w.account(now, 0)
		r.w.closeDoSWindow(s)
	}
	// The next window's end, in loops shorter than a window.
	closeWindow := func() { loop(window/2 + 1); loop(window/2 + 1) }
	loop(0)
	sources(20)
	closeWindow()
	r.w.publish()
	clean := r.w.VMCounters(1)[InSources]
	assert.InEpsilon(t, 20, float64(clean), 0.4)

	// A stall of ten windows: the backlog comes in across the window that
	// closes at the stall and the next one; neither counts.
	loop(10 * window)
	sources(400)
	closeWindow()
	r.w.publish()
	assert.Equal(t, clean, r.w.VMCounters(1)[InSources], "the backlog's sources are not a window's")

	// The window after is clean again.
	sources(50)
	closeWindow()
	r.w.publish()
	assert.InEpsilon(t, 50, float64(r.w.VMCounters(1)[InSources]), 0.4)
}
