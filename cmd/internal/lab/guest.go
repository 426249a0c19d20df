package lab

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/uplinkd/uplinkd/configs/guest"
)

// Real guests: a Debian kernel and a busybox initramfs (configs/guest)
// booted by QEMU under TCG, their virtio-net NIC a vhost-user client of a
// socket that uplinkd serves. KVM is not used: on these machines /dev/kvm is
// a nested software hypervisor far slower than TCG.

// GuestCache is where built images are kept, one directory per recipe.
const GuestCache = "/var/cache/uplinkd-guest"

// GuestReady is what the guest's /init prints once eth0 is up.
const GuestReady = "UPLK-GUEST-READY"

// guestFailed is what /init prints before it ends the guest.
const guestFailed = "UPLK-GUEST-FAILED"

// GuestImage is a kernel and initramfs for test guests.
type GuestImage struct{ Kernel, Initrd string }

// GuestImageKey names an image by its recipe: the first 16 hex digits of
// the SHA-256 of the build script followed by /init. configs/demo-vm.sh
// computes the same key, so tests and the demo share one build.
func GuestImageKey() string {
	h := sha256.New()
	h.Write(guest.BuildScript)
	h.Write(guest.Init)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// BuildGuestImage builds the image once per machine, cached under
// /var/cache/uplinkd-guest/<hash of the build script and init>, and returns it.
// Safe to call from every test (a file lock or just idempotent atomic rename).
func BuildGuestImage(t testing.TB) GuestImage {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("guest tests need root for apt-get download, the image cache and uplinkd (run `make test` as root)")
	}
	dir := filepath.Join(GuestCache, GuestImageKey())
	img := GuestImage{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img")}
	if img.complete() {
		return img
	}
	require.NoError(t, os.MkdirAll(GuestCache, 0o755))
	// Test binaries of several packages run at once: one builds, the
	// others wait for it and find the image done.
	lock, err := os.OpenFile(filepath.Join(GuestCache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, unix.Flock(int(lock.Fd()), unix.LOCK_EX), "lock %s", lock.Name())
	if img.complete() {
		return img
	}
	src := t.TempDir()
	script := filepath.Join(src, "build-image.sh")
	require.NoError(t, os.WriteFile(script, guest.BuildScript, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "init"), guest.Init, 0o755))
	tmp, err := os.MkdirTemp(GuestCache, ".build-")
	require.NoError(t, err)
	defer os.RemoveAll(tmp)
	start := time.Now()
	out, err := exec.Command("bash", script, tmp).CombinedOutput()
	require.NoError(t, err, "build the guest image:\n%s", out)
	// The directory appears complete or not at all.
	os.RemoveAll(dir)
	require.NoError(t, os.Chmod(tmp, 0o755))
	require.NoError(t, os.Rename(tmp, dir))
	t.Logf("guest image built in %s: %s", time.Since(start).Round(time.Millisecond), dir)
	return img
}

func (img GuestImage) complete() bool {
	for _, f := range []string{img.Kernel, img.Initrd} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			return false
		}
	}
	return true
}

// GuestSpec says what guest to start.
type GuestSpec struct {
	Name     string // used in file names and logs
	Socket   string // vhost-user socket that uplinkd serves; QEMU connects as client with reconnect=1
	MAC      string // the guest NIC's MAC
	Traffic  string // "" or "none", or "pktgen" ("ping": the busybox fallback, slower)
	PPS      int    // pktgen rate (default 1000)
	Dst      string // destination MAC of the traffic (default "02:00:00:00:ff:ff": unicast, as uplinkd tests want)
	Incoming string // "" or e.g. "tcp:127.0.0.1:4444": start as a migration destination (-incoming), no boot wait
	Paused   bool   // with Incoming: stay paused once the migration is in (-S) until a "cont" command
	MemoryMB int    // default 256 (QEMU gets 8 KiB more: tcgMigrationPadKiB)
	MTU      int    // eth0's MTU inside the guest, and the virtio-net device's host_mtu (0: the default 1500)
	// Addr is eth0's address (CIDR); "" leaves ping's default, 10.0.0.1/24.
	// With Dst "none", ping resolves its target by ARP.
	Addr string
	// Target is what ping pings, "IP[,IP...]" one after the other ("":
	// 10.0.0.2). VLANs makes a trunk's guest: "VID:CIDR[,VID:CIDR...]",
	// one 802.1Q sub-interface each.
	Target, VLANs string
	// PingCount > 0 with Traffic "ping": that many echoes of PingSize bytes
	// (default 56), ping's output on the console prefixed UPLK-GUEST-PING.
	PingCount, PingSize int
}

