package main

// The report: every figure of a run under bench/results/<timestamp>/ —
// report.md (the tables printed on the terminal, with the machine's load
// beside each run), results.csv (one row per measurement) and PNG plots
// made with gonum.org/v1/plot.

import (
	"encoding/csv"
	"fmt"
	"image/color"
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
	w.Write([]string{"scenario", "peer", "size_bytes", "mpps", "busy_cycles_per_pkt", "pkts_per_busy_loop",
		"max_loop_gap_us", "failover_gap_ms", "switchover_ms", "sent", "lost", "load", "steal_pct"})
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, x := range r.results {
		w.Write([]string{"throughput", x.peer, strconv.Itoa(x.size), f64(x.mpps), f64(x.cycles), f64(x.fill),
			f64(x.gapUS), "", "", "", "", x.load, f64(x.steal)})
	}
	ms := func(d time.Duration) string {
		if d < 0 {
			return "never"
		}
		return f64(float64(d.Microseconds()) / 1000)
	}
	for _, x := range r.fo {
		w.Write([]string{"failover", x.peer, "60", "", "", "", "", ms(x.gap), ms(x.switchover),
			strconv.Itoa(x.sent), strconv.Itoa(x.lost), "", ""})
	}
	w.Flush()
	return w.Error()
}

func sizesOf(rs []result) []int {
	var out []int
	for _, x := range rs {
		if !slices.Contains(out, x.size) {
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
			if x.peer == peer && x.size == size {
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
