package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/cmd/internal/lab"
	"github.com/uplinkd/uplinkd/ctrl/vm"
)

// VM actions on real guests: the qmp driver against QEMU, alone and wired
// into uplinkd's failover and over-allocation decisions.

// guestQMP is where lab.StartGuest puts guest name's QMP socket, known
// before the guest starts so that uplinkd's config can name it.
func guestQMP(l *lab.Lab, name string) string { return filepath.Join(l.Dir, name+".qmp") }

// freePort is a loopback TCP port for a migration stream.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func qmpState(t *testing.T, sock string) vm.State {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := (&vm.QMP{Socket: sock}).State(ctx)
	require.NoError(t, err)
	return st
}

// arrivedState is a migration destination's state once it has loaded
// what the source sent. The source reports the migration completed once it
// has sent the last of it; the destination may still be loading it then,
// in "inmigrate" (vm.Migrating), and a test that asked at once for
// "running" failed now and then.
func arrivedState(t *testing.T, sock string) vm.State {
	start := time.Now()
	for deadline := start.Add(time.Minute); ; {
		st := qmpState(t, sock)
		if st != vm.Migrating || time.Now().After(deadline) {
			if waited := time.Since(start); st != vm.Migrating && waited > 10*time.Millisecond {
				t.Logf("the destination was still loading the migration for about %s after the source completed", waited.Round(time.Millisecond))
			}
			return st
		}
		time.Sleep(20 * time.Millisecond) // a state to poll: QEMU sends no event for it without the events capability
	}
}

// flatFor waits until n status lines have passed and says whether vm1's
// out_pkts stayed where it was at the first.
func flatFor(d *lab.Daemon, n int) (first, last float64) {
	seen := 0
	d.WaitEventSince(d.Mark(), fmt.Sprintf("%d status lines", n), func(e lab.Event) bool {
		if e.Str("event") != "status" {
			return false
		}
		if seen == 0 {
			first = e.Num("vms.vm1.out_pkts")
		}
		seen++
		last = e.Num("vms.vm1.out_pkts")
		return seen >= n
	})
	return first, last
}

func TestQMPSuspendStopsAGuestsTrafficAndResumeStartsIt(t *testing.T) {
	l, d, taps, img, nic := guestLab(t)
	g := sendingGuest(l, img, "g1")
	waitFrames(t, taps[nic], 500, "the guest sends")
	q := &vm.QMP{Socket: g.QMP}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	require.NoError(t, q.Suspend(ctx))
	assert.Equal(t, vm.Paused, qmpState(t, g.QMP))
	// Whatever was in the virtqueue when the vCPUs stopped drains in the
	// first status period; from then on the counter stays put.
	flatFor(d, 2)
	first, last := flatFor(d, 20)
	assert.Equal(t, first, last, "no frame from a suspended guest over 20 status lines (1 s)")

	require.NoError(t, q.Resume(ctx))
	assert.Equal(t, vm.Running, qmpState(t, g.QMP))
	waitFrames(t, taps[nic], 500, "the resumed guest sends again")

	// Deprioritise and restore: the guest's one vCPU thread, and only it,
	// takes the nice value of the weight.
	require.NoError(t, q.SetCPUWeight(ctx, 10))
	nices := threadNices(t, g.PID)
	assert.Equal(t, 1, nices[10], "one vCPU thread at nice 10: %v", nices)
	assert.Positive(t, nices[0], "QEMU's other threads untouched: %v", nices)
	assert.Len(t, nices, 2, "and no thread at any other nice value: %v", nices)
	require.NoError(t, q.SetCPUWeight(ctx, 100))
	assert.Equal(t, 0, threadNices(t, g.PID)[10], "restored")
	d.Stop()
}

// threadNices counts pid's threads by nice value.
func threadNices(t *testing.T, pid int) map[int]int {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	require.NoError(t, err)
	nices := map[int]int{}
	for _, task := range tasks {
		stat, err := os.ReadFile(filepath.Join(task, "stat"))
		require.NoError(t, err)
		// Fields after the ")" that ends comm: state is the 3rd field of
		// stat, nice the 19th.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		n, err := strconv.Atoi(f[19-3])
		require.NoError(t, err)
		nices[n]++
	}
	return nices
}

