package main

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Teams, NICs and VMs are added and removed while uplinkd runs with the
// keys of their config tables as flags (derived from the config's schema,
// so that a key the config gains is a flag too): POST and DELETE on
// /v1/teams, /v1/nics and /v1/vms.

// addCmd is `KIND add NAME`: the keys of table (of type t) as flags, and
// --transient. more adds keys the flags cannot say (the dos table).
func (c *client) addCmd(cmd *cobra.Command, path string, t reflect.Type, table string, renamed map[string]string,
	more func(keys map[string]any) error, skip ...string) *cobra.Command {
	var transient bool
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		keys := entryKeys(cmd, args[0])
		if more != nil {
			if err := more(keys); err != nil {
				return err
			}
		}
		to := path
		if transient {
			to += "?transient=1"
		}
		var res map[string]any
		if err := c.send("POST", to, keys, &res); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(res)
		}
		fmt.Fprintf(c.out, "%s: added\n", args[0])
		return nil
	}
	entryFlags(cmd, t, table, renamed, skip...)
	cmd.Flags().BoolVar(&transient, "transient", false, "do not keep it in uplinkd's state.dir: a restart forgets it")
	return cmd
}

// removeCmd is `KIND remove NAME`.
func (c *client) removeCmd(kind, path, short string) *cobra.Command {
	return &cobra.Command{
		Use:   "remove " + strings.ToUpper(kind),
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var res map[string]string
			if err := c.send("DELETE", path+"/"+args[0], nil, &res); err != nil {
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

// dosKeys turns --dos key=value flags into the dos table's keys.
func dosKeys(dos *[]string) func(map[string]any) error {
	return func(keys map[string]any) error {
		if len(*dos) == 0 {
			return nil
		}
		d := map[string]any{}
		for _, kv := range *dos {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--dos %q: want key=value", kv)
			}
			d[k] = v
		}
		keys["dos"] = d
		return nil
	}
}
