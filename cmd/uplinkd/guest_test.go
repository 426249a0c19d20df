package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/fastpath"
)

// A real Linux guest under QEMU plays the VM: its virtio-net NIC is a
// vhost-user client of uplinkd's socket, and the guest kernel's pktgen
// sends unicast frames from the NIC's MAC.

const guestMAC = polMAC1

// guestLab starts uplinkd with one team of two tap NICs (src-mac-hash) and
// one VM, vm1, whose MAC is the guest's. nic is the tap the guest's frames
// leave by.
func guestLab(t *testing.T) (l *lab.Lab, d *lab.Daemon, taps [2]*lab.Tap, img lab.GuestImage, nic int) {
	l = lab.New(t, bins)
	img = lab.BuildGuestImage(t)
	d = l.StartUplinkd(labConfig(l, "", `policy = "src-mac-hash"`, []string{"", ""}, vmConf{name: "vm1", mac: guestMAC}))
	taps = [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	mac, err := fastpath.ParseMAC(guestMAC)
	require.NoError(t, err)
	return l, d, taps, img, fastpath.SrcMACHash(mac, []int{0, 1})
}

// sendingGuest boots a guest on vm1's socket sending 1000 frames/s to peer.
func sendingGuest(l *lab.Lab, img lab.GuestImage, name string) *lab.Guest {
	return l.StartGuest(img, lab.GuestSpec{Name: name, Socket: l.Sock("vm1"), MAC: guestMAC, Traffic: "pktgen", PPS: 1000, Dst: peer})
}

// waitFrames waits for n more frames from the guest on tap and says how
// fast they came.
func waitFrames(t *testing.T, tap *lab.Tap, n int, what string) {
	t.Helper()
	before, start := tap.FromSrc(guestMAC), time.Now()
	got := tap.WaitFromSrc(guestMAC, before+n, 30*time.Second) - before
	require.GreaterOrEqual(t, got, n, what)
	t.Logf("%s: %d frames in %s", what, got, time.Since(start).Round(time.Millisecond))
}

func TestGuestTrafficLeavesThroughUplinkdToATap(t *testing.T) {
	l, d, taps, img, nic := guestLab(t)
	sendingGuest(l, img, "g1")
	d.WaitVMConnected("vm1")
	waitFrames(t, taps[nic], 1000, "the guest's frames leave by the NIC its MAC hashes to")
	assert.Zero(t, taps[1-nic].FromSrc(guestMAC), "and by no other")

	// The guest is still sending: uplinkd stops cleanly under traffic.
	st := d.Stop()
	assert.Positive(t, st.Num("vms.vm1.out_pkts"))
	assert.Zero(t, st.Num("vms.vm1.drops.spoofed"), "every frame carried the guest's MAC")
}

func TestUplinkdSurvivesAKilledGuestAndAReconnect(t *testing.T) {
	l, d, taps, img, nic := guestLab(t)
	g1 := sendingGuest(l, img, "g1")
	waitFrames(t, taps[nic], 500, "the first guest sends")

	mark := d.Mark()
	g1.Kill()
	d.WaitEventSince(mark, "vm1 detached", func(e lab.Event) bool {
		return e.Str("event") == "vm_vhost" && e.Str("vm") == "vm1" && e["connected"] == false
	})

	sendingGuest(l, img, "g2")
	d.WaitEventSince(mark, "vm1 attached again", func(e lab.Event) bool {
		return e.Str("event") == "vm_vhost" && e.Str("vm") == "vm1" && e["connected"] == true
	})
	waitFrames(t, taps[nic], 500, "the second guest's frames leave on the same socket")
	d.Stop()
}

// An operator restarts uplinkd (an upgrade, a crash): the VM added at
// runtime is back, QEMU, a vhost-user client with reconnect=1, reconnects
// to the new uplinkd's socket and the guest's traffic goes on. The guest pings (pktgen stops for good when the
// guest's carrier drops, which it does while uplinkd is away).
func TestAGuestsTrafficGoesOnAfterUplinkdRestarts(t *testing.T) {
	l := lab.New(t, bins)
	img := lab.BuildGuestImage(t)
	// vm1 is added at runtime: it is back after each restart from
	// state.dir, and the guest finds its socket there.
	conf := labConfig(l, "", `policy = "src-mac-hash"`, []string{"", ""})
	d := l.StartUplinkd(conf)
	mustCtl(t, l, "vm", "add", "vm1", "--socket", l.Sock("vm1"), "--mac", guestMAC, "--team", "uplink")
	mac, err := fastpath.ParseMAC(guestMAC)
	require.NoError(t, err)
	nic := fastpath.SrcMACHash(mac, []int{0, 1})
	tap := l.OpenTap(fmt.Sprintf("dtap%d", nic))
	l.StartGuest(img, lab.GuestSpec{Name: "g1", Socket: l.Sock("vm1"), MAC: guestMAC, Traffic: "ping", PPS: 100, Dst: peer})
	waitFrames(t, tap, 100, "the guest sends")
	d.Stop()
	tap.Close()

	for restart := 1; restart <= 3; restart++ {
		d = l.StartUplinkd(conf)
		ready := time.Now()
		// The taps are net_tap's: they came back with uplinkd.
		tap = l.OpenTap(fmt.Sprintf("dtap%d", nic))
		d.WaitVMConnected("vm1")
		connected := time.Since(ready)
		require.GreaterOrEqual(t, tap.WaitFromSrc(guestMAC, 1, 30*time.Second), 1, "restart %d: the guest's frames come again", restart)
		t.Logf("restart %d: QEMU reconnected %s after uplinkd was ready, the guest's first frame after %s",
			restart, connected.Round(time.Millisecond), time.Since(ready).Round(time.Millisecond))
		waitFrames(t, tap, 100, fmt.Sprintf("restart %d: and go on", restart))
		d.Stop()
		tap.Close()
	}
}
