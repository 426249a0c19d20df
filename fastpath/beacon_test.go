package fastpath

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBeaconRoundTrip(t *testing.T) {
	b := make([]byte, 128)
	n := PutBeacon(b, 0x020000000aaa, 3, 7, 42)
	assert.Equal(t, BeaconLen, n)
	assert.True(t, BeaconMAC.IsGroup(), "flooded by switches")
	team, nic, ok := ParseBeacon(b[:n])
	assert.True(t, ok)
	assert.Equal(t, 3, team)
	assert.Equal(t, 7, nic)
	assert.Equal(t, MAC(0x020000000aaa), MACAt(b[6:12]))
}

func TestParseBeaconRejectsOtherFrames(t *testing.T) {
	b := make([]byte, 64)
	PutBeacon(b, 0x020000000aaa, 0, 1, 0)
	for name, mutate := range map[string]func([]byte){
		"other ethertype": func(f []byte) { f[13] = 0xB6 },
		"unicast":         func(f []byte) { MAC(0x020000000001).Put(f[0:6]) },
		"bad magic":       func(f []byte) { f[14] ^= 1 },
	} {
		f := append([]byte{}, b...)
		mutate(f)
		_, _, ok := ParseBeacon(f)
		assert.False(t, ok, name)
	}
	_, _, ok := ParseBeacon(b[:20])
	assert.False(t, ok, "truncated")
	assert.False(t, IsBeaconType(frame(Broadcast, macPeer, 64)))
}
