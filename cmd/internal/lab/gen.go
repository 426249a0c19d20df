package lab

import (
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Gen is a running uplink-gen.
type Gen struct {
	*proc
	lab    *Lab
	Prefix string
}

// VMArg builds one --vm value.
func VMArg(name, sock, mac string) string {
	return fmt.Sprintf("name=%s,socket=%s,mac=%s", name, sock, mac)
}

// StartGen runs uplink-gen with args (its --vm, rate, count...) and waits
// until its links are up.
func (l *Lab) StartGen(args ...string) *Gen {
	l.T.Helper()
	g := l.LaunchGen(args...)
	g.WaitReady()
	return g
}

// LaunchGen runs uplink-gen without waiting for its links: a VM it serves
// (server=1) comes up when uplinkd connects.
func (l *Lab) LaunchGen(args ...string) *Gen {
	l.T.Helper()
	prefix := l.Prefix(fmt.Sprintf("g%d", time.Now().UnixNano()%100000))
	g := &Gen{lab: l, Prefix: prefix}
	full := append([]string{l.Bins.Gen, "--file-prefix", prefix, "--memory", "128", "--progress", "20ms"}, args...)
	g.proc = startProc(l.T, "uplink-gen", true, true, full...)
	l.later = append(l.later, g.proc)
	l.T.Cleanup(func() { removePrefix(l, prefix) })
	return g
}

// WaitReady waits until the generator's links are up.
func (g *Gen) WaitReady() {
	g.lab.T.Helper()
	g.waitFor("ready", 30*time.Second, isEvent("ready"))
}

// StopSending makes the generator stop sending (SIGUSR1; it keeps
// receiving with --hold) and returns a progress line written after it
// stopped, whose sent counts are final.
func (g *Gen) StopSending() Event {
	g.lab.T.Helper()
	mark := g.mark()
	require.NoError(g.lab.T, g.cmd.Process.Signal(syscall.SIGUSR1))
	stopped := false
	return g.waitForFrom(mark, "sending stopped", 20*time.Second, func(e Event) bool {
		if e.Str("event") != "progress" || e["sending"] != false {
			return false
		}
		// The line that saw sending end may have read the counts just
		// before the last burst; the next one cannot have.
		if !stopped {
			stopped = true
			return false
		}
		return true
	})
}

// VM returns one VM's counters from an event.
func VM(e Event, name string) map[string]float64 {
	out := map[string]float64{}
	vms, _ := e["vms"].([]any)
	for _, v := range vms {
		m, _ := v.(map[string]any)
		if m["name"] == name {
			for k, x := range m {
				if f, ok := x.(float64); ok {
					out[k] = f
				}
			}
		}
	}
	return out
}

// WaitProgress waits for a progress or report line for which cond holds.
func (g *Gen) WaitProgress(what string, cond func(Event) bool) Event {
	g.lab.T.Helper()
	return g.waitFor(what, 20*time.Second, func(e Event) bool {
		ev := e.Str("event")
		return (ev == "progress" || ev == "report") && cond(e)
	})
}

// Finish waits for the generator to end by itself (or signals it with
// SIGTERM when signal is true) and checks its clean exit: mempool back to
// its starting count and no hugepage files left. It returns the report.
func (g *Gen) Finish(signal bool) Event {
	t := g.lab.T
	t.Helper()
	if signal {
		require.NoError(t, g.cmd.Process.Signal(syscall.SIGTERM))
	}
	err := g.waitExit(30 * time.Second)
	rep := g.last(isEvent("report"))
	if err != nil && rep != nil && !g.exitedNow() {
		// uplink-gen wrote its final report (its ports closed, its mbufs
		// counted) and its output did not end: it is still running. Its
		// stacks go to the log, it is killed, and its hugepage files are
		// removed for it. (What an earlier lab took for this, about once
		// in 40 runs, was the kernel spinning in waitid as it reaped a
		// generator that had exited: see Tool. Generators are reaped after
		// the daemons now.)
		t.Logf("uplink-gen (pid %d) hung after its final report; its threads:\n%s", g.cmd.Process.Pid, stacks(g.cmd.Process.Pid))
		g.cmd.Process.Kill()
		g.waitExit(10 * time.Second)
		removePrefix(g.lab, g.Prefix)
		err = nil
	}
	require.NoError(t, err, "uplink-gen exit status")
	require.NotNil(t, rep, "uplink-gen wrote no report")
	assert.Equal(t, rep.Num("mbufs_in_use_start"), rep.Num("mbufs_in_use_end"), "uplink-gen mbufs in use at start and end")
	assert.Empty(t, g.lab.HugepageFiles(g.Prefix), "uplink-gen left hugepage files")
	return rep
}

func (g *Gen) exitedNow() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.exited
}

// stacks is every thread's backtrace of process pid, by gdb when the
// machine has it.
func stacks(pid int) string {
	out, err := exec.Command("gdb", "-p", strconv.Itoa(pid), "-batch", "-ex", "thread apply all bt 12").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(no backtrace: %v)", err)
	}
	return string(out)
}