// Guest is a running QEMU.
type Guest struct {
	Spec GuestSpec
	QMP  string // path of the QMP unix socket (server, nowait) the test or uplinkd's qmp driver connects to
	PID  int
	lab  *Lab
	proc *proc // QEMU; its lines are the guest's console (and QEMU's own messages)
}

// Boot and QMP waits: a TCG guest boots in 3-5 s on an idle machine, but
// the tests share two cores with uplinkd's polling worker.
const (
	guestBootTimeout = 90 * time.Second
	guestQMPTimeout  = 30 * time.Second
)

// StartGuest boots a guest with QEMU (qemu-system-x86_64, TCG: -accel tcg, never KVM;
// memory-backend-memfd share=on + -numa node,memdev=...; virtio-net-pci with vectors=0
// and the MAC; -nographic/-serial to a pipe or file; -qmp unix:PATH,server=on,wait=off;
// -no-reboot; kernel cmdline console=ttyS0 plus the uplk.* parameters)
// and waits for UPLK-GUEST-READY on the console (unless Incoming is set: then it waits for the QMP socket).
// t.Cleanup kills the QEMU process (by PID, only this one) and removes its files.
func (l *Lab) StartGuest(img GuestImage, spec GuestSpec) *Guest {
	l.T.Helper()
	qemu, err := exec.LookPath("qemu-system-x86_64")
	require.NoError(l.T, err, "QEMU is missing: apt-get install qemu-system-x86 (make test does)")
	spec = spec.withDefaults()
	require.NotEmpty(l.T, spec.Name, "GuestSpec.Name")
	require.NotEmpty(l.T, spec.Socket, "GuestSpec.Socket")
	require.NotEmpty(l.T, spec.MAC, "GuestSpec.MAC")
	g := &Guest{Spec: spec, lab: l, QMP: filepath.Join(l.Dir, spec.Name+".qmp")}
	// Registered before the process starts, so it runs after it is killed.
	l.T.Cleanup(func() { os.Remove(g.QMP) })
	g.proc = start(l.T, "guest "+spec.Name, false, append([]string{qemu}, g.args(img)...)...)
	g.PID = g.proc.cmd.Process.Pid
	begin := time.Now()
	if spec.Incoming != "" {
		g.waitQMP()
		return g
	}
	line := g.proc.waitLine("guest "+spec.Name+" "+GuestReady, guestBootTimeout, func(s string) bool {
		return strings.Contains(s, GuestReady)
	})
	l.T.Logf("guest %s booted in %s: %s", spec.Name, time.Since(begin).Round(time.Millisecond), line)
	return g
}

func (s GuestSpec) withDefaults() GuestSpec {
	if s.Traffic == "" {
		s.Traffic = "none"
	}
	if s.PPS == 0 {
		s.PPS = 1000
	}
	if s.Dst == "" {
		s.Dst = "02:00:00:00:ff:ff"
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = 256
	}
	if s.PingSize == 0 {
		s.PingSize = 56
	}
	return s
}

// args is QEMU's command line. What each choice avoids on QEMU 7.2 here:
// guest memory not shared leaves the vhost-user backend unable to read the
// rings (no packets); MSI-X vectors make vhost_net_start segfault under TCG;
// -cpu host aborts on an MSR, and -cpu max booted in 3.6-12.8 s where
// qemu64 took 3.5-5.2. -nodefaults drops the default e1000 NIC, which would
// otherwise be eth0. The guest's RAM is ramKiB.
func (g *Guest) args(img GuestImage) []string {
	s := g.Spec
	mem := fmt.Sprintf("%dK", s.ramKiB())
	cmdline := fmt.Sprintf("console=ttyS0 quiet panic=-1 uplk.traffic=%s uplk.pps=%d uplk.dst=%s uplk.count=%d uplk.size=%d",
		s.Traffic, s.PPS, s.Dst, s.PingCount, s.PingSize)
	if s.Addr != "" {
		cmdline += " uplk.addr=" + s.Addr
	}
	if s.Target != "" {
		cmdline += " uplk.target=" + s.Target
	}
	if s.VLANs != "" {
		cmdline += " uplk.vlans=" + s.VLANs
	}
	nic := "virtio-net-pci,netdev=net0,mac=" + s.MAC + ",vectors=0,romfile="
	if s.MTU > 0 {
		// host_mtu offers the MTU to the guest (VIRTIO_NET_F_MTU) and tells
		// the vhost-user backend (VHOST_USER_NET_SET_MTU).
		cmdline += fmt.Sprintf(" uplk.mtu=%d", s.MTU)
		nic += fmt.Sprintf(",host_mtu=%d", s.MTU)
	}
	args := []string{
		"-name", "guest=" + s.Name,
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-accel", "tcg", "-cpu", "qemu64", "-smp", "1", "-m", mem,
		"-object", "memory-backend-memfd,id=mem0,size=" + mem + ",share=on",
		"-numa", "node,memdev=mem0",
		"-chardev", "socket,id=vhu0,path=" + s.Socket + ",reconnect=1",
		"-netdev", "vhost-user,id=net0,chardev=vhu0",
		"-device", nic,
		"-kernel", img.Kernel, "-initrd", img.Initrd, "-append", cmdline,
		// The console is QEMU's stdout: a pipe whose lines the lab reads.
		"-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
		"-qmp", "unix:" + g.QMP + ",server=on,wait=off",
	}
	if s.Incoming != "" {
		args = append(args, "-incoming", s.Incoming)
		if s.Paused {
			args = append(args, "-S")
		}
	}
	return args
}

