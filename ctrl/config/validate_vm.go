package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// validateDriver checks a VM's action engine and what it needs.
func validateDriver(bad func(string, string, ...any), key string, v VM) {
	switch v.Driver {
	case "", "none":
	case "qmp":
		if !filepath.IsAbs(v.QMP) {
			bad(key+".qmp", "driver qmp needs the QMP socket's absolute path, not %q", v.QMP)
		}
	case "libvirt":
		if v.LibvirtSocket != "" && !filepath.IsAbs(v.LibvirtSocket) {
			bad(key+".libvirt_socket", "%q must be an absolute path", v.LibvirtSocket)
		}
	case "exec":
		if len(v.Exec) == 0 || !filepath.IsAbs(v.Exec[0]) {
			bad(key+".exec", "driver exec needs a command whose first word is an absolute path, not %q", v.Exec)
		}
	default:
		bad(key+".driver", "%q is not one of %v", v.Driver, Drivers)
	}
	if v.Driver != "qmp" && v.QMP != "" {
		bad(key+".qmp", "set, but the VM's driver is %q, not qmp", v.Driver)
	}
	if v.Driver != "exec" && len(v.Exec) > 0 {
		bad(key+".exec", "set, but the VM's driver is %q, not exec", v.Driver)
	}
}

func validateAPI(bad func(string, string, ...any), c *Config) {
	if d := c.State.Dir; d != "" && !filepath.IsAbs(d) {
		bad("state.dir", "%q must be an absolute path (or \"\" to keep nothing)", d)
	}
	if !filepath.IsAbs(c.API.Socket) {
		bad("api.socket", "%q must be an absolute path", c.API.Socket)
	}
	if l := c.Metrics.Listen; l != "" {
		host, port, err := net.SplitHostPort(l)
		if err != nil {
			bad("metrics.listen", "%q is not host:port", l)
		} else if ip := net.ParseIP(host); host != "" && host != "localhost" && ip == nil {
			bad("metrics.listen", "%q: the host must be an IP address or localhost", l)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("metrics.listen", "%q: %q is not a port", l, port)
		}
	}
}

func validateVMManager(bad func(string, string, ...any), c *Config) {
	validateAPI(bad, c)
	m := c.VMManager
	for key, d := range map[string]any{"vm_manager.timeout": m.Timeout, "vm_manager.migrate_timeout": m.MigrateTimeout} {
		if d.(interface{ Seconds() float64 }).Seconds() <= 0 {
			bad(key, "%v must be positive", d)
		}
	}
	if m.Retries < 0 || m.Retries > 20 {
		bad("vm_manager.retries", "%d is outside 0-20", m.Retries)
	}
	if m.RetryBackoff < 0 {
		bad("vm_manager.retry_backoff", "%v is negative", m.RetryBackoff)
	}
	if m.DeprioritisedWeight < 1 || m.DeprioritisedWeight > 10000 {
		bad("vm_manager.deprioritised_weight", "%d is outside 1-10000 (100 is normal)", m.DeprioritisedWeight)
	}
	names := map[string]bool{}
	for i, h := range c.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		checkName(bad, key+".name", h.Name, names)
		if h.URI == "" {
			bad(key+".uri", "a migration target needs a URI")
		}
		if h.Connection == "" {
			bad(key+".connection", "name the network the host is attached by")
		}
		if h.Spare < 0 {
			bad(key+".spare", "%v bit/s is negative", float64(h.Spare))
		}
	}
}
