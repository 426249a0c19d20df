// Package lab runs real uplinkd and uplink-gen processes for integration
// tests: each test gets its own network namespace (the tap NICs live
// there), its own DPDK file prefixes and its own vhost socket directory,
// and everything is torn down by PID when the test ends, pass or fail.
package lab

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
)

// Bins are the binaries under test.
type Bins struct {
	Uplinkd, Gen, Ctl string
}

// Build compiles uplinkd, uplink-gen and uplinkctl into dir.
func Build(dir string) (Bins, error) {
	b := Bins{Uplinkd: filepath.Join(dir, "uplinkd"), Gen: filepath.Join(dir, "uplink-gen"), Ctl: filepath.Join(dir, "uplinkctl")}
	for bin, pkg := range map[string]string{b.Uplinkd: "github.com/uplinkd/uplinkd/cmd/uplinkd", b.Gen: "github.com/uplinkd/uplinkd/cmd/uplink-gen",
		b.Ctl: "github.com/uplinkd/uplinkd/cmd/uplinkctl"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			return b, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return b, nil
}

// Lab is one test's sandbox.
type Lab struct {
	T       testing.TB
	Bins    Bins
	NS      string
	Dir     string
	ID      string
	HugeDir string
	tools   []*Tool // DPDK tools started, reaped after the daemons (see Tool)
	// later: generators, reaped after the daemons as tools are (see
	// proc.reapLater).
	later []*proc
}

// Require skips the test when it cannot run DPDK (not root) and fails it
// when hugepages are missing: `make test` sets them up.
func Require(t testing.TB) {
	if os.Geteuid() != 0 {
		t.Skip("integration tests need root for hugepages, taps and network namespaces (run `make test` as root)")
	}
	b, err := os.ReadFile("/proc/sys/vm/nr_hugepages")
	require.NoError(t, err)
	require.NotEqual(t, "0", strings.TrimSpace(string(b)), "no hugepages reserved: run `make hugepages` (make test does)")
}

// New creates a network namespace with IPv6 off (so the kernel sends
// nothing on its own into the taps) and a private directory.
func New(t testing.TB, bins Bins) *Lab {
	Require(t)
	var r [4]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	l := &Lab{T: t, Bins: bins, NS: "uplk-" + id, Dir: t.TempDir(), ID: id, HugeDir: "/dev/hugepages"}
	run(t, "ip", "netns", "add", l.NS)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.NS).Run() })
	// Registered before any daemon's cleanup, so it runs after them all.
	t.Cleanup(l.reapTools)
	run(t, "ip", "netns", "exec", l.NS, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	return l
}

// Prefix is a DPDK file prefix unique to this lab.
func (l *Lab) Prefix(role string) string { return "uplk-" + role + "-" + l.ID }

// APISocket is where the lab's uplinkd serves its API.
func (l *Lab) APISocket() string { return filepath.Join(l.Dir, "api.sock") }

// Sock is a vhost socket path in the lab's directory.
func (l *Lab) Sock(name string) string { return filepath.Join(l.Dir, name+".sock") }

// InNS runs a command in the lab's namespace.
func (l *Lab) InNS(args ...string) {
	run(l.T, append([]string{"ip", "netns", "exec", l.NS}, args...)...)
}

// NSOutput runs a command in the lab's namespace and returns its output.
func (l *Lab) NSOutput(args ...string) string {
	l.T.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.NS}, args...)...).CombinedOutput()
	require.NoError(l.T, err, "%s: %s", strings.Join(args, " "), out)
	return string(out)
}

// AddVeth creates a veth pair in the lab's namespace with both ends up at
// mtu: a NIC for uplinkd (net_pcap on one end) whose far end a Tap reads,
// for what a net_tap NIC cannot carry (DPDK 22.11's tap PMD takes frames of
// at most 1522 bytes).
func (l *Lab) AddVeth(name, peer string, mtu int) {
	l.InNS("ip", "link", "add", name, "mtu", fmt.Sprint(mtu), "type", "veth", "peer", "name", peer, "mtu", fmt.Sprint(mtu))
	l.InNS("ip", "link", "set", name, "up")
	l.InNS("ip", "link", "set", peer, "up")
}

func run(t testing.TB, args ...string) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
}

// HugepageFiles lists what a prefix left in the hugepage directory.
func (l *Lab) HugepageFiles(prefix string) []string {
	return dpdk.HugepageFiles(l.HugeDir, prefix)
}

// Event is one JSON line from uplinkd's log or uplink-gen's stdout.
type Event map[string]any