// tcgMigrationPadKiB is added to every guest's RAM so that its size is not
// a multiple of 256 KiB. QEMU before 9.0 (Debian 12 has 7.2) loses guest
// stores in a TCG live migration: when a RAM block is a whole number of
// 64-page bitmap words, cpu_physical_memory_sync_dirty_bitmap clears the
// block's migration dirty bits a word at a time and never resets the vCPUs'
// TLB write entries, so a page written after a bitmap sync through a TLB
// entry that was already writable is never marked dirty again and the
// destination keeps an old copy (fixed upstream in QEMU 9.0, "physmem: Fix
// migration dirty bitmap coherency with TCG memory access"). Measured here
// by comparing the source's and a paused (-S) destination's guest memory
// (pmemsave) after each migration of a pinging guest: with 256 MiB, 2 of 6
// migrations left 16-19 kernel data pages stale (per-CPU counters and
// timestamps) and one destination kernel oopsed as soon as it ran — the
// slab, list and NULL-call crashes the migration tests used to hit about one
// migration in ten. With a block that is not a whole number of words, QEMU
// syncs it page by page through cpu_physical_memory_test_and_clear_dirty,
// which does reset the TLB: 0 stale pages in 12 migrations. 8 KiB because
// QEMU rounds -m to 8 KiB on x86. KVM guests are not affected (KVM tracks
// dirty pages itself).
const tcgMigrationPadKiB = 8

// ramKiB is the RAM QEMU gives the guest: MemoryMB and tcgMigrationPadKiB.
func (s GuestSpec) ramKiB() int { return s.MemoryMB<<10 + tcgMigrationPadKiB }

// waitQMP waits until QEMU answers a command on the QMP socket. A greeting
// is not enough: the monitor greets from its own thread while the main
// thread is still setting up devices, and only once that is done does an
// -incoming QEMU listen for the migration stream (and answer commands).
func (g *Guest) waitQMP() {
	t := g.lab.T
	t.Helper()
	deadline := time.Now().Add(guestQMPTimeout)
	for {
		if g.exited() {
			t.Fatalf("guest %s: QEMU exited before its QMP socket was up:\n%s", g.Spec.Name, g.Console())
		}
		err := qmpStatus(g.QMP, time.Until(deadline))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("guest %s: QMP on %s not answering within %s (%v):\n%s", g.Spec.Name, g.QMP, guestQMPTimeout, err, g.Console())
		}
		// The file does not exist yet: there is nothing to wait on but time.
		time.Sleep(20 * time.Millisecond)
	}
}

// qmpStatus connects to QMP and runs query-status, which QEMU answers from
// its main loop.
func qmpStatus(path string, timeout time.Duration) error {
	_, err := qmpRun(path, timeout, "query-status", nil)
	return err
}

