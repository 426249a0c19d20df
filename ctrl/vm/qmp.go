package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"golang.org/x/sys/unix"
)

// QMP drives a QEMU VM through its QMP socket (-qmp unix:PATH,server=on):
// stop and cont, migrate and query-migrate, query-status, and the CPU
// weight as the nice value of the vCPU threads query-cpus-fast names
// (QEMU without libvirt has no cgroup of its own to weigh). It connects
// per action, so a restarted QEMU is simply found again.
type QMP struct {
	Socket string
	// PollEvery is how often a migration's progress is read (default 20 ms).
	PollEvery time.Duration
}

func (q *QMP) Engine() string { return "qmp" }

// session connects, runs f, and disconnects; ctx ending aborts it.
func (q *QMP) session(ctx context.Context, f func(run func(cmd string, args any) ([]byte, error)) error) error {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	mon, err := qmp.NewSocketMonitor("unix", q.Socket, timeout)
	if err != nil {
		return fmt.Errorf("qmp %s: %w", q.Socket, err)
	}
	if err := mon.Connect(); err != nil {
		return fmt.Errorf("qmp %s: %w", q.Socket, err)
	}
	done := make(chan error, 1)
	go func() {
		done <- f(func(cmd string, args any) ([]byte, error) {
			b, err := json.Marshal(qmp.Command{Execute: cmd, Args: args})
			if err != nil {
				return nil, err
			}
			out, err := mon.Run(b)
			if err != nil {
				return nil, fmt.Errorf("qmp %s: %w", cmd, err)
			}
			return out, nil
		})
	}()
	select {
	case err = <-done:
		mon.Disconnect()
		return err
	case <-ctx.Done():
		mon.Disconnect() // unblocks Run
		<-done
		return ctx.Err()
	}
}

func (q *QMP) simple(ctx context.Context, cmd string) error {
	return q.session(ctx, func(run func(string, any) ([]byte, error)) error {
		_, err := run(cmd, nil)
		return err
	})
}

// Suspend stops the VM's vCPUs: it sends nothing until resumed.
func (q *QMP) Suspend(ctx context.Context) error { return q.simple(ctx, "stop") }

// Resume continues a stopped VM.
func (q *QMP) Resume(ctx context.Context) error { return q.simple(ctx, "cont") }

func (q *QMP) State(ctx context.Context) (State, error) {
	var st State
	err := q.session(ctx, func(run func(string, any) ([]byte, error)) error {
		out, err := run("query-status", nil)
		if err != nil {
			return err
		}
		var r struct {
			Return struct{ Status string }
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("qmp query-status: %w", err)
		}
		st = qemuState(r.Return.Status)
		return nil
	})
	return st, err
}

func qemuState(s string) State {
	switch s {
	case "running":
		return Running
	case "paused", "suspended":
		return Paused
	case "inmigrate", "finish-migrate":
		return Migrating
	case "postmigrate":
		return Migrated
	case "shutdown", "guest-panicked", "internal-error":
		return Stopped
	}
	return Unknown
}

// Migrate starts a live migration to h.URI (a QEMU started there with
// -incoming) and waits for it to complete.
func (q *QMP) Migrate(ctx context.Context, h Host) error {
	every := q.PollEvery
	if every == 0 {
		every = 20 * time.Millisecond
	}
	return q.session(ctx, func(run func(string, any) ([]byte, error)) error {
		if _, err := run("migrate", map[string]string{"uri": h.URI}); err != nil {
			return err
		}
		for {
			out, err := run("query-migrate", nil)
			if err != nil {
				return err
			}
			var r struct {
				Return struct {
					Status    string
					ErrorDesc string `json:"error-desc"`
				}
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("qmp query-migrate: %w", err)
			}
			switch r.Return.Status {
			case "completed":
				return nil
			case "failed", "cancelled":
				return fmt.Errorf("migration to %s %s: %s", h.URI, r.Return.Status, r.Return.ErrorDesc)
			}
			select {
			case <-time.After(every):
			case <-ctx.Done():
				run("migrate_cancel", nil)
				return ctx.Err()
			}
		}
	})
}

// SetCPUWeight renices the VM's vCPU threads to the nice value of weight.
func (q *QMP) SetCPUWeight(ctx context.Context, weight int) error {
	if err := checkWeight(weight); err != nil {
		return err
	}
	return q.session(ctx, func(run func(string, any) ([]byte, error)) error {
		out, err := run("query-cpus-fast", nil)
		if err != nil {
			return err
		}
		var r struct {
			Return []struct {
				ThreadID int `json:"thread-id"`
			}
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("qmp query-cpus-fast: %w", err)
		}
		if len(r.Return) == 0 {
			return fmt.Errorf("qmp query-cpus-fast: no vCPU threads")
		}
		nice := niceForWeight(weight)
		for _, c := range r.Return {
			if err := unix.Setpriority(unix.PRIO_PROCESS, c.ThreadID, nice); err != nil {
				return fmt.Errorf("renice vCPU thread %d to %d: %w", c.ThreadID, nice, err)
			}
		}
		return nil
	})
}
