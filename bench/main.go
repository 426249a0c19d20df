// Command bench measures uplinkd against dpdk-testpmd in io forwarding mode
// (the do-nothing floor) on one topology and one pinning, in one run:
//
//	uplink-gen (core 0) -> vhost-user -> switch worker (core 1) -> two net_null NICs
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
	peer   string
	size   int
	mpps   float64
	cycles float64
	gapUS  float64
	load   string
}

var (
	binDir   = flag.String("bin", "bin", "directory with uplinkd and uplink-gen")
	runs     = flag.Int("runs", 3, "repetitions per peer and size")
	seconds  = flag.Int("seconds", 5, "generator run per measurement")
	sizes    = flag.String("sizes", "64,1518", "frame sizes")
	microBen = flag.Bool("micro", true, "also run the fastpath go test benchmarks")
	peerList = flag.String("peers", strings.Join(allPeers, ","), "peers to measure")
)

// allPeers: uplinkd with its worker as an EAL lcore calling into Go (the
// default), uplinkd with its worker as a Go thread registered with
// rte_thread_register (the other thread model, measured to justify the
// choice), and testpmd io forwarding, the floor.
var allPeers = []string{"uplinkd", "uplinkd-registered", "testpmd-io"}

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "uplinkd-bench-")
	check(err)
	defer os.RemoveAll(dir)
	var results []result
	for _, s := range strings.Split(*sizes, ",") {
		size, err := strconv.Atoi(s)
		check(err)
		for r := 0; r < *runs; r++ {
			for _, peer := range strings.Split(*peerList, ",") {
				res, err := measure(dir, peer, size)
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s %dB run %d: %v\n", peer, size, r+1, err)
					os.Exit(1)
				}
				fmt.Printf("  %-10s %5d B  run %d: %6.2f Mpps  %7.1f cycles/pkt  load %s\n", peer, size, r+1, res.mpps, res.cycles, res.load)
				results = append(results, res)
			}
		}
	}
	report(results)
	if *microBen {
		fmt.Println("\nfastpath per-packet work (go test -bench, 32-packet bursts):")
		cmd := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchmem", "./fastpath/")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		check(cmd.Run())
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return "?"
	}
	return f[0]
}

