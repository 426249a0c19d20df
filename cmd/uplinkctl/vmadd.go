package main

import (
	"reflect"

	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// vmAddCmd adds a VM to the running uplinkd. Its flags are the keys of a
// [[vms]] entry (preferred_nic is --preferred-nic, macs is --mac); the dos
// table's keys go as --dos key=value.
func (c *client) vmAddCmd() *cobra.Command {
	var dos []string
	cmd := c.addCmd(&cobra.Command{
		Use:   "add VM --socket PATH --mac MAC[,MAC] --team TEAM [flags]",
		Short: "Add a VM to the running uplinkd: its vhost-user port is created and served at once",
		Long: `add creates the VM's vhost-user port and starts serving it, as a [[vms]] entry
of the config would; the other VMs carry on untouched. Every key of [[vms]]
is a flag. The VM is kept in uplinkd's state.dir and comes back when uplinkd
restarts, unless --transient. The VM is refused, and nothing changes, if its
name, MAC or socket is in use, its team does not exist, or its socket's
directory does not.`,
	}, "/v1/vms", reflect.TypeOf(config.VM{}), "[[vms]]", map[string]string{"macs": "mac"}, dosKeys(&dos), "dos")
	cmd.Flags().StringArrayVar(&dos, "dos", nil, "a key of the VM's [vms.dos] table, key=value (repeatable)")
	cmd.MarkFlagRequired("socket")
	cmd.MarkFlagRequired("mac")
	cmd.MarkFlagRequired("team")
	return cmd
}

func (c *client) vmRemoveCmd() *cobra.Command {
	return c.removeCmd("vm", "/v1/vms", "Remove a VM from the running uplinkd: its port is closed, what was queued for it dropped and counted")
}
