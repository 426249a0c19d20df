package vm

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Exec drives a VM through an operator's command, the hook for engines
// uplinkd does not speak (OpenStack's API, KubeVirt, a site script). It is
// run as
//
//	COMMAND... suspend|resume VM
//	COMMAND... migrate VM HOST_URI HOST_NAME
//	COMMAND... set_cpu_weight VM WEIGHT
//	COMMAND... state VM          (prints running, paused, ...)
//
// and succeeds when it exits 0; the timeout kills it.
type Exec struct {
	Command []string
	VM      string
}

func (e *Exec) Engine() string { return "exec" }

func (e *Exec) run(ctx context.Context, args ...string) (string, error) {
	if len(e.Command) == 0 {
		return "", fmt.Errorf("exec: no command")
	}
	argv := append(append([]string{}, e.Command[1:]...), args...)
	cmd := exec.CommandContext(ctx, e.Command[0], argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if len(msg) > 200 {
			msg = msg[len(msg)-200:]
		}
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("exec %s %s: %w: %s", e.Command[0], strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(out.String()), nil
}

func (e *Exec) Suspend(ctx context.Context) error {
	_, err := e.run(ctx, string(Suspend), e.VM)
	return err
}

func (e *Exec) Resume(ctx context.Context) error {
	_, err := e.run(ctx, string(Resume), e.VM)
	return err
}

func (e *Exec) Migrate(ctx context.Context, h Host) error {
	_, err := e.run(ctx, string(Migrate), e.VM, h.URI, h.Name)
	return err
}

func (e *Exec) SetCPUWeight(ctx context.Context, w int) error {
	_, err := e.run(ctx, string(SetCPUWeight), e.VM, strconv.Itoa(w))
	return err
}

func (e *Exec) State(ctx context.Context) (State, error) {
	out, err := e.run(ctx, "state", e.VM)
	if err != nil {
		return Unknown, err
	}
	switch s := State(strings.ToLower(out)); s {
	case Running, Paused, Migrating, Migrated, Stopped:
		return s, nil
	}
	return Unknown, nil
}
