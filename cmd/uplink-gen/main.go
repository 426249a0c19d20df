// Command uplink-gen plays one or more VMs against a vhost-user switch: a
// DPDK process with one net_virtio_user port per VM that sends frames at a
// set rate and size over a set number of flows, counts what it receives,
// and reports both as JSON lines on stdout. Frames are built once and
// re-sent from a pool of prepared frames (framepool.go), so the generator
// does no per-frame copy.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/fastpath"
)

type vmSpec struct {
	Name   string
	Socket string
	MAC    fastpath.MAC
	Dst    fastpath.MAC
	// Rate overrides --rate for this VM when HasRate.
	Rate    float64
	HasRate bool
	// Server: the VM serves the vhost-user socket and the switch connects
	// (OVS's dpdkvhostuserclient ports, QEMU's server=on).
	Server bool
	// MACs is how many source MACs the VM's flows are spread over: MAC,
	// MAC+0x100, MAC+0x200, ... (see srcMAC).
	MACs int
	// VLAN tags the VM's frames (a trunk's guest), 0: untagged.
	VLAN uint16
}

func parseVM(s string) (vmSpec, error) {
	v := vmSpec{Dst: 0x02fe00000001, MACs: 1}
	for _, kv := range strings.Split(s, ",") {
		k, val, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "name":
			v.Name = val
		case "socket":
			v.Socket = val
		case "mac":
			v.MAC, err = fastpath.ParseMAC(val)
		case "dst":
			v.Dst, err = fastpath.ParseMAC(val)
		case "rate":
			v.Rate, err = strconv.ParseFloat(val, 64)
			v.HasRate = true
		case "server":
			v.Server = val == "" || val == "1" || val == "true"
		case "vlan":
			var id int
			id, err = strconv.Atoi(val)
			if err == nil && (id < 1 || id > 4094) {
				err = fmt.Errorf("%d: must be 1-4094", id)
			}
			v.VLAN = uint16(id)
		case "macs":
			v.MACs, err = strconv.Atoi(val)
			if err == nil && (v.MACs < 1 || v.MACs > 256) {
				err = fmt.Errorf("%d: must be 1-256", v.MACs)
			}
		default:
			err = fmt.Errorf("unknown field %q", k)
		}
		if err != nil {
			return v, fmt.Errorf("--vm %q: %s: %w", s, k, err)
		}
	}
	if v.Name == "" || v.Socket == "" || v.MAC == 0 {
		return v, fmt.Errorf("--vm %q: name, socket and mac are required", s)
	}
	return v, nil
}

type options struct {
	vms       []string
	size      int
	rate      float64
	count     uint64
	duration  time.Duration
	flows     int
	hold      bool
	prefix    string
	lcore     int
	memory    int
	hugeDir   string
	progress  time.Duration
	queueSize int
	waitLink  time.Duration
	nics      []string
	latency   bool
	warmup    time.Duration
	fixedRate bool
}

