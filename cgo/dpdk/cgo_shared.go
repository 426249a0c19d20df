// Package dpdk is uplinkd's thin binding to DPDK 22.11: EAL, mempools, mbufs,
// ethdev ports (PCI, vhost-user, any vdev), burst I/O, link status, stats and
// events, and lcore launch. It is the only package in uplinkd that imports
// "C"; it holds no policy. Per-packet decisions happen in Go over the views it
// returns, and it crosses into C once per burst, never once per packet.
package dpdk

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -O3 -Wno-deprecated-declarations
#include "uplk.h"
*/
import "C"

// Burst is the largest number of packets one rx queue yields per step.
const Burst = C.UPLK_BURST
