package main

import (
	"fmt"
	"reflect"

	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// nicAddCmd adds a NIC to a team of the running uplinkd. Its flags are the
// keys of a [[nics]] entry.
func (c *client) nicAddCmd() *cobra.Command {
	var transient bool
	cmd := &cobra.Command{
		Use:   "add NIC --vdev DEVARGS --team TEAM [--speed RATE]",
		Short: "Add a NIC to a team of the running uplinkd: its port is probed, started and used at once",
		Long: `add probes the NIC's DPDK device (hot-plug), starts it and adds it to its
team, as a [[nics]] entry of the config would; the team spreads its VMs over
it at once and announces the VMs that move. The NIC is kept in uplinkd's
state.dir and comes back when uplinkd restarts, unless --transient. A PCI
NIC joins at start only (EAL allows the config's PCI addresses); add it to
the config file instead. The NIC is refused, and nothing changes, if its
name or device is in use, its team does not exist, or every NIC slot
(dataplane.max_nics) is taken.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "/v1/nics"
			if transient {
				path += "?transient=1"
			}
			var res map[string]any
			if err := c.send("POST", path, entryKeys(cmd, args[0]), &res); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(res)
			}
			fmt.Fprintf(c.out, "%s: added\n", args[0])
			return nil
		},
	}
	entryFlags(cmd, reflect.TypeOf(config.NIC{}), "[[nics]]", nil)
	cmd.Flags().BoolVar(&transient, "transient", false, "do not keep the NIC in uplinkd's state.dir: a restart forgets it")
	cmd.MarkFlagRequired("team")
	return cmd
}

func (c *client) nicRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NIC",
		Short: "Take a NIC out of its team: its traffic fails over to the team's others, then its port is closed",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var res map[string]string
			if err := c.send("DELETE", "/v1/nics/"+args[0], nil, &res); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(res)
			}
			fmt.Fprintf(c.out, "%s: removed\n", args[0])
			return nil
		},
	}
}
