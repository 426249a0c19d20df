package topology

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/uplinkd/uplinkd/ctrl/config"
)

const base = `
[[teams]]
name = "t"
policy = "vm-affinity"
[[nics]]
name = "n1"
vdev = "net_tap0,iface=dtap0"
team = "t"
[[nics]]
name = "n2"
vdev = "net_tap1,iface=dtap1"
team = "t"
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
`

func parse(t *testing.T, extra string) *config.Config {
	t.Helper()
	c, err := config.Parse([]byte(base+extra), "toml")
	require.NoError(t, err)
	return c
}

const (
	vmB   = "[[vms]]\nname = \"b\"\nsocket = \"/tmp/b.sock\"\nmacs = [\"02:00:00:00:00:02\"]\nteam = \"t\"\n"
	nicN3 = "[[nics]]\nname = \"n3\"\nvdev = \"net_tap2,iface=dtap2\"\nteam = \"t\"\n"
	teamU = "[[teams]]\nname = \"u\"\npolicy = \"src-mac-hash\"\n"
)

var (
	roomy    = Room{VMSlots: 8, FreeVMSlots: 7, NICSlots: 4, FreeNICSlots: 2}
	noChecks = Checks{}
	none     = Runtime{}
)

func TestAReloadThatChangesNothingPlansNothing(t *testing.T) {
	old := parse(t, "")
	r, err := PlanReload(old, parse(t, ""), none, roomy, noChecks)
	require.NoError(t, err)
	assert.Empty(t, r.Changed)
	assert.Nil(t, r.Staying)
}

func TestAReloadListsWhatLeavesAndJoinsAndWhatStaysBetween(t *testing.T) {
	old := parse(t, vmB)
	// b leaves, c joins; n2 leaves, n3 joins; team u joins (empty).
	file, err := config.Parse([]byte(`
[[teams]]
name = "t"
policy = "vm-affinity"
[[teams]]
name = "u"
policy = "src-mac-hash"
[[nics]]
name = "n1"
vdev = "net_tap0,iface=dtap0"
team = "t"
`+nicN3+`
[[vms]]
name = "a"
socket = "/tmp/a.sock"
macs = ["02:00:00:00:00:01"]
team = "t"
[[vms]]
name = "c"
socket = "/tmp/c.sock"
macs = ["02:00:00:00:00:03"]
team = "t"
`), "toml")
	require.NoError(t, err)
	r, err := PlanReload(old, file, none, roomy, noChecks)
	require.NoError(t, err)
	assert.Equal(t, []string{"teams", "nics", "vms"}, r.Changed)
	assert.Equal(t, []string{"b"}, r.VMsGone)
	assert.Equal(t, []string{"c"}, r.VMsAdded)
	assert.Equal(t, []string{"n2"}, r.NICsGone)
	assert.Equal(t, []string{"n3"}, r.NICsAdded)
	assert.Empty(t, r.TeamsGone)
	assert.Equal(t, []string{"u"}, r.TeamsAdded)
	assert.Same(t, file, r.Next, "nothing added at runtime: the file is the config")
	// Between: what stays, and the new team, without the new NIC and VM.
	var nics, vms []string
	for _, n := range r.Staying.NICs {
		nics = append(nics, n.Name)
	}
	for _, v := range r.Staying.VMs {
		vms = append(vms, v.Name)
	}
	assert.Equal(t, []string{"n1"}, nics)
	assert.Equal(t, []string{"a"}, vms)
	assert.Len(t, r.Staying.Teams, 2)
}

func TestAReloadKeepsWhatWasAddedAtRuntimeUntilTheFileNamesIt(t *testing.T) {
	// u, n3 and b were added through the API: the file does not name them.
	old := parse(t, teamU+nicN3+vmB)
	rt := Runtime{Teams: map[string]bool{"u": true}, NICs: map[string]bool{"n3": true}, VMs: map[string]bool{"b": true}}
	file := parse(t, "")
	file.VMs[0].Shares = 5
	r, err := PlanReload(old, file, rt, roomy, noChecks)
	require.NoError(t, err)
	assert.Equal(t, []string{"vms[0].shares"}, r.Changed)
	assert.Len(t, r.Next.Teams, 2)
	assert.Len(t, r.Next.NICs, 3)
	assert.Len(t, r.Next.VMs, 2)
	assert.Equal(t, rt, r.Runtime, "still runtime additions")

	// The file names b now: b is the file's from then on.
	r, err = PlanReload(old, parse(t, teamU+nicN3+vmB), rt, roomy, noChecks)
	require.NoError(t, err)
	assert.Equal(t, Runtime{Teams: map[string]bool{}, NICs: map[string]bool{}, VMs: map[string]bool{}}, r.Runtime)

	// A file that drops the team a runtime VM is in cannot keep it.
	oldU := parse(t, teamU+"[[nics]]\nname = \"n3\"\nvdev = \"net_tap2,iface=dtap2\"\nteam = \"u\"\n"+
		"[[vms]]\nname = \"b\"\nsocket = \"/tmp/b.sock\"\nmacs = [\"02:00:00:00:00:02\"]\nteam = \"u\"\n")
	_, err = PlanReload(oldU, parse(t, ""), Runtime{VMs: map[string]bool{"b": true}}, roomy, noChecks)
	assert.ErrorContains(t, err, "with the teams, NICs and VMs added at runtime, which a reload keeps")
}

func TestAReloadIsRefusedBeforeAnythingChanges(t *testing.T) {
	old := parse(t, vmB)
	cases := map[string]struct {
		file   *config.Config
		room   Room
		checks Checks
		want   string
	}{
		"no VM slot": {parse(t, vmB+"[[vms]]\nname = \"c\"\nsocket = \"/tmp/c.sock\"\nmacs = [\"02:00:00:00:00:03\"]\nteam = \"t\"\n"),
			Room{VMSlots: 2, NICSlots: 4, FreeNICSlots: 2}, noChecks, "vms: 1 VMs added, room for 0: dataplane.max_vms is 2"},
		"no NIC slot": {parse(t, vmB+nicN3), Room{VMSlots: 8, FreeVMSlots: 6, NICSlots: 2}, noChecks,
			"nics: 1 NICs added, room for 0: dataplane.max_nics is 2"},
		"a PCI NIC": {parse(t, vmB+"[[nics]]\nname = \"n3\"\npci = \"0000:01:00.0\"\nteam = \"t\"\n"), roomy, noChecks,
			"nics[2].pci: a PCI NIC joins at start only"},
		"a migrating VM leaves": {parse(t, ""), roomy, Checks{Migrating: func(vm string) bool { return vm == "b" }},
			"vms: b is migrating"},
		"a socket another serves": {parse(t, vmB+"[[vms]]\nname = \"c\"\nsocket = \"/tmp/c.sock\"\nmacs = [\"02:00:00:00:00:03\"]\nteam = \"t\"\n"),
			roomy, Checks{Socket: func(v config.VM) error { return errors.New("socket: another process serves " + v.Socket) }},
			"vms[2].socket: another process serves /tmp/c.sock"},
		"a VM moved onto a NIC the reload adds": {parse(t, nicN3+
			"[[vms]]\nname = \"b\"\nsocket = \"/tmp/b.sock\"\nmacs = [\"02:00:00:00:00:02\"]\nteam = \"t\"\npreferred_nic = \"n3\"\n"),
			roomy, noChecks, "make the change in two reloads"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := PlanReload(old, c.file, none, c.room, c.checks)
			assert.ErrorContains(t, err, c.want)
		})
	}
}
