package lab

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// A Flood is attack (or benign) traffic from "the network" to a VM:
// frames written into uplinkd through a tap's kernel side at a steady
// rate, from many source addresses, until stopped.
type Flood struct {
	tap   *Tap
	spec  FloodSpec
	stop  chan struct{}
	done  chan struct{}
	sent  atomic.Int64
	start time.Time
	err   error
	once  sync.Once
}

// FloodSpec says what to send.
type FloodSpec struct {
	Dst string // the VM's MAC
	// Kind: "syn" (TCP SYN to port 80), "amplification" (UDP from port
	// 53, 123 and 11211, 512 bytes), "fragments" (UDP first fragments),
	// "benign" (TCP ACKs and UDP between ephemeral ports: a busy server's
	// established traffic).
	Kind    string
	PPS     int
	Sources int // distinct source IPv4 addresses, cycled (default 1)
}

// Flood starts spec on this tap. The lab's cleanup stops it.
func (t *Tap) Flood(spec FloodSpec) *Flood {
	if spec.Sources <= 0 {
		spec.Sources = 1
	}
	f := &Flood{tap: t, spec: spec, stop: make(chan struct{}), done: make(chan struct{})}
	dst, err := net.ParseMAC(spec.Dst)
	if err != nil {
		t.lab.T.Fatalf("flood: %v", err)
	}
	f.start = time.Now()
	go f.run(dst)
	t.lab.T.Cleanup(func() { f.Stop() })
	return f
}

// Started is when the first frame was due.
func (f *Flood) Started() time.Time { return f.start }

// Sent is how many frames went out so far.
func (f *Flood) Sent() int { return int(f.sent.Load()) }

// Stop ends the flood and returns how many frames it sent.
func (f *Flood) Stop() int {
	f.once.Do(func() { close(f.stop) })
	<-f.done
	if f.err != nil {
		f.tap.lab.T.Errorf("flood %s: %v", f.spec.Kind, f.err)
	}
	return f.Sent()
}

// run paces the frames: every millisecond it sends what the rate says is
// due by then, so short sleeps do not lower the rate. A longer stall of
// this process (it shares two cores with uplinkd, and the host takes a
// core away for up to 100 ms) does not turn into a burst: frames more
// than 2 ms late are skipped, so the traffic stays as steady as its spec.
// A 40 ms backlog of a 2000-source flood, sent at once, put 800 sources
// into one 10 ms window of the DoS detector: an attack by its measure.
func (f *Flood) run(dst net.HardwareAddr) {
	defer close(f.done)
	to := &unix.SockaddrLinklayer{Ifindex: f.tap.ifindex, Halen: 6}
	buf := make([]byte, 600)
	var n, skipped int64
	maxLate := max(int64(f.spec.PPS)/500, 1)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		due := int64(time.Since(f.start).Seconds()*float64(f.spec.PPS)) - skipped
		if late := due - n; late > maxLate {
			skipped += late - maxLate
			due -= late - maxLate
		}
		for ; n < due; n++ {
			frame := f.build(buf, dst, n)
			if err := unix.Sendto(f.tap.fd, frame, 0, to); err != nil && err != unix.ENOBUFS {
				f.err = fmt.Errorf("sendto: %w", err)
				return
			}
			f.sent.Add(1)
		}
		select {
		case <-f.stop:
			return
		case <-tick.C:
		}
	}
}

// build writes frame number n of the flood into buf.
func (f *Flood) build(buf []byte, dst net.HardwareAddr, n int64) []byte {
	src := 0xc6120000 + uint32(n%int64(f.spec.Sources)) // 198.18.0.0/15, benchmarking space
	copy(buf[0:6], dst)
	copy(buf[6:12], []byte{0x02, 0xfe, 0x00, 0x00, 0x00, 0x01})
	binary.BigEndian.PutUint16(buf[12:14], 0x0800)
	ip := buf[14:]
	proto, l4len, frag := byte(6), 20, uint16(0)
	sport, dport := uint16(1024+n%50000), uint16(80)
	var flags byte = 0x02 // SYN
	switch f.spec.Kind {
	case "amplification":
		proto, l4len = 17, 512
		sport, dport = []uint16{53, 123, 11211}[n%3], uint16(1024+n%50000)
	case "fragments":
		proto, l4len, frag = 17, 64, 0x2000 // MF, offset 0
		sport, dport = uint16(1024+n%50000), 5000
	case "benign":
		if n%2 == 0 {
			flags = 0x10 // ACK: an established connection's segment
		} else {
			proto, l4len = 17, 64
			sport, dport = uint16(1024+n%50000), 40000
		}
	}
	clear(ip[:20+l4len])
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(20+l4len))
	binary.BigEndian.PutUint16(ip[6:8], frag)
	ip[8], ip[9] = 64, proto
	binary.BigEndian.PutUint32(ip[12:16], src)
	binary.BigEndian.PutUint32(ip[16:20], 0x0a000002)
	l4 := ip[20:]
	binary.BigEndian.PutUint16(l4[0:2], sport)
	binary.BigEndian.PutUint16(l4[2:4], dport)
	if proto == 6 {
		l4[12] = 5 << 4
		l4[13] = flags
	} else {
		binary.BigEndian.PutUint16(l4[4:6], uint16(l4len))
	}
	return buf[:14+20+l4len]
}
