package vm

// SelectHost picks where to migrate a VM: a host not attached by
// connection avoid (when set: the network under attack), with at least
// need bit/s spare when need > 0 (a VM that outgrew this host), the one
// with the most spare capacity first and config order among equals.
func SelectHost(hosts []Host, avoid string, need float64) (Host, bool) {
	best := -1
	for i, h := range hosts {
		if h.URI == "" || (avoid != "" && h.Connection == avoid) || (need > 0 && h.Spare < need) {
			continue
		}
		if best < 0 || h.Spare > hosts[best].Spare {
			best = i
		}
	}
	if best < 0 {
		return Host{}, false
	}
	return hosts[best], true
}
