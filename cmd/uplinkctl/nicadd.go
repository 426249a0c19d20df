package main

import (
	"reflect"

	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// nicAddCmd adds a NIC to a team of the running uplinkd. Its flags are the
// keys of a [[nics]] entry.
func (c *client) nicAddCmd() *cobra.Command {
	cmd := c.addCmd(&cobra.Command{
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
	}, "/v1/nics", reflect.TypeOf(config.NIC{}), "[[nics]]", nil, nil)
	cmd.MarkFlagRequired("team")
	return cmd
}

func (c *client) nicRemoveCmd() *cobra.Command {
	return c.removeCmd("nic", "/v1/nics", "Take a NIC out of its team: its traffic fails over to the team's others, then its port is closed")
}

// teamCmd adds and removes teams.
func (c *client) teamCmd() *cobra.Command {
	team := &cobra.Command{Use: "team", Short: "Add an empty team or remove an empty one"}
	add := c.addCmd(&cobra.Command{
		Use:   "add TEAM --policy POLICY [flags]",
		Short: "Add a team, with no NIC and no VM yet: add them with nic add and vm add",
		Long: `add adds a team as a [[teams]] entry of the config would, empty: NICs join it
with nic add and VMs with vm add. Every key of [[teams]] is a flag (the dos
table's are not: set them in the config file). The team is kept in uplinkd's
state.dir unless --transient. A team's beacon probing is set up at start: a
team added while uplinkd runs probes only if some team probed at start.`,
	}, "/v1/teams", reflect.TypeOf(config.Team{}), "[[teams]]", nil, nil, "dos")
	add.MarkFlagRequired("policy")
	team.AddCommand(add, c.removeCmd("team", "/v1/teams", "Remove a team that has neither NICs nor VMs left"))
	return team
}
