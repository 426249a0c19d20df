package fastpath

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	tpidQ  = etherTypeVLAN
	tpidAD = etherTypeQinQ
)

// ethIP prepends an Ethernet header with the given VLAN tags (outer first)
// to an IP packet.
func ethIP(etype uint16, ip []byte, tpids ...uint16) []byte {
	b := make([]byte, 12, 18+4*len(tpids)+len(ip))
	macPeer.Put(b[0:6])
	macVM1.Put(b[6:12])
	for i, tpid := range tpids {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i))
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, ip...)
}

// ip4 builds an IPv4 header with optLen bytes of options (a multiple of 4)
// and frag as the flags/fragment-offset field, followed by l4.
func ip4(proto byte, src, dst string, frag uint16, optLen int, l4 []byte) []byte {
	hl := 20 + optLen
	h := make([]byte, hl, hl+len(l4))
	h[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(h[2:4], uint16(hl+len(l4)))
	binary.BigEndian.PutUint16(h[6:8], frag)
	h[8] = 64
	h[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	for i := 20; i < hl; i++ {
		h[i] = 1 // NOP options
	}
	return append(h, l4...)
}

// ip6 builds an IPv6 header with next header nh, followed by rest.
func ip6(nh byte, src, dst string, rest []byte) []byte {
	h := make([]byte, 40, 40+len(rest))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:6], uint16(len(rest)))
	h[6] = nh
	h[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return append(h, rest...)
}

// l4 builds an n-byte L4 header that starts with the two ports.
func l4(sport, dport uint16, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint16(b[0:2], sport)
	binary.BigEndian.PutUint16(b[2:4], dport)
	return b
}

// ext6 is an 8*(1+extra)-byte option extension header (Hop-by-Hop,
// Destination, or Routing) followed by rest.
func ext6(nh byte, extra int, rest []byte) []byte {
	b := make([]byte, 8*(1+extra), 8*(1+extra)+len(rest))
	b[0] = nh
	b[1] = byte(extra)
	return append(b, rest...)
}

// frag6 is an IPv6 Fragment header followed by rest.
func frag6(nh byte, offset uint16, more bool, rest []byte) []byte {
	b := make([]byte, 8, 8+len(rest))
	b[0] = nh
	fo := offset << 3
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], fo)
	binary.BigEndian.PutUint32(b[4:8], 0xdeadbeef)
	return append(b, rest...)
}

const (
	v4a, v4b = "10.0.0.1", "10.0.0.2"
	v6a, v6b = "2001:db8::1", "2001:db8::2"
	mf       = 0x2000 // IPv4 More Fragments
)

type flowCase struct {
	name  string
	frame []byte
	// addrEnd is how many bytes the frame needs for its addresses; ok is
	// false below it. Zero for frames that are never ok.
	addrEnd int
	proto   uint8
	ports   uint32
	l4      bool
}

func v4Case(name string, ip []byte, proto uint8, ports uint32, hasL4 bool, tpids ...uint16) flowCase {
	f := ethIP(etherTypeIPv4, ip, tpids...)
	return flowCase{name, f, len(f) - len(ip) + 20, proto, ports, hasL4}
}

func v6Case(name string, ip []byte, proto uint8, ports uint32, hasL4 bool, tpids ...uint16) flowCase {
	f := ethIP(etherTypeIPv6, ip, tpids...)
	return flowCase{name, f, len(f) - len(ip) + 40, proto, ports, hasL4}
}

