// Command bench measures uplinkd against dpdk-testpmd in io forwarding mode
// (the do-nothing floor) on one topology and one pinning, in one run:
//
//	uplink-gen (core 0) -> vhost-user -> switch worker (core 1) -> two net_null NICs
//
// uplinkd runs three ways: as shipped (worker as an EAL lcore calling into
// Go), with its worker as a Go thread registered with rte_thread_register
// (the other thread model, measured to justify the choice), and with every
// VM-aware feature on: 8 VMs with limits, shares, reservations and one
// high-priority VM, the least-pending policy, and the resource manager
// recomputing allocations every 5 ms.
//
// Sizes are frame sizes on the wire, with the 4-byte CRC the generator
// does not send: 64 is a 60-byte frame, 1518 a 1514-byte one.
//
// For 64 B and 1518 B frames, each peer runs several times, interleaved.
// It prints Mpps (what the generator got through) and busy cycles per
// packet on the switch core — the figure to compare on a 2-core machine,
// where the generator shares the other core and can be the bottleneck —
// plus uplinkd's longest worker loop gap, then the fastpath micro
// benchmarks with allocation counts.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type result struct {
	scenario string // "throughput" (the size sweep), "scale", "latency", "latency-loaded"
	peer     string
	size     int
	vms      int
	flows    int
	lat      latency
	mpps     float64
	cycles   float64
	util     float64  // % of the switch core's cycles in the window that were busy (utilisation)
	gapUS    float64  // uplinkd: the longest worker loop gap in the window (see windowGap)
	gapExact bool     // gapUS is the gap itself, not its histogram bucket's upper bound
	gaps     []uint64 // uplinkd: the window's loop gaps by histogram bucket
	// --fixed-rate runs: frames offered in the window, refused by the
	// VM's ring, frame slots the generator missed (its own stalls), and
	// its largest backlog of due frames.
	offered, refused, skipped, backlog float64
	fill                               float64 // uplinkd: packets per busy loop
	steal                              float64 // % of CPU time the hypervisor stole during the run
	load                               string
}

var (
	binDir   = flag.String("bin", "bin", "directory with uplinkd and uplink-gen")
	runs     = flag.Int("runs", 3, "repetitions per peer and size")
	seconds  = flag.Int("seconds", 5, "generator run per measurement")
	sizes    = flag.String("sizes", "64,512,1518", "frame sizes")
	microBen = flag.Bool("micro", true, "also run the fastpath go test benchmarks")
	outDir   = flag.String("out", "bench/results", "where the report directory is written")
	foRuns   = flag.Int("failover-runs", 3, "failover measurements per peer (0: none)")
	dosRuns  = flag.Int("dos-runs", 3, "DoS detection latency measurements (0: none)")
	churnRun = flag.Int("churn-runs", 20, "VM add-to-first-packet and remove measurements (0: none)")
	linkPoll = flag.String("link-poll", "1ms", "uplinkd's dataplane.link_poll (net_null has no link interrupt)")
	peerList = flag.String("peers", strings.Join(allPeers, ","), "peers to measure")
	foPeers  = flag.String("failover-peers", strings.Join(failoverPeers, ","), "peers of the failover scenario")
)

// allPeers: uplinkd with its worker as an EAL lcore calling into Go (the
// default), uplinkd with its worker as a Go thread registered with
// rte_thread_register (the other thread model, measured to justify the
// choice), uplinkd with every VM-aware feature on, uplinkd with the DoS
// counters on (every frame classified and sketched), testpmd io forwarding
// (the floor), testpmd into the DPDK bonding PMD over the two NICs in
// modes 0 (round-robin), 1 (active-backup), 2 (balance-xor) and 5 (tlb),
// and Open vSwitch with DPDK bonding them in balance-slb and active-backup.
var allPeers = []string{"uplinkd", "uplinkd-registered", "uplinkd-vmaware", "uplinkd-dos", "testpmd-io",
	"testpmd-bond0", "testpmd-bond1", "testpmd-bond2", "testpmd-bond5", "ovs-slb", "ovs-ab"}

