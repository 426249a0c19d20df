package main

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestATrunkVMsFrameIsTaggedAndKeepsItsSize(t *testing.T) {
	plain := buildFrame(make([]byte, 64), 0x020000000002, 0x020000000001, 56, 3)
	tagged := buildFrameIn(make([]byte, 64), 0x020000000002, 0x020000000001, 60, 3, 20)
	assert.Len(t, tagged, 60)
	assert.Equal(t, plain[0:12], tagged[0:12], "the MACs first")
	assert.EqualValues(t, 0x8100, binary.BigEndian.Uint16(tagged[12:14]))
	assert.EqualValues(t, 20, binary.BigEndian.Uint16(tagged[14:16]))
	assert.Equal(t, plain[12:], tagged[16:], "then the untagged frame's ethertype and IP packet")
	assert.Equal(t, buildFrame(make([]byte, 64), 2, 1, 60, 3), buildFrameIn(make([]byte, 64), 2, 1, 60, 3, 0), "no VLAN: as before")
}
