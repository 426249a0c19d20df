package fastpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A fake TSC at 1 GHz: one cycle is a nanosecond.
const fakeHz = 1_000_000_000

// drive runs a bucket for seconds of fake time in steps of stepNs, each
// step taking what Allow gives of frames of size bytes, and returns how
// many packets and bytes went.
func drive(b *Bucket, seconds float64, stepNs uint64, size uint64, want uint32) (pkts, bytes uint64) {
	end := uint64(seconds * fakeHz)
	for now := uint64(1); now <= end; now += stepNs {
		b.Refill(now)
		n := b.Allow(want)
		b.Take(n, uint64(n)*size)
		pkts += uint64(n)
		bytes += uint64(n) * size
	}
	return
}

func TestBucketByteRateIsExactOverTime(t *testing.T) {
	for _, size := range []uint64{64, 1518} {
		var b Bucket
		b.SetRate(100e6, 0, fakeHz) // 100 Mbit/s
		_, bytes := drive(&b, 2, 1000, size, 32)
		got := float64(bytes) * 8 / 2
		assert.InDelta(t, 100e6, got, 100e6*0.005, "size %d", size)
	}
}

func TestBucketPacketRateIsExactOverTime(t *testing.T) {
	var b Bucket
	b.SetRate(0, 50_000, fakeHz)
	pkts, _ := drive(&b, 2, 700, 64, 32)
	assert.InDelta(t, 100_000, float64(pkts), 100_000*0.005)
}

func TestBucketBothLimitsTheTighterWins(t *testing.T) {
	var b Bucket
	b.SetRate(1e9, 10_000, fakeHz) // 10 kpps of 64 B is only 5 Mbit/s
	pkts, _ := drive(&b, 1, 1000, 64, 32)
	assert.InDelta(t, 10_000, float64(pkts), 100)
	b = Bucket{}
	b.SetRate(8e6, 1e6, fakeHz) // 1 MB/s of 1000 B frames: 1000 pps
	pkts, _ = drive(&b, 1, 1000, 1000, 32)
	// Ahead by at most the depth (two jumbo frames) plus one burst of debt.
	assert.GreaterOrEqual(t, pkts, uint64(999))
	assert.LessOrEqual(t, pkts, uint64(1000+(minDepthBytes+32*1000)/1000))
}

func TestBucketUnlimitedAllowsEverything(t *testing.T) {
	var b Bucket
	b.SetRate(0, 0, fakeHz)
	assert.False(t, b.Limited())
	b.Refill(5)
	assert.EqualValues(t, 32, b.Allow(32))
}

func TestBucketDepthBoundsAnIdleBurst(t *testing.T) {
	var b Bucket
	b.SetRate(0, 1000, fakeHz) // depth: 2 ms of 1000 pps = 2 packets
	b.Refill(1)
	b.Refill(10 * fakeHz) // idle for 10 s
	assert.EqualValues(t, 2, b.Allow(32))
}

func TestBucketDebtIsRepaid(t *testing.T) {
	var b Bucket
	b.SetRate(8e6, 0, fakeHz) // 1 byte per microsecond
	b.Refill(1)
	b.Refill(1 + 20_000) // 20 us: 20 bytes of tokens, below one frame
	n := b.Allow(32)
	assert.EqualValues(t, 32, n, "any positive balance allows a burst")
	b.Take(n, 32*1500)
	assert.EqualValues(t, 0, b.Allow(32), "in debt")
	b.Refill(1 + 20_000 + 47_000_000) // 47 ms later: still 20 bytes short of the 48000 owed
	assert.EqualValues(t, 0, b.Allow(32))
	b.Refill(1 + 20_000 + 48_100_000)
	assert.EqualValues(t, 32, b.Allow(32))
}

func TestBucketNewRateKeepsTokensUpToNewDepth(t *testing.T) {
	var b Bucket
	b.SetRate(0, 1e6, fakeHz)
	b.Refill(1)
	b.Refill(fakeHz) // full: 2000 packets
	b.SetRate(0, 1000, fakeHz)
	assert.EqualValues(t, 2, b.Allow(1<<20), "clamped to the new depth")
}
