// Package libvirttest starts a libvirtd of a test's own: its sockets in a
// temporary directory, the QEMU driver, and optionally its own view of a
// few host paths (hooks, qemu.conf) through a private mount namespace, so
// that nothing the host's libvirt sees changes. Tests of the libvirt driver
// and of the libvirt hook share it.
package libvirttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/stretchr/testify/require"
)

// Options change what the private libvirtd sees.
type Options struct {
	// Binds mounts each source (a file or directory the test made) over
	// its target (a path on the host) for this libvirtd and the processes
	// it starts (QEMU, hooks) alone.
	Binds map[string]string
}

// Start runs a libvirtd until the test ends (and, when none runs, the
// virtlogd the QEMU driver logs through), both ended by PID, and returns
// its socket once it answers.
func Start(t testing.TB, o Options) (socket string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a libvirtd with the QEMU driver needs root")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "libvirtd.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"unix_sock_dir = %q\nunix_sock_rw_perms = \"0700\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n", dir)), 0o600))
	if _, err := os.Stat("/run/libvirt/virtlogd-sock"); err != nil {
		startDaemon(t, "virtlogd", "/run/libvirt/virtlogd-sock", exec.Command("virtlogd"))
	}
	socket = filepath.Join(dir, "libvirt-sock")
	args := []string{"libvirtd", "-f", conf, "--pid-file", filepath.Join(dir, "pid")}
	cmd := exec.Command(args[0], args[1:]...)
	if len(o.Binds) > 0 {
		// unshare, then sh, then libvirtd: one process, one PID.
		var script strings.Builder
		for src, dst := range o.Binds {
			fmt.Fprintf(&script, "mount --bind %q %q || exit 1\n", src, dst)
		}
		script.WriteString("exec " + strings.Join(quoted(args), " "))
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script.String())
	}
	startDaemon(t, "libvirtd", socket, cmd)
	// The socket is bound before libvirtd accepts on it (its drivers start
	// first): ready is a connection that gets an answer.
	require.Eventually(t, func() bool {
		c := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket), dialers.WithLocalTimeout(time.Second)))
		if c.ConnectToURI(libvirt.QEMUSystem) != nil {
			return false
		}
		defer c.Disconnect()
		_, err := c.ConnectGetLibVersion()
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "libvirtd answering on %s", socket)
	return socket
}

func quoted(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return out
}

// startDaemon runs cmd until the test ends and waits for its socket. The
// daemon has no readiness event to wait on but the socket appearing.
func startDaemon(t testing.TB, name, socket string, cmd *exec.Cmd) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start(), name)
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			t.Fatalf("%s exited: %s", name, out.String())
		default:
		}
		_, err := os.Stat(socket)
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "%s socket %s", name, socket)
}

// Connect is a connection to the libvirtd at socket, closed when the test
// ends.
func Connect(t testing.TB, socket string) *libvirt.Libvirt {
	t.Helper()
	c := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket)))
	require.NoError(t, c.ConnectToURI(libvirt.QEMUSystem))
	t.Cleanup(func() { c.Disconnect() })
	return c
}
