package lab

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Tool is one of DPDK's secondary-process tools (dpdk-dumpcap,
// dpdk-proc-info) attached to the lab's uplinkd through its file prefix.
//
// The lab learns that a tool has ended from the end of a pipe only the tool
// holds, not from reaping it, and reaps it only once the lab's daemons are
// gone (Exit, or the lab's cleanup). On this machine's kernel (6.18, seen
// with perf) reaping a DPDK secondary while the primary it attached to is
// running can spin for minutes inside waitid: release_task ->
// proc_invalidate_siblings_dcache -> d_invalidate -> shrink_dcache_parent,
// walking the dead tool's /proc dentries over and over, with SIGKILL
// pending and nothing else to wait on. It ends as soon as uplinkd stops
// running (SIGSTOP is enough); whoever reaps meanwhile, the test's own
// thread or a shell, is stuck, and the test with it. A tool's files are
// all closed before it is a zombie, so the pipe's end is its exit.
type Tool struct {
	Name string
	PID  int
	lab  *Lab
	cmd  *exec.Cmd
	out  string        // the file its stdout and stderr go to
	done chan struct{} // closed once the tool has closed its end of the pipe: it has exited
	reap sync.Once
	err  error // its exit status, once reaped
}

// StartTool starts args (args[0] is the program). Its output goes to a file
// in the lab's directory.
func (l *Lab) StartTool(args ...string) *Tool {
	l.T.Helper()
	name := filepath.Base(args[0])
	t := &Tool{Name: name, lab: l, done: make(chan struct{}),
		out: filepath.Join(l.Dir, fmt.Sprintf("%s-%d.out", name, time.Now().UnixNano()))}
	f, err := os.Create(t.out)
	if err != nil {
		l.T.Fatalf("%s: %v", t.Name, err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		l.T.Fatalf("%s: %v", t.Name, err)
	}
	t.cmd = exec.Command(args[0], args[1:]...)
	t.cmd.Stdout, t.cmd.Stderr = f, f
	t.cmd.ExtraFiles = []*os.File{w} // fd 3 in the tool, which it never touches
	err = t.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		l.T.Fatalf("%s: %v", t.Name, err)
	}
	t.PID = t.cmd.Process.Pid
	go func() {
		io.Copy(io.Discard, r) // returns at EOF: the tool's last fd is closed
		r.Close()
		close(t.done)
	}()
	l.tools = append(l.tools, t)
	return t
}

// Output waits until the tool has ended and returns what it printed. A
// tool still running at timeout has its threads logged and is killed by
// PID; Output then returns an error with what it had printed.
func (t *Tool) Output(timeout time.Duration) (string, error) {
	t.lab.T.Helper()
	var err error
	select {
	case <-t.done:
	case <-time.After(timeout):
		t.lab.T.Logf("%s (pid %d) still running after %s; its threads:\n%s", t.Name, t.PID, timeout, stacks(t.PID))
		t.cmd.Process.Signal(syscall.SIGKILL)
		<-t.done
		err = fmt.Errorf("%s did not end within %s", t.Name, timeout)
	}
	out, _ := os.ReadFile(t.out)
	return string(out), err
}

// Exit reaps the tool and returns its exit status. Call it once the lab's
// uplinkd has stopped (see Tool); the lab's cleanup reaps the rest.
func (t *Tool) Exit() error {
	t.reap.Do(func() { t.err = t.cmd.Wait() })
	return t.err
}

// reapTools runs after the lab's daemons are stopped or killed: it reaps
// the tools and the generators.
func (l *Lab) reapTools() {
	for _, t := range l.tools {
		t.cmd.Process.Signal(syscall.SIGKILL) // only if it is still running; a zombie ignores it
		t.Exit()
	}
	for _, p := range l.later {
		p.reap(time.Minute)
	}
}
