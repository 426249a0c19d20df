package fastpath

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// tcp builds a 20-byte TCP header with flags.
func tcp(sport, dport uint16, flags byte) []byte {
	b := l4(sport, dport, 20)
	b[12] = 5 << 4
	b[13] = flags
	return b
}

func TestClassifyDoS(t *testing.T) {
	cases := []struct {
		name  string
		frame []byte
		want  DoSClass
		ip    bool
	}{
		{"syn", ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(40000, 80, tcpFlagSYN))), ClassSYN, true},
		{"syn 802.1Q", ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(40000, 80, tcpFlagSYN)), tpidQ), ClassSYN, true},
		{"syn ipv6", ethIP(etherTypeIPv6, ip6(ipProtoTCP, v6a, v6b, tcp(40000, 80, tcpFlagSYN))), ClassSYN, true},
		{"syn-ack", ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(80, 40000, tcpFlagSYN|tcpFlagACK))), 0, true},
		{"ack", ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(80, 40000, tcpFlagACK))), 0, true},
		{"tcp header cut short", ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(1, 2, tcpFlagSYN)[:12])), 0, true},
		{"ipv4 first fragment", ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 0x2000, 0, l4(53, 9, 8))), ClassFragment, true},
		{"ipv4 later fragment", ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 185, 0, make([]byte, 40))), ClassFragment, true},
		{"ipv6 fragment", ethIP(etherTypeIPv6, ip6(ipv6Fragment, v6a, v6b, frag6(ipProtoUDP, 0, true, l4(1, 2, 8)))), ClassFragment, true},
		{"ipv6 atomic fragment", ethIP(etherTypeIPv6, ip6(ipv6Fragment, v6a, v6b, frag6(ipProtoUDP, 0, false, l4(1, 2, 8)))), 0, true},
		{"dns reply", ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 0, 0, l4(53, 33000, 8))), ClassAmplification, true},
		{"memcached reply ipv6", ethIP(etherTypeIPv6, ip6(ipProtoUDP, v6a, v6b, l4(11211, 33000, 8))), ClassAmplification, true},
		{"dns query", ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 0, 0, l4(33000, 53, 8))), 0, true},
		{"tcp from 53", ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(53, 33000, tcpFlagACK))), 0, true},
		{"arp", flowCaseByName(t, "arp"), 0, false},
		{"runt", make([]byte, 13), 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, _, ok := ClassifyDoS(c.frame)
			assert.Equal(t, c.want, got)
			assert.Equal(t, c.ip, ok)
		})
	}
}

func TestClassifyDoSHashesTheSourceOnly(t *testing.T) {
	_, a, _ := ClassifyDoS(ethIP(etherTypeIPv4, ip4(ipProtoTCP, "192.0.2.1", v4b, 0, 0, tcp(1, 80, tcpFlagSYN))))
	_, b, _ := ClassifyDoS(ethIP(etherTypeIPv4, ip4(ipProtoUDP, "192.0.2.1", "198.51.100.7", 0, 0, l4(9, 9, 8))))
	_, c, _ := ClassifyDoS(ethIP(etherTypeIPv4, ip4(ipProtoTCP, "192.0.2.2", v4b, 0, 0, tcp(1, 80, tcpFlagSYN))))
	assert.Equal(t, a, b, "same source, other destination and protocol")
	assert.NotEqual(t, a, c)
}

func TestSketchEstimatesDistinctSources(t *testing.T) {
	for _, n := range []int{0, 1, 10, 100, 1000, 100000} {
		var s Sketch
		for i := 0; i < n; i++ {
			ip := make([]byte, 4)
			binary.BigEndian.PutUint32(ip, 0x0a000000+uint32(i))
			s.Add(finalize(mixWord(flowSeedIPv4, uint64(binary.BigEndian.Uint32(ip)))))
			s.Add(finalize(mixWord(flowSeedIPv4, uint64(binary.BigEndian.Uint32(ip))))) // twice: counted once
		}
		got := s.Estimate()
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if n == 0 {
				assert.Zero(t, got)
				return
			}
			// 64 registers: about 13 % standard error; three of them.
			assert.InEpsilon(t, float64(n), got, 0.4, "estimate %.0f for %d", got, n)
		})
	}
}

func TestClassifyAndSketchDoNotAllocate(t *testing.T) {
	frame := ethIP(etherTypeIPv6, ip6(ipProtoTCP, v6a, v6b, tcp(40000, 80, tcpFlagSYN)))
	var s Sketch
	assert.Zero(t, testing.AllocsPerRun(1000, func() {
		_, h, _ := ClassifyDoS(frame)
		s.Add(h)
	}))
}

func BenchmarkClassifyDoS(b *testing.B) {
	frame := ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, tcp(40000, 80, tcpFlagSYN)))
	var s Sketch
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, h, _ := ClassifyDoS(frame)
		s.Add(h)
	}
}

// FuzzClassifyDoS feeds the DoS counters' parser arbitrary frames: it must
// never panic, be deterministic, and only name a class for an IP frame.
// Its seed corpus is testdata/fuzz/FuzzClassifyDoS plus the flow cases.
func FuzzClassifyDoS(f *testing.F) {
	for _, c := range flowCases() {
		f.Add(c.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		frame = frame[:len(frame):len(frame)]
		c1, h1, ok1 := ClassifyDoS(frame)
		c2, h2, ok2 := ClassifyDoS(frame)
		if c1 != c2 || h1 != h2 || ok1 != ok2 {
			t.Fatalf("not deterministic")
		}
		if !ok1 && (c1 != 0 || h1 != 0) {
			t.Fatalf("class %v or hash for a frame that is not IP", c1)
		}
		if c1&(c1-1) != 0 {
			t.Fatalf("more than one class: %b", c1)
		}
	})
}