// qmpRun connects to QMP, runs one command and returns its "return" value.
func qmpRun(path string, timeout time.Duration, cmd string, args any) (json.RawMessage, error) {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	dec := json.NewDecoder(c)
	var greeting struct{ QMP json.RawMessage }
	if err := dec.Decode(&greeting); err != nil || greeting.QMP == nil {
		return nil, fmt.Errorf("no QMP greeting: %v", err)
	}
	enc := json.NewEncoder(c)
	var ret json.RawMessage
	for _, req := range []map[string]any{{"execute": "qmp_capabilities"}, {"execute": cmd, "arguments": args}} {
		if args == nil {
			delete(req, "arguments")
		}
		if err := enc.Encode(req); err != nil {
			return nil, err
		}
		for { // events may come before the answer
			var reply struct {
				Return json.RawMessage
				Error  *struct{ Class, Desc string }
			}
			if err := dec.Decode(&reply); err != nil {
				return nil, fmt.Errorf("%s: %v", req["execute"], err)
			}
			if reply.Error != nil {
				return nil, fmt.Errorf("%s: %s: %s", req["execute"], reply.Error.Class, reply.Error.Desc)
			}
			if reply.Return != nil {
				ret = reply.Return
				break
			}
		}
	}
	return ret, nil
}

// Command runs a QMP command (args: nil or a JSON object's fields) and
// returns what QEMU answered; an error fails the test.
func (g *Guest) Command(cmd string, args any) json.RawMessage {
	g.lab.T.Helper()
	ret, err := qmpRun(g.QMP, guestQMPTimeout, cmd, args)
	require.NoError(g.lab.T, err, "guest %s: QMP %s", g.Spec.Name, cmd)
	return ret
}

// Memory is the guest's RAM, read with pmemsave: meant for a guest that is
// not running, whose memory stays as it is while it is read.
func (g *Guest) Memory() []byte {
	t := g.lab.T
	t.Helper()
	path := filepath.Join(g.lab.Dir, g.Spec.Name+".mem")
	defer os.Remove(path)
	size := g.Spec.ramKiB() << 10
	g.Command("pmemsave", map[string]any{"val": 0, "size": size, "filename": path})
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, b, size, "guest %s: pmemsave wrote the whole RAM", g.Spec.Name)
	return b
}

func (g *Guest) exited() bool {
	g.proc.mu.Lock()
	defer g.proc.mu.Unlock()
	return g.proc.exited
}

// Kill ends QEMU with SIGKILL, as a crashed VM ends, and waits until it is
// gone.
func (g *Guest) Kill() {
	t := g.lab.T
	t.Helper()
	if g.exited() {
		return
	}
	require.NoError(t, g.proc.cmd.Process.Signal(syscall.SIGKILL))
	err := g.proc.waitExit(10 * time.Second)
	require.True(t, g.exited(), "guest %s: QEMU (pid %d) still running after SIGKILL: %v", g.Spec.Name, g.PID, err)
}

// WaitConsole waits until the guest prints a line containing substr and
// returns it.
func (g *Guest) WaitConsole(substr string, timeout time.Duration) string {
	g.lab.T.Helper()
	return g.proc.waitLine("guest "+g.Spec.Name+" "+substr, timeout, func(s string) bool { return strings.Contains(s, substr) })
}

// KernelFailure is the first line of a kernel oops, BUG or panic the
// guest printed, or "".
func (g *Guest) KernelFailure() string {
	g.proc.mu.Lock()
	defer g.proc.mu.Unlock()
	for _, l := range g.proc.lines {
		if kernelFailure.MatchString(l) {
			return l
		}
	}
	return ""
}

var kernelFailure = regexp.MustCompile(`BUG: |kernel BUG|Oops|Kernel panic|corruption|general protection fault|double fault`)

// Console is what the guest printed so far (and QEMU's own messages).
func (g *Guest) Console() string {
	g.proc.mu.Lock()
	defer g.proc.mu.Unlock()
	return strings.Join(g.proc.lines, "\n")
}

// waitLine blocks until an output line matches, the process exits, a guest
// says it failed, or timeout passes, and returns the line.
func (p *proc) waitLine(what string, timeout time.Duration, match func(string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for seen := 0; ; {
		for ; seen < len(p.lines); seen++ {
			if match(p.lines[seen]) {
				return p.lines[seen]
			}
			if strings.Contains(p.lines[seen], guestFailed) {
				p.t.Fatalf("%s: %s while waiting for %s\n%s", p.name, p.lines[seen], what, strings.Join(p.lines, "\n"))
			}
		}
		if p.exited {
			p.t.Fatalf("%s exited (%v) while waiting for %s\n%s", p.name, p.err, what, strings.Join(p.lines, "\n"))
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %s within %s\n%s", p.name, what, timeout, strings.Join(p.lines, "\n"))
		}
		p.cond.Wait()
	}
}