func main() {
	var o options
	cmd := &cobra.Command{
		Use:   "uplink-gen",
		Short: "play VMs through vhost-user: send, receive, count",
		Long: `uplink-gen connects one net_virtio_user port per --vm to a vhost-user
socket and sends Ethernet/IPv4/UDP frames from the VM's MAC. It prints JSON
lines on stdout: "ready" once every link is up, "progress" every
--progress, and a final "report" with per-VM sent and received counts and
the mempool's in-use count at start and end.

It stops sending after --count frames per VM, after --duration, or on
SIGUSR1, whichever comes first; with --hold it then keeps receiving until
SIGINT or SIGTERM.`,
		SilenceUsage: true,
		RunE:         func(*cobra.Command, []string) error { return run(o) },
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.vms, "vm", nil, "a VM to play: name=N,socket=PATH,mac=MAC[,macs=N][,dst=MAC][,rate=FPS][,server=1][,vlan=VID] (repeatable)")
	f.IntVar(&o.size, "size", 64, "frame size in bytes, without CRC")
	f.Float64Var(&o.rate, "rate", 0, "frames per second per VM (0: as fast as possible; negative: send nothing)")
	f.BoolVar(&o.fixedRate, "fixed-rate", false, "with a rate: offer each frame once, at its time; a frame the VM's ring refuses is lost (counted as refused), not sent again later")
	f.Uint64Var(&o.count, "count", 0, "frames per VM, then stop sending (0: no limit)")
	f.DurationVar(&o.duration, "duration", 0, "stop sending after this long (0: no limit)")
	f.IntVar(&o.flows, "flows", 1, "distinct 5-tuples per VM")
	f.BoolVar(&o.hold, "hold", false, "after sending, keep receiving until signalled")
	f.StringVar(&o.prefix, "file-prefix", "uplink-gen", "EAL --file-prefix")
	f.IntVar(&o.lcore, "lcore", 0, "lcore (CPU) to run on")
	f.IntVar(&o.memory, "memory", 256, "hugepage memory in MB")
	f.StringVar(&o.hugeDir, "huge-dir", "/dev/hugepages", "hugetlbfs mount")
	f.DurationVar(&o.progress, "progress", time.Second, "progress line interval (0: none)")
	f.IntVar(&o.queueSize, "queue-size", 1024, "virtqueue size")
	f.DurationVar(&o.waitLink, "wait-link", 10*time.Second, "how long to wait for the switch to bring the links up")
	f.StringArrayVar(&o.nics, "nic", nil, "play the network behind one of the switch's NICs, a net_vhost port the switch serves: socket=PATH (repeatable)")
	f.BoolVar(&o.latency, "latency", false, "stamp every frame with the TSC and report the latency percentiles of those the --nic ports receive")
	f.DurationVar(&o.warmup, "warmup", 0, "a first stretch that is not measured: a \"measuring\" line marks its end, the report's window_mpps and latencies count only what follows")
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}

type vmState struct {
	spec   vmSpec
	port   dpdk.Port
	frames []*dpdk.Mbuf // --latency: C array of prepared frames to copy
	// framePool holds the prepared frames sent as they are (without
	// --latency).
	framePool *dpdk.Pool
	next      int
	// Counters, written by the loop, read by the progress printer.
	sent, received, rxOwn, rxBcast, rxMcast, rxOther atomic.Uint64
	rxBytes                                          atomic.Uint64
	// --fixed-rate: frames offered at their time, those of them the ring
	// refused (lost), and the slots the generator itself missed (it
	// stalled): offered + skipped frame slots have passed. Written by the
	// loop only.
	offered, refused, skipped uint64
}

type vmReport struct {
	Name     string `json:"name"`
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	RxOwn    uint64 `json:"rx_unicast_own"`
	RxBcast  uint64 `json:"rx_broadcast"`
	RxMcast  uint64 `json:"rx_multicast"`
	RxOther  uint64 `json:"rx_other"`
	RxBytes  uint64 `json:"rx_bytes"`
}

func (v *vmState) report() vmReport {
	return vmReport{Name: v.spec.Name, Sent: v.sent.Load(), Received: v.received.Load(),
		RxOwn: v.rxOwn.Load(), RxBcast: v.rxBcast.Load(), RxMcast: v.rxMcast.Load(), RxOther: v.rxOther.Load(),
		RxBytes: v.rxBytes.Load()}
}

var out = json.NewEncoder(os.Stdout)

func emit(ev string, fields map[string]any) {
	fields["event"] = ev
	fields["time"] = time.Now().Format(time.RFC3339Nano)
	out.Encode(fields)
}

