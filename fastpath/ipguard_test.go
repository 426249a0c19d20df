package fastpath

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arpFrame is an ARP request from macVM1 with sender address spa.
func arpFrame(spa string, tpids ...uint16) []byte {
	a := make([]byte, 28)
	binary.BigEndian.PutUint16(a[0:2], 1)
	binary.BigEndian.PutUint16(a[2:4], etherTypeIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], 1)
	macVM1.Put(a[8:14])
	ip := netip.MustParseAddr(spa).As4()
	copy(a[14:18], ip[:])
	return ethIP(etherTypeARP, a, tpids...)
}

func guarded(t testing.TB, ips ...string) *Snapshot {
	s := twoByTwo(t)
	for _, ip := range ips {
		s.VMs[0].IPs = append(s.VMs[0].IPs, netip.MustParsePrefix(ip))
	}
	require.NoError(t, s.Build())
	return s
}

func TestAVMGivenAddressesSendsOnlyFromThem(t *testing.T) {
	s := guarded(t, "10.0.0.1/32", "10.0.1.0/24", "2001:db8::1/128")
	dhcp := ip4(ipProtoUDP, "0.0.0.0", "255.255.255.255", 0, 0, l4(68, 67, 8))
	lldp := frame(0x0180c200000e, macVM1, 64)
	binary.BigEndian.PutUint16(lldp[12:14], 0x88cc)
	for _, c := range []struct {
		name  string
		frame []byte
		want  DropReason
	}{
		{"IPv4 from its address", ethIP(etherTypeIPv4, ip4(ipProtoUDP, "10.0.0.1", "10.0.0.9", 0, 0, l4(1, 2, 8))), NotDropped},
		{"IPv4 from its prefix", ethIP(etherTypeIPv4, ip4(ipProtoTCP, "10.0.1.77", "10.0.0.9", 0, 0, tcp(1, 2, tcpFlagSYN))), NotDropped},
		{"IPv4 from another", ethIP(etherTypeIPv4, ip4(ipProtoUDP, "10.0.0.2", "10.0.0.9", 0, 0, l4(1, 2, 8))), DropSpoofedIP},
		{"IPv4 tagged, from another", ethIP(etherTypeIPv4, ip4(ipProtoUDP, "10.0.0.2", "10.0.0.9", 0, 0, l4(1, 2, 8)), tpidQ), DropSpoofedIP},
		{"IPv4 header cut short", ethIP(etherTypeIPv4, ip4(ipProtoUDP, "10.0.0.1", "10.0.0.9", 0, 0, nil)[:12]), DropSpoofedIP},
		{"DHCP discover from 0.0.0.0", ethIP(etherTypeIPv4, dhcp), NotDropped},
		{"other UDP from 0.0.0.0", ethIP(etherTypeIPv4, ip4(ipProtoUDP, "0.0.0.0", "10.0.0.9", 0, 0, l4(68, 53, 8))), DropSpoofedIP},
		{"ARP from its address", arpFrame("10.0.0.1"), NotDropped},
		{"ARP probe (sender 0.0.0.0)", arpFrame("0.0.0.0"), NotDropped},
		{"ARP for a neighbour's address", arpFrame("10.0.0.2"), DropSpoofedIP},
		{"ARP tagged, for a neighbour's address", arpFrame("10.0.0.2", tpidQ), DropSpoofedIP},
		{"ARP cut short", arpFrame("10.0.0.1")[:20], DropSpoofedIP},
		{"IPv6 from its address", ethIP(etherTypeIPv6, ip6(ipProtoUDP, "2001:db8::1", "2001:db8::9", l4(1, 2, 8))), NotDropped},
		{"IPv6 from another", ethIP(etherTypeIPv6, ip6(ipProtoUDP, "2001:db8::2", "2001:db8::9", l4(1, 2, 8))), DropSpoofedIP},
		{"IPv6 link-local", ethIP(etherTypeIPv6, ip6(58, "fe80::1", "ff02::1", l4(1, 2, 8))), NotDropped},
		{"IPv6 DAD from ::", ethIP(etherTypeIPv6, ip6(58, "::", "ff02::1:ff00:1", l4(1, 2, 8))), NotDropped},
		{"not ARP or IP: LLDP", lldp, NotDropped},
	} {
		_, drop := s.EgressCheck(0, c.frame, uint32(len(c.frame)))
		assert.Equal(t, c.want, drop, c.name)
	}
	_, drop := s.EgressCheck(1, ethIP(etherTypeIPv4, ip4(ipProtoUDP, "10.9.9.9", "10.0.0.9", 0, 0, l4(1, 2, 8))), 64)
	assert.NotEqual(t, DropSpoofedIP, drop, "a VM with no addresses given is not checked")
	s = guarded(t, "0.0.0.0/0")
	_, drop = s.EgressCheck(0, ethIP(etherTypeIPv4, ip4(ipProtoUDP, "192.0.2.1", "10.0.0.9", 0, 0, l4(1, 2, 8))), 64)
	assert.Equal(t, NotDropped, drop, "a /0 is any address")
}

func FuzzIPGuard(f *testing.F) {
	f.Add(arpFrame("10.0.0.1"))
	f.Add(ethIP(etherTypeIPv6, ip6(58, "::", "ff02::1", l4(1, 2, 8)), tpidQ))
	f.Add(ethIP(etherTypeIPv4, ip4(ipProtoUDP, "0.0.0.0", "255.255.255.255", 0, 4, l4(68, 67, 8))))
	g := newIPGuard([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")})
	f.Fuzz(func(t *testing.T, b []byte) {
		g.allows(b) // never panics, whatever the bytes
	})
}
