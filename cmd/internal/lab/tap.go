package lab

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Tap is a raw packet socket on the kernel side of one of uplinkd's tap
// NICs, inside the lab's namespace: what uplinkd sends to that NIC arrives
// here, and what is written here arrives at uplinkd as if from the network.
type Tap struct {
	lab     *Lab
	fd      int
	ifindex int
	skip    map[int]bool // OpenTapOthers: the interfaces not captured
	stop    atomic.Bool
	done    chan struct{}
	mu      sync.Mutex
	bySrc   map[string]int
	byFlow  map[Flow]int
	rarp    map[string]int
	bySize  map[int]int
	// By source MAC and the frame's VLAN (0: untagged).
	bySrcIn, rarpIn map[srcVLAN]int
	unicast         map[string]int // by source MAC: frames to a unicast address
	total           int
	changed         *sync.Cond
	// Per source MAC: when its last frame arrived and the longest gap
	// between two of its frames since ResetGap (user-space receive times:
	// millisecond resolution, enough for a migration's downtime).
	last   map[string]time.Time
	maxGap map[string]time.Duration
}

type srcVLAN struct {
	src string
	vid int
}

// vlanOf reads a captured frame's VLAN ID from its auxiliary data (0:
// untagged).
func vlanOf(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			continue
		}
		aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
		if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
			return int(aux.Vlan_tci & 0x0fff)
		}
	}
	return 0
}

// FromSrcIn is how many frames with this source MAC were captured in
// VLAN vid (0: untagged).
func (t *Tap) FromSrcIn(mac string, vid int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bySrcIn[srcVLAN{mac, vid}]
}

// UnicastFromSrc is how many frames from mac to a unicast address were
// captured.
func (t *Tap) UnicastFromSrc(mac string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.unicast[mac]
}

// RARPsIn is how many RARP announcements for mac were captured in VLAN
// vid (0: untagged).
func (t *Tap) RARPsIn(mac string, vid int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rarpIn[srcVLAN{mac, vid}]
}

// Flow is a VM's flow as uplink-gen builds it: source MAC and UDP source
// port.
type Flow struct {
	Src  string
	Port uint16
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// inNS runs f on a thread switched into the lab's namespace.
func (l *Lab) inNS(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is not unlocked: it dies with the goroutine, so no
		// other goroutine ever runs in the wrong namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := os.Open("/var/run/netns/" + l.NS)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- f()
	}()
	return <-errc
}

// OpenTap opens a capture/injection socket on iface in the lab's namespace.
func (l *Lab) OpenTap(iface string) *Tap {
	l.T.Helper()
	t := l.newTap()
	err := l.inNS(func() error {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return err
		}
		t.ifindex = ifi.Index
		t.fd, err = packetSocket(ifi.Index)
		return err
	})
	require.NoError(l.T, err, "open packet socket on %s", iface)
	t.start()
	return t
}

// OpenTapOthers opens a capture socket on every interface of the lab's
// namespace but known ones (and lo): for an interface that comes and goes
// while the test runs, such as a NIC that joins and leaves a team (net_tap
// creates its interface when it is added, and frames leave by it before a
// socket bound to it could be opened). It injects nothing.
func (l *Lab) OpenTapOthers(known ...string) *Tap {
	l.T.Helper()
	t := l.newTap()
	t.skip = map[int]bool{}
	err := l.inNS(func() error {
		for _, name := range append(known, "lo") {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return err
			}
			t.skip[ifi.Index] = true
		}
		var err error
		t.fd, err = packetSocket(0)
		return err
	})
	require.NoError(l.T, err, "open packet socket on the interfaces but %v", known)
	t.start()
	return t
}

func (l *Lab) newTap() *Tap {
	t := &Tap{lab: l, bySrc: map[string]int{}, byFlow: map[Flow]int{}, rarp: map[string]int{}, bySize: map[int]int{}, done: make(chan struct{}),
		bySrcIn: map[srcVLAN]int{}, rarpIn: map[srcVLAN]int{}, unicast: map[string]int{},
		last: map[string]time.Time{}, maxGap: map[string]time.Duration{}}
	t.changed = sync.NewCond(&t.mu)
	return t
}

// packetSocket opens a raw packet socket on interface ifindex, promiscuous,
// or unbound on every interface for ifindex 0. Called in the lab's
// namespace.
func packetSocket(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, err
	}
	setup := func() error {
		if ifindex != 0 {
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
				return err
			}
			mr := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
			if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
				return err
			}
		}
		// A generator and a polling worker share the machine's cores with
		// this reader: give the socket room so the capture loses nothing.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 64<<20); err != nil {
			return err
		}
		// The kernel takes a received frame's 802.1Q tag out of its bytes
		// (into the skb's metadata) before a packet socket sees it: the
		// tag comes as auxiliary data.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		tv := unix.Timeval{Usec: 50000}
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	if err := setup(); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (t *Tap) start() {
	go t.read()
	t.lab.T.Cleanup(t.Close)
}

