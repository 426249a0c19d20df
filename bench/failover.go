package main

// The failover scenario: one VM sends at a steady rate through a team of
// two net_tap NICs in active-backup, inside a network namespace the bench
// creates; after a second the active NIC's cable is pulled (ip link set
// down). The figures, from kernel receive timestamps on the taps' kernel
// sides:
//
//   - gap: from the last frame out of the failed NIC to the first out of
//     the standby one — detection plus switchover, as the network sees it;
//   - lost: frames the generator sent that neither tap received.
//
// Peers: uplinkd (explicit-failover), dpdk-testpmd forwarding into the
// DPDK bonding PMD in mode 1 (active-backup) and Open vSwitch with DPDK
// bonding them in active-backup, all over the same two taps.

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var failoverPeers = []string{"uplinkd", "testpmd-bond", "ovs-ab"}

const (
	foMAC  = "02:00:00:00:00:01"
	foRate = 20000 // frames/s: the capture keeps up on the generator's core
)

type failoverResult struct {
	peer string
	gap  time.Duration
	// switchover (uplinkd): from the moment the NIC manager published the
	// failure (its nic_state log line) to the first frame on the new NIC;
	// gap minus switchover is detection. -1 when not known.
	switchover time.Duration
	sent       int
	lost       int
	onStandby  int
}

// capture records the kernel receive time of every frame from foMAC on one
// interface of a namespace.
type capture struct {
	fd    int
	mu    sync.Mutex
	times []time.Time
	done  chan struct{}
}

func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with its namespace
		h, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := unix.Setns(int(h.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

func openCapture(ns, iface string) (*capture, error) { return openCaptureFrom(ns, iface, foMAC) }

// openCaptureFrom is openCapture of the frames from src.
func openCaptureFrom(ns, iface, from string) (*capture, error) {
	c := &capture{done: make(chan struct{})}
	err := inNS(ns, func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		proto := int(uint16(unix.ETH_P_ALL)<<8 | uint16(unix.ETH_P_ALL)>>8)
		if c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto); err != nil {
			return err
		}
		if err := unix.Bind(c.fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50000}
		return unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", iface, err)
	}
	src, _ := net.ParseMAC(from)
	go c.read(src)
	return c, nil
}

func (c *capture) read(src net.HardwareAddr) {
	defer close(c.done)
	buf, oob := make([]byte, 2048), make([]byte, 256)
	for {
		n, oobn, _, _, err := unix.Recvmsg(c.fd, buf, oob, 0)
		if err == unix.EBADF {
			return
		}
		if err != nil || n < 14 || string(buf[6:12]) != string(src) || buf[12] != 0x08 || buf[13] != 0x00 {
			continue // timeouts, other senders, the RARP announcements
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})) {
				ts := *(*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
				c.mu.Lock()
				c.times = append(c.times, time.Unix(ts.Unix()))
				c.mu.Unlock()
			}
		}
	}
}

// waitFor waits until n frames were captured, polling: the bench has no
// event for it, and a few milliseconds late changes nothing measured.
func (c *capture) waitFor(n int, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		c.mu.Lock()
		got := len(c.times)
		c.mu.Unlock()
		if got >= n {
			return true
		}
	}
	return false
}

func (c *capture) close() []time.Time {
	unix.Close(c.fd)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.times
}

