package dpdk

// #include "spin.h"
import "C"

import (
	"math"
	"time"
	"unsafe"
)

// SpinGaps runs an empty polling loop in C on the calling thread for d
// and returns the gaps between its iterations, bucketed like the
// worker's loop gaps (bucket k: shorter than 2^k µs; the last: the rest),
// and the longest in microseconds. hz is the TSC's rate. The caller pins
// the thread; this is the machine's floor under any worker on that core.
func SpinGaps(d time.Duration, hz uint64, buckets int) ([]uint64, float64) {
	hist := make([]uint64, buckets)
	q := uint64(math.Ceil(float64(1<<32) * 1e6 / float64(hz)))
	max := C.uplk_spin_gaps(C.uint64_t(d.Seconds()*float64(hz)), C.uint64_t(q), (*C.uint64_t)(unsafe.Pointer(&hist[0])), C.int(buckets))
	return hist, float64(max) / float64(hz) * 1e6
}
