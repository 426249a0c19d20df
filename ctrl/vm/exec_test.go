package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hook writes a real hook script that records its arguments, answers
// "state" with the last state it was put in, and fails or hangs on cue.
func hook(t *testing.T) (cmd []string, calls func() []string) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "vm-hook")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
echo "$*" >> "`+log+`"
case "$1" in
suspend) echo paused > "`+dir+`/state-$2" ;;
resume) echo running > "`+dir+`/state-$2" ;;
state) cat "`+dir+`/state-$2" 2>/dev/null || echo running ;;
set_cpu_weight) [ "$3" -ge 1 ] || { echo "weight $3 refused" >&2; exit 3; } ;;
migrate) [ "$3" = "hang" ] && exec sleep 30 ;;
esac
exit 0
`), 0o755))
	return []string{script}, func() []string {
		b, _ := os.ReadFile(log)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
}

func TestExecHookGetsActionVMAndArguments(t *testing.T) {
	cmd, calls := hook(t)
	e := &Exec{Command: cmd, VM: "vnf-a"}
	ctx := context.Background()
	require.NoError(t, e.Suspend(ctx))
	st, err := e.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, Paused, st)
	require.NoError(t, e.Resume(ctx))
	st, _ = e.State(ctx)
	assert.Equal(t, Running, st)
	require.NoError(t, e.Migrate(ctx, Host{Name: "host-b", URI: "qemu+tcp://host-b/system"}))
	require.NoError(t, e.SetCPUWeight(ctx, 10))
	assert.Equal(t, []string{"suspend vnf-a", "state vnf-a", "resume vnf-a", "state vnf-a",
		"migrate vnf-a qemu+tcp://host-b/system host-b", "set_cpu_weight vnf-a 10"}, calls())
}

func TestExecHookFailureCarriesItsStderr(t *testing.T) {
	cmd, _ := hook(t)
	_, err := (&Exec{Command: cmd, VM: "a"}).run(context.Background(), "set_cpu_weight", "a", "0")
	assert.ErrorContains(t, err, "weight 0 refused")
	assert.ErrorContains(t, err, "exit status 3")
}

func TestExecHookArgumentsFromConfigComeFirst(t *testing.T) {
	cmd, calls := hook(t)
	// A hook configured as ["sh", script]: the script still gets the
	// action and the VM after its own arguments.
	e := &Exec{Command: append([]string{"/bin/sh"}, cmd...), VM: "a"}
	require.NoError(t, e.Suspend(context.Background()))
	assert.Equal(t, []string{"suspend a"}, calls())
}

func TestExecHookThatHangsIsKilledAtTheTimeout(t *testing.T) {
	cmd, _ := hook(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := (&Exec{Command: cmd, VM: "a"}).Migrate(ctx, Host{Name: "b", URI: "hang"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}