func run(o options) (err error) {
	var specs []vmSpec
	for _, s := range o.vms {
		v, err := parseVM(s)
		if err != nil {
			return err
		}
		specs = append(specs, v)
	}
	if len(specs) == 0 {
		return fmt.Errorf("at least one --vm is needed")
	}
	if o.size < 1 || o.size > maxFrameSize {
		return fmt.Errorf("--size %d: must be 1-%d", o.size, maxFrameSize)
	}
	if o.flows < 1 {
		return fmt.Errorf("--flows %d: must be at least 1", o.flows)
	}
	if o.latency && (len(o.nics) == 0 || o.size < stampOff+stampLen) {
		return fmt.Errorf("--latency needs --nic ports to receive on and --size of at least %d", stampOff+stampLen)
	}
	defer dpdk.RemoveRuntimeFiles(o.hugeDir, o.prefix)
	args := []string{"uplink-gen", "-l", strconv.Itoa(o.lcore), "--file-prefix", o.prefix, "-m", strconv.Itoa(o.memory),
		"--huge-dir", o.hugeDir, "--no-pci", "--single-file-segments", "--log-level", "notice"}
	if err := dpdk.Init(args); err != nil {
		return err
	}
	defer dpdk.Cleanup()

	// One prepared frame per flow (each VM's frame pool without
	// --latency, the copies' source in this pool with it: 100k flows cost
	// 100k mbufs, size --memory for it), and room for what the ports hold.
	nframes := min(o.flows, 1<<17)
	inPool := 0
	if o.latency {
		inPool = nframes
	}
	pool, err := dpdk.NewPool("gen_pkts", uint32(len(specs)*(inPool+4096)+len(o.nics)*4096+4096), 256, frameDataRoom(o.size))
	if err != nil {
		return err
	}
	defer pool.Free()

	// Counted before any port exists and again after every port is closed:
	// all mbufs must be back.
	inUseStart := pool.InUse()
	vms := make([]*vmState, len(specs))
	// Every port is closed once: at the end, before the final mbuf count,
	// or on an early return.
	var opened []dpdk.Port
	closePorts := func() {
		for _, p := range opened {
			p.Detach()
		}
		opened = nil
	}
	defer func() { closePorts() }()
	open := func(what, devargs string) (dpdk.Port, error) {
		port, err := dpdk.Probe(devargs)
		if err != nil {
			return port, fmt.Errorf("%s: %w", what, err)
		}
		opened = append(opened, port)
		if err := port.Configure(1, 1, uint16(o.queueSize), pool, portMTU(o.size)); err != nil {
			return port, fmt.Errorf("%s: %w", what, err)
		}
		if err := port.Start(); err != nil {
			return port, fmt.Errorf("%s: %w", what, err)
		}
		return port, nil
	}
	for i, s := range specs {
		devargs := fmt.Sprintf("net_virtio_user%d,path=%s,queue_size=%d", i, s.Socket, o.queueSize)
		if s.Server {
			devargs += ",server=1"
		}
		port, err := open("vm "+s.Name, devargs)
		if err != nil {
			return err
		}
		vms[i] = &vmState{spec: s, port: port}
	}
	var nics []dpdk.Port
	for i, s := range o.nics {
		devargs, err := parseNIC(i, s)
		if err != nil {
			return err
		}
		port, err := open("--nic "+s, devargs)
		if err != nil {
			return err
		}
		nics = append(nics, port)
	}
	deadline := time.Now().Add(o.waitLink)
	ports := slices.Clone(nics)
	for _, v := range vms {
		ports = append(ports, v.port)
	}
	for _, port := range ports {
		for {
			l, _ := port.Link()
			if l.Up {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: link not up after %s", port.Name, o.waitLink)
			}
			time.Sleep(time.Millisecond)
		}
	}

	for i, v := range vms {
		if !o.latency {
			if v.framePool, err = newFramePool(i, v.spec, nframes, o.size, o.queueSize); err != nil {
				return err
			}
			defer v.framePool.Free()
			continue
		}
		v.frames = dpdk.NewBurstBuf(nframes)
		defer dpdk.FreeBurstBuf(v.frames)
		if err := pool.AllocBulk(v.frames); err != nil {
			return err
		}
		for f, m := range v.frames {
			buildFrameIn(m.Buffer(), v.spec.Dst, srcMAC(v.spec.MAC, v.spec.MACs, f), o.size, uint32(f), v.spec.VLAN)
			m.SetLen(uint16(o.size))
		}
	}

	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	// SIGUSR1 ends sending early; with --hold the generator keeps
	// receiving, so a test can stop the traffic at a moment of its choice
	// and then count what arrived.
	var stopSending atomic.Bool
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() { <-usr1; stopSending.Store(true) }()

	emit("ready", map[string]any{"vms": len(vms), "mbufs_in_use": inUseStart})
	done := make(chan struct{})
	// sendingNow tells progress readers when sending has ended (--count
	// or --duration reached) while the generator holds on receiving.
	var sendingNow atomic.Bool
	if o.progress > 0 {
		go func() {
			t := time.NewTicker(o.progress)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					emit("progress", map[string]any{"vms": reports(vms), "sending": sendingNow.Load()})
				}
			}
		}()
	}

	start := time.Now()
	hz := float64(dpdk.TSCHz())
	t0 := dpdk.TSC()
	rxbuf := dpdk.NewBurstBuf(dpdk.Burst)
	defer dpdk.FreeBurstBuf(rxbuf)
	burst := dpdk.NewBurstBuf(sendBurst)
	defer dpdk.FreeBurstBuf(burst)
	sending := o.rate >= 0
	for _, v := range vms {
		if v.spec.HasRate && v.spec.Rate >= 0 {
			sending = true
		}
	}
	// The measured window starts after the warm-up: a "measuring" line
	// tells whoever reads the switch's counters to take their baseline.
	warmEnd := t0 + uint64(o.warmup.Seconds()*hz)
	// The end of sending in TSC cycles: the loop reads the TSC anyway, a
	// clock read per loop would cost the generator a tenth of its speed.
	sendUntil := t0 + uint64(o.duration.Seconds()*hz)
	var warmSent uint64
	var warmAt, sendEnd time.Time
	if o.warmup <= 0 {
		warmAt = start
	}
	var sentAll, nicReceived uint64
	// --fixed-rate: the most frames that were due and not yet offered
	// after the warm-up; more than a ring's worth means the generator
	// itself fell behind the rate, and its figures say nothing of the
	// switch.
	var maxBacklog uint64
	var warmOffered, warmRefused, warmSkipped uint64
	var lat *latencies
	if o.latency {
		expect := 1 << 22
		if o.rate > 0 && o.duration > 0 {
			expect = int(o.rate*o.duration.Seconds()*float64(len(vms))) + 1<<16
		}
		lat = newLatencies(warmEnd, expect)
	}
	sendingNow.Store(sending)
	for !stop.Load() {
		now := dpdk.TSC()
		if warmAt.IsZero() && now >= warmEnd {
			warmSent, warmAt = sentAll, time.Now()
			for _, v := range vms {
				warmOffered += v.offered
				warmRefused += v.refused
				warmSkipped += v.skipped
			}
			emit("measuring", map[string]any{"sent": warmSent})
		}
		if sending && (stopSending.Load() || o.duration > 0 && now >= sendUntil) {
			sending = false
		}
		if sending {
			allDone := true
			for _, v := range vms {
				rate := o.rate
				if v.spec.HasRate {
					rate = v.spec.Rate
				}
				if rate < 0 {
					continue
				}
				sent := v.sent.Load()
				want := uint64(sendBurst)
				if o.count > 0 {
					want = min(want, o.count-sent)
				}
				if rate > 0 {
					// At a fixed rate what is due counts against what
					// was offered, refused or not; otherwise against what
					// the ring took, which catches up after a refusal.
					done := sent
					due := uint64(rate * float64(now-t0) / hz)
					if o.fixedRate {
						done = v.offered + v.skipped
						// Frames more than a ring behind their time were
						// missed by the generator (its core was taken):
						// sending them now in a burst would blame the
						// switch for the generator's stall. They are
						// skipped and counted apart.
						if due > done+uint64(o.queueSize) {
							if now >= warmEnd {
								maxBacklog = max(maxBacklog, due-done)
							}
							v.skipped += due - done - uint64(sendBurst)
							done = due - uint64(sendBurst)
						}
					}
					if due > done {
						want = min(want, due-done)
					} else {
						want = 0
					}
				}
				if o.count == 0 || sent < o.count {
					allDone = false
				}
				if want == 0 {
					continue
				}
				var n int
				if lat != nil {
					nf := len(v.frames)
					if pool.AllocBulk(burst[:want]) != nil {
						continue // the pool is empty for now: the switch holds them
					}
					copyStamped(burst[:want], v.frames, v.next, dpdk.TSC())
					n = dpdk.TxBurst(dpdk.QueueRef{Port: v.port.ID}, burst[:want])
					dpdk.FreeBulk(burst[n:want])
					v.next = (v.next + n) % nf
				} else {
					n = dpdk.TxFrames(dpdk.QueueRef{Port: v.port.ID}, v.framePool, burst[:want])
				}
				v.sent.Store(sent + uint64(n))
				sentAll += uint64(n)
				if o.fixedRate {
					v.offered += want
					v.refused += want - uint64(n)
				}
			}
			if allDone && o.count > 0 {
				sending = false
			}
		}
		sendingNow.Store(sending)
		if !sending && sendEnd.IsZero() {
			sendEnd = time.Now()
		}
		if !sending && !o.hold {
			break
		}
		for _, port := range nics {
			n := dpdk.RxBurst(dpdk.QueueRef{Port: port.ID}, rxbuf)
			if n == 0 {
				continue
			}
			if lat != nil {
				lat.observe(dpdk.TSC(), rxbuf[:n])
			}
			dpdk.FreeBulk(rxbuf[:n])
			nicReceived += uint64(n)
		}
		for _, v := range vms {
			n := dpdk.RxBurst(dpdk.QueueRef{Port: v.port.ID}, rxbuf)
			if n == 0 {
				continue
			}
			var own, bc, mc, other, bytes uint64
			for _, m := range rxbuf[:n] {
				bytes += uint64(m.PktLen())
				d := m.Data()
				if len(d) < 6 {
					other++
					continue
				}
				switch dst := fastpath.MACAt(d); {
				case dst == v.spec.MAC:
					own++
				case dst == fastpath.Broadcast:
					bc++
				case dst.IsGroup():
					mc++
				default:
					other++
				}
			}
			dpdk.FreeBulk(rxbuf[:n])
			v.received.Add(uint64(n))
			v.rxOwn.Add(own)
			v.rxBcast.Add(bc)
			v.rxMcast.Add(mc)
			v.rxOther.Add(other)
			v.rxBytes.Add(bytes)
		}
	}
	elapsed := time.Since(start)
	window, windowSec := 0.0, 0.0
	if sendEnd.IsZero() {
		sendEnd = time.Now()
	}
	if !warmAt.IsZero() && sendEnd.After(warmAt) {
		windowSec = sendEnd.Sub(warmAt).Seconds()
		window = float64(sentAll-warmSent) / windowSec / 1e6
	}
	close(done)
	// Close the ports first: the virtio PMD gives back the references its
	// tx ring still holds only when its queues are released.
	closePorts()
	for _, v := range vms {
		dpdk.FreeBulk(v.frames)
		clear(v.frames)
	}
	inUseEnd := pool.InUse()
	for _, v := range vms {
		// Every prepared frame must be back in its pool too.
		if v.framePool != nil {
			inUseEnd += v.framePool.InUse()
		}
	}
	rep := map[string]any{
		"vms": reports(vms), "seconds": elapsed.Seconds(),
		"mpps":        float64(sentAll) / elapsed.Seconds() / 1e6,
		"window_mpps": window,
		// The window's length and the TSC's rate: a switch's busy cycles
		// over tsc_hz*window_seconds is its core's utilisation.
		"window_seconds": windowSec, "tsc_hz": hz,
		"mbufs_in_use_start": inUseStart, "mbufs_in_use_end": inUseEnd,
		"nic_received": nicReceived,
	}
	if lat != nil {
		rep["latency"] = lat.report(hz)
	}
	if o.fixedRate {
		var offered, refused, skipped uint64
		for _, v := range vms {
			offered += v.offered
			refused += v.refused
			skipped += v.skipped
		}
		// The window's: frames offered after the warm-up, how many of them
		// the switch's ring refused, and the slots the generator missed.
		rep["window_offered"] = offered - warmOffered
		rep["window_refused"] = refused - warmRefused
		rep["window_skipped"] = skipped - warmSkipped
		rep["max_backlog"] = maxBacklog
	}
	emit("report", rep)
	return nil
}

func reports(vms []*vmState) []vmReport {
	r := make([]vmReport, len(vms))
	for i, v := range vms {
		r[i] = v.report()
	}
	return r
}
