package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Daemon is a running uplinkd.
type Daemon struct {
	*proc
	lab    *Lab
	Prefix string
	// quiet: started with a log level that hides info lines, so that
	// what it does is read from its API's events, not from its log.
	quiet bool
}

// StartUplinkd writes config (TOML) and runs uplinkd on it inside the
// lab's namespace, with a fast status line, and waits until it is ready.
func (l *Lab) StartUplinkd(config string) *Daemon {
	l.T.Helper()
	path := l.ConfigPath()
	l.WriteConfig(config)
	prefix := l.Prefix("d")
	d := &Daemon{lab: l, Prefix: prefix}
	d.proc = start(l.T, "uplinkd", false, "ip", "netns", "exec", l.NS, l.Bins.Uplinkd,
		"--config", path, "--log-format", "json", "--status-interval", "50ms")
	l.T.Cleanup(func() { removePrefix(l, prefix) })
	d.waitFor("ready", 30*time.Second, isEvent("ready"))
	return d
}

// RunUplinkd runs uplinkd on the config WriteConfig wrote, in the lab's
// namespace, for a config it must refuse: it returns uplinkd's output and
// exit error once it has ended (or been killed after 30 s).
func (l *Lab) RunUplinkd() (string, error) {
	l.T.Helper()
	prefix := l.Prefix("d")
	l.T.Cleanup(func() { removePrefix(l, prefix) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", l.NS, l.Bins.Uplinkd,
		"--config", l.ConfigPath(), "--log-format", "json").CombinedOutput()
	return string(out), err
}

// StartQuietUplinkd is StartUplinkd with --log-level level (warn, error):
// the log then shows neither "ready" nor the status line, so it waits for
// the API socket to answer and for "ready" among the API's events.
func (l *Lab) StartQuietUplinkd(config, level string) *Daemon {
	l.T.Helper()
	path := l.ConfigPath()
	l.WriteConfig(config)
	prefix := l.Prefix("d")
	d := &Daemon{lab: l, Prefix: prefix, quiet: true}
	d.proc = start(l.T, "uplinkd", false, "ip", "netns", "exec", l.NS, l.Bins.Uplinkd,
		"--config", path, "--log-format", "json", "--log-level", level, "--status-interval", "50ms")
	l.T.Cleanup(func() { removePrefix(l, prefix) })
	d.waitAPI(30 * time.Second)
	d.WaitAPIEvent(0, "ready", isEvent("ready"))
	return d
}

// ConfigPath is the file the lab's uplinkd reads its config from.
func (l *Lab) ConfigPath() string { return filepath.Join(l.Dir, "uplinkd.toml") }

// WriteConfig replaces the lab's uplinkd config file (TOML), for a reload.
func (l *Lab) WriteConfig(config string) {
	require.NoError(l.T, os.WriteFile(l.ConfigPath(), []byte(config), 0o600))
}

// Signal sends sig to uplinkd.
func (d *Daemon) Signal(sig os.Signal) {
	require.NoError(d.lab.T, d.cmd.Process.Signal(sig))
}

func removePrefix(l *Lab, prefix string) {
	for _, f := range l.HugepageFiles(prefix) {
		os.Remove(f)
	}
	os.RemoveAll(filepath.Join("/var/run/dpdk", prefix))
}

// WaitEvent waits for a log event matching match.
func (d *Daemon) WaitEvent(what string, match func(Event) bool) Event {
	d.lab.T.Helper()
	return d.waitFor(what, 20*time.Second, match)
}

// Mark notes where the log is now, for WaitEventSince.
func (d *Daemon) Mark() int { return d.mark() }

// WaitEventSince waits for a log event after mark matching match.
func (d *Daemon) WaitEventSince(mark int, what string, match func(Event) bool) Event {
	d.lab.T.Helper()
	return d.waitForFrom(mark, what, 20*time.Second, match)
}

// CountSince counts the log events after mark matching match.
func (d *Daemon) CountSince(mark int, match func(Event) bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, e := range d.events[mark:] {
		if match(e) {
			n++
		}
	}
	return n
}

// WaitStatusLines waits for n status lines from now on: the daemon's own
// clock, for a test that watches something over a stretch of time.
func (d *Daemon) WaitStatusLines(n int) Event {
	d.lab.T.Helper()
	seen := 0
	return d.WaitEventSince(d.Mark(), fmt.Sprintf("%d status lines", n), func(e Event) bool {
		if e.Str("event") == "status" {
			seen++
		}
		return seen >= n
	})
}

// SetLink sets a tap NIC's kernel side down or up (pulling and plugging
// its cable) and waits until uplinkd has published the change.
func (d *Daemon) SetLink(iface, nic string, up bool) {
	d.lab.T.Helper()
	mark := d.Mark()
	state := "down"
	if up {
		state = "up"
	}
	d.lab.InNS("ip", "link", "set", iface, state)
	d.WaitEventSince(mark, "nic "+nic+" link "+state, func(e Event) bool {
		return e.Str("event") == "nic_link" && e.Str("nic") == nic && e["up"] == up
	})
}

// WaitVMConnected waits for the vhost device of vm to attach.
func (d *Daemon) WaitVMConnected(vm string) {
	d.lab.T.Helper()
	d.WaitEvent("vm "+vm+" attached", func(e Event) bool {
		return e.Str("event") == "vm_vhost" && e.Str("vm") == vm && e["connected"] == true
	})
}

// WaitStatus waits for a status line, logged from now on, for which cond
// holds. Earlier lines are not looked at: a condition on the daemon's
// state ("nic2 is down") must hold now, not in a line from before what the
// test just did.
func (d *Daemon) WaitStatus(what string, cond func(Event) bool) Event {
	d.lab.T.Helper()
	return d.WaitEventSince(d.Mark(), what, func(e Event) bool { return e.Str("event") == "status" && cond(e) })
}

// Stop sends SIGTERM and checks a clean stop: exit status 0, the mempool's
// in-use count back to where it started, no hugepage file left.
func (d *Daemon) Stop() Event {
	t := d.lab.T
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, d.waitExit(30*time.Second), "uplinkd exit status")
	if d.quiet {
		// No stopped line to read: the exit status stands for it, as
		// uplinkd exits 1 when mbufs are still in use at stop.
		assert.Empty(t, d.lab.HugepageFiles(d.Prefix), "uplinkd left hugepage files")
		assert.NoDirExists(t, filepath.Join("/var/run/dpdk", d.Prefix))
		return nil
	}
	stopped := d.last(isEvent("stopped"))
	require.NotNil(t, stopped, "uplinkd logged no stopped event")
	assert.Zero(t, stopped.Num("mbufs_in_use_end"), "uplinkd mbufs in use once its ports closed")
	assert.NotNil(t, d.last(isEvent("exit")), "uplinkd did not log a clean exit")
	assert.Empty(t, d.lab.HugepageFiles(d.Prefix), "uplinkd left hugepage files")
	assert.NoDirExists(t, filepath.Join("/var/run/dpdk", d.Prefix))
	return d.last(isEvent("status"))
}

