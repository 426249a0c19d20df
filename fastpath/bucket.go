package fastpath

// Bucket is a VM's egress token-bucket shaping filter, in bytes and in
// packets, refilled from the TSC. The worker asks it how many packets it
// may take from the VM's virtqueue before polling (Allow) and pays for what
// it took afterwards (Take): packets it may not take yet stay in the
// virtqueue, so shaping loses nothing.
//
// Byte tokens may go negative: the sizes of the packets in a virtqueue are
// unknown until they are taken, so a burst is allowed while any byte token
// is left and its cost is paid as debt. The long-run rate is exact; the
// overshoot is at most one burst.
type Bucket struct {
	bytesPerCycle, pktsPerCycle float64 // 0: no limit of that kind
	bytes, pkts                 float64 // tokens
	maxBytes, maxPkts           float64 // depth
	last                        uint64  // TSC of the last refill
}

// BucketDepthCycles is how much time's worth of tokens a bucket holds, as
// a fraction of a second: 2 ms. Deeper lets an idle VM burst harder;
// shallower makes the rate lumpier at the worker's loop granularity.
const bucketDepth = 0.002

// minDepthBytes lets even a slow VM send one jumbo frame at once.
const minDepthBytes = 2 * 9618

// SetRate sets the limits in bits/s and packets/s (0 for none) for a TSC
// running at hz. Tokens already in the bucket stay, up to the new depth.
func (b *Bucket) SetRate(bps, pps float64, hz uint64) {
	f := float64(hz)
	b.bytesPerCycle, b.pktsPerCycle = bps/8/f, pps/f
	b.maxBytes = max(bps/8*bucketDepth, minDepthBytes)
	b.maxPkts = max(pps*bucketDepth, 1)
	b.bytes, b.pkts = min(b.bytes, b.maxBytes), min(b.pkts, b.maxPkts)
}

// Limited says the bucket shapes at all.
func (b *Bucket) Limited() bool { return b.bytesPerCycle != 0 || b.pktsPerCycle != 0 }

// Refill adds the tokens earned since the last refill.
func (b *Bucket) Refill(now uint64) {
	if b.last == 0 || now < b.last {
		b.last = now
		return
	}
	dt := float64(now - b.last)
	b.last = now
	if b.bytesPerCycle != 0 {
		b.bytes = min(b.bytes+dt*b.bytesPerCycle, b.maxBytes)
	}
	if b.pktsPerCycle != 0 {
		b.pkts = min(b.pkts+dt*b.pktsPerCycle, b.maxPkts)
	}
}

// Allow is how many packets, up to n, may be taken now.
func (b *Bucket) Allow(n uint32) uint32 {
	if b.bytesPerCycle != 0 && b.bytes <= 0 {
		return 0
	}
	if b.pktsPerCycle != 0 {
		if b.pkts < 1 {
			return 0
		}
		n = min(n, uint32(b.pkts))
	}
	return n
}

// Take pays for packets taken.
func (b *Bucket) Take(pkts uint32, bytes uint64) {
	if b.bytesPerCycle != 0 {
		b.bytes -= float64(bytes)
	}
	if b.pktsPerCycle != 0 {
		b.pkts -= float64(pkts)
	}
}

// InDebt says the last burst cost more bytes than the bucket held: the VM
// sent as much as its byte rate allows.
func (b *Bucket) InDebt() bool { return b.bytesPerCycle != 0 && b.bytes < 0 }