// At reads the value at a dotted path ("vms.vm1.drops"); nil if absent.
func (e Event) At(path string) any {
	var cur any = map[string]any(e)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// Num reads a number at a dotted path ("vms.vm1.out_pkts"); 0 if absent.
func (e Event) Num(path string) float64 { f, _ := e.At(path).(float64); return f }

// Str reads a string at a dotted path.
func (e Event) Str(path string) string { s, _ := e.At(path).(string); return s }

// Drops sums the drop counters of a VM or NIC ("vms.vm1") in a status line.
func (e Event) Drops(path string) float64 {
	var n float64
	drops, _ := e.At(path + ".drops").(map[string]any)
	for _, v := range drops {
		f, _ := v.(float64)
		n += f
	}
	return n
}

// proc is a started process whose JSON lines are collected.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	name   string
	mu     sync.Mutex
	events []Event
	lines  []string
	cond   *sync.Cond
	exited bool
	err    error
	// reapLater: the process is not reaped while the lab's daemons run
	// (it is a DPDK process: see Tool for what reaping one costs then).
	// Its exit is its output's end, its status read without reaping it;
	// the lab reaps it after the daemons.
	reapLater bool
	reaped    chan struct{} // closed once reaped (reapLater)
}

func start(t testing.TB, name string, stdoutJSON bool, args ...string) *proc {
	return startProc(t, name, stdoutJSON, false, args...)
}

func startProc(t testing.TB, name string, stdoutJSON, reapLater bool, args ...string) *proc {
	p := &proc{t: t, name: name, cmd: exec.Command(args[0], args[1:]...), reapLater: reapLater, reaped: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start(), "start %s", name)
	var wg sync.WaitGroup
	scan := func(r interface{ Read([]byte) (int, error) }, parse bool) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if parse && strings.HasPrefix(line, "{") {
				var e Event
				if json.Unmarshal([]byte(line), &e) == nil {
					p.events = append(p.events, e)
				}
			}
			p.cond.Broadcast()
			p.mu.Unlock()
		}
	}
	wg.Add(2)
	go scan(stderr, !stdoutJSON)
	go scan(stdout, stdoutJSON)
	go func() {
		wg.Wait()
		var err error
		if p.reapLater {
			// Its files are all closed: it has exited, or is about to be
			// a zombie. Its status, without reaping it.
			err = exitStatus(p.cmd.Process.Pid)
		} else {
			err = p.cmd.Wait()
		}
		p.mu.Lock()
		p.exited, p.err = true, err
		p.cond.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		if !exited {
			p.cmd.Process.Signal(syscall.SIGKILL)
			p.waitExit(10 * time.Second)
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s output:\n%s", name, strings.Join(p.lines, "\n"))
			p.mu.Unlock()
		}
	})
	return p
}

// reap reaps a process started with reapLater, once the lab's daemons are
// gone: kills it if it still runs, waits for it at most timeout.
func (p *proc) reap(timeout time.Duration) {
	p.cmd.Process.Signal(syscall.SIGKILL) // only if it is still running; a zombie ignores it
	go func() {
		p.cmd.Wait()
		close(p.reaped)
	}()
	select {
	case <-p.reaped:
	case <-time.After(timeout):
		p.t.Logf("%s (pid %d) not reaped within %s", p.name, p.cmd.Process.Pid, timeout)
	}
}

// exitStatus waits for pid to be a zombie and reads how it ended, leaving
// it a zombie (WNOWAIT): nil for exit status 0.
func exitStatus(pid int) error {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("waitid: %w", err)
		}
		break
	}
	// siginfo_t for SIGCHLD on 64-bit Linux (amd64, arm64; the lab runs
	// nowhere else): si_code, then si_pid, si_uid, si_status at bytes 16,
	// 20, 24.
	raw := (*[128]byte)(unsafe.Pointer(&info))
	status := int32(binary.LittleEndian.Uint32(raw[24:28]))
	switch info.Code {
	case 1: // CLD_EXITED
		if status != 0 {
			return fmt.Errorf("exit status %d", status)
		}
		return nil
	default: // killed or dumped by a signal
		return fmt.Errorf("signal: %s", syscall.Signal(status))
	}
}

// waitFor blocks until an event matches, the process exits, or timeout.
func (p *proc) waitFor(what string, timeout time.Duration, match func(Event) bool) Event {
	p.t.Helper()
	return p.waitForFrom(0, what, timeout, match)
}

// mark is how many events have arrived: waitForFrom(mark, ...) looks only
// at later ones.
func (p *proc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.events)
}

func (p *proc) waitForFrom(from int, what string, timeout time.Duration, match func(Event) bool) Event {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := from
	for {
		for ; seen < len(p.events); seen++ {
			if match(p.events[seen]) {
				return p.events[seen]
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

func (p *proc) waitExit(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { p.mu.Lock(); p.cond.Broadcast(); p.mu.Unlock() })
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.exited {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not exit within %s", p.name, timeout)
		}
		p.cond.Wait()
	}
	return p.err
}

func (p *proc) last(match func(Event) bool) Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.events) - 1; i >= 0; i-- {
		if match(p.events[i]) {
			return p.events[i]
		}
	}
	return nil
}

func isEvent(name string) func(Event) bool {
	return func(e Event) bool { return e.Str("event") == name }
}