func measureFailover(dir, peer string) (failoverResult, error) {
	res := failoverResult{peer: peer}
	ns := fmt.Sprintf("uplk-bench-fo-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return res, fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1").Run()

	sock := filepath.Join(dir, "fo.sock")
	os.Remove(sock)
	prefix := fmt.Sprintf("uplk-bench-fo-%d", os.Getpid())
	defer cleanPrefix(prefix)
	var out strings.Builder
	// log is the switch's log once it has stopped: where uplinkd and OVS
	// say when they saw the failure.
	var stopSwitch func() (log string)
	genServes := false
	switch peer {
	case "uplinkd", "testpmd-bond":
		sw, err := startFailoverSwitch(dir, ns, peer, prefix, sock, &out)
		if err != nil {
			return res, err
		}
		stopSwitch = func() string { sw(); return out.String() }
		defer sw()
	case "ovs-ab":
		if _, err := os.Stat(ovsVswitchd); err != nil {
			return res, fmt.Errorf("%s: %s missing (make bench installs openvswitch-switch-dpdk)", peer, ovsVswitchd)
		}
		// An operator's active-backup bond: the first member primary, link
		// checked by miimon every 100 ms (OVS's default, carrier, follows
		// the link only as often as its DPDK watchdog polls it).
		o, err := startOVS(filepath.Join(dir, "fo-ovs"), ovsSetup{ns: ns,
			nics: [2]string{"net_tap0,iface=dtap0", "net_tap1,iface=dtap1"},
			// net_tap wants as many rx queues as tx queues, and OVS sets up
			// a tx queue per PMD thread plus one.
			nicOpts: []string{"options:n_rxq=2"},
			bondOpts: []string{"bond_mode=active-backup", "other_config:bond-primary=p0",
				"other_config:bond-detect-mode=miimon", "other_config:bond-miimon-interval=100"},
			socks: []string{sock}})
		if err != nil {
			return res, err
		}
		stopSwitch = func() string { o.stop(); return o.log() }
		defer o.stop()
		genServes = true
	default:
		return res, fmt.Errorf("unknown failover peer %q (one of %s)", peer, strings.Join(failoverPeers, ", "))
	}
	var caps [2]*capture
	for i, iface := range []string{"dtap0", "dtap1"} {
		var err error
		for try := 0; try < 300; try++ {
			if caps[i], err = openCapture(ns, iface); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return res, fmt.Errorf("%v\n%s", err, stopSwitch())
		}
	}
	vm := fmt.Sprintf("name=vm1,socket=%s,mac=%s", sock, foMAC)
	if genServes {
		vm += ",server=1"
	} else {
		waitForPath(sock)
	}
	gen := exec.Command("taskset", "-c", "0", filepath.Join(*binDir, "uplink-gen"), "--file-prefix", prefix+"-gen", "--lcore", "0",
		"--vm", vm, "--size", "60", "--rate", fmt.Sprint(foRate),
		"--duration", "3s", "--progress", "0", "--flows", "16")
	var genOut strings.Builder
	gen.Stdout, gen.Stderr = &genOut, &genOut
	check(gen.Start())
	// Steady traffic on the active NIC for a second, then the cable goes.
	if !caps[0].waitFor(foRate, 15*time.Second) {
		gen.Process.Kill()
		gen.Wait()
		cleanPrefix(prefix + "-gen")
		return res, fmt.Errorf("%s: no steady traffic on the active NIC\n%s\n%s", peer, genOut.String(), stopSwitch())
	}
	if o, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "dtap0", "down").CombinedOutput(); err != nil {
		return res, fmt.Errorf("pull the cable: %v: %s", err, o)
	}
	err := gen.Wait()
	cleanPrefix(prefix + "-gen")
	if err != nil {
		return res, fmt.Errorf("uplink-gen: %v\n%s", err, genOut.String())
	}
	for _, line := range strings.Split(genOut.String(), "\n") {
		if i := strings.Index(line, `"sent":`); i >= 0 && strings.Contains(line, `"event":"report"`) {
			fmt.Sscan(strings.TrimLeft(line[i+len(`"sent":`):], " "), &res.sent)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the last frames drain to the capture
	old, standby := caps[0].close(), caps[1].close()
	log := stopSwitch()
	if len(old) == 0 {
		return res, fmt.Errorf("%s: no frame on the active NIC\n%s", peer, log)
	}
	res.onStandby = len(standby)
	res.lost = res.sent - len(old) - len(standby)
	res.gap, res.switchover = -1, -1 // never failed over within the run
	if len(standby) > 0 {
		first := slices.MinFunc(standby, time.Time.Compare)
		res.gap = first.Sub(slices.MaxFunc(old, time.Time.Compare))
		if at, ok := failedAt(peer, log); ok {
			res.switchover = first.Sub(at)
		}
	}
	return res, nil
}

// failedAt finds in a switch's log when it saw nic1 fail: uplinkd's first
// nic_state line for nic1 (logged right after the tables were swapped),
// OVS's "link state down" line for p0. Both logs' times and the kernel's
// receive timestamps are the realtime clock.
func failedAt(peer, log string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		switch peer {
		case "uplinkd":
			var ev struct {
				Event, NIC, To string
				Time           time.Time
			}
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "nic_state" && ev.NIC == "nic1" {
				return ev.Time, true
			}
		case "ovs-ab":
			// 2026-12-02T01:02:03.456Z|00042|bond|INFO|member p0: link state down
			if at, rest, ok := strings.Cut(line, "|"); ok && strings.Contains(rest, "p0: link state down") {
				if t, err := time.Parse("2006-01-02T15:04:05.000Z", at); err == nil {
					return t, true
				}
			}
		}
	}
	return time.Time{}, false
}