// OpenFDs is how many file descriptors uplinkd has open.
func (d *Daemon) OpenFDs() int {
	d.lab.T.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid))
	require.NoError(d.lab.T, err)
	return len(ents)
}

// Thread is one of uplinkd's threads as the kernel schedules it.
type Thread struct {
	TID  int
	Name string
	CPUs string // Cpus_allowed_list
	Nice int
}

// Threads lists uplinkd's threads.
func (d *Daemon) Threads() []Thread {
	d.lab.T.Helper()
	pid := d.cmd.Process.Pid
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	require.NoError(d.lab.T, err)
	var out []Thread
	for _, e := range ents {
		var th Thread
		if _, err := fmt.Sscan(e.Name(), &th.TID); err != nil {
			continue
		}
		dir := fmt.Sprintf("/proc/%d/task/%d/", pid, th.TID)
		status, err := os.ReadFile(dir + "status")
		if err != nil {
			continue // it ended meanwhile
		}
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				switch k {
				case "Name":
					th.Name = strings.TrimSpace(v)
				case "Cpus_allowed_list":
					th.CPUs = strings.TrimSpace(v)
				}
			}
		}
		stat, err := os.ReadFile(dir + "stat")
		if err != nil {
			continue
		}
		// The fields after the name in parentheses; nice is the 19th field.
		_, rest, _ := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest)
		th.Nice, _ = strconv.Atoi(f[16])
		out = append(out, th)
	}
	return out
}
