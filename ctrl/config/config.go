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
	Resources Resources `mapstructure:"resources"`
	VMManager VMManager `mapstructure:"vm_manager"`
	DoS       DoS       `mapstructure:"dos"`
	API       API       `mapstructure:"api"`
	Metrics   Metrics   `mapstructure:"metrics"`
	State     State     `mapstructure:"state"`
	Runtime   Runtime   `mapstructure:"runtime"`
	Teams     []Team    `mapstructure:"teams"`
	NICs      []NIC     `mapstructure:"nics"`
	VMs       []VM      `mapstructure:"vms"`
	// Hosts are the other hosts VMs may be migrated to.
	Hosts []Host `mapstructure:"hosts"`
}

// API is the local control socket uplinkctl talks to.
type API struct {
	// Socket is the unix socket's path; it is created mode 0600, so only
	// root (the daemon's user) can use it. Nothing listens on TCP.
	Socket string `mapstructure:"socket"`
}

// State is where uplinkd keeps what was changed while it ran.
type State struct {
	// Dir keeps the VMs added at runtime (uplinkctl vm add without
	// --transient), one JSON file of [[vms]] keys each under vms/, read
	// with the config file at start and by every reload. "" keeps nothing.
	Dir string `mapstructure:"dir"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is a TCP address for /metrics ("" for none); the API socket
	// serves /metrics too.
	Listen string `mapstructure:"listen"`
}

// Runtime is how Go's garbage collector runs in the control plane. Every
// collection stops the world twice, and a stop reaches the worker too: it
// is preempted and waits for a thread on the housekeeping core to hand
// it back, 0.1-1 ms on a busy core. The control plane's garbage (status,
// metrics scrapes, reloads: about 1 MB/s under steady polling) with Go's
// default of a collection per 4 MB stopped the worker every 2 s; a heap
// goal of at least 40 MB (the default, 1000 %) makes it every 40 s or so.
// An environment GOGC or GOMEMLIMIT wins over these keys.
type Runtime struct {
	// GCPercent is GOGC: a collection starts when the heap has grown this
	// many percent over what the last one left live, and never below 4 MB
	// times GCPercent / 100. -1 collects only at MemoryLimitMB.
	GCPercent int `mapstructure:"gc_percent"`
	// MemoryLimitMB is GOMEMLIMIT in MiB: the collector runs as often as
	// it must to keep the Go heap under it (0: no limit).
	MemoryLimitMB int `mapstructure:"memory_limit_mb"`
}

// VMManager is how hard the VM manager tries an action on a VM.
type VMManager struct {
	// Timeout bounds one attempt of suspend, resume or a CPU weight change.
	Timeout time.Duration `mapstructure:"timeout"`
	// MigrateTimeout bounds one attempt of a live migration.
	MigrateTimeout time.Duration `mapstructure:"migrate_timeout"`
	// Retries after a failed attempt, the n-th after n × RetryBackoff.
	Retries int `mapstructure:"retries"`
	// RetryBackoff: retry n waits n times this long.
	RetryBackoff time.Duration `mapstructure:"retry_backoff"`
	// DeprioritisedWeight is the CPU weight (cgroup v2 scale, 100 normal)
	// of a deprioritised VM.
	DeprioritisedWeight int `mapstructure:"deprioritised_weight"`
}

// Host is another host a VM may be migrated to.
type Host struct {
	// Name is how logs and uplinkctl vm migrate --host name the host.
	Name string `mapstructure:"name"`
	// Connection names the network the host is attached by; a VM under
	// attack on one connection goes to a host on another.
	Connection string `mapstructure:"connection"`
	// URI is the migration target as the VM's driver wants it: a QEMU
	// migration URI (tcp:10.0.0.2:4444) for qmp, a libvirt URI
	// (qemu+tcp://host-b/system) for libvirt, passed to exec as is.
	URI string `mapstructure:"uri"`
	// Spare is the host's free egress capacity, bit/s.
	Spare BitRate `mapstructure:"spare"`
}

// EAL is how DPDK's environment is set up.
type EAL struct {
	// FilePrefix keeps this process's hugepage files and runtime directory
	// apart from every other DPDK process on the host.
	FilePrefix string `mapstructure:"file_prefix"`
	// MainLcore runs EAL's main thread and uplinkd's control plane.
	MainLcore int `mapstructure:"main_lcore"`
	// WorkerLcores run the polling workers, one core each (this version
	// runs exactly one); no other thread of uplinkd runs there.
	WorkerLcores []int `mapstructure:"worker_lcores"`
	// WorkerThread is how a worker becomes a DPDK thread: "lcore" (an EAL
	// lcore that calls into Go) or "registered" (a Go thread registered with
	// rte_thread_register, which switches off DPDK multi-process tools).
	// make bench measures both; lcore is the default.
	WorkerThread string `mapstructure:"worker_thread"`
	// ControlNice is the nice value of every thread but the workers (Go's
	// runtime, EAL's, vhost's), -20 to 19. The runtime preempts a worker
	// every 10-20 ms and needs one of these threads on the housekeeping
	// core to hand it back; at -20 that thread runs as soon as it wakes
	// instead of after whatever busy task shares that core.
	ControlNice int `mapstructure:"control_nice"`
	// MemoryMB is the hugepage memory EAL reserves (-m).
	MemoryMB int `mapstructure:"memory_mb"`
	// HugeDir is the hugetlbfs mount EAL's files go in.
	HugeDir string `mapstructure:"huge_dir"`
	// LogLevel is EAL's --log-level (notice, info, debug, or
	// "lib.vhost.config:debug" for one component).
	LogLevel string `mapstructure:"log_level"`
	// ExtraArgs are appended to EAL's arguments as they are.
	ExtraArgs []string `mapstructure:"extra_args"`
}

// Dataplane sizes the packet path.
type Dataplane struct {
	// MTU is the largest IP packet a frame may carry: longer frames are
	// dropped as oversize (MTU + 14 bytes, + 4 with a VLAN tag). It is set
	// on every port (uplinkd refuses to start if a NIC cannot carry it) and
	// sizes the pool's mbufs: about 9.3 KiB each at 9000.
	MTU int `mapstructure:"mtu"`
	// Mbufs in the packet pool.
	Mbufs int `mapstructure:"mbufs"`
	// RxDescriptors per hardware rx queue.
	RxDescriptors int `mapstructure:"rx_descriptors"`
	// TxDescriptors per hardware tx queue.
	TxDescriptors int `mapstructure:"tx_descriptors"`
	// TxQueueLen bounds each destination's software queue, in packets.
	TxQueueLen int `mapstructure:"tx_queue_len"`
	// MaxVMs is how many VMs the worker has slots for: those of the
	// config and those added while uplinkd runs (uplinkctl vm add). Each
	// slot costs a software queue of tx_queue_len packets.
	MaxVMs int `mapstructure:"max_vms"`
	// MaxNICs is how many NICs the worker has slots for: those of the
	// config and those that join a team while uplinkd runs (uplinkctl nic
	// add, or a reload). Each slot costs a software queue of tx_queue_len
	// packets.
	MaxNICs int `mapstructure:"max_nics"`
	// LinkPoll is how often link state is read, besides LSC events.
	LinkPoll time.Duration `mapstructure:"link_poll"`
}

// Status is the foreground status line.
type Status struct {
	// Interval between status lines (0: none); --status-interval overrides.
	Interval time.Duration `mapstructure:"interval"`
}

// Resources is the resource manager: proportional share and what happens
// to a VM that stays over its allocation.
type Resources struct {
	// Interval between recomputations of every VM's allocation.
	Interval time.Duration `mapstructure:"interval"`
	// OverAllocationAfter: a VM held back by its allocation for this long
	// produces a decision event (0 turns decisions off).
	OverAllocationAfter time.Duration `mapstructure:"over_allocation_after"`
	// OverAllocationAction is what the decision asks the VM manager for:
	// "suspend" or "migrate".
	OverAllocationAction string `mapstructure:"over_allocation_action"`
}

// Team is a set of NICs that a set of VMs share.
type Team struct {
	// Name is what NICs and VMs name to join the team.
	Name string `mapstructure:"name"`
	// Policy picks each VM's packets' NIC: src-mac-hash, vm-affinity,
	// flow-hash, round-robin, least-pending, load-based or
	// explicit-failover.
	Policy string `mapstructure:"policy"`
	// NativeVLAN is the VLAN of untagged frames on the team's NICs, which
	// leave untagged too (0: untagged frames belong to the VMs with no
	// VLAN). A team whose VMs have no vlan or trunk and that has no native
	// VLAN passes frames as they are, tags and all. Each VLAN is its own
	// broadcast domain and MAC table; QinQ (stacked tags) is not
	// supported: only a frame's first tag counts.
	NativeVLAN int `mapstructure:"native_vlan"`
	// Active and Standby order the NICs for explicit-failover; NICs of the
	// team in neither list are appended to Standby in config order.
	Active []string `mapstructure:"active"`
	// Standby lists the NICs explicit-failover uses when no Active one is
	// usable, in order.
	Standby []string `mapstructure:"standby"`
	// RebalanceThreshold and RebalanceHold drive load-based: a NIC above
	// this utilisation for this long has a VM moved off it.
	RebalanceThreshold float64 `mapstructure:"rebalance_threshold"`
	// RebalanceHold: how long a NIC must stay above the threshold (unset:
	// 30ms).
	RebalanceHold time.Duration `mapstructure:"rebalance_hold"`
	// DownDelay: a failure must last this long before a NIC is down; its
	// traffic moves away at once regardless ("failing over").
	DownDelay time.Duration `mapstructure:"down_delay"`
	// UpDelay: a NIC back from a failure carries traffic again only after
	// staying healthy this long.
	UpDelay time.Duration `mapstructure:"up_delay"`
	// Failback (default true): VMs return to a recovered NIC. Off, they
	// stay where they went and the NIC is standby.
	Failback *bool `mapstructure:"failback"`
	// BeaconInterval turns beacon probing on: each NIC sends a beacon this
	// often, and one that hears none from the team's other NICs for
	// BeaconMisses intervals (unset: 3) while its link is up has failed.
	// It needs the team's NICs on one layer-2 segment.
	BeaconInterval time.Duration `mapstructure:"beacon_interval"`
	// BeaconMisses: intervals without a beacon before a NIC has failed
	// (unset: 3).
	BeaconMisses int `mapstructure:"beacon_misses"`
	// Connection names the upstream network the team's NICs attach to
	// (default: the team's name); a VM attacked through it is migrated to
	// a host on another.
	Connection string `mapstructure:"connection"`
	// DoSStandby is the NIC group the team fails over to while one of its
	// VMs is under attack (the failover response): its other NICs carry
	// nothing meanwhile.
	DoSStandby []string `mapstructure:"dos_standby"`
	// DoS overrides [dos] for the team's VMs.
	DoS DoS `mapstructure:"dos"`
}

// NIC is a physical port: a PCI device or a vdev.
type NIC struct {
	// Name is how logs, status, the API and teams name the NIC.
	Name string `mapstructure:"name"`
	// PCI is the NIC's PCI address (0000:3b:00.0); or Vdev.
	PCI string `mapstructure:"pci"`
	// Vdev is a DPDK virtual device string (net_tap0,iface=dtap0); or PCI.
	Vdev string `mapstructure:"vdev"`
	// Team is the team the NIC belongs to.
	Team string `mapstructure:"team"`
	// Speed is the capacity uplinkd schedules the NIC at; unset, the
	// link's reported speed. Set it below line rate to shape a NIC to a
	// committed rate.
	Speed BitRate `mapstructure:"speed"`
}

// VM is a virtual machine's vNIC, a vhost-user port.
type VM struct {
	// Name is how logs, status, the API and the VM manager name the VM.
	Name string `mapstructure:"name"`
	// Socket is the vhost-user socket of the VM's vNIC.
	Socket string `mapstructure:"socket"`
	// Mode "server" (default): uplinkd serves Socket and the hypervisor
	// connects; "client": the hypervisor serves it.
	Mode string `mapstructure:"mode"`
	// MACs are the VM's source MACs: a frame from another is dropped as
	// spoofed; frames to them are delivered to the VM.
	MACs []string `mapstructure:"macs"`
	// Team is the team whose NICs carry the VM's traffic.
	Team string `mapstructure:"team"`
	// VLAN puts the VM on one 802.1Q VLAN, 1-4094, as an access port: its
	// frames are untagged, and tagged with the VLAN on the team's NICs
	// (untagged if it is the team's native VLAN). 0: none.
	VLAN int `mapstructure:"vlan"`
	// Trunk lists the VLANs whose tagged frames the VM sends and receives
	// (its guest tags them, with 8021q sub-interfaces); tags not listed are
	// dropped as vlan. Not with vlan.
	Trunk []int `mapstructure:"trunk"`
	// NativeVLAN is a trunk's VLAN for untagged frames (0: a trunk's
	// untagged frames are dropped as vlan).
	NativeVLAN int `mapstructure:"native_vlan"`
	// IPs, when set, are the only addresses (IPv4 or IPv6, or prefixes
	// like 10.0.1.0/24) the VM may send ARP and IP from; other frames are
	// dropped as spoofed_ip. DHCP from 0.0.0.0, ARP probes, IPv6 from ::
	// and link-local addresses pass. Empty: not checked.
	IPs []string `mapstructure:"ips"`
	// Limit and LimitPPS cap the VM's egress (0: none).
	Limit BitRate `mapstructure:"limit"`
	// LimitPPS caps the VM's egress in packets/s (0: none).
	LimitPPS PacketRate `mapstructure:"limit_pps"`
	// Reservation is egress capacity the VM gets whenever it wants it.
	Reservation BitRate `mapstructure:"reservation"`
	// Shares weigh the VM against the team's other VMs under contention
	// (unset: 1).
	Shares int `mapstructure:"shares"`
	// Priority: strictly higher is served first under contention; above 0
	// also takes the least loaded NIC.
	Priority int `mapstructure:"priority"`
	// PreferredNIC is the VM's NIC under vm-affinity and load-based.
	PreferredNIC string `mapstructure:"preferred_nic"`
	// SuspendOnFailover: the VM manager suspends the VM while a failover of
	// the NIC it uses is in progress, and resumes it after.
	SuspendOnFailover bool `mapstructure:"suspend_on_failover"`
	// Driver is the engine VM actions go through: none (log only), qmp,
	// libvirt or exec.
	Driver string `mapstructure:"driver"`
	// QMP is the QEMU QMP socket (driver qmp).
	QMP string `mapstructure:"qmp"`
	// LibvirtURI, LibvirtSocket and Domain reach the VM through libvirtd
	// (driver libvirt); Domain defaults to the VM's name.
	LibvirtURI string `mapstructure:"libvirt_uri"`
	// LibvirtSocket is libvirtd's unix socket (default
	// /var/run/libvirt/libvirt-sock).
	LibvirtSocket string `mapstructure:"libvirt_socket"`
	// Domain is the libvirt domain (default: the VM's name).
	Domain string `mapstructure:"domain"`
	// Exec is the hook command (driver exec), run with the action, the VM
	// and the action's arguments appended.
	Exec []string `mapstructure:"exec"`
	// DoS overrides its team's and the [dos] defaults for this VM.
	DoS DoS `mapstructure:"dos"`
}

// Drivers are the VM-action engines.
var Drivers = []string{"none", "qmp", "libvirt", "exec"}

// Policies lists the NIC-selection policies this build implements; the
// fastpath's names (a test keeps the two lists equal, and config stays
// free of cgo).
var Policies = []string{"src-mac-hash", "vm-affinity", "flow-hash", "round-robin", "least-pending", "load-based", "explicit-failover"}

// OverAllocationActions are what a persistently over-allocated VM may get.
var OverAllocationActions = []string{"suspend", "migrate"}

func defaults(v *viper.Viper) {
	v.SetDefault("eal.file_prefix", "uplinkd")
	v.SetDefault("eal.main_lcore", 0)
	v.SetDefault("eal.worker_lcores", []int{1})
	v.SetDefault("eal.worker_thread", "lcore")
	v.SetDefault("eal.control_nice", -20)
	v.SetDefault("eal.memory_mb", 256)
	v.SetDefault("eal.huge_dir", "/dev/hugepages")
	v.SetDefault("eal.log_level", "notice")
	v.SetDefault("dataplane.mtu", 1500)
	v.SetDefault("dataplane.mbufs", 16383)
	v.SetDefault("dataplane.rx_descriptors", 1024)
	v.SetDefault("dataplane.tx_descriptors", 1024)
	v.SetDefault("dataplane.tx_queue_len", 1024)
	v.SetDefault("dataplane.max_vms", 64)
	v.SetDefault("dataplane.max_nics", 16)
	v.SetDefault("dataplane.link_poll", "1ms")
	v.SetDefault("status.interval", "1s")
	v.SetDefault("resources.interval", "5ms")
	v.SetDefault("resources.over_allocation_after", "2s")
	v.SetDefault("resources.over_allocation_action", "suspend")
	v.SetDefault("vm_manager.timeout", "10s")
	v.SetDefault("vm_manager.migrate_timeout", "5m")
	v.SetDefault("vm_manager.retries", 2)
	v.SetDefault("vm_manager.retry_backoff", "1s")
	v.SetDefault("vm_manager.deprioritised_weight", 10)
	dosDefaults(v.SetDefault)
	v.SetDefault("api.socket", "/run/uplinkd/uplinkd.sock")
	v.SetDefault("metrics.listen", "127.0.0.1:9470")
	v.SetDefault("state.dir", "/var/lib/uplinkd")
	v.SetDefault("runtime.gc_percent", 1000)
	v.SetDefault("runtime.memory_limit_mb", 512)
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
	c, err := decode(v, path)
	if err != nil {
		return nil, err
	}
	return WithDropIns(c)
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
			rateHook,
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

// DecodeVM reads one [[vms]] entry given as keys and values (a VM added
// while uplinkd runs: the API's JSON, uplinkctl's flags), with the
// config file's names, rates and defaults. It checks the keys and their
// types; the config it joins validates the rest.
func DecodeVM(keys map[string]any) (VM, error) { return decodeEntry[VM](keys) }

// DecodeTeam reads one [[teams]] entry given as keys and values, as
// DecodeVM does a VM.
func DecodeTeam(keys map[string]any) (Team, error) { return decodeEntry[Team](keys) }

// DecodeNIC reads one [[nics]] entry given as keys and values, as DecodeVM
// does a VM.
func DecodeNIC(keys map[string]any) (NIC, error) { return decodeEntry[NIC](keys) }

func decodeEntry[T any](keys map[string]any) (T, error) {
	var v T
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:      &v,
		ErrorUnused: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			rateHook,
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
	})
	if err != nil {
		return v, err
	}
	if err := dec.Decode(keys); err != nil {
		return v, cleanDecodeError(err)
	}
	return v, nil
}