// targets are the ratio targets against testpmd io, per peer.
var targets = map[string]float64{"uplinkd": 1.25, "uplinkd-registered": 1.25, "uplinkd-vmaware": 1.5, "uplinkd-dos": 1.5}

// vmawareVMs is how many VMs the VM-aware run plays.
const vmawareVMs = 8

func main() {
	flag.Parse()
	pinProcess(0)
	dir, err := os.MkdirTemp("", "uplinkd-bench-")
	check(err)
	defer os.RemoveAll(dir)
	var results []result
	for _, s := range strings.Split(*sizes, ",") {
		size, err := strconv.Atoi(s)
		check(err)
		for r := 0; r < *runs; r++ {
			for _, peer := range strings.Split(*peerList, ",") {
				res, err := measureRetrying(dir, peer, size, r)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s %dB run %d: %v\n", peer, size, r+1, err)
					os.Exit(1)
				}
				fill := ""
				if res.fill > 0 {
					fill = fmt.Sprintf("  %4.1f pkts/busy loop", res.fill)
				}
				fmt.Printf("  %-19s %5d B  run %d: %6.2f Mpps  %7.1f cycles/pkt  util %5.1f%%%s  load %s  steal %.1f%%\n", peer, size, r+1, res.mpps, res.cycles, res.util, fill, res.load, res.steal)
				results = append(results, res)
			}
		}
	}
	rep, err := newReport(*outDir)
	check(err)
	throughput := results
	rep.printed("Throughput", func(w io.Writer) { report(w, throughput) })
	rep.markdown("Headline (for the README)", func(w io.Writer) { reportHeadline(w, throughput) })
	if *scaleRuns > 0 {
		sc := runScale(dir)
		rep.printed("Throughput with 1, 2 and 8 VMs, 1k and 100k flows", func(w io.Writer) { reportScale(w, sc) })
		results = append(results, sc...)
	}
	if *ndrRuns > 0 {
		nr := runNDR(dir)
		rep.printed("Zero-loss throughput (NDR, PDR)", func(w io.Writer) { reportNDR(w, nr) })
	}
	if *stallRuns > 0 {
		sr := runStall(dir)
		rep.printed("Worker stalls", func(w io.Writer) { reportStall(w, sr) })
		results = append(results, sr...)
	}
	if *latRuns > 0 {
		lat := runLatency(dir)
		rep.printed("Latency, quiet and under control-plane load", func(w io.Writer) { reportLatency(w, lat) })
		results = append(results, lat...)
	}
	if *fairRuns > 0 {
		rep.fair = runFairness(dir)
		rep.printed("Fairness", func(w io.Writer) { reportFairness(w, rep.fair) })
	}
	rep.results = results
	var fo []failoverResult
	for r := 0; r < *foRuns; r++ {
		for _, peer := range strings.Split(*foPeers, ",") {
			res, err := measureFailover(dir, peer)
			if err != nil {
				fmt.Fprintf(os.Stderr, "failover %s run %d: %v\n", peer, r+1, err)
				os.Exit(1)
			}
			gap := "   never"
			if res.gap >= 0 {
				gap = fmt.Sprintf("%8.3f", float64(res.gap.Microseconds())/1000)
			}
			after := ""
			if res.switchover >= 0 {
				after = fmt.Sprintf(", %.3f ms after detection", float64(res.switchover.Microseconds())/1000)
			}
			fmt.Printf("  failover %-14s run %d: gap %s ms%s  lost %5d of %d sent (%d on the standby NIC)\n",
				peer, r+1, gap, after, res.lost, res.sent, res.onStandby)
			fo = append(fo, res)
		}
	}
	if len(fo) > 0 {
		rep.fo = fo
		rep.printed("Failover", func(w io.Writer) { reportFailover(w, fo) })
	}
	if *dosRuns > 0 {
		var lat []float64
		for r := 0; r < *dosRuns; r++ {
			d, err := measureDetection(dir)
			if err != nil {
				fmt.Fprintf(os.Stderr, "dos detection run %d: %v\n", r+1, err)
				os.Exit(1)
			}
			fmt.Printf("  dos detection run %d: %.1f ms\n", r+1, float64(d.Microseconds())/1000)
			lat = append(lat, float64(d.Microseconds())/1000)
		}
		rep.printed("DoS detection", func(w io.Writer) {
			fmt.Fprintf(w, "\nDoS detection: a 20 kpps SYN flood from 1000 sources through a tap NIC at a watched VM (syn_pps 5k);\n"+
				"first frame sent to uplinkd's dos_start line (ms, min / median / max of %d): %s\n", len(lat), stats3(lat))
		})
	}
	if *churnRun > 0 {
		c, err := measureChurn(dir, *churnRun)
		if err != nil {
			fmt.Fprintf(os.Stderr, "vm churn: %v\n", err)
			os.Exit(1)
		}
		rep.printed("VM add and remove", func(w io.Writer) { reportChurn(w, c) })
	}
	if *microBen {
		fmt.Println("\nfastpath per-packet work (go test -bench, 32-packet bursts):")
		var t strings.Builder
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "./fastpath/")
		cmd.Stdout, cmd.Stderr = io.MultiWriter(os.Stdout, &t), os.Stderr
		check(cmd.Run())
		rep.section("Fastpath per-packet work (go test -bench, 32-packet bursts, 0 allocs/op required)", t.String())
	}
	rep.printed("Coverage: every scenario and peer", reportCoverage)
	check(rep.write())
	fmt.Printf("\nreport: %s\n", filepath.Join(rep.dir, "report.md"))
}

