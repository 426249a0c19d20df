package main

import (
	"testing"

	"github.com/uplinkd/uplinkd/cgo/dpdk"
	"github.com/uplinkd/uplinkd/fastpath"
)

// A frame pool holds whole rounds of flows, so every flow goes out equally
// often, and more than the virtqueue can hold, so the generator never
// waits for the PMD to give frames back.
func TestFramePoolSize(t *testing.T) {
	for _, c := range []struct{ flows, queue int }{{1, 1024}, {64, 1024}, {1000, 1024}, {3000, 1024}, {100000, 1024}, {7, 256}} {
		n := framePoolSize(c.flows, c.queue)
		if n%c.flows != 0 {
			t.Errorf("flows %d queue %d: %d frames is not a whole number of rounds", c.flows, c.queue, n)
		}
		if n < 2*(c.queue+dpdk.Burst) {
			t.Errorf("flows %d queue %d: %d frames, fewer than twice the queue and a burst", c.flows, c.queue, n)
		}
	}
}

func TestSrcMAC(t *testing.T) {
	base, _ := fastpath.ParseMAC("02:00:00:00:00:07")
	seen := map[fastpath.MAC]bool{}
	for f := 0; f < 64; f++ {
		m := srcMAC(base, 8, f)
		if m&0xff != 0x07 {
			t.Errorf("flow %d: %s does not keep the VM's last byte", f, m)
		}
		seen[m] = true
	}
	if len(seen) != 8 {
		t.Errorf("64 flows over 8 MACs used %d MACs", len(seen))
	}
	if srcMAC(base, 1, 5) != base {
		t.Errorf("one MAC: flow 5 sent from %s, want %s", srcMAC(base, 1, 5), base)
	}
}