// startFailoverSwitch starts uplinkd or testpmd's bonding PMD on the two
// taps of ns, its output into out; the function it returns stops it (and
// may be called again).
func startFailoverSwitch(dir, ns, peer, prefix, sock string, out *strings.Builder) (stop func(), err error) {
	var sw *exec.Cmd
	switch peer {
	case "uplinkd":
		cfg := writeTapTeamConfig(dir, "fo", prefix, sock, "", "policy = \"explicit-failover\"\nactive = [\"nic1\"]\nstandby = [\"nic2\"]")
		sw = exec.Command("ip", "netns", "exec", ns, "taskset", "-c", "0", filepath.Join(*binDir, "uplinkd"),
			"--config", cfg, "--log-format", "json", "--status-interval", "0")
	case "testpmd-bond":
		// Ports: 0, 1 the taps (bonding slaves), 2 the bond, 3 the VM;
		// forward only between the bond and the VM.
		sw = exec.Command("ip", "netns", "exec", ns, "taskset", "-c", "0", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0",
			"--file-prefix", prefix, "-m", "256", "--no-pci",
			"--vdev", "net_tap0,iface=dtap0", "--vdev", "net_tap1,iface=dtap1",
			"--vdev", "net_bonding0,mode=1,slave=net_tap0,slave=net_tap1,primary=net_tap0",
			"--vdev", "net_vhost0,iface="+sock+",queues=1", "--",
			"--forward-mode=io", "--auto-start", "--port-topology=paired", "--portmask=0xc", "--nb-cores=1")
	}
	sw.Stdout, sw.Stderr = out, out
	// testpmd quits on a newline (or EOF) on stdin: keep it open until the
	// end, when closing it stops testpmd.
	stdin, err := sw.StdinPipe()
	check(err)
	if err := sw.Start(); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			stdin.Close()
			stopProcess(sw)
		})
	}, nil
}

func reportFailover(w io.Writer, rs []failoverResult) {
	fmt.Fprintln(w, "\nfailover: one VM at 20 kpps over two tap NICs, active NIC's cable pulled")
	fmt.Fprintf(w, "%-14s %-30s %s\n", "peer", "gap last->first frame (ms)", "frames lost (min / median / max)")
	for _, peer := range failoverPeers {
		var gaps, lost, switchover []float64
		never := 0
		for _, r := range rs {
			if r.peer != peer {
				continue
			}
			lost = append(lost, float64(r.lost))
			if r.switchover >= 0 {
				switchover = append(switchover, float64(r.switchover.Microseconds())/1000)
			}
			if r.gap < 0 {
				never++
			} else {
				gaps = append(gaps, float64(r.gap.Microseconds())/1000)
			}
		}
		g := "never failed over"
		if len(gaps) > 0 {
			g = stats3(gaps)
			if never > 0 {
				g += fmt.Sprintf(" (%d runs never)", never)
			}
		}
		if len(lost) > 0 {
			fmt.Fprintf(w, "%-14s %-30s %s\n", peer, g, stats0(lost))
		}
		if len(switchover) > 0 {
			fmt.Fprintf(w, "%-14s switchover after detection (ms): %s; the rest of the gap is detection\n", peer, stats3(switchover))
		}
	}
}

func stats3(v []float64) string {
	m := stats(v)
	return fmt.Sprintf("%.3f / %.3f / %.3f", m.min, m.med, m.max)
}

func stats0(v []float64) string {
	m := stats(v)
	return fmt.Sprintf("%.0f / %.0f / %.0f", m.min, m.med, m.max)
}

// writeTapTeamConfig writes dir/name.toml: uplinkd with its API in dir,
// one VM on sock, and a team with teamKeys of the two taps dtap0 and
// dtap1 (in the namespace uplinkd runs in); top is extra tables. It
// returns the file's path.
func writeTapTeamConfig(dir, name, prefix, sock, top, teamKeys string) string {
	cfg := filepath.Join(dir, name+".toml")
	check(os.WriteFile(cfg, []byte(fmt.Sprintf(`
[eal]
file_prefix = %q
memory_mb = 256
[api]
socket = %q
[metrics]
listen = ""
[state]
dir = ""
%s
[[teams]]
name = "t"
%s
[[nics]]
name = "nic1"
vdev = "net_tap0,iface=dtap0"
team = "t"
[[nics]]
name = "nic2"
vdev = "net_tap1,iface=dtap1"
team = "t"
[[vms]]
name = "vm1"
socket = %q
macs = [%q]
team = "t"
`, prefix, filepath.Join(dir, name+"-api.sock"), top, teamKeys, sock, foMAC)), 0o600))
	return cfg
}

// failoverNA says why a peer is not in the failover scenario.
func failoverNA(peer string) string {
	switch peer {
	case "uplinkd", "ovs-ab":
		return ""
	case "testpmd-bond1":
		return "" // as testpmd-bond
	case "uplinkd-registered", "uplinkd-vmaware", "uplinkd-dos":
		return "the same NIC manager as uplinkd, which is measured"
	case "testpmd-io":
		return "no bond: nothing to fail over to"
	case "testpmd-bond0", "testpmd-bond2", "testpmd-bond5":
		return "the scenario is active-backup: the bonding PMD runs it in mode 1"
	case "ovs-slb":
		return "the scenario is active-backup: OVS runs it in active-backup"
	}
	return "unknown peer"
}