// cpuTimes reads the total and steal jiffies of all CPUs: steal is time the
// hypervisor gave our vCPUs to someone else, which no peer can be blamed
// for and which makes a run's figures suspect.
func cpuTimes() (total, steal uint64) {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i == 7 {
			steal = n
		}
	}
	return
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return "?"
	}
	return f[0]
}

// uplinkdConfig is the bench topology for uplinkd: nVMs VMs on sockets
// socks, two net_null NICs. vmaware turns on every VM-aware feature.
func uplinkdConfig(prefix, thread string, socks []string, vmaware bool, st setup) string {
	var b strings.Builder
	policy := "src-mac-hash"
	if vmaware {
		policy = "least-pending"
	}
	if st.policy != "" {
		policy = st.policy
	}
	fmt.Fprintf(&b, `
[eal]
file_prefix = %q
main_lcore = 0
worker_lcores = [1]
worker_thread = %q
memory_mb = 256
%s
[api]
socket = %q
[metrics]
listen = ""
[state]
dir = ""
[dataplane]
mtu = 1500
link_poll = %q
[[teams]]
name = "t"
policy = %q
`, prefix, thread, st.ealKeys, filepath.Join(filepath.Dir(socks[0]), "api.sock"), *linkPoll, policy)
	for i, nic := range st.nicDevargs() {
		fmt.Fprintf(&b, "[[nics]]\nname = \"nic%d\"\nvdev = %q\nteam = \"t\"\n", i, nic)
		if vmaware {
			b.WriteString("speed = \"100G\"\n")
		}
		b.WriteString(st.nicKeys)
	}
	for i, sock := range socks {
		var macs []string
		for j := range max(st.macs, 1) {
			macs = append(macs, fmt.Sprintf("%q", vmSrcMAC(i, j)))
		}
		fmt.Fprintf(&b, "[[vms]]\nname = \"vm%d\"\nsocket = %q\nmacs = [%s]\nteam = \"t\"\n", i+1, sock, strings.Join(macs, ", "))
		if vmaware {
			// Limits and reservations well above what one generator core
			// offers: the buckets and the share computation run, but
			// nothing is held back, so the figure is the cost of the
			// machinery, not of waiting.
			fmt.Fprintf(&b, "limit = \"20G\"\nreservation = \"1G\"\nshares = %d\n", i+1)
			if i == 0 {
				b.WriteString("priority = 1\n")
			}
		}
		if st.vmKeys != nil {
			b.WriteString(st.vmKeys(i))
		}
	}
	return b.String()
}