// migratingGuest is a guest sending busybox ping at 100 frames/s through a
// live migration. These tests used to fail about one migration in ten with
// the destination guest's kernel crashing (slab and list corruption, a NULL
// call, in virtio_net's TX completion among other places): QEMU 7.2 loses
// guest stores in TCG live migrations of a RAM block that is a whole number
// of 256 KiB (see lab's tcgMigrationPadKiB, which avoids it). A failed test
// still names a destination kernel failure first, before the consoles.
// With paused, a destination stays paused once the migration is in.
func migratingGuest(l *lab.Lab, img lab.GuestImage, name, incoming string, paused bool) *lab.Guest {
	g := l.StartGuest(img, lab.GuestSpec{Name: name, Socket: l.Sock("vm1"), MAC: guestMAC, Traffic: "ping", PPS: 100, Dst: peer,
		Incoming: incoming, Paused: paused})
	l.T.Cleanup(func() {
		if !l.T.Failed() {
			return
		}
		if f := g.KernelFailure(); f != "" {
			l.T.Logf("guest %s's kernel failed (console below): %s", name, f)
		}
	})
	return g
}

func TestLiveMigrationBetweenTwoQEMUsKeepsTheGuestsTrafficThroughUplinkd(t *testing.T) {
	l, d, taps, img, nic := guestLab(t)
	src := migratingGuest(l, img, "src", "", false)
	waitFrames(t, taps[nic], 100, "the source guest sends")
	uri := fmt.Sprintf("tcp:127.0.0.1:%d", freePort(t))
	// The destination attaches to the same uplinkd socket: uplinkd serves
	// it, so both QEMUs are its clients and the port stays the VM's.
	dst := migratingGuest(l, img, "dst", uri, false)

	taps[nic].ResetGap(guestMAC)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	require.NoError(t, (&vm.QMP{Socket: src.QMP}).Migrate(ctx, vm.Host{Name: "dst", URI: uri}))
	took := time.Since(start)
	assert.Equal(t, vm.Migrated, qmpState(t, src.QMP))
	assert.Equal(t, vm.Running, arrivedState(t, dst.QMP))

	waitFrames(t, taps[nic], 200, "the migrated guest's traffic continues through uplinkd")
	t.Logf("migration took %s; longest gap in the guest's frames at the tap (downtime as uplinkd's NIC saw it): %s",
		took.Round(time.Millisecond), taps[nic].MaxGap(guestMAC).Round(time.Millisecond))
	src.Kill()
	waitFrames(t, taps[nic], 100, "and goes on once the source QEMU is gone")
	d.Stop()
}

// TestLiveMigrationCarriesEveryGuestPage checks what the migration tests
// stand on: once a pinging guest has live-migrated through uplinkd, the
// destination's RAM is the source's, page for page. The destination waits
// paused (-S) so that neither side's memory changes while both are read.
// The migration is held to 32 MiB/s with a 1 ms downtime limit, so that it
// takes several dirty-bitmap syncs: where QEMU 7.2 under TCG loses guest
// stores (see the lab's tcgMigrationPadKiB). Without that pad, these
// settings left stale pages in about one migration in three here; three
// hops give the test a fair chance of catching it coming back.
func TestLiveMigrationCarriesEveryGuestPage(t *testing.T) {
	l, d, taps, img, nic := guestLab(t)
	from := migratingGuest(l, img, "hop0", "", false)
	waitFrames(t, taps[nic], 100, "the guest sends")
	for hop := 1; hop <= 3; hop++ {
		uri := fmt.Sprintf("tcp:127.0.0.1:%d", freePort(t))
		to := migratingGuest(l, img, fmt.Sprintf("hop%d", hop), uri, true)
		from.Command("migrate-set-parameters", map[string]any{"max-bandwidth": 32 << 20, "downtime-limit": 1})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		require.NoError(t, (&vm.QMP{Socket: from.QMP}).Migrate(ctx, vm.Host{Name: to.Spec.Name, URI: uri}))
		cancel()
		// The source says completed once it has sent everything; the
		// destination is done loading when it leaves inmigrate.
		require.Equal(t, vm.Paused, arrivedState(t, to.QMP))
		require.Equal(t, vm.Migrated, qmpState(t, from.QMP))
		assert.Empty(t, stalePages(from.Memory(), to.Memory()),
			"hop %d: guest-physical addresses of the pages whose destination copy differs from the source's", hop)
		from.Kill()
		to.Command("cont", nil)
		waitFrames(t, taps[nic], 100, fmt.Sprintf("the guest sends after hop %d", hop))
		from = to
	}
	d.Stop()
}

