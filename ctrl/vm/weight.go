package vm

import "math"

// niceForWeight maps a cgroup v2 CPU weight (100 normal) to the nice value
// whose scheduler weight stands in the same ratio to nice 0's: each nice
// step is a factor of about 1.25 in CFS. Used where a VM's CPU weight is
// set on its threads rather than on its cgroup.
func niceForWeight(w int) int {
	n := int(math.Round(-math.Log(float64(w)/100) / math.Log(1.25)))
	return min(19, max(-20, n))
}
