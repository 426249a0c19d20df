package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// RunTool runs one of DPDK's secondary-process tools (dpdk-dumpcap,
// dpdk-proc-info) attached to the lab's uplinkd through its file prefix,
// until it ends or timeout passes, and returns what it printed. args[0] is
// the program.
//
// Its output goes to a file, not a pipe, so that its end is its exit
// status alone: on a loaded machine dpdk-dumpcap was seen to write its
// final counts and exit while the pipe the lab read it through stayed
// open, so that it never seemed to end. A tool still running at timeout
// has its threads logged and is killed by PID.
func (l *Lab) RunTool(timeout time.Duration, args ...string) (string, error) {
	l.T.Helper()
	path := filepath.Join(l.Dir, fmt.Sprintf("%s-%d.out", filepath.Base(args[0]), time.Now().UnixNano()))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		l.T.Logf("%s (pid %d) still running after %s; its threads:\n%s", args[0], cmd.Process.Pid, timeout, stacks(cmd.Process.Pid))
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		err = fmt.Errorf("%s did not end within %s", args[0], timeout)
	}
	out, _ := os.ReadFile(path)
	return string(out), err
}