func flowCases() []flowCase {
	arp := ethIP(0x0806, make([]byte, 28))
	return []flowCase{
		v4Case("ipv4 tcp", ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true),
		v4Case("ipv4 tcp DF", ip4(ipProtoTCP, v4a, v4b, 0x4000, 0, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true),
		v4Case("ipv4 tcp options", ip4(ipProtoTCP, v4a, v4b, 0, 8, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true),
		v4Case("ipv4 udp", ip4(ipProtoUDP, v4a, v4b, 0, 0, l4(5353, 53, 8)), ipProtoUDP, 5353<<16|53, true),
		v4Case("ipv4 sctp", ip4(ipProtoSCTP, v4a, v4b, 0, 0, l4(2905, 2905, 12)), ipProtoSCTP, 2905<<16|2905, true),
		v4Case("ipv4 icmp", ip4(1, v4a, v4b, 0, 0, l4(0x0800, 0x1234, 8)), 1, 0, false),
		v4Case("ipv4 udp frag first", ip4(ipProtoUDP, v4a, v4b, mf, 0, l4(5353, 53, 8)), ipProtoUDP, 0, false),
		v4Case("ipv4 udp frag middle", ip4(ipProtoUDP, v4a, v4b, mf|185, 0, make([]byte, 8)), ipProtoUDP, 0, false),
		v4Case("ipv4 udp frag last", ip4(ipProtoUDP, v4a, v4b, 370, 0, make([]byte, 8)), ipProtoUDP, 0, false),
		v4Case("ipv4 tcp 802.1Q", ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true, tpidQ),
		v4Case("ipv4 tcp 802.1ad", ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true, tpidAD),
		v4Case("ipv4 tcp QinQ", ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true, tpidAD, tpidQ),
		v4Case("ipv4 tcp double 802.1Q", ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1234, 80, 20)), ipProtoTCP, 1234<<16|80, true, tpidQ, tpidQ),
		v6Case("ipv6 tcp", ip6(ipProtoTCP, v6a, v6b, l4(40000, 443, 20)), ipProtoTCP, 40000<<16|443, true),
		v6Case("ipv6 udp 802.1Q", ip6(ipProtoUDP, v6a, v6b, l4(40000, 443, 8)), ipProtoUDP, 40000<<16|443, true, tpidQ),
		v6Case("ipv6 tcp hop-by-hop", ip6(ipv6HopByHop, v6a, v6b, ext6(ipProtoTCP, 0, l4(40000, 443, 20))), ipProtoTCP, 40000<<16|443, true),
		v6Case("ipv6 tcp hbh+dst+rt+dst", ip6(ipv6HopByHop, v6a, v6b,
			ext6(ipv6DestOpts, 1, ext6(ipv6Routing, 0, ext6(ipv6DestOpts, 2, ext6(ipProtoTCP, 0, l4(40000, 443, 20)))))),
			ipProtoTCP, 40000<<16|443, true),
		v6Case("ipv6 icmpv6", ip6(58, v6a, v6b, l4(0x8000, 0x1234, 8)), 58, 0, false),
		v6Case("ipv6 udp frag first", ip6(ipv6Fragment, v6a, v6b, frag6(ipProtoUDP, 0, true, l4(40000, 443, 8))), ipProtoUDP, 0, false),
		v6Case("ipv6 udp frag middle", ip6(ipv6Fragment, v6a, v6b, frag6(ipProtoUDP, 181, true, make([]byte, 8))), ipProtoUDP, 0, false),
		v6Case("ipv6 udp hbh frag last", ip6(ipv6HopByHop, v6a, v6b, ext6(ipv6Fragment, 0, frag6(ipProtoUDP, 362, false, make([]byte, 8)))), ipProtoUDP, 0, false),
		v6Case("ipv6 udp atomic frag", ip6(ipv6Fragment, v6a, v6b, frag6(ipProtoUDP, 0, false, l4(40000, 443, 8))), ipProtoUDP, 40000<<16|443, true),
		v6Case("ipv6 tcp longest chain", ip6(ipv6HopByHop, v6a, v6b,
			ext6(ipv6DestOpts, 0, ext6(ipv6Routing, 0, frag6(ipv6DestOpts, 0, false, ext6(ipProtoTCP, 0, l4(40000, 443, 20)))))),
			ipProtoTCP, 40000<<16|443, true),
		v6Case("ipv6 chain too long", ip6(ipv6DestOpts, v6a, v6b,
			ext6(ipv6DestOpts, 0, ext6(ipv6DestOpts, 0, ext6(ipv6DestOpts, 0, ext6(ipv6DestOpts, 0, ext6(ipv6DestOpts, 0, ext6(ipProtoTCP, 0, l4(1, 2, 20)))))))),
			ipv6DestOpts, 0, false),
		{name: "arp", frame: arp},
		{name: "arp 802.1Q", frame: ethIP(0x0806, make([]byte, 28), tpidQ)},
		{name: "ipv4 ethertype, version 6", frame: ethIP(etherTypeIPv4, ip6(ipProtoTCP, v6a, v6b, l4(1, 2, 20)))},
		{name: "ipv4 IHL 4", frame: func() []byte {
			f := ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1, 2, 20)))
			f[EthHdrLen] = 0x44
			return f
		}()},
		{name: "ipv6 ethertype, version 4", frame: ethIP(etherTypeIPv6, append(ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1, 2, 20)), make([]byte, 40)...))},
		{name: "triple tag", frame: ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, 0, 0, l4(1, 2, 20)), tpidAD, tpidQ, tpidQ)},
		{name: "runt", frame: make([]byte, 13)},
		{name: "empty"},
	}
}

func flowCaseByName(t *testing.T, name string) []byte {
	t.Helper()
	for _, c := range flowCases() {
		if c.name == name {
			return c.frame
		}
	}
	require.FailNow(t, "no flow case", name)
	return nil
}

