package vm

import (
	"github.com/uplinkd/uplinkd/ctrl/config"
)

// FromConfig builds the Manager's options from a validated config: each
// VM's driver, the policy and the migration targets.
func FromConfig(c *config.Config) Options {
	o := Options{
		Policy: Policy{Timeout: c.VMManager.Timeout, MigrateTimeout: c.VMManager.MigrateTimeout,
			Retries: c.VMManager.Retries, Backoff: c.VMManager.RetryBackoff},
		Drivers: make(map[string]Driver, len(c.VMs)),
	}
	for _, v := range c.VMs {
		o.Drivers[v.Name] = driverFor(v)
	}
	o.Hosts = HostsFromConfig(c)
	return o
}

// HostsFromConfig are the config's [[hosts]] as migration targets.
func HostsFromConfig(c *config.Config) []Host {
	var hosts []Host
	for _, h := range c.Hosts {
		hosts = append(hosts, Host{Name: h.Name, Connection: h.Connection, URI: h.URI, Spare: float64(h.Spare)})
	}
	return hosts
}

// DriverFor is the driver of a validated config's VM.
func DriverFor(v config.VM) Driver { return driverFor(v) }

func driverFor(v config.VM) Driver {
	switch v.Driver {
	case "qmp":
		return &QMP{Socket: v.QMP}
	case "libvirt":
		dom := v.Domain
		if dom == "" {
			dom = v.Name
		}
		return &Libvirt{Socket: v.LibvirtSocket, URI: v.LibvirtURI, Domain: dom}
	case "exec":
		return &Exec{Command: v.Exec, VM: v.Name}
	}
	return None{}
}
