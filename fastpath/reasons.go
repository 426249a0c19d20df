package fastpath

// DropReason says why a frame was not delivered. Every drop is counted
// under exactly one reason.
type DropReason uint8

const (
	NotDropped DropReason = iota
	// DropRunt: shorter than an Ethernet header.
	DropRunt
	// DropOversize: longer than the configured MTU allows.
	DropOversize
	// DropSpoofed: a VM sent a source MAC it was not given.
	DropSpoofed
	// DropUnknownUnicast: no local VM has the destination MAC.
	DropUnknownUnicast
	// DropLooped: a frame from the network carries a local VM's source
	// MAC: the physical switch sent our own frame back.
	DropLooped
	// DropVMDown: the destination VM's vhost device is not connected.
	DropVMDown
	// DropQueueFull: the destination's bounded software queue was full.
	DropQueueFull
	// DropShutdown: still queued when the daemon stopped.
	DropShutdown
	// DropNoNIC: a VM's packet was taken from its virtqueue in the same
	// loop its team lost its last usable NIC. Back-pressure stops polling
	// such a VM from the next loop on.
	DropNoNIC
	// DropNoMbuf: a frame the worker originates (a MAC announcement) found
	// the pool empty.
	DropNoMbuf
	// DropDoS: attack traffic to a VM above the rate its DoS response
	// allows (SYN floods, amplified UDP, fragments).
	DropDoS
	// DropDuplicateGroup: a broadcast or multicast frame from the network
	// arrived on a NIC that is not its team's designated receiver. The
	// switch floods such frames to every member of a team; only the
	// designated one's copy is delivered, so each VM gets one.
	DropDuplicateGroup
	// DropVLAN: a VM's frame in a VLAN it may not use (a tag not in its
	// trunk, a tag from an access VM, an untagged frame from a trunk with
	// no native VLAN), or a network frame of a VLAN no VM of the team is in.
	DropVLAN
	// DropSpoofedIP: a VM given addresses sent ARP or IP from another
	// address (see ipguard.go).
	DropSpoofedIP
	NumDropReasons
)

var reasonNames = [NumDropReasons]string{
	"none", "runt", "oversize", "spoofed", "unknown_unicast", "looped", "vm_down", "queue_full", "shutdown", "no_nic", "no_mbuf", "dos", "duplicate_group", "vlan", "spoofed_ip",
}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return reasonNames[r]
	}
	return "invalid"
}
