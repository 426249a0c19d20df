// Package config is uplinkd's configuration: one schema read from TOML or
// YAML through viper, with defaults, and validation whose errors name the
// key and the reason.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// Config is the whole configuration.
type Config struct {
	EAL       EAL       `mapstructure:"eal"`
	Dataplane Dataplane `mapstructure:"dataplane"`
	Status    Status    `mapstructure:"status"`
	Teams     []Team    `mapstructure:"teams"`
	NICs      []NIC     `mapstructure:"nics"`
	VMs       []VM      `mapstructure:"vms"`
}

// EAL is how DPDK's environment is set up.
type EAL struct {
	// FilePrefix keeps this process's hugepage files and runtime directory
	// apart from every other DPDK process on the host.
	FilePrefix   string   `mapstructure:"file_prefix"`
	MainLcore    int      `mapstructure:"main_lcore"`
	WorkerLcores []int    `mapstructure:"worker_lcores"`
	MemoryMB     int      `mapstructure:"memory_mb"`
	HugeDir      string   `mapstructure:"huge_dir"`
	LogLevel     string   `mapstructure:"log_level"`
	ExtraArgs    []string `mapstructure:"extra_args"`
}

// Dataplane sizes the packet path.
type Dataplane struct {
	MTU int `mapstructure:"mtu"`
	// Mbufs in the packet pool.
	Mbufs int `mapstructure:"mbufs"`
	// RxDescriptors and TxDescriptors per hardware queue.
	RxDescriptors int `mapstructure:"rx_descriptors"`
	TxDescriptors int `mapstructure:"tx_descriptors"`
	// TxQueueLen bounds each destination's software queue, in packets.
	TxQueueLen int `mapstructure:"tx_queue_len"`
	// LinkPoll is how often link state is read, besides LSC events.
	LinkPoll time.Duration `mapstructure:"link_poll"`
}

// Status is the foreground status line.
type Status struct {
	Interval time.Duration `mapstructure:"interval"`
}

// Team is a set of NICs that a set of VMs share.
type Team struct {
	Name   string `mapstructure:"name"`
	Policy string `mapstructure:"policy"`
}

// NIC is a physical port: a PCI device or a vdev.
type NIC struct {
	Name string `mapstructure:"name"`
	PCI  string `mapstructure:"pci"`
	Vdev string `mapstructure:"vdev"`
	Team string `mapstructure:"team"`
}

// VM is a virtual machine's vNIC, a vhost-user port.
type VM struct {
	Name   string   `mapstructure:"name"`
	Socket string   `mapstructure:"socket"`
	Mode   string   `mapstructure:"mode"`
	MACs   []string `mapstructure:"macs"`
	Team   string   `mapstructure:"team"`
}

// Policies lists the NIC-selection policies this build implements.
var Policies = []string{"src-mac-hash"}

func defaults(v *viper.Viper) {
	v.SetDefault("eal.file_prefix", "uplinkd")
	v.SetDefault("eal.main_lcore", 0)
	v.SetDefault("eal.worker_lcores", []int{1})
	v.SetDefault("eal.memory_mb", 256)
	v.SetDefault("eal.huge_dir", "/dev/hugepages")
	v.SetDefault("eal.log_level", "notice")
	v.SetDefault("dataplane.mtu", 1500)
	v.SetDefault("dataplane.mbufs", 16383)
	v.SetDefault("dataplane.rx_descriptors", 1024)
	v.SetDefault("dataplane.tx_descriptors", 1024)
	v.SetDefault("dataplane.tx_queue_len", 1024)
	v.SetDefault("dataplane.link_poll", "1ms")
	v.SetDefault("status.interval", "1s")
}

// Load reads a config file; its extension (.toml, .yaml, .yml) picks the
// format.
func Load(path string) (*Config, error) {
	v := viper.New()
	v.SetConfigFile(path)
	defaults(v)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return decode(v, path)
}

// Parse reads a config from bytes in format "toml" or "yaml".
func Parse(data []byte, format string) (*Config, error) {
	v := viper.New()
	v.SetConfigType(format)
	defaults(v)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("config (%s): %w", format, err)
	}
	return decode(v, "config")
}

func decode(v *viper.Viper, where string) (*Config, error) {
	var c Config
	err := v.UnmarshalExact(&c, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, cleanDecodeError(err))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &c, nil
}

// cleanDecodeError turns mapstructure's "” has invalid keys: x" into
// something that names the key.
func cleanDecodeError(err error) error {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	msg = strings.ReplaceAll(msg, "'' has invalid keys: ", "unknown key: ")
	return errors.New(msg)
}
