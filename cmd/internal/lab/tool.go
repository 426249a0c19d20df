package lab

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stretchr/testify/require"
)

// Tool is one of DPDK's secondary-process tools (dpdk-dumpcap,
// dpdk-proc-info) attached to the lab's uplinkd through its file prefix.
// It is ended by PID when the test ends, like every process the lab starts.
type Tool struct{ *proc }

// StartTool starts a DPDK tool; args[0] is the program.
func (l *Lab) StartTool(args ...string) *Tool {
	l.T.Helper()
	return &Tool{start(l.T, args[0], false, args...)}
}

// WaitLine blocks until the tool prints a line containing s (on stdout or
// stderr) and returns it; it fails the test if the tool exits first or
// timeout passes.
func (t *Tool) WaitLine(s string, timeout time.Duration) string {
	t.t.Helper()
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { t.mu.Lock(); t.cond.Broadcast(); t.mu.Unlock() })
	defer timer.Stop()
	t.mu.Lock()
	defer t.mu.Unlock()
	for seen := 0; ; {
		for ; seen < len(t.lines); seen++ {
			if strings.Contains(t.lines[seen], s) {
				return t.lines[seen]
			}
		}
		if t.exited {
			require.FailNow(t.t, t.name+" exited before printing "+s, "%v\n%s", t.err, strings.Join(t.lines, "\n"))
		}
		if time.Now().After(deadline) {
			require.FailNow(t.t, t.name+" did not print "+s, "within %v:\n%s", timeout, strings.Join(t.lines, "\n"))
		}
		t.cond.Wait()
	}
}

// Wait waits for the tool to exit and returns everything it printed. When
// timeout passes first, what the tool was doing is logged: on a loaded
// machine dpdk-dumpcap was seen to write its final counts and be gone
// while its output pipes stayed open, so that it never seemed to end.
func (t *Tool) Wait(timeout time.Duration) (string, error) {
	t.t.Helper()
	err := t.waitExit(timeout)
	t.mu.Lock()
	hung := !t.exited
	t.mu.Unlock()
	if pid := t.cmd.Process.Pid; hung {
		if _, gone := os.Stat(fmt.Sprintf("/proc/%d", pid)); gone != nil {
			t.t.Logf("%s (pid %d) is gone, but its stdout or stderr is still open in another process", t.name, pid)
		} else {
			t.t.Logf("%s (pid %d) still running after %s; its threads:\n%s", t.name, pid, timeout, stacks(pid))
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n"), err
}
