package fastpath

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkEgressBurst is the per-packet egress work on a 32-packet burst
// from a one-MAC VM, whose NIC is picked once per burst (src-mac-hash):
// check the frame and source MAC, count, queue. It must report 0
// allocs/op.
func BenchmarkEgressBurst(b *testing.B) {
	benchEgress(b, PolicySrcMACHash, 1, macVM2)
}

// BenchmarkEgressBurstPerPacket picks a NIC per packet: least-pending,
// whose loads are updated as each packet is queued.
func BenchmarkEgressBurstPerPacket(b *testing.B) {
	benchEgress(b, PolicyLeastPending, 1, macVM2)
}

// BenchmarkEgressBurstFlowHash hashes each packet's 5-tuple.
func BenchmarkEgressBurstFlowHash(b *testing.B) {
	benchEgress(b, PolicyFlowHash, 1, macVM2)
}

// BenchmarkEgressBurstShaped adds a token bucket and a high priority:
// refill and allow before polling, pay after, least loaded NIC per burst.
func BenchmarkEgressBurstShaped(b *testing.B) {
	s := twoByTwo(b)
	s.VMs[1].RateBps, s.VMs[1].Priority = 100e9, 1
	s.Version = 7
	require.NoError(b, s.Build())
	r := newRig(b, s, 1024)
	r.w.follow(s)
	pkts := r.mbufs(burstOf(macVM2)...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.lastTSC += 1000
		r.w.setRxLimits(s)
		r.w.refreshLoads()
		r.w.egress(s, 1, pkts)
		r.io.Tx(2).Discard()
		r.io.Tx(3).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

func burstOf(src MAC) [][]byte {
	frames := make([][]byte, 32)
	for i := range frames {
		frames[i] = frame(macPeer, src, 64)
		frames[i][23] = 17           // UDP
		frames[i][14] = 0x45         // IPv4, IHL 5
		frames[i][35] = byte(i % 16) // 16 source ports
	}
	return frames
}

func benchEgress(b *testing.B, p Policy, vm int, src MAC) {
	s := twoByTwo(b)
	s.Teams[0].Policy = p
	require.NoError(b, s.Build())
	r := newRig(b, s, 1024)
	r.w.follow(s)
	pkts := r.mbufs(burstOf(src)...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.refreshLoads()
		r.w.egress(s, vm, pkts)
		r.io.Tx(2).Discard()
		r.io.Tx(3).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkEgressBurstDoSWatched is BenchmarkEgressBurst for a VM whose
// traffic the DoS counters watch: classify, count and sketch each frame.
func BenchmarkEgressBurstDoSWatched(b *testing.B) {
	s := twoByTwo(b)
	s.VMs[1].DoSWatch = true
	r := newRig(b, s, 1024)
	r.w.follow(s)
	pkts := r.mbufs(burstOf(macVM2)...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.egress(s, 1, pkts)
		r.io.Tx(2).Discard()
		r.io.Tx(3).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkIngressBurst is the per-packet ingress work on a 32-packet burst
// of unicast frames to two VMs.
func BenchmarkIngressBurst(b *testing.B) {
	benchIngress(b, false)
}

// BenchmarkIngressBurstDoSWatched adds the DoS counters and a SYN
// rate-limit on both VMs: classify, count, sketch and admit each frame.
func BenchmarkIngressBurstDoSWatched(b *testing.B) {
	benchIngress(b, true)
}

func benchIngress(b *testing.B, dos bool) {
	s := twoByTwo(b)
	for v := range s.VMs {
		s.VMs[v].DoSWatch = dos
		if dos {
			s.VMs[v].AttackClasses, s.VMs[v].AttackLimitPPS = ClassSYN, 1e9
		}
	}
	r := newRig(b, s, 1024)
	r.w.follow(s)
	frames := burstOf(macPeer)
	for i := range frames {
		dst := macVM1
		if i%2 == 1 {
			dst = macVM2
		}
		dst.Put(frames[i][0:6])
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
		if _, drop := s.EgressCheck(0, f, 64); drop != NotDropped {
			b.Fatal(drop)
		}
	}
}

// BenchmarkEgressBurstLocal is a burst from one VM to another of its team
// on this host: the destination's lookup and the delivery to its queue,
// as ingress delivers, instead of a NIC's queue.
func BenchmarkEgressBurstLocal(b *testing.B) {
	s := twoByTwo(b)
	r := newRig(b, s, 1024)
	r.w.follow(s)
	frames := burstOf(macVM2)
	for i := range frames {
		macVM1.Put(frames[i][0:6])
	}
	pkts := r.mbufs(frames...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.egress(s, 1, pkts)
		r.io.Tx(0).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkEgressBurstVLAN is BenchmarkEgressBurst from an access VM of
// a VLAN-aware team: classify each frame's VLAN, push the tag into the
// headroom, queue. Each round gives the frames back their untagged form.
func BenchmarkEgressBurstVLAN(b *testing.B) {
	s := vlanTeam(b)
	r := newRig(b, s, 1024)
	r.w.follow(s)
	pkts := r.mbufs(burstOf(macVM1)...)
	nic := r.io.Tx(2 + SrcMACHash(macVM1, s.Teams[0].Up))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.egress(s, 0, pkts)
		for {
			m, ok := nic.Pop()
			if !ok {
				break
			}
			retag(m, false, 0)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}

// BenchmarkIngressBurstVLAN is BenchmarkIngressBurst in a VLAN-aware
// team: frames tagged 10 to the trunk VM, delivered tagged as they came.
func BenchmarkIngressBurstVLAN(b *testing.B) {
	s := vlanTeam(b)
	r := newRig(b, s, 1024)
	r.w.follow(s)
	frames := make([][]byte, 32)
	for i := range frames {
		frames[i] = tagFrame(macVM2, macPeer, 10, 64)
	}
	pkts := r.mbufs(frames...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.w.ingress(s, 0, pkts)
		r.io.Tx(1).Discard()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/pkt")
}