func vmMAC(i int) string { return vmSrcMAC(i, 0) }

// vmSrcMAC is VM i's j-th source MAC, as uplink-gen's macs=N counts them:
// the fifth byte counts up.
func vmSrcMAC(i, j int) string { return fmt.Sprintf("02:00:00:00:%02x:%02x", j, i+1) }

// genDst is the destination MAC of every frame the VMs send: a host
// behind the NICs, which OVS is told about (ovsLearnDst).
const genDst = "02:fe:00:00:00:01"

// throughputMACs is how many source MACs each VM of the throughput
// scenarios sends from, its flows spread over them: a VM with several
// addresses (or a guest bridging containers), and enough to give the
// source-MAC hashes (uplinkd's src-mac-hash, the bonding PMD's balance-xor,
// OVS's balance-slb) both NICs.
const throughputMACs = 8

// genBound is the utilisation (percent) below which a throughput cell is
// marked generator-bound: the switch idled part of the window, so its
// cycles per packet include per-burst overhead a loaded switch spreads
// over more packets.
const genBound = 95

// setup is what one measurement runs: how many VMs, how many flows in
// all, the NICs' devargs, uplinkd's team policy (default: src-mac-hash),
// extra generator arguments, and a control-plane load to run meanwhile.
type setup struct {
	scenario string
	vms      int
	flows    int
	macs     int // source MACs per VM (0: one)
	nics     []string
	policy   string
	genArgs  []string
	// nicKeys and vmKeys(i) are extra uplinkd config keys for each NIC and
	// for VM i.
	nicKeys string
	vmKeys  func(i int) string
	// wires are sockets the switch's NICs serve and the generator
	// connects to (the latency scenario's), waited for like the VMs'.
	wires []string
	// load, when set, runs while the generator does, until stop closes.
	load func(sw *switchRun, stop <-chan struct{})
	// duration is the measured window (0: --seconds).
	duration time.Duration
	// env is added to uplinkd's environment; ealKeys to its [eal].
	env     []string
	ealKeys string
}

// throughputSetup is the size sweep's: one VM (eight for uplinkd-vmaware),
// 64 flows from throughputMACs source MACs, two net_null NICs.
func throughputSetup(peer string) setup {
	st := setup{scenario: "throughput", vms: 1, flows: 64, macs: throughputMACs}
	if peer == "uplinkd-vmaware" {
		st.vms = vmawareVMs
	}
	return st
}

func (st setup) nicDevargs() []string {
	if len(st.nics) > 0 {
		return st.nics
	}
	return nullNICs[:]
}

// switchRun is a running switch, for a control-plane load to act on.
type switchRun struct {
	peer string
	dir  string
	cfg  string // uplinkd's config file
	api  string // uplinkd's API socket
	ovs  *ovs
	// baseline, called when the generator's warm-up ends, takes the
	// switch's counters there or resets them.
	baseline func() error
}

// warmup is the generator's first second, not measured: the switch's
// caches, queues and (uplinkd) allocations settle.
const warmup = time.Second

// genReport is uplink-gen's final report line.
type genReport map[string]any

func (r genReport) num(k string) float64 { f, _ := r[k].(float64); return f }

