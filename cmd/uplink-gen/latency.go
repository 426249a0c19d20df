package main

// Latency through the switch: with --latency every frame is a fresh copy
// of its flow's prepared frame carrying a magic and the TSC at send, and
// the generator's --nic ports, virtio-user peers of the switch's NICs
// (net_vhost ports standing in for wires), read the stamp back after the switch forwarded the frame. Fresh copies, not
// prepared frames sent by reference: a stamp written into a frame that is
// still queued from an earlier send would shorten the very latencies
// (the switch stalled) that matter.

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
)

const (
	// stampOff is just past the UDP header; frames must be this long plus
	// 12 bytes (60 bytes is enough).
	stampOff   = 42
	stampLen   = 12
	stampMagic = 0x75706c6b // "uplk"
)

func stamp(b []byte, tsc uint64) {
	binary.BigEndian.PutUint32(b[stampOff:], stampMagic)
	binary.LittleEndian.PutUint64(b[stampOff+4:], tsc)
}

func stampOf(b []byte) (uint64, bool) {
	if len(b) < stampOff+stampLen || binary.BigEndian.Uint32(b[stampOff:]) != stampMagic {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[stampOff+4:]), true
}

// latencies collects the one-way latencies of stamped frames received
// after the warm-up, in TSC cycles.
type latencies struct {
	from    uint64 // TSC: frames sent before this are warm-up
	samples []uint64
	lost    uint64 // stamped frames the switch delivered out of the window
}

// newLatencies preallocates room for expect samples, so that the
// generator's own garbage collector stays out of the figures.
func newLatencies(from uint64, expect int) *latencies {
	return &latencies{from: from, samples: make([]uint64, 0, expect)}
}

func (l *latencies) observe(now uint64, ms []*dpdk.Mbuf) {
	for _, m := range ms {
		if ts, ok := stampOf(m.Data()); ok && ts >= l.from && now >= ts {
			l.samples = append(l.samples, now-ts)
		}
	}
}

// report is the percentiles in microseconds.
func (l *latencies) report(hz float64) map[string]any {
	s := slices.Clone(l.samples)
	slices.Sort(s)
	us := func(q float64) float64 {
		if len(s) == 0 {
			return 0
		}
		i := min(int(q*float64(len(s))), len(s)-1)
		return float64(s[i]) / hz * 1e6
	}
	return map[string]any{"samples": len(s), "p50_us": us(0.5), "p99_us": us(0.99), "p999_us": us(0.999), "max_us": us(1)}
}

// parseNIC turns "socket=PATH" into the devargs of a virtio-user port
// that connects to the switch's NIC, a vhost-user server (net_vhost).
func parseNIC(i int, s string) (string, error) {
	k, path, _ := strings.Cut(s, "=")
	if k != "socket" || path == "" {
		return "", fmt.Errorf("--nic %q: want socket=PATH (the switch's net_vhost NIC)", s)
	}
	return fmt.Sprintf("net_virtio_user%d,path=%s,queue_size=1024", 100+i, path), nil
}

// copyStamped fills fresh with copies of the prepared frames from next
// on, each stamped with tsc.
func copyStamped(fresh, frames []*dpdk.Mbuf, next int, tsc uint64) {
	for i, m := range fresh {
		src := frames[(next+i)%len(frames)].Data()
		b := m.Buffer()
		copy(b, src)
		stamp(b, tsc)
		m.SetLen(uint16(len(src)))
	}
}
