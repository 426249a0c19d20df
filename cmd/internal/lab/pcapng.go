package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// ReadPcapng returns the frames of a pcapng file (what dpdk-dumpcap
// writes): the packet data of every Enhanced Packet Block, in order. It
// reads only what the capture tests need: section headers in either byte
// order, interface descriptions and enhanced packets; other blocks are
// skipped.
func ReadPcapng(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var order binary.ByteOrder = binary.LittleEndian
	var frames [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			return nil, fmt.Errorf("%s: truncated block at %d", path, off)
		}
		typ := binary.LittleEndian.Uint32(b[off:])
		if typ == 0x0A0D0D0A { // section header: its byte-order magic sets the order
			switch binary.LittleEndian.Uint32(b[off+8:]) {
			case 0x1A2B3C4D:
				order = binary.LittleEndian
			case 0x4D3C2B1A:
				order = binary.BigEndian
			default:
				return nil, fmt.Errorf("%s: bad byte-order magic at %d", path, off)
			}
		} else {
			typ = order.Uint32(b[off:])
		}
		n := int(order.Uint32(b[off+4:]))
		if n < 12 || n%4 != 0 || off+n > len(b) {
			return nil, fmt.Errorf("%s: bad block length %d at %d", path, n, off)
		}
		if typ == 6 { // enhanced packet block
			if n < 32 {
				return nil, fmt.Errorf("%s: short enhanced packet block at %d", path, off)
			}
			captured := int(order.Uint32(b[off+20:]))
			if 28+captured > n-4 {
				return nil, errors.New(path + ": enhanced packet longer than its block")
			}
			frames = append(frames, b[off+28:off+28+captured])
		}
		off += n
	}
	if len(frames) == 0 && len(b) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return frames, nil
}
