package main

import (
	"fmt"

	"github.com/uplinkd/uplinkd/ctrl/config"
	"github.com/uplinkd/uplinkd/ctrl/vm"
)

// Teams, NICs and VMs added or removed while uplinkd runs, through the API.
// Each is decoded from the keys of its config table, put in force by the
// data plane, and, unless transient, kept in state.dir for the next start
// (a kind's drop-in directory). One that cannot be kept is taken out
// again rather than lost at the next restart without a word.

// entity is what adding and removing one kind of entity takes.
type entity struct {
	kind   string // "vm", "nic", "team": in events and errors
	dir    func(*config.Config) string
	add    func(keys map[string]any) (name string, err error)
	remove func(name string) error
}

func (d *daemon) addEntity(e entity, keys map[string]any, transient bool) error {
	d.reloading.Lock()
	defer d.reloading.Unlock()
	name, err := e.add(keys)
	if err != nil {
		d.events.Error(e.kind+"_add_refused").Str(e.kind, fmt.Sprint(keys["name"])).Err(err).Msg(e.kind + " not added")
		return fmt.Errorf("%s add: %w", e.kind, err)
	}
	if dir := e.dir(d.p.Config()); dir != "" && !transient {
		if err := config.WriteDropIn(dir, name, keys); err != nil {
			if rerr := e.remove(name); rerr != nil {
				d.events.Error(e.kind+"_add_refused").Str(e.kind, name).Err(rerr).Msg(e.kind + " could not be taken out again")
			}
			err = fmt.Errorf("%s add: keeping it in %s: %w", e.kind, dir, err)
			d.events.Error(e.kind+"_add_refused").Str(e.kind, name).Err(err).Msg(e.kind + " not added")
			return err
		}
	}
	return nil
}

func (d *daemon) removeEntity(e entity, name string) error {
	d.reloading.Lock()
	defer d.reloading.Unlock()
	if err := e.remove(name); err != nil {
		d.events.Error(e.kind+"_remove_refused").Str(e.kind, name).Err(err).Msg(e.kind + " not removed")
		return fmt.Errorf("%s remove: %w", e.kind, err)
	}
	if dir := e.dir(d.p.Config()); dir != "" {
		if err := config.RemoveDropIn(dir, name); err != nil {
			d.events.Error(e.kind+"_removed").Str(e.kind, name).Err(err).Msg("the drop-in stays: it comes back at the next start")
		}
	}
	return nil
}

// vmEntity adds a VM to the data plane, then to the VM manager, so that
// actions reach it; it is removed from both. A VM is not removed while the
// VM manager migrates it (its destination may still need the port).
func (d *daemon) vmEntity() entity {
	return entity{kind: "vm", dir: (*config.Config).VMDropInDir,
		add: func(keys map[string]any) (string, error) {
			v, err := config.DecodeVM(keys)
			if err == nil {
				err = d.p.AddVM(v)
			}
			if err == nil {
				if err = d.vms.Add(v.Name, vm.DriverFor(v)); err != nil {
					if _, rerr := d.p.RemoveVM(v.Name); rerr != nil {
						err = fmt.Errorf("%w (and taking it out again: %v)", err, rerr)
					}
				}
			}
			return v.Name, err
		},
		remove: func(name string) error {
			if _, err := d.p.RemoveVM(name); err != nil {
				return err
			}
			return d.vms.Remove(name)
		}}
}

// nicEntity adds a NIC to its team; removing one fails its traffic over
// first.
func (d *daemon) nicEntity() entity {
	return entity{kind: "nic", dir: (*config.Config).NICDropInDir,
		add: func(keys map[string]any) (string, error) {
			n, err := config.DecodeNIC(keys)
			if err == nil {
				err = d.p.AddNIC(n)
			}
			return n.Name, err
		},
		remove: func(name string) error { _, err := d.p.RemoveNIC(name); return err }}
}

// teamEntity adds an empty team; one is removed once it is empty.
func (d *daemon) teamEntity() entity {
	return entity{kind: "team", dir: (*config.Config).TeamDropInDir,
		add: func(keys map[string]any) (string, error) {
			t, err := config.DecodeTeam(keys)
			if err == nil {
				err = d.p.AddTeam(t)
			}
			return t.Name, err
		},
		remove: d.p.RemoveTeam}
}

// AddVM, RemoveVM, AddNIC, RemoveNIC, AddTeam and RemoveTeam are the API's.
func (d *daemon) AddVM(keys map[string]any, transient bool) error {
	return d.addEntity(d.vmEntity(), keys, transient)
}
func (d *daemon) RemoveVM(name string) error { return d.removeEntity(d.vmEntity(), name) }
func (d *daemon) AddNIC(keys map[string]any, transient bool) error {
	return d.addEntity(d.nicEntity(), keys, transient)
}
func (d *daemon) RemoveNIC(name string) error { return d.removeEntity(d.nicEntity(), name) }
func (d *daemon) AddTeam(keys map[string]any, transient bool) error {
	return d.addEntity(d.teamEntity(), keys, transient)
}
func (d *daemon) RemoveTeam(name string) error { return d.removeEntity(d.teamEntity(), name) }
