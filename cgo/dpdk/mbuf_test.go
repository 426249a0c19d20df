package dpdk

import "testing"

// A flood sends one mbuf to several ports; each port's free goes segment
// by segment, so every segment of a chained frame must carry the count.
func TestSetRefcntCountsEverySegmentOfAChainedFrame(t *testing.T) {
	segs := []*Mbuf{NewDetachedMbuf(64), NewDetachedMbuf(64), NewDetachedMbuf(64)}
	for _, s := range segs {
		defer FreeDetachedMbuf(s)
	}
	ChainDetached(segs[0], segs[1])
	ChainDetached(segs[0], segs[2])
	if got := segs[0].Segs(); got != 3 {
		t.Fatalf("Segs() = %d, want 3", got)
	}
	segs[0].SetRefcnt(3)
	for i, s := range segs {
		if got := s.Refcnt(); got != 3 {
			t.Errorf("segment %d: refcnt %d, want 3", i, got)
		}
	}
}
