package vm

import (
	"context"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// privateLibvirtd starts a libvirtd of this test's own, with its sockets
// in a temporary directory and its QEMU driver, and (when none runs)
// the virtlogd the QEMU driver logs through; both are ended by PID.
func privateLibvirtd(t *testing.T) (socket string) {
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
	startDaemon(t, "libvirtd", socket, exec.Command("libvirtd", "-f", conf, "--pid-file", filepath.Join(dir, "pid")))
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

// startDaemon runs cmd until the test ends and waits for its socket. The
// daemon has no readiness event to wait on but the socket appearing.
func startDaemon(t *testing.T, name, socket string, cmd *exec.Cmd) {
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

// transientDomain creates a small TCG domain with no disk (its BIOS looks
// for a boot device forever: a real QEMU to suspend and weigh) and
// destroys it when the test ends.
func transientDomain(t *testing.T, socket string) string {
	name := fmt.Sprintf("uplk-test-%d", os.Getpid())
	c := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket)))
	require.NoError(t, c.ConnectToURI(libvirt.QEMUSystem))
	t.Cleanup(func() { c.Disconnect() })
	xml := `<domain type='qemu'><name>` + name + `</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>`
	d, err := c.DomainCreateXML(xml, 0)
	require.NoError(t, err, "create domain")
	t.Cleanup(func() { c.DomainDestroy(d) })
	return name
}

func TestLibvirtDriverAgainstARealLibvirtd(t *testing.T) {
	socket := privateLibvirtd(t)
	dom := transientDomain(t, socket)
	l := &Libvirt{Socket: socket, Domain: dom}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st, err := l.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, Running, st)
	require.NoError(t, l.Suspend(ctx))
	st, _ = l.State(ctx)
	assert.Equal(t, Paused, st)
	require.NoError(t, l.Suspend(ctx), "suspending a suspended domain is not an error")
	require.NoError(t, l.Resume(ctx))
	require.NoError(t, l.Resume(ctx), "resuming a running domain is not an error")
	st, _ = l.State(ctx)
	assert.Equal(t, Running, st)

	require.NoError(t, l.SetCPUWeight(ctx, 10))
	assert.Equal(t, sharesForWeight(10, cgroupV2()), cpuShares(t, socket, dom))
	require.NoError(t, l.SetCPUWeight(ctx, 100))
	assert.Equal(t, sharesForWeight(100, cgroupV2()), cpuShares(t, socket, dom))
}

func TestLibvirtDriverNamesAMissingDomain(t *testing.T) {
	socket := privateLibvirtd(t)
	l := &Libvirt{Socket: socket, Domain: "uplk-no-such-domain"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	assert.ErrorContains(t, l.Suspend(ctx), `libvirt domain "uplk-no-such-domain"`)
}

func cpuShares(t *testing.T, socket, dom string) uint64 {
	c := libvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(socket)))
	require.NoError(t, c.ConnectToURI(libvirt.QEMUSystem))
	defer c.Disconnect()
	d, err := c.DomainLookupByName(dom)
	require.NoError(t, err)
	params, err := c.DomainGetSchedulerParameters(d, 16)
	require.NoError(t, err)
	for _, p := range params {
		if p.Field == "cpu_shares" {
			return p.Value.I.(uint64)
		}
	}
	t.Fatal("no cpu_shares")
	return 0
}
