package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

// vmAddCmd adds a VM to the running uplinkd. Its flags are the keys of a
// [[vms]] entry (preferred_nic is --preferred-nic, macs is --mac), derived
// from the config's schema so that a key the config gains is a flag too;
// the dos table's keys go as --dos key=value. Only the flags given are
// sent: uplinkd applies the config's defaults to the rest.
func (c *client) vmAddCmd() *cobra.Command {
	var dos []string
	var transient bool
	cmd := &cobra.Command{
		Use:   "add VM --socket PATH --mac MAC[,MAC] --team TEAM [flags]",
		Short: "Add a VM to the running uplinkd: its vhost-user port is created and served at once",
		Long: `add creates the VM's vhost-user port and starts serving it, as a [[vms]] entry
of the config would; the other VMs carry on untouched. Every key of [[vms]]
is a flag. The VM is kept in uplinkd's state.dir and comes back when uplinkd
restarts, unless --transient. The VM is refused, and nothing changes, if its
name, MAC or socket is in use, its team does not exist, or its socket's
directory does not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys := entryKeys(cmd, args[0])
			if len(dos) > 0 {
				d := map[string]any{}
				for _, kv := range dos {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return fmt.Errorf("--dos %q: want key=value", kv)
					}
					d[k] = v
				}
				keys["dos"] = d
			}
			var res map[string]any
			path := "/v1/vms"
			if transient {
				path += "?transient=1"
			}
			if err := c.send("POST", path, keys, &res); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(res)
			}
			fmt.Fprintf(c.out, "%s: added\n", args[0])
			return nil
		},
	}
	entryFlags(cmd, reflect.TypeOf(config.VM{}), "[[vms]]", map[string]string{"macs": "mac"}, "dos")
	cmd.Flags().StringArrayVar(&dos, "dos", nil, "a key of the VM's [vms.dos] table, key=value (repeatable)")
	cmd.Flags().BoolVar(&transient, "transient", false, "do not keep the VM in uplinkd's state.dir: a restart forgets it")
	cmd.MarkFlagRequired("socket")
	cmd.MarkFlagRequired("mac")
	cmd.MarkFlagRequired("team")
	return cmd
}

// entryFlags gives cmd a flag per key of a config table (a [[vms]] or
// [[nics]] entry, of type t): the key with _ as - unless renamed, except
// name (the argument) and the keys skipped. Each flag carries its key.
func entryFlags(cmd *cobra.Command, t reflect.Type, table string, renamed map[string]string, skip ...string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("mapstructure")
		if key == "name" || slices.Contains(skip, key) {
			continue
		}
		name := strings.ReplaceAll(key, "_", "-")
		if r, ok := renamed[key]; ok {
			name = r
		}
		usage := table + " " + key
		switch {
		case f.Type.Kind() == reflect.Bool:
			cmd.Flags().Bool(name, false, usage)
		case f.Type.Kind() == reflect.Slice:
			cmd.Flags().StringSlice(name, nil, usage+" (comma-separated or repeated)")
		default: // strings, numbers and rates ("200M") as the config writes them
			cmd.Flags().String(name, "", usage)
		}
		cmd.Flags().SetAnnotation(name, "key", []string{key})
	}
}

// entryKeys are the keys of the entry named name: the flags given, by
// their keys. uplinkd applies the config's defaults to the rest.
func entryKeys(cmd *cobra.Command, name string) map[string]any {
	keys := map[string]any{"name": name}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if key, ok := f.Annotations["key"]; ok {
			keys[key[0]] = flagValue(f)
		}
	})
	return keys
}

func flagValue(f *pflag.Flag) any {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	if f.Value.Type() == "bool" {
		return f.Value.String() == "true"
	}
	return f.Value.String()
}

func (c *client) vmRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove VM",
		Short: "Remove a VM from the running uplinkd: its port is closed, what was queued for it dropped and counted",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var res map[string]string
			if err := c.send("DELETE", "/v1/vms/"+args[0], nil, &res); err != nil {
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