func TestParseFlowKeys(t *testing.T) {
	for _, c := range flowCases() {
		t.Run(c.name, func(t *testing.T) {
			var k flowKey
			ok := k.parse(c.frame)
			require.Equal(t, c.addrEnd != 0, ok)
			if !ok {
				_, hok := FlowHash(c.frame)
				assert.False(t, hok)
				return
			}
			assert.Equal(t, c.proto, k.proto, "protocol")
			assert.Equal(t, c.ports, k.ports, "ports")
			assert.Equal(t, c.l4, k.l4, "L4 key")
		})
	}
}

func TestParseFlowAddresses(t *testing.T) {
	var k flowKey
	ok := k.parse(flowCaseByName(t, "ipv4 tcp 802.1Q"))
	require.True(t, ok)
	assert.False(t, k.v6)
	assert.Equal(t, uint64(0x0a000001_0a000002), k.addrs[0])

	k = flowKey{}
	ok = k.parse(flowCaseByName(t, "ipv6 tcp hop-by-hop"))
	require.True(t, ok)
	assert.True(t, k.v6)
	assert.Equal(t, [4]uint64{0x20010db8_00000000, 1, 0x20010db8_00000000, 2}, k.addrs)
}

func TestFlowHashSameFlowSameNIC(t *testing.T) {
	groups := [][]string{
		{"ipv4 tcp", "ipv4 tcp DF", "ipv4 tcp options", "ipv4 tcp 802.1Q", "ipv4 tcp 802.1ad", "ipv4 tcp QinQ", "ipv4 tcp double 802.1Q"},
		{"ipv4 udp frag first", "ipv4 udp frag middle", "ipv4 udp frag last"},
		{"ipv6 tcp", "ipv6 tcp hop-by-hop", "ipv6 tcp hbh+dst+rt+dst", "ipv6 tcp longest chain"},
		{"ipv6 udp frag first", "ipv6 udp frag middle", "ipv6 udp hbh frag last"},
		{"ipv6 udp 802.1Q", "ipv6 udp atomic frag"},
	}
	for _, g := range groups {
		want, ok := FlowHash(flowCaseByName(t, g[0]))
		require.True(t, ok, g[0])
		for _, name := range g[1:] {
			h, ok := FlowHash(flowCaseByName(t, name))
			require.True(t, ok, name)
			assert.Equal(t, want, h, "%s vs %s", g[0], name)
		}
	}
}

func TestFlowHashDifferentFlowsDifferentHash(t *testing.T) {
	tcp4 := func(sport, dport uint16, src string) []byte {
		return ethIP(etherTypeIPv4, ip4(ipProtoTCP, src, v4b, 0, 0, l4(sport, dport, 20)))
	}
	tcp6 := func(sport, dport uint16) []byte {
		return ethIP(etherTypeIPv6, ip6(ipProtoTCP, v6a, v6b, l4(sport, dport, 20)))
	}
	frames := map[string][]byte{
		"v4 1234->80":       tcp4(1234, 80, v4a),
		"v4 1235->80":       tcp4(1235, 80, v4a),
		"v4 1234->81":       tcp4(1234, 81, v4a),
		"v4 80->1234":       tcp4(80, 1234, v4a),
		"v4 other src":      tcp4(1234, 80, "10.0.0.3"),
		"v4 udp same ports": ethIP(etherTypeIPv4, ip4(ipProtoUDP, v4a, v4b, 0, 0, l4(1234, 80, 8))),
		"v4 frag":           ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, mf, 0, l4(1234, 80, 20))),
		"v6 1234->80":       tcp6(1234, 80),
		"v6 1235->80":       tcp6(1235, 80),
		"v6 1234->81":       tcp6(1234, 81),
	}
	seen := map[uint64]string{}
	for name, f := range frames {
		h, ok := FlowHash(f)
		require.True(t, ok, name)
		other, dup := seen[h]
		assert.False(t, dup, "%s and %s hash alike", name, other)
		seen[h] = name
	}
}

func TestFlowHashTruncatedNeverPanics(t *testing.T) {
	for _, c := range flowCases() {
		full, fullOK := FlowHash(c.frame)
		for n := 0; n <= len(c.frame); n++ {
			// A capacity equal to the length makes any read past the
			// end panic instead of seeing the rest of the frame.
			f := c.frame[:n:n]
			var h uint64
			var ok bool
			require.NotPanics(t, func() { h, ok = FlowHash(f) }, "%s cut to %d bytes", c.name, n)
			if c.addrEnd == 0 {
				assert.False(t, ok, "%s cut to %d bytes", c.name, n)
				continue
			}
			assert.Equal(t, n >= c.addrEnd, ok, "%s cut to %d bytes", c.name, n)
			if n == len(c.frame) {
				assert.Equal(t, full, h)
				assert.Equal(t, fullOK, ok)
			}
		}
	}
}

