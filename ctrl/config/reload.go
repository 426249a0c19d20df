package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// Reloadable are the keys a running uplinkd takes from a new config (on
// SIGHUP or uplinkctl reload) without stopping traffic: policy, shares,
// limits and responses. A pattern covers its key and everything under it;
// "[]" stands for any index. Every other key is fixed while uplinkd runs,
// for the reason fixedReasons gives: ports, queues, threads and sockets
// are set up once at start.
var Reloadable = []string{
	"resources.interval",
	"resources.over_allocation_after",
	"resources.over_allocation_action",
	"dos",
	"hosts",
	"runtime",
	"teams[].policy",
	"teams[].active",
	"teams[].standby",
	"teams[].rebalance_threshold",
	"teams[].rebalance_hold",
	"teams[].down_delay",
	"teams[].up_delay",
	"teams[].failback",
	"teams[].connection",
	"teams[].dos_standby",
	"teams[].dos",
	"nics[].speed",
	"vms[].macs",
	"vms[].vlan",
	"vms[].ips",
	"vms[].trunk",
	"vms[].native_vlan",
	"teams[].native_vlan",
	"vms[].limit",
	"vms[].limit_pps",
	"vms[].reservation",
	"vms[].shares",
	"vms[].priority",
	"vms[].preferred_nic",
	"vms[].suspend_on_failover",
	"vms[].dos",
}

// fixedReasons say why a key cannot change while uplinkd runs, by the
// longest matching pattern.
var fixedReasons = map[string]string{
	"eal":            "EAL is initialised once, at start",
	"dataplane":      "ports, queues and the mbuf pool are set up at start",
	"status":         "the status line is set up at start",
	"vm_manager":     "the VM manager's policy is set at start",
	"api":            "the API socket stays where its clients reach it",
	"metrics":        "the metrics listener is bound at start",
	"state":          "where runtime changes are kept is set at start",
	"teams[].beacon": "beacon probing is set up at start",
	"nics":           "a NIC's device and team are set when it joins; remove it and add it again to change them",
	"vms":            "a VM's port is set up when the VM is added",
	"vms[].socket":   "the VM's vhost-user port is set up at start",
	"vms[].mode":     "the VM's vhost-user port is set up at start",
	"vms[].team":     "moving a VM to another team needs a restart",
	"vms[].driver":   "the VM's action driver is set up at start",
	"vms[].qmp":      "the VM's action driver is set up at start",
	"vms[].libvirt":  "the VM's action driver is set up at start",
	"vms[].domain":   "the VM's action driver is set up at start",
	"vms[].exec":     "the VM's action driver is set up at start",
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// pattern turns a key (vms[1].limit) into its pattern (vms[].limit).
func pattern(key string) string { return indexRE.ReplaceAllString(key, "[]") }

// covers says whether pattern p covers key pattern k: k is p or under it.
func covers(p, k string) bool {
	return k == p || strings.HasPrefix(k, p+".") || strings.HasPrefix(k, p+"[")
}

// KeyReloads says whether a key (with or without indexes) can change on
// reload.
func KeyReloads(key string) bool {
	k := pattern(key)
	for _, p := range Reloadable {
		if covers(p, k) {
			return true
		}
	}
	return false
}

func fixedReason(key string) string {
	k, best, why := pattern(key), "", "it is set up at start"
	for p, r := range fixedReasons {
		// Prefix, not covers: "teams[].beacon" covers beacon_interval.
		if strings.HasPrefix(k, p) && len(p) > len(best) {
			best, why = p, r
		}
	}
	return why
}

// Diff lists the keys whose values differ between old and next, in
// schema order: leaves by name (vms[1].limit), and a list of tables whose
// length changed by the list's name (hosts). Named tables are compared by
// name, so that listing them in another order changes nothing.
func Diff(old, next *Config) []string {
	var keys []string
	diff(reflect.ValueOf(*old), reflect.ValueOf(*next), "", &keys)
	return keys
}

func diff(a, b reflect.Value, prefix string, keys *[]string) {
	t := a.Type()
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		for i := 0; i < t.NumField(); i++ {
			key := strings.TrimPrefix(prefix+"."+t.Field(i).Tag.Get("mapstructure"), ".")
			diff(a.Field(i), b.Field(i), key, keys)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		pair, members := pairByName(a, b)
		if pair == nil { // not named: by position
			if a.Len() != b.Len() {
				*keys = append(*keys, prefix)
				return
			}
			for i := 0; i < b.Len(); i++ {
				diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", prefix, i), keys)
			}
			return
		}
		if members {
			*keys = append(*keys, prefix)
		}
		for i, j := range pair {
			if j >= 0 {
				diff(a.Index(j), b.Index(i), fmt.Sprintf("%s[%d]", prefix, i), keys)
			}
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*keys = append(*keys, prefix)
		}
	}
}

// pairByName pairs the elements of two lists of named tables (teams, nics,
// vms, hosts): next's i-th with old's of the same name (-1: new), so that
// a reorder changes no key and a key names the element where next has it.
// members says whether a name was added or removed (a rename is both). A
// list of tables without names gives nil.
func pairByName(old, next reflect.Value) (pair []int, members bool) {
	f, ok := old.Type().Elem().FieldByName("Name")
	if !ok || f.Type.Kind() != reflect.String {
		return nil, false
	}
	at := map[string]int{}
	for j := 0; j < old.Len(); j++ {
		at[old.Index(j).FieldByIndex(f.Index).String()] = j
	}
	pair = make([]int, next.Len())
	kept := 0
	for i := range pair {
		j, ok := at[next.Index(i).FieldByIndex(f.Index).String()]
		if !ok {
			j = -1
		} else {
			kept++
		}
		pair[i] = j
	}
	return pair, kept != old.Len() || kept != next.Len()
}

// CheckReload compares a running config with a new one and returns the
// keys that changed, or a *KeyError naming the first changed key a reload
// cannot apply, and why. next must have passed Validate.
func CheckReload(old, next *Config) ([]string, error) {
	changed := Diff(old, next)
	for _, k := range changed {
		if k == "vms" || k == "nics" || k == "teams" {
			// VMs, NICs or teams added or removed: the running uplinkd
			// adds and removes them as uplinkctl vm (nic, team) add and
			// remove do.
			continue
		}
		if !KeyReloads(k) {
			return nil, &KeyError{Key: k, Reason: "cannot change while uplinkd runs (" + fixedReason(k) + "); restart uplinkd to change it"}
		}
	}
	return changed, nil
}
