package vm

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/vm/libvirttest"
)

// privateLibvirtd starts a libvirtd of this test's own.
func privateLibvirtd(t *testing.T) (socket string) {
	return libvirttest.Start(t, libvirttest.Options{})
}

// transientDomain creates a small TCG domain with no disk (its BIOS looks
// for a boot device forever: a real QEMU to suspend and weigh) and
// destroys it when the test ends.
func transientDomain(t *testing.T, socket string) string {
	name := fmt.Sprintf("uplk-test-%d", os.Getpid())
	c := libvirttest.Connect(t, socket)
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
