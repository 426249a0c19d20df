package fastpath

import "encoding/binary"

const (
	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86DD
	etherTypeQinQ = 0x88a8 // 802.1ad service tag

	vlanTagLen    = 4
	ipv4MinHdrLen = 20
	ipv6HdrLen    = 40

	ipProtoTCP  = 6
	ipProtoUDP  = 17
	ipProtoSCTP = 132

	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60

	// maxIPv6ExtHeaders bounds the extension-header walk so that a crafted
	// chain costs a fixed amount of work per packet. Five covers the
	// longest chain RFC 8200 recommends before the upper layer
	// (Hop-by-Hop, Destination, Routing, Fragment, Destination).
	maxIPv6ExtHeaders = 5
)

// Distinct seeds keep an IPv4 key from lining up with an IPv6 key whose
// words happen to match.
const (
	flowSeedIPv4 = 0x243F6A8885A308D3
	flowSeedIPv6 = 0x13198A2E03707344
)

// flowKey is what FlowHash hashes. It is a plain value so parsing and
// hashing stay on the stack.
type flowKey struct {
	// addrs holds src<<32|dst in addrs[0] for IPv4; for IPv6 the source
	// address in addrs[0:2] and the destination in addrs[2:4].
	addrs [4]uint64
	v6    bool
	proto uint8
	// ports is srcPort<<16|dstPort, or 0 when the key is L3-only.
	ports uint32
	l4    bool
	// frag: the packet is a fragment (not an atomic one); tcpFlags: the
	// TCP header's flags byte when the header is in the frame. The DoS
	// counters read them.
	frag     bool
	tcpFlags uint8
}

// FlowHash hashes a frame's flow so all packets of one flow take the same
// NIC (order kept per flow). ok is false for frames that are not IPv4/IPv6
// (the caller falls back to the source-MAC hash).
//
// The key is src IP, dst IP, protocol and, for TCP, UDP and SCTP, the two
// ports. Fragments are hashed on src, dst and protocol only, because only
// the first fragment carries the ports: this keeps every fragment of a
// datagram on one NIC, at the cost that a flow which sometimes fragments
// sends its fragmented datagrams over a NIC that may differ from the one
// its unfragmented packets use (those two kinds can then reorder against
// each other), and that all fragmented traffic between two hosts shares a
// NIC. The same holds for headers cut short in the first segment: what fits
// at L3 is hashed, so such a packet may leave by another NIC than its flow.
//
// It follows a bounded number of headers and does not allocate.
func FlowHash(frame []byte) (h uint64, ok bool) {
	var k flowKey
	if !k.parse(frame) {
		return 0, false
	}
	return k.hash(), true
}

// PickByHash maps a hash onto one of the NICs in up (non-empty), stable
// while up is unchanged. It scales the high 32 bits by len(up) (Lemire's
// multiply-shift), which is cheaper than a modulo and just as even.
func PickByHash(h uint64, up []int) int {
	return up[(h>>32)*uint64(len(up))>>32]
}

// parse extracts the flow key behind an Ethernet header with at most
// two VLAN tags (802.1Q, or 802.1ad outer with 802.1Q inner). The VLAN IDs
// are not part of the key: the team sends a flow the same way on any VLAN.
func (k *flowKey) parse(frame []byte) bool {
	if len(frame) < EthHdrLen {
		return false
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	if et == etherTypeVLAN || et == etherTypeQinQ {
		off += vlanTagLen
		if len(frame) < off+2 {
			return false
		}
		et = binary.BigEndian.Uint16(frame[off:])
		if et == etherTypeVLAN {
			off += vlanTagLen
			if len(frame) < off+2 {
				return false
			}
			et = binary.BigEndian.Uint16(frame[off:])
		}
	}
	switch et {
	case etherTypeIPv4:
		return k.parseIPv4(frame[off+2:])
	case etherTypeIPv6:
		return k.parseIPv6(frame[off+2:])
	}
	return false
}

func (k *flowKey) parseIPv4(ip []byte) bool {
	if len(ip) < ipv4MinHdrLen || ip[0]>>4 != 4 || ip[0]&0xf < 5 {
		return false
	}
	k.addrs[0] = binary.BigEndian.Uint64(ip[12:20])
	k.proto = ip[9]
	if binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 { // MF or offset: a fragment
		k.frag = true
		return true
	}
	k.setPorts(ip, int(ip[0]&0xf)*4)
	return true
}

func (k *flowKey) parseIPv6(ip []byte) bool {
	if len(ip) < ipv6HdrLen || ip[0]>>4 != 6 {
		return false
	}
	k.v6 = true
	k.addrs[0] = binary.BigEndian.Uint64(ip[8:16])
	k.addrs[1] = binary.BigEndian.Uint64(ip[16:24])
	k.addrs[2] = binary.BigEndian.Uint64(ip[24:32])
	k.addrs[3] = binary.BigEndian.Uint64(ip[32:40])
	nh, p := ip[6], ipv6HdrLen
	for hdrs := 0; ; hdrs++ {
		switch nh {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
			// A chain longer than we follow is hashed at L3 with the
			// header we stopped at, the same for every packet of its flow.
			if hdrs == maxIPv6ExtHeaders || len(ip) < p+2 {
				k.proto = nh
				return true
			}
			nh, p = ip[p], p+(int(ip[p+1])+1)*8
		case ipv6Fragment:
			// An atomic fragment (offset 0, M clear; RFC 6946) is a whole
			// packet, as an IPv4 packet with neither MF nor offset is:
			// keep its ports so it stays with its flow.
			if hdrs == maxIPv6ExtHeaders || len(ip) < p+8 || binary.BigEndian.Uint16(ip[p+2:p+4])&0xfff9 != 0 {
				k.frag = nh == ipv6Fragment && len(ip) >= p+8
				k.proto = nh
				if len(ip) > p {
					k.proto = ip[p] // the upper layer, as IPv4 fragments keep theirs
				}
				return true
			}
			nh, p = ip[p], p+8
		default:
			k.proto = nh
			k.setPorts(ip, p)
			return true
		}
	}
}

// setPorts adds the L4 ports at pkt[l4:] to the key when the protocol has
// them and they are in the frame.
func (k *flowKey) setPorts(pkt []byte, l4 int) {
	switch k.proto {
	case ipProtoTCP, ipProtoUDP, ipProtoSCTP:
	default:
		return
	}
	if len(pkt) < l4+4 {
		return
	}
	k.ports = binary.BigEndian.Uint32(pkt[l4 : l4+4])
	k.l4 = true
	if k.proto == ipProtoTCP && len(pkt) >= l4+14 {
		k.tcpFlags = pkt[l4+13]
	}
}

func (k *flowKey) hash() uint64 {
	var h uint64
	if k.v6 {
		h = mixWord(flowSeedIPv6, k.addrs[0])
		h = mixWord(h, k.addrs[1])
		h = mixWord(h, k.addrs[2])
		h = mixWord(h, k.addrs[3])
	} else {
		h = mixWord(flowSeedIPv4, k.addrs[0])
	}
	h = mixWord(h, uint64(k.proto)<<32|uint64(k.ports))
	return finalize(h)
}

// mixWord folds one 64-bit word into the running hash. Each step (xor,
// multiply by an odd constant, xorshift) is invertible, so two keys that
// differ in one word never collide on that word alone.
func mixWord(h, w uint64) uint64 {
	h ^= w
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>32
}

// finalize is SplitMix64's output mix: it spreads every input bit over the
// high 32 bits that PickByHash uses.
func finalize(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 27
	h *= 0x94D049BB133111EB
	return h ^ h>>31
}
