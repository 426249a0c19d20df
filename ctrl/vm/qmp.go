package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// QMP drives a QEMU VM through its QMP socket (-qmp unix:PATH,server=on):
// stop and cont, migrate and query-migrate, query-status, and the CPU
// weight as the nice value of the vCPU threads query-cpus-fast names
// (QEMU without libvirt has no cgroup of its own to weigh). It connects
// per action, so a restarted QEMU is simply found again. The client is
// qmpconn.go's, which says why it is not go-qemu's.
type QMP struct {
	Socket string
	// PollEvery is how often a migration's progress is read (default 20 ms).
	PollEvery time.Duration
}

func (q *QMP) Engine() string { return "qmp" }

// session connects, runs f, and disconnects; ctx's deadline bounds it
// and its end aborts it.
func (q *QMP) session(ctx context.Context, f func(run func(cmd string, args any) ([]byte, error)) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	c, err := dialQMP(ctx, q.Socket)
	if err != nil {
		return fmt.Errorf("qmp %s: %w", q.Socket, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() }) // unblocks a read
	defer stop()
	err = f(func(cmd string, args any) ([]byte, error) { return c.run(cmd, args) })
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
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
		var r struct{ Status string }
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("qmp query-status: %w", err)
		}
		if r.Status == "" {
			return fmt.Errorf("qmp query-status: no status in %s", out)
		}
		st = qemuState(r.Status)
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
	case "":
		return Unknown
	}
	return State(s) // QEMU's own word for the rest: prelaunch, restore-vm, ...
}

// Migrate starts a live migration to h.URI (a QEMU started there with
// -incoming) and waits for it to complete.
func (q *QMP) Migrate(ctx context.Context, h Host) error {
	every := q.PollEvery
	if every == 0 {
		every = 20 * time.Millisecond
	}
	err := q.session(ctx, func(run func(string, any) ([]byte, error)) error {
		if _, err := run("migrate", map[string]string{"uri": h.URI}); err != nil {
			return err
		}
		for {
			out, err := run("query-migrate", nil)
			if err != nil {
				return err
			}
			var r struct {
				Status    string
				ErrorDesc string `json:"error-desc"`
			}
			if err := json.Unmarshal(out, &r); err != nil {
				return fmt.Errorf("qmp query-migrate: %w", err)
			}
			switch r.Status {
			case "completed":
				return nil
			case "failed", "cancelled":
				return fmt.Errorf("migration to %s %s: %s", h.URI, r.Status, r.ErrorDesc)
			}
			select {
			case <-time.After(every):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	if ctx.Err() != nil {
		// Out of time: a migration left running would finish behind the
		// manager's back, perhaps after a retry started another.
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.session(cctx, func(run func(string, any) ([]byte, error)) error {
			_, err := run("migrate_cancel", nil)
			return err
		})
	}
	return err
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
		var cpus []struct {
			ThreadID int `json:"thread-id"`
		}
		if err := json.Unmarshal(out, &cpus); err != nil {
			return fmt.Errorf("qmp query-cpus-fast: %w", err)
		}
		if len(cpus) == 0 {
			return fmt.Errorf("qmp query-cpus-fast: no vCPU threads")
		}
		nice := niceForWeight(weight)
		for _, c := range cpus {
			if err := unix.Setpriority(unix.PRIO_PROCESS, c.ThreadID, nice); err != nil {
				return fmt.Errorf("renice vCPU thread %d to %d: %w", c.ThreadID, nice, err)
			}
		}
		return nil
	})
}
