// Package configs holds uplinkd's embedded default configuration.
package configs

import _ "embed"

// Demo is configs/demo.toml: two net_tap NICs in one team, two VMs.
//
//go:embed demo.toml
var Demo []byte
