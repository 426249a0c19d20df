package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAStampReadsBackOnlyFromAStampedFrame(t *testing.T) {
	b := buildFrame(make([]byte, 64), 0x020000000002, 0x020000000001, 60, 7)
	_, ok := stampOf(b)
	assert.False(t, ok, "an unstamped frame")
	stamp(b, 123456789)
	ts, ok := stampOf(b)
	require.True(t, ok)
	assert.EqualValues(t, 123456789, ts)
	_, ok = stampOf(b[:stampOff+stampLen-1])
	assert.False(t, ok, "too short to carry a stamp")
}

func TestLatencyPercentiles(t *testing.T) {
	l := newLatencies(1000, 0)
	// 1000 samples of 1..1000 cycles.
	for i := uint64(1); i <= 1000; i++ {
		l.samples = append(l.samples, i)
	}
	r := l.report(1e6) // 1 MHz: one cycle is one microsecond
	assert.Equal(t, 1000, r["samples"])
	assert.InDelta(t, 501, r["p50_us"], 0.001)
	assert.InDelta(t, 991, r["p99_us"], 0.001)
	assert.InDelta(t, 1000, r["p999_us"], 0.001)
	assert.InDelta(t, 1000, r["max_us"], 0.001)
}

func TestNICArgumentsAreVirtioUserPortsOfTheSwitchsWires(t *testing.T) {
	d, err := parseNIC(1, "socket=/run/x/nic1.sock")
	require.NoError(t, err)
	assert.Equal(t, "net_virtio_user101,path=/run/x/nic1.sock,queue_size=1024", d)
	_, err = parseNIC(0, "path=/x")
	assert.ErrorContains(t, err, "want socket=PATH")
}
