package main

import (
	"encoding/binary"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/fastpath"
)

// maxFrameSize is the longest frame --size takes: the virtio PMD's largest
// MTU (9698: its 9728-byte receive limit less the Ethernet and virtio-net
// headers and a VLAN tag) plus the Ethernet header. That is enough for
// uplinkd's largest MTU (9600) with a VLAN tag, and over it for oversize
// tests.
const maxFrameSize = 9698 + 14

// portMTU is the MTU the generator's ports are configured with: ethdev's
// default (1500) unless --size asks for longer frames, so that a jumbo
// frame is within the port's MTU both ways.
func portMTU(size int) uint16 {
	if size <= 1514 {
		return 0
	}
	return uint16(size - 14)
}

// frameDataRoom is the data room of the generator's mbufs: one segment
// holds a --size frame, also on receive, where the virtio PMD wants room for
// a VLAN tag and its 12-byte virtio-net header on top of the port's MTU
// (scatter is not enabled).
func frameDataRoom(size int) uint16 {
	return dpdk.DataRoomFor(size + 4 + 12)
}

// buildFrame writes an Ethernet/IPv4/UDP frame of size bytes for flow f
// into b. Flows differ in source IP and UDP ports, so a 5-tuple hash tells
// them apart. size below 42 still gets the Ethernet header (a runt stays a
// runt).
func buildFrame(b []byte, dst, src fastpath.MAC, size int, f uint32) []byte {
	b = b[:size]
	clear(b)
	if size < 12 {
		return b
	}
	dst.Put(b[0:6])
	src.Put(b[6:12])
	if size < 14 {
		return b
	}
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	if size < 42 {
		return b
	}
	ip := b[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(size-14))
	ip[8] = 64
	ip[9] = 17
	binary.BigEndian.PutUint32(ip[12:16], 0x0a000000|(f>>16)<<8|uint32(src&0xff))
	binary.BigEndian.PutUint32(ip[16:20], 0xc6336401) // 198.51.100.1, TEST-NET-2
	binary.BigEndian.PutUint16(ip[10:12], ipChecksum(ip))
	udp := b[34:42]
	binary.BigEndian.PutUint16(udp[0:2], uint16(1024+f&0xffff))
	binary.BigEndian.PutUint16(udp[2:4], 9)
	binary.BigEndian.PutUint16(udp[4:6], uint16(size-34))
	return b
}

// buildFrameIn is buildFrame for a VM on a trunk: vlan (0: none) tags
// the frame, which stays size bytes.
func buildFrameIn(b []byte, dst, src fastpath.MAC, size int, f uint32, vlan uint16) []byte {
	if vlan == 0 || size < 18 {
		return buildFrame(b, dst, src, size, f)
	}
	buildFrame(b[4:], dst, src, size-4, f)
	copy(b[0:12], b[4:16])
	binary.BigEndian.PutUint16(b[12:14], 0x8100)
	binary.BigEndian.PutUint16(b[14:16], vlan)
	return b[:size]
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i < len(h); i += 2 {
		s += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