func measure(dir, peer string, size int) (result, error) {
	sock := filepath.Join(dir, "vm1.sock")
	os.Remove(sock)
	res := result{peer: peer, size: size, load: loadavg()}
	var sw *exec.Cmd
	var stdin io.WriteCloser
	var out strings.Builder
	prefix := fmt.Sprintf("uplk-bench-%s-%d", peer, os.Getpid())
	defer cleanPrefix(prefix)
	switch peer {
	case "uplinkd", "uplinkd-registered":
		thread := "lcore"
		if peer == "uplinkd-registered" {
			thread = "registered"
		}
		cfg := filepath.Join(dir, "bench.toml")
		check(os.WriteFile(cfg, []byte(fmt.Sprintf(`
[eal]
file_prefix = %q
main_lcore = 0
worker_lcores = [1]
worker_thread = %q
memory_mb = 256
[dataplane]
mtu = 1500
[[teams]]
name = "t"
policy = "src-mac-hash"
[[nics]]
name = "null0"
vdev = "net_null0,no-rx=1"
team = "t"
[[nics]]
name = "null1"
vdev = "net_null1,no-rx=1"
team = "t"
[[vms]]
name = "vm1"
socket = %q
macs = ["02:00:00:00:00:01"]
team = "t"
`, prefix, thread, sock)), 0o600))
		sw = exec.Command(filepath.Join(*binDir, "uplinkd"), "--config", cfg, "--log-format", "json", "--status-interval", "0")
		sw.Stderr = &out
	case "testpmd-io":
		sw = exec.Command("stdbuf", "-o0", "dpdk-testpmd", "-l", "0,1", "--main-lcore", "0", "--file-prefix", prefix,
			"-m", "256", "--no-pci", "--vdev", "net_vhost0,iface="+sock+",queues=1",
			"--vdev", "net_null0,no-rx=1", "--vdev", "net_null1,no-rx=1", "--",
			"--forward-mode=io", "--record-core-cycles", "--auto-start", "--port-topology=chained",
			"--nb-cores=1", "--rxq=1", "--txq=1")
		sw.Stdout, sw.Stderr = &out, &out
		// testpmd quits on a newline (or EOF) on stdin: keep it open.
		var err error
		stdin, err = sw.StdinPipe()
		check(err)
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
	for i := 0; i < 300; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	gen := exec.Command(filepath.Join(*binDir, "uplink-gen"), "--file-prefix", prefix+"-gen", "--lcore", "0",
		"--vm", "name=vm1,socket="+sock+",mac=02:00:00:00:00:01", "--size", strconv.Itoa(size),
		"--duration", fmt.Sprintf("%ds", *seconds), "--progress", "0", "--flows", "64")
	genOut, err := gen.Output()
	cleanPrefix(prefix + "-gen")
	if err != nil {
		return res, fmt.Errorf("uplink-gen: %v\n%s", err, out.String())
	}
	for _, line := range strings.Split(string(genOut), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["event"] == "report" {
			res.mpps, _ = ev["mpps"].(float64)
		}
	}
	switch peer {
	case "uplinkd", "uplinkd-registered":
		sw.Process.Signal(syscall.SIGTERM)
		if err := sw.Wait(); err != nil {
			return res, fmt.Errorf("uplinkd: %v\n%s", err, out.String())
		}
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev["event"] == "status" {
				res.cycles, _ = ev["busy_cycles_per_pkt"].(float64)
				res.gapUS, _ = ev["max_loop_gap_us"].(float64)
			}
		}
	case "testpmd-io":
		stdin.Write([]byte("\n"))
		stdin.Close()
		if err := sw.Wait(); err != nil {
			return res, fmt.Errorf("testpmd: %v\n%s", err, out.String())
		}
		m := regexp.MustCompile(`CPU cycles/packet=([0-9.]+)`).FindStringSubmatch(out.String())
		if m == nil {
			return res, fmt.Errorf("testpmd printed no cycles/packet:\n%s", out.String())
		}
		res.cycles, _ = strconv.ParseFloat(m[1], 64)
	}
	if res.cycles == 0 || res.mpps == 0 {
		return res, fmt.Errorf("no figures (mpps %.2f, cycles %.1f):\n%s", res.mpps, res.cycles, out.String())
	}
	return res, nil
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

func report(rs []result) {
	fmt.Println("\nmin / median / max over runs; busy cycles per packet on the switch core")
	fmt.Printf("%-6s %-19s %-24s %-26s %s\n", "size", "peer", "Mpps", "cycles/pkt", "uplinkd max loop gap (us)")
	sizesSeen := []int{}
	for _, r := range rs {
		if !slices.Contains(sizesSeen, r.size) {
			sizesSeen = append(sizesSeen, r.size)
		}
	}
	for _, size := range sizesSeen {
		med := map[string]float64{}
		for _, peer := range strings.Split(*peerList, ",") {
			var mpps, cyc, gap []float64
			for _, r := range rs {
				if r.size == size && r.peer == peer {
					mpps, cyc, gap = append(mpps, r.mpps), append(cyc, r.cycles), append(gap, r.gapUS)
				}
			}
			if len(cyc) == 0 {
				continue
			}
			g := ""
			if strings.HasPrefix(peer, "uplinkd") {
				g = stats(gap).String()
			}
			c := stats(cyc)
			med[peer] = c.med
			fmt.Printf("%-6d %-19s %-24s %-26s %s\n", size, peer, stats(mpps), c, g)
		}
		floor := med["testpmd-io"]
		for _, peer := range strings.Split(*peerList, ",") {
			if strings.HasPrefix(peer, "uplinkd") && med[peer] > 0 && floor > 0 {
				fmt.Printf("%-6d ratio %s/testpmd-io busy cycles per packet (medians): %.2fx (target <= 1.25x)\n", size, peer, med[peer]/floor)
			}
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
