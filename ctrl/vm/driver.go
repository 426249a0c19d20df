package vm

import (
	"context"
	"fmt"
)

// Action names what a VM is asked to do.
type Action string

const (
	Suspend      Action = "suspend"
	Resume       Action = "resume"
	Migrate      Action = "migrate"
	SetCPUWeight Action = "set_cpu_weight"
)

// State is a VM's run state as its engine reports it.
type State string

const (
	Running   State = "running"
	Paused    State = "paused"
	Migrating State = "migrating"
	Migrated  State = "migrated" // the source after a completed migration
	Stopped   State = "stopped"
	Unknown   State = "unknown"
)

// Host is another host a VM may be migrated to.
type Host struct {
	Name string
	// Connection names the network the host is attached by: a VM under
	// attack on one connection is moved to a host on another.
	Connection string
	// URI is where the engine sends the VM: a QEMU migration URI
	// ("tcp:10.0.0.2:4444") for qmp, a libvirt URI
	// ("qemu+tcp://host-b/system") for libvirt, passed as is to exec.
	URI string
	// Spare is egress capacity the host has free, bit/s (0: unknown).
	Spare float64
}

// Driver carries out actions on one VM through one engine. Calls may
// block until ctx ends; the Manager calls them from the VM's own
// goroutine only, one at a time.
type Driver interface {
	// Engine names the engine for logs: "qmp", "libvirt", "exec", "none".
	Engine() string
	Suspend(ctx context.Context) error
	Resume(ctx context.Context) error
	// Migrate sends the VM to host and returns when the migration has
	// completed (or failed).
	Migrate(ctx context.Context, host Host) error
	// SetCPUWeight sets the VM's CPU weight on the cgroup v2 scale
	// (1-10000, 100 normal): lower deprioritises it.
	SetCPUWeight(ctx context.Context, weight int) error
	State(ctx context.Context) (State, error)
}

// None is the driver of VMs without an engine: every action is only
// logged (by the Manager) and succeeds.
type None struct{}

func (None) Engine() string                          { return "none" }
func (None) Suspend(context.Context) error           { return nil }
func (None) Resume(context.Context) error            { return nil }
func (None) Migrate(context.Context, Host) error     { return nil }
func (None) SetCPUWeight(context.Context, int) error { return nil }
func (None) State(context.Context) (State, error)    { return Unknown, nil }

// checkWeight refuses weights outside the cgroup v2 range.
func checkWeight(w int) error {
	if w < 1 || w > 10000 {
		return fmt.Errorf("cpu weight %d is outside 1-10000", w)
	}
	return nil
}
