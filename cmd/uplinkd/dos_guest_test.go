package main

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/ctrl/vm"
)

// The DoS responses that act on VMs, carried out by the qmp driver on real
// QEMU guests.

func vmActionOf(name, action, result string) func(lab.Event) bool {
	return func(e lab.Event) bool {
		return e.Str("event") == "vm_action" && e.Str("vm") == name && e.Str("action") == action && e.Str("result") == result
	}
}

// quietGuest boots a guest that sends nothing on vm's socket.
func quietGuest(l *lab.Lab, img lab.GuestImage, name, vmName, mac string) *lab.Guest {
	return l.StartGuest(img, lab.GuestSpec{Name: name, Socket: l.Sock(vmName), MAC: mac, Traffic: "none"})
}

func TestDoSDeprioritisesAndSuspendsARealGuestUntilTheAttackEnds(t *testing.T) {
	l := lab.New(t, bins)
	img := lab.BuildGuestImage(t)
	d := l.StartUplinkd(labConfig(l, dosTop(`"deprioritise", "suspend"`, ""), `policy = "vm-affinity"`, []string{"", ""},
		qmpVM(l, "g1", `preferred_nic = "nic1"`)))
	tap := l.OpenTap("dtap0")
	g := quietGuest(l, img, "g1", "vm1", guestMAC)
	d.WaitVMConnected("vm1")

	mark := d.Mark()
	f := tap.Flood(lab.FloodSpec{Dst: guestMAC, Kind: "syn", PPS: 20000, Sources: 1000})
	d.WaitEventSince(mark, "attack on vm1", isDoS("dos_start", "vm1"))
	w := d.WaitEventSince(mark, "vm1 deprioritised", vmActionOf("vm1", "set_cpu_weight", "ok"))
	assert.Equal(t, 10.0, w.Num("weight"), "vm_manager.deprioritised_weight")
	d.WaitEventSince(mark, "vm1 suspended", vmActionOf("vm1", "suspend", "ok"))
	assert.Equal(t, vm.Paused, qmpState(t, g.QMP))
	assert.Equal(t, 1, threadNices(t, g.PID)[10], "the vCPU thread runs at nice 10")

	f.Stop()
	d.WaitEventSince(mark, "attack over", isDoS("dos_end", "vm1"))
	d.WaitEventSince(mark, "vm1 resumed", vmActionOf("vm1", "resume", "ok"))
	restored := d.WaitEventSince(mark, "vm1 restored", func(e lab.Event) bool {
		return vmActionOf("vm1", "set_cpu_weight", "ok")(e) && e.Num("weight") == 100
	})
	assert.Equal(t, "dos on vm1", restored.Str("reason"))
	assert.Equal(t, vm.Running, qmpState(t, g.QMP))
	assert.Zero(t, threadNices(t, g.PID)[10], "back to nice 0")
	d.Stop()
}

func TestDoSSuspendsTheAttackedVMsTeamMatesWhileItLasts(t *testing.T) {
	l := lab.New(t, bins)
	img := lab.BuildGuestImage(t)
	// vm1, attacked, is played by uplink-gen; vm2, its team mate, is a guest.
	d := l.StartUplinkd(labConfig(l, dosTop(`"suspend-others"`, ""), `policy = "vm-affinity"`, []string{"", ""},
		vmConf{name: "vm1", mac: polMAC1}, vmConf{name: "vm2", mac: polMAC2,
			keys: fmt.Sprintf("driver = \"qmp\"\nqmp = %q", guestQMP(l, "mate"))}))
	tap := l.OpenTap("dtap0")
	gen := l.StartGen("--vm", lab.VMArg("vm1", l.Sock("vm1"), polMAC1)+",rate=-1", "--duration", "60s", "--progress", "100ms")
	mate := quietGuest(l, img, "mate", "vm2", polMAC2)
	d.WaitVMConnected("vm1")
	d.WaitVMConnected("vm2")

	mark := d.Mark()
	f := tap.Flood(lab.FloodSpec{Dst: polMAC1, Kind: "syn", PPS: 20000, Sources: 1000})
	d.WaitEventSince(mark, "attack on vm1", isDoS("dos_start", "vm1"))
	ev := d.WaitEventSince(mark, "vm2 suspended", vmActionOf("vm2", "suspend", "ok"))
	assert.Equal(t, "protect from dos on vm1", ev.Str("reason"))
	assert.Equal(t, vm.Paused, qmpState(t, mate.QMP))

	f.Stop()
	d.WaitEventSince(mark, "vm2 resumed", vmActionOf("vm2", "resume", "ok"))
	assert.Equal(t, vm.Running, qmpState(t, mate.QMP))
	gen.Finish(true)
	d.Stop()
}

func TestDoSMigratesTheAttackedGuestToAHostOnAnotherNetwork(t *testing.T) {
	l := lab.New(t, bins)
	img := lab.BuildGuestImage(t)
	uri := fmt.Sprintf("tcp:127.0.0.1:%d", freePort(t))
	// The host on the attacked network has more room, but the VM must
	// leave that network: it goes to the other one.
	extra := fmt.Sprintf("[[hosts]]\nname = \"same-net\"\nconnection = \"upstream-a\"\nuri = \"tcp:127.0.0.1:1\"\nspare = \"100G\"\n"+
		"[[hosts]]\nname = \"elsewhere\"\nconnection = \"upstream-b\"\nuri = %q\nspare = \"1G\"", uri)
	d := l.StartUplinkd(labConfig(l, dosTop(`"migrate"`, extra), "policy = \"vm-affinity\"\nconnection = \"upstream-a\"", []string{"", ""},
		qmpVM(l, "src", `preferred_nic = "nic1"`)))
	tap := l.OpenTap("dtap0")
	dst := l.StartGuest(img, lab.GuestSpec{Name: "dst", Socket: l.Sock("vm1"), MAC: guestMAC, Traffic: "none", Incoming: uri})
	src := quietGuest(l, img, "src", "vm1", guestMAC)

	mark := d.Mark()
	f := tap.Flood(lab.FloodSpec{Dst: guestMAC, Kind: "amplification", PPS: 20000, Sources: 1000})
	d.WaitEventSince(mark, "attack on vm1", isDoS("dos_start", "vm1"))
	ev := d.WaitEventSince(mark, "vm1 migrated", vmActionOf("vm1", "migrate", "ok"))
	assert.Equal(t, "elsewhere", ev.Str("host"))
	assert.Equal(t, vm.Migrated, qmpState(t, src.QMP))
	assert.Equal(t, vm.Running, arrivedState(t, dst.QMP), "the guest ends on the other host")
	f.Stop()
	d.WaitEventSince(mark, "attack over", isDoS("dos_end", "vm1"))
	d.Stop()
}