func TestFlowHashTruncatedL4HashesL3(t *testing.T) {
	f := flowCaseByName(t, "ipv4 tcp")
	l3Only := ethIP(etherTypeIPv4, ip4(ipProtoTCP, v4a, v4b, mf, 0, nil))
	want, ok := FlowHash(l3Only)
	require.True(t, ok)
	for n := EthHdrLen + 20; n < EthHdrLen+24; n++ {
		h, ok := FlowHash(f[:n:n])
		require.True(t, ok)
		assert.Equal(t, want, h, "cut to %d bytes: ports do not fit", n)
	}
}

// randomFlows builds n IPv4 TCP/UDP frames with random addresses and ports.
func randomFlows(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	frames := make([][]byte, n)
	for i := range frames {
		proto := byte(ipProtoTCP)
		if rng.IntN(2) == 1 {
			proto = ipProtoUDP
		}
		f := ethIP(etherTypeIPv4, ip4(proto, v4a, v4b, 0, 0, l4(0, 0, 20)))
		ip := f[EthHdrLen:]
		binary.BigEndian.PutUint32(ip[12:16], rng.Uint32())
		binary.BigEndian.PutUint32(ip[16:20], rng.Uint32())
		binary.BigEndian.PutUint32(ip[20:24], rng.Uint32())
		frames[i] = f
	}
	return frames
}

func TestFlowHashSpreadOverNICs(t *testing.T) {
	const flows = 10000
	frames := randomFlows(flows, 1)
	hashes := make(map[uint64]bool, flows)
	for _, nics := range []int{2, 3} {
		up := make([]int, nics)
		for i := range up {
			up[i] = 10 + i // NIC ids need not be 0..n-1
		}
		count := map[int]int{}
		for _, f := range frames {
			h, ok := FlowHash(f)
			require.True(t, ok)
			hashes[h] = true
			count[PickByHash(h, up)]++
		}
		even := float64(flows) / float64(nics)
		for _, nic := range up {
			assert.InDelta(t, even, count[nic], even*0.05, "NIC %d of %d: %v", nic, nics, count)
		}
	}
	assert.Len(t, hashes, flows, "10,000 random flows, no 64-bit collision")
}

func TestFlowHashPickByHashStaysInUp(t *testing.T) {
	assert.Equal(t, 7, PickByHash(0, []int{7}))
	assert.Equal(t, 7, PickByHash(^uint64(0), []int{7}))
	up := []int{4, 9, 2}
	assert.Equal(t, 4, PickByHash(0, up))
	assert.Equal(t, 2, PickByHash(^uint64(0), up))
	for _, f := range randomFlows(1000, 2) {
		h, ok := FlowHash(f)
		require.True(t, ok)
		n := PickByHash(h, up)
		assert.Contains(t, up, n)
		assert.Equal(t, n, PickByHash(h, up), "stable while up is unchanged")
	}
}

func TestFlowHashDoesNotAllocate(t *testing.T) {
	cases := flowCases()
	allocs := testing.AllocsPerRun(100, func() {
		for _, c := range cases {
			h, ok := FlowHash(c.frame)
			if ok {
				_ = PickByHash(h, []int{0, 1})
			}
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkFlowHash(b *testing.B) {
	for _, name := range []string{"ipv4 tcp", "ipv4 tcp QinQ", "ipv4 udp frag middle", "ipv6 tcp", "ipv6 tcp hbh+dst+rt+dst", "arp"} {
		var f []byte
		for _, c := range flowCases() {
			if c.name == name {
				f = c.frame
			}
		}
		b.Run(name, func(b *testing.B) {
			up := []int{0, 1}
			var sink int
			b.ReportAllocs()
			for b.Loop() {
				if h, ok := FlowHash(f); ok {
					sink += PickByHash(h, up)
				}
			}
			_ = sink
		})
	}
}

func FuzzFlowHash(f *testing.F) {
	for _, c := range flowCases() {
		f.Add(c.frame)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		frame = frame[:len(frame):len(frame)]
		h1, ok1 := FlowHash(frame)
		h2, ok2 := FlowHash(frame)
		if h1 != h2 || ok1 != ok2 {
			t.Fatalf("not deterministic: %x/%v then %x/%v", h1, ok1, h2, ok2)
		}
		if ok1 {
			if n := PickByHash(h1, []int{0, 1, 2}); n < 0 || n > 2 {
				t.Fatalf("PickByHash out of range: %d", n)
			}
		}
	})
}
