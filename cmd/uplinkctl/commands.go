package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/uplinkd/uplinkd/ctrl/report"
)

// reportCmd reads the report and prints the part pick chooses, as JSON
// with --json, else as print's tables.
func (c *client) reportCmd(use, short string, pick func(report.Report) any, print func(report.Report)) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			r, err := c.report()
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(pick(r))
			}
			print(r)
			return nil
		},
	}
}

func (c *client) topCmd() *cobra.Command {
	var every time.Duration
	var iterations int
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live per-VM and per-NIC rates, drops, link, failover and DoS state",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			for i := 0; iterations == 0 || i < iterations; i++ {
				if i > 0 {
					time.Sleep(every)
				}
				r, err := c.report()
				if err != nil {
					return err
				}
				if c.json {
					c.printJSON(r)
					continue
				}
				fmt.Fprint(c.out, "\033[H\033[2J") // home, clear
				fmt.Fprintf(c.out, "uplinkd  %s  (every %s; ^C to quit)\n\n", r.Time.Format("15:04:05"), every)
				c.printStatus(r)
			}
			return nil
		},
	}
	cmd.Flags().DurationVarP(&every, "interval", "i", time.Second, "refresh interval")
	cmd.Flags().IntVarP(&iterations, "iterations", "n", 0, "stop after this many screens (0: never)")
	return cmd
}

func (c *client) nicCmd() *cobra.Command {
	nic := &cobra.Command{Use: "nic", Short: "Add a NIC to a team or remove one; set one administratively down or up"}
	nic.AddCommand(c.nicAddCmd(), c.nicRemoveCmd())
	for _, state := range []string{"down", "up"} {
		nic.AddCommand(&cobra.Command{
			Use:   state + " NIC",
			Short: map[string]string{"down": "Take a NIC out: its traffic fails over to the team's others", "up": "Put a NIC back"}[state],
			Args:  cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				var res map[string]string
				if err := c.call("POST", "/v1/nics/"+args[0]+"/"+state, &res); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(res)
				}
				fmt.Fprintf(c.out, "%s: admin %s\n", args[0], state)
				return nil
			},
		})
	}
	return nic
}

func (c *client) vmCmd() *cobra.Command {
	vmc := &cobra.Command{Use: "vm", Short: "Add or remove a VM; suspend, resume or migrate one through its driver"}
	vmc.AddCommand(c.vmAddCmd(), c.vmRemoveCmd())
	var host string
	for _, action := range []string{"suspend", "resume", "migrate"} {
		cmd := &cobra.Command{
			Use:   action + " VM",
			Short: map[string]string{"suspend": "Suspend a VM", "resume": "Resume a suspended VM", "migrate": "Live-migrate a VM to one of [[hosts]]"}[action],
			Args:  cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				path := "/v1/vms/" + args[0] + "/" + action
				if action == "migrate" {
					path += "?host=" + host
				}
				var res map[string]string
				if err := c.call("POST", path, &res); err != nil {
					return err
				}
				if c.json {
					return c.printJSON(res)
				}
				fmt.Fprintf(c.out, "%s: %s queued (the result is uplinkd's vm_action log line)\n", args[0], action)
				return nil
			},
		}
		if action == "migrate" {
			cmd.Flags().StringVar(&host, "host", "", "the target, a name from uplinkd's [[hosts]]")
			cmd.MarkFlagRequired("host")
		}
		vmc.AddCommand(cmd)
	}
	return vmc
}

func (c *client) reloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make uplinkd re-read its config file and put what changed in force",
		Long: `reload makes uplinkd re-read its config file, as SIGHUP does. What changed
goes into force without stopping traffic, and the changed keys are listed.
A config that is invalid, or that changes a key fixed while uplinkd runs
(configs/reference.toml marks each key), is refused with the key and the
reason; the running config stays in force and the command fails.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			var res struct {
				Changed []string `json:"changed"`
			}
			if err := c.call("POST", "/v1/reload", &res); err != nil {
				return fmt.Errorf("reload refused: %w", err)
			}
			if c.json {
				return c.printJSON(res)
			}
			if len(res.Changed) == 0 {
				fmt.Fprintln(c.out, "reloaded: nothing changed")
				return nil
			}
			fmt.Fprintf(c.out, "reloaded: %d changed: %s\n", len(res.Changed), strings.Join(res.Changed, ", "))
			return nil
		},
	}
}

func (c *client) eventsCmd() *cobra.Command {
	var follow bool
	var count int
	var since uint64
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Recent events (NIC state changes, attacks, VM actions, API calls); --follow for new ones",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			shown := 0
			for {
				wait := ""
				if follow {
					wait = "&wait=30s"
				}
				var page eventPage
				if err := c.call("GET", fmt.Sprintf("/v1/events?since=%d%s", since, wait), &page); err != nil {
					return err
				}
				for _, e := range page.Events {
					c.printEvent(e)
					if shown++; count > 0 && shown >= count {
						return nil
					}
				}
				since = page.Next
				if !follow {
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "wait for new events and print them as they come")
	cmd.Flags().IntVarP(&count, "count", "n", 0, "stop after this many events (0: no limit)")
	cmd.Flags().Uint64Var(&since, "since", 0, "start at this event number (each event's number is its place in uplinkd's log of events)")
	return cmd
}
