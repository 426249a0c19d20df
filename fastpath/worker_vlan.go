package fastpath

import "github.com/uplinkd/uplinkd/cgo/dpdk"

// The worker's paths for VLAN-aware teams (see vlan.go). They decide per
// frame: its VLAN, then where it goes and in which form, tagged or not.
// A frame for one destination changes form in place (a tag pushed into
// the mbuf's headroom or popped); a group frame whose destinations want
// both forms is copied once into the other.

// egressVLAN handles a burst VM v sent in a VLAN-aware team: each frame
// goes to the local VMs of its VLAN it is for, or out by the NIC the
// team's policy picks, tagged unless its VLAN is the team's native one.
// It returns the bytes taken from the VM.
func (w *Worker) egressVLAN(s *Snapshot, v int, pkts []*dpdk.Mbuf) (bytes uint64) {
	c := &w.vm[v]
	vs := &w.vms[v]
	team := &s.Teams[s.VMs[v].Team]
	for _, m := range pkts {
		l := m.PktLen()
		bytes += uint64(l)
		frame := m.Data()
		src, drop := s.EgressCheck(v, frame, l)
		var vid, tci uint16
		var isTagged bool
		if drop == NotDropped {
			vid, isTagged, tci, drop = s.VMFrameVLAN(v, frame)
		}
		if drop != NotDropped {
			c[Drop(drop)]++
			w.io.Free(m)
			continue
		}
		tci = withVID(tci, vid)
		if isTagged {
			putTCI(frame, tci) // a priority tag gets its VLAN
		}
		to, dom := s.LocalVLAN(v, vid, MACAt(frame[0:6]))
		if to >= 0 {
			if w.deliverVLAN(s, to, m, vid, isTagged, tci) {
				w.vm[to][LocalIn]++
				c[LocalOut]++
			}
			continue
		}
		nic := -1
		if len(team.Up) > 0 {
			nic = s.PickNIC(v, frame, src, &vs.turn, w.load)
		}
		if dom == nil { // for the network alone: the frame changes form in place
			w.toNIC(v, nic, m, team.NICTagged(vid), isTagged, tci)
			continue
		}
		// A group frame: each local VM of the VLAN, and one NIC.
		f := fanOut{tci: tci}
		f.m[b2i(isTagged)] = m
		c[LocalOut] += uint64(w.floodVLAN(s, &f, dom.VMs, v, vid))
		if nic < 0 {
			c[Drop(DropNoNIC)]++
		} else if x := w.form(&f, team.NICTagged(vid)); x == nil {
			w.nic[nic][Drop(DropNoMbuf)]++
		} else if w.io.Tx(w.nicTx[nic]).Push(x) {
			f.took(x)
			w.nic[nic][TxPackets]++
			w.nic[nic][TxBytes] += uint64(x.PktLen())
		} else {
			w.nic[nic][Drop(DropQueueFull)]++
		}
		f.done(w.io)
	}
	return bytes
}

// toNIC queues VM v's frame to NIC nic (-1: none usable) in the form the
// NIC wants, changed in place.
func (w *Worker) toNIC(v, nic int, m *dpdk.Mbuf, want, isTagged bool, tci uint16) {
	switch {
	case nic < 0:
		w.vm[v][Drop(DropNoNIC)]++
	case want != isTagged && !retag(m, want, tci):
		w.nic[nic][Drop(DropNoMbuf)]++ // no headroom for the tag
	case w.io.Tx(w.nicTx[nic]).Push(m):
		w.nic[nic][TxPackets]++
		w.nic[nic][TxBytes] += uint64(m.PktLen())
		return
	default:
		w.nic[nic][Drop(DropQueueFull)]++
	}
	w.io.Free(m)
}

// ingressVLAN handles one frame NIC nic received in a VLAN-aware team.
func (w *Worker) ingressVLAN(s *Snapshot, nic int, m *dpdk.Mbuf, l uint32) {
	v, dom, vid, isTagged, tci, drop := s.IngressVLAN(nic, m.Data(), l)
	tci = withVID(tci, vid)
	switch {
	case drop != NotDropped:
		w.nic[nic][Drop(drop)]++
		w.io.Free(m)
	case dom != nil:
		f := fanOut{tci: tci}
		f.m[b2i(isTagged)] = m
		w.floodVLAN(s, &f, dom.VMs, -1, vid)
		f.done(w.io)
	default:
		w.deliverVLAN(s, v, m, vid, isTagged, tci)
	}
}