// stalePages lists the 4 KiB pages (as hex guest-physical addresses) where
// two RAM images differ.
func stalePages(src, dst []byte) []string {
	var stale []string
	for off := 0; off < len(src) && off < len(dst); off += 4096 {
		end := min(off+4096, len(src), len(dst))
		if !bytes.Equal(src[off:end], dst[off:end]) {
			stale = append(stale, fmt.Sprintf("%#x", off))
		}
	}
	return stale
}

// qmpVM is vm1 driven by QMP through guest name's socket, with extra keys.
func qmpVM(l *lab.Lab, name, keys string) vmConf {
	return vmConf{name: "vm1", mac: guestMAC, keys: fmt.Sprintf("driver = \"qmp\"\nqmp = %q\n%s", guestQMP(l, name), keys)}
}

func vmAction(action, result string) func(lab.Event) bool {
	return func(e lab.Event) bool {
		return e.Str("event") == "vm_action" && e.Str("vm") == "vm1" && e.Str("action") == action && e.Str("result") == result
	}
}

func TestSuspendOnFailoverSuspendsARealGuestUntilItsNICIsBack(t *testing.T) {
	l := lab.New(t, bins)
	img := lab.BuildGuestImage(t)
	// The failover lasts until the cable is back: a long down_delay keeps
	// nic1 failing over, and the guest suspended, meanwhile.
	d := l.StartUplinkd(labConfig(l, "", "policy = \"vm-affinity\"\ndown_delay = \"1m\"", []string{"", ""},
		qmpVM(l, "g1", "preferred_nic = \"nic1\"\nsuspend_on_failover = true")))
	taps := [2]*lab.Tap{l.OpenTap("dtap0"), l.OpenTap("dtap1")}
	g := sendingGuest(l, img, "g1")
	require.Equal(t, guestQMP(l, "g1"), g.QMP)
	waitFrames(t, taps[0], 500, "the guest sends by nic1")

	mark := d.Mark()
	d.SetLink("dtap0", "nic1", false)
	ev := d.WaitEventSince(mark, "vm1 suspended through qmp", vmAction("suspend", "ok"))
	assert.Equal(t, "qmp", ev.Str("engine"))
	assert.Equal(t, "failover of nic1", ev.Str("reason"))
	assert.Equal(t, vm.Paused, qmpState(t, g.QMP), "the guest is suspended while nic1 fails over")

	mark = d.Mark()
	d.SetLink("dtap0", "nic1", true)
	d.WaitEventSince(mark, "vm1 resumed through qmp", vmAction("resume", "ok"))
	assert.Equal(t, vm.Running, qmpState(t, g.QMP))
	waitFrames(t, taps[0], 500, "the resumed guest sends by nic1 again")
	d.Stop()
}

func TestOverAllocationMigratesARealGuestToAHostWithRoom(t *testing.T) {
	l := lab.New(t, bins)
	img := lab.BuildGuestImage(t)
	uri := fmt.Sprintf("tcp:127.0.0.1:%d", freePort(t))
	// The guest sends 100 frames/s against a limit of 50: it stays over
	// its allocation, and the decision is to migrate it. The "other host"
	// is a QEMU waiting for it on this machine.
	top := fmt.Sprintf("[resources]\nover_allocation_after = \"300ms\"\nover_allocation_action = \"migrate\"\n"+
		"[[hosts]]\nname = \"full\"\nconnection = \"b\"\nuri = \"tcp:127.0.0.1:1\"\nspare = \"1M\"\n"+
		"[[hosts]]\nname = \"roomy\"\nconnection = \"c\"\nuri = %q\nspare = \"10G\"", uri)
	d := l.StartUplinkd(labConfig(l, top, `policy = "src-mac-hash"`, []string{""}, qmpVM(l, "src", `limit_pps = "50"`)))
	tap := l.OpenTap("dtap0")
	dst := migratingGuest(l, img, "dst", uri, false)
	mark := d.Mark()
	src := migratingGuest(l, img, "src", "", false)

	ev := d.WaitEventSince(mark, "vm1 migrated through qmp", vmAction("migrate", "ok"))
	assert.Equal(t, "roomy", ev.Str("host"), "the host with the most spare capacity")
	assert.Equal(t, vm.Migrated, qmpState(t, src.QMP))
	assert.Equal(t, vm.Running, arrivedState(t, dst.QMP), "the guest ends migrated")
	waitFrames(t, tap, 50, "it sends from the destination")
	d.Stop()
}
