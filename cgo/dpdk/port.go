package dpdk

/*
// The control plane reads a port's counters for every report: without
// these, cgo would move the rte_eth_stats it fills to the heap each time.
#cgo noescape rte_eth_stats_get
#cgo nocallback rte_eth_stats_get
#include <stdlib.h>
#include "uplk.h"
*/
import "C"

import (
	"fmt"
	"net"
	"strings"
	"unsafe"
)

// Port is an ethdev port: a PCI NIC, a vhost-user port or any vdev.
type Port struct {
	ID   uint16
	Name string
}

// VhostDevargs builds the devargs of a net_vhost port. In server mode (the
// default) uplinkd owns the socket and a VM may connect, leave and come
// back; in client mode uplinkd connects to a socket the hypervisor serves.
func VhostDevargs(name, socket string, client bool, queues int) string {
	s := fmt.Sprintf("%s,iface=%s,queues=%d", name, socket, queues)
	if client {
		s += ",client=1"
	}
	return s
}

// PortCount is how many ports the process has.
func PortCount() int { return int(C.rte_eth_dev_count_avail()) }

// Probe attaches a device by its devargs: a PCI address ("0000:01:00.0") or
// a vdev string ("net_tap0,iface=dtap0"). The port's name is the devargs up
// to the first comma.
func Probe(devargs string) (Port, error) {
	cargs := C.CString(devargs)
	defer C.free(unsafe.Pointer(cargs))
	var cerr C.int
	if C.uplk_dev_probe(cargs, &cerr) < 0 {
		return Port{}, fmt.Errorf("probe device %q: %w", devargs, Errno(cerr))
	}
	name, _, _ := strings.Cut(devargs, ",")
	return PortByName(name)
}

// PortByName finds an attached port.
func PortByName(name string) (Port, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var id C.uint16_t
	if rc := C.uplk_port_by_name(cname, &id); rc != 0 {
		return Port{}, fmt.Errorf("no ethdev port named %q: %w", name, Errno(-rc))
	}
	return Port{ID: uint16(id), Name: name}, nil
}

// MTULimit is the largest MTU a port can carry, as its driver reports it
// (rte_eth_dev_info): MaxMTU is what ethdev accepts as the port's MTU,
// MaxFrame the longest frame it receives.
type MTULimit struct {
	Driver   string
	MaxMTU   int
	MaxFrame uint32
}

// MTULimit reads the port's MTU limit.
func (p Port) MTULimit() (MTULimit, error) {
	var mtu, frame C.uint32_t
	var driver *C.char
	if rc := C.uplk_port_mtu_max(C.uint16_t(p.ID), &mtu, &frame, &driver); rc != 0 {
		return MTULimit{}, fmt.Errorf("port %s: device info: %w", p.Name, Errno(-rc))
	}
	return MTULimit{Driver: C.GoString(driver), MaxMTU: int(mtu), MaxFrame: uint32(frame)}, nil
}

// Configure sets up nrxq rx and ntxq tx queues with ndesc descriptors each,
// rx buffers from pool, the port's MTU (0: ethdev's default, 1500; check it
// against MTULimit first), and turns on link-state interrupts where the PMD
// has them.
func (p Port) Configure(nrxq, ntxq, ndesc uint16, pool *Pool, mtu uint16) error {
	var cerr C.int
	rc := C.uplk_port_setup(C.uint16_t(p.ID), C.uint16_t(nrxq), C.uint16_t(ntxq), C.uint16_t(ndesc), pool.p, C.uint16_t(mtu), &cerr)
	if rc != 0 {
		step := map[C.int]string{-1: "device info", -2: "configure", -3: "descriptor count", -4: "rx queue setup", -5: "tx queue setup"}[rc]
		return fmt.Errorf("port %s: %s: %w", p.Name, step, Errno(cerr))
	}
	return nil
}

// Start starts the port.
func (p Port) Start() error {
	if rc := C.rte_eth_dev_start(C.uint16_t(p.ID)); rc != 0 {
		return fmt.Errorf("port %s: start: %w", p.Name, Errno(-rc))
	}
	return nil
}

// Detach stops and closes the port and removes its device, which deletes a
// tap interface or a vhost server socket.
func (p Port) Detach() error {
	if rc := C.uplk_port_detach(C.uint16_t(p.ID)); rc != 0 {
		return fmt.Errorf("port %s: detach: %w", p.Name, Errno(-rc))
	}
	return nil
}

// SetPromiscuous turns promiscuous mode on: a teaming NIC carries many MACs.
func (p Port) SetPromiscuous() error {
	if rc := C.rte_eth_promiscuous_enable(C.uint16_t(p.ID)); rc != 0 && rc != -C.ENOTSUP {
		return fmt.Errorf("port %s: promiscuous: %w", p.Name, Errno(-rc))
	}
	return nil
}

// MAC is the port's own address.
func (p Port) MAC() net.HardwareAddr {
	var a C.struct_rte_ether_addr
	C.rte_eth_macaddr_get(C.uint16_t(p.ID), &a)
	return net.HardwareAddr(C.GoBytes(unsafe.Pointer(&a.addr_bytes[0]), 6))
}

// Link is a port's link state.
type Link struct {
	Up        bool
	SpeedMbps uint32
	FullDup   bool
}

// Link reads the link state without waiting.
func (p Port) Link() (Link, error) {
	var l C.struct_rte_eth_link
	if rc := C.rte_eth_link_get_nowait(C.uint16_t(p.ID), &l); rc != 0 {
		return Link{}, fmt.Errorf("port %s: link: %w", p.Name, Errno(-rc))
	}
	// link_status and link_duplex are bitfields: read them through the
	// packed 64-bit view the struct is designed around.
	raw := *(*uint64)(unsafe.Pointer(&l))
	return Link{
		SpeedMbps: uint32(raw),
		FullDup:   raw>>32&1 == 1,
		Up:        raw>>34&1 == 1,
	}, nil
}

// Stats are a port's basic counters, as its PMD keeps them: IMissed are
// frames the NIC dropped because its rx ring was full (the worker did not
// poll in time), RxNoMbuf the times it found no mbuf to refill the ring,
// IErrors and OErrors frames it received or sent in error.
type Stats struct {
	IPackets, OPackets, IBytes, OBytes, IMissed, IErrors, OErrors, RxNoMbuf uint64
}

// Stats reads the basic counters. Other threads may call it while the
// worker owns the port's queues: the PMDs uplinkd runs (net_tap, vhost,
// pcap, null) only read counters in stats_get.
func (p Port) Stats() (Stats, error) {
	var s C.struct_rte_eth_stats
	if rc := C.rte_eth_stats_get(C.uint16_t(p.ID), &s); rc != 0 {
		return Stats{}, fmt.Errorf("port %s: stats: %w", p.Name, Errno(-rc))
	}
	return Stats{
		IPackets: uint64(s.ipackets), OPackets: uint64(s.opackets),
		IBytes: uint64(s.ibytes), OBytes: uint64(s.obytes),
		IMissed: uint64(s.imissed), IErrors: uint64(s.ierrors),
		OErrors: uint64(s.oerrors), RxNoMbuf: uint64(s.rx_nombuf),
	}, nil
}
