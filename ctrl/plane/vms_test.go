package plane

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

func TestAnAddedVMsSocketMustBeServable(t *testing.T) {
	dir := t.TempDir()
	vm := func(sock string) config.VM { return config.VM{Name: "v", Socket: sock} }

	assert.NoError(t, checkSocket(vm(filepath.Join(dir, "new.sock"))), "nothing there yet")
	assert.EqualError(t, checkSocket(vm(filepath.Join(dir, "no", "v.sock"))), "socket: directory "+filepath.Join(dir, "no")+" does not exist")

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	assert.ErrorContains(t, checkSocket(vm(file)), "is not a socket")
	assert.FileExists(t, file, "and it is left alone")

	busy := filepath.Join(dir, "busy.sock")
	ln, err := net.Listen("unix", busy)
	require.NoError(t, err)
	assert.ErrorContains(t, checkSocket(vm(busy)), "another process serves")
	// A socket nobody serves any more is a stale one: replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	assert.NoError(t, checkSocket(vm(busy)))
	assert.NoFileExists(t, busy)

	client := config.VM{Name: "v", Socket: filepath.Join(dir, "no", "v.sock"), Mode: "client"}
	assert.NoError(t, checkSocket(client), "in client mode the hypervisor makes the socket")
}

func TestVMErrorsNameTheVMsOwnFields(t *testing.T) {
	err := errors.Join(&config.KeyError{Key: "vms[2].macs[0]", Reason: "taken"}, &config.KeyError{Key: "vms[2].team", Reason: "no such team"})
	assert.EqualError(t, vmFieldErr(err, 2), "macs[0]: taken; team: no such team")
}