func (t *Tap) read() {
	defer close(t.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for !t.stop.Load() {
		n, oobn, _, from, err := unix.Recvmsg(t.fd, buf, oob, 0)
		if err != nil {
			continue // timeout: check stop
		}
		vid := vlanOf(oob[:oobn])
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && (ll.Pkttype == unix.PACKET_OUTGOING || t.skip[ll.Ifindex]) {
			continue // our own injections, or an interface another Tap watches
		}
		if n < 12 {
			continue
		}
		src := net.HardwareAddr(buf[6:12]).String()
		t.mu.Lock()
		if n >= 14 && binary.BigEndian.Uint16(buf[12:14]) == 0x8035 {
			// A MAC announcement, counted apart from the VMs' traffic.
			t.rarp[src]++
			t.rarpIn[srcVLAN{src, vid}]++
			t.changed.Broadcast()
			t.mu.Unlock()
			continue
		}
		t.bySrc[src]++
		t.bySrcIn[srcVLAN{src, vid}]++
		if buf[0]&1 == 0 {
			t.unicast[src]++
		}
		t.bySize[n]++
		now := time.Now()
		if last, ok := t.last[src]; ok && now.Sub(last) > t.maxGap[src] {
			t.maxGap[src] = now.Sub(last)
		}
		t.last[src] = now
		if n >= 42 && binary.BigEndian.Uint16(buf[12:14]) == 0x0800 && buf[23] == 17 {
			t.byFlow[Flow{src, binary.BigEndian.Uint16(buf[34:36])}]++
		}
		t.total++
		t.changed.Broadcast()
		t.mu.Unlock()
	}
}

// ResetGap starts measuring mac's longest gap afresh from its next frame.
func (t *Tap) ResetGap(mac string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.last, mac)
	delete(t.maxGap, mac)
}

// MaxGap is the longest time between two frames from mac since ResetGap.
func (t *Tap) MaxGap(mac string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxGap[mac]
}

// KernelDrops is how many frames the kernel dropped for this socket since
// the last call (a full receive buffer): a capture that lost frames says so.
func (t *Tap) KernelDrops() uint32 {
	st, err := unix.GetsockoptTpacketStats(t.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	return st.Drops
}

// Close stops capturing.
func (t *Tap) Close() {
	if t.stop.Swap(true) {
		return
	}
	<-t.done
	unix.Close(t.fd)
}

// FromSrc is how many frames with this source MAC were captured.
func (t *Tap) FromSrc(mac string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bySrc[mac]
}

// Flows is how many UDP frames of each flow were captured.
func (t *Tap) Flows() map[Flow]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.byFlow)
}

// RARPs is how many RARP announcements for mac were captured.
func (t *Tap) RARPs(mac string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rarp[mac]
}

// WaitRARPs waits until at least n RARPs for mac were captured.
func (t *Tap) WaitRARPs(mac string, n int, timeout time.Duration) int {
	return t.wait(t.rarp, mac, n, timeout)
}

// Counts is how many frames from each source MAC were captured so far.
func (t *Tap) Counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.bySrc)
}

// Sizes is how many frames of each length were captured (MAC
// announcements apart).
func (t *Tap) Sizes() map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.bySize)
}

// Total is how many frames were captured.
func (t *Tap) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// WaitFromSrc waits until at least n frames from mac were captured.
func (t *Tap) WaitFromSrc(mac string, n int, timeout time.Duration) int {
	return t.wait(t.bySrc, mac, n, timeout)
}

// WaitFromSrcOn waits until the frames from mac captured on taps add up
// to at least n, or timeout passes, and returns the sum.
func WaitFromSrcOn(taps []*Tap, mac string, n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		sum := 0
		for _, t := range taps {
			sum += t.FromSrc(mac)
		}
		if sum >= n || !time.Now().Before(deadline) {
			return sum
		}
		// Wait for the rest on each tap in turn, briefly: whichever
		// tap it arrives on ends that tap's wait.
		for _, t := range taps {
			t.WaitFromSrc(mac, t.FromSrc(mac)+n-sum, 10*time.Millisecond)
		}
	}
}

// wait waits until counts[key] reaches n (counts is one of t's maps) or
// timeout passes, and returns it.
func (t *Tap) wait(counts map[string]int, key string, n int, timeout time.Duration) int {
	// The deadline comes first: a timer armed before it could fire while
	// the deadline is still ahead, and leave the wait with nothing to end it.
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { t.mu.Lock(); t.changed.Broadcast(); t.mu.Unlock() })
	defer timer.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for counts[key] < n && time.Now().Before(deadline) {
		t.changed.Wait()
	}
	return counts[key]
}

// Inject sends frames into uplinkd through this tap.
func (t *Tap) Inject(frames ...[]byte) {
	t.lab.T.Helper()
	to := &unix.SockaddrLinklayer{Ifindex: t.ifindex, Halen: 6}
	for _, f := range frames {
		require.NoError(t.lab.T, unix.Sendto(t.fd, f, 0, to), "inject %d bytes", len(f))
	}
}

// Frame builds an Ethernet frame of size bytes (IPv4 ethertype, zero
// payload).
func Frame(dst, src string, size int) []byte {
	d, err1 := net.ParseMAC(dst)
	s, err2 := net.ParseMAC(src)
	if err1 != nil || err2 != nil {
		panic(fmt.Sprint("bad MAC ", dst, " ", src))
	}
	b := make([]byte, size)
	copy(b[0:6], d)
	copy(b[6:12], s)
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	return b
}
