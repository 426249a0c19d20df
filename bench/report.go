package main

// The report: every figure of a run under bench/results/<timestamp>/ —
// report.md (the tables printed on the terminal, with the machine's load
// beside each run), results.csv (one row per measurement) and PNG plots
// made with gonum.org/v1/plot.

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// reportDir collects what a run printed and measured.
type reportDir struct {
	dir     string
	md      strings.Builder
	results []result
	fo      []failoverResult
	fair    []fairResult
}

func newReport(root string) (*reportDir, error) {
	dir := filepath.Join(root, time.Now().UTC().Format("20060102-150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &reportDir{dir: dir}
	host, _ := os.Hostname()
	fmt.Fprintf(&r.md, "# uplinkd benchmark, %s\n\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&r.md, "Machine: %s, %d CPUs, %s. Generator on CPU 0, each switch's worker/PMD on CPU 1; "+
		"%d runs of %d s per peer and size, interleaved; min / median / max.\n\n", host, runtime.NumCPU(), cpuModel(), *runs, *seconds)
	return r, nil
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// section adds text printed on the terminal as a preformatted block.
func (r *reportDir) section(title, text string) {
	fmt.Fprintf(&r.md, "## %s\n\n```\n%s```\n\n", title, text)
}

// markdown adds a section of markdown (a table, prose) written by report.
func (r *reportDir) markdown(title string, report func(io.Writer)) {
	fmt.Fprintf(&r.md, "## %s\n\n", title)
	report(&r.md)
	r.md.WriteString("\n")
}

// printed runs report on the terminal and into a section titled title.
func (r *reportDir) printed(title string, report func(io.Writer)) {
	var t strings.Builder
	report(io.MultiWriter(os.Stdout, &t))
	r.section(title, t.String())
}

func (r *reportDir) write() error {
	if err := r.writeCSV(); err != nil {
		return err
	}
	for _, size := range sizesOf(r.results) {
		name := fmt.Sprintf("cycles-%dB.png", size)
		if err := r.plotCycles(size, filepath.Join(r.dir, name)); err != nil {
			return err
		}
		fmt.Fprintf(&r.md, "![busy cycles per packet at %d B](%s)\n\n", size, name)
	}
	return os.WriteFile(filepath.Join(r.dir, "report.md"), []byte(r.md.String()), 0o644)
}

func (r *reportDir) writeCSV() error {
	f, err := os.Create(filepath.Join(r.dir, "results.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write([]string{"scenario", "peer", "size_bytes", "vms", "flows", "mpps", "busy_cycles_per_pkt", "util_pct", "pkts_per_busy_loop",
		"max_loop_gap_us", "p50_us", "p99_us", "p999_us", "max_us", "jain", "failover_gap_ms", "switchover_ms", "sent", "lost", "load", "steal_pct"})
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, x := range r.results {
		lat := []string{"", "", "", ""}
		if strings.HasPrefix(x.scenario, "latency") {
			lat = []string{f64(x.lat.p50), f64(x.lat.p99), f64(x.lat.p999), f64(x.lat.max)}
		}
		w.Write(append(append([]string{x.scenario, x.peer, strconv.Itoa(x.size), strconv.Itoa(x.vms), strconv.Itoa(x.flows),
			f64(x.mpps), f64(x.cycles), f64(x.util), f64(x.fill), f64(x.gapUS)}, lat...), "", "", "", "", "", x.load, f64(x.steal)))
	}
	for _, x := range r.fair {
		w.Write([]string{"fairness", "uplinkd", "64", strconv.Itoa(fairVMs), "", "", "", "", "", "", "", "", "", "", f64(x.jain), "", "", "", "", "", ""})
	}
	ms := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return f64(float64(d.Microseconds()) / 1000)
	}
	for _, x := range r.fo {
		w.Write([]string{"failover", x.peer, "64", "1", "1", "", "", "", "", "", "", "", "", "", "", ms(x.gap), ms(x.switchover),
			strconv.Itoa(x.sent), strconv.Itoa(x.lost), "", ""})
	}
	w.Flush()
	return w.Error()
}

func sizesOf(rs []result) []int {
	var out []int
	for _, x := range rs {
		if x.scenario == "throughput" && !slices.Contains(out, x.size) {
			out = append(out, x.size)
		}
	}
	return out
}

// plotCycles draws each peer's median busy cycles per packet at one size,
// with whiskers from min to max.
func (r *reportDir) plotCycles(size int, path string) error {
	var peers []string
	var med plotter.Values
	var errs plotter.YErrors
	for _, peer := range strings.Split(*peerList, ",") {
		var v []float64
		for _, x := range r.results {
			if x.scenario == "throughput" && x.peer == peer && x.size == size {
				v = append(v, x.cycles)
			}
		}
		if len(v) == 0 {
			continue
		}
		m := stats(v)
		peers = append(peers, peer)
		med = append(med, m.med)
		errs = append(errs, struct{ Low, High float64 }{m.med - m.min, m.max - m.med})
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Busy cycles per packet on the switch core, %d B frames (lower is better)", size)
	p.Y.Label.Text = "TSC cycles per packet"
	bars, err := plotter.NewBarChart(med, vg.Points(28))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{R: 70, G: 110, B: 170, A: 255}
	p.Add(bars)
	whiskers, err := plotter.NewYErrorBars(struct {
		plotter.XYer
		plotter.YErrorer
	}{barXYs(med), errs})
	if err != nil {
		return err
	}
	p.Add(whiskers)
	p.NominalX(peers...)
	return p.Save(vg.Length(30+32*len(peers))*vg.Millimeter, 100*vg.Millimeter, path)
}

func barXYs(v plotter.Values) plotter.XYs {
	xy := make(plotter.XYs, len(v))
	for i := range v {
		xy[i].X, xy[i].Y = float64(i), v[i]
	}
	return xy
}

// reportCoverage is the scenario × peer grid: what was measured, and
// why the rest cannot be (numbered reasons below the grid).
func reportCoverage(w io.Writer) {
	listed := func(list, peer string) bool { return slices.Contains(strings.Split(list, ","), peer) }
	scenarios := []struct {
		name string
		na   func(peer string) string
		ran  func(peer string) bool
	}{
		{"throughput", func(string) string { return "" }, func(string) bool { return *runs > 0 }},
		{"scale", func(p string) string { return scaleNA(p, 2) }, func(p string) bool { return *scaleRuns > 0 && listed(*scalePeers, p) }},
		{"latency", func(p string) string { return latencyNA(p, false) }, func(p string) bool { return *latRuns > 0 && listed(*latPeers, p) }},
		{"lat-loaded", func(p string) string { return latencyNA(p, true) }, func(p string) bool { return *latRuns > 0 && listed(*latPeers, p) }},
		{"fairness", fairnessNA, func(string) bool { return *fairRuns > 0 }},
		{"failover", failoverNA, func(string) bool { return *foRuns > 0 }},
		{"dos-detect", dosNA, func(string) bool { return *dosRuns > 0 }},
	}
	fmt.Fprintln(w, "\nscenario × peer: \"yes\" measured; \"n/a N\" not applicable for reason N; \"-\" left out by this run's flags")
	fmt.Fprintf(w, "%-19s", "peer")
	for _, sc := range scenarios {
		fmt.Fprintf(w, " %-11s", sc.name)
	}
	fmt.Fprintln(w)
	var reasons []string
	for _, peer := range strings.Split(*peerList, ",") {
		fmt.Fprintf(w, "%-19s", peer)
		for _, sc := range scenarios {
			cell := "-"
			if sc.name == "scale" && strings.HasPrefix(peer, "testpmd") && sc.ran(peer) {
				cell = "yes*"
			} else if why := sc.na(peer); why != "" {
				i := slices.Index(reasons, why)
				if i < 0 {
					reasons = append(reasons, why)
					i = len(reasons) - 1
				}
				cell = fmt.Sprintf("n/a %d", i+1)
			} else if sc.ran(peer) {
				cell = "yes"
			}
			fmt.Fprintf(w, " %-11s", cell)
		}
		fmt.Fprintln(w)
	}
	for i, r := range reasons {
		fmt.Fprintf(w, "%2d. %s\n", i+1, r)
	}
	fmt.Fprintf(w, "* 1 VM only; with 2 and 8 VMs: %s\n", scaleNA("testpmd-io", 2))
}