// runGen plays one VM per socket for the measurement window and returns
// the generator's report. server: the generator serves the sockets (the
// switch connects as a vhost-user client). flows are spread over the VMs.
func runGen(sw *switchRun, prefix string, size int, socks []string, server bool, st setup) (genReport, error) {
	flows := max(st.flows/len(socks), 1)
	// Each flow is a prepared frame: 100k flows need their memory.
	mem := 128 + len(socks)*(flows+4096)*3/1024
	d := time.Duration(*seconds) * time.Second
	if st.duration > 0 {
		d = st.duration
	}
	args := []string{"--file-prefix", prefix + "-gen", "--lcore", "0", "--size", strconv.Itoa(size - 4),
		"--duration", (d + warmup).String(), "--warmup", warmup.String(),
		"--progress", "0", "--flows", strconv.Itoa(flows), "--memory", strconv.Itoa(max(mem, 256))}
	args = append(args, st.genArgs...)
	for i, sk := range socks {
		vm := fmt.Sprintf("name=vm%d,socket=%s,mac=%s,macs=%d,dst=%s", i+1, sk, vmMAC(i), max(st.macs, 1), genDst)
		if server {
			vm += ",server=1"
		}
		args = append(args, "--vm", vm)
	}
	// Every process starts on CPU 0 (EAL then moves each switch's worker
	// lcore to CPU 1): the generator's and the switches' other threads (Go
	// runtime, EAL control) stay off the switch core, and every switch
	// gets it alone.
	gen := exec.Command("taskset", append([]string{"-c", "0", filepath.Join(*binDir, "uplink-gen")}, args...)...)
	var stderr strings.Builder
	gen.Stderr = &stderr
	stdout, err := gen.StdoutPipe()
	check(err)
	if err := gen.Start(); err != nil {
		return nil, err
	}
	defer cleanPrefix(prefix + "-gen")
	var report genReport
	var baseErr error
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev genReport
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch ev["event"] {
		case "measuring":
			// The warm-up is over: the switch's counters start here.
			if sw.baseline != nil && baseErr == nil {
				baseErr = sw.baseline()
			}
		case "report":
			report = ev
		}
	}
	if err := gen.Wait(); err != nil {
		return nil, fmt.Errorf("uplink-gen: %v\n%s", err, stderr.String())
	}
	if baseErr != nil {
		return nil, fmt.Errorf("%s: baseline at the end of the warm-up: %v", sw.peer, baseErr)
	}
	if report == nil {
		return nil, fmt.Errorf("uplink-gen wrote no report")
	}
	return report, nil
}

// withLoad runs the generator with st's control-plane load alongside.
func withLoad(sw *switchRun, st setup, gen func() (genReport, error)) (genReport, error) {
	if st.load == nil {
		return gen()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); st.load(sw, stop) }()
	rep, err := gen()
	close(stop)
	<-done
	return rep, err
}

