package main

// Open vSwitch with DPDK as a peer: Debian's openvswitch-switch-dpdk,
// ovsdb-server and ovs-vswitchd started here in a private run directory on
// unix sockets only, a netdev bridge with a dpdkvhostuserclient port for
// the VM and a bond of the two net_null NICs, the PMD thread pinned to the
// switch core like uplinkd's worker. Its cycles per packet are the PMD's
// "avg processing cycles per packet" (idle cycles excluded, as in uplinkd's
// busy cycles).

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const ovsVswitchd = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"

type ovs struct {
	dir, prefix  string
	db, vswitchd *exec.Cmd
	dbLog, swLog strings.Builder
	env          []string
}

func (o *ovs) vsctl(args ...string) error {
	cmd := exec.Command("ovs-vsctl", append([]string{"--db=unix:" + filepath.Join(o.dir, "db.sock"), "--timeout=30"}, args...)...)
	cmd.Env = o.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ovs-vsctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (o *ovs) appctl(args ...string) (string, error) {
	cmd := exec.Command("ovs-appctl", append([]string{"-t", filepath.Join(o.dir, "vswitchd.ctl")}, args...)...)
	cmd.Env = o.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ovsSetup is what startOVS builds: a bond of two DPDK ports (their
// devargs, and options for both Interfaces) with bond options, one
// vhost-user client port per socket; ns,
// when set, is the network namespace ovs-vswitchd runs in (where the tap
// NICs live).
type ovsSetup struct {
	ns       string
	nics     [2]string
	nicOpts  []string
	bondOpts []string
	socks    []string
}

// nullNICs are the throughput runs' sink NICs.
var nullNICs = [2]string{"net_null0,no-rx=1", "net_null1,no-rx=1"}

// startOVS brings OVS-DPDK up as set.
func startOVS(dir string, set ovsSetup) (*ovs, error) {
	o := &ovs{dir: dir, prefix: fmt.Sprintf("uplk-bench-ovs-%s-%d", filepath.Base(dir), os.Getpid())}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o.env = append(os.Environ(), "OVS_RUNDIR="+dir, "OVS_LOGDIR="+dir, "OVS_DBDIR="+dir)
	db := filepath.Join(dir, "conf.db")
	if out, err := exec.Command("ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ovsdb-tool: %v: %s", err, out)
	}
	o.db = exec.Command("ovsdb-server", db, "--remote=punix:"+filepath.Join(dir, "db.sock"),
		"--unixctl="+filepath.Join(dir, "ovsdb.ctl"), "--no-chdir", "-vconsole:off")
	o.db.Env, o.db.Stderr = o.env, &o.dbLog
	if err := o.db.Start(); err != nil {
		return nil, err
	}
	waitForPath(filepath.Join(dir, "db.sock"))
	if err := o.vsctl("--no-wait", "init"); err != nil {
		o.stop()
		return nil, err
	}
	// The PMD on core 1, everything else on core 0; 256 MB of hugepages.
	if err := o.vsctl("--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
		"other_config:dpdk-lcore-mask=0x1", "other_config:pmd-cpu-mask=0x2", "other_config:dpdk-socket-mem=256",
		"other_config:dpdk-extra=--no-pci --file-prefix "+o.prefix); err != nil {
		o.stop()
		return nil, err
	}
	sw := []string{"taskset", "-c", "0", ovsVswitchd, "unix:" + filepath.Join(dir, "db.sock"),
		"--unixctl=" + filepath.Join(dir, "vswitchd.ctl"), "--no-chdir", "--log-file=" + filepath.Join(dir, "vswitchd.log"), "-vconsole:off"}
	if set.ns != "" {
		sw = append([]string{"ip", "netns", "exec", set.ns}, sw...)
	}
	o.vswitchd = exec.Command(sw[0], sw[1:]...)
	o.vswitchd.Env, o.vswitchd.Stderr = o.env, &o.swLog
	if err := o.vswitchd.Start(); err != nil {
		o.stop()
		return nil, err
	}
	cmds := [][]string{
		{"add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"},
		append(append(append(append(append([]string{"add-bond", "br0", "bond0", "p0", "p1"}, set.bondOpts...),
			"--", "set", "Interface", "p0", "type=dpdk", "options:dpdk-devargs="+set.nics[0]), set.nicOpts...),
			"--", "set", "Interface", "p1", "type=dpdk", "options:dpdk-devargs="+set.nics[1]), set.nicOpts...),
	}
	for i, sk := range set.socks {
		port := fmt.Sprintf("vm%d", i+1)
		cmds = append(cmds, []string{"add-port", "br0", port, "--", "set", "Interface", port,
			"type=dpdkvhostuserclient", "options:vhost-server-path=" + sk})
	}
	for _, c := range cmds {
		if err := o.vsctl(c...); err != nil {
			o.stop()
			return nil, fmt.Errorf("%v\n%s", err, o.logTail())
		}
	}
	return o, nil
}

// log is ovs-vswitchd's whole log file.
func (o *ovs) log() string {
	b, _ := os.ReadFile(filepath.Join(o.dir, "vswitchd.log"))
	return string(b)
}

func (o *ovs) logTail() string {
	b, _ := os.ReadFile(filepath.Join(o.dir, "vswitchd.log"))
	lines := strings.Split(string(b), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// cycles reads the PMD's processing cycles per packet and its processing
// (busy) cycles since the last pmd-stats-clear.
func (o *ovs) cycles() (perPkt, busy float64, err error) {
	out, err := o.appctl("dpif-netdev/pmd-stats-show")
	if err != nil {
		return 0, 0, fmt.Errorf("pmd-stats-show: %v: %s", err, out)
	}
	m := regexp.MustCompile(`avg processing cycles per packet: ([0-9.]+)`).FindStringSubmatch(out)
	b := regexp.MustCompile(`processing cycles: ([0-9]+)`).FindStringSubmatch(out)
	if m == nil || b == nil {
		return 0, 0, fmt.Errorf("no cycles in pmd-stats-show:\n%s", out)
	}
	perPkt, _ = strconv.ParseFloat(m[1], 64)
	busy, _ = strconv.ParseFloat(b[1], 64)
	return perPkt, busy, nil
}

// stop ends the daemons this bench started, by PID, and removes
// ovs-vswitchd's hugepage files.
func (o *ovs) stop() {
	defer cleanPrefix(o.prefix)
	for _, c := range []*exec.Cmd{o.vswitchd, o.db} {
		if c == nil || c.Process == nil || c.ProcessState != nil {
			continue
		}
		stopProcess(c)
	}
}

// stopProcess ends a process this bench started: SIGTERM, then SIGKILL
// after 10 s.
func stopProcess(c *exec.Cmd) {
	c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-done
	}
}

func measureOVS(dir, peer string, size int, st setup) (result, error) {
	res := result{scenario: st.scenario, peer: peer, size: size, vms: st.vms, flows: st.flows, load: loadavg()}
	mode := map[string]string{"ovs-slb": "balance-slb", "ovs-ab": "active-backup"}[peer]
	if _, err := os.Stat(ovsVswitchd); err != nil {
		return res, fmt.Errorf("%s: %s missing (make bench installs openvswitch-switch-dpdk)", peer, ovsVswitchd)
	}
	odir := filepath.Join(dir, peer)
	var socks []string
	for i := 0; i < st.vms; i++ {
		socks = append(socks, filepath.Join(odir, fmt.Sprintf("vm%d.sock", i+1)))
	}
	nics := st.nicDevargs()
	o, err := startOVS(odir, ovsSetup{nics: [2]string{nics[0], nics[1]}, bondOpts: []string{"bond_mode=" + mode}, socks: socks})
	if err != nil {
		return res, err
	}
	defer o.stop()
	for _, w := range st.wires {
		waitForPath(w)
	}
	if err := o.learnDst(genDst); err != nil {
		return res, err
	}
	prefix := fmt.Sprintf("uplk-bench-%s-%d", peer, os.Getpid())
	run := &switchRun{peer: peer, dir: odir, ovs: o, baseline: func() error {
		if out, err := o.appctl("dpif-netdev/pmd-stats-clear"); err != nil {
			return fmt.Errorf("pmd-stats-clear: %v: %s", err, out)
		}
		// After the warm-up every VM flow is in the datapath: the cell
		// counts only if each goes to the bond alone. Checked after the
		// clear, so that the window starts where the generator's does
		// even when a loaded machine makes ovs-appctl slow.
		return o.checkVMFlows()
	}}
	rep, err := withLoad(run, st, func() (genReport, error) { return runGen(run, prefix, size, socks, true, st) })
	if err != nil {
		return res, fmt.Errorf("%v\n%s", err, o.logTail())
	}
	res.mpps = rep.num("window_mpps")
	res.offered, res.refused, res.skipped, res.backlog = rep.num("window_offered"), rep.num("window_refused"), rep.num("window_skipped"), rep.num("max_backlog")
	res.lat = latencyOf(rep)
	var busy float64
	if res.cycles, busy, err = o.cycles(); err != nil {
		return res, err
	}
	res.util = utilisation(busy, rep)
	return res, nil
}
