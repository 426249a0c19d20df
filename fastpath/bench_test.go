package fastpath

import (
	"testing"
)

// BenchmarkEgressBurst is the per-packet egress work on a 32-packet burst:
// classify, check the source MAC, pick the NIC, count, queue. It must
// report 0 allocs/op.
func BenchmarkEgressBurst(b *testing.B) {
	s := twoByTwo(b)
	r := newRig(b, s, 1024)
	frames := make([][]byte, 32)
	for i := range frames {
		frames[i] = frame(macPeer, macVM1, 64)
	}
	pkts := r.mbufs(frames...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.egress(s, 0, pkts)
		r.io.Tx(2).Discard()
		r.io.Tx(3).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkIngressBurst is the per-packet ingress work on a 32-packet burst
// of unicast frames to two VMs.
func BenchmarkIngressBurst(b *testing.B) {
	s := twoByTwo(b)
	r := newRig(b, s, 1024)
	frames := make([][]byte, 32)
	for i := range frames {
		dst := macVM1
		if i%2 == 1 {
			dst = macVM2
		}
		frames[i] = frame(dst, macPeer, 64)
	}
	pkts := r.mbufs(frames...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.ingress(s, 0, pkts)
		r.io.Tx(0).Discard()
		r.io.Tx(1).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkEgressDecide is the pure decision alone.
func BenchmarkEgressDecide(b *testing.B) {
	s := twoByTwo(b)
	f := frame(macPeer, macVM1, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, drop := s.Egress(0, f, 64); drop != NotDropped {
			b.Fatal(drop)
		}
	}
}
