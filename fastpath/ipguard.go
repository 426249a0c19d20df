package fastpath

import (
	"encoding/binary"
	"net/netip"
)

// IP anti-spoofing. A VM given addresses (config vms[].ips) may send ARP,
// IPv4 and IPv6 only from them: a frame whose ARP sender address or IP
// source address is another's is dropped as spoofed_ip, as is one too
// short to tell. Source MACs are checked for every VM already; this is
// the layer above, where a guest could otherwise answer ARP for its
// neighbour's address. What a host that has no address yet must send
// passes: DHCP from 0.0.0.0 (UDP 68 to 67), ARP probes (sender 0.0.0.0,
// RFC 5227), IPv6 from :: (duplicate address detection) and from a
// link-local address (fe80::/10). Other ethertypes pass; a frame's first
// 802.1Q tag is looked through.

const (
	etherTypeARP  = 0x0806
	dhcpClient    = 68
	dhcpServer    = 67
	arpSenderIP   = 14 // in the ARP packet
	ipv4SrcOffset = 12
	ipv6SrcOffset = 8
)

// ipGuard is a VM's addresses, ready for the per-frame check: IPv4
// prefixes as address and mask, IPv6 ones as two 64-bit halves each.
type ipGuard struct {
	v4 []v4Prefix
	v6 []v6Prefix
}

type v4Prefix struct{ addr, mask uint32 }
type v6Prefix struct{ addr, mask [2]uint64 }

func newIPGuard(ips []netip.Prefix) *ipGuard {
	if len(ips) == 0 {
		return nil
	}
	g := &ipGuard{}
	for _, p := range ips {
		p = p.Masked()
		if p.Addr().Is4() {
			b := p.Addr().As4()
			// A shift by 32 (a /0) is 0 in Go: the mask of any address.
			g.v4 = append(g.v4, v4Prefix{binary.BigEndian.Uint32(b[:]), ^uint32(0) << (32 - p.Bits())})
			continue
		}
		b := p.Addr().As16()
		var mask [2]uint64
		for i, bits := 0, p.Bits(); i < 2; i, bits = i+1, bits-64 {
			switch {
			case bits >= 64:
				mask[i] = ^uint64(0)
			case bits > 0:
				mask[i] = ^uint64(0) << (64 - bits)
			}
		}
		g.v6 = append(g.v6, v6Prefix{[2]uint64{binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16])}, mask})
	}
	return g
}

func (g *ipGuard) has4(a uint32) bool {
	for _, p := range g.v4 {
		if a&p.mask == p.addr {
			return true
		}
	}
	return false
}

func (g *ipGuard) has6(hi, lo uint64) bool {
	for _, p := range g.v6 {
		if hi&p.mask[0] == p.addr[0] && lo&p.mask[1] == p.addr[1] {
			return true
		}
	}
	return false
}

// allows says whether a frame's ARP sender or IP source is the VM's.
func (g *ipGuard) allows(frame []byte) bool {
	off := EthHdrLen
	if len(frame) < off {
		return false
	}
	et := binary.BigEndian.Uint16(frame[12:14])
	if et == etherTypeVLAN {
		if len(frame) < off+4 {
			return false
		}
		et = binary.BigEndian.Uint16(frame[16:18])
		off += 4
	}
	p := frame[off:]
	switch et {
	case etherTypeARP:
		if len(p) < arpSenderIP+4 || binary.BigEndian.Uint16(p[2:4]) != etherTypeIPv4 || p[5] != 4 {
			return false
		}
		a := binary.BigEndian.Uint32(p[arpSenderIP:])
		return a == 0 || g.has4(a)
	case etherTypeIPv4:
		if len(p) < 20 {
			return false
		}
		a := binary.BigEndian.Uint32(p[ipv4SrcOffset:])
		if a == 0 {
			return isDHCPRequest(p)
		}
		return g.has4(a)
	case etherTypeIPv6:
		if len(p) < 40 {
			return false
		}
		hi, lo := binary.BigEndian.Uint64(p[ipv6SrcOffset:]), binary.BigEndian.Uint64(p[ipv6SrcOffset+8:])
		return hi == 0 && lo == 0 || hi>>54 == 0xfe80>>6 || g.has6(hi, lo)
	}
	return true
}

// isDHCPRequest: an IPv4 packet (p) from a client that has no address
// yet, to a DHCP server.
func isDHCPRequest(p []byte) bool {
	hl := int(p[0]&0x0f) * 4
	if p[9] != ipProtoUDP || hl < 20 || len(p) < hl+4 {
		return false
	}
	return binary.BigEndian.Uint16(p[hl:]) == dhcpClient && binary.BigEndian.Uint16(p[hl+2:]) == dhcpServer
}