// deliverVLAN delivers a frame of VLAN vid to VM to alone, in the form
// the VM takes it, through DoS admission; true when it was queued. It
// frees what it does not deliver.
func (w *Worker) deliverVLAN(s *Snapshot, to int, m *dpdk.Mbuf, vid uint16, isTagged bool, tci uint16) bool {
	if want := s.VMs[to].VMTagged(vid); want != isTagged && !retag(m, want, tci) {
		w.vm[to][Drop(DropNoMbuf)]++ // no headroom for the tag
		w.io.Free(m)
		return false
	}
	return w.deliverOne(s, to, m, m.PktLen())
}

// floodVLAN is flood for a frame of VLAN vid: each VM of vms but from gets
// the frame in the form it takes. It returns how many took it.
func (w *Worker) floodVLAN(s *Snapshot, f *fanOut, vms []int, from int, vid uint16) int {
	k := 0
	for _, u := range vms {
		if u == from {
			continue
		}
		if x := w.form(f, s.VMs[u].VMTagged(vid)); x == nil {
			w.vm[u][Drop(DropNoMbuf)]++
		} else if w.deliver(s, u, x, x.PktLen()) {
			f.took(x)
			if from >= 0 {
				w.vm[u][LocalIn]++
			}
			k++
		}
	}
	return k
}

// retag pushes a tag (tci) onto an untagged frame or pops a tagged one's,
// in place: only for an mbuf no one else holds.
func retag(m *dpdk.Mbuf, tag bool, tci uint16) bool {
	if tag {
		if !m.Prepend(4) {
			return false
		}
		d := m.Data()
		copy(d[0:12], d[4:16])
		d[12], d[13] = etherTypeVLAN>>8, etherTypeVLAN&0xff
		putTCI(d, tci)
		return true
	}
	d := m.Data()
	copy(d[4:16], d[0:12])
	return m.Adj(4)
}

// fanOut is a group frame on its way to destinations that want it
// untagged (m[0]) or tagged (m[1]): the frame as it came, and a copy in
// the other form made when first wanted; each holds a reference per
// destination that took it.
type fanOut struct {
	m      [2]*dpdk.Mbuf
	refs   [2]uint16
	tci    uint16 // what a tagged form carries
	failed bool   // the copy could not be made
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// form is the frame in the form wanted, copied the first time the other
// form is; nil when no copy can be made (the pool is empty, or the frame
// is chained).
func (w *Worker) form(f *fanOut, tagged bool) *dpdk.Mbuf {
	i := b2i(tagged)
	if f.m[i] != nil || f.failed {
		return f.m[i]
	}
	src := f.m[1-i]
	if src.Segs() > 1 || w.alloc == nil || w.alloc(w.one[:]) != nil {
		f.failed = true
		return nil
	}
	c, d := w.one[0], src.Data()
	b := c.Buffer()
	n := len(d) + 4
	if !tagged {
		n = len(d) - 4
	}
	if n > len(b) {
		w.io.Free(c)
		f.failed = true
		return nil
	}
	copy(b[0:12], d[0:12])
	if tagged {
		b[12], b[13] = etherTypeVLAN>>8, etherTypeVLAN&0xff
		putTCI(b, f.tci)
		copy(b[16:], d[12:])
	} else {
		copy(b[12:], d[16:])
	}
	c.SetLen(uint16(n))
	f.m[i] = c
	return c
}

// took counts a destination's reference to x.
func (f *fanOut) took(x *dpdk.Mbuf) {
	if f.m[1] == x {
		f.refs[1]++
	} else {
		f.refs[0]++
	}
}

// done sets each form's references, once every destination took its
// own (nothing is sent or freed before the worker's next Step), and frees
// a form no one took.
func (f *fanOut) done(io *dpdk.IO) {
	for i, m := range f.m {
		switch {
		case m == nil:
		case f.refs[i] == 0:
			io.Free(m)
		case f.refs[i] > 1:
			m.SetRefcnt(f.refs[i])
		}
	}
}