// measureRetrying measures one throughput cell, again up to twice when a
// run fails or its window carried no packet (seen now and then on this
// host: the generator's vhost-user connection not up by the end of the
// warm-up). Each failed try is printed, so the report's runs are the ones
// that measured something, and a cell that never does stops the bench.
func measureRetrying(dir, peer string, size, run int) (result, error) {
	var err error
	for try := 1; try <= 3; try++ {
		t0, s0 := cpuTimes()
		var res result
		res, err = measure(dir, peer, size)
		t1, s1 := cpuTimes()
		if t1 > t0 {
			res.steal = 100 * float64(s1-s0) / float64(t1-t0)
		}
		if err == nil && res.mpps == 0 {
			err = errors.New("no packet in the window")
		}
		if err == nil {
			return res, nil
		}
		fmt.Fprintf(os.Stderr, "  %s %dB run %d, try %d failed, measuring again: %v\n", peer, size, run+1, try, firstLine(err))
	}
	return result{}, err
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func measure(dir, peer string, size int) (result, error) {
	return measureSetup(dir, peer, size, throughputSetup(peer))
}

func measureSetup(dir, peer string, size int, st setup) (result, error) {
	if strings.HasPrefix(peer, "ovs-") {
		return measureOVS(dir, peer, size, st)
	}
	var socks []string
	for i := 0; i < st.vms; i++ {
		sock := filepath.Join(dir, fmt.Sprintf("vm%d.sock", i+1))
		os.Remove(sock)
		socks = append(socks, sock)
	}
	sock := socks[0]
	nics := st.nicDevargs()
	res := result{scenario: st.scenario, peer: peer, size: size, vms: st.vms, flows: st.flows, load: loadavg()}
	var sw *exec.Cmd
	var stdin io.WriteCloser
	var out strings.Builder
	prefix := fmt.Sprintf("uplk-bench-%s-%d", peer, os.Getpid())
	defer cleanPrefix(prefix)
	run := &switchRun{peer: peer, dir: dir}
	switch peer {
	case "uplinkd", "uplinkd-registered", "uplinkd-vmaware", "uplinkd-dos":
		thread := "lcore"
		if peer == "uplinkd-registered" {
			thread = "registered"
		}
		conf := uplinkdConfig(prefix, thread, socks, peer == "uplinkd-vmaware", st)
		if peer == "uplinkd-dos" {
			// Thresholds no bench traffic reaches: the counters run on
			// every frame, no response ever does.
			conf += "[dos]\nenabled = true\nsyn_pps = \"1G\"\n"
		}
		run.cfg = filepath.Join(dir, "bench.toml")
		run.api = filepath.Join(dir, "api.sock")
		check(os.WriteFile(run.cfg, []byte(conf), 0o600))
		sw = exec.Command("taskset", "-c", "0", filepath.Join(*binDir, "uplinkd"), "--config", run.cfg, "--log-format", "json", "--status-interval", "0")
		sw.Stderr = &out
		sw.Env = append(os.Environ(), st.env...)
	case "testpmd-io":
		sw = exec.Command("taskset", "-c", "0", "stdbuf", "-o0", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--file-prefix", prefix,
			"-m", "256", "--no-pci", "--vdev", "net_vhost0,iface="+sock+",queues=1",
			"--vdev", nics[0], "--vdev", nics[1], "--",
			"-i", "--forward-mode=io", "--record-core-cycles", "--auto-start", "--port-topology=chained",
			"--nb-cores=1", "--rxq=1", "--txq=1")
	case "testpmd-bond0", "testpmd-bond1", "testpmd-bond2", "testpmd-bond5":
		// The bonding PMD over the same two NICs; ports 0 and 1 are its
		// slaves, 2 the bond, 3 the VM: forward only between 2 and 3.
		mode := strings.TrimPrefix(peer, "testpmd-bond")
		slave := func(d string) string { name, _, _ := strings.Cut(d, ","); return name }
		sw = exec.Command("taskset", "-c", "0", "stdbuf", "-o0", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--file-prefix", prefix,
			"-m", "256", "--no-pci", "--vdev", nics[0], "--vdev", nics[1],
			"--vdev", "net_bonding0,mode="+mode+",slave="+slave(nics[0])+",slave="+slave(nics[1]),
			"--vdev", "net_vhost0,iface="+sock+",queues=1", "--",
			"-i", "--forward-mode=io", "--record-core-cycles", "--auto-start", "--port-topology=paired", "--portmask=0xc",
			"--nb-cores=1", "--rxq=1", "--txq=1")
	default:
		return res, fmt.Errorf("unknown peer %q (one of %s)", peer, strings.Join(allPeers, ", "))
	}
	// The window's cost per packet: uplinkd's worker totals at the end of
	// the warm-up (its API), testpmd's forwarding statistics cleared then
	// (its interactive prompt, kept open on stdin).
	var base0 struct {
		WorkerBusyCycles uint64    `json:"worker_busy_cycles"`
		WorkerPackets    uint64    `json:"worker_packets"`
		LoopGaps         []uint64  `json:"loop_gaps"`
		BoundsUS         []float64 `json:"loop_gap_bounds_us"`
		MaxLoopGapUS     float64   `json:"max_loop_gap_us"`
	}
	if strings.HasPrefix(peer, "uplinkd") {
		run.baseline = func() error {
			resp, err := apiClient(run.api).Get("http://uplinkd/v1/status")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&base0)
		}
	} else {
		sw.Stdout, sw.Stderr = &out, &out
		var err error
		stdin, err = sw.StdinPipe()
		check(err)
		run.baseline = func() error {
			_, err := io.WriteString(stdin, "clear fwd stats all\n")
			return err
		}
	}
	if err := sw.Start(); err != nil {
		return res, err
	}
	defer func() {
		if sw.ProcessState == nil {
			sw.Process.Kill()
			sw.Wait()
		}
	}()
	for _, sk := range append(slices.Clone(socks), st.wires...) {
		waitForPath(sk)
	}
	rep, err := withLoad(run, st, func() (genReport, error) { return runGen(run, prefix, size, socks, false, st) })
	if err != nil {
		return res, fmt.Errorf("%v\n%s", err, out.String())
	}
	res.mpps = rep.num("window_mpps")
	res.lat = latencyOf(rep)
	res.offered, res.refused, res.skipped, res.backlog = rep.num("window_offered"), rep.num("window_refused"), rep.num("window_skipped"), rep.num("max_backlog")
	switch peer {
	case "uplinkd", "uplinkd-registered", "uplinkd-vmaware", "uplinkd-dos":
		sw.Process.Signal(syscall.SIGTERM)
		if err := sw.Wait(); err != nil {
			return res, fmt.Errorf("uplinkd: %v\n%s", err, out.String())
		}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev["event"] == "status" {
				cycles, _ := ev["worker_busy_cycles"].(float64)
				pkts, _ := ev["worker_packets"].(float64)
				if n := pkts - float64(base0.WorkerPackets); n > 0 {
					res.cycles = (cycles - float64(base0.WorkerBusyCycles)) / n
				}
				res.util = utilisation(cycles-float64(base0.WorkerBusyCycles), rep)
				maxUS, _ := ev["max_loop_gap_us"].(float64)
				var end []uint64
				cs, _ := ev["loop_gaps"].([]any)
				for _, c := range cs {
					f, _ := c.(float64)
					end = append(end, uint64(f))
				}
				res.gaps = gapDelta(base0.LoopGaps, end)
				res.gapUS, res.gapExact = windowGap(base0.MaxLoopGapUS, maxUS, res.gaps, base0.BoundsUS)
				res.fill, _ = ev["pkts_per_busy_loop"].(float64)
			}
		}
	default: // testpmd
		io.WriteString(stdin, "stop\nquit\n")
		stdin.Close()
		if err := sw.Wait(); err != nil {
			return res, fmt.Errorf("testpmd: %v\n%s", err, out.String())
		}
		// "total cycles" are the forwarding core's busy cycles: testpmd
		// counts only the polls that received packets.
		m := regexp.MustCompile(`CPU cycles/packet=([0-9.]+) \(total cycles=([0-9]+)`).FindStringSubmatch(out.String())
		if m == nil {
			return res, fmt.Errorf("testpmd printed no cycles/packet:\n%s", out.String())
		}
		res.cycles, _ = strconv.ParseFloat(m[1], 64)
		busy, _ := strconv.ParseFloat(m[2], 64)
		res.util = utilisation(busy, rep)
	}
	if res.cycles == 0 || res.mpps == 0 {
		return res, fmt.Errorf("no figures (mpps %.2f, cycles %.1f):\n%s", res.mpps, res.cycles, out.String())
	}
	return res, nil
}

