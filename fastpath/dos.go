package fastpath

import (
	"math"
	"math/bits"
)

// The DoS counters: what the worker counts per VM and direction so that
// ctrl's detector can tell a flood from busy traffic — SYNs that open no
// connection, fragments, UDP from the ports reflection attacks use, and
// how many distinct sources send (a sketch, not a set). Counting is a few
// compares on headers FlowHash's parser already reads, only for VMs whose
// config watches them.

// DoSClass says what of interest a frame is, as bit flags.
type DoSClass uint8

const (
	ClassSYN           DoSClass = 1 << iota // TCP SYN without ACK
	ClassFragment                           // an IPv4 or IPv6 fragment
	ClassAmplification                      // UDP from an amplification port
)

const (
	tcpFlagSYN = 0x02
	tcpFlagACK = 0x10
)

// isAmplificationPort: DNS, NTP, SNMP, CLDAP, SSDP, memcached — the UDP
// services whose replies are many times their requests.
func isAmplificationPort(p uint16) bool {
	switch p {
	case 53, 123, 161, 389, 1900, 11211:
		return true
	}
	return false
}

// ClassifyDoS reads a frame's class and a hash of its source IP address;
// ok is false for frames that are not IP (they count only as packets).
func ClassifyDoS(frame []byte) (c DoSClass, srcHash uint64, ok bool) {
	var k flowKey
	if !k.parse(frame) {
		return 0, 0, false
	}
	switch {
	case k.frag:
		c = ClassFragment
	case k.proto == ipProtoTCP && k.tcpFlags&(tcpFlagSYN|tcpFlagACK) == tcpFlagSYN:
		c = ClassSYN
	case k.proto == ipProtoUDP && k.l4 && isAmplificationPort(uint16(k.ports>>16)):
		c = ClassAmplification
	}
	if k.v6 {
		srcHash = finalize(mixWord(mixWord(flowSeedIPv6, k.addrs[0]), k.addrs[1]))
	} else {
		srcHash = finalize(mixWord(flowSeedIPv4, k.addrs[0]>>32))
	}
	return c, srcHash, true
}

// Sketch counts distinct sources in 64 one-byte registers, HyperLogLog
// style: about 13 % standard error, a fixed 64 bytes, no allocation.
type Sketch [sketchRegisters]uint8

const (
	sketchBits      = 6
	sketchRegisters = 1 << sketchBits
)

// Add counts hash h (uniform bits).
func (s *Sketch) Add(h uint64) {
	i := h >> (64 - sketchBits)
	r := uint8(bits.LeadingZeros64(h<<sketchBits|1<<(sketchBits-1)) + 1)
	if r > s[i] {
		s[i] = r
	}
}

// Estimate is the number of distinct hashes added.
func (s *Sketch) Estimate() float64 {
	const m = float64(sketchRegisters)
	const alpha = 0.709 // HyperLogLog's bias correction for 64 registers
	sum, zeros := 0.0, 0
	for _, r := range s {
		sum += 1 / float64(uint64(1)<<r)
		if r == 0 {
			zeros++
		}
	}
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		// Few sources: linear counting over the empty registers is exact
		// enough where the harmonic mean is not.
		return m * math.Log(m/float64(zeros))
	}
	return e
}

// Reset empties the sketch.
func (s *Sketch) Reset() { *s = Sketch{} }
