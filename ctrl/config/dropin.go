package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A VM added while uplinkd runs is kept, as Open vSwitch's database keeps a
// port, in a drop-in: state.dir/vms/NAME.json, the [[vms]] keys it was
// added with; a NIC or a team added while it runs likewise in
// state.dir/nics and state.dir/teams. Drop-ins join the config file's
// teams, NICs and VMs at start and at every reload; the file wins over a
// drop-in of the same name. Removing the VM, NIC or team removes its
// drop-in. Files are written whole or not at all (a temporary
// file renamed over the old one).

// VMDropInDir is where c keeps VMs added at runtime ("" when it keeps
// none).
func (c *Config) VMDropInDir() string { return c.dropInDir("vms") }

// NICDropInDir is where c keeps NICs added at runtime ("" when it keeps
// none).
func (c *Config) NICDropInDir() string { return c.dropInDir("nics") }

// TeamDropInDir is where c keeps teams added at runtime ("" when it keeps
// none).
func (c *Config) TeamDropInDir() string { return c.dropInDir("teams") }

func (c *Config) dropInDir(kind string) string {
	if c.State.Dir == "" {
		return ""
	}
	return filepath.Join(c.State.Dir, kind)
}

// WithDropIns is c with the teams, NICs and VMs of its drop-ins that it
// does not name itself, validated together; an error names the drop-in.
func WithDropIns(c *Config) (*Config, error) {
	out := *c
	var err error
	teamFrom, nicFrom, vmFrom := map[int]string{}, map[int]string{}, map[int]string{} // index in out.Teams, ... -> its drop-in
	if out.Teams, err = readDropIns(c.TeamDropInDir(), c.Teams, DecodeTeam, func(t Team) string { return t.Name }, teamFrom); err != nil {
		return nil, err
	}
	if out.NICs, err = readDropIns(c.NICDropInDir(), c.NICs, DecodeNIC, func(n NIC) string { return n.Name }, nicFrom); err != nil {
		return nil, err
	}
	if out.VMs, err = readDropIns(c.VMDropInDir(), c.VMs, DecodeVM, func(v VM) string { return v.Name }, vmFrom); err != nil {
		return nil, err
	}
	if len(teamFrom) == 0 && len(nicFrom) == 0 && len(vmFrom) == 0 {
		return c, nil
	}
	if err := out.Validate(); err != nil {
		return nil, dropInErrors(dropInErrors(dropInErrors(err, "teams", teamFrom), "nics", nicFrom), "vms", vmFrom)
	}
	return &out, nil
}

// readDropIns appends to list the entries of dir's drop-ins it does not
// name, recording in from which drop-in each came.
func readDropIns[T any](dir string, list []T, decode func(map[string]any) (T, error), name func(T) string, from map[int]string) ([]T, error) {
	if dir == "" {
		return list, nil
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	named := map[string]bool{}
	for _, x := range list {
		named[name(x)] = true
	}
	out := append([]T(nil), list...)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("state.dir: %w", err)
		}
		var keys map[string]any
		if err := json.Unmarshal(data, &keys); err != nil {
			return nil, fmt.Errorf("state.dir: %s: %w", path, err)
		}
		x, err := decode(keys)
		if err != nil {
			return nil, fmt.Errorf("state.dir: %s: %w", path, err)
		}
		if named[name(x)] {
			continue
		}
		from[len(out)] = path
		out = append(out, x)
	}
	return out, nil
}

// dropInErrors names the drop-in of each error about a list's entry (vms,
// nics) that came from one.
func dropInErrors(err error, list string, from map[int]string) error {
	var errs []error
	for _, e := range unwrapAll(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			for i, path := range from {
				prefix := fmt.Sprintf("%s[%d]", list, i)
				if ke.Key == prefix || strings.HasPrefix(ke.Key, prefix+".") {
					e = fmt.Errorf("state.dir: %s: %s: %s", path, strings.TrimPrefix(strings.TrimPrefix(ke.Key, prefix), "."), ke.Reason)
				}
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// WriteDropIn keeps VM or NIC name's keys in dir, replacing what was
// there.
func WriteDropIn(dir, name string, keys map[string]any) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name+".json")); err != nil {
		return err
	}
	return syncDir(dir)
}

// RemoveDropIn forgets VM or NIC name; one that was never kept is no
// error.
func RemoveDropIn(dir, name string) error {
	err := os.Remove(filepath.Join(dir, name+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or removal in dir survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