// utilisation is busy cycles of the switch core over all its cycles in
// the generator's window, in percent.
func utilisation(busy float64, rep genReport) float64 {
	all := rep.num("tsc_hz") * rep.num("window_seconds")
	if all <= 0 {
		return 0
	}
	return 100 * busy / all
}

// waitForPath waits up to 6 s for a socket a peer creates; the caller's
// next step reports it if it never came.
func waitForPath(path string) {
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cleanPrefix(prefix string) {
	m, _ := filepath.Glob(filepath.Join("/dev/hugepages", prefix+"map_*"))
	for _, f := range m {
		os.Remove(f)
	}
	os.RemoveAll(filepath.Join("/var/run/dpdk", prefix))
}

type mmm struct{ min, med, max float64 }

func stats(v []float64) mmm {
	slices.Sort(v)
	return mmm{v[0], v[len(v)/2], v[len(v)-1]}
}

func (m mmm) String() string { return fmt.Sprintf("%.1f / %.1f / %.1f", m.min, m.med, m.max) }

func report(w io.Writer, rs []result) {
	fmt.Fprintln(w, "\nmin / median / max over runs; busy cycles per packet on the switch core;")
	fmt.Fprintf(w, "util: the switch core's busy cycles over all its cycles in the window; %s: median util below %d %%,\n", genBoundMark, genBound)
	fmt.Fprintln(w, "the generator set the pace and the switch's cycles per packet include idle-burst overhead")
	fmt.Fprintf(w, "%-6s %-19s %-24s %-9s %-26s %-30s %s\n", "size", "peer", "Mpps", "Gbit/s", "cycles/pkt", "util %", "uplinkd max loop gap (us)")
	sizesSeen := []int{}
	for _, r := range rs {
		if !slices.Contains(sizesSeen, r.size) {
			sizesSeen = append(sizesSeen, r.size)
		}
	}
	for _, size := range sizesSeen {
		med := map[string]float64{}
		bound := map[string]bool{}
		for _, peer := range strings.Split(*peerList, ",") {
			var mpps, cyc, util, gap []float64
			for _, r := range rs {
				if r.size == size && r.peer == peer {
					mpps, cyc, gap = append(mpps, r.mpps), append(cyc, r.cycles), append(gap, r.gapUS)
					util = append(util, r.util)
				}
			}
			if len(cyc) == 0 {
				continue
			}
			g := ""
			if strings.HasPrefix(peer, "uplinkd") {
				g = stats(gap).String()
			}
			c, m := stats(cyc), stats(mpps)
			med[peer] = c.med
			u, mark := utilCell(util)
			bound[peer] = mark != ""
			fmt.Fprintf(w, "%-6d %-19s %-24s %-9.2f %-26s %-30s %s\n", size, peer, m, m.med*float64(size)*8/1000, c, u+mark, g)
		}
		// A ratio with a generator-bound side compares idle overhead, not
		// the switches' work: say so beside it.
		note := func(peers ...string) string {
			var b []string
			for _, p := range peers {
				if bound[p] {
					b = append(b, p)
				}
			}
			if len(b) == 0 {
				return ""
			}
			return fmt.Sprintf("  [%s: %s]", genBoundMark, strings.Join(b, ", "))
		}
		floor := med["testpmd-io"]
		for _, peer := range strings.Split(*peerList, ",") {
			if strings.HasPrefix(peer, "uplinkd") && med[peer] > 0 && floor > 0 {
				fmt.Fprintf(w, "%-6d ratio %s/testpmd-io busy cycles per packet (medians): %.2fx (target <= %.2fx)%s\n", size, peer, med[peer]/floor, targets[peer], note(peer, "testpmd-io"))
			}
		}
		if med["uplinkd-dos"] > 0 && med["uplinkd"] > 0 {
			fmt.Fprintf(w, "%-6d DoS counters' cost: uplinkd-dos %.1f vs uplinkd %.1f busy cycles per packet (medians), +%.1f%s\n",
				size, med["uplinkd-dos"], med["uplinkd"], med["uplinkd-dos"]-med["uplinkd"], note("uplinkd-dos", "uplinkd"))
		}
		for _, bond := range []string{"testpmd-bond0", "testpmd-bond1", "testpmd-bond2", "testpmd-bond5", "ovs-slb", "ovs-ab"} {
			if med[bond] > 0 && med["uplinkd-vmaware"] > 0 {
				target := ""
				if strings.HasPrefix(bond, "ovs-") {
					target = " (target >= 1.5x)"
				}
				fmt.Fprintf(w, "%-6d %s / uplinkd-vmaware busy cycles per packet (medians): %.2fx%s%s\n",
					size, bond, med[bond]/med["uplinkd-vmaware"], target, note(bond, "uplinkd-vmaware"))
			}
		}
	}
}

// genBoundMark marks a throughput cell whose switch was not kept busy.
const genBoundMark = "gen-bound"

// utilCell is a cell's utilisation figures, min / median / max, and the
// generator-bound mark when the median is below genBound.
func utilCell(util []float64) (string, string) {
	u := stats(slices.Clone(util))
	cell := fmt.Sprintf("%.0f / %.0f / %.0f", u.min, u.med, u.max)
	if u.med < genBound {
		return cell, " " + genBoundMark
	}
	return cell, ""
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
